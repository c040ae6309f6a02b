"""``kea-etl export --delta`` against real Kea v4 and v6 servers, over two nights.

The Delta tables are read by ``deltalake`` and by DuckDB, the Parquet tree by DuckDB, and every
reader counts what the SQL warehouse holds for the same runs; ``leases_current`` is what Kea holds
after each night. DuckDB's own ``delta_scan`` needs its ``delta`` extension, which DuckDB
downloads on first use (not possible offline, and the PyPI builds of it lag DuckDB's version), so
DuckDB reads the Delta tables here as docs/warehouse.md shows for that case: the table's current
files from the Delta log (``DeltaTable.file_uris()``) through ``read_parquet``, and the
``DeltaTable.to_pyarrow_dataset()`` registered as a view. ``delta_scan`` runs too when the
extension loads.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kea_etl.export import KeaTarget, run_export
from tests.export.helpers import delta_rows
from tests.harness import clock

pytestmark = pytest.mark.kea

deltalake = pytest.importorskip("deltalake")  # the dev extra installs it
duckdb = pytest.importorskip("duckdb")

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "warehouse.md"
# nights in the suite's time (KEA_ETL_TEST_SHIFT_DAYS moves them with everything else)
NIGHT1 = datetime.fromtimestamp(clock.now(), UTC).date() - timedelta(days=1)
NIGHT2 = NIGHT1 + timedelta(days=1)
KEY = tuple[str, int, str]


def _fill(kea4: Any, kea6: Any) -> None:
    now = clock.now()
    for i in range(30):
        kea4.ok("lease4-add", {"ip-address": f"192.0.2.{10 + i}",
                               "hw-address": f"02:00:00:00:00:{i:02x}", "valid-lft": 3600,
                               "expire": now + 3000, "hostname": f"h{i}"})
    kea4.ok("lease4-add", {"ip-address": "198.51.100.20", "hw-address": "02:00:00:00:01:01",
                           "client-id": "01:02:03", "valid-lft": 7200, "expire": now + 7000,
                           "user-context": {"note": "n"}})
    for i in range(4):
        kea6.ok("lease6-add", {"ip-address": f"2001:db8:1::{0x1000 + i:x}", "iaid": i + 1,
                               "duid": f"00:03:00:01:02:00:00:00:00:{i:02x}", "valid-lft": 4000,
                               "preferred-lft": 3000, "expire": now + 3000})
    kea6.ok("lease6-add", {"ip-address": "2001:db8:8000:100::", "type": "IA_PD",
                           "prefix-len": 56, "subnet-id": 1, "iaid": 9,
                           "duid": "00:03:00:01:02:00:00:00:00:09", "valid-lft": 4000,
                           "preferred-lft": 3000, "expire": now + 3000})


def _kea_holds(*servers: tuple[str, Any]) -> set[KEY]:
    out: set[KEY] = set()
    for name, srv in servers:
        for lease in srv.leases():
            out.add((name, srv.family, lease["ip-address"]))
    return out


def _export(kea4: Any, kea6: Any, tmp_path: Path, night: date) -> None:
    rep = run_export([KeaTarget(kea4.socket_url, label="dhcp-a"),
                      KeaTarget(kea6.socket_url, label="dhcp-b")],
                     warehouse=f"sqlite:///{tmp_path}/wh.db", parquet_dir=tmp_path / "pq",
                     delta_dir=tmp_path / "delta", page_size=7, export_date=night)
    assert rep.exit_code() == 0, rep.to_json()
    assert not [w for r in rep.results for w in r.warnings], rep.to_json()


@pytest.fixture
def con() -> Iterator[Any]:
    c = duckdb.connect()
    yield c
    c.close()


def _delta_views(con: Any, root: Path) -> None:
    """The two Delta tables as DuckDB views, without DuckDB's delta extension."""
    for name in ("lease_snapshots", "leases_current"):
        con.register(name, deltalake.DeltaTable(str(root / name)).to_pyarrow_dataset())


def _counts(rows: Any) -> dict[tuple[str, str, int], int]:
    return {(str(d), s, int(f)): int(n) for d, s, f, n in rows}


def _check(con: Any, tmp_path: Path, kea_holds: set[KEY], nights: int) -> None:
    eng = sa.create_engine(f"sqlite:///{tmp_path}/wh.db")
    try:
        with eng.connect() as conn:
            sql = _counts(conn.execute(sa.text(
                "select export_date, server, family, count(*) from lease_snapshots "
                "group by 1, 2, 3")))
            sql_current = {tuple(r) for r in conn.execute(sa.text(
                "select server, family, address from leases_current"))}
    finally:
        eng.dispose()
    assert len(sql) == 2 * nights
    snaps = deltalake.DeltaTable(str(tmp_path / "delta" / "lease_snapshots"))
    # deltalake's own reader
    assert _counts(tuple(r.values()) for r in delta_rows(
        snaps.table_uri, "select export_date, server, family, count(*) from t "
                         "group by 1, 2, 3")) == sql
    delta_current = {(r["server"], r["family"], r["address"]) for r in delta_rows(
        tmp_path / "delta" / "leases_current", "select server, family, address from t")}
    assert delta_current == sql_current == kea_holds
    # DuckDB over the files of the current Delta version (partition values from the paths)
    files = ", ".join(f"'{u}'" for u in snaps.file_uris())
    assert _counts(con.execute(
        f"select export_date, server, family, count(*) from read_parquet([{files}], "
        "hive_partitioning = true) group by all").fetchall()) == sql
    # DuckDB over the Arrow datasets of the tables
    _delta_views(con, tmp_path / "delta")
    assert _counts(con.execute("select export_date, server, family, count(*) "
                               "from lease_snapshots group by all").fetchall()) == sql
    assert {tuple(r) for r in con.execute(
        "select server, family, address from leases_current").fetchall()} == kea_holds
    # DuckDB over the Parquet tree
    assert _counts(con.execute(
        f"select export_date, server, family, count(*) from read_parquet("
        f"'{tmp_path}/pq/leases/*/*/*.parquet', hive_partitioning = true) "
        "group by all").fetchall()) == sql


def _doc_queries() -> list[str]:
    blocks = re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.S)
    return [b for b in blocks if b.splitlines()[0] == "-- DuckDB over Delta"]


def test_delta_two_nights_read_by_deltalake_and_duckdb(kea4: Any, kea6: Any, tmp_path: Path,
                                                       con: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _fill(kea4, kea6)
    servers = (("dhcp-a", kea4), ("dhcp-b", kea6))
    _export(kea4, kea6, tmp_path, NIGHT1)
    _export(kea4, kea6, tmp_path, NIGHT1)  # a re-run replaces the night, never duplicates
    _check(con, tmp_path, _kea_holds(*servers), nights=1)
    # the next night: one lease gone, one new
    kea4.ok("lease4-del", {"ip-address": "192.0.2.10"})
    kea4.ok("lease4-add", {"ip-address": "192.0.2.200", "hw-address": "02:00:00:00:02:00",
                           "valid-lft": 3600, "expire": clock.now() + 3000})
    _export(kea4, kea6, tmp_path, NIGHT2)
    holds = _kea_holds(*servers)
    assert ("dhcp-a", 4, "192.0.2.10") not in holds and ("dhcp-a", 4, "192.0.2.200") in holds
    _check(con, tmp_path, holds, nights=2)
    assert {r["address"]: str(r["export_date"]) for r in delta_rows(
        tmp_path / "delta" / "leases_current", "select address, export_date from t "
        "where server = 'dhcp-a'")}["192.0.2.200"] == NIGHT2.isoformat()
    # the same columns as the Parquet files (schema.py) plus the partition columns
    snap_cols = [f.name for f in deltalake.DeltaTable(
        str(tmp_path / "delta" / "lease_snapshots")).schema().fields]
    from kea_etl.export.schema import LEASE_FIELDS
    assert snap_cols == ["export_date", "server", *(f.name for f in LEASE_FIELDS)]

    # the documented DuckDB queries run as written (the views stand in for delta_scan)
    monkeypatch.chdir(tmp_path)
    queries = _doc_queries()
    assert len(queries) >= 2
    _delta_views(con, Path("delta"))
    for sql in queries:
        sql = re.sub(r"delta_scan\('delta/(\w+)'\)", r"\1", sql)
        assert con.execute(sql).fetchall(), sql
    try:
        con.execute("LOAD delta")
    except duckdb.Error:
        return  # no delta extension on this machine: the views above are DuckDB's way in
    n = con.execute("select count(*) from delta_scan('delta/lease_snapshots')").fetchone()
    assert n == con.execute("select count(*) from lease_snapshots").fetchone()


def test_subnet_filtered_run_merges_only_its_subnets(kea4: Any, tmp_path: Path) -> None:
    """A run filtered to subnet 2 neither deletes nor replaces subnet 1's rows."""
    now = clock.now()
    kea4.ok("lease4-add", {"ip-address": "192.0.2.10", "hw-address": "02:00:00:00:00:01",
                           "valid-lft": 3600, "expire": now + 3000})
    kea4.ok("lease4-add", {"ip-address": "198.51.100.20", "hw-address": "02:00:00:00:00:02",
                           "valid-lft": 3600, "expire": now + 3000})
    target = [KeaTarget(kea4.socket_url, label="dhcp-a")]
    root = tmp_path / "delta"
    assert run_export(target, families=(4,), delta_dir=root, export_date=NIGHT1).exit_code() == 0
    kea4.ok("lease4-del", {"ip-address": "198.51.100.20"})
    rep = run_export(target, families=(4,), delta_dir=root, export_date=NIGHT1, subnets=[2])
    assert rep.exit_code() == 0, rep.to_json()
    for table in ("lease_snapshots", "leases_current"):
        got = delta_rows(root / table, "select address from t")
        assert [r["address"] for r in got] == ["192.0.2.10"], table


def _cli(name: str, srv: Any, root: Path, night: date) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kea_etl.cli", "export", "--kea", f"{name}={srv.socket_url}",
         "--delta", str(root), "--no-stats", "--page-size", "5",
         "--export-date", night.isoformat(), "-q"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_concurrent_exports_into_the_same_tables(kea4: Any, kea6: Any,
                                                     tmp_path: Path) -> None:
    """Two processes, two servers, the same Delta tables, three nights each at the same time:
    neither loses the other's commits (Delta's optimistic concurrency, retried)."""
    _fill(kea4, kea6)
    root = tmp_path / "delta"
    nights = [NIGHT1 - timedelta(days=k) for k in range(3)]
    for night in nights:
        procs = [_cli("dhcp-a", kea4, root, night), _cli("dhcp-b", kea6, root, night)]
        for p in procs:
            out, err = p.communicate(timeout=300)
            assert p.returncode == 0, (out, err)
    got = {(str(r["export_date"]), r["server"]): r["n"] for r in delta_rows(
        root / "lease_snapshots", "select export_date, server, count(*) as n from t group by 1, 2")}
    assert got == {(n.isoformat(), s): c for n in nights for s, c in (("dhcp-a", 31),
                                                                     ("dhcp-b", 5))}
    assert {(r["server"], r["family"], r["address"]) for r in delta_rows(
        root / "leases_current", "select server, family, address from t")} == _kea_holds(
        ("dhcp-a", kea4), ("dhcp-b", kea6))
