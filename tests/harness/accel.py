"""Run the dhcpd lease parser with and without its C fast paths and compare what they give.

``kea_etl/_isc4.c`` may only ever agree with the pure-Python parser: for every block it builds
exactly the item Python builds or leaves the block to Python. ``both`` parses a file twice, once
as the process is tuned (C paths on) and once with every C path off, and counts the items the
chosen C scanner built so a test can also prove the fast path was taken.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from kea_etl.errors import MalformedRecordError
from kea_etl.extract import isc_leases
from kea_etl.extract.base import Extracted, SourceWarning

__all__ = ["View", "both", "view"]

View = tuple[Any, ...]
#: the module attributes that hold the C functions (None: Python does that part)
_C_PATHS = ("_scan4", "_keys4", "_scan6", "_keys6", "_last_keys", "_line_starts")


def view(item: Extracted | MalformedRecordError | SourceWarning) -> View:
    """Everything a caller can observe of one item, in a comparable form."""
    if isinstance(item, MalformedRecordError):
        return ("error", item.source, item.line, item.key, item.reason)
    if isinstance(item, SourceWarning):  # an OMAPI host refused, a group block ...
        return ("warning", item.source, item.line, item.statement, item.reason)
    r = item.record
    return (type(r).__name__, tuple((s, getattr(r, s)) for s in r.__slots__),
            type(getattr(r, "address", None)).__name__, item.binding_state, item.source,
            item.line, sorted(item.extra.items()), [view(w) for w in item.warnings])


def both(path: Path, counted: Literal["_scan4", "_scan6"] = "_scan4",
         **kw: Any) -> tuple[list[View], list[View], int]:
    """(items with the C paths, items with none, items the ``counted`` scanner built)."""
    saved = {name: getattr(isc_leases._fastpath, name) for name in _C_PATHS}
    scan: Callable[..., Any] | None = saved[counted]
    assert scan is not None, f"isc_leases._fastpath.{counted} is off: is the C extension built?"
    built = 0

    def counting(*args: Any) -> Any:
        nonlocal built
        out = scan(*args)
        built += len(out[0])
        return out

    setattr(isc_leases._fastpath, counted, counting)
    try:
        fast = [view(i) for i in isc_leases.extract(path, **kw)]
        isc_leases.tune(accelerate=False)
        slow = [view(i) for i in isc_leases.extract(path, **kw)]
    finally:
        for name, value in saved.items():
            setattr(isc_leases._fastpath, name, value)
    return fast, slow, built
