"""How dhcpd spells values in a lease file, for the tests and benchmarks that write one."""

from __future__ import annotations

import time

__all__ = ["dhcpd_date", "quote"]


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
