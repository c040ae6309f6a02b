"""Unit and property tests of the dhcpd.leases / dhcpd6.leases extractor.

Fixture files live in tests/extract/data/ and are small, hand-written in dhcpd's own layout (the
ones marked "written by isc-dhcp-4.4.3-P1" follow what dhcpd 4.4.3 wrote when it rewrote them;
tests/extract/test_isc_leases_differential.py feeds them to a real dhcpd). Expected values below
are computed independently (calendar.timegm on the literal dates of the fixture).
"""

from __future__ import annotations

import calendar
import dataclasses
import tempfile
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kea_etl.errors import ConfigError, MalformedRecordError
from kea_etl.extract import isc_leases
from kea_etl.extract.base import Extracted
from kea_etl.extract.isc_leases import extract, sniff
from kea_etl.records import INFINITE_LIFETIME, Lease4, Lease6, Reservation
from tests.harness.leasefile import dhcpd_date, quote

DATA = Path(__file__).parent / "data"


def utc(text: str) -> int:
    """Epoch of 'YYYY/MM/DD HH:MM:SS' (UTC)."""
    day, clock = text.split()
    y, mo, d = (int(x) for x in day.split("/"))
    h, mi, s = (int(x) for x in clock.split(":"))
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))


def items(name: str, **kw: Any) -> list[Extracted | MalformedRecordError]:
    return list(extract(DATA / name, **kw))


def good(name: str, **kw: Any) -> dict[str, Extracted]:
    out: dict[str, Extracted] = {}
    for it in items(name, **kw):
        assert isinstance(it, Extracted), str(it)
        assert it.key not in out
        out[it.key] = it
    return out


def errors(its: Iterable[Extracted | MalformedRecordError]) -> list[MalformedRecordError]:
    return [i for i in its if isinstance(i, MalformedRecordError)]


# --------------------------------------------------------------------------------------------
# sniff


def test_sniff_recognises_lease_files_and_not_others() -> None:
    for name in ("v4-states.leases", "v4-history.leases", "v6-octal.leases", "v6-hex.leases",
                 "v4-extras.leases", "v6-no-byte-order.leases", "v4-formats.leases"):
        assert sniff((DATA / name).read_bytes()[:1024]), name
    assert sniff(b"# The format of this file is documented in the dhcpd.leases(5) manual page.\n")
    assert not sniff(b"subnet 192.0.2.0 netmask 255.255.255.0 {\n  range 192.0.2.10 192.0.2.20;\n"
                     b"}\nhost a { hardware ethernet 00:11:22:33:44:55; }\n"
                     b"failover peer \"x\" {\n  primary;\n}\nlease-id-format hex;\n")
    assert not sniff(b"address,hwaddr,client_id,valid_lifetime,expire,subnet_id\n")
    assert not sniff(b"")


# --------------------------------------------------------------------------------------------
# v4


def test_active_lease_all_fields() -> None:
    it = good("v4-states.leases")["192.0.2.10"]
    rec = it.record
    assert isinstance(rec, Lease4)
    assert rec.address == IPv4Address("192.0.2.10")
    assert rec.hwaddr == "00:11:22:33:44:0a"
    # uid "\001\000\021\"3D\012": octal escapes and an escaped quote
    assert rec.client_id == "01:00:11:22:33:44:0a"
    assert rec.hostname == "alpha"
    assert rec.cltt == utc("2026/11/27 20:00:00")
    assert rec.valid_lft == 86400
    assert rec.expire == utc("2026/11/28 20:00:00")
    assert rec.subnet_id == 0 and rec.state == 0
    assert it.binding_state == "active"
    assert it.line == 7 and rec.line == 7
    assert it.source.endswith("v4-states.leases")
    assert it.extra == {
        "starts": utc("2026/11/27 20:00:00"), "ends": utc("2026/11/28 20:00:00"),
        "tstp": utc("2026/11/28 20:00:00"), "cltt": utc("2026/11/27 20:00:00"),
        "next-binding-state": "free", "rewind-binding-state": "free",
        "client-hostname": "alpha"}


def test_every_binding_state() -> None:
    got = good("v4-states.leases")
    assert {k: v.binding_state for k, v in got.items()} == {
        "192.0.2.10": "active", "192.0.2.11": "free", "192.0.2.12": "abandoned",
        "192.0.2.13": "backup", "192.0.2.14": "expired", "192.0.2.15": "released",
        "192.0.2.16": "active"}
    assert [v.line for v in got.values()] == [7, 19, 28, 37, 44, 53, 62]


def test_lifetime_rules() -> None:
    got = {k: v.record for k, v in good("v4-states.leases").items()}
    # free lease: ends - cltt, expiry kept
    assert (got["192.0.2.11"].cltt, got["192.0.2.11"].valid_lft) == (utc("2026/11/26 08:00:00"),
                                                                   12 * 3600)
    # released: ends == cltt -> valid 0, cltt = ends (expiry kept exactly)
    assert (got["192.0.2.15"].cltt, got["192.0.2.15"].valid_lft) == (utc("2026/11/27 09:30:00"), 0)
    # ends never -> Kea's infinite lifetime, cltt kept
    assert got["192.0.2.16"].valid_lft == INFINITE_LIFETIME == 4294967295
    assert got["192.0.2.16"].cltt == utc("2026/11/27 12:00:00")
    # backup lease: no ends, no cltt, no client -> expired at starts, no hwaddr (isc #20)
    backup = got["192.0.2.13"]
    assert (backup.cltt, backup.valid_lft, backup.hwaddr) == (utc("2017/10/10 12:05:14"), 0, None)


def test_history_last_block_wins_and_nothing_leaks() -> None:
    its = items("v4-history.leases")
    assert [(i.key, i.line) for i in its] == [("192.0.2.20", 22), ("192.0.2.21", 30)]
    new = its[0]
    assert isinstance(new, Extracted) and isinstance(new.record, Lease4)
    assert new.record.hwaddr == "00:11:22:33:44:99"
    # the earlier block's uid, client-hostname and set statement must not leak into the winner
    assert new.record.client_id is None
    assert new.record.hostname == ""
    assert "set" not in new.extra and "client-hostname" not in new.extra
    # an active lease followed by a free block for the same address yields the free one
    assert isinstance(its[1], Extracted) and its[1].binding_state == "free"


def test_formats_epoch_never_case_hex_uid_escapes_openbsd() -> None:
    got = good("v4-formats.leases")
    a = got["192.0.2.30"]
    assert isinstance(a.record, Lease4)
    assert a.extra["starts"] == 1795809600 and a.extra["ends"] == 1795813200
    assert (a.record.cltt, a.record.valid_lft) == (1795809660, 3540)
    assert a.record.hwaddr == "00:aa:bb:cc:dd:ee"          # upper case canonicalised
    assert a.record.client_id == "01:00:aa:bb:cc:dd:ee"    # lease-id-format hex
    assert a.record.hostname == 'say "hi"'                 # escaped quotes
    b = got["192.0.2.31"]
    assert isinstance(b.record, Lease4)
    assert b.record.hwaddr == "00:aa:0b:cc:0d:0e"          # unpadded hex
    assert b.record.client_id == "ff:5c:00:78"             # "\377\\\000x"
    assert b.record.valid_lft == INFINITE_LIFETIME and b.extra["ends"] is None
    # OpenBSD dhcpd: " UTC" suffix and no binding state; a bare "abandoned;"
    assert got["192.0.2.32"].binding_state == "active"
    assert got["192.0.2.32"].record.expire == utc("2026/11/28 20:00:00")
    assert got["192.0.2.33"].binding_state == "abandoned"
    # two statements on one line; ends before cltt -> valid 0 and expiry kept
    c = got["192.0.2.34"].record
    assert (c.cltt, c.valid_lft) == (utc("2026/11/27 19:00:00"), 0)


def test_sets_options_nested_blocks_and_other_declarations() -> None:
    its = items("v4-extras.leases")
    # server-duid is no record; the OMAPI host block is a reservation (after the leases)
    assert [i.key for i in its] == ["192.0.2.40", "192.0.2.41", "hw-address=00:11:22:33:44:ff@0"]
    a, b, h = its
    assert isinstance(a, Extracted) and isinstance(b, Extracted) and isinstance(h, Extracted)
    assert h.record == Reservation(family=4, identifier_type="hw-address",
                                   identifier="00:11:22:33:44:ff", ipv4_address="192.0.2.200")
    assert (h.source, h.line, h.extra["dhcpd_host"]) == (str(DATA / "v4-extras.leases"), 47,
                                                         "fixed-by-omapi")
    assert a.extra["set"] == {
        "ddns-rev-name": "40.2.0.192.in-addr.arpa.",   # "unset" inside on expiry is no state
        "ddns-txt": "318c69bdba3fa3d9b8a7d3a8e16bc7ee22",
        "ddns-fwd-name": "forty.example.com",
        "vendor-class-identifier": "MSFT 5.0",
        "counter": 42,
        "flag": True}
    assert a.extra["circuit-id"] == b"eth0/1:100".hex(":")
    assert a.extra["remote-id"] == "00:1a:2b:3c:4d:5e"
    assert (a.extra["tstp"], a.extra["tsfp"], a.extra["atsfp"]) == (utc("2026/11/28 08:00:00"),) * 3
    assert a.record.hostname == "forty"
    assert a.line == 7
    assert b.extra["reserved"] is True
    assert b.extra["hardware-type"] == "token-ring"
    # no client-hostname: the name dhcpd used in DNS
    assert b.record.hostname == "no-client-hostname.example.com"


def test_failover_state_billing_and_backup() -> None:
    its = items("v4-failover.leases")
    assert [(i.key, i.line) for i in its] == [("192.0.2.70", 13), ("192.0.2.71", 25)]
    a, b = its
    assert isinstance(a, Extracted) and isinstance(b, Extracted)
    assert a.extra["billing"] == 'class "gold"'
    assert a.extra["next-binding-state"] == "expired"
    assert b.binding_state == "backup" and b.record.hwaddr is None
    assert b.extra == {k: utc("2017/10/10 12:05:14") for k in ("starts", "tstp", "tsfp", "atsfp")}


def test_truncated_copy_keeps_everything_before() -> None:
    its = items("v4-truncated.leases")
    assert [(type(i).__name__, i.line, i.key) for i in its] == [
        ("Extracted", 3, "192.0.2.29"),
        ("Extracted", 11, "192.0.2.30"),      # the complete earlier block survives
        ("MalformedRecordError", 19, "192.0.2.30")]
    err = its[2]
    assert str(err).endswith("v4-truncated.leases line 19: "
                             "lease 192.0.2.30 is truncated (no closing brace)")
    assert isinstance(err, MalformedRecordError) and err.source.endswith("v4-truncated.leases")


def test_file_without_final_newline() -> None:
    got = good("v4-no-final-newline.leases")
    assert list(got) == ["192.0.2.50"]


def test_malformed_blocks_among_good_ones() -> None:
    its = items("v4-malformed.leases")
    summary = [(type(i).__name__, i.line, i.key) for i in its]
    assert summary == [
        ("Extracted", 3, "192.0.2.60"),
        ("MalformedRecordError", 9, "192.0.2.61"),     # month 13
        ("MalformedRecordError", 15, "192.0.2.62"),    # binding state dancing
        ("MalformedRecordError", 21, "192.0.2.300"),   # not an address
        ("MalformedRecordError", 27, "192.0.2.63"),    # garbage statement (its own line)
        ("MalformedRecordError", 30, "192.0.2.64"),    # no closing brace before the next lease
        ("Extracted", 35, "192.0.2.65"),
        ("MalformedRecordError", 42, "192.0.2.66"),    # bad MAC
        ("MalformedRecordError", 48, None),            # garbage between blocks
        ("Extracted", 49, "192.0.2.67"),
    ]
    texts = [str(e).split(": ", 1)[1] for e in errors(its)]
    assert texts == [
        "lease 192.0.2.61: invalid date '5 2026/13/27 20:00:00': month must be in 1..12",
        "lease 192.0.2.62: unknown binding state 'dancing'",
        "lease '192.0.2.300' does not name an IPv4 address",
        "lease 192.0.2.63 has a statement that cannot be parsed: 'this is not a statement'",
        "lease 192.0.2.64 is truncated (no closing brace)",
        "lease 192.0.2.66: invalid hwaddr 'zz:11:22:33:44:66': not colon-separated hex bytes",
        "unexpected text between blocks: 'this line is garbage;'",
    ]


ALL_FIXTURES = sorted(p.name for p in DATA.glob("*.leases"))


def _summary(its: list[Extracted | MalformedRecordError]) -> list[tuple[Any, ...]]:
    return [(repr(i.record), i.binding_state, i.line, sorted(i.extra.items(), key=str))
            if isinstance(i, Extracted) else (str(i), i.key) for i in its]


@pytest.mark.parametrize("name", ALL_FIXTURES)
@pytest.mark.parametrize("chunk", [1, 17, 100, 4096])
def test_chunk_size_does_not_change_the_result(name: str, chunk: int) -> None:
    assert _summary(items(name, chunk_size=chunk)) == _summary(items(name))


def test_family_option_reports_the_other_family() -> None:
    its = items("v4-history.leases", family=6)
    assert [str(e).split(": ", 1)[1] for e in errors(its)] == [
        "lease 192.0.2.20 is a DHCPv4 block in a file read as DHCPv6",
        "lease 192.0.2.21 is a DHCPv4 block in a file read as DHCPv6"]
    its6 = items("v6-octal.leases", family=4)
    assert its6 and all(isinstance(i, MalformedRecordError) for i in its6)
    assert good("v4-history.leases", family=4).keys() == {"192.0.2.20", "192.0.2.21"}


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the lease file"):
        list(extract(tmp_path / "nope.leases"))
    with pytest.raises(ConfigError, match="byte_order"):
        list(extract(DATA / "v6-octal.leases", byte_order="middle"))  # type: ignore[arg-type]


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "dhcpd.leases"
    p.write_text("")
    assert list(extract(p)) == []


def test_fast_constructors_equal_the_validated_ones() -> None:
    """The parser builds records without re-validation; they must equal validated ones."""
    for name in ("v4-states.leases", "v4-extras.leases", "v4-formats.leases"):
        for it in good(name).values():
            rec = it.record
            if isinstance(rec, Reservation):  # an OMAPI host (validated by isc_conf)
                continue
            assert isinstance(rec, Lease4)
            for f in dataclasses.fields(Lease4):
                getattr(rec, f.name)  # every slot is set
            again = Lease4(**{f.name: getattr(rec, f.name) for f in dataclasses.fields(Lease4)})
            assert again == rec and hash(again) == hash(rec)
            assert (again.origin, again.line) == (rec.origin, rec.line)
            assert type(rec.address) is IPv4Address and rec.address == IPv4Address(it.key)
            assert Extracted(record=rec, binding_state=it.binding_state, source=it.source,
                             line=it.line, extra=it.extra) == it


# --------------------------------------------------------------------------------------------
# v6

DUID_A = "00:01:00:01:32:9c:af:75:00:11:22:33:44:55"
DUID_B = "00:03:00:01:00:11:22:33:44:66"


def expected_v6() -> dict[str, tuple[str, str, int, str, int, int, int, str]]:
    """key -> (type, duid, iaid, state, cltt, valid, preferred, line)."""
    return {
        # max-life 1200 but ends = cltt + 3600: the expiry is kept, so valid = ends - cltt
        "2001:db8:1::2000": ("IA_TA", DUID_B, 0x0A0B0C0D, "active", utc("2026/11/27 20:10:00"),
                             3600, 600, 31),
        "2001:db8:8000:100::/56": ("IA_PD", DUID_A, 3, "active", utc("2026/11/27 20:00:00"),
                                   3600, 1800, 41),
        "2001:db8:8000:200::/56": ("IA_PD", DUID_A, 3, "expired", utc("2026/11/27 19:00:00"),
                                   0, 1800, 47),
        # moved from client A to client B: the later IA owns it (as in dhcpd)
        "2001:db8:1::1000": ("IA_NA", DUID_B, 0x01020304, "active", utc("2026/11/27 20:30:00"),
                             3600, 1800, 57),
        "2001:db8:1::1001": ("IA_NA", DUID_A, 1, "released", utc("2026/11/27 20:40:00"), 0,
                             1800, 67),
        "2001:db8:1::1002": ("IA_NA", DUID_A, 1, "active", utc("2026/11/27 20:40:00"),
                             INFINITE_LIFETIME, INFINITE_LIFETIME, 73),
    }


def v6_view(got: dict[str, Extracted], shift: int = 0) -> dict[str, tuple[Any, ...]]:
    out = {}
    for k, it in got.items():
        r = it.record
        assert isinstance(r, Lease6)
        out[k] = (r.lease_type, r.duid, r.iaid, it.binding_state, r.cltt, r.valid_lft,
                  r.preferred_lft, it.line + shift if it.line else None)
    return out


def test_v6_octal_ids_types_states_and_lifetimes() -> None:
    got = good("v6-octal.leases")
    assert list(got) == list(expected_v6())           # winners in file order
    assert v6_view(got) == expected_v6()
    pd = got["2001:db8:8000:100::/56"].record
    assert isinstance(pd, Lease6)
    assert (pd.address, pd.prefix_len) == (IPv6Address("2001:db8:8000:100::"), 56)
    ta = got["2001:db8:1::2000"]
    assert ta.extra["max-life"] == 1200 and ta.extra["preferred-life"] == 600
    assert ta.extra["ends"] == utc("2026/11/27 21:10:00")
    assert ta.extra["server-duid"] == "00:01:00:01:32:90:af:75:00:11:22:33:00:00"
    assert got["2001:db8:1::1002"].extra["ends"] is None


def test_v6_hex_ids_equal_octal_ids() -> None:
    assert v6_view(good("v6-hex.leases")) == expected_v6()


def test_v6_iaid_in_authoring_byte_order() -> None:
    # the big-endian file stores IAIDs as 00 00 00 01 etc.; the IAIDs read are the same numbers
    assert v6_view(good("v6-bigendian.leases")) == expected_v6()


def test_v6_without_byte_order_statement_defaults_to_little_endian() -> None:
    exp = {k: v[:7] for k, v in expected_v6().items()}
    got = {k: v[:7] for k, v in v6_view(good("v6-no-byte-order.leases")).items()}
    assert got == exp
    swapped = {k: v[:7] for k, v in
               v6_view(good("v6-no-byte-order.leases", byte_order="big")).items()}
    assert swapped["2001:db8:1::2000"][2] == 0x0D0C0B0A
    assert swapped["2001:db8:1::1001"][2] == 0x01000000


def test_v6_truncated_ia() -> None:
    its = items("v6-truncated.leases")
    summary = [(type(i).__name__, i.line, i.key) for i in its]
    assert summary[-1] == ("MalformedRecordError", 65, "2001:db8:1::1002")
    assert str(its[-1]).endswith(" is truncated (no closing brace)")
    # the half-written IA does not hide the complete earlier block for ::1001
    first = its[0]
    assert isinstance(first, Extracted) and first.key == "2001:db8:1::1001"
    assert first.binding_state == "active" and first.line == 15
    assert first.record.hostname == "a.example.com"   # set ddns-fwd-name in the iaaddr
    assert first.extra["set"] == {"ddns-fwd-name": "a.example.com"}


# --------------------------------------------------------------------------------------------
# fast path vs careful path, and a property test of the whole round trip


def _both_paths(stmts: str, packed: bytes) -> tuple[Any, Any]:
    m = isc_leases._build._FAST4.match(stmts)
    assert m is not None, stmts
    fast = isc_leases._build._make4(packed, m.groups(),
                             isc_leases._syntax._statements(m.group(isc_leases._build._F_REST + 1)) or None,
                             "f", 1)
    fields, pairs = isc_leases._build._fields4(isc_leases._syntax._statements_careful(stmts))
    careful = isc_leases._build._make4(packed, fields, pairs or None, "f", 1)
    return fast, careful


DATES = st.integers(min_value=0, max_value=2**31 - 86400 * 400)
STATES = st.sampled_from(["active", "free", "abandoned", "backup", "expired", "released"])
HOSTNAMES = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20)


@st.composite
def lease_specs(draw: st.DrawFn) -> dict[str, Any]:
    starts = draw(DATES)
    never = draw(st.booleans()) and draw(st.booleans())
    dur = draw(st.integers(min_value=0, max_value=10**7))
    cltt = draw(st.one_of(st.none(), st.integers(min_value=starts, max_value=starts + 1000)))
    return {
        "ip": draw(st.integers(min_value=1, max_value=6)),
        "starts": starts,
        "ends": None if never else starts + dur,
        "cltt": cltt,
        "state": draw(STATES),
        "mac": draw(st.one_of(st.none(), st.binary(min_size=6, max_size=6))),
        "uid": draw(st.one_of(st.none(), st.binary(min_size=1, max_size=20))),
        "hostname": draw(st.one_of(st.none(), HOSTNAMES)),
        "hand": draw(st.booleans()),   # a hand-edited variant: the careful path
    }


def render4(spec: dict[str, Any]) -> str:
    hand = spec["hand"]

    def when(t: int) -> str:
        return f"epoch {t}; # whenever" if hand else dhcpd_date(t) + ";"

    lines = [f"lease 10.0.0.{spec['ip']} {{", f"  starts {when(spec['starts'])}"]
    lines.append("  ends never;" if spec["ends"] is None else f"  ends {when(spec['ends'])}")
    if spec["cltt"] is not None:
        lines.append(f"  cltt {when(spec['cltt'])}")
    lines.append(f"  binding state {spec['state']};")
    if spec["mac"] is not None:
        mac = spec["mac"].hex(":")
        lines.append(f"  hardware ethernet {mac.upper() if hand else mac};")
    if spec["uid"] is not None:
        uid = spec["uid"].hex(":") if hand else quote(spec["uid"])
        lines.append(f"  uid {uid};")
    if spec["hostname"] is not None:
        lines.append(f"  client-hostname {quote(spec['hostname'].encode())};")
    if hand:
        lines.append("  on expiry { log (info, \"}\"); }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def expected4(spec: dict[str, Any]) -> tuple[Lease4, str]:
    base = spec["cltt"] if spec["cltt"] is not None else spec["starts"]
    if spec["ends"] is None:
        cltt, valid = base, INFINITE_LIFETIME
    elif spec["ends"] <= base:
        cltt, valid = spec["ends"], 0
    else:
        cltt, valid = base, spec["ends"] - base
    rec = Lease4(address=f"10.0.0.{spec['ip']}",
                 hwaddr=spec["mac"].hex(":") if spec["mac"] is not None else None,
                 client_id=spec["uid"].hex(":") if spec["uid"] else None,
                 valid_lft=valid, cltt=cltt, hostname=spec["hostname"] or "")
    return rec, spec["state"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(lease_specs(), min_size=1, max_size=12), st.sampled_from([None, 1, 64]))
def test_property_generated_leases_round_trip(specs: list[dict[str, Any]],
                                              chunk: int | None) -> None:
    text = "authoring-byte-order little-endian;\n\n" + "".join(render4(s) for s in specs)
    last: dict[str, int] = {}
    for i, s in enumerate(specs):
        last[f"10.0.0.{s['ip']}"] = i
    want = [expected4(specs[i]) for i in sorted(last.values())]
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "dhcpd.leases"
        p.write_text(text, encoding="latin-1")
        kw = {"chunk_size": chunk} if chunk else {}
        got = list(extract(p, **kw))
    assert all(isinstance(g, Extracted) for g in got), [str(g) for g in got]
    assert [(g.record, g.binding_state) for g in got if isinstance(g, Extracted)] == want


@settings(max_examples=100, deadline=None)
@given(lease_specs())
def test_property_fast_and_careful_paths_agree(spec: dict[str, Any]) -> None:
    spec = dict(spec, hand=False)
    body = render4(spec).split("\n", 1)[1].rsplit("}", 1)[0]
    fast, careful = _both_paths(body, bytes((10, 0, 0, spec["ip"])))
    assert fast == careful
    assert fast.record == expected4(spec)[0]


@st.composite
def ia_specs(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["ia-na", "ia-ta", "ia-pd"]))
    n = draw(st.integers(min_value=1, max_value=3))
    subs = []
    for _ in range(n):
        subs.append({
            "idx": draw(st.integers(min_value=1, max_value=5)),
            "state": draw(st.sampled_from(["active", "expired", "released", "abandoned"])),
            "pref": draw(st.integers(min_value=0, max_value=10**6)),
            "max": draw(st.integers(min_value=1, max_value=10**6)),
        })
    return {"kind": kind, "iaid": draw(st.integers(min_value=0, max_value=2**32 - 1)),
            "duid": draw(st.binary(min_size=1, max_size=30)),
            "cltt": draw(DATES), "subs": subs}


@settings(max_examples=120, deadline=None)
@given(st.lists(ia_specs(), min_size=1, max_size=6), st.sampled_from(["little", "big"]),
       st.booleans())
def test_property_v6_round_trip(ias: list[dict[str, Any]], order: str, hexfmt: bool) -> None:
    out = [f"authoring-byte-order {order}-endian;\n\n"]
    last: dict[tuple[str, str], tuple[int, int, Lease6, str]] = {}
    for i, ia in enumerate(ias):
        raw = ia["iaid"].to_bytes(4, order) + ia["duid"]  # type: ignore[arg-type]
        ident = raw.hex(":") if hexfmt else quote(raw)
        out.append(f"{ia['kind']} {ident} {{\n  cltt {dhcpd_date(ia['cltt'])};\n")
        seen = set()
        for j, sub in enumerate(ia["subs"]):
            if sub["idx"] in seen:
                continue
            seen.add(sub["idx"])
            if ia["kind"] == "ia-pd":
                addr, key = f"2001:db8:{sub['idx']}::", f"2001:db8:{sub['idx']}::/48"
                out.append(f"  iaprefix {key} {{\n")
                fam = "pd"
            else:
                addr = key = f"2001:db8::{sub['idx']}"
                out.append(f"  iaaddr {addr} {{\n")
                fam = "na-ta"   # dhcpd keeps IA_NA and IA_TA addresses in separate pools
                fam = ia["kind"]
            ends = ia["cltt"] + sub["max"]
            out.append(f"    binding state {sub['state']};\n    preferred-life {sub['pref']};\n"
                       f"    max-life {sub['max']};\n    ends {dhcpd_date(ends)};\n  }}\n")
            rec = Lease6(address=addr, duid=ia["duid"], iaid=ia["iaid"],
                         lease_type={"ia-na": "IA_NA", "ia-ta": "IA_TA", "ia-pd": "IA_PD"}[
                             ia["kind"]],  # type: ignore[arg-type]
                         prefix_len=48 if ia["kind"] == "ia-pd" else 128, valid_lft=sub["max"],
                         preferred_lft=sub["pref"], cltt=ia["cltt"])
            last[(fam, key)] = (i, j, rec, sub["state"])
        out.append("}\n\n")
    want = [(r, s) for _, _, r, s in sorted(last.values(), key=lambda v: (v[0], v[1]))]
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "dhcpd6.leases"
        p.write_text("".join(out), encoding="latin-1")
        got = list(extract(p))
    assert all(isinstance(g, Extracted) for g in got), [str(g) for g in got]
    assert [(g.record, g.binding_state) for g in got if isinstance(g, Extracted)] == want


@pytest.mark.parametrize("chunk", [5, 4096])
def test_bad_set_statement_is_reported_on_its_own_line(tmp_path: Path, chunk: int) -> None:
    p = tmp_path / "dhcpd.leases"
    p.write_text(
        "lease 10.0.0.1 {\n  starts 5 2026/11/27 20:00:00;\n  binding state active;\n"
        "  hardware ethernet 00:11:22:33:44:55;\n  set ok = \"x\";\n  set broken thing here\n}\n"
        "# a comment\n"
        "lease 10.0.0.2 {\n  starts epoch 1; # Thu Jan  1 00:00:01 1970\n"
        "  binding state active;\n  set ok = \"x\";\n  set broken thing here\n}\n")
    got = [(str(e).split(": ", 1)[1], e.line, e.key) for e in errors(extract(p, chunk_size=chunk))]
    assert got == [
        ("lease 10.0.0.1 has a statement that cannot be parsed: 'set broken thing here'", 6,
         "10.0.0.1"),
        ("lease 10.0.0.2 has a statement that cannot be parsed: 'set broken thing here'", 13,
         "10.0.0.2")]


def test_stray_lines_between_blocks_are_reported_with_their_own_lines(tmp_path: Path) -> None:
    p = tmp_path / "dhcpd.leases"
    p.write_text("lease 192.0.2.1 {\n  binding state free;\n}\n"   # lines 1-3
                 "}\n"                                             # 4
                 "# comment\n"                                     # 5
                 "stray one\n\n"                                   # 6, 7
                 "authoring-byte-order sideways;\n"                # 8
                 "}\n"                                             # 9
                 "lease 192.0.2.2 {\n  binding state free;\n}\n")  # 10-12
    its = list(extract(p))
    assert [(e.line, str(e).split(": ", 1)[1]) for e in errors(its)] == [
        (4, "unexpected text between blocks: '}'"),
        (6, "unexpected text between blocks: 'stray one'"),
        (8, "authoring-byte-order 'sideways' is not little-endian or big-endian"),
        (9, "unexpected text between blocks: '}'")]
    assert [i.line for i in its if isinstance(i, Extracted)] == [1, 10]


def test_octal_escapes_above_0377_wrap_like_dhcpd_without_a_warning() -> None:
    """dhcpd's lexer keeps the low 8 bits of a 3-digit octal escape (\\400 is NUL, \\777 is
    0xff); Python's own escape decoder warns about those, so they take the explicit path."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isc_leases._syntax._unescape("a\\400b\\777\\101") == b"a\x00b\xffA"
