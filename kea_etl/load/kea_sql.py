"""Load leases and reservations straight into Kea's own SQL database (``kea-sql:`` targets).

``kea-sql:postgresql://USER@HOST:PORT/DB`` or ``kea-sql:mysql://USER@HOST:PORT/DB`` names a
database whose schema ``kea-admin db-init pgsql|mysql`` created (Kea 2.2: PostgreSQL schema 13,
MySQL 14; Kea 3.0's schemas work too: their v6 address columns, BINARY(16) in MySQL and INET in
PostgreSQL, are written and read in their own form, tested with a Kea 3.0 reading them).
Rows go into ``lease4`` / ``lease6`` and ``hosts`` + ``ipv6_reservations`` + ``dhcp4_options`` /
``dhcp6_options`` (a host's option-data, ``scope_id`` 3 = host, the CSV data in
``formatted_value`` as Kea itself stores it), a batch per transaction, parameterised SQL only.
The types follow Kea's schema: a v4 address is an unsigned 32-bit integer (``bigint`` /
``INT UNSIGNED``), ids are raw bytes (``bytea`` / ``VARBINARY``),
``expire`` is ``timestamptz`` in PostgreSQL and ``TIMESTAMP`` in MySQL, which MySQL interprets in
the *session* time zone: the connection sets ``time_zone = '+00:00'`` so the values Kea reads back
are the UTC epoch it expects. Kea caps an infinite lifetime's expiry at ``MAX_DB_TIME``
(2038-01-19 03:14:07 UTC, the largest MySQL TIMESTAMP); so does this loader.

A host already in the database (same identifier and subnet) with the same addresses, hostname,
option-data, client classes, next-server, boot file name and user context is ``already_present``;
with the same addresses but other details it is kept (``--mode add``, reported with the fields
that differ) or updated (``--mode upsert``: its option rows replaced as a whole in the same
transaction); with other addresses it is a conflict unless ``on_conflict="overwrite"``.

Before writing a batch it reads the rows already at those addresses: identical rows count as
``already_present`` and are not written (a second run changes nothing and says so); a row of
another client is a conflict, left alone unless ``on_conflict="overwrite"``; a row of the same
client with another expiry is kept in ``mode="add"`` (as the ``kea:`` target does) and replaced
in ``mode="upsert"``; everything else is written set-based: new rows with one COPY (PostgreSQL)
or one multi-row ``INSERT`` (MySQL / MariaDB), rows replacing the database's through a
temporary staging table and one ``INSERT ... SELECT ... ON CONFLICT (address) DO UPDATE``
(PostgreSQL) or one ``INSERT ... ON DUPLICATE KEY UPDATE``. While batches find nothing held
(a migration into an empty database), the read is skipped and the primary key stands in for
it: a batch with an address held after all is refused by the database, rolled back, then read
and written as above (``KeaSqlLoader._leases``). Kea's own triggers keep
the lease statistics (``lease4_stat``, ``lease6_stat`` and, from Kea 2.4, the pool tables) as
they do for Kea's writes, except for new leases on PostgreSQL where the database user may skip
triggers and the schema's are ones kea-etl knows: those are COPYed without the row triggers and
their counts added per batch (:mod:`kea_etl.load.kea_sql_stats`; the report's ``outputs``
says which way a run went).

The read and the write are one decision: each batch runs in a SERIALIZABLE transaction, so
when another writer (a second kea-etl run loading other clients for the same addresses, or Kea
itself) changes one of those rows between the read and the write, the database refuses the
transaction (PostgreSQL serialization failure, MariaDB / MySQL deadlock) and the batch is read,
judged and written again (up to ``RETRIES`` times, with a short random pause). Every lease a
run reports loaded is therefore its client's when the run ends, and the other run reports the
address as a conflict.

Credentials never come from the URL: the password is read from ``KEA_ETL_DB_PASSWORD``, the file
named by ``KEA_ETL_DB_PASSWORD_FILE``, or (PostgreSQL) libpq's own ``PGPASSWORD`` / ``.pgpass``.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import random
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from kea_etl._batching import chunks
from kea_etl.dhcp_options import canonical_option, canonical_option_data
from kea_etl.errors import ConfigError, FatalError, InvalidURLError, RetriableError
from kea_etl.load.base import LoadOutcome, LoadRecord
from kea_etl.load.checkpoint import Checkpoint, Outcome, count_outcome, record_key
from kea_etl.load.compare import decide, describe_holder
from kea_etl.load.credentials import LiveCredentials
from kea_etl.load.kea_sql_stats import StatsPlan
from kea_etl.load.kea_sql_stats import apply as apply_stats
from kea_etl.load.kea_sql_stats import plan as stats_plan
from kea_etl.load.reservations import differences, moved
from kea_etl.records import INFINITE_LIFETIME, LEASE_TYPE_CODES, LEASE_TYPE_NAMES, Lease4, Lease6, Reservation
from kea_etl.report import RunReport
from kea_etl.urls import redact_url, refuse_password

__all__ = ["MAX_DB_TIME", "KeaSqlLoader", "SqlTarget", "binary_v6_tables", "epoch_of",
           "make_kea_sql_loader", "parse_sql_target"]

#: Kea's DatabaseConnection::MAX_DB_TIME: 2038-01-19 03:14:07 UTC
MAX_DB_TIME = 2**31 - 1
#: host identifier type codes (table host_identifier_type)
IDENT_CODES = {"hw-address": 0, "duid": 1, "circuit-id": 2, "client-id": 3, "flex-id": 4}
IDENT_NAMES = {v: k for k, v in IDENT_CODES.items()}
#: dhcp_option_scope.scope_id of an option that belongs to one host
HOST_SCOPE = 3

Dialect = Literal["postgresql", "mysql"]
#: how often a batch is retried after a serialization failure or deadlock
RETRIES = 30
#: records per transaction
BATCH_SIZE = 500
#: seconds: the thread switch interval during a load (KeaSqlLoader.load)
_SWITCH_INTERVAL = 0.0005

_L4, _L6 = "lease4", "lease6"
#: the columns the loader writes, in the order of its rows
_COLS4 = ("address, hwaddr, client_id, valid_lifetime, expire, subnet_id, fqdn_fwd, fqdn_rev, "
          "hostname, state, user_context")
_COLS6 = ("address, duid, valid_lifetime, expire, subnet_id, pref_lifetime, lease_type, iaid, "
          "prefix_len, fqdn_fwd, fqdn_rev, hostname, state, hwaddr, hwtype, hwaddr_source, "
          "user_context")
#: prefix of the session's staging tables (PostgreSQL), e.g. kea_etl_stage_lease4
_STAGE = "kea_etl_stage_"


@dataclass(frozen=True, slots=True)
class SqlTarget:
    dialect: Dialect
    host: str
    port: int
    user: str
    database: str

    @property
    def display(self) -> str:
        return f"{self.dialect}://{self.user}@{self.host}:{self.port}/{self.database}"


def parse_sql_target(url: str) -> SqlTarget:
    """Parse ``[kea-sql:]postgresql://user@host:port/db`` or ``mysql://...``; no password."""
    text = url.removeprefix("kea-sql:")
    parts = urlsplit(text)
    scheme = parts.scheme.split("+", 1)[0]
    dialect: Dialect
    if scheme in ("postgresql", "postgres", "pgsql"):
        dialect, port = "postgresql", 5432
    elif scheme in ("mysql", "mariadb"):
        dialect, port = "mysql", 3306
    else:
        raise InvalidURLError(f"{redact_url(url)}: kea-sql needs postgresql://USER@HOST/DB or "
                              "mysql://USER@HOST/DB")
    refuse_password(url if url.startswith("kea-sql:") else f"kea-sql:{url}",
                    what="the database password")
    database = parts.path.lstrip("/")
    if not database:
        raise InvalidURLError(f"{redact_url(url)}: no database name (…/DBNAME)")
    return SqlTarget(dialect, parts.hostname or "127.0.0.1", parts.port or port,
                     unquote(parts.username or ("postgres" if dialect == "postgresql" else "root")),
                     database)


def connect(target: SqlTarget, credentials: LiveCredentials | None = None) -> Any:
    """A DB-API connection (psycopg2 / pymysql) with autocommit off, UTC session."""
    pw = (credentials or LiveCredentials()).database_password()
    try:
        if target.dialect == "postgresql":
            import psycopg2  # type: ignore[import-untyped]
            kw: dict[str, Any] = {"host": target.host, "port": target.port,
                                  "user": target.user, "dbname": target.database}
            if pw is not None:
                kw["password"] = pw
            conn = psycopg2.connect(**kw)
            with conn.cursor() as cur:
                cur.execute("SET TIME ZONE 'UTC'")
            conn.commit()
            return conn
        import pymysql  # type: ignore[import-untyped]
        return pymysql.connect(host=target.host, port=target.port, user=target.user,
                               password=pw or "", database=target.database, autocommit=False,
                               init_command="SET time_zone = '+00:00'")
    except Exception as exc:  # driver-specific errors: one clear fatal message
        raise ConfigError(f"cannot connect to Kea's database {target.display}: "
                          f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}"
                          ) from exc


def _hex(value: str | None) -> bytes | None:
    return bytes.fromhex(value.replace(":", "")) if value else None


def _unhex(value: Any) -> str | None:
    if value is None:
        return None
    raw = bytes(value)
    return raw.hex(":") if raw else None


def _expire(lease: Lease4 | Lease6) -> int:
    if lease.valid_lft == INFINITE_LIFETIME:
        return MAX_DB_TIME
    return lease.expire


def binary_v6_tables(cur: Any) -> set[str]:
    """The MySQL tables (of ``lease6``, ``ipv6_reservations``) whose ``address`` is BINARY(16)
    (schemas of Kea 2.3+) rather than Kea 2.2's VARCHAR(39); see ``KeaSqlLoader._bin6``."""
    cur.execute("SELECT TABLE_NAME, DATA_TYPE FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME = 'address' "
                "AND TABLE_NAME IN ('lease6', 'ipv6_reservations')")
    return {str(t).lower() for t, kind in cur.fetchall()
            if str(kind).lower() in ("binary", "varbinary")}


def epoch_of(value: Any) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:  # MySQL hands back naive datetimes in the session zone (UTC)
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp())
    return int(value)


@dataclass(slots=True)
class _Leases:
    """One family's leases of a batch as the reading thread prepares them, so the writer
    thread, which holds the connection while the database works, only reads what the database
    holds and sends: the row of every address (the last record of an address wins, as in a
    lease file), and the payload and outcomes of the usual case, where no address is held."""

    table: str
    cols: str
    by_addr: dict[Any, Lease4 | Lease6]
    rows: dict[Any, tuple[Any, ...]]
    #: addresses whose new row must go through Kea's triggers (kea_etl.load.kea_sql_stats)
    slow: set[Any]
    #: the records the input held twice at an address: loaded, their last one written
    repeats: list[Outcome]
    #: every address free: the outcomes, and the write's payload (None: built when sent)
    loaded: list[Outcome]
    payload: str | None


@dataclass(slots=True)
class _Batch:
    """A batch ready for the writer thread: its records and their prepared leases."""

    records: list[LoadRecord]
    leases: list[_Leases]
    hosts: list[Reservation]


@dataclass(slots=True)
class _Pending:
    """A batch handed to the writer thread: its records, the outcomes a resumed run already
    holds for some of them, and the write of the others (None: nothing to write)."""

    batch: list[LoadRecord]
    done: dict[str, Outcome]
    job: Future[list[Outcome]] | None


class KeaSqlLoader:
    """Batched upserts of leases and reservations into Kea's lease / host database."""

    def __init__(self, url: str, *, mode: Literal["add", "upsert"] = "add",
                 on_conflict: Literal["skip", "overwrite"] = "skip",
                 batch_size: int = BATCH_SIZE, dry_run: bool = False,
                 checkpoint: Checkpoint | None = None,
                 credentials: LiveCredentials | None = None,
                 statistics: Literal["auto", "triggers"] = "auto") -> None:
        self.target = parse_sql_target(url)
        self.credentials = credentials
        self.mode = mode
        self.on_conflict = on_conflict
        self.batch_size = batch_size
        self.dry_run = dry_run
        self.checkpoint = checkpoint
        self._conn: Any = None
        #: tables whose v6 ``address`` column is BINARY(16) (MySQL schemas of Kea 2.3+)
        self._binary6: set[str] | None = None
        self._opt_classes: set[str] | None = None
        #: "auto": new leases skip Kea's triggers and their statistics are added set-based
        #: where :mod:`kea_etl.load.kea_sql_stats` allows it; "triggers": never
        self.statistics = statistics
        self._stats: dict[str, StatsPlan] = {}
        self.statistics_note: str | None = None
        #: write a batch without reading first while the last batch found nothing held
        #: (:meth:`_leases`); False: always read first
        self.optimistic = True
        self._skip_read = False
        self._batch_held = False
        self._recorder: ThreadPoolExecutor | None = None
        self._halted = False
        self._recording: Future[None] | None = None
        self.would_send: dict[str, int] = {}
        self.name = f"kea-sql:{self.target.display}"
        self.can_retract = False

    # -- Loader protocol (kea_etl.load.base) -------------------------------------------------
    def retract(self, conflicts: Sequence[Any], report: RunReport) -> None:
        """Rows are committed per batch: the orchestrator removes conflict losers beforehand."""
        if conflicts:
            raise NotImplementedError("the kea-sql loader cannot retract rows already written")

    def commit(self) -> LoadOutcome:
        if self.checkpoint is not None and not self.dry_run:
            self.checkpoint.finish()
        return LoadOutcome(target=self.name, dry_run=self.dry_run, sent=dict(self.would_send),
                           sent_unit="rows", statistics=self.statistics_note)

    def state_paths(self) -> list[Path]:
        return [self.checkpoint.path] if self.checkpoint is not None else []

    def abort(self) -> None:
        self.close()
        if self.checkpoint is not None:
            self.checkpoint.close()

    @property
    def pg(self) -> bool:
        return self.target.dialect == "postgresql"

    def open(self) -> None:
        if self._conn is None:
            self._conn = connect(self.target, self.credentials)
            # "who holds this address" and the write must be one decision (module docstring)
            with self._conn.cursor() as cur:
                self._bin6(cur, _L6)  # the reading thread builds rows in the column's form
                if self.pg:
                    cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL "
                                "SERIALIZABLE")
                    self._staging(cur)
                    if self.statistics == "auto":
                        self._stats, self.statistics_note = stats_plan(cur, (_L4, _L6))
                    else:
                        self.statistics_note = "Kea's triggers, lease by lease (as asked)"
                else:
                    self.statistics_note = "Kea's triggers, lease by lease"
                    cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE")
            self._conn.commit()

    def _bin6(self, cur: Any, table: str) -> bool:
        """Whether ``table``'s v6 address column holds 16 raw bytes rather than text.

        Kea 2.2's MySQL schema (14) stores ``lease6.address`` and ``ipv6_reservations.address``
        as VARCHAR(39); later MySQL schemas turned both into BINARY(16) (``inet6_aton``), and
        PostgreSQL's into INET (which takes and returns the text form). Read once from
        information_schema, so one loader writes what the database's own Kea reads.
        """
        if self._binary6 is None:
            self._binary6 = set() if self.pg else binary_v6_tables(cur)
        return table in self._binary6

    def _option_classes(self, cur: Any, table: str) -> bool:
        """Whether ``table`` (dhcp4_options / dhcp6_options) has the NOT NULL ``client_classes``
        column of Kea 3.2's schema (34/35; options guarded by client classes). Kea writes its
        empty JSON list ``[  ]`` there for an option without classes; older schemas lack it."""
        if self._opt_classes is None:
            where = "TABLE_SCHEMA = current_schema()" if self.pg else "TABLE_SCHEMA = DATABASE()"
            cur.execute("SELECT TABLE_NAME FROM information_schema.COLUMNS WHERE " + where +
                        " AND COLUMN_NAME = 'client_classes'"
                        " AND TABLE_NAME IN ('dhcp4_options', 'dhcp6_options')")
            self._opt_classes = {str(t).lower() for (t,) in cur.fetchall()}
        return table in self._opt_classes

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- driver ------------------------------------------------------------------------------
    def load(self, items: Iterable[LoadRecord], report: RunReport, *,
             progress: Callable[[int], None] | None = None) -> None:
        """Write every item's record; count each one in ``report`` (loaded / failed).

        One batch is written by a worker thread while this thread reads, transforms and checks
        the next one: the database works (and the driver waits, without the GIL) while Python
        prepares, instead of one after the other. Batches go in order over one connection.
        A third thread checkpoints a batch's outcomes once it is committed, while the database
        writes the next one, and the next one commits only after that record: the checkpoint
        lags the database by at most the batch just committed (re-sent on resume, where it
        counts as already present), as when the writer recorded it itself.

        While it runs, the interpreter's thread switch interval is 0.5 ms instead of 5: the
        writer, back from the database three times a batch, otherwise waits up to 5 ms for
        this thread to hand over the GIL while the database idles (measured on MariaDB: the
        read of held rows took twice as long).
        """
        self.open()
        switch = sys.getswitchinterval()
        sys.setswitchinterval(min(switch, _SWITCH_INTERVAL))
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kea-sql")
        self._recorder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kea-sql-state")
        self._halted = False
        pending: _Pending | None = None
        try:
            for batch in chunks(items, self.batch_size):
                done: dict[str, Outcome] = {}
                if self.checkpoint is not None:
                    done = self.checkpoint.lookup(record_key(i) for i in batch)
                todo = [i for i in batch if record_key(i) not in done] if done else batch
                queued = _Pending(batch, done, writer.submit(self._write_and_record,
                                                             self._prepare(todo))
                                  if todo else None)
                last, pending = pending, queued
                if last is not None:
                    self._settle(last, report, progress)
            last, pending = pending, None
            if last is not None:
                self._settle(last, report, progress)
            writer.shutdown(wait=True)
            self._recorded()  # the last batch's record, and its error if it failed
            if self.dry_run:  # as the kea: loader: a dry run's JSON says would_send
                report.dry_run = True
                report.sent = dict(self.would_send)
        finally:
            # a batch in flight finishes (and is recorded) before the connection closes
            writer.shutdown(wait=True, cancel_futures=True)
            self._recorder.shutdown(wait=True)
            self._recorder = None
            sys.setswitchinterval(switch)
            self.close()

    def _settle(self, p: _Pending, report: RunReport,
                progress: Callable[[int], None] | None) -> None:
        """Count a written batch (its resumed records first)."""
        for i in p.batch if p.done else ():
            if (o := p.done.get(record_key(i))) is not None:
                count_outcome(report, o)
        for o in p.job.result() if p.job is not None else ():
            count_outcome(report, o)
        if progress is not None:
            progress(len(p.batch))

    def _write_and_record(self, batch: _Batch) -> list[Outcome]:
        """The worker's job: write the batch, then have its outcomes recorded (by the
        recording thread, while the next batch is written: :meth:`_commit` waits for it).

        Once a batch failed, the batches queued behind it are not written: the load stops at
        the first failure, whose error the reading thread raises, and leaves no gap behind."""
        if self._halted:
            raise FatalError("not written: an earlier batch failed")
        try:
            outcomes = self._write_batch(batch)
        except BaseException:
            self._halted = True
            raise
        if self.checkpoint is not None and not self.dry_run:
            if self._recorder is None:  # outside load()
                self.checkpoint.record(outcomes)
            else:
                self._recording = self._recorder.submit(self.checkpoint.record, outcomes)
        return outcomes

    def _recorded(self) -> None:
        """Wait until the checkpoint holds every committed batch; its error, if any, is raised
        as :class:`_RecordFailed` (not the database's: no batch is retried for it)."""
        pending, self._recording = self._recording, None
        if pending is not None:
            try:
                pending.result()
            except Exception as exc:
                raise _RecordFailed(f"cannot record progress in {self.checkpoint_path}: "
                                    f"{exc}") from exc

    @property
    def checkpoint_path(self) -> Path | None:
        return self.checkpoint.path if self.checkpoint is not None else None

    def _commit(self) -> None:
        self._recorded()
        self._conn.commit()

    def _write_batch(self, batch: _Batch) -> list[Outcome]:
        """One transaction for the batch, retried while a concurrent writer makes the database
        refuse it (serialization failure, deadlock)."""
        attempt = 0
        while True:
            counted = dict(self.would_send)
            try:
                return self._write_batch_once(batch)
            except Exception as exc:
                if not _is_serialization_failure(exc) or attempt >= RETRIES:
                    raise
                self.would_send = counted  # this attempt's writes were rolled back
                with contextlib.suppress(Exception):
                    self._conn.rollback()
                attempt += 1
                time.sleep(random.uniform(0.005, 0.02) * min(attempt, 10))

    def _write_batch_once(self, batch: _Batch) -> list[Outcome]:
        conn = self._conn
        self._batch_held = False
        try:
            with conn.cursor() as cur:
                out = [o for leases in batch.leases for o in self._leases(cur, leases)]
                out += self._hosts(cur, batch.hosts)
            if self.dry_run:
                conn.rollback()
            else:
                self._commit()
            self._skip_read = self.optimistic and not self._batch_held
            return out
        except _RecordFailed:
            with contextlib.suppress(Exception):
                conn.rollback()
            raise
        except Exception as exc:
            # Connection lost: the server rolled the open transaction
            # back; stop cleanly instead of failing every remaining record one by one
            if _connection_lost(conn):
                where = (f"; progress saved in {self.checkpoint.path}" if self.checkpoint
                         else "")
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                raise RetriableError(
                    f"lost the connection to {self.name} ({first}); the batch in flight was "
                    f"rolled back{where}; re-run with --resume") from exc
            conn.rollback()
            if self._skip_read and _is_unique_violation(exc):
                # written without reading, and an address was held after all: read this time
                self._skip_read = False
                return self._write_batch_once(batch)
            if len(batch.records) == 1 or _is_serialization_failure(exc):
                raise
        # one bad row fails the whole transaction: redo the batch one record at a time so the
        # others still load and the bad one is reported with the database's message
        results: list[Outcome] = []
        for item in batch.records:
            try:
                results += self._write_batch(self._prepare([item]))
            except (RetriableError, FatalError):  # the connection went away, the checkpoint
                raise                              # failed: not this row's fault
            except Exception as exc:  # the database's own message for that one row
                msg = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                results.append(_outcome(item, "failed", "database refused the row", msg))
        return results

    def _count(self, what: str, n: int) -> None:
        if n:
            self.would_send[what] = self.would_send.get(what, 0) + n

    # -- leases ------------------------------------------------------------------------------
    def _prepare(self, records: Sequence[LoadRecord]) -> _Batch:
        """Split a batch by kind and build every lease row and the usual case's write (run by
        the reading thread, while the writer thread waits for the database)."""
        v4 = [r for r in records if isinstance(r, Lease4)]
        v6 = [r for r in records if isinstance(r, Lease6)]
        leases = []
        if v4:
            leases.append(self._prepare_leases(_L4, _COLS4, v4, self._row4,
                                               lambda r: int(r.address)))
        if v6:
            leases.append(self._prepare_leases(_L6, _COLS6, v6, self._row6,
                                               lambda r: str(r.address)))
        return _Batch(list(records), leases, [r for r in records if isinstance(r, Reservation)])

    def _prepare_leases(self, table: str, cols: str, items: Sequence[Any],
                        row: Callable[[Any, Any], tuple[Any, ...]],
                        addr_of: Callable[[Any], Any]) -> _Leases:
        by_addr = {addr_of(i): i for i in items}
        rows = {a: row(a, i) for a, i in by_addr.items()}
        plan = self._stats.get(table)
        slow: set[Any] = set()
        if plan is not None:
            slow = {a for a, i in by_addr.items() if not plan.accepts(i)}
        repeats = ([_outcome(i, "loaded", None, None) for i in items
                    if by_addr[addr_of(i)] is not i] if len(by_addr) < len(items) else [])
        loaded = [_outcome(i, "loaded", None, None) for i in by_addr.values()]
        payload = self._payload(cols, list(rows.values())) if rows and not slow else None
        return _Leases(table, cols, by_addr, rows, slow, repeats, loaded, payload)

    def _row4(self, addr: int, lease: Lease4) -> tuple[Any, ...]:
        return (addr, _hex(lease.hwaddr), _hex(lease.client_id), lease.valid_lft, _expire(lease),
                lease.subnet_id, lease.fqdn_fwd, lease.fqdn_rev, lease.hostname, lease.state,
                _ctx(lease.user_context))

    def _row6(self, addr: str, lease: Lease6) -> tuple[Any, ...]:
        # Kea 2.2 cannot read NULL hwtype / hwaddr_source ("bad lexical cast"): when there is no
        # MAC it writes an empty hwaddr with type 0 and source 0, and so does this loader
        iaid = lease.iaid
        if self.pg and iaid >= 2**31:  # PostgreSQL INT is signed: Kea stores the bit pattern
            iaid -= 2**32
        return (_packed6(addr) if _L6 in (self._binary6 or ()) else addr, _hex(lease.duid),
                lease.valid_lft, _expire(lease), lease.subnet_id, lease.preferred_lft,
                LEASE_TYPE_CODES[lease.lease_type], iaid, lease.prefix_len, lease.fqdn_fwd,
                lease.fqdn_rev, lease.hostname, lease.state, _hex(lease.hwaddr) or b"",
                1 if lease.hwaddr else 0, 0, _ctx(lease.user_context))

    def _leases(self, cur: Any, b: _Leases) -> list[Outcome]:
        """Read what the database holds at the batch's addresses, judge, write.

        While the last batch found none of its addresses held (a migration into an empty
        database: every batch), the read is skipped: the rows are written as new ones, which
        the primary key refuses should any address be held after all (an earlier run's lease,
        a concurrent writer's); the transaction is then rolled back and the batch read, judged
        and written again (:meth:`_write_batch_once`), and the batches after it are read first
        until one finds nothing held. A lease reported loaded is therefore never written over
        one the run did not read, as with the read."""
        if not b.by_addr:
            return []
        if self._skip_read:
            self._write_fresh(cur, b, list(b.by_addr), payload=b.payload)
            return b.loaded + b.repeats
        held = self._held(cur, b.table, list(b.by_addr))
        self._batch_held = self._batch_held or bool(held)
        if not held:  # the usual case: every address free, all prepared
            self._write_fresh(cur, b, list(b.by_addr), payload=b.payload)
            return b.loaded + b.repeats
        fresh: list[Any] = []  # addresses the database does not hold
        over: list[Any] = []   # rows replacing the database's
        out = []
        for addr, item in b.by_addr.items():
            holder = held.get(addr)
            status, detail = self._judge(holder, item)
            if status in ("already_present", "conflict", "kept"):
                out.append(_judged(item, status, detail))
                continue
            (fresh if holder is None else over).append(addr)
            out.append(_outcome(item, "loaded", "conflict overwritten" if detail else None, detail))
        self._write_fresh(cur, b, fresh)
        self._write(cur, b.table, b.cols, [b.rows[a] for a in over], held=True)
        return out + b.repeats

    def _judge(self, held: Lease4 | Lease6 | None, ours: Lease4 | Lease6
               ) -> tuple[str, str | None]:
        """("write", None) / ("write", "overwrote ...") / ("already_present"|"conflict", ...)."""
        verdict = decide(held, ours, self.mode, self.on_conflict)
        if verdict == "write":
            return "write", None
        assert held is not None
        if verdict == "same":
            return "already_present", None
        if verdict == "kept":  # as for kea:, the database's lease of this client is kept
            return "kept", (f"the database expires it at {held.expire}, the source at "
                            f"{ours.expire}; use --mode upsert to replace it")
        detail = f"the database holds {ours.key} for {describe_holder(held)}"
        if verdict == "overwrite":
            return "write", detail
        return "conflict", detail + "; left alone (use --on-conflict overwrite to replace it)"

    def _held(self, cur: Any, table: str, addrs: list[Any]) -> dict[Any, Lease4 | Lease6]:
        ph = ",".join(["%s"] * len(addrs))
        if table == "lease4":
            cols4 = "address, hwaddr, client_id, valid_lifetime, expire, subnet_id, state"
            lo, hi = min(addrs), max(addrs)
            if hi - lo < 4 * len(addrs):
                # a dense batch (a lease file's order): one index range instead of an index
                # probe per address; the few other rows in the range are dropped below
                cur.execute(f"SELECT {cols4} FROM lease4 WHERE address BETWEEN %s AND %s",
                            (lo, hi))
            else:
                cur.execute(f"SELECT {cols4} FROM lease4 WHERE address IN ({ph})", addrs)
            wanted = set(addrs)
            return {int(r[0]): Lease4(address=IPv4Address(int(r[0])), hwaddr=_unhex(r[1]),
                                      client_id=_unhex(r[2]), valid_lft=int(r[3]),
                                      cltt=max(0, epoch_of(r[4]) - int(r[3])),
                                      subnet_id=int(r[5] or 0), state=int(r[6] or 0))
                    for r in cur.fetchall() if int(r[0]) in wanted}
        binary = self._bin6(cur, "lease6")
        cur.execute("SELECT address, duid, iaid, lease_type, prefix_len, valid_lifetime, expire, "
                    f"subnet_id, state FROM lease6 WHERE address IN ({ph})",
                    [_packed6(a) for a in addrs] if binary else addrs)
        found: dict[Any, Lease4 | Lease6] = {}
        for r in cur.fetchall():
            ltype = LEASE_TYPE_NAMES.get(int(r[3] or 0), "IA_NA")
            key = _text6(r[0]) if binary else str(r[0])
            found[key] = Lease6(address=IPv6Address(key), duid=_unhex(r[1]) or "00", iaid=int(r[2]) % 2**32,
                                 lease_type=ltype,  # type: ignore[arg-type]
                                 prefix_len=int(r[4]) if ltype == "IA_PD" else 128,
                                 valid_lft=int(r[5]), cltt=max(0, epoch_of(r[6]) - int(r[5])),
                                 subnet_id=int(r[7] or 0), state=int(r[8] or 0))
        return found

    def _write(self, cur: Any, table: str, cols: str, rows: list[tuple[Any, ...]], *,
               held: bool, payload: str | None = None) -> None:
        """Write ``rows`` (``expire`` as epoch seconds) into ``table``, set-based.

        ``held=False``: new rows (the batch's read found none of these addresses, or the batch
        was not read: :meth:`_leases`). PostgreSQL takes them with one COPY straight into the
        table, MySQL / MariaDB with one multi-row ``INSERT``; should one of them be held after
        all, the primary key refuses the statement (a unique violation, not a serialization
        failure) and :meth:`_write_batch_once` redoes the batch (read first), or record by
        record, each read and judged again. ``payload``: :meth:`_payload` of ``rows``, prepared
        by the reading thread. ``held=True`` (rows replacing the database's: upsert,
        overwrite): PostgreSQL COPY into the session's staging table, then one ``INSERT ...
        SELECT ... ON CONFLICT (address) DO UPDATE``; MySQL / MariaDB one multi-row ``INSERT ...
        ON DUPLICATE KEY UPDATE``. MySQL's literals are built here (not LOAD DATA LOCAL, which
        lets the server ask the client for any file it can read).

        Kea's own triggers keep the statistics, per row as for Kea's own writes (new rows on
        PostgreSQL: see :meth:`_write_fresh`); a transaction holds one batch, which keeps them
        linear (one big transaction makes Kea 2.2's ``lease4_stat`` trigger quadratic in
        PostgreSQL).
        """
        self._count(f"{table} upserts", len(rows))
        if not rows:
            return
        names = [c.strip() for c in cols.split(",")]
        if payload is None:
            payload = self._payload(cols, rows)
        if self.pg:
            text = io.StringIO(payload)
            if not held:
                cur.copy_expert(f"COPY {table} ({cols}) FROM STDIN", text)
                return
            cur.copy_expert(f"COPY {_STAGE}{table} ({cols}) FROM STDIN", text)
            cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {_STAGE}{table} "
                        "ON CONFLICT (address) DO UPDATE SET "
                        + ", ".join(f"{c} = EXCLUDED.{c}" for c in names[1:]))
            return
        if not held:  # as COPY: a row the database holds after all is refused, never replaced
            cur.execute(f"INSERT INTO {table} ({cols}) VALUES {payload}")
            return
        cur.execute(f"INSERT INTO {table} ({cols}) VALUES {payload} ON DUPLICATE KEY UPDATE "
                    + ", ".join(f"{c} = VALUES({c})" for c in names[1:]))

    def _write_fresh(self, cur: Any, b: _Leases, addrs: list[Any], *,
                     payload: str | None = None) -> None:
        """Write the rows of ``addrs``, which the database does not hold (``payload``: theirs,
        prepared). With a statistics plan (:mod:`kea_etl.load.kea_sql_stats`), those not in
        ``b.slow`` skip Kea's triggers for the COPY alone (``SET LOCAL``: this transaction, this
        statement) and their counts are added set-based right after, in the same transaction;
        the others go through the triggers."""
        plan = self._stats.get(b.table)
        if plan is None or self.dry_run:
            self._write(cur, b.table, b.cols, [b.rows[a] for a in addrs], held=False,
                        payload=payload)
            return
        fast = [b.rows[a] for a in addrs if a not in b.slow]
        if fast:
            cur.execute("SET LOCAL session_replication_role = replica")
            self._write(cur, b.table, b.cols, fast, held=False,
                        payload=payload if len(fast) == len(addrs) else None)
            cur.execute("SET LOCAL session_replication_role = origin")
            apply_stats(cur, plan, fast, [c.strip() for c in b.cols.split(",")])
        if len(fast) < len(addrs):
            self._write(cur, b.table, b.cols, [b.rows[a] for a in addrs if a in b.slow],
                        held=False)

    def _payload(self, cols: str, rows: Sequence[tuple[Any, ...]]) -> str:
        """``rows`` as the write sends them: COPY text (PostgreSQL), a VALUES list (MySQL)."""
        at = [c.strip() for c in cols.split(",")].index("expire")
        if self.pg:
            return _copy_text(rows, at)
        return ",".join(_mysql_row(row, at) for row in rows)

    def _staging(self, cur: Any) -> None:
        """The session's staging tables (PostgreSQL): temporary, emptied at every commit and
        rollback, with the columns of the database's own ``lease4`` / ``lease6`` (each schema's
        v6 address type, VARCHAR or INET, comes along)."""
        for table, cols in ((_L4, _COLS4), (_L6, _COLS6)):
            cur.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE}{table} "
                        f"ON COMMIT DELETE ROWS AS SELECT {cols} FROM {table} WITH NO DATA")

    # -- reservations ------------------------------------------------------------------------
    def _hosts(self, cur: Any, items: Sequence[LoadRecord]) -> list[Outcome]:
        out = []
        for item in items:
            res = item
            assert isinstance(res, Reservation)
            out.append(self._host(cur, item, res))
        return out

    def _host(self, cur: Any, item: LoadRecord, res: Reservation) -> Outcome:
        subnet_col = "dhcp4_subnet_id" if res.family == 4 else "dhcp6_subnet_id"
        ident = _hex(res.identifier)
        code = IDENT_CODES[res.identifier_type]
        opt_table = "dhcp4_options" if res.family == 4 else "dhcp6_options"
        try:
            options = _option_rows(res)
        except ValueError as exc:
            return _outcome(item, "failed", "option-data not writable", str(exc))
        fam = "dhcp4" if res.family == 4 else "dhcp6"
        cur.execute(f"SELECT host_id, ipv4_address, hostname, {fam}_client_classes, "
                    "dhcp4_next_server, dhcp4_boot_file_name, user_context FROM hosts "
                    f"WHERE dhcp_identifier = %s AND dhcp_identifier_type = %s AND {subnet_col} = %s",
                    (ident, code, res.subnet_id))
        row = cur.fetchone()
        v6 = sorted([(str(a), 128, 0) for a in res.ip_addresses]
                    + [(str(p.network_address), p.prefixlen, 2) for p in res.prefixes])
        ipv4 = int(res.ipv4_address) if res.ipv4_address is not None else None
        if row is not None:
            host_id = int(row[0])
            text6 = _text6 if self._bin6(cur, "ipv6_reservations") else str  # (may query)
            cur.execute("SELECT address, prefix_len, type FROM ipv6_reservations WHERE host_id = %s",
                        (host_id,))
            held6 = sorted((text6(a), int(p), int(t)) for a, p, t in cur.fetchall())
            cur.execute(f"SELECT code, value, formatted_value, space, persistent, user_context "
                        f"FROM {opt_table} WHERE host_id = %s AND scope_id = %s",
                        (host_id, HOST_SCOPE))
            held_opts = _option_key([(int(c), bytes(v) if v is not None else None, f, s, bool(p), u)
                                     for c, v, f, s, p, u in cur.fetchall()], res.family)
            differ = differences(_held_host(row, held6), res.to_kea_host(), res.family,
                                 same_options=held_opts == _option_key(options, res.family))
            if not differ:
                return _outcome(item, "already_present", None, None)
            if moved(differ):
                detail = (f"the database reserves other addresses for {res.identifier_type} "
                          f"{res.identifier} in subnet {res.subnet_id}")
                if self.on_conflict != "overwrite":
                    return _outcome(item, "conflict", "conflict",
                                    detail + "; left alone (use --on-conflict overwrite)")
            elif self.mode == "add":
                # as for leases and for kea: targets: the database's host is kept in add mode
                return _outcome(item, "already_present",
                                "the database holds this host with other details; kept it",
                                f"{', '.join(differ)} differ; use --mode upsert to replace it")
            self._count("hosts updates", 1)
            cur.execute("UPDATE hosts SET ipv4_address = %s, hostname = %s, "
                        "dhcp4_next_server = %s, dhcp4_boot_file_name = %s, user_context = %s, "
                        f"{'dhcp4' if res.family == 4 else 'dhcp6'}_client_classes = %s "
                        "WHERE host_id = %s",
                        (ipv4, res.hostname or None,
                         int(res.next_server) if res.next_server else None,
                         res.boot_file_name or None, _ctx(res.user_context),
                         ",".join(res.client_classes) or None, host_id))
            cur.execute("DELETE FROM ipv6_reservations WHERE host_id = %s", (host_id,))
            # the host's option-data is replaced as a whole, in the same transaction
            cur.execute(f"DELETE FROM {opt_table} WHERE host_id = %s AND scope_id = %s",
                        (host_id, HOST_SCOPE))
        else:
            self._count("hosts inserts", 1)
            cols = (f"dhcp_identifier, dhcp_identifier_type, {subnet_col}, ipv4_address, hostname, "
                    f"{'dhcp4' if res.family == 4 else 'dhcp6'}_client_classes, "
                    "dhcp4_next_server, dhcp4_boot_file_name, user_context")
            vals = (ident, code, res.subnet_id, ipv4, res.hostname or None,
                    ",".join(res.client_classes) or None,
                    int(res.next_server) if res.next_server else None,
                    res.boot_file_name or None, _ctx(res.user_context))
            sql = f"INSERT INTO hosts ({cols}) VALUES ({','.join(['%s'] * len(vals))})"
            if self.pg:
                cur.execute(sql + " RETURNING host_id", vals)
                host_id = int(cur.fetchone()[0])
            else:
                cur.execute(sql, vals)
                host_id = int(cur.lastrowid)
        if v6:
            enc = _packed6 if self._bin6(cur, "ipv6_reservations") else str
            cur.executemany("INSERT INTO ipv6_reservations (address, prefix_len, type, host_id) "
                            "VALUES (%s, %s, %s, %s)", [(enc(a), p, t, host_id) for a, p, t in v6])
        if options:
            self._count(f"{opt_table} inserts", len(options))
            classes = self._option_classes(cur, opt_table)
            cur.executemany(f"INSERT INTO {opt_table} (code, value, formatted_value, space, "
                            "persistent, user_context, host_id, scope_id"
                            + (", client_classes" if classes else "") + ") "
                            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s" + (", %s" if classes else "")
                            + ")",
                            [(*o, host_id, HOST_SCOPE, *(("[  ]",) if classes else ()))
                             for o in options])
        return _outcome(item, "loaded", None, None)


#: one dhcp4_options / dhcp6_options row: code, value, formatted_value, space, persistent,
#: user_context
_OptionRow = tuple[int, bytes | None, str | None, str, bool, str | None]


def _option_rows(res: Reservation) -> list[_OptionRow]:
    """The host's option-data as rows of Kea's option table, the way Kea writes them.

    CSV data goes into ``formatted_value`` (Kea splits it at commas when it reads the row and
    builds the option from the definition of ``space`` / ``code``); ``csv-format: false`` data is
    hex and goes into ``value``. ``always-send`` is the ``persistent`` column. A ValueError says
    why an entry cannot be stored (no code for an option kea-etl does not know, ``never-send``,
    which Kea 2.2's schema has no column for, bad hex, a code out of range).
    """
    rows: list[_OptionRow] = []
    top = 255 if res.family == 4 else 65535
    for entry in canonical_option_data(res.option_data, res.family):
        label = entry.get("name", entry.get("code"))
        code = entry.get("code")
        if not isinstance(code, int) or isinstance(code, bool):
            raise ValueError(f"option {label!r} has no code and is not a standard option kea-etl "
                             "knows; give its code")
        if not 0 < code < top:
            raise ValueError(f"option {label!r}: code {code} is out of range")
        if entry.get("never-send"):
            raise ValueError(f"option {label!r}: never-send cannot be stored in Kea 2.2's hosts "
                             "schema")
        data = entry.get("data", "")
        if not isinstance(data, str):
            raise ValueError(f"option {label!r}: data {data!r} is not a string")
        value: bytes | None = None
        formatted: str | None = data
        if entry.get("csv-format", True) is False:
            try:
                value = bytes.fromhex(data.replace(":", "").replace(" ", ""))
            except ValueError:
                raise ValueError(f"option {label!r}: csv-format false but {data!r} is not "
                                 "hex") from None
            formatted = None
        rows.append((code, value, formatted, str(entry["space"]),
                     bool(entry.get("always-send", False)), _ctx(entry.get("user-context"))))
    return rows


def _option_key(rows: Iterable[_OptionRow], family: int) -> list[tuple[Any, ...]]:
    """Rows in a comparable form: formatted values respelled canonically, in one order."""
    out = []
    for code, value, formatted, space, persistent, ctx in rows:
        if formatted:  # Kea reads an empty formatted_value as "use value"
            data = canonical_option({"code": code, "space": space, "data": formatted},
                                    family)["data"]
            out.append((space, code, "csv", data, persistent, ctx))
        else:
            out.append((space, code, "hex", (value or b"").hex(), persistent, ctx))
    return sorted(out)


def _judged(item: LoadRecord, status: str, detail: str | None) -> Outcome:
    if status == "kept":
        return _outcome(item, "already_present",
                        "the database holds this client's lease with another expiry; kept it",
                        detail)
    return _outcome(item, status, "conflict" if status == "conflict" else None, detail)


def _held_host(row: Sequence[Any], held6: Sequence[tuple[str, int, int]]) -> dict[str, Any]:
    """A hosts row (host_id, ipv4_address, hostname, client_classes, next_server,
    boot_file_name, user_context) and its ipv6_reservations (address, prefix_len, type) as the
    host map :func:`~kea_etl.load.reservations.differences` compares (option-data aside)."""
    ctx = row[6]
    if isinstance(ctx, bytes | bytearray):
        ctx = ctx.decode("utf-8")
    if isinstance(ctx, str):
        with contextlib.suppress(ValueError):  # not JSON: compared as text, so it differs
            ctx = json.loads(ctx) if ctx else None
    return {"ip-address": None if row[1] is None else str(IPv4Address(int(row[1]))),
            "ip-addresses": [a for a, _, t in held6 if t != 2],
            "prefixes": [f"{a}/{p}" for a, p, t in held6 if t == 2],
            "hostname": row[2] or "",
            "client-classes": [c.strip() for c in (row[3] or "").split(",") if c.strip()],
            "next-server": str(IPv4Address(int(row[4]))) if row[4] else None,
            "boot-file-name": row[5] or "", "user-context": ctx}


#: COPY text format: backslash, tab, newline and carriage return are escaped in a value
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is bool:
        return "t" if value else "f"
    if kind is bytes:
        return "\\\\x" + bytes(value).hex()  # bytea hex input, its backslash escaped for COPY
    return str(value).translate(_COPY_ESCAPES)


def _copy_text(rows: Iterable[tuple[Any, ...]], expire_at: int) -> str:
    """Rows as PostgreSQL's COPY text format (tab-separated, ``\\N`` for NULL), the epoch
    seconds at ``expire_at`` as a UTC timestamp."""
    out = []
    for row in rows:
        values = [_copy_value(v) for v in row]
        values[expire_at] = _pg_time(row[expire_at])
        out.append("\t".join(values))
    out.append("")
    return "\n".join(out)


@functools.lru_cache(maxsize=4096)
def _pg_time(seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(seconds))


def _mysql_row(row: tuple[Any, ...], expire_at: int) -> str:
    """One row as a MySQL VALUES tuple of literals. Text goes as UTF-8 in hex, converted to a
    character string (``CONVERT(X'..' USING utf8mb4)``): no quoting to get wrong, whatever the
    session's NO_BACKSLASH_ESCAPES, and the server converts it to the column's character set as
    it does a quoted string."""
    out = []
    for i, value in enumerate(row):
        kind = type(value)
        if value is None:
            out.append("NULL")
        elif kind is int:
            out.append(f"FROM_UNIXTIME({value})" if i == expire_at else str(value))
        elif kind is bool:
            out.append("1" if value else "0")
        elif kind is bytes:
            out.append(f"X'{value.hex()}'")
        else:
            out.append(f"CONVERT(X'{str(value).encode().hex()}' USING utf8mb4)")
    return "(" + ",".join(out) + ")"


def _packed6(text: str) -> bytes:
    """An IPv6 address as the 16 bytes a BINARY(16) column holds (MySQL's inet6_aton)."""
    return IPv6Address(text).packed


def _text6(value: Any) -> str:
    """The address text of a BINARY(16) column's value, spelled as the records spell it."""
    return str(IPv6Address(bytes(value)))


def _ctx(ctx: Any) -> str | None:
    return json.dumps(dict(ctx), sort_keys=True) if ctx else None


def _outcome(item: LoadRecord, status: str, reason: str | None, detail: str | None) -> Outcome:
    return Outcome(record_key(item), status, reason, detail,  # type: ignore[arg-type]
                   item.origin, item.line)


def _is_serialization_failure(exc: BaseException) -> bool:
    """The database refused the transaction because a concurrent one changed what it read:
    PostgreSQL 40001 / 40P01, MariaDB / MySQL 1213 (deadlock) / 1205 (lock wait timeout)."""
    code = getattr(exc, "pgcode", None)
    if code is not None:
        return code in ("40001", "40P01")
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    return type(exc).__module__.startswith("pymysql") and bool(args) and args[0] in (1213, 1205)


class _RecordFailed(FatalError):
    """The checkpoint could not record a committed batch (disk full, file removed)."""


def _is_unique_violation(exc: BaseException) -> bool:
    """The row's key is taken: PostgreSQL 23505, MariaDB / MySQL 1062 (duplicate entry)."""
    code = getattr(exc, "pgcode", None)
    if code is not None:
        return bool(code == "23505")
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    return type(exc).__module__.startswith("pymysql") and bool(args) and args[0] == 1062


def _connection_lost(conn: Any) -> bool:
    """True when the DB-API connection is gone (server restarted, backend terminated)."""
    closed = getattr(conn, "closed", None)  # psycopg2: 0 open, 1 closed, 2 broken
    if isinstance(closed, int) and not isinstance(closed, bool) and closed:
        return True
    return getattr(conn, "open", True) is False  # pymysql


def make_kea_sql_loader(location: str, *, subnets: Any = None,
                        sources: Sequence[str] | None = None, report_path: str | None = None,
                        resume: bool = False, on_conflict: Literal["skip", "overwrite"] = "skip",
                        mode: Literal["add", "upsert"] = "add", dry_run: bool = False,
                        kea_version: str | None = None, workers: int | None = None,
                        keep_state: bool = False, credentials: LiveCredentials | None = None,
                        state_home: str | None = None) -> KeaSqlLoader:
    """The loader for ``--to kea-sql:postgresql://USER@HOST/DB`` (or ``mysql://``).

    ``mode`` as for ``kea:``: ``add`` keeps a row the database already holds for the same client,
    ``upsert`` replaces it. ``workers`` does not apply (one connection, a transaction per batch).
    """
    from kea_etl.load.api import open_checkpoint

    del kea_version, workers
    target = parse_sql_target(location)
    checkpoint = open_checkpoint(f"kea-sql:{target.display}", sources=sources,
                                 report_path=report_path, resume=resume,
                                 options={"on_conflict": on_conflict, "mode": mode},
                                 dry_run=dry_run, keep_state=keep_state,
                                 state_home=state_home)
    return KeaSqlLoader(location, mode=mode, on_conflict=on_conflict, dry_run=dry_run,
                        checkpoint=checkpoint, credentials=credentials)
