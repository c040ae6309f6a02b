"""dnsmasq -> kea-etl -> Kea with real servers (issue 18, part 2).

In two network namespaces the test creates, Debian's dnsmasq serves clients (the suite's raw
relay client for v4, perfdhcp -6 for v6) and writes a real ``dnsmasq.leases``; then:

* v4, cutover: the real ``kea-etl migrate dnsmasq:... --to kea:unix://...`` loads it into a real
  Kea serving the same link, ``kea-etl reconcile`` exits 0, and every client's INIT-REBOOT for its
  dnsmasq address is ACKed by Kea (same MAC, same client-id), Kea renewing the migrated lease;
  a wrong client-id is NAKed. The lease file is read here with ``split()``, not with kea_etl.
* v6: the same file's v6 leases into a real kea-dhcp6, reconcile exits 0, each DUID holds its
  dnsmasq address in Kea; and the v6 cutover: the same perfdhcp clients (DUIDs) ask a Kea on the
  link and each keeps its dnsmasq address;
* the control: without the migration Kea NAKs every one of those INIT-REBOOTs.
* reservations: the same dnsmasq configuration (accepted by ``dnsmasq --test`` and used by the
  server above) migrated as reservations; Kea started with them hands the reserved address to a
  reserved client it never saw; what is not carried is in the report with file and line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import clock
from tests.harness.dhcp_client import run_client_ops
from tests.harness.dhcpd import run_perfdhcp6
from tests.harness.dnsmasq import Dnsmasq, dnsmasq_available, read_leases
from tests.harness.kea import KeaServer
from tests.harness.netns import NetnsPair, netns_available

REPO = Path(__file__).resolve().parents[2]
LEASE_TIME = 43200
CLIENTS4 = 20
CLIENTS6 = 10
BASE6 = "00:0c:0d:06:00:00"

_why = netns_available() or dnsmasq_available()
needs_dnsmasq = pytest.mark.skipif(bool(_why), reason=_why or "")

#: The server's configuration: the reservations part is what test_reservations migrates.
CONF = """\
dhcp-authoritative
no-ping
dhcp-range=10.99.0.100,10.99.0.199,255.255.255.0,12h
dhcp-range=2001:db8:100::1000,2001:db8:100::1fff,64,12h
dhcp-host=00:0c:0d:00:01:01,10.99.0.50,fixed-a
dhcp-host=00:0c:0d:00:01:02,fixed-b,10.99.0.51,infinite
dhcp-host=id:01:00:0c:0d:00:01:03,10.99.0.52,fixed-c,set:printers
dhcp-host=00:0c:0d:00:01:04,10.99.0.53,fixed-d,set:lab,2h
dhcp-host=lonely,10.99.0.54
dhcp-host=00:0c:0d:00:01:05,ignore
dhcp-option=option:router,10.99.0.1
"""
RESERVED = {"00:0c:0d:00:01:01": ("10.99.0.50", None), "00:0c:0d:00:01:02": ("10.99.0.51", None),
            "00:0c:0d:00:01:03": ("10.99.0.52", "01:00:0c:0d:00:01:03")}


def mac4(i: int) -> str:
    return f"00:0c:0d:00:00:{i:02x}"


def cid4(i: int) -> str | None:
    return "01:" + mac4(i) if i % 2 else None


def kea_etl(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("kea-etl")
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "kea_etl.cli"]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=120, cwd=REPO)


@pytest.fixture
def net() -> Iterator[NetnsPair]:
    with NetnsPair(tag="dnsm") as pair:
        yield pair


def serve_v4(net: NetnsPair, tmp_path: Path, *, v6: bool = False) -> Path:
    """dnsmasq serves CLIENTS4 dynamic + the reserved v4 clients (and CLIENTS6 v6 ones)."""
    lease_path = tmp_path / "dnsmasq.leases"
    ops: list[dict[str, Any]] = [{"op": "dora", "mac": mac4(i), "client_id": cid4(i),
                                  "hostname": f"pc{i}" if i % 3 else None}
                                 for i in range(1, CLIENTS4 + 1)]
    ops += [{"op": "dora", "mac": m, "client_id": c} for m, (_a, c) in RESERVED.items()]
    with Dnsmasq(net, CONF, lease_path) as srv:
        acks = run_client_ops(net, ops)
        assert [r["reply"] for r in acks] == ["ACK"] * len(ops), (acks, srv.log()[-3000:])
        for m, (addr, _c) in RESERVED.items():
            assert next(r for r in acks if r["mac"] == m)["address"] == addr
        if v6:
            run_perfdhcp6(net, clients=CLIENTS6, base_mac=BASE6, lease_type="address-only")
            deadline = time.monotonic() + 5
            while len(read_leases(lease_path.read_text())[1]) < CLIENTS6 and \
                    time.monotonic() < deadline:
                time.sleep(0.1)
    return lease_path


def kea_on_link(kea_factory: Callable[..., KeaServer], net: NetnsPair, family: int, *,
                reservations: list[dict[str, Any]] | None = None) -> KeaServer:
    if family == 4:
        subnet: dict[str, Any] = {"id": 1, "subnet": "10.99.0.0/24",
                                  "pools": [{"pool": "10.99.0.10 - 10.99.0.250"}]}
    else:
        subnet = {"id": 1, "subnet": "2001:db8:100::/64", "interface": net.srv_if,
                  "pools": [{"pool": "2001:db8:100::100 - 2001:db8:100::ffff"}]}
    if reservations:
        subnet["reservations"] = reservations
    extra: dict[str, Any] = {"interfaces-config": {"interfaces": [net.srv_if]},
                             "valid-lifetime": LEASE_TIME}
    if family == 4:
        extra["authoritative"] = True
    return kea_factory(family=family, subnets=[subnet], extra=extra,
                       argv_prefix=net.argv("srv", []))


@pytest.mark.netns
@pytest.mark.kea
@needs_dnsmasq
def test_dnsmasq_v4_cutover_clients_keep_addresses(net: NetnsPair, tmp_path: Path,
                                                   kea_factory: Callable[..., KeaServer]) -> None:
    lease_path = serve_v4(net, tmp_path)
    held, _ = read_leases(lease_path.read_text())
    assert len(held) == CLIENTS4 + len(RESERVED)
    assert held["00:0c:0d:00:01:02"]["expiry"] == "0"  # the infinite reservation
    assert held[mac4(1)]["client_id"] == cid4(1) and held[mac4(2)]["client_id"] == "*"

    srv = kea_on_link(kea_factory, net, 4)
    report_path = tmp_path / "report.json"
    proc = kea_etl("migrate", f"dnsmasq:{lease_path}", "--to", f"kea:{srv.socket_url}",
                   "--report", str(report_path), "--no-progress")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(report_path.read_text())
    assert (report["read"], report["loaded"], report["failed"]) == (len(held), len(held), 0), report
    rec = kea_etl("reconcile", f"dnsmasq:{lease_path}", "--kea", srv.socket_url)
    assert rec.returncode == 0, rec.stdout + rec.stderr

    migrated = {str(x["hw-address"]).lower(): x for x in srv.leases()}
    assert {m: x["ip-address"] for m, x in migrated.items()} == \
        {m: h["address"] for m, h in held.items()}
    for m, h in held.items():
        assert str(migrated[m].get("client-id", "") or "*").lower() == h["client_id"]
        if h["expiry"] != "0":
            assert int(migrated[m]["cltt"]) + int(migrated[m]["valid-lft"]) == int(h["expiry"])
    t0 = clock.now() + 1
    while clock.now() < t0:
        time.sleep(0.05)

    # every client asks Kea for its dnsmasq address (INIT-REBOOT), from the same MAC + client-id
    ops = [{"op": "init-reboot", "mac": m,
            "client_id": None if h["client_id"] == "*" else h["client_id"],
            "address": h["address"]} for m, h in held.items()]
    wrong = mac4(1)  # the same MAC with another client-id: Kea must refuse it
    ops.append({"op": "init-reboot", "mac": wrong, "client_id": "01:52:54:00:ee:ee:01",
                "address": held[wrong]["address"]})
    replies = run_client_ops(net, ops)
    assert [(r["reply"], r["address"]) for r in replies[:-1]] == \
        [("ACK", h["address"]) for h in held.values()], replies
    assert replies[-1]["reply"] == "NAK", replies[-1]
    after = {str(x["hw-address"]).lower(): x for x in srv.leases()}
    kept = [m for m, h in held.items()
            if after[m]["ip-address"] == h["address"] and int(after[m]["cltt"]) >= t0]
    print(f"CUTOVER dnsmasq v4: {len(kept)}/{len(held)} clients kept")
    assert len(kept) == len(held) and len(after) == len(held)


@pytest.mark.netns
@pytest.mark.kea
@needs_dnsmasq
def test_dnsmasq_v6_leases_into_kea(net: NetnsPair, tmp_path: Path,
                                    kea_factory: Callable[..., KeaServer]) -> None:
    lease_path = serve_v4(net, tmp_path, v6=True)
    _, held6 = read_leases(lease_path.read_text())
    assert len(held6) == CLIENTS6, lease_path.read_text()
    srv = kea_on_link(kea_factory, net, 6)
    report_path = tmp_path / "report6.json"
    v6_only = tmp_path / "dnsmasq6.leases"  # the v6 part: a DHCPv6 Kea refuses v4 leases
    text = lease_path.read_text()
    v6_only.write_text(text[text.index("duid "):])
    proc = kea_etl("migrate", f"dnsmasq:{v6_only}", "--to", f"kea:{srv.socket_url}",
                   "--report", str(report_path), "--no-progress")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(report_path.read_text())
    assert (report["loaded"], report["failed"]) == (CLIENTS6, 0), report
    assert any("server DUID" in w["reason"] for w in report["source_warnings"])
    rec = kea_etl("reconcile", f"dnsmasq:{v6_only}", "--kea", srv.socket_url)
    assert rec.returncode == 0, rec.stdout + rec.stderr
    got = {str(x["duid"]).lower(): x["ip-address"] for x in srv.leases()}
    assert got == held6


@pytest.mark.netns
@pytest.mark.kea
@needs_dnsmasq
def test_dnsmasq_reservations_served_by_kea(net: NetnsPair, tmp_path: Path,
                                            kea_factory: Callable[..., KeaServer]) -> None:
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text(CONF)
    assert net.run("srv", ["dnsmasq", "--test", f"--conf-file={conf}"]).returncode == 0
    kea_conf = tmp_path / "kea4.json"
    kea_conf.write_text(json.dumps({"Dhcp4": {"subnet4": [{"id": 1, "subnet": "10.99.0.0/24"}]}}))
    out = tmp_path / "out"
    report_path = tmp_path / "report.json"
    proc = kea_etl("migrate", f"dnsmasq:{conf}", "--to", f"memfile:{out}", "--kea-config",
                   str(kea_conf), "--kea-version", "2.2.0", "--report", str(report_path),
                   "--no-progress")
    report = json.loads(report_path.read_text())
    # 6 dhcp-host lines: 4 reservations, 'lonely' (hostname only) and 'ignore' fail with reasons
    assert (report["read"], report["loaded"], report["failed"]) == (6, 4, 2), report
    assert proc.returncode == 1, proc.stdout + proc.stderr
    failed = {p["line"]: p["detail"] for p in report["problems"] if p["kind"] == "failed"}
    assert set(failed) == {9, 10} and "hostname" in failed[9] and "ignore" in failed[10]
    warned = {(w["line"], w["statement"]) for w in report["source_warnings"]}
    assert {(1, "dhcp-authoritative"), (2, "no-ping"), (8, "2h"),
            (11, "dhcp-option=option:router,10.99.0.1")} <= warned
    assert 3 in {w["line"] for w in report["source_warnings"]}  # the range: configure it in Kea
    hosts_file = json.loads((out / "reservations4.json").read_text())
    hosts = hosts_file["Dhcp4"]["subnet4"][0]["reservations"] \
        if "subnet4" in hosts_file["Dhcp4"] else hosts_file["Dhcp4"]["reservations"]
    assert len(hosts) == 4
    printers = next(h for h in hosts if h.get("client-id"))
    assert printers["client-classes"] == ["printers"]
    srv = kea_on_link(kea_factory, net, 4, reservations=hosts)
    ops = [{"op": "dora", "mac": m, "client_id": c} for m, (_a, c) in RESERVED.items()]
    replies = run_client_ops(net, ops)
    assert [(r["reply"], r["address"]) for r in replies] == \
        [("ACK", a) for a, _c in RESERVED.values()], replies
    assert len(srv.leases()) == len(RESERVED)


@pytest.mark.netns
@pytest.mark.kea
@needs_dnsmasq
def test_dnsmasq_v6_cutover_clients_keep_addresses(net: NetnsPair, tmp_path: Path,
                                                   kea_factory: Callable[..., KeaServer]) -> None:
    """The v6 cutover: the same perfdhcp clients (same DUIDs, IAID 1) that dnsmasq served ask a
    Kea that got dnsmasq's leases, and each keeps its address (Kea's pool starts below dnsmasq's
    range, so an address can only be kept by migrating it)."""
    lease_path = serve_v4(net, tmp_path, v6=True)
    _, held6 = read_leases(lease_path.read_text())
    assert len(held6) == CLIENTS6
    v6_only = tmp_path / "dnsmasq6.leases"
    text = lease_path.read_text()
    v6_only.write_text(text[text.index("duid "):])
    srv = kea_on_link(kea_factory, net, 6)
    proc = kea_etl("migrate", f"dnsmasq:{v6_only}", "--to", f"kea:{srv.socket_url}",
                   "--no-progress")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    migrated = srv.leases()
    t0 = max(int(x["cltt"]) for x in migrated) + 1
    while clock.now() < t0:
        time.sleep(0.05)
    second = run_perfdhcp6(net, clients=CLIENTS6, base_mac=BASE6, lease_type="address-only")
    assert second.received("REQUEST-REPLY") == CLIENTS6, second.stdout
    after = {str(x["duid"]).lower(): x for x in srv.leases()}
    kept = [d for d, addr in held6.items()
            if d in after and after[d]["ip-address"] == addr and int(after[d]["cltt"]) >= t0]
    print(f"CUTOVER dnsmasq v6: {len(kept)}/{len(held6)} clients kept")
    assert len(kept) == len(held6) and len(after) == len(held6), (held6, after)


@pytest.mark.netns
@pytest.mark.kea
@needs_dnsmasq
def test_control_without_migration_clients_lose_addresses(net: NetnsPair, tmp_path: Path,
                                                          kea_factory: Callable[..., KeaServer]
                                                          ) -> None:
    """The negative control for the v4 cutover: the same INIT-REBOOTs to a Kea that was not
    given dnsmasq's leases are all NAKed (Kea is authoritative), so the ACKs above are the
    migration's doing."""
    lease_path = serve_v4(net, tmp_path)
    held, _ = read_leases(lease_path.read_text())
    kea_on_link(kea_factory, net, 4)
    replies = run_client_ops(net, [
        {"op": "init-reboot", "mac": m, "client_id": None if h["client_id"] == "*" else
         h["client_id"], "address": h["address"]} for m, h in held.items()])
    assert [r["reply"] for r in replies] == ["NAK"] * len(held), replies
