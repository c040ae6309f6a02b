"""Helpers shared by the reliability tests: lease files, the kea-etl subprocess, Kea's view.

``KEA_ETL_SOAK=1`` (set by ``make soak``) switches the randomized fault tests to their long
form (20 trials of 100k leases, bigger fuzz runs); without it they run a CI-sized version.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

from tests.harness.clock import ANCHOR, iso
from tests.harness.leasefile import lease_block

SOAK = os.environ.get("KEA_ETL_SOAK", "") not in ("", "0")
KEA_ETL = [str(Path(sys.executable).with_name("kea-etl"))]
#: the lease files below are dated around clock.ANCHOR, the moment the runs take as now
AS_OF = iso(ANCHOR)
SUBNETS16 = [{"id": 1, "subnet": "10.0.0.0/16", "pools": [{"pool": "10.0.0.10-10.0.255.250"}]}]
SUBNETS8 = [{"id": 1, "subnet": "10.0.0.0/8", "pools": [{"pool": "10.0.0.10-10.255.255.250"}]}]


def lease_ip(i: int) -> str:
    """The i-th address of a 10.0.0.0/8 layout (skips .0 and .255)."""
    n = i + 10
    return f"10.{(n // 62500) % 250}.{(n // 250) % 250}.{n % 250 + 1}"


def lease_mac(i: int) -> str:
    return f"02:{(i >> 24) & 255:02x}:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}:01"


def write_leases(path: Path, n: int, *, hostname: str | None = None) -> dict[str, str]:
    """A dhcpd.leases with ``n`` active leases; returns address -> MAC."""
    want: dict[str, str] = {}
    with path.open("w") as fh:
        for i in range(n):
            ip, mac = lease_ip(i), lease_mac(i)
            want[ip] = mac
            fh.write(lease_block(ip, starts=ANCHOR - 3600, ends=ANCHOR + 82800,
                                 cltt=ANCHOR - 3600, mac=mac, hostname=hostname))
    return want


def migrate_cmd(target: str, src: Path, report: Path, *extra: str) -> list[str]:
    return [*KEA_ETL, "migrate", str(src), "--to", target, "--as-of", AS_OF,
            "--report", str(report), "--no-progress", *extra]


def held4(srv: Any, page: int = 10000) -> tuple[dict[str, str], int]:
    """Kea's v4 leases (address -> MAC) read page by page over the harness' own socket client,
    and the number of rows Kea returned (a duplicate address would make it exceed the dict)."""
    out: dict[str, str] = {}
    rows = 0
    start = "start"
    while True:
        r = srv.command("lease4-get-page", {"from": start, "limit": page})
        leases = (r.get("arguments") or {}).get("leases", []) if r.get("result") == 0 else []
        rows += len(leases)
        for x in leases:
            out[x["ip-address"]] = x["hw-address"]
        if len(leases) < page:
            return out, rows
        start = leases[-1]["ip-address"]


def done_rows(state: Path) -> int:
    if not state.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute("SELECT count(*) FROM outcome").fetchone()[0])
    except sqlite3.Error:
        return 0
