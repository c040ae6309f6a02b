"""Lease history from the warehouse: who held an address, which addresses a client had.

Answers an auditor's two questions ("who held 10.0.0.5 last Tuesday?", "which addresses did this
MAC have this month?") from the nightly snapshots :mod:`kea_etl.export.warehouse` keeps in
``lease_snapshots``. Each snapshot only says "at this export, this client held this lease", so
the snapshots are merged into :class:`LeaseInterval` s: one per server, address and client for as
long as consecutive exports of that server showed the same client on the same address. An
interval starts at the lease's ``cltt`` in its first snapshot and was held at least until its last
snapshot (``last_seen``) and at most until the lease's expiry, or the next export that no longer
showed it (``gone_by``), whichever came first.

The query is filtered in SQL (the identifier or address, only rows of complete runs) and the rows
are streamed in (server, family, lease type, address, time) order, so memory holds one interval
whatever the warehouse's size; the time window is applied to the merged intervals, because an
interval that overlaps it may have started long before ``since``. Works on any warehouse the
export writes (SQLite and PostgreSQL tested).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa

from kea_etl.errors import ConfigError, InvalidValueError
from kea_etl.export.warehouse import Warehouse, export_runs, lease_snapshots
from kea_etl.records import canonical_hex

__all__ = ["HistoryQuery", "LeaseInterval", "QueryKind", "lease_history", "parse_time"]

QueryKind = Literal["address", "mac", "id", "hostname"]
QUERY_KINDS: tuple[QueryKind, ...] = ("address", "mac", "id", "hostname")

# A MAC as people paste it: aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, or Cisco's aabb.ccdd.eeff.
_MAC = re.compile(r"[0-9a-fA-F]{1,2}([:-])(?:[0-9a-fA-F]{1,2}\1){4}[0-9a-fA-F]{1,2}")
_CISCO_MAC = re.compile(r"[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}")
# Colon or dash separated hex bytes: a client-id or DUID. Checked before "is it an IPv6
# address?", because an 8-byte id written in pairs (00:01:00:01:2a:3b:4c:5d) is also a valid
# IPv6 address, and nobody writes an address with every group two digits long.
_HEX_BYTES = re.compile(r"[0-9a-fA-F]{2}(?:([:-])[0-9a-fA-F]{2})(?:\1[0-9a-fA-F]{2})*")


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """What to look for: ``kind`` and the value in the warehouse's canonical form."""

    kind: QueryKind
    value: str

    @classmethod
    def parse(cls, text: str, *, kind: QueryKind | None = None) -> HistoryQuery:
        """Detect what ``text`` is (an IPv4/IPv6 address or prefix, a MAC, a client-id/DUID in
        hex, else a hostname), or read it as ``kind``. Raises InvalidValueError."""
        raw = text.strip()
        if not raw:
            raise InvalidValueError("query", text, "empty: give an address, MAC, DUID or hostname")
        if kind is None:
            kind = _detect(raw)
        if kind == "address":
            return cls("address", _address(raw))
        if kind == "mac":
            if _CISCO_MAC.fullmatch(raw):
                raw = raw.replace(".", "")
            mac = canonical_hex(raw, "MAC", min_len=6, max_len=6)
            assert mac is not None  # raw is not empty
            return cls("mac", mac)
        if kind == "id":
            value = canonical_hex(raw, "client-id/DUID", min_len=1, max_len=130)
            assert value is not None
            return cls("id", value)
        name = raw.lower().rstrip(".")
        if not name:
            raise InvalidValueError("hostname", text, "empty")
        return cls("hostname", name)

    def where(self) -> sa.ColumnElement[bool]:
        """The SQL condition on ``lease_snapshots``."""
        s = lease_snapshots.c
        if self.kind == "address":
            return s.address == self.value
        if self.kind == "mac":
            # A v4 client-id is often 01 (Ethernet) + the MAC, and a v6 client's DUID-LL / -LLT
            # carries its MAC (RFC 8415 11.2, 11.4; hardware type 1): "which addresses did this
            # MAC have" includes those leases even when Kea recorded no hwaddr for them.
            return sa.or_(s.hwaddr == self.value,
                          s.client_id == f"01:{self.value}",
                          s.duid == f"00:03:00:01:{self.value}",
                          # the range lets the database use the duid index (a bare LIKE
                          # makes the whole OR a table scan); ';' sorts right after ':'
                          sa.and_(s.duid >= "00:01:00:01:", s.duid < "00:01:00:01;",
                                  s.duid.like(f"00:01:00:01:__:__:__:__:{self.value}")))
        if self.kind == "id":
            return sa.or_(s.client_id == self.value, s.duid == self.value)
        host = sa.func.lower(s.hostname)
        # a short name also finds its FQDN (Kea stores what the client or DDNS sent)
        return sa.or_(host == self.value, host == f"{self.value}.",
                      host.startswith(f"{self.value}.", autoescape=True))

    def describe(self) -> str:
        what = {"address": "address", "mac": "MAC", "id": "client-id/DUID",
                "hostname": "hostname"}[self.kind]
        return f"{what} {self.value}"


def _detect(raw: str) -> QueryKind:
    if _MAC.fullmatch(raw) or _CISCO_MAC.fullmatch(raw):
        return "mac"
    if _HEX_BYTES.fullmatch(raw):
        return "id"
    try:
        _address(raw)
    except InvalidValueError:
        return "hostname"
    return "address"


def _address(raw: str) -> str:
    """The address as the export stores it (Kea's text: IPv6 compressed, lowercase); a prefix
    ``2001:db8:8000:100::/56`` is looked up by its first address, as Kea keys an IA_PD lease."""
    try:
        if "/" in raw:
            return str(ipaddress.ip_network(raw, strict=False).network_address)
        return str(ipaddress.ip_address(raw))
    except ValueError as exc:
        raise InvalidValueError("address", raw, "not an IPv4 or IPv6 address") from exc


def parse_time(text: str, *, end_of_day: bool = False) -> datetime:
    """``--since`` / ``--until``: an ISO-8601 time with an offset (``2026-11-24T10:00:00Z``), or a
    date (UTC), which means the start of that day, or its end when ``end_of_day`` (so
    ``--since 2026-11-24 --until 2026-11-24`` is that whole day)."""
    raw = text.strip()
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        pass
    else:
        start = datetime.combine(day, time(0), tzinfo=UTC)
        return start + timedelta(days=1, microseconds=-1) if end_of_day else start
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidValueError("time", text, "not a date (2026-11-24) or an ISO-8601 time "
                                "(2026-11-24T10:00:00Z)") from exc
    if when.tzinfo is None:
        raise InvalidValueError("time", text, "no UTC offset; write it as 2026-11-24T10:00:00Z")
    return when.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class LeaseInterval:
    """One client holding one lease on one server over consecutive exports."""

    server: str
    family: int
    lease_type: str
    address: str
    prefix_len: int | None
    subnet_id: int | None
    hwaddr: str | None
    client_id: str | None
    duid: str | None
    #: the newest non-empty hostname of the interval ("" when the client never sent one)
    hostname: str
    #: the lease's cltt in the interval's first snapshot (the client's last transmission then)
    first_seen: datetime
    #: the export time of the last snapshot that showed it
    last_seen: datetime
    #: the lease's expiry in that last snapshot
    expire: datetime
    #: the first later export of this server that no longer showed it; None: still held at the
    #: server's newest export
    gone_by: datetime | None
    #: how many exports showed it
    nights: int
    #: Kea's lease state in the last snapshot (0 default, 1 declined, 2 expired-reclaimed, 3 released)
    state: int

    @property
    def client(self) -> str:
        """The client's identifier as Kea keys it: v6 DUID, v4 hardware address, else client-id."""
        return (self.duid if self.family == 6 else self.hwaddr or self.client_id) or ""

    @property
    def lease(self) -> str:
        """The address, or ``prefix/length`` for a delegated prefix."""
        return f"{self.address}/{self.prefix_len}" if self.lease_type == "IA_PD" else self.address

    @property
    def held_until(self) -> datetime:
        """The latest the client can have held the lease: its expiry, but not past the export
        that no longer showed it (and not before it was last seen)."""
        end = self.expire if self.gone_by is None else min(self.expire, self.gone_by)
        return max(end, self.last_seen)

    @property
    def current(self) -> bool:
        return self.gone_by is None

    def overlaps(self, since: datetime | None, until: datetime | None) -> bool:
        return ((until is None or self.first_seen <= until)
                and (since is None or self.held_until >= since))

    def to_json(self) -> dict[str, Any]:
        def iso(t: datetime | None) -> str | None:
            return None if t is None else t.isoformat().replace("+00:00", "Z")

        return {"server": self.server, "family": self.family, "lease_type": self.lease_type,
                "address": self.address, "prefix_len": self.prefix_len,
                "subnet_id": self.subnet_id, "hwaddr": self.hwaddr, "client_id": self.client_id,
                "duid": self.duid, "hostname": self.hostname, "first_seen": iso(self.first_seen),
                "last_seen": iso(self.last_seen), "expire": iso(self.expire),
                "gone_by": iso(self.gone_by), "held_until": iso(self.held_until),
                "current": self.current, "nights": self.nights, "state": self.state}


@dataclass(frozen=True, slots=True)
class _Run:
    exported_at: datetime
    subnets: frozenset[int] | None  # None: the run exported every subnet

    def covers(self, subnet_id: int | None) -> bool:
        return self.subnets is None or subnet_id in self.subnets


def _utc(value: datetime) -> datetime:
    # SQLite hands back the naive UTC text the warehouse stored; PostgreSQL an aware timestamp
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _runs(conn: sa.Connection) -> tuple[dict[str, tuple[tuple[str, int], int]],
                                        dict[tuple[str, int], list[_Run]]]:
    """Every complete run, in time order per (server, family): one row per night and server, so
    this stays small whatever the lease count. Returns run_id -> ((server, family), position)
    and the runs per (server, family)."""
    r = export_runs.c
    q = (sa.select(r.run_id, r.server, r.family, r.exported_at, r.subnets)
         .where(r.status == "complete").order_by(r.server, r.family, r.exported_at, r.run_id))
    where: dict[str, tuple[tuple[str, int], int]] = {}
    runs: dict[tuple[str, int], list[_Run]] = {}
    for row in conn.execute(q):
        key = (row.server, int(row.family))
        seq = runs.setdefault(key, [])
        where[row.run_id] = (key, len(seq))
        subnets = frozenset(int(s) for s in row.subnets.split(",")) if row.subnets else None
        seq.append(_Run(_utc(row.exported_at), subnets))
    return where, runs


class _Open:
    """The interval being merged."""

    def __init__(self, row: Any, key: tuple[Any, ...], ident: tuple[Any, ...],
                 run_key: tuple[str, int], pos: int) -> None:
        self.key, self.ident, self.first, self.pos = key, ident, row, pos
        self.run_key = run_key
        self.last = row
        self.nights = 1
        self.hostname = row.hostname or ""

    def extend(self, row: Any, pos: int) -> None:
        self.last, self.pos = row, pos
        self.nights += 1
        if row.hostname:
            self.hostname = row.hostname

    def close(self, all_runs: dict[tuple[str, int], list[_Run]], since: datetime | None,
              until: datetime | None) -> Iterator[LeaseInterval]:
        """The merged interval, if it overlaps [since, until]."""
        interval = self._interval(all_runs[self.run_key])
        if interval.overlaps(since, until):
            yield interval

    def _interval(self, runs: list[_Run]) -> LeaseInterval:
        first, last = self.first, self.last
        later = (run for run in runs[self.pos + 1:] if run.covers(last.subnet_id))
        gone = next(later, None)
        return LeaseInterval(
            server=last.server, family=int(last.family), lease_type=last.lease_type,
            address=last.address, prefix_len=last.prefix_len, subnet_id=last.subnet_id,
            hwaddr=last.hwaddr, client_id=last.client_id, duid=last.duid,
            hostname=self.hostname,
            first_seen=datetime.fromtimestamp(int(first.cltt or 0), UTC),
            last_seen=runs[self.pos].exported_at,
            expire=datetime.fromtimestamp(int(last.expire or 0), UTC),
            gone_by=gone.exported_at if gone is not None else None,
            nights=self.nights, state=int(last.state or 0))


def _consecutive(runs: list[_Run], a: int, b: int, subnet_id: int | None) -> bool:
    """Whether no run between positions ``a`` and ``b`` exported ``subnet_id`` (a run filtered
    to other subnets says nothing about this lease, so it does not break the interval)."""
    return not any(run.covers(subnet_id) for run in runs[a + 1:b])


def _open(warehouse: str | Warehouse) -> Warehouse:
    """The warehouse to read, with a clear error instead of an empty answer for a wrong URL (and
    no empty SQLite file left behind by the attempt: opening one creates it)."""
    if isinstance(warehouse, Warehouse):
        wh = warehouse
    else:
        try:
            url = sa.engine.make_url(warehouse)
        except sa.exc.ArgumentError as exc:
            raise ConfigError(f"not a database URL: {warehouse!r}") from exc
        path = url.database
        if url.get_backend_name() == "sqlite" and path and path != ":memory:" \
                and not path.startswith("file:") and not Path(path).is_file():
            raise ConfigError(f"no warehouse at {path} (--warehouse {warehouse}): "
                              "kea-etl export --to writes one")
        wh = Warehouse(warehouse)
    try:
        with wh.engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
    except sa.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise ConfigError(f"cannot read the warehouse {wh.url}: "
                          f"{reason[0] if reason else type(exc).__name__}") from exc
    missing = {"export_runs", "lease_snapshots"} - tables
    if missing:
        raise ConfigError(f"{wh.url} is not a kea-etl warehouse (no table "
                          f"{' or '.join(sorted(missing))}): kea-etl export --to writes one")
    return wh


def lease_history(warehouse: str | Warehouse, query: HistoryQuery, *,
                  since: datetime | None = None, until: datetime | None = None,
                  batch_rows: int = 1000) -> Iterator[LeaseInterval]:
    """The intervals matching ``query`` that overlap [``since``, ``until``] (either may be
    None), in (server, family, lease type, address, time) order; see the module docstring.

    Raises ConfigError for a warehouse that does not exist or holds no export.
    """
    wh = _open(warehouse)
    s, r = lease_snapshots.c, export_runs.c
    q = (sa.select(s.run_id, s.server, s.family, s.lease_type, s.address, s.prefix_len,
                   s.subnet_id, s.hwaddr, s.client_id, s.duid, s.hostname, s.cltt, s.expire,
                   s.state)
         .join(export_runs, r.run_id == s.run_id)
         # a running export's rows sit next to the previous night's until it completes
         .where(r.status == "complete", query.where())
         .order_by(s.server, s.family, s.lease_type, s.address, r.exported_at, s.run_id))
    with wh.engine.connect() as conn:
        run_at, runs = _runs(conn)
        rows = conn.execution_options(stream_results=True, yield_per=batch_rows).execute(q)
        current: _Open | None = None
        for row in rows:
            place = run_at.get(row.run_id)
            if place is None:  # the run completed after _runs read the list: next time
                continue
            run_key, pos = place
            key = (row.server, row.family, row.lease_type, row.address)
            # the client as Kea keys the lease: v6 by DUID, v4 by MAC and client-id
            ident = (row.duid,) if int(row.family) == 6 else (row.hwaddr, row.client_id)
            if (current is not None and current.key == key and current.ident == ident
                    and _consecutive(runs[run_key], current.pos, pos, row.subnet_id)):
                current.extend(row, pos)
                continue
            if current is not None:
                yield from current.close(runs, since, until)
            current = _Open(row, key, ident, run_key, pos)
        if current is not None:
            yield from current.close(runs, since, until)
