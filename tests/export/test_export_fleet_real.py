"""A fleet export (lean): 8 real Kea dhcp4 servers on loopback, one killed, one ``kea-etl export``.

The others complete into SQLite, Parquet and Delta; the killed one is reported by name and the
exit code is 1. ``benchmarks/fleet.py`` is the same with 50 servers, timed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.export.helpers import delta_rows
from tests.harness.fleet import break_server, start_fleet

pytestmark = pytest.mark.kea

ROOT = Path(__file__).resolve().parents[2]
SERVERS = 8
LEASES = 40


def test_fleet_one_failing_the_others_complete(kea_factory: Callable[..., Any],
                                               tmp_path: Path) -> None:
    servers = start_fleet(SERVERS, LEASES, start=kea_factory)
    failing = servers[3]
    break_server(failing)
    argv = [sys.executable, "-m", "kea_etl.cli", "export", "--family", "4", "--no-stats",
            "--to", f"sqlite:///{tmp_path}/wh.db", "--parquet", str(tmp_path / "pq"),
            "--delta", str(tmp_path / "delta"), "--page-size", "15", "--timeout", "5",
            "--report", str(tmp_path / "report.json"), "--export-date", "2026-11-27"]
    for k, srv in enumerate(servers):
        argv += ["--kea", f"s{k}={srv.socket_url}"]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    # the report and the error line name the failing server
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: s3: cannot connect to Kea at {failing.socket_path}: connection "
                      "refused, nothing is listening (Kea stopped or restarting?)"]
    assert "FAILED" in next(line for line in proc.stdout.splitlines() if line.startswith("s3 "))
    report = json.loads((tmp_path / "report.json").read_text())
    assert [r["server"] for r in report["results"] if r["error"]] == ["s3"]
    ok = sorted(r["server"] for r in report["results"] if r["error"] is None)
    assert ok == sorted(f"s{k}" for k in range(SERVERS) if k != 3)
    assert report["leases"] == (SERVERS - 1) * LEASES
    # every other server's leases are in each sink
    eng = sa.create_engine(f"sqlite:///{tmp_path}/wh.db")
    with eng.connect() as conn:
        per_server = dict(conn.execute(sa.text(
            "select server, count(*) from lease_snapshots group by server")).all())
    eng.dispose()
    assert per_server == {s: LEASES for s in ok}
    assert sorted(p.name for p in (tmp_path / "pq" / "leases" / "export_date=2026-11-27")
                  .iterdir()) == sorted(f"server={s}" for s in ok)
    current = dict(tuple(r.values()) for r in delta_rows(
        tmp_path / "delta" / "leases_current", "select server, count(*) from t group by server"))
    assert current == {s: LEASES for s in ok}
