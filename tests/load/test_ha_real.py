"""Loading into real Kea 2.2 HA pairs (hot-standby and load-balancing) on loopback.

Checks the HA facts the loader relies on against real servers: ha-heartbeat states, refusing
unsafe states (maintenance, partner-down, a lone peer), loading both peers and comparing them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kea_etl.cli import main
from kea_etl.kea import KeaClient
from kea_etl.load.ha import compare_peers
from tests.harness import clock
from tests.harness.ha import HAPair, start_ha_pair
from tests.harness.leasefile import lease_block

pytestmark = pytest.mark.kea

HEAD = "authoring-byte-order little-endian;\n\n"
TEN_YEARS = 10 * 365 * 86400


def lease_file(tmp_path: Path, n: int, *, first: int = 10) -> Path:
    granted = clock.now() - 3600
    blocks = [lease_block(f"192.0.2.{first + i}", starts=granted, ends=granted + TEN_YEARS,
                          cltt=granted, mac=f"02:00:00:00:01:{first + i:02x}", hostname=f"h{i}")
              for i in range(n)]
    path = tmp_path / "dhcpd.leases"
    path.write_text(HEAD + "".join(blocks))
    return path


def run(args: list[str]) -> Any:
    return CliRunner().invoke(main, ["migrate", *args], catch_exceptions=False)


def held(srv: Any) -> dict[str, str]:
    return {lease["ip-address"]: lease["hw-address"] for lease in srv.leases()}


def test_hot_standby_pair_both_peers_loaded_and_compared(kea_ha_pair: HAPair,
                                                         tmp_path: Path) -> None:
    src = lease_file(tmp_path, 40)
    report = tmp_path / "report.json"
    r = run([str(src), "--to", f"kea:{kea_ha_pair.primary.socket_url}",
             "--to", f"kea:{kea_ha_pair.standby.socket_url}", "--report", str(report)])
    assert r.exit_code == 0, r.output
    want = {f"192.0.2.{10 + i}": f"02:00:00:00:01:{10 + i:02x}" for i in range(40)}
    assert held(kea_ha_pair.primary) == want
    assert held(kea_ha_pair.standby) == want
    data = json.loads(report.read_text())
    assert data["loaded"] == 40 and data["failed"] == 0
    ha = data["ha"]
    # the standby says "ready" for a moment after the pair has started, then "hot-standby"
    assert ha["peers"][0]["ha_state"] == "hot-standby"
    assert ha["peers"][1]["ha_state"] in ("hot-standby", "ready")
    assert [p["loaded"] for p in ha["peers"]] == [40, 40]
    assert ha["compare"]["identical"] is True
    assert sorted(ha["compare"]["lease_counts"].values()) == [40, 40]
    assert "HA peers hold identical leases" in r.output
    # a second run changes nothing on either peer
    r2 = run([str(src), "--to", f"kea:{kea_ha_pair.primary.socket_url}",
              "--to", f"kea:{kea_ha_pair.standby.socket_url}", "--report", str(report)])
    assert r2.exit_code == 0, r2.output
    again = json.loads(report.read_text())
    assert again["already_present"] == 40
    assert [p["already_present"] for p in again["ha"]["peers"]] == [40, 40]


def test_compare_reports_what_differs_between_real_peers(kea_ha_pair: HAPair) -> None:
    # lease_cmds are not replicated by HA: an add on one peer only shows up as a difference
    kea_ha_pair.primary.ok("lease4-add", {"ip-address": "192.0.2.77",
                                          "hw-address": "02:00:00:00:00:77"})
    kea_ha_pair.standby.ok("lease4-add", {"ip-address": "192.0.2.78",
                                          "hw-address": "02:00:00:00:00:78"})
    for srv in kea_ha_pair.servers:
        srv.ok("lease4-add", {"ip-address": "192.0.2.79", "hw-address": "02:00:00:00:00:79",
                              "hostname": srv.label})
    clients = [KeaClient.from_url(s.socket_url) for s in kea_ha_pair.servers]
    try:
        cmp_ = compare_peers(clients, page_size=2)  # small pages: the merge join crosses pages
    finally:
        for c in clients:
            c.close()
    d = cmp_["comparisons"][0]
    assert cmp_["identical"] is False
    assert (d["only_on_first"], d["only_on_other"], d["different"]) == (1, 1, 1)
    assert any("192.0.2.79: differs (hostname" in e for e in d["examples"])
    primary_count = cmp_["lease_counts"][clients[0].url]
    standby_count = cmp_["lease_counts"][clients[1].url]
    assert (primary_count, standby_count) == (2, 2)


def test_a_lone_peer_is_refused_unless_forced(kea_ha_pair: HAPair, tmp_path: Path) -> None:
    src = lease_file(tmp_path, 3)
    report = tmp_path / "r.json"
    r = run([str(src), "--to", f"kea:{kea_ha_pair.primary.socket_url}", "--report", str(report)])
    assert r.exit_code == 2
    assert "is one peer of an HA pair" in r.output
    assert "--to kea:PEER1 --to kea:PEER2" in r.output
    assert held(kea_ha_pair.primary) == {}
    r = run([str(src), "--to", f"kea:{kea_ha_pair.primary.socket_url}", "--report", str(report),
             "--force"])
    assert r.exit_code == 0, r.output
    assert len(held(kea_ha_pair.primary)) == 3


def test_pair_in_maintenance_is_refused_unless_forced(kea_ha_pair: HAPair,
                                                      tmp_path: Path) -> None:
    src = lease_file(tmp_path, 3)
    report = tmp_path / "r.json"
    targets = ["--to", f"kea:{kea_ha_pair.primary.socket_url}",
               "--to", f"kea:{kea_ha_pair.standby.socket_url}"]
    kea_ha_pair.primary.ok("ha-maintenance-start")
    try:
        r = run([str(src), *targets, "--report", str(report)])
        assert r.exit_code == 2
        assert "refusing to load into this HA pair" in r.output
        assert "in HA state 'partner-in-maintenance'" in r.output
        assert "in HA state 'in-maintenance'" in r.output
        assert "--force" in r.output
        assert held(kea_ha_pair.primary) == {} and held(kea_ha_pair.standby) == {}
        r = run([str(src), *targets, "--report", str(report), "--force"])
        assert r.exit_code == 0, r.output
        states = [p["ha_state"] for p in json.loads(report.read_text())["ha"]["peers"]]
        assert states == ["partner-in-maintenance", "in-maintenance"]
        assert len(held(kea_ha_pair.standby)) == 3
    finally:
        kea_ha_pair.primary.command("ha-maintenance-cancel")
    kea_ha_pair.wait_ready()


@pytest.fixture
def own_pair() -> Iterator[HAPair]:
    pair = start_ha_pair()
    try:
        yield pair
    finally:
        pair.close()


def test_partner_down_is_refused_and_a_dead_peer_named(own_pair: HAPair, tmp_path: Path) -> None:
    src = lease_file(tmp_path, 3)
    report = tmp_path / "r.json"
    own_pair.standby.stop()
    # the primary declares partner-down after max-response-delay (5 s in the harness)
    deadline = time.monotonic() + 30
    while own_pair.state(own_pair.primary) != "partner-down" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert own_pair.state(own_pair.primary) == "partner-down"
    r = run([str(src), "--to", f"kea:{own_pair.primary.socket_url}",
             "--to", f"kea:{own_pair.standby.socket_url}", "--report", str(report)])
    assert r.exit_code == 2
    assert f"Error: cannot connect to Kea at {own_pair.standby.socket_path}: " in r.output
    assert "HA state" not in r.output  # what failed and why, not a guess
    r = run([str(src), "--to", f"kea:{own_pair.primary.socket_url}", "--report", str(report)])
    assert r.exit_code == 2
    assert "in HA state 'partner-down'" in r.output
    assert held(own_pair.primary) == {}
    r = run([str(src), "--to", f"kea:{own_pair.primary.socket_url}", "--report", str(report),
             "--force"])
    assert r.exit_code == 0, r.output
    assert len(held(own_pair.primary)) == 3


def test_load_balancing_pair_both_peers_loaded(tmp_path: Path) -> None:
    pair = start_ha_pair(mode="load-balancing")
    try:
        src = lease_file(tmp_path, 25)
        report = tmp_path / "report.json"
        r = run([str(src), "--to", f"kea:{pair.primary.socket_url}",
                 "--to", f"kea:{pair.standby.socket_url}", "--report", str(report)])
        assert r.exit_code == 0, r.output
        assert held(pair.primary) == held(pair.standby)
        assert len(held(pair.primary)) == 25
        ha = json.loads(report.read_text())["ha"]
        assert [p["ha_state"] for p in ha["peers"]] == ["load-balancing", "load-balancing"]
        assert ha["compare"]["identical"] is True
    finally:
        pair.close()


def test_a_record_refused_by_one_peer_is_failed_naming_that_peer(kea_ha_pair: HAPair,
                                                                 tmp_path: Path) -> None:
    # the standby already holds 192.0.2.12 for another client: a conflict there only
    kea_ha_pair.standby.ok("lease4-add", {"ip-address": "192.0.2.12",
                                          "hw-address": "02:00:00:00:00:99"})
    src = lease_file(tmp_path, 5)
    report = tmp_path / "report.json"
    r = run([str(src), "--to", f"kea:{kea_ha_pair.primary.socket_url}",
             "--to", f"kea:{kea_ha_pair.standby.socket_url}", "--report", str(report)])
    assert r.exit_code == 1, r.output
    data = json.loads(report.read_text())
    assert (data["read"], data["loaded"], data["failed"], data["conflicts"]) == (5, 4, 1, 1)
    bad = [p for p in data["problems"] if p["kind"] == "conflict"]
    assert len(bad) == 1 and bad[0]["key"].endswith("192.0.2.12")
    assert f"on {kea_ha_pair.standby.socket_url}" in bad[0]["detail"]
    peers = data["ha"]["peers"]
    assert (peers[0]["loaded"], peers[1]["loaded"], peers[1]["conflicts"]) == (5, 4, 1)
    # the pair now differs at exactly that address, and the report says so
    cmp_ = data["ha"]["compare"]["comparisons"][0]
    assert (cmp_["only_on_first"], cmp_["only_on_other"], cmp_["different"]) == (0, 0, 1)
    assert "HA PEERS DIFFER" in r.output
    assert held(kea_ha_pair.standby)["192.0.2.12"] == "02:00:00:00:00:99"


def test_dry_run_against_a_pair_writes_and_pauses_nothing(kea_ha_pair: HAPair,
                                                          tmp_path: Path) -> None:
    src = lease_file(tmp_path, 4)
    report = tmp_path / "report.json"

    def disables() -> list[int]:
        return [s.log_file.read_text().count("Received command 'dhcp-disable'")
                for s in kea_ha_pair.servers]

    before = disables()
    r = run([str(src), "--to", f"kea:{kea_ha_pair.primary.socket_url}",
             "--to", f"kea:{kea_ha_pair.standby.socket_url}", "--report", str(report),
             "--dry-run", "--pause-service", "--reclaim"])
    assert r.exit_code == 0, r.output
    assert held(kea_ha_pair.primary) == {} and held(kea_ha_pair.standby) == {}
    data = json.loads(report.read_text())
    assert data["pause"]["would_pause"] == [kea_ha_pair.primary.socket_url,
                                            kea_ha_pair.standby.socket_url]
    assert [p["would_send"] for p in data["ha"]["peers"]] == [{"lease4-add": 4}] * 2
    assert data["ha"]["compare"] == "skipped (dry run)"
    assert "would pause DHCP on 2 server(s)" in r.output
    # nothing was disabled: no dhcp-disable reached either server
    assert disables() == before


def test_killed_mid_load_into_a_pair_resumes_exactly_once_on_both(kea_ha_pair: HAPair,
                                                                   tmp_path: Path) -> None:
    src = lease_file(tmp_path, 200, first=20)
    report = tmp_path / "report.json"
    repo = Path(__file__).resolve().parents[2]
    argv = [sys.executable, "-m", "kea_etl.cli", "migrate", str(src),
            "--to", f"kea:{kea_ha_pair.primary.socket_url}",
            "--to", f"kea:{kea_ha_pair.standby.socket_url}", "--report", str(report),
            "--workers", "1", "--no-progress"]
    env = dict(os.environ, PYTHONPATH=str(repo), KEA_ETL_CRASH_AFTER_BATCHES="2")
    killed = subprocess.run(argv, env=env, capture_output=True, cwd=tmp_path, timeout=120)
    assert killed.returncode == -9, killed.stderr  # the checkpoint's fault injection: kill -9
    partial = [len(held(s)) for s in kea_ha_pair.servers]
    assert min(partial) < 200
    env.pop("KEA_ETL_CRASH_AFTER_BATCHES")
    resumed = subprocess.run([*argv, "--resume"], env=env, capture_output=True, cwd=tmp_path,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    want = {f"192.0.2.{20 + i}": f"02:00:00:00:01:{20 + i:02x}" for i in range(200)}
    assert held(kea_ha_pair.primary) == want
    assert held(kea_ha_pair.standby) == want
    data = json.loads(report.read_text())
    assert (data["read"], data["loaded"], data["failed"]) == (200, 200, 0)
    assert data["ha"]["compare"]["identical"] is True
