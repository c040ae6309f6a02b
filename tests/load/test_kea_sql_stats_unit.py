"""kea_etl.load.kea_sql_stats without a database: which leases Kea counts per client class, and
the counts a batch adds (tests/load/test_kea_sql_stats_real.py compares them with Kea's own)."""

from __future__ import annotations

from kea_etl.load.kea_sql_stats import KNOWN, StatsPlan, StatTable, counts_classes


def test_client_classes_are_what_keas_json_path_finds() -> None:
    assert counts_classes({"ISC": {"client-classes": ["a"]}})
    assert counts_classes({"ISC": {"client-classes": []}})  # Kea's loop runs over nothing; kept
    assert not counts_classes({"ISC": {"relay-agent-info": {}}})
    assert not counts_classes({"ISC": ["client-classes"]})  # ->'client-classes' of an array
    assert not counts_classes({"client-classes": ["a"]})
    assert not counts_classes(None) and not counts_classes({})


def test_deltas_count_per_key_only_the_counted_states_with_pool_zero() -> None:
    v4 = StatTable("lease4_stat", ("subnet_id", "state"), frozenset({0, 1}))
    pool = StatTable("lease4_pool_stat", ("subnet_id", "pool_id", "state"), frozenset({0, 1}))
    plan = StatsPlan("lease4", (v4, pool), frozenset({0, 1, 2}))
    cols = ["address", "subnet_id", "state"]
    rows = [(1, 7, 0), (2, 7, 0), (3, 7, 1), (4, 8, 2), (5, 8, 0)]
    (s1, c1), (s2, c2) = plan.deltas(rows, cols)
    assert (s1, dict(c1)) == (v4, {(7, 0): 2, (7, 1): 1, (8, 0): 1})
    assert (s2, dict(c2)) == (pool, {(7, 0, 0): 2, (7, 0, 1): 1, (8, 0, 0): 1})


def test_every_known_schema_counts_states_0_and_1() -> None:
    tables = {s.table for stats in KNOWN.values() for s in stats}
    assert tables == {"lease4_stat", "lease4_pool_stat", "lease6_stat", "lease6_pool_stat"}
    assert all({0, 1} <= s.states for stats in KNOWN.values() for s in stats)
