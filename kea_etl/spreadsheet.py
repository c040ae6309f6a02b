"""The one rule for CSV files people open in a spreadsheet (formula injection).

A DHCP client chooses its own hostname, so ``=cmd|' /C calc'!A0`` can reach a lease export or a
reconcile CSV. A cell that starts with ``=``, ``+``, ``-``, ``@``, TAB or CR gets a leading ``'``
(OWASP's advice): the spreadsheet shows it as text and never evaluates it. Parquet and the SQL
warehouse keep values as they are; readers of kea-etl's own CSV undo the quote with :func:`undo`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FORMULA_REGEX", "FORMULA_START", "defuse", "defuse_row", "undo"]

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: :func:`defuse`'s test as a regular expression (Arrow's vectorised match in the CSV export).
FORMULA_REGEX = r"^'?[=+\-@\t\r]"


def defuse(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is a string a spreadsheet would run as a formula
    (and when it already looks defused, ``'=x``, so that :func:`undo` gives it back unchanged)."""
    if isinstance(value, str) and (value.startswith(FORMULA_START)
                                   or (value[:1] == "'" and value[1:2] in FORMULA_START)):
        return f"'{value}"
    return value


def defuse_row(row: list[Any]) -> list[Any]:
    return [defuse(v) for v in row]


def undo(text: str) -> str:
    """The value :func:`defuse` was given (kea-etl's own CSV read back)."""
    return text[1:] if text[:1] == "'" and defuse(text[1:]) != text[1:] else text
