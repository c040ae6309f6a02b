"""Interrupted live loads resume with --resume and end with every lease loaded exactly once.

``kea-etl migrate`` runs as a subprocess against a real Kea 2.2. It is SIGKILLed at several
points (``KEA_ETL_CRASH_AFTER_BATCHES``: the process kills itself right after the N-th batch is
committed to the checkpoint), or the Kea server is killed under it. The resumed run must load
the rest, and send each lease4-add only once over both runs.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.harness.clock import ANCHOR, iso
from tests.harness.leasefile import lease_block

pytestmark = pytest.mark.kea

N = 1000  # 20 batches of 50
SUBNETS = [{"id": 1, "subnet": "10.0.0.0/16", "pools": [{"pool": "10.0.0.10-10.0.255.250"}]}]
KEA_ETL = [str(Path(sys.executable).with_name("kea-etl"))]


def _leases_file(path: Path, n: int) -> dict[str, str]:
    """A dhcpd.leases with ``n`` active leases in 10.0.0.0/16; returns address -> MAC."""
    want = {}
    with path.open("w") as fh:
        for i in range(n):
            ip = f"10.0.{(i + 10) // 250}.{(i + 10) % 250 + 1}"
            mac = f"02:00:00:00:{i >> 8:02x}:{i & 255:02x}"
            want[ip] = mac
            fh.write(lease_block(ip, starts=ANCHOR - 3600, ends=ANCHOR + 82800,
                                 cltt=ANCHOR - 3600, mac=mac))
    return want


def _cmd(srv: Any, src: Path, report: Path, *extra: str) -> list[str]:
    return [*KEA_ETL, "migrate", str(src), "--to", f"kea:{srv.socket_url}",
            "--as-of", iso(ANCHOR), "--report", str(report), "--no-progress", *extra]


def _held(srv: Any) -> dict[str, str]:
    r = srv.command("lease4-get-all")
    return {x["ip-address"]: x["hw-address"] for x in r.get("arguments", {}).get("leases", [])}


def _done_rows(state: Path) -> int:
    if not state.exists():
        return 0
    try:
        with sqlite3.connect(state, timeout=1) as db:
            return int(db.execute("SELECT count(*) FROM outcome").fetchone()[0])
    except sqlite3.Error:
        return 0


@pytest.mark.parametrize("crash_after", [1, 7, 16])
def test_sigkill_then_resume_loads_each_lease_once(kea_factory: Any, tmp_path: Path,
                                                   crash_after: int) -> None:
    srv = kea_factory(family=4, subnets=SUBNETS)
    src = tmp_path / "dhcpd.leases"
    want = _leases_file(src, N)
    report = tmp_path / "report.json"
    env = dict(os.environ, KEA_ETL_CRASH_AFTER_BATCHES=str(crash_after))
    first = subprocess.run(_cmd(srv, src, report, "--workers", "3"), env=env,
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == -signal.SIGKILL, first.stderr
    assert not report.exists()
    state = tmp_path / "report.json.state.sqlite"
    saved = _done_rows(state)
    assert saved >= crash_after * 50 and saved < N
    before = _held(srv)
    # what the checkpoint says is done is in Kea (batches in flight at the kill may be too)
    assert saved <= len(before) <= N

    second = subprocess.run(_cmd(srv, src, report, "--workers", "3", "--resume"),
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    rep = json.loads(report.read_text())
    assert (rep["read"], rep["loaded"], rep["failed"], rep["balanced"]) == (N, N, 0, True)
    # every lease4-add over both runs was sent once: the resumed run added exactly the rest
    assert rep["outputs"]["sent"].get("lease4-add", 0) == N - len(before)
    assert rep["outputs"]["resumed"] is True
    assert _held(srv) == want

    if crash_after != 16:
        return
    # a second full run (no --resume) changes nothing and says so
    third = subprocess.run(_cmd(srv, src, report), capture_output=True, text=True, timeout=120)
    assert third.returncode == 0, third.stderr
    rep3 = json.loads(report.read_text())
    assert (rep3["loaded"], rep3["already_present"]) == (N, N)
    assert rep3["outputs"]["sent"] == {}
    # what was sent and what was already there, each record counted once (was "N loaded"
    # beside "already present N")
    assert third.stdout.startswith(f"kea-etl migrate: {N:,} read, 0 loaded, {N:,} already "
                                   "present, 0 skipped, 0 failed, 0 statement(s) not translated")
    assert (f"  sent: nothing; already in the target (nothing sent): {N:,}\n"
            "  nothing changed: the target already holds every record\n") in third.stdout
    assert not state.exists()  # removed after a completed load (--keep-state keeps it)


def test_kea_killed_mid_load_stops_cleanly_then_resumes(kea_factory: Any,
                                                       tmp_path: Path) -> None:
    srv = kea_factory(family=4, subnets=SUBNETS)
    src = tmp_path / "dhcpd.leases"
    want = _leases_file(src, 4000)
    report = tmp_path / "report.json"
    state = tmp_path / "report.json.state.sqlite"
    proc = subprocess.Popen(_cmd(srv, src, report, "--workers", "2"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while _done_rows(state) < 300 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "the load finished before Kea could be killed"
    srv.kill()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, out + err
    assert "re-run with --resume" in err and str(srv.socket_path) in err
    assert 300 <= _done_rows(state) < 4000

    srv.start()  # memfile kept what Kea had accepted before the crash
    before = _held(srv)
    second = subprocess.run(_cmd(srv, src, report, "--workers", "2", "--resume"),
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    rep = json.loads(report.read_text())
    assert (rep["read"], rep["loaded"], rep["failed"]) == (4000, 4000, 0)
    assert rep["outputs"]["sent"].get("lease4-add", 0) == 4000 - len(before)
    assert _held(srv) == want


def test_resume_refuses_other_input(kea_factory: Any, tmp_path: Path) -> None:
    srv = kea_factory(family=4, subnets=SUBNETS)
    src = tmp_path / "dhcpd.leases"
    _leases_file(src, 10)
    report = tmp_path / "report.json"
    ok = subprocess.run(_cmd(srv, src, report, "--keep-state"), capture_output=True, text=True,
                        timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "  state kept (--keep-state): " in ok.stdout
    _leases_file(src, 12)  # the input changed
    again = subprocess.run(_cmd(srv, src, report, "--resume"), capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 2
    assert "belongs to a different run" in again.stderr


def test_ctrl_c_then_resume(kea_factory: Any, tmp_path: Path) -> None:
    srv = kea_factory(family=4, subnets=SUBNETS)
    src = tmp_path / "dhcpd.leases"
    want = _leases_file(src, 4000)
    report = tmp_path / "report.json"
    state = tmp_path / "report.json.state.sqlite"
    proc = subprocess.Popen(_cmd(srv, src, report, "--workers", "2"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while _done_rows(state) < 300 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "the load finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    # how many records are done, where they are saved, and the exact command to resume
    done = _done_rows(state)
    assert err.splitlines()[-2:] == [
        f"Interrupted: {done:,} records done and saved in {state}; no report written. Resume "
        "with:",
        "  " + shlex.join(["kea-etl", *_cmd(srv, src, report, "--workers", "2")[len(KEA_ETL):],
                           "--resume"])], err
    before = _held(srv)
    second = subprocess.run(_cmd(srv, src, report, "--workers", "2", "--resume"),
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    rep = json.loads(report.read_text())
    assert (rep["read"], rep["loaded"], rep["failed"]) == (4000, 4000, 0)
    assert rep["outputs"]["sent"].get("lease4-add", 0) == 4000 - len(before)
    assert _held(srv) == want


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_kea_sql_sigkill_then_resume_writes_each_lease_once(engine: str, tmp_path: Path) -> None:
    """kea-sql checkpoints each batch in its writer thread right after the commit: killed there,
    the database holds exactly what the checkpoint says, and --resume writes only the rest."""
    from kea_etl.load.kea_sql import connect, parse_sql_target
    from tests.harness.databases import kea_database
    from tests.harness.kea import resolve_install

    n = 3000  # six batches of 500
    src = tmp_path / "dhcpd.leases"
    want = _leases_file(src, n)
    cfg = tmp_path / "kea.json"
    cfg.write_text(json.dumps({"Dhcp4": {"subnet4": SUBNETS}}))
    report = tmp_path / "report.json"
    state = tmp_path / "report.json.state.sqlite"

    def rows(url: str) -> int:
        conn = connect(parse_sql_target(url))
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM lease4")
            got = int(cur.fetchone()[0])
        conn.close()
        return got

    with kea_database(engine, resolve_install(None), tag="kea_etl_resume") as url:
        cmd = [*KEA_ETL, "migrate", str(src), "--to", url, "--kea-config", str(cfg),
               "--as-of", iso(ANCHOR), "--report", str(report), "--no-progress"]
        first = subprocess.run(cmd, env=dict(os.environ, KEA_ETL_CRASH_AFTER_BATCHES="2"),
                               capture_output=True, text=True, timeout=300)
        assert first.returncode == -signal.SIGKILL, first.stderr
        saved = _done_rows(state)
        assert saved == 1000
        assert rows(url) == saved  # committed and checkpointed alike, nothing in between
        second = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stdout + second.stderr
        rep = json.loads(report.read_text())
        assert (rep["read"], rep["loaded"], rep["failed"], rep["balanced"]) == (n, n, 0, True)
        assert rep["outputs"]["written"] == {"lease4 upserts": n - saved}
        assert rows(url) == len(want) == n
