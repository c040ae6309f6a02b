"""dhcpd.conf extractor: host declarations -> reservations, reported by line when untranslatable.

The fixtures are checked by the real dhcpd (``dhcpd -t``) so they are configurations dhcpd
accepts, and the translated reservations are checked by the real Kea (``kea-dhcp4 -t`` /
``kea-dhcp6 -t`` on a config holding them), so Kea accepts what comes out.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Network, ip_address
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kea_etl.errors import ConfigError, MalformedRecordError
from kea_etl.extract import isc_conf
from kea_etl.extract.base import Extracted, SourceWarning
from kea_etl.records import Reservation

DATA = Path(__file__).parent / "data_conf"


def split(items: Iterable[Any], notes: list[SourceWarning] | None = None
          ) -> tuple[list[Extracted], list[MalformedRecordError]]:
    """Records and errors; the items that are neither (``SourceWarning``) go into ``notes``."""
    good: list[Extracted] = []
    bad: list[MalformedRecordError] = []
    for it in items:
        if isinstance(it, SourceWarning):
            if notes is not None:
                notes.append(it)
            continue
        (bad if isinstance(it, MalformedRecordError) else good).append(it)
    return good, bad


def by_host(items: list[Extracted]) -> dict[str, list[Extracted]]:
    out: dict[str, list[Extracted]] = {}
    for it in items:
        out.setdefault(it.extra["dhcpd_host"], []).append(it)
    return out


def test_v4_hosts() -> None:
    notes: list[SourceWarning] = []
    good, bad = split(isc_conf.extract(DATA / "dhcpd.conf"), notes)
    hosts = by_host(good)
    r = {name: [e.record for e in items] for name, items in hosts.items()}
    assert r["plain"] == [Reservation(family=4, identifier_type="hw-address", identifier="00:c0:c3:49:2b:57",
                                      ipv4_address="192.0.2.20")]
    # client-id wins over the MAC; the MAC is kept aside with a warning
    assert r["with-cid"] == [Reservation(family=4, identifier_type="client-id",
                                         identifier="01:08:00:2b:4c:29:32", ipv4_address="192.0.2.21",
                                         hostname="cid-host")]
    assert hosts["with-cid"][0].extra["alt_identifiers"] == ["hw-address=08:00:2b:4c:29:32"]
    assert [w.line for w in hosts["with-cid"][0].warnings] == [13]
    # quoted client-id: the string's bytes, escapes processed (\" and octal \101 = 'A')
    assert r["string-cid"][0].identifier == "61:62:22:63:41"
    assert r["old-uid"][0].identifier_type == "client-id"
    # two fixed addresses -> two reservations; ddns-hostname as hostname; next-server/filename
    assert [str(x.ipv4_address) for x in r["in-subnet"]] == ["192.0.2.30", "198.51.100.30"]
    assert {(x.hostname, str(x.next_server), x.boot_file_name) for x in r["in-subnet"]} == {
        ("ddns-name", "192.0.2.5", "pxelinux.0")}
    ins = hosts["in-subnet"][0]
    assert ins.extra["dhcpd_subnet"] == "192.0.2.0/24" and ins.line == 29
    assert [w.line for w in ins.warnings] == [36]  # max-lease-time
    # the host's own option is carried, in both reservations; the subnet's option 192.0.2.1 is not
    assert [x.option_data for x in r["in-subnet"]] == [(
        {"name": "routers", "code": 3, "space": "dhcp4", "data": "192.0.2.254"},)] * 2
    # use-host-decl-names from the enclosing group; group filename/next-server inherited
    dn = hosts["decl-named"][0]
    assert (dn.record.hostname, dn.record.boot_file_name, str(dn.record.next_server)) == (
        "decl-named", "grub.efi", "198.51.100.2")
    assert dn.extra["dhcpd_shared_network"] == "campus" and dn.extra["dhcpd_subnet"] == "198.51.100.0/24"
    # the group's option (line 46) is carried into its hosts' reservations, as dhcpd hands it
    # to them, and is no longer a warning
    assert any(o["name"] == "domain-name-servers" for o in dn.record.option_data), dn.record
    assert not any("domain-name-servers" in str(w) for w in dn.warnings)
    own = r["own-name"][0]
    assert (own.hostname, own.boot_file_name) == ("explicit", "own.efi")  # host-level wins
    # no use-host-decl-names in scope: no hostname from the declaration name
    assert r["no-decl-names"][0].hostname == ""
    assert r["included-1"][0].ipv4_address is not None
    assert hosts["included-1"][0].source.endswith("hosts.d/more.conf") and hosts["included-1"][0].line == 2
    assert all(e.record.subnet_id == 0 and e.record.family == 4 for e in good)
    assert len(good) == 10
    assert [(b.line, b.key) for b in bad] == [
        (60, "host by-name"), (61, "host token"), (62, "host nothing"), (63, "host denied")]
    assert "is a name, not an address" in str(bad[0])
    assert "found only: hardware token-ring" in str(bad[1])
    # only an identifier: Kea refuses such a reservation ("must include at least one resource")
    assert str(bad[2]).startswith(f"{DATA / 'dhcpd.conf'} line 62: host nothing has no fixed "
                                  "address, hostname, option, boot file or next-server")
    # class / subclass: not translated, said with file and line, not a failure
    assert [(n.source, n.line, n.statement) for n in notes] == [
        (str(DATA / "dhcpd.conf"), 66, 'class "printers" { ... }'),
        (str(DATA / "dhcpd.conf"), 69, 'subclass "printers" 1:aa:bb:cc:dd:ee:09;')]
    assert all(n.reason.startswith("not translated: ") for n in notes)


def test_v6_hosts() -> None:
    good, bad = split(isc_conf.extract(DATA / "dhcpd6.conf"))
    assert bad == []
    r = {e.extra["dhcpd_host"]: e.record for e in good}
    assert r["v6-duid"] == Reservation(
        family=6, identifier_type="duid", identifier="00:01:00:01:4a:1f:ba:e3:60:b9:1f:01:23:45",
        ip_addresses=(ip_address("2001:db8:1::10"),), prefixes=(IPv6Network("2001:db8:8000:100::/56"),),
        hostname="v6host")
    assert (r["v6-mac"].identifier_type, r["v6-mac"].identifier) == ("hw-address", "aa:bb:cc:dd:ee:0a")
    assert (r["v6-cid"].identifier_type, r["v6-cid"].identifier) == ("duid", "00:03:00:01:aa:bb:cc:dd:ee:0b")
    assert r["v6-outside"].prefixes == (IPv6Network("2001:db8:9000::/48"),)
    assert r["v6-outside"].hostname == "v6-outside"  # use-host-decl-names inside the host
    assert {e.extra.get("dhcpd_subnet") for e in good} == {"2001:db8:1::/64", None}


def test_family_filter() -> None:
    assert split(isc_conf.extract(DATA / "dhcpd6.conf", family=4))[0] == []
    with pytest.raises(ConfigError, match="family must be 4 or 6"):
        list(isc_conf.extract(DATA / "dhcpd6.conf", family=5))


def test_broken_file_reports_by_line_and_keeps_the_good_hosts() -> None:
    path = DATA / "broken.conf"
    good, bad = split(isc_conf.extract(path))
    assert [e.extra["dhcpd_host"] for e in good] == ["good-1", "good-2", "good-3"]
    assert [(b.line, b.key) for b in bad] == [
        (3, "host bad-mac"), (4, "host bad-prefix"), (5, "host v6-in-v4"), (6, "host weird-id"),
        (8, None), (9, "include does-not-exist.conf"), (10, "host bad-string"), (12, "host truncated")]
    assert "not colon-separated hex" in str(bad[0])
    assert "host bits set" in str(bad[1])
    assert "found only: host-identifier v6relopt" in str(bad[3])
    assert "unterminated quoted string" in str(bad[6])
    assert str(bad[7]) == (f"{path} line 12: host truncated is truncated: its block never closes "
                           "(missing '}' at the end of the file)")


def test_include_cycle_is_reported_not_followed() -> None:
    good, bad = split(isc_conf.extract(DATA / "cycle_a.conf"))
    assert [e.extra["dhcpd_host"] for e in good] == ["cyc-a", "cyc-b"]
    assert len(bad) == 1 and "include cycle (cycle_a.conf -> cycle_b.conf -> cycle_a.conf)" in str(bad[0])
    assert bad[0].source.endswith("cycle_b.conf") and bad[0].line == 2


def test_include_dir_resolves_like_dhcpds_working_directory(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "main.conf").write_text('include "sub/hosts.conf";\n')
    (tmp_path / "sub" / "hosts.conf").write_text(
        "host a { hardware ethernet 1:2:3:4:5:6; fixed-address 192.0.2.1; }\n")
    good, bad = split(isc_conf.extract(tmp_path / "sub" / "main.conf", include_dir=tmp_path))
    assert len(good) == 1 and bad == []
    good, bad = split(isc_conf.extract(tmp_path / "sub" / "main.conf"))
    assert good == [] and "cannot open included file" in str(bad[0])


def test_tokenizer_details(tmp_path: Path) -> None:
    p = tmp_path / "t.conf"
    p.write_bytes(b'# comment { not a block\n'
                  b'host "quoted name" { # comment ; inside\n'
                  b'  hardware ethernet 0:1:2:3:4:5 ; fixed-address\n 192.0.2.7 ;\n'
                  b'  option host-name "caf\xc3\xa9\\"x\\\\";\n'
                  b'  ddns-hostname = concat("a", "b");\n'
                  b'}\n')
    (ext,) = isc_conf.extract(p)
    assert isinstance(ext, Extracted)
    assert ext.record.hostname == 'caf\u00e9"x\\'
    assert ext.extra["dhcpd_host"] == "quoted name"
    assert ext.record.identifier == "00:01:02:03:04:05"
    assert [w.line for w in ext.warnings] == [6] and "expression" in str(ext.warnings[0])


def test_sniff() -> None:
    assert isc_conf.sniff((DATA / "dhcpd.conf").read_bytes()[:1024])
    assert isc_conf.sniff((DATA / "dhcpd6.conf").read_bytes()[:1024])
    leases = (b"# The format of this file is documented in the dhcpd.leases(5) manual page.\n"
              b"authoring-byte-order little-endian;\n\nlease 192.0.2.10 {\n  starts 4 2026/11/26 20:00:00;\n"
              b"  hardware ethernet 00:0c:01:02:03:04;\n}\n")
    assert not isc_conf.sniff(leases)
    assert not isc_conf.sniff(b"ip,mac\n192.0.2.1,aa:bb:cc:dd:ee:ff\n")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        list(isc_conf.extract(tmp_path / "nope.conf"))


# ---- real servers ----------------------------------------------------------------------------

@pytest.mark.parametrize(("conf", "flag"), [("dhcpd.conf", "-4"), ("dhcpd6.conf", "-6"),
                                          ("host_options.conf", "-4"), ("host_options6.conf", "-6")])
def test_fixtures_are_valid_for_real_dhcpd(conf: str, flag: str) -> None:
    if shutil.which("dhcpd") is None:
        pytest.skip("isc-dhcp-server is not installed")
    proc = subprocess.run(["dhcpd", flag, "-t", "-cf", conf], cwd=DATA, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr


def _subnet_id(rec: Reservation, subnets: dict[int, Any]) -> int:
    addrs: list[Any] = [rec.ipv4_address] if rec.ipv4_address else [*rec.ip_addresses]
    addrs += [p.network_address for p in rec.prefixes]
    for sid, net in subnets.items():
        if addrs and addrs[0] in net:
            return sid
    return 0


@pytest.mark.kea
@pytest.mark.parametrize(("conf", "family"), [("dhcpd.conf", 4), ("dhcpd6.conf", 6),
                                               ("host_options.conf", 4), ("host_options6.conf", 6)])
def test_real_kea_accepts_the_reservations(tmp_path: Path, conf: str, family: int) -> None:
    daemon = f"kea-dhcp{family}"
    if shutil.which(daemon) is None:
        pytest.skip(f"{daemon} is not installed")
    good, _ = split(isc_conf.extract(DATA / conf))
    subnets: dict[int, Any]
    if family == 4:
        subnets = {1: IPv4Network("192.0.2.0/24"), 2: IPv4Network("198.51.100.0/24")}
    else:
        subnets = {1: IPv6Network("2001:db8::/32")}
    # subnet id 0: the hosts without an address, as global reservations
    per_subnet: dict[int, list[dict[str, Any]]] = {sid: [] for sid in (0, *subnets)}
    for e in good:
        assert isinstance(e.record, Reservation)
        per_subnet[_subnet_id(e.record, subnets)].append(e.record.to_kea_host())
    body: dict[str, Any] = {
        "interfaces-config": {"interfaces": []},
        "lease-database": {"type": "memfile", "persist": False},
        f"subnet{family}": [{"id": sid, "subnet": str(net), "reservations": per_subnet[sid]}
                            for sid, net in subnets.items()],
        "reservations": per_subnet[0],
        "reservations-global": True,
    }
    if family == 4:
        body["host-reservation-identifiers"] = ["hw-address", "client-id"]
    cfg = tmp_path / "kea.json"
    cfg.write_text(json.dumps({f"Dhcp{family}": body}))
    proc = subprocess.run([daemon, "-t", str(cfg)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sum(len(v) for v in per_subnet.values()) == len(good) > 0


# ---- property: whatever hosts we write, the extractor reads them back ------------------------

def _quote(raw: bytes) -> str:
    """A dhcpd quoted string for ``raw``: printable ASCII as is, the rest as octal escapes."""
    out = []
    for b in raw:
        ch = chr(b)
        out.append("\\" + ch if ch in '"\\' else ch if 32 <= b < 127 else f"\\{b:03o}")
    return '"' + "".join(out) + '"'


_host = st.fixed_dictionaries({
    "mac": st.binary(min_size=6, max_size=6),
    "ip": st.integers(1, 2**32 - 2),
    "cid": st.one_of(st.none(), st.tuples(st.binary(min_size=2, max_size=20), st.booleans())),
    "hostname": st.one_of(st.none(), st.text(alphabet="abcXYZ-0123. \"\\\u00e9", min_size=1, max_size=12)),
    "decl_names": st.booleans(),
    "where": st.sampled_from(["top", "group", "subnet"]),
})


@settings(max_examples=40, deadline=None)
@given(st.lists(_host, max_size=12))
def test_round_trip(tmp_path_factory: pytest.TempPathFactory, hosts: list[dict[str, Any]]) -> None:
    lines: list[str] = []
    expected: list[Reservation] = []
    for i, h in enumerate(hosts):
        name = f"h{i}"
        body = [f"hardware ethernet {h['mac'].hex(':')};", f"fixed-address {IPv4Address(h['ip'])};"]
        ident_type, ident = "hw-address", h["mac"].hex(":")
        if h["cid"] is not None:
            raw, as_string = h["cid"]
            value = _quote(raw) if as_string else raw.hex(":")
            body.append(f"option dhcp-client-identifier {value};")
            ident_type, ident = "client-id", raw.hex(":")
        hostname = ""
        if h["hostname"] is not None:
            body.append(f"option host-name {_quote(h['hostname'].encode())};")
            hostname = h["hostname"]
        elif h["decl_names"]:
            hostname = name
        decl = "use-host-decl-names on;" if h["decl_names"] else ""
        block = f"host {name} {{ {' '.join(body)} }}"
        if h["where"] == "group":
            lines.append(f"group {{ {decl}\n{block}\n}}")
        elif h["where"] == "subnet":
            lines.append(f"subnet 10.0.0.0 netmask 255.0.0.0 {{ {decl} {block} }}")
        else:
            lines.append(f"group {{ {decl} {block} }}" if decl else block)
        expected.append(Reservation(family=4, identifier_type=ident_type, identifier=ident,
                                    ipv4_address=IPv4Address(h["ip"]), hostname=hostname))
    p = tmp_path_factory.mktemp("rt") / "dhcpd.conf"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    good, bad = split(isc_conf.extract(p))
    assert bad == []
    assert [g.record for g in good] == expected


def test_v6_duid_wins_over_mac_with_warning(tmp_path: Path) -> None:
    p = tmp_path / "d6.conf"
    p.write_text("host both {\n"
                 "  hardware ethernet aa:bb:cc:dd:ee:01;\n"
                 "  host-identifier option dhcp6.client-id 00:03:00:01:aa:bb:cc:dd:ee:01;\n"
                 "  fixed-address6 2001:db8:1::5;\n"
                 "}\n")
    (ext,) = isc_conf.extract(p)
    assert isinstance(ext, Extracted)
    assert (ext.record.identifier_type, ext.record.identifier) == ("duid", "00:03:00:01:aa:bb:cc:dd:ee:01")
    assert ext.extra["alt_identifiers"] == ["hw-address=aa:bb:cc:dd:ee:01"]
    assert [w.line for w in ext.warnings] == [2]


# ---- host options -> option-data ---------------------------------------------------------------

def test_host_options_translated_with_kea_names() -> None:
    good, bad = split(isc_conf.extract(DATA / "host_options.conf"))
    assert bad == []
    hosts = {e.extra["dhcpd_host"]: e for e in good}
    pxe = hosts["pxe-client"]
    assert pxe.record.hostname == "pxe-one"  # option host-name stays the hostname
    assert pxe.warnings == ()
    # ordered by code, one canonical spelling (", " between items, no trailing dot)
    assert list(pxe.record.option_data) == [
        {"name": "time-offset", "code": 2, "space": "dhcp4", "data": "-18000"},
        {"name": "routers", "code": 3, "space": "dhcp4", "data": "192.0.2.1, 192.0.2.2"},
        {"name": "domain-name-servers", "code": 6, "space": "dhcp4", "data": "192.0.2.53, 192.0.2.54"},
        {"name": "domain-name", "code": 15, "space": "dhcp4", "data": "hosts.example.org"},
        {"name": "ip-forwarding", "code": 19, "space": "dhcp4", "data": "false"},
        {"name": "interface-mtu", "code": 26, "space": "dhcp4", "data": "9000"},
        {"name": "ntp-servers", "code": 42, "space": "dhcp4", "data": "192.0.2.123"},
        {"name": "vendor-class-identifier", "code": 60, "space": "dhcp4", "data": "PXEClient"},
        {"name": "tftp-server-name", "code": 66, "space": "dhcp4", "data": "tftp.example.org"},
        {"name": "boot-file-name", "code": 67, "space": "dhcp4", "data": "pxelinux.0"},
        {"name": "domain-search", "code": 119, "space": "dhcp4",
         "data": "example.org, sales.example.org"},
    ]
    # the Kea map carries them as option-data
    assert pxe.record.to_kea_host()["option-data"][1] == {
        "name": "routers", "code": 3, "space": "dhcp4", "data": "192.0.2.1, 192.0.2.2"}


def test_untranslatable_host_options_keep_a_warning_by_line() -> None:
    good, _ = split(isc_conf.extract(DATA / "host_options.conf"))
    (un,) = [e for e in good if e.extra["dhcpd_host"] == "untranslated"]
    # the last ntp-servers wins, as in dhcpd; nothing else is carried
    assert un.record.option_data == ({"name": "ntp-servers", "code": 42, "space": "dhcp4",
                                      "data": "192.0.2.2"},)
    warnings = {w.line: str(w) for w in un.warnings}
    assert sorted(warnings) == [30, 31, 32, 33, 34, 35, 36, 37]
    assert "'ns1.example.org' is not an IPv4 address (dhcpd resolves host names" in warnings[30]
    assert "Kea splits option data at commas" in warnings[31]
    assert "an expression" in warnings[32]
    assert "option space 'pxelinux' is not a standard one" in warnings[33]
    assert "vendor-encapsulated-options" in warnings[34] and "does not translate" in warnings[34]
    assert "dhcp-lease-time" in warnings[35]
    assert "line 38 sets ntp-servers again" in warnings[36]
    assert "a DHCPv6 option, and the host has no fixed-address6" in warnings[37]
    assert all("option-data by hand" in warnings[n] for n in range(30, 36))


def test_v6_host_options() -> None:
    good, bad = split(isc_conf.extract(DATA / "host_options6.conf"))
    assert bad == []
    hosts = {e.extra["dhcpd_host"]: e for e in good}
    v6 = hosts["v6-opts"]
    assert list(v6.record.option_data) == [
        {"name": "preference", "code": 7, "space": "dhcp6", "data": "255"},
        {"name": "dns-servers", "code": 23, "space": "dhcp6", "data": "2001:db8::53, 2001:db8::54"},
        {"name": "domain-search", "code": 24, "space": "dhcp6", "data": "example.org, eng.example.org"},
        {"name": "sntp-servers", "code": 31, "space": "dhcp6", "data": "2001:db8::123"},
        {"name": "information-refresh-time", "code": 32, "space": "dhcp6", "data": "3600"},
        {"name": "bootfile-url", "code": 59, "space": "dhcp6", "data": "http://[2001:db8::5]/boot.efi"},
    ]
    warnings = {w.line: str(w) for w in v6.warnings}
    assert sorted(warnings) == [17, 18]
    assert "a DHCPv4 option, and the host has no fixed-address" in warnings[17]
    assert "Kea splits option data at commas" in warnings[18]
    names = {o["name"] for o in hosts["v6-every"].record.option_data}
    assert {"sip-server-dns", "sip-server-addr", "bcmcs-server-dns", "bcmcs-server-addr",
            "aftr-name", "new-tzdb-timezone"} <= names


def test_every_table_option_is_in_the_fixtures() -> None:
    """So the real dhcpd (-t) and the real Kea (-t) tests above judge the whole table."""
    from kea_etl.dhcp_options import OPTIONS

    seen = set()
    for conf in ("host_options.conf", "host_options6.conf"):
        for e in split(isc_conf.extract(DATA / conf))[0]:
            seen |= {(o["space"], o["name"]) for o in e.record.option_data}
    assert seen == {(o.space, o.kea) for o in OPTIONS}


def _tr(name: str, *values: str | tuple[str, str]) -> dict[str, Any]:
    """translate() for dhcpd's ``option NAME values;``: a plain str is a word, a 1-tuple-ish
    ("string", text) a quoted string; ',' is punctuation."""
    from kea_etl import dhcp_options as opts

    odef = opts.by_dhcpd_name(name)
    assert odef is not None, name
    toks = [v if isinstance(v, tuple) else ("punct", v) if v == "," else ("word", v) for v in values]
    return opts.translate(odef, toks)


def _s(text: str) -> tuple[str, str]:
    return ("string", text)


@pytest.mark.parametrize(("name", "values", "kea", "data"), [
    ("routers", ("10.0.0.1", ",", "10.0.0.2"), "routers", "10.0.0.1, 10.0.0.2"),      # ip4 list
    ("subnet-mask", ("255.255.0.0",), "subnet-mask", "255.255.0.0"),                    # ip4
    ("domain-name", (_s("example.org"),), "domain-name", "example.org"),                # text
    ("bootfile-name", (_s("ipxe.efi"),), "boot-file-name", "ipxe.efi"),                 # renamed
    ("ien116-name-servers", ("10.0.0.5",), "name-servers", "10.0.0.5"),
    ("domain-search", (_s("a.example."), ",", _s("b.example")), "domain-search",        # fqdn list
     "a.example, b.example"),
    ("default-ip-ttl", ("255",), "default-ip-ttl", "255"),                              # uint8
    ("interface-mtu", ("0x5dc",), "interface-mtu", "1500"),                             # uint16, hex
    ("boot-size", ("010",), "boot-size", "8"),                                          # dhcpd: octal
    ("arp-cache-timeout", ("4294967295",), "arp-cache-timeout", "4294967295"),          # uint32
    ("time-offset", ("-3600",), "time-offset", "-3600"),                                # int32
    ("ip-forwarding", ("on",), "ip-forwarding", "true"),                                # flag
    ("mask-supplier", ("false",), "mask-supplier", "false"),
    ("path-mtu-plateau-table", ("1500", ",", "576"), "path-mtu-plateau-table", "1500, 576"),
    ("dhcp6.name-servers", ("2001:DB8:0:0::1", ",", "2001:db8::2"), "dns-servers",     # v6 names
     "2001:db8::1, 2001:db8::2"),
    ("dhcp6.domain-search", (_s("example.org"),), "domain-search", "example.org"),
    ("dhcp6.sntp-servers", ("2001:db8::123",), "sntp-servers", "2001:db8::123"),
    ("dhcp6.info-refresh-time", ("600",), "information-refresh-time", "600"),
    ("dhcp6.aftr-name", ("aftr.example.org.",), "aftr-name", "aftr.example.org"),
    ("DHCP6.Bootfile-URL", (_s("tftp://[2001:db8::1]/x"),), "bootfile-url", "tftp://[2001:db8::1]/x"),
])
def test_translate_each_kind(name: str, values: tuple[Any, ...], kea: str, data: str) -> None:
    from kea_etl.dhcp_options import canonical_option

    entry = _tr(name, *values)
    assert (entry["name"], entry["data"]) == (kea, data)
    assert entry["space"] == ("dhcp6" if name.lower().startswith("dhcp6.") else "dhcp4")
    # already canonical: what Kea hands back for it maps to the same entry
    family = 6 if entry["space"] == "dhcp6" else 4
    assert canonical_option(entry, family) == entry


@pytest.mark.parametrize(("name", "values", "why"), [
    ("routers", ("gw.example.org",), "not an IPv4 address"),
    ("routers", ("10.0.0.1", "10.0.0.2"), "separated by commas"),
    ("routers", ("10.0.0.1", ","), "trailing comma"),
    ("routers", (_s("10.0.0.1"),), "expected a plain value"),
    ("routers", (), "at least one value"),
    ("subnet-mask", ("255.0.0.0", ",", "255.255.0.0"), "expected one value"),
    ("domain-name", ("example.org",), "expected a quoted string"),
    ("domain-name", (_s(""),), "empty text"),
    ("domain-name", (_s(" example.org"),), "blanks"),
    ("root-path", (_s("a,b"),), "Kea splits option data at commas"),
    ("bootfile-name", (_s("boot\\x86\\wdsnbp.com"),), "'\\\\'"),
    ("domain-name", (_s("a\nb"),), "control characters"),
    ("domain-search", (_s("bad..name"),), "not a domain name"),
    ("default-ip-ttl", ("256",), "out of range for uint8"),
    ("interface-mtu", ("-1",), "out of range for uint16"),
    ("time-offset", ("2147483648",), "out of range for a signed 32-bit"),
    ("interface-mtu", ("1.5",), "not a number"),
    ("boot-size", ("08",), "not a number"),  # dhcpd reads a leading 0 as octal
    ("ip-forwarding", ("yes",), "not a flag"),
    ("dhcp6.name-servers", ("10.0.0.1",), "not an IPv6 address"),
])
def test_translate_refuses_bad_values(name: str, values: tuple[Any, ...], why: str) -> None:
    from kea_etl.dhcp_options import OptionValueError

    with pytest.raises(OptionValueError, match=why if why.startswith("'") else re.escape(why)):
        _tr(name, *values)


def test_table_lookups() -> None:
    from kea_etl import dhcp_options as opts

    assert opts.by_dhcpd_name("static-routes") is None  # a record type: not translated
    assert opts.by_dhcpd_name("dhcp-client-identifier") is None  # the identifier, not an option
    assert opts.by_dhcpd_name("name-servers") is None  # dhcpd calls option 5 ien116-name-servers
    ns6 = opts.by_dhcpd_name("dhcp6.name-servers")
    assert ns6 is not None and (ns6.kea, ns6.code, ns6.space) == ("dns-servers", 23, "dhcp6")
    assert opts.by_kea("dhcp4", code=6) == opts.by_dhcpd_name("domain-name-servers")
    assert opts.by_kea("dhcp6", name="domain-search") == opts.by_dhcpd_name("dhcp6.domain-search")
    # names and codes are unique per space
    assert len({(o.space, o.kea) for o in opts.OPTIONS}) == len(opts.OPTIONS)
    assert len({(o.space, o.code) for o in opts.OPTIONS}) == len(opts.OPTIONS)


def test_canonical_form_of_keas_own_answers() -> None:
    from kea_etl.dhcp_options import canonical_option, canonical_option_data

    # reservation-get (Kea 3.0) spells every default out; the formatted value is kept as given
    kea = {"always-send": False, "never-send": False, "csv-format": True, "code": 6,
           "data": "192.0.2.53,192.0.2.54", "name": "domain-name-servers", "space": "dhcp4"}
    ours = {"name": "domain-name-servers", "code": 6, "space": "dhcp4", "data": "192.0.2.53, 192.0.2.54"}
    assert canonical_option(kea, 4) == ours
    # name only, or code only (a hosts database row has no name)
    assert canonical_option({"name": "dns-servers", "data": "2001:DB8::1"}, 6) == {
        "name": "dns-servers", "code": 23, "space": "dhcp6", "data": "2001:db8::1"}
    assert canonical_option({"code": 3, "data": "10.0.0.1"}, 4)["name"] == "routers"
    # what the table does not know is kept as it is (space filled in), a flag that is set too
    odd = {"name": "vivso-suboptions", "data": "4491", "always-send": True}
    assert canonical_option(odd, 4) == {**odd, "space": "dhcp4"}
    assert canonical_option({"code": 3, "data": "0a000001", "csv-format": False}, 4)["data"] == "0a000001"
    # order does not matter
    a = [{"name": "routers", "data": "10.0.0.1"}, {"name": "domain-name", "data": "x.org"}]
    assert canonical_option_data(a, 4) == canonical_option_data(reversed(a), 4)


def test_option_text_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "t.conf"
    p.write_bytes(b'host h { hardware ethernet 1:2:3:4:5:6; fixed-address 10.0.0.1;\n'
                  b'  option domain-name "\\377\\376";\n  option root-path "caf\xc3\xa9";\n}\n')
    (ext,) = isc_conf.extract(p)
    assert isinstance(ext, Extracted)
    assert ext.record.option_data == ({"name": "root-path", "code": 17, "space": "dhcp4",
                                       "data": "caf\u00e9"},)
    assert [(w.line, "not valid UTF-8" in str(w)) for w in ext.warnings] == [(2, True)]
