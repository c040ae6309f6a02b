"""How dhcpd spells values in a lease file, for the tests and benchmarks that write or read one
(independently of kea_etl, so that they can check it)."""

from __future__ import annotations

import time

__all__ = ["dhcpd_date", "quote", "unescape"]


def dhcpd_date(t: int) -> str:
    """``W YYYY/MM/DD HH:MM:SS`` (UTC, weekday 0 = Sunday), as dhcpd writes starts / ends."""
    tm = time.gmtime(t)
    return (f"{(tm.tm_wday + 1) % 7} {tm.tm_year}/{tm.tm_mon:02d}/{tm.tm_mday:02d} "
            f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}")


def quote(raw: bytes) -> str:
    """dhcpd's quotify_buf: printable ASCII as is, '"' and '\\' escaped, the rest \\ooo."""
    out = []
    for b in raw:
        c = chr(b)
        if c in '"\\':
            out.append("\\" + c)
        elif 32 <= b < 127:
            out.append(c)
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def unescape(quoted: str) -> bytes:
    """Bytes of a dhcpd.leases quoted string body (\\ooo octal, \\" and \\\\ escapes)."""
    out = bytearray()
    i = 0
    while i < len(quoted):
        ch = quoted[i]
        if ch == "\\" and quoted[i + 1:i + 4].isdigit():
            out.append(int(quoted[i + 1:i + 4], 8))
            i += 4
        elif ch == "\\":
            out.append(ord(quoted[i + 1]))
            i += 2
        else:
            out.append(ord(ch))
            i += 1
    return bytes(out)
