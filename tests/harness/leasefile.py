"""How dhcpd spells values in a lease file, for the tests and benchmarks that write or read one
(independently of kea_etl, so that they can check it): its dates and quoted strings, and whole
``lease`` / ``ia-na`` / ``ia-ta`` / ``ia-pd`` blocks laid out as dhcpd writes them.

The block builders take dates as UTC epoch seconds: generate them from
:func:`tests.harness.clock.now` (or from ``clock.ANCHOR`` for a test that pins ``--as-of`` to it),
never from a literal date. Parser edge cases whose exact bytes are the point stay literal text.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

__all__ = ["dhcpd_date", "ia_block", "lease_block", "quote", "unescape"]


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


def _date(t: int | None) -> str:
    return "never" if t is None else dhcpd_date(t)


def lease_block(ip: str, *, starts: int, ends: int | None, cltt: int | None = None,
                state: str = "active", next_state: str | None = None,
                rewind_state: str | None = None, mac: str | None = None, uid: str | None = None,
                hostname: str | None = None, extra: Iterable[str] = ()) -> str:
    """A v4 ``lease IP { ... }`` block in dhcpd's statement order, one statement a line.

    ``ends=None`` is ``ends never``; ``cltt``, the next / rewind binding states, ``mac``, ``uid``
    and ``hostname`` are left out when None. ``uid`` goes in as given: :func:`quote` of the
    bytes, or colon hex as ``lease-id-format hex`` writes it. ``extra``: further statements
    (without the ``;``), placed after the hostname.
    """
    lines = [f"lease {ip} {{", f"  starts {dhcpd_date(starts)};", f"  ends {_date(ends)};"]
    if cltt is not None:
        lines.append(f"  cltt {dhcpd_date(cltt)};")
    lines.append(f"  binding state {state};")
    if next_state is not None:
        lines.append(f"  next binding state {next_state};")
    if rewind_state is not None:
        lines.append(f"  rewind binding state {rewind_state};")
    if mac is not None:
        lines.append(f"  hardware ethernet {mac};")
    if uid is not None:
        lines.append(f"  uid {uid};")
    if hostname is not None:
        lines.append(f"  client-hostname {quote(hostname.encode())};")
    lines.extend(f"  {stmt};" for stmt in extra)
    return "\n".join(lines) + "\n}\n"


def ia_block(kind: str, iaid: int, duid: bytes, address: str, *, cltt: int, ends: int | None,
             preferred: int, max_life: int, state: str = "active",
             extra: Iterable[str] = ()) -> str:
    """A v6 ``ia-na`` / ``ia-ta`` / ``ia-pd`` block holding one ``iaaddr`` (``iaprefix`` for
    ia-pd, ``address`` then being ``PREFIX/LEN``).

    The identifier is the IAID's 4 bytes in little-endian order (the file's authoring byte order
    on x86: start the file with ``authoring-byte-order little-endian;``) followed by ``duid``,
    octal-escaped as dhcpd writes it by default. ``extra``: further statements of the inner block.
    """
    if kind not in ("ia-na", "ia-ta", "ia-pd"):
        raise ValueError(f"not an IA kind: {kind!r}")
    inner = "iaprefix" if kind == "ia-pd" else "iaaddr"
    lines = [f"{kind} {quote(iaid.to_bytes(4, 'little') + duid)} {{",
             f"  cltt {dhcpd_date(cltt)};",
             f"  {inner} {address} {{",
             f"    binding state {state};",
             f"    preferred-life {preferred};",
             f"    max-life {max_life};",
             f"    ends {_date(ends)};"]
    lines.extend(f"    {stmt};" for stmt in extra)
    return "\n".join(lines) + "\n  }\n}\n"
