"""The columns of an exported lease: one definition for the Parquet/CSV files and the warehouse.

:data:`LEASE_FIELDS` names every column of one exported lease once, with its Arrow type (the
Parquet and CSV files, :data:`LEASE_SCHEMA`), its SQL type (the warehouse's ``lease_snapshots``
and ``leases_current``, through :func:`sql_columns`) and its meaning (``docs/warehouse.md``
documents the same columns; a test keeps the two in step). DHCPv4 and DHCPv6 leases share the
one schema: a column a family does not have is null (``iaid``, ``preferred_lft``, ``duid`` for v4;
``client_id`` for v6), so v4 and v6 files read together keep their integer types.

Types per engine: addresses are PostgreSQL ``inet`` (delegated prefixes ``cidr``) and text
elsewhere; times are epoch seconds (``cltt``, ``expire``, as Kea's memfile and API give them) and
the same instants as timestamps with time zone (``cltt_at``, ``expire_at``: PostgreSQL
``timestamptz``, Arrow ``timestamp[us, UTC]``, SQLite text in UTC); Kea's lease state is kept as
its number (``state``) and its name (``state_name``, Kea's own words).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from kea_etl.records import LEASE_STATES

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = [
    "KEA_STATE_NAMES",
    "LEASE_FIELDS",
    "LEASE_SCHEMA",
    "LeaseField",
    "nullable_int_metadata",
    "sql_columns",
    "sql_type",
    "state_name",
]

#: Kea's names of its lease states (``Lease::basicStatesToText``, the ``lease_state`` table of its
#: SQL schemas). 4 ``registered`` (an address a client registered itself, RFC 9686) is Kea 3.2's;
#: an export can meet it, although migration input never carries it.
KEA_STATE_NAMES: dict[int, str] = {**LEASE_STATES, 4: "registered"}


def state_name(state: int) -> str:
    """Kea's name of a lease state; ``unknown (N)`` as Kea prints a state it does not know."""
    return KEA_STATE_NAMES.get(state) or f"unknown ({state})"


# An IPv6 address in text is at most 45 characters (IPv4-mapped form), a prefix 49 with "/128".
# PostgreSQL stores them as inet / cidr: 7 or 19 bytes, ordered and indexed as addresses, with
# operators such as << (is contained by); other databases as text.
_UTC_US = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True, slots=True)
class LeaseField:
    """One column of an exported lease."""

    name: str
    arrow: pa.DataType
    #: the warehouse column's type, by name (:func:`sql_type`): "address" / "prefix" (inet /
    #: cidr in PostgreSQL, text elsewhere), "timestamp" (with time zone), "varchar(N)", "text",
    #: "smallint", "bigint", "boolean". A name rather than a SQLAlchemy type, so reading lease
    #: pages (reconcile, Parquet) does not import SQLAlchemy.
    sql: str
    #: what it means, with its units (docs/warehouse.md says the same)
    doc: str
    #: whether the warehouse column is NOT NULL
    required: bool = False


LEASE_FIELDS: tuple[LeaseField, ...] = (
    LeaseField("exported_at", _UTC_US, "timestamp", "when the export run started (UTC)",
                required=True),
    LeaseField("kea_version", pa.string(), "varchar(32)", "the server's version-get answer"),
    LeaseField("family", pa.int8(), "smallint", "4 (DHCPv4) or 6 (DHCPv6)",
                required=True),
    LeaseField("address", pa.string(), "address",
                "the leased address; for a delegated prefix its first address, as Kea keys it",
                required=True),
    LeaseField("lease_type", pa.string(), "varchar(8)",
                "V4 for DHCPv4, IA_NA (address) or IA_PD (delegated prefix) for DHCPv6",
                required=True),
    LeaseField("prefix_len", pa.int16(), "smallint",
                "prefix length in bits: 32 for v4, 128 for IA_NA, the delegated length for IA_PD"),
    LeaseField("subnet_id", pa.int64(), "bigint", "Kea's subnet id"),
    LeaseField("hwaddr", pa.string(), "varchar(64)",
                "hardware (MAC) address, lowercase colon hex; null when Kea has none"),
    LeaseField("client_id", pa.string(), "varchar(800)",
                "DHCPv4 client identifier, lowercase colon hex; null for v6 and when absent"),
    LeaseField("duid", pa.string(), "varchar(400)",
                "DHCPv6 DUID, lowercase colon hex; null for v4"),
    LeaseField("iaid", pa.int64(), "bigint",
                "DHCPv6 identity association id (0 to 2^32-1); null for v4"),
    LeaseField("valid_lft", pa.int64(), "bigint",
                "valid lifetime in seconds (4294967295: infinite)"),
    LeaseField("preferred_lft", pa.int64(), "bigint",
                "DHCPv6 preferred lifetime in seconds; null for v4"),
    LeaseField("cltt", pa.int64(), "bigint",
                "client last transmission time, epoch seconds (UTC)"),
    LeaseField("expire", pa.int64(), "bigint",
                "expiry, epoch seconds (UTC): cltt + valid_lft, as in Kea's memfile"),
    LeaseField("state", pa.int8(), "smallint",
                "Kea's lease state: 0 default, 1 declined, 2 expired-reclaimed, 3 released, "
                "4 registered (Kea 3.2)"),
    LeaseField("hostname", pa.string(), "text", "the client's hostname as Kea holds it; "
                "'' when none"),
    LeaseField("fqdn_fwd", pa.bool_(), "boolean", "Kea updates the forward DNS record"),
    LeaseField("fqdn_rev", pa.bool_(), "boolean", "Kea updates the reverse DNS record"),
    LeaseField("user_context", pa.string(), "text",
                "the lease's user-context as compact JSON with sorted keys; null when none"),
    # Added after the columns above, so a CSV reader by position and a warehouse upgraded by
    # ALTER TABLE ... ADD COLUMN see the same order as a new one.
    LeaseField("cltt_at", _UTC_US, "timestamp", "cltt as a timestamp with time zone (UTC)"),
    LeaseField("expire_at", _UTC_US, "timestamp", "expire as a timestamp with time zone (UTC)"),
    LeaseField("state_name", pa.string(), "varchar(32)",
                "Kea's name of state: default, declined, expired-reclaimed, released, "
                "registered; 'unknown (N)' otherwise"),
    LeaseField("prefix", pa.string(), "prefix",
                "IA_PD only: the delegated prefix as address/length; null otherwise"),
)

_BY_NAME = {c.name: c for c in LEASE_FIELDS}


def nullable_int_metadata(schema: pa.Schema) -> pa.Schema:
    """``schema`` with pandas metadata that reads its integer columns as pandas' nullable
    ``Int64`` (``Int8``, ...) dtypes.

    pandas turns an integer column holding a null into float64 (``iaid`` of v4 and v6 files read
    together: 5.0 and NaN). pyarrow's ``to_pandas`` and ``pandas.read_parquet`` follow the
    ``pandas`` schema metadata (the same mechanism that round-trips a DataFrame's own dtypes), so
    the files say which dtype each integer column wants. Arrow, DuckDB and Spark ignore it: their
    integers are nullable anyway.
    """
    columns = [{"name": f.name, "field_name": f.name, "pandas_type": str(f.type),
                "numpy_type": str(f.type).capitalize(), "metadata": None}
               for f in schema if pa.types.is_integer(f.type)]
    meta = {"index_columns": [], "column_indexes": [], "columns": columns,
            "creator": {"library": "kea-etl"}, "pandas_version": "2.0.0"}
    return schema.with_metadata({**(schema.metadata or {}),
                                 b"pandas": json.dumps(meta).encode()})


#: Columns of one exported lease, shared by the Parquet/CSV files and the warehouse tables.
LEASE_SCHEMA: pa.Schema = nullable_int_metadata(
    pa.schema([(c.name, c.arrow) for c in LEASE_FIELDS]))


def sql_columns(names: Iterable[str] | None = None, *,
                primary_key: Iterable[str] = ()) -> list[sa.Column[Any]]:
    """New SQLAlchemy columns for ``names`` (default: every lease column), in that order.

    A column can belong to one table only, so every table asks for its own.
    """
    import sqlalchemy as sa

    keys = set(primary_key)
    out: list[sa.Column[Any]] = []
    for name in (names if names is not None else _BY_NAME):
        col = _BY_NAME[name]
        out.append(sa.Column(col.name, sql_type(col.sql), primary_key=name in keys,
                             nullable=not (col.required or name in keys)))
    return out


def sql_type(name: str) -> sa.types.TypeEngine[Any]:
    """The SQLAlchemy type a :attr:`LeaseField.sql` name stands for."""
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql

    if name == "address":
        return sa.String(45).with_variant(postgresql.INET(), "postgresql")
    if name == "prefix":
        return sa.String(49).with_variant(postgresql.CIDR(), "postgresql")
    if name.startswith("varchar("):
        return sa.String(int(name[len("varchar("):-1]))
    simple: dict[str, sa.types.TypeEngine[Any]] = {
        "timestamp": sa.DateTime(timezone=True), "text": sa.Text(),
        "smallint": sa.SmallInteger(), "bigint": sa.BigInteger(), "boolean": sa.Boolean()}
    return simple[name]
