"""Unit tests of the export stage with an in-process fake Kea (KeaClient.fake)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads
import pytest
import sqlalchemy as sa

from kea_etl.errors import KeaTransportError
from kea_etl.export import KeaTarget, run_export
from kea_etl.export.kea_api import iter_lease_pages, page_to_batch
from kea_etl.export.stats import parse_stat_name, stat_lease_rows, statistic_rows
from kea_etl.kea import KeaClient
from kea_etl.reconcile import compare_records
from kea_etl.records import INFINITE_LIFETIME

NIGHT = date(2026, 11, 27)


def _lease(i: int) -> dict[str, Any]:
    return {"ip-address": f"10.0.{i // 250}.{i % 250 + 1}",
            "hw-address": f"02:00:00:00:{i // 256:02x}:{i % 256:02x}",
            "valid-lft": 3600, "cltt": 1_764_000_000 + i, "subnet-id": 1 + i % 3, "state": 0,
            "fqdn-fwd": False, "fqdn-rev": False, "hostname": ""}


class FakeKea:
    """lease4-get-page over ``n`` leases; optionally dies after ``fail_after`` pages."""

    def __init__(self, n: int, fail_after: int | None = None) -> None:
        self.leases = [_lease(i) for i in range(n)]
        self.fail_after = fail_after
        self.pages = 0

    def __call__(self, command: str, args: Any) -> dict[str, Any]:
        if command == "lease4-get-page":
            self.pages += 1
            if self.fail_after is not None and self.pages > self.fail_after:
                raise KeaTransportError("connection reset by peer", url="fake://kea")
            start = args["from"]
            idx = 0
            if start != "start":
                idx = next(i for i, x in enumerate(self.leases) if x["ip-address"] == start) + 1
            page = self.leases[idx: idx + args["limit"]]
            if not page:
                return {"result": 3, "text": "0 IPv4 lease(s) found."}
            return {"result": 0, "text": "ok", "arguments": {"leases": page, "count": len(page)}}
        if command == "version-get":
            return {"result": 0, "text": "2.2.0"}
        if command == "config-get":
            return {"result": 0, "text": "", "arguments": {"Dhcp4": {"subnet4": []}}}
        if command == "stat-lease4-get":
            return {"result": 0, "text": "", "arguments": {"result-set": {
                "columns": ["subnet-id", "total-addresses", "assigned-addresses"],
                "rows": [[1, 100, 5]], "timestamp": "2026-11-27 21:00:00.000001"}}}
        if command == "statistic-get-all":
            return {"result": 0, "text": "", "arguments": {
                "pkt4-received": [[7, "2026-11-27 21:00:01.000000"]],
                "subnet[1].pool[0].assigned-addresses": [[5, "2026-11-27 21:00:02.000000"],
                                                          [4, "2026-11-27 20:00:00.000000"]]}}
        return {"result": 2, "text": f"'{command}' command not supported."}


def test_paging_walks_everything_once() -> None:
    fake = FakeKea(25)
    client = KeaClient.fake(fake)
    pages = list(iter_lease_pages(client, 4, page_size=10))
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [x["ip-address"] for p in pages for x in p] == [x["ip-address"] for x in fake.leases]
    # exactly a multiple of the page size: one more (empty, result 3) request ends the walk
    fake20 = FakeKea(20)
    assert sum(len(p) for p in iter_lease_pages(KeaClient.fake(fake20), 4, page_size=10)) == 20
    assert fake20.pages == 3
    only2 = list(iter_lease_pages(KeaClient.fake(FakeKea(25)), 4, page_size=10, subnets=[2]))
    assert {x["subnet-id"] for p in only2 for x in p} == {2}


def test_page_to_batch_columns() -> None:
    now = datetime(2026, 11, 27, 21, tzinfo=UTC)
    b = page_to_batch([_lease(0), {**_lease(1), "client-id": "01:AA", "user-context": {"b": 1}}],
                      4, exported_at=now, kea_version="2.2.0")
    rows = b.to_pylist()
    assert rows[0]["expire"] == 1_764_000_000 + 3600 and rows[0]["lease_type"] == "V4"
    assert rows[1]["client_id"] == "01:aa" and rows[1]["user_context"] == '{"b":1}'
    assert rows[0]["exported_at"] == now


def test_page_to_batch_hostnames_and_state_names() -> None:
    """Hostnames past ASCII go through kea_text (a page of ASCII names is taken as it is);
    every state is named, an unknown one as Kea prints it."""
    now = datetime(2026, 11, 27, 21, tzinfo=UTC)
    ascii_page = [{**_lease(i), "hostname": f"h{i}", "state": i % 2} for i in range(3)]
    rows = page_to_batch(ascii_page, 4, exported_at=now, kea_version="2.2.0").to_pylist()
    assert [(r["hostname"], r["state_name"]) for r in rows] == [
        ("h0", "default"), ("h1", "declined"), ("h2", "default")]
    # Kea writes each byte >= 0x80 of a stored name as its own character: UTF-8 "é" is "Ã©";
    # a lone Latin-1 byte stays as it is
    mixed = [{**_lease(0), "hostname": "caf\u00c3\u00a9", "state": 9},
             {**_lease(1), "hostname": "x\u00e9", "state": 3},
             {**_lease(2), "hostname": None, "state": 9}]
    rows = page_to_batch(mixed, 4, exported_at=now, kea_version="2.2.0").to_pylist()
    assert [(r["hostname"], r["state_name"]) for r in rows] == [
        ("caf\u00e9", "unknown (9)"), ("x\u00e9", "released"), ("", "unknown (9)")]


def test_stat_names_and_rows() -> None:
    assert parse_stat_name("subnet[12].pd-pool[3].assigned-pds") == (12, "pd-pool", 3,
                                                                     "assigned-pds")
    assert parse_stat_name("subnet[1].total-addresses") == (1, None, None, "total-addresses")
    assert parse_stat_name("pkt4-received") == (None, None, None, "pkt4-received")
    rows = statistic_rows({"subnet[1].pool[0].assigned-addresses":
                           [[5, "2026-11-27 21:00:02.5"], [4, "2026-11-27 20:00:00"]]}, 4)
    assert len(rows) == 1 and rows[0].value == 5 and rows[0].pool_id == 0
    assert rows[0].sampled_at == datetime(2026, 11, 27, 21, 0, 2, 500000, tzinfo=UTC)
    big = stat_lease_rows({"result-set": {"columns": ["subnet-id", "total-nas"],
                                          "rows": [[1, 18446744073709551616]]}}, 6)
    assert big[0].value_text == "18446744073709551616" and big[0].value == 2.0 ** 64


def test_failure_mid_stream_rolls_back_and_keeps_last_good(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/wh.db"
    good = run_export([KeaTarget("fake://a")], warehouse=url, parquet_dir=tmp_path / "pq",
                      page_size=10, export_date=NIGHT,
                      client_factory=lambda u, s: KeaClient.fake(FakeKea(35), retries=0))
    assert good.exit_code() == 0 and good.leases == 35
    assert good.results[0].stats == 4  # 2 stat-lease4-get cells + 2 counters
    bad = run_export([KeaTarget("fake://a")], warehouse=url, parquet_dir=tmp_path / "pq",
                     page_size=10, export_date=NIGHT,
                     client_factory=lambda u, s: KeaClient.fake(FakeKea(35, fail_after=2),
                                                                retries=0))
    assert bad.exit_code() == 1
    assert "connection reset by peer" in (bad.results[0].error or "")
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        assert conn.execute(sa.text("select count(*) from lease_snapshots")).scalar_one() == 35
        statuses = sorted(conn.execute(sa.text("select status from export_runs")).scalars())
    assert statuses == ["complete", "failed"]
    # the earlier night's file is intact and no temp file is left
    assert pads.dataset(tmp_path / "pq" / "leases", partitioning="hive").count_rows() == 35
    assert not list((tmp_path / "pq").rglob(".*"))


def test_compare_tolerance_and_infinite() -> None:
    base = {"hwaddr": "aa", "client_id": None, "subnet_id": 1, "state": 0, "valid_lft": 100,
            "cltt": 1000}
    assert compare_records(base, {**base, "cltt": 1002}, family=4, tolerance=2) == {}
    d = compare_records(base, {**base, "cltt": 1003}, family=4, tolerance=2)
    assert d["expire"]["delta_s"] == 3
    inf = {**base, "valid_lft": INFINITE_LIFETIME}
    assert compare_records(inf, {**inf, "cltt": 5}, family=4, tolerance=0) == {}
    assert compare_records(inf, base, family=4, tolerance=2)["expire"]["source"] == "never"
    assert compare_records(base, {**base, "state": 1}, family=4, tolerance=2) == {
        "state": {"source": "0 (default)", "kea": "1 (declined)"}}


@pytest.mark.parametrize("n", [0, 1])
def test_empty_and_tiny_servers(tmp_path: Path, n: int) -> None:
    rep = run_export([KeaTarget("fake://a")], warehouse=f"sqlite:///{tmp_path}/w.db",
                     export_date=NIGHT, client_factory=lambda u, s: KeaClient.fake(FakeKea(n)))
    assert rep.exit_code() == 0 and rep.leases == n


@pytest.mark.parametrize(("version", "assigned"), [("2.2.0", 5), ("3.0.4", 5), ("3.2.0-git", 6)])
def test_stat_rows_assigned_means_state_0_on_every_version(version: str, assigned: int) -> None:
    """Kea 3.1.2+ answers stat-lease4-get's assigned-addresses with the declined leases included
    (stat_cmds.cc addValueRow4: assigned + declined); reconcile takes them out again, so 5
    leases in state 0 and 1 declined read the same from every version (the live check on 3.2 is
    tests/export/test_reconcile_file.py with KEA_ETL_KEA3=3.2)."""
    from kea_etl.kea import KeaClient
    from kea_etl.reconcile.compare import _stat_rows

    def handler(command: str, arguments: Any) -> dict[str, Any]:
        if command == "version-get":
            return {"result": 0, "text": version}
        assert command == "stat-lease4-get"
        return {"result": 0, "text": "ok", "arguments": {"result-set": {
            "columns": ["subnet-id", "total-addresses", "cumulative-assigned-addresses",
                        "assigned-addresses", "declined-addresses"],
            "rows": [[1, 241, 9, assigned, 1]]}}}

    client = KeaClient.fake(handler)
    assert _stat_rows(client, 4)[1]["assigned-addresses"] == 5
    assert _stat_rows(client, 4, version)[1]["assigned-addresses"] == 5


def test_sqlite_run_commits_while_kea_is_slow(tmp_path: Path) -> None:
    """A run's pages share a write transaction, but not while it waits for Kea: when the next
    page is late, what was written is committed, so other writers of the warehouse go on."""
    import sqlite3
    import time

    db = tmp_path / "wh.db"
    seen: dict[str, int] = {}

    class SlowKea(FakeKea):
        def __call__(self, command: str, args: Any) -> dict[str, Any]:
            if command == "lease4-get-page" and self.pages == 2:  # the third page is late
                # WAL: a reader sees only committed rows; the writer lock must be free too
                deadline = time.monotonic() + 30
                while "rows" not in seen:
                    con = sqlite3.connect(db, timeout=0)
                    try:
                        n = con.execute("select count(*) from lease_snapshots").fetchone()[0]
                        if n == 20:
                            con.execute("BEGIN IMMEDIATE")
                            seen["rows"] = n
                            con.rollback()
                    except sqlite3.OperationalError:
                        pass  # no table yet, or the run holds the writer lock
                    finally:
                        con.close()
                    assert "rows" in seen or time.monotonic() < deadline, \
                        "the pages written before the wait were not committed"
                    time.sleep(0.05)
            return super().__call__(command, args)

    rep = run_export([KeaTarget("fake://a")], warehouse=f"sqlite:///{db}", page_size=10,
                     export_date=NIGHT,
                     client_factory=lambda u, s: KeaClient.fake(SlowKea(35), retries=0))
    assert rep.exit_code() == 0 and rep.leases == 35
    assert seen["rows"] == 20  # the two pages written before the wait, committed
    eng = sa.create_engine(f"sqlite:///{db}")
    with eng.connect() as conn:
        assert conn.execute(sa.text("select count(*) from leases_current")).scalar_one() == 35
