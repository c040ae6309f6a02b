"""Windows DHCP Server exports -> kea-etl -> a real Kea (issue 18, part 1).

No Windows server ran here: the exports in tests/extract/data_windows are built from Microsoft's
documented classes and cmdlets (docs/sources.md), with their local times made "now" in +01:00.

* ``Get-DhcpServerv4Lease | Export-Csv`` and the v6 one: ``kea-etl migrate windows:... --source-tz
  +01:00 --to kea:unix://...`` into a running Kea 2.x, each active lease in Kea with its MAC /
  DUID and the exact expiry, and ``kea-etl reconcile`` exits 0;
* ``Export-DhcpServer -Leases`` XML (v4 and v6 scopes, reservations, every AddressState): a
  ``--to memfile:OUT`` migration, then Kea started on those files holds exactly the loadable
  leases and reservations;
* without ``--source-tz`` the CLI stops before anything is sent (exit 2) and says why.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kea_etl.records import canonical_hex
from tests.harness import clock
from tests.harness.kea import KeaServer
from tests.harness.windows_export import TZ, render

REPO = Path(__file__).resolve().parents[2]
SUBNET4 = {"id": 1, "subnet": "192.168.50.0/24", "pools": [{"pool": "192.168.50.100 - 192.168.50.199"}]}
SUBNET6 = {"id": 1, "subnet": "2001:db8:50::/64", "pools": [{"pool": "2001:db8:50::1:0/112"}]}
EXTRA6 = {"server-id": {"type": "LLT", "persist": False}}


def kea_etl(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("kea-etl")
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "kea_etl.cli"]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=120, cwd=REPO)


def clean_csv(name: str, tmp_path: Path, now: int) -> Path:
    """The rendered CSV without its deliberately bad row (a month 13), for a run that must be
    clean end to end."""
    p = render(name, tmp_path, now=now)
    p.write_text("".join(ln for ln in p.read_text().splitlines(keepends=True) if "13/45/" not in ln))
    return p


@pytest.mark.kea
@pytest.mark.parametrize("family", [4, 6])
def test_windows_csv_leases_live_then_reconcile(tmp_path: Path, family: int,
                                                kea_factory: Callable[..., KeaServer]) -> None:
    now = clock.now()
    src = clean_csv(f"leases{family}.csv", tmp_path, now)
    srv = kea_factory(family=family, subnets=[SUBNET4 if family == 4 else SUBNET6],
                      extra=EXTRA6 if family == 6 else None)
    report_path = tmp_path / "report.json"
    proc = kea_etl("migrate", f"windows:{src}", "--source-tz", TZ, "--to",
                   f"kea:{srv.socket_url}", "--report", str(report_path), "--no-progress")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(report_path.read_text())
    held = {x["ip-address"]: x for x in srv.leases()}
    if family == 4:
        # Active x2 + ActiveReservation + Declined loaded; Expired skipped
        assert (report["read"], report["loaded"], report["failed"]) == (5, 4, 0), report
        assert sorted(held) == ["192.168.50.110", "192.168.50.111", "192.168.50.113",
                                "192.168.50.20"]
        ws = held["192.168.50.110"]
        assert (canonical_hex(ws["hw-address"], "hw"), ws["cltt"] + ws["valid-lft"]) == (
            "00:15:5d:32:01:10", now + 691200)
        assert canonical_hex(held["192.168.50.111"]["client-id"], "id") == "01:00:15:5d:32:01:11"
        assert held["192.168.50.113"]["state"] == 1  # declined
    else:
        assert (report["read"], report["loaded"], report["failed"]) == (3, 2, 0), report
        assert sorted(held) == ["2001:db8:50::1:10", "2001:db8:50::1:12"]
        lease = held["2001:db8:50::1:10"]
        assert (lease["iaid"], lease["cltt"] + lease["valid-lft"]) == (352851456, now + 1000000)
    rec = kea_etl("reconcile", f"windows:{src}", "--source-tz", TZ, "--kea", srv.socket_url)
    assert rec.returncode == 0, rec.stdout + rec.stderr


def _hosts(section: dict[str, Any], family: int) -> list[dict[str, Any]]:
    return [h for s in section.get(f"subnet{family}", []) for h in s.get("reservations", [])]


@pytest.mark.kea
def test_windows_xml_export_into_kea(tmp_path: Path,
                                     kea_factory: Callable[..., KeaServer]) -> None:
    now = clock.now()
    src = render("dhcp-export.xml", tmp_path, now=now)
    k4, k6 = tmp_path / "k4.json", tmp_path / "k6.json"
    k4.write_text(json.dumps({"Dhcp4": {"subnet4": [SUBNET4]}}))
    k6.write_text(json.dumps({"Dhcp6": {"subnet6": [SUBNET6]}}))
    out, report_path = tmp_path / "out", tmp_path / "report.json"
    proc = kea_etl("migrate", f"windows:{src}", "--source-tz", TZ, "--to", f"memfile:{out}",
                   "--kea-config", str(k4), "--kea-config", str(k6), "--kea-version", "2.2.0",
                   "--report", str(report_path), "--no-progress")
    report = json.loads(report_path.read_text())
    # 16 records: 10 loaded (4 reservations, 6 leases), 4 skipped (inactive reservation,
    # expired, offered, IA_TA), 2 failed (a reservation Type Kea has no meaning for, a bad time)
    assert (report["read"], report["loaded"], report["failed"]) == (16, 10, 2), report
    assert sum(report["skipped"].values()) == 4, report["skipped"]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    hosts4 = _hosts(json.loads((out / "reservations4.json").read_text())["Dhcp4"], 4)
    hosts6 = _hosts(json.loads((out / "reservations6.json").read_text())["Dhcp6"], 6)
    srv4 = kea_factory(family=4, subnets=[{**SUBNET4, "reservations": hosts4}],
                       lease_file=out / "kea-leases4.csv")
    assert sorted(x["ip-address"] for x in srv4.leases()) == [
        "192.168.50.110", "192.168.50.111", "192.168.50.113", "192.168.50.116", "192.168.50.20"]
    live = srv4.command("config-get")["arguments"]["Dhcp4"]["subnet4"][0]["reservations"]
    assert sorted(h["ip-address"] for h in live) == ["192.168.50.20", "192.168.50.21",
                                                     "192.168.50.22"]
    srv6 = kea_factory(family=6, subnets=[{**SUBNET6, "reservations": hosts6}],
                       lease_file=out / "kea-leases6.csv", extra=EXTRA6)
    (lease6,) = srv6.leases()
    assert (lease6["ip-address"], lease6["cltt"] + lease6["valid-lft"]) == (
        "2001:db8:50::1:10", now + 1000000)
    (host6,) = srv6.command("config-get")["arguments"]["Dhcp6"]["subnet6"][0]["reservations"]
    assert host6["ip-addresses"] == ["2001:db8:50::20"]


def test_windows_without_source_tz_is_a_usage_error(tmp_path: Path) -> None:
    src = render("leases4.csv", tmp_path)
    k4 = tmp_path / "k4.json"
    k4.write_text(json.dumps({"Dhcp4": {"subnet4": [SUBNET4]}}))
    proc = kea_etl("migrate", str(src), "--to", f"memfile:{tmp_path / 'out'}", "--kea-config",
                   str(k4), "--no-progress")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert (f"{src}: LeaseExpiryTime in a Windows CSV is the server's local time without a zone; "
            "give --source-tz with the DHCP server's time zone (an IANA name such as "
            "Europe/Berlin, UTC, or an offset like +01:00)") in proc.stderr
    assert not (tmp_path / "out" / "kea-leases4.csv").exists()


@pytest.mark.kea
def test_windows_pipeline_with_source_tz(tmp_path: Path,
                                         kea_factory: Callable[..., KeaServer]) -> None:
    """``source_tz`` in a pipeline's migrate and reconcile steps, as --source-tz on the CLI."""
    src = clean_csv("leases4.csv", tmp_path, clock.now())
    srv = kea_factory(family=4, subnets=[SUBNET4])
    pipeline = tmp_path / "windows.yaml"
    pipeline.write_text(f"""name: windows-to-kea
steps:
  - migrate:
      sources: ["windows:{src}"]
      source_tz: "{TZ}"
      to: "kea:{srv.socket_url}"
      report: {tmp_path / 'report.json'}
  - reconcile:
      source: "windows:{src}"
      source_tz: "{TZ}"
      kea: "{srv.socket_url}"
""")
    proc = kea_etl("run", str(pipeline), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(srv.leases()) == 4
