"""Progress as the library reports it: one typed event, drawn by the CLI or ignored.

Library code never prints. A long operation (a migration, a reconcile, an export) accepts a
``progress`` callback and calls it with a :class:`Progress` now and then: which task, which
phase (a migration's conflict scan, then its load), how far (``done`` of ``total``, in bytes of
the source files or in records / leases) and the counts so far. The CLI draws each task as a
tqdm bar (kea_etl/cli/_progress.py); a notebook or a service can log it instead. A new phase
starts from zero, so a rate measured in one phase never includes another.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["Progress", "ProgressCallback", "Unit", "count_lines"]

#: "B": bytes of the source files; "records" / "leases": items counted
Unit = Literal["B", "records", "leases"]


@dataclass(frozen=True, slots=True)
class Progress:
    """One progress event: ``done`` of ``total`` (None: not known, e.g. a SQL source)."""

    #: which operation (one bar each): "migrate", "reconcile", "unix:///run/kea4.sock v4", ...
    task: str
    #: what it is doing now, in words: "checking conflicts", "loading", "reading Kea", ...
    phase: str
    done: int
    total: int | None
    unit: Unit = "records"
    #: counts so far, in display order: (("read", 300), ("loaded", 120), ...)
    counts: tuple[tuple[str, int], ...] = ()


ProgressCallback = Callable[[Progress], None]


def count_lines(path: str | os.PathLike[str], *, block: int = 1 << 20) -> int:
    """The number of lines of a file (fast: a newline count, about 1 GB/s from the cache).

    Line-oriented extractors report the line of each record; with this count and the file's
    size a migration turns that line into the share of the file's bytes read.
    """
    n = 0
    last = b"\n"
    with Path(path).open("rb") as fh:
        while chunk := fh.read(block):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (last != b"\n")
