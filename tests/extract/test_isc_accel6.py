"""The C fast path for dhcpd6.leases blocks (scan6 / keys6 in kea_etl/_isc4.c) against the
pure-Python parser.

As for v4 (test_isc_accel.py): for every ia-na / ia-ta / ia-pd block the accelerator either
builds exactly the items _ia / _build6 build (same records, same slots, same extra, same lines)
or leaves the whole block to Python; pass 1's keys6 gives exactly _v6_keys' keys. These tests run
both on the same files and compare every item.
"""

from __future__ import annotations

import dataclasses
import gc
import os
from collections.abc import Callable
from ipaddress import IPv6Address
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kea_etl.extract import isc_leases
from kea_etl.extract.base import Extracted
from kea_etl.records import Lease6
from tests.harness.accel import both
from tests.harness.dhcpd import Dhcpd6, run_perfdhcp6
from tests.harness.leasefile import quote
from tests.harness.netns import NetnsPair, netns_available

DATA = Path(__file__).parent / "data"
SAMPLE = Path(__file__).resolve().parents[2] / "sample-data"
HEADER = "authoring-byte-order little-endian;\n\n"
needs_accel = pytest.mark.skipif(isc_leases._fastpath._scan6 is None,
                                 reason="the C fast path is not built or turned off (KEA_ETL_NO_ACCEL)")


@pytest.fixture(autouse=True)
def _serial(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isc_leases._fastpath, "_parallel", "off")


def test_v6_accelerator_is_built_here() -> None:
    """The suite runs where a C compiler exists (scripts/install-deps): a build without the v6
    fast path must fail here instead of silently using the slower parser."""
    if os.environ.get("KEA_ETL_NO_ACCEL", "") not in ("", "0"):
        pytest.skip("KEA_ETL_NO_ACCEL is set")
    assert isc_leases.ACCELERATED6


@needs_accel
@pytest.mark.parametrize("path", sorted(DATA.glob("*.leases")) + sorted(SAMPLE.glob("*.leases")),
                         ids=lambda p: p.name)
@pytest.mark.parametrize("chunk", [64, isc_leases.CHUNK_SIZE])
def test_fixtures_and_sample_data_agree(path: Path, chunk: int) -> None:
    fast, slow, _ = both(path, chunk_size=chunk, counted="_scan6")
    assert fast == slow


@needs_accel
@pytest.mark.parametrize("name", ["dhcpd6.leases", "dhcpd6-hex.leases"])
def test_real_dhcpd6_file_is_read_by_the_accelerator(name: str) -> None:
    """dhcpd 4.4's own output (octal-escaped and hex ids) is built in C, every lease of it."""
    fast, slow, built = both(SAMPLE / name, counted="_scan6")
    assert fast == slow
    assert built == len(fast) > 300


@needs_accel
@pytest.mark.parametrize("family", [4, 6])
def test_family_given_agrees(family: int) -> None:
    for path in (SAMPLE / "dhcpd6.leases", DATA / "v6-octal.leases", DATA / "v4-extras.leases"):
        fast, slow, _ = both(path, family=family, counted="_scan6")
        assert fast == slow


@needs_accel
@pytest.mark.parametrize("order", ["little", "big"])
def test_byte_order_without_statement_agrees(order: str) -> None:
    fast, slow, built = both(DATA / "v6-no-byte-order.leases", byte_order=order, counted="_scan6")
    assert fast == slow
    assert built


_DHCPD6_CONF = """\
{id_format}authoritative;
ddns-update-style none;
dhcp-cache-threshold 0;
default-lease-time 86400;
max-lease-time 86400;
preferred-lifetime 43200;
subnet6 2001:db8:100::/64 {{
  range6 2001:db8:100::1000 2001:db8:100::ffff;
  prefix6 2001:db8:200:: 2001:db8:200:ff00:: /56;
}}
"""


@needs_accel
@pytest.mark.netns
@pytest.mark.skipif(bool(netns_available()), reason=netns_available() or "")
@pytest.mark.parametrize("id_format", ["", "lease-id-format hex;\n"], ids=["octal", "hex"])
def test_real_dhcpd6_output_with_renewals_is_read_by_the_accelerator(tmp_path: Path,
                                                                      id_format: str) -> None:
    """A lease file written now by a real dhcpd -6 (ia-na and ia-pd for 30 perfdhcp clients that
    come back once, so every address has history): C and Python agree item by item, and C
    builds every item."""
    lease_path = tmp_path / "dhcpd6.leases"
    with NetnsPair(tag="a6") as net, Dhcpd6(net, _DHCPD6_CONF.format(id_format=id_format),
                                            lease_path):
        for _ in range(2):  # the same DUIDs come back: every IA is written again
            res = run_perfdhcp6(net, clients=30, base_mac="00:0c:06:00:30:00", rate=300)
            # perfdhcp on a loaded machine may lose an exchange or two; history is what matters
            assert res.received("REQUEST-REPLY") >= 20, res.stdout
    text = lease_path.read_text(encoding="latin-1")
    assert text.count("\nia-na ") > 30 and text.count("\nia-pd ") > 30, "history"
    fast, slow, built = both(lease_path, counted="_scan6")
    assert fast == slow
    assert built == len(fast) >= 40


NA = """ia-na "\\001\\000\\000\\000\\000\\001\\000\\0012\\234\\257u\\000\\021\\"3DU" {
  cltt 4 2026/11/26 10:00:00;
  iaaddr 2001:db8:1::1000 {
    binding state active;
    preferred-life 1800;
    max-life 3600;
    ends 5 2026/11/27 10:00:00;
    set ddns-rev-name = "0.0.0.1.ip6.arpa.";
    set ddns-fwd-name = "h1.example.com";
  }
}

"""
PD = """ia-pd "\\003\\000\\000\\000\\000\\003\\000\\001\\000\\021\\"3Df" {
  cltt 4 2026/11/26 10:00:00;
  iaprefix 2001:db8:ff00::/56 {
    binding state active;
    preferred-life 1800;
    max-life 3600;
    ends 5 2026/11/27 10:00:00;
  }
}

"""
TA = NA.replace("ia-na", "ia-ta").replace("1::1000", "1::2000")
ID = '"\\001\\000\\000\\000\\000\\001\\000\\0012\\234\\257u\\000\\021\\"3DU"'


def _id(raw: bytes) -> str:
    return NA.replace(ID, quote(raw))


# (name, text): each block either taken by C or left to Python; the items must be the same.
CASES: list[tuple[str, str]] = [
    ("ia-na", NA),
    ("ia-pd", PD),
    ("ia-ta", TA),
    ("all three", NA + PD + TA),
    ("minimal iaaddr", "ia-na \"\\001\\000\\000\\000\\000\\001\\000\\001\" {\n  iaaddr 2001:db8::5 "
     "{\n  }\n}\n"),
    ("no statements at IA level", NA.replace("  cltt 4 2026/11/26 10:00:00;\n", "")),
    ("cltt never", NA.replace("cltt 4 2026/11/26 10:00:00", "cltt never")),
    ("cltt epoch", NA.replace("cltt 4 2026/11/26 10:00:00;", "cltt epoch 1795000000; # x")),
    ("cltt after the iaaddr", NA.replace("  cltt 4 2026/11/26 10:00:00;\n", "").replace(
        "  }\n}", "  }\n  cltt 4 2026/11/26 10:00:00;\n}")),
    ("two cltt", NA.replace("  cltt 4", "  cltt 3 2026/11/25 10:00:00;\n  cltt 4")),
    ("cltt empty", NA.replace("cltt 4 2026/11/26 10:00:00;", "cltt ;")),
    ("ends never", NA.replace("ends 5 2026/11/27 10:00:00", "ends never")),
    ("no ends", NA.replace("    ends 5 2026/11/27 10:00:00;\n", "")),
    ("no ends no max-life", NA.replace("    ends 5 2026/11/27 10:00:00;\n", "").replace(
        "    max-life 3600;\n", "")),
    ("no cltt, ends and max-life", NA.replace("  cltt 4 2026/11/26 10:00:00;\n", "")),
    ("no cltt, max-life longer than the epoch", NA.replace("  cltt 4 2026/11/26 10:00:00;\n", "")
     .replace("ends 5 2026/11/27 10:00:00", "ends 4 1970/01/01 00:10:00")),
    ("no cltt, no max-life", NA.replace("  cltt 4 2026/11/26 10:00:00;\n", "").replace(
        "    max-life 3600;\n", "")),
    ("ends before cltt", NA.replace("ends 5 2026/11/27", "ends 3 2026/11/25")),
    ("ends equal cltt", NA.replace("ends 5 2026/11/27", "ends 4 2026/11/26")),
    ("ends after 2106", NA.replace("ends 5 2026/11/27", "ends 5 2107/11/27")),
    ("cltt after 2106", NA.replace("cltt 4 2026/11/26", "cltt 4 2107/11/26").replace(
        "ends 5 2026/11/27", "ends 5 2108/11/27")),
    ("year 9999", NA.replace("ends 5 2026/11/27", "ends 5 9999/12/31")),
    ("leap second", NA.replace("ends 5 2026/11/27 10:00:00", "ends 5 2026/11/27 23:59:60")),
    ("leap day", NA.replace("ends 5 2026/11/27", "ends 2 2028/02/29")),
    ("not a leap day", NA.replace("ends 5 2026/11/27", "ends 0 2027/02/29")),
    ("month 13", NA.replace("ends 5 2026/11/27", "ends 5 2026/13/27")),
    ("hour 24", NA.replace("ends 5 2026/11/27 10", "ends 5 2026/11/27 24")),
    ("before 1970", NA.replace("cltt 4 2026/11/26", "cltt 3 1969/12/31")),
    ("UTC suffix", NA.replace("ends 5 2026/11/27 10:00:00", "ends 5 2026/11/27 10:00:00 UTC")),
    ("weekday letter", NA.replace("ends 5 2026", "ends x 2026")),
    ("epoch ends", NA.replace("ends 5 2026/11/27 10:00:00;", "ends epoch 1795000000; # x")),
    ("every state", "".join(
        NA.replace("1::1000", f"1::{i}").replace("state active", f"state {s}")
        for i, s in enumerate(("active", "free", "abandoned", "backup", "expired", "released",
                               "reset", "bootp", "bogus", "ACTIVE"), 1))),
    ("no binding state", NA.replace("    binding state active;\n", "")),
    ("preferred-life 0", NA.replace("preferred-life 1800", "preferred-life 0")),
    ("max-life u32", NA.replace("max-life 3600", "max-life 4294967295")),
    ("max-life over u32", NA.replace("max-life 3600", "max-life 4294967296")),
    ("preferred-life sign", NA.replace("preferred-life 1800", "preferred-life +1800")),
    ("preferred-life negative", NA.replace("preferred-life 1800", "preferred-life -1")),
    ("preferred-life leading zeros", NA.replace("preferred-life 1800", "preferred-life 001800")),
    ("preferred-life underscore", NA.replace("preferred-life 1800", "preferred-life 1_800")),
    ("preferred-life word", NA.replace("preferred-life 1800", "preferred-life soon")),
    ("preferred-life 11 digits", NA.replace("preferred-life 1800", "preferred-life 00000001800")),
    ("out of order", NA.replace("    preferred-life 1800;\n", "").replace(
        "    ends", "    preferred-life 1800;\n    ends")),
    ("duplicate ends", NA.replace("    ends 5", "    ends 4 2026/11/26 11:00:00;\n    ends 5")),
    ("unknown statement", NA.replace("    max-life", "    hardware ethernet 00:11:22:33:44:55;\n"
                                                   "    max-life")),
    ("unknown IA statement", NA.replace("  cltt", "  tstp 4 2026/11/26 10:00:00;\n  cltt")),
    ("hex id", NA.replace(ID, "01:00:00:00:00:01:00:01:32:9c:af:75:00:11:22:33:44:55")),
    ("hex id uppercase, short groups", NA.replace(ID, "1:0:0:0:0:1:0:1:32:9C:AF:75:0:11")),
    ("hex id bad", NA.replace(ID, "01:00:00:00:00::01")),
    ("hex id trailing colon", NA.replace(ID, "01:00:00:00:00:01:")),
    ("id 4 bytes", _id(b"\x01\x00\x00\x00")),
    ("id 5 bytes", _id(b"\x01\x00\x00\x00\x07")),
    ("id 134 bytes", _id(b"\x01\x00\x00\x00" + bytes(range(130)))),
    ("id 135 bytes", _id(b"\x01\x00\x00\x00" + bytes(range(131)))),
    ("id empty", NA.replace(ID, '""')),
    ("id unquoted junk", NA.replace(ID, "abcdefg")),
    ("id octal 400", NA.replace("\\234", "\\434")),
    ("id short octal", NA.replace("\\234", "\\23x")),
    ("id other escape", NA.replace("\\234", "\\t")),
    ("id latin-1 byte", NA.replace("\\234", "\xe9")),
    ("id braces", _id(b"\x01\x00\x00\x00{\x01}\x02")),
    ("id braces and hash", _id(b"\x01\x00\x00\x00{\x01}#\x02")),
    ("id brace hash without open", _id(b"}#\x00\x00\x00\x01\x02")),
    ("id brace, blank, hash", _id(b"\x01{\x00\x00\x00} \x85#\x02")),
    ("id hash", _id(b"\x01\x00\x00\x00#\x01")),
    ("id unclosed quote", NA.replace(ID, '"\\001\\000\\000\\000\\000\\001')),
    ("id trailing backslash", NA.replace(ID, '"\\001\\000\\000\\000\\000\\001\\"')),
    ("big-endian", "authoring-byte-order big-endian;\n" + NA + PD),
    ("byte order changes", NA + "authoring-byte-order big-endian;\n" + NA.replace("1::1000", "1::1001")),
    ("bad byte order", "authoring-byte-order middle-endian;\n" + NA),
    ("server-duid", 'server-duid "\\000\\001\\000\\001";\n\n' + NA + PD),
    ("server-duid between", NA + 'server-duid "\\000\\001\\000\\002";\n\n' + PD),
    ("server-duid hex", "server-duid 00:01:00:01:aa;\n" + NA),
    ("server-duid bad", "server-duid what;\n" + NA),
    ("iaprefix in ia-na", NA.replace("iaaddr 2001:db8:1::1000", "iaprefix 2001:db8:1::/64")),
    ("iaaddr in ia-pd", PD.replace("iaprefix 2001:db8:ff00::/56", "iaaddr 2001:db8:ff00::1")),
    ("prefix /0", PD.replace("::/56", "::/0")),
    ("prefix /128", PD.replace("ff00::/56", "ff00::1/128")),
    ("prefix /129", PD.replace("::/56", "::/129")),
    ("prefix host bits", PD.replace("ff00::/56", "ff00:1::/56")),
    ("prefix leading zero", PD.replace("::/56", "::/056")),
    ("prefix sign", PD.replace("::/56", "::/+56")),
    ("prefix no length", PD.replace("::/56", "::")),
    ("prefix empty length", PD.replace("::/56", "::/")),
    ("prefix two slashes", PD.replace("::/56", "::/56/1")),
    ("address uppercase", NA.replace("2001:db8:1::1000", "2001:DB8:1::1000")),
    ("address full form", NA.replace("2001:db8:1::1000", "2001:0db8:0001:0000:0000:0000:0000:1000")),
    ("address seven groups and ::", NA.replace("2001:db8:1::1000", "2001:db8:1:2:3:4:5::")),
    ("address eight groups and ::", NA.replace("2001:db8:1::1000", "2001:db8:1:2:3:4:5::6:7")),
    ("address ::", NA.replace("2001:db8:1::1000", "::")),
    ("address two ::", NA.replace("2001:db8:1::1000", "2001::1::1000")),
    ("address five digits", NA.replace("2001:db8:1::1000", "2001:db8:1::10000")),
    ("address dotted quad", NA.replace("2001:db8:1::1000", "::ffff:192.0.2.1")),
    ("address bad dotted quad", NA.replace("2001:db8:1::1000", "::ffff:192.0.2.01")),
    ("address zone", NA.replace("2001:db8:1::1000", "fe80::1%eth0")),
    ("address single colon end", NA.replace("2001:db8:1::1000", "2001:db8:1:2:3:4:5:6:")),
    ("address single colon start", NA.replace("2001:db8:1::1000", ":2001:db8:1:2:3:4:5:6")),
    ("address IPv4", NA.replace("2001:db8:1::1000", "192.0.2.1")),
    ("address latin-1", NA.replace("2001:db8:1::1000", "2001:db8:1::\xe9")),
    ("address empty", NA.replace("iaaddr 2001:db8:1::1000 {", "iaaddr  {")),
    ("two addresses", NA.replace("  }\n}", "  }\n" + NA.split("\n", 2)[2].rsplit("}", 1)[0]
                                 .replace("1::1000", "1::1001") + "}")),
    ("same address twice in one IA", NA.replace("  }\n}", "  }\n" + NA.split("\n", 2)[2]
                                                 .rsplit("}", 1)[0] + "}")),
    ("17 addresses", NA.replace("  iaaddr", "".join(
        f"  iaaddr 2001:db8:2::{k:x} {{\n    binding state free;\n  }}\n" for k in range(16))
        + "  iaaddr")),
    ("empty IA", 'ia-na "\\001\\000\\000\\000\\000\\001\\000\\007" {\n  cltt 4 2026/11/26 '
     "10:00:00;\n}\n\n" + NA),
    ("eight sets", NA.replace("    set ddns-rev", "".join(f'    set v{k} = "{k}";\n'
                                                        for k in range(6)) + "    set ddns-rev")),
    ("nine sets", NA.replace("    set ddns-rev", "".join(f'    set v{k} = "{k}";\n'
                                                       for k in range(7)) + "    set ddns-rev")),
    ("duplicate ddns-fwd-name", NA.replace("  }\n}", '    set ddns-fwd-name = "h2";\n  }\n}')),
    ("set empty", NA.replace('"h1.example.com"', '""')),
    ("set escape", NA.replace('"h1.example.com"', '"h1\\"x"')),
    ("set utf-8", NA.replace('"h1.example.com"', '"h\xc3\xa9"')),
    ("set percent", NA.replace('"h1.example.com"', "%5")),
    ("set true", NA.replace('"h1.example.com"', "true")),
    ("set hex", NA.replace('"h1.example.com"', "01:02")),
    ("set semicolon", NA.replace('"h1.example.com"', '"a;b"')),
    ("set hash", NA.replace('"h1.example.com"', '"a#b"')),
    ("set brace", NA.replace('"h1.example.com"', '"a}b"')),
    ("set name with dot", NA.replace("set ddns-fwd-name", "set x.y")),
    ("set without spaces", NA.replace("ddns-fwd-name = ", "ddns-fwd-name=")),
    ("on expiry", NA.replace("  }\n}", '    on expiry {\n      log (info, "gone");\n    }\n'
                                       "  }\n}")),
    ("tab indent", NA.replace("    binding", "\tbinding")),
    ("three-space indent", NA.replace("    binding", "   binding")),
    ("crlf", NA.replace("\n", "\r\n")),
    ("comment line", NA.replace("    max-life", "    # note\n    max-life")),
    ("trailing comment", NA.replace("max-life 3600;", "max-life 3600; # note")),
    ("space before semicolon", NA.replace("max-life 3600;", "max-life 3600 ;")),
    ("junk after brace", NA.replace("  }\n}\n", "  }\n} junk\n")),
    ("sub-block brace junk", NA.replace("  }\n}\n", "  } x\n}\n")),
    ("brace not at column 0", NA.replace("  }\n}\n", "  }\n }\n")),
    ("no blank line between", NA.rstrip("\n") + "\n" + PD),
    ("many blank lines", NA + "\n\n\n" + PD + "\n\n"),
    ("blank line inside", NA.replace("  iaaddr", "\n  iaaddr")),
    ("no final newline", NA.rstrip("\n")),
    ("truncated", NA[:NA.index("    max-life")]),
    ("truncated after sub-block", NA[:NA.index("  }\n}") + 4]),
    ("iaaddr line after the IA", NA + "  iaaddr 2001:db8:1::1000 {\n  }\n" + PD),
    ("text after the IA", NA.rstrip("\n") + "\nwhat is this;\n" + PD),
    ("comment after the IA", NA + "# comment\n" + PD),
    ("one-line IA", 'ia-na "\\001\\000\\000\\000\\000\\001\\000\\007" { cltt 4 2026/11/26 '
     "10:00:00; }\n" + NA),
    ("two spaces after ia-na", NA.replace("ia-na ", "ia-na  ")),
    ("tab after ia-na", NA.replace("ia-na ", "ia-na\t")),
    ("no space before brace", NA.replace('3DU" {', '3DU"{')),
    ("no opening brace", NA.replace('3DU" {', '3DU"')),
    ("history", NA + NA.replace("h1.example", "h2.example") + NA.replace("state active",
                                                                      "state expired")),
    ("history with odd winner", NA + NA.replace("    max-life", "    tstp 1;\n    max-life")),
    ("history with odd loser", NA.replace("    max-life", "    tstp 1;\n    max-life") + NA),
    ("address moves to another IA", NA + _id(b"\x09\x00\x00\x00\x00\x01\x02")),
    ("same address as NA and TA", NA + NA.replace("ia-na", "ia-ta")),
    ("with v4 leases", "lease 10.0.0.1 {\n  binding state active;\n}\n" + NA
     + "lease 10.0.0.2 {\n  binding state free;\n}\n" + PD),
    ("with a host", NA + 'host h1 {\n  dynamic;\n  hardware ethernet 00:11:22:33:44:55;\n'
     "  fixed-address 10.0.0.9;\n}\n" + PD),
    ("with failover", NA + 'failover peer "p" state {\n  my state normal at 4 2026/11/26 '
     "10:00:00;\n}\n" + PD),
    ("nul in address", NA.replace("1::1000", "1::\x001000")),
]


@needs_accel
@pytest.mark.parametrize(("name", "text"), CASES, ids=[c[0] for c in CASES])
def test_edge_cases_agree(tmp_path: Path, name: str, text: str) -> None:
    p = tmp_path / "dhcpd6.leases"
    p.write_bytes((HEADER + text).encode("latin-1"))
    fast, slow, _ = both(p, counted="_scan6")
    assert fast == slow
    assert fast, "every case yields something"


@needs_accel
def test_common_layout_is_taken_by_c(tmp_path: Path) -> None:
    """The cases dhcpd writes are the ones C takes (else the agreement would be vacuous)."""
    p = tmp_path / "dhcpd6.leases"
    p.write_bytes((HEADER + NA + PD + TA + NA.replace(ID, "01:00:00:00:00:01:00:09").replace(
        "1::1000", "1::1009")).encode())
    fast, _, built = both(p, counted="_scan6")
    assert built == len(fast) == 4


@needs_accel
def test_accelerated_records_are_real_records(tmp_path: Path) -> None:
    """Records built in C behave like validated ones: equal, same hash, frozen, usable."""
    p = tmp_path / "dhcpd6.leases"
    p.write_text(HEADER + 'server-duid "\\000\\001";\n' + NA + PD)
    _, _, built = both(p, counted="_scan6")
    assert built == 2
    got = [i for i in isc_leases.extract(p) if isinstance(i, Extracted)]
    for it in got:
        rec = it.record
        assert type(rec) is Lease6 and type(rec.address) is IPv6Address
        again = Lease6(**{f.name: getattr(rec, f.name) for f in dataclasses.fields(Lease6)})
        assert again == rec and hash(again) == hash(rec)
        assert hash(rec.address) == hash(IPv6Address(str(rec.address)))
        assert rec.address.scope_id is None
        assert Extracted(record=rec, binding_state=it.binding_state, source=it.source,
                         line=it.line, extra=it.extra) == it
        with pytest.raises(dataclasses.FrozenInstanceError):
            rec.duid = "x"  # type: ignore[misc]
    na, pd = (i.record for i in got)
    assert isinstance(na, Lease6) and isinstance(pd, Lease6)
    assert (str(na.address), na.iaid, na.duid) == ("2001:db8:1::1000", 1,
                                                   "00:01:00:01:32:9c:af:75:00:11:22:33:44:55")
    assert (na.cltt, na.valid_lft, na.preferred_lft, na.hostname) == (1795687200, 86400, 1800,
                                                                      "h1.example.com")
    assert got[0].extra["set"] == {"ddns-rev-name": "0.0.0.1.ip6.arpa.",
                                   "ddns-fwd-name": "h1.example.com"}
    assert got[0].extra["server-duid"] == "00:01"
    assert (pd.key, pd.lease_type, pd.iaid) == ("2001:db8:ff00::/56", "IA_PD", 3)
    del got, na, pd
    gc.collect()


# -- property: random IA blocks in (mostly) dhcpd's layout -------------------------------------

_DATES = st.one_of(
    st.builds(lambda wd, y, mo, d, h, mi, s: f"{wd} {y:04d}/{mo:02d}/{d:02d} {h:02d}:{mi:02d}:{s:02d}",
              st.integers(0, 9), st.sampled_from([1969, 1970, 2026, 2106, 2107]),
              st.integers(0, 13), st.integers(0, 32), st.integers(0, 24), st.integers(0, 60),
              st.integers(0, 61)),
    st.just("never"), st.just("epoch 1795000000"), st.text("0123456789/: ", max_size=22))
_STATES = st.sampled_from(["active", "free", "expired", "released", "abandoned", "bogus"])
_LIVES = st.one_of(st.integers(0, 5000).map(str), st.just("4294967296"), st.just("+5"),
                   st.text("0123456789-_", max_size=4))
_ADDRS = st.sampled_from(["2001:db8::1", "2001:db8::2", "2001:DB8::1", "2001:db8:0::1",
                          "::ffff:10.0.0.1", "2001:db8::1::2", "2001:db8::g", "fe80::1%1"])
_PREFIXES = st.sampled_from(["2001:db8::/48", "2001:db8:1::/48", "2001:db8::/048",
                             "2001:db8::1/48", "2001:db8::/129", "2001:db8::", "2001:db8::/+48"])
_IDS = st.one_of(st.binary(min_size=3, max_size=12).map(quote),
                 st.binary(min_size=3, max_size=8).map(lambda b: b.hex(":")),
                 st.text(alphabet='0123456789abcdef:"\\{}# ', max_size=12))
_SETS = st.one_of(st.from_regex(r'"[a-z0-9.-]{0,10}"', fullmatch=True),
                  st.text(alphabet='ab"\\;#{} \xe9', max_size=6).map(lambda t: f'"{t}"'),
                  st.just("%3"), st.just("true"))


@st.composite
def _ia(draw: Callable[..., Any]) -> str:
    kind = draw(st.sampled_from(["ia-na", "ia-na", "ia-ta", "ia-pd"]))
    lines = [f"{kind} {draw(_IDS)} {{"]
    if draw(st.integers(0, 4)):
        lines.append(f"  cltt {draw(_DATES)};")
    for _ in range(draw(st.integers(0, 3))):
        prefix = (kind == "ia-pd") != (not draw(st.integers(0, 9)))
        sub = f"iaprefix {draw(_PREFIXES)}" if prefix else f"iaaddr {draw(_ADDRS)}"
        lines.append(f"  {sub} {{")
        if draw(st.integers(0, 9)):
            lines.append(f"    binding state {draw(_STATES)};")
        for kw in ("preferred-life", "max-life"):
            if draw(st.integers(0, 4)):
                lines.append(f"    {kw} {draw(_LIVES)};")
        if draw(st.integers(0, 4)):
            lines.append(f"    ends {draw(_DATES)};")
        for _ in range(draw(st.integers(0, 2))):
            name = draw(st.sampled_from(["ddns-fwd-name", "ddns-rev-name", "x"]))
            lines.append(f"    set {name} = {draw(_SETS)};")
        lines.append("  }")
    if not draw(st.integers(0, 14)):
        draw(st.randoms()).shuffle(lines)
    return "\n".join(lines) + "\n}\n" + draw(st.sampled_from(["", "\n", "\n\n"]))


@needs_accel
@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blocks=st.lists(_ia(), min_size=1, max_size=6),
       order=st.sampled_from(["little-endian", "big-endian"]))
def test_random_blocks_agree(tmp_path: Path, blocks: list[str], order: str) -> None:
    p = tmp_path / "dhcpd6.leases"
    p.write_bytes((f"authoring-byte-order {order};\n" + "".join(blocks)).encode("latin-1"))
    fast, slow, _ = both(p, counted="_scan6")
    assert fast == slow


@needs_accel
def test_many_chunks_lines_and_winners_agree(tmp_path: Path) -> None:
    """Several chunks, history across chunk boundaries, odd blocks here and there."""
    parts = []
    for i in range(3000):
        block = (NA if i % 3 else PD).replace("1::1000", f"1::{i:x}").replace(
            "2001:db8:ff00::/56", f"2001:{i:x}::/56").replace("h1.example", f"h{i}.example")
        if i % 97 == 0:
            block = block.replace("    max-life", "    tstp 1;\n    max-life")
        parts.append(block)
    parts += parts[::7]
    p = tmp_path / "dhcpd6.leases"
    p.write_text(HEADER + 'server-duid "\\000\\001";\n' + "".join(parts), encoding="latin-1")
    fast, slow, built = both(p, chunk_size=8192, counted="_scan6")
    assert fast == slow
    assert built > 2500


# -- the C functions on arbitrary input ---------------------------------------------------------

_ALPHABET = list('\nia-na-pd-ta lease hos iaaddr iaprefix 2001:db8::/{}";\\0123456789abcdef\t\xa0\x85#%+_')


@needs_accel
@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(_ALPHABET), max_size=400),
       base=st.integers(0, 1 << 40))
def test_keys6_equals_python(text: str, base: int) -> None:
    """Pass 1's C keys are _v6_keys' keys, byte for byte (or None: Python then reads the chunk)."""
    from kea_etl import _isc4

    got = _isc4.keys6("\n" + text, base)
    if got is not None:
        assert got == isc_leases._index._v6_keys("\n" + text, base).tobytes()
    assert _isc4.line_starts("\n" + text) == isc_leases._fastpath._line_starts_py("\n" + text)


@needs_accel
@pytest.mark.parametrize("token", [
    "2001:db8::1", "::", "::1", "1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8", "1::2::3", ":1::", "1::2:", "12345::",
    "::ffff:1.2.3.4", "::1.2.3.04", "ABCD:ef01::", "0000:0000:0000:0000:0000:0000:0000:0001",
    "1:2:3:4:5:6:7", ":::", "", "2001:db8::1%eth0", "2001:db8::1\x00", "2001:db8::\xe9",
    "0" * 70, "/64", "2001:db8::/64", "2001:db8::/0", "2001:db8::/128", "2001:db8::/129",
    "2001:db8::/0064", "2001:db8::/6_4", "2001:db8::/+64", "2001:db8::/-0", "2001:db8::/x",
    "2001:db8::/", "2001:db8::/64/1"])
@pytest.mark.parametrize("kind", ["iaaddr", "iaprefix"])
def test_keys6_tokens(token: str, kind: str) -> None:
    from kea_etl import _isc4

    text = f"\nia-pd x {{\n  {kind} {token} {{\n  }}\n}}\n"
    got = _isc4.keys6(text, 5)
    want = isc_leases._index._v6_keys(text, 5).tobytes()
    assert got is None or got == want
    if "_" not in token and "+" not in token and "-" not in token and "/00" not in token:
        assert got is not None


@needs_accel
@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(_ALPHABET), max_size=400),
       pos=st.integers(-3, 420), i6=st.integers(-2, 40), win=st.binary(max_size=40),
       limit=st.integers(0, 5), big=st.booleans(), duid=st.sampled_from([None, "00:01"]))
def test_c_functions_never_crash_on_any_input(text: str, pos: int, i6: int, win: bytes,
                                               limit: int, big: bool, duid: str | None) -> None:
    """Memory safety of scan6 on arbitrary input and arguments (see also the ASan run in
    docs/isc-leases.md)."""
    from kea_etl import _isc4

    items, end, last_i6, _line = _isc4.scan6("\n" + text, pos, win, i6, 1, "f", limit, big, duid)
    assert end == pos or 0 <= end <= len(text) + 1
    assert last_i6 >= i6
    if items:
        assert last_i6 <= len(win)


@needs_accel
def test_keys_of_a_generated_file_equal_python(tmp_path: Path) -> None:
    p = tmp_path / "dhcpd6.leases"
    p.write_text(HEADER + NA + PD + TA + "lease 10.0.0.1 {\n}\n" + NA)
    saved = isc_leases._fastpath._keys6
    k4, k6 = isc_leases._pass1(p, isc_leases.CHUNK_SIZE)
    isc_leases._fastpath._keys6 = None
    try:
        k4b, k6b = isc_leases._pass1(p, isc_leases.CHUNK_SIZE)
    finally:
        isc_leases._fastpath._keys6 = saved
    assert np.array_equal(k4, k4b) and k6.tobytes() == k6b.tobytes() and len(k6) == 4


@needs_accel
@settings(max_examples=300, deadline=None)
@given(raw=st.lists(st.binary(min_size=18, max_size=18).map(lambda b: bytes(x & 3 for x in b)),
                    max_size=200))
def test_last_keys_equals_numpy(raw: list[bytes]) -> None:
    """pass 1's winners of v6 keys from the C hash set are np.unique's (many duplicates)."""
    keys = np.frombuffer(b"".join(raw), dtype=isc_leases._index._V6_KEY)
    fast = isc_leases._last_occurrence(keys)
    saved = isc_leases._fastpath._last_keys
    isc_leases._fastpath._last_keys = None
    try:
        slow = isc_leases._last_occurrence(keys)
    finally:
        isc_leases._fastpath._last_keys = saved
    assert fast.dtype == slow.dtype and fast.tolist() == slow.tolist()


@needs_accel
@pytest.mark.parametrize("text", [
    "", "\n", "\nhost x", "\nhos", "\n host", "\ngroup {", "\nclass", "\nsubclass \"a\"",
    "\nsubclas", "\nia-na x", "\nia-", "\nia", "\n ia-na", "\nlease 1 {\n}\nia-pd x\nhostile",
    "x\nclass", "host\n", "\nia-ta\nclassy", "\n\n\nia-pd"])
def test_line_starts_equals_python(text: str) -> None:
    from kea_etl import _isc4

    assert _isc4.line_starts(text) == isc_leases._fastpath._line_starts_py(text)
