"""The live Kea side of a reconciliation as columns: ``leaseN-get-page`` pages, no record per lease.

:func:`~kea_etl.reconcile.compare.reconcile_kea` reads Kea's leases with
:func:`kea_etl.export.kea_api.iter_lease_pages` (the next page is fetched by a helper thread
while this one converts) and turns each page into spool columns a field at a time. A lease in
the form Kea writes (a plain dotted quad or canonical IPv6 text, lowercase colon-hex ids,
numbers in range, an ASCII hostname, no user context) is taken as it is; any other lease is
built by :meth:`Lease4.from_kea <kea_etl.records.Lease4.from_kea>` /
:meth:`Lease6.from_kea <kea_etl.records.Lease6.from_kea>`, which canonicalises it or fails the
reconciliation with the same error as before. So every lease gets the values the record would
have. Leases that hold no address (a state other than default / declined, or expired before
``as_of``) are counted and left out, as for any Kea side.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kea_etl.extract.kea_memfile_columns import (
    IPV4_PATTERN,
    hex_pattern,
    no_host_bits,
    packed6,
)
from kea_etl.kea_limits import CLIENT_ID_MAX, DUID_MAX, HWADDR_MAX
from kea_etl.reconcile.columns import BUDGET, SortedSpool, dedupe_last
from kea_etl.records import (
    INFINITE_LIFETIME,
    LEASE_STATES,
    STATE_DECLINED,
    STATE_DEFAULT,
    Lease4,
    Lease6,
)

__all__ = ["KeaPages"]

_U32 = 0xFFFFFFFF
_HW = hex_pattern(1, HWADDR_MAX)
_CID = hex_pattern(1, CLIENT_ID_MAX)
_DUID = hex_pattern(1, DUID_MAX)


class KeaPages:
    """Kea's leases, page by page, for :func:`~kea_etl.reconcile.compare.reconcile`."""

    def __init__(self, pages: Iterator[Sequence[Mapping[str, Any]]], family: int, *,
                 workdir: Any = None, budget: int = BUDGET, origin: str | None = None) -> None:
        self.pages = pages
        self.family = family
        self.origin = origin
        self._spool = SortedSpool(family, workdir=workdir, budget=budget)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self, *, as_of: int, result: Any) -> None:
        """Read Kea's pages in a helper thread from now on, while the caller reads the source:
        Kea builds its pages in its own process, so that time overlaps the source's. Only
        this thread touches the spool and ``result``'s Kea counts until :meth:`live_chunks`."""
        if self._thread is not None:
            return

        def read() -> None:
            try:
                for page in self.pages:
                    if page:
                        self._add(page, as_of, result)
            except BaseException as exc:  # handed to the caller by live_chunks
                self._error = exc

        self._thread = threading.Thread(target=read, name="kea-etl-reconcile-kea", daemon=True)
        self._thread.start()

    def live_chunks(self, *, as_of: int, result: Any,
                    progress: Callable[[], None] | None = None) -> Iterator[tuple[pa.Table, Any]]:
        """Read every page first (counting into ``result``: ``kea_read``, ``kea_ignored``),
        then give the leases that hold their address in key order."""
        if self._thread is not None:
            self._thread.join()
            if self._error is not None:
                raise self._error
        else:
            for page in self.pages:
                if page:
                    self._add(page, as_of, result)
                if progress is not None:
                    progress()
        return self._chunks()

    def _chunks(self) -> Iterator[tuple[pa.Table, Any]]:
        try:
            for chunk in self._spool.chunks():
                yield dedupe_last(chunk)
        finally:
            self._spool.close()

    def _add(self, page: Sequence[Mapping[str, Any]], as_of: int, result: Any) -> None:
        try:
            cols, ok = (_page4 if self.family == 4 else _page6)(page)
        except (pa.ArrowException, TypeError, ValueError, KeyError):
            cols, ok = {}, np.zeros(len(page), dtype=bool)
        if cols and not ok.all():
            cols = {k: v.filter(pa.array(ok)) for k, v in cols.items()}
        n = int(ok.sum())
        slow = [page[i] for i in np.flatnonzero(~ok).tolist()]
        if n:
            self._keep(cols, n, as_of, result)
        if slow:
            from kea_etl.reconcile.compare import record_columns

            make = Lease4.from_kea if self.family == 4 else Lease6.from_kea
            records: list[Lease4 | Lease6] = [make(d, origin=self.origin) for d in slow]
            self._keep(self._spool.arrays(record_columns(records, [None] * len(records), None),
                                          len(records)), len(records), as_of, result)

    def _keep(self, cols: dict[str, Any], n: int, as_of: int, result: Any) -> None:
        """Count ``n`` leases, spool those that hold their address."""
        result.kea_read += n
        state = _ints(cols["state"])
        valid, cltt = _ints(cols["valid_lft"]), _ints(cols["cltt"])
        held = (state == STATE_DEFAULT) | (state == STATE_DECLINED)
        if not held.all():
            codes, hits = np.unique(state[~held], return_counts=True)
            for code, c in zip(codes.tolist(), hits.tolist(), strict=True):
                result.kea_ignored[LEASE_STATES.get(code, str(code))] += c
        live = held & ((valid == INFINITE_LIFETIME) | (cltt + valid >= as_of))
        expired = held & ~live
        if expired.any():
            result.kea_ignored["expired"] += int(expired.sum())
        if not live.all():
            mask = pa.array(live)
            cols = {k: v.filter(mask) for k, v in cols.items()}
        self._spool.add_columns(cols, int(live.sum()))


def _ints(values: pa.Array) -> Any:
    return values.to_numpy(zero_copy_only=False)


def _field(page: Sequence[Mapping[str, Any]], name: str, default: Any = None) -> list[Any]:
    return [x.get(name, default) for x in page]


def _u32(page: Sequence[Mapping[str, Any]], name: str, default: Any = None
         ) -> tuple[pa.Array, Any]:
    """(values, ok): JSON integers 0..2**32-1 (anything else is not ok)."""
    raw = _field(page, name, default)
    values: Any = None
    if set(map(type, raw)) == {int}:  # the usual page: every value a JSON integer
        try:
            values = np.fromiter(raw, dtype=np.int64, count=len(raw))
        except OverflowError:
            values = None
    if values is None:
        ok = np.array([type(v) is int for v in raw], dtype=bool)
        values = np.array([v if type(v) is int else 0 for v in raw], dtype=np.int64)
    else:
        ok = np.ones(len(raw), dtype=bool)
    ok &= (values >= 0) & (values <= _U32)
    return pa.array(values), ok


def _text(page: Sequence[Mapping[str, Any]], name: str) -> tuple[pa.Array, Any]:
    """(strings with "" for missing / null, ok: each a string or null)."""
    raw = _field(page, name)
    kinds = set(map(type, raw))
    if kinds == {str}:  # the usual page
        return pa.array(raw, type=pa.string()), np.ones(len(raw), dtype=bool)
    ok = np.array([v is None or type(v) is str for v in raw], dtype=bool)
    return pa.array([v if type(v) is str else "" for v in raw], type=pa.string()), ok


def _matches(arr: pa.Array, pattern: str) -> Any:
    return np.asarray(pc.match_substring_regex(arr, pattern).to_numpy(zero_copy_only=False),
                      dtype=bool)


def _id(arr: pa.Array, pattern: str) -> tuple[pa.Array, Any]:
    """(the id, null when empty; ok: empty or canonical)."""
    empty = np.asarray(pc.equal(arr, "").to_numpy(zero_copy_only=False), dtype=bool)
    ok = empty | _matches(arr, pattern)
    return pc.if_else(pa.array(empty), pa.scalar(None, pa.string()), arr), ok


def _common(page: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], Any]:
    ok = np.array(["cltt" in x and x.get("user-context") is None for x in page], dtype=bool)
    valid, good = _u32(page, "valid-lft")
    ok &= good
    cltt, good = _u32(page, "cltt")
    ok &= good
    sid, good = _u32(page, "subnet-id", 0)
    ok &= good
    state, good = _u32(page, "state", 0)
    ok &= good & np.isin(state.to_numpy(), list(LEASE_STATES))
    host, good = _text(page, "hostname")
    ok &= good & np.asarray(pc.string_is_ascii(host).to_numpy(zero_copy_only=False), dtype=bool)
    hw, good = _text(page, "hw-address")
    ok &= good
    hw, good = _id(hw, _HW)
    ok &= good
    return {"valid_lft": valid, "cltt": cltt, "subnet_id": sid, "state": state,
            "hostname": host, "hwaddr": hw}, ok


def _page4(page: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], Any]:
    n = len(page)
    cols, ok = _common(page)
    addr, good = _text(page, "ip-address")
    ok &= good & _matches(addr, IPV4_PATTERN)
    octets = pc.cast(pc.list_flatten(pc.split_pattern(
        pc.if_else(pa.array(ok), addr, "0.0.0.0"), ".")), pa.int64()).to_numpy()
    o = octets.reshape(-1, 4).astype(np.uint64)
    cid, good = _text(page, "client-id")
    ok &= good
    cid, good = _id(cid, _CID)
    ok &= good
    cols.update(k=pa.array((o[:, 0] << 24) | (o[:, 1] << 16) | (o[:, 2] << 8) | o[:, 3],
                           type=pa.uint64()),
                lease_type=pa.repeat(pa.scalar("V4"), n),
                prefix_len=pa.repeat(pa.scalar(32, pa.int64()), n), client_id=cid)
    return cols, ok


def _page6(page: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], Any]:
    n = len(page)
    cols, ok = _common(page)
    addr, good = _text(page, "ip-address")
    ok &= good
    packed, canonical = packed6(addr.to_pylist())
    ok &= canonical
    duid, good = _text(page, "duid")
    ok &= good & _matches(duid, _DUID)
    iaid, good = _u32(page, "iaid")
    ok &= good
    _, good = _u32(page, "preferred-lft", 0)
    ok &= good
    types = _field(page, "type", "IA_NA")
    ok &= np.array([t in ("IA_NA", "IA_PD") for t in types], dtype=bool)
    pd = np.array([t == "IA_PD" for t in types], dtype=bool)
    plen, good = _u32(page, "prefix-len", 128)
    plen_np = plen.to_numpy()
    ok &= ~pd | (good & (plen_np >= 1) & (plen_np <= 128))
    words = np.frombuffer(packed, dtype=">u8").reshape(-1, 2).astype(np.uint64)
    ok &= ~pd | no_host_bits(words, np.where(pd, plen_np, 128))
    cols.update(k=pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n,
                                                       [None, pa.py_buffer(packed)]),
                lease_type=pa.array(np.where(pd, "IA_PD", "IA_NA").tolist(), type=pa.string()),
                prefix_len=pa.array(np.where(pd, plen_np, 128), type=pa.int64()),
                duid=duid, iaid=iaid)
    return cols, ok
