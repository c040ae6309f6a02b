"""The cutover proof (issue 4): ISC dhcpd -> kea-etl migrate -> Kea, and the same clients keep
their addresses and prefixes.

For each case (v4 / v6 x live / memfile), in two network namespaces the test creates:

1. real ISC dhcpd serves ``N`` perfdhcp clients (v4: MAC + client-id; v6: DUID with an address
   AND a /56 prefix) and writes dhcpd.leases; dhcpd stops;
2. the real ``kea-etl migrate`` CLI (a subprocess) loads that lease file into a real Kea 2.x
   running in the server namespace on the same link: ``live`` = ``--to kea:unix://SOCKET`` into
   the running, empty Kea (subnet map from its config-get); ``memfile`` = ``--to memfile:DIR``
   (subnet map from ``--kea-config``), then Kea is started on that lease file;
3. v4 only: the raw test client sends INIT-REBOOT for migrated addresses: ACK from the same MAC
   and client-id, NAK when the client-id differs (why client-ids must be migrated right);
4. the SAME perfdhcp clients (same MACs / DUIDs) ask Kea again;
5. Kea's leases (lease4-get-all / lease6-get-all) are compared per client MAC (v4) or
   DUID + IAID + type (v6) with dhcpd's last lease block: a client is *kept* when every lease it
   had is in Kea for it, at the same address / prefix, and was renewed by Kea in step 4 (its cltt
   is at least the time step 3 began; the migrated cltt is checked to be earlier, so this cannot
   pass without the client actually asking). Kea's lease count must not grow.

A control case runs the same steps without a migration and finds 0 clients kept: dhcpd's
ranges start above Kea's pools on purpose, so an address can only be kept by migrating it.

The figure (clients kept / clients total) is printed and written as one JSON line per case into
``build/cutover.json``; the test asserts 100 %.

dhcpd.leases are parsed here with a few regular expressions, independently of kea_etl's own
extractor, so the comparison does not trust the code under test.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import clock
from tests.harness.dhcp_client import run_client_ops
from tests.harness.dhcpd import (
    Dhcpd4,
    Dhcpd6,
    PerfdhcpResult,
    client_duids,
    client_id4,
    client_macs,
    run_perfdhcp4,
    run_perfdhcp6,
)
from tests.harness.kea import KeaServer
from tests.harness.leasefile import unescape
from tests.harness.netns import NetnsPair, netns_available

REPO = Path(__file__).resolve().parents[2]
FIGURES = REPO / "build" / "cutover.json"

CLIENTS4 = 100
CLIENTS6 = 50
BASE_MAC4 = "00:0c:0c:00:00:00"
BASE_MAC6 = "00:0c:0c:06:00:00"
LEASE_TIME = 86400

needs_netns = pytest.mark.skipif(bool(netns_available()), reason=netns_available() or "")

DHCPD4_CONF = f"""\
authoritative;
ddns-update-style none;
ping-check false;
dhcp-cache-threshold 0;
default-lease-time {LEASE_TIME};
max-lease-time {LEASE_TIME};
shared-network link {{
  subnet 10.99.0.0 netmask 255.255.255.0 {{ }}
  subnet 10.100.0.0 netmask 255.255.252.0 {{ range 10.100.1.0 10.100.3.200; }}
}}
"""

DHCPD6_CONF = f"""\
authoritative;
ddns-update-style none;
dhcp-cache-threshold 0;
default-lease-time {LEASE_TIME};
max-lease-time {LEASE_TIME};
preferred-lifetime {LEASE_TIME // 2};
subnet6 2001:db8:100::/64 {{
  range6 2001:db8:100::8000 2001:db8:100::ffff;
  prefix6 2001:db8:200:8000:: 2001:db8:200:ff00:: /56;
}}
"""


def kea_subnets4() -> list[dict[str, Any]]:
    """The link of DHCPD4_CONF; perfdhcp relays from 10.99.0.2 (giaddr). Kea's pool is larger
    and starts lower than dhcpd's range (a real cutover often widens pools): Kea 2.2 allocates
    from the bottom, so a client Kea did not learn about gets a different address."""
    return [
        {"id": 1, "subnet": "10.99.0.0/24"},
        {"id": 2, "subnet": "10.100.0.0/22", "relay": {"ip-addresses": ["10.99.0.2"]},
         "pools": [{"pool": "10.100.0.10 - 10.100.3.200"}]},
    ]


def kea_subnets6(iface: str) -> list[dict[str, Any]]:
    """The subnet of DHCPD6_CONF, with a pool and pd-pool starting below dhcpd's range6 /
    prefix6 (see kea_subnets4); direct clients: subnet selected by interface."""
    return [
        {"id": 1, "subnet": "2001:db8:100::/64", "interface": iface,
         "pools": [{"pool": "2001:db8:100::1000 - 2001:db8:100::ffff"}],
         "pd-pools": [{"prefix": "2001:db8:200::", "prefix-len": 48, "delegated-len": 56}]},
    ]


def kea_extra(family: int, iface: str) -> dict[str, Any]:
    """Serve the server's veth, with dhcpd's lease times; v4 authoritative (NAKs foreign requests)."""
    extra: dict[str, Any] = {
        "interfaces-config": {"interfaces": [iface]},
        "valid-lifetime": LEASE_TIME,
        "renew-timer": LEASE_TIME // 2,
        "rebind-timer": LEASE_TIME * 7 // 8,
    }
    if family == 4:
        extra["authoritative"] = True
    else:
        extra["preferred-lifetime"] = LEASE_TIME // 2
    return extra


# -- dhcpd.leases, read independently of kea_etl ------------------------------------------------


def dhcpd_leases4(text: str) -> dict[str, dict[str, str]]:
    """MAC -> {"address", "uid"} of every address whose LAST block is active."""
    last = {m.group(1): m.group(2)
            for m in re.finditer(r"^lease (\S+) \{\n(.*?)^\}", text, re.S | re.M)}
    out: dict[str, dict[str, str]] = {}
    for addr, body in last.items():
        if "binding state active;" not in body:
            continue
        mac = re.search(r"hardware ethernet (\S+);", body)
        uid = re.search(r'uid "((?:[^"\\]|\\.)*)";', body)
        assert mac is not None, f"dhcpd lease {addr} without a MAC:\n{body}"
        out[mac.group(1).lower()] = {"address": addr,
                                     "uid": unescape(uid.group(1)).hex(":") if uid else ""}
    return out


def dhcpd_leases6(text: str) -> dict[tuple[str, str, int], str]:
    """(type IA_NA|IA_PD, DUID, IAID) -> address or prefix/len, from each IA's last block."""
    out: dict[tuple[str, str, int], str] = {}
    pattern = r'^ia-(na|pd) "((?:[^"\\]|\\.)*)" \{\n(.*?)^\}'
    for m in re.finditer(pattern, text, re.S | re.M):
        kind, raw, body = m.group(1), unescape(m.group(2)), m.group(3)
        # IAID: the first 4 bytes, in the writing host's byte order (little-endian on x86)
        key = ("IA_NA" if kind == "na" else "IA_PD", raw[4:].hex(":"), int.from_bytes(raw[:4], "little"))
        inner = re.search(r"(?:iaaddr|iaprefix) (\S+) \{(.*?)\}", body, re.S)
        assert inner is not None, f"ia-{kind} block without iaaddr/iaprefix:\n{body}"
        if "binding state active;" in inner.group(2):
            out[key] = inner.group(1)
        else:
            out.pop(key, None)
    return out


def kea_by_client4(leases: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for lease in leases:
        out.setdefault(str(lease["hw-address"]).lower(), []).append(lease)
    return out


def kea_by_client6(leases: list[dict[str, Any]]) -> dict[tuple[str, str, int], list[dict[str, Any]]]:
    out: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for lease in leases:
        key = (str(lease["type"]), str(lease["duid"]).lower(), int(lease["iaid"]))
        out.setdefault(key, []).append(lease)
    return out


def kea_value6(lease: dict[str, Any]) -> str:
    if lease["type"] == "IA_PD":
        return f"{lease['ip-address']}/{lease['prefix-len']}"
    return str(lease["ip-address"])


# -- plumbing ------------------------------------------------------------------------------------
def kea_etl(*args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI, as an operator runs it (host namespace: it reaches Kea over the UNIX socket)."""
    exe = Path(sys.executable).with_name("kea-etl")
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "kea_etl.cli"]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=120, cwd=REPO)


def record_figure(case: str, figure: dict[str, Any]) -> None:
    """One JSON line per case in build/cutover.json (an older line for the same case is replaced)."""
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    if FIGURES.exists():
        for line in FIGURES.read_text().splitlines():
            try:
                if json.loads(line).get("case") != case:
                    lines.append(line)
            except ValueError:
                continue
    lines.append(json.dumps({"case": case, **figure}, sort_keys=True))
    tmp = FIGURES.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(FIGURES)
    print(f"CUTOVER {case}: {figure['clients_kept']}/{figure['clients_total']} clients kept "
          f"({figure['percent']:.1f} %), Kea leases {figure['kea_leases_after_migration']} -> "
          f"{figure['kea_leases_after_clients']}")


def wait_next_second(after: float) -> int:
    """Sleep until the epoch second is past ``after``; return the new second."""
    while clock.now() <= after:
        time.sleep(0.05)
    return clock.now()


@pytest.fixture
def net() -> Iterator[NetnsPair]:
    # Leaving the block kills everything still running in both namespaces (dhcpd, Kea,
    # perfdhcp) and deletes them, also when the test failed.
    with NetnsPair(tag="cut") as pair:
        yield pair


def start_kea_on_link(kea_factory: Callable[..., KeaServer], net: NetnsPair, family: int,
                      lease_file: Path | None = None) -> KeaServer:
    subnets = kea_subnets4() if family == 4 else kea_subnets6(net.srv_if)
    return kea_factory(family=family, subnets=subnets, extra=kea_extra(family, net.srv_if),
                       lease_file=lease_file, argv_prefix=net.argv("srv", []))


def migrate(case_dir: Path, lease_path: Path, mode: str, family: int, net: NetnsPair,
            kea_factory: Callable[..., KeaServer]) -> tuple[KeaServer, dict[str, Any]]:
    """Run ``kea-etl migrate`` for ``mode``; return the Kea now serving the link and the report."""
    report_path = case_dir / f"report-{mode}.json"
    if mode == "live":
        srv = start_kea_on_link(kea_factory, net, family)
        assert srv.leases() == []
        proc = kea_etl("migrate", str(lease_path), "--to", f"kea:{srv.socket_url}",
                       "--report", str(report_path), "--no-progress")
    else:
        kea_conf = case_dir / f"kea-dhcp{family}.json"
        section = {"subnet4": kea_subnets4()} if family == 4 else {"subnet6": kea_subnets6(net.srv_if)}
        kea_conf.write_text(json.dumps({f"Dhcp{family}": section}, indent=2))
        out_dir = case_dir / "memfile"
        proc = kea_etl("migrate", str(lease_path), "--to", f"memfile:{out_dir}",
                       "--kea-config", str(kea_conf), "--report", str(report_path), "--no-progress")
        csv = out_dir / f"kea-leases{family}.csv"
        assert proc.returncode == 0, (f"kea-etl migrate failed ({proc.returncode}):\n"
                                      f"{proc.stdout}\n{proc.stderr}")
        assert csv.exists(), f"kea-etl migrate wrote no {csv.name}:\n{proc.stdout}"
        srv = start_kea_on_link(kea_factory, net, family, lease_file=csv)
    assert proc.returncode == 0, (f"kea-etl migrate --to {mode} failed (exit {proc.returncode}):\n"
                                  f"{proc.stdout}\n{proc.stderr}")
    print(proc.stdout.strip())
    report: dict[str, Any] = json.loads(report_path.read_text())
    return srv, report


def perfdhcp_round(family: int, net: NetnsPair) -> PerfdhcpResult:
    if family == 4:
        return run_perfdhcp4(net, clients=CLIENTS4, base_mac=BASE_MAC4, rate=100)
    return run_perfdhcp6(net, clients=CLIENTS6, base_mac=BASE_MAC6, rate=100,
                         lease_type="address-and-prefix")


ACK = {4: "REQUEST-ACK", 6: "REQUEST-REPLY"}


# -- the test --------------------------------------------------------------------------------------
def serve_with_dhcpd(family: int, net: NetnsPair, tmp_path: Path
                     ) -> tuple[Path, dict[Any, list[Any]], dict[Any, str]]:
    """dhcpd serves the perfdhcp clients and stops. Returns the lease file, client -> its lease
    keys (v4: [MAC]; v6: [IA_NA key, IA_PD key]) and lease key -> what dhcpd handed out."""
    n = CLIENTS4 if family == 4 else CLIENTS6
    lease_path = tmp_path / ("dhcpd.leases" if family == 4 else "dhcpd6.leases")
    dhcpd = (Dhcpd4 if family == 4 else Dhcpd6)(net, DHCPD4_CONF if family == 4 else DHCPD6_CONF,
                                                 lease_path)
    with dhcpd:
        first = perfdhcp_round(family, net)
    assert first.received(ACK[family]) == n, f"dhcpd did not serve all {n} clients:\n{first.stdout}"
    text = lease_path.read_text()
    clients: dict[Any, list[Any]]
    if family == 4:
        held4 = dhcpd_leases4(text)
        macs = client_macs(BASE_MAC4, n)
        assert sorted(held4) == sorted(macs), "dhcpd's active leases are not exactly perfdhcp's clients"
        assert all(held4[m]["uid"] == client_id4(m) for m in macs), "perfdhcp's client-ids missing"
        return lease_path, {m: [m] for m in macs}, {m: held4[m]["address"] for m in macs}
    held6 = dhcpd_leases6(text)
    clients = {d: [("IA_NA", d, 1), ("IA_PD", d, 1)] for d in client_duids(BASE_MAC6, n)}
    assert sorted(held6) == sorted(k for keys in clients.values() for k in keys), \
        "dhcpd's active IAs are not exactly perfdhcp's clients (one IA_NA + one IA_PD each)"
    return lease_path, clients, dict(held6)


def count_kept(family: int, clients: dict[Any, list[Any]], expected: dict[Any, str],
               kea_leases: list[dict[str, Any]], since: int) -> tuple[int, list[str]]:
    """Clients whose every lease is in Kea for them, at dhcpd's address / prefix, alone, and
    renewed at or after ``since`` (epoch); plus one line per lease that was not kept."""
    by_client: dict[Any, list[dict[str, Any]]] = (
        kea_by_client4(kea_leases) if family == 4 else kea_by_client6(kea_leases))
    lost: list[str] = []
    kept = 0
    for keys in clients.values():
        ok = True
        for key in keys:
            got = by_client.get(key, [])
            values = [g["ip-address"] if family == 4 else kea_value6(g) for g in got]
            if values != [expected[key]]:
                ok = False
                lost.append(f"{key}: dhcpd {expected[key]}, Kea now {values}")
            elif int(got[0]["cltt"]) < since:
                ok = False
                lost.append(f"{key}: {values[0]} in Kea but not renewed by the client "
                            f"(cltt {got[0]['cltt']} < {since})")
        kept += ok
    return kept, lost


@pytest.mark.netns
@pytest.mark.kea
@needs_netns
@pytest.mark.parametrize("family", [4, 6], ids=["v4", "v6"])
@pytest.mark.parametrize("mode", ["live", "memfile"])
def test_cutover_every_client_keeps_its_lease(mode: str, family: int, net: NetnsPair,
                                              kea_factory: Callable[..., KeaServer],
                                              tmp_path: Path) -> None:
    case = f"v{family}-{mode}"
    n = CLIENTS4 if family == 4 else CLIENTS6

    # 1. dhcpd serves the clients, writes dhcpd.leases, stops
    lease_path, clients, expected = serve_with_dhcpd(family, net, tmp_path)
    n_leases = len(expected)

    # 2. kea-etl migrate into Kea on the same link
    srv, report = migrate(tmp_path, lease_path, mode, family, net, kea_factory)
    assert report["loaded"] == n_leases, f"report: {json.dumps(report)[:3000]}"
    assert report["failed"] == 0, f"report: {json.dumps(report)[:3000]}"
    migrated = srv.leases()
    assert len(migrated) == n_leases, f"Kea holds {len(migrated)} leases after the migration, not {n_leases}"
    if family == 4:
        by_mac = kea_by_client4(migrated)
        for mac in expected:
            (lease,) = by_mac[mac]
            assert lease["ip-address"] == expected[mac]
            assert str(lease.get("client-id", "")).lower() == client_id4(mac), lease

    # Every migrated lease carries dhcpd's time; make sure the clients' renewals below are told
    # apart from it by Kea's cltt.
    t_clients = wait_next_second(max(int(lease["cltt"]) for lease in migrated))
    assert all(int(lease["cltt"]) < t_clients for lease in migrated)

    # 3. v4: raw INIT-REBOOT from the same MAC + client-id -> ACK; another client-id -> NAK
    if family == 4:
        m0, m1, m2, m3 = list(clients)[:4]
        raw = run_client_ops(net, [
            {"op": "init-reboot", "mac": m0, "address": expected[m0], "client_id": client_id4(m0)},
            {"op": "init-reboot", "mac": m1, "address": expected[m1], "client_id": client_id4(m1)},
            # the same MAC with another client-id (e.g. a converter that dropped or mangled it)
            {"op": "init-reboot", "mac": m2, "address": expected[m2],
             "client_id": client_id4("52:54:00:ee:ee:01")},
            {"op": "init-reboot", "mac": m3, "address": expected[m3], "client_id": "ff:00:00:00:01:" + m3},
        ])
        assert [r["reply"] for r in raw] == ["ACK", "ACK", "NAK", "NAK"], raw
        assert raw[0]["address"] == expected[m0] and raw[1]["address"] == expected[m1]
        assert len(srv.leases()) == n_leases, "a NAKed INIT-REBOOT changed Kea's leases"

    # 4. the same perfdhcp clients ask Kea
    second = perfdhcp_round(family, net)
    assert second.received(ACK[family]) == n, f"Kea did not answer all {n} clients:\n{second.stdout}"

    # 5. compare, per client
    after = srv.leases()
    kept, lost = count_kept(family, clients, expected, after, t_clients)
    figure = {
        "family": family, "mode": mode, "clients_kept": kept, "clients_total": len(clients),
        "percent": 100.0 * kept / len(clients), "leases_migrated": n_leases,
        "kea_leases_after_migration": len(migrated), "kea_leases_after_clients": len(after),
        "kea_version": srv.version, "acks_second_round": second.received(ACK[family]),
        "time": clock.iso(),
    }
    record_figure(case, figure)
    assert not lost, f"{len(lost)} lease(s) not kept:\n" + "\n".join(lost[:20])
    assert kept == len(clients) == n
    assert len(after) == len(migrated), f"Kea's lease count grew: {len(migrated)} -> {len(after)}"


@pytest.mark.netns
@pytest.mark.kea
@needs_netns
@pytest.mark.parametrize("family", [4, 6], ids=["v4", "v6"])
def test_control_without_migration_no_client_keeps_its_lease(family: int, net: NetnsPair,
                                                             kea_factory: Callable[..., KeaServer],
                                                             tmp_path: Path) -> None:
    """The negative control: the same steps with nothing migrated. Kea allocates from the bottom
    of its pools, dhcpd's ranges start higher, so every client gets something else and the
    comparison above reports 0 kept: the 100 % is the migration's doing, not a coincidence."""
    lease_path, clients, expected = serve_with_dhcpd(family, net, tmp_path)
    srv = start_kea_on_link(kea_factory, net, family)
    second = perfdhcp_round(family, net)
    n = CLIENTS4 if family == 4 else CLIENTS6
    assert second.received(ACK[family]) == n, second.stdout
    after = srv.leases()
    kept, lost = count_kept(family, clients, expected, after, 0)
    print(f"CONTROL v{family} without migration: {kept}/{len(clients)} clients kept, "
          f"Kea leases 0 -> {len(after)}")
    assert kept == 0, lost
    assert len(after) == len(expected)
    if family == 4:
        # and a client whose lease Kea does not know is refused its old address (authoritative)
        mac = next(iter(clients))
        assert expected[mac] not in {lease["ip-address"] for lease in after}
        (r,) = run_client_ops(net, [{"op": "init-reboot", "mac": mac, "address": expected[mac],
                                     "client_id": client_id4(mac)}])
        assert r["reply"] == "NAK", r


def test_dhcpd_lease_parsers_read_octal_ids() -> None:
    """The independent parsers above, on hand-written dhcpd blocks (last block wins)."""
    v4 = ('lease 10.100.0.9 {\n  binding state active;\n  hardware ethernet 00:0C:0C:00:00:01;\n'
          '  uid "\\001\\000\\014\\014\\000\\000\\001";\n}\n'
          'lease 10.100.0.8 {\n  binding state active;\n  hardware ethernet 00:0c:0c:00:00:02;\n}\n'
          'lease 10.100.0.8 {\n  binding state free;\n  hardware ethernet 00:0c:0c:00:00:02;\n}\n')
    assert dhcpd_leases4(v4) == {"00:0c:0c:00:00:01": {"address": "10.100.0.9",
                                                        "uid": "01:00:0c:0c:00:00:01"}}
    ia = '"\\001\\000\\000\\000\\000\\001\\000\\001\\000\\000\\000\\000\\000\\014\\014\\006\\000\\"\\000"'
    v6 = (f"ia-pd {ia} {{\n  cltt 5 2026/11/27 21:00:00;\n  iaprefix 2001:db8:200:100::/56 {{\n"
          "    binding state active;\n  }\n}\n"
          f"ia-na {ia} {{\n  iaaddr 2001:db8:100::1000 {{\n    binding state active;\n  }}\n}}\n"
          f"ia-na {ia} {{\n  iaaddr 2001:db8:100::1000 {{\n    binding state released;\n  }}\n}}\n")
    duid = "00:01:00:01:00:00:00:00:00:0c:0c:06:00:22:00"
    assert dhcpd_leases6(v6) == {("IA_PD", duid, 1): "2001:db8:200:100::/56"}


def test_cutover_figures_file_keeps_one_line_per_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    figures = tmp_path / "cutover.json"
    monkeypatch.setattr(sys.modules[__name__], "FIGURES", figures)
    base = {"clients_kept": 1, "clients_total": 2, "percent": 50.0, "kea_leases_after_migration": 2,
            "kea_leases_after_clients": 2}
    record_figure("v4-live", base)
    record_figure("v6-live", base)
    record_figure("v4-live", {**base, "clients_kept": 2, "percent": 100.0})
    assert "CUTOVER v4-live: 2/2 clients kept (100.0 %)" in capsys.readouterr().out
    rows = [json.loads(line) for line in figures.read_text().splitlines()]
    assert [(r["case"], r["clients_kept"]) for r in rows] == [("v6-live", 1), ("v4-live", 2)]

