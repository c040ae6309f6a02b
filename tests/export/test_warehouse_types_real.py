"""The warehouse's column types, as each engine reports them, after an export of a real Kea.

One v4 and one v6 server with an ordinary lease, a declined one, a reclaimed one and a delegated
prefix, exported into SQLite, PostgreSQL and Parquet; the types are read back from the engine
(``PRAGMA table_info``, ``information_schema``, the Parquet footer, DuckDB's ``DESCRIBE``), the
timestamp columns are compared with the epoch columns, and a warehouse of the previous schema is
upgraded by an export. docs/warehouse.md documents the same types.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from kea_etl.audit import load_warehouse
from kea_etl.export import KeaTarget, run_export
from kea_etl.export.history import HistoryQuery, lease_history
from kea_etl.export.schema import LEASE_SCHEMA
from tests.harness import clock

pytestmark = pytest.mark.kea

NIGHT = date(2026, 11, 27)
DOC = Path(__file__).resolve().parents[2] / "docs" / "warehouse.md"
PD = "2001:db8:8000:100::"
NEW_COLUMNS = ("cltt_at", "expire_at", "state_name", "prefix")


def _doc_tables() -> dict[str, dict[str, dict[str, str]]]:
    """docs/warehouse.md's column tables: table -> column -> {header: cell, backticks off}."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    tables: list[str] = []
    header: list[str] = []
    for line in DOC.read_text().splitlines():
        if line.startswith("## "):
            tables = re.findall(r"`(\w+)`", line)
            header = []
            continue
        if not tables or not line.startswith("| "):
            continue
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        if not header:
            header = cells
        elif not set(line) <= set("|- "):
            for table in tables:
                out.setdefault(table, {})[cells[0]] = dict(zip(header, cells, strict=True))
    return out


def _doc_queries(*engines: str) -> list[str]:
    """The example queries of docs/warehouse.md whose first line names one of ``engines``."""
    blocks = re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.S)
    return [b for b in blocks if b.splitlines()[0].removeprefix("-- ") in engines]


def _fill(kea4: Any, kea6: Any) -> None:
    now = clock.now()
    kea4.ok("lease4-add", {"ip-address": "192.0.2.10", "hw-address": "02:00:00:00:00:01",
                           "valid-lft": 3600, "expire": now + 3000, "hostname": "a"})
    kea4.ok("lease4-add", {"ip-address": "198.51.100.20", "hw-address": "02:00:00:00:00:02",
                           "client-id": "01:02:00:00:00:00:02", "valid-lft": 7200,
                           "expire": now + 7000})
    kea4.ok("lease4-add", {"ip-address": "192.0.2.11", "hw-address": "00:00:00:00:00:00",
                           "valid-lft": 86400, "expire": now + 80000, "state": 1})
    kea4.ok("lease4-add", {"ip-address": "192.0.2.12", "hw-address": "02:00:00:00:00:03",
                           "valid-lft": 3600, "expire": now - 100, "state": 2})
    for i in range(2):
        kea6.ok("lease6-add", {"ip-address": f"2001:db8:1::{0x1000 + i:x}", "iaid": i + 1,
                               "duid": f"00:03:00:01:02:00:00:00:00:{i:02x}", "valid-lft": 4000,
                               "preferred-lft": 3000, "expire": now + 3000})
    kea6.ok("lease6-add", {"ip-address": "2001:db8:1::2000", "iaid": 7, "state": 1,
                           "duid": "00:03:00:01:02:00:00:00:00:07", "valid-lft": 4000,
                           "preferred-lft": 3000, "expire": now + 3000})
    kea6.ok("lease6-add", {"ip-address": PD, "type": "IA_PD", "prefix-len": 56, "subnet-id": 1,
                           "duid": "00:03:00:01:02:00:00:00:00:09", "iaid": 9, "valid-lft": 4000,
                           "preferred-lft": 3000, "expire": now + 3000})


def _export(kea4: Any, kea6: Any, **sinks: Any) -> None:
    rep = run_export([KeaTarget(kea4.socket_url, label="dhcp4"),
                      KeaTarget(kea6.socket_url, label="dhcp6")],
                     page_size=3, export_date=NIGHT, **sinks)
    assert rep.exit_code() == 0, rep.to_json()
    assert rep.leases == 8


@pytest.fixture
def engines() -> Iterator[list[sa.Engine]]:
    made: list[sa.Engine] = []
    yield made
    for eng in made:
        eng.dispose()


def _rows(eng: sa.Engine, sql: str, **params: Any) -> list[Any]:
    with eng.connect() as conn:
        return list(conn.execute(sa.text(sql), params))


def _same_instants(rows: Iterable[Any]) -> None:
    """``cltt_at`` / ``expire_at`` are the instants of ``cltt`` / ``expire``."""
    for r in rows:
        for at, epoch in ((r.cltt_at, r.cltt), (r.expire_at, r.expire)):
            # SQLAlchemy reads SQLite's UTC text back naive, PostgreSQL's timestamptz aware
            at = at if isinstance(at, datetime) else datetime.fromisoformat(at)
            assert at.replace(tzinfo=at.tzinfo or UTC) == datetime.fromtimestamp(epoch, UTC)


def _check_values(eng: sa.Engine, table: str) -> None:
    """What every engine must hold: names, prefixes and instants equal to the epochs."""
    got = {r.address: r for r in _rows(eng, f"select * from {table}")}
    assert len(got) == 8
    names = {a: r.state_name for a, r in got.items()}
    assert names == {"192.0.2.10": "default", "198.51.100.20": "default",
                     "192.0.2.11": "declined", "192.0.2.12": "expired-reclaimed",
                     "2001:db8:1::1000": "default", "2001:db8:1::1001": "default",
                     "2001:db8:1::2000": "declined", PD: "default"}
    assert {a: r.prefix for a, r in got.items() if r.prefix is not None} == {PD: f"{PD}/56"}
    for r in got.values():
        assert r.state_name == {0: "default", 1: "declined", 2: "expired-reclaimed"}[r.state]
    _same_instants(got.values())
    assert got["192.0.2.10"].iaid is None and got["192.0.2.10"].preferred_lft is None
    assert (got[PD].iaid, got[PD].preferred_lft, got[PD].prefix_len) == (9, 3000, 56)


def test_sqlite_parquet_and_duckdb_types(kea4: Any, kea6: Any, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    duckdb = pytest.importorskip("duckdb")  # the dev extra installs it
    _fill(kea4, kea6)
    url = f"sqlite:///{tmp_path}/wh.db"
    root = tmp_path / "export"
    _export(kea4, kea6, warehouse=url, parquet_dir=root)
    eng = sa.create_engine(url)
    try:
        for table in ("lease_snapshots", "leases_current"):
            types = {r.name: r.type for r in _rows(eng, f"pragma table_info({table})")}
            assert {k: types[k] for k in ("address", "prefix", "cltt", "expire", "cltt_at",
                                          "expire_at", "state", "state_name", "iaid",
                                          "preferred_lft", "prefix_len")} == {
                "address": "VARCHAR(45)", "prefix": "VARCHAR(49)", "cltt": "BIGINT",
                "expire": "BIGINT", "cltt_at": "DATETIME", "expire_at": "DATETIME",
                "state": "SMALLINT", "state_name": "VARCHAR(32)", "iaid": "BIGINT",
                "preferred_lft": "BIGINT", "prefix_len": "SMALLINT"}
            documented = _doc_tables()[table]
            assert {c: d["SQLite"] for c, d in documented.items()} == types
            _check_values(eng, table)
            # the text is UTC, as SQLite's own date functions read it
            assert _rows(eng, f"select count(*) from {table} where cast(strftime('%s', cltt_at) "
                              "as integer) != cltt or cast(strftime('%s', expire_at) as "
                              "integer) != expire") == [(0,)]
        sql_counts = dict(_rows(eng, "select family, count(*) from lease_snapshots "
                                     "group by family"))
        sql_stats = _rows(eng, "select count(*) from lease_stats")[0][0]
        for table in ("export_runs", "lease_stats"):
            types = {r.name: r.type for r in _rows(eng, f"pragma table_info({table})")}
            assert {c: d["SQLite"] for c, d in _doc_tables()[table].items()} == types
        queries = _doc_queries("SQLite", "SQLite and PostgreSQL")
        assert len(queries) == 3
        for sql in queries:  # "the next hour" is the real clock's: may be empty when shifted
            assert _rows(eng, sql) or "'now'" in sql, sql
    finally:
        eng.dispose()
    assert sql_counts == {4: 4, 6: 4}

    # Parquet: v4 and v6 files have the one schema, the schema of the export
    files = sorted(root.glob("leases/export_date=*/server=*/leases-v*.parquet"))
    assert [f.name for f in files] == ["leases-v4.parquet", "leases-v6.parquet"]
    schemas = [pq.read_schema(f) for f in files]
    assert schemas[0].equals(schemas[1], check_metadata=True)
    assert schemas[0].equals(LEASE_SCHEMA, check_metadata=True)
    want = {"address": pa.string(), "prefix": pa.string(), "cltt": pa.int64(),
            "cltt_at": pa.timestamp("us", tz="UTC"), "expire_at": pa.timestamp("us", tz="UTC"),
            "state": pa.int8(), "state_name": pa.string(), "iaid": pa.int64(),
            "preferred_lft": pa.int64(), "prefix_len": pa.int16()}
    assert {k: schemas[0].field(k).type for k in want} == want
    documented = {c: d["Parquet"] for c, d in _doc_tables()["lease_snapshots"].items()
                  if c in LEASE_SCHEMA.names}
    assert documented == {f.name: str(f.type).replace("tz=", "")
                          for f in schemas[0]}

    # DuckDB over both families at once: integers stay integers, rows as in SQL
    glob = f"{root}/leases/*/*/*.parquet"
    con = duckdb.connect()
    desc = {r[0]: r[1] for r in con.execute(
        f"describe select * from read_parquet('{glob}', hive_partitioning = true)").fetchall()}
    assert {k: desc[k] for k in ("iaid", "preferred_lft", "prefix_len", "cltt", "state",
                                 "cltt_at", "expire_at", "address", "state_name")} == {
        "iaid": "BIGINT", "preferred_lft": "BIGINT", "prefix_len": "SMALLINT",
        "cltt": "BIGINT", "state": "TINYINT", "cltt_at": "TIMESTAMP WITH TIME ZONE",
        "expire_at": "TIMESTAMP WITH TIME ZONE", "address": "VARCHAR", "state_name": "VARCHAR"}
    duck_counts = dict(con.execute(
        f"select family, count(*) from read_parquet('{glob}', hive_partitioning = true) "
        "group by family").fetchall())
    assert duck_counts == sql_counts
    assert con.execute(
        f"select count(*) from read_parquet('{glob}') where epoch(cltt_at) != cltt "
        "or epoch(expire_at) != expire").fetchone() == (0,)
    assert con.execute(f"select count(*) from read_parquet('{root}/stats/*/*/*.parquet')"
                       ).fetchone() == (sql_stats,)
    monkeypatch.chdir(tmp_path)  # the examples read export/leases/...
    queries = _doc_queries("DuckDB")
    assert len(queries) == 2
    for sql in queries:
        assert con.execute(sql).fetchall(), sql
    con.close()

    # pandas reads the nullable integers as nullable integers (no float64, no NaN)
    frame = pd.read_parquet(root / "leases")
    assert len(frame) == 8
    assert {c: str(frame[c].dtype) for c in ("iaid", "preferred_lft", "prefix_len", "cltt")} \
        == {"iaid": "Int64", "preferred_lft": "Int64", "prefix_len": "Int16", "cltt": "Int64"}
    assert frame.loc[frame["address"] == PD, "iaid"].tolist() == [9]
    stats = pd.read_parquet(root / "stats")  # global counters have no subnet: null, not NaN
    assert {c: str(stats[c].dtype) for c in ("subnet_id", "pool_id")} == {
        "subnet_id": "Int64", "pool_id": "Int64"}
    assert stats["subnet_id"].isna().any() and stats["subnet_id"].notna().any()


def test_postgresql_types(kea4: Any, kea6: Any, pg_url: str, tmp_path: Path,
                          engines: list[sa.Engine]) -> None:
    _fill(kea4, kea6)
    _export(kea4, kea6, warehouse=pg_url, parquet_dir=tmp_path / "pq")
    eng = sa.create_engine(pg_url)
    engines.append(eng)
    for table in ("lease_snapshots", "leases_current"):
        types = dict(_rows(eng, "select column_name, data_type from information_schema.columns "
                                "where table_name = :t", t=table))
        documented = {c: d["PostgreSQL"] for c, d in _doc_tables()[table].items()}
        assert documented == _pg_types(eng, table)
        assert {k: types[k] for k in ("address", "prefix", "cltt", "expire", "cltt_at",
                                      "expire_at", "state", "state_name", "iaid",
                                      "preferred_lft", "prefix_len")} == {
            "address": "inet", "prefix": "cidr", "cltt": "bigint", "expire": "bigint",
            "cltt_at": "timestamp with time zone", "expire_at": "timestamp with time zone",
            "state": "smallint", "state_name": "character varying", "iaid": "bigint",
            "preferred_lft": "bigint", "prefix_len": "smallint"}
        _check_values(eng, table)
        assert _rows(eng, f"select count(*) from {table} where extract(epoch from cltt_at) "
                          "!= cltt or extract(epoch from expire_at) != expire") == [(0,)]
    # inet and cidr work as addresses: containment, and the prefix holding an address in it
    assert _rows(eng, "select count(*) from leases_current where address << '192.0.2.0/24'") \
        == [(3,)]
    assert _rows(eng, "select address from leases_current "
                      "where prefix >> '2001:db8:8000:1ff::1'::inet") == [(PD,)]
    # the readers of the warehouse: history by address and by prefix, the notebook's loader
    [interval] = lease_history(pg_url, HistoryQuery.parse("192.0.2.11"))
    assert (interval.hwaddr, interval.state) == ("00:00:00:00:00:00", 1)
    [pd_interval] = lease_history(pg_url, HistoryQuery.parse(f"{PD}/56"))
    assert pd_interval.lease == f"{PD}/56"
    audit = load_warehouse(pg_url)
    assert len(audit.snapshots) == len(audit.current) == 8
    for table in ("export_runs", "lease_stats"):
        documented = {c: d["PostgreSQL"] for c, d in _doc_tables()[table].items()}
        assert documented == _pg_types(eng, table)
    queries = _doc_queries("PostgreSQL", "SQLite and PostgreSQL")
    assert len(queries) == 4
    for sql in queries:
        assert _rows(eng, sql), sql


def _pg_types(eng: sa.Engine, table: str) -> dict[str, str]:
    """information_schema's type of each column, varchar with its length."""
    return dict(_rows(eng, "select column_name, case when data_type = 'character varying' "
                           "then 'varchar(' || character_maximum_length || ')' else data_type "
                           "end from information_schema.columns where table_name = :t", t=table))


def _old_schema(eng: sa.Engine) -> None:
    """Turn a new warehouse into one of the previous schema: no derived columns, text addresses,
    and on SQLite ``leases_current`` a table as the earlier versions wrote it."""
    with eng.begin() as conn:
        if eng.dialect.name == "sqlite":
            from kea_etl.export.warehouse import leases_current
            conn.execute(sa.text("drop view leases_current"))
            leases_current.create(conn)
        for table in ("lease_snapshots", "leases_current"):
            for col in NEW_COLUMNS:  # one at a time: SQLite drops one per statement
                conn.execute(sa.text(f"alter table {table} drop column {col}"))
            if eng.dialect.name == "postgresql":
                conn.execute(sa.text(f"alter table {table} alter column address "
                                     "type varchar(45)"))


def _old_rows(eng: sa.Engine) -> None:
    """One complete old night: a declined v4 lease and a delegated prefix."""
    cltt = clock.now() - 86400
    cols = ("run_id, server, export_date, family, address, exported_at, lease_type, prefix_len, "
            "subnet_id, hwaddr, duid, iaid, valid_lft, preferred_lft, cltt, expire, state, "
            "hostname")
    with eng.begin() as conn:
        conn.execute(sa.text(
            "insert into export_runs (run_id, server, family, export_date, exported_at, status)"
            " values ('old4', 'old', 4, '2026-11-26', '2026-11-26 22:00:00', 'complete'),"
            " ('old6', 'old', 6, '2026-11-26', '2026-11-26 22:00:00', 'complete')"))
        for table in ("lease_snapshots", "leases_current"):
            conn.execute(sa.text(
                f"insert into {table} ({cols}) values "
                "(:r4, 'old', '2026-11-26', 4, '10.0.0.1', '2026-11-26 22:00:00', 'V4', 32, 1, "
                " '02:00:00:00:09:01', null, null, 3600, null, :c, :e, 1, ''),"
                "(:r6, 'old', '2026-11-26', 6, '2001:db8:9000:100::', '2026-11-26 22:00:00', "
                " 'IA_PD', 56, 1, null, '00:03:00:01:02:00:00:00:09:02', 5, 3600, 1800, :c, :e, "
                " 0, '')"), {"r4": "old4", "r6": "old6", "c": cltt, "e": cltt + 3600})


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_previous_schema_upgraded_by_an_export(engine: str, kea4: Any, kea6: Any,
                                               tmp_path: Path, request: pytest.FixtureRequest,
                                               engines: list[sa.Engine]) -> None:
    """A warehouse written before these columns: the next export adds them, fills them in the
    old rows from the epochs and states, turns PostgreSQL's text addresses into inet, and every
    reader still works over old and new nights."""
    url = (request.getfixturevalue("pg_url") if engine == "postgresql"
           else f"sqlite:///{tmp_path}/old.db")
    eng = sa.create_engine(url)
    engines.append(eng)
    from kea_etl.export.warehouse import Warehouse
    wh = Warehouse(url)
    wh.ensure_schema()
    wh.dispose()
    _old_schema(eng)
    _old_rows(eng)
    _fill(kea4, kea6)
    rep = run_export([KeaTarget(kea4.socket_url, label="dhcp4"),
                      KeaTarget(kea6.socket_url, label="dhcp6")],
                     warehouse=url, export_date=NIGHT)
    assert rep.exit_code() == 0, rep.to_json()
    want = [f"{t}.{c}" for t in ("lease_snapshots", "leases_current") for c in NEW_COLUMNS]
    if engine == "sqlite":  # leases_current becomes a view; the old table is kept, unchanged
        want = [f"lease_snapshots.{c}" for c in NEW_COLUMNS] + [
            "leases_current (now a view of lease_snapshots; the table it was is kept as "
            "leases_current_table)"]
        assert _rows(eng, "select count(*) from leases_current_table") == [(2,)]
    if engine == "postgresql":
        want += ["lease_snapshots.address (now inet)", "leases_current.address (now inet)"]
        types = dict(_rows(eng, "select table_name || '.' || column_name, data_type from "
                                "information_schema.columns where column_name in "
                                "('address', 'prefix', 'cltt_at')"))
        assert {k: v for k, v in types.items() if k.startswith("lease")} == {
            f"{t}.{c}": d for t in ("lease_snapshots", "leases_current")
            for c, d in (("address", "inet"), ("prefix", "cidr"),
                         ("cltt_at", "timestamp with time zone"))}
    assert sorted(rep.added_columns) == sorted(want)
    for table in ("lease_snapshots", "leases_current"):
        old = {r.address: r for r in _rows(eng, f"select * from {table} where server = 'old'")}
        assert {a: (r.state_name, r.prefix) for a, r in old.items()} == {
            "10.0.0.1": ("declined", None),
            "2001:db8:9000:100::": ("default", "2001:db8:9000:100::/56")}
        _same_instants(old.values())
    # the old night's rows read like the new night's
    [old4] = lease_history(url, HistoryQuery.parse("10.0.0.1"))
    assert (old4.server, old4.state, old4.nights) == ("old", 1, 1)
    [old6] = lease_history(url, HistoryQuery.parse("2001:db8:9000:100::/56"))
    assert old6.lease == "2001:db8:9000:100::/56"
    audit = load_warehouse(url)
    assert len(audit.snapshots) == 10
    assert set(audit.snapshots["server"]) == {"old", "dhcp4", "dhcp6"}
    # nothing left to do at the next export
    again = run_export([KeaTarget(kea4.socket_url, label="dhcp4")], families=(4,),
                       warehouse=url, export_date=NIGHT)
    assert again.exit_code() == 0 and again.added_columns == []

