"""What ``kea-etl history`` takes its QUERY to be, and how --since / --until read a date."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kea_etl.errors import InvalidValueError
from kea_etl.export.history import HistoryQuery, parse_time


@pytest.mark.parametrize(("text", "kind", "value"), [
    ("10.0.0.5", "address", "10.0.0.5"),
    ("2001:DB8::0:1", "address", "2001:db8::1"),
    ("2001:db8:8000:100::/56", "address", "2001:db8:8000:100::"),
    ("AA:BB:CC:DD:EE:0F", "mac", "aa:bb:cc:dd:ee:0f"),
    ("aa-bb-cc-dd-ee-0f", "mac", "aa:bb:cc:dd:ee:0f"),
    ("aabb.ccdd.ee0f", "mac", "aa:bb:cc:dd:ee:0f"),
    ("01:aa:bb:cc:dd:ee:0f", "id", "01:aa:bb:cc:dd:ee:0f"),
    # eight two-digit groups are also an IPv6 address; nobody writes one like that
    ("00:01:00:01:2a:3b:4c:5d", "id", "00:01:00:01:2a:3b:4c:5d"),
    ("00:03:00:01:02:00:00:00:00:09", "id", "00:03:00:01:02:00:00:00:00:09"),
    ("Laptop-A.example.com.", "hostname", "laptop-a.example.com"),
    ("cafe", "hostname", "cafe"),
])
def test_query_kind_detected(text: str, kind: str, value: str) -> None:
    q = HistoryQuery.parse(text)
    assert (q.kind, q.value) == (kind, value)


def test_query_kind_forced_and_refused() -> None:
    assert HistoryQuery.parse("aabbccddeeff", kind="mac").value == "aa:bb:cc:dd:ee:ff"
    assert HistoryQuery.parse("00:01:00:01:2a:3b:4c:5d", kind="address").value == \
        "0:1:0:1:2a:3b:4c:5d"
    with pytest.raises(InvalidValueError, match="invalid MAC 'aa:bb': length 2 bytes"):
        HistoryQuery.parse("aa:bb", kind="mac")
    with pytest.raises(InvalidValueError, match="empty"):
        HistoryQuery.parse("  ")


def test_dates_cover_the_whole_day() -> None:
    assert parse_time("2026-11-24") == datetime(2026, 11, 24, tzinfo=UTC)
    assert parse_time("2026-11-24", end_of_day=True) == \
        datetime(2026, 11, 24, 23, 59, 59, 999999, tzinfo=UTC)
    assert parse_time("2026-11-24T10:00:00+01:00") == datetime(2026, 11, 24, 9, tzinfo=UTC)
    with pytest.raises(InvalidValueError, match="no UTC offset"):
        parse_time("2026-11-24T10:00:00")
