"""pfSense / OPNsense config.xml -> kea-etl migrate -> a real Kea (issue 18, part 3).

The static mappings of tests/extract/data_pfsense/pfsense-config.xml go through the same
reservation loaders as dhcpd.conf hosts (``--to memfile:OUT`` writes the Kea configuration
fragments); a real Kea 2.x started with them must accept every one and give each back unchanged
through config-get, and, serving a link in network namespaces whose addresses are the config's
LAN, hand the reserved addresses to the clients (by MAC, by a hex client-id and by a text
client-id, which pfSense's Kea backend writes as the text's bytes). ``kea-etl reconcile`` of the
file against that Kea exits 0 (reservations are not leases: nothing is missing).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kea_etl.dhcp_options import canonical_option_data
from kea_etl.records import canonical_hex
from tests.harness.dhcp_client import run_client_ops
from tests.harness.kea import KeaServer
from tests.harness.netns import NetnsPair, netns_available

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "extract" / "data_pfsense"
SUBNETS4 = [{"id": 1, "subnet": "192.168.1.0/24", "pools": [{"pool": "192.168.1.100 - 192.168.1.199"}]},
            {"id": 2, "subnet": "10.20.0.0/24"}, {"id": 3, "subnet": "172.16.9.0/24"}]
SUBNETS6 = [{"id": 1, "subnet": "2001:db8:1::/64"}]


def kea_etl(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("kea-etl")
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "kea_etl.cli"]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=120, cwd=REPO)


def migrate(tmp_path: Path, source: Path) -> tuple[dict[str, Any], Path]:
    k4, k6 = tmp_path / "kea4.json", tmp_path / "kea6.json"
    k4.write_text(json.dumps({"Dhcp4": {"subnet4": SUBNETS4}}))
    k6.write_text(json.dumps({"Dhcp6": {"subnet6": SUBNETS6}}))
    out, report = tmp_path / "out", tmp_path / "report.json"
    proc = kea_etl("migrate", f"pfsense:{source}", "--to", f"memfile:{out}", "--kea-config",
                   str(k4), "--kea-config", str(k6), "--kea-version", "2.2.0", "--report",
                   str(report), "--no-progress")
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return json.loads(report.read_text()), out


def hosts_by_id(hosts: list[dict[str, Any]], family: int) -> dict[str, dict[str, Any]]:
    """Kea's host maps keyed by identifier, in one spelling (Kea answers ids as it likes)."""
    out = {}
    for h in hosts:
        kind = next(k for k in ("hw-address", "client-id", "duid") if h.get(k))
        ident = canonical_hex(h[kind], kind)
        ips = h.get("ip-addresses") or ([h["ip-address"]] if h.get("ip-address") not in
                                        (None, "0.0.0.0") else [])
        out[f"{kind}={ident}"] = {
            "ips": ips, "hostname": h.get("hostname", ""),
            "options": canonical_option_data(h.get("option-data", []), family),
            "context": h.get("user-context"), "boot": h.get("boot-file-name", "")}
    return out


def split(fragment: dict[str, Any], family: int) -> tuple[list[dict[str, Any]],
                                                          list[dict[str, Any]]]:
    """(subnets with their reservations, global reservations) of a reservations<N>.json."""
    section = fragment[f"Dhcp{family}"]
    by_id = {s["id"]: s.get("reservations", []) for s in section.get(f"subnet{family}", [])}
    base = SUBNETS4 if family == 4 else SUBNETS6
    return [{**s, "reservations": by_id.get(s["id"], [])} for s in base], \
        section.get("reservations", [])


@pytest.mark.kea
@pytest.mark.parametrize("family", [4, 6])
def test_pfsense_reservations_load_into_real_kea(tmp_path: Path, family: int,
                                                 kea_factory: Callable[..., KeaServer]) -> None:
    report, out = migrate(tmp_path, DATA / "pfsense-config.xml")
    assert (report["read"], report["loaded"], report["failed"]) == (17, 12, 5), report
    fragment = json.loads((out / f"reservations{family}.json").read_text())
    subnets, global_hosts = split(fragment, family)
    written = [h for s in subnets for h in s["reservations"]] + global_hosts
    assert len(written) == (10 if family == 4 else 2)
    extra: dict[str, Any] = {"reservations": global_hosts, "reservations-global": True,
                             "reservations-in-subnet": True}
    if family == 6:
        extra["server-id"] = {"type": "LLT", "persist": False}
    srv = kea_factory(family=family, subnets=subnets, extra=extra)
    live = srv.command("config-get")["arguments"][f"Dhcp{family}"]
    held = [h for s in live[f"subnet{family}"] for h in s.get("reservations", [])]
    held += live.get("reservations", [])
    assert hosts_by_id(held, family) == hosts_by_id(written, family)
    # reconcile: the file against that Kea, its other family set aside: every host matched
    rec = kea_etl("reconcile", f"pfsense:{DATA / 'pfsense-config.xml'}", "--kea", srv.socket_url,
                  "--family", str(family))
    assert rec.returncode == 0, rec.stdout + rec.stderr
    assert f"reservations: matched {len(written)}  missing 0  extra 0  mismatched 0" in rec.stdout
    # another firewall's file against it: nothing in common, every Kea host extra
    rec = kea_etl("reconcile", f"pfsense:{DATA / 'opnsense-config.xml'}", "--kea", srv.socket_url,
                  "--family", str(family))
    assert rec.returncode == 1, rec.stdout + rec.stderr
    assert f"extra {len(written)}" in rec.stdout


_why = netns_available()


@pytest.fixture
def lan() -> Iterator[NetnsPair]:
    with NetnsPair(tag="pfs", srv_v4="192.168.1.1/24", cli_v4="192.168.1.2/24") as pair:
        yield pair


@pytest.mark.kea
@pytest.mark.netns
@pytest.mark.skipif(bool(_why), reason=_why or "")
def test_kea_hands_out_pfsense_reservations(tmp_path: Path, lan: NetnsPair,
                                            kea_factory: Callable[..., KeaServer]) -> None:
    """Kea on the config's LAN (192.168.1.0/24 in namespaces) answers the reserved clients."""
    _report, out = migrate(tmp_path, DATA / "pfsense-config.xml")
    subnets, _global = split(json.loads((out / "reservations4.json").read_text()), 4)
    srv = kea_factory(family=4, subnets=subnets[:1], extra={
        "interfaces-config": {"interfaces": [lan.srv_if]}, "authoritative": True},
        argv_prefix=lan.argv("srv", []))
    replies = run_client_ops(lan, [
        {"op": "dora", "mac": "00:11:22:33:44:01"},                      # MAC
        {"op": "dora", "mac": "02:00:00:00:00:03", "client_id": "01:00:11:22:33:44:03"},  # hex cid
        {"op": "dora", "mac": "02:00:00:00:00:04",                       # text cid
         "client_id": b"kiosk-lobby".hex(":")},
        {"op": "dora", "mac": "00:11:22:33:44:05"},                      # per-host options
    ])
    assert [(r["reply"], r["address"]) for r in replies] == [
        ("ACK", "192.168.1.10"), ("ACK", "192.168.1.12"), ("ACK", "192.168.1.13"),
        ("ACK", "192.168.1.14")], replies
    assert len(srv.leases()) == 4
