"""SQLite's ``leases_current`` is a view of the newest complete runs (kea_etl.export.warehouse).

What it shows must be what the table it replaced held (one row per lease Kea holds, from the
newest run that saw it; a subnet-filtered run replaces its subnets only), and a failed or
still-running run never shows.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from kea_etl.export import KeaTarget, run_export
from kea_etl.kea import KeaClient
from tests.export.test_export_unit import FakeKea

NIGHT = date(2026, 11, 27)


def _export(url: str, kea: FakeKea, *, night: date = NIGHT,
            subnets: list[int] | None = None) -> str | None:
    rep = run_export([KeaTarget("fake://a")], warehouse=url, page_size=10, export_date=night,
                     subnets=subnets, client_factory=lambda u, s: KeaClient.fake(kea, retries=0))
    return rep.results[0].run_id if rep.exit_code() == 0 else None


def _current(url: str) -> dict[str, tuple[int, str]]:
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(sa.text(
                "select address, subnet_id, run_id from leases_current")).all()
    finally:
        eng.dispose()
    out = {a: (s, r) for a, s, r in rows}
    assert len(out) == len(rows), "one row per address"
    return out


def _snapshot_rows(url: str) -> int:
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            return int(conn.execute(sa.text("select count(*) from lease_snapshots")).scalar_one())
    finally:
        eng.dispose()


def test_current_follows_complete_runs_and_subnet_filters(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/wh.db"
    kea = FakeKea(35)
    first = _export(url, kea)
    assert first is not None
    assert _current(url) == {x["ip-address"]: (x["subnet-id"], first) for x in kea.leases}

    # five leases go; a run filtered to subnet 2 replaces that subnet only
    gone = kea.leases[:5]
    kea.leases = kea.leases[5:]
    kea.pages = 0
    narrow = _export(url, kea, subnets=[2])
    assert narrow is not None
    want = {x["ip-address"]: (x["subnet-id"], narrow if x["subnet-id"] == 2 else first)
            for x in kea.leases}
    want.update({x["ip-address"]: (x["subnet-id"], first) for x in gone if x["subnet-id"] != 2})
    assert _current(url) == want

    # a failed run of the next night changes nothing
    failing = FakeKea(35, fail_after=2)
    failing.leases = kea.leases
    assert _export(url, failing, night=date(2026, 11, 28)) is None
    assert _current(url) == want

    # a complete unfiltered run: exactly what Kea holds, all from that run
    kea.pages = 0
    last = _export(url, kea, night=date(2026, 11, 28))
    assert last is not None
    assert _current(url) == {x["ip-address"]: (x["subnet-id"], last) for x in kea.leases}


def test_running_run_does_not_show(tmp_path: Path) -> None:
    """While a run streams, leases_current is still the previous complete run."""
    url = f"sqlite:///{tmp_path}/wh.db"
    kea = FakeKea(25)
    first = _export(url, kea)
    seen: list[set[str]] = []

    class Watching(FakeKea):
        def __call__(self, command: str, args: object) -> dict[str, object]:
            if command == "lease4-get-page" and self.pages == 2:
                # Kea is slow: the run commits the two pages it has (see test_export_unit)
                deadline = time.monotonic() + 30
                while _snapshot_rows(url) < 25 + 20:
                    assert time.monotonic() < deadline, "the first pages were not committed"
                    time.sleep(0.05)
                seen.append({r for _, r in _current(url).values()})
            return super().__call__(command, args)  # type: ignore[arg-type]

    second = _export(url, Watching(25), night=date(2026, 11, 28))
    assert seen == [{first}]
    assert {r for _, r in _current(url).values()} == {second}
