"""The namespace harness itself: real dhcpd, real perfdhcp, the raw test client, cleanup.

Also checks the committed sample-data/ against the Kea configuration it ships with (no
namespaces needed for that part).
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.dhcp_client import run_client_ops
from tests.harness.dhcpd import (
    Dhcpd4,
    Dhcpd6,
    DhcpdError,
    client_duids,
    client_id4,
    client_macs,
    mac_add,
    run_perfdhcp4,
    run_perfdhcp6,
)
from tests.harness.leasefile import unescape
from tests.harness.netns import NetnsPair, list_netns, netns_available

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample-data"

CONF4 = """\
authoritative;
ddns-update-style none;
ping-check false;
dhcp-cache-threshold 0;
default-lease-time 86400;
max-lease-time 86400;
shared-network link {
  subnet 10.99.0.0 netmask 255.255.255.0 { }
  subnet 10.100.0.0 netmask 255.255.252.0 { range 10.100.0.10 10.100.0.250; }
}
subnet 10.101.0.0 netmask 255.255.255.0 { range 10.101.0.100 10.101.0.200; }
"""

CONF6 = """\
lease-id-format hex;
authoritative;
ddns-update-style none;
default-lease-time 86400;
max-lease-time 86400;
preferred-lifetime 43200;
subnet6 2001:db8:100::/64 {
  range6 2001:db8:100::1000 2001:db8:100::ffff;
  prefix6 2001:db8:200:: 2001:db8:200:ff00:: /56;
}
"""

needs_netns = pytest.mark.skipif(bool(netns_available()), reason=netns_available() or "")


def last_blocks4(text: str) -> dict[str, str]:
    """address -> body of the last `lease` block for it (dhcpd.leases is a log: the last one wins)."""
    return {m.group(1): m.group(2) for m in re.finditer(r"^lease (\S+) \{\n(.*?)^\}", text, re.S | re.M)}


def field(body: str, name: str) -> str | None:
    m = re.search(rf"^\s+{name} (.*?);$", body, re.M)
    return m.group(1) if m else None




@pytest.fixture
def net() -> Iterator[NetnsPair]:
    with NetnsPair(extra_cli_v4=["10.101.0.1/24"], tag="t") as pair:
        yield pair


# -- namespaces ------------------------------------------------------------------------------------
@pytest.mark.netns
@needs_netns
def test_namespaces_are_removed_even_when_the_body_fails() -> None:
    pair = NetnsPair()
    with pytest.raises(RuntimeError, match="boom"), pair:
        assert {pair.srv_ns, pair.cli_ns} <= set(list_netns())
        inside = pair.run("cli", ["ip", "-4", "addr", "show", "dev", pair.cli_if]).stdout
        assert inside.count("10.99.0.2/24") == 1
        # only the namespaces carry the link: the host has no such address
        host = subprocess.run(["ip", "-4", "addr"], capture_output=True, text=True).stdout
        assert "10.99.0.2/24" not in host
        pair.popen("srv", ["sleep", "60"])  # a process left running in the namespace
        raise RuntimeError("boom")
    assert pair.srv_ns not in list_netns()
    assert pair.cli_ns not in list_netns()


@pytest.mark.netns
@needs_netns
def test_stale_namespaces_of_dead_processes_are_removed() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"ketl-{dead.pid}-99-stale-srv"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        with NetnsPair():
            assert stale not in list_netns()
    finally:
        subprocess.run(["ip", "netns", "del", stale], capture_output=True)


# -- dhcpd -4 + perfdhcp ---------------------------------------------------------------------------
@pytest.mark.netns
@needs_netns
def test_dhcpd4_leases_to_perfdhcp_clients_and_they_come_back(net: NetnsPair, tmp_path: Path) -> None:
    base = "00:0c:01:00:20:00"
    macs = client_macs(base, 40)
    lease_path = tmp_path / "dhcpd.leases"
    dhcpd = Dhcpd4(net, CONF4, lease_path)
    with dhcpd:
        first = run_perfdhcp4(net, clients=40, base_mac=base, rate=200)
    assert first.received("REQUEST-ACK") == 40, first.stdout
    leases = last_blocks4(lease_path.read_text())
    by_mac = {str(field(body, "hardware ethernet")): addr for addr, body in leases.items()}
    assert sorted(by_mac) == sorted(macs)
    for addr, body in leases.items():
        assert ipaddress.ip_address(addr) in ipaddress.ip_network("10.100.0.0/22")
        assert field(body, "binding state") == "active"
        # perfdhcp sends client-id 01 + MAC; dhcpd writes it octal-escaped by default
        mac = field(body, "hardware ethernet")
        assert mac is not None
        uid = field(body, "uid")
        assert uid is not None and uid.startswith('"')
        assert unescape(uid[1:-1]).hex(":") == client_id4(mac)

    # dhcpd restarted on the same lease file: the same clients get the same addresses again
    blocks_before = lease_path.read_text().count("\nlease ")
    with Dhcpd4(net, CONF4, lease_path):
        again = run_perfdhcp4(net, clients=40, base_mac=base, rate=200)
    assert again.received("REQUEST-ACK") == 40
    text = lease_path.read_text()
    assert {str(field(b, "hardware ethernet")): a for a, b in last_blocks4(text).items()} == by_mac
    assert text.count("\nlease ") >= blocks_before + 40  # history: new blocks for the same addresses


@pytest.mark.netns
@needs_netns
def test_perfdhcp4_through_a_second_relay_address(net: NetnsPair, tmp_path: Path) -> None:
    lease_path = tmp_path / "dhcpd.leases"
    with Dhcpd4(net, CONF4, lease_path):
        res = run_perfdhcp4(net, clients=5, base_mac="00:0c:02:00:00:00", local="10.101.0.1")
    assert res.received("REQUEST-ACK") == 5
    addrs = [a for a, b in last_blocks4(lease_path.read_text()).items()
             if field(b, "hardware ethernet") in client_macs("00:0c:02:00:00:00", 5)]
    assert len(addrs) == 5
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network("10.101.0.0/24") for a in addrs)


@pytest.mark.netns
@needs_netns
def test_raw_client_ack_nak_decline_release(net: NetnsPair, tmp_path: Path) -> None:
    lease_path = tmp_path / "dhcpd.leases"
    a, b, c = client_macs("52:54:00:bb:00:00", 3)
    with Dhcpd4(net, CONF4, lease_path):
        got = run_client_ops(net, [
            {"op": "dora", "mac": a, "hostname": "host-a"},
            {"op": "dora", "mac": b, "client_id": client_id4(b)},
            {"op": "dora", "mac": c},
        ])
        assert [r["reply"] for r in got] == ["ACK", "ACK", "ACK"], got
        addr_a, addr_b, addr_c = (r["address"] for r in got)
        srv = got[0]["server_id"]
        assert srv == net.srv_addr4
        checks = run_client_ops(net, [
            {"op": "init-reboot", "mac": a, "address": addr_a},                      # own address
            {"op": "init-reboot", "mac": c, "address": addr_a},                      # someone else's
            {"op": "init-reboot", "mac": b, "address": addr_b, "client_id": client_id4(b)},
            {"op": "renew", "mac": a, "address": addr_a},
            {"op": "decline", "mac": c, "address": addr_c, "server_id": srv},
            {"op": "release", "mac": b, "address": addr_b, "server_id": srv, "client_id": client_id4(b)},
        ])
        assert [r["reply"] for r in checks[:4]] == ["ACK", "NAK", "ACK", "ACK"], checks
        assert checks[0]["address"] == addr_a
    text = lease_path.read_text()
    leases = last_blocks4(text)
    # the DORA's block has the host name; the renew (sent without one) wrote a later block without it
    assert 'client-hostname "host-a";' in text
    assert field(leases[addr_a], "client-hostname") is None
    assert field(leases[addr_a], "binding state") == "active"
    assert "uid" not in leases[addr_a]
    assert field(leases[addr_c], "binding state") == "abandoned"
    assert field(leases[addr_b], "binding state") == "free"


@pytest.mark.netns
@needs_netns
def test_dhcpd_that_cannot_start_says_why(net: NetnsPair, tmp_path: Path) -> None:
    dhcpd = Dhcpd4(net, "subnet 10.99.0.0 netmask 255.255.255.0 { range 10.99.0.10 10.99.0.300; }\n",
                   tmp_path / "dhcpd.leases")
    with pytest.raises(DhcpdError, match=r"exited at start(.|\n)*10\.99\.0\.300"):
        dhcpd.start()
    assert not dhcpd.running()


# -- dhcpd -6 + perfdhcp -6 ----------------------------------------------------------------------------
@pytest.mark.netns
@needs_netns
def test_dhcpd6_ia_na_and_ia_pd_for_fixed_duids(net: NetnsPair, tmp_path: Path) -> None:
    base = "00:0c:06:00:20:00"
    lease_path = tmp_path / "dhcpd6.leases"
    with Dhcpd6(net, CONF6, lease_path):
        res = run_perfdhcp6(net, clients=20, base_mac=base, rate=200)
    assert res.received("REQUEST-REPLY") == 20, res.stdout
    text = lease_path.read_text()
    # hex ids: IAID (4 bytes, written in the host's byte order: 1 -> 01:00:00:00 on x86) + DUID
    for kind, sub in (("ia-na", "iaaddr"), ("ia-pd", "iaprefix")):
        ids = dict(re.findall(rf"^{kind} (\S+) \{{\n(.*?)^\}}", text, re.S | re.M))
        assert sorted(ids) == sorted(f"01:00:00:00:{d}" for d in client_duids(base, 20)), kind
        for body in ids.values():
            assert f"  {sub} " in body and "binding state active;" in body
    prefixes = [ipaddress.IPv6Network(p) for p in re.findall(r"iaprefix (\S+) \{", text)]
    assert len(prefixes) == 20
    pool = ipaddress.IPv6Network("2001:db8:200::/48")
    assert all(p.subnet_of(pool) and p.prefixlen == 56 for p in prefixes)


# -- identities -------------------------------------------------------------------------------------
def test_client_identities_are_perfdhcps() -> None:
    assert mac_add("00:0c:01:00:00:ff", 1) == "00:0c:01:00:01:00"
    assert client_macs("00:0c:01:00:00:00", 3)[-1] == "00:0c:01:00:00:02"
    assert client_duids("00:0c:06:00:00:00", 1) == ["00:01:00:01:00:00:00:00:00:0c:06:00:00:00"]
    assert client_id4("00:0C:01:00:00:05") == "01:00:0c:01:00:00:05"


# -- the committed sample data ------------------------------------------------------------------------
def _kea_subnets(path: Path, family: int) -> list[dict[str, object]]:
    section = json.loads(path.read_text())[f"Dhcp{family}"]
    subnets = list(section.get(f"subnet{family}", []))
    for shared in section.get("shared-networks", []):
        subnets += shared.get(f"subnet{family}", [])
    return subnets


@pytest.mark.skipif(not (SAMPLE / "dhcpd.leases").exists(), reason="sample-data not generated")
@pytest.mark.parametrize("name", ["dhcpd.leases", "dhcpd-hex.leases"])
def test_sample_v4_leases_all_map_to_a_kea_subnet(name: str) -> None:
    nets = [ipaddress.ip_network(str(s["subnet"])) for s in _kea_subnets(SAMPLE / "kea-dhcp4.json", 4)]
    text = (SAMPLE / name).read_text()
    leases = last_blocks4(text)
    assert len(leases) >= 300
    assert all(any(ipaddress.ip_address(a) in n for n in nets) for a in leases)
    states = {field(b, "binding state") for b in leases.values()}
    assert {"active", "free", "abandoned"} <= states
    assert all(m in text for m in client_macs("00:0c:01:00:00:00", 300))
    assert len(re.findall(r"^lease ", text, re.M)) > len(leases)  # history present


@pytest.mark.skipif(not (SAMPLE / "dhcpd6.leases").exists(), reason="sample-data not generated")
@pytest.mark.parametrize("name", ["dhcpd6.leases", "dhcpd6-hex.leases"])
def test_sample_v6_leases_all_map_to_a_kea_subnet(name: str) -> None:
    subnets = _kea_subnets(SAMPLE / "kea-dhcp6.json", 6)
    nets = [ipaddress.ip_network(str(s["subnet"])) for s in subnets]
    pd = [ipaddress.IPv6Network(f"{p['prefix']}/{p['prefix-len']}")
          for s in subnets for p in s.get("pd-pools", [])]  # type: ignore[attr-defined]
    text = (SAMPLE / name).read_text()
    addrs = re.findall(r"iaaddr (\S+) \{", text)
    prefixes = re.findall(r"iaprefix (\S+) \{", text)
    assert len(set(addrs)) >= 200 and len(set(prefixes)) >= 150
    assert all(any(ipaddress.ip_address(a) in n for n in nets) for a in addrs)
    assert all(any(ipaddress.IPv6Network(p).subnet_of(n) for n in pd) for p in prefixes)
    assert "binding state released;" in text
    if "hex" in name:
        assert "lease-id-format" not in text  # the option lives in the conf, the ids show it
        assert re.search(r"^ia-na [0-9a-f]{2}(:[0-9a-f]{2})+ \{", text, re.M)
    else:
        assert re.search(r'^ia-na "', text, re.M)
