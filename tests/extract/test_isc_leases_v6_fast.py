"""The v6 path's shortcuts in the dhcpd6.leases extractor give exactly the slow path's results.

* ``_statements_exact`` (the statements of an ia-na / ia-pd and of each iaaddr / iaprefix)
  equals ``_statements_careful`` on any text, raising the same ``_BadBlock`` (reason and line).
* Each ``Lease6`` built without the validating constructor (``_build_lease6``) is the very
  record ``Lease6(...)`` makes of its fields, value and type, on every v6 fixture and sample.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kea_etl.extract.base import Extracted
from kea_etl.extract.isc_leases import extract
from kea_etl.extract.isc_leases._syntax import _BadBlock, _statements_careful, _statements_exact
from kea_etl.records import Lease6

ROOT = Path(__file__).resolve().parents[2]
V6_FILES = sorted([*(ROOT / "tests/extract/data").glob("v6-*"),
                   *(p for p in (ROOT / "sample-data").rglob("*") if p.is_file()
                     and p.name.startswith("dhcpd6") and p.suffix == ".leases")])

_PIECES = ["binding state active;", "preferred-life 1800;", "max-life 3600;",
           "ends 5 2026/11/27 21:30:00;", "ends never;", "cltt 4 2026/11/26 21:30:00;",
           'set ddns-fwd-name = "h.example";', "\n", "  ", "\t", "99", ";", "x", "# c\n",
           "on expiry { x; }", "}", '"', "binding state", "\r\n"]


def _outcome(fn: object, text: str) -> object:
    try:
        return fn(text)  # type: ignore[operator]
    except _BadBlock as exc:
        return ("bad", exc.reason, exc.line_offset)


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=12))
def test_statements_exact_equals_careful(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert _outcome(_statements_exact, text) == _outcome(_statements_careful, text)


@pytest.mark.parametrize("path", V6_FILES, ids=lambda p: p.name)
def test_fast_lease6_equals_constructor(path: Path) -> None:
    records = [i.record for i in extract(path) if isinstance(i, Extracted)
               and isinstance(i.record, Lease6)]
    assert records
    for r in records:
        again = Lease6(**{name: getattr(r, name) for name in Lease6.__slots__})
        for name in Lease6.__slots__:
            assert getattr(again, name) == getattr(r, name), name
            assert type(getattr(again, name)) is type(getattr(r, name)), name
