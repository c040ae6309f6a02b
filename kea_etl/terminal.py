"""What reaches a terminal or a log: untrusted text with its control characters made visible.

Lease files, dhcpd.conf, CSV cells, Kea's replies and the server's own error texts are written by
someone else: a hostname or a ``lease <text> {`` header can hold ESC sequences that move the
cursor, rewrite earlier lines, set the window title or (on some terminals) answer back. Every
message the CLI prints goes through :func:`printable` (via :func:`echo`): C0 and C1 control
characters, DEL, bidirectional overrides and other invisible format characters become ``\\x1b``,
``\\u202e``, ... The reports (JSON, CSV, HTML) keep values exactly; they have their own escaping.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import click

__all__ = ["columns", "echo", "printable"]


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every non-printable character escaped (a space stays a space).

    ``keep_newlines``: the text is several lines of kea-etl's own making; each line is escaped,
    the line breaks kept. Otherwise a newline is escaped too (one value, one line).
    """
    if keep_newlines:
        return "\n".join(printable(line) for line in text.split("\n"))
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def echo(message: str = "", *, err: bool = False) -> None:
    """``click.echo`` of a message whose lines may quote untrusted text (see module doc)."""
    click.echo(printable(message, keep_newlines=True), err=err)


def columns(rows: Sequence[Sequence[str]], *, right: Collection[int] = ()) -> list[str]:
    """``rows`` (the first is the header) as lines of aligned columns, two spaces apart; the
    columns numbered in ``right`` are right-aligned (counts)."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.rjust(w) if i in right else c.ljust(w)
                      for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()
            for row in rows]
