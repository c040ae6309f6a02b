"""The memfile CSVs kea-etl writes, loaded by a REAL Kea 2.2 and Kea 3.0, compared lease by lease.

Kea skips a bad memfile row with only a log line, so the only proof that the writer is right is a
real server reading the file back: every lease must come back with the same address, ids, subnet,
lifetimes, hostname and state. The servers run with ``sanity-checks: lease-checks: del`` (a lease
in the wrong subnet is deleted, not silently fixed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kea_etl.load.memfile import MemfileLoader
from kea_etl.records import INFINITE_LIFETIME, Lease4, Lease6, canonical_hex
from kea_etl.report import RunReport
from tests.harness import clock

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample-data"
NOW = clock.now()

LEASES4 = [
    Lease4(address="192.0.2.10", hwaddr="00:11:22:33:44:01", valid_lft=86400, cltt=NOW - 100,
           subnet_id=1, hostname="plain.example.org", fqdn_fwd=True, fqdn_rev=True),
    Lease4(address="192.0.2.11", hwaddr="00:11:22:33:44:02", valid_lft=86400, cltt=NOW - 50,
           subnet_id=1, client_id="01:00:11:22:33:44:02", hostname="with,two,commas"),
    Lease4(address="192.0.2.12", hwaddr="00:11:22:33:44:03", valid_lft=INFINITE_LIFETIME,
           cltt=NOW - 10, subnet_id=1, hostname="R&D-café"),
    Lease4(address="192.0.2.13", hwaddr=None, valid_lft=3600, cltt=NOW - 10, subnet_id=1,
           state=1),  # declined: Kea keeps no hardware address for it
    Lease4(address="198.51.100.7", hwaddr="00:11:22:33:44:05", valid_lft=7200, cltt=NOW - 10,
           subnet_id=2, user_context={"isc-dhcp": {"circuit-id": "eth0,1"}}),
    Lease4(address="192.0.2.3", hwaddr="00:11:22:33:44:06", valid_lft=7200, cltt=NOW - 10,
           subnet_id=1),  # outside the pool, inside the subnet
]
LEASES6 = [
    Lease6(address="2001:db8:1::1000", duid="00:01:00:01:2a:2b:2c:2d:00:11:22:33:44:55",
           iaid=1, valid_lft=86400, preferred_lft=43200, cltt=NOW - 100, subnet_id=1,
           hostname="six,host", fqdn_fwd=True),
    Lease6(address="2001:db8:1::1001", duid="00:03:00:01:00:11:22:33:44:66", iaid=0xFFFFFFFE,
           valid_lft=INFINITE_LIFETIME, preferred_lft=INFINITE_LIFETIME, cltt=NOW - 100,
           subnet_id=1, hwaddr="00:11:22:33:44:66"),
    Lease6(address="2001:db8:8000:1200::", duid="00:03:00:01:00:11:22:33:44:77", iaid=7,
           lease_type="IA_PD", prefix_len=56, valid_lft=3600, preferred_lft=1800,
           cltt=NOW - 100, subnet_id=1),
    Lease6(address="2001:db8:1::2000", duid="00:03:00:01:00:11:22:33:44:88", iaid=9,
           valid_lft=3600, preferred_lft=1800, cltt=NOW - 100, subnet_id=1, state=1),
]


def write_memfile(tmp: Path, leases: list[Any], kea_version: str) -> Path:
    loader = MemfileLoader(tmp, kea_version=kea_version)
    report = RunReport(read=len(leases))
    loader.load(leases, report)
    loader.commit()
    assert report.balanced()
    return tmp / f"kea-leases{4 if isinstance(leases[0], Lease4) else 6}.csv"


def kea_leases(srv: Any) -> list[dict[str, Any]]:
    r = srv.command(f"lease{srv.family}-get-all")
    if r["result"] == 3:
        return []
    assert r["result"] == 0, r
    return list(r["arguments"]["leases"])


def compare(family: int, sent: list[Any], got: list[dict[str, Any]]) -> None:
    cls = Lease4 if family == 4 else Lease6
    back = {rec.key: rec for rec in (cls.from_kea(d) for d in got)}
    assert sorted(back) == sorted(r.key for r in sent), "Kea dropped or invented leases"
    for rec in sent:
        k = back[rec.key]
        fields = ["address", "hwaddr", "client_id", "subnet_id", "valid_lft", "cltt", "hostname",
                  "state", "fqdn_fwd", "fqdn_rev", "user_context"] if family == 4 else \
            ["address", "duid", "iaid", "lease_type", "prefix_len", "subnet_id", "valid_lft",
             "preferred_lft", "cltt", "hostname", "state", "hwaddr", "fqdn_fwd"]
        for f in fields:
            mine, kea = getattr(rec, f), getattr(k, f)
            if f == "hostname":
                # Kea lowercases hostnames; its JSON writes each byte of a UTF-8 hostname as its
                # own \u00XX, which Lease*.from_kea decodes back (kea_etl.records.kea_text).
                mine = mine.lower()
            assert kea == mine, f"{rec.key} {f}: Kea has {kea!r}, we wrote {mine!r}"


@pytest.mark.kea
@pytest.mark.parametrize("kea3", [False, pytest.param(True, marks=pytest.mark.kea3)],
                         ids=["kea2", "kea3"])
@pytest.mark.parametrize("family", [4, 6])
def test_real_kea_loads_every_lease(tmp_path: Path, kea_factory: Callable[..., Any],
                                    family: int, kea3: bool) -> None:
    leases = LEASES4 if family == 4 else LEASES6
    csv = write_memfile(tmp_path, leases, "3.0" if kea3 else "2.2")
    srv = kea_factory(family=family, kea3=kea3, lease_file=csv)
    compare(family, leases, kea_leases(srv))


@pytest.mark.kea
@pytest.mark.kea3
def test_kea22_header_read_by_kea3(tmp_path: Path, kea_factory: Callable[..., Any]) -> None:
    """The default (2.2) header is upgraded by a newer Kea on load: nothing lost."""
    csv = write_memfile(tmp_path, LEASES4, "2.2")
    srv = kea_factory(family=4, kea3=True, lease_file=csv)
    compare(4, LEASES4, kea_leases(srv))


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "kea-etl"), *args],
                          capture_output=True, text=True, timeout=300, check=False)


def _sample_subnets(name: str, family: int) -> list[dict[str, Any]]:
    from kea_etl.transform.subnets import load_kea_config

    return list(load_kea_config(SAMPLE / name)[f"Dhcp{family}"][f"subnet{family}"])


@pytest.mark.kea
@pytest.mark.parametrize("kea3", [False, pytest.param(True, marks=pytest.mark.kea3)],
                         ids=["kea2", "kea3"])
def test_cli_sample_data_into_real_kea(tmp_path: Path, kea_factory: Callable[..., Any],
                                       kea3: bool, sample_now: Path) -> None:
    """kea-etl migrate on the real dhcpd sample files -> memfile -> real Kea: zero rows dropped.
    The sample's dates are moved to now: Kea reclaims what has expired by its own clock."""
    as_of = clock.iso()
    out = tmp_path / "out"
    report_path = tmp_path / "report.json"
    proc = _run_cli("migrate", str(sample_now / "dhcpd.leases"), str(sample_now / "dhcpd6.leases"),
                    str(sample_now / "dhcpd.conf"), str(sample_now / "dhcpd6.conf"),
                    "--to", f"memfile:{out}", "--kea-config", str(SAMPLE / "kea-dhcp4.json"),
                    "--kea-config", str(SAMPLE / "kea-dhcp6.json"), "--as-of", as_of,
                    "--report", str(report_path), "--kea-version", "3.0" if kea3 else "2.2")
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(report_path.read_text())
    assert report["balanced"] and report["read"] > 300
    assert report["read"] == report["loaded"] + sum(report["skipped"].values()) + report["failed"]
    assert set(report["skipped"]) <= {"free", "released", "abandoned", "expired", "expired-state",
                                      "backup", "no-subnet"}
    for family, conf in ((4, "kea-dhcp4.json"), (6, "kea-dhcp6.json")):
        csv = out / f"kea-leases{family}.csv"
        rows = csv.read_text().splitlines()[1:]
        assert rows, f"no v{family} leases written"
        srv = kea_factory(family=family, kea3=kea3, lease_file=csv,
                          subnets=_sample_subnets(conf, family))
        got = kea_leases(srv)
        assert len(got) == len(rows), f"Kea {srv.version} dropped {len(rows) - len(got)} v{family} rows"
        written = {line.split(",")[0]: line.split(",") for line in rows}
        for lease in got:
            cols = written[lease["ip-address"]]
            assert lease["valid-lft"] == int(cols[3 if family == 4 else 2])
            assert lease["subnet-id"] == int(cols[5 if family == 4 else 4])
    fragment = json.loads((out / "reservations4.json").read_text())
    assert "Dhcp4" in fragment


@pytest.mark.kea
@pytest.mark.parametrize("kea3", [False, pytest.param(True, marks=pytest.mark.kea3)],
                         ids=["kea2", "kea3"])
def test_reservations_fragment_accepted_by_real_kea(tmp_path: Path, kea_factory: Callable[..., Any],
                                                    kea3: bool) -> None:
    """reservations4/6.json from the sample dhcpd.conf hosts, merged into the subnets, starts a Kea."""
    out = tmp_path / "out"
    proc = _run_cli("migrate", str(SAMPLE / "dhcpd.conf"), str(SAMPLE / "dhcpd6.conf"),
                    "--to", f"memfile:{out}", "--kea-config", str(SAMPLE / "kea-dhcp4.json"),
                    "--kea-config", str(SAMPLE / "kea-dhcp6.json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for family, conf in ((4, "kea-dhcp4.json"), (6, "kea-dhcp6.json")):
        fragment = json.loads((out / f"reservations{family}.json").read_text())
        assert list(fragment) == [f"Dhcp{family}"]
        subnets = _sample_subnets(conf, family)
        hosts = {s["id"]: s["reservations"] for s in fragment[f"Dhcp{family}"][f"subnet{family}"]}
        assert hosts, f"no v{family} reservations"
        for s in subnets:
            s.pop("interface", None)
            if s["id"] in hosts:
                s["reservations"] = hosts[s["id"]]
        srv = kea_factory(family=family, kea3=kea3, subnets=subnets)
        config = srv.command("config-get")["arguments"][f"Dhcp{family}"]
        got = {s["id"]: s.get("reservations", []) for s in config[f"subnet{family}"]}
        for sid, sent in hosts.items():
            assert len(got[sid]) == len(sent)
            for host in sent:
                ident = next(k for k in ("hw-address", "client-id", "duid") if k in host)
                # Kea prints client-id / duid as plain hex (01525400...): compare canonically
                match = [h for h in got[sid]
                         if canonical_hex(h.get(ident), ident) == canonical_hex(host[ident], ident)]
                assert match, f"Kea lost host {host}: it has {got[sid]}"
                if family == 4:
                    assert match[0]["ip-address"] == host["ip-address"]
                else:
                    assert match[0]["ip-addresses"] == host.get("ip-addresses", [])
                    assert match[0]["prefixes"] == host.get("prefixes", [])
