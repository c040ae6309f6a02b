"""Commands newer Kea adds, used where ``list-commands`` shows them, on every supported version.

Each test takes ``kea_install`` (one run per version picked by ``KEA_ETL_KEA``, as
test_versions_real.py) and checks both sides on the real server: the version that lists the
command gets it, the one that lacks it (Kea 2.2) gets today's way.

* ``lease4-write`` / ``lease6-write`` (2.3.1+): a live ``migrate`` saves the server's leases first
  (kea_etl.load.lease_backup); under 2.6.3+/3.x path restrictions Kea writes into its data
  directory.
* ``statistic-global-get-all`` (3.2): the global counters of an export limited to subnets.
* ``reservation-get-by-address`` (host_cmds 2.4+; 3.0 and 3.2 here): the conflict check of the
  reservation loader, which then sees *every* holder of an address.

``lease*-get-by-state`` (3.2) is not used: no kea-etl reader needs only the declined leases
(reconcile and export read every lease, and declined counts come from the statistics).
"""

from __future__ import annotations

import csv
import datetime as dt
import ipaddress
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kea_etl.cli import main
from kea_etl.export.stats import collect_stats
from kea_etl.kea import KeaClient
from kea_etl.load.lease_backup import lease_backup_path
from kea_etl.load.reservations import ReservationLoader
from kea_etl.records import Reservation
from kea_etl.report import RunReport
from tests.harness import clock
from tests.harness.kea import KeaInstall, KeaServer
from tests.harness.recording import SentCommands

pytestmark = pytest.mark.kea

SAMPLE = clock.SAMPLE_DIR
AS_OF = dt.datetime.fromtimestamp(clock.SAMPLE_ANCHOR, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
LEASES = {4: SAMPLE / "dhcpd.leases", 6: SAMPLE / "dhcpd6.leases"}
KEA_CONFIG = {4: SAMPLE / "kea-dhcp4.json", 6: SAMPLE / "kea-dhcp6.json"}


def _subnets(family: int) -> Any:
    return json.loads(KEA_CONFIG[family].read_text())[f"Dhcp{family}"][f"subnet{family}"]


def _lists(srv: KeaServer, command: str) -> bool:
    return command in srv.ok("list-commands")




# ---- lease4-write / lease6-write before a live migrate -------------------------------------
@pytest.mark.parametrize("family", [4, 6])
def test_live_migrate_saves_the_leases_first(kea_install: KeaInstall,
                                             kea_factory: Callable[..., KeaServer],
                                             family: int, tmp_path: Path) -> None:
    """Where the server lists leaseN-write, the leases it held before the run are in a CSV Kea
    wrote (its data directory under 2.6.3+/3.x path restrictions: the summary and the report name
    that path), and none of the migrated ones; without the command (2.2) one summary line says
    nothing was saved. A dry run saves nothing."""
    srv = kea_factory(family=family, kea=kea_install, subnets=_subnets(family))
    sub = _subnets(family)[0]
    if family == 4:
        before = str(next(iter(ipaddress.ip_network(sub["subnet"]).hosts())))
        srv.ok("lease4-add", {"ip-address": before, "hw-address": "02:00:00:00:be:fe",
                              "valid-lft": 3600, "expire": clock.now() + 3000})
    else:
        before = str(ipaddress.ip_network(sub["subnet"])[0xbefe])
        srv.ok("lease6-add", {"ip-address": before, "duid": "00:03:00:01:02:00:00:00:be:fe",
                              "iaid": 7, "valid-lft": 3600, "expire": clock.now() + 3000})
    report_path = tmp_path / "r.json"
    base = ["migrate", str(LEASES[family]), "--to", f"kea:{srv.socket_url}",
            "--kea-config", str(KEA_CONFIG[family]), "--as-of", AS_OF, "--no-progress"]
    dry = CliRunner().invoke(main, [*base, "--dry-run", "--report", str(tmp_path / "d.json")],
                             catch_exceptions=False)
    assert "leases" not in json.loads((tmp_path / "d.json").read_text()).get("lease_backups", "")
    assert "before kea-etl changed them" not in dry.output and "NOT saved" not in dry.output
    r = CliRunner().invoke(main, [*base, "--report", str(report_path)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    report = json.loads(report_path.read_text())
    [saved] = report["lease_backups"]
    assert saved["family"] == family and saved["server"].endswith(srv.socket_url.split("//")[-1])
    if not _lists(srv, f"lease{family}-write"):
        assert kea_install.version_tuple < (2, 4)
        assert saved["path"] is None and f"no lease{family}-write" in saved["reason"]
        assert f"leases of {saved['server']} NOT saved before the run" in r.output
        return
    assert saved["path"], saved
    name = lease_backup_path(str(report_path), family, stamp="X").name.split("-before-")[0]
    assert Path(saved["path"]).name.startswith(name + "-before-"), saved
    assert saved["path"] in r.output and "before kea-etl changed them" in r.output
    if kea_install.version_tuple >= (2, 6):  # path restrictions: only the data directory
        assert saved["in_data_dir"] and not Path(saved["path"]).is_relative_to(tmp_path), saved
        assert "data directory" in r.output
    with srv.host_path(saved["path"]).open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["address"] for row in rows] == [before]
    assert len(srv.leases()) > 100  # the migration itself went ahead


# ---- statistic-global-get-all for an export limited to subnets -------------------------------
@pytest.mark.parametrize("family", [4, 6])
def test_export_stats_of_some_subnets(kea_install: KeaInstall,
                                      kea_factory: Callable[..., KeaServer], family: int) -> None:
    """An export of subnet 1 only: Kea 3.2 (lists statistic-global-get-all) answers the global
    counters -- the same names as statistic-get-all's global ones -- and no other subnet's;
    where it is absent, statistic-get-all as before, filtered to subnet 1 and the globals."""
    srv = kea_factory(family=family, kea=kea_install)
    rec = SentCommands(KeaClient.from_url(srv.socket_url).transport)
    client = KeaClient(rec)
    rows = collect_stats(client, family, subnets=[1])
    sources = {r.source for r in rows}
    everything = srv.ok("statistic-get-all")
    global_names = {n for n in everything if not n.startswith("subnet[")}
    if _lists(srv, "statistic-global-get-all"):
        assert kea_install.version_tuple >= (3, 1)
        assert "statistic-global-get-all" in rec.commands
        assert "statistic-get-all" not in rec.commands
        assert sources == {f"stat-lease{family}-get", "statistic-global-get-all"}
        got = {r.name for r in rows if r.source == "statistic-global-get-all"}
        assert got == global_names and all(r.subnet_id is None for r in rows
                                          if r.source == "statistic-global-get-all")
    else:
        assert kea_install.version_tuple < (3, 1)
        assert "statistic-global-get-all" not in rec.commands
        assert sources == {f"stat-lease{family}-get", "statistic-get-all"}
        assert {r.subnet_id for r in rows if r.source == "statistic-get-all"} <= {None, 1}
        assert {r.name for r in rows if r.subnet_id is None} == global_names
    assert {r.subnet_id for r in rows if r.source.startswith("stat-lease")} == {1}
    client.close()


# ---- reservation-get-by-address in the reservation conflict check ----------------------------
def test_reservation_conflict_check_by_address(kea_install: KeaInstall,
                                               kea_factory: Callable[..., KeaServer],
                                               tmp_path: Path) -> None:
    """A host for an address Kea reserves for another client is a conflict on every version.
    With host_cmds listing reservation-get-by-address (3.0, 3.2 here) the check uses it, and with
    ``ip-reservations-unique: false`` it names *both* holders; Kea 2.2 (no host_cmds in Debian)
    decides from the configuration, without the command."""
    subnets = [{"id": 1, "subnet": "192.0.2.0/24", "reservations": [
        {"hw-address": "0a:00:00:00:00:01", "ip-address": "192.0.2.202"},
        {"hw-address": "0a:00:00:00:00:02", "ip-address": "192.0.2.202"}]}]
    # host_cache does not allow non-unique reservations: host_cmds alone on 3.x
    hooks = ("lease_cmds", "host_cmds") if kea_install.version_tuple >= (3,) else None
    srv = kea_factory(family=4, kea=kea_install, subnets=subnets, hooks=hooks,
                      extra={"ip-reservations-unique": False})
    rec = SentCommands(KeaClient.from_url(srv.socket_url).transport)
    client = KeaClient(rec)
    host = Reservation(family=4, identifier_type="hw-address", identifier="02:aa:00:00:00:01",
                       subnet_id=1, ipv4_address=ipaddress.IPv4Address("192.0.2.202"))
    loader = ReservationLoader(client, allow_config_write=True,
                               report_path=str(tmp_path / "r.json"))
    report = RunReport()
    loader.load([host], report)
    client.close()
    assert report.conflicts == 1 and report.loaded == 0, report
    [problem] = [p for p in report.problems if p.kind == "conflict"]
    if _lists(srv, "reservation-get-by-address"):
        assert loader.strategy == "reservation-add"
        assert "reservation-get-by-address" in rec.commands
        assert "0a:00:00:00:00:01" in str(problem) and "0a:00:00:00:00:02" in str(problem)
    else:
        assert kea_install.version_tuple < (2, 4) or not _lists(srv, "reservation-add")
        assert "reservation-get-by-address" not in rec.commands
        assert "0a:00:00:00:00:01" in str(problem) or "0a:00:00:00:00:02" in str(problem)
    assert not ({"reservation-add", "reservation-del", "config-set", "config-write"}
                & set(rec.commands))
