"""CSV extractor: default and explicit mappings, times, line numbers of bad rows, chunking."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kea_etl.errors import ConfigError, MalformedRecordError
from kea_etl.extract import csvfile, kea_memfile
from kea_etl.extract.base import Extracted
from kea_etl.extract.mapping import load_mapping, mapping_from_dict
from kea_etl.records import Lease4, Lease6, Reservation

DATA = Path(__file__).parent / "data_conf" / "csv"
EXP = 2_000_000_000


def split(items: Iterable[Any]) -> tuple[list[Extracted], list[MalformedRecordError]]:
    good: list[Extracted] = []
    bad: list[MalformedRecordError] = []
    for it in items:
        (bad if isinstance(it, MalformedRecordError) else good).append(it)
    return good, bad


@pytest.mark.parametrize("chunksize", [1, 2, 3, 50_000])
def test_default_mapping_obvious_columns_and_bad_rows(chunksize: int) -> None:
    path = DATA / "leases_simple.csv"
    good, bad = split(csvfile.extract(path, chunksize=chunksize))
    assert [g.record for g in good] == [
        Lease4(address="192.0.2.10", hwaddr="aa:bb:cc:dd:ee:01", hostname="alpha", valid_lft=3600,
               cltt=EXP - 3600),
        Lease4(address="192.0.2.11", hwaddr="aa:bb:cc:dd:ee:02", valid_lft=600, cltt=EXP - 600),
        Lease4(address="192.0.2.15", hwaddr="aa:bb:cc:dd:ee:06", hostname="NA", valid_lft=3600,
               cltt=EXP - 3600),
    ]
    assert [g.line for g in good] == [2, 3, 8]  # line 4 is blank
    assert [(b.line, b.key) for b in bad] == [(5, "192.0.2.12"), (6, None), (7, "192.0.2.999")]
    assert str(bad[0]) == (f"{path} line 5: 192.0.2.12 invalid expire '2033-05-18 03:33:20': time has no "
                           "UTC offset; write it as 2026-11-27T21:00:00Z or set 'timezone' in the mapping")
    assert "expected 5 fields, saw 6" in str(bad[1])
    assert all(g.source == str(path) for g in good)


def test_naive_times_accepted_with_a_timezone() -> None:
    good, bad = split(csvfile.extract(DATA / "leases_simple.csv",
                                      mapping={"columns": {"address": "ip", "hwaddr": "mac",
                                                           "valid_lft": "lease_time", "expire": "ends",
                                                           "hostname": "hostname"},
                                               "timezone": "UTC", "kind": "lease4"}))
    gamma = [g.record for g in good if g.record.hostname == "gamma"]
    assert len(gamma) == 1 and isinstance(gamma[0], Lease4) and gamma[0].expire == EXP


def test_mapping_file_lease6_with_strptime_timezone_and_constants() -> None:
    good, bad = split(csvfile.extract(DATA / "leases6.csv", mapping=DATA / "leases6_mapping.yaml"))
    cltt = 1_795_813_200  # 2026-11-27 22:00 in Berlin = 21:00 UTC
    assert [g.record for g in good] == [
        Lease6(address="2001:db8:1::1000", duid="00:03:00:01:aa:bb:cc:dd:ee:01", iaid=1, cltt=cltt,
               valid_lft=4000, preferred_lft=4000, subnet_id=1),
        Lease6(address="2001:db8:8000:100::", duid="00:03:00:01:aa:bb:cc:dd:ee:01", iaid=2, cltt=cltt,
               valid_lft=4000, preferred_lft=4000, subnet_id=1, lease_type="IA_PD", prefix_len=56),
    ]
    assert [(b.line, b.key) for b in bad] == [(4, "2001:db8:1::1001")]
    assert "invalid iaid 'x'" in str(bad[0])


def test_reservations_by_default_mapping() -> None:
    good, bad = split(csvfile.extract(DATA / "hosts.csv"))
    assert [g.record for g in good] == [
        Reservation(family=4, identifier_type="hw-address", identifier="aa:bb:cc:dd:ee:01",
                    ipv4_address="192.0.2.50", hostname="printer-1", client_classes=("printers",)),
        Reservation(family=4, identifier_type="hw-address", identifier="aa:bb:cc:dd:ee:02",
                    ipv4_address="192.0.2.51", hostname="printer-2", client_classes=("printers", "floor2")),
    ]
    assert [(b.line, b.key) for b in bad] == [(4, "192.0.2.52")]


def test_kea_memfile_shaped_csv_reads_like_the_memfile_extractor(tmp_path: Path) -> None:
    p = tmp_path / "l.csv"
    p.write_text("address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,"
                 "user_context\n"
                 f"192.0.2.1,aa:bb:cc:dd:ee:01,01:aa:bb:cc:dd:ee:01,3600,{EXP},1,1,1,a.example.org,0,\n"
                 f'192.0.2.2,aa:bb:cc:dd:ee:02,,600,{EXP},2,0,0,,1,"{{""k"": 1}}"\n')
    via_csv = [g.record for g in split(csvfile.extract(p))[0]]
    p2 = tmp_path / "kea.csv"
    p2.write_text(p.read_text().replace('"{""k"": 1}"', '{"k": 1}'))
    via_kea = [g.record for g in split(kea_memfile.extract(p2))[0]]
    assert via_csv == via_kea and len(via_csv) == 2


def test_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        list(csvfile.extract(tmp_path / "missing.csv"))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ConfigError, match="empty"):
        list(csvfile.extract(empty))
    p = tmp_path / "x.csv"
    p.write_text("ip,mac\n192.0.2.1,aa:bb:cc:dd:ee:01\n")
    with pytest.raises(ConfigError, match="needs two of valid_lft / cltt / expire"):
        list(csvfile.extract(p, kind="lease4"))
    with pytest.raises(ConfigError, match="mapped column 'macaddr' .* is not in the header"):
        list(csvfile.extract(p, mapping={"columns": {"address": "ip", "hwaddr": "macaddr"}}))
    with pytest.raises(ConfigError, match="'bogus' is not a field of lease4"):
        mapping_from_dict({"kind": "lease4", "columns": {"bogus": "x"}})
    with pytest.raises(ConfigError, match="unknown timezone"):
        mapping_from_dict({"kind": "lease4", "timezone": "Mars/Olympus"})
    bad_yaml = tmp_path / "m.yaml"
    bad_yaml.write_text("kind: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_mapping(bad_yaml)


def test_json_mapping_file(tmp_path: Path) -> None:
    m = tmp_path / "m.json"
    m.write_text(json.dumps({"kind": "reservation4", "columns": {"hwaddr": "M", "address": "A"},
                             "constants": {"subnet_id": 3}}))
    p = tmp_path / "h.csv"
    p.write_text("M,A\naa:bb:cc:dd:ee:01,192.0.2.9\n")
    (ext,) = csvfile.extract(p, mapping=m)
    assert isinstance(ext, Extracted)
    assert ext.record == Reservation(family=4, identifier_type="hw-address", identifier="aa:bb:cc:dd:ee:01",
                                     ipv4_address="192.0.2.9", subnet_id=3)


def test_sniff() -> None:
    assert csvfile.sniff(b"ip,mac,lease_time\n1,2,3\n")
    assert csvfile.sniff(b"\xef\xbb\xbfIP Address;MAC\n")
    assert not csvfile.sniff(b"address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd\n")
    assert not csvfile.sniff(b"lease 192.0.2.1 {\n  starts 4 2026/11/26 20:00:00;\n")
    assert not csvfile.sniff(b"host foo { hardware ethernet 1:2:3:4:5:6; }\n")


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.binary(min_size=6, max_size=6),
                          st.integers(0, 2**31), st.integers(1, 10**6),
                          st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                                  max_size=12)),
                max_size=25))
def test_round_trip(tmp_path_factory: pytest.TempPathFactory,
                    rows: list[tuple[int, bytes, int, int, str]]) -> None:
    leases = [Lease4(address=a, hwaddr=hw, cltt=cltt, valid_lft=v, hostname=h.strip())
              for a, hw, cltt, v, h in rows]
    p = tmp_path_factory.mktemp("rt") / "r.csv"
    with p.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["ip_address", "hw_address", "starts", "valid_lifetime", "hostname"])
        for lease in leases:
            w.writerow([str(lease.address), lease.hwaddr, lease.cltt, lease.valid_lft, lease.hostname])
    got, bad = split(csvfile.extract(p, kind="lease4", chunksize=7))
    assert bad == []
    assert [g.record for g in got] == leases
    assert [g.line for g in got] == list(range(2, 2 + len(leases)))


def test_delimiter_is_guessed_from_the_header(tmp_path: Path) -> None:
    p = tmp_path / "semi.csv"
    p.write_text("IP Address;MAC Address;Valid Lifetime;Expire\n192.0.2.1;aa:bb:cc:dd:ee:01;60;2000000000\n")
    (ext,) = csvfile.extract(p)
    assert isinstance(ext, Extracted)
    assert ext.record == Lease4(address="192.0.2.1", hwaddr="aa:bb:cc:dd:ee:01", valid_lft=60, cltt=EXP - 60)
    t = tmp_path / "tab.tsv"
    t.write_text("ip\tmac\tname\n192.0.2.2\taa:bb:cc:dd:ee:02\tx\n")
    (res,) = csvfile.extract(t)
    assert isinstance(res, Extracted) and isinstance(res.record, Reservation)


def test_format_detection_picks_the_right_extractor(tmp_path: Path) -> None:
    from kea_etl.extract import resolve_source
    conf = Path(__file__).parent / "data_conf"
    assert resolve_source(str(DATA / "hosts.csv")).format == "csv"
    assert resolve_source(str(DATA / "leases6.csv")).format == "csv"
    assert resolve_source(str(conf / "dhcpd.conf")).format == "isc-conf"
    assert resolve_source(str(conf / "dhcpd6.conf")).format == "isc-conf"
    kea = tmp_path / "kea-leases4.csv"
    kea.write_text("address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,"
                   "state,user_context\n")
    assert resolve_source(str(kea)).format == "kea-memfile"


def test_exact_lines_after_a_multiline_field_and_bad_rows_read_on(tmp_path: Path) -> None:
    """Line numbers are the line a row starts on, also after a quoted field spanning lines (the
    pandas reader this replaced shifted every later row); a row with too few fields, a field over
    MAX_FIELD characters or a line over MAX_LINE bytes fails with its own line and the rows after
    it load."""
    huge = "x" * (csvfile.MAX_FIELD + 10)
    path = tmp_path / "leases.csv"
    path.write_text(
        "ip,mac,hostname,expire,lease_time\n"                                  # 1
        '10.0.0.1,02:00:00:00:00:01,"two\nlines",1900000000,3600\n'            # 2-3
        "10.0.0.2,02:00:00:00:00:02,short\n"                                   # 4: 3 fields
        "\n"                                                                   # 5: blank
        "10.0.0.3,02:00:00:00:00:03," + "y" * (csvfile.MAX_LINE + 5) + ",1,1\n"  # 6: long
        f"10.0.0.4,02:00:00:00:00:04,{huge},1900000000,3600\n"                  # 7: huge
        "10.0.0.5,02:00:00:00:00:05,last,1900000000,3600\n")                   # 8
    good, bad = split(csvfile.extract(path, kind="lease4"))
    assert [(str(g.record.key), g.line) for g in good] == [("10.0.0.1", 2), ("10.0.0.5", 8)]
    assert [(b.line, str(b).split("bad CSV row: ")[1][:20]) for b in bad] == [
        (4, "expected 5 fields, s"), (6, "the line is longer t"), (7, "field larger than fi")]


def test_undecodable_text_stops_with_the_last_good_line(tmp_path: Path) -> None:
    path = tmp_path / "leases.csv"
    path.write_bytes(b"ip,mac,expire,lease_time\n10.0.0.1,02:00:00:00:00:01,1900000000,3600\n"
                     b"10.0.0.2,\xff\xfe,1900000000,3600\n")
    good, bad = split(csvfile.extract(path, kind="lease4"))
    assert [g.line for g in good] == [2]
    assert len(bad) == 1 and "after line 2" in str(bad[0])


def test_repeated_header_names_do_not_hide_each_other(tmp_path: Path) -> None:
    path = tmp_path / "leases.csv"
    path.write_text("ip,mac,hostname,hostname,expire,lease_time\n"
                    "10.0.0.1,02:00:00:00:00:01,first,second,1900000000,3600\n")
    good, bad = split(csvfile.extract(path, kind="lease4"))
    assert not bad and good[0].record.hostname == "first"
