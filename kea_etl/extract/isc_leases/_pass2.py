"""Pass 2: the same chunks split into the same blocks; only the winners are parsed and yielded
in file order."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from kea_etl.errors import InvalidValueError, MalformedRecordError
from kea_etl.extract.base import ExtractItem
from kea_etl.extract.isc_leases import _fastpath
from kea_etl.extract.isc_leases._build import (
    _BLOCK4,
    _F_REST,
    _FAST4,
    _U32,
    _build_lease6,
    _extracted,
    _fields4,
    _ip6,
    _make4,
)
from kea_etl.extract.isc_leases._fastpath import _SCAN_BATCH, _SCAN_BATCH6
from kea_etl.extract.isc_leases._index import _Layout, _one_line
from kea_etl.extract.isc_leases._snapshot import Snapshot
from kea_etl.extract.isc_leases._syntax import (
    _COMMENT_LINE,
    _IA_TYPES,
    _IAADDR,
    _NEVER,
    _START_SPLIT,
    _TOP_STMT,
    _WS,
    ByteOrder,
    _BadBlock,
    _binding,
    _date,
    _error,
    _id_bytes,
    _set_value,
    _statements,
    _statements_exact,
    _sub_block_end,
)
from kea_etl.records import INFINITE_LIFETIME, Lease6
from kea_etl.report import quote


class _Pass2:
    def __init__(self, snap: Snapshot, source: str, mask4: npt.NDArray[np.bool_],
                 mask6: npt.NDArray[np.bool_], family: int | None, byte_order: ByteOrder,
                 layout: _Layout) -> None:
        self.snap = snap
        self.layout = layout
        self.source = source
        #: the same mask as bytes for the C fast path (None: pure Python); with it, the mask
        #: is kept only as bytes (a list of a million bools costs every full GC a million visits)
        self.win4b: bytes | None = mask4.astype(np.uint8).tobytes() if _fastpath._scan4 is not None else None
        self.win4: list[bool] | bytes = self.win4b if self.win4b is not None else mask4.tolist()
        self.win6b: bytes | None = mask6.astype(np.uint8).tobytes() if _fastpath._scan6 is not None else None
        self.win6: list[bool] | bytes = self.win6b if self.win6b is not None else mask6.tolist()
        self.family = family
        self.byte_order: ByteOrder = byte_order
        self.server_duid: str | None = None
        self.i4 = 0
        self.i6 = 0
        self.line = 1

    # -- driver ------------------------------------------------------------------------------

    def run(self) -> Iterator[ExtractItem]:
        win4 = self.win4
        fast4 = self._fast4
        source = self.source
        aton = socket.inet_aton
        ntoa = socket.inet_ntoa
        make4 = _make4
        v6_only = self.family == 6
        layout = self.layout
        for k in range(len(layout.offsets)):
            text = self.read_chunk(layout, k)
            yield from self.chunk(text, win4, fast4, source, aton, ntoa, make4, v6_only)

    def read_chunk(self, layout: _Layout, k: int) -> str:
        """Chunk k of the file as pass 1 cut it ("\n" + text), read on its own from the same open
        file and checked to be the bytes pass 1 read."""
        return self.snap.chunk(layout.offsets[k], layout.lengths[k])

    def run_chunk(self, layout: _Layout, k: int, text: str) -> Iterator[ExtractItem]:
        """The items of chunk k (text from read_chunk), independent of the other chunks (v4)."""
        self.i4 = layout.first_i4[k]
        self.line = layout.first_line[k]
        yield from self.chunk(text, self.win4, self._fast4, self.source, socket.inet_aton,
                              socket.inet_ntoa, _make4, self.family == 6)

    def chunk(self, text: str, win4: list[bool] | bytes, fast4: Any, source: str, aton: Any, ntoa: Any,
              make4: Any, v6_only: bool) -> Iterator[ExtractItem]:
        """Items of one chunk, continuing from self.i4 / self.i6 / self.line."""
        # Blocks in dhcpd's own layout are matched whole by one finditer over the chunk;
        # the text between them (other blocks, hand edits, top-level statements) goes
        # through the general region parser. Line numbers are counted lazily: (cp, cl) says
        # that the line after text[cp] (a "\n") is line cl.
        cp, cl = 0, self.line
        pos = 0
        i4 = self.i4
        count = text.count
        n = len(text)
        win4b = self.win4b
        scan = _fastpath._scan4 if not v6_only and win4b is not None else None
        win6b = self.win6b
        scan6 = _fastpath._scan6 if self.family != 4 and win6b is not None and self.layout.has_ia else None
        # the next _BLOCK4 match from m4_from on (kept: with scan6, Python reads one block at a
        # time, and searching a v6 chunk for a v4 block after each would be quadratic)
        m4: re.Match[str] | None = None
        m4_from = -1
        while True:
            if scan is not None and pos < n:
                # the C fast path takes every block from pos on that it reads exactly like
                # _make4 would; it stops at the first other one (text[pos] is a "\n")
                cl += count("\n", cp + 1, pos + 1)
                while True:
                    items, pos, i4, cl = scan(text, pos, win4b, i4, cl, source, _SCAN_BATCH)
                    yield from items
                    if len(items) < _SCAN_BATCH:
                        break
                cp = pos
            if scan6 is not None and pos < n:
                # the same for ia-na / ia-ta / ia-pd blocks (what _ia would build)
                cl += count("\n", cp + 1, pos + 1)
                while True:
                    items, pos, self.i6, cl = scan6(text, pos, win6b, self.i6, cl, source,
                                                    _SCAN_BATCH6, self.byte_order == "big",
                                                    self.server_duid)
                    yield from items
                    if len(items) < _SCAN_BATCH6:
                        break
                cp = pos
            if m4_from < 0 or (m4 is not None and m4.start() < pos):
                m4, m4_from = _BLOCK4.search(text, pos), pos
            m = m4
            s = m.start() if m is not None else n
            if scan6 is not None and s != pos:
                # Python reads only the text up to the next block (a block scan6 refused,
                # top-level statements), then the fast paths go on
                nxt = _START_SPLIT.search(text, pos + 1, s)
                if nxt is not None:
                    s, m = nxt.start(), None
            if m is None and s == n:
                break
            if s != pos:
                cl += count("\n", cp + 1, pos + 1)
                cp = pos
                self.i4 = i4
                yield from self._regions(text[pos:s], cl)
                i4 = self.i4
                if scan is not None or scan6 is not None:
                    pos = s  # the fast path may take the block at s
                    continue
            assert m is not None
            if win4[i4]:
                cl += count("\n", cp + 1, s + 1)
                cp = s
                # the common case inline: a canonical address, no set / option lines, no
                # error; anything else (including every error) goes through _fast4
                item: ExtractItem | None = None
                fields = m.groups()
                if not fields[_F_REST + 1] and not v6_only:
                    key = fields[0]
                    try:
                        packed = aton(key)
                        if ntoa(packed) == key:
                            item = make4(packed, fields[1:], None, source, cl)
                    except (OSError, ValueError, InvalidValueError, _BadBlock):
                        item = None
                yield item if item is not None else fast4(m, cl)
            i4 += 1
            pos = m.end()
        self.i4 = i4
        if pos < n:
            cl += text.count("\n", cp + 1, pos + 1)
            cp = pos
            yield from self._regions(text[pos:], cl)
        self.line = cl + text.count("\n", cp + 1)

    def _fast4(self, m: re.Match[str], line: int) -> ExtractItem:
        """A winner matched by _BLOCK4 (dhcpd's layout)."""
        key = m.group(1)
        source = self.source
        try:
            packed = socket.inet_aton(key)
            if socket.inet_ntoa(packed) != key:  # inet_aton also takes "10.1", "0x0a.1.2.3"
                raise OSError
        except (OSError, ValueError):  # ValueError: a NUL byte in the address (found by fuzzing)
            return _error(source, line, key, f"lease {key!r} does not name an IPv4 address")
        if self.family == 6:
            return _error(source, line, key,
                          f"lease {key} is a DHCPv4 block in a file read as DHCPv6")
        fields = m.groups()[1:]
        try:
            rest = fields[_F_REST]
            return _make4(packed, fields, _statements(rest) if rest else None, source, line)
        except _BadBlock as exc:
            # the offset counts from the first set/option line (group _F_REST + 2 of _BLOCK4)
            at = line + m.string.count("\n", m.start() + 1, m.start(_F_REST + 2)) + exc.line_offset
            return _error(source, at, key, f"lease {key} {exc.reason}")
        except (ValueError, InvalidValueError) as exc:
            return _error(source, line, key, f"lease {key}: {exc}")

    def _regions(self, text: str, first_line: int) -> Iterator[ExtractItem]:
        """Blocks and statements of text ("\n" + content starting on line first_line)."""
        win4 = self.win4
        parse4 = self._lease4
        # parts: [text before the first block, word, header, body, word, header, body, ...];
        # a body starts with the header line's "\n" and runs to the next block's "\n"
        parts = _START_SPLIT.split(text)
        pre = parts[0]
        if len(pre) > 1 and not pre.isspace():
            yield from self._top_level(pre[1:], first_line)
        if len(parts) == 1:
            return
        i4 = self.i4
        line = first_line + pre.count("\n")
        for j in range(1, len(parts), 3):
            word = parts[j]
            body = parts[j + 2]
            # the block ends at its first column-0 "}"
            end = body.find("\n}")
            header = parts[j + 1]
            one = _one_line(header) if "}" in header else None
            if one is not None:
                # a whole block on its header's line (``lease A { starts ...; ... }``): valid
                # dhcpd syntax, written by hand or by other tools; what follows is top level
                head, inner = one
                if word == "lease":
                    if win4[i4]:
                        yield parse4(head, inner, line, stmt_line=0)
                    i4 += 1
                elif word in _IA_TYPES:
                    yield _error(self.source, line, None, f"{word} {quote(head.rstrip(' {'))} is "
                                 "written on one line: kea-etl reads ia-na / ia-ta / ia-pd blocks "
                                 "with one statement per line (as dhcpd writes them)")
                # host / group / class / subclass: pass 1 reads them (see _Others)
                if len(body) > 1 and not body.isspace():
                    yield from self._top_level(body[1:], line + 1)
                line += body.count("\n") + 1
                continue
            if word == "lease":
                if win4[i4]:
                    yield parse4(header, body[1:end + 1] if end >= 0 else None, line)
                elif end < 0:
                    key = header.split("{", 1)[0].strip()
                    yield self._truncated(f"lease {key}", key, line)
                i4 += 1
            elif word in _IA_TYPES:
                yield from self._ia(word, parts[j + 1], body[1:end + 1] if end >= 0 else None,
                                    body, line)
            elif end < 0:
                # failover peer state, host, group, class, subclass: not leases, skipped,
                # but a truncated one is still worth a line in the report
                what = f"{word} {quote(parts[j + 1].rstrip(' {'))}"
                yield _error(self.source, line, None, f"{what} is truncated (no closing brace)")
            nl = body.count("\n")
            if 0 <= end < len(body) - 2:
                tail = body[end + 2:]
                if not tail.isspace():
                    yield from self._top_level(tail, line + nl - tail.count("\n"))
            line += nl + 1
        self.i4 = i4

    # -- pieces ------------------------------------------------------------------------------

    def _truncated(self, what: str, key: str, line: int) -> MalformedRecordError:
        return _error(self.source, line, key, f"{what} is truncated (no closing brace)")

    def _top_level(self, text: str, line: int) -> Iterator[ExtractItem]:
        """Statements between blocks: comments, authoring-byte-order, lease-id-format, ..."""
        pos = 0
        end = len(text)
        # line numbers are counted on from the last error, not from the start: a region of
        # n bad lines costs O(n), not O(n^2) (found with 100k stray closing braces)
        at_pos, at_line = 0, line

        def line_of(p: int) -> int:
            nonlocal at_pos, at_line
            at_line += text.count("\n", at_pos, p)
            at_pos = p
            return at_line

        while True:
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            if pos >= end:
                return
            if text[pos] == "#":
                pos = _COMMENT_LINE.match(text, pos).end()  # type: ignore[union-attr]
                continue
            m = _TOP_STMT.match(text, pos)
            if m is None:
                nl = text.find("\n", pos)
                snippet = text[pos:nl if nl >= 0 else end].strip()[:60]
                yield _error(self.source, line_of(pos), None,
                             f"unexpected text between blocks: {snippet!r}")
                if nl < 0:
                    return
                pos = nl + 1
                continue
            word, value = m.group(1), m.group(2).strip()
            if word == "authoring-byte-order":
                if value not in ("little-endian", "big-endian"):
                    yield _error(self.source, line_of(pos), None,
                                 f"authoring-byte-order {value!r} is not little-endian or "
                                 "big-endian")
                else:
                    self.byte_order = "little" if value == "little-endian" else "big"
            elif word == "server-duid":
                try:
                    self.server_duid = _id_bytes(value).hex(":")
                except ValueError:
                    yield _error(self.source, line_of(pos), None,
                                 f"server-duid {value!r} cannot be decoded")
            # lease-id-format / db-time-format need no state: ids and dates are recognised by
            # their shape, which is also what dhcpd does when it reads the file.
            pos = m.end()

    # -- v4 ------------------------------------------------------------------------------------

    def _lease4(self, header: str, stmts: str | None, line: int, stmt_line: int = 1
                ) -> ExtractItem:
        """One v4 block: ``header`` is the rest of the ``lease`` line, ``stmts`` the statements
        (None: never closed); they start ``stmt_line`` lines after ``line`` (0: a one-line block)."""
        source = self.source
        key = header[:-2] if header[-2:] == " {" else header.split("{", 1)[0].strip()
        if stmts is None:
            return self._truncated(f"lease {key}", key, line)
        if header[-1:] != "{":
            return _error(source, line, key, f"lease {key} has no opening brace")
        if self.family == 6:
            return _error(source, line, key,
                          f"lease {key} is a DHCPv4 block in a file read as DHCPv6")
        try:
            packed = socket.inet_aton(key)
            if socket.inet_ntoa(packed) != key:  # inet_aton also takes "10.1", "0x0a.1.2.3"
                raise OSError
        except (OSError, ValueError):  # ValueError: a NUL byte in the address (found by fuzzing)
            return _error(source, line, key, f"lease {key!r} does not name an IPv4 address")
        m = _FAST4.match(stmts)
        rest_at = 0  # line offset of the text given to _statements within the block's statements
        try:
            if m is not None:
                fields = m.groups()
                rest = fields[_F_REST]
                rest_at = stmts.count("\n", 0, m.start(_F_REST + 1))
                extra_pairs = _statements(rest) if rest else None
            else:
                fields, extra_pairs = _fields4(_statements(stmts))
            return _make4(packed, fields, extra_pairs, source, line)
        except _BadBlock as exc:
            return _error(source, line + stmt_line + rest_at + exc.line_offset, key,
                          f"lease {key} {exc.reason}")
        except (ValueError, InvalidValueError) as exc:
            return _error(source, line, key, f"lease {key}: {exc}")

    # -- v6 ------------------------------------------------------------------------------------

    def _ia(self, word: str, header: str, stmts: str | None, body: str,
            line: int) -> Iterator[ExtractItem]:
        addrs = list(_IAADDR.finditer(body))
        base = self.i6
        self.i6 = base + len(addrs)
        win6 = self.win6
        winners = [k for k in range(len(addrs)) if win6[base + k]]
        ident = header.rstrip(" \t{").strip()
        source = self.source
        if stmts is None:
            if winners or not addrs:
                key = addrs[winners[-1]].group(2) if winners else f"{word} {ident}"
                yield self._truncated(f"{word} {ident}", key, line)
            return
        if not winners:
            return
        keys = [addrs[k].group(2) for k in winners]
        if header[-1:] != "{":
            for key in keys:
                yield _error(source, line, key, f"{word} {ident} has no opening brace")
            return
        if self.family == 4:
            for key in keys:
                yield _error(source, line, key,
                             f"{word} {ident} is a DHCPv6 block in a file read as DHCPv4")
            return
        try:
            raw = _id_bytes(ident)
            if len(raw) < 5:
                raise ValueError(f"IAID+DUID is {len(raw)} bytes (needs 4 for the IAID and "
                                 "at least 1 for the DUID)")
            if len(raw) > 134:
                raise ValueError(f"the DUID is {len(raw) - 4} bytes long (at most 130)")
        except ValueError as exc:
            for key in keys:
                yield _error(source, line, key, f"{word} {ident}: {exc}")
            return
        # The IAID is the first 4 bytes in the byte order of the host that wrote the file
        # (dhcpd copies its host-order uint32 there); authoring-byte-order says which.
        iaid = int.from_bytes(raw[:4], self.byte_order)
        duid_hex = raw[4:].hex(":")
        lease_type = _IA_TYPES[word]
        # the address sub-blocks, and the IA's own statements (cltt) outside them
        spans: list[tuple[int, int]] = []
        pieces: list[str] = []
        prev = 0
        for a in addrs:
            s = a.start()
            e = _sub_block_end(stmts, s)
            if e is None:
                for k in winners:
                    what = "iaprefix" if addrs[k].group(1) == "prefix" else "iaaddr"
                    yield _error(source, line + 1 + stmts.count("\n", 0, s), addrs[k].group(2),
                                 f"{word} {ident}: an {what} block is not closed")
                return
            spans.append((s, e))
            pieces.append(stmts[prev:s])
            prev = e
        pieces.append(stmts[prev:])
        try:
            ia_pairs = dict(_statements_exact("".join(pieces)))
            cltt_v = ia_pairs.get("cltt")
            ia_cltt = _date(cltt_v) if cltt_v else None
            if ia_cltt == _NEVER:
                ia_cltt = None
        except (_BadBlock, ValueError) as exc:
            reason = exc.reason if isinstance(exc, _BadBlock) else f": {exc}"
            for key in keys:
                yield _error(source, line, key, f"{word} {ident} {reason}")
            return
        for k in winners:
            s, e = spans[k]
            yield self._build6(addrs[k], stmts[s:e], lease_type, iaid, duid_hex, ia_cltt,
                               line + 1 + stmts.count("\n", 0, s), word, ident)

    def _build6(self, a: re.Match[str], block: str, lease_type: str, iaid: int, duid: str,
                ia_cltt: int | None, line: int, word: str, ident: str) -> ExtractItem:
        source = self.source
        key = a.group(2)
        what = "iaprefix" if a.group(1) == "prefix" else "iaaddr"
        open_at = block.find("{")
        inner = block[open_at + 1:block.rfind("}")]
        try:
            if what == "iaprefix":
                if lease_type != "IA_PD":
                    raise ValueError(f"an iaprefix inside {word}")
                addr_s, _, plen_s = key.partition("/")
                if not plen_s.isdigit():
                    raise ValueError(f"prefix {key!r} has no /length")
                plen = int(plen_s)
            else:
                if lease_type == "IA_PD":
                    raise ValueError("an iaaddr inside ia-pd")
                addr_s, plen = key, 128
            addr = _ip6(addr_s)
            if addr is None:
                raise ValueError(f"{key!r} is not an IPv6 address")
            d = dict(_statements_exact(inner))
        except _BadBlock as exc:
            return _error(source, line + exc.line_offset, key, f"{what} {key} {exc.reason}")
        except ValueError as exc:
            return _error(source, line, key, f"{what} {key}: {exc}")
        try:
            extra: dict[str, Any] = {"iaid-duid": ident}
            v = d.get("binding state")
            state = _binding(v) if v is not None else "active"
            for name in ("preferred-life", "max-life"):
                v = d.get(name)
                if v is not None:
                    n = int(v.strip())
                    if not 0 <= n <= 0xFFFFFFFF:
                        raise ValueError(f"{name} {n} is outside 0..4294967295")
                    extra[name] = n
            ends = None
            v = d.get("ends")
            if v is not None:
                ends = _date(v)
                extra["ends"] = None if ends == _NEVER else ends
            if ia_cltt is not None:
                extra["cltt"] = ia_cltt
            if self.server_duid is not None:
                extra["server-duid"] = self.server_duid
            sets = {n[3:].strip(): _set_value(val) for n, val in d.items() if n.startswith("set")}
            if sets:
                extra["set"] = sets
            max_life = extra.get("max-life")
            preferred = extra.get("preferred-life", 0)
            base = ia_cltt
            if ends == _NEVER:
                valid = INFINITE_LIFETIME
                cltt = base if base is not None else 0
            elif ends is None:
                # no ends: dhcpd always writes one; fall back to cltt + max-life
                cltt = base if base is not None else 0
                valid = max_life if max_life is not None else 0
            else:
                if base is None and max_life is not None and ends - max_life >= 0:
                    base = ends - max_life
                if base is None or ends <= base:
                    cltt, valid = ends, 0
                else:
                    cltt, valid = base, min(ends - base, INFINITE_LIFETIME)
            hostname = ""
            fwd = sets.get("ddns-fwd-name") if sets else None
            if isinstance(fwd, str):
                hostname = fwd
            if 0 <= cltt <= _U32 and 0 <= valid <= _U32 and 1 <= plen <= 128 and (
                    plen == 128 or int(addr) & ((1 << (128 - plen)) - 1) == 0):
                # every value already canonical (the DUID is raw.hex(":") of 1..130 bytes, the
                # IAID 4 bytes, lifetimes checked above): build without Lease6's validation
                record = _build_lease6(addr, duid, iaid, valid, cltt, lease_type, plen,
                                       preferred, 0, hostname, False, False, None, 0, None,
                                       source, line)
            else:  # out of range or host bits set: the constructor says what is wrong
                record = Lease6(address=addr, duid=duid, iaid=iaid, valid_lft=valid, cltt=cltt,
                                lease_type=lease_type,  # type: ignore[arg-type]
                                prefix_len=plen, preferred_lft=preferred, hostname=hostname,
                                origin=source, line=line)
        except (ValueError, InvalidValueError) as exc:
            return _error(source, line, key, f"{what} {key}: {exc}")
        return _extracted(record, state, source, line, extra)
