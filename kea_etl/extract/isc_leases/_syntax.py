"""The grammar of a dhcpd lease file: block and statement regexes, value decoding (dates,
escapes, ids), the statements of one block, and the error a bad block becomes."""

from __future__ import annotations

import calendar
import codecs
import re
from datetime import datetime
from typing import Any, Literal

from kea_etl.errors import MalformedRecordError
from kea_etl.report import quote_key

ByteOrder = Literal["little", "big"]


#: bytes read per chunk; both passes must use the same value (the cut points must agree)
CHUNK_SIZE = 1 << 22


#: the most text held while looking for the end of a block: a longer stretch without a
#: column-0 "}" line is cut there and its block reported truncated (bounded memory)
MAX_BLOCK = 16 << 20


# A top-level block starts at column 0 with one of dhcpd's top-level keywords. dhcpd writes
# every nested closing brace indented, so the first "\n}" after a block start closes it.
_BLOCK_WORDS = r"lease|ia-na|ia-ta|ia-pd|failover|host|group|class|subclass"


# Every chunk is processed as "\n" + text, so "\n" anchors line starts (sre's multi-line "^"
# costs a check at every character; a literal "\n" is found by a fast scan).
_START_SPLIT = re.compile(r"\n(" + _BLOCK_WORDS + r")[ \t]+([^\n]*)")


_LEASE_IP = re.compile(r"\nlease[ \t]+([^\s{]*)")


_V6_SCAN = re.compile(
    r"\n(?:(" + _BLOCK_WORDS + r")[ \t]|[ \t]+ia(addr|prefix)[ \t]+([^\s{]*))")


_IAADDR = re.compile(r"\n[ \t]+ia(addr|prefix)[ \t]+([^\s{]*)")


_IPV4_LIST = re.compile(
    r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)")


_IPV4_LINES = re.compile(r"(?:" + _IPV4_LIST.pattern + r"\n)*")


# One statement inside a block: ``name value;`` with quoted strings that may hold ';'. The name
# group keeps ``binding state``, ``set NAME`` and ``option NAME`` whole so that dict() works.
_QSTR = r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"'


_VALUE = r'[^;"\n{}#]*(?:' + _QSTR + r'[^;"\n{}#]*)*'


_STMT_NAME = (r"(starts|ends|tstp|tsfp|atsfp|cltt|binding state|next binding state"
              r"|rewind binding state|hardware|uid|client-hostname|hostname"
              r"|set[ \t]+[^\s=;]+|option[ \t]+[^\s;]+|billing|[a-z][a-z0-9-]*)")


_STMT = re.compile(r"\s*" + _STMT_NAME + r"(?:[ \t]*=)?(?:[ \t]+(" + _VALUE + r"))?[ \t]*;"
                   r"(?:[ \t]*#[^\n]*)?")


_TOP_STMT = re.compile(
    r"\s*(authoring-byte-order|lease-id-format|server-duid|db-time-format)[ \t]+(" + _VALUE
    + r")[ \t]*;(?:[ \t]*#[^\n]*)?")


_COMMENT_LINE = re.compile(r"\s*#[^\n]*")


_WS = re.compile(r"\s*")


_DATE = re.compile(r"(\d)[ \t]+(\d{1,5})/(\d{1,2})/(\d{1,2})[ \t]+(\d{1,2}):(\d{1,2}):(\d{1,2})"
                   r"(?:[ \t]+UTC)?")


_EPOCH = re.compile(r"epoch[ \t]+(\d+)")


_HEX_ID = re.compile(r"[0-9a-fA-F]{1,2}(?::[0-9a-fA-F]{1,2})*")


_ESCAPE = re.compile(r"\\([0-7]{1,3}|x[0-9a-fA-F]{1,2}|.)", re.S)


_ODD_ESCAPE = re.compile(r'\\(?:[^0-7"\\]|[0-7]{1,2}(?![0-7])|[4-7][0-7]{2})')


_HEXCHARS = frozenset("0123456789abcdef:")


# the fixed-width date shortcut must refuse what _DATE refuses, whatever the caches hold
_ASCII_DIGITS = frozenset("0123456789")


_ESCAPES = {"t": "\t", "r": "\r", "n": "\n", "b": "\b"}


_IA_TYPES = {"ia-na": "IA_NA", "ia-ta": "IA_TA", "ia-pd": "IA_PD"}


_IA_CODES = {"ia-na": 0, "ia-ta": 1, "ia-pd": 2}


_KNOWN_STATES = frozenset(("active", "free", "abandoned", "backup", "expired", "released",
                           "reset", "bootp"))


_CORE4_SET = frozenset(("starts", "ends", "cltt", "tstp", "tsfp", "atsfp", "binding state",
                        "next binding state", "rewind binding state", "hardware", "uid",
                        "client-hostname", "hostname"))


_NEVER = -1


_DATE_CACHE: dict[str, int] = {}


_DATE_CACHE_MAX = 400_000


_DAY_CACHE: dict[str, int] = {}


_TOD_CACHE: dict[str, int] = {}


class _BadBlock(Exception):
    """Internal: a block cannot be parsed; carries the reason and the line offset in the block."""

    def __init__(self, reason: str, line_offset: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line_offset = line_offset


def _date(value: str) -> int:
    """Epoch seconds of a dhcpd date (``W YYYY/MM/DD HH:MM:SS`` UTC, ``epoch N``), or _NEVER.

    Memoised: a lease file holds few distinct seconds per day, and fewer distinct days.
    """
    got = _DATE_CACHE.get(value)
    if got is not None:
        return got
    result = _date_uncached(value)
    if len(_DATE_CACHE) >= _DATE_CACHE_MAX:
        _DATE_CACHE.clear()
    _DATE_CACHE[value] = result
    return result


def _date_uncached(value: str) -> int:
    v = value
    if len(v) == 21 and v[1] == " " and v[12] == " " and v[0] in _ASCII_DIGITS:
        # the fixed-width form dhcpd writes, "W YYYY/MM/DD HH:MM:SS": day and time of day
        # are looked up separately (few distinct days; at most 86400 distinct times)
        day = _DAY_CACHE.get(v[2:12])
        if day is not None:
            tod = _TOD_CACHE.get(v[13:])
            if tod is None:
                t = v[13:]
                digits = t[:2] + t[3:5] + t[6:]
                if t[2] == ":" and t[5] == ":" and digits.isascii() and digits.isdigit():
                    hh, mi, ss = int(t[:2]), int(t[3:5]), int(t[6:])
                    if hh < 24 and mi < 60 and ss < 61:
                        tod = _TOD_CACHE[t] = hh * 3600 + mi * 60 + ss
            if tod is not None:
                return day + tod
    v = value.strip()
    if v == "never":
        return _NEVER
    m = _DATE.fullmatch(v)
    if m is not None:
        y, mo, d, hh, mi, ss = (int(x) for x in m.groups()[1:])
        try:
            datetime(y, mo, d, hh, mi, min(ss, 59))  # validates the calendar date
        except ValueError as exc:
            raise ValueError(f"invalid date {value!r}: {exc}") from None
        if ss > 60:
            raise ValueError(f"invalid date {value!r}: second must be in 0..60")
        result = calendar.timegm((y, mo, d, hh, mi, ss, 0, 0, 0))
        if len(v) >= 12 and v[6] == "/" and v[9] == "/" and result >= 0:
            if len(_DAY_CACHE) > 100_000:
                _DAY_CACHE.clear()
            _DAY_CACHE[v[2:12]] = result - (hh * 3600 + mi * 60 + ss)
    else:
        m = _EPOCH.fullmatch(v)
        if m is None:
            raise ValueError(f"invalid date {value!r} (expected 'W YYYY/MM/DD HH:MM:SS', "
                             "'epoch N' or 'never')")
        result = int(m.group(1))
    if result < 0:
        raise ValueError(f"date {value!r} is before 1970")
    return result


def _unescape(body: str) -> bytes:
    """Bytes of a dhcpd quoted string's inside (octal escapes, \\" and \\\\, as dhcpd's lexer)."""
    if "\\" not in body:
        return body.encode("latin-1")
    if _ODD_ESCAPE.search(body) is None:
        # only \ooo, \" and \\ (all dhcpd writes): Python's C decoder agrees with dhcpd's lexer
        return codecs.escape_decode(body.encode("latin-1"))[0]

    def repl(m: re.Match[str]) -> str:
        e = m.group(1)
        c = e[0]
        if c in "01234567":
            return chr(int(e, 8) & 0xFF)
        if c == "x" and len(e) > 1:
            return chr(int(e[1:], 16))
        return _ESCAPES.get(c, c)

    return _ESCAPE.sub(repl, body).encode("latin-1")


def _id_bytes(value: str) -> bytes:
    """Bytes of an id written as a quoted string (octal escapes) or as colon hex."""
    v = value.strip()
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        return _unescape(v[1:-1])
    if _HEX_ID.fullmatch(v) is not None:
        return bytes(int(x, 16) for x in v.split(":"))
    raise ValueError(f"{value!r} is neither a quoted string nor colon hex")


def _text(value: str) -> str:
    """A quoted dhcpd string as text (UTF-8 when it decodes, else latin-1)."""
    raw = _id_bytes(value)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _hex_or_text(value: str) -> str:
    """Relay-agent sub-options as lowercase colon hex (dhcpd writes a string or unpadded hex)."""
    return _id_bytes(value).hex(":")


def _set_value(value: str | None) -> Any:
    if value is None:
        return None
    v = value.strip()
    if v[:1] == '"':
        return _text(v)
    if v[:1] == "%":
        return int(v[1:])
    if v in ("true", "false"):
        return v == "true"
    if v == "null":
        return None
    if _HEX_ID.fullmatch(v) is not None:
        return _id_bytes(v).hex(":")
    return v


def _statements(text: str) -> list[tuple[str, str]]:
    """(name, value) pairs of a block body (without its braces).

    Fast path: one findall, trusted when it consumed one statement per line and per ';' (what
    dhcpd writes). Otherwise the careful path walks the text statement by statement, skipping
    comments and nested ``on expiry { ... }`` blocks, and raises _BadBlock on anything else.
    """
    if "{" not in text and "#" not in text:
        pairs: list[tuple[str, str]] = _STMT.findall(text)
        n = len(pairs)
        if n == text.count(";") and n == text.count("\n") + (0 if text.endswith("\n") else 1):
            return pairs
    return _statements_careful(text)


def _statements_exact(text: str) -> list[tuple[str, str]]:
    """What :func:`_statements_careful` returns, faster when the text is nothing but
    statements: each match must start where the previous one ended, and only blank space may
    follow the last (so no stray text is skipped, whatever the line layout). The v6 blocks use
    it: their bodies start and end with blank space, which :func:`_statements`' line count
    always sent down the careful path."""
    if "{" not in text and "#" not in text:
        pairs: list[tuple[str, str]] = []
        pos = 0
        for m in _STMT.finditer(text):
            if m.start() != pos:
                break
            pairs.append((m.group(1), m.group(2) or ""))
            pos = m.end()
        else:
            if _WS.match(text, pos).end() == len(text):  # type: ignore[union-attr]
                return pairs
    return _statements_careful(text)


def _statements_careful(text: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    pos = 0
    end = len(text)
    while True:
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        if pos >= end:
            return pairs
        if text[pos] == "#":
            pos = _COMMENT_LINE.match(text, pos).end()  # type: ignore[union-attr]
            continue
        m = _STMT.match(text, pos)
        if m is not None:
            pairs.append((m.group(1), m.group(2) or ""))
            pos = m.end()
            continue
        # ``on expiry { ... }`` / ``on release { ... }`` and other nested blocks: skip them
        brace = _nested_block_end(text, pos)
        if brace is not None:
            pos = brace
            continue
        line_offset = text.count("\n", 0, pos)
        snippet = text[pos:].split("\n", 1)[0].strip()
        if len(snippet) > 60:
            snippet = snippet[:57] + "..."
        raise _BadBlock(f"has a statement that cannot be parsed: {snippet!r}", line_offset)


def _nested_block_end(text: str, pos: int) -> int | None:
    """End position of a ``word ... { ... }`` statement starting at pos (quote-aware), or None."""
    i = pos
    n = len(text)
    # the head (e.g. "on expiry or release") must reach '{' before any ';' on the way
    while i < n and text[i] not in "{;\"\n":
        i += 1
    if i >= n or text[i] != "{":
        return None
    depth = 0
    while i < n:
        c = text[i]
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                i += 1
                if i < n and text[i] == ";":
                    i += 1
                return i
        i += 1
    return None


def _sub_block_end(text: str, pos: int) -> int | None:
    """End of the ``iaaddr X { ... }`` block starting at pos; fast when it holds no braces."""
    o = text.find("{", pos)
    if o < 0:
        return None
    c = text.find("}", o)
    if c >= 0 and "{" not in text[o + 1:c] and '"' not in text[o + 1:c]:
        return c + 1
    return _nested_block_end(text, pos)


def _binding(value: str) -> str:
    if value in _KNOWN_STATES:
        return value
    state = value.strip()
    if state not in _KNOWN_STATES:
        raise ValueError(f"unknown binding state {state!r}")
    return state


def _error(source: str, line: int, key: str | None, reason: str) -> MalformedRecordError:
    """A MalformedRecordError whose message reads ``FILE line N: REASON`` and whose key is set.

    The reason already names the record (``lease 192.0.2.30 is truncated ...``), so the key is
    attached after construction instead of being prefixed to the message a second time.
    """
    key, reason = quote_key(key, reason)  # the key is input: a 50 MB line is quoted, not echoed
    err = MalformedRecordError(source, line, None, reason)
    err.key = key
    return err
