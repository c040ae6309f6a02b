"""Read every lease of a Kea server page by page, in bounded memory.

Kea's ``lease4-get-page`` / ``lease6-get-page`` (lease_cmds) return at most ``limit`` leases
whose address is greater than ``from``; the walk is over when a page is shorter than the limit
(or Kea answers result 3, "empty"). ``lease4-get-all`` is never used: on a big server it builds
one reply holding every lease, in Kea and here.

Two shapes are offered:

* :func:`iter_lease_pages` yields the raw pages (lists of Kea's lease JSON), optionally filtered
  to some subnets and fetched one page ahead by a helper thread, so the next round trip to Kea
  overlaps the caller's work on the current page. This is the export fast path: pages become
  Arrow record batches (:func:`page_to_batch`) without building a record object per lease.
* :func:`iter_leases` yields canonical :class:`~kea_etl.records.Lease4` /
  :class:`~kea_etl.records.Lease6` records for callers that want them (reconciliation, pipelines).

Kea 2.2 has no server-side subnet filter for the paged commands, so ``subnets`` is applied here:
the whole lease table is still walked, but only matching leases are kept.
"""

from __future__ import annotations

import ipaddress
import json
import queue
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar, cast

import pyarrow as pa
import pyarrow.compute as pc

from kea_etl.errors import KeaEtlError
from kea_etl.export.schema import LEASE_SCHEMA, state_name
from kea_etl.records import Lease4, Lease6, kea_text

__all__ = [
    "LEASE_SCHEMA",
    "Family",
    "LeaseClient",
    "iter_lease_batches",
    "iter_lease_pages",
    "iter_leases",
    "page_to_batch",
]

Family = Literal[4, 6]


class LeaseClient(Protocol):
    """What this module needs from :class:`kea_etl.kea.KeaClient` (any object with these works)."""

    def lease4_get_page(self, start: str, limit: int) -> list[dict[str, Any]]: ...

    def lease6_get_page(self, start: str, limit: int) -> list[dict[str, Any]]: ...


def _get_page(client: LeaseClient, family: Family, start: str, limit: int) -> list[dict[str, Any]]:
    if family == 4:
        return client.lease4_get_page(start, limit)
    return client.lease6_get_page(start, limit)


def _raw_pages(client: LeaseClient, family: Family, page_size: int) -> Iterator[list[dict[str, Any]]]:
    from kea_etl.kea.client import next_page_start

    start = "start"
    server = str(getattr(client, "url", "the Kea server"))
    while True:
        page = _get_page(client, family, start, page_size)
        if page:
            yield page
        if len(page) < page_size:
            return
        # a server whose paging does not advance is an error, not an endless export
        start = next_page_start(f"lease{family}-get-page", start, page, server)


_DONE = object()


T = TypeVar("T")


#: seconds the consumer waits for the next page before it is told it is idle
IDLE_AFTER = 0.2


def _prefetched(pages: Iterator[T], depth: int,
                idle: Callable[[], None] | None = None) -> Iterator[T]:
    """Run ``pages`` in a helper thread, ``depth`` items ahead of the consumer (bounded memory).

    The thread waits on the bounded queue, so at most ``depth + 1`` pages exist at once. An
    exception in the fetcher is re-raised in the consumer; a consumer that stops early (or
    fails) sets ``stop`` so the fetcher ends after its current round trip. ``idle`` is called
    when the next page is not there within :data:`IDLE_AFTER` seconds (a slow or retrying
    server), before waiting on: a writer commits then instead of holding its transaction open.
    """
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for page in pages:
                if not put(page):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(exc)

    worker = threading.Thread(target=run, name="kea-etl-page-fetch", daemon=True)
    worker.start()
    try:
        while True:
            if idle is None:
                item = q.get()
            else:
                try:
                    item = q.get(timeout=IDLE_AFTER)
                except queue.Empty:
                    idle()
                    item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield cast(T, item)
    finally:
        stop.set()
        worker.join(timeout=60)


def iter_lease_pages(client: LeaseClient, family: Family, *, page_size: int = 1000,
                     subnets: Collection[int] | None = None,
                     prefetch: int = 2) -> Iterator[list[dict[str, Any]]]:
    """Yield Kea's lease JSON page by page (each page at most ``page_size`` leases).

    ``subnets`` keeps only leases of those subnet ids (filtered here: Kea 2.2 cannot). Pages that
    the filter empties are not yielded. ``prefetch`` > 0 fetches that many pages ahead in a helper
    thread; 0 fetches in the caller's thread.
    """
    if page_size < 1:
        raise KeaEtlError(f"page size must be at least 1, got {page_size}")
    pages = _raw_pages(client, family, page_size)
    if prefetch > 0:
        pages = _prefetched(pages, prefetch)
    if not subnets:
        yield from pages
        return
    wanted = frozenset(int(s) for s in subnets)
    for page in pages:
        kept = [lease for lease in page if int(lease.get("subnet-id", 0)) in wanted]
        if kept:
            yield kept


def iter_lease_batches(client: LeaseClient, family: Family, *, exported_at: datetime,
                       kea_version: str, page_size: int = 1000,
                       subnets: Collection[int] | None = None,
                       prefetch: int = 2,
                       idle: Callable[[], None] | None = None) -> Iterator[pa.RecordBatch]:
    """Yield one Arrow record batch (:data:`LEASE_SCHEMA`) per page, converted ahead of time.

    With ``prefetch`` > 0 three threads form a pipeline: one helper thread only fetches pages
    (it asks Kea for the next page as soon as it has decoded one), a second converts them, and
    the caller's thread only writes (Parquet and SQLite writers do most of their work in C).
    Kea then answers the next page while this process converts and writes the last ones.
    Measured here (1M leases, SQLite): converting in the fetching thread left Kea idle for the
    conversion of every page, and converting in the caller made the fetch thread wait for the
    GIL between socket reads; a thread of its own for the conversion beat both. ``idle`` is
    called whenever the caller is about to wait for Kea: after :data:`IDLE_AFTER` seconds
    without a page, or before every round trip when ``prefetch`` is 0.
    """
    def batches() -> Iterator[pa.RecordBatch]:
        for page in iter_lease_pages(client, family, page_size=page_size, subnets=subnets,
                                     prefetch=prefetch):
            yield page_to_batch(page, family, exported_at=exported_at, kea_version=kea_version)
            if prefetch <= 0 and idle is not None:
                idle()  # the caller's own thread fetches the next page: it waits for Kea now

    if prefetch > 0:
        yield from _prefetched(batches(), prefetch, idle)
    else:
        yield from batches()


def iter_leases(client: LeaseClient, family: Family, *, page_size: int = 1000,
                subnets: Collection[int] | None = None, origin: str | None = None,
                prefetch: int = 2) -> Iterator[Lease4 | Lease6]:
    """Yield every lease of the server as canonical records (see :func:`iter_lease_pages`)."""
    make = Lease4.from_kea if family == 4 else Lease6.from_kea
    for page in iter_lease_pages(client, family, page_size=page_size, subnets=subnets,
                                 prefetch=prefetch):
        for lease in page:
            yield make(lease, origin=origin)


def _json_or_none(value: Any) -> str | None:
    return json.dumps(value, sort_keys=True, separators=(",", ":")) if value else None


def _ids(values: list[Any]) -> pa.Array:
    """Kea's ids (already lowercase colon hex) as strings; "" and missing become null."""
    arr = pa.array(values, type=pa.string())
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), pc.utf8_lower(arr))


def _prefix(address: str, length: Any) -> str:
    """A delegated prefix as ``network/length``: PostgreSQL's cidr refuses host bits, and Kea
    does not check that a prefix it was given has none (``address`` keeps Kea's own text)."""
    return str(ipaddress.ip_network(f"{address}/{int(length)}", strict=False))


def _hostnames(values: list[Any]) -> pa.Array:
    """Kea's hostnames as text (:func:`~kea_etl.records.kea_text`), which changes only those
    with a character past ASCII: Arrow checks the page at once, and only a page holding one
    goes through the function value by value."""
    arr = pa.array(values, type=pa.string())
    if pc.all(pc.string_is_ascii(arr)).as_py() is not False:
        return arr
    return pa.array([kea_text(v) for v in values], type=pa.string())


def _timestamps(epochs: pa.Array) -> pa.Array:
    """Epoch seconds as ``timestamp[us, UTC]`` (the instants of ``cltt`` / ``expire``)."""
    return epochs.cast(pa.timestamp("s", tz="UTC")).cast(pa.timestamp("us", tz="UTC"))


def page_to_batch(page: Sequence[Mapping[str, Any]], family: Family, *, exported_at: datetime,
                  kea_version: str) -> pa.RecordBatch:
    """One Arrow record batch (:data:`LEASE_SCHEMA`) from one page of Kea's lease JSON.

    Column-wise on purpose (one comprehension per field, arithmetic and string clean-up in
    Arrow's C++), with no record object per lease, so conversion keeps up with Kea.
    """
    n = len(page)
    valid = pa.array([x.get("valid-lft", 0) for x in page], type=pa.int64())
    if all("cltt" in x for x in page):
        cltt = pa.array([x["cltt"] for x in page], type=pa.int64())
    else:  # a lease JSON with "expire" instead (never seen from lease_cmds, but cheap to allow)
        cltt = pa.array([x["cltt"] if "cltt" in x else int(x.get("expire", 0)) - int(
            x.get("valid-lft", 0)) for x in page], type=pa.int64())
    expire = pc.add(cltt, valid)
    ctx = [x.get("user-context") for x in page]
    user_context = pa.array([_json_or_none(c) for c in ctx] if any(ctx) else [None] * n,
                            type=pa.string())
    states = [int(x.get("state", 0)) for x in page]
    addresses = [x["ip-address"] for x in page]
    if family == 6:
        types = [x.get("type", "IA_NA") for x in page]
        lease_type = pa.array(types, type=pa.string())
        prefix_len = pa.array([int(x.get("prefix-len", 128)) if t == "IA_PD" else 128
                               for x, t in zip(page, types, strict=True)], type=pa.int16())
        client_id = pa.nulls(n, pa.string())
        duid = _ids([x.get("duid") for x in page])
        iaid = pa.array([x.get("iaid") for x in page], type=pa.int64())
        preferred = pa.array([x.get("preferred-lft", 0) for x in page], type=pa.int64())
        prefix = pa.array([_prefix(a, x.get("prefix-len", 128)) if t == "IA_PD" else None
                           for a, x, t in zip(addresses, page, types, strict=True)],
                          type=pa.string())
    else:
        lease_type = pa.repeat(pa.scalar("V4", type=pa.string()), n)
        prefix_len = pa.repeat(pa.scalar(32, type=pa.int16()), n)
        client_id = _ids([x.get("client-id") for x in page])
        duid = pa.nulls(n, pa.string())
        iaid = pa.nulls(n, pa.int64())
        preferred = pa.nulls(n, pa.int64())
        prefix = pa.nulls(n, pa.string())
    cols: list[pa.Array] = [
        # constants via pa.repeat: converting n tz-aware datetimes one by one costs ~10 ms a page
        pa.repeat(pa.scalar(exported_at, type=pa.timestamp("us", tz="UTC")), n),
        pa.repeat(pa.scalar(kea_version, type=pa.string()), n),
        pa.repeat(pa.scalar(family, type=pa.int8()), n),
        pa.array(addresses, type=pa.string()),
        lease_type,
        prefix_len,
        pa.array([x.get("subnet-id", 0) for x in page], type=pa.int64()),
        _ids([x.get("hw-address") for x in page]),
        client_id,
        duid,
        iaid,
        valid,
        preferred,
        cltt,
        expire,
        pa.array(states, type=pa.int8()),
        _hostnames([x.get("hostname") or "" for x in page]),
        pa.array([bool(x.get("fqdn-fwd")) for x in page], type=pa.bool_()),
        pa.array([bool(x.get("fqdn-rev")) for x in page], type=pa.bool_()),
        user_context,
        _timestamps(cltt),
        _timestamps(expire),
        # a page holds a few distinct states: name each once
        pa.array(list(map({s: state_name(s) for s in set(states)}.__getitem__, states)),
                 type=pa.string()),
        prefix,
    ]
    return pa.RecordBatch.from_arrays(cols, schema=LEASE_SCHEMA)
