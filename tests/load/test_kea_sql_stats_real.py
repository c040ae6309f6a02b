"""kea-sql's set-based lease statistics (kea_etl.load.kea_sql_stats) against Kea's own triggers,
on PostgreSQL with the schema of every Kea version of the matrix (2.2 .. 3.2).

The same leases go into two databases: one by the loader as it runs in production (new leases
skip Kea's row triggers, their counts are added per batch), one with the triggers doing the
counting (``statistics="triggers"``). Afterwards every lease row and every statistics table
(``lease4_stat``, ``lease6_stat``, the pool and client-class tables of later versions) must be
equal, and so must every record's outcome. The leases cover every state and lease type (those a
version's ``lease_state`` lacks are refused by its foreign key, both ways), several subnets, user
contexts with and without client classes, a second load into existing statistics rows, and
changes of state and subnet (the update path, always by the triggers).

Each test also checks which way the loader went, so none passes by taking the trigger path
unawares: a superuser on a known schema is set-based, and so is a user granted ``SET ON
PARAMETER session_replication_role``; a user who may not set it and a table with a trigger of
someone else's go by the triggers.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from kea_etl.load.kea_sql import KeaSqlLoader, connect, parse_sql_target
from kea_etl.records import Lease4, Lease6
from kea_etl.report import RunReport
from tests.harness.databases import admin_sql, kea_database
from tests.harness.kea import KeaInstall
from tests.load.test_kea_sql_fast_real import NOW, _items, _outcomes, _snapshot

pytestmark = pytest.mark.kea

CLASSES = {"ISC": {"client-classes": ["gold", "silver"]}}


def _v4(i: int, state: int) -> Lease4:
    ctx: Any = [None, CLASSES, {"ISC": {"relay-agent-info": {"sub-options": "0104AA"}}},
                {"n": i}][i % 4]
    return Lease4(address=f"10.{1 + i % 3}.1.{i % 250}", hwaddr=f"02:00:00:00:{i // 256:02x}:"
                  f"{i % 256:02x}", valid_lft=3600, cltt=NOW - 60, subnet_id=1 + i % 3,
                  state=state, hostname=f"h{i}" if i % 5 == 0 else "", user_context=ctx)


def _v6(i: int, state: int) -> Lease6:
    kind = ("IA_NA", "IA_TA", "IA_PD")[i % 3]
    return Lease6(address=f"2001:db8:{0x8000 + i:x}::" if kind == "IA_PD"
                  else f"2001:db8:{1 + i % 2}::{0x100 + i:x}",
                  duid=f"00:03:00:01:02:00:00:00:{i // 256:02x}:{i % 256:02x}", iaid=i,
                  lease_type=kind, prefix_len=56 if kind == "IA_PD" else 128, valid_lft=4000,
                  preferred_lft=3000, cltt=NOW - 60, subnet_id=1 + i % 2, state=state,
                  user_context=CLASSES if i % 4 == 1 else None)


def _leases(start: int, n: int) -> list[Any]:
    """``n`` v4 and ``n`` v6 leases from ``start``, every state the records know (0-3) among
    them."""
    return ([_v4(i, state=(0, 0, 1, 2, 3, 0, 1)[i % 7]) for i in range(start, start + n)]
            + [_v6(i, state=(0, 1, 0, 2, 3, 0, 0)[i % 7]) for i in range(start, start + n)])


def _load(url: str, records: list[Any], **kw: Any) -> tuple[RunReport, str | None]:
    report = RunReport()
    loader = KeaSqlLoader(url, batch_size=25, **kw)
    loader.load(_items(records), report)
    return report, loader.commit().statistics


@pytest.fixture
def pg(kea_install: KeaInstall) -> Iterator[tuple[str, str]]:
    """Two PostgreSQL databases with ``kea_install``'s schema: the loader's and the reference's."""
    with kea_database("postgresql", kea_install, tag="kea_etl_stat") as fast, \
            kea_database("postgresql", kea_install, tag="kea_etl_sref") as ref:
        yield fast, ref


def _both(dbs: tuple[str, str], records: list[Any], *, fast_way: str, **kw: Any) -> RunReport:
    fast_url, ref_url = dbs
    fast, note = _load(fast_url, records, **kw)
    ref, ref_note = _load(ref_url, records, statistics="triggers", **kw)
    assert note is not None and note.startswith(fast_way), note
    assert ref_note is not None and ref_note.startswith("Kea's triggers"), ref_note
    assert _outcomes(fast) == _outcomes(ref)
    assert _snapshot(fast_url) == _snapshot(ref_url)
    return fast


def test_set_based_statistics_equal_keas_triggers(pg: tuple[str, str]) -> None:
    first = _both(pg, _leases(0, 140), fast_way="set-based")
    assert first.loaded >= 160, first.failed_reasons  # states a schema lacks fail, both ways
    stats = _snapshot(pg[0])
    assert sum(r[-1] for r in stats["lease4_stat"]) > 0
    if "lease4_stat_by_client_class" in stats:  # classes counted by the triggers, both ways
        assert {r[0] for r in stats["lease4_stat_by_client_class"]} == {"gold", "silver"}
    # new leases into statistics rows that exist now, and a re-run that changes nothing
    _both(pg, _leases(140, 60), fast_way="set-based")
    again = _both(pg, _leases(0, 200), fast_way="set-based")
    assert again.already_present == again.loaded > 0
    # the same clients move between states and subnets: Kea's update trigger moves the counts
    moved = [replace(x, state=1 - x.state, cltt=NOW) if x.state in (0, 1) else
             replace(x, subnet_id=9, cltt=NOW) for x in _leases(0, 80)]
    assert _both(pg, moved, fast_way="set-based", mode="upsert").loaded > 0


def _plain_role(db_url: str) -> str:
    """A login role without superuser that may read and write ``db_url``'s tables (as Kea's own
    database user usually is); dropped when the test's database goes."""
    name = f"kea_etl_plain_{uuid.uuid4().hex[:8]}"
    db = parse_sql_target(db_url).database
    admin_sql("postgresql", f"CREATE ROLE {name} LOGIN")
    grants = (f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {name}; "
              f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {name}; "
              f"GRANT ALL ON SCHEMA public TO {name}")
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-q", "-v",
                    "ON_ERROR_STOP=1", "-c", grants], check=True, capture_output=True)
    return name


def _drop_role(name: str, dbs: tuple[str, ...]) -> None:
    admin_sql("postgresql", f"REVOKE ALL ON PARAMETER session_replication_role FROM {name}")
    for url in dbs:
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d",
                        parse_sql_target(url).database, "-q", "-c", f"DROP OWNED BY {name}"],
                       capture_output=True)
    admin_sql("postgresql", f"DROP ROLE IF EXISTS {name}")


def test_a_user_who_may_not_skip_triggers_loads_by_the_triggers(pg: tuple[str, str]) -> None:
    fast_url, ref_url = pg
    role = _plain_role(fast_url)
    try:
        plain = fast_url.replace("postgres@", f"{role}@", 1)
        report, note = _load(plain, _leases(0, 60))
        assert note is not None and "may not set session_replication_role" in note, note
        ref, _ = _load(ref_url, _leases(0, 60), statistics="triggers")
        assert _outcomes(report) == _outcomes(ref) and report.loaded > 0
        assert _snapshot(fast_url) == _snapshot(ref_url)
    finally:
        _drop_role(role, (fast_url,))


def test_a_user_granted_the_parameter_is_set_based(pg: tuple[str, str]) -> None:
    """README's advice for a database user that is not a superuser (PostgreSQL 15+)."""
    fast_url, ref_url = pg
    role = _plain_role(fast_url)
    try:
        admin_sql("postgresql", f"GRANT SET ON PARAMETER session_replication_role TO {role}")
        plain = fast_url.replace("postgres@", f"{role}@", 1)
        report, note = _load(plain, _leases(0, 60))
        assert note is not None and note.startswith("set-based"), note
        ref, _ = _load(ref_url, _leases(0, 60), statistics="triggers")
        assert _outcomes(report) == _outcomes(ref) and report.loaded > 0
        assert _snapshot(fast_url) == _snapshot(ref_url)
    finally:
        _drop_role(role, (fast_url,))


def test_a_trigger_not_keas_keeps_lease4_on_the_triggers(pg: tuple[str, str]) -> None:
    """Someone's audit trigger on lease4: it must see every new lease, so lease4 goes by the
    triggers (lease6, untouched, stays set-based); the statistics still equal Kea's."""
    fast_url, ref_url = pg
    audit = ("CREATE TABLE lease_audit (address BIGINT); "
             "CREATE FUNCTION audit_lease4() RETURNS trigger AS $$ BEGIN "
             "INSERT INTO lease_audit VALUES (NEW.address); RETURN NULL; END; $$ "
             "LANGUAGE plpgsql; CREATE TRIGGER lease4_audit AFTER INSERT ON lease4 "
             "FOR EACH ROW EXECUTE FUNCTION audit_lease4()")
    for url in pg:
        conn = connect(parse_sql_target(url))
        with conn.cursor() as cur:
            cur.execute(audit)
        conn.commit()
        conn.close()
    report = _both(pg, _leases(0, 60), fast_way="set-based; lease4 by Kea's triggers")
    conn = connect(parse_sql_target(fast_url))
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM lease_audit")
        audited = int(cur.fetchone()[0])
        cur.execute("SELECT count(*) FROM lease4")
        assert audited == int(cur.fetchone()[0]) > 0
    conn.close()
    assert report.loaded > 0
