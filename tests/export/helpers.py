"""Small helpers for the export / reconcile tests: a dhcpd.leases file of blocks
(tests/harness/leasefile.py builds them), PNG checks, Delta table reads."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def write_leases(path: Path, blocks: Iterable[str]) -> Path:
    path.write_text("# test file\nauthoring-byte-order little-endian;\n\n" + "".join(blocks),
                    encoding="utf-8")
    return path


def png_colours(path: Path) -> int:
    """How many distinct RGB colours a PNG has (matplotlib decodes it)."""
    import matplotlib.image as mpimg
    import numpy as np

    img = mpimg.imread(str(path))
    rgb = (img[..., :3] * 255).astype("uint8").reshape(-1, 3)
    return int(len(np.unique(rgb, axis=0)))


def delta_rows(table: Path | str, sql: str) -> list[dict[str, object]]:
    """``sql`` over the Delta table at ``table`` (named ``t`` in it), read by deltalake's own
    engine (``QueryBuilder``, DataFusion). Not ``DeltaTable.to_pyarrow_table()``: a process that
    used it aborts now and then at exit ("terminate called without an active exception",
    delta-rs issue 2184), which would fail the test run after the tests passed."""
    import pyarrow as pa
    from deltalake import DeltaTable, QueryBuilder

    batches = QueryBuilder().register("t", DeltaTable(str(table))).execute(sql).read_all()
    return pa.table(batches).to_pylist()
