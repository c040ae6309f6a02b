"""Kea's own SQL database as a source (``kea-sql:URL``): the lease and host tables Kea writes.

``kea-sql:postgresql://USER@HOST/DB`` or ``kea-sql:mysql://USER@HOST/DB`` names a database whose
schema ``kea-admin db-init`` made (any version kea-etl loads into: Kea 2.2 to 3.2; see
:mod:`kea_etl.load.kea_sql` for the column types, which are read the way they are written).
For moves such as PostgreSQL -> memfile, MySQL -> a Kea 3.x over its API, or one database into
another: ``kea-etl migrate kea-sql:mysql://kea@old/kea --to kea:http://new:8000``.

* ``lease4`` / ``lease6`` rows become the lease maps Kea's ``lease*-get`` returns (``cltt`` =
  ``expire`` - ``valid_lifetime``; an infinite lifetime's ``expire`` is capped by Kea at
  2038-01-19, so its ``cltt`` is that expiry, as Kea reads it back), then records exactly as
  from a server (:mod:`kea_etl.extract.kea_server`): state, user context (extended info) and
  hostname carried; ``relay_id`` / ``remote_id`` are Kea's index of the user context and
  follow from it, ``pool_id`` is the target's to assign.
* ``hosts`` rows with a ``dhcp4_subnet_id`` are v4 reservations, with a ``dhcp6_subnet_id`` v6
  ones (a row may be both), with their ``ipv6_reservations`` and host-scope option rows
  (``dhcp4_options`` / ``dhcp6_options``, ``scope_id`` 3): CSV data as ``data``, binary data
  as hex with ``csv-format`` false, ``persistent`` as ``always-send``.

Everything is read in one REPEATABLE READ transaction (one consistent view, even while Kea
writes) with server-side cursors (memory stays bounded), into the same one-read spool a
``kea:`` source uses, so every pass of a migration sees the same rows.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING, Any

from kea_etl.extract.base import ExtractItem
from kea_etl.extract.kea_server import Spool
from kea_etl.load.kea_sql import (
    HOST_SCOPE,
    IDENT_NAMES,
    binary_v6_tables,
    connect,
    epoch_of,
    parse_sql_target,
)
from kea_etl.records import INFINITE_LIFETIME, LEASE_TYPE_NAMES

if TYPE_CHECKING:
    from kea_etl.load.credentials import LiveCredentials

__all__ = ["Snapshot", "extract", "sniff"]

_LEASE4 = ("address, hwaddr, client_id, valid_lifetime, expire, subnet_id, fqdn_fwd, fqdn_rev, "
           "hostname, state, user_context")
_LEASE6 = ("address, duid, valid_lifetime, expire, subnet_id, pref_lifetime, lease_type, iaid, "
           "prefix_len, fqdn_fwd, fqdn_rev, hostname, hwaddr, state, user_context")
_FETCH = 2000


def sniff(head: bytes) -> bool:
    """A database is named, never detected from a file's content."""
    del head
    return False


def _hexcolon(value: Any) -> str | None:
    if value is None:
        return None
    raw = bytes(value)
    return raw.hex(":") if raw else None


def _ctx(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        value = value.decode("utf-8")
    if isinstance(value, str):
        if not value:
            return None
        try:
            return json.loads(value)
        except ValueError:
            return value  # not a map: the record check fails it with the address
    return value


def _cltt(valid: int, expire: Any) -> int:
    end = epoch_of(expire)
    return end if valid == INFINITE_LIFETIME else end - valid


class Snapshot(Spool):
    """One read of a ``kea-sql:`` source (see the module docstring)."""

    def __init__(self, location: str, *, credentials: LiveCredentials | None = None) -> None:
        self.target = parse_sql_target(location)
        super().__init__(f"kea-sql:{self.target.display}")
        self.credentials = credentials

    def fill(self, write: Callable[[dict[str, Any]], object]) -> None:
        conn = connect(self.target, self.credentials)
        try:
            pg = self.target.dialect == "postgresql"
            with conn.cursor() as cur:
                if pg:
                    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    binary: set[str] = set()
                else:
                    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                    binary = binary_v6_tables(cur)
            text6: Callable[[Any], str] = (
                (lambda v: str(IPv6Address(bytes(v)))) if "lease6" in binary else str)
            for r in _rows(conn, pg, f"SELECT {_LEASE4} FROM lease4 ORDER BY address"):
                lease = {"ip-address": str(IPv4Address(int(r[0]))), "hw-address": _hexcolon(r[1]),
                         "client-id": _hexcolon(r[2]), "valid-lft": int(r[3]),
                         "cltt": _cltt(int(r[3]), r[4]), "subnet-id": int(r[5]),
                         "fqdn-fwd": bool(r[6]), "fqdn-rev": bool(r[7]), "hostname": r[8] or "",
                         "state": int(r[9] or 0), "user-context": _ctx(r[10])}
                write({"f": 4, "lease": {k: v for k, v in lease.items() if v is not None}})
            for r in _rows(conn, pg, f"SELECT {_LEASE6} FROM lease6 ORDER BY address"):
                lease = {"ip-address": text6(r[0]), "duid": _hexcolon(r[1]),
                         "valid-lft": int(r[2]), "cltt": _cltt(int(r[2]), r[3]),
                         "subnet-id": int(r[4]), "preferred-lft": int(r[5] or 0),
                         "type": LEASE_TYPE_NAMES.get(int(r[6]), str(r[6])), "iaid": int(r[7]),
                         "prefix-len": int(r[8]), "fqdn-fwd": bool(r[9]), "fqdn-rev": bool(r[10]),
                         "hostname": r[11] or "", "hw-address": _hexcolon(r[12]),
                         "state": int(r[13] or 0), "user-context": _ctx(r[14])}
                write({"f": 6, "lease": {k: v for k, v in lease.items() if v is not None}})
            for fam in (4, 6):
                for host in _hosts(conn, pg, fam, "ipv6_reservations" in binary):
                    write({"f": fam, "host": host})
        finally:
            conn.rollback()
            conn.close()


def _rows(conn: Any, pg: bool, sql: str, args: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Rows of ``sql`` from a server-side cursor (bounded memory), in the open transaction."""
    if pg:
        cur = conn.cursor(name=f"kea_etl_{uuid.uuid4().hex[:12]}")
        cur.itersize = _FETCH
    else:
        import pymysql.cursors  # type: ignore[import-untyped]
        cur = conn.cursor(pymysql.cursors.SSCursor)
    try:
        cur.execute(sql, args or None)
        while True:
            rows = cur.fetchmany(_FETCH)
            if not rows:
                return
            yield from rows
    finally:
        cur.close()


def _hosts(conn: Any, pg: bool, family: int, binary6: bool) -> Iterator[dict[str, Any]]:
    """Every host of one family as a Kea host map with ``subnet-id``. Hosts are few next to
    leases: a host's addresses and options are read with one query per host table, grouped."""
    fam = f"dhcp{family}"
    base = (f"SELECT host_id, dhcp_identifier, dhcp_identifier_type, {fam}_subnet_id, "
            f"ipv4_address, hostname, {fam}_client_classes, dhcp4_next_server, "
            f"dhcp4_boot_file_name, user_context FROM hosts WHERE {fam}_subnet_id IS NOT NULL "
            "ORDER BY host_id")
    extra6: dict[int, list[tuple[str, int, int]]] = {}
    if family == 6:
        text6: Callable[[Any], str] = (lambda v: str(IPv6Address(bytes(v)))) if binary6 else str
        for hid, addr, plen, kind in _rows(conn, pg, "SELECT host_id, address, prefix_len, type "
                                           "FROM ipv6_reservations ORDER BY host_id, address"):
            extra6.setdefault(int(hid), []).append((text6(addr), int(plen), int(kind)))
    options: dict[int, list[dict[str, Any]]] = {}
    for hid, code, value, formatted, space, persistent, ctx in _rows(
            conn, pg, f"SELECT host_id, code, value, formatted_value, space, persistent, "
            f"user_context FROM {fam}_options WHERE scope_id = %s AND host_id IS NOT NULL "
            "ORDER BY option_id", (HOST_SCOPE,)):
        entry: dict[str, Any] = {"code": int(code), "space": space or fam,
                                 "always-send": bool(persistent)}
        if formatted:
            entry["data"] = formatted
        else:
            entry["data"] = bytes(value or b"").hex().upper()
            entry["csv-format"] = False
        if _ctx(ctx):
            entry["user-context"] = _ctx(ctx)
        options.setdefault(int(hid), []).append(entry)
    for r in _rows(conn, pg, base):
        hid = int(r[0])
        ident = IDENT_NAMES.get(int(r[2]))
        host: dict[str, Any] = {ident or f"identifier-type-{r[2]}": _hexcolon(r[1]),
                                "subnet-id": int(r[3]), "hostname": r[5] or ""}
        if family == 4 and r[4]:
            host["ip-address"] = str(IPv4Address(int(r[4])))
        held = extra6.get(hid, [])
        if held:
            host["ip-addresses"] = [a for a, _, t in held if t != 2]
            host["prefixes"] = [f"{a}/{p}" for a, p, t in held if t == 2]
        classes = [c.strip() for c in (r[6] or "").split(",") if c.strip()]
        if classes:
            host["client-classes"] = classes
        if family == 4 and r[7]:
            host["next-server"] = str(IPv4Address(int(r[7])))
        if family == 4 and r[8]:
            host["boot-file-name"] = r[8]
        if _ctx(r[9]):
            host["user-context"] = _ctx(r[9])
        if hid in options:
            host["option-data"] = options[hid]
        yield host


def extract(location: str, *, snapshot: Snapshot | None = None,
            credentials: LiveCredentials | None = None) -> Iterator[ExtractItem]:
    """The leases and reservations of the Kea database at ``location``."""
    yield from (snapshot or Snapshot(location, credentials=credentials)).items()
