"""README "Your network: from /etc/dhcp to cutover": the jq merge of step 3a and the nightly export of
step 5 (pipelines/systemd: its service and timer, as the README installs them). The
service's ExecStart, with the paths of this checkout, runs the shipped pipeline against a real
Kea with the variables the EnvironmentFile is documented to hold; the timer's calendar is one
systemd accepts."""

from __future__ import annotations

import configparser
import json
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.kea import KeaServer

REPO = Path(__file__).resolve().parent.parent
UNITS = REPO / "pipelines" / "systemd"


def _unit(name: str) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read(UNITS / name)
    return cp


def test_timer_and_service_belong_together() -> None:
    timer, service = _unit("kea-etl-nightly.timer"), _unit("kea-etl-nightly.service")
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"
    assert service["Service"]["Type"] == "oneshot"
    if shutil.which("systemd-analyze"):
        r = subprocess.run(["systemd-analyze", "calendar", timer["Timer"]["OnCalendar"]],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


@pytest.mark.kea
def test_service_command_runs_the_nightly_pipeline(kea_factory: Callable[..., KeaServer],
                                                   tmp_path: Path) -> None:
    service = _unit("kea-etl-nightly.service")["Service"]
    argv = shlex.split(service["ExecStart"])
    assert Path(argv[0]).name == "kea-etl" and argv[1] == "run"
    pipeline = REPO / "pipelines" / Path(argv[2]).name
    assert pipeline.exists(), f"ExecStart runs {argv[2]}, which the repo does not ship"
    v4 = kea_factory(family=4)
    v6 = kea_factory(family=6)
    env = {"PATH": "/usr/bin:/bin", "KEA4_URL": v4.socket_url, "KEA6_URL": v6.socket_url,
           "WAREHOUSE": f"sqlite:///{tmp_path}/warehouse.db", "OUT": str(tmp_path / "out"),
           "XDG_STATE_HOME": str(tmp_path / "state")}
    exe = Path(sys.executable).parent / "kea-etl"
    r = subprocess.run([str(exe), "run", str(pipeline), "--json"], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    steps = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert steps and all(s.get("exit_code", 0) == 0 for s in steps), r.stdout
    assert (tmp_path / "warehouse.db").exists()


@pytest.mark.kea
@pytest.mark.parametrize("family", [4, 6])
def test_cold_cutover_reservations_merged_by_the_shipped_jq(family: int, tmp_path: Path) -> None:
    """README step 3a with a Kea configuration of one's own: migrate writes the reservations
    fragment, scripts/merge-reservations.jq merges it subnet by subnet, and the real Kea accepts
    the result (-t) holding every reservation the fragment had."""
    from click.testing import CliRunner

    from kea_etl.cli import main

    sample = REPO / "sample-data"
    conf = {4: "dhcpd.conf", 6: "dhcpd6.conf"}[family]
    kea_conf = sample / f"kea-dhcp{family}.json"
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["migrate", str(sample / conf), "--to", f"memfile:{out}",
                                  "--kea-config", str(kea_conf), "--kea-version", "2.2",
                                  "--no-progress"])
    assert r.exit_code == 0, r.output
    frag = out / f"reservations{family}.json"
    wanted = json.loads(frag.read_text())[f"Dhcp{family}"]
    n = sum(len(s["reservations"]) for s in wanted.get(f"subnet{family}", [])) + \
        len(wanted.get("reservations", []))
    assert n > 0
    merged = tmp_path / f"kea-dhcp{family}.merged.json"
    with merged.open("w") as fh:
        subprocess.run(["jq", "--slurpfile", "r", str(frag), "-f",
                        str(REPO / "scripts" / "merge-reservations.jq"), str(kea_conf)],
                       stdout=fh, check=True)
    cfg = json.loads(merged.read_text())[f"Dhcp{family}"]
    held = sum(len(s.get("reservations", [])) for s in cfg[f"subnet{family}"]) + \
        len(cfg.get("reservations", []))
    assert held == n
    t = subprocess.run([f"kea-dhcp{family}", "-t", str(merged)], capture_output=True, text=True)
    assert t.returncode == 0, t.stdout[-2000:] + t.stderr[-2000:]
