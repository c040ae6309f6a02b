"""``kea-etl history`` answered from a real multi-night export of a real Kea.

Four "nights" are exported from a real kea-dhcp4 (the export's ``exported_at`` set to each night,
in the suite's time, so the test passes on any date and two years ahead), with real lease_cmds
activity in between: client A renews 192.0.2.50, then the address changes hands to client B
and A moves to 192.0.2.60. The history must merge the nights into one interval per client and
address, on SQLite and on the machine's PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import kea_etl.clock
from kea_etl.cli import main
from kea_etl.export import KeaTarget, run_export
from kea_etl.export.history import HistoryQuery, LeaseInterval, lease_history
from tests.harness import clock

pytestmark = pytest.mark.kea

ADDR, OTHER = "192.0.2.50", "192.0.2.60"
MAC_A, MAC_B = "02:00:00:00:aa:01", "02:00:00:00:bb:02"
HOUR, DAY, WEEK = 3600, 86400, 7 * 86400
SERVER = "dhcp-a"


def _at(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)


@dataclass
class Story:
    url: str
    nights: list[int]
    #: when each lease began (its cltt in the first snapshot that shows it)
    a_start: int
    b_start: int
    a_other_start: int


def _export(kea4: Any, url: str, t: int) -> None:
    rep = run_export([KeaTarget(kea4.socket_url, label=SERVER)], families=(4,), warehouse=url,
                     exported_at=_at(t), stats=False)
    assert rep.exit_code() == 0, rep.to_json()


def _four_nights(kea4: Any, url: str, monkeypatch: pytest.MonkeyPatch) -> Story:
    """Export four nights, 24 h apart and ending an hour ago, with the activity between them."""
    now = clock.now()
    nights = [now - HOUR - (3 - k) * DAY for k in range(4)]
    a_start = nights[0] - 2 * HOUR
    kea4.ok("lease4-add", {"ip-address": ADDR, "hw-address": MAC_A, "valid-lft": WEEK,
                           "expire": a_start + WEEK, "hostname": "laptop-a"})
    _export(kea4, url, nights[0])
    # A renews: a later cltt, the same client: still one interval
    kea4.ok("lease4-update", {"ip-address": ADDR, "hw-address": MAC_A, "valid-lft": WEEK,
                              "expire": nights[1] - HOUR + WEEK, "hostname": "laptop-a"})
    _export(kea4, url, nights[1])
    # the address changes hands: A leaves it, B gets it; A gets another address
    b_start, a_other_start = nights[2] - 6 * HOUR, nights[2] - 5 * HOUR
    kea4.ok("lease4-del", {"ip-address": ADDR})
    kea4.ok("lease4-add", {"ip-address": ADDR, "hw-address": MAC_B, "valid-lft": WEEK,
                           "expire": b_start + WEEK, "hostname": "phone-b"})
    kea4.ok("lease4-add", {"ip-address": OTHER, "hw-address": MAC_A, "valid-lft": WEEK,
                           "expire": a_other_start + WEEK, "hostname": "laptop-a"})
    _export(kea4, url, nights[2])
    # the last night as cron runs it: kea-etl export with the server's name, at kea-etl's "now"
    # (its one clock, moved to the night); the name joins the nights the library exported
    monkeypatch.setattr(kea_etl.clock, "OFFSET", kea_etl.clock.OFFSET + nights[3] - now)
    res = CliRunner().invoke(main, ["export", "--kea", f"{SERVER}={kea4.socket_url}",
                                    "--family", "4", "--no-stats", "--to", url, "--no-progress"])
    assert res.exit_code == 0, res.output
    monkeypatch.undo()
    # "Export DAY at EXPORTED_AT: ..." -- the clock kept running: the night is what it stamped
    stamped = res.output.split(" at ", 1)[1].split(": ", 1)[0]
    nights[3] = int(datetime.fromisoformat(stamped).timestamp())
    assert abs(nights[3] - (now - HOUR)) < 60
    return Story(url, nights, a_start, b_start, a_other_start)


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/wh.db"
    else:
        yield request.getfixturevalue("pg_url")


def _summary(i: LeaseInterval) -> tuple[str, str, int, int, int, int | None, bool]:
    return (i.address, i.client, int(i.first_seen.timestamp()), int(i.last_seen.timestamp()),
            i.nights, None if i.gone_by is None else int(i.gone_by.timestamp()), i.current)


def test_history_of_an_address_and_a_mac_merged_across_nights(
        kea4: Any, warehouse_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    s = _four_nights(kea4, warehouse_url, monkeypatch)
    n = s.nights
    by_addr = list(lease_history(warehouse_url, HistoryQuery.parse(ADDR)))
    assert [_summary(i) for i in by_addr] == [
        # A from its first cltt to the second night; gone by the third
        (ADDR, MAC_A, s.a_start, n[1], 2, n[2], False),
        # B from its cltt, still there at the newest export
        (ADDR, MAC_B, s.b_start, n[3], 2, None, True),
    ]
    a, b = by_addr
    assert (a.server, a.hostname, b.hostname) == (SERVER, "laptop-a", "phone-b")
    assert a.held_until == _at(n[2])  # A's lease ran a week; the third night shows B instead
    assert b.expire == _at(s.b_start + WEEK)

    by_mac = list(lease_history(warehouse_url, HistoryQuery.parse(MAC_A.upper())))
    assert [_summary(i) for i in by_mac] == [
        (ADDR, MAC_A, s.a_start, n[1], 2, n[2], False),
        (OTHER, MAC_A, s.a_other_start, n[3], 2, None, True),
    ]

    # "who held it then?": between the second night and B's arrival only A can have
    then = _at(s.b_start - 3 * HOUR)
    assert [i.client for i in lease_history(warehouse_url, HistoryQuery.parse(ADDR),
                                            since=then, until=then)] == [MAC_A]
    at_last = _at(n[3])
    assert [i.client for i in lease_history(warehouse_url, HistoryQuery.parse(ADDR),
                                            since=at_last, until=at_last)] == [MAC_B]
    # by hostname, short or any case
    assert [i.address for i in lease_history(warehouse_url,
                                             HistoryQuery.parse("PHONE-B"))] == [ADDR]


def _iso(t: int) -> str:
    return _at(t).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_history_cli_table_and_json(kea4: Any, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path}/wh.db"
    s = _four_nights(kea4, url, monkeypatch)
    res = CliRunner().invoke(main, ["history", ADDR, "--warehouse", url])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == f"History of address {ADDR} (UTC): 2 interval(s)"
    assert lines[1].split() == ["server", "address", "client", "hostname", "from", "last",
                                "seen", "held", "until", "nights"]
    fmt = "%Y-%m-%d %H:%M"
    assert lines[2].split("  ")[0] == SERVER
    assert " ".join(lines[2].split()) == " ".join([
        SERVER, ADDR, MAC_A, "laptop-a", _at(s.a_start).strftime(fmt),
        _at(s.nights[1]).strftime(fmt), _at(s.nights[2]).strftime(fmt), "2"])
    assert " ".join(lines[3].split()) == " ".join([
        SERVER, ADDR, MAC_B, "phone-b", _at(s.b_start).strftime(fmt),
        _at(s.nights[3]).strftime(fmt), "now", "2"])

    then = _iso(s.b_start - 3 * HOUR)
    res = CliRunner().invoke(main, ["history", MAC_A, "--warehouse", url, "--json",
                                    "--since", then])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["kind"] == "mac" and data["query"] == MAC_A
    # A's first interval reaches past `then` (held until the third night), the second is current
    assert [(i["address"], i["nights"], i["current"]) for i in data["intervals"]] == [
        (ADDR, 2, False), (OTHER, 2, True)]
    assert data["intervals"][0]["held_until"] == _iso(s.nights[2])
    assert data["intervals"][0]["first_seen"] == _iso(s.a_start)


def test_history_cli_errors(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    res = CliRunner().invoke(main, ["history", ADDR, "--warehouse", f"sqlite:///{missing}"])
    assert res.exit_code == 2
    assert res.output.strip() == (f"Error: no warehouse at {missing} (--warehouse "
                                  f"sqlite:///{missing}): kea-etl export --to writes one")
    assert not missing.exists()
    res = CliRunner().invoke(main, ["history", ADDR, "--warehouse", str(missing)])
    assert res.exit_code == 2
    assert f"--warehouse {missing} is a file name, not a database URL; for a SQLite file " \
           f"write --warehouse sqlite:///{missing}" in res.output
    res = CliRunner().invoke(main, ["history", "10.0.0.300", "--by", "address",
                                    "--warehouse", f"sqlite:///{missing}"])
    assert res.exit_code == 2
    assert "Invalid value for QUERY: invalid address '10.0.0.300': not an IPv4 or IPv6 " \
           "address" in res.output
    res = CliRunner().invoke(main, ["history", ADDR, "--since", "last tuesday",
                                    "--warehouse", f"sqlite:///{missing}"])
    assert res.exit_code == 2
    assert "invalid time 'last tuesday': not a date (2026-11-24) or an ISO-8601 time" \
        in res.output


def test_v6_history_by_duid_and_by_the_mac_inside_it(kea6: Any, tmp_path: Path) -> None:
    """A v6 client is keyed by its DUID; a DUID-LLT (RFC 8415 11.2) carries the client's MAC,
    so "which addresses did this MAC have" finds it too, as does the DUID itself."""
    url = f"sqlite:///{tmp_path}/wh.db"
    duid = f"00:01:00:01:2a:3b:4c:5d:{MAC_A}"
    now = clock.now()
    kea6.ok("lease6-add", {"ip-address": "2001:db8:1::1005", "duid": duid, "iaid": 1,
                           "valid-lft": WEEK, "preferred-lft": DAY, "expire": now - HOUR + WEEK})
    for t in (now - DAY, now):
        rep = run_export([KeaTarget(kea6.socket_url, label="dhcp-a6")], families=(6,),
                         warehouse=url, exported_at=_at(t), stats=False)
        assert rep.exit_code() == 0, rep.to_json()
    for query in (MAC_A, duid):
        [i] = lease_history(url, HistoryQuery.parse(query))
        assert (i.server, i.address, i.client, i.nights, i.current) == (
            "dhcp-a6", "2001:db8:1::1005", duid, 2, True)
