"""Pass 1's winners (the last block of every key) in place for v4 keys, against np.unique."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kea_etl.extract.isc_leases import _index


def _reference(keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
    n = len(keys)
    mask = np.zeros(n, dtype=np.bool_)
    if n:
        _, first_in_reversed = np.unique(keys[::-1], return_index=True)
        mask[n - 1 - first_in_reversed] = True
    return mask


#: addresses at the edges of the space, unique keys of unparsable and truncated blocks
_KEY = st.one_of(st.sampled_from([0, 1, 0xFFFFFFFE, 0xFFFFFFFF]),
                 st.integers(0, 40), st.integers(0, 0xFFFFFFFF),
                 st.integers(1 << 32, (1 << 34) - 1))


@settings(max_examples=300, deadline=None)
@given(st.lists(_KEY, max_size=300), st.sampled_from([1, 3, 7, 1 << 20]))
def test_in_place_winners_equal_np_unique(values: list[int], step: int) -> None:
    keys = np.array(values, dtype=np.uint64)
    odd = keys >= _index._UNIQUE4  # pass 1 makes these unique: number them so
    keys[odd] = _index._UNIQUE4 + np.arange(int(odd.sum()), dtype=np.uint64)
    expected = _reference(keys)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_index, "_STEP", step)
        copy = keys.copy()
        assert (_index._last_occurrence(keys) == expected).all()
        assert (keys == copy).all()  # not consumed unless asked
        assert (_index._last_occurrence(keys, consume=True) == expected).all()


def test_many_blocks_across_steps() -> None:
    rng = np.random.default_rng(7)
    keys = rng.integers(0, 50_000, size=3_000_000, dtype=np.uint64)
    keys[::1000] = (1 << 32) + np.arange(3000, dtype=np.uint64)
    expected = _reference(keys)
    assert (_index._last_occurrence(keys, consume=True) == expected).all()


def test_key_array_grows_in_place() -> None:
    arr = _index._KeyArray("u8")
    for i in range(200):
        arr.extend(np.arange(i * 1000, (i + 1) * 1000, dtype=np.uint64))
    assert arr.n == 200_000 and (arr.view() == np.arange(200_000, dtype=np.uint64)).all()
