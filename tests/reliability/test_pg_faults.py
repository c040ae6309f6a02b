"""PostgreSQL connection lost mid-run (``pg_terminate_backend`` from another session): during a
``kea-sql:`` load and during a warehouse export. The open transaction rolls back, the run stops
cleanly (or the export reports the server as failed), nothing is duplicated, and a resumed /
repeated run ends with every row exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability._common import AS_OF, KEA_ETL, done_rows, write_leases
from tests.reliability.conftest import _sql, _terminate


def _kill_when(state: Path, rows: int, db: str, proc: subprocess.Popen[str]) -> int:
    deadline = time.monotonic() + 120
    while done_rows(state) < rows and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "the load finished before the connection could be cut"
    return _terminate(db)


def test_kea_sql_connection_lost_mid_load_then_resume(kea_pg_db: str, tmp_path: Path) -> None:
    n = 20_000
    src = tmp_path / "dhcpd.leases"
    want = write_leases(src, n)
    cfg = tmp_path / "kea.json"
    cfg.write_text(json.dumps({"Dhcp4": {"subnet4": [{"id": 1, "subnet": "10.0.0.0/8"}]}}))
    report = tmp_path / "report.json"
    state = tmp_path / "report.json.state.sqlite"
    cmd = [*KEA_ETL, "migrate", str(src), "--to", f"kea-sql:postgresql://postgres@127.0.0.1/"
           f"{kea_pg_db}", "--kea-config", str(cfg), "--as-of", AS_OF, "--report", str(report),
           "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = _kill_when(state, 2000, kea_pg_db, proc)
    out, err = proc.communicate(timeout=300)
    assert killed >= 1
    assert proc.returncode == 2, out + err
    assert "Traceback" not in err, err[-3000:]
    assert "re-run with --resume" in err, err
    assert not report.exists()
    saved = done_rows(state)
    rows = int(_sql(kea_pg_db, "SELECT count(*) FROM lease4"))
    # the rolled-back batch is not in the table; what the checkpoint holds is
    assert saved <= rows < n
    again = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    rep = json.loads(report.read_text())
    assert (rep["read"], rep["loaded"], rep["failed"], rep["balanced"]) == (n, n, 0, True)
    assert int(_sql(kea_pg_db, "SELECT count(*) FROM lease4")) == n
    got = dict(line.split("|") for line in _sql(
        kea_pg_db, "SELECT host('0.0.0.0'::inet + address), encode(hwaddr, 'hex') "
                   "FROM lease4").splitlines())
    assert {ip: ":".join(h[i:i + 2] for i in range(0, 12, 2)) for ip, h in got.items()} == want


@pytest.fixture
def warehouse_db() -> Iterator[str]:
    name = f"kea_etl_wh_{os.getpid()}"
    _sql("test", f"DROP DATABASE IF EXISTS {name}")
    _sql("test", f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        _terminate(name)
        _sql("test", f"DROP DATABASE IF EXISTS {name}")


def _kea_with_leases(kea_factory: Any, tmp_path: Path, n: int) -> Any:
    lines = ["address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,"
             "hostname,state,user_context"]
    lines += [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255 or 1},"
              f"02:00:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x},,86400,"
              f"{1_900_000_000 + i},1,0,0,,0," for i in range(1, n + 1) if i & 255]
    csv = tmp_path / "kea-leases4.csv"
    csv.write_text("\n".join(lines) + "\n")
    return kea_factory(family=4, subnets=[{"id": 1, "subnet": "10.0.0.0/8"}], lease_file=csv), \
        len(lines) - 1


@pytest.mark.kea
def test_warehouse_export_connection_lost_rolls_back_and_rerun_is_exact(
        kea_factory: Any, tmp_path: Path, warehouse_db: str) -> None:
    srv, n = _kea_with_leases(kea_factory, tmp_path, 5_000)
    url = f"postgresql+psycopg2://postgres@127.0.0.1/{warehouse_db}"
    cmd = [*KEA_ETL, "export", "--kea", srv.socket_url, "--to", url, "--page-size", "100",
           "--no-stats", "--export-date", "2026-11-27"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = 0
    deadline = time.monotonic() + 120
    # cut the connection once rows are flowing (the schema exists and snapshots are written)
    while proc.poll() is None and time.monotonic() < deadline:
        have = _sql(warehouse_db, "SELECT to_regclass('lease_snapshots') IS NOT NULL")
        if have == "t" and int(_sql(warehouse_db, "SELECT count(*) FROM lease_snapshots")) > 500:
            killed = _terminate(warehouse_db)
            break
        time.sleep(0.01)
    out, err = proc.communicate(timeout=300)
    assert killed >= 1 or proc.returncode == 0, "the export ended before the cut: " + out + err
    assert "Traceback" not in err, err[-3000:]
    snap_rows = int(_sql(warehouse_db, "SELECT count(*) FROM lease_snapshots"))
    if proc.returncode == 1:  # the cut hit a transaction: the server's export failed cleanly
        assert "Error:" in err, err
        status = _sql(warehouse_db, "SELECT status FROM export_runs")
        assert status == "failed", status
        assert snap_rows == 0  # the failed run's rows were removed, the open batch rolled back
    else:  # the cut hit an idle pooled connection: pre-ping reconnected, nothing lost
        assert proc.returncode == 0, out + err
        assert snap_rows == n
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert int(_sql(warehouse_db, "SELECT count(*) FROM lease_snapshots")) == n
    assert int(_sql(warehouse_db, "SELECT count(DISTINCT address) FROM lease_snapshots")) == n
    assert int(_sql(warehouse_db, "SELECT count(*) FROM leases_current")) == n
    assert _sql(warehouse_db, "SELECT count(*) FROM export_runs WHERE status = 'complete'") == "1"
