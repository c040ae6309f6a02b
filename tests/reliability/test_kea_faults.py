"""Live loads against a misbehaving real Kea 2.x: restarted mid-load, refusing some records.

(Kea unreachable for longer than the retry budget is test_resume_real.py's
``test_kea_killed_mid_load_stops_cleanly_then_resumes``; an HTTP variant is here.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.harness.clock import ANCHOR
from tests.harness.leasefile import lease_block
from tests.reliability._common import done_rows, held4, migrate_cmd, write_leases

pytestmark = pytest.mark.kea

TWO_SUBNETS = [{"id": 1, "subnet": "10.1.0.0/16"}, {"id": 2, "subnet": "10.2.0.0/16"}]


def _ip(key: str) -> str:
    """The address of a report key (the live loader keys v4 leases as ``4:ADDRESS``)."""
    return key.removeprefix("4:")


def _two_subnet_leases(path: Path, n: int) -> dict[str, str]:
    """``n`` leases alternating between 10.1/16 (subnet 1) and 10.2/16 (subnet 2)."""
    want = {}
    with path.open("w") as fh:
        for i in range(n):
            ip = f"10.{1 + i % 2}.{(i // 2) // 250}.{(i // 2) % 250 + 1}"
            mac = f"02:00:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"
            want[ip] = mac
            fh.write(lease_block(ip, starts=ANCHOR - 3600, ends=ANCHOR + 82800,
                                 cltt=ANCHOR - 3600, mac=mac))
    return want


def test_kea_restarted_mid_load_within_retry_budget(kea_factory: Any, tmp_path: Path) -> None:
    """A Kea restart shorter than the retry budget costs nothing: the run completes, exit 0."""
    srv = kea_factory(family=4, subnets=TWO_SUBNETS)
    src = tmp_path / "dhcpd.leases"
    want = _two_subnet_leases(src, 3000)
    report = tmp_path / "report.json"
    proc = subprocess.Popen(migrate_cmd(f"kea:{srv.socket_url}", src, report, "--workers", "2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state = tmp_path / "report.json.state.sqlite"
    deadline = time.monotonic() + 120
    while done_rows(state) < 500 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the load finished before Kea could be restarted"
    srv.kill()  # kill -9 Kea: its memfile keeps what it acknowledged
    srv.start()
    out, err = proc.communicate(timeout=300)
    rep = json.loads(report.read_text()) if report.exists() else {}
    if proc.returncode == 2:
        # the restart took longer than the retry budget on a loaded machine: then the clean
        # stop + resume guarantee must hold instead
        assert "re-run with --resume" in err
        again = subprocess.run(migrate_cmd(f"kea:{srv.socket_url}", src, report, "--resume"),
                               capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stdout + again.stderr
        rep = json.loads(report.read_text())
    else:
        assert proc.returncode == 0, out + err
    assert (rep["read"], rep["loaded"], rep["failed"], rep["balanced"]) == (3000, 3000, 0, True)
    got, rows = held4(srv)
    assert rows == 3000 and got == want


def test_subnet_removed_mid_load_fails_only_its_records(kea_factory: Any, tmp_path: Path) -> None:
    """Kea starts refusing subnet 2's leases half-way (config-set without it): each refused lease
    is reported with its key and Kea's text, every other lease is loaded, the counts add up."""
    srv = kea_factory(family=4, subnets=TWO_SUBNETS)
    src = tmp_path / "dhcpd.leases"
    n = 3000
    want = _two_subnet_leases(src, n)
    cfg = tmp_path / "kea.json"
    cfg.write_text(json.dumps(srv.config))  # subnet ids from the full config, both subnets
    report = tmp_path / "report.json"
    proc = subprocess.Popen(
        migrate_cmd(f"kea:{srv.socket_url}", src, report, "--workers", "2", "--kea-config",
                    str(cfg)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state = tmp_path / "report.json.state.sqlite"
    deadline = time.monotonic() + 120
    while done_rows(state) < 600 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the load finished before the subnet could be removed"
    new = json.loads(json.dumps(srv.config))
    new["Dhcp4"]["subnet4"] = [s for s in new["Dhcp4"]["subnet4"] if s["id"] == 1]
    r = srv.command("config-set", new)
    assert r["result"] == 0, r
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, out + err
    rep = json.loads(report.read_text())
    assert rep["balanced"] is True and rep["read"] == n
    assert rep["loaded"] + rep["failed"] == n
    failed = [p for p in rep["problems"] if p["kind"] == "failed"]
    assert len(failed) == rep["failed"] > 0
    for p in failed:
        assert _ip(p["key"]).startswith("10.2."), p  # only subnet 2's leases were refused
        assert p.get("detail"), p  # with Kea's text
    got, _ = held4(srv)
    sub1 = {ip: mac for ip, mac in want.items() if ip.startswith("10.1.")}
    assert {ip: got.get(ip) for ip in sub1} == sub1  # every subnet-1 lease is in Kea
    assert {_ip(p["key"]) for p in failed}.isdisjoint(got)  # nothing reported failed is in Kea


def test_subnet_id_unknown_to_kea_stops_before_sending(kea_factory: Any, tmp_path: Path) -> None:
    """--kea-config names a subnet the live Kea lacks: the run would file leases under an id the
    server does not have, so it stops before sending anything (exit 2, one line per subnet).
    A subnet that disappears *during* the load stays a per-record failure (test above)."""
    srv = kea_factory(family=4, subnets=[TWO_SUBNETS[0]])
    src = tmp_path / "dhcpd.leases"
    _two_subnet_leases(src, 200)
    cfg = tmp_path / "kea.json"
    cfg.write_text(json.dumps({"Dhcp4": {"subnet4": TWO_SUBNETS}}))
    report = tmp_path / "report.json"
    res = subprocess.run(migrate_cmd(f"kea:{srv.socket_url}", src, report, "--kea-config",
                                     str(cfg)), capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.splitlines()[1:] == [
        "  subnet 10.2.0.0/16 (id 2 in the --kea-config): the target has no such subnet"]
    assert not report.exists()
    got, _ = held4(srv)
    assert got == {}


def test_http_kea_unreachable_beyond_retry_budget_stops_cleanly(kea_factory: Any,
                                                                tmp_path: Path) -> None:
    """Through kea-ctrl-agent: the daemon behind it dies mid-load (the CA stays up and answers
    "unable to forward"). The run stops with exit 2, says to re-run with --resume, keeps its
    checkpoint and writes no report; once the daemon is back the resume completes."""
    srv = kea_factory(family=4, subnets=[{"id": 9, "subnet": "10.0.0.0/8"}], ctrl_agent=True)
    src = tmp_path / "dhcpd.leases"
    want = write_leases(src, 2000)
    report = tmp_path / "report.json"
    cmd = migrate_cmd(f"kea:{srv.http_url}", src, report, "--service", "dhcp4", "--workers", "2")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state = tmp_path / "report.json.state.sqlite"
    deadline = time.monotonic() + 120
    while done_rows(state) < 200 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "load ended before Kea was stopped: " + "".join(proc.communicate())
    os.killpg(srv.proc.pid, signal.SIGKILL)  # the daemon only; the CA keeps its port
    srv.proc.wait(10)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, out + err
    assert "re-run with --resume" in err, err
    assert done_rows(state) >= 200
    assert not report.exists()
    srv.ctrl_agent = False  # restart the daemon alone, behind the same CA
    try:
        srv.start()
    finally:
        srv.ctrl_agent = True
    before, _ = held4(srv)
    again = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    rep = json.loads(report.read_text())
    assert (rep["read"], rep["loaded"], rep["failed"]) == (2000, 2000, 0)
    assert rep["outputs"]["sent"].get("lease4-add", 0) == 2000 - len(before)
    got, rows = held4(srv)
    assert rows == 2000 and got == want
