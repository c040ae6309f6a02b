"""Unit tests of kea_etl.audit on exports written by the real export code.

The export (run_export -> SQLite warehouse + Parquet) is fed by an in-process fake Kea
(KeaClient.fake) holding a small hand-written lease set, so every expected number below is
known exactly. The notebook test (test_audit_notebook.py) does the same against real Kea.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from kea_etl import audit
from kea_etl.errors import ConfigError, KeaEtlError
from kea_etl.export import KeaTarget, run_export
from kea_etl.kea import KeaClient
from kea_etl.reconcile import ReconcileResult
from kea_etl.records import INFINITE_LIFETIME
from tests.export.helpers import png_colours

NIGHT1 = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)
NIGHT2 = NIGHT1 + timedelta(days=1)
REF = int(NIGHT2.timestamp())

CONFIG = """
// comments are allowed, as in Kea
{"Dhcp4": {
  "subnet4": [
    {"id": 1, "subnet": "192.0.2.0/24", "pools": [{"pool": "192.0.2.10 - 192.0.2.19"}]},
    {"id": 2, "subnet": "198.51.100.0/24"}  # no pool
  ],
  "shared-networks": [{"name": "net", "subnet4": [
    {"id": 3, "subnet": "203.0.113.0/24", "pools": [{"pool": "203.0.113.128/28"}]}]}]
}}
"""
CONFIG6 = """
{"Dhcp6": {"subnet6": [{"id": 1, "subnet": "2001:db8:1::/64",
  "pools": [{"pool": "2001:db8:1::100 - 2001:db8:1::1ff"}],
  "pd-pools": [{"prefix": "2001:db8:8000::", "prefix-len": 40, "delegated-len": 56}]}]}}
"""


def _l4(ip: str, mac: str, subnet: int, *, state: int = 0, expire: int = REF + 30 * 86400,
        valid: int = 86400) -> dict[str, Any]:
    cltt = expire - valid if valid != INFINITE_LIFETIME else REF - 100
    return {"ip-address": ip, "hw-address": mac, "subnet-id": subnet, "state": state,
            "valid-lft": valid, "cltt": cltt, "fqdn-fwd": False, "fqdn-rev": False,
            "hostname": ""}


NIGHT1_V4 = [
    _l4("192.0.2.10", "aa:00:00:00:00:01", 1),
    _l4("192.0.2.11", "aa:00:00:00:00:02", 1, state=1),           # declined
    _l4("192.0.2.12", "aa:00:00:00:00:03", 1, state=2),           # reclaimed: holds nothing
    _l4("192.0.2.30", "aa:00:00:00:00:04", 1),                    # subnet 1, outside its pool
    _l4("198.51.100.5", "aa:00:00:00:00:01", 2),                  # no pool; 2nd lease of ..:01
    _l4("203.0.113.130", "aa:00:00:00:00:05", 3, expire=REF + 3600),
    _l4("203.0.113.131", "aa:00:00:00:00:06", 3, expire=REF - 3600),   # past expiry
    _l4("203.0.113.132", "aa:00:00:00:00:07", 3, valid=INFINITE_LIFETIME),
]
NIGHT2_V4 = [x for x in NIGHT1_V4 if x["ip-address"] != "192.0.2.10"] + [
    _l4("203.0.113.133", "aa:00:00:00:00:08", 3, expire=REF + 10 * 86400)]


class FakeKea:
    """Just enough of Kea for run_export: paged leases, stat-lease4-get, statistic-get-all."""

    def __init__(self, leases: list[dict[str, Any]], stat_rows: list[list[int]]) -> None:
        self.leases = sorted(leases, key=lambda x: tuple(int(p) for p in
                                                         x["ip-address"].split(".")))
        self.stat_rows = stat_rows

    def __call__(self, command: str, args: Any) -> dict[str, Any]:
        if command == "lease4-get-page":
            idx = 0
            if args["from"] != "start":
                idx = [x["ip-address"] for x in self.leases].index(args["from"]) + 1
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
                "columns": ["subnet-id", "total-addresses", "cumulative-assigned-addresses",
                            "assigned-addresses", "declined-addresses"],
                "rows": self.stat_rows, "timestamp": "2026-11-27 21:00:00.000001"}}}
        if command == "statistic-get-all":
            return {"result": 0, "text": "", "arguments": {
                "pkt4-received": [[7, "2026-11-27 21:00:01.000000"]]}}
        return {"result": 2, "text": f"'{command}' command not supported."}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("audit")
    wh = f"sqlite:///{root / 'wh.db'}"
    parquet = root / "parquet"
    # night 2's stat row for subnet 1 is deliberately wrong (Kea says 3 assigned, export has 1)
    nights = [(NIGHT1, FakeKea(NIGHT1_V4, [[1, 10, 0, 2, 1], [2, 0, 0, 1, 0], [3, 16, 0, 3, 0]])),
              (NIGHT2, FakeKea(NIGHT2_V4, [[1, 10, 0, 3, 1], [2, 0, 0, 1, 0], [3, 16, 0, 4, 0]]))]
    for at, fake in nights:
        report = run_export([KeaTarget("unix:///fake/kea4.sock", label="kea-a")],
                            families=(4,), warehouse=wh, parquet_dir=parquet, exported_at=at,
                            client_factory=lambda url, service, fake=fake: KeaClient.fake(fake))
        assert report.ok, report.to_json()
    cfg = root / "kea4.json"
    cfg.write_text(CONFIG)
    return {"wh": wh, "parquet": parquet, "config": cfg, "root": root}


def test_warehouse_and_parquet_load_the_same_export(exported: dict[str, Any]) -> None:
    w = audit.load_export(warehouse=exported["wh"])
    p = audit.load_export(parquet=exported["parquet"])
    assert w.nights == p.nights == [date(2026, 11, 27), date(2026, 11, 28)]
    assert w.servers == ["kea-a"]
    for got in (w, p):
        summary = got.summary()
        assert summary["leases"].tolist() == [len(NIGHT1_V4), len(NIGHT2_V4)]
        assert summary["exported_at"].tolist() == [pd.Timestamp(NIGHT1), pd.Timestamp(NIGHT2)]
    key = ["export_date", "server", "family", "address", "state", "expire", "hwaddr"]
    assert w.snapshots[key].sort_values(key).reset_index(drop=True).equals(
        p.snapshots[key].sort_values(key).reset_index(drop=True))
    # current = night 2 (warehouse: leases_current; Parquet: the newest partition)
    for got in (w, p):
        assert sorted(got.current["address"]) == sorted(x["ip-address"] for x in NIGHT2_V4)
    infinite = w.current.set_index("address").loc["203.0.113.132"]
    assert pd.isna(infinite["expire_at"])
    # since: only night 2
    for got in (audit.load_warehouse(exported["wh"], since=date(2026, 11, 28)),
                audit.load_parquet(exported["parquet"], since=date(2026, 11, 28))):
        assert got.nights == [date(2026, 11, 28)]
        assert set(got.stats["export_date"].dt.date) == {date(2026, 11, 28)}


def test_pools_from_config_with_comments_shared_networks_and_prefix_pools(
        exported: dict[str, Any], tmp_path: Path) -> None:
    cfg6 = tmp_path / "kea6.json"
    cfg6.write_text(CONFIG6)
    pools = audit.load_pools([exported["config"], cfg6])
    subnets = pools.subnets.fillna({"shared_network": "-"})
    assert subnets[["family", "subnet_id", "shared_network", "pools"]].values.tolist() == [
        [4, 1, "-", 1], [4, 2, "-", 0], [4, 3, "net", 1], [6, 1, "-", 2]]
    assert pools.pools[["family", "kind", "pool", "size"]].values.tolist() == [
        [4, "pool", "192.0.2.10 - 192.0.2.19", 10], [4, "pool", "203.0.113.128/28", 16],
        [6, "pool", "2001:db8:1::100 - 2001:db8:1::1ff", 256],
        [6, "pd-pool", "2001:db8:8000::/40 /56", 2 ** 16]]


def test_pool_utilisation_per_night(exported: dict[str, Any]) -> None:
    w = audit.load_export(warehouse=exported["wh"])
    util = audit.pool_utilisation(w.snapshots, audit.load_pools([exported["config"]]))
    got = {(d.date().isoformat(), pool): (a, dec, size) for d, pool, a, dec, size in
           util[["export_date", "pool", "assigned", "declined", "size"]].itertuples(index=False)}
    assert got == {
        # .10 assigned, .11 declined, .12 reclaimed (not counted), .30 outside the pool
        ("2026-11-27", "192.0.2.10 - 192.0.2.19"): (1, 1, 10),
        ("2026-11-28", "192.0.2.10 - 192.0.2.19"): (0, 1, 10),   # .10 gone: 0, still listed
        ("2026-11-27", "203.0.113.128/28"): (3, 0, 16),
        ("2026-11-28", "203.0.113.128/28"): (4, 0, 16),
    }
    row = util[(util["pool"] == "203.0.113.128/28") & (util["export_date"] == "2026-11-28")]
    assert row["utilisation"].iloc[0] == pytest.approx(4 / 16)


def test_leases_per_subnet_next_to_kea_statistics(exported: dict[str, Any]) -> None:
    for got in (audit.load_export(warehouse=exported["wh"]),
                audit.load_export(parquet=exported["parquet"])):
        table = audit.leases_per_subnet(got.current, got.stats)
        rows = table.set_index("subnet_id")[["assigned", "declined", "other", "kea_assigned",
                                             "kea_declined", "kea_total", "matches"]]
        assert rows.loc[1].tolist() == [1, 1, 1, 3, 1, 10, False]   # Kea says 3: flagged
        assert rows.loc[2].tolist() == [1, 0, 0, 1, 0, 0, True]
        assert rows.loc[3].tolist() == [4, 0, 0, 4, 0, 16, True]
        # Kea's statistics over time
        su = audit.subnet_utilisation(got.stats)
        s3 = su[su["subnet_id"] == 3].sort_values("export_date")
        assert s3["kea_assigned"].tolist() == [3, 4]
        assert s3["utilisation"].tolist() == pytest.approx([3 / 16, 4 / 16])


def test_clients_outside_pools_and_expiring(exported: dict[str, Any]) -> None:
    w = audit.load_export(warehouse=exported["wh"])
    pools = audit.load_pools([exported["config"]])
    first = audit.load_warehouse(exported["wh"])
    night1 = first.snapshots[first.snapshots["export_date"] == "2026-11-27"]
    several = audit.clients_with_several_leases(night1)
    assert several[["client", "leases", "addresses", "subnets"]].values.tolist() == [
        ["aa:00:00:00:00:01", 2, "192.0.2.10, 198.51.100.5", "1, 2"]]
    assert audit.clients_with_several_leases(w.current).empty  # .10 is gone on night 2

    outside = audit.leases_outside_pools(w.current, pools)
    assert outside[["address", "reason"]].values.tolist() == [
        ["192.0.2.30", "outside subnet 1's pools"], ["198.51.100.5", "subnet 2 has no pool"]]

    soon = audit.expiring_soon(w.current, now=NIGHT2, within=timedelta(days=2))
    assert soon[["address", "status", "hours_left"]].values.tolist() == [
        ["203.0.113.131", "expired, not reclaimed", -1.0], ["203.0.113.130", "expiring", 1.0]]
    later = audit.expiring_soon(w.current, now=NIGHT2, within=timedelta(days=11))
    assert "203.0.113.133" in set(later["address"])
    assert "203.0.113.132" not in set(later["address"])  # infinite lifetime never expires
    with pytest.raises(ValueError, match="timezone-aware"):
        audit.expiring_soon(w.current, now=NIGHT2.replace(tzinfo=None))


def _reconcile_json(path: Path) -> Path:
    res = ReconcileResult(family=4, as_of=REF, tolerance=2, source_name="dhcpd.leases",
                          server="unix:///run/kea/kea4.sock", kea_version="2.2.0",
                          matched=5, missing=1, extra=1, mismatched=1)
    res.sample = [
        {"address": "192.0.2.20", "category": "missing", "subnet_id": 1, "fields": {},
         "source": {"hwaddr": "aa:00:00:00:00:20"}, "source_line": 12},
        {"address": "192.0.2.21", "category": "extra", "subnet_id": 1, "fields": {},
         "kea": {"hwaddr": "aa:00:00:00:00:21"}},
        {"address": "192.0.2.22", "category": "mismatched", "subnet_id": 1,
         "fields": {"hwaddr": {"source": "aa:00:00:00:00:22", "kea": "de:ad:be:ef:00:22"}},
         "source_line": 30},
    ]
    res.write_json(path)
    return path


def test_load_reconcile(tmp_path: Path) -> None:
    rec = audit.load_reconcile([_reconcile_json(tmp_path / "r.json")])
    assert rec.summary[["family", "matched", "missing", "extra", "mismatched", "ok"]] \
        .values.tolist() == [[4, 5, 1, 1, 1, False]]
    diffs = rec.differences.fillna({"client": "-"})
    # a mismatched record carries only its differing fields (no snapshot, so no client)
    assert diffs[["address", "category", "client", "fields"]].values.tolist() == [
        ["192.0.2.20", "missing", "aa:00:00:00:00:20", ""],
        ["192.0.2.21", "extra", "aa:00:00:00:00:21", ""],
        ["192.0.2.22", "mismatched", "-", "hwaddr: aa:00:00:00:00:22 -> de:ad:be:ef:00:22"]]
    assert rec.differences["source_line"].tolist()[0] == 12


def test_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(KeaEtlError, match="set KEA_ETL_WAREHOUSE .* or KEA_ETL_PARQUET"):
        audit.load_export()
    with pytest.raises(KeaEtlError, match=r"no leases/ or stats/ directory: is this a kea-etl Parquet"):
        audit.load_parquet(tmp_path)
    with pytest.raises(KeaEtlError, match="has no table export_runs, lease_snapshots"):
        audit.load_warehouse(f"sqlite:///{tmp_path / 'empty.db'}")
    bad = tmp_path / "bad.json"
    bad.write_text('{"matched": 1}')
    with pytest.raises(KeaEtlError, match=r"bad.json: no missing, extra, mismatched, differences"):
        audit.load_reconcile(bad)
    broken = tmp_path / "broken.json"
    broken.write_text('{"matched": 1,\n')
    with pytest.raises(KeaEtlError, match=r"broken.json line 2: not valid JSON"):
        audit.load_reconcile(broken)
    with pytest.raises(KeaEtlError, match=r"cannot read reconcile result .*nope.json"):
        audit.load_reconcile(tmp_path / "nope.json")
    cfg = tmp_path / "kea.json"
    cfg.write_text(json.dumps({"Dhcp4": {"subnet4": [
        {"id": 1, "subnet": "192.0.2.0/24", "pools": [{"pool": "192.0.2.50 - 192.0.2.10"}]}]}}))
    with pytest.raises(ConfigError, match=r"subnet '192.0.2.0/24': pool .* is not 'FIRST - LAST'"):
        audit.load_pools([cfg])
    cfg.write_text(json.dumps({"Dhcp4": {"subnet4": [{"subnet": "192.0.2.0/24"}]}}))
    with pytest.raises(ConfigError, match="no 'id'"):
        audit.load_pools([cfg])
    assert audit.paths_from_env("a:b::") == [Path("a"), Path("b")]
    assert audit.paths_from_env(None) == []


def test_plots_have_content(exported: dict[str, Any], tmp_path: Path) -> None:
    w = audit.load_export(warehouse=exported["wh"])
    pools = audit.load_pools([exported["config"]])
    rec = audit.load_reconcile(_reconcile_json(tmp_path / "r.json"))
    figs = [audit.plot_pool_utilisation(audit.pool_utilisation(w.snapshots, pools)),
            audit.plot_leases_per_subnet(audit.leases_per_subnet(w.current, w.stats)),
            audit.plot_expiry(w.current, now=NIGHT2),
            audit.plot_reconcile(rec.summary)]
    for i, fig in enumerate(figs):
        path = tmp_path / f"f{i}.png"
        fig.savefig(path)
        assert png_colours(path) > 10, i


def test_postgres_warehouse_reads_like_sqlite(exported: dict[str, Any]) -> None:
    """The same two nights exported to the machine's PostgreSQL read back identically."""
    import uuid

    import sqlalchemy as sa

    name = f"kea_etl_audit_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine("postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    try:
        nights = [(NIGHT1, FakeKea(NIGHT1_V4, [[1, 10, 0, 2, 1]])),
                  (NIGHT2, FakeKea(NIGHT2_V4, [[1, 10, 0, 3, 1]]))]
        for at, fake in nights:
            report = run_export([KeaTarget("unix:///fake/kea4.sock", label="kea-a")],
                                families=(4,), warehouse=url, exported_at=at,
                                client_factory=lambda u, s, fake=fake: KeaClient.fake(fake))
            assert report.ok, report.to_json()
        pg = audit.load_warehouse(url)
        lite = audit.load_warehouse(exported["wh"])
        key = ["export_date", "exported_at", "server", "family", "address", "state", "expire",
               "expire_at", "hwaddr", "subnet_id"]
        for a, b in ((pg.snapshots, lite.snapshots), (pg.current, lite.current)):
            assert a[key].sort_values(key).reset_index(drop=True).equals(
                b[key].sort_values(key).reset_index(drop=True))
        assert "postgresql" in pg.source and "@" in pg.source
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_healthy_network_nothing_outside_pools_nothing_expiring(
        tmp_path: Path, exported: dict[str, Any]) -> None:
    """Every lease in a pool, none near expiry, one lease per client: every table is empty and
    typed (leases_outside_pools crashed with int(NaN), expiring_soon listed every lease as an
    all-NaN row: ``subset.assign(client=Series of the whole frame)`` on an empty subset)."""
    healthy = [_l4("192.0.2.10", "aa:00:00:00:00:01", 1), _l4("192.0.2.11", "aa:00:00:00:00:02", 1),
               _l4("203.0.113.130", "aa:00:00:00:00:05", 3)]
    wh = f"sqlite:///{tmp_path / 'wh.db'}"
    report = run_export([KeaTarget("unix:///fake/kea4.sock", label="kea-a")], families=(4,),
                        warehouse=wh, exported_at=NIGHT2,
                        client_factory=lambda url, service: KeaClient.fake(
                            FakeKea(healthy, [[1, 10, 0, 2, 0], [3, 16, 0, 1, 0]])))
    assert report.ok, report.to_json()
    current = audit.load_warehouse(wh).current
    assert len(current) == 3
    pools = audit.load_pools([exported["config"]])
    outside = audit.leases_outside_pools(current, pools)
    assert outside.empty and "reason" in outside.columns
    soon = audit.expiring_soon(current, now=NIGHT2)
    assert soon.empty and list(soon.columns)[-2:] == ["hours_left", "status"]
    assert soon["expire_at"].dt.strftime("%Y").empty  # what the notebook does with it
    assert int((soon["hours_left"] < 0).sum()) == 0
    several = audit.clients_with_several_leases(current)
    assert several.empty and "leases" in several.columns
    # all declined: no assigned lease at all, still no phantom rows
    declined = current.assign(state=1)
    assert audit.expiring_soon(declined, now=NIGHT2).empty
    assert audit.clients_with_several_leases(declined).empty


def test_server_without_leases(tmp_path: Path, exported: dict[str, Any]) -> None:
    """A server that held no lease: the export has statistics only; every table is empty and
    typed, and the reference time is the export's."""
    wh = f"sqlite:///{tmp_path / 'wh.db'}"
    parquet = tmp_path / "parquet"
    report = run_export([KeaTarget("unix:///fake/kea4.sock", label="kea-a")], families=(4,),
                        warehouse=wh, parquet_dir=parquet, exported_at=NIGHT2,
                        client_factory=lambda url, service: KeaClient.fake(
                            FakeKea([], [[1, 10, 0, 0, 0], [3, 16, 0, 0, 0]])))
    assert report.ok, report.to_json()
    pools = audit.load_pools([exported["config"]])
    for export in (audit.load_warehouse(wh), audit.load_parquet(parquet)):
        assert export.snapshots.empty and export.current.empty
        assert export.reference_time() == pd.Timestamp(NIGHT2)
        util = audit.pool_utilisation(export.snapshots, pools)
        assert util.empty and util["export_date"].dt.strftime("%Y").empty
        assert audit.leases_outside_pools(export.current, pools).empty
        assert audit.expiring_soon(export.current, now=NIGHT2).empty
        per_subnet = audit.leases_per_subnet(export.current, export.stats)
        assert per_subnet["assigned"].sum() == 0


def test_reserved_addresses_count_against_what_is_left(exported: dict[str, Any],
                                                      tmp_path: Path) -> None:
    """A pool whose remaining addresses are all reserved is full ("occupied" 1.0) although Kea's
    utilisation says 20 %; a reservation whose client holds its lease that night is not counted
    twice; shared networks are summed over their subnets; hosts of a hosts database count too."""
    from kea_etl.records import Reservation

    cfg = json.loads("\n".join(x for x in CONFIG.splitlines() if not x.strip().startswith("//"))
                     .replace("# no pool", ""))
    sub1 = cfg["Dhcp4"]["subnet4"][0]
    # .10 is held by aa:..:01 on night 1 only (reserved for it); .12-.18 reserved, nobody holds them
    sub1["reservations"] = [{"hw-address": "aa:00:00:00:00:01", "ip-address": "192.0.2.10"}] + [
        {"hw-address": f"bb:00:00:00:00:{i:02x}", "ip-address": f"192.0.2.{i}"}
        for i in range(12, 19)]
    path = tmp_path / "kea4.json"
    path.write_text(json.dumps(cfg))
    db_host = Reservation(4, "hw-address", "cc:00:00:00:00:01", subnet_id=3,
                          ipv4_address="203.0.113.140")  # from a hosts database
    pools = audit.load_pools([path], reservations=[db_host])
    assert len(pools.reserved) == 9
    w = audit.load_export(warehouse=exported["wh"])
    util = audit.pool_utilisation(w.snapshots, pools)
    got = {(d.date().isoformat(), pool): (a, dec, r, idle, free) for d, pool, a, dec, r, idle, free in
           util[["export_date", "pool", "assigned", "declined", "reserved", "reserved_idle",
                 "free"]].itertuples(index=False)}
    assert got == {
        # night 1: .10 assigned (its own reservation), .11 declined, .12-.18 reserved idle: 10 - 9
        ("2026-11-27", "192.0.2.10 - 192.0.2.19"): (1, 1, 8, 7, 1),
        # night 2: .10 released: its reservation idles too; only .19 is left
        ("2026-11-28", "192.0.2.10 - 192.0.2.19"): (0, 1, 8, 8, 1),
        ("2026-11-27", "203.0.113.128/28"): (3, 0, 1, 1, 12),
        ("2026-11-28", "203.0.113.128/28"): (4, 0, 1, 1, 11),
    }
    night1 = util[(util["pool"] == "192.0.2.10 - 192.0.2.19")
                  & (util["export_date"] == "2026-11-27")].iloc[0]
    assert night1["utilisation"] == pytest.approx(0.1) and night1["occupied"] == pytest.approx(0.9)
    nets = audit.shared_network_utilisation(util, pools)
    assert list(nets["shared_network"].unique()) == ["net"]
    assert list(nets["free"]) == [12, 11] and list(nets["size"]) == [16, 16]
