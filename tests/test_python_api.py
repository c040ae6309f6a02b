"""docs/python-api.md runs: every ```python block, in order, in one namespace, from a directory
holding sample-data/, against a real Kea 2.2 where the page says unix:///run/kea/kea4.sock."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.kea import KeaServer

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "docs" / "python-api.md"
PLACEHOLDER = "unix:///run/kea/kea4.sock"


def _blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", PAGE.read_text(), flags=re.S | re.M)


def test_page_has_examples() -> None:
    blocks = _blocks()
    assert len(blocks) >= 5 and all(b.strip() for b in blocks)
    assert any("kea_etl.migrate(" in b for b in blocks)
    assert any("kea_etl.export(" in b for b in blocks)


@pytest.mark.kea
def test_examples_run(kea_factory: Callable[..., KeaServer], tmp_path: Path,
                      capsys: pytest.CaptureFixture[str]) -> None:
    subnets = json.loads((REPO / "sample-data" / "kea-dhcp4.json").read_text())["Dhcp4"]["subnet4"]
    srv = kea_factory(family=4, subnets=subnets)
    (tmp_path / "sample-data").symlink_to(REPO / "sample-data")
    (tmp_path / "out").mkdir()
    cwd = Path.cwd()
    os.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "python_api_example"}
    try:
        for n, block in enumerate(_blocks(), 1):
            code = compile(block.replace(PLACEHOLDER, srv.socket_url),
                           f"docs/python-api.md example {n}", "exec")
            exec(code, namespace)  # noqa: S102 - the page's own examples
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out
    held = len(srv.leases())
    assert held > 100
    assert f"{held} leases exported" in out
    assert (tmp_path / "out" / "kea-leases4.csv").exists()
    assert (tmp_path / "out" / "warehouse.db").exists()


def test_front_door_survives_importing_the_export_package() -> None:
    """``import kea_etl.export.warehouse`` (any module of the package) rebinds the name
    ``kea_etl.export`` to the package: it stays the callable front door."""
    import subprocess
    import sys

    code = ("import kea_etl, kea_etl.export.warehouse, inspect; "
            "assert callable(kea_etl.export), type(kea_etl.export); "
            "r = kea_etl.export('unix:///nonexistent/kea4.sock', to=None, stats=False); "
            "print(r.exit_code(), r.results[0].error is not None)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "True"]
