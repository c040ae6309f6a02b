"""dnsmasq extractor: lease lines, the duid line, dhcp-host / dhcp-range forms, sniffing.

The lease lines follow dnsmasq 2.90's ``lease_update_file()``; tests/e2e/test_dnsmasq_real.py
reads a lease file the real server wrote. Dates come from the suite's clock.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kea_etl.errors import MalformedRecordError
from kea_etl.extract import dnsmasq, resolve_source
from kea_etl.extract.base import Extracted
from kea_etl.records import INFINITE_LIFETIME, Lease4, Lease6, Reservation
from kea_etl.report import SourceWarning
from tests.harness import clock

NOW = clock.now()


def _items(path: Path) -> list[object]:
    return list(dnsmasq.extract(path))


def _leases(tmp_path: Path, text: str) -> list[object]:
    p = tmp_path / "dnsmasq.leases"
    p.write_text(text)
    return _items(p)


# ---- lease file -------------------------------------------------------------------------------

def test_v4_and_v6_lines(tmp_path: Path) -> None:
    exp = NOW + 3000
    items = _leases(tmp_path, (
        f"{exp} 00:0c:0d:00:00:01 10.99.0.176 host1 01:00:0c:0d:00:00:01\n"
        f"{exp} 00:0c:0d:00:00:02 10.99.0.177 * *\n"
        "0 00:0c:0d:00:00:0a 10.99.0.51 fixed10 *\n"
        "duid 00:01:00:01:32:a5:af:fd:ba:32:e9:4e:d3:68\n"
        f"{exp} 1 2001:db8:100::11cc * 00:01:00:01:00:00:00:00:00:0c:0d:06:00:04\n"
        f"{exp} T7 2001:db8:100::11cd laptop 00:03:00:01:00:0c:0d:06:00:05\n"))
    recs = [i for i in items if isinstance(i, Extracted)]
    assert [r.line for r in recs] == [1, 2, 3, 5, 6]
    a, b, inf, v6, ta = (r.record for r in recs)
    assert isinstance(a, Lease4) and (a.hwaddr, a.client_id, a.hostname) == (
        "00:0c:0d:00:00:01", "01:00:0c:0d:00:00:01", "host1")
    assert a.expire == exp and a.cltt <= clock.now() + 1
    assert isinstance(b, Lease4) and (b.client_id, b.hostname) == (None, "")
    assert isinstance(inf, Lease4) and inf.valid_lft == INFINITE_LIFETIME
    assert isinstance(v6, Lease6) and (v6.iaid, v6.duid, v6.lease_type) == (
        1, "00:01:00:01:00:00:00:00:00:0c:0d:06:00:04", "IA_NA")
    assert recs[3].extra["server_duid"] == "00:01:00:01:32:a5:af:fd:ba:32:e9:4e:d3:68"
    assert isinstance(ta, Lease6) and (ta.iaid, ta.lease_type, ta.hostname) == (7, "IA_TA", "laptop")
    (note,) = [i for i in items if isinstance(i, SourceWarning)]
    assert note.line == 4 and "server DUID" in note.reason


def test_lease_time_given_and_expired(tmp_path: Path) -> None:
    lease = dnsmasq.parse_lease_line(f"{NOW + 100} 00:0c:0d:00:00:01 10.0.0.1 * *",
                                     lease_time=43200)
    assert (lease.valid_lft, lease.expire) == (43200, NOW + 100)
    old = dnsmasq.parse_lease_line(f"{NOW - 100} 00:0c:0d:00:00:01 10.0.0.1 * *", now=NOW)
    assert (old.expire, old.cltt) == (NOW - 100, NOW - 100 - dnsmasq.DEFAULT_LEASE_TIME)
    live = dnsmasq.parse_lease_line(f"{NOW + 100} 00:0c:0d:00:00:01 10.0.0.1 * *", now=NOW)
    assert (live.cltt, live.valid_lft) == (NOW, 100)


def test_hardware_type_prefix(tmp_path: Path) -> None:
    items = _leases(tmp_path, f"{NOW + 60} 06-00:0c:0d:00:00:01 10.0.0.1 * *\n"
                              f"{NOW + 60} 01-00:0c:0d:00:00:02 10.0.0.2 * *\n"
                              f"{NOW + 60} 00- 10.0.0.3 * 01:02:03\n")
    tr, eth, none = (i for i in items if isinstance(i, Extracted))
    assert tr.record.hwaddr == "00:0c:0d:00:00:01" and "hardware type 6" in \
        tr.warnings[0].reason
    assert eth.record.hwaddr == "00:0c:0d:00:00:02" and "warnings" not in eth.extra
    assert none.record.hwaddr is None and none.record.client_id == "01:02:03"


def test_malformed_lines_are_failed_with_line(tmp_path: Path) -> None:
    items = _leases(tmp_path, (f"{NOW + 60} 00:0c:0d:00:00:01 10.0.0.1 * *\n"
                               "\n"
                               "soon 00:0c:0d:00:00:01 10.0.0.2 * *\n"
                               f"{NOW} 00:0c:0d:00:00:01 10.0.0.3 *\n"
                               f"{NOW} zz:0c 10.0.0.4 * *\n"
                               "duid 00:01\n"
                               f"{NOW} x 2001:db8::1 * 00:01\n"
                               f"{NOW} 1 2001:db8::2 * *\n"))
    bad = [i for i in items if isinstance(i, MalformedRecordError)]
    assert [(b.line, b.key) for b in bad] == [(3, "10.0.0.2"), (4, "10.0.0.3"), (5, "10.0.0.4"),
                                              (7, "2001:db8::1"), (8, "2001:db8::2")]
    assert "not epoch seconds" in bad[0].reason and "5 fields" in bad[1].reason
    assert "not a decimal" in bad[3].reason and "without the client's DUID" in bad[4].reason


_hex = st.lists(st.integers(0, 255), min_size=1, max_size=20).map(lambda b: bytes(b).hex(":"))
_host = st.from_regex(r"[a-z][a-z0-9\-]{0,20}", fullmatch=True) | st.just("")
_expiry = st.integers(1, 0xFFFFFFFF) | st.just(0)


@settings(max_examples=200, deadline=None)
@given(addr=st.integers(1, 2**32 - 2), mac=st.lists(st.integers(0, 255), min_size=6, max_size=6),
       cid=_hex | st.none(), host=_host, expiry=_expiry)
def test_v4_round_trip(addr: int, mac: list[int], cid: str | None, host: str, expiry: int) -> None:
    line = f"{expiry} {bytes(mac).hex(':')} {IPv4Address(addr)} {host or '*'} {cid or '*'}"
    lease = dnsmasq.parse_lease_line(line, now=NOW)
    assert dnsmasq.lease_line(lease) == line
    assert lease.valid_lft == INFINITE_LIFETIME if expiry == 0 else lease.expire == expiry


@settings(max_examples=200, deadline=None)
@given(addr=st.integers(1, 2**128 - 1), iaid=st.integers(0, 0xFFFFFFFF), duid=_hex, host=_host,
       expiry=_expiry, temporary=st.booleans())
def test_v6_round_trip(addr: int, iaid: int, duid: str, host: str, expiry: int,
                       temporary: bool) -> None:
    line = (f"{expiry} {'T' if temporary else ''}{iaid} {IPv6Address(addr)} {host or '*'} "
            f"{duid}")
    lease = dnsmasq.parse_lease_line(line, now=NOW, family=6)
    assert dnsmasq.lease_line(lease) == line


# ---- sniffing -----------------------------------------------------------------------------------

def test_detected_from_content(tmp_path: Path) -> None:
    leases = tmp_path / "a"
    leases.write_text(f"{NOW} 00:0c:0d:00:00:01 10.0.0.1 * *\n")
    v6 = tmp_path / "b"
    v6.write_text("duid 00:01:00:01:32:a5\n")
    conf = tmp_path / "c"
    conf.write_text("# home\ndomain-needed\ndhcp-range=10.0.0.10,10.0.0.50,12h\n")
    for p in (leases, v6, conf):
        assert resolve_source(str(p)).format == "dnsmasq", p
    assert not dnsmasq.sniff(b"lease 10.0.0.1 {\n  starts 4 2026/11/26 21:00:00;\n}\n")
    assert not dnsmasq.sniff(b"address,hwaddr,client_id\n10.0.0.1,00:01,\n")
    assert not dnsmasq.sniff(b"host a { hardware ethernet 00:01:02:03:04:05; }\n")


# ---- configuration ----------------------------------------------------------------------------

CONF = """\
# dnsmasq.conf
domain-needed
interface=eth0   # LAN
dhcp-range=set:lan,192.168.0.50,192.168.0.150,255.255.255.0,12h
dhcp-range=192.168.1.0,static
dhcp-range=2001:db8:1::100,2001:db8:1::1ff,64,1h
dhcp-range=::,constructor:eth0,ra-stateless
dhcp-host=00:20:e0:3b:13:af,wap,infinite
dhcp-host=11:22:33:44:55:66,12:34:56:78:90:12,192.168.0.2
dhcp-host=id:01:02:03:04,192.168.0.3,cid-host,set:printers,tag:!known
dhcp-host=id:clientidastext,192.168.0.4
dhcp-host=00:11:22:33:44:01,id:*,192.168.1.5,static1
dhcp-host=laptop,192.168.0.199
dhcp-host=00:20:e0:3b:13:*,ignore
dhcp-host=00:11:22:33:44:02,ignore
dhcp-host=id:00:01:00:01:aa:bb:cc:dd:ee:ff,[2001:db8:1::5],v6host
dhcp-host=00:11:22:33:44:03,192.168.0.6,[::56],dual
dhcp-host=00:11:22:33:44:04,[2001:db8:1::50/126]
dhcp-host=06-00:11:22:33:44:05,192.168.0.7,45m
dhcp-host=00:11:22:33:44:06,a=b
"""


def test_dhcp_host_forms(tmp_path: Path) -> None:
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text(CONF)
    items = _items(conf)
    recs = {(i.line, i.record.family): i for i in items if isinstance(i, Extracted)}
    bad = {i.line: i.reason for i in items if isinstance(i, MalformedRecordError)}
    notes = [(i.line, i.statement, i.reason) for i in items if isinstance(i, SourceWarning)]
    for i in items:
        if isinstance(i, Extracted):
            notes += [(w.line, w.statement, w.reason) for w in i.warnings]

    def r(line: int, family: int = 4) -> Reservation:
        rec = recs[(line, family)].record
        assert isinstance(rec, Reservation)
        return rec

    assert r(8) == Reservation(family=4, identifier_type="hw-address",
                               identifier="00:20:e0:3b:13:af", hostname="wap")
    assert (r(9).identifier, r(9).ipv4_address) == ("11:22:33:44:55:66", IPv4Address("192.168.0.2"))
    assert recs[(9, 4)].extra["alt_identifiers"] == [{"hw-address": "12:34:56:78:90:12"}]
    assert (r(10).identifier_type, r(10).identifier, r(10).client_classes) == (
        "client-id", "01:02:03:04", ("printers",))
    assert recs[(10, 4)].extra["dnsmasq_range"] == "192.168.0.0/24"
    assert r(11).identifier == b"clientidastext".hex(":")
    assert (r(12).identifier_type, r(12).hostname) == ("hw-address", "static1")
    assert r(16, 6) == Reservation(family=6, identifier_type="duid",
                                   identifier="00:01:00:01:aa:bb:cc:dd:ee:ff",
                                   ip_addresses=(IPv6Address("2001:db8:1::5"),), hostname="v6host")
    assert r(17).ipv4_address == IPv4Address("192.168.0.6")
    assert r(17, 6).ip_addresses == (IPv6Address("2001:db8:1::56"),)
    assert r(19).identifier == "00:11:22:33:44:05"
    assert set(bad) == {13, 14, 15, 18, 20}
    assert "hostname" in bad[13] and "ignore" in bad[14] and "ignore" in bad[15]
    assert "range per host" in bad[18] and "'a=b'" in bad[20]
    lines = {(ln, st) for ln, st, _ in notes}
    assert {(2, "domain-needed"), (3, "interface=eth0"), (8, "infinite"),
            (9, "12:34:56:78:90:12"), (10, "tag:!known"), (19, "45m")} <= lines
    ranges = {ln: reason for ln, st, reason in notes if st.startswith("dhcp-range")}
    assert "192.168.0.0/24, pool 192.168.0.50 - 192.168.0.150, valid-lifetime 43200" in ranges[4]
    assert "no pool" in ranges[5] and "constructor" in ranges[7]
    # every non-comment line is accounted for: a record, a failure or a warning
    accounted = {k[0] for k in recs} | set(bad) | {ln for ln, _s, _r in notes}
    assert accounted == set(range(2, CONF.count("\n") + 1))


def test_subnet_hints(tmp_path: Path) -> None:
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text(CONF)
    hints = dnsmasq.subnet_hints(conf)
    assert [(h.network, h.pool, h.lease_time, h.tags) for h in hints] == [
        (IPv4Network("192.168.0.0/24"), "192.168.0.50 - 192.168.0.150", 43200, ("lan",)),
        (IPv4Network("192.168.1.0/24"), None, None, ()),
        (IPv6Network("2001:db8:1::/64"), "2001:db8:1::100 - 2001:db8:1::1ff", 3600, ()),
    ]


@pytest.mark.parametrize("value", ["10.0.0.10,10.1.0.10", "10.0.0.1,10.0.0.9,255.255.255.0,1h,x"])
def test_bad_range(value: str) -> None:
    with pytest.raises(ValueError):
        dnsmasq.parse_dhcp_range(value)


SAMPLE = Path(__file__).resolve().parents[2] / "sample-data"


@pytest.mark.skipif(not (SAMPLE / "dnsmasq.leases").exists(), reason="sample not generated")
def test_sample_made_by_real_dnsmasq() -> None:
    """sample-data/dnsmasq.leases (scripts/make-dnsmasq-sample): every line is read."""
    items = list(dnsmasq.extract(SAMPLE / "dnsmasq.leases"))
    recs = [i.record for i in items if isinstance(i, Extracted)]
    assert (sum(isinstance(r, Lease4) for r in recs), sum(isinstance(r, Lease6) for r in recs)) == (
        24, 10)
    assert [type(i) for i in items if not isinstance(i, Extracted)] == [SourceWarning]
    conf = list(dnsmasq.extract(SAMPLE / "dnsmasq.conf"))
    hosts = [i.record for i in conf if isinstance(i, Extracted)]
    assert len(hosts) == 5 and sum(isinstance(i, MalformedRecordError) for i in conf) == 2


def test_dhcp_hostsfile(tmp_path: Path) -> None:
    """--dhcp-hostsfile lines: dhcp-host values without the key, named dnsmasq:PATH."""
    hosts = tmp_path / "dhcp-hosts"
    hosts.write_text("# static hosts\n00:11:22:33:44:55,192.168.0.10,nas\nid:01:02:03,192.168.0.11\n"
                     "lonely,192.168.0.12\n")
    items = list(resolve_source(f"dnsmasq:{hosts}").open())
    recs = [i.record for i in items if isinstance(i, Extracted)]
    assert [(r.identifier_type, str(r.ipv4_address)) for r in recs] == [
        ("hw-address", "192.168.0.10"), ("client-id", "192.168.0.11")]
    assert [i.line for i in items if isinstance(i, MalformedRecordError)] == [4]


@pytest.mark.parametrize("reader", ["extract_leases", "extract_conf"])
def test_a_fifo_is_refused_by_what_it_is(tmp_path: Path, reader: str) -> None:
    """Only regular files are read: a FIFO with no writer would block the reader forever."""
    import os

    from kea_etl import errors
    from kea_etl.extract import dnsmasq

    fifo = tmp_path / "dnsmasq.leases"
    os.mkfifo(fifo)
    with pytest.raises(errors.ConfigError, match="FIFO"):
        list(getattr(dnsmasq, reader)(fifo))
