"""Kea's own verdict on converted Windows DHCP Server exports (issue 18 §1): ``kea-dhcpN -t`` of
every selected Kea version accepts what ``kea-etl convert windows:F.xml`` writes, and a real Kea
started on the converted configuration takes every active lease of ``kea-etl migrate
windows:F.xml`` under the converted subnet ids (none unmapped, none failed)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest

from kea_etl.convert import convert_windows, write
from tests.convert.test_convert_real import _cli, kea_test, start_converted
from tests.harness import clock
from tests.harness.kea import KeaInstall, KeaServer
from tests.harness.windows_export import TZ, render

pytestmark = pytest.mark.kea

#: the active leases of site-export.xml per family (Active, ActiveReservation; the inactive
#: scope's lease too: its subnet is kept so the lease has a home)
ACTIVE = {4: {"10.10.0.21", "10.10.0.100", "10.10.0.150", "10.10.1.7", "10.20.1.9",
              "10.30.0.12"},
          6: {"2001:db8:10::2:15", "2001:db8:10::2:16"}}


@pytest.mark.parametrize("name", ["site-export.xml", "dhcp-export.xml"])
def test_kea_accepts_converted_windows_config(kea_install: KeaInstall, name: str,
                                              tmp_path: Path) -> None:
    src = render(name, tmp_path)
    result = convert_windows(src, hooks_dir=kea_install.hooks_dir)
    written = write(result, tmp_path / "out")
    assert [p.name for p in written] == ["kea-dhcp4.conf", "kea-dhcp6.conf"]
    for path in written:
        done = kea_test(kea_install, int(path.name[len("kea-dhcp")]), path)
        assert done.returncode == 0, (f"Kea {kea_install.version} refused {path.name} of {name}:"
                                      f"\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


@pytest.mark.parametrize("family", [4, 6])
def test_windows_convert_then_migrate_into_real_kea(kea_install: KeaInstall,
                                                    kea_factory: Callable[..., KeaServer],
                                                    family: int, tmp_path: Path) -> None:
    """convert -> a real Kea started on the converted subnets, shared network, reservations,
    classes and globals -> migrate the export's leases live: every active lease lands in the
    subnet whose id convert chose, none unmapped or failed."""
    now = clock.now()
    src = render("site-export.xml", tmp_path, now=now)
    out = tmp_path / "kea"
    # exit 1: the export's deliberately broken scope (a range outside its subnet) is an error
    _cli("convert", f"windows:{src}", "--out", str(out), "--hooks-dir", kea_install.hooks_dir,
         "-q", code=1)
    srv = start_converted(kea_factory, kea_install, out / f"kea-dhcp{family}.conf", family)
    got = srv.ok("config-get")[f"Dhcp{family}"]
    running = {int(s["id"]): s["subnet"] for s in got.get(f"subnet{family}", [])} | {
        int(s["id"]): s["subnet"] for n in got.get("shared-networks", [])
        for s in n[f"subnet{family}"]}
    assert len(running) == (5 if family == 4 else 1), running
    report_path = tmp_path / "r.json"
    # one live Kea serves one family and migrate stops on records of the other (exit 2): give it
    # the export without the other family's section (what Export-DhcpServer writes for a site
    # with one family)
    other = "IPv6" if family == 4 else "IPv4"
    one = tmp_path / f"export{family}.xml"
    one.write_text(re.sub(rf"<{other}>.*</{other}>", "", src.read_text(), flags=re.S))
    _cli("migrate", f"windows:{one}", "--source-tz", TZ, "--to", f"kea:{srv.socket_url}",
         "--report", str(report_path), "--no-progress", code=1 if family == 4 else 0)
    report = json.loads(report_path.read_text())
    held = {x["ip-address"]: x for x in srv.leases()}
    assert set(held) == ACTIVE[family], report
    assert report["unmapped"] == {}, report
    if family == 4:
        # exit 1 for the two reservations convert reported too (the second one of a MAC, one
        # outside its scope); the reservations convert placed are already there
        assert (report["failed_reasons"], report["skipped"], report["already_present"]) == (
            {"duplicate-reservation": 1}, {"no-subnet": 1}, 2), report
        (skip,) = [p for p in report["problems"] if p["kind"] == "skipped"]
        assert skip["detail"] == "no Dhcp4 subnet contains reserved address 10.99.0.5"
    else:
        assert (report["failed"], report["skipped"], report["already_present"]) == (0, {}, 1), \
            report
    by_prefix = {v: k for k, v in running.items()}
    for addr, lease in held.items():
        (prefix,) = [p for p in by_prefix if ip_address(addr) in ip_network(p)]
        assert lease["subnet-id"] == by_prefix[prefix], (addr, lease)
