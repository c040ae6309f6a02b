"""Delta Lake tables of the export (``--delta DIR``): the hand-off to Spark, Trino and DuckDB.

Two tables under ``DIR``, with the lease columns of :mod:`kea_etl.export.schema` (the same as the
Parquet files and the warehouse) plus ``server`` and ``export_date``:

``DIR/lease_snapshots``
    history, partitioned by ``export_date`` and ``server``: every lease of every complete run.
    A run replaces its own (export_date, server, family) slice in one commit (a Delta overwrite
    with a predicate), so re-running a night replaces that night's rows and never adds a second
    copy; another server's slice, or another night's, is untouched.
``DIR/leases_current``
    one row per (server, family, lease_type, address), partitioned by ``server``, kept by one
    ``MERGE`` per run: what the server holds is updated or inserted, what it no longer holds is
    deleted (``WHEN NOT MATCHED BY SOURCE`` restricted to that server and family, and to the run's
    subnets when it was filtered), in the same commit. ``lease_type`` is part of the key as in the
    warehouse: Kea keys a v6 lease by (address, type).

Why Delta rather than Iceberg: a Delta table is a directory (Parquet files plus a ``_delta_log``
of JSON commits), so the nightly job needs no catalog service; ``deltalake`` (delta-rs) does
MERGE, overwrite-by-predicate and optimistic concurrency in-process on a local or object-store
path. Iceberg's ``pyiceberg`` needs a catalog (a SQL catalog in PostgreSQL would do) for every
reader and writer, and its MERGE/upsert support is newer. Spark (delta-spark), Trino (its Delta
Lake connector) and DuckDB (``delta_scan``) read the directory as it is.

How a run writes: its leases stream into a hidden staging Parquet file next to the tables
(``DIR/.staging``; memory stays at one batch), and :meth:`DeltaRun.commit` then makes the two
commits: the snapshot slice first, then the MERGE. Two exports into the same tables at once do not
lose each other's work: commits in this process are taken one at a time per table (a lock, so the
fifty threads of one fleet export do not fight), and between processes Delta's optimistic
concurrency decides: delta-rs rebases a commit that does not conflict (another server's partition)
and raises ``CommitFailedError`` for one that does, which this module retries on a freshly loaded
table (``retries`` times, with a short random back-off). A run that fails leaves both tables as they
were.
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from kea_etl.errors import ConfigError
from kea_etl.export.schema import LEASE_FIELDS

__all__ = ["CURRENT_SCHEMA", "SNAPSHOT_SCHEMA", "DeltaRun", "delta_tables", "sql_literal"]

SNAPSHOTS = "lease_snapshots"
CURRENT = "leases_current"

_LEASES = [pa.field(f.name, f.arrow) for f in LEASE_FIELDS]
#: ``lease_snapshots``: the partition columns, then the lease columns of schema.py
SNAPSHOT_SCHEMA = pa.schema([pa.field("export_date", pa.date32()),
                             pa.field("server", pa.string()), *_LEASES])
#: ``leases_current``: the server, the lease columns, the night that last saw the lease
CURRENT_SCHEMA = pa.schema([pa.field("server", pa.string()), *_LEASES,
                            pa.field("export_date", pa.date32())])
KEY = ("server", "family", "lease_type", "address")

_T = TypeVar("_T")
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _deltalake() -> Any:
    try:
        import deltalake
    except ImportError:  # pragma: no cover - depends on the installation
        raise ConfigError("--delta needs the deltalake package: pip install 'kea-etl[delta]'"
                          ) from None
    return deltalake


def delta_tables(root: str | Path) -> dict[str, Path]:
    """The paths of the two tables under ``root``."""
    return {SNAPSHOTS: Path(root) / SNAPSHOTS, CURRENT: Path(root) / CURRENT}


def sql_literal(value: str) -> str:
    """``value`` as a SQL string literal for a delta-rs predicate (quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def _table_lock(path: Path) -> threading.Lock:
    key = str(path.resolve())
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


@dataclass
class CommitStats:
    """What the two commits of one run did (delta-rs's MERGE metrics, the retries)."""

    snapshot_version: int | None = None
    current_version: int | None = None
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    retries: int = 0


class DeltaRun:
    """One (server, family) run's writes to the Delta tables under ``root``.

    ``write(batch)`` for each page of leases (:data:`~kea_etl.export.schema.LEASE_SCHEMA`),
    then ``commit()``, or ``abort()`` on failure.
    """

    def __init__(self, root: str | Path, *, server: str, family: int, export_date: date,
                 subnets: Collection[int] | None = None, retries: int = 20,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._dl = _deltalake()
        self.root = Path(root)
        self.tables = delta_tables(self.root)
        self.server = server
        self.family = family
        self.export_date = export_date
        self.subnets = sorted(set(subnets)) if subnets is not None else None
        self.retries = retries
        self._sleep = sleep
        self.rows = 0
        staging = self.root / ".staging"
        staging.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f"{family}-", suffix=".parquet", dir=staging)
        os.close(fd)
        self._staged = Path(tmp)
        self._writer: pq.ParquetWriter | None = pq.ParquetWriter(
            str(self._staged), SNAPSHOT_SCHEMA.remove_metadata())
        self.stats = CommitStats()

    # ---- streaming -----------------------------------------------------------------------
    def write(self, batch: pa.RecordBatch) -> None:
        """Stage one page of leases (nothing is visible in the tables before :meth:`commit`)."""
        if batch.num_rows == 0 or self._writer is None:
            return
        n = batch.num_rows
        columns = [pa.array([self.export_date] * n, pa.date32()),
                   pa.array([self.server] * n, pa.string()),
                   *(batch.column(f.name).cast(f.type) for f in _LEASES)]
        self._writer.write_batch(pa.RecordBatch.from_arrays(columns,
                                                            schema=SNAPSHOT_SCHEMA.remove_metadata()))
        self.rows += n

    def _batches(self, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        reader = pq.ParquetFile(self._staged)
        try:
            for batch in reader.iter_batches(batch_size=65536):
                yield pa.RecordBatch.from_arrays([batch.column(f.name) for f in schema],
                                                 schema=schema)
        finally:
            reader.close()

    def _reader(self, schema: pa.Schema) -> pa.RecordBatchReader:
        """The staged leases as a stream in ``schema``'s column order (re-readable per attempt)."""
        return pa.RecordBatchReader.from_batches(schema, self._batches(schema))

    # ---- predicates ------------------------------------------------------------------------
    def _slice(self, alias: str = "") -> str:
        """This run's rows: its server and family (and subnets when filtered)."""
        p = f"{alias}." if alias else ""
        out = f"{p}server = {sql_literal(self.server)} AND {p}family = {self.family}"
        if self.subnets is not None:
            out += f" AND {p}subnet_id IN ({', '.join(str(s) for s in self.subnets)})"
        return out

    # ---- commit ----------------------------------------------------------------------------
    def commit(self) -> CommitStats:
        """Replace this run's snapshot slice, then MERGE ``leases_current``; each retried on a
        conflicting concurrent commit. Raises the last error when the retries are used up."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        try:
            self._with_retries(self.tables[SNAPSHOTS], self._write_snapshot)
            self._with_retries(self.tables[CURRENT], self._merge_current)
        finally:
            self._staged.unlink(missing_ok=True)
        return self.stats

    def abort(self) -> None:
        """Drop the staged leases; the tables stay as they were."""
        if self._writer is not None:
            with contextlib.suppress(Exception):  # being thrown away anyway
                self._writer.close()
            self._writer = None
        self._staged.unlink(missing_ok=True)

    def _properties(self, operation: str) -> Any:
        return self._dl.CommitProperties(custom_metadata={
            "kea-etl.operation": operation, "kea-etl.server": self.server,
            "kea-etl.family": str(self.family),
            "kea-etl.export_date": self.export_date.isoformat()})

    def _write_snapshot(self, path: Path) -> None:
        predicate = (f"export_date = '{self.export_date.isoformat()}' AND "
                     + self._slice())
        self._dl.write_deltalake(
            str(path), self._reader(SNAPSHOT_SCHEMA.remove_metadata()), mode="overwrite",
            predicate=predicate, partition_by=["export_date", "server"], schema_mode="merge",
            commit_properties=self._properties("snapshot"))
        self.stats.snapshot_version = self._dl.DeltaTable(str(path)).version()

    def _merge_current(self, path: Path) -> None:
        dl = self._dl
        schema = CURRENT_SCHEMA.remove_metadata()
        # mode="ignore": the first export creates it, a concurrent first export finds it made
        table = dl.DeltaTable.create(str(path), schema, mode="ignore", partition_by=["server"])
        on = " AND ".join(f"t.{k} = s.{k}" for k in KEY)
        # the literal lets delta-rs prune the other servers' partitions
        predicate = f"t.server = {sql_literal(self.server)} AND {on}"
        metrics = (table.merge(self._reader(schema), predicate, source_alias="s",
                               target_alias="t", merge_schema=True,
                               commit_properties=self._properties("current"))
                   .when_matched_update_all()
                   .when_not_matched_insert_all()
                   .when_not_matched_by_source_delete(self._slice("t"))
                   .execute())
        self.stats.inserted = int(metrics.get("num_target_rows_inserted", 0))
        self.stats.updated = int(metrics.get("num_target_rows_updated", 0))
        self.stats.deleted = int(metrics.get("num_target_rows_deleted", 0))
        self.stats.current_version = table.version()

    def _with_retries(self, path: Path, operation: Callable[[Path], _T]) -> _T:
        failed = self._dl.exceptions.CommitFailedError
        attempt = 0
        while True:
            try:
                with _table_lock(path):
                    return operation(path)
            except (failed, self._dl.exceptions.DeltaError) as exc:
                if attempt >= self.retries or not _is_conflict(exc, failed):
                    raise
                attempt += 1
                self.stats.retries += 1
                self._sleep(random.uniform(0.05, 0.2) * min(attempt, 5))


def _is_conflict(exc: BaseException, failed: type[BaseException]) -> bool:
    """A commit that lost a race with another writer (retry it), not a real error."""
    if isinstance(exc, failed):
        return True
    text = str(exc).lower()
    # a concurrent first commit: both writers tried to create version 0 of the table
    return any(w in text for w in ("conflict", "concurrent", "version already exists",
                                   "already exists"))
