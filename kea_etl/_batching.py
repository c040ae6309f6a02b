"""The one batching helper every loader uses: ``chunks(iterable, size)``.

Loaders hold one batch at a time, never a whole input, so memory stays bounded whatever the
number of leases.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

T = TypeVar("T")

__all__ = ["chunks"]


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Yield lists of at most ``size`` items, in order; the last one may be shorter."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch
