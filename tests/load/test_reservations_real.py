"""Reservations into live Kea: reservation-add (Kea 3.0), cache-load (Kea 3.0 host_cache),
config-set merge (Kea 2.2 without host_cmds). Existing reservations are never dropped."""

from __future__ import annotations

import copy
import json
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from kea_etl.kea import KeaClient
from kea_etl.load.reservations import ReservationLoader
from kea_etl.records import Reservation, canonical_hex
from kea_etl.report import RunReport
from tests.harness.recording import SentCommands

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




#: what a run that changes nothing (a re-run, a dry run, a kept host) may send
READS = {"list-commands", "version-get", "config-get", "reservation-get", "reservation-get-by-address",
         "cache-get"}


def _run(srv: Any, hosts: list[Reservation], **kw: Any
         ) -> tuple[RunReport, ReservationLoader, set[str]]:
    """Load ``hosts``; also return the set of commands that went to the server. These tests are
    about how hosts are stored, so they allow configuration changes (--allow-config-write; the
    refusal without it is tested on its own) and save the old configuration in a temp dir."""
    import tempfile

    rec = SentCommands(KeaClient.from_url(srv.socket_url).transport)
    client = KeaClient(rec)
    report = RunReport()
    kw.setdefault("allow_config_write", True)
    kw.setdefault("report_path", str(Path(tempfile.mkdtemp(prefix="kea-etl-res-")) / "r.json"))
    loader = ReservationLoader(client, **kw)
    try:
        loader.load(hosts, report)
    finally:
        client.close()
    return report, loader, set(rec.commands)


def _load(srv: Any, hosts: list[Reservation], **kw: Any) -> tuple[RunReport, ReservationLoader]:
    report, loader, _ = _run(srv, hosts, **kw)
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

    from kea_etl.dhcp_options import canonical_option_data
    from kea_etl.extract import isc_conf

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
    # Kea's spelling of every option compares equal to the source's: a re-run changes nothing
    again, loader, sent = _run(srv, hosts)
    assert (again.already_present, again.problems) == (len(hosts), [])
    assert loader.sent == {} and sent <= READS


def _with_options(res: Reservation) -> Reservation:
    from dataclasses import replace

    return replace(res, option_data=(
        {"name": "routers", "code": 3, "space": "dhcp4", "data": "192.0.2.1"},
        {"name": "domain-name", "code": 15, "space": "dhcp4", "data": "printers.example.org"}))


@pytest.mark.kea
@pytest.mark.kea3
def test_kea3_cache_load_carries_host_options(kea_factory: Any) -> None:
    """host_cache's file spells it option-data4 (option-data is refused: unknown parameter)."""
    from kea_etl.dhcp_options import canonical_option_data

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
    again, loader, sent = _run(srv, hosts, server_dir=srv.kea_dir, local_dir=str(srv.dir))
    assert (again.already_present, again.failed) == (2, 0)
    assert loader.sent == {} and sent <= READS


@pytest.mark.kea
def test_kea22_config_set_carries_host_options(kea_factory: Any) -> None:
    from kea_etl.dhcp_options import canonical_option_data

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
    again, loader, sent = _run(srv, hosts)
    assert (again.already_present, again.problems) == (2, [])
    assert loader.sent == {} and sent <= READS


# --- re-runs compare the whole reservation: --mode add | upsert, --on-conflict skip | overwrite -
#: how each strategy is reached: the loader picks it from what the server offers
SERVERS: dict[str, dict[str, Any]] = {
    "reservation-add": {"kea3": True, "hooks": ("lease_cmds", "host_cmds")},
    "cache-load": {"kea3": True, "hooks": ("lease_cmds", "host_cache")},
    "config-set": {},  # Kea 2.2 from the host's packages: no host_cmds
}
BY_STRATEGY = [pytest.param("reservation-add", marks=pytest.mark.kea3),
               pytest.param("cache-load", marks=pytest.mark.kea3),
               pytest.param("config-set")]
#: what each strategy sends to replace one host (and persist it)
REPLACE = {"reservation-add": {"reservation-update": 1, "config-write": 1},
           "cache-load": {"cache-remove": 1, "cache-load": 1, "cache-write": 1},
           "config-set": {"config-test": 1, "config-set": 1, "config-write": 1}}
Held = dict[tuple[str, str, int], dict[str, Any]]


def _server(kea_factory: Any, strategy: str, subnets: Any = None, family: int = 4
            ) -> tuple[Any, dict[str, Any]]:
    srv = kea_factory(family=family, subnets=subnets or SUBNETS4, **SERVERS[strategy])
    kw = {"server_dir": srv.kea_dir, "local_dir": str(srv.dir)} if strategy == "cache-load" else {}
    return srv, kw


def _held(srv: Any, strategy: str, family: int = 4) -> Held:
    """Every host Kea holds, read with the harness (not kea-etl), by (identifier type, canonical
    identifier, subnet): reservation-get-all, the host cache, or the running config."""
    found: list[tuple[dict[str, Any], int]] = []
    if strategy == "reservation-add":
        for sub in (1, 2) if family == 4 else (1,):
            got = srv.command("reservation-get-all", {"subnet-id": sub,
                                                      "operation-target": "memory"})
            found += [(h, sub) for h in (got.get("arguments") or {}).get("hosts", [])]
    elif strategy == "cache-load":
        found = [(h, h[f"subnet-id{family}"])
                 for h in srv.command("cache-get").get("arguments") or []]
    else:
        body = srv.command("config-get")["arguments"][f"Dhcp{family}"]
        found = [(h, s["id"]) for s in body[f"subnet{family}"] for h in s.get("reservations", [])]
    out: Held = {}
    for h, sub in found:
        t = next(t for t in ("hw-address", "client-id", "duid") if h.get(t))
        out[(t, canonical_hex(h[t], t) or "", sub)] = h
    return out


def _view(h: dict[str, Any]) -> tuple[Any, ...]:
    """What the tests look at in a host: address, hostname, options in canonical form."""
    from kea_etl.dhcp_options import canonical_option_data

    opts = h.get("option-data", h.get("option-data4", []))
    return h.get("ip-address"), h.get("hostname", ""), canonical_option_data(opts, 4)


PRINTER = ("hw-address", "02:aa:00:00:00:01", 1)
CLIENT = ("client-id", "01:02:aa:00:00:00:02", 2)
OLD = ("hw-address", "0a:00:00:00:00:01", 1)


def _fixed(res: Reservation) -> Reservation:
    """The printer after an operator fixed its options and name in dhcpd.conf."""
    from dataclasses import replace

    return replace(res, hostname="printer-2", option_data=(
        {"name": "routers", "code": 3, "space": "dhcp4", "data": "192.0.2.254"},
        {"name": "domain-name", "code": 15, "space": "dhcp4", "data": "printers.example.org"}))


def _steal() -> Reservation:
    """Another client, reserved the address Kea holds for CLIENT."""
    return Reservation(family=4, identifier_type="hw-address", identifier="02:bb:00:00:00:09",
                       subnet_id=2, ipv4_address=IPv4Address("198.51.100.7"), hostname="thief",
                       origin="dhcpd.conf", line=30)


@pytest.mark.kea
@pytest.mark.parametrize("strategy", BY_STRATEGY)
def test_rerun_compares_the_whole_reservation(kea_factory: Any, strategy: str) -> None:
    srv, kw = _server(kea_factory, strategy)
    hosts = [_with_options(h) for h in _hosts()]
    first, loader = _load(srv, hosts, **kw)
    assert loader.strategy == strategy
    assert (first.loaded, first.failed) == (2, 0), first.problems
    before = _held(srv, strategy)

    # unchanged re-run: already present, only reads
    again, loader, sent = _run(srv, hosts, **kw)
    assert (again.loaded, again.already_present, again.failed) == (2, 2, 0)
    assert loader.sent == {} and sent <= READS, sent
    assert not again.problems or strategy == "cache-load"  # (its "memory only" note)

    # the printer's options and hostname were fixed in dhcpd.conf: in add mode Kea's is kept,
    # reported with the fields that differ; a dry run says the same and sends only reads
    changed = [_fixed(hosts[0]), hosts[1]]
    for dry in (False, True):
        kept, loader, sent = _run(srv, changed, dry_run=dry, **kw)
        assert (kept.loaded, kept.already_present, kept.failed) == (2, 2, 0)
        assert loader.sent == {} and sent <= READS, sent
        [note] = [p for p in kept.problems if p.key == "h4:hw-address=02:aa:00:00:00:01@1"]
        assert note.kind == "warning" and "kept Kea's" in note.reason
        assert "hostname 'printer' in Kea, 'printer-2' in the source" in (note.detail or "")
        assert "option-data (routers)" in (note.detail or "")
        assert "--mode upsert" in (note.detail or "") and (note.source, note.line) == (
            "dhcpd.conf", 10)
        assert _held(srv, strategy) == before

    # upsert, dry: the same decision, what it would send, nothing but reads
    dry, loader, sent = _run(srv, changed, mode="upsert", dry_run=True, **kw)
    assert (dry.loaded, dry.already_present, dry.failed) == (2, 1, 0)
    would = dict(REPLACE[strategy])
    would.pop("cache-write", None)  # (the cache is read back only after a real cache-load)
    assert loader.sent == would and sent <= READS, sent
    assert _held(srv, strategy) == before

    # upsert: Kea returns the new values; the other hosts are untouched
    up, loader, _ = _run(srv, changed, mode="upsert", **kw)
    assert (up.loaded, up.already_present, up.failed) == (2, 1, 0), up.problems
    assert loader.sent == REPLACE[strategy]
    after = _held(srv, strategy)
    assert _view(after[PRINTER]) == _view({**changed[0].to_kea_host()})
    assert _view(after[PRINTER])[1] == "printer-2"
    assert {k: v for k, v in after.items() if k != PRINTER} == {
        k: v for k, v in before.items() if k != PRINTER}
    if strategy != "cache-load":
        assert after[OLD] == before[OLD]  # the reservation the config had
    settled, loader, sent = _run(srv, changed, mode="upsert", **kw)
    assert (settled.already_present, settled.failed) == (2, 0) and loader.sent == {}
    assert sent <= READS


@pytest.mark.kea
@pytest.mark.parametrize("strategy", BY_STRATEGY)
def test_address_of_another_identifier_is_a_conflict_or_overwritten(kea_factory: Any,
                                                                    strategy: str) -> None:
    srv, kw = _server(kea_factory, strategy)
    report, _ = _load(srv, _hosts(), **kw)
    assert (report.loaded, report.failed) == (2, 0)
    before = _held(srv, strategy)
    # refused, in either mode and dry or not: nothing but reads, Kea unchanged
    for mode, dry in (("add", False), ("upsert", False), ("add", True)):
        c, loader, sent = _run(srv, [_steal()], mode=mode, dry_run=dry, **kw)
        assert (c.conflicts, c.loaded) == (1, 0)
        assert "198.51.100.7 for client-id 01:02:aa:00:00:00:02" in (c.problems[-1].detail or "")
        assert "--on-conflict overwrite" in (c.problems[-1].detail or "")
        assert loader.sent == {} and sent <= READS, sent
        assert _held(srv, strategy) == before
    # overwrite, dry: the same decision, nothing written
    d, loader, sent = _run(srv, [_steal()], on_conflict="overwrite", dry_run=True, **kw)
    assert (d.loaded, d.failed) == (1, 0)
    assert [p.reason for p in d.problems if p.key and "02:bb" in p.key] == ["conflict overwritten"]
    assert sent <= READS and loader.sent
    assert _held(srv, strategy) == before
    # overwrite: the thief holds the address, the client-id host is gone, the rest untouched
    o, loader, _ = _run(srv, [_steal()], on_conflict="overwrite", **kw)
    assert (o.loaded, o.failed) == (1, 0), o.problems
    [note] = [p for p in o.problems if p.key and "02:bb" in p.key]
    assert note.reason == "conflict overwritten" and "client-id 01:02:aa:00:00:00:02" in (
        note.detail or "")
    after = _held(srv, strategy)
    thief = ("hw-address", "02:bb:00:00:00:09", 2)
    assert set(after) == set(before) - {CLIENT} | {thief}
    assert after[thief]["ip-address"] == "198.51.100.7"
    assert {k: v for k, v in after.items() if k != thief} == {
        k: v for k, v in before.items() if k != CLIENT}


@pytest.mark.kea
@pytest.mark.parametrize("strategy", BY_STRATEGY)
def test_same_identifier_other_address(kea_factory: Any, strategy: str) -> None:
    """The printer moved to another address in dhcpd.conf: more than a detail. add mode: a
    conflict, left alone; upsert: replaced (the old address is free again)."""
    srv, kw = _server(kea_factory, strategy)
    _load(srv, _hosts(), **kw)
    before = _held(srv, strategy)
    c, loader, sent = _run(srv, [_conflicting()], **kw)
    assert c.conflicts == 1 and loader.sent == {} and sent <= READS
    assert "ip-address '192.0.2.201' in Kea, '192.0.2.202' in the source" in (
        c.problems[-1].detail or "")
    assert _held(srv, strategy) == before
    up, loader, _ = _run(srv, [_conflicting()], mode="upsert", **kw)
    assert (up.loaded, up.failed) == (1, 0), up.problems
    after = _held(srv, strategy)
    assert after[PRINTER]["ip-address"] == "192.0.2.202"
    assert {k: v for k, v in after.items() if k != PRINTER} == {
        k: v for k, v in before.items() if k != PRINTER}


@pytest.mark.kea
@pytest.mark.parametrize("strategy", [pytest.param("reservation-add", marks=pytest.mark.kea3),
                                      pytest.param("config-set")])
def test_upsert_keeps_what_kea_etl_does_not_model(kea_factory: Any, strategy: str) -> None:
    """server-hostname (sname) has no field in Reservation: not compared, and kept when the
    host it belongs to is replaced."""
    subnets = copy.deepcopy(SUBNETS4)
    subnets[0]["reservations"] = [{**EXISTING, "server-hostname": "tftp.example.org"}]
    srv, kw = _server(kea_factory, strategy, subnets)
    old = Reservation(family=4, identifier_type="hw-address", identifier="0a:00:00:00:00:01",
                      subnet_id=1, ipv4_address=IPv4Address("192.0.2.5"), hostname="old")
    same, _ = _load(srv, [old], **kw)
    assert (same.already_present, same.problems) == (1, [])
    from dataclasses import replace

    up, _ = _load(srv, [replace(old, hostname="renamed")], mode="upsert", **kw)
    assert (up.loaded, up.already_present, up.failed) == (1, 0, 0), up.problems
    got = _held(srv, strategy)[OLD]
    assert (got["hostname"], got["server-hostname"]) == ("renamed", "tftp.example.org")


class _NoUpdate(KeaClient):
    """A client to a Kea without reservation-update (as before it existed)."""

    def commands(self, *, refresh: bool = False) -> frozenset[str]:
        return super().commands(refresh=refresh) - {"reservation-update"}


@pytest.mark.kea
@pytest.mark.kea3
def test_replace_without_reservation_update_puts_back_what_kea_refused(kea_factory: Any) -> None:
    srv, _ = _server(kea_factory, "reservation-add")
    _load(srv, _hosts())
    client = _NoUpdate(KeaClient.from_url(srv.socket_url).transport)
    try:
        report = RunReport()
        loader = ReservationLoader(client, mode="upsert", allow_config_write=True,
                                   report_path=str(srv.dir / "r.json"))
        loader.load([_fixed(_hosts()[0])], report)
        assert (report.loaded, report.already_present, report.failed) == (1, 0, 0)
        assert loader.sent == {"reservation-del": 1, "reservation-add": 1, "config-write": 1}
        assert _view(_held(srv, "reservation-add")[PRINTER])[1] == "printer-2"
        # an option Kea refuses: reservation-del went through, the add did not; the host Kea had
        # is put back rather than lost
        from dataclasses import replace

        bad = replace(_hosts()[0], option_data=({"name": "routers", "data": "not-an-address"},))
        before = _held(srv, "reservation-add")
        report = RunReport()
        ReservationLoader(client, mode="upsert", allow_config_write=True,
                          report_path=str(srv.dir / "r.json")).load([bad], report)
        assert report.failed == 1
        assert "put back" in (report.problems[0].detail or ""), report.problems
        assert _held(srv, "reservation-add") == before
    finally:
        client.close()


@pytest.mark.kea
@pytest.mark.parametrize("strategy", BY_STRATEGY)
def test_v6_addresses_prefixes_and_options(kea_factory: Any, strategy: str) -> None:
    """v6 hosts (addresses, delegated prefixes, options) by every strategy: a re-run changes
    nothing, a new hostname is kept in add mode and replaces Kea's in upsert mode."""
    from dataclasses import replace
    from ipaddress import IPv6Address, IPv6Network

    subnets = [{"id": 1, "subnet": "2001:db8:1::/64",
                "pools": [{"pool": "2001:db8:1::1000 - 2001:db8:1::ffff"}],
                "pd-pools": [{"prefix": "2001:db8:8000::", "prefix-len": 40,
                              "delegated-len": 56}],
                "reservations": [{"duid": "00:03:00:01:0a:00:00:00:00:01",
                                  "ip-addresses": ["2001:db8:1::5"]}]}]
    srv, kw = _server(kea_factory, strategy, subnets, family=6)
    hosts = [Reservation(family=6, identifier_type="duid", identifier="00:03:00:01:02:aa:00:00:00:01",
                         subnet_id=1, ip_addresses=(IPv6Address("2001:db8:1::20"),
                                                    IPv6Address("2001:db8:1::21")),
                         prefixes=(IPv6Network("2001:db8:8000:100::/56"),), hostname="v6host",
                         option_data=({"name": "dns-servers", "code": 23, "space": "dhcp6",
                                       "data": "2001:db8::53, 2001:db8::54"},)),
             Reservation(family=6, identifier_type="duid", identifier="00:03:00:01:02:aa:00:00:00:02",
                         subnet_id=1, ip_addresses=(IPv6Address("2001:db8:1::22"),))]
    first, loader = _load(srv, hosts, **kw)
    assert loader.strategy == strategy and (first.loaded, first.failed) == (2, 0), first.problems
    before = _held(srv, strategy, 6)
    again, loader, sent = _run(srv, hosts, **kw)
    assert (again.already_present, again.failed) == (2, 0) and loader.sent == {}
    assert sent <= READS
    renamed = [replace(hosts[0], hostname="v6host-2"), hosts[1]]
    kept, loader, sent = _run(srv, renamed, **kw)
    assert (kept.already_present, loader.sent) == (2, {}) and sent <= READS
    assert any("hostname 'v6host' in Kea, 'v6host-2' in the source" in (p.detail or "")
               for p in kept.problems)
    up, loader, _ = _run(srv, renamed, mode="upsert", **kw)
    assert (up.loaded, up.already_present, up.failed) == (2, 1, 0), up.problems
    after = _held(srv, strategy, 6)
    mine = ("duid", "00:03:00:01:02:aa:00:00:00:01", 1)
    assert after[mine]["hostname"] == "v6host-2"
    assert (sorted(after[mine]["ip-addresses"]), after[mine]["prefixes"]) == (
        ["2001:db8:1::20", "2001:db8:1::21"], ["2001:db8:8000:100::/56"])
    assert {k: v for k, v in after.items() if k != mine} == {
        k: v for k, v in before.items() if k != mine}
    # a prefix reserved for another DUID is a conflict too
    thief = Reservation(family=6, identifier_type="duid", identifier="00:03:00:01:02:bb:00:00:00:09",
                        subnet_id=1, prefixes=(IPv6Network("2001:db8:8000:100::/56"),))
    c, loader, sent = _run(srv, [thief], **kw)
    assert c.conflicts == 1 and loader.sent == {} and sent <= READS
    assert "2001:db8:8000:100::/56 for duid 00:03:00:01:02:aa:00:00:00:01" in (
        c.problems[-1].detail or "")


HOST_CONF = """\
subnet 192.0.2.0 netmask 255.255.255.0 {
  host printer {
    hardware ethernet 02:aa:00:00:00:01;
    fixed-address 192.0.2.201;
    option host-name "%s";
    option routers %s;
  }
}
"""


@pytest.mark.kea
def test_cli_migrate_rerun_after_fixing_a_host(kea_factory: Any, tmp_path: Any) -> None:
    """The operator's story through ``kea-etl migrate dhcpd.conf --to kea:`` (Kea 2.2,
    config-set): fix a host's options, re-run; --mode add reports it kept, --dry-run --mode
    upsert says what it would do, --mode upsert changes it."""
    from click.testing import CliRunner

    from kea_etl.cli import main

    srv = kea_factory(family=4, subnets=SUBNETS4)
    conf = tmp_path / "dhcpd.conf"
    report = tmp_path / "report.json"

    def migrate(*extra: str) -> dict[str, Any]:
        got = CliRunner().invoke(main, ["migrate", str(conf), "--to", f"kea:{srv.socket_url}",
                                        "--report", str(report), "--no-progress",
                                        "--allow-config-write", *extra],
                                 catch_exceptions=False)
        assert got.exit_code == 0, got.output
        return dict(json.loads(report.read_text()))

    def printer() -> dict[str, Any]:
        body = srv.command("config-get")["arguments"]["Dhcp4"]
        sub1 = next(s for s in body["subnet4"] if s["id"] == 1)
        return next(h for h in sub1["reservations"] if h.get("hw-address") == "02:aa:00:00:00:01")

    conf.write_text(HOST_CONF % ("printer", "192.0.2.1"))
    migrate()
    assert printer()["hostname"] == "printer"
    conf.write_text(HOST_CONF % ("printer-2", "192.0.2.254"))
    kept = migrate()
    assert (kept["loaded"], kept["already_present"], kept["sent"]) == (1, 1, {})
    [note] = kept["problems"]
    assert "kept Kea's" in note["reason"] and note["line"] == 2
    assert "hostname 'printer' in Kea, 'printer-2' in the source; option-data (routers)" in (
        note["detail"])
    dry = migrate("--dry-run", "--mode", "upsert")
    assert (dry["loaded"], dry["already_present"], dry["problems"]) == (1, 0, [])
    assert dry["would_send"] == {"config-test": 1, "config-set": 1, "config-write": 1}
    assert printer()["hostname"] == "printer" and printer()["option-data"][0]["data"] == (
        "192.0.2.1")
    up = migrate("--mode", "upsert")
    assert (up["loaded"], up["already_present"], up["problems"]) == (1, 0, [])
    assert printer()["hostname"] == "printer-2"
    assert printer()["option-data"][0]["data"] == "192.0.2.254"
