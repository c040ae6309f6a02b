"""The one definition of the lease columns (kea_etl.export.schema) and the derived columns of a
page of Kea's lease JSON, without a server (tests/export/test_warehouse_types_real.py exports a
real Kea into every engine)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from kea_etl.export.kea_api import page_to_batch
from kea_etl.export.schema import LEASE_FIELDS, LEASE_SCHEMA, state_name
from kea_etl.export.warehouse import lease_snapshots, leases_current

AT = datetime(2026, 11, 27, 21, 0, tzinfo=UTC)


def test_every_lease_field_is_a_column_of_both_lease_tables() -> None:
    names = [f.name for f in LEASE_FIELDS]
    assert LEASE_SCHEMA.names == names
    for table in (lease_snapshots, leases_current):
        own = {"run_id", "server", "export_date"}
        assert sorted(c.name for c in table.columns if c.name not in own) == sorted(names)


def test_state_names_are_keas() -> None:
    assert [state_name(s) for s in range(6)] == [
        "default", "declined", "expired-reclaimed", "released", "registered", "unknown (5)"]


def test_derived_columns_and_one_schema_for_both_families() -> None:
    v4 = page_to_batch([{"ip-address": "192.0.2.1", "hw-address": "02:00:00:00:00:01",
                         "valid-lft": 3600, "cltt": 1795813200, "state": 1}], 4,
                       exported_at=AT, kea_version="2.2.0")
    v6 = page_to_batch([
        {"ip-address": "2001:db8::1", "duid": "00:01", "iaid": 1, "valid-lft": 4000,
         "preferred-lft": 3000, "cltt": 1795813200, "state": 9},
        # a prefix given to Kea with host bits set: the prefix column holds its network
        {"ip-address": "2001:db8:8000:1ff::", "type": "IA_PD", "prefix-len": 56, "duid": "00:02",
         "iaid": 2, "valid-lft": 4000, "preferred-lft": 3000, "cltt": 1795813200}], 6,
        exported_at=AT, kea_version="2.2.0")
    assert v4.schema.equals(v6.schema, check_metadata=True)
    row4, na, pd_row = v4.to_pylist()[0], *v6.to_pylist()
    assert (row4["state_name"], row4["prefix"], row4["iaid"]) == ("declined", None, None)
    assert row4["cltt_at"] == datetime.fromtimestamp(1795813200, UTC)
    assert row4["expire_at"] == datetime.fromtimestamp(1795813200 + 3600, UTC)
    assert (na["state_name"], na["prefix"]) == ("unknown (9)", None)
    assert (pd_row["address"], pd_row["prefix"]) == ("2001:db8:8000:1ff::", "2001:db8:8000:100::/56")
    # pandas: v4 and v6 together keep integer columns integers
    frame = pa.Table.from_batches([v4, v6]).to_pandas()
    assert str(frame["iaid"].dtype) == "Int64" and frame["iaid"].tolist()[1:] == [1, 2]
    assert frame["iaid"].isna().tolist() == [True, False, False]


def test_every_sql_type_name_is_a_sqlalchemy_type() -> None:
    """LeaseField.sql names a type; sql_type gives SQLAlchemy's, per engine where they differ."""
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql, sqlite

    from kea_etl.export.schema import sql_type

    for f in LEASE_FIELDS:
        t = sql_type(f.sql)
        assert isinstance(t, sa.types.TypeEngine), f.name
        t.compile(dialect=sqlite.dialect())
    assert sql_type("address").compile(dialect=postgresql.dialect()) == "INET"
    assert sql_type("address").compile(dialect=sqlite.dialect()) == "VARCHAR(45)"
    assert sql_type("prefix").compile(dialect=postgresql.dialect()) == "CIDR"
    assert sql_type("varchar(800)").compile(dialect=sqlite.dialect()) == "VARCHAR(800)"
    assert sql_type("timestamp").timezone  # type: ignore[attr-defined]
