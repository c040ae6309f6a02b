"""``--resume`` checks what its checkpoint says is done (issue 13, item 4), on a real Kea 2.2.

Kea is restarted on an emptied lease file between the kill and the resume. Before the fix the
resume counted the checkpoint's leases as loaded without looking: "N loaded", exit 0, and Kea
held only the leases of the resumed part. Now the resumed run compares per-subnet counts, pages
the subnets that fall short, and sends the missing leases again.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.harness import clock
from tests.harness.leasefile import lease_block

pytestmark = pytest.mark.kea

N = 1000  # 20 batches of 50
SUBNETS = [{"id": 1, "subnet": "10.0.0.0/17", "pools": [{"pool": "10.0.0.10-10.0.127.250"}]},
           {"id": 2, "subnet": "10.0.128.0/17", "pools": [{"pool": "10.0.128.10-10.0.255.250"}]}]
KEA_ETL = [str(Path(sys.executable).with_name("kea-etl"))]


def _leases_file(path: Path, n: int) -> dict[str, str]:
    """n active leases (dates around the suite's now), half in each subnet; address -> MAC."""
    now = clock.now()
    want = {}
    with path.open("w") as fh:
        for i in range(n):
            ip = f"10.0.{(i % 2) * 128 + (i // 2) // 200}.{(i // 2) % 200 + 10}"
            mac = f"02:00:00:00:{i >> 8:02x}:{i & 255:02x}"
            want[ip] = mac
            fh.write(lease_block(ip, starts=now - 600, ends=now + 86400, cltt=now - 600, mac=mac))
    assert len(want) == n
    return want


def _cmd(srv: Any, src: Path, report: Path, *extra: str) -> list[str]:
    return [*KEA_ETL, "migrate", str(src), "--to", f"kea:{srv.socket_url}",
            "--as-of", clock.iso(), "--report", str(report), "--no-progress", *extra]


def _held(srv: Any) -> dict[str, str]:
    r = srv.command("lease4-get-all")
    return {x["ip-address"]: x["hw-address"] for x in r.get("arguments", {}).get("leases", [])}


def _done_rows(state: Path) -> int:
    with sqlite3.connect(state, timeout=1) as db:
        return int(db.execute("SELECT count(*) FROM outcome").fetchone()[0])


def _crash_then_empty_kea(srv: Any, tmp_path: Path) -> tuple[Path, Path, dict[str, str], int]:
    src = tmp_path / "dhcpd.leases"
    want = _leases_file(src, N)
    report = tmp_path / "report.json"
    env = dict(os.environ, KEA_ETL_CRASH_AFTER_BATCHES="9")
    first = subprocess.run(_cmd(srv, src, report, "--workers", "2"), env=env,
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == -signal.SIGKILL, first.stderr
    saved = _done_rows(tmp_path / "report.json.state.sqlite")
    assert 450 <= saved < N
    assert len(_held(srv)) >= saved
    # Kea restarts on an emptied lease file (a restore, a wiped disk, another host's file)
    srv.stop()
    for p in srv.lease_file.parent.glob(srv.lease_file.name + "*"):
        p.unlink()
    srv.start()
    assert _held(srv) == {}
    return src, report, want, saved


def test_resume_resends_what_kea_lost(kea_factory: Any, tmp_path: Path) -> None:
    srv = kea_factory(family=4, subnets=SUBNETS)
    src, report, want, saved = _crash_then_empty_kea(srv, tmp_path)
    second = subprocess.run(_cmd(srv, src, report, "--workers", "2", "--resume"),
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    rep = json.loads(report.read_text())
    assert (rep["read"], rep["loaded"], rep["failed"], rep["balanced"]) == (N, N, 0, True)
    assert _held(srv) == want
    assert rep["resume_check"] == {"checked": saved, "subnets_recounted": 2, "missing": saved}
    assert rep["outputs"]["sent"]["lease4-add"] == N  # the lost ones again, and the rest
    assert "were no longer in Kea" in json.dumps(rep)


def test_resume_with_nothing_lost_recounts_nothing(kea_factory: Any, tmp_path: Path) -> None:
    """The cheap path: counts agree, no page is read, nothing is sent twice."""
    srv = kea_factory(family=4, subnets=SUBNETS)
    src = tmp_path / "dhcpd.leases"
    want = _leases_file(src, N)
    report = tmp_path / "report.json"
    env = dict(os.environ, KEA_ETL_CRASH_AFTER_BATCHES="9")
    first = subprocess.run(_cmd(srv, src, report, "--workers", "2"), env=env,
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == -signal.SIGKILL, first.stderr
    before = len(_held(srv))
    second = subprocess.run(_cmd(srv, src, report, "--workers", "2", "--resume"),
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    rep = json.loads(report.read_text())
    assert rep["resume_check"]["missing"] == 0 and rep["resume_check"]["subnets_recounted"] == 0
    assert rep["outputs"]["sent"]["lease4-add"] == N - before
    assert _held(srv) == want
