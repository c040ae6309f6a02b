"""kea-etl convert on the sample sites: what is translated, what is reported (with file and line),
subnet ids, and the command line. Kea's own verdict on the output: test_convert_real.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kea_etl.cli import main
from kea_etl.convert import convert, ids_from_config
from kea_etl.convert.ids import stable_id

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample-data"
SITE2 = SAMPLE / "site2" / "dhcpd.conf"


def _subnets(cfg: dict[str, Any], family: int) -> dict[str, dict[str, Any]]:
    body = cfg[f"Dhcp{family}"]
    subs = list(body.get(f"subnet{family}", []))
    for net in body.get("shared-networks", []):
        subs.extend(net[f"subnet{family}"])
    return {s["subnet"]: s for s in subs}


def test_sample_site_v4() -> None:
    r = convert(SAMPLE / "dhcpd.conf")
    assert r.v4 is not None
    d = r.v4.config["Dhcp4"]
    assert d["authoritative"] is True
    assert (d["valid-lifetime"], d["max-valid-lifetime"], d["min-valid-lifetime"]) == (
        8640000, 8640000, 60)
    assert d["ddns-send-updates"] is False
    assert d["cache-max-age"] == 0 and "cache-threshold" not in d  # dhcp-cache-threshold 0
    # what migrate / reconcile talk to
    assert d["control-socket"] == {"socket-type": "unix",
                                   "socket-name": "/run/kea/kea4-ctrl-socket"}
    assert [h["library"].rsplit("/", 1)[1] for h in d["hooks-libraries"]] == [
        "libdhcp_lease_cmds.so"]
    assert [n["name"] for n in d["shared-networks"]] == ["link"]
    subs = _subnets(r.v4.config, 4)
    assert set(subs) == {"10.99.0.0/24", "10.100.0.0/22", "10.101.0.0/24"}
    from ipaddress import IPv4Network
    assert all(s["id"] == stable_id(IPv4Network(p)) for p, s in subs.items())
    assert subs["10.100.0.0/22"]["pools"] == [{"pool": "10.100.0.10 - 10.100.3.200"}]
    # hosts from the include file and from the subnet, one code path (isc_conf)
    held = {h.get("hw-address") or h.get("client-id"): h["ip-address"]
            for s in subs.values() for h in s.get("reservations", [])}
    assert held["52:54:00:01:00:01"] == "10.100.3.251"
    assert held["01:52:54:00:02:00:01"] == "10.101.0.11"
    assert len(held) == 6
    # the group's option goes into its hosts' reservations (Kea has no groups), and is said
    cams = [h for s in subs.values() for h in s.get("reservations", [])
            if h["ip-address"] in ("10.101.0.11", "10.101.0.12")]
    assert [h["option-data"] for h in cams] == [[{"name": "domain-name", "code": 15,
                                                  "space": "dhcp4",
                                                  "data": "cams.example.net"}]] * 2
    lines = [(f.file, f.line, f.severity) for f in r.all_findings() if "group" in f.message]
    assert lines == [(str(SAMPLE / "dhcpd.conf"), 45, "info")]


def test_sample_site_v6_pools_pd_pools_and_prefix_reservation() -> None:
    r = convert(None, conf6=SAMPLE / "dhcpd6.conf")
    assert r.v6 is not None
    sub = _subnets(r.v6.config, 6)["2001:db8:100::/64"]
    assert sub["pools"] == [{"pool": "2001:db8:100::1000 - 2001:db8:100::ffff"}]
    # prefix6 2001:db8:200:: 2001:db8:200:ff00:: /56 = 256 /56s = one /48
    assert sub["pd-pools"] == [{"prefix": "2001:db8:200::", "prefix-len": 48, "delegated-len": 56}]
    a = next(h for h in sub["reservations"] if h.get("hostname") == "server-a")
    assert a["prefixes"] == ["2001:db8:300:100::/56"] and a["ip-addresses"] == ["2001:db8:100::a"]
    body = r.v6.config["Dhcp6"]
    assert body["preferred-lifetime"] == 4320000 and "authoritative" not in body


@pytest.fixture(scope="module")
def site2() -> Any:
    return convert(SITE2)


def test_site2_classes(site2: Any) -> None:
    d = site2.v4.config["Dhcp4"]
    classes = {c["name"]: c for c in d["client-classes"]}
    assert classes["pxe"]["test"] == "substring(option[60].hex, 0, 9) == 'PXEClient'"
    assert classes["pxe"]["option-data"] == [{"code": 150, "space": "dhcp4",
                                              "name": "tftp-server-address", "data": "192.0.2.5"}]
    assert classes["uefi"]["boot-file-name"] == "efi/grubx64.efi"
    assert classes["lab-macs"]["test"] == ("pkt4.mac == 0x525400AA0001 or pkt4.mac == "
                                           "0x525400AA0002 or pkt4.mac == 0x525400AA0003")
    assert classes["vendors"]["test"] == ("option[60].hex == 'MSFT 5.0' or "
                                          "option[60].hex == 'android-dhcp-13'")
    assert classes["lab-macs/1:52:54:00:aa:00:03"]["option-data"][0]["data"] == "lab.site2.example"
    assert "test" not in classes["odd"]
    odd = [f for f in site2.all_findings() if f.line == 82]
    assert odd and "binary-to-ascii" in odd[0].message and odd[0].severity == "warning"
    defs = {o["name"]: o for o in d["option-def"]}
    assert defs["tftp-server-address"] == {"name": "tftp-server-address", "code": 150,
                                           "space": "dhcp4", "type": "ipv4-address", "array": True}
    assert "arch" not in defs  # code 93 is Kea's own client-system


def test_site2_pools_shared_network_and_lease_times(site2: Any) -> None:
    d = site2.v4.config["Dhcp4"]
    subs = _subnets(site2.v4.config, 4)
    assert d["shared-networks"][0]["name"] == "campus"
    assert d["shared-networks"][0]["option-data"][0]["name"] == "domain-search"
    pools = subs["198.51.100.0/24"]["pools"]
    assert pools[0] == {"pool": "198.51.100.10 - 198.51.100.99", "client-class": "KNOWN"}
    permit = pools[1]["client-class"]
    classes = {c["name"]: c for c in d["client-classes"]}
    assert classes[permit]["test"] == "member('lab-macs') or member('pxe')"
    third = subs["203.0.113.0/24"]
    assert third["pools"] == [{"pool": "203.0.113.200 - 203.0.113.210"},
                              {"pool": "203.0.113.50 - 203.0.113.150", "client-class": "UNKNOWN"}]
    assert third["match-client-id"] is False and third["ddns-send-updates"] is False
    assert (third["valid-lifetime"], third["max-valid-lifetime"]) == (86400, 86400)
    assert (d["valid-lifetime"], d["min-valid-lifetime"], d["max-valid-lifetime"]) == (3600, 300,
                                                                                      7200)
    assert d["cache-threshold"] == 0.25  # dhcpd's default, Kea 3.0's too, not Kea 2.x's
    assert (d["next-server"], d["boot-file-name"], d["server-hostname"]) == (
        "192.0.2.5", "pxelinux.0", "boot.site2.example")


def test_site2_ddns_failover_and_shared_address(site2: Any) -> None:
    d = site2.v4.config["Dhcp4"]
    assert d["ddns-send-updates"] is True and d["dhcp-ddns"] == {"enable-updates": True}
    assert d["ddns-qualifying-suffix"] == "site2.example." and d["ddns-override-client-update"]
    ddns = [f for f in site2.all_findings() if f.topic == "ddns"]
    assert any("TXT" in f.message and f.severity == "decide" and f.line == 6 for f in ddns)
    assert {f.line for f in ddns} >= {6, 7, 8, 9, 31, 35}
    ha = d["hooks-libraries"][-1]["parameters"]["high-availability"][0]
    assert ha["mode"] == "load-balancing" and ha["this-server-name"] == "site2-pair-primary"
    assert [p["url"] for p in ha["peers"]] == ["http://192.0.2.2:8000/", "http://192.0.2.3:8000/"]
    fo = next(f for f in site2.all_findings() if f.topic == "failover")
    assert fo.line == 40 and "site2-pair-secondary" in fo.message and "mclt" in fo.message
    assert d["ip-reservations-unique"] is False
    shared = next(f for f in site2.all_findings() if "198.51.100.5" in f.message)
    assert shared.severity == "decide" and "laptop-wired, laptop-wifi" in shared.message
    assert d["reservations-global"] is True and d["reservations"][0]["hw-address"] == (
        "52:54:00:bb:00:05")


def test_every_statement_not_translated_has_file_and_line(site2: Any) -> None:
    text = SITE2.read_text().splitlines()
    for f in site2.all_findings():
        if f.severity in ("warning", "error") or f.topic == "untranslated":
            assert f.file and f.line, f
            assert text[f.line - 1].strip(), f  # points at a statement, not a blank line
    reported = {f.line for f in site2.all_findings()}
    for line in (14, 15, 17, 82):  # ping-check, get-lease-hostnames, log-facility, odd class
        assert line in reported


def test_ids_from_previous_config_are_kept(tmp_path: Path) -> None:
    keep = ids_from_config([SAMPLE / "kea-dhcp4.json"])
    assert keep[4] == {"10.99.0.0/24": 1, "10.100.0.0/22": 2, "10.101.0.0/24": 3}
    r = convert(SAMPLE / "dhcpd.conf", keep_ids=keep)
    assert r.v4 is not None
    assert {p: s["id"] for p, s in _subnets(r.v4.config, 4).items()} == keep[4]


def test_cli_writes_files_and_report(tmp_path: Path) -> None:
    out = tmp_path / "kea"
    res = CliRunner().invoke(main, ["convert", str(SAMPLE / "dhcpd.conf"), "--v6",
                                    str(SAMPLE / "dhcpd6.conf"), "--out", str(out), "--report",
                                    str(tmp_path / "r.json"), "--ids",
                                    f"from:{SAMPLE / 'kea-dhcp4.json'}"])
    assert res.exit_code == 0, res.output
    v4 = json.loads((out / "kea-dhcp4.conf").read_text())
    assert _subnets(v4, 4)["10.100.0.0/22"]["id"] == 2
    assert (out / "kea-dhcp6.conf").exists()
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["subnet_ids"]["v4"]["10.100.0.0/22"] == 2
    assert report["counts"]["error"] == 0 and report["findings"]
    assert report["preflight"]["v4"]["needs_decision"] is False  # sample: nothing to decide
    assert set(report["preflight"]) == {"v4", "v6"}
    assert "v4: 3 subnet(s), 1 shared network(s), 6 reservation(s)" in res.output


def test_cli_errors_and_help(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["convert", str(tmp_path / "nope.conf"), "--out", str(tmp_path)])
    assert r.exit_code == 2 and f"Error: dhcpd.conf {tmp_path / 'nope.conf'} not found" in r.output
    r = CliRunner().invoke(main, ["convert", str(SITE2), "--out", str(tmp_path), "--ids", "x"])
    assert r.exit_code == 2 and "expected 'stable' or 'from:KEA.json'" in r.output
    r = CliRunner().invoke(main, ["convert", "--help"])
    assert "Example:" in r.output and "kea-etl convert /etc/dhcp/dhcpd.conf" in r.output


def test_broken_input_is_an_error_finding_and_exit_1(tmp_path: Path) -> None:
    conf = tmp_path / "d.conf"
    conf.write_text('subnet 10.0.0.0 netmask 255.255.255.0 {\n  range 10.0.0.5 10.0.1.5;\n'
                    '  option routers "unterminated;\n}\nhost h { hardware ethernet zz; }\n')
    r = CliRunner().invoke(main, ["convert", str(conf), "--out", str(tmp_path / "o")])
    assert r.exit_code == 1, r.output
    assert f"{conf}:2: range 10.0.0.5 10.0.1.5;: not translated: does not parse" in r.output
    assert f"{conf}:3:" in r.output and f"{conf}:5:" in r.output


def test_group_options_go_into_reservations_and_other_group_settings_are_reported(
        site2: Any) -> None:
    sensor = next(h for h in _subnets(site2.v4.config, 4)["203.0.113.0/24"]["reservations"]
                  if h["hw-address"] == "52:54:00:bb:00:10")
    assert sensor["option-data"] == [{"name": "domain-name", "code": 15, "space": "dhcp4",
                                      "data": "iot.site2.example"}]
    lease = [f for f in site2.all_findings() if f.line == 145]
    assert lease and lease[0].severity == "warning" and "group of hosts" in lease[0].message


def test_host_option_of_a_user_defined_type_goes_into_its_reservation(site2: Any) -> None:
    phone = next(h for h in _subnets(site2.v4.config, 4)["203.0.113.0/24"]["reservations"]
                 if h["hw-address"] == "52:54:00:bb:00:04")
    assert phone["option-data"] == [{"code": 224, "space": "dhcp4", "name": "site-motd",
                                     "data": "hello phone"}]
    assert not [f for f in site2.all_findings() if "site-motd" in f.statement]


def test_pool_directly_in_a_shared_network_goes_to_the_subnet_holding_its_range(
        tmp_path: Path) -> None:
    conf = tmp_path / "d.conf"
    conf.write_text("shared-network office {\n"
                    "  subnet 192.0.2.0 netmask 255.255.255.0 { }\n"
                    "  subnet 198.51.100.0 netmask 255.255.255.0 { }\n"
                    "  pool {\n    range 198.51.100.10 198.51.100.20;\n"
                    "    deny unknown-clients;\n  }\n"
                    "  pool {\n    range 203.0.113.10 203.0.113.20;\n  }\n}\n")
    r = convert(conf)
    assert r.v4 is not None
    subs = _subnets(r.v4.config, 4)
    assert subs["198.51.100.0/24"]["pools"] == [{"pool": "198.51.100.10 - 198.51.100.20",
                                                 "client-class": "KNOWN"}]
    assert "pools" not in subs["192.0.2.0/24"]
    bad = [f for f in r.all_findings() if f.line == 8]
    assert bad and bad[0].severity == "error" and "none of its subnets" in bad[0].message


def test_group_options_and_times_reach_the_subnets_inside_it(tmp_path: Path) -> None:
    conf = tmp_path / "d.conf"
    conf.write_text("group {\n  option domain-name \"g.example\";\n  option ntp-servers 192.0.2.9;\n"
                    "  default-lease-time 600;\n"
                    "  subnet 192.0.2.0 netmask 255.255.255.0 {\n"
                    "    option ntp-servers 192.0.2.10;\n  }\n}\n")
    r = convert(conf)
    assert r.v4 is not None
    sub = _subnets(r.v4.config, 4)["192.0.2.0/24"]
    assert sub["valid-lifetime"] == 600
    assert {o["name"]: o["data"] for o in sub["option-data"]} == {
        "domain-name": "g.example", "ntp-servers": "192.0.2.10"}


def test_a_v6_file_given_as_the_v4_one_is_an_error_finding(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = CliRunner().invoke(main, ["convert", str(SAMPLE / "dhcpd.conf"), "--out",
                                  str(blocker / "x")])
    assert r.exit_code == 2 and f"Error: cannot write {blocker / 'x'}: Not a directory" in r.output
    res = convert(SAMPLE / "dhcpd6.conf")
    err = [f for f in res.all_findings() if f.topic == "family"]
    assert err and err[0].severity == "error" and "--v6 FILE" in err[0].message


def test_overlapping_ranges_and_an_inherited_default_above_a_subnet_max(tmp_path: Path) -> None:
    conf = tmp_path / "d.conf"
    conf.write_text("default-lease-time 3600;\n"
                    "subnet 10.0.0.0 netmask 255.255.255.0 {\n  max-lease-time 300;\n"
                    "  range 10.0.0.10 10.0.0.20;\n  range 10.0.0.15 10.0.0.30;\n}\n")
    r = convert(conf)
    assert r.v4 is not None
    sub = _subnets(r.v4.config, 4)["10.0.0.0/24"]
    assert sub["pools"] == [{"pool": "10.0.0.10 - 10.0.0.20"}]
    assert (sub["valid-lifetime"], sub["max-valid-lifetime"]) == (300, 300)
    by_line = {f.line: f for f in r.all_findings() if f.line}
    assert by_line[5].severity == "error" and "overlaps pool 10.0.0.10 - 10.0.0.20" in (
        by_line[5].message)
    assert by_line[2].topic == "lease-times" and "max-lease-time 300" in by_line[2].message


@pytest.mark.parametrize("value", ["-5", "4294967296"])
def test_lease_time_out_of_range_is_an_error_not_a_wrapped_lifetime(tmp_path: Path,
                                                                    value: str) -> None:
    """Found by the random-input test against Kea's -t: ``default-lease-time -5;`` was written
    as valid-lifetime -5, which Kea reads as 4294967291 and then refuses the whole file. It is an
    error finding with its line, and dhcpd's default is written instead."""
    conf = tmp_path / "dhcpd.conf"
    conf.write_text(f"default-lease-time {value};\n"
                    "subnet 192.0.2.0 netmask 255.255.255.0 { range 192.0.2.10 192.0.2.20; }\n")
    r = convert(conf)
    assert r.v4 is not None
    bad = [f for f in r.v4.findings if f.severity == "error"]
    assert [(f.line, f.statement.split(";")[0]) for f in bad] == [(1, f"default-lease-time {value}")]
    assert r.v4.config["Dhcp4"]["valid-lifetime"] == 43200


def test_ddns_keys_and_zones_become_a_d2_configuration(tmp_path: Path) -> None:
    """key + forward and reverse zones -> kea-dhcp-ddns.conf (secret in its own 0600 file);
    a zone whose server is a name, and a key with an algorithm D2 lacks, are error findings with
    their lines, not silently left out."""
    from kea_etl.convert import write

    conf = tmp_path / "dhcpd.conf"
    conf.write_text(
        "ddns-update-style standard;\n"                                         # 1
        'key k1 { algorithm hmac-md5.sig-alg.reg.int; secret "c2VjcmV0"; }\n'   # 2
        'key k2 { algorithm gss-tsig; secret "eA=="; }\n'                       # 3
        "zone example.org. { primary 192.0.2.53; secondary 192.0.2.54; key k1; }\n"  # 4
        "zone 2.0.192.in-addr.arpa. { primary 192.0.2.53; key k1; }\n"          # 5
        "zone other.org. { primary ns1.other.org; }\n"                          # 6
        "subnet 192.0.2.0 netmask 255.255.255.0 { range 192.0.2.10 192.0.2.20; }\n")
    r = convert(conf)
    assert r.v4 is not None
    errors = sorted((f.line, f.message) for f in r.v4.findings if f.severity == "error")
    assert [ln for ln, _ in errors] == [3, 6]
    assert "gss-tsig" in errors[0][1] and "is a name" in errors[1][1]
    written = write(r, tmp_path / "out")
    d2conf = json.loads((tmp_path / "out" / "kea-dhcp-ddns.conf").read_text())["DhcpDdns"]
    assert d2conf["tsig-keys"] == [{"name": "k1", "algorithm": "HMAC-MD5",
                                    "secret-file": "/etc/kea/tsig-k1.secret"}]
    fwd = d2conf["forward-ddns"]["ddns-domains"]
    rev = d2conf["reverse-ddns"]["ddns-domains"]
    assert [(d["name"], [s["ip-address"] for s in d["dns-servers"]], d["key-name"]) for d in fwd] \
        == [("example.org.", ["192.0.2.53", "192.0.2.54"], "k1")]
    assert [d["name"] for d in rev] == ["2.0.192.in-addr.arpa."]
    secret = tmp_path / "out" / "tsig-k1.secret"
    assert secret in written and secret.read_text() == "c2VjcmV0"
    assert oct(secret.stat().st_mode & 0o777) == "0o600"
