"""Pass 2 of the dhcpd.leases extractor on two cores (internal; see ``isc_leases.extract``).

Pass 1 cut the file into chunks and recorded, per chunk, its byte range, the number of its first
v4 lease block and its first line. In a v4 file nothing else carries from one chunk to the next,
so any chunk can be parsed on its own, by either process, with exactly the same result.

A forked worker and this process both *claim* chunks from a shared counter, in increasing order;
the worker sends each of its chunks back as one pickled list of compact tuples, and this process
yields every chunk's items in file order (its own as it parses them, the worker's as it rebuilds
them). This process parses a chunk only when the worker has not claimed it yet, so the split
follows the consumer's pace. Memory stays bounded: the worker stops claiming when _AHEAD of its
batches wait to be read.
If the worker fails for any reason, this process parses the chunks it did not get itself, so the
output never depends on the worker. The worker is killed when the consumer stops early.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import queue
import signal
import struct
import threading
from collections.abc import Iterator
from ipaddress import IPv4Address
from typing import IO, TYPE_CHECKING, Any

from kea_etl.errors import MalformedRecordError
from kea_etl.extract.base import Extracted, ExtractItem
from kea_etl.extract.isc_leases._build import _build_extracted, _build_lease4
from kea_etl.extract.isc_leases._syntax import _error
from kea_etl.records import Lease4

if TYPE_CHECKING:
    from kea_etl.extract.isc_leases._index import _Layout
    from kea_etl.extract.isc_leases._pass2 import _Pass2

__all__ = ["run_parallel"]

_LEN = struct.Struct("<Q")
#: batches the worker may have parsed but the parent not yet read (bounds the worker's memory)
_AHEAD = 2


def _encode(item: ExtractItem) -> tuple[Any, ...]:
    """A picklable, compact form of one item (rebuilt by _decode)."""
    if type(item) is Extracted:
        r = item.record
        if type(r) is Lease4:
            return (int(r.address), r.hwaddr, r.valid_lft, r.cltt, r.client_id, r.subnet_id,
                    r.hostname, r.fqdn_fwd, r.fqdn_rev, r.state, r.user_context, r.origin,
                    r.line, item.binding_state, item.source, item.line, item.extra)
    if type(item) is MalformedRecordError:
        return (item.source, item.line, item.key, item.reason)
    return (item,)


def _decode(batch: list[tuple[Any, ...]]) -> Iterator[ExtractItem]:
    new = object.__new__
    for t in batch:
        if len(t) == 17:
            (ip, hw, valid, cltt, cid, sid, host, ffwd, frev, state, ctx, origin, line, binding,
             source, eline, extra) = t
            addr = new(IPv4Address)
            addr._ip = ip  # type: ignore[attr-defined]
            yield _build_extracted(
                _build_lease4(addr, hw, valid, cltt, cid, sid, host, ffwd, frev, state, ctx,
                              origin, line),
                binding, source, eline, extra)
        elif len(t) == 4:
            yield _error(*t)
        else:
            yield t[0]


def _claim(counter: Any) -> int:
    with counter.get_lock():
        j: int = counter.value
        counter.value = j + 1
    return j


def _worker(pass2: _Pass2, layout: _Layout, counter: Any, out: IO[bytes]) -> None:
    """Claim, parse and send chunks until none is left (runs in the forked process).

    A writer thread sends the batches, so the worker can parse up to _AHEAD chunks ahead of
    what the parent has read (the parent is busy with the consumer's work meanwhile).
    """
    n = len(layout.offsets)
    outbox: queue.Queue[bytes | None] = queue.Queue(maxsize=_AHEAD)
    failed: list[BaseException] = []

    def writer() -> None:
        try:
            while True:
                data = outbox.get()
                if data is None:
                    return
                out.write(_LEN.pack(len(data)))
                out.write(data)
                out.flush()
        except BaseException as exc:  # the parent went away: nothing more to do
            failed.append(exc)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()

    def put(data: bytes | None) -> bool:
        while not failed:
            try:
                outbox.put(data, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    while True:
        k = _claim(counter)
        if k >= n:
            break
        text = pass2.read_chunk(layout, k)
        batch = [_encode(item) for item in pass2.run_chunk(layout, k, text)]
        if not put(pickle.dumps((k, batch), protocol=pickle.HIGHEST_PROTOCOL)):
            return
    if put(None):
        thread.join()


def _receive(inp: IO[bytes], k: int) -> list[tuple[Any, ...]] | None:
    """The worker's batch for chunk k, or None when the worker is gone (or out of step)."""
    head = inp.read(_LEN.size)
    if len(head) != _LEN.size:
        return None
    (size,) = _LEN.unpack(head)
    data = inp.read(size)
    if len(data) != size:
        return None
    got, batch = pickle.loads(data)
    return batch if got == k else None


def run_parallel(pass2: _Pass2, layout: _Layout) -> Iterator[ExtractItem]:
    """Every item of the file in file order, as ``pass2.run()`` would yield them."""
    n = len(layout.offsets)
    counter = multiprocessing.get_context("fork").Value("q", 0)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: never returns, never runs the parent's exit handlers
        code = 1
        try:
            os.close(r)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            with os.fdopen(w, "wb", buffering=1 << 20) as out:
                _worker(pass2, layout, counter, out)
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    inp = os.fdopen(r, "rb", buffering=1 << 20)
    alive = True
    try:
        k = 0
        while k < n:
            j = _claim(counter)
            # chunks k .. j-1 were claimed by the worker, in this order
            for mine in range(k, min(j, n)):
                batch = _receive(inp, mine) if alive else None
                if batch is None:
                    alive = False  # parse what the worker did not deliver here
                    yield from pass2.run_chunk(layout, mine, pass2.read_chunk(layout, mine))
                else:
                    yield from _decode(batch)
            if j < n:
                yield from pass2.run_chunk(layout, j, pass2.read_chunk(layout, j))
            k = j + 1
    finally:
        inp.close()
        with contextlib.suppress(OSError):
            if os.waitpid(pid, os.WNOHANG) == (0, 0):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
