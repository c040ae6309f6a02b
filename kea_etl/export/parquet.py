"""Parquet and CSV files, partitioned Hive-style by export date and server.

Layout (readable as-is by ``pyarrow.dataset(..., partitioning="hive")``, Spark, Trino, DuckDB)::

    ROOT/leases/export_date=2026-11-27/server=<server>/leases-v4.parquet
    ROOT/stats/export_date=2026-11-27/server=<server>/stats-v4.parquet

(``.csv`` instead of ``.parquet`` for CSV.) The server label is percent-encoded in the directory
name (``unix%3A%2F%2F%2Frun%2Fkea%2Fkea4.sock``), which pyarrow decodes back
(``segment_encoding="uri"``, its default). ``export_date`` and ``server`` live only in the path,
as partition columns; the files hold the other columns.

Each file is streamed (row groups of about 32k rows, bounded memory) into a hidden temporary file in
the partition directory (names starting with ``.`` are ignored by dataset readers) and renamed
over the final name when complete, so a reader never sees half a file and re-running the same
night replaces that night's file instead of adding another.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from datetime import date
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from kea_etl._files import publish
from kea_etl.spreadsheet import FORMULA_REGEX

__all__ = ["PartitionedFileSink", "partition_dir"]

Format = Literal["parquet", "csv"]


def partition_dir(root: str | Path, dataset: str, export_date: date, server: str) -> Path:
    """``ROOT/<dataset>/export_date=YYYY-MM-DD/server=<percent-encoded server>``."""
    return (Path(root) / dataset / f"export_date={export_date.isoformat()}"
            / f"server={quote(server, safe='')}")


class PartitionedFileSink:
    """One Parquet or CSV file in its partition, written through a temporary file."""

    def __init__(self, root: str | Path, *, dataset: str, name: str, export_date: date,
                 server: str, schema: pa.Schema, fmt: Format = "parquet",
                 compression: str = "snappy", row_group_rows: int = 32768) -> None:
        self.fmt = fmt
        self.schema = schema
        self.directory = partition_dir(root, dataset, export_date, server)
        self.path = self.directory / f"{name}.{fmt}"
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.directory)
        os.close(fd)
        self._tmp = Path(tmp)
        self.rows = 0
        self._writer: Any
        if fmt == "parquet":
            self._writer = pq.ParquetWriter(str(self._tmp), schema, compression=compression)
        else:
            self._writer = pacsv.CSVWriter(str(self._tmp), schema)
        self._closed = False
        # Kea pages are small (1000 leases); a row group per page would make a slow file with a
        # huge footer, so batches are gathered into row groups of about ``row_group_rows``.
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self.row_group_rows = row_group_rows

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        self.rows += batch.num_rows
        if self.fmt != "parquet":
            self._writer.write(_defuse_formulas(batch))
            return
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        if self._pending_rows >= self.row_group_rows:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._writer.write_table(pa.Table.from_batches(self._pending, schema=self.schema),
                                     row_group_size=max(self._pending_rows, 1))
            self._pending = []
            self._pending_rows = 0

    def commit(self) -> Path:
        """Close the temporary file, fsync it and rename it over the final name."""
        if self.fmt == "parquet":
            self._flush()
        self._writer.close()
        self._closed = True
        # private: it names clients; mode narrowed by the umask (kea_etl._files)
        return publish(self._tmp, self.path)

    def abort(self) -> None:
        """Drop the temporary file; an earlier complete file of the same night stays."""
        if not self._closed:
            with contextlib.suppress(Exception):  # the file is being thrown away anyway
                self._writer.close()
            self._closed = True
        self._tmp.unlink(missing_ok=True)


# CSV files get opened in spreadsheets: kea_etl.spreadsheet's rule, vectorised. Parquet keeps
# values as they are.
def _defuse_formulas(batch: pa.RecordBatch) -> pa.RecordBatch:
    cols = []
    changed = False
    for col, field in zip(batch.columns, batch.schema, strict=True):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            mask = pc.fill_null(pc.match_substring_regex(col, FORMULA_REGEX), False)
            if pc.any(mask).as_py():
                col = pc.if_else(mask, pc.binary_join_element_wise("'", col, ""), col)
                changed = True
        cols.append(col)
    return pa.RecordBatch.from_arrays(cols, schema=batch.schema) if changed else batch
