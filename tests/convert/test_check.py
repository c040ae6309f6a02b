"""kea-etl check: pre-flight findings with evidence, against the converted config or a previous
Kea config; exit codes and JSON. Dates: the site2 leases are judged as of a pinned moment."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from kea_etl.cli import main
from kea_etl.convert.check import check
from kea_etl.records import epoch

ROOT = Path(__file__).resolve().parents[2]
SITE2 = ROOT / "sample-data" / "site2"
PREVIOUS = Path(__file__).parent / "data" / "site2-previous-kea.json"
AS_OF = "2026-11-27T21:00:00Z"


def _by_topic(result: object, topic: str) -> list:  # type: ignore[type-arg]
    return [f for f in result.findings if f.topic == topic]  # type: ignore[attr-defined]


def test_site2_against_its_own_conversion() -> None:
    r = check(SITE2 / "dhcpd.conf", [SITE2 / "dhcpd.leases"], as_of=epoch(AS_OF))
    c = r.counts
    # 198.51.100.40 ended before AS_OF, .41 is free
    assert (c["active_leases"], c["leases_with_client_id"]) == (6, 4)
    assert (c["leases_outside_subnets"], c["leases_outside_pools"], c["leases_shortened"]) == (
        1, 1, 1)
    assert c["fixed_addresses_in_pools"] == 2 and c["client_id_mismatches"] == 0
    out = _by_topic(r, "leases")
    nowhere = next(f for f in out if "no subnet" in f.message)
    assert nowhere.severity == "decide" and nowhere.line == 49 and nowhere.count == 1
    assert "10.9.9.0/24" in nowhere.message
    fixed = [f for f in _by_topic(r, "hosts") if "inside a dynamic pool" in f.message]
    assert {(f.line, f.statement) for f in fixed} == {(129, "hw-address 52:54:00:bb:00:03"),
                                                      (134, "hw-address 52:54:00:bb:00:04")}
    ddns = [f for f in _by_topic(r, "ddns") if "TXT" in f.message]
    assert len(ddns) == 1 and ddns[0].line == 6 and "no-check-with-dhcid" in ddns[0].kea
    assert any(f.topic == "failover" and f.severity == "decide" for f in r.findings)
    assert any("198.51.100.5" in f.message for f in _by_topic(r, "hosts"))
    assert any(f.topic == "lease-times" and "shortens" in f.message for f in r.findings)
    assert r.needs_decision


def test_site2_against_a_previous_kea_config() -> None:
    r = check(SITE2 / "dhcpd.conf", [SITE2 / "dhcpd.leases"], kea_config=PREVIOUS,
              as_of=epoch(AS_OF))
    ids = _by_topic(r, "subnet-ids")
    assert ids[0].count == 3 and "--ids from:KEA.json" in ids[0].message
    assert any("10.9.9.0/24" in f.message for f in ids)  # in Kea's config, not in dhcpd's
    assert r.counts["leases_outside_subnets"] == 0
    cid = _by_topic(r, "client-id")
    assert any(f.count == 1 and "ignore-client-uids" in f.message and f.severity == "decide"
               for f in cid)
    # the previous config resolves conflicts without DHCID checks: no TXT/DHCID decision
    assert not [f for f in _by_topic(r, "ddns") if "TXT" in f.message and f.severity == "decide"]


def test_nothing_to_decide_exits_0(tmp_path: Path) -> None:
    conf = tmp_path / "d.conf"
    conf.write_text("default-lease-time 600;\nmax-lease-time 7200;\nauthoritative;\n"
                    "subnet 192.0.2.0 netmask 255.255.255.0 {\n  range 192.0.2.10 192.0.2.20;\n}\n")
    r = CliRunner().invoke(main, ["check", str(conf)])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("0 error, 0 decide")


def test_cli_json_and_exit_1() -> None:
    r = CliRunner().invoke(main, ["check", str(SITE2 / "dhcpd.conf"), str(SITE2 / "dhcpd.leases"),
                                  "--as-of", AS_OF, "--json"])
    assert r.exit_code == 1, r.output
    data = json.loads(r.output)
    assert data["needs_decision"] is True and data["counts"]["active_leases"] == 6
    sev = [f["severity"] for f in data["findings"]]
    assert sev == sorted(sev, key=["error", "decide", "warning", "info"].index)
    assert all(f["file"] for f in data["findings"] if f["severity"] == "decide")


def test_cli_error_exits_2(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["check", str(tmp_path / "missing.conf")])
    assert r.exit_code == 2 and f"Error: dhcpd.conf {tmp_path / 'missing.conf'} not found" in r.output
    r = CliRunner().invoke(main, ["check", "--help"])
    assert "Example:" in r.output


def test_v6_sample_nothing_to_decide_until_a_previous_config_numbers_otherwise() -> None:
    sample = ROOT / "sample-data"
    r = check(sample / "dhcpd6.conf", [sample / "dhcpd6.leases"], as_of=epoch(AS_OF))
    assert not r.needs_decision and r.counts["active_leases"] > 300
    assert r.counts["leases_outside_subnets"] == r.counts["leases_outside_pools"] == 0
    r = check(sample / "dhcpd6.conf", [sample / "dhcpd6.leases"], as_of=epoch(AS_OF),
              kea_config=sample / "kea-dhcp6.json")
    assert r.needs_decision and r.counts["subnets_with_other_ids"] == 1
