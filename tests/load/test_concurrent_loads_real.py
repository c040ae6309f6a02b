"""Two loads of different clients for the same addresses at once (issue 13, item 5).

Each run's report must be true when it ends: every lease a run reports loaded is held for
that run's client afterwards, and the other run reports the address as a conflict. Before the
fix kea-sql read "who holds it" and wrote in separate steps (run A reported 10,000 loaded and
500 survived).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from ipaddress import IPv4Address
from typing import Any

import pytest

from kea_etl.load.kea_sql import KeaSqlLoader, connect, parse_sql_target
from kea_etl.records import Lease4, Lease6
from kea_etl.report import RunReport
from tests.harness import clock
from tests.harness.databases import kea_database
from tests.harness.kea import host_install

pytestmark = pytest.mark.kea

N = 3000


@pytest.fixture(params=["postgresql", "mysql"])
def kea_db(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """A fresh database with the host Kea's schema (kea-admin db-init); dropped afterwards."""
    with kea_database(request.param, host_install(), tag="kea_etl_conc") as url:
        yield request.param, url


def _run_both(loads: list[tuple[Any, list[Any]]]) -> list[RunReport]:
    reports = [RunReport() for _ in loads]
    barrier = threading.Barrier(len(loads))
    errors: list[BaseException] = []

    def go(k: int) -> None:
        loader, items = loads[k]
        barrier.wait()
        try:
            loader.load(iter(items), reports[k])
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(k,)) for k in range(len(loads))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    return reports


def _v4(client: int) -> list[Lease4]:
    now = clock.now()
    return [replace(Lease4(address=IPv4Address(0x0A000000 + 10 + i),
                           hwaddr=f"02:{client:02x}:00:00:{i >> 8:02x}:{i & 255:02x}",
                           valid_lft=3600, cltt=now, subnet_id=1), origin="t", line=i + 1)
            for i in range(N)]


def _v6(client: int) -> list[Lease6]:
    now = clock.now()
    return [replace(Lease6(address=f"2001:db8:1::{0x1000 + i:x}",
                           duid=f"00:03:00:01:02:{client:02x}:00:00:{i >> 8:02x}:{i & 255:02x}",
                           iaid=1, valid_lft=3600, preferred_lft=3000, cltt=now, subnet_id=1),
                    origin="t", line=i + 1)
            for i in range(N)]


def test_kea_sql_concurrent_loads_reports_are_true(kea_db: tuple[str, str]) -> None:
    engine, url = kea_db
    loads: list[tuple[Any, list[Any]]] = [
        (KeaSqlLoader(url, batch_size=50), _v4(1) + _v6(1)),
        (KeaSqlLoader(url, batch_size=50), _v4(2) + _v6(2)),
    ]
    a, b = _run_both(loads)
    conn = connect(parse_sql_target(url))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT hwaddr FROM lease4")
            owners4 = [bytes(r[0]).hex(":")[3:5] for r in cur.fetchall()]
            cur.execute("SELECT duid FROM lease6")
            owners6 = [bytes(r[0]).hex(":")[15:17] for r in cur.fetchall()]
    finally:
        conn.close()
    assert len(owners4) == N and len(owners6) == N
    held = {c: owners4.count(f"{c:02x}") + owners6.count(f"{c:02x}") for c in (1, 2)}
    # every lease a run reports loaded is its client's; the rest it reports as conflicts
    assert (a.loaded, b.loaded) == (held[1], held[2]), (a.loaded, b.loaded, held)
    assert (a.conflicts, b.conflicts) == (2 * N - held[1], 2 * N - held[2])
    assert a.loaded + b.loaded == 2 * N


def test_live_v6_bulk_concurrent_loads_reports_are_true(kea_factory: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Two live loads (lease6-bulk-apply, an upsert) of different DUIDs for the same 3000
    addresses into one real Kea 2.2: each run's report matches what Kea holds at its end.
    (The runs' final checks wait until both have sent everything, so that the overlap is the
    whole load whatever the scheduling.)"""
    from kea_etl.kea import KeaClient
    from kea_etl.load.api import LiveLeaseLoader, LiveOptions

    both_sent = threading.Barrier(2)
    real = LiveLeaseLoader._recheck_bulk

    def recheck(self: Any, report: RunReport) -> None:
        both_sent.wait(120)
        real(self, report)

    monkeypatch.setattr(LiveLeaseLoader, "_recheck_bulk", recheck)
    srv = kea_factory(family=6)
    loads: list[tuple[Any, list[Any]]] = [
        (LiveLeaseLoader(KeaClient.from_url(srv.socket_url), options=LiveOptions(workers=2)),
         _v6(c)) for c in (1, 2)]
    a, b = _run_both(loads)
    r = srv.command("lease6-get-all")
    duids = [x["duid"] for x in r["arguments"]["leases"]]
    assert len(duids) == N
    held = {c: sum(1 for d in duids if d.split(":")[5] == f"{c:02x}") for c in (1, 2)}
    assert (a.loaded, b.loaded) == (held[1], held[2]), (a.loaded, b.loaded, held, a.bulk_recheck,
                                                        b.bulk_recheck)
    assert (a.conflicts, b.conflicts) == (N - held[1], N - held[2])
    assert a.bulk_recheck is not None and a.bulk_recheck["checked"] > 0
    assert any("another client took it" in (p.detail or "")
               for p in a.problems + b.problems)
