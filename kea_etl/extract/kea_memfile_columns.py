"""Kea memfile rows as columns: the rows of :mod:`kea_etl.extract.kea_memfile`, without a
record object per row.

For reading a whole lease table at once (``reconcile --against``, :mod:`kea_etl.reconcile.
kea_files`). Arrow's CSV reader splits the file (Kea writes no quoting: a comma inside a value is
``&#x2c``); each column is then checked at once against the form Kea itself writes: a plain
dotted quad or an IPv6 address in its canonical text, lowercase colon hex ids within the
header's Kea version's limits (:mod:`kea_etl.kea_limits`), plain numbers in range, 0/1 flags,
no escapes in the hostname, no user context. A row that is anything else (an escape, a user
context, an uppercase MAC, a bad number ...) is handed to the row parser of
:mod:`kea_etl.extract.kea_memfile`, which builds its record or says why Kea skips it, so every
row gets exactly the verdict and values the row parser gives. A file Arrow cannot split as
Kea does (CR characters, blank lines, a row with the wrong number of fields, bytes that are not
UTF-8) is parsed row by row entirely.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kea_etl.errors import InvalidValueError, MalformedRecordError
from kea_etl.extract.base import Extracted
from kea_etl.kea_limits import HWADDR_MAX
from kea_etl.records import LEASE_STATES, STATE_DECLINED

if TYPE_CHECKING:
    from kea_etl.extract.kea_memfile import _Reader

__all__ = ["IPV4_PATTERN", "MemfileBatch", "column_batches", "hex_pattern", "no_host_bits",
           "packed6"]

_U32 = 0xFFFFFFFF
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
#: a dotted quad as IPv4Address reads it (no leading zeros)
IPV4_PATTERN = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$"
#: bytes Arrow's CSV reader parses at a time. Its streaming reader parses about 28 blocks ahead
#: of the consumer (use_threads or not): 16 MiB blocks held ~600 MB of parsed rows, 4 MiB
#: ~150 MB, the same speed at 300,000 rows (2026-12-06)
_BLOCK = 4 * 2**20


def hex_pattern(min_bytes: int, max_bytes: int) -> str:
    """A regular expression for lowercase colon hex of ``min_bytes``..``max_bytes`` bytes."""
    return rf"^[0-9a-f]{{2}}(?::[0-9a-f]{{2}}){{{max(min_bytes - 1, 0)},{max_bytes - 1}}}$"


@dataclass
class MemfileBatch:
    """Some consecutive rows of one file.

    ``table`` holds the rows read in columns (typed: ``k`` the address as a number or 16
    bytes, numbers as int64, ids null when empty), ``rownos`` their row numbers (counted on
    from ``first_row`` over the files, as :func:`~kea_etl.extract.kea_memfile.extract`
    numbers them) and ``lines`` their line numbers; ``parsed`` the other rows, each with its
    row number, as the row parser made them (a record, or why Kea skips the row).
    """

    table: pa.Table
    rownos: Any
    lines: Any
    parsed: list[tuple[int, Extracted | MalformedRecordError]] = field(default_factory=list)


def _clean(path: Path) -> bool:
    """True when Arrow splits the file into the same rows as the row parser: no CR, no blank
    line."""
    prev = b""
    with path.open("rb") as fh:
        first = True
        while block := fh.read(_BLOCK):
            if b"\r" in block or b"\n\n" in block or (prev == b"\n" and block[:1] == b"\n"):
                return False
            if first:
                # the header line, then a blank first row
                nl = block.find(b"\n")
                if nl >= 0 and block[nl + 1:nl + 2] == b"\n":
                    return False
                first = False
            prev = block[-1:]
    return True


def _slow(reader: _Reader, rows: list[list[str]], rownos: list[int], lines: list[int]
          ) -> list[tuple[int, Extracted | MalformedRecordError]]:
    out: list[tuple[int, Extracted | MalformedRecordError]] = []
    for parts, rowno, line in zip(rows, rownos, lines, strict=True):
        try:
            out.append((rowno, reader.parse(parts, line)))
        except (InvalidValueError, ValueError) as exc:
            key = parts[0] if parts and parts[0] else None
            out.append((rowno, MalformedRecordError(
                reader.source, line, key, f"cannot be read ({exc}); Kea skips such a row too")))
    return out


def _rest_slowly(reader: _Reader, first_row: int, skip: int = 0) -> Iterator[MemfileBatch]:
    """The file's rows from the ``skip``-th on, by the row parser, in batches."""
    from kea_etl.extract.kea_memfile import _rows

    parsed: list[tuple[int, Extracted | MalformedRecordError]] = []
    none = np.zeros(0, np.int64)
    for rowno, item in _rows([reader]):
        if rowno < skip:
            continue
        parsed.append((first_row + rowno, item))
        if len(parsed) >= 65536:
            yield MemfileBatch(pa.table({}), none, none, parsed)
            parsed = []
    yield MemfileBatch(pa.table({}), none, none, parsed)


def column_batches(reader: _Reader, first_row: int) -> Iterator[MemfileBatch]:
    """The rows of ``reader``'s file in batches, numbered on from ``first_row``."""
    import pyarrow.csv as pacsv

    if not _clean(reader.path):
        yield from _rest_slowly(reader, first_row)
        return
    names = [f"c{i}" for i in range(reader.ncols)]
    at = 0
    try:
        csv = pacsv.open_csv(
            str(reader.path),
            read_options=pacsv.ReadOptions(skip_rows=1, column_names=names,
                                           block_size=_BLOCK),
            parse_options=pacsv.ParseOptions(delimiter=",", quote_char=False,
                                             escape_char=False, newlines_in_values=False,
                                             ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, null_values=[],
                strings_can_be_null=False, check_utf8=True))
        for batch in _batches(csv):
            n = batch.num_rows
            rownos = np.arange(first_row + at, first_row + at + n, dtype=np.int64)
            lines = np.arange(at + 2, at + 2 + n, dtype=np.int64)
            at += n
            yield _convert(reader, batch, rownos, lines)
    except (pa.ArrowInvalid, OSError):
        # a row Arrow cannot split as Kea does (a wrong field count, bytes that are not
        # UTF-8): this row and the rest of the file go to the row parser
        yield from _rest_slowly(reader, first_row, at)


def _batches(csv: Any) -> Iterator[pa.RecordBatch]:
    for batch in csv:
        if batch.num_rows:
            yield batch


def _digits(col: pa.Array, width: int = 10) -> tuple[Any, Any]:
    """(ok, values): plain decimal numbers of at most ``width`` digits, as int64 / uint64."""
    ok = pc.match_substring_regex(col, rf"^[0-9]{{1,{width}}}$")
    safe = pc.if_else(ok, col, "0")
    values = pc.cast(safe, pa.uint64() if width > 18 else pa.int64()).to_numpy()
    return _np(ok), values


def _np(arr: Any) -> Any:
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=bool)


def _convert(reader: _Reader, batch: pa.RecordBatch, rownos: Any, lines: Any) -> MemfileBatch:
    from kea_etl.extract.kea_memfile import _DEFAULTS

    n = batch.num_rows
    cols: dict[str, pa.Array] = {}
    for name in reader.known:
        i = reader.index.get(name)
        cols[name] = (batch.column(i) if i is not None
                      else pa.array([_DEFAULTS[name]] * n, type=pa.string()))
    rules = reader.rules
    ok = np.ones(n, dtype=bool)
    nums: dict[str, Any] = {}
    for name in ("valid_lifetime", "subnet_id", "state", "pool_id"):
        good, nums[name] = _digits(cols[name])
        ok &= good & (nums[name] <= _U32)
    good, expire = _digits(cols["expire"], 19)
    ok &= good
    valid = nums["valid_lifetime"]
    expire = np.where(ok, expire, 0).astype(np.uint64)
    ok &= expire >= valid.astype(np.uint64)
    cltt = np.where(ok, expire - valid.astype(np.uint64), 0).astype(np.int64)
    ok &= cltt <= _U32
    state = nums["state"]
    ok &= np.isin(state, list(LEASE_STATES))
    flags = {}
    for name in ("fqdn_fwd", "fqdn_rev"):
        flag = cols[name]
        ok &= _np(pc.is_in(flag, value_set=pa.array(["0", "1"])))
        flags[name] = _np(pc.equal(flag, "1"))
    hostname = cols["hostname"]
    ok &= ~_np(pc.match_substring(hostname, "&#x"))
    ok &= _np(pc.equal(cols["user_context"], ""))
    has_host = _np(pc.not_equal(hostname, ""))
    hw = cols["hwaddr"]
    hw_empty = _np(pc.equal(hw, ""))
    ok &= hw_empty | _np(pc.match_substring_regex(hw, hex_pattern(1, HWADDR_MAX)))
    out: dict[str, Any] = {}
    if reader.family == 4:
        addr = cols["address"]
        ok &= _np(pc.match_substring_regex(addr, IPV4_PATTERN))
        octets = pc.cast(pc.list_flatten(pc.split_pattern(
            pc.if_else(pa.array(ok), addr, "0.0.0.0"), ".")), pa.int64()).to_numpy()
        o = octets.reshape(-1, 4).astype(np.uint64)
        k = pa.array((o[:, 0] << 24) | (o[:, 1] << 16) | (o[:, 2] << 8) | o[:, 3],
                     type=pa.uint64())
        cid = cols["client_id"]
        cid_empty = _np(pc.equal(cid, ""))
        ok &= cid_empty | _np(pc.match_substring_regex(
            cid, hex_pattern(rules.client_id_min, rules.client_id_max)))
        ok &= ~(hw_empty & cid_empty) | (state == STATE_DECLINED)
        out.update(k=k, lease_type=pa.repeat(pa.scalar("V4"), n),
                   prefix_len=pa.array(np.full(n, 32, np.int64)),
                   client_id=_nulls(cid, cid_empty), duid=pa.nulls(n, pa.string()),
                   iaid=pa.nulls(n, pa.int64()), preferred_lft=pa.nulls(n, pa.int64()))
    else:
        addr = cols["address"]
        packed, canonical = packed6(addr.to_pylist())
        ok &= canonical
        duid = cols["duid"]
        ok &= _np(pc.match_substring_regex(duid, hex_pattern(rules.duid_min, rules.duid_max)))
        ok &= _np(pc.not_equal(duid, rules.empty_duid)) | (state == STATE_DECLINED)
        ltype = cols["lease_type"]
        ok &= _np(pc.is_in(ltype, value_set=pa.array(["0", "2"])))
        pd = _np(pc.equal(ltype, "2"))
        for name in ("iaid", "pref_lifetime", "prefix_len"):
            good, nums[name] = _digits(cols[name])
            ok &= good & (nums[name] <= _U32)
        plen = nums["prefix_len"]
        ok &= ~pd | ((plen >= 1) & (plen <= 128))
        words = np.frombuffer(packed, dtype=">u8").reshape(-1, 2).astype(np.uint64)
        ok &= ~pd | no_host_bits(words, np.where(pd, plen, 128))
        for name in ("hwtype", "hwaddr_source"):
            good, nums[name] = _digits(cols[name])
            limit = 0xFFFF if name == "hwtype" else _U32
            ok &= hw_empty | (good & (nums[name] <= limit))
        plen = np.where(pd, plen, 128)
        out.update(k=pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n,
                                                          [None, pa.py_buffer(packed)]),
                   lease_type=pc.if_else(pa.array(pd), "IA_PD", "IA_NA"),
                   prefix_len=pa.array(plen, type=pa.int64()),
                   client_id=pa.nulls(n, pa.string()), duid=duid,
                   iaid=pa.array(nums["iaid"]), preferred_lft=pa.array(nums["pref_lifetime"]))
    out.update(subnet_id=pa.array(nums["subnet_id"]), hwaddr=_nulls(hw, hw_empty),
               valid_lft=pa.array(valid), cltt=pa.array(cltt), state=pa.array(state),
               hostname=hostname,
               fqdn_fwd=pa.array(flags["fqdn_fwd"] & has_host),
               fqdn_rev=pa.array(flags["fqdn_rev"] & has_host),
               pool_id=pa.array(nums["pool_id"]))
    table = pa.table(out)
    slow = np.flatnonzero(~ok)
    parsed: list[tuple[int, Extracted | MalformedRecordError]] = []
    if len(slow):
        picked = batch.take(pa.array(slow)).to_pylist()
        parts = [[r[f"c{i}"] for i in range(reader.ncols)] for r in picked]
        parsed = _slow(reader, parts, rownos[slow].tolist(), lines[slow].tolist())
        keep = pa.array(ok)
        table, rownos, lines = table.filter(keep), rownos[ok], lines[ok]
    return MemfileBatch(table, rownos, lines, parsed)


def _nulls(col: pa.Array, empty: Any) -> pa.Array:
    return pc.if_else(pa.array(empty), pa.scalar(None, pa.string()), col)


_AF6 = socket.AF_INET6


def packed6(texts: list[str]) -> tuple[bytes, Any]:
    """The 16 bytes of each address (zeros where not read) and whether its text is the
    canonical one (what ``IPv6Address(text)`` reads and prints back unchanged)."""
    out = bytearray(16 * len(texts))
    ok = np.zeros(len(texts), dtype=bool)
    pton, ntop = socket.inet_pton, socket.inet_ntop
    for i, text in enumerate(texts):
        if "." in text or "%" in text:
            continue
        try:
            raw = pton(_AF6, text)
        except OSError:
            continue
        if ntop(_AF6, raw) == text:
            out[16 * i:16 * i + 16] = raw
            ok[i] = True
    return bytes(out), ok


def no_host_bits(words: Any, plen: Any) -> Any:
    """Per row: no bit set after the first ``plen`` bits of the 128-bit address."""
    hi, lo = words[:, 0], words[:, 1]
    plen = plen.astype(np.int64)
    ones = np.uint64(0xFFFFFFFFFFFFFFFF)
    # host bits of the high word (prefix shorter than 64), of the low word (shorter than 128)
    hi_bits = np.clip(64 - plen, 0, 64).astype(np.uint64)
    lo_bits = np.clip(128 - plen, 0, 64).astype(np.uint64)
    hi_mask = np.where(hi_bits >= 64, ones, (np.uint64(1) << (hi_bits % np.uint64(64)))
                       - np.uint64(1))
    lo_mask = np.where(lo_bits >= 64, ones, (np.uint64(1) << (lo_bits % np.uint64(64)))
                       - np.uint64(1))
    return ((hi & hi_mask) == 0) & ((lo & lo_mask) == 0)
