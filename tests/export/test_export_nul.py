"""One NUL byte in one hostname (issue 13, item 3), exported from a real Kea into PostgreSQL.

PostgreSQL text cannot hold a NUL byte: before the fix the server's whole nightly export failed
(0 rows, exit 1, a message that named no lease), every night again. Now the value is stored
escaped (NUL as the four characters ``\\x00``), the run report names the lease and field, and
every other row is exported; SQLite and Parquet keep the value exactly.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads
import pytest
import sqlalchemy as sa

from kea_etl.export import KeaTarget, run_export
from tests.harness import clock

pytestmark = pytest.mark.kea

NIGHT = date(2026, 11, 27)



def _fill(kea4: Any) -> None:
    now = clock.now()
    for i in range(30):
        kea4.ok("lease4-add", {"ip-address": f"192.0.2.{10 + i}",
                               "hw-address": f"02:00:00:00:00:{i:02x}", "valid-lft": 3600,
                               "expire": now + 3000,
                               "hostname": "evil\u0000host" if i == 7 else f"h{i}"})
    got = kea4.ok("lease4-get", {"ip-address": "192.0.2.17"})
    assert got["hostname"] == "evil\u0000host"  # Kea keeps the NUL


def test_nul_in_hostname_postgres(kea4: Any, pg_url: str, tmp_path: Path) -> None:
    _fill(kea4)
    rep = run_export([KeaTarget(kea4.socket_url)], families=(4,), warehouse=pg_url,
                     parquet_dir=tmp_path / "pq", page_size=8, export_date=NIGHT)
    assert rep.exit_code() == 0, rep.to_json()
    assert rep.leases == 30
    warnings = rep.results[0].warnings
    assert any("192.0.2.17" in w and "hostname" in w and "NUL" in w for w in warnings), warnings
    eng = sa.create_engine(pg_url)
    try:
        with eng.connect() as conn:
            assert conn.execute(sa.text("select count(*) from lease_snapshots")).scalar_one() == 30
            assert conn.execute(sa.text("select count(*) from leases_current")).scalar_one() == 30
            host = conn.execute(sa.text(
                "select hostname from leases_current where address='192.0.2.17'")).scalar_one()
    finally:
        eng.dispose()
    assert host == "evil\\x00host"
    # Parquet holds the exact value
    table = pads.dataset(tmp_path / "pq" / "leases", format="parquet",
                         partitioning="hive").to_table()
    hosts = dict(zip(table.column("address").to_pylist(), table.column("hostname").to_pylist(),
                     strict=True))
    assert hosts["192.0.2.17"] == "evil\u0000host"


def test_nul_in_hostname_sqlite_exact(kea4: Any, tmp_path: Path) -> None:
    _fill(kea4)
    url = f"sqlite:///{tmp_path}/wh.db"
    rep = run_export([KeaTarget(kea4.socket_url)], families=(4,), warehouse=url, export_date=NIGHT)
    assert rep.exit_code() == 0 and rep.leases == 30, rep.to_json()
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        host = conn.execute(sa.text(
            "select hostname from leases_current where address='192.0.2.17'")).scalar_one()
    eng.dispose()
    assert host == "evil\u0000host"
