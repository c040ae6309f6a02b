"""The SQL warehouse writer (any SQLAlchemy URL; SQLite and PostgreSQL tested).

Tables (created on first use, evolved additively: a column this version knows and the database
lacks is added with ``ALTER TABLE ... ADD COLUMN``; nothing is ever dropped or retyped):

``export_runs``
    one row per (server, family) export: ``run_id``, ``server``, ``family``, ``export_date``,
    ``exported_at``, ``kea_version``, ``status`` (running / complete / failed / superseded),
    ``leases``, ``stats``, ``subnets`` (the filter, if any), ``error``.
``lease_snapshots``
    history: every lease of every complete run (the :data:`~kea_etl.export.kea_api.LEASE_SCHEMA`
    columns plus ``run_id``, ``server``, ``export_date``).
``leases_current``
    one row per (server, family, lease_type, address): upserted by every run; leases the run no
    longer saw are deleted when it completes.
``lease_stats``
    tidy statistics (:mod:`kea_etl.export.stats`) of every complete run.

Idempotency key: **(server, export_date, family)**, narrowed to the run's subnets when it was
filtered. ``export_date`` is the UTC date of ``exported_at`` unless the caller sets it. Rows are
written in short transactions stamped with the run's ``run_id`` (so several servers can stream
concurrently and memory stays bounded); when a run completes, one transaction deletes the rows
earlier runs wrote for the same key and marks those runs ``superseded``. Re-running the same
night therefore replaces that night's snapshot: no duplicates. While a run streams, its rows sit
next to the previous run's; readers who must never see that window join on
``export_runs.status = 'complete'``. A failed run deletes its own snapshot rows.
SQLite has one writer at a time: writes are serialised by a lock in this process, the database
is switched to WAL (readers such as the notebook do not block the nightly writer) with a 30 s
busy timeout, and lease rows go through a DB-API fast path (SQLAlchemy's per-row parameter
processing cost more than SQLite's inserts). Other databases use SQLAlchemy Core with native
upserts (PostgreSQL / SQLite ``ON CONFLICT``, MySQL ``ON DUPLICATE KEY``).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from kea_etl.errors import ConfigError, FatalError
from kea_etl.export.stats import StatRow

__all__ = ["Warehouse", "WarehouseRun", "metadata"]

metadata = sa.MetaData()


def _lease_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("exported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kea_version", sa.String(32)),
        sa.Column("lease_type", sa.String(8), nullable=False),
        sa.Column("prefix_len", sa.SmallInteger),
        sa.Column("subnet_id", sa.BigInteger),
        sa.Column("hwaddr", sa.String(64)),
        sa.Column("client_id", sa.String(800)),
        sa.Column("duid", sa.String(400)),
        sa.Column("iaid", sa.BigInteger),
        sa.Column("valid_lft", sa.BigInteger),
        sa.Column("preferred_lft", sa.BigInteger),
        sa.Column("cltt", sa.BigInteger),
        sa.Column("expire", sa.BigInteger),
        sa.Column("state", sa.SmallInteger),
        sa.Column("hostname", sa.Text),
        sa.Column("fqdn_fwd", sa.Boolean),
        sa.Column("fqdn_rev", sa.Boolean),
        sa.Column("user_context", sa.Text),
    ]


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
    sa.Column("family", sa.SmallInteger, nullable=False),
    sa.Column("address", sa.String(45), nullable=False),
    *_lease_columns(),
    sa.Index("ix_lease_snapshots_key", "server", "export_date", "family"),
    sa.Index("ix_lease_snapshots_run", "run_id"),
)

leases_current = sa.Table(
    "leases_current", metadata,
    sa.Column("server", sa.String(255), primary_key=True),
    sa.Column("family", sa.SmallInteger, primary_key=True),
    sa.Column("address", sa.String(45), primary_key=True),
    *[c if c.name != "lease_type" else sa.Column("lease_type", sa.String(8), primary_key=True)
      for c in _lease_columns()],
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


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL: readers (the notebook) do not block the nightly writer; NORMAL is crash-safe in WAL.
    # A 30 s busy timeout lets another process's export finish its short transaction.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _mask(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only used in messages
        return "<unparsable URL>"


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
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self._lock = threading.Lock() if self._sqlite else None
        self._schema_ready = False
        self.added_columns: list[str] = []

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
        try:
            with self._write() as conn:
                metadata.create_all(conn, checkfirst=True)
                insp = sa.inspect(conn)
                for table in metadata.sorted_tables:
                    have = {c["name"] for c in insp.get_columns(table.name)}
                    for col in table.columns:
                        if col.name in have:
                            continue
                        ddl = col.type.compile(dialect=self.engine.dialect)
                        conn.execute(sa.text(
                            f'ALTER TABLE {table.name} ADD COLUMN "{col.name}" {ddl}'))
                        added.append(f"{table.name}.{col.name}")
        except sa.exc.SQLAlchemyError as exc:
            raise ConfigError(f"warehouse {self.url}: cannot create or evolve the schema: "
                              f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}") from exc
        self._schema_ready = True
        self.added_columns = added
        return added

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
        """Register a run (status ``running``) and return the writer for its rows."""
        self.ensure_schema()
        run = WarehouseRun(self, run_id=str(uuid.uuid4()), server=server, family=family,
                           exported_at=exported_at, kea_version=kea_version,
                           export_date=export_date or exported_at.date(),
                           subnets=sorted(set(subnets)) if subnets else None)
        with self._write() as conn:
            conn.execute(export_runs.insert().values(
                run_id=run.run_id, server=server, family=family, export_date=run.export_date,
                exported_at=exported_at, kea_version=kea_version, status="running",
                leases=0, stats=0,
                subnets=",".join(map(str, run.subnets)) if run.subnets else None))
        return run

    def _upsert_current(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        dialect = self.engine.dialect.name
        update_cols = [c.name for c in leases_current.columns if c.name not in _CURRENT_KEY]
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert
            sstmt = sqlite_insert(leases_current)
            sstmt = sstmt.on_conflict_do_update(
                index_elements=list(_CURRENT_KEY),
                set_={c: sstmt.excluded[c] for c in update_cols})
            conn.execute(sstmt, rows)
        elif dialect == "postgresql":
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


@dataclass
class WarehouseRun:
    """The rows of one (server, family) export, written in short transactions."""

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

    def _stamp(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "server": self.server, "export_date": self.export_date}

    def write_leases(self, batch: pa.RecordBatch) -> None:
        """Append one batch to ``lease_snapshots`` and upsert it into ``leases_current``."""
        if batch.num_rows == 0:
            return
        if self.warehouse._sqlite:
            self._write_leases_sqlite(batch)
            return
        stamp = self._stamp()
        rows = [{**r, **stamp} for r in batch.to_pylist()]
        with self.warehouse._write() as conn:
            conn.execute(lease_snapshots.insert(), rows)
            self.warehouse._upsert_current(conn, rows)
        self.leases += len(rows)

    def _write_leases_sqlite(self, batch: pa.RecordBatch) -> None:
        """The SQLite fast path: plain DB-API executemany with tuples built column-wise.

        SQLAlchemy's per-row parameter processing costs more than SQLite's own insert; here the
        values are prepared as SQLAlchemy's SQLite types store them (datetimes as
        ``YYYY-MM-DD HH:MM:SS.ffffff`` UTC, dates as ISO, booleans as 0/1), so the rows read back
        through SQLAlchemy exactly like rows it wrote.
        """
        n = batch.num_rows
        stamp_at = self.exported_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        consts = {"run_id": self.run_id, "server": self.server,
                  "export_date": self.export_date.isoformat(), "exported_at": stamp_at}
        names = _sqlite_lease_names()
        cols: list[list[Any]] = []
        for name in names:
            if name in consts:
                cols.append([consts[name]] * n)
            else:
                col = batch.column(name)
                if pa.types.is_boolean(col.type):
                    col = col.cast(pa.int8())
                cols.append(col.to_pylist())
        rows = list(zip(*cols, strict=True))
        marks = ",".join("?" * len(names))
        collist = ",".join(f'"{c}"' for c in names)
        keys = ",".join(_CURRENT_KEY)
        updates = ",".join(f'"{c}"=excluded."{c}"' for c in names if c not in _CURRENT_KEY)
        with self.warehouse._write() as conn:
            conn.exec_driver_sql(f"INSERT INTO lease_snapshots ({collist}) VALUES ({marks})", rows)
            conn.exec_driver_sql(f"INSERT INTO leases_current ({collist}) VALUES ({marks}) "
                                 f"ON CONFLICT ({keys}) DO UPDATE SET {updates}", rows)
        self.leases += n

    def write_stats(self, rows: Sequence[StatRow]) -> None:
        if not rows:
            return
        stamp = {**self._stamp(), "exported_at": self.exported_at,
                 "kea_version": self.kea_version}
        with self.warehouse._write() as conn:
            conn.execute(lease_stats.insert(), [{**r.to_dict(), **stamp} for r in rows])
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
        with self.warehouse._write() as conn:
            for table in (lease_snapshots, lease_stats):
                conn.execute(table.delete().where(
                    *self._scope(table), table.c.export_date == self.export_date,
                    table.c.run_id != self.run_id))
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
        with self.warehouse._write() as conn:
            for table in (lease_snapshots, lease_stats):
                conn.execute(table.delete().where(table.c.run_id == self.run_id))
            conn.execute(export_runs.update().where(export_runs.c.run_id == self.run_id)
                         .values(status="failed", leases=0, stats=0, error=error[:2000]))
