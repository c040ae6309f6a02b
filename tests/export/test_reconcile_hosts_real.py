"""Reservations in reconcile on real Kea, on every Kea of the matrix (KEA_ETL_KEA): Kea 2.x has no
host_cmds (Debian does not ship it), so its hosts are read from config-get; Kea 3.x lists them
with reservation-get-page. kea-etl migrates the sample dhcpd.leases and dhcpd.conf (its hosts
into the configuration, --allow-config-write), then reconciles both files in one run: all
matched. The hosts are then changed behind kea-etl's back (config-get / config-set, as an
operator's edit would): one deleted, one renamed, one added; reconcile names each.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kea_etl.cli import main
from kea_etl.pipeline import load_pipeline, run_pipeline
from tests.harness import clock
from tests.harness.kea import KeaInstall, KeaServer

pytestmark = pytest.mark.kea

#: the sample dhcpd.conf's hosts (dhcpd.conf and its include), all in subnets 2 and 3
HOSTS = 6
EXTRA = {"hw-address": "0a:0b:0c:0d:0e:0f", "ip-address": "10.101.0.77", "hostname": "intruder"}


def _cli(*args: str, code: int = 0) -> Any:
    r = CliRunner().invoke(main, [*args, "--no-progress"], catch_exceptions=False)
    assert r.exit_code == code, f"kea-etl {' '.join(args)} -> {r.exit_code}\n{r.output}"
    return r


def _migrated(kea_factory: Any, kea_install: KeaInstall, tmp_path: Path
              ) -> tuple[KeaServer, Path]:
    sample = clock.rebased_sample_dir(tmp_path / "sample")
    subnets = json.loads((sample / "kea-dhcp4.json").read_text())["Dhcp4"]["subnet4"]
    srv = kea_factory(family=4, kea=kea_install, subnets=subnets)
    _cli("migrate", str(sample / "dhcpd.leases"), str(sample / "dhcpd.conf"),
         "--to", f"kea:{srv.socket_url}", "--allow-config-write",
         "--report", str(tmp_path / "migrate.json"))
    return srv, sample


def _via(srv: KeaServer) -> str:
    names = srv.ok("list-commands")
    return "reservation-get-page" if "reservation-get-page" in names else "config-get"


def test_reconcile_leases_and_reservations_after_migrate(kea_factory: Any,
                                                         kea_install: KeaInstall,
                                                         tmp_path: Path) -> None:
    srv, sample = _migrated(kea_factory, kea_install, tmp_path)
    via = _via(srv)
    assert via == ("reservation-get-page" if srv.kea3 else "config-get")
    out = tmp_path / "r.json"
    r = _cli("reconcile", str(sample / "dhcpd.leases"), str(sample / "dhcpd.conf"),
             "--kea", srv.socket_url, "--json", str(out))
    assert r.output.rstrip().endswith("OK: everything matches"), r.output
    assert f"reservations: matched {HOSTS}  missing 0  extra 0  mismatched 0  (Kea's from {via})" \
        in r.output
    data = json.loads(out.read_text())
    assert data["leases_compared"] and data["matched"] == 270 and data["differences_total"] == 0
    hosts = data["reservations"]
    assert hosts["compared"] and hosts["kea_source"] == via
    assert (hosts["source"]["read"], hosts["kea"]["read"]) == (HOSTS, HOSTS)
    # the dhcpd.conf alone: no lease is called extra (the "269 extra"), none skipped
    r = _cli("reconcile", str(sample / "dhcpd.conf"), "--kea", srv.socket_url)
    assert "leases: not compared" in r.output and "skipped reservation" not in r.output
    assert r.output.rstrip().endswith("OK: everything matches")
    # the leases alone: Kea's hosts are not called extra either
    r = _cli("reconcile", str(sample / "dhcpd.leases"), "--kea", srv.socket_url)
    assert "reservations: not compared" in r.output and "matched 270" in r.output
    # a pipeline's reconcile step takes the same list of sources
    yml = tmp_path / "p.yaml"
    yml.write_text("name: recon\nsteps:\n  - reconcile:\n"
                   f"      source: [{sample / 'dhcpd.leases'}, {sample / 'dhcpd.conf'}]\n"
                   "      kea: ${URL}\n")
    [step] = run_pipeline(load_pipeline(yml, env={"URL": srv.socket_url}))
    assert step.exit_code == 0, step.summary
    assert step.summary["reservations"]["matched"] == HOSTS and step.summary["matched"] == 270


def _edit_hosts(srv: KeaServer) -> None:
    """Delete printer-1's host, rename cam-2's, add one dhcpd.conf never had (subnet 3)."""
    config = srv.ok("config-get")
    body = config["Dhcp4"]
    for key in ("hash",):
        body.pop(key, None)
    by_id = {int(s["id"]): s for s in body["subnet4"]}
    hosts2 = by_id[2]["reservations"]
    by_id[2]["reservations"] = [h for h in hosts2 if h.get("hostname") != "printer-1"]
    assert len(by_id[2]["reservations"]) == len(hosts2) - 1
    cam2 = next(h for h in by_id[3]["reservations"]
                if h.get("hw-address", "").lower() == "52:54:00:02:00:02")
    cam2["hostname"] = "renamed"
    by_id[3]["reservations"].append(EXTRA)
    srv.ok("config-set", {"Dhcp4": body})


def test_reconcile_reservations_missing_mismatched_extra(kea_factory: Any,
                                                        kea_install: KeaInstall,
                                                        tmp_path: Path) -> None:
    srv, sample = _migrated(kea_factory, kea_install, tmp_path)
    _edit_hosts(srv)
    out, csv_out, html = tmp_path / "r.json", tmp_path / "r.csv", tmp_path / "r.html"
    r = _cli("reconcile", str(sample / "dhcpd.conf"), "--kea", srv.socket_url,
             "--json", str(out), "--csv", str(csv_out), "--html", str(html), code=1)
    assert "reservations: matched 4  missing 1  extra 1  mismatched 1" in r.output
    assert "missing    hw-address 52:54:00:01:00:01  subnet 2 10.100.3.251" in r.output
    assert "mismatched hw-address 52:54:00:02:00:02  subnet 3 10.101.0.12  hostname none -> " \
        "renamed" in r.output
    assert "extra      hw-address 0a:0b:0c:0d:0e:0f  subnet 3 10.101.0.77" in r.output
    assert r.output.rstrip().endswith("DIFFERENCES: 3 (reservations 3)")
    data = json.loads(out.read_text())
    diffs = {d["category"]: d for d in data["reservations"]["differences"]}
    assert diffs["missing"]["source_line"] is not None
    assert diffs["missing"]["source_origin"].endswith("dhcpd.conf")
    assert diffs["mismatched"]["fields"] == {"hostname": {"kea": "renamed", "source": ""}}
    assert diffs["extra"]["hostname"] == "intruder"
    assert data["reservations"]["fields_mismatched"] == {"hostname": 1}
    rows = csv_out.read_text().splitlines()
    assert "10.101.0.12,mismatched,3,hostname,,renamed,12,reservation," \
        "hw-address 52:54:00:02:00:02" in rows[1:] or any(
            r.startswith("10.101.0.12,mismatched,3,hostname,,renamed,") for r in rows)
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<td>intruder</td>" in page and "Leases not compared" in page
    assert "3 differences. reservations: 1 missing in Kea, 1 extra in Kea, 1 mismatched." in page
