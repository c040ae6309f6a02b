"""Hostile files, long form (issue 13): a lease file whose middle is a zero-filled region with no
closing brace, and a dhcpd.conf with no newline at all, go through the real CLI in bounded memory.

CI: 96 MB each. ``make soak`` (``KEA_ETL_SOAK=1``): ``KEA_ETL_SOAK_GB`` GB (default 2). Memory is
measured as the child's own peak (VmHWM, polled), never time.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from tests.reliability._common import AS_OF, KEA_ETL, SOAK

#: the child's peak may not exceed this whatever the region's size (interpreter, numpy, chunk
#: buffers, one MAX_BLOCK of text a few times over while it is reported)
RSS_LIMIT_MB = 400

LEASE = ("lease {ip} {{\n  starts 5 2026/11/27 20:00:00;\n  ends 6 2036/11/28 20:00:00;\n"
         "  binding state active;\n  hardware ethernet 02:00:00:00:00:{n:02x};\n}}\n")


def _size() -> int:
    return int(float(os.environ.get("KEA_ETL_SOAK_GB", 2)) * 2**30) if SOAK else 96 * 2**20


def _zeros(fh: object, n: int) -> None:
    block = b"\0" * (1 << 22)
    while n > 0:
        fh.write(block[:min(n, len(block))])  # type: ignore[attr-defined]
        n -= len(block)


def _run_peak_mb(args: list[str], cwd: Path) -> tuple[int, int, str]:
    with (cwd / "stderr").open("w+") as err:
        proc = subprocess.Popen([*KEA_ETL, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        peak_kb = 0
        while proc.poll() is None:
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak_kb = max(peak_kb, int(line.split()[1]))
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        err.seek(0)
        return proc.returncode, peak_kb >> 10, err.read()


def test_zero_filled_region_in_a_lease_file_is_bounded() -> None:
    with tempfile.TemporaryDirectory(prefix="kea-etl-zero-", dir=os.environ.get("TMPDIR")) as d:
        wd = Path(d)
        with (wd / "dhcpd.leases").open("wb") as fh:
            fh.write(LEASE.format(ip="192.0.2.1", n=1).encode())
            fh.write(b"lease 192.0.2.2 {\n  starts 5 2026/11/27 20:00:00;\n")
            _zeros(fh, _size())
            fh.write(b"\n" + LEASE.format(ip="192.0.2.3", n=3).encode())
        (wd / "k.json").write_text(json.dumps({"Dhcp4": {"subnet4": [
            {"id": 1, "subnet": "192.0.2.0/24"}]}}))
        code, peak, err = _run_peak_mb(["migrate", "isc-leases:dhcpd.leases", "--to",
                                        "memfile:out", "--kea-config", "k.json", "--as-of",
                                        AS_OF, "--dry-run", "--report", "r.json",
                                        "--no-progress"], wd)
        assert code == 1, err  # the truncated block fails; the two good leases are read
        report = json.loads((wd / "r.json").read_text())
        assert report["loaded"] == 2, report
        assert peak < RSS_LIMIT_MB, f"peak {peak} MB for a {_size() >> 20} MB unclosed block"


def test_dhcpd_conf_without_newlines_is_bounded() -> None:
    with tempfile.TemporaryDirectory(prefix="kea-etl-conf-", dir=os.environ.get("TMPDIR")) as d:
        wd = Path(d)
        with (wd / "dhcpd.conf").open("wb") as fh:
            _zeros(fh, _size())
            fh.write(b"\nhost h1 { hardware ethernet 02:00:00:00:00:01; "
                     b"fixed-address 192.0.2.10; }\n")
        (wd / "k.json").write_text(json.dumps({"Dhcp4": {"subnet4": [
            {"id": 1, "subnet": "192.0.2.0/24"}]}}))
        code, peak, err = _run_peak_mb(["migrate", "isc-conf:dhcpd.conf", "--to", "memfile:out",
                                        "--kea-config", "k.json", "--dry-run", "--report",
                                        "r.json", "--no-progress"], wd)
        assert code == 1, err  # the over-long line is reported; the host is read
        report = json.loads((wd / "r.json").read_text())
        assert report["loaded"] == 1, report
        assert peak < RSS_LIMIT_MB, f"peak {peak} MB for a {_size() >> 20} MB line"
