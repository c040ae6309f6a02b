"""A real ISC dhcpd failover pair migrated into a real Kea HA pair.

Two dhcpd 4.4 processes run as a load-balancing failover pair (``failover peer`` with
``split 128``) in one server namespace, each on its own address of the link (10.99.0.1 primary,
10.99.0.3 secondary, each with its own ``server-identifier``); both receive the clients'
broadcasts. perfdhcp clients are served by the pair; then the secondary is frozen (SIGSTOP) and more
clients are served by the primary alone (communications-interrupted); then the primary is frozen
and the secondary, woken up alone, serves a few more from its backup pool: the two lease files
really disagree, both ways. Both files are migrated with ``--failover-pair`` into the Kea 2.2 hot-standby
pair of the harness (both peers loaded, compared), with the service paused during the load.
Every client that got an address appears exactly once, on both Kea peers, with its MAC.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from kea_etl.cli import main
from tests.harness import clock
from tests.harness.dhcpd import Dhcpd, Dhcpd4, client_macs, run_perfdhcp4
from tests.harness.ha import HAPair
from tests.harness.netns import NetnsPair, netns_available

pytestmark = [pytest.mark.netns, pytest.mark.kea,
              pytest.mark.skipif(bool(netns_available()), reason=netns_available() or "")]

PRIMARY, SECONDARY = "10.99.0.1", "10.99.0.3"
BASE1, BASE2, BASE3 = "00:0c:0f:00:00:00", "00:0c:0f:00:10:00", "00:0c:0f:00:20:00"


def conf(role: str, me: str, peer: str, my_port: int, peer_port: int) -> str:
    role_lines = "primary;\n  mclt 10;\n  split 128;" if role == "primary" else "secondary;"
    return f"""\
authoritative;
ddns-update-style none;
ping-check false;
default-lease-time 86400;
max-lease-time 86400;
server-identifier {me};
failover peer "fo" {{
  {role_lines}
  address {me};
  port {my_port};
  peer address {peer};
  peer port {peer_port};
  max-response-delay 3;
  max-unacked-updates 10;
  load balance max seconds 3;
}}
shared-network link {{
  subnet 10.99.0.0 netmask 255.255.255.0 {{ }}
  subnet 192.0.2.0 netmask 255.255.255.0 {{
    pool {{
      failover peer "fo";
      range 192.0.2.100 192.0.2.200;
    }}
  }}
}}
"""


def wait_state(d: Dhcpd, state: str, timeout: float = 60.0) -> None:
    pattern = re.compile(rf"failover peer fo: I move from \S+ to {state}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pattern.search(d.log()):
            return
        time.sleep(0.1)
    raise AssertionError(f"dhcpd never reached failover state {state}:\n{d.log()[-3000:]}")


def test_failover_pair_to_kea_ha_pair(kea_ha_pair: HAPair, tmp_path: Path) -> None:
    with NetnsPair(tag="fo") as net:
        net.run("srv", ["ip", "addr", "add", f"{SECONDARY}/24", "dev", net.srv_if], check=True)
        a_file, b_file = tmp_path / "peer1" / "dhcpd.leases", tmp_path / "peer2" / "dhcpd.leases"
        a = Dhcpd4(net, conf("primary", PRIMARY, SECONDARY, 647, 847), a_file, extra_args=["-d"])
        b = Dhcpd4(net, conf("secondary", SECONDARY, PRIMARY, 847, 647), b_file,
                   extra_args=["-d"])
        try:
            a.start()
            b.start()
            wait_state(a, "normal")
            wait_state(b, "normal")
            # Failover hands out MCLT-long leases while the partner has not acknowledged more
            # (10 s here): judge expiry at the start of the test, not at migration time.
            as_of = datetime.fromtimestamp(clock.now() - 1, UTC).isoformat()
            # phase 1: the pair serves 40 clients (each peer its half of the hash buckets)
            r1 = run_perfdhcp4(net, clients=40, base_mac=BASE1, rate=50)
            assert r1.received("REQUEST-ACK") == 40, r1.stats
            # phase 2: the secondary freezes (SIGSTOP); once the primary misses its heartbeats
            # it serves 20 more clients alone, and the secondary's file never hears of them
            os.kill(b.pid or 0, signal.SIGSTOP)
            wait_state(a, "communications-interrupted")
            r2 = run_perfdhcp4(net, clients=20, base_mac=BASE2, rate=50)
            assert r2.received("REQUEST-ACK") == 20, r2.stats
            # phase 3: the primary freezes, the secondary wakes up alone and serves 10 more from
            # its backup share of the pool; the primary's file still says "backup" there. The
            # primary is then killed frozen (dhcpd commits every lease to its file before it
            # answers, so nothing is lost), so it never learns of them.
            os.kill(a.pid or 0, signal.SIGSTOP)
            os.kill(b.pid or 0, signal.SIGCONT)
            wait_state(b, "communications-interrupted")
            r3 = run_perfdhcp4(net, clients=10, base_mac=BASE3, rate=50)
            assert r3.received("REQUEST-ACK") == 10, r3.stats
            a._kill()
        finally:
            for d in (a, b):
                if d.running() and d.pid:
                    os.kill(d.pid, signal.SIGCONT)
            a.stop()
            b.stop()
    served = set(client_macs(BASE1, 40)) | set(client_macs(BASE2, 20)) | set(client_macs(BASE3, 10))
    assert len(served) == 70

    report = tmp_path / "report.json"
    result = CliRunner().invoke(main, [
        "migrate", "--failover-pair", str(a_file), str(b_file),
        "--to", f"kea:{kea_ha_pair.primary.socket_url}",
        "--to", f"kea:{kea_ha_pair.standby.socket_url}",
        "--as-of", as_of, "--pause-service", "--report", str(report)],
        catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())

    for srv in kea_ha_pair.servers:
        leases = srv.leases()
        macs = Counter(x["hw-address"] for x in leases)
        addresses = Counter(x["ip-address"] for x in leases)
        assert set(macs) == served, f"{srv.label}: clients missing or extra"
        assert max(macs.values()) == 1, f"{srv.label}: a client holds two leases"
        assert max(addresses.values()) == 1
    assert data["loaded"] == 70 and data["failed"] == 0
    fo = data["failover"]
    assert fo["addresses"] == 101  # the whole pool, each address once
    p1, p2 = fo["peers"]
    assert p1["file"] == str(a_file) and p2["file"] == str(b_file)
    # phase 2: active on the primary, still free in the secondary's file; phase 3: active on
    # the secondary, "backup" in the primary's file
    assert fo["resolved_by"] == {"active beats free": 20, "active beats backup": 10}
    assert (p1["won_disagreements"], p2["won_disagreements"]) == (20, 10)
    assert p2["contributed"] == 10
    assert data["ha"]["compare"]["identical"] is True
    assert data["pause"]["enabled_again"] is True
