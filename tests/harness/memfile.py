"""Kea memfile scenarios the tests write (independently of kea_etl, so that they can check it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

__all__ = ["Row", "write_lfc_leftovers"]

#: (address, hwaddr, valid lifetime) of one v4 row
Row = tuple[str, str, int]


def write_lfc_leftovers(lease_file: Path, rows: Callable[..., str], *, completed: bool) -> None:
    """NAME plus the files an interrupted lease-file cleanup (kea-lfc) leaves: NAME.2 and NAME.1,
    and with ``completed`` also NAME.completed (Kea then loads .completed and ignores .2 / .1).
    ``rows(*spec)`` renders the header and one CSV line per :data:`Row` in the caller's format.

    The sets overlap on purpose: 192.0.2.10 and .15 are in .2 and .1 (.1 is newer and gives .15
    a lifetime of 0), .11 is in .2 and NAME, .13 only in .completed."""
    lease_file.write_text(rows(("192.0.2.14", "00:00:00:00:00:00", 3600),
                               ("192.0.2.11", "00:00:00:00:00:00", 3600)))
    Path(f"{lease_file}.2").write_text(rows(("192.0.2.10", "00:00:00:00:00:02", 3600),
                                            ("192.0.2.11", "00:00:00:00:00:02", 3600),
                                            ("192.0.2.15", "00:00:00:00:00:02", 3600)))
    Path(f"{lease_file}.1").write_text(rows(("192.0.2.10", "00:00:00:00:00:01", 3600),
                                            ("192.0.2.12", "00:00:00:00:00:01", 3600),
                                            ("192.0.2.15", "00:00:00:00:00:01", 0)))
    if completed:
        Path(f"{lease_file}.completed").write_text(rows(("192.0.2.13", "00:00:00:00:00:0c", 3600)))
