"""kea-etl convert on Windows DHCP Server exports (issue 18 §1): every scope, option and
exclusion form of tests/extract/data_windows/*.xml, what is reported (with the XML line), the
ids ``migrate`` files leases under, ``check`` on the result and the command line. Kea's own
verdict on the output: test_convert_windows_real.py."""

from __future__ import annotations

import json
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kea_etl.cli import main
from kea_etl.convert import ConvertResult, convert_windows
from kea_etl.convert.check import check
from kea_etl.convert.findings import Finding
from kea_etl.convert.ids import stable_id
from kea_etl.convert.windows import INACTIVE_CLASS, _ranges_minus
from tests.convert.test_convert import _subnets
from tests.harness.windows_export import DATA, TZ, render

SITE = DATA / "site-export.xml"
SMALL = DATA / "dhcp-export.xml"


def _at(result: ConvertResult, line: int) -> list[Finding]:
    return [f for f in result.all_findings() if f.line == line]


def _line(path: Path, needle: str, nth: int = 0) -> int:
    """The line of the ``nth`` occurrence of ``needle`` in ``path`` (1-based)."""
    hits = [i for i, text in enumerate(path.read_text().splitlines(), 1) if needle in text]
    return hits[nth]


@pytest.fixture(scope="module")
def site() -> ConvertResult:
    return convert_windows(SITE, hooks_dir="/hooks")


def test_small_export(tmp_path: Path) -> None:
    src = render("dhcp-export.xml", tmp_path)
    r = convert_windows(f"{src}")
    assert r.v4 is not None and r.v6 is not None
    d = r.v4.config["Dhcp4"]
    (sub,) = d["subnet4"]
    # the id a dhcpd conversion of the same prefix gets: migrate files the leases under it
    assert sub["id"] == stable_id(ip_network("192.168.50.0/24")) == 3232248320
    assert sub["pools"] == [{"pool": "192.168.50.110 - 192.168.50.199"}]  # 100-109 excluded
    assert sub["valid-lifetime"] == 691200  # 8.00:00:00
    assert sub["option-data"] == [{"name": "routers", "code": 3, "space": "dhcp4",
                                   "data": "192.168.50.1"}]
    assert d["option-data"] == [{"name": "domain-name-servers", "code": 6, "space": "dhcp4",
                                 "data": "192.168.50.10"}]
    assert sorted(h["ip-address"] for h in sub["reservations"]) == [
        "192.168.50.20", "192.168.50.21", "192.168.50.22"]
    (bad,) = [f for f in r.all_findings() if f.severity == "error"]
    assert (bad.line, bad.message) == (
        _line(src, "<Name>weird</Name>") - 1, "Type 'Carrier-Pigeon' is not Dhcp, Bootp or Both")
    (ha,) = [f for f in r.all_findings() if f.topic == "failover"]
    assert ha.severity == "decide" and "dhcp2.corp.example" in ha.message
    (sub6,) = r.v6.config["Dhcp6"]["subnet6"]
    assert sub6["pools"] == [{"pool": "2001:db8:50:: - 2001:db8:50:0:ffff:ffff:ffff:ffff"}]
    assert (sub6["valid-lifetime"], sub6["preferred-lifetime"]) == (1036800, 691200)
    assert sub6["reservations"][0]["ip-addresses"] == ["2001:db8:50::20"]


def test_pools_split_around_every_exclusion_form(site: ConvertResult) -> None:
    assert site.v4 is not None
    subs = _subnets(site.v4.config, 4)
    # at the start (10-19), in the middle and overlapping (100-109, 105-120), one address (200),
    # at the end (240-250), and one outside the range (1-5: reported, nothing excluded)
    assert [p["pool"] for p in subs["10.10.0.0/24"]["pools"]] == [
        "10.10.0.20 - 10.10.0.99", "10.10.0.121 - 10.10.0.199", "10.10.0.201 - 10.10.0.239"]
    assert [f.message for f in _at(site, _line(SITE, "<StartRange>10.10.0.1</StartRange>") - 1)
            ] == ["exclusion 10.10.0.1 - 10.10.0.5 lies outside the scope's range: nothing to "
                  "exclude"]
    assert [p["pool"] for p in subs["10.10.1.0/24"]["pools"]] == ["10.10.1.1 - 10.10.1.254"]
    # exclusions covering the whole range: a subnet without a pool, said
    assert "pools" not in subs["10.30.0.0/24"]
    assert any("cover the whole range" in f.message for f in site.all_findings())
    # a range outside its subnet: no pool, an error with the line
    assert "pools" not in subs["10.40.0.0/24"]
    (err,) = [f for f in site.all_findings() if f.severity == "error"]
    assert err.line == _line(SITE, "<StartRange>10.41.0.10") and "not inside 10.40.0.0/24" in \
        err.message
    assert site.v6 is not None
    (sub6,) = site.v6.config["Dhcp6"]["subnet6"]
    assert [p["pool"] for p in sub6["pools"]] == [
        "2001:db8:10::100 - 2001:db8:10::ffff",
        "2001:db8:10::1:100 - 2001:db8:10:0:ffff:ffff:ffff:ffff"]


@pytest.mark.parametrize(("lo", "hi", "holes", "want"), [
    (10, 20, [], [(10, 20)]),
    (10, 20, [(10, 20)], []),
    (10, 20, [(0, 100)], []),
    (10, 20, [(12, 12)], [(10, 11), (13, 20)]),
    (10, 20, [(15, 30), (5, 11)], [(12, 14)]),
    (10, 20, [(12, 14), (13, 16)], [(10, 11), (17, 20)]),
    (10, 20, [(21, 30), (0, 9)], [(10, 20)]),
])
def test_ranges_minus(lo: int, hi: int, holes: list[tuple[int, int]],
                      want: list[tuple[int, int]]) -> None:
    assert _ranges_minus(lo, hi, holes) == want


def test_scopes_lifetimes_states_superscopes(site: ConvertResult) -> None:
    assert site.v4 is not None and site.v6 is not None
    d = site.v4.config["Dhcp4"]
    subs = _subnets(site.v4.config, 4)
    assert {s: subs[s]["id"] for s in subs} == {
        s: stable_id(ip_network(s)) for s in subs}
    assert site.v4.subnet_ids == {s: subs[s]["id"] for s in subs}
    # superscope -> shared network
    (net,) = d["shared-networks"]
    assert net["name"] == "Campus"
    assert [s["subnet"] for s in net["subnet4"]] == ["10.10.0.0/24", "10.10.1.0/24"]
    # lease durations; TimeSpan.MaxValue (unlimited) -> Kea's infinite
    assert [subs[s]["valid-lifetime"] for s in ("10.10.0.0/24", "10.10.1.0/24", "10.20.0.0/23")
            ] == [86400, 28800, 4294967295]
    assert (d["min-valid-lifetime"], d["max-valid-lifetime"]) == (28800, 4294967295)
    assert subs["10.10.0.0/24"]["user-context"] == {"comment": "Campus A - building A"}
    # an inactive scope: kept (its leases keep their id), limited to a class nobody joins
    assert subs["10.20.0.0/23"]["client-class"] == INACTIVE_CLASS
    assert {"name": INACTIVE_CLASS} in d["client-classes"]
    (inactive,) = _at(site, _line(SITE, "<State>Inactive</State>"))
    assert inactive.severity == "decide" and "remove the subnet's client-class" in \
        inactive.message
    (both,) = _at(site, _line(SITE, "<Type>Both</Type>"))
    assert "bootp hook" in both.message
    # v6: lifetimes, T1/T2, Preference -> option 7
    (sub6,) = site.v6.config["Dhcp6"]["subnet6"]
    assert (sub6["valid-lifetime"], sub6["preferred-lifetime"], sub6["renew-timer"],
            sub6["rebind-timer"]) == (259200, 172800, 86400, 129600)
    assert {o["name"]: o["data"] for o in sub6["option-data"]} == {
        "preference": "10", "dns-servers": "2001:db8:10::53", "domain-search": "corp.example"}


def test_options_mapped_or_reported_with_their_line(site: ConvertResult) -> None:
    assert site.v4 is not None
    d = site.v4.config["Dhcp4"]
    assert {o["name"]: o["data"] for o in d["option-data"]} == {
        "domain-name-servers": "10.0.0.53, 10.0.0.54", "domain-name": "corp.example"}
    assert _subnets(site.v4.config, 4)["10.10.0.0/24"]["option-data"] == [
        {"name": "routers", "code": 3, "space": "dhcp4", "data": "10.10.0.1"}]
    for needle, why in [("<OptionId>224</OptionId>", "an option kea-etl does not map"),
                        ("<OptionId>44</OptionId>", "a vendor- or user-class option"),
                        ("<OptionId>42</OptionId>", "is not an IPv4 address"),
                        ("<OptionId>51</OptionId>", "an option kea-etl does not map"),
                        ("<UserClass>lab</UserClass>", "a vendor- or user-class option")]:
        line = _line(SITE, needle, nth=1 if needle.endswith(">224</OptionId>") else 0) - 1
        if needle.startswith("<UserClass"):
            line -= 1
        found = _at(site, line)
        assert any(why in f.message and f.kea == "option-data" for f in found), (needle, found)
    # a predefined option definition is Kea's own; a custom one is reported
    defs = [f for f in site.all_findings() if f.statement.startswith("<OptionDefinition>")]
    assert [f.statement for f in defs] == ["<OptionDefinition> 224 Site proxy"]


def test_classes_filters_policies_dns_multicast(site: ConvertResult) -> None:
    assert site.v4 is not None
    d = site.v4.config["Dhcp4"]
    classes = {c["name"]: c.get("test") for c in d["client-classes"]}
    assert classes["PXE clients"] == "option[60].hex == 'PXEClient'"
    assert classes["lab"] == "option[77].hex == 'lab'"  # hex class data
    assert classes["DROP"] == "pkt4.mac == 0x001122334455 or pkt4.mac == 0x66778899AABB"
    by_stmt = {f.statement: f for f in site.all_findings()}
    assert by_stmt["<Filter> allow aa-bb-cc-dd-ee-ff"].severity == "decide"
    assert by_stmt["<Filter> deny 00-15-5d-*"].line == _line(SITE, "00-15-5d-*</MacAddress>") - 1
    assert by_stmt["<Class> broken (vendor)"].topic == "untranslated"
    for name in ("printers", "voip"):
        f = by_stmt[f"<Policy> {name}"]
        assert f.line == _line(SITE, f"<Name>{name}</Name>") - 1 and "write it by hand" in f.message
    assert by_stmt["<MulticastScope>"].line == _line(SITE, "<MulticastScope>")
    # DNS: Always -> override the client; older clients -> override-no-update; a scope's Never
    assert (d["ddns-send-updates"], d["ddns-override-client-update"],
            d["ddns-override-no-update"]) == (True, True, True)
    assert _subnets(site.v4.config, 4)["10.10.1.0/24"]["ddns-send-updates"] is False
    assert by_stmt["<NameProtection> false"].severity == "decide"
    assert "reverse-ddns" in by_stmt["<DisableDnsPtrRRUpdate> true"].kea
    assert by_stmt["<ConflictDetectionAttempts> 2"].kea == "libdhcp_ping_check.so"
    assert by_stmt["<DelayOffer> 500"].topic == "untranslated"
    assert by_stmt["<Scope> 10.40.0.0/24: <NapProfile> quarantine"].topic == "untranslated"


def test_failover_gets_the_dhcpd_ha_guidance(site: ConvertResult) -> None:
    assert site.v4 is not None
    d = site.v4.config["Dhcp4"]
    libs = [h["library"] for h in d["hooks-libraries"]]
    assert libs == ["/hooks/libdhcp_lease_cmds.so", "/hooks/libdhcp_ha.so"]
    (ha,) = d["hooks-libraries"][1]["parameters"]["high-availability"]
    # this server is the standby of a hot-standby pair whose partner is 10.0.0.2
    assert (ha["mode"], ha["this-server-name"]) == ("hot-standby", "site-pair-secondary")
    assert [(p["name"], p["url"], p["role"]) for p in ha["peers"]] == [
        ("site-pair-secondary", "http://127.0.0.1:8000/", "standby"),
        ("site-pair-primary", "http://10.0.0.2:8000/", "primary")]
    (f,) = [f for f in site.all_findings() if f.statement == "<Relationship> site-pair"]
    todo = f.details["todo"]
    assert todo[0] == "on the partner (10.0.0.2), this-server-name must be 'site-pair-primary'"
    assert "not Windows' failover port 647" in todo[1]
    assert any(t.startswith("ReservePercent 5") for t in todo)
    assert any(t.startswith("MaxClientLeadTime 01:00:00: Kea HA has no MCLT") for t in todo)
    assert any("covers 1 of 5 scope(s)" in t for t in todo)
    (second,) = [f for f in site.all_findings() if f.statement == "<Relationship> branch-pair"]
    assert second.severity == "decide" and "a second failover relationship" in second.message


def test_reservations_placed_like_migrate_reads_them(site: ConvertResult) -> None:
    assert site.v4 is not None
    subs = _subnets(site.v4.config, 4)
    assert subs["10.10.0.0/24"]["reservations"] == [
        {"hw-address": "00:15:5d:0a:00:64", "ip-address": "10.10.0.100", "hostname": "printer-a1"}]
    assert subs["10.30.0.0/24"]["reservations"][0]["client-id"] == "01:00:15:5d:1e:00:0c"
    assert {r.subnet_id for r in site.v4.reservations} == {subs["10.10.0.0/24"]["id"],
                                                          subs["10.30.0.0/24"]["id"]}
    msgs = {f.line: f.message for f in site.all_findings() if f.topic == "hosts"}
    assert "the first is kept" in msgs[_line(SITE, "<Name>printer-a1-again</Name>") - 1]
    assert "outside scope 10.10.0.0/24" in msgs[_line(SITE, "<Name>elsewhere</Name>") - 1]


def test_every_element_finding_has_file_and_line(site: ConvertResult) -> None:
    for f in site.all_findings():
        if f.topic in ("interfaces", "subnet-ids"):
            continue  # about the configuration as a whole
        assert f.file == str(SITE) and f.line, f.render()


def test_keep_ids(tmp_path: Path) -> None:
    kea = tmp_path / "kea.json"
    kea.write_text(json.dumps({"Dhcp4": {"subnet4": [{"id": 7, "subnet": "10.10.0.0/24"},
                                                     {"id": 9, "subnet": "10.99.0.0/24"}]}}))
    from kea_etl.convert import ids_from_config

    r = convert_windows(SITE, keep_ids=ids_from_config([kea]))
    assert r.v4 is not None and r.v4.subnet_ids["10.10.0.0/24"] == 7
    assert any(f.severity == "decide" and "10.99.0.0/24" in f.message for f in r.all_findings())


def test_check_on_a_windows_export(tmp_path: Path, site: ConvertResult) -> None:
    src = render("site-export.xml", tmp_path)
    res = check(f"windows:{src}", source_tz=TZ)
    # 6 active v4 leases (the inactive scope's included), none outside a subnet
    assert (res.counts["active_leases"], res.counts["leases_outside_subnets"]) == (6, 0)
    assert res.needs_decision
    assert any(f.topic == "failover" for f in res.findings)
    v6 = check(src, family=6, source_tz=TZ)
    assert v6.counts["active_leases"] == 2


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_cli_convert_windows(tmp_path: Path) -> None:
    src = render("site-export.xml", tmp_path)
    for arg in (f"windows:{src}", str(src)):  # prefixed, or told by its content
        out = tmp_path / ("a" if arg.startswith("windows:") else "b")
        r = _cli("convert", arg, "--out", str(out), "--report", str(out / "r.json"), "-q")
        assert r.exit_code == 1, r.output  # the range outside its subnet is an error
        assert "v4: 5 subnet(s), 1 shared network(s), 2 reservation(s), 4 client class(es)" in \
            r.output
        assert "v6: 1 subnet(s), 0 shared network(s), 1 reservation(s)" in r.output
        report = json.loads((out / "r.json").read_text())
        assert set(report["preflight"]) == {"v4", "v6"}
        assert json.loads((out / "kea-dhcp4.conf").read_text())["Dhcp4"]["shared-networks"]
    r = _cli("convert", f"windows:{src}", "--v6", str(src), "--out", str(tmp_path / "c"))
    assert r.exit_code == 2
    assert "--v6 and --include-dir are for dhcpd: a Windows export holds both families" in r.output
    empty = tmp_path / "empty.xml"
    empty.write_text("<DHCPServer><IPv4><Scopes/></IPv4></DHCPServer>")
    r = _cli("convert", str(empty), "--out", str(tmp_path / "d"))
    assert r.exit_code == 2
    assert f"Error: {empty}: no <Scope> in <IPv4><Scopes> or <IPv6><Scopes>" in r.output


def test_cli_help_names_windows() -> None:
    r = _cli("convert", "--help")
    assert "windows:EXPORT.xml" in r.output and "Export-DhcpServer" in r.output
    assert "--source-tz" in _cli("check", "--help").output
