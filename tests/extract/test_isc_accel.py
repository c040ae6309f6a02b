"""The C fast path for dhcpd.leases v4 blocks (kea_etl/_isc4.c) against the pure-Python parser.

The accelerator may only ever *agree* with the Python parser: for every block it either builds
exactly the item _make4 builds (same record, same slots, same extra, same line) or leaves the
block to Python. These tests run both on the same files and compare every item.
"""

from __future__ import annotations

import dataclasses
import gc
import os
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kea_etl.extract import isc_leases
from kea_etl.extract.base import Extracted
from kea_etl.records import Lease4
from tests.harness.accel import both, view
from tests.harness.leasefile import quote

DATA = Path(__file__).parent / "data"
SAMPLE = Path(__file__).resolve().parents[2] / "sample-data"
HEADER = "authoring-byte-order little-endian;\n\n"


needs_accel = pytest.mark.skipif(isc_leases._fastpath._scan4 is None,
                                 reason="the C fast path is not built or turned off (KEA_ETL_NO_ACCEL)")


@pytest.fixture(autouse=True)
def _serial(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isc_leases._fastpath, "_parallel", "off")


def test_accelerator_is_built_here() -> None:
    """The suite runs where a C compiler exists (scripts/install-deps): a broken build of the
    extension must fail loudly here instead of silently falling back to the slower parser."""
    if os.environ.get("KEA_ETL_NO_ACCEL", "") not in ("", "0"):
        pytest.skip("KEA_ETL_NO_ACCEL is set")
    assert isc_leases.ACCELERATED


@needs_accel
@pytest.mark.parametrize("path", sorted(DATA.glob("*.leases")) + sorted(SAMPLE.glob("*.leases")),
                         ids=lambda p: p.name)
@pytest.mark.parametrize("chunk", [64, isc_leases.CHUNK_SIZE])
def test_fixtures_and_sample_data_agree(path: Path, chunk: int) -> None:
    fast, slow, _ = both(path, chunk_size=chunk)
    assert fast == slow


@needs_accel
def test_real_dhcpd_file_is_read_by_the_accelerator() -> None:
    """Real dhcpd output is what the fast path is for: every lease of the sample file is built
    in C (otherwise the agreement above would be vacuous)."""
    fast, slow, built = both(SAMPLE / "dhcpd.leases")
    assert fast == slow
    assert built == len(fast) > 300


GOOD = """lease 10.0.0.1 {
  starts 4 2026/11/26 10:00:00;
  ends 5 2026/11/27 10:00:00;
  tstp 5 2026/11/27 10:00:00;
  tsfp 5 2026/11/27 11:00:00;
  atsfp 5 2026/11/27 11:00:00;
  cltt 4 2026/11/26 10:00:00;
  binding state active;
  next binding state free;
  rewind binding state free;
  hardware ethernet 00:11:22:aa:bb:cc;
  uid "\\001\\000\\021\\"\\\\\\377x;y";
  client-hostname "pc-1";
}
"""

# (name, text of a block or blocks): each either taken by C or left to Python; the items must
# be the same either way. Many are deliberately odd or broken.
CASES: list[tuple[str, str]] = [
    ("all statements", GOOD),
    ("minimal", "lease 10.0.0.2 {\n  binding state free;\n}\n"),
    ("never ends", GOOD.replace("ends 5 2026/11/27 10:00:00", "ends never")),
    ("never starts", GOOD.replace("starts 4 2026/11/26 10:00:00", "starts never")),
    ("never cltt", GOOD.replace("cltt 4 2026/11/26 10:00:00", "cltt never")),
    ("no cltt", GOOD.replace("  cltt 4 2026/11/26 10:00:00;\n", "")),
    ("no ends", GOOD.replace("  ends 5 2026/11/27 10:00:00;\n", "")),
    ("ends before cltt", GOOD.replace("ends 5 2026/11/27 10:00:00", "ends 3 2026/11/25 10:00:00")),
    ("ends equal cltt", GOOD.replace("ends 5 2026/11/27 10:00:00", "ends 4 2026/11/26 10:00:00")),
    ("leap second", GOOD.replace("10:00:00;\n  tstp", "23:59:60;\n  tstp")),
    ("leap day", GOOD.replace("ends 5 2026/11/27", "ends 2 2028/02/29")),
    ("not a leap day", GOOD.replace("ends 5 2026/11/27", "ends 0 2027/02/29")),
    ("day 31 of a 30-day month", GOOD.replace("ends 5 2026/11/27", "ends 1 2026/11/31")),
    ("month 13", GOOD.replace("ends 5 2026/11/27", "ends 1 2026/13/01")),
    ("hour 24", GOOD.replace("ends 5 2026/11/27 10:00:00", "ends 5 2026/11/27 24:00:00")),
    ("second 61", GOOD.replace("ends 5 2026/11/27 10:00:00", "ends 5 2026/11/27 10:00:61")),
    ("before 1970", GOOD.replace("starts 4 2026/11/26", "starts 3 1969/12/31")),
    ("year 2105", GOOD.replace("ends 5 2026/11/27", "ends 5 2105/11/27")),
    ("cltt after 2106", GOOD.replace("cltt 4 2026/11/26", "cltt 4 2107/01/01").replace(
        "ends 5 2026/11/27", "ends 5 2108/01/01")),
    ("year 5 digits", GOOD.replace("ends 5 2026/11/27", "ends 5 12026/11/27")),
    ("one-digit month", GOOD.replace("ends 5 2026/11/27", "ends 5 2026/1/27")),
    ("UTC suffix", GOOD.replace("ends 5 2026/11/27 10:00:00", "ends 5 2026/11/27 10:00:00 UTC")),
    ("epoch date", GOOD.replace("ends 5 2026/11/27 10:00:00;", "ends epoch 1795000000; # x")),
    ("weekday letter", GOOD.replace("ends 5 2026", "ends x 2026")),
    ("tab in date", GOOD.replace("ends 5 2026/11/27 10", "ends 5 2026/11/27\t10")),
    ("every state", "".join(
        f"lease 10.0.1.{i} {{\n  binding state {s};\n}}\n"
        for i, s in enumerate(("active", "free", "abandoned", "backup", "expired", "released",
                               "reset", "bootp", "bogus"), 1))),
    ("odd next state", GOOD.replace("next binding state free", "next binding state weird")),
    ("uppercase state", GOOD.replace("binding state active", "binding state ACTIVE")),
    ("uid hex", GOOD.replace('uid "\\001\\000\\021\\"\\\\\\377x;y"', "uid 01:0:Aa:b")),
    ("uid hex bad", GOOD.replace('uid "\\001\\000\\021\\"\\\\\\377x;y"', "uid 01::02")),
    ("uid hex trailing colon", GOOD.replace('uid "\\001\\000\\021\\"\\\\\\377x;y"', "uid 01:")),
    ("uid hex long group", GOOD.replace('uid "\\001\\000\\021\\"\\\\\\377x;y"', "uid 012:3")),
    ("uid empty quoted", GOOD.replace('uid "\\001\\000\\021\\"\\\\\\377x;y"', 'uid ""')),
    ("uid empty", GOOD.replace('uid "\\001\\000\\021\\"\\\\\\377x;y"', "uid ")),
    ("uid octal 400", GOOD.replace("\\377x", "\\400x")),
    ("uid short octal", GOOD.replace("\\377x", "\\12x")),
    ("uid octal then digit", GOOD.replace("\\377x", "\\1234")),
    ("uid other escape", GOOD.replace("\\377x", "\\tx")),
    ("uid latin-1 byte", GOOD.replace("\\377x", "\xe9x")),
    ("uid 256 bytes", GOOD.replace('uid "\\001\\000\\021\\"\\\\\\377x;y"', 'uid "' + "a" * 256 + '"')),
    ("uid 255 bytes", GOOD.replace('uid "\\001\\000\\021\\"\\\\\\377x;y"', 'uid "' + "a" * 255 + '"')),
    ("hostname escaped", GOOD.replace('"pc-1"', '"pc\\"1"')),
    ("hostname utf-8", GOOD.replace('"pc-1"', '"p\xc3\xa9"')),
    ("hostname empty", GOOD.replace('"pc-1"', '""')),
    ("hostname semicolon", GOOD.replace('"pc-1"', '"a;b"')),
    ("hostname unquoted", GOOD.replace('"pc-1"', "pc-1")),
    ("hardware token-ring", GOOD.replace("hardware ethernet", "hardware token-ring")),
    ("hardware short", GOOD.replace("00:11:22:aa:bb:cc", "00:11:22:aa:bb")),
    ("hardware empty", GOOD.replace("00:11:22:aa:bb:cc", "")),
    ("hardware unpadded", GOOD.replace("00:11:22:aa:bb:cc", "0:11:22:aa:bb:cc")),
    ("hardware uppercase", GOOD.replace("00:11:22:aa:bb:cc", "00:11:22:AA:BB:CC")),
    ("set line", GOOD.replace("  client-hostname", '  set vendor-class-identifier = "x";\n'
                                                   "  client-hostname")),
    ("option line", GOOD.replace("  client-hostname", '  option agent.circuit-id "c";\n'
                                                      "  client-hostname")),
    ("reserved", GOOD.replace("  hardware", "  reserved;\n  hardware")),
    ("dynamic-bootp", GOOD.replace("  hardware", "  dynamic-bootp;\n  hardware")),
    ("on expiry", GOOD.replace("}\n", "  on expiry {\n    set ddns-fwd-name = \"x\";\n  }\n}\n")),
    ("out of order", GOOD.replace("  starts 4 2026/11/26 10:00:00;\n", "").replace(
        "  cltt", "  starts 4 2026/11/26 10:00:00;\n  cltt")),
    ("duplicate ends", GOOD.replace("  tstp", "  ends 5 2026/11/28 10:00:00;\n  tstp")),
    ("no binding state", GOOD.replace("  binding state active;\n", "")),
    ("tab indent", GOOD.replace("  starts", "\tstarts")),
    ("three-space indent", GOOD.replace("  ends", "   ends")),
    ("space before semicolon", GOOD.replace("free;\n  rewind", "free ;\n  rewind")),
    ("comment line", GOOD.replace("  hardware", "  # a comment\n  hardware")),
    ("trailing comment", GOOD.replace("active;\n", "active; # now\n")),
    ("crlf", GOOD.replace("\n", "\r\n")),
    ("junk after brace", GOOD.replace("}\n", "} junk\n")),
    ("brace not at column 0", GOOD.replace("\n}\n", "\n }\n")),
    ("address leading zero", GOOD.replace("10.0.0.1 ", "10.0.0.01 ")),
    ("address three parts", GOOD.replace("10.0.0.1 ", "10.0.1 ")),
    ("address 256", GOOD.replace("10.0.0.1 ", "10.0.0.256 ")),
    ("address five parts", GOOD.replace("10.0.0.1 ", "10.0.0.1.5 ")),
    ("address hostname", GOOD.replace("10.0.0.1 ", "host.example ")),
    ("address no space", GOOD.replace("10.0.0.1 {", "10.0.0.1{")),
    ("two spaces before brace", GOOD.replace("10.0.0.1 {", "10.0.0.1  {")),
    ("truncated", GOOD[:GOOD.index("  hardware")]),
    ("truncated in a statement", GOOD[:GOOD.index("  hardware") + 12]),
    ("no final newline", GOOD.rstrip("\n")),
    ("history", GOOD + GOOD.replace("pc-1", "pc-2") + GOOD.replace("active;\n  next", "free;\n  next")),
    ("history with odd winner", GOOD + GOOD.replace("  client-hostname", "  set x = \"1\";\n"
                                                    "  client-hostname")),
    ("history with odd loser", GOOD.replace("  client-hostname", "  set x = \"1\";\n"
                                            "  client-hostname") + GOOD),
    ("between blocks", GOOD + "\n# comment\nserver-duid \"\\000\\001\";\n\n" + GOOD.replace(
        "10.0.0.1 ", "10.0.0.3 ")),
    ("garbage between blocks", GOOD + "what is this;\n" + GOOD.replace("10.0.0.1 ", "10.0.0.4 ")),
    ("with ia-na", GOOD + 'ia-na "\\001\\000\\000\\000\\000\\001\\000\\001" {\n  cltt 4 2026/11/26 '
     "10:00:00;\n  iaaddr 2001:db8::1 {\n    binding state active;\n    preferred-life 100;\n"
     "    max-life 200;\n    ends 5 2026/11/27 10:00:00;\n  }\n}\n" + GOOD.replace("10.0.0.1 ",
                                                                                 "10.0.0.5 ")),
    ("failover peer", GOOD + 'failover peer "p" state {\n  my state normal at 4 2026/11/26 '
     "10:00:00;\n}\n" + GOOD.replace("10.0.0.1 ", "10.0.0.6 ")),
    ("nul in address", GOOD.replace("10.0.0.1 ", "10.0\x00.0.1 ")),
    ("odd keys in pass 1", GOOD + "lease\t 10.0.0.1\xa0{\n  binding state free;\n}\n"
     + "lease 10.0.0.1\x85 {\n  binding state free;\n}\nlease 10.0.0.1{\n  binding state free;\n}\n"
     + "leases 10.0.0.1 {\n}\nlease 010.0.0.1 {\n  binding state free;\n}\n" + GOOD),
]


@needs_accel
@pytest.mark.parametrize(("name", "text"), CASES, ids=[c[0] for c in CASES])
def test_edge_cases_agree(tmp_path: Path, name: str, text: str) -> None:
    p = tmp_path / "dhcpd.leases"
    p.write_bytes((HEADER + text).encode("latin-1"))
    fast, slow, _ = both(p)
    assert fast == slow
    assert fast, "every case yields something"


@needs_accel
def test_accelerated_records_are_real_records(tmp_path: Path) -> None:
    """Records built in C behave like validated ones: equal, same hash, frozen, usable."""
    p = tmp_path / "dhcpd.leases"
    p.write_text(HEADER + GOOD + GOOD.replace("10.0.0.1 ", "10.0.0.9 ").replace(
        '  uid "\\001\\000\\021\\"\\\\\\377x;y";\n', ""))
    fast, _, built = both(p)
    assert built == 2
    got = [i for i in isc_leases.extract(p) if isinstance(i, Extracted)]
    for it in got:
        rec = it.record
        assert type(rec) is Lease4 and type(rec.address) is IPv4Address
        again = Lease4(**{f.name: getattr(rec, f.name) for f in dataclasses.fields(Lease4)})
        assert again == rec and hash(again) == hash(rec)
        assert Extracted(record=rec, binding_state=it.binding_state, source=it.source,
                         line=it.line, extra=it.extra) == it
        with pytest.raises(dataclasses.FrozenInstanceError):
            rec.hwaddr = "x"  # type: ignore[misc]
        assert rec.address.packed == IPv4Address(it.key).packed
    first = got[0].record
    assert isinstance(first, Lease4)
    assert first.client_id == "01:00:11:22:5c:ff:78:3b:79"
    assert (first.cltt, first.valid_lft, first.hostname) == (1795687200, 86400, "pc-1")
    assert got[1].record.client_id is None  # type: ignore[union-attr]
    del got, fast
    gc.collect()  # the C-built objects are tracked and freed like any other


# -- property: random blocks in (mostly) dhcpd's layout ---------------------------------------

_DATES = st.one_of(
    st.builds(lambda wd, y, mo, d, h, mi, s: f"{wd} {y:04d}/{mo:02d}/{d:02d} {h:02d}:{mi:02d}:{s:02d}",
              st.integers(0, 9), st.integers(1965, 2110), st.integers(0, 13), st.integers(0, 32),
              st.integers(0, 24), st.integers(0, 60), st.integers(0, 61)),
    st.just("never"), st.just("epoch 1795000000"), st.text("0123456789/: ", max_size=22))
_STATES = st.sampled_from(["active", "free", "abandoned", "backup", "expired", "released",
                           "reset", "bootp", "bogus"])
_BYTES = st.binary(max_size=8)


_UIDS = st.one_of(_BYTES.map(quote), _BYTES.filter(bool).map(lambda b: b.hex(":")),
                  st.text(alphabet='0123456789abcdefABCDEF:"\\x; ', max_size=10))
_HOSTS = st.one_of(st.from_regex(r'"[a-z0-9.-]{0,12}"', fullmatch=True),
                   st.text(alphabet='ab"\\; \xe9', max_size=6).map(lambda t: f'"{t}"'))


@st.composite
def _block(draw: Callable[..., Any]) -> str:
    a = draw(st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.03", "10.0.3"]))
    lines = [f"lease {a} {{"]
    for kw in ("starts", "ends", "tstp", "tsfp", "atsfp", "cltt"):
        if draw(st.booleans()):
            lines.append(f"  {kw} {draw(_DATES)};")
    if draw(st.integers(0, 9)):
        lines.append(f"  binding state {draw(_STATES)};")
    for kw in ("next binding state", "rewind binding state"):
        if draw(st.booleans()):
            lines.append(f"  {kw} {draw(_STATES)};")
    if draw(st.booleans()):
        mac = draw(st.binary(min_size=0, max_size=7)).hex(":")
        lines.append(f"  hardware {draw(st.sampled_from(['ethernet', 'fddi']))} {mac};")
    if draw(st.booleans()):
        lines.append(f"  uid {draw(_UIDS)};")
    if not draw(st.integers(0, 9)):
        lines.append('  set vendor-class-identifier = "v";')
    if draw(st.booleans()):
        lines.append(f"  client-hostname {draw(_HOSTS)};")
    if not draw(st.integers(0, 14)):
        draw(st.randoms()).shuffle(lines)
    return "\n".join(lines) + "\n}\n"


@needs_accel
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blocks=st.lists(_block(), min_size=1, max_size=6))
def test_random_blocks_agree(tmp_path: Path, blocks: list[str]) -> None:
    p = tmp_path / "dhcpd.leases"
    p.write_bytes((HEADER + "".join(blocks)).encode("latin-1"))
    fast, slow, _ = both(p)
    assert fast == slow


def _gen_lines(n: int) -> Iterator[str]:
    for i in range(n):
        yield GOOD.replace("10.0.0.1 ", f"10.1.{i // 250}.{i % 250 + 1} ").replace("pc-1", f"pc-{i}")


@needs_accel
def test_many_chunks_lines_and_winners_agree(tmp_path: Path) -> None:
    """Several chunks, history across chunk boundaries, odd blocks here and there."""
    p = tmp_path / "dhcpd.leases"
    parts = list(_gen_lines(3000))
    for k in range(0, 3000, 97):
        parts[k] = parts[k].replace("  client-hostname", '  set x = "1";\n  client-hostname')
    parts += parts[::7]
    p.write_text(HEADER + "".join(parts), encoding="latin-1")
    fast, slow, built = both(p, chunk_size=8192)
    assert fast == slow
    assert built > 2500


@needs_accel
@settings(max_examples=400, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list('\nlease 10.{}";:\\abcdefinrstuvwy0123456789\t\xa0\x85')),
                    max_size=400),
       pos=st.integers(-3, 420), i4=st.integers(-2, 40), win=st.binary(max_size=40),
       limit=st.integers(0, 5))
def test_c_functions_never_crash_on_any_input(text: str, pos: int, i4: int, win: bytes,
                                               limit: int) -> None:
    """Memory safety of the C code on arbitrary input and arguments (run under the suite)."""
    from kea_etl import _isc4

    items, end, last_i4, _line = _isc4.scan4("\n" + text, pos, win, i4, 1, "f", limit)
    assert len(items) <= max(limit, 0)
    assert end == pos or 0 <= end <= len(text) + 1
    assert last_i4 >= i4
    keys = _isc4.keys4(text, 7)
    assert len(keys) % 8 == 0


def test_the_environment_tunes_the_parser_only_through_the_cli(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """KEA_ETL_NO_ACCEL / KEA_ETL_PARALLEL are read by the CLI (the edge), never by the parser."""
    from click.testing import CliRunner

    from kea_etl.cli import main

    assert isc_leases.tuning_from_environ({}) == {"parallel": "auto", "accelerate": True}
    assert isc_leases.tuning_from_environ({"KEA_ETL_NO_ACCEL": "1", "KEA_ETL_PARALLEL": "0"}) == {
        "parallel": "off", "accelerate": False}
    assert isc_leases.tuning_from_environ({"KEA_ETL_PARALLEL": "force"})["parallel"] == "force"
    with pytest.raises(ValueError, match="auto, off or force"):
        isc_leases.tune(parallel="sometimes")  # type: ignore[arg-type]
    fast_path = isc_leases._fastpath
    for name in ("_parallel", "_scan4", "_keys4", "_scan6", "_keys6", "_last_keys", "_line_starts"):
        monkeypatch.setattr(fast_path, name, getattr(fast_path, name))  # restored afterwards
    monkeypatch.setenv("KEA_ETL_NO_ACCEL", "1")
    monkeypatch.setenv("KEA_ETL_PARALLEL", "force")
    built = fast_path._scan4
    fast = [view(i) for i in isc_leases.extract(SAMPLE / "dhcpd.leases")]
    assert fast_path._scan4 is built and fast_path._parallel == "off"  # the library: untouched
    assert CliRunner().invoke(main, ["migrate", "--help"]).exit_code == 0
    assert fast_path._scan4 is None and fast_path._keys6 is None and fast_path._parallel == "force"
    assert [view(i) for i in isc_leases.extract(SAMPLE / "dhcpd.leases")] == fast
