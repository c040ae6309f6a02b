"""A live Kea's page fields in columns: the usual page's shortcut (every value of a field a JSON
integer, or every one a string) vs the value-by-value reading it skips, on every kind of JSON
value a hostile or buggy server could send."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from kea_etl.reconcile import kea_pages

VALUES: list[Any] = [0, 1, 86400, 2**32 - 1, 2**32, -1, 2**63 - 1, 2**70, True, False, 1.0,
                     "7", "", "host", None]


def _u32_reference(raw: list[Any]) -> tuple[list[int], list[bool]]:
    ok = np.array([type(v) is int for v in raw], dtype=bool)
    values = np.array([v if type(v) is int else 0 for v in raw], dtype=np.int64)
    ok &= (values >= 0) & (values <= 0xFFFFFFFF)
    return values.tolist(), ok.tolist()


def _text_reference(raw: list[Any]) -> tuple[list[str], list[bool]]:
    ok = [v is None or type(v) is str for v in raw]
    return [v if type(v) is str else "" for v in raw], ok


def _outcome(f: Any, *args: Any) -> Any:
    try:
        values, ok = f(*args)
    except (OverflowError, pa.ArrowException, TypeError, ValueError) as exc:
        return type(exc).__name__
    if isinstance(values, pa.Array):
        values = values.to_pylist()
    return values, list(np.asarray(ok).tolist())


@pytest.mark.parametrize("seed", range(40))
def test_fields_read_as_value_by_value(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.choice((1, 3, 50))
    if seed % 4 == 0:  # the usual page: one kind of value throughout
        pool = rng.choice(([0, 1, 86400, 2**32 - 1, 2**32, -1], ["a", "", "02:00"],
                           [0, 2**70]))
    else:
        pool = rng.sample(VALUES, rng.randint(1, len(VALUES)))
    raw = [rng.choice(pool) for _ in range(n)]
    page = [{"f": v} for v in raw]
    if seed % 5 == 1:
        page[0] = {}  # a missing field: the default
    fetched = [p.get("f") for p in page]
    assert _outcome(kea_pages._u32, page, "f") == _outcome(_u32_reference, fetched)
    assert _outcome(kea_pages._text, page, "f") == _outcome(_text_reference, fetched)
