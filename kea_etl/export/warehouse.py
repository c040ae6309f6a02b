"""The SQL warehouse writer (any SQLAlchemy URL; SQLite and PostgreSQL tested).

Tables (created on first use, evolved additively: a column this version knows and the database
lacks is added with ``ALTER TABLE ... ADD COLUMN``, and a derived lease column added so is filled
in the older rows from the column it derives from; nothing is ever dropped. The one change of type:
an older PostgreSQL warehouse's text address columns become ``inet``, in the same transaction).
Every column and its type per engine: ``docs/warehouse.md``; the lease columns are defined once,
in :mod:`kea_etl.export.schema`.

``export_runs``
    one row per (server, family) export: ``run_id``, ``server``, ``family``, ``export_date``,
    ``exported_at``, ``kea_version``, ``status`` (running / complete / failed / superseded),
    ``leases``, ``stats``, ``subnets`` (the filter, if any), ``error``.
``lease_snapshots``
    history: every lease of every complete run (the :data:`~kea_etl.export.schema.LEASE_FIELDS`
    columns plus ``run_id``, ``server``, ``export_date``).
``leases_current``
    one row per (server, family, lease_type, address): the lease as the newest complete run of
    that server and family saw it (per subnet when runs were filtered). On SQLite a view of
    ``lease_snapshots`` and ``export_runs`` (:func:`_sqlite_current_view`), so a run writes its
    leases once; a warehouse of an earlier version has its table renamed
    :data:`SQLITE_OLD_CURRENT` and gets the view. Elsewhere a table upserted by every run, whose
    rows the run no longer saw are deleted when it completes.
``lease_stats``
    tidy statistics (:mod:`kea_etl.export.stats`) of every complete run.

``lease_snapshots`` is indexed by ``run_id`` and, for ``kea-etl history``
(:mod:`kea_etl.export.history`), by address, hwaddr, client-id and DUID; an index missing from an
older warehouse is created too. Every index costs every lease of every export an insert (and a
re-run a delete), so there is no other.

Idempotency key: **(server, export_date, family)**, narrowed to the run's subnets when it was
filtered. ``export_date`` is the UTC date of ``exported_at`` unless the caller sets it. Rows are
written in short transactions stamped with the run's ``run_id`` (so several servers can stream
concurrently and memory stays bounded); when a run completes, one transaction deletes the rows
earlier runs wrote for the same key and marks those runs ``superseded``. Re-running the same
night therefore replaces that night's snapshot: no duplicates. While a run streams, its rows sit
next to the previous run's; readers who must never see that window join on
``export_runs.status = 'complete'``. A failed run deletes its own snapshot rows.
**Concurrent exports** (a cron overlap, two operators) of the same server and family never
interleave: :meth:`Warehouse.begin_run` takes a lock for (server, family) that the run holds until
it completes or fails, across processes, so a second export of that server waits for the first
and then replaces its snapshot as a re-run does (before, each one's completion deleted the rows
the other had written so far). The lock is per server and family, not per night, because
``leases_current`` is: other servers export in parallel. PostgreSQL uses a session advisory
lock, MySQL / MariaDB ``GET_LOCK``, SQLite a byte-range lock on ``DB.kea-etl-lock`` next to the
database file; all are released by the operating system or the database server when the process
dies. Schema creation takes the same kind of lock, so two first-ever exports into an empty
database do not both create the tables (PostgreSQL's ``UniqueViolation`` on ``pg_type``).
**NUL bytes**: a DHCP client picks its own hostname, and Kea keeps a NUL byte in it;
PostgreSQL text cannot hold one. On PostgreSQL such a value is stored with each NUL written as
the four characters ``\\x00`` and the run lists the lease and field (:attr:`WarehouseRun.escaped`,
a warning in the export report); the other rows are unaffected. SQLite, Parquet and CSV keep the
value exactly.
SQLite has one writer at a time: writes are serialised by a lock in this process, the database
is switched to WAL (readers such as the notebook do not block the nightly writer) with a 30 s
busy timeout, and lease rows go through a DB-API fast path (SQLAlchemy's per-row parameter
processing cost more than SQLite's inserts): multi-row inserts into ``lease_snapshots`` (a value
the whole batch shares bound once per statement), nothing else per lease (``leases_current`` is
a view), a run's pages sharing one transaction of up to 20,000 rows or a second (committed early
when Kea is slow to answer), committed without waiting for the disk (``synchronous=NORMAL``)
except the transaction that marks the run complete, which waits for it (``FULL``). Other
databases use SQLAlchemy Core with native upserts of ``leases_current`` (PostgreSQL
``ON CONFLICT``, MySQL ``ON DUPLICATE KEY``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine

from kea_etl._files import create_private
from kea_etl.errors import ConfigError, FatalError
from kea_etl.export.schema import KEA_STATE_NAMES, LEASE_FIELDS, sql_columns
from kea_etl.export.stats import StatRow

__all__ = ["Warehouse", "WarehouseRun", "metadata"]

metadata = sa.MetaData()


def _lease_columns(*, primary_key: Sequence[str] = ()) -> list[sa.Column[Any]]:
    """The lease columns after ``family`` and ``address`` (those two come first in both
    tables), from the one definition in :mod:`kea_etl.export.schema`."""
    return sql_columns([f.name for f in LEASE_FIELDS if f.name not in ("family", "address")],
                       primary_key=primary_key)


export_runs = sa.Table(
    "export_runs", metadata,
    sa.Column("run_id", sa.String(36), primary_key=True),
    sa.Column("server", sa.String(255), nullable=False),
    sa.Column("family", sa.SmallInteger, nullable=False),
    sa.Column("export_date", sa.Date, nullable=False),
    sa.Column("exported_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("kea_version", sa.String(32)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("leases", sa.BigInteger),
    sa.Column("stats", sa.BigInteger),
    sa.Column("subnets", sa.Text),
    sa.Column("error", sa.Text),
    sa.Index("ix_export_runs_key", "server", "export_date", "family"),
)

lease_snapshots = sa.Table(
    "lease_snapshots", metadata,
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("server", sa.String(255), nullable=False),
    sa.Column("export_date", sa.Date, nullable=False),
    *sql_columns(["family", "address"]),
    *_lease_columns(),
    # a run's rows: the view leases_current (SQLite), replacing and failing a run. Warehouses
    # of earlier versions also have ix_lease_snapshots_key (server, export_date, family), which
    # nothing reads any more (a night's rows are found run by run) and which is kept, not dropped
    sa.Index("ix_lease_snapshots_run", "run_id"),
    # kea-etl history looks a lease up by address or by client (kea_etl.export.history)
    sa.Index("ix_lease_snapshots_address", "address"),
)


def _client_index(name: str, column: str) -> sa.Index:
    """An index of the rows that have a value in ``column`` (SQLite and PostgreSQL; a full index
    elsewhere). A v4 lease has no DUID and most have no client-id, v6 leases no client-id:
    indexing their nulls made every export write (and every re-run delete) an entry no lookup
    reads, since history only asks for equal values and ranges, which imply not null."""
    col = lease_snapshots.c[column]
    return sa.Index(name, col, sqlite_where=col.isnot(None), postgresql_where=col.isnot(None))


_client_index("ix_lease_snapshots_hwaddr", "hwaddr")
_client_index("ix_lease_snapshots_client_id", "client_id")
_client_index("ix_lease_snapshots_duid", "duid")

leases_current = sa.Table(
    "leases_current", metadata,
    sa.Column("server", sa.String(255), primary_key=True),
    *sql_columns(["family", "address"], primary_key=["family", "address"]),
    *_lease_columns(primary_key=["lease_type"]),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("export_date", sa.Date),
)

lease_stats = sa.Table(
    "lease_stats", metadata,
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("server", sa.String(255), nullable=False),
    sa.Column("export_date", sa.Date, nullable=False),
    sa.Column("exported_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("kea_version", sa.String(32)),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("family", sa.SmallInteger, nullable=False),
    sa.Column("subnet_id", sa.BigInteger),
    sa.Column("pool_kind", sa.String(8)),
    sa.Column("pool_id", sa.BigInteger),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("value_text", sa.Text),
    sa.Column("sampled_at", sa.DateTime(timezone=True)),
    sa.Index("ix_lease_stats_key", "server", "export_date", "family"),
)

_CURRENT_KEY = ("server", "family", "lease_type", "address")


def _sqlite_lease_names() -> list[str]:
    """Columns both lease tables share, in one order (the fast SQLite path writes these)."""
    current = {c.name for c in leases_current.columns}
    return [c.name for c in lease_snapshots.columns if c.name in current]


#: SQLite: what ``leases_current`` was called before it became a view (the table is kept)
SQLITE_OLD_CURRENT = "leases_current_table"


def _newer(n: str, r: str) -> str:
    """SQL: run ``n`` of the same server and family completed after run ``r``.

    Runs of one server and family hold its lock in turn (:meth:`Warehouse.begin_run`) and take
    ``exported_at`` when they start, so the order of ``exported_at`` is the order they completed
    in; a run given an ``exported_at`` is ordered by it (then by night, then by ``run_id`` so
    that the order is total)."""
    return (f"{n}.server = {r}.server AND {n}.family = {r}.family AND {n}.status = 'complete' "
            f"AND ({n}.exported_at, {n}.export_date, {n}.run_id) > "
            f"({r}.exported_at, {r}.export_date, {r}.run_id)")


def _sqlite_current_view() -> str:
    """``CREATE VIEW leases_current``: the rows of the newest complete run of every server and
    family, per subnet when runs were filtered (see the module docstring).

    ``runs`` is the few complete runs no later unfiltered run replaced, each with ``narrowed``
    true when a later run filtered by subnet exists; only then is a row's own subnet looked up
    in the later runs' filters. Columns in the order of the table this view replaced.
    """
    names = [c.name for c in leases_current.columns]
    cols = ", ".join(f's."{c}"' for c in names)
    later_unfiltered = f"SELECT 1 FROM export_runs n WHERE {_newer('n', 'r')} AND n.subnets IS NULL"
    later_filtered = f"SELECT 1 FROM export_runs n WHERE {_newer('n', 'r')} AND n.subnets IS NOT NULL"
    covered = (f"SELECT 1 FROM export_runs n WHERE {_newer('n', 's')} AND n.subnets IS NOT NULL "
               "AND instr(',' || n.subnets || ',', ',' || s.subnet_id || ',') > 0")
    # GROUP BY keeps SQLite from flattening ``runs`` into the join: it is computed once, and
    # the rows are then found through ix_lease_snapshots_run, run by run
    return (f"CREATE VIEW leases_current AS SELECT {cols} FROM "
            f"(SELECT r.run_id AS run_id, EXISTS ({later_filtered}) AS narrowed "
            f"FROM export_runs r WHERE r.status = 'complete' AND NOT EXISTS ({later_unfiltered}) "
            f"GROUP BY r.run_id) runs "
            f"JOIN lease_snapshots s ON s.run_id = runs.run_id "
            f"WHERE NOT runs.narrowed OR NOT EXISTS ({covered})")


#: SQLite: lease columns that often hold one value in a whole batch (the server's version, the
#: family's type and prefix length, the other family's columns, which are null): when they do,
#: the value is bound once per statement instead of once per row
_SQLITE_BATCH_CONSTANT = frozenset({
    "kea_version", "family", "lease_type", "prefix_len", "client_id", "duid", "iaid",
    "preferred_lft", "prefix", "user_context"})


def _constant(col: pa.Array) -> bool:
    """Whether every value of ``col`` is the same (all null counts). One comparison with the
    first value (count_distinct hashed every value: 6 % of the writer's time)."""
    n = len(col)
    if n == 0 or col.null_count == n:
        return n > 0
    return col.null_count == 0 and pc.all(pc.equal(col, col[0])).as_py() is True


#: SQLite: a run's pages share one write transaction up to this many rows or seconds
SQLITE_ROWS_PER_COMMIT = 20_000
SQLITE_SECONDS_PER_COMMIT = 1.0


def _sqlite_rows_per_insert(width: int) -> int:
    """Rows of ``width`` values per multi-row INSERT: within SQLite's bound-parameter limit
    (32766 since SQLite 3.32, 999 before), at most 500 so that full statements repeat and stay in
    the driver's statement cache."""
    limit = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999
    return max(1, min(500, limit // width))


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL: readers (the notebook) do not block the nightly writer; NORMAL is crash-safe in WAL.
    # A 30 s busy timeout lets another process's export finish its short transaction.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=30000")
    # Switching a new database file to WAL needs an exclusive lock, and SQLite answers "database
    # is locked" at once, without its busy handler, while another process holds the file (two
    # first-ever exports at the same instant). Once the file is in WAL mode the pragma is a no-op.
    deadline = time.monotonic() + 30
    delay = 0.005
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


_local_locks: dict[tuple[str, str], threading.Lock] = {}
_local_guard = threading.Lock()
_lock_files: dict[str, int] = {}  # SQLite sidecar lock files, open for the life of the process


def _key_hash(name: str) -> int:
    """A signed 64-bit number for ``name`` (PostgreSQL advisory lock keys are bigint)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big",
                          signed=True)


class _KeyLock:
    """An exclusive lock on one name in one warehouse, across threads and processes."""

    def __init__(self, wh: Warehouse, name: str) -> None:
        self.wh = wh
        self.name = name
        with _local_guard:
            self.local = _local_locks.setdefault((wh.url, name), threading.Lock())
        self.conn: Connection | None = None
        self.fd: int | None = None
        self.waited = False

    def acquire(self, on_wait: Callable[[], None] | None = None) -> _KeyLock:
        if not self.local.acquire(blocking=False):
            self._waiting(on_wait)
            self.local.acquire()
        try:
            self._acquire_shared(on_wait)
        except BaseException:
            self.local.release()
            raise
        return self

    def _waiting(self, on_wait: Callable[[], None] | None) -> None:
        if not self.waited:
            self.waited = True
            if on_wait is not None:
                on_wait()

    def _acquire_shared(self, on_wait: Callable[[], None] | None) -> None:
        wh = self.wh
        dialect = wh.engine.dialect.name
        if dialect == "sqlite":
            path = wh.engine.url.database
            if not path or path == ":memory:" or path.startswith("file::memory:"):
                return  # one process: the thread lock is the lock
            lock_path = str(Path(path).resolve()) + ".kea-etl-lock"
            with _local_guard:
                fd = _lock_files.get(lock_path)
                if fd is None:
                    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                    _lock_files[lock_path] = fd
            offset = _key_hash(self.name) & 0x7FFFFFFF
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
            except OSError:
                self._waiting(on_wait)
                fcntl.lockf(fd, fcntl.LOCK_EX, 1, offset)
            self.fd, self.offset = fd, offset
        elif dialect in ("postgresql", "mysql", "mariadb"):
            conn = wh.lock_engine().connect()
            try:
                if dialect == "postgresql":
                    key = _key_hash(self.name)
                    if not conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                        self._waiting(on_wait)
                        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
                else:
                    name = "kea-etl:" + hashlib.blake2b(self.name.encode(), digest_size=16).hexdigest()
                    if conn.execute(sa.text("SELECT GET_LOCK(:n, 0)"), {"n": name}).scalar() != 1:
                        self._waiting(on_wait)
                        conn.execute(sa.text("SELECT GET_LOCK(:n, -1)"), {"n": name})
                conn.commit()
            except BaseException:
                conn.close()
                raise
            self.conn = conn

    def release(self) -> None:
        try:
            if self.conn is not None:
                conn, self.conn = self.conn, None
                with contextlib.suppress(sa.exc.SQLAlchemyError):
                    conn.close()  # the session ends: the server drops its advisory lock
            if self.fd is not None:
                fd, self.fd = self.fd, None
                fcntl.lockf(fd, fcntl.LOCK_UN, 1, self.offset)
        finally:
            self.local.release()


def _escape_nul(batch: pa.RecordBatch, notes: list[str]) -> pa.RecordBatch:
    """The batch with every NUL in a string column written ``\\x00``; "ADDRESS FIELD" of each
    changed value appended to ``notes`` (PostgreSQL text cannot hold NUL)."""
    columns = list(batch.columns)
    changed = False
    for k, (name, col) in enumerate(zip(batch.schema.names, columns, strict=True)):
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            continue
        hit = pc.fill_null(pc.match_substring(col, "\x00"), False)
        if not pc.any(hit).as_py():
            continue
        where = pc.filter(batch.column("address"), hit).to_pylist()
        notes.extend(f"{a} {name}" for a in where)
        columns[k] = pc.replace_substring(col, "\x00", "\\x00")
        changed = True
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema) if changed else batch


def _mask(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only used in messages
        return "<unparsable URL>"


def _backfill(conn: Connection, table: sa.Table, added: Collection[str]) -> None:
    """Fill the derived lease columns just added to an older warehouse's rows from the columns
    they derive from (``cltt_at`` from ``cltt``, ...), in the schema transaction, so the new
    columns mean the same in every row. SQLite and PostgreSQL; elsewhere older rows keep null."""
    dialect = conn.dialect.name
    c = table.c
    values: dict[str, Any] = {}
    for name, epoch in (("cltt_at", "cltt"), ("expire_at", "expire")):
        if name in added and epoch in c:
            if dialect == "postgresql":
                values[name] = sa.func.to_timestamp(c[epoch])
            elif dialect == "sqlite":  # the text SQLAlchemy writes and reads for a DateTime
                values[name] = sa.func.datetime(c[epoch], "unixepoch").concat(".000000")
    if "state_name" in added and "state" in c:
        unknown = sa.literal("unknown (").concat(sa.cast(c.state, sa.String)).concat(")")
        values["state_name"] = sa.case(KEA_STATE_NAMES, value=c.state, else_=unknown)
    if "prefix" in added and {"lease_type", "address", "prefix_len"} <= set(c.keys()):
        if dialect == "postgresql":  # the network: cidr refuses host bits, as the export does
            pd_prefix: Any = sa.func.network(sa.func.set_masklen(
                sa.cast(c.address, postgresql.INET), c.prefix_len))
            values["prefix"] = sa.case((c.lease_type == "IA_PD", pd_prefix))
        elif dialect == "sqlite":
            values["prefix"] = sa.case((c.lease_type == "IA_PD", c.address.concat("/").concat(
                sa.cast(c.prefix_len, sa.String))))
    if values:
        conn.execute(table.update().values(values))


def _sqlite_current(conn: Connection) -> list[str]:
    """Make SQLite's ``leases_current`` the view :func:`_sqlite_current_view` defines.

    A warehouse of an earlier version holds it as a table, upserted by every run: that table is
    renamed :data:`SQLITE_OLD_CURRENT` (kept, not dropped: nothing of a user's is deleted; it
    is no longer written and can be dropped) and the view takes its name. A view of another
    definition (lease columns added since) is replaced. Returns what changed, for
    ``added_columns``.
    """
    want = _sqlite_current_view()
    row = conn.exec_driver_sql("SELECT type, sql FROM sqlite_master WHERE name = 'leases_current'"
                               ).first()
    done: list[str] = []
    if row is not None and row[0] == "view" and row[1] == want:
        return done
    if row is not None and row[0] == "view":
        conn.exec_driver_sql("DROP VIEW leases_current")
    elif row is not None:
        conn.exec_driver_sql(f"ALTER TABLE leases_current RENAME TO {SQLITE_OLD_CURRENT}")
        done.append(f"leases_current (now a view of lease_snapshots; the table it was is kept as "
                    f"{SQLITE_OLD_CURRENT})")
    conn.exec_driver_sql(want)
    return done


class Warehouse:
    """A SQL warehouse reached by one SQLAlchemy URL. Thread-safe; one per process is enough."""

    def __init__(self, url: str | Engine) -> None:
        if isinstance(url, Engine):
            self.engine = url
        else:
            from kea_etl.extract.sql import engine_for

            try:
                # postgresql:// works with psycopg2 too (SQLAlchemy 2.1's default is psycopg 3)
                self.engine = engine_for(url, _mask(url), pool_pre_ping=True)
            except FatalError:
                raise
            except Exception as exc:
                raise ConfigError(f"warehouse URL {_mask(url)}: {exc}") from exc
        self.url = self.engine.url.render_as_string(hide_password=True)
        self._sqlite = self.engine.dialect.name == "sqlite"
        if self._sqlite:
            database = self.engine.url.database
            if database and database != ":memory:" and not database.startswith("file:"):
                # lease rows name clients: a new warehouse file is private (SQLite would create
                # it with the umask's mode, 0644 by default)
                with contextlib.suppress(OSError):  # a missing directory: SQLite says it better
                    create_private(database)
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self._lock = threading.Lock() if self._sqlite else None
        self._schema_ready = False
        self._lock_engine: Engine | None = None
        self.added_columns: list[str] = []
        #: called (with server and family) when a run must wait for another export of the same
        #: server and family to finish
        self.on_wait: Callable[[str, int], None] | None = None

    def lock_engine(self) -> Engine:
        """Connections that hold run locks: outside the pool, so a waiting run never starves
        the writers."""
        if self._lock_engine is None:
            self._lock_engine = sa.create_engine(self.engine.url, poolclass=sa.pool.NullPool)
        return self._lock_engine

    def lock(self, name: str) -> _KeyLock:
        return _KeyLock(self, name)

    # -- schema -----------------------------------------------------------------------------
    def ensure_schema(self) -> list[str]:
        """Create missing tables and add missing columns; return ``table.column`` names added."""
        if self._schema_ready:
            return []
        added: list[str] = []
        try:  # a refused password or a missing database is not a schema problem: say which
            self.engine.connect().close()
        except sa.exc.SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            raise ConfigError(f"cannot connect to the warehouse {self.url}: "
                              f"{reason[0] if reason else type(exc).__name__}") from exc
        schema_lock = None
        try:
            # two first-ever exports: one creates the tables, the other then finds them
            schema_lock = self.lock("schema").acquire()
            # SQLite: leases_current is a view of lease_snapshots (see _sqlite_current)
            tables = [t for t in metadata.sorted_tables
                      if not (self._sqlite and t is leases_current)]
            with self._write() as conn:
                metadata.create_all(conn, tables=tables, checkfirst=True)
                insp = sa.inspect(conn)
                for table in tables:
                    columns = insp.get_columns(table.name)
                    have = {c["name"] for c in columns}
                    new: list[str] = []
                    for col in table.columns:
                        if col.name in have:
                            continue
                        ddl = col.type.compile(dialect=self.engine.dialect)
                        conn.execute(sa.text(
                            f'ALTER TABLE {table.name} ADD COLUMN "{col.name}" {ddl}'))
                        added.append(f"{table.name}.{col.name}")
                        new.append(col.name)
                    added.extend(self._retype_addresses(conn, table, columns))
                    _backfill(conn, table, new)
                    # an index this version declares and an older warehouse lacks (added once;
                    # on a large lease_snapshots the first export after an upgrade builds it)
                    indexes = {i["name"] for i in insp.get_indexes(table.name)}
                    for index in table.indexes:
                        if index.name not in indexes:
                            index.create(conn)
                if self._sqlite:
                    added.extend(_sqlite_current(conn))
        except sa.exc.SQLAlchemyError as exc:
            raise ConfigError(f"warehouse {self.url}: cannot create or evolve the schema: "
                              f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}") from exc
        finally:
            if schema_lock is not None:
                schema_lock.release()
        self._schema_ready = True
        self.added_columns = added
        return added

    def _retype_addresses(self, conn: Connection, table: sa.Table,
                          columns: Sequence[Any]) -> list[str]:
        """PostgreSQL: turn the text address columns of an older warehouse into ``inet``.

        Inside the schema transaction, so it is all or nothing: a value that is not an address
        (only a hand edit can put one there) rolls the whole upgrade back with PostgreSQL's
        words, and the export stops before writing anything. The table is rewritten and its
        indexes rebuilt once, holding an exclusive lock (readers wait) for as long as that takes.
        """
        if self.engine.dialect.name != "postgresql":
            return []
        done = []
        for info in columns:
            col = table.c.get(info["name"])
            if col is None or not isinstance(col.type.dialect_impl(self.engine.dialect),
                                             postgresql.INET | postgresql.CIDR):
                continue
            if isinstance(info["type"], postgresql.INET | postgresql.CIDR):
                continue
            kind = col.type.compile(dialect=self.engine.dialect).lower()
            conn.execute(sa.text(f'ALTER TABLE {table.name} ALTER COLUMN "{col.name}" '
                                 f'TYPE {kind} USING "{col.name}"::{kind}'))
            done.append(f"{table.name}.{col.name} (now {kind})")
        return done

    class _WriteCtx:
        def __init__(self, wh: Warehouse) -> None:
            self.wh = wh
            self.conn: Connection | None = None
            self.ctx: Any = None

        def __enter__(self) -> Connection:
            if self.wh._lock is not None:
                self.wh._lock.acquire()
            try:
                self.ctx = self.wh.engine.begin()
                self.conn = self.ctx.__enter__()
            except BaseException:
                if self.wh._lock is not None:
                    self.wh._lock.release()
                raise
            return self.conn

        def __exit__(self, *exc: Any) -> None:
            try:
                self.ctx.__exit__(*exc)
            finally:
                if self.wh._lock is not None:
                    self.wh._lock.release()

    def _write(self) -> Warehouse._WriteCtx:
        return Warehouse._WriteCtx(self)

    # -- runs -------------------------------------------------------------------------------
    def begin_run(self, *, server: str, family: int, exported_at: datetime, kea_version: str,
                  export_date: date | None = None,
                  subnets: Collection[int] | None = None) -> WarehouseRun:
        """Register a run (status ``running``) and return the writer for its rows.

        Waits while another export of the same server and family runs (see the module
        docstring); the run holds that lock until :meth:`WarehouseRun.complete` or
        :meth:`WarehouseRun.fail`.
        """
        self.ensure_schema()
        on_wait = self.on_wait
        lock = self.lock(f"run|{server}|{family}").acquire(
            None if on_wait is None else lambda: on_wait(server, family))
        try:
            run = WarehouseRun(self, run_id=str(uuid.uuid4()), server=server, family=family,
                               exported_at=exported_at, kea_version=kea_version,
                               export_date=export_date or exported_at.date(),
                               subnets=sorted(set(subnets)) if subnets else None,
                               waited=lock.waited, _lock=lock)
            with self._write() as conn:
                conn.execute(export_runs.insert().values(
                    run_id=run.run_id, server=server, family=family, export_date=run.export_date,
                    exported_at=exported_at, kea_version=kea_version, status="running",
                    leases=0, stats=0,
                    subnets=",".join(map(str, run.subnets)) if run.subnets else None))
        except BaseException:
            lock.release()
            raise
        return run

    def _upsert_current(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        dialect = self.engine.dialect.name
        update_cols = [c.name for c in leases_current.columns if c.name not in _CURRENT_KEY]
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert
            pstmt = pg_insert(leases_current)
            pstmt = pstmt.on_conflict_do_update(
                index_elements=list(_CURRENT_KEY),
                set_={c: pstmt.excluded[c] for c in update_cols})
            conn.execute(pstmt, rows)
        elif dialect in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import insert as mysql_insert
            mstmt = mysql_insert(leases_current)
            mstmt = mstmt.on_duplicate_key_update({c: mstmt.inserted[c] for c in update_cols})
            conn.execute(mstmt, rows)
        else:  # portable fallback: delete the keys, then insert
            for row in rows:
                conn.execute(leases_current.delete().where(
                    *[leases_current.c[k] == row[k] for k in _CURRENT_KEY]))
            conn.execute(leases_current.insert(), rows)

    # -- reading (tests, notebook) ------------------------------------------------------------
    def count(self, table: str, **where: Any) -> int:
        t = metadata.tables[table]
        q = sa.select(sa.func.count()).select_from(t)
        for k, v in where.items():
            q = q.where(t.c[k] == v)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def dispose(self) -> None:
        self.engine.dispose()
        if self._lock_engine is not None:
            self._lock_engine.dispose()


@dataclass
class WarehouseRun:
    """The rows of one (server, family) export, written in short transactions (SQLite: see
    :meth:`_transaction`)."""

    warehouse: Warehouse
    run_id: str
    server: str
    family: int
    exported_at: datetime
    kea_version: str
    export_date: date
    subnets: list[int] | None
    leases: int = 0
    stats: int = 0
    #: whether the run waited for another export of the same server and family
    waited: bool = False
    #: "ADDRESS FIELD" of every value stored with its NUL bytes escaped (PostgreSQL)
    escaped: list[str] = field(default_factory=list)
    _lock: _KeyLock | None = None
    #: SQLite: the write transaction kept open over several pages, and the rows it holds
    _open: Warehouse._WriteCtx | None = None
    _open_conn: Connection | None = None
    _open_rows: int = 0
    _open_since: float = 0.0

    def _release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()

    def _stamp(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "server": self.server, "export_date": self.export_date}

    def write_leases(self, batch: pa.RecordBatch) -> None:
        """Append one batch to ``lease_snapshots`` (and upsert it into ``leases_current``,
        except on SQLite, where that is a view)."""
        if batch.num_rows == 0:
            return
        if self.warehouse._sqlite:
            self._write_leases_sqlite(batch)
            return
        if self.warehouse.engine.dialect.name == "postgresql":
            batch = _escape_nul(batch, self.escaped)
        stamp = self._stamp()
        rows = [{**r, **stamp} for r in batch.to_pylist()]
        with self.warehouse._write() as conn:
            conn.execute(lease_snapshots.insert(), rows)
            self.warehouse._upsert_current(conn, rows)
        self.leases += len(rows)

    def _write_leases_sqlite(self, batch: pa.RecordBatch) -> None:
        """The SQLite fast path: multi-row ``INSERT ... VALUES`` with values taken column-wise.

        SQLAlchemy's per-row parameter processing costs more than SQLite's own insert; here the
        values are prepared as SQLAlchemy's SQLite types store them (datetimes as
        ``YYYY-MM-DD HH:MM:SS.ffffff`` UTC, dates as ISO, booleans as 0/1), so the rows read back
        through SQLAlchemy exactly like rows it wrote. Several hundred rows go into one
        statement rather than one ``executemany`` step per row: the sqlite3 module lets go of
        the GIL around every step, and with the page-fetching thread running, taking it back a
        thousand times a page made the writer wait for that thread (measured: the same rows took
        2.5 times as long as without the other thread; one statement per few hundred rows does
        not notice it).
        """
        n = batch.num_rows
        stamp_at = self.exported_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        consts = {"run_id": self.run_id, "server": self.server,
                  "export_date": self.export_date.isoformat(), "exported_at": stamp_at}
        names = _sqlite_lease_names()
        head: list[Any] = []  # values bound once per statement: ?1, ?2 ...
        cols: list[list[Any]] = []  # values bound per row: column1, column2 ... of VALUES
        select: list[str] = []
        for name in names:
            if name in consts:
                head.append(consts[name])
                select.append(f"?{len(head)}")
                continue
            col = batch.column(name)
            if name in _SQLITE_BATCH_CONSTANT and _constant(col):
                head.append(col[0].as_py())
                select.append(f"?{len(head)}")
                continue
            if pa.types.is_boolean(col.type):
                col = col.cast(pa.int8())
            elif pa.types.is_timestamp(col.type):
                # the UTC wall time as text, "YYYY-MM-DD HH:MM:SS.ffffff" for timestamp[us]:
                # Arrow's cast of the zone-less timestamp writes the same text as
                # pc.strftime("%Y-%m-%d %H:%M:%S") at a tenth of its cost (strftime reads the
                # time zone database for every value)
                col = col.cast(pa.timestamp(col.type.unit)).cast(pa.string())
            cols.append(col.to_pylist())
            select.append(f"column{len(cols)}")
        # SQLite numbers each "?" of VALUES one more than the largest number before it, so the
        # rows' values follow the batch's constants in the parameters
        values = list(itertools.chain.from_iterable(zip(*cols, strict=True)))
        width = len(cols)
        per = _sqlite_rows_per_insert(width + len(head))
        one = "(" + ",".join("?" * width) + ")"
        collist = ",".join(f'"{c}"' for c in names)
        insert = f"INSERT INTO lease_snapshots ({collist}) SELECT {','.join(select)} FROM (VALUES "
        conn = self._transaction()
        try:
            for start in range(0, n, per):
                rows = min(per, n - start)
                conn.exec_driver_sql(insert + ",".join([one] * rows) + ")",
                                     (*head, *values[start * width:(start + rows) * width]))
        except BaseException as exc:
            self._end_transaction(exc)
            raise
        self.leases += n
        self._open_rows += n
        if (self._open_rows >= SQLITE_ROWS_PER_COMMIT
                or time.monotonic() - self._open_since >= SQLITE_SECONDS_PER_COMMIT):
            self._end_transaction()

    def _transaction(self) -> Connection:
        """The open SQLite write transaction of this run (begun if there is none).

        Pages of one run share a transaction of up to :data:`SQLITE_ROWS_PER_COMMIT` rows or
        :data:`SQLITE_SECONDS_PER_COMMIT` seconds: a commit per page wrote every index page
        the page touched again, which cost 2 to 10 microseconds a lease (more, the more random
        the hardware addresses), and fewer than 2 with ten pages per commit. The export calls
        :meth:`idle` when Kea is slow to send the next page, so other exports wait for the
        warehouse's write lock about that long at most, never for a stalled server.
        """
        if self._open_conn is None:
            ctx = self.warehouse._write()
            conn = ctx.__enter__()
            try:  # before the first insert: SQLite refuses the change inside a transaction
                conn.exec_driver_sql("PRAGMA synchronous=NORMAL")  # FULL after a completion
            except BaseException as exc:
                ctx.__exit__(type(exc), exc, exc.__traceback__)
                raise
            self._open, self._open_conn = ctx, conn
            self._open_rows, self._open_since = 0, time.monotonic()
        return self._open_conn

    def idle(self) -> None:
        """The export waits for Kea: commit what this run has written (see :meth:`_transaction`)."""
        self._end_transaction()

    def _end_transaction(self, exc: BaseException | None = None) -> None:
        """Commit the open transaction (roll it back when ``exc`` is given)."""
        ctx, self._open, self._open_conn = self._open, None, None
        if ctx is not None:
            if exc is None:
                ctx.__exit__(None, None, None)
            else:
                ctx.__exit__(type(exc), exc, exc.__traceback__)

    def write_stats(self, rows: Sequence[StatRow]) -> None:
        self._end_transaction()
        if not rows:
            return
        stamp = {**self._stamp(), "exported_at": self.exported_at,
                 "kea_version": self.kea_version}
        dicts = [{**r.to_dict(), **stamp} for r in rows]
        if self.warehouse.engine.dialect.name == "postgresql":
            for d in dicts:
                for k, v in d.items():
                    if isinstance(v, str) and "\x00" in v:
                        d[k] = v.replace("\x00", "\\x00")
                        self.escaped.append(f"statistic {d.get('name')!r} {k}")
        with self.warehouse._write() as conn:
            conn.execute(lease_stats.insert(), dicts)
        self.stats += len(rows)

    def _scope(self, table: sa.Table) -> list[sa.ColumnElement[bool]]:
        conds: list[sa.ColumnElement[bool]] = [table.c.server == self.server,
                                               table.c.family == self.family]
        if self.subnets:
            if table is lease_stats:
                conds.append(sa.or_(table.c.subnet_id.in_(self.subnets),
                                    table.c.subnet_id.is_(None)))
            else:
                conds.append(table.c.subnet_id.in_(self.subnets))
        return conds

    def complete(self) -> None:
        """Replace earlier rows of the same (server, export_date, family) and mark the run done."""
        try:
            self._complete()
        finally:
            self._release()

    def _complete(self) -> None:
        self._end_transaction()
        with self.warehouse._write() as conn:
            if self.warehouse._sqlite:
                # The run's pages were committed without waiting for the disk (WAL, NORMAL);
                # the commit that says "complete" waits, and the WAL is written in order, so
                # once a run reads complete every row of it is on disk too.
                conn.exec_driver_sql("PRAGMA synchronous=FULL")
            # the earlier runs' rows, found run by run through ix_lease_snapshots_run: the
            # night's own index (server, export_date, family) would visit this run's rows too,
            # and read each of them from the table to see its run_id
            r = export_runs.c
            earlier = sa.select(r.run_id).where(
                r.server == self.server, r.family == self.family,
                r.export_date == self.export_date, r.run_id != self.run_id)
            scope = [] if not self.subnets else [
                lease_snapshots.c.subnet_id.in_(self.subnets)]
            conn.execute(lease_snapshots.delete().where(
                lease_snapshots.c.run_id.in_(earlier), *scope))
            conn.execute(lease_stats.delete().where(
                *self._scope(lease_stats), lease_stats.c.export_date == self.export_date,
                lease_stats.c.run_id != self.run_id))
            if not self.warehouse._sqlite:  # SQLite's leases_current is a view
                conn.execute(leases_current.delete().where(
                    *self._scope(leases_current), leases_current.c.run_id != self.run_id))
            # an unfiltered run supersedes every earlier run of the night; a filtered one only
            # the runs with the same filter (the others still own their other subnets' rows)
            same = [export_runs.c.server == self.server, export_runs.c.family == self.family,
                    export_runs.c.export_date == self.export_date,
                    export_runs.c.status == "complete", export_runs.c.run_id != self.run_id]
            if self.subnets:
                same.append(export_runs.c.subnets == ",".join(map(str, self.subnets)))
            conn.execute(export_runs.update().where(*same).values(status="superseded"))
            conn.execute(export_runs.update().where(export_runs.c.run_id == self.run_id)
                         .values(status="complete", leases=self.leases, stats=self.stats))

    def fail(self, error: str) -> None:
        """Delete this run's snapshot and stats rows and record why it failed."""
        try:
            self._fail(error)
        finally:
            self._release()

    def _fail(self, error: str) -> None:
        self._end_transaction(RuntimeError(error))  # rolled back: the run's rows go anyway
        with self.warehouse._write() as conn:
            for table in (lease_snapshots, lease_stats):
                conn.execute(table.delete().where(table.c.run_id == self.run_id))
            conn.execute(export_runs.update().where(export_runs.c.run_id == self.run_id)
                         .values(status="failed", leases=0, stats=0, error=error[:2000]))
