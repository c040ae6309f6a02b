"""Leases as sorted columns: reconciliation's external sort and its merge join.

Both sides of a reconciliation become Arrow record batches with one column per compared field
(:data:`COLUMNS`), never one Python object per lease. A :class:`SortedSpool` keeps the batches
it is given; past a memory budget it sorts them by key (arrival order among equal keys) and
writes them to disk as one Arrow IPC *run*. :meth:`SortedSpool.chunks` then merges the runs
into one key-ordered stream of chunks, each holding every row of the keys it holds, so a chunk
can be de-duplicated (the last row of a key wins, as in Kea's memfile and as a replaced row
did) without looking at the next one. RAM stays near the budget whatever the lease count.

:func:`join` walks two such streams together and gives, window by window, the rows present
on one side only and the pairs of rows present on both, in key order.

Keys are the lease's address (for a delegated prefix, the prefix address) as a number: the
IPv4 address itself, or the 16 address bytes of an IPv6 one (sorted as bytes, big-endian).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from ipaddress import IPv6Address
from pathlib import Path
from socket import inet_ntoa
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

__all__ = ["COLUMNS", "SortedSpool", "dedupe_last", "join", "key_text", "schema"]

#: the compared row: the key, the fields compared, and where a source row came from (the key's
#: text, :func:`key_text`, is made only for the rows a report shows)
COLUMNS = ("k", "lease_type", "prefix_len", "subnet_id", "hwaddr", "client_id", "duid",
           "iaid", "valid_lft", "cltt", "state", "hostname", "line", "origin")
#: default memory budget of one spool before it writes a sorted run to disk. A reconciliation
#: holds up to three spools at once (source, Kea's files or pages, the comparison's Kea side);
#: 128 MiB keeps `reconcile --against` at 10M leases near 600 MB peak RSS (256 MiB: 890 MB) and
#: a 300,000-lease comparison in RAM
BUDGET = 128 * 2**20
#: rows read from one run at a time while merging runs
_RUN_BATCH = 65536


def key_type(family: int) -> pa.DataType:
    return pa.uint64() if family == 4 else pa.binary(16)


def schema(family: int, extra: Sequence[pa.Field] = ()) -> pa.Schema:
    """The spool's columns (:data:`COLUMNS`, then ``extra``, then the arrival order ``seq``)."""
    s, i = pa.string(), pa.int64()
    return pa.schema([("k", key_type(family)), ("lease_type", s), ("prefix_len", i),
                      ("subnet_id", i), ("hwaddr", s), ("client_id", s), ("duid", s),
                      ("iaid", i), ("valid_lft", i), ("cltt", i), ("state", i), ("hostname", s),
                      ("line", i), ("origin", s), *extra, ("seq", i)])


def packed_keys(packed: Sequence[bytes], family: int) -> pa.Array:
    """Keys from packed addresses (4 or 16 bytes each, big-endian)."""
    raw = b"".join(packed)
    if family == 4:
        return pa.array(np.frombuffer(raw, dtype=">u4").astype(np.uint64), type=pa.uint64())
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(packed),
                                                [None, pa.py_buffer(raw)])


def key_text(k: int | bytes, lease_type: str, prefix_len: int) -> str:
    """A key's text, as the record's ``key``: the address, ``prefix/len`` for a prefix."""
    if isinstance(k, int):
        return inet_ntoa(k.to_bytes(4, "big"))
    text = str(IPv6Address(k))
    return f"{text}/{prefix_len}" if lease_type == "IA_PD" else text


def _keys(table: pa.Table | pa.RecordBatch) -> np.ndarray[Any, Any]:
    """The key column as a sortable numpy array (uint64, or 16-byte strings)."""
    col = table.column(0)
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_uint64(col.type):
        out: np.ndarray[Any, Any] = col.to_numpy(zero_copy_only=False)
        return out
    buf = col.buffers()[1]
    assert buf is not None
    return np.frombuffer(buf, dtype="S16", count=len(col) + col.offset)[col.offset:]


def _order(table: pa.Table) -> np.ndarray[Any, Any] | None:
    """The row order by (key, seq); None when the rows are in it already."""
    keys = _keys(table)
    seq = table.column("seq").to_numpy()
    if len(keys) < 2:
        return None
    if keys.dtype == np.uint64 and seq.max() < 2**32 and keys.max() < 2**32:
        combined = (keys << np.uint64(32)) | seq.astype(np.uint64)  # one sort, not two
        if (combined[1:] >= combined[:-1]).all():
            return None
        return np.argsort(combined, kind="stable")
    return np.lexsort((seq, keys))


def _sort(table: pa.Table) -> pa.Table:
    order = _order(table)
    return table if order is None else table.take(pa.array(order))


class SortedSpool:
    """Batches in, key-ordered chunks out; spills sorted runs to ``workdir`` past ``budget``
    bytes. Use as a context manager (the runs are temporary files)."""

    def __init__(self, family: int, *, workdir: str | Path | None = None,
                 budget: int = BUDGET, extra: Sequence[pa.Field] = ()) -> None:
        self.family = family
        self.schema = schema(family, extra)
        self.budget = budget
        self._workdir = workdir
        self._dir: Path | None = None
        self._buffer: list[pa.RecordBatch] = []
        self._buffered = 0
        self._runs: list[Path] = []
        self._sorted: pa.Table | None = None
        self.rows = 0

    # ---- in --------------------------------------------------------------------------------
    def add_columns(self, columns: Mapping[str, Any], n: int, *,
                    seq: Sequence[int] | None = None) -> None:
        """``n`` rows given as ``{column: values}`` (:meth:`arrays`); ``seq``: their order,
        else their arrival."""
        if not n:
            return
        arrays = self.arrays(columns, n)
        arrays["seq"] = pa.array(np.arange(self.rows, self.rows + n, dtype=np.int64)
                                 if seq is None else seq, type=pa.int64())
        self.add(pa.RecordBatch.from_arrays([arrays[f.name] for f in self.schema],
                                            schema=self.schema))

    def arrays(self, columns: Mapping[str, Any], n: int) -> dict[str, pa.Array]:
        """Columns as the spool's Arrow types: a missing or None column is null, ``k`` may be
        packed address bytes or numbers."""
        out: dict[str, pa.Array] = {}
        for f in self.schema:
            if f.name == "seq":
                continue
            values = columns.get(f.name)
            if values is None:
                out[f.name] = pa.nulls(n, f.type)
            elif isinstance(values, pa.Array):
                out[f.name] = values
            elif f.name == "k" and isinstance(values, list):
                out[f.name] = packed_keys(values, self.family)
            else:
                out[f.name] = pa.array(values, type=f.type)
        return out

    def add(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        self._sorted = None
        self._buffer.append(batch)
        self._buffered += batch.nbytes
        self.rows += batch.num_rows
        if self._buffered > self.budget:
            self._spill()

    def _spill(self) -> None:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="kea-etl-runs-", dir=self._workdir))
        table = pa.Table.from_batches(self._buffer, schema=self.schema)
        order = _order(table)
        path = self._dir / f"run{len(self._runs)}.arrow"
        with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, self.schema) as writer:
            if order is None:
                writer.write_table(table, max_chunksize=_RUN_BATCH)
            else:  # sorted a batch at a time: no sorted copy of the whole budget beside it
                for at in range(0, len(order), _RUN_BATCH):
                    writer.write_table(table.take(pa.array(order[at:at + _RUN_BATCH])))
        self._runs.append(path)
        self._buffer, self._buffered = [], 0

    # ---- out -------------------------------------------------------------------------------
    @property
    def spilled(self) -> bool:
        """True when the rows went to disk (past the budget), False when they are in RAM."""
        return bool(self._runs)

    def chunks(self) -> Iterator[pa.Table]:
        """Every row in (key, arrival) order, in chunks that each hold every row of their keys.
        May be called again (a second pass over the same rows)."""
        if not self._runs:
            if self._sorted is None:
                self._sorted = _sort(pa.Table.from_batches(self._buffer, schema=self.schema))
                self._buffer = [b for b in self._sorted.to_batches()]
            if self._sorted.num_rows:
                yield self._sorted
            return
        if self._buffer:
            self._spill()
        yield from _merge_runs(self._runs, self.schema)

    def close(self) -> None:
        self._buffer, self._sorted = [], None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        self._runs = []

    def __enter__(self) -> SortedSpool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _Run:
    """One sorted run on disk, read a batch at a time."""

    def __init__(self, path: Path) -> None:
        # read, not memory-mapped: a mapped run's pages stay in the process (RSS) until the
        # merge ends, the whole spill at 10M leases; read batches are freed as they are used
        self.file = pa.OSFile(str(path), "rb")
        self.reader = ipc.open_file(self.file)
        self.next_batch = 0
        self.table: pa.Table | None = None
        self.keys: np.ndarray[Any, Any] = np.zeros(0)

    @property
    def exhausted(self) -> bool:
        return bool(self.next_batch >= self.reader.num_record_batches)

    def load(self) -> bool:
        """Append the run's next batch to what is held; False when there is none."""
        if self.exhausted:
            return False
        batch = pa.Table.from_batches([self.reader.get_batch(self.next_batch)])
        self.next_batch += 1
        self.table = batch if self.table is None else pa.concat_tables([self.table, batch])
        self.keys = _keys(self.table)
        return True

    def take_below(self, bound: Any | None) -> pa.Table | None:
        """The held rows with a key below ``bound`` (all of them for None), removed."""
        if self.table is None:
            return None
        n = len(self.keys) if bound is None else int(np.searchsorted(self.keys, bound, "left"))
        if not n:
            return None
        out = self.table.slice(0, n)
        self.table = self.table.slice(n)
        self.keys = self.keys[n:]
        return out


def _merge_runs(paths: Sequence[Path], sch: pa.Schema) -> Iterator[pa.Table]:
    runs = [_Run(p) for p in paths]
    try:
        yield from _merged(runs)
    finally:
        for r in runs:
            r.file.close()


def _merged(runs: list[_Run]) -> Iterator[pa.Table]:
    while True:
        for r in runs:
            if not len(r.keys):
                r.load()
        live = [r for r in runs if len(r.keys)]
        if not live:
            return
        # a run with more to read bounds the chunk: rows of its last held key may go on
        limits = [r.keys[-1] for r in live if not r.exhausted]
        bound = min(limits) if limits else None
        parts = [t for r in live if (t := r.take_below(bound)) is not None]
        if not parts:  # every held row has the bounding key: read further
            for r in live:
                if not r.exhausted and r.keys[-1] == bound:
                    r.load()
            continue
        yield _sort(pa.concat_tables(parts))


def dedupe_last(table: pa.Table) -> tuple[pa.Table, np.ndarray[Any, Any]]:
    """The last row of each key of a sorted, group-complete chunk; and its keys."""
    keys = _keys(table)
    if len(keys) < 2:
        return table, keys
    last = np.empty(len(keys), dtype=bool)
    np.not_equal(keys[1:], keys[:-1], out=last[:-1])
    last[-1] = True
    if last.all():
        return table, keys
    return table.filter(pa.array(last)), keys[last]


def _take_upto(table: pa.Table, keys: np.ndarray[Any, Any], bound: Any | None
               ) -> tuple[pa.Table, np.ndarray[Any, Any], pa.Table, np.ndarray[Any, Any]]:
    n = len(keys) if bound is None else int(np.searchsorted(keys, bound, "right"))
    return table.slice(0, n), keys[:n], table.slice(n), keys[n:]


Window = tuple[pa.Table, np.ndarray[Any, Any], pa.Table, np.ndarray[Any, Any]]


def join(left: Iterator[tuple[pa.Table, np.ndarray[Any, Any]]],
         right: Iterator[tuple[pa.Table, np.ndarray[Any, Any]]], left_schema: pa.Schema,
         right_schema: pa.Schema) -> Iterator[Window]:
    """Two streams of (chunk, keys), keys unique and increasing, walked together: windows of
    (left rows, their keys, right rows, their keys), each key in exactly one window."""
    none = np.zeros(0, dtype=np.uint64)
    lt, lk = next(left, (None, None))
    rt, rk = next(right, (None, None))
    while lt is not None or rt is not None:
        bound = min([k[-1] for k in (lk, rk) if k is not None])
        if lt is not None and lk is not None:
            wl, wlk, lt, lk = _take_upto(lt, lk, bound)
        else:
            wl, wlk = left_schema.empty_table(), none
        if rt is not None and rk is not None:
            wr, wrk, rt, rk = _take_upto(rt, rk, bound)
        else:
            wr, wrk = right_schema.empty_table(), none
        yield wl, wlk, wr, wrk
        if lk is not None and not len(lk):
            lt, lk = next(left, (None, None))
        if rk is not None and not len(rk):
            rt, rk = next(right, (None, None))


def not_null_equal(a: pa.Array, b: pa.Array) -> np.ndarray[Any, Any]:
    """Element-wise equality where two nulls are equal (as Python's ``None == None``)."""
    eq = pc.equal(a, b)
    both = pc.and_(pc.is_null(a), pc.is_null(b))
    return np.asarray(pc.or_kleene(pc.fill_null(eq, False), both).to_numpy(zero_copy_only=False),
                      dtype=bool)
