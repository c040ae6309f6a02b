"""Unit tests of the Delta tables' writer (kea_etl.export.delta), on local tables, no Kea."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from kea_etl.export.delta import DeltaRun, sql_literal
from kea_etl.export.schema import LEASE_SCHEMA
from tests.export.helpers import delta_rows

deltalake = pytest.importorskip("deltalake")

NIGHT = date(2026, 11, 27)


def _batch(*addresses: str) -> pa.RecordBatch:
    n = len(addresses)
    cols = {f.name: pa.nulls(n, f.type) for f in LEASE_SCHEMA}
    cols.update(family=pa.array([4] * n, pa.int8()), address=pa.array(addresses),
                lease_type=pa.array(["V4"] * n))
    return pa.RecordBatch.from_pydict(cols, schema=LEASE_SCHEMA)


def _run(root: Path, server: str, *addresses: str, **kw: Any) -> DeltaRun:
    run = DeltaRun(root, server=server, family=4, export_date=NIGHT, sleep=lambda s: None, **kw)
    run.write(_batch(*addresses))
    return run


def _current(root: Path) -> set[tuple[str, str]]:
    return {(r["server"], r["address"])
            for r in delta_rows(root / "leases_current", "select server, address from t")}


def test_merge_upserts_and_deletes_for_its_server_only(tmp_path: Path) -> None:
    _run(tmp_path, "a", "10.0.0.1", "10.0.0.2").commit()
    _run(tmp_path, "b", "10.0.0.1").commit()
    stats = _run(tmp_path, "a", "10.0.0.2", "10.0.0.3").commit()
    assert (stats.inserted, stats.updated, stats.deleted) == (1, 1, 1)
    assert _current(tmp_path) == {("a", "10.0.0.2"), ("a", "10.0.0.3"), ("b", "10.0.0.1")}
    _run(tmp_path, "a").commit()  # the server holds nothing any more
    assert _current(tmp_path) == {("b", "10.0.0.1")}
    snaps = delta_rows(tmp_path / "lease_snapshots", "select server from t")
    # the same night re-run: a's last slice (empty) replaced the earlier ones
    assert [r["server"] for r in snaps] == ["b"]


def test_a_server_name_with_a_quote(tmp_path: Path) -> None:
    assert sql_literal("it's") == "'it''s'"
    _run(tmp_path, "it's", "10.0.0.1").commit()
    _run(tmp_path, "it's", "10.0.0.2").commit()
    assert _current(tmp_path) == {("it's", "10.0.0.2")}


def test_a_conflicting_commit_is_retried(tmp_path: Path) -> None:
    """delta-rs raises CommitFailedError when a concurrent commit conflicts with this one; the
    run loads the table again and retries."""
    run = _run(tmp_path, "a", "10.0.0.1")
    failures = [deltalake.exceptions.CommitFailedError("Transaction failed: concurrent update")]
    merge = run._merge_current

    def flaky(path: Path) -> None:
        if failures:
            raise failures.pop()
        merge(path)

    run._merge_current = flaky  # type: ignore[method-assign]
    stats = run.commit()
    assert stats.retries == 1 and _current(tmp_path) == {("a", "10.0.0.1")}


def test_an_error_that_is_no_conflict_is_not_retried(tmp_path: Path) -> None:
    run = _run(tmp_path, "a", "10.0.0.1", retries=3)

    def broken(path: Path) -> None:
        raise deltalake.exceptions.DeltaError("Generic error: disk full")

    run._write_snapshot = broken  # type: ignore[method-assign]
    with pytest.raises(deltalake.exceptions.DeltaError, match="disk full"):
        run.commit()
    assert run.stats.retries == 0
    assert not list((tmp_path / ".staging").iterdir())  # the staged leases are gone
