"""Merging the lease files of an ISC dhcpd failover pair: one truth per address, every rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kea_etl.cli import main
from kea_etl.errors import ConfigError
from kea_etl.extract.base import Extracted
from kea_etl.extract.failover import FailoverSource, decide
from kea_etl.records import Lease4

HEAD = ("# The format of this file is documented in the dhcpd.leases(5) manual page.\n"
        "authoring-byte-order little-endian;\n\n")


def block(ip: str, state: str, *, mac: str | None = None, cltt: str | None = None,
          starts: str = "5 2026/11/27 20:00:00", ends: str | None = "6 2026/11/28 20:00:00",
          tstp: str | None = None, tsfp: str | None = None, atsfp: str | None = None) -> str:
    lines = [f"lease {ip} {{", f"  starts {starts};"]
    if ends:
        lines.append(f"  ends {ends};")
    for name, value in (("tstp", tstp), ("tsfp", tsfp), ("atsfp", atsfp), ("cltt", cltt)):
        if value:
            lines.append(f"  {name} {value};")
    lines.append(f"  binding state {state};")
    if mac:
        lines.append(f"  hardware ethernet {mac};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def pair(tmp_path: Path, first: list[str], second: list[str]) -> FailoverSource:
    a = tmp_path / "peer1.leases"
    b = tmp_path / "peer2.leases"
    a.write_text(HEAD + "".join(first))
    b.write_text(HEAD + "".join(second))
    return FailoverSource(a, b)


def merged(src: FailoverSource) -> dict[str, Extracted]:
    out: dict[str, Extracted] = {}
    for item in src.open():
        assert isinstance(item, Extracted), item
        assert item.key not in out, f"{item.key} yielded twice"
        out[item.key] = item
    return out


T1 = "5 2026/11/27 20:00:00"
T2 = "5 2026/11/27 21:00:00"
T3 = "5 2026/11/27 22:00:00"


def test_agreed_lease_is_yielded_once_from_the_first_peer(tmp_path: Path) -> None:
    lease = block("192.0.2.10", "active", mac="02:00:00:00:00:0a", cltt=T1)
    # the partner's copy carries tsfp instead of tstp: the same lease, the same client
    partner = block("192.0.2.10", "active", mac="02:00:00:00:00:0a", cltt=T1, tsfp=T3)
    src = pair(tmp_path, [lease], [partner])
    out = merged(src)
    assert list(out) == ["192.0.2.10"]
    assert out["192.0.2.10"].source == src.first
    assert out["192.0.2.10"].extra["failover"]["chosen"] == "agreed"
    stats = src.stats.to_json()
    assert stats["agreed"] == 1 and stats["disagreed"] == 0
    assert [p["contributed"] for p in stats["peers"]] == [1, 0]


def test_free_never_shadows_an_active_lease_of_the_partner(tmp_path: Path) -> None:
    # the free block is newer on every time, yet the partner's client binding wins
    active = block("192.0.2.11", "active", mac="02:00:00:00:00:0b", cltt=T1, tstp=T1)
    free = block("192.0.2.11", "free", cltt=T3, starts=T3, tstp=T3, tsfp=T3, atsfp=T3)
    src = pair(tmp_path, [free], [active])
    out = merged(src)
    win = out["192.0.2.11"]
    assert win.binding_state == "active"
    assert win.source == src.second
    assert isinstance(win.record, Lease4) and win.record.hwaddr == "02:00:00:00:00:0b"
    stats = src.stats.to_json()
    assert stats["resolved_by"] == {"active beats free": 1}
    assert [p["won_disagreements"] for p in stats["peers"]] == [0, 1]


def test_backup_never_shadows_an_active_lease_of_the_partner(tmp_path: Path) -> None:
    active = block("192.0.2.12", "active", mac="02:00:00:00:00:0c", cltt=T1)
    backup = block("192.0.2.12", "backup", starts=T3, ends=None, tstp=T3, tsfp=T3, atsfp=T3)
    src = pair(tmp_path, [active], [backup])
    out = merged(src)
    assert out["192.0.2.12"].binding_state == "active"
    assert out["192.0.2.12"].source == src.first
    assert src.stats.to_json()["resolved_by"] == {"active beats backup": 1}


def test_newer_cltt_wins_between_two_active_leases(tmp_path: Path) -> None:
    # the client moved to peer 2 while the peers were out of touch
    old = block("192.0.2.13", "active", mac="02:00:00:00:00:01", cltt=T1, tstp=T3)
    new = block("192.0.2.13", "active", mac="02:00:00:00:00:02", cltt=T2)
    src = pair(tmp_path, [old], [new])
    out = merged(src)
    rec = out["192.0.2.13"].record
    assert isinstance(rec, Lease4) and rec.hwaddr == "02:00:00:00:00:02"
    assert out["192.0.2.13"].extra["failover"] == {"peer": src.second, "chosen": "newer cltt",
                                                  "partner": src.first}
    # and the other way round: the first peer's newer lease is kept
    src2 = pair(tmp_path, [new], [old])
    rec2 = merged(src2)["192.0.2.13"].record
    assert isinstance(rec2, Lease4) and rec2.hwaddr == "02:00:00:00:00:02"
    assert src2.stats.to_json()["resolved_by"] == {"newer cltt": 1}


def test_released_on_one_peer_after_the_binding_wins(tmp_path: Path) -> None:
    active = block("192.0.2.14", "active", mac="02:00:00:00:00:0e", cltt=T1)
    released = block("192.0.2.14", "released", mac="02:00:00:00:00:0e", cltt=T2, starts=T2)
    src = pair(tmp_path, [active], [released])
    assert merged(src)["192.0.2.14"].binding_state == "released"


@pytest.mark.parametrize("field", ["tstp", "tsfp", "atsfp"])
def test_same_cltt_then_tstp_tsfp_atsfp_decide(tmp_path: Path, field: str) -> None:
    # same client and cltt, different expiry: the later failover time stamp decides
    older: dict[str, Any] = {"tstp": T1, "tsfp": T1, "atsfp": T1}
    newer = dict(older)
    for f in ("tstp", "tsfp", "atsfp"):
        if f == field:
            newer[f] = T3
            break
    a = block("192.0.2.15", "active", mac="02:00:00:00:00:0f", cltt=T1,
              ends="6 2026/11/28 20:00:00", **older)
    b = block("192.0.2.15", "active", mac="02:00:00:00:00:0f", cltt=T1,
              ends="6 2026/11/28 23:00:00", **newer)
    src = pair(tmp_path, [a], [b])
    win = merged(src)["192.0.2.15"]
    assert win.source == src.second
    assert src.stats.to_json()["resolved_by"] == {f"newer {field}": 1}


def test_all_times_equal_keeps_the_active_then_the_first_peer(tmp_path: Path) -> None:
    a = block("192.0.2.16", "expired", mac="02:00:00:00:00:10", cltt=T1, tstp=T1)
    b = block("192.0.2.16", "active", mac="02:00:00:00:00:10", cltt=T1, tstp=T1)
    src = pair(tmp_path, [a], [b])
    assert merged(src)["192.0.2.16"].binding_state == "active"
    c = block("192.0.2.17", "active", mac="02:00:00:00:00:11", cltt=T1, tstp=T1,
              ends="6 2026/11/28 20:00:00")
    d = block("192.0.2.17", "active", mac="02:00:00:00:00:11", cltt=T1, tstp=T1,
              ends="6 2026/11/28 21:00:00")
    src2 = pair(tmp_path, [c], [d])
    assert merged(src2)["192.0.2.17"].source == src2.first
    assert src2.stats.to_json()["resolved_by"] == {"same times, first peer kept": 1}


def test_addresses_known_to_one_peer_only_and_per_peer_counts(tmp_path: Path) -> None:
    first = [block("192.0.2.20", "active", mac="02:00:00:00:00:20", cltt=T1),
             block("192.0.2.21", "active", mac="02:00:00:00:00:21", cltt=T1),
             # a history block for .21 in the same file: the file's own last block counts
             block("192.0.2.21", "active", mac="02:00:00:00:00:99", cltt=T2)]
    second = [block("192.0.2.21", "active", mac="02:00:00:00:00:21", cltt=T1),
              block("192.0.2.22", "backup", starts=T1, ends=None)]
    src = pair(tmp_path, first, second)
    out = merged(src)
    assert sorted(out) == ["192.0.2.20", "192.0.2.21", "192.0.2.22"]
    rec = out["192.0.2.21"].record
    assert isinstance(rec, Lease4) and rec.hwaddr == "02:00:00:00:00:99"
    assert out["192.0.2.20"].extra["failover"]["chosen"] == "only this peer"
    assert out["192.0.2.22"].source == src.second
    stats = src.stats.to_json()
    assert stats["addresses"] == 3
    p1, p2 = stats["peers"]
    assert (p1["records"], p1["contributed"], p1["only_here"], p1["won_disagreements"]) == \
        (2, 2, 1, 1)
    assert (p2["records"], p2["contributed"], p2["only_here"], p2["won_disagreements"]) == \
        (2, 1, 1, 0)
    # statistics describe the last pass, not the sum of several opens
    merged(src)
    assert src.stats.to_json() == stats


def test_malformed_blocks_pass_through_once(tmp_path: Path) -> None:
    bad = "lease 192.0.2.30 {\n  starts 5 2026/13/45 99:00:00;\n  binding state active;\n}\n"
    src = pair(tmp_path, [bad, block("192.0.2.31", "active", mac="02:00:00:00:00:31", cltt=T1)],
               [block("192.0.2.32", "active", mac="02:00:00:00:00:32", cltt=T1)])
    items = list(src.open())
    errors = [i for i in items if not isinstance(i, Extracted)]
    assert len(errors) == 1 and "192.0.2.30" in str(errors[0])
    assert sorted(i.key for i in items if isinstance(i, Extracted)) == ["192.0.2.31",
                                                                         "192.0.2.32"]
    assert src.stats.to_json()["peers"][0]["malformed"] == 1


def test_decide_is_symmetric_in_outcome(tmp_path: Path) -> None:
    src = pair(tmp_path, [block("192.0.2.40", "active", mac="02:00:00:00:00:40", cltt=T1)],
               [block("192.0.2.40", "active", mac="02:00:00:00:00:41", cltt=T2)])
    a, b = (next(iter(merged(FailoverSource(p, p2)).values()))
            for p, p2 in ((src.first, src.second), (src.second, src.first)))
    assert a.record == b.record
    ea = [i for i in FailoverSource(src.first, src.second).open()]
    assert decide(ea[0], ea[0]) == ("agreed", "agreed")


def test_the_same_file_twice_or_a_missing_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "x.leases"
    f.write_text(HEAD)
    with pytest.raises(ConfigError, match="given twice"):
        FailoverSource(f, f)
    with pytest.raises(ConfigError, match="not found"):
        FailoverSource(f, tmp_path / "missing.leases")


KEA_CONFIG = {"Dhcp4": {"subnet4": [{"id": 1, "subnet": "192.0.2.0/24"}]}}


def test_cli_failover_pair_loads_every_active_client_exactly_once(tmp_path: Path) -> None:
    first = [block("192.0.2.50", "active", mac="02:00:00:00:00:50", cltt=T1),
             block("192.0.2.51", "free", cltt=T3, starts=T3),
             block("192.0.2.52", "active", mac="02:00:00:00:00:52", cltt=T1)]
    second = [block("192.0.2.50", "active", mac="02:00:00:00:00:50", cltt=T1, tsfp=T3),
              block("192.0.2.51", "active", mac="02:00:00:00:00:51", cltt=T1),
              block("192.0.2.52", "active", mac="02:00:00:00:00:53", cltt=T2),
              block("192.0.2.53", "backup", starts=T1, ends=None)]
    a, b = tmp_path / "peer1.leases", tmp_path / "peer2.leases"
    a.write_text(HEAD + "".join(first))
    b.write_text(HEAD + "".join(second))
    cfg = tmp_path / "kea.json"
    cfg.write_text(json.dumps(KEA_CONFIG))
    out = tmp_path / "out"
    out.mkdir()
    report = tmp_path / "report.json"
    r = CliRunner().invoke(main, ["migrate", "--failover-pair", str(a), str(b),
                                  "--to", f"memfile:{out}", "--kea-config", str(cfg),
                                  "--as-of", "2026-11-27T23:00:00Z", "--report", str(report)])
    assert r.exit_code == 0, r.output
    rows = (out / "kea-leases4.csv").read_text().splitlines()[1:]
    got = sorted((row.split(",")[0], row.split(",")[1]) for row in rows)
    assert got == [("192.0.2.50", "02:00:00:00:00:50"), ("192.0.2.51", "02:00:00:00:00:51"),
                   ("192.0.2.52", "02:00:00:00:00:53")]
    data = json.loads(report.read_text())
    assert data["read"] == 4 and data["loaded"] == 3 and data["skipped"] == {"backup": 1}
    fo = data["failover"]
    assert fo["addresses"] == 4 and fo["agreed"] == 1 and fo["disagreed"] == 2
    assert fo["resolved_by"] == {"active beats free": 1, "newer cltt": 1}


def test_cli_failover_pair_needs_exactly_two_lease_files(tmp_path: Path) -> None:
    a = tmp_path / "peer1.leases"
    a.write_text(HEAD + block("192.0.2.60", "active", mac="02:00:00:00:00:60", cltt=T1))
    r = CliRunner().invoke(main, ["migrate", "--failover-pair", str(a), "--to",
                                  f"memfile:{tmp_path}", "--kea-config", str(a)])
    assert r.exit_code == 2
    assert "--failover-pair needs the lease files of both peers (2 ISC lease files), got 1" \
        in r.output
