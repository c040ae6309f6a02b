"""Two exports of the same server at once (a cron overlap; issue 13, item 2), from a real Kea.

Before the fix each run's completion deleted the rows the other had written so far: both
exited 0, ``export_runs`` said complete, and the night's snapshot kept a fraction of the leases.
Two first-ever exports into an empty PostgreSQL database also raced creating the tables
(``UniqueViolation`` on ``pg_type``, reported as "cannot create or evolve the schema").
"""

from __future__ import annotations

import copy
import json
import multiprocessing
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kea_etl.export.warehouse import Warehouse
from tests.harness import clock

pytestmark = pytest.mark.kea

ROOT = Path(__file__).resolve().parents[2]
N = 6000
NIGHT = "2026-11-27"


@pytest.fixture
def busy_kea4(kea4: Any) -> Any:
    """The suite's Kea with a /16 subnet holding N leases."""
    cfg = kea4.ok("config-get")
    cfg.pop("hash", None)
    cfg = copy.deepcopy(cfg)
    cfg["Dhcp4"]["subnet4"].append({"id": 20, "subnet": "10.20.0.0/16",
                                    "pools": [{"pool": "10.20.0.10 - 10.20.255.250"}]})
    kea4.ok("config-set", cfg)
    now = clock.now()
    for i in range(N):
        kea4.ok("lease4-add", {"ip-address": f"10.20.{i // 200}.{10 + i % 200}",
                               "hw-address": f"02:20:00:00:{i >> 8:02x}:{i & 255:02x}",
                               "valid-lft": 3600, "expire": now + 3000, "hostname": f"c{i}"})
    return kea4



def _export(kea: Any, url: str, report: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kea_etl.cli", "export", "--kea", kea.socket_url, "--family", "4",
         "--to", url, "--page-size", "10", "--export-date", NIGHT, "--report", str(report)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _two_at_once(kea: Any, url: str, tmp_path: Path) -> list[dict[str, Any]]:
    procs = [_export(kea, url, tmp_path / f"r{k}.json") for k in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, out + err
    return [json.loads((tmp_path / f"r{k}.json").read_text()) for k in range(2)]


def _check(url: str, reports: list[dict[str, Any]]) -> None:
    total = N + 0
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            def one(sql: str) -> Any:
                return conn.execute(sa.text(sql)).scalar_one()
            assert one("select count(*) from lease_snapshots") == total
            assert one("select count(distinct address) from lease_snapshots") == total
            assert one("select count(*) from leases_current") == total
            runs = conn.execute(sa.text(
                "select status, leases from export_runs order by status")).all()
        assert [tuple(r) for r in runs] == [("complete", total), ("superseded", total)]
        # the overlap happened: the second run waited for the first, and says so
        text = json.dumps(reports)
        assert "waited for another export of this server" in text, text
    finally:
        eng.dispose()


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_two_exports_at_once(busy_kea4: Any, tmp_path: Path, db: str,
                             request: pytest.FixtureRequest) -> None:
    """A warehouse used on earlier nights (the schema exists): neither run deletes the other's
    rows; the later one replaces the earlier one's snapshot whole."""
    url = (f"sqlite:///{tmp_path}/wh.db" if db == "sqlite"
           else request.getfixturevalue("pg_url"))
    wh = Warehouse(url)
    wh.ensure_schema()
    wh.dispose()
    _check(url, _two_at_once(busy_kea4, url, tmp_path))


def test_two_first_ever_exports_at_once_postgres(busy_kea4: Any, pg_url: str,
                                                 tmp_path: Path) -> None:
    """An empty database: both create the schema (race-free) and both export (one waits)."""
    _check(pg_url, _two_at_once(busy_kea4, pg_url, tmp_path))


def _ensure(url: str, barrier: Any, out: Any) -> None:
    wh = Warehouse(url)
    barrier.wait()
    try:
        wh.ensure_schema()
        out.put("ok")
    except Exception as exc:  # noqa: BLE001 - reported to the test
        out.put(str(exc))
    finally:
        wh.dispose()


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_schema_creation_race(db: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Six processes create the schema of an empty warehouse at the same instant."""
    url = (f"sqlite:///{tmp_path}/wh.db" if db == "sqlite"
           else request.getfixturevalue("pg_url"))
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(6), ctx.Queue()
    procs = [ctx.Process(target=_ensure, args=(url, barrier, out)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert sorted(out.get(timeout=10) for _ in procs) == ["ok"] * 6
