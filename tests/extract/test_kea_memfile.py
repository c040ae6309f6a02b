"""Kea memfile extractor: header versions, escaping, Kea's row checks, and the log structure.

The log-structure rules (last row per address wins, valid lifetime 0 deletes, a bad row is
skipped) are checked three ways: hand-written files, a hypothesis model of Kea's loader, and a
real Kea 2.x loading the same file (``lease4-get-all`` must equal what the extractor yields).
"""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kea_etl.errors import ConfigError, MalformedRecordError
from kea_etl.extract import kea_memfile
from kea_etl.extract.base import Extracted
from kea_etl.records import Lease4, Lease6
from tests.harness import clock
from tests.harness.memfile import write_lfc_leftovers

H4_10 = "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname"
H4_22 = H4_10 + ",state,user_context"
H4_24 = H4_22 + ",pool_id"
H6_22 = ("address,duid,valid_lifetime,expire,subnet_id,pref_lifetime,lease_type,iaid,prefix_len,fqdn_fwd,"
         "fqdn_rev,hostname,hwaddr,state,user_context,hwtype,hwaddr_source")
H6_24 = H6_22 + ",pool_id"
EXP = 2_000_000_000  # 2033: far from "now", so no Kea reclaims these leases during a test


def write(tmp_path: Path, name: str, *lines: str) -> Path:
    p = tmp_path / name
    p.write_text("".join(line + "\n" for line in lines))
    return p


def split(items: Iterator[Any]) -> tuple[list[Extracted], list[MalformedRecordError]]:
    good: list[Extracted] = []
    bad: list[MalformedRecordError] = []
    for it in items:
        (bad if isinstance(it, MalformedRecordError) else good).append(it)
    return good, bad


def test_v4_22_header_fields(tmp_path: Path) -> None:
    p = write(tmp_path, "kea-leases4.csv", H4_22,
              f"192.0.2.10,aa:bb:cc:dd:ee:01,01:aa:bb:cc:dd:ee:01,3600,{EXP},1,1,0,host&#x2ca,0,"
              '{ "a": 1&#x2c "b": "x" }',
              f"192.0.2.11,aa:bb:cc:dd:ee:02,,0xffffffff,{EXP},1,0,0,,0,")
    good, bad = split(kea_memfile.extract(p))
    assert len(good) == 1 and len(bad) == 1
    rec = good[0].record
    assert rec == Lease4(address="192.0.2.10", hwaddr="aa:bb:cc:dd:ee:01", client_id="01:aa:bb:cc:dd:ee:01",
                         valid_lft=3600, cltt=EXP - 3600, subnet_id=1, fqdn_fwd=True, fqdn_rev=False,
                         hostname="host,a", state=0, user_context={"a": 1, "b": "x"})
    assert good[0].line == 2 and good[0].binding_state == "active" and good[0].extra["pool_id"] == 0
    assert bad[0].line == 3 and bad[0].key == "192.0.2.11" and "valid_lifetime" in str(bad[0])


def test_v4_24_header_pool_id_and_escape_of_any_char(tmp_path: Path) -> None:
    p = write(tmp_path, "l.csv", H4_24,
              f"192.0.2.10,aa:bb:cc:dd:ee:01,,3600,{EXP},7,0,0,a&#x3bb&#x2C,2,,5")
    (ext,) = kea_memfile.extract(p)
    assert isinstance(ext, Extracted)
    assert ext.record.hostname == "a;b,"
    assert ext.record.subnet_id == 7
    assert ext.extra["pool_id"] == 5
    assert ext.binding_state == "expired"  # state 2 = expired-reclaimed


def test_older_header_is_upgraded_with_defaults(tmp_path: Path) -> None:
    # Kea 1.0 schema: no state, no user_context. Kea upgrades it on load (state 0).
    p = write(tmp_path, "l.csv", H4_10,
              f"192.0.2.10,aa:bb:cc:dd:ee:01,,3600,{EXP},1,0,0,old")
    (ext,) = kea_memfile.extract(p)
    assert isinstance(ext, Extracted) and ext.record.state == 0 and ext.record.hostname == "old"


def test_newer_trailing_columns_are_ignored(tmp_path: Path) -> None:
    p = write(tmp_path, "l.csv", H4_24 + ",future_col",
              f"192.0.2.10,aa:bb:cc:dd:ee:01,,3600,{EXP},1,0,0,,0,,0,zzz")
    (ext,) = kea_memfile.extract(p)
    assert isinstance(ext, Extracted) and ext.record.address == IPv4Address("192.0.2.10")


@pytest.mark.parametrize(("header", "message"), [
    ("address,hwaddr,client_id,valid_lifetime,expire,subnet,fqdn_fwd,fqdn_rev,hostname",
     "column 6 is 'subnet', Kea expects 'subnet_id'"),
    ("address,hwaddr,client_id,valid_lifetime,expire", "needs at least the columns up to 'hostname'"),
    ("ip,mac,lease", "not a Kea lease file header"),
])
def test_bad_headers_fail_the_file(tmp_path: Path, header: str, message: str) -> None:
    p = write(tmp_path, "l.csv", header, "x")
    with pytest.raises(ConfigError, match=message):
        list(kea_memfile.extract(p))


def test_crlf_header_is_refused_like_kea_does(tmp_path: Path) -> None:
    p = tmp_path / "l.csv"
    p.write_bytes((H4_22 + "\r\n").encode())
    with pytest.raises(ConfigError, match="CRLF"):
        list(kea_memfile.extract(p))


def test_kea_row_checks(tmp_path: Path) -> None:
    p = write(tmp_path, "l.csv", H4_22,
              f"192.0.2.1,,,3600,{EXP},1,0,0,,1,",              # blank hwaddr, declined: OK
              f"192.0.2.2,,,3600,{EXP},1,0,0,,0,",              # blank hwaddr, not declined
              f"192.0.2.3,aa:bb:cc:dd:ee:03,,3600,{EXP},1,true,0,,0,",  # fqdn_fwd must be 0/1
              f"192.0.2.4,aa:bb:cc:dd:ee:04,,3600,{EXP},1,0,0,,0,[1]",  # context not a map
              f"192.0.2.5,aa:bb:cc:dd:ee:05,,3600,{EXP},1,0,0,,0",      # one field short
              f"192.0.2.6,aa:bb:cc:dd:ee:06,01,3600,{EXP},1,0,0,,0,",   # 1-byte client-id
              f"2001:db8::1,aa:bb:cc:dd:ee:07,,3600,{EXP},1,0,0,,0,",   # v6 address in v4 file
              "")
    good, bad = split(kea_memfile.extract(p))
    assert [str(g.record.address) for g in good] == ["192.0.2.1"]
    assert good[0].record.state == 1 and good[0].record.hwaddr is None
    assert [b.line for b in bad] == [3, 4, 5, 6, 7, 8]
    assert "neither a hardware address nor a client-id" in str(bad[0])
    assert "client-id is 1 bytes; Kea 2.2 accepts 2..128" in str(bad[4])
    assert "has 10 fields, the header has 11" in str(bad[3])
    assert str(bad[0]).startswith(f"{p} line 3: 192.0.2.2 cannot be read")


def test_v6_na_ta_pd(tmp_path: Path) -> None:
    duid = "00:01:00:01:2a:2b:2c:2d:aa:bb:cc:dd:ee:ff"
    p = write(tmp_path, "kea-leases6.csv", H6_24,
              f"2001:db8:1::1000,{duid},4000,{EXP},1,3000,0,7,128,0,0,h6,aa:bb:cc:dd:ee:ff,0,,1,2,3",
              f"2001:db8:8000:100::,{duid},4000,{EXP},1,3000,2,8,56,0,0,,,0,,0,0,0",
              f"2001:db8:1::2000,{duid},4000,{EXP},1,3000,1,9,128,0,0,,,0,,0,0,0",
              # Kea 2.4+ (a pool_id header): the empty DUID is 00:00:00, and 00 is too short
              f"2001:db8:1::3000,00:00:00,4000,{EXP},1,3000,0,10,128,0,0,,,0,,0,0,0",  # not declined
              f"2001:db8:1::3001,00:00:00,4000,{EXP},1,3000,0,10,128,0,0,,,1,,0,0,0",  # declined: OK
              f"2001:db8:1::3002,00,4000,{EXP},1,3000,0,10,128,0,0,,,1,,0,0,0")  # 1 byte: too short
    good, bad = split(kea_memfile.extract(p))
    recs = [g.record for g in good]
    assert all(isinstance(r, Lease6) for r in recs)
    assert recs[0] == Lease6(address="2001:db8:1::1000", duid=duid, iaid=7, valid_lft=4000, cltt=EXP - 4000,
                             preferred_lft=3000, subnet_id=1, hostname="h6", hwaddr="aa:bb:cc:dd:ee:ff")
    assert good[0].extra == {"pool_id": 3, "hwtype": 1, "hwaddr_source": 2}
    assert recs[1].lease_type == "IA_PD" and recs[1].prefix_len == 56
    assert recs[1].key == "2001:db8:8000:100::/56"
    assert recs[2].lease_type == "IA_TA"
    assert recs[3].address == IPv6Address("2001:db8:1::3001") and recs[3].state == 1
    assert [b.line for b in bad] == [5, 7]
    assert "DUID is 1 bytes; Kea 2.4 and later accepts 3..130" in str(bad[1])


def test_log_structure_last_row_wins_and_lifetime_0_deletes(tmp_path: Path) -> None:
    row = "{a},aa:bb:cc:dd:ee:{m},,{v},{e},1,0,0,{h},0,"
    p = write(tmp_path, "l.csv", H4_22,
              row.format(a="192.0.2.1", m="01", v=3600, e=EXP, h="first"),
              row.format(a="192.0.2.2", m="02", v=3600, e=EXP, h="kept"),
              row.format(a="192.0.2.1", m="03", v=7200, e=EXP + 10, h="second"),   # replaces .1
              row.format(a="192.0.2.3", m="04", v=3600, e=EXP, h="deleted"),
              row.format(a="192.0.2.3", m="04", v=0, e=EXP, h=""),                 # deletes .3
              row.format(a="192.0.2.4", m="05", v=0, e=EXP, h=""),                 # delete of nothing
              row.format(a="192.0.2.5", m="06", v=3600, e=EXP, h="gone"),
              row.format(a="192.0.2.5", m="06", v=0, e=EXP, h=""),
              row.format(a="192.0.2.5", m="07", v=3600, e=EXP, h="back"),          # re-added
              row.format(a="192.0.2.2", m="zz", v=3600, e=EXP, h="broken"))        # bad: .2 stays
    good, bad = split(kea_memfile.extract(p))
    assert [(str(g.record.address), g.record.hostname, g.line) for g in good] == [
        ("192.0.2.2", "kept", 3), ("192.0.2.1", "second", 4), ("192.0.2.5", "back", 10)]
    assert good[1].record.hwaddr == "aa:bb:cc:dd:ee:03" and good[1].record.valid_lft == 7200
    assert [b.line for b in bad] == [11]
    history = [g for g in kea_memfile.extract(p, keep_history=True) if isinstance(g, Extracted)]
    assert len(history) == 9


def test_sniff() -> None:
    assert kea_memfile.sniff((H4_22 + "\n192.0.2.1,...").encode())
    assert kea_memfile.sniff((H6_24 + "\n").encode())
    assert not kea_memfile.sniff(b"ip,mac\n")
    assert not kea_memfile.sniff(b"lease 192.0.2.1 {\n")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        list(kea_memfile.extract(tmp_path / "nope.csv"))


# ---- a model of Kea's LeaseFileLoader::load ----------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.sampled_from([0, 0, 60, 3600]), st.booleans()),
                max_size=40))
def test_matches_model_of_kea_loader(tmp_path_factory: pytest.TempPathFactory,
                                     ops: list[tuple[int, int, bool]]) -> None:
    lines = [H4_22]
    model: dict[str, tuple[int, int]] = {}
    for n, (host, valid, broken) in enumerate(ops):
        addr = f"192.0.2.{host}"
        hw = "zz" if broken else f"aa:bb:cc:00:00:{n % 256:02x}"
        lines.append(f"{addr},{hw},,{valid},{EXP + n},1,0,0,h{n},0,")
        if broken:
            continue  # Kea skips the row; the storage is untouched
        if valid == 0:
            model.pop(addr, None)
        else:
            model[addr] = (n, valid)
    p = write(tmp_path_factory.mktemp("model"), "l.csv", *lines)
    good, bad = split(kea_memfile.extract(p))
    assert len(bad) == sum(1 for op in ops if op[2])
    got = {str(g.record.address): (int(g.record.hostname[1:]), g.record.valid_lft) for g in good}
    assert got == model
    assert len({g.line for g in good}) == len(good)


# ---- real Kea ---------------------------------------------------------------------------------

@pytest.mark.kea
def test_real_kea_loads_the_same_leases_from_a_log_structured_file(tmp_path: Path, kea_factory: Any) -> None:
    """Kea loads a hand-made log file; lease4-get-all must equal the extractor's output."""
    row = "{a},aa:bb:cc:dd:ee:{m},{c},{v},{e},{s},{f},{f},{h},{st},{u}"
    src = write(tmp_path, "kea-leases4.csv", H4_22,
                row.format(a="192.0.2.20", m="01", c="", v=3600, e=EXP, s=1, f=0, h="", st=0, u=""),
                row.format(a="192.0.2.21", m="02", c="01:aa:bb:cc:dd:ee:02", v=3600, e=EXP, s=1, f=1,
                           h="a&#x2cb.example.org", st=0, u='{"x": 1&#x2c "y": [2]}'),
                row.format(a="192.0.2.20", m="03", c="", v=7200, e=EXP + 5, s=1, f=0, h="moved", st=0, u=""),
                row.format(a="192.0.2.22", m="04", c="", v=3600, e=EXP, s=1, f=0, h="", st=0, u=""),
                row.format(a="192.0.2.22", m="04", c="", v=0, e=EXP, s=1, f=0, h="", st=0, u=""),
                row.format(a="198.51.100.5", m="05", c="", v=3600, e=EXP, s=2, f=0, h="", st=1, u=""),
                row.format(a="192.0.2.21", m="zz", c="", v=3600, e=EXP, s=1, f=0, h="bad", st=0, u=""),
                # infinite lifetime: expire = cltt + 0xffffffff does not fit 32 bits
                row.format(a="192.0.2.23", m="06", c="", v=4294967295, e=EXP + 4294967295, s=1, f=0, h="",
                           st=0, u=""))
    expected, bad = split(kea_memfile.extract(src))
    assert len(bad) == 1
    srv = kea_factory(family=4, lease_file=src)
    kea = sorted((Lease4.from_kea(d) for d in srv.leases()), key=lambda r: int(r.address))
    assert kea == sorted((e.record for e in expected), key=lambda r: int(r.address))  # type: ignore[union-attr]
    assert len(kea) == 4


def _exercise_v4(srv: Any) -> list[Lease4]:
    """Add, update and delete leases over the socket; returns what the server then holds."""
    now = clock.now()
    adds = [
        {"ip-address": "192.0.2.30", "hw-address": "aa:bb:cc:00:00:01", "valid-lft": 3600},
        {"ip-address": "192.0.2.31", "hw-address": "aa:bb:cc:00:00:02",
         "client-id": "01:aa:bb:cc:00:00:02",
         "hostname": "with,comma.example.org", "fqdn-fwd": True, "user-context": {"k": "a,b"},
         "expire": now + 5000, "valid-lft": 5000},
        {"ip-address": "192.0.2.32", "hw-address": "aa:bb:cc:00:00:03", "state": 1},
        {"ip-address": "198.51.100.9", "hw-address": "aa:bb:cc:00:00:04", "subnet-id": 2},
        {"ip-address": "192.0.2.33", "hw-address": "aa:bb:cc:00:00:05"},
    ]
    for a in adds:
        srv.ok("lease4-add", a)
    srv.ok("lease4-update", {"ip-address": "192.0.2.30", "hw-address": "aa:bb:cc:00:00:09",
                             "hostname": "renamed", "valid-lft": 1800})
    srv.ok("lease4-del", {"ip-address": "192.0.2.33"})
    return sorted((Lease4.from_kea(d) for d in srv.leases()), key=lambda r: int(r.address))


def _check_v4(before: list[Lease4], lease_file: Path) -> list[Extracted]:
    good, bad = split(kea_memfile.extract(lease_file))
    assert bad == []
    got = sorted((g.record for g in good), key=lambda r: int(r.address))  # type: ignore[union-attr]
    assert got == before
    assert len(got) == 4
    by_addr = {str(r.address): r for r in got}
    assert by_addr["192.0.2.31"].hostname == "with,comma.example.org"
    assert by_addr["192.0.2.31"].user_context == {"k": "a,b"}
    assert by_addr["192.0.2.30"].hostname == "renamed" and by_addr["192.0.2.30"].hwaddr == "aa:bb:cc:00:00:09"
    assert by_addr["192.0.2.32"].state == 1
    assert by_addr["198.51.100.9"].subnet_id == 2
    return good


@pytest.mark.kea
def test_real_kea_written_lease_file_v4(kea_factory: Any) -> None:
    """Leases added, updated and deleted over Kea's socket; the file Kea wrote reads back the same."""
    srv = kea_factory(family=4)
    before = _exercise_v4(srv)
    srv.stop()
    lease_file = Path(srv.lease_file)
    assert lease_file.read_text().splitlines()[0].startswith(H4_22)
    # the delete is in the file as a row with valid lifetime 0, and the update as a second row
    rows = [r.split(",") for r in lease_file.read_text().splitlines()[1:]]
    assert [r[3] for r in rows if r[0] == "192.0.2.33"][-1] == "0"
    assert sum(1 for r in rows if r[0] == "192.0.2.30") == 2
    _check_v4(before, lease_file)


@pytest.mark.kea3
def test_real_kea3_written_lease_file_v4_with_pool_id(kea_factory: Any) -> None:
    srv = kea_factory(family=4, kea3=True)
    before = _exercise_v4(srv)
    srv.stop()
    lease_file = Path(srv.lease_file)
    assert lease_file.read_text().splitlines()[0] == H4_24
    good = _check_v4(before, lease_file)
    assert {g.extra["pool_id"] for g in good} == {0}


@pytest.mark.kea
def test_real_kea_written_lease_file_v6(kea_factory: Any) -> None:
    srv = kea_factory(family=6)
    duid = "00:03:00:01:aa:bb:cc:dd:ee:01"
    srv.ok("lease6-add", {"ip-address": "2001:db8:1::1001", "duid": duid, "iaid": 11,
                          "hostname": "h,6", "valid-lft": 4000, "preferred-lft": 3000})
    srv.ok("lease6-add", {"ip-address": "2001:db8:8000:100::", "duid": duid, "iaid": 12, "type": "IA_PD",
                          "prefix-len": 56, "subnet-id": 1})
    srv.ok("lease6-add", {"ip-address": "2001:db8:1::1002", "duid": duid, "iaid": 13})
    srv.ok("lease6-del", {"ip-address": "2001:db8:1::1002"})
    before = sorted((Lease6.from_kea(d) for d in srv.leases()), key=lambda r: int(r.address))
    srv.stop()
    good, bad = split(kea_memfile.extract(Path(srv.lease_file)))
    assert bad == []
    got = sorted((g.record for g in good), key=lambda r: int(r.address))  # type: ignore[union-attr]
    assert got == before
    assert [r.key for r in got] == ["2001:db8:1::1001", "2001:db8:8000:100::/56"]  # type: ignore[union-attr]


def test_infinite_lifetime_expire_beyond_32_bits(tmp_path: Path) -> None:
    cltt = 1_795_813_200
    p = write(tmp_path, "l.csv", H4_22,
              f"192.0.2.9,aa:bb:cc:dd:ee:09,,4294967295,{cltt + 4294967295},1,0,0,,0,")
    (ext,) = kea_memfile.extract(p)
    assert isinstance(ext, Extracted)
    assert (ext.record.valid_lft, ext.record.cltt) == (4294967295, cltt)  # type: ignore[union-attr]


# ---- the leftovers of an interrupted lease file cleanup (NAME.completed / NAME.2 / NAME.1) ----

def _leftover_set(lease_file: Path, *, completed: bool) -> None:
    """NAME plus the files an interrupted LFC leaves: .2 and .1, or .completed (then Kea loads
    .completed and ignores .2 / .1)."""
    exp = clock.now() + 86400

    def rows(*spec: tuple[str, str, int]) -> str:
        return H4_22 + "\n" + "".join(f"{a},{m},,{lft},{exp},1,0,0,,0,\n" for a, m, lft in spec)

    write_lfc_leftovers(lease_file, rows, completed=completed)


def _view(items: Iterator[Any]) -> set[tuple[str, str | None]]:
    good, bad = split(items)
    assert bad == []
    return {(str(g.record.address), g.record.hwaddr) for g in good}  # type: ignore[union-attr]


@pytest.mark.parametrize("completed", [False, True], ids=["leftovers", "completed"])
def test_lfc_leftovers_are_read_first(tmp_path: Path, completed: bool) -> None:
    """Before: kea-memfile: read NAME only and lost 192.0.2.10 and .12 (only in NAME.2 / NAME.1),
    which Kea itself loads; reconcile --against (kea_files) read them. One reader now."""
    from kea_etl.reconcile import KeaFileLeases

    lease_file = tmp_path / "kea-leases4.csv"
    _leftover_set(lease_file, completed=completed)
    got = _view(kea_memfile.extract(lease_file))
    want = {("192.0.2.11", "00:00:00:00:00:00"), ("192.0.2.14", "00:00:00:00:00:00")}
    want |= {("192.0.2.13", "00:00:00:00:00:0c")} if completed else {
        ("192.0.2.10", "00:00:00:00:00:01"), ("192.0.2.12", "00:00:00:00:00:01")}
    assert got == want
    assert _view(kea_memfile.extract(lease_file, leftovers=False)) == {
        ("192.0.2.11", "00:00:00:00:00:00"), ("192.0.2.14", "00:00:00:00:00:00")}
    # every item names the file it came from
    sources = {Path(g.source).name for g in split(kea_memfile.extract(lease_file))[0]}
    assert sources == ({"kea-leases4.csv", "kea-leases4.csv.completed"} if completed
                       else {"kea-leases4.csv", "kea-leases4.csv.1"})
    # reconcile --against reads the same set through the same reader
    section = {"subnet4": [{"id": 1, "subnet": "192.0.2.0/24"}]}
    with KeaFileLeases(lease_file, family=4, section=section) as files:
        files.load()
        assert {(str(r.address), r.hwaddr) for r in files} == want  # type: ignore[union-attr]


@pytest.mark.kea
@pytest.mark.parametrize("kea3", [False, pytest.param(True, marks=pytest.mark.kea3)],
                         ids=["kea2", "kea3"])
@pytest.mark.parametrize("completed", [False, True], ids=["leftovers", "completed"])
def test_lfc_leftovers_as_real_kea_loads_them(tmp_path: Path, kea_factory: Any, kea3: bool,
                                              completed: bool) -> None:
    """A real Kea started on the same set of files holds exactly what kea-memfile: yields."""
    srv = kea_factory(family=4, kea3=kea3)
    srv.stop()
    lease_file = Path(srv.lease_file)
    _leftover_set(lease_file, completed=completed)
    got = _view(kea_memfile.extract(lease_file))
    srv.start()
    held = {(d["ip-address"], d["hw-address"]) for d in srv.leases()}
    assert got == held
    assert ("192.0.2.12", "00:00:00:00:00:01") in held or completed
