"""Pass 2 on two processes (kea_etl.extract.isc_leases._parallel) gives exactly the serial result."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any, cast

import pytest

from kea_etl.errors import MalformedRecordError
from kea_etl.extract import isc_leases
from kea_etl.extract.base import Extracted, SourceWarning
from kea_etl.extract.isc_leases import _parallel as _isc_parallel
from kea_etl.extract.isc_leases import extract

DATA = Path(__file__).parent / "data"
SAMPLES = Path(__file__).resolve().parents[2] / "sample-data"
V4_FILES = sorted(DATA.glob("v4-*.leases")) + [SAMPLES / "dhcpd.leases",
                                              SAMPLES / "dhcpd-hex.leases"]


def _full(item: Extracted | MalformedRecordError | SourceWarning) -> tuple[Any, ...]:
    """Everything an item carries, including what equality ignores (origin, line, extra)."""
    if isinstance(item, MalformedRecordError):
        return ("error", str(item), item.source, item.line, item.key, item.reason)
    if isinstance(item, SourceWarning):
        return ("warning", item)
    r = item.record
    slots = tuple((name, getattr(r, name)) for name in r.__slots__)
    return (type(r).__name__, slots, item.binding_state, item.source, item.line, item.extra)


def _run(path: Path, parallel: bool, monkeypatch: pytest.MonkeyPatch,
         **kw: Any) -> list[tuple[Any, ...]]:
    calls: list[int] = []
    real = _isc_parallel.run_parallel

    def spy(*a: Any) -> Any:
        calls.append(1)
        return real(*a)

    monkeypatch.setattr(_isc_parallel, "run_parallel", spy)
    monkeypatch.setattr(isc_leases, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(isc_leases._fastpath, "_parallel", "force" if parallel else "off")
    out = [_full(i) for i in extract(path, **kw)]
    layout = isc_leases._Layout()
    isc_leases._pass1(path, kw.get("chunk_size", isc_leases.CHUNK_SIZE), layout)
    assert bool(calls) == (parallel and len(layout.offsets) >= 2)
    return out


@pytest.mark.parametrize("path", V4_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("chunk", [64, 700, 5000])
def test_parallel_equals_serial(path: Path, chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    serial = _run(path, False, monkeypatch, chunk_size=chunk)
    parallel = _run(path, True, monkeypatch, chunk_size=chunk)
    assert parallel == serial
    assert serial  # every file yields something


def test_family_option_in_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    path = SAMPLES / "dhcpd.leases"
    serial = _run(path, False, monkeypatch, chunk_size=2000, family=6)
    assert _run(path, True, monkeypatch, chunk_size=2000, family=6) == serial
    assert all(t[0] == "error" for t in serial)


def test_v6_files_stay_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    # v6 chunks depend on earlier ones (IA numbering, authoring-byte-order): never parallel
    _run(SAMPLES / "dhcpd6.leases", False, monkeypatch, chunk_size=2000)
    layout = isc_leases._Layout()
    isc_leases._pass1(SAMPLES / "dhcpd6.leases", 2000, layout)
    monkeypatch.setattr(isc_leases, "PARALLEL_MIN_BYTES", 0)
    assert layout.has_ia and not isc_leases._parallel_ok(layout)


def test_worker_failure_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that dies mid-way: this process parses the rest; the result is unchanged."""
    path = SAMPLES / "dhcpd.leases"
    serial = _run(path, False, monkeypatch, chunk_size=3000)

    def dying(pass2: Any, layout: Any, counter: Any, out: Any) -> None:
        _isc_parallel._claim(counter)  # claims a chunk, then dies without sending it
        os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(_isc_parallel, "_worker", dying)
    assert _run(path, True, monkeypatch, chunk_size=3000) == serial


def test_early_stop_kills_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isc_leases, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(isc_leases._fastpath, "_parallel", "force")
    before = _children()  # the suite's own children (Kea servers ...) may be there already
    gen = cast(Generator[Any, None, None], extract(SAMPLES / "dhcpd.leases", chunk_size=2000))
    first = next(gen)
    assert isinstance(first, Extracted)
    assert _children() - before, "the parallel path did not fork a worker"
    gen.close()
    # no child left behind, not even a zombie: the extractor killed and reaped its worker
    assert _children() <= before


def _children() -> set[int]:
    pid = os.getpid()
    return {int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def test_worker_chunks_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's batches reach the output (not only this process's own parsing)."""
    path = SAMPLES / "dhcpd.leases"
    serial = _run(path, False, monkeypatch, chunk_size=1000)
    decoded: list[int] = []
    real = _isc_parallel._decode

    def spy(batch: Any) -> Any:
        decoded.append(len(batch))
        return real(batch)

    # Which process claims which chunk is a race (on a busy machine the parent can take every
    # chunk before the forked worker runs): the parent waits here until the worker has claimed
    # one, so the worker's batches must reach the output.
    parent = os.getpid()
    real_claim = _isc_parallel._claim

    def claim_after_worker(counter: Any) -> int:
        if os.getpid() == parent:
            guard = time.monotonic() + 30  # not a timing assertion: a dead worker must not hang
            while counter.value == 0 and time.monotonic() < guard:
                time.sleep(0.001)
        return real_claim(counter)

    monkeypatch.setattr(_isc_parallel, "_decode", spy)
    monkeypatch.setattr(_isc_parallel, "_claim", claim_after_worker)
    assert _run(path, True, monkeypatch, chunk_size=1000) == serial
    assert decoded and sum(decoded) > 0
