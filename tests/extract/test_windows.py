"""Windows DHCP Server exports: Export-DhcpServer XML and the DhcpServer cmdlets' Export-Csv.

The files in tests/extract/data_windows are built from Microsoft's documented classes (no Windows
server ran here; docs/sources.md); their local times are made "now" by
tests/harness/windows_export.render, in the fixed zone +01:00 given as --source-tz.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kea_etl.errors import ConfigError, MalformedRecordError
from kea_etl.extract import resolve_source, windows
from kea_etl.extract.base import Extracted
from kea_etl.records import INFINITE_LIFETIME, STATE_DECLINED, Lease4, Lease6, Reservation
from kea_etl.report import SourceWarning
from tests.harness import clock
from tests.harness.windows_export import TZ, local, render


def _items(path: Path, tz: str | None = TZ) -> list[object]:
    return list(windows.extract(path, source_tz=tz))


def _by_line(items: list[object]) -> dict[int, object]:
    return {i.line: i for i in items if isinstance(i, Extracted | MalformedRecordError)}


def test_detected(tmp_path: Path) -> None:
    for name in ("dhcp-export.xml", "leases4.csv", "reservations4.csv", "leases6.csv"):
        assert resolve_source(str(render(name, tmp_path))).format == "windows", name


def test_xml_export(tmp_path: Path) -> None:
    now = clock.now()
    items = _items(render("dhcp-export.xml", tmp_path, now=now))
    got = _by_line(items)
    res = {i.record.identifier: i for i in items if isinstance(i, Extracted)
           and isinstance(i.record, Reservation)}
    printer = res["00:15:5d:32:00:20"]
    assert printer.record == Reservation(family=4, identifier_type="hw-address",
                                         identifier="00:15:5d:32:00:20",
                                         ipv4_address="192.168.50.20",
                                         hostname="printer-3f.corp.example",
                                         user_context={"comment": "3rd floor printer"},
                                         option_data=printer.record.option_data)
    assert "bootp hook" in printer.warnings[0].reason
    assert printer.record.option_data == ({"name": "tftp-server-name", "code": 66,
                                           "space": "dhcp4", "data": "tftp.corp.example"},)
    scanner = res["00:15:5d:32:00:21"]
    assert [o["data"] for o in scanner.record.option_data] == ["192.168.50.10, 192.168.50.11"]
    assert [w.statement.split(" =")[0] for w in scanner.warnings] == [
        "OptionId 252", "OptionId 15"]
    assert res["ff:00:00:00:01:00:01:00:01:2b:3c:4d:5e:00:15:5d:32:00:22"].record.identifier_type \
        == "client-id"
    v6res = res["00:01:00:01:2b:3c:4d:5e:00:15:5d:32:00:20"].record
    assert (v6res.family, [str(a) for a in v6res.ip_addresses]) == (6, ["2001:db8:50::20"])
    leases = {str(i.record.address): i for i in items if isinstance(i, Extracted)
              and isinstance(i.record, Lease4 | Lease6)}
    ws110 = leases["192.168.50.110"]
    assert (ws110.record.expire, ws110.record.valid_lft, ws110.record.hwaddr,
            ws110.record.client_id) == (now + 691200, 8 * 86400, "00:15:5d:32:01:10", None)
    ws111 = leases["192.168.50.111"].record
    assert (ws111.hwaddr, ws111.client_id, ws111.expire) == (
        "00:15:5d:32:01:11", "01:00:15:5d:32:01:11", now + 86400)
    assert leases["192.168.50.112"].binding_state == "expired"
    declined = leases["192.168.50.113"].record
    assert (declined.state, declined.hwaddr) == (STATE_DECLINED, None)
    assert leases["192.168.50.114"].binding_state == "free"
    inactive = leases["192.168.50.21"]
    assert (inactive.binding_state, inactive.record.valid_lft) == ("free", INFINITE_LIFETIME)
    assert "NapStatus=RestrictedAccess" in [w.statement for w in
                                            leases["192.168.50.116"].warnings]
    v6 = leases["2001:db8:50::1:10"].record
    assert isinstance(v6, Lease6) and (v6.iaid, v6.valid_lft, v6.expire) == (
        352851456, 12 * 86400, now + 1000000)
    assert leases["2001:db8:50::1:11"].record.lease_type == "IA_TA"
    bad = [i for i in items if isinstance(i, MalformedRecordError)]
    assert sorted(b.key or "" for b in bad) == ["192.168.50.115", "192.168.50.23"]
    assert "Carrier-Pigeon" in next(b.reason for b in bad if b.key == "192.168.50.23")
    notes = [i for i in items if isinstance(i, SourceWarning)]
    statements = " | ".join(f"{n.line}:{n.statement}:{n.reason}" for n in notes)
    assert "<IPv4><Failover>" in statements and "docs/failover.md" in statements
    assert "configure subnet 192.168.50.0/24, pool 192.168.50.100 - 192.168.50.199, " \
        "valid-lifetime 691200; also OptionValues, ExclusionRanges" in statements
    assert got  # every item has a line


def test_zone_required(tmp_path: Path) -> None:
    p = render("dhcp-export.xml", tmp_path)
    with pytest.raises(ConfigError, match=r"line 106: LeaseExpiryTime '.*' is the server's local "
                       r"time without a zone; give --source-tz with the DHCP server's time zone"):
        _items(p, None)
    with pytest.raises(ConfigError, match="LeaseExpiryTime in a Windows CSV is the server's local "
                       "time without a zone; give --source-tz"):
        _items(render("leases4.csv", tmp_path), None)
    # reservations carry no times: no zone needed
    assert len([i for i in _items(render("reservations4.csv", tmp_path), None)
                if isinstance(i, Extracted)]) == 3
    with pytest.raises(ConfigError, match="not a time zone"):
        _items(p, "Mars/Olympus")


def test_csv_leases_and_reservations(tmp_path: Path) -> None:
    now = clock.now()
    items = _items(render("leases4.csv", tmp_path, now=now))
    got = _by_line(items)
    assert sorted(got) == [3, 4, 5, 6, 7, 8]  # the #TYPE line and the header come first
    first = got[3]
    assert isinstance(first, Extracted) and first.record.expire == now + 691200
    assert first.record.cltt <= clock.now() + 1
    assert got[4].record.user_context == {"comment": "kiosk, lobby"}
    assert isinstance(got[8], MalformedRecordError) and "month 13" in got[8].reason
    res = _by_line(_items(render("reservations4.csv", tmp_path)))
    assert isinstance(res[5], MalformedRecordError) and "without a ClientId" in res[5].reason
    v6 = _by_line(_items(render("leases6.csv", tmp_path, now=now)))
    assert [v6[k].record.lease_type for k in (3, 4, 5)] == ["IA_NA", "IA_NA", "IA_TA"]


@pytest.mark.parametrize(("text", "tz", "want"), [
    ("2026-12-12T17:07:21", "+01:00", "2026-12-12T16:07:21"),
    ("2026-12-12T17:07:21.347", "Europe/Berlin", "2026-12-12T16:07:21"),
    ("2026-07-12T17:07:21", "Europe/Berlin", "2026-07-12T15:07:21"),
    ("12/12/2026 5:07:21 PM", "UTC", "2026-12-12T17:07:21"),
    ("12/12/2026 12:07:21 AM", "UTC", "2026-12-12T00:07:21"),
    ("1/2/2026 17:07:21", "-05:00", "2026-01-02T22:07:21"),
    ("12.1.2026 17:07:21", "UTC", "2026-01-12T17:07:21"),
    ("2026-12-12T17:07:21Z", None, "2026-12-12T17:07:21"),
])
def test_parse_time(text: str, tz: str | None, want: str) -> None:
    zone = windows.timezone_named(tz) if tz else None
    got = datetime.fromtimestamp(windows.parse_time(text, zone), tz=UTC)
    assert got.strftime("%Y-%m-%dT%H:%M:%S") == want


@settings(max_examples=200, deadline=None)
@given(t=st.integers(0, 2**32 - 1), style=st.sampled_from(["xml", "csv"]))
def test_time_round_trip(t: int, style: str) -> None:
    """A time written as Windows writes it (XML ISO or en-US CSV, local +01:00) reads back."""
    assert windows.parse_time(local(t, style), windows.timezone_named(TZ)) == t
