"""Pass 1: the key of every lease block in file order, the winners (last block per key), and the
host / group / class blocks read on the way."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kea_etl.extract.base import Extracted, ExtractItem, SourceWarning
from kea_etl.extract.isc_leases import _fastpath
from kea_etl.extract.isc_leases._snapshot import Snapshot, _chunks
from kea_etl.extract.isc_leases._syntax import (
    _IA_CODES,
    _IAADDR,
    _IPV4_LINES,
    _IPV4_LIST,
    _LEASE_IP,
    _START_SPLIT,
    _V6_SCAN,
)
from kea_etl.records import Reservation
from kea_etl.report import quote


class _KeyArray:
    """Append-only growable numpy array.

    It grows in place by a quarter (``ndarray.resize``: a large block is moved with ``mremap``,
    not copied), so memory stays near one key per block instead of the three a copy-on-double
    array needs at a resize (10M blocks: ~100 MB instead of ~240 MB)."""

    def __init__(self, dtype: str) -> None:
        self.data: npt.NDArray[Any] = np.zeros(1024, dtype=dtype)
        self.n = 0

    def extend(self, values: npt.NDArray[Any]) -> None:
        need = self.n + len(values)
        if need > len(self.data):
            # no view of data exists while pass 1 appends (view() is taken at the end)
            self.data.resize(max(need, len(self.data) + len(self.data) // 4), refcheck=False)
        self.data[self.n:need] = values
        self.n = need

    def view(self) -> npt.NDArray[Any]:
        return self.data[:self.n]


_V6_KEY = "V18"


class _Layout:
    """Where pass 1 cut the file: per chunk its byte offset and length, the number of the first
    v4 lease block in it and its first line (what pass 2 needs to start at any chunk)."""

    def __init__(self) -> None:
        self.offsets: list[int] = []
        self.lengths: list[int] = []
        self.first_i4: list[int] = []
        self.first_line: list[int] = []
        self.has_ia = False


_OTHER_START = re.compile(r"\n(host|group|class|subclass)[ \t]+([^\n]*)")


_DELETED = re.compile(r"(?:^|[\s;{])deleted[ \t]*;")


class _Others:
    """What a lease file holds besides leases, read in pass 1 (in the main process, so that the
    parallel pass 2 needs no part of it).

    ``host`` blocks are OMAPI host declarations (omshell, Foreman and other provisioning tools
    keep their reservations so). dhcpd applies them in file order (server/mdb.c enter_host, and
    checked against dhcpd 4.4.3 rewriting such a file): one holding ``deleted;`` removes the host,
    after which a new declaration of the name is taken (an OMAPI update is a delete and an add);
    a second declaration of a name that is not deleted is refused ("host NAME: already exists")
    and the earlier one stays; that refusal is reported as a warning. A ``deleted;`` for a name
    the file never declared removes a host of dhcpd.conf: said too. ``group``,
    ``class`` and ``subclass`` blocks (OMAPI groups, spawned billing classes) are not translated:
    each becomes a SourceWarning.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        #: host name -> (line, the whole block text); insertion order = order of the last decl
        self.hosts: dict[str, tuple[int, str]] = {}
        self.deleted = 0
        self.notes: list[SourceWarning] = []

    def scan(self, text: str, line: int) -> None:
        """Blocks of one chunk ("\n" + text starting at ``line``); a block that never closes is
        left to pass 2, which reports it truncated."""
        at_pos, at_line = 1, line
        for m in _OTHER_START.finditer(text):
            at_line += text.count("\n", at_pos, m.start() + 1)
            at_pos = m.start() + 1
            word, header = m.group(1), m.group(2)
            one = _one_line(header) if "}" in header else None
            if one is not None:
                head, inner = one
                block = f"{word} {header}"
            else:
                end = text.find("\n}", m.end())
                nxt = _START_SPLIT.search(text, m.end())
                if end < 0 or (nxt is not None and nxt.start() < end) or "{" not in header:
                    continue
                head, inner = header, text[m.end():end]
                block = text[m.start() + 1:end + 2]
            name = head[:head.find("{")].strip() if "{" in head else head.strip()
            if word != "host":
                what = f"{word} {quote(name)}"
                self.notes.append(SourceWarning(
                    self.source, at_line, what + " { ... }",
                    f"not translated: kea-etl moves leases and host reservations, not {word} "
                    "declarations (write a Kea client class by hand if it is still needed)"))
                continue
            if _DELETED.search(inner) is not None:
                self.deleted += 1
                if self.hosts.pop(name, None) is None:
                    self.notes.append(SourceWarning(
                        self.source, at_line, f"host {quote(name)} {{ deleted; }}",
                        "deletes a host this file never declared: if dhcpd.conf declares it, "
                        "dhcpd no longer uses that host; leave it out of the migration",
                        f"host {quote(name)}"))
            elif name in self.hosts:
                first = self.hosts[name][0]
                self.notes.append(SourceWarning(
                    self.source, at_line, f"host {quote(name)} {{ ... }}",
                    f"not translated: dhcpd refuses a second declaration of a host that is not "
                    f"deleted (\"already exists\") and keeps the one of line {first}",
                    f"host {quote(name)}"))
            else:
                self.hosts[name] = (at_line, block)

    def items(self, family: int | None) -> Iterator[ExtractItem]:
        """The reservations of the hosts still declared at the end of the file, then the notes."""
        from kea_etl.extract import isc_conf

        for at, block in sorted(self.hosts.values()):
            for item in isc_conf.hosts_from_text(block, self.source, at):
                if (family is not None and isinstance(item, Extracted)
                        and isinstance(item.record, Reservation) and item.record.family != family):
                    # read as the other family: said, not dropped
                    item = SourceWarning(self.source, at, item.extra.get("dhcpd_host", "host"),
                                         f"not translated: a DHCPv{item.record.family} host "
                                         f"reservation in a file read as DHCPv{family}")
                yield item
        yield from self.notes


def _pass1(snap: Snapshot | Path, chunk_size: int, layout: _Layout | None = None,
           others: _Others | None = None) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """Keys of every lease block; fills ``layout`` and fixes or checks the snapshot's bytes."""
    if not isinstance(snap, Snapshot):
        with Snapshot(snap) as own:
            return _pass1(own, chunk_size, layout, others)
    if layout is None:
        layout = _Layout()
    crcs: dict[tuple[int, int], int] = {}
    keys4 = _KeyArray("u8")
    keys6 = _KeyArray(_V6_KEY)
    last_text = ""
    offset = 0
    line = 1
    for text, is_last, chunk_crc in _chunks(snap, chunk_size):
        starts = _fastpath._line_starts(text)
        if others is not None and starts & 1:
            others.scan(text, line)
        n = len(text) - 1  # without the leading "\n"; latin-1: one char per byte
        layout.offsets.append(offset)
        layout.lengths.append(n)
        layout.first_i4.append(keys4.n)
        layout.first_line.append(line)
        crcs[offset, n] = chunk_crc
        offset += n
        line += text.count("\n", 1)
        if _fastpath._keys4 is not None:
            got = _fastpath._keys4(text, keys4.n)
            if got:
                keys4.extend(np.frombuffer(got, dtype=np.uint64))
        else:
            ips = _LEASE_IP.findall(text)
            if ips:
                keys4.extend(_v4_keys(ips, keys4.n))
        if starts & 2:
            got6 = _fastpath._keys6(text, keys6.n) if _fastpath._keys6 is not None else None
            keys6.extend(np.frombuffer(got6, dtype=_V6_KEY) if got6 is not None
                         else _v6_keys(text, keys6.n))
            layout.has_ia = True
        if is_last:
            last_text = text
    # A copy taken while dhcpd was writing ends mid-block: that block is reported as truncated
    # and must not hide the complete earlier block for the same key.
    if last_text:
        _unkey_truncated_tail(last_text, keys4, keys6)
    snap.settle(offset, crcs)
    return keys4.view(), keys6.view()


def _v4_keys(ips: list[str], base: int) -> npt.NDArray[np.uint64]:
    joined = "\n".join(ips) + "\n"
    if _IPV4_LINES.fullmatch(joined) is not None:
        packed = b"".join(map(socket.inet_aton, ips))
        return np.frombuffer(packed, dtype=">u4").astype(np.uint64)
    out = np.empty(len(ips), dtype=np.uint64)
    for i, ip in enumerate(ips):
        if _IPV4_LIST.fullmatch(ip) is not None:
            out[i] = int.from_bytes(socket.inet_aton(ip), "big")
        else:
            out[i] = (1 << 32) + base + i  # unique: an unparsable address never wins over another
    return out


def _v6_key(kind: str, code: int, addr: str, unique: int) -> bytes:
    try:
        if kind == "prefix":
            a, _, plen_s = addr.partition("/")
            plen = int(plen_s)
            if not 0 <= plen <= 128:
                raise ValueError(plen)
        else:
            a, plen = addr, 128
        return socket.inet_pton(socket.AF_INET6, a) + bytes((code, plen))
    except (OSError, ValueError):
        return b"\xff" + unique.to_bytes(17, "big")


def _v6_keys(text: str, base: int) -> npt.NDArray[Any]:
    out: list[bytes] = []
    code = -1
    for word, kind, addr in _V6_SCAN.findall(text):
        if word:
            code = _IA_CODES.get(word, -1)
        elif code >= 0:
            out.append(_v6_key(kind, code, addr, base + len(out)))
    return np.frombuffer(b"".join(out), dtype=_V6_KEY)


def _one_line(header: str) -> tuple[str, str] | None:
    """(``ADDR {``, statements) when a block header line holds the whole block, else None.

    ``lease 10.0.0.5 { starts ...; ends ...; binding state active; }`` is valid dhcpd syntax
    (its lexer does not care for lines); dhcpd itself writes one statement per line.
    """
    o = header.find("{")
    c = header.rfind("}")
    if o < 0 or c < o:
        return None
    after = header[c + 1:].strip()
    if after and after[0] != "#":
        return None
    inner = header[o + 1:c]
    depth = 0  # the braces inside (an ``on expiry { ... }``) must balance, quotes aside
    quoted = False
    k = 0
    while k < len(inner):
        ch = inner[k]
        if quoted:
            if ch == "\\":
                k += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return None
        k += 1
    if depth or quoted:
        return None
    return header[:o + 1], inner


def _unkey_truncated_tail(text: str, keys4: _KeyArray, keys6: _KeyArray) -> None:
    starts = list(_START_SPLIT.finditer(text))
    if not starts:
        return
    last = starts[-1]
    body = text[last.end():]
    if "\n}" in body or ("}" in last.group(2) and _one_line(last.group(2)) is not None):
        return
    word = last.group(1)
    if word == "lease" and keys4.n:
        keys4.data[keys4.n - 1] = (1 << 33) + keys4.n
    elif word in _IA_CODES:
        n = len(_IAADDR.findall(body))
        for i in range(keys6.n - n, keys6.n):
            keys6.data[i] = np.frombuffer(b"\xfe" + i.to_bytes(17, "big"), dtype=_V6_KEY)[0]


#: v4 keys sort as (address << _IDX_BITS | block number): the block numbers of a file must fit
_IDX_BITS = 31
#: v4 keys from 1 << 32 up are unique (an address that does not parse, a truncated last block)
_UNIQUE4 = 1 << 32
_STEP = 1 << 20


def _last_occurrence(keys: npt.NDArray[Any], *, consume: bool = False) -> npt.NDArray[np.bool_]:
    """The winners: True at the last occurrence of every key. ``consume`` lets v4 keys be
    sorted in place (the caller needs them no more)."""
    n = len(keys)
    if n and keys.dtype == np.uint64 and n < (1 << _IDX_BITS):
        return _last_occurrence4(keys if consume else keys.copy())
    if n and _fastpath._last_keys is not None and keys.dtype == np.dtype(_V6_KEY):
        # a hash set in C: np.unique sorts 18-byte keys with one memcmp per comparison
        return np.frombuffer(_fastpath._last_keys(np.ascontiguousarray(keys), keys.itemsize),
                             dtype=np.bool_)
    mask = np.zeros(n, dtype=np.bool_)
    if n:
        _, first_in_reversed = np.unique(keys[::-1], return_index=True)
        mask[n - 1 - first_in_reversed] = True
    return mask


def _last_occurrence4(packed: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
    """:func:`_last_occurrence` of v4 keys in place and in ~9 bytes a block: each key becomes
    ``address << 31 | block number`` (unique keys all ``1 << 32``: they win anyway), one in-place
    sort, and the last of every run of one address wins. np.unique's argsort needed ~4x that."""
    n = len(packed)
    mask = np.zeros(n, dtype=np.bool_)
    shift = np.uint64(_IDX_BITS)
    for s in range(0, n, _STEP):
        part = packed[s:s + _STEP]
        mask[s:s + _STEP] = part >= _UNIQUE4
        np.minimum(part, np.uint64(_UNIQUE4), out=part)
        part <<= shift
        part |= np.arange(s, s + len(part), dtype=np.uint64)
    packed.sort()
    low = np.uint64((1 << _IDX_BITS) - 1)
    for s in range(0, n, _STEP):
        part = packed[s:s + _STEP]
        high = part >> shift
        after = np.empty_like(high)
        after[:-1] = high[1:]
        after[-1] = packed[s + _STEP] >> shift if s + _STEP < n else np.uint64(_UNIQUE4 + 1)
        mask[(part[high != after] & low).astype(np.intp)] = True
    return mask
