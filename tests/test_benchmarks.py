"""Every benchmark in benchmarks/ still runs and prints its one JSON line with the keys README's
performance table and issue 15 name (the peer or floor and the ratio from the same run). Tiny
sizes: this checks that they work, never how fast anything is. A benchmark makes its leases
relative to the real clock and times real servers, so it runs without the suite's date shift
(make test-later)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

CASES = {
    "parse4": (["parse.py", "--leases", "3000", "--family", "4"], {"ratio"}),
    "parse6": (["parse.py", "--leases", "3000", "--family", "6"], {"ratio"}),
    "migrate_offline": (["migrate_offline.py", "--leases", "3000"], {"peak_rss_mb"}),
    "reconcile": (["reconcile.py", "--leases", "3000", "--rounds", "1"],
                  {"ratio_against", "ratio_kea"}),
    "reconcile_against_only": (["reconcile.py", "--leases", "3000", "--rounds", "1",
                                "--against-only"], {"ratio_against", "kea_etl_peak_rss_mb"}),
    "export": (["export.py", "--leases", "3000", "--rounds", "1"],
               {"ratio_parquet", "ratio_sqlite", "ratio_sqlite_rerun", "peak_rss_mb"}),
    "load_sql": (["load_sql.py", "--leases", "2000", "--upload-sample", "20", "--rounds", "2"],
                 {"ratio_pg_copy", "ratio_mysql", "ratio_pg_copy_no_triggers"}),
    "load_live": (["load_live.py", "--leases", "1000", "--rounds", "1"],
                  {"ratio_socket", "ratio_http", "ratio_v6_bulk"}),
    "fleet": (["fleet.py", "--servers", "3", "--leases", "50"], {"leases_per_s", "peak_rss_mb"}),
    "convert": (["convert.py", "--subnets", "50", "--hosts", "500"], {"reservations"}),
}


@pytest.mark.kea
@pytest.mark.skipif(bool(os.environ.get("KEA_ETL_TEST_SHIFT_DAYS")),
                    reason="a benchmark runs on the real clock, never shifted: make test ran "
                           "this same run already, make test-later would only repeat it")
@pytest.mark.parametrize("name", sorted(CASES))
def test_benchmark_prints_one_json_line(name: str) -> None:
    argv, keys = CASES[name]
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / argv[0]), *argv[1:]],
                         capture_output=True, text=True, timeout=600, cwd=REPO,
                         env={k: v for k, v in os.environ.items()
                              if k != "KEA_ETL_TEST_SHIFT_DAYS"})
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, out.stdout[-3000:]
    got = json.loads(lines[0])
    assert keys <= set(got), (keys - set(got), got)
    for k in keys:
        value = got[k]["against"] if k == "kea_etl_peak_rss_mb" else got[k]
        assert isinstance(value, int | float) and value > 0, (k, got[k])
    if "--against-only" in argv:  # no live Kea: its figures are not made up
        assert got["ratio_kea"] is None and got["kea_etl_peak_rss_mb"]["kea"] is None, got
