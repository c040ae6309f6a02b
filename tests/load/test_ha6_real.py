"""Loading DHCPv6 leases into real Kea 2.2 kea-dhcp6 HA pairs (hot-standby and load-balancing).

The v6 twin of test_ha_real.py: the HA state checks, both peers loaded (lease6-bulk-apply) and
compared (lease6-get-page), the sample data's IA_NA and IA_PD leases present exactly once on both
peers, the pause window, resume after kill -9. The shared pair runs in a network namespace, whose
``[::1]:547`` its primary answers relayed DHCPv6 on (the standby, which does not serve in
hot-standby, listens nowhere), so a small relay client below, run in that namespace, checks that
DHCP really is off during ``--pause-service`` and back on after it, and that a migrated client is
offered its migrated address.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from isc_dhcp_leases import IscDhcpLeases

from kea_etl.cli import main
from kea_etl.kea import KeaClient
from kea_etl.load.ha import compare_peers, make_targets_loader
from kea_etl.load.pause import ServiceWindow
from kea_etl.records import Lease6
from kea_etl.report import RunReport
from tests.harness import clock
from tests.harness.ha import HAPair, shared_pair, start_ha_pair
from tests.harness.leasefile import ia_block
from tests.harness.netns import NetnsPair, netns_available

pytestmark = [pytest.mark.kea, pytest.mark.netns]

REPO = Path(__file__).resolve().parents[2]
#: the sample data's subnet6 (id 1, 2001:db8:100::/64 with pd-pool 2001:db8:200::/48 -> /56)
SUBNETS6 = json.loads((REPO / "sample-data" / "kea-dhcp6.json").read_text())["Dhcp6"]["subnet6"]
LINK = "2001:db8:100::1"  # the relay's link-address: selects subnet 1
SERVE = {"interfaces-config": {"interfaces": ["lo/::1"]}}

HEAD = "authoring-byte-order little-endian;\n\n"


# ---- lease files and expectations --------------------------------------------------------------
def duid_of(i: int) -> str:
    return f"00:03:00:01:02:00:00:00:{i >> 8:02x}:{i & 255:02x}"


def lease_file6(tmp_path: Path, n: int, *, first: int = 0x1000) -> Path:
    """n clients, each with one IA_NA address (2001:db8:100::first+i) and one IA_PD /56."""
    cltt = clock.now() - 3600
    blocks = []
    for i in range(n):
        duid = bytes.fromhex(duid_of(i).replace(":", ""))
        life = {"cltt": cltt, "ends": cltt + 10 * 365 * 86400, "preferred": 4000, "max_life": 8000}
        blocks.append(ia_block("ia-na", i + 1, duid, f"2001:db8:100::{first + i:x}", **life))
        blocks.append(ia_block("ia-pd", i + 1, duid, f"2001:db8:200:{i:x}00::/56", **life))
    path = tmp_path / "dhcpd6.leases"
    path.write_text(HEAD + "".join(blocks))
    return path


def generated_want(n: int, *, first: int = 0x1000) -> dict[str, tuple[str, str, int]]:
    want: dict[str, tuple[str, str, int]] = {}
    for i in range(n):
        want[f"2001:db8:100::{first + i:x}"] = ("IA_NA", duid_of(i), i + 1)
        want[str(ipaddress.IPv6Network(f"2001:db8:200:{i:x}00::/56"))] = ("IA_PD", duid_of(i), i + 1)
    return want


@pytest.fixture(scope="module")
def sample6(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sample-data/dhcpd6.leases with its dates moved to the suite's now (the peers reclaim what
    has expired by their clock)."""
    return clock.rebased_sample("dhcpd6.leases", tmp_path_factory.mktemp("sample6"))


def sample_want(sample6: Path) -> dict[str, tuple[str, str, int]]:
    """The sample file's current v6 leases, by a second parser (isc_dhcp_leases): the last block
    per address wins; active and not yet expired are loaded."""
    last: dict[str, Any] = {}
    for lease in IscDhcpLeases(str(sample6)).get(include_backups=True):
        last[lease.ip] = lease
    now = clock.now()
    return {ip: ("IA_PD" if x.type == "pd" else "IA_NA", x.duid.hex(":"), x.iaid)
            for ip, x in last.items()
            if x.binding_state == "active" and x.end.timestamp() > now}


def held(srv: Any) -> dict[str, tuple[str, str, int]]:
    """What one peer holds (lease6-get-all), keyed like sample_want; no address twice."""
    out: dict[str, tuple[str, str, int]] = {}
    for lease in srv.leases():
        key = lease["ip-address"]
        if lease["type"] == "IA_PD":
            key = f"{key}/{lease['prefix-len']}"
        assert key not in out, f"{key} twice on {srv.label}"
        out[key] = (lease["type"], lease["duid"], lease["iaid"])
    return out


def run(args: list[str]) -> Any:
    return CliRunner().invoke(main, ["migrate", *args], catch_exceptions=False)


def both(pair: HAPair) -> list[str]:
    return ["--to", f"kea:{pair.primary.socket_url}", "--to", f"kea:{pair.standby.socket_url}"]


# ---- a DHCPv6 relay agent on the namespace's loopback ------------------------------------------
def _opt(code: int, data: bytes) -> bytes:
    return struct.pack("!HH", code, len(data)) + data


def _options(data: bytes) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    while len(data) >= 4:
        code, size = struct.unpack("!HH", data[:4])
        out.setdefault(code, data[4:4 + size])
        data = data[4 + size:]
    return out


def solicit(net: NetnsPair, duid: str, iaid: int = 1, *, timeout: float = 1.0) -> str | None:
    """:func:`solicit_here` run in ``net``'s server namespace, where the pair runs."""
    code = ("import json, sys; from tests.load.test_ha6_real import solicit_here; "
            "print(json.dumps(solicit_here(sys.argv[1], int(sys.argv[2]), timeout=float(sys.argv[3]))))")
    proc = net.run("srv", [sys.executable, "-c", code, duid, str(iaid), str(timeout)],
                   cwd=str(REPO), env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=60)
    assert proc.returncode == 0, proc.stderr
    answer: str | None = json.loads(proc.stdout)
    return answer


def solicit_here(duid: str, iaid: int = 1, *, timeout: float = 1.0) -> str | None:
    """Relay a Solicit (IA_NA) to the primary at [::1]:547 of this process's network namespace;
    the offered address, or None when Kea does not answer. The Relay-forw carries a
    relay-source-port option (RFC 8357, in Kea since 1.5), so Kea sends the Relay-reply back to
    this socket's port rather than 547."""
    xid = os.urandom(3)
    msg = (b"\x01" + xid + _opt(1, bytes.fromhex(duid.replace(":", "")))
           + _opt(3, struct.pack("!III", iaid, 0, 0)) + _opt(8, b"\x00\x00"))
    relay = (b"\x0c\x00" + ipaddress.IPv6Address(LINK).packed
             + ipaddress.IPv6Address("fe80::1").packed + _opt(9, msg) + _opt(135, b"\x00\x00"))
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))
        s.settimeout(timeout)
        s.sendto(relay, ("::1", 547))
        try:
            data, _ = s.recvfrom(4096)
        except TimeoutError:
            return None
    assert data[0] == 13, f"not a Relay-reply: {data.hex()}"
    inner = _options(data[34:])[9]
    assert inner[0] == 2 and inner[1:4] == xid, f"not our Advertise: {inner.hex()}"
    ia_na = _options(inner[4:])[3]
    addr = _options(ia_na[12:]).get(5)
    return str(ipaddress.IPv6Address(addr[:16])) if addr else "no address"


# ---- the pair ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ha6_net() -> Iterator[NetnsPair]:
    """The namespaces the shared pair runs in (its primary serves DHCPv6 on their [::1]:547)."""
    if (why := netns_available()) is not None:
        pytest.skip(why)
    with NetnsPair(tag="ha6") as net:
        yield net


@pytest.fixture(scope="module")
def _ha6_session(ha6_net: NetnsPair) -> Iterator[list[HAPair | str]]:
    holder: list[HAPair | str] = []
    yield holder
    for p in holder:
        if isinstance(p, HAPair):
            p.close()


@pytest.fixture
def pair6(_ha6_session: list[HAPair | str], ha6_net: NetnsPair) -> HAPair:
    """Hot-standby pair of Kea 2.x kea-dhcp6 servers (sample-data subnets), no leases, DHCP on;
    the primary answers relayed DHCPv6 on [::1]:547 of ``ha6_net``'s server namespace."""
    pair = shared_pair(_ha6_session,
                       lambda: start_ha_pair(family=6, subnets=SUBNETS6, primary_extra=SERVE,
                                             argv_prefix=ha6_net.argv("srv", [])),
                       "Kea DHCPv6 HA pair")
    for s in pair.servers:
        s.command("dhcp-enable")
    pair.wipe()
    pair.wait_ready()
    assert [held(s) for s in pair.servers] == [{}, {}]
    return pair


@pytest.fixture
def own_pair6() -> Iterator[HAPair]:
    pair = start_ha_pair(family=6, subnets=SUBNETS6)
    try:
        yield pair
    finally:
        pair.close()


# ---- tests -------------------------------------------------------------------------------------
def test_v6_pair_reaches_its_normal_state(pair6: HAPair, ha6_net: NetnsPair) -> None:
    assert pair6.family == 6
    assert pair6.state(pair6.primary) == "hot-standby"
    assert pair6.state(pair6.standby) in ("hot-standby", "ready")
    assert pair6.primary_url != pair6.standby_url
    for s in pair6.servers:
        assert s.daemon == "kea-dhcp6"
        assert "Dhcp6" in s.ok("config-get")
        status = s.ok("status-get")["high-availability"][0]
        assert status["ha-mode"] == "hot-standby"
        assert status["ha-servers"]["remote"]["in-touch"] is True
    # the primary serves: an unknown client is offered an address from the pool
    offered = solicit(ha6_net, "00:03:00:01:02:00:00:00:ee:01")
    assert offered is not None and offered.startswith("2001:db8:100::")


def test_sample_v6_leases_on_both_peers_exactly_once(pair6: HAPair, tmp_path: Path,
                                                   sample6: Path, ha6_net: NetnsPair) -> None:
    want = sample_want(sample6)
    assert len(want) == 364
    assert {t for t, _, _ in want.values()} == {"IA_NA", "IA_PD"}
    report = tmp_path / "report.json"
    args = [str(sample6), *both(pair6), "--report", str(report), "--pause-service", "--reclaim"]
    r = run(args)
    assert r.exit_code == 0, r.output
    assert held(pair6.primary) == want
    assert held(pair6.standby) == want
    data = json.loads(report.read_text())
    assert (data["loaded"], data["failed"], data["skipped"]) == (364, 0, {"released": 57})
    ha = data["ha"]
    assert ha["peers"][0]["ha_state"] == "hot-standby"
    assert ha["peers"][1]["ha_state"] in ("hot-standby", "ready")
    assert [p["loaded"] for p in ha["peers"]] == [364, 364]
    assert [set(p["sent"]) for p in ha["peers"]] == [{"lease6-bulk-apply"}] * 2
    # compared as v6 (lease6-get-page), not as two empty v4 lease databases
    assert ha["compare"]["family"] == 6
    assert ha["compare"]["identical"] is True
    assert sorted(ha["compare"]["lease_counts"].values()) == [364, 364]
    assert "HA peers hold identical leases" in r.output
    # the pause window was lifted: the primary answers again, and a migrated client is
    # offered the address it held under dhcpd
    assert data["pause"]["enabled_again"] is True
    client = next((d, i, a) for a, (t, d, i) in sorted(want.items()) if t == "IA_NA")
    assert solicit(ha6_net, client[0], client[1]) == client[2]
    # a second run changes nothing on either peer
    r2 = run(args)
    assert r2.exit_code == 0, r2.output
    again = json.loads(report.read_text())
    assert again["already_present"] == 364 and again["loaded"] == 364
    assert [p["already_present"] for p in again["ha"]["peers"]] == [364, 364]
    assert [p["sent"] for p in again["ha"]["peers"]] == [{}, {}]
    assert held(pair6.primary) == want and held(pair6.standby) == want


def test_dhcpv6_is_off_during_the_load_and_on_after(pair6: HAPair, tmp_path: Path,
                                                   ha6_net: NetnsPair) -> None:
    assert solicit(ha6_net, "00:03:00:01:02:00:00:00:ee:02") is not None
    targets = [f"kea:{s.socket_url}" for s in pair6.servers]
    loader = make_targets_loader(targets, subnets=None, report_path=str(tmp_path / "r.json"),
                                 workers=1)
    window = ServiceWindow(loader, pause=True, max_period=60)
    during: list[str | None] = []
    n = 300

    def stream() -> Iterator[Lease6]:
        for i in range(n):
            if i == 150:
                during.append(solicit(ha6_net, "00:03:00:01:02:00:00:00:ee:03", timeout=0.5))
            yield Lease6(address=f"2001:db8:100::{0x2000 + i:x}", duid=duid_of(i), iaid=1,
                         valid_lft=4000, preferred_lft=3000, cltt=clock.now(), subnet_id=1)

    report = RunReport(read=n)
    try:
        window.load(stream(), report)
        window.commit()
    except BaseException:
        window.abort()
        raise
    assert during == [None], "Kea answered a Solicit while the load ran"
    assert solicit(ha6_net, "00:03:00:01:02:00:00:00:ee:04") is not None, \
        "DHCPv6 not back after the load"
    assert report.loaded == n and report.failed == 0
    assert report.pause["enabled_again"] is True
    assert len(held(pair6.primary)) == n and held(pair6.primary) == held(pair6.standby)


def test_compare_reports_what_differs_between_real_v6_peers(pair6: HAPair) -> None:
    # lease_cmds are not replicated by HA: an add on one peer only shows up as a difference
    pair6.primary.ok("lease6-add", {"ip-address": "2001:db8:100::77", "duid": duid_of(77),
                                    "iaid": 1})
    pair6.standby.ok("lease6-add", {"ip-address": "2001:db8:100::78", "duid": duid_of(78),
                                    "iaid": 1})
    for srv in pair6.servers:
        srv.ok("lease6-add", {"ip-address": "2001:db8:200:7900::", "type": "IA_PD",
                              "prefix-len": 56, "subnet-id": 1, "duid": duid_of(79), "iaid": 1,
                              "hostname": srv.label})
        srv.ok("lease6-add", {"ip-address": "2001:db8:100::80", "duid": duid_of(80), "iaid": 1})
    clients = [KeaClient.from_url(s.socket_url) for s in pair6.servers]
    try:
        cmp_ = compare_peers(clients, page_size=2)  # small pages: the merge join crosses pages
    finally:
        for c in clients:
            c.close()
    assert cmp_["family"] == 6
    d = cmp_["comparisons"][0]
    assert cmp_["identical"] is False
    assert (d["only_on_first"], d["only_on_other"], d["different"]) == (1, 1, 1)
    assert "2001:db8:100::77: only on" in d["examples"][0]
    assert any("2001:db8:200:7900::/56: differs (hostname" in e for e in d["examples"])
    assert sorted(cmp_["lease_counts"].values()) == [3, 3]


def test_a_lone_v6_peer_is_refused_unless_forced(pair6: HAPair, tmp_path: Path) -> None:
    src = lease_file6(tmp_path, 3)
    report = tmp_path / "r.json"
    r = run([str(src), "--to", f"kea:{pair6.primary.socket_url}", "--report", str(report)])
    assert r.exit_code == 2
    assert "is one peer of an HA pair" in r.output
    assert "--to kea:PEER1 --to kea:PEER2" in r.output
    assert held(pair6.primary) == {}
    r = run([str(src), "--to", f"kea:{pair6.primary.socket_url}", "--report", str(report),
             "--force"])
    assert r.exit_code == 0, r.output
    assert held(pair6.primary) == generated_want(3)
    assert held(pair6.standby) == {}


def test_v6_pair_in_maintenance_is_refused_unless_forced(pair6: HAPair, tmp_path: Path) -> None:
    src = lease_file6(tmp_path, 3)
    report = tmp_path / "r.json"
    pair6.primary.ok("ha-maintenance-start")
    try:
        r = run([str(src), *both(pair6), "--report", str(report)])
        assert r.exit_code == 2
        assert "refusing to load into this HA pair" in r.output
        assert "in HA state 'partner-in-maintenance'" in r.output
        assert "in HA state 'in-maintenance'" in r.output
        assert held(pair6.primary) == {} and held(pair6.standby) == {}
        r = run([str(src), *both(pair6), "--report", str(report), "--force"])
        assert r.exit_code == 0, r.output
        states = [p["ha_state"] for p in json.loads(report.read_text())["ha"]["peers"]]
        assert states == ["partner-in-maintenance", "in-maintenance"]
        assert held(pair6.standby) == generated_want(3) == held(pair6.primary)
    finally:
        pair6.primary.command("ha-maintenance-cancel")
    pair6.wait_ready()


def test_v6_partner_down_is_refused_and_a_dead_peer_named(own_pair6: HAPair,
                                                          tmp_path: Path) -> None:
    src = lease_file6(tmp_path, 3)
    report = tmp_path / "r.json"
    own_pair6.standby.stop()
    # the primary declares partner-down after max-response-delay (5 s in the harness)
    deadline = time.monotonic() + 30
    while own_pair6.state(own_pair6.primary) != "partner-down" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert own_pair6.state(own_pair6.primary) == "partner-down"
    r = run([str(src), *both(own_pair6), "--report", str(report)])
    assert r.exit_code == 2
    assert f"Error: cannot connect to Kea at {own_pair6.standby.socket_path}: " in r.output
    assert "HA state" not in r.output  # what failed and why, not a guess
    r = run([str(src), "--to", f"kea:{own_pair6.primary.socket_url}", "--report", str(report)])
    assert r.exit_code == 2
    assert "in HA state 'partner-down'" in r.output
    assert held(own_pair6.primary) == {}
    r = run([str(src), "--to", f"kea:{own_pair6.primary.socket_url}", "--report", str(report),
             "--force"])
    assert r.exit_code == 0, r.output
    assert held(own_pair6.primary) == generated_want(3)


def test_v6_load_balancing_pair_both_peers_loaded(tmp_path: Path) -> None:
    pair = start_ha_pair(family=6, mode="load-balancing", subnets=SUBNETS6)
    try:
        src = lease_file6(tmp_path, 25)
        report = tmp_path / "report.json"
        r = run([str(src), *both(pair), "--report", str(report)])
        assert r.exit_code == 0, r.output
        assert held(pair.primary) == generated_want(25) == held(pair.standby)
        ha = json.loads(report.read_text())["ha"]
        assert [p["ha_state"] for p in ha["peers"]] == ["load-balancing", "load-balancing"]
        assert ha["compare"]["family"] == 6 and ha["compare"]["identical"] is True
        assert sorted(ha["compare"]["lease_counts"].values()) == [50, 50]
    finally:
        pair.close()


def test_a_v6_record_refused_by_one_peer_is_failed_naming_that_peer(pair6: HAPair,
                                                                    tmp_path: Path) -> None:
    # the standby already holds 2001:db8:100::1002 for another client: a conflict there only
    pair6.standby.ok("lease6-add", {"ip-address": "2001:db8:100::1002", "duid": duid_of(99),
                                    "iaid": 9})
    src = lease_file6(tmp_path, 5)
    report = tmp_path / "report.json"
    r = run([str(src), *both(pair6), "--report", str(report)])
    assert r.exit_code == 1, r.output
    data = json.loads(report.read_text())
    assert (data["read"], data["loaded"], data["failed"], data["conflicts"]) == (10, 9, 1, 1)
    bad = [p for p in data["problems"] if p["kind"] == "conflict"]
    assert len(bad) == 1 and bad[0]["key"].endswith("2001:db8:100::1002")
    assert f"on {pair6.standby.socket_url}" in bad[0]["detail"]
    peers = data["ha"]["peers"]
    assert (peers[0]["loaded"], peers[1]["loaded"], peers[1]["conflicts"]) == (10, 9, 1)
    cmp_ = data["ha"]["compare"]["comparisons"][0]
    assert (cmp_["only_on_first"], cmp_["only_on_other"], cmp_["different"]) == (0, 0, 1)
    assert "HA PEERS DIFFER" in r.output
    # the standby's own lease was not overwritten (lease6-bulk-apply would have: an upsert)
    assert held(pair6.standby)["2001:db8:100::1002"] == ("IA_NA", duid_of(99), 9)
    assert held(pair6.primary) == generated_want(5)


def test_dry_run_against_a_v6_pair_writes_and_pauses_nothing(pair6: HAPair,
                                                             tmp_path: Path) -> None:
    src = lease_file6(tmp_path, 4)
    report = tmp_path / "report.json"

    def disables() -> list[int]:
        return [s.log_file.read_text().count("Received command 'dhcp-disable'")
                for s in pair6.servers]

    before = disables()
    r = run([str(src), *both(pair6), "--report", str(report), "--dry-run", "--pause-service",
             "--reclaim"])
    assert r.exit_code == 0, r.output
    assert held(pair6.primary) == {} and held(pair6.standby) == {}
    data = json.loads(report.read_text())
    assert data["pause"]["would_pause"] == [pair6.primary.socket_url, pair6.standby.socket_url]
    assert [set(p["would_send"]) for p in data["ha"]["peers"]] == [{"lease6-bulk-apply"}] * 2
    assert data["ha"]["compare"] == "skipped (dry run)"
    assert disables() == before


def test_killed_mid_load_into_a_v6_pair_resumes_exactly_once_on_both(pair6: HAPair,
                                                                     tmp_path: Path,
                                                                     sample6: Path) -> None:
    want = sample_want(sample6)
    report = tmp_path / "report.json"
    argv = [sys.executable, "-m", "kea_etl.cli", "migrate", str(sample6), *both(pair6),
            "--report", str(report), "--workers", "1", "--no-progress"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               KEA_ETL_CRASH_AFTER_BATCHES="2")
    killed = subprocess.run(argv, env=env, capture_output=True, cwd=tmp_path, timeout=120)
    assert killed.returncode == -9, killed.stderr  # the checkpoint's fault injection: kill -9
    partial = [len(held(s)) for s in pair6.servers]
    assert min(partial) < len(want)
    env.pop("KEA_ETL_CRASH_AFTER_BATCHES")
    resumed = subprocess.run([*argv, "--resume"], env=env, capture_output=True, cwd=tmp_path,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert held(pair6.primary) == want
    assert held(pair6.standby) == want
    data = json.loads(report.read_text())
    assert (data["read"], data["loaded"], data["failed"]) == (421, 364, 0)
    assert data["ha"]["compare"]["identical"] is True
