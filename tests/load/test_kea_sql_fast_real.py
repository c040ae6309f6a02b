"""kea-sql's set-based write path (COPY / staging table / multi-row INSERT) against a reference
that writes one row per statement (``INSERT ... ON CONFLICT DO UPDATE`` / ``ON DUPLICATE KEY
UPDATE``, the loader's former statements), each into its own database with the schema of every
selected Kea version (2.2 .. 3.2, tests/harness/matrix.py), on PostgreSQL and MariaDB.

After every step (fresh load, a re-run, same clients with other expiry / state / subnet in
upsert mode, other clients' leases skipped then overwritten, an interrupted load resumed) both
databases hold the same ``lease4`` / ``lease6`` rows and the same statistics tables (every table
of the schema named ``*stat*``: lease4_stat, lease6_stat and the pool / class tables of later
versions, kept by Kea's own triggers), and both runs report the same outcome for every record.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest

from kea_etl.load.checkpoint import Checkpoint
from kea_etl.load.kea_sql import KeaSqlLoader, connect, parse_sql_target
from kea_etl.records import Lease4, Lease6
from kea_etl.report import RunReport
from tests.harness import clock
from tests.harness.databases import ENGINES, kea_database
from tests.harness.kea import KeaInstall

pytestmark = pytest.mark.kea


class RowByRow(KeaSqlLoader):
    """The reference: the same reads and decisions, every row written by its own upsert, the
    statistics kept by Kea's own triggers."""

    def __init__(self, url: str, **kw: Any) -> None:
        super().__init__(url, statistics="triggers", **kw)
        self.optimistic = False  # every batch read first: its upserts would replace held rows

    def _write(self, cur: Any, table: str, cols: str, rows: list[tuple[Any, ...]], *,
               held: bool, payload: str | None = None) -> None:
        self._count(f"{table} upserts", len(rows))
        names = [c.strip() for c in cols.split(",")]
        at = names.index("expire")
        if self.pg:
            tail = " ON CONFLICT (address) DO UPDATE SET " + ", ".join(
                f"{c} = EXCLUDED.{c}" for c in names[1:])
        else:
            tail = " ON DUPLICATE KEY UPDATE " + ", ".join(f"{c} = VALUES({c})" for c in names[1:])
        sql = f"INSERT INTO {table} ({cols}) VALUES ({','.join(['%s'] * len(names))}){tail}"
        for row in rows:
            when = datetime.fromtimestamp(row[at], tz=UTC)
            cur.execute(sql, (*row[:at], when if self.pg else when.replace(tzinfo=None),
                              *row[at + 1:]))


def _snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every lease row and every statistics table, in a comparable order."""
    conn = connect(parse_sql_target(url))
    pg = url.startswith("kea-sql:postgresql")
    out: dict[str, list[tuple[Any, ...]]] = {}
    with conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = "
                    + ("current_schema()" if pg else "DATABASE()")
                    + " AND table_name LIKE '%stat%' AND table_type = 'BASE TABLE'")
        stats = sorted(str(t).lower() for (t,) in cur.fetchall())
        assert "lease4_stat" in stats and "lease6_stat" in stats, stats
        for table in ["lease4", "lease6", *stats]:
            cur.execute(f"SELECT * FROM {table}")
            out[table] = sorted((tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
                                 for r in cur.fetchall()), key=repr)
    conn.commit()
    conn.close()
    return out


@pytest.fixture(params=ENGINES)
def dbs(request: pytest.FixtureRequest, kea_install: KeaInstall) -> Iterator[tuple[str, str]]:
    """Two databases with ``kea_install``'s schema: the fast path's and the reference's."""
    engine: str = request.param
    with kea_database(engine, kea_install, tag="kea_etl_fast") as fast, \
            kea_database(engine, kea_install, tag="kea_etl_ref") as ref:
        yield fast, ref


NOW = clock.now()
MAC = "02:00:00:00:{:02x}:{:02x}"


def _v4(i: int, *, subnet: int = 0, state: int = 0, cltt: int = NOW - 600, mac: str | None = None,
        hostname: str = "") -> Lease4:
    subnet = subnet or 1 + i % 3
    return Lease4(address=f"10.{subnet}.0.{10 + i}", hwaddr=mac or MAC.format(i // 256, i % 256),
                  client_id=f"01:{MAC.format(i // 256, i % 256)}" if i % 2 else None,
                  valid_lft=3600 + i, cltt=cltt, subnet_id=subnet, state=state,
                  hostname=hostname or (f"h{i},x" if i % 5 == 0 else ""),
                  user_context={"n": i} if i % 7 == 0 else None)


def _v6(i: int, *, state: int = 0, cltt: int = NOW - 600, duid: str | None = None) -> Lease6:
    pd = i % 4 == 0
    return Lease6(address=f"2001:db8:{8000 + i:x}::" if pd else f"2001:db8:1::{0x1000 + i:x}",
                  duid=duid or f"00:03:00:01:02:00:00:00:{i // 256:02x}:{i % 256:02x}",
                  iaid=0xFFFFFF00 + i if i % 3 == 0 else i, lease_type="IA_PD" if pd else "IA_NA",
                  prefix_len=56 if pd else 128, valid_lft=4000, preferred_lft=3000, cltt=cltt,
                  subnet_id=1 + i % 2, state=state, hostname=f"v6-{i}" if i % 2 else "")


def _items(records: list[Any]) -> list[Any]:
    return [replace(r, origin="t.leases", line=n + 1) for n, r in enumerate(records)]


def _outcomes(report: RunReport) -> list[tuple[Any, ...]]:
    return sorted((p.kind, p.key, p.reason, p.detail) for p in report.problems) + [
        ("counts", report.loaded, report.already_present, report.failed, report.conflicts)]


def _both(dbs: tuple[str, str], records: list[Any], *, mode: Literal["add", "upsert"] = "add",
          on_conflict: Literal["skip", "overwrite"] = "skip") -> RunReport:
    """Load ``records`` with the fast path and the reference; same outcomes, same tables."""
    fast_url, ref_url = dbs
    reports = []
    for cls, url in ((KeaSqlLoader, fast_url), (RowByRow, ref_url)):
        report = RunReport()
        cls(url, mode=mode, on_conflict=on_conflict, batch_size=7).load(_items(records), report)
        reports.append(report)
    assert _outcomes(reports[0]) == _outcomes(reports[1])
    assert _snapshot(fast_url) == _snapshot(ref_url)
    return reports[0]


def test_fast_path_equals_row_by_row_rows_stats_and_outcomes(dbs: tuple[str, str]) -> None:
    v4 = [_v4(i, state=1 if i % 11 == 0 else 0) for i in range(60)]
    v6 = [_v6(i, state=1 if i % 9 == 0 else 0) for i in range(40)]
    # the input holds one address twice: the last one wins, both count as loaded
    first = _both(dbs, [*v4, *v6, replace(v4[3], cltt=NOW - 300)])
    assert (first.loaded, first.failed) == (101, 0)
    stats = _snapshot(dbs[0])
    assert sum(r[-1] for r in stats["lease4_stat"]) == 60  # Kea counts assigned and declined

    again = _both(dbs, [*v4, *v6])  # a second run changes nothing and says so
    assert (again.loaded, again.already_present) == (100, 100)
    assert _snapshot(dbs[0]) == stats

    # same clients: other expiry (kept in add, replaced in upsert), state and subnet changes
    # that move the statistics between rows, plus new leases
    changed4 = [replace(x, cltt=x.cltt + 60, state=1 - x.state) for x in v4[:20]]
    changed4 += [replace(x, subnet_id=9, cltt=NOW) for x in v4[20:30]]
    changed6 = [replace(x, cltt=x.cltt + 60, state=2) for x in v6[:10]]
    new = [_v4(i) for i in range(60, 80)] + [_v6(i) for i in range(40, 50)]
    kept = _both(dbs, [*changed4, *changed6, *new])
    assert kept.already_present == 40 and kept.loaded == 70
    up = _both(dbs, [*changed4, *changed6], mode="upsert")
    assert (up.loaded, up.already_present) == (40, 0)

    # other clients at held addresses: conflicts left alone, then overwritten
    others = [_v4(i, mac=f"0a:00:00:00:00:{i:02x}") for i in range(0, 60, 4)]
    others += [_v6(i, duid=f"00:03:00:01:0a:00:00:00:00:{i:02x}") for i in range(1, 40, 5)]
    skip = _both(dbs, others)
    assert skip.conflicts == len(others) and skip.loaded == 0
    over = _both(dbs, others, on_conflict="overwrite")
    assert (over.loaded, over.failed) == (len(others), 0)
    assert _both(dbs, others).already_present == len(others)


def test_dense_batches_read_by_range_equal_row_by_row(dbs: tuple[str, str]) -> None:
    """Batches of neighbouring addresses are read by one index range (rows of the range
    outside the batch are not the batch's business): same decisions as the reference."""
    dense = [_v4(i, subnet=1) for i in range(0, 60)]
    _both(dbs, dense[::3])  # every third address held, the rest free
    mixed = [x if i % 2 else replace(x, hwaddr="0a:00:00:00:00:01", client_id=None)
             for i, x in enumerate(dense[:40])]
    report = _both(dbs, mixed)
    assert report.conflicts > 0 and report.already_present > 0 and report.loaded > 20
    _both(dbs, dense[30:], mode="upsert")


def test_batches_written_unread_fall_back_to_reading_when_an_address_is_held(
        dbs: tuple[str, str]) -> None:
    """After a batch that found nothing held, the next is written without reading; a batch one
    of whose addresses another client holds after all is refused by the primary key, rolled
    back, then read and judged: the outcomes and tables of the reference, which reads every
    batch, and most batches were not read."""
    fast_url, ref_url = dbs
    theirs = [_v4(i, mac=f"0a:00:00:00:00:{i:02x}") for i in (16, 40)]
    for url in dbs:
        RowByRow(url, batch_size=7).load(_items(theirs), RunReport())
    reads: list[int] = []

    class Counting(KeaSqlLoader):
        def _held(self, cur: Any, table: str, addrs: list[Any]) -> dict[Any, Lease4 | Lease6]:
            reads.append(len(addrs))
            return super()._held(cur, table, addrs)

    ours = _items([_v4(i) for i in range(70)])
    fast, ref = RunReport(), RunReport()
    Counting(fast_url, batch_size=7).load(ours, fast)
    RowByRow(ref_url, batch_size=7).load(ours, ref)
    assert _outcomes(fast) == _outcomes(ref)
    assert (fast.loaded, fast.conflicts) == (68, 2)
    assert _snapshot(fast_url) == _snapshot(ref_url)
    # read: the first batch, the two refused ones, and the one after each
    assert 3 <= len(reads) <= 5, reads


class _Stop(Exception):
    pass


def _interrupted(records: list[Any], after: int) -> Iterator[Any]:
    for n, r in enumerate(records):
        if n == after:
            raise _Stop
        yield r


def test_fast_path_resume_after_interruption_equals_uninterrupted_reference(
        dbs: tuple[str, str], tmp_path: Path) -> None:
    """A load stopped mid-way (the source fails after 40 records, with a batch in flight),
    then resumed from its checkpoint, ends with the rows, statistics and counts of the
    reference's uninterrupted load."""
    fast_url, ref_url = dbs
    records = _items([_v4(i) for i in range(70)] + [_v6(i) for i in range(30)])
    RowByRow(ref_url, batch_size=7).load(records, RunReport())
    state = tmp_path / "run.state.sqlite"
    stopped = KeaSqlLoader(fast_url, batch_size=7,
                           checkpoint=Checkpoint(state, "fp", resume=False))
    with pytest.raises(_Stop):
        stopped.load(_interrupted(records, 40), RunReport())
    stopped.abort()  # as kea_etl.migration does when a load raises
    saved = Checkpoint(state, "fp", resume=True)
    assert 0 < sum(saved.counts().values()) <= 40
    report = RunReport()
    KeaSqlLoader(fast_url, batch_size=7, checkpoint=saved).load(records, report)
    assert (report.loaded, report.failed) == (100, 0)
    assert _snapshot(fast_url) == _snapshot(ref_url)


class _FailingCheckpoint(Checkpoint):
    """A checkpoint whose disk fills up at its second batch."""

    def record(self, outcomes: Any) -> None:
        if self._batches >= 1:
            raise OSError(28, "No space left on device")
        super().record(outcomes)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_checkpoint_that_cannot_record_stops_the_load_one_batch_ahead_at_most(
        engine: str, tmp_path: Path) -> None:
    """The checkpoint records a batch while the next is written, and that next one commits only
    after the record: when recording fails, the load stops with the checkpoint's error (not a
    database retry, not a per-record redo), and the database holds the recorded batch plus at
    most the one committed before the failure, which a resumed run finds already present."""
    from kea_etl.errors import FatalError
    from tests.harness.kea import resolve_install

    with kea_database(engine, resolve_install(None), tag="kea_etl_ckfail") as url:
        # a row the database refuses in the third batch: redone record by record, where the
        # checkpoint's error must still stop the load rather than fail each record
        records = _items([_v4(i, subnet=1, hostname="h" * 300 if i == 25 else "")
                          for i in range(50)])
        state = tmp_path / "run.state.sqlite"
        loader = KeaSqlLoader(url, batch_size=10,
                              checkpoint=_FailingCheckpoint(state, "fp", resume=False))
        with pytest.raises(FatalError, match="No space left on device"):
            loader.load(records, RunReport())
        loader.abort()
        saved = Checkpoint(state, "fp", resume=True)
        assert saved.counts() == {"loaded": 10}
        assert len(_snapshot(url)["lease4"]) == 20  # the recorded batch and the next, no third
        report = RunReport()
        KeaSqlLoader(url, batch_size=10, checkpoint=saved).load(records, report)
        # the recorded batch counts from the checkpoint, the unrecorded one as already present
        assert (report.loaded, report.already_present, report.failed) == (49, 10, 1)
        assert len(_snapshot(url)["lease4"]) == 49


class _Racer(KeaSqlLoader):
    """Another client's lease for one of the batch's addresses is written, by another connection
    in another thread, right after this loader's first read of a batch: a concurrent writer
    between the read and the write.

    PostgreSQL lets the other writer commit at once (its serializable reads take no locks), so
    the loader's write meets a row it did not read. MariaDB's SERIALIZABLE takes the read's range
    locks, so the other writer waits for the loader's commit (or one of the two is chosen as a
    deadlock victim and retried): waiting for it inside the read would hang, hence the thread."""

    def __init__(self, url: str, lease: Lease4, **kw: Any) -> None:
        super().__init__(url, **kw)
        self.optimistic = False  # the race is run after the read
        self.race: Lease4 | None = lease
        self.theirs = RunReport()
        self.thread: threading.Thread | None = None

    def _held(self, cur: Any, table: str, addrs: list[Any]) -> dict[Any, Lease4 | Lease6]:
        found = super()._held(cur, table, addrs)
        if self.race is not None:
            lease, self.race = self.race, None
            self.thread = threading.Thread(
                target=lambda: RowByRow(self.name).load(_items([lease]), self.theirs))
            self.thread.start()
            # bounded: a wait that is never seen fails here, not after the other writer's
            # 30 lock-wait timeouts (25 minutes)
            deadline = time.monotonic() + 60
            while self.thread.is_alive() and not (not self.pg and _lock_waits(self.name)):
                assert time.monotonic() < deadline, "the other writer neither ended nor waited"
                self.thread.join(0.05)
        return found


def _lock_waits(url: str) -> int:
    """Locks that a transaction waits for in the MariaDB database of ``url``.

    Read from SHOW ENGINE INNODB STATUS, which is built on every call: MariaDB refreshes
    information_schema.innodb_trx / innodb_lock_waits only when they were not read for 100 ms,
    so a tighter poll than that reads the same stale copy forever."""
    target = parse_sql_target(url)
    conn = connect(target)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW ENGINE INNODB STATUS")
            status = str(cur.fetchone()[2])
        mark = f"`{target.database}`."
        return sum(1 for line in status.splitlines() if mark in line and "waiting" in line)
    finally:
        conn.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_lease_written_between_read_and_copy_is_never_overwritten(engine: str) -> None:
    """Whoever writes second sees the first one's lease: nothing is overwritten unseen, and both
    runs account for every record (loaded or a conflict naming the other client)."""
    from tests.harness.kea import resolve_install

    with kea_database(engine, resolve_install(None), tag="kea_etl_race") as url:
        ours = [_v4(i) for i in range(10)]
        theirs = replace(ours[4], hwaddr="0a:0b:0c:0d:0e:0f", client_id=None)
        racer = _Racer(url, theirs)
        report = RunReport()
        racer.load(_items(ours), report)
        assert racer.thread is not None
        racer.thread.join()
        # every record is loaded or a conflict (counted as failed too: its client is not
        # where the source says), never a failure of another kind
        problems = [*report.problems, *racer.theirs.problems]
        assert all(p.kind == "conflict" for p in problems), problems
        assert report.failed == report.conflicts and racer.theirs.failed == racer.theirs.conflicts
        holder = {r[0]: bytes(r[1]) for r in _snapshot(url)["lease4"]}
        assert len(holder) == 10
        addr4 = int(ipaddress.IPv4Address(ours[4].address))
        if holder[addr4] == bytes.fromhex("0a0b0c0d0e0f"):  # theirs first: ours is a conflict
            assert (report.loaded, report.conflicts) == (9, 1), report.problems
            assert report.problems[0].key == f"4:{ours[4].address}"
            assert "0a:0b:0c:0d:0e:0f" in (report.problems[0].detail or "")
            assert racer.theirs.loaded == 1
        else:  # ours first: theirs is the conflict
            assert engine == "mysql", "PostgreSQL never makes the other writer wait"
            assert (report.loaded, report.conflicts) == (10, 0), report.problems
            assert (racer.theirs.loaded, racer.theirs.conflicts) == (0, 1)
