"""kea_etl.spreadsheet: one rule for formula cells, the same in its Python and Arrow forms."""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given
from hypothesis import strategies as st

from kea_etl.spreadsheet import FORMULA_REGEX, defuse, undo


@given(st.text(max_size=12))
def test_python_and_arrow_forms_agree_and_undo_restores(text: str) -> None:
    arrow = pc.match_substring_regex(pa.array([text]), FORMULA_REGEX)[0].as_py()
    assert arrow == (defuse(text) != text) == bool(re.match(FORMULA_REGEX, text))
    assert undo(defuse(text)) == text


def test_a_value_that_looks_defused_comes_back_unchanged() -> None:
    assert defuse("'=x") == "''=x" and undo("''=x") == "'=x"
    assert defuse("'plain") == "'plain" and undo("'plain") == "'plain"


def test_defuse_quotes_only_formula_starts() -> None:
    assert defuse("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"
    assert [defuse(c) for c in ("+1", "-1", "@x", "\tx", "\rx")] == ["'+1", "'-1", "'@x", "'\tx", "'\rx"]
    assert defuse("host-1") == "host-1" and defuse(5) == 5
