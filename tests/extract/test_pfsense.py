"""pfSense / OPNsense config.xml static mappings -> reservations.

tests/extract/data_pfsense/*.xml are built from the format pfSense's own code reads and writes
(pfsense/pfsense src/usr/local/www/services_dhcp_edit.php, src/etc/inc/services.inc; OPNsense
core src/www/services_dhcp_edit.php), see docs/sources.md.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kea_etl.errors import ConfigError, MalformedRecordError
from kea_etl.extract import pfsense, resolve_source
from kea_etl.extract.base import Extracted
from kea_etl.records import Reservation
from kea_etl.report import SourceWarning

DATA = Path(__file__).parent / "data_pfsense"
PF = DATA / "pfsense-config.xml"
OPN = DATA / "opnsense-config.xml"


def _split(path: Path) -> tuple[dict[int, Extracted], dict[int, str], list[SourceWarning]]:
    items = list(pfsense.extract(path))
    recs = {i.line: i for i in items if isinstance(i, Extracted) and i.line is not None}
    bad = {i.line: i.reason for i in items if isinstance(i, MalformedRecordError)
           and i.line is not None}
    notes = [i for i in items if isinstance(i, SourceWarning)]
    for i in items:
        if isinstance(i, Extracted):
            notes += i.warnings
    return recs, bad, notes


def test_detected_and_named() -> None:
    assert resolve_source(str(PF)).format == "pfsense"
    assert resolve_source(str(OPN)).format == "pfsense"
    assert resolve_source(f"pfsense:{PF}").format == "pfsense"


def test_pfsense_static_mappings() -> None:
    recs, bad, notes = _split(PF)

    def r(line: int) -> Reservation:
        rec = recs[line].record
        assert isinstance(rec, Reservation)
        return rec

    assert r(48) == Reservation(family=4, identifier_type="hw-address",
                                identifier="00:11:22:33:44:01", ipv4_address="192.168.1.10",
                                hostname="nas", user_context={"comment": "Synology NAS"})
    assert recs[48].extra["pfsense_subnet"] == "192.168.1.0/24"
    # MAC and cid: the MAC is kept (pfSense's Kea backend), the cid is a warning
    assert (r(71).identifier_type, recs[71].extra["alt_identifiers"]) == (
        "hw-address", [{"client-id": b"printer-2".hex(":")}])
    assert (r(78).identifier_type, r(78).identifier) == ("client-id", "01:00:11:22:33:44:03")
    assert r(84).identifier == b"kiosk-lobby".hex(":")
    lab = r(89)
    assert lab.hostname == "lab_pc_5" and lab.boot_file_name == "pxelinux.0"
    assert {o["name"]: o["data"] for o in lab.option_data} == {
        "routers": "192.168.1.254", "domain-name-servers": "192.168.1.53, 9.9.9.9",
        "domain-name": "lab.home.arpa", "domain-search": "lab.home.arpa, home.arpa",
        "netbios-name-servers": "192.168.1.20", "netbios-node-type": "8",
        "ntp-servers": "192.168.1.1", "root-path": "/srv/nfs/lab"}
    assert r(108).option_data == ()  # same DNS and gateway as the interface: nothing per host
    tv = r(115)
    assert (tv.identifier, tv.ipv4_address, tv.hostname) == ("aa:bb:cc:dd:ee:07", None,
                                                            "Living_Room_TV")
    assert r(148).ipv4_address == IPv4Address("10.20.0.10")
    assert "pfsense_subnet" not in recs[155].extra  # opt9 is not in <interfaces>
    v6 = r(168)
    assert (v6.family, v6.identifier_type, v6.ip_addresses) == (
        6, "duid", (IPv6Address("2001:db8:1::10"),))
    assert [o["name"] for o in r(174).option_data] == ["dns-servers"]
    assert set(bad) == {120, 126, 131, 180, 186}
    assert "MAC or a client identifier" in bad[120] and "outside the lan subnet" in bad[126]
    assert "track6" in bad[186]
    where = {(n.line, n.statement.split(">")[0] + ">") for n in notes}
    assert {(73, "<cid>"), (96, "<defaultleasetime>"), (97, "<maxleasetime>"),
            (105, "<ddnsupdate>"), (106, "<arp_table_static_entry>"), (139, "<custom_option>"),
            (39, "<dhcpd>"), (154, "<dhcpd>"), (185, "<dhcpdv6>")} <= where
    assert not any(n.line == 64 for n in notes)  # pfSense's default key algorithm: not a setting


def test_opnsense_static_mappings() -> None:
    recs, bad, notes = _split(OPN)
    assert not bad
    assert [(recs[k].record.identifier_type, recs[k].record.identifier) for k in sorted(recs)] == [
        ("hw-address", "52:54:00:10:00:01"), ("hw-address", "52:54:00:10:00:02"),
        ("client-id", "01:52:54:00:10:00:03")]
    stmts = {n.statement for n in notes}
    assert "<gateway>none</gateway>" in stmts
    # OPNsense writes booleans as 0/1 and empty list elements: neither is a setting
    assert not any("arp_table" in s or "ddnsupdate" in s or "dnsserver" in s for s in stmts)


@pytest.mark.parametrize("body", [
    '<?xml version="1.0"?>\n<!DOCTYPE pfsense [<!ENTITY a "aaaaaaaa">]>\n<pfsense>&a;</pfsense>',
    '<?xml version="1.0"?>\n<!DOCTYPE pfsense SYSTEM "http://example.invalid/x.dtd">\n<pfsense/>',
])
def test_dtd_refused(tmp_path: Path, body: str) -> None:
    p = tmp_path / "config.xml"
    p.write_text(body)
    with pytest.raises(ConfigError, match="document type declaration"):
        list(pfsense.extract(p))


def test_not_xml_or_other_root(tmp_path: Path) -> None:
    p = tmp_path / "config.xml"
    p.write_text("<pfsense><dhcpd></pfsense>")
    with pytest.raises(ConfigError, match="not well-formed XML: mismatched tag: line 1"):
        list(pfsense.extract(p))
    p.write_text("<other/>")
    with pytest.raises(ConfigError, match="root element <other>"):
        list(pfsense.extract(p))


_mac = st.lists(st.integers(0, 255), min_size=6, max_size=6).map(lambda b: bytes(b).hex(":"))
_host = st.from_regex(r"[A-Za-z][A-Za-z0-9\-]{0,20}", fullmatch=True)


@settings(max_examples=100, deadline=None)
@given(maps=st.lists(st.tuples(_mac, st.integers(2, 254), _host), min_size=1, max_size=8,
                     unique_by=lambda t: t[0]))
def test_round_trip(tmp_path_factory: pytest.TempPathFactory,
                    maps: list[tuple[str, int, str]]) -> None:
    """Reservations written as pfSense staticmaps come back identical."""
    body = "".join(f"<staticmap><mac>{m.upper().replace(':', '-')}</mac>"
                   f"<ipaddr>192.168.7.{h}</ipaddr><hostname>{n}</hostname></staticmap>\n"
                   for m, h, n in maps)
    p = tmp_path_factory.mktemp("pf") / "config.xml"
    p.write_text("<?xml version=\"1.0\"?>\n<pfsense><interfaces><lan><ipaddr>192.168.7.1</ipaddr>"
                 f"<subnet>24</subnet></lan></interfaces><dhcpd><lan>\n{body}</lan></dhcpd>"
                 "</pfsense>\n")
    got = [i.record for i in pfsense.extract(p) if isinstance(i, Extracted)]
    assert got == [Reservation(family=4, identifier_type="hw-address", identifier=m,
                               ipv4_address=f"192.168.7.{h}", hostname=n) for m, h, n in maps]
