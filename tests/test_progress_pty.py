"""Progress you can plan by (issue 16, part 1), as a person at a terminal sees it: the CLI runs
on a pseudo-terminal (pty.openpty, 120 columns) and everything it draws is read back.

Was: ``migrating: : 30.0k records`` with ``loaded=2e+4``, no total, no percentage, no ETA, and a
rate averaged since the start (including the fast conflict scan).
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from tests.harness import clock
from tests.harness.kea import KeaServer
from tests.harness.leasefile import lease_block

KEA_ETL = [sys.executable, "-m", "kea_etl.cli"]
N = 60_000


def _leases(path: Path, n: int) -> Path:
    """``n`` active leases in 10.0.0.0/16, valid for a day from now (any date)."""
    start = clock.now() - 60
    with path.open("w") as fh:
        for i in range(n):
            fh.write(lease_block(f"10.0.{i // 250}.{i % 250 + 1}", starts=start,
                                 ends=start + 86_400, cltt=start,
                                 mac=f"02:00:00:00:{i >> 8 & 255:02x}:{i & 255:02x}"))
    return path


def _config(path: Path) -> Path:
    path.write_text('{"Dhcp4": {"subnet4": [{"id": 1, "subnet": "10.0.0.0/16"}]}}')
    return path


def run_on_pty(argv: list[str], cwd: Path) -> tuple[int, str]:
    """Run ``argv`` with stdout and stderr on one pseudo-terminal; what it drew, as text."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, cwd=cwd,
                            env={**os.environ, "TERM": "xterm", "COLUMNS": "120"})
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            proc.kill()
            raise AssertionError("no output for 120 s")
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(60), b"".join(chunks).decode("utf-8", "replace")


def test_migrate_draws_phase_total_percentage_rate_and_eta(tmp_path: Path) -> None:
    src = _leases(tmp_path / "dhcpd.leases", N)
    cfg = _config(tmp_path / "kea4.json")
    code, out = run_on_pty([*KEA_ETL, "migrate", str(src), "--to", "memfile:out",
                            "--kea-config", str(cfg), "--kea-version", "2.6"], tmp_path)
    assert code == 0, out
    frames = [f for f in re.split(r"[\r\n]", out) if "%|" in f]
    assert frames, out
    # loading:  63%|██████▎   | 6.42M/10.1M [00:00<00:00, 18.0MB/s, 38,000 read, 37,999 loaded]
    bar = re.compile(r"loading: +(\d+)%\|.*\| ([\d.]+[kMG]?)/([\d.]+)([kMG]?) "
                     r"\[\d\d:\d\d<(\d\d:\d\d|\?), +[\d.]+[kMG]?B/s, ([\d,]+) read, ([\d,]+) "
                     r"loaded\]")
    seen = [m for m in (bar.search(f) for f in frames) if m]
    assert seen, frames[:3]
    size = src.stat().st_size
    total = float(seen[0][3]) * {"": 1, "k": 1024, "M": 1024 ** 2, "G": 1024 ** 3}[seen[0][4]]
    assert abs(total - size) / size < 0.01  # the total is the file's size in bytes
    pct = [int(m[1]) for m in seen]
    assert pct == sorted(pct) and max(pct) > 0  # it moves forward
    assert any(m[5] != "?" for m in seen)  # an ETA
    assert int(seen[-1][6].replace(",", "")) > 1000  # counts for people: 24,000
    assert "e+" not in out  # no 2e+4
    summary = out[out.index("kea-etl migrate:"):].splitlines()  # after the bar is cleared
    assert summary[0].split(" (")[0] == (
        f"kea-etl migrate: {N:,} read, {N:,} loaded, 0 skipped, 0 failed, 0 statement(s) not "
        "translated")


def test_quiet_prints_only_the_summary(tmp_path: Path) -> None:
    src = _leases(tmp_path / "dhcpd.leases", 3_000)
    cfg = _config(tmp_path / "kea4.json")
    code, out = run_on_pty([*KEA_ETL, "migrate", str(src), "--to", "memfile:out",
                            "--kea-config", str(cfg), "--kea-version", "2.6", "--quiet"],
                           tmp_path)
    assert code == 0, out
    lines = out.replace("\r\n", "\n").splitlines()
    assert "%|" not in out and "\r" not in out.replace("\r\n", "")
    assert lines[0].split(" (")[0] == ("kea-etl migrate: 3,000 read, 3,000 loaded, 0 skipped, "
                                        "0 failed, 0 statement(s) not translated")
    assert lines[1:] == ["  wrote: out/kea-leases4.csv (3000 records)",
                         "  memfile format: Kea 2.6 (from --kea-version)"]


@pytest.mark.kea
def test_export_bar_has_the_servers_own_total(kea4: KeaServer, tmp_path: Path) -> None:
    """Was: ``unix:///... v4: 30.0k leases`` with no total; now done / stat-lease4-get's count."""
    expire = clock.now() + 86_400
    for i in range(300):
        kea4.command("lease4-add", {"ip-address": f"192.0.2.{i % 240 + 10}" if i < 240 else
                                    f"198.51.100.{i - 230}", "subnet-id": 1 if i < 240 else 2,
                                    "hw-address": f"02:00:00:00:{i >> 8:02x}:{i & 255:02x}",
                                    "valid-lft": 86_400, "expire": expire})
    code, out = run_on_pty([*KEA_ETL, "export", "--kea", kea4.socket_url, "--to",
                            f"sqlite:///{tmp_path}/w.db", "--page-size", "20"], tmp_path)
    assert code == 0, out
    bar = re.compile(re.escape(f"{kea4.socket_url} v4: exporting:") +
                     r" +(\d+)%\|.*\| (\d+)/300 \[\d\d:\d\d<(\d\d:\d\d|\?), +(\?|[\d.]+[kM]?) "
                     r"leases/s")
    seen = [m for m in (bar.search(f) for f in re.split(r"[\r\n]", out)) if m]
    assert seen, out
    assert seen[0][1] == "0"
    assert "Export " in out and "e+" not in out


def test_reconcile_shows_each_phase_instead_of_a_blank_screen(tmp_path: Path) -> None:
    """Was: ~14 s of blank screen on a 300k-lease reconcile."""
    src = _leases(tmp_path / "dhcpd.leases", 6_000)
    cfg = _config(tmp_path / "kea4.json")
    code, out = run_on_pty([*KEA_ETL, "migrate", str(src), "--to", "memfile:out",
                            "--kea-config", str(cfg), "--kea-version", "2.6", "--quiet"],
                           tmp_path)
    assert code == 0, out
    code, out = run_on_pty([*KEA_ETL, "reconcile", str(src), "--against", "out",
                            "--kea-config", str(cfg)], tmp_path)
    assert code == 0, out
    frames = re.split(r"[\r\n]", out)
    assert any(re.search(r"reading the source: \d+ records \[\d\d:\d\d, ", f) for f in frames), out
    # Kea's total is its own count (here the memfile's, as stat-lease4-get would give it)
    assert any(re.search(r"reading Kea: +\d+%\|.*\| \d+/6000 \[", f) for f in frames), out
    assert any("comparing:" in f for f in frames), out
    assert "OK: everything matches" in out
    code, quiet = run_on_pty([*KEA_ETL, "reconcile", str(src), "--against", "out",
                              "--kea-config", str(cfg), "--quiet"], tmp_path)
    assert code == 0 and "%|" not in quiet and "reading" not in quiet
