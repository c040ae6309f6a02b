"""Kea's lease statistics kept set-based for a batch of new leases (PostgreSQL).

Kea's schema counts leases in statistics tables (``lease4_stat`` per subnet and state; from
Kea 2.4 also per pool, ``lease4_pool_stat``, and per client class) from row triggers: every
inserted lease runs one ``UPDATE`` of the same statistics row. Inside one transaction each such
``UPDATE`` walks the row versions the earlier ones left, so with 500 leases per transaction the
trigger costs about 70 us per lease, several times the ``COPY`` of the lease itself (measured
with Kea 2.2's schema: ``benchmarks/load_sql.py``).

When both hold, a batch of new leases is written without the row triggers and its counts are
added with one statement per statistics table, in the same transaction:

* the session may set ``session_replication_role`` (a superuser, or on PostgreSQL 15+ a role
  granted ``SET ON PARAMETER session_replication_role``); ``SET LOCAL`` scopes it to the
  ``COPY``, so nothing else in the session or the database runs without triggers;
* the table's triggers, the functions they call (their source, whitespace aside), its foreign
  keys and the ``pool_id`` default are exactly those of a Kea schema listed in :data:`KNOWN`:
  a trigger of anyone else, or a Kea version not listed, sends every lease the trigger way.

A lease still goes the trigger way when Kea's trigger would do what is not reproduced here: its
user context names client classes (``ISC`` / ``client-classes``: counted per class by Kea's
``..._stat_by_client_class``), or its state (v6: its lease type) is not in ``lease_state``
(``lease6_types``), which the foreign key, skipped with the triggers, would refuse.

tests/load/test_kea_sql_stats_real.py loads the same leases both ways into every Kea version of
the matrix and compares every statistics table.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kea_etl.records import LEASE_TYPE_CODES

__all__ = ["KNOWN", "StatTable", "StatsPlan", "apply", "counts_classes", "fingerprint", "plan"]


@dataclass(frozen=True, slots=True)
class StatTable:
    """One statistics table a Kea insert trigger keeps: +1 per inserted lease whose state is in
    ``states``, on the row keyed by the lease's ``key`` columns."""

    table: str
    key: tuple[str, ...]
    states: frozenset[int]


_V4 = StatTable("lease4_stat", ("subnet_id", "state"), frozenset({0, 1}))
_V4_POOL = StatTable("lease4_pool_stat", ("subnet_id", "pool_id", "state"), frozenset({0, 1}))
_V6 = StatTable("lease6_stat", ("subnet_id", "lease_type", "state"), frozenset({0, 1}))
_V6_POOL = StatTable("lease6_pool_stat", ("subnet_id", "pool_id", "lease_type", "state"),
                     frozenset({0, 1}))
#: Kea 3.0+ counts a registered v6 address (state 4) in lease6_stat (not in lease6_pool_stat)
_V6_REG = StatTable("lease6_stat", ("subnet_id", "lease_type", "state"), frozenset({0, 1, 4}))

#: fingerprint (:func:`fingerprint`) of a Kea schema's ``lease4`` / ``lease6`` -> the statistics
#: its insert trigger keeps, apart from the per-class counts (see the module docstring); each
#: read from that version's trigger functions and pinned by tests/load/test_kea_sql_stats_real.py
KNOWN: Mapping[str, tuple[StatTable, ...]] = {
    # Kea 2.2: lease4_stat / lease6_stat, per-class counts behind isJsonSupported()
    "5f0c79aa474072aa9be1fce00aa3c687f7c88fbd6a4595ca117b6dcc756d6a3d": (_V4,),
    "00d103fa1d1f3f8a14b66ac1493e4a133d506e895b5136e4eb660f4f0cd4de6f": (_V6,),
    # Kea 2.6: pool statistics added (Kea 3.0 has the same lease4)
    "4e17bceb937c6a559829a687d78d24a73ef807cbdcc70ff15e1b20ee373e1bfb": (_V4, _V4_POOL),
    "625c3bab25d5b6498313ed7b7c3dbfc9236e448212c531a9d7778f73ebbc7034": (_V6, _V6_POOL),
    # Kea 3.0, lease6: registered addresses (state 4) counted
    "57ba16706384544accef04f18c0df29962bf738d88a921e1698de9e326bd51e2": (_V6_REG, _V6_POOL),
    # Kea 3.2: the per-class counts no longer behind isJsonSupported()
    "b26386436075685bf02f64a55371ea87e71cc5813f145ae9c9da159ae9931b77": (_V4, _V4_POOL),
    "4dcad8ee42be444f40140fbdd4ce3d776c29a9bb69b3b30ddb4d0fe94ce35edc": (_V6_REG, _V6_POOL),
}


@dataclass(frozen=True, slots=True)
class StatsPlan:
    """How one lease table's new rows may skip the triggers: the statistics to add instead, and
    the states (v6: lease types) the foreign keys accept."""

    table: str
    stats: tuple[StatTable, ...]
    states: frozenset[int]
    lease_types: frozenset[int] | None = None

    def accepts(self, lease: Any) -> bool:
        """Whether ``lease`` (Lease4 / Lease6) may skip the triggers: its state (and lease type)
        pass the foreign keys, and Kea would not count it per client class."""
        if lease.state not in self.states or counts_classes(lease.user_context):
            return False
        return self.lease_types is None or LEASE_TYPE_CODES[lease.lease_type] in self.lease_types

    def deltas(self, rows: Iterable[Sequence[Any]], columns: Sequence[str]
               ) -> list[tuple[StatTable, Counter[tuple[int, ...]]]]:
        """Per statistics table, the count to add per key for ``rows`` (tuples of ``columns``;
        a key column the rows lack, ``pool_id``, is 0: the column's default, which the loader
        leaves to the database and :func:`fingerprint` pins)."""
        at = {c: i for i, c in enumerate(columns)}
        state_at = at["state"]
        out: list[tuple[StatTable, Counter[tuple[int, ...]]]] = []
        for stat in self.stats:
            pos = [at.get(c) for c in stat.key]
            counts: Counter[tuple[int, ...]] = Counter(
                tuple(0 if i is None else int(row[i]) for i in pos)
                for row in rows if row[state_at] in stat.states)
            out.append((stat, counts))
        return out


def counts_classes(user_context: Any) -> bool:
    """Whether Kea's insert trigger counts this lease per client class: its user context holds
    ``ISC`` / ``client-classes`` (what ``json_cast(user_context)->'ISC'->'client-classes'``
    finds)."""
    isc = user_context.get("ISC") if isinstance(user_context, Mapping) else None
    return isinstance(isc, Mapping) and "client-classes" in isc


_CALLS = re.compile(r"\b([a-z_][a-z0-9_]*)\s*\(", re.IGNORECASE)


def fingerprint(cur: Any, table: str) -> str:
    """A hash of what decides the effect of an ``INSERT`` into ``table`` beyond the row itself:
    its own triggers (name, kind, enabled), the source of every function of the schema they
    reach, its foreign keys and the ``pool_id`` column's default."""
    cur.execute("SELECT t.tgname, t.tgtype, t.tgenabled, t.tgfoid FROM pg_trigger t "
                "WHERE t.tgrelid = %s::regclass AND NOT t.tgisinternal ORDER BY t.tgname",
                (table,))
    rows = cur.fetchall()
    triggers = [(str(n), int(k), str(e)) for n, k, e, _ in rows]
    todo = [int(r[3]) for r in rows]
    seen: dict[int, tuple[str, str]] = {}
    while todo:
        oid = todo.pop()
        if oid in seen:
            continue
        cur.execute("SELECT p.proname, p.prosrc, n.nspname FROM pg_proc p JOIN pg_namespace n "
                    "ON n.oid = p.pronamespace WHERE p.oid = %s", (oid,))
        name, src, nsp = cur.fetchone()
        seen[oid] = (str(name), " ".join(str(src).split()))
        called = sorted({m.lower() for m in _CALLS.findall(str(src))})
        if called and nsp not in ("pg_catalog", "information_schema"):
            cur.execute("SELECT p.oid FROM pg_proc p JOIN pg_namespace n ON n.oid = "
                        "p.pronamespace WHERE lower(p.proname) = ANY(%s) AND n.nspname NOT IN "
                        "('pg_catalog', 'information_schema')", (called,))
            todo += [int(o) for (o,) in cur.fetchall()]
    cur.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = "
                "%s::regclass AND contype = 'f' ORDER BY 1", (table,))
    fks = [str(d) for (d,) in cur.fetchall()]
    cur.execute("SELECT column_default FROM information_schema.columns WHERE table_schema = "
                "current_schema() AND table_name = %s AND column_name = 'pool_id'", (table,))
    pool = cur.fetchone()
    blob = repr((triggers, sorted(seen.values()), fks, pool[0] if pool else None))
    return hashlib.sha256(blob.encode()).hexdigest()


def _may_skip_triggers(cur: Any) -> bool:
    """Whether this session may set ``session_replication_role`` (tried, then undone)."""
    cur.execute("SAVEPOINT kea_etl_role")
    try:
        cur.execute("SET LOCAL session_replication_role = replica")
    except Exception:
        cur.execute("ROLLBACK TO SAVEPOINT kea_etl_role")
        return False
    cur.execute("ROLLBACK TO SAVEPOINT kea_etl_role")
    return True


def plan(cur: Any, tables: Sequence[str]) -> tuple[dict[str, StatsPlan], str]:
    """The plans for those of ``tables`` whose new rows may skip Kea's triggers, and one line
    for the report saying how the statistics are kept (and why not set-based)."""
    if not _may_skip_triggers(cur):
        return {}, ("Kea's triggers, lease by lease (this database user may not set "
                    "session_replication_role)")
    cur.execute("SELECT state FROM lease_state")
    states = frozenset(int(s) for (s,) in cur.fetchall())
    plans: dict[str, StatsPlan] = {}
    unknown = []
    for table in tables:
        stats = KNOWN.get(fingerprint(cur, table))
        if stats is None:
            unknown.append(table)
            continue
        types = None
        if table == "lease6":
            cur.execute("SELECT lease_type FROM lease6_types")
            types = frozenset(int(t) for (t,) in cur.fetchall())
        plans[table] = StatsPlan(table, stats, states, types)
    if unknown:
        return plans, ("set-based" if plans else "Kea's triggers, lease by lease") + (
            f"; {', '.join(unknown)} by Kea's triggers, lease by lease (triggers or functions "
            "not those of a Kea schema kea-etl knows)")
    return plans, "set-based (Kea's triggers recognised; counts added per batch)"


def apply(cur: Any, plan_: StatsPlan, rows: Sequence[Sequence[Any]], columns: Sequence[str]
          ) -> None:
    """Add ``rows``' counts to every statistics table of ``plan_`` (as Kea's trigger would, one
    lease at a time: an existing row's ``leases`` grows, a missing row is created)."""
    for stat, counts in plan_.deltas(rows, columns):
        if not counts:
            continue
        cols = ", ".join(stat.key)
        values = ", ".join(["(" + ", ".join(["%s"] * (len(stat.key) + 1)) + ")"] * len(counts))
        params = [v for key, n in sorted(counts.items()) for v in (*key, n)]
        match = " AND ".join(f"s.{c} = v.{c}" for c in stat.key)
        cur.execute(
            f"WITH v ({cols}, n) AS (VALUES {values}), "
            f"u AS (UPDATE {stat.table} s SET leases = s.leases + v.n FROM v WHERE {match} "
            f"RETURNING {', '.join('s.' + c for c in stat.key)}) "
            f"INSERT INTO {stat.table} ({cols}, leases) SELECT {', '.join('v.' + c for c in stat.key)}, v.n "
            f"FROM v WHERE NOT EXISTS (SELECT 1 FROM u s WHERE {match})", params)
