"""Reservations into live Kea: reservation-add (Kea 3.0), cache-load (Kea 3.0 host_cache),
config-set merge (Kea 2.2 without host_cmds). Existing reservations are never dropped."""

from __future__ import annotations

import json
from ipaddress import IPv4Address
from typing import Any

import pytest

from kea_etl.kea import KeaClient
from kea_etl.load.reservations import ReservationLoader
from kea_etl.records import Reservation, canonical_hex
from kea_etl.report import RunReport

EXISTING = {"hw-address": "0a:00:00:00:00:01", "ip-address": "192.0.2.5", "hostname": "old"}
SUBNETS4 = [{"id": 1, "subnet": "192.0.2.0/24", "pools": [{"pool": "192.0.2.10-192.0.2.250"}],
             "reservations": [EXISTING]},
            {"id": 2, "subnet": "198.51.100.0/24"}]


def _hosts() -> list[Reservation]:
    return [
        Reservation(family=4, identifier_type="hw-address", identifier="02:aa:00:00:00:01",
                    subnet_id=1, ipv4_address=IPv4Address("192.0.2.201"), hostname="printer",
                    origin="dhcpd.conf", line=10),
        Reservation(family=4, identifier_type="client-id", identifier="01:02:aa:00:00:00:02",
                    subnet_id=2, ipv4_address=IPv4Address("198.51.100.7"), origin="dhcpd.conf",
                    line=20),
    ]


def _load(srv: Any, hosts: list[Reservation], **kw: Any) -> tuple[RunReport, ReservationLoader]:
    client = KeaClient.from_url(srv.socket_url)
    report = RunReport()
    loader = ReservationLoader(client, **kw)
    try:
        loader.load(hosts, report)
    finally:
        client.close()
    return report, loader


def _conflicting() -> Reservation:
    return Reservation(family=4, identifier_type="hw-address", identifier="02:aa:00:00:00:01",
                       subnet_id=1, ipv4_address=IPv4Address("192.0.2.202"))


@pytest.mark.kea
@pytest.mark.kea3
def test_kea3_reservation_add_memory_then_config_write(kea_factory: Any) -> None:
    srv = kea_factory(family=4, kea3=True, subnets=SUBNETS4,
                      hooks=("lease_cmds", "host_cmds"))
    report, loader = _load(srv, _hosts())
    assert loader.strategy == "reservation-add"
    assert (report.loaded, report.failed) == (2, 0)
    assert loader.sent == {"reservation-add": 2, "config-write": 1}
    got = srv.command("reservation-get", {"subnet-id": 1, "identifier-type": "hw-address",
                                          "identifier": "02:aa:00:00:00:01",
                                          "operation-target": "memory"})
    assert got["result"] == 0 and got["arguments"]["ip-address"] == "192.0.2.201"
    # persisted in the file the server was started with, next to the reservation it had
    saved = json.loads(srv.config_path.read_text())["Dhcp4"]
    sub1 = next(s for s in saved["subnet4"] if s["id"] == 1)
    macs = {r.get("hw-address") for r in sub1["reservations"]}
    assert macs == {"0a:00:00:00:00:01", "02:aa:00:00:00:01"}
    again, loader2 = _load(srv, _hosts())
    assert (again.already_present, again.loaded) == (2, 2)
    assert loader2.sent == {}
    conflict, _ = _load(srv, [_conflicting()])
    assert conflict.conflicts == 1
    over, _ = _load(srv, [_conflicting()], on_conflict="overwrite")
    assert (over.loaded, over.failed) == (1, 0)
    got = srv.command("reservation-get", {"subnet-id": 1, "identifier-type": "hw-address",
                                          "identifier": "02:aa:00:00:00:01",
                                          "operation-target": "memory"})
    assert got["arguments"]["ip-address"] == "192.0.2.202"


@pytest.mark.kea
@pytest.mark.kea3
def test_kea3_cache_load_verified_by_cache_write(kea_factory: Any) -> None:
    srv = kea_factory(family=4, kea3=True, subnets=SUBNETS4, hooks=("lease_cmds", "host_cache"))
    kw = {"server_dir": srv.kea_dir, "local_dir": str(srv.dir)}
    report, loader = _load(srv, _hosts(), **kw)
    assert loader.strategy == "cache-load"
    assert (report.loaded, report.failed) == (2, 0)
    assert loader.sent == {"cache-load": 1, "cache-write": 1}
    cached = srv.command("cache-get")["arguments"]
    # host_cache spells a client-id as bare upper-case hex
    assert {h["hw-address"] if "hw-address" in h else h["client-id"] for h in cached} == {
        "02:aa:00:00:00:01", "0102AA00000002"}
    assert any(w.reason == "host cache is memory only" for w in report.problems)
    again, loader2 = _load(srv, _hosts(), **kw)
    assert again.already_present == 2 and loader2.sent == {}
    assert not list(srv.dir.glob("kea-etl-*.json"))  # temporary files removed


@pytest.mark.kea
def test_kea22_config_set_merge_keeps_existing(kea_factory: Any) -> None:
    srv = kea_factory(family=4, subnets=SUBNETS4)
    report, loader = _load(srv, _hosts())
    assert loader.strategy == "config-set"
    assert (report.loaded, report.failed) == (2, 0)
    assert loader.sent == {"config-test": 1, "config-set": 1, "config-write": 1}
    live = srv.command("config-get")["arguments"]["Dhcp4"]
    for saved in (live, json.loads(srv.config_path.read_text())["Dhcp4"]):
        by_id = {s["id"]: s for s in saved["subnet4"]}
        res1 = {(r.get("hw-address"), r["ip-address"]) for r in by_id[1]["reservations"]}
        assert res1 == {("0a:00:00:00:00:01", "192.0.2.5"), ("02:aa:00:00:00:01", "192.0.2.201")}
        # Kea spells client-ids as bare upper-case hex in config-get
        assert [canonical_hex(r["client-id"], "client-id") for r in by_id[2]["reservations"]] == [
            "01:02:aa:00:00:00:02"]
    again, loader2 = _load(srv, _hosts())
    assert again.already_present == 2 and loader2.sent == {}
    # an address already reserved for another host is a conflict, never a silent replacement
    steal = Reservation(family=4, identifier_type="hw-address", identifier="02:bb:00:00:00:09",
                        subnet_id=1, ipv4_address=IPv4Address("192.0.2.5"))
    c, _ = _load(srv, [steal, _conflicting()])
    assert (c.conflicts, c.loaded) == (2, 0)
    bad = Reservation(family=4, identifier_type="hw-address", identifier="02:bb:00:00:00:0a",
                      subnet_id=99, ipv4_address=IPv4Address("10.0.0.1"))
    f, _ = _load(srv, [bad])
    assert f.failed == 1 and "subnet 99 does not exist" in (f.problems[0].detail or "")


@pytest.mark.kea
@pytest.mark.kea3
@pytest.mark.parametrize("family", [4, 6])
def test_kea3_reservation_add_carries_host_options(kea_factory: Any, family: int) -> None:
    """Hosts with options from a dhcpd.conf (every option of kea-etl's table, see
    tests/extract/data_conf/host_options*.conf) go in with reservation-add; reservation-get gives
    back the same option-data, in Kea's own spelling that compares equal in canonical form."""
    from dataclasses import replace
    from pathlib import Path

    from kea_etl.extract import isc_conf
    from kea_etl.extract._dhcp_options import canonical_option_data

    data = Path(__file__).parents[1] / "extract" / "data_conf"
    conf = "host_options.conf" if family == 4 else "host_options6.conf"
    hosts = [replace(e.record, subnet_id=1) for e in isc_conf.extract(data / conf)
             if isinstance(e.record, Reservation) and e.record.option_data]
    assert len(hosts) == (4 if family == 4 else 2)
    subnets = ([{"id": 1, "subnet": "192.0.2.0/24"}] if family == 4
               else [{"id": 1, "subnet": "2001:db8:1::/64"}])
    srv = kea_factory(family=family, kea3=True, subnets=subnets, hooks=("lease_cmds", "host_cmds"))
    report, loader = _load(srv, hosts)
    assert loader.strategy == "reservation-add"
    assert (report.loaded, report.failed) == (len(hosts), 0), report.problems
    for res in hosts:
        got = srv.command("reservation-get", {"subnet-id": 1, "identifier-type": res.identifier_type,
                                              "identifier": res.identifier,
                                              "operation-target": "memory"})
        assert got["result"] == 0, got
        back = got["arguments"]["option-data"]
        assert len(back) == len(res.option_data)
        # Kea adds its defaults (always-send, csv-format, never-send ...) and keeps our text
        assert canonical_option_data(back, family) == canonical_option_data(res.option_data, family)
        assert Reservation.from_kea(got["arguments"], family=family).option_data != ()


def _with_options(res: Reservation) -> Reservation:
    from dataclasses import replace

    return replace(res, option_data=(
        {"name": "routers", "code": 3, "space": "dhcp4", "data": "192.0.2.1"},
        {"name": "domain-name", "code": 15, "space": "dhcp4", "data": "printers.example.org"}))


@pytest.mark.kea
@pytest.mark.kea3
def test_kea3_cache_load_carries_host_options(kea_factory: Any) -> None:
    """host_cache's file spells it option-data4 (option-data is refused: unknown parameter)."""
    from kea_etl.extract._dhcp_options import canonical_option_data

    srv = kea_factory(family=4, kea3=True, subnets=SUBNETS4, hooks=("lease_cmds", "host_cache"))
    hosts = [_with_options(h) for h in _hosts()]
    report, loader = _load(srv, hosts, server_dir=srv.kea_dir, local_dir=str(srv.dir))
    assert loader.strategy == "cache-load"
    assert (report.loaded, report.failed) == (2, 0), report.problems
    cached = srv.command("cache-get")["arguments"]
    assert len(cached) == 2
    for h in cached:
        assert canonical_option_data(h["option-data4"], 4) == canonical_option_data(
            hosts[0].option_data, 4)


@pytest.mark.kea
def test_kea22_config_set_carries_host_options(kea_factory: Any) -> None:
    from kea_etl.extract._dhcp_options import canonical_option_data

    srv = kea_factory(family=4, subnets=SUBNETS4)
    hosts = [_with_options(h) for h in _hosts()]
    report, loader = _load(srv, hosts)
    assert loader.strategy == "config-set"
    assert (report.loaded, report.failed) == (2, 0), report.problems
    live = srv.command("config-get")["arguments"]["Dhcp4"]
    by_id = {s["id"]: s for s in live["subnet4"]}
    mine = next(r for r in by_id[1]["reservations"] if r.get("hw-address") == "02:aa:00:00:00:01")
    assert canonical_option_data(mine["option-data"], 4) == canonical_option_data(
        hosts[0].option_data, 4)
