"""dhcpd.conf extractor: host declarations -> reservations, reported by line when untranslatable.

The fixtures are checked by the real dhcpd (``dhcpd -t``) so they are configurations dhcpd
accepts, and the translated reservations are checked by the real Kea (``kea-dhcp4 -t`` /
``kea-dhcp6 -t`` on a config holding them), so Kea accepts what comes out.
"""

from __future__ import annotations

import json
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
from kea_etl.extract.base import Extracted
from kea_etl.records import Reservation

DATA = Path(__file__).parent / "data_conf"


def split(items: Iterable[Any]) -> tuple[list[Extracted], list[MalformedRecordError]]:
    good: list[Extracted] = []
    bad: list[MalformedRecordError] = []
    for it in items:
        (bad if isinstance(it, MalformedRecordError) else good).append(it)
    return good, bad


def by_host(items: list[Extracted]) -> dict[str, list[Extracted]]:
    out: dict[str, list[Extracted]] = {}
    for it in items:
        out.setdefault(it.extra["dhcpd_host"], []).append(it)
    return out


def test_v4_hosts() -> None:
    good, bad = split(isc_conf.extract(DATA / "dhcpd.conf"))
    hosts = by_host(good)
    r = {name: [e.record for e in items] for name, items in hosts.items()}
    assert r["plain"] == [Reservation(family=4, identifier_type="hw-address", identifier="00:c0:c3:49:2b:57",
                                      ipv4_address="192.0.2.20")]
    # client-id wins over the MAC; the MAC is kept aside with a warning
    assert r["with-cid"] == [Reservation(family=4, identifier_type="client-id",
                                         identifier="01:08:00:2b:4c:29:32", ipv4_address="192.0.2.21",
                                         hostname="cid-host")]
    assert hosts["with-cid"][0].extra["alt_identifiers"] == ["hw-address=08:00:2b:4c:29:32"]
    assert [w[0] for w in hosts["with-cid"][0].extra["warnings"]] == [13]
    # quoted client-id: the string's bytes, escapes processed (\" and octal \101 = 'A')
    assert r["string-cid"][0].identifier == "61:62:22:63:41"
    assert r["old-uid"][0].identifier_type == "client-id"
    # two fixed addresses -> two reservations; ddns-hostname as hostname; next-server/filename
    assert [str(x.ipv4_address) for x in r["in-subnet"]] == ["192.0.2.30", "198.51.100.30"]
    assert {(x.hostname, str(x.next_server), x.boot_file_name) for x in r["in-subnet"]} == {
        ("ddns-name", "192.0.2.5", "pxelinux.0")}
    ins = hosts["in-subnet"][0]
    assert ins.extra["dhcpd_subnet"] == "192.0.2.0/24" and ins.line == 29
    assert [w[0] for w in ins.extra["warnings"]] == [35, 36]
    assert "option routers 192.0.2.254" in ins.extra["warnings"][0][1]
    # use-host-decl-names from the enclosing group; group filename/next-server inherited
    dn = hosts["decl-named"][0]
    assert (dn.record.hostname, dn.record.boot_file_name, str(dn.record.next_server)) == (
        "decl-named", "grub.efi", "198.51.100.2")
    assert dn.extra["dhcpd_shared_network"] == "campus" and dn.extra["dhcpd_subnet"] == "198.51.100.0/24"
    assert any("domain-name-servers" in w[1] and w[0] == 46 for w in dn.extra["warnings"])
    own = r["own-name"][0]
    assert (own.hostname, own.boot_file_name) == ("explicit", "own.efi")  # host-level wins
    # no use-host-decl-names in scope: no hostname from the declaration name
    assert r["no-decl-names"][0].hostname == ""
    assert r["included-1"][0].ipv4_address is not None
    assert hosts["included-1"][0].source.endswith("hosts.d/more.conf") and hosts["included-1"][0].line == 2
    assert all(e.record.subnet_id == 0 and e.record.family == 4 for e in good)
    assert len(good) == 10
    assert [(b.line, b.key) for b in bad] == [
        (60, "host by-name"), (61, "host token"), (62, "host nothing"), (63, "host denied"),
        (66, 'class "printers"'), (69, 'subclass "printers"')]
    assert "is a name, not an address" in str(bad[0])
    assert "found only: hardware token-ring" in str(bad[1])
    assert str(bad[2]).startswith(f"{DATA / 'dhcpd.conf'} line 62: host nothing has no fixed-address")


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
    assert [w[0] for w in ext.extra["warnings"]] == [6] and "expression" in ext.extra["warnings"][0][1]


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

@pytest.mark.parametrize(("conf", "flag"), [("dhcpd.conf", "-4"), ("dhcpd6.conf", "-6")])
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
@pytest.mark.parametrize(("conf", "family"), [("dhcpd.conf", 4), ("dhcpd6.conf", 6)])
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
    per_subnet: dict[int, list[dict[str, Any]]] = {sid: [] for sid in subnets}
    for e in good:
        assert isinstance(e.record, Reservation)
        per_subnet[_subnet_id(e.record, subnets)].append(e.record.to_kea_host())
    body: dict[str, Any] = {
        "interfaces-config": {"interfaces": []},
        "lease-database": {"type": "memfile", "persist": False},
        f"subnet{family}": [{"id": sid, "subnet": str(net), "reservations": per_subnet[sid]}
                            for sid, net in subnets.items()],
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
    assert [w[0] for w in ext.extra["warnings"]] == [2]
