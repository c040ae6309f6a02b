"""Proof by DHCP exchange: real ISC dhcpd and a real Kea running the converted
configuration give the same clients the same answers.

In two network namespaces (tests/harness/netns.py):

1. real dhcpd serves 210 clients with a dhcpd.conf that uses a shared network, three subnets, a
   MAC subclass list with its own lease time, pools chosen by class membership (``allow members
   of`` / ``deny members of``), subnet and global lease times, and fixed-address hosts; the raw
   relay client (tests/harness/dhcp_client.py) runs DISCOVER/OFFER/REQUEST/ACK for each, through
   two relay addresses;
2. dhcpd stops; ``kea-etl convert`` translates its configuration, a real Kea is started on it in
   the server namespace, and ``kea-etl migrate`` loads dhcpd's lease file into it with the
   converted file as ``--kea-config``;
3. the same clients run DISCOVER/OFFER/REQUEST/ACK against Kea: every client gets an ACK with the
   same address, the same lease time and the same options it asked for (subnet mask, routers,
   DNS servers, domain name; the fixed hosts' domain name comes from their group) as from dhcpd
   (on every Kea version selected).

The v6 test does the same with ``dhcpd -6`` and perfdhcp -6 (SOLICIT/ADVERTISE/REQUEST/REPLY, an
address and a /56 prefix per client, one client with a ``fixed-address6`` host): after convert +
migrate, Kea holds every client's address and prefix where dhcpd put them, renewed by the client,
with dhcpd's valid and preferred lifetimes.

A difference by design: for a client it has never seen, dhcpd picks the highest free address of a
range and Kea's iterative allocator the lowest, so new clients get other addresses of the same
pool. The migration makes the known clients' addresses equal; the last check shows new clients
land in the same pool on both servers.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kea_etl.cli import main
from tests.e2e.test_cutover import dhcpd_leases6, kea_by_client6, kea_value6, wait_next_second
from tests.harness import clock
from tests.harness.dhcp_client import run_client_ops
from tests.harness.dhcpd import (
    Dhcpd4,
    Dhcpd6,
    client_duids,
    client_macs,
    kea_config_on_link,
    run_perfdhcp6,
)
from tests.harness.kea import KeaInstall, KeaServer
from tests.harness.netns import NetnsPair, netns_available

pytestmark = [pytest.mark.kea, pytest.mark.netns,
              pytest.mark.skipif(bool(netns_available()), reason=netns_available() or "")]

LAB = client_macs("52:54:00:1a:00:00", 20)
OTHERS_101 = client_macs("52:54:00:1b:00:00", 100)
LINK = client_macs("52:54:00:1c:00:00", 80)
FIXED = client_macs("52:54:00:1d:00:00", 10)
FRESH_LAB = client_macs("52:54:00:1a:10:00", 3)   # in the subclass list, never seen by dhcpd
DOMAIN, FIXED_DOMAIN = "example.net", "fixed.example.net"


def _conf() -> str:
    subclasses = "".join(f'subclass "lab" 1:{m};\n' for m in [*LAB, *FRESH_LAB])
    hosts = "".join(f"  host fixed-{i} {{ hardware ethernet {m}; fixed-address 10.100.3.{200 + i}; }}\n"
                    for i, m in enumerate(FIXED))
    hosts = f'group {{\n  option domain-name "{FIXED_DOMAIN}";\n{hosts}}}\n'
    return f"""authoritative;
ping-check false;
ddns-update-style none;
dhcp-cache-threshold 0;
default-lease-time 3600;
max-lease-time 7200;
option domain-name-servers 10.99.0.1;
option domain-name "{DOMAIN}";
class "lab" {{
  match hardware;
}}
{subclasses}
shared-network link {{
  subnet 10.99.0.0 netmask 255.255.255.0 {{
  }}
  subnet 10.100.0.0 netmask 255.255.252.0 {{
    option routers 10.100.0.1;
    default-lease-time 5400;
    range 10.100.0.10 10.100.1.200;
  }}
}}
subnet 10.101.0.0 netmask 255.255.255.0 {{
  option routers 10.101.0.1;
  default-lease-time 900;
  pool {{
    range 10.101.0.10 10.101.0.49;
    allow members of "lab";
  }}
  pool {{
    range 10.101.0.100 10.101.0.250;
    deny members of "lab";
  }}
}}
{hosts}"""


@pytest.fixture
def net() -> Iterator[NetnsPair]:
    with NetnsPair(extra_cli_v4=["10.101.0.1/24"], tag="diff") as pair:
        yield pair


def _ask(net: NetnsPair) -> dict[str, dict[str, Any]]:
    """DORA for every client, through the relay address of its subnet; mac -> result."""
    via_link = [{"op": "dora", "mac": m} for m in [*LINK, *FIXED]]
    via_101 = [{"op": "dora", "mac": m} for m in [*LAB, *OTHERS_101]]
    got = run_client_ops(net, via_link) + run_client_ops(net, via_101, local="10.101.0.1")
    return {r["mac"]: r for r in got}


def _cli(*args: str) -> None:
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert r.exit_code == 0, f"kea-etl {' '.join(args)} -> {r.exit_code}\n{r.output}"


def test_dhcpd_and_kea_on_the_converted_config_answer_alike(
        kea_install: KeaInstall, net: NetnsPair, kea_factory: Callable[..., KeaServer],
        tmp_path: Path) -> None:
    conf = tmp_path / "dhcpd.conf"
    conf.write_text(_conf())
    lease_path = tmp_path / "dhcpd.leases"
    with Dhcpd4(net, None, lease_path, conf_path=conf):
        before = _ask(net)
    assert all(r["reply"] == "ACK" for r in before.values()), [
        r for r in before.values() if r["reply"] != "ACK"][:3]
    # what dhcpd itself did with the features (so the comparison below is not vacuous)
    assert {before[m]["lease_time"] for m in LAB + OTHERS_101} == {900}
    assert {before[m]["lease_time"] for m in LINK} == {5400}
    assert all(before[m]["address"] == f"10.100.3.{200 + i}" for i, m in enumerate(FIXED))
    # the options asked for: mask, routers per subnet, DNS, domain (the hosts' group has its own)
    def option(m: str, code: int) -> str:
        return bytes.fromhex(before[m]["options"].get(str(code), "")).decode("latin-1")

    assert {option(m, 3) for m in LINK} == {"\x0a\x64\x00\x01"}
    assert {option(m, 3) for m in LAB} == {"\x0a\x65\x00\x01"}
    assert {option(m, 6) for m in LINK + LAB} == {"\x0a\x63\x00\x01"}
    assert {option(m, 15).rstrip("\0") for m in LINK} == {DOMAIN}
    assert {option(m, 15).rstrip("\0") for m in FIXED} == {FIXED_DOMAIN}
    assert {option(m, 1) for m in LAB} == {"\xff\xff\xff\x00"}
    lab_pool = ipaddress.ip_network("10.101.0.0/26")   # .10-.49 inside it, .100-.250 outside
    assert all(ipaddress.ip_address(before[m]["address"]) in lab_pool for m in LAB)
    assert not any(ipaddress.ip_address(before[m]["address"]) in lab_pool for m in OTHERS_101)

    out = tmp_path / "kea"
    _cli("convert", str(conf), "--out", str(out), "--report", str(tmp_path / "convert.json"),
         "--hooks-dir", kea_install.hooks_dir)
    converted = json.loads((out / "kea-dhcp4.conf").read_text())
    body = kea_config_on_link(converted, net)["Dhcp4"]
    subnets = body.pop("subnet4", [])
    body.pop("hooks-libraries", None)
    body.pop("control-socket", None)
    # http=False: a Kea 3 daemon's HTTP socket would listen on the server namespace's loopback,
    # out of the test's reach; the UNIX socket is reachable from the host
    srv = kea_factory(family=4, kea=kea_install, subnets=subnets, extra=body, http=False,
                      argv_prefix=net.argv("srv", []))
    _cli("migrate", str(lease_path), "--to", f"kea:{srv.socket_url}", "--kea-config",
         str(out / "kea-dhcp4.conf"), "--report", str(tmp_path / "migrate.json"),
         "--no-progress")

    after = _ask(net)
    def answer(r: dict[str, Any]) -> tuple[Any, ...]:
        return r["reply"], r["address"], r["lease_time"], r["options"]

    differ = [(m, answer(before[m]), answer(r)) for m, r in after.items()
              if answer(r) != answer(before[m])]
    assert not differ, f"{len(differ)} of {len(after)} clients differ, e.g. {differ[:5]}"
    assert len(after) == 210

    # clients neither server has seen: another address (allocation order differs by design),
    # the same pool and lease time
    fresh = run_client_ops(net, [{"op": "dora", "mac": m} for m in FRESH_LAB], local="10.101.0.1")
    assert all(r["reply"] == "ACK" and r["lease_time"] == 900
               and ipaddress.ip_address(r["address"]) in lab_pool for r in fresh), fresh


BASE_MAC6 = "00:0c:0d:06:00:00"
CLIENTS6 = 60
CONF6 = f"""authoritative;
ddns-update-style none;
dhcp-cache-threshold 0;
default-lease-time 3600;
max-lease-time 7200;
preferred-lifetime 1800;
option dhcp6.name-servers 2001:db8:100::1;
subnet6 2001:db8:100::/64 {{
  range6 2001:db8:100::8000 2001:db8:100::ffff;
  prefix6 2001:db8:200:8000:: 2001:db8:200:ff00:: /56;
}}
host fixed6 {{
  host-identifier option dhcp6.client-id {client_duids(BASE_MAC6, 1)[0]};
  fixed-address6 2001:db8:100::42;
}}
"""


def test_dhcpd6_and_kea_on_the_converted_config_answer_alike(
        kea_install: KeaInstall, net: NetnsPair, kea_factory: Callable[..., KeaServer],
        tmp_path: Path) -> None:
    conf = tmp_path / "dhcpd6.conf"
    conf.write_text(CONF6)
    lease_path = tmp_path / "dhcpd6.leases"
    with Dhcpd6(net, None, lease_path, conf_path=conf):
        first = run_perfdhcp6(net, clients=CLIENTS6, base_mac=BASE_MAC6, rate=100)
    assert first.received("REQUEST-REPLY") == CLIENTS6, first.stdout
    text = lease_path.read_text()
    held = dhcpd_leases6(text)
    duids = client_duids(BASE_MAC6, CLIENTS6)
    # dhcpd keeps no lease for a fixed-address6 host: every other IA is in the file
    fixed = ("IA_NA", duids[0], 1)
    assert fixed not in held and len(held) == 2 * CLIENTS6 - 1
    assert set(re.findall(r"max-life (\d+);", text)) == {"3600"}
    assert set(re.findall(r"preferred-life (\d+);", text)) == {"1800"}

    out = tmp_path / "kea"
    _cli("convert", "--v6", str(conf), "--out", str(out), "--hooks-dir", kea_install.hooks_dir)
    body = kea_config_on_link(json.loads((out / "kea-dhcp6.conf").read_text()), net)["Dhcp6"]
    subnets = body.pop("subnet6", [])
    for key in ("hooks-libraries", "control-socket"):
        body.pop(key, None)
    srv = kea_factory(family=6, kea=kea_install, subnets=subnets, extra=body, http=False,
                      argv_prefix=net.argv("srv", []))
    _cli("migrate", str(lease_path), "--to", f"kea:{srv.socket_url}", "--kea-config",
         str(out / "kea-dhcp6.conf"), "--report", str(tmp_path / "migrate.json"),
         "--no-progress")
    since = wait_next_second(clock.now())
    again = run_perfdhcp6(net, clients=CLIENTS6, base_mac=BASE_MAC6, rate=100)
    assert again.received("REQUEST-REPLY") == CLIENTS6, again.stdout
    by_client = kea_by_client6(srv.leases())
    differ = []
    for key, value in held.items():
        got = by_client.get(key, [])
        if ([kea_value6(g) for g in got] != [value] or int(got[0]["cltt"]) < since
                or (int(got[0]["valid-lft"]), int(got[0]["preferred-lft"])) != (3600, 1800)):
            differ.append((key, value, got))
    assert not differ, f"{len(differ)} of {len(held)} IAs differ, e.g. {differ[:3]}"
    # the host's reservation: Kea hands its fixed address to it
    assert [kea_value6(g) for g in by_client[fixed]] == ["2001:db8:100::42"]
