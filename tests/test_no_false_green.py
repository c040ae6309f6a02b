"""Issue 11 part 2, "no false green", against real Kea servers.

* An active lease the target has no subnet for fails the migration (exit 1, the summary names the
  source /24, /64 or delegated prefix with its count) unless ``--allow-unmapped``; reconcile
  counts it missing.
* A source of the wrong family for the target is a usage error (exit 2) before anything is sent.
* A ``--kea-config`` whose subnets the live target lacks or numbers differently stops the run
  (dry run or not) with exit 2 and one line per subnet, before anything is sent.

Lease dates are generated from the suite's clock and kea-etl is given the matching ``--as-of``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kea_etl.cli import main
from kea_etl.pipeline import load_pipeline, run_pipeline
from tests.export.helpers import write_leases
from tests.harness import clock
from tests.harness.kea import KeaServer
from tests.harness.leasefile import ia_block, lease_block

pytestmark = pytest.mark.kea

#: the target of the issue's report: 10.100.0.0/22, but not 10.101.0.0/24
TARGET4 = [{"id": 2, "subnet": "10.100.0.0/22", "pools": [{"pool": "10.100.0.10 - 10.100.3.250"}]}]


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _v4_source(tmp_path: Path, now: int, *, mapped: int = 30, unmapped: int = 20) -> Path:
    def block(ip: str, mac: str, granted: int, ends: int, state: str = "active") -> str:
        return lease_block(ip, starts=granted, cltt=granted, ends=ends, state=state,
                           next_state="free", mac=mac)

    blocks = [block(f"10.100.0.{10 + i}", f"02:00:00:00:01:{i:02x}", now - 600, now + 3000)
              for i in range(mapped)]
    blocks += [block(f"10.101.0.{10 + i}", f"02:00:00:00:02:{i:02x}", now - 600, now + 3000)
               for i in range(unmapped)]
    # not active: never counted as unmapped
    blocks.append(block("10.102.0.5", "02:00:00:00:03:01", now - 9000, now - 5000, "free"))
    return write_leases(tmp_path / "dhcpd.leases", blocks)


def _ia(kind: str, iaid: int, duid: bytes, addr: str, now: int) -> str:
    return ia_block(kind, iaid, duid, addr, cltt=now - 600, ends=now + 3400, preferred=3000,
                    max_life=4000)


def _v6_source(tmp_path: Path, now: int) -> Path:
    """IA_NA in 2001:db8:1::/64 (the kea6 fixture's subnet) and in 2001:db8:2::/64 (not on the
    target); IA_PD inside the fixture's pd-pool 2001:db8:8000::/40 and outside it."""
    blocks = []
    for i in range(3):
        blocks.append(_ia("ia-na", i + 1, bytes([0, 3, 0, 1, 2, 0, 0, 0, 6, i]),
                          f"2001:db8:1::{0x1000 + i:x}", now))
    for i in range(2):
        blocks.append(_ia("ia-na", i + 1, bytes([0, 3, 0, 1, 2, 0, 0, 0, 7, i]),
                          f"2001:db8:2::{0x1000 + i:x}", now))
    blocks.append(_ia("ia-pd", 9, bytes([0, 3, 0, 1, 2, 0, 0, 0, 8, 1]),
                      "2001:db8:8000:100::/56", now))
    blocks.append(_ia("ia-pd", 9, bytes([0, 3, 0, 1, 2, 0, 0, 0, 8, 2]),
                      "2001:db8:9900:100::/56", now))
    path = tmp_path / "dhcpd6.leases"
    path.write_text("# test file\nauthoring-byte-order little-endian;\n\n" + "".join(blocks))
    return path


def _set_subnets4(kea: KeaServer, subnets: list[dict[str, Any]]) -> None:
    kea.ok("config-set", {"Dhcp4": {**kea.config["Dhcp4"], "subnet4": subnets}})


def _kea_config(tmp_path: Path, name: str, section: dict[str, Any]) -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(section))
    return p


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


# --- leases with no subnet in the target ------------------------------------------------------

def test_live_migrate_fails_unmapped_v4_and_names_the_24(kea4: KeaServer, tmp_path: Path) -> None:
    """The issue's case: 20 active leases of 10.101.0.0/24 were skipped and the run exited 0;
    reconcile then said "OK: everything matches"."""
    _set_subnets4(kea4, TARGET4)
    now = clock.now()
    src = _v4_source(tmp_path, now)
    rep = tmp_path / "report.json"
    res = cli("migrate", str(src), "--to", f"kea:{kea4.socket_url}", "--as-of", _iso(now),
              "--report", str(rep))
    assert res.exit_code == 1, res.output
    assert "51 read, 30 loaded, 1 skipped, 20 failed" in res.output
    assert "no subnet in the target: 20 active lease(s) FAILED" in res.output
    assert "    10.101.0.0/24: 20\n" in res.output
    data = json.loads(rep.read_text())
    assert data["unmapped"] == {"10.101.0.0/24": 20} and data["allow_unmapped"] is False
    assert data["failed_reasons"] == {"no-subnet": 20}
    assert len(kea4.leases()) == 30

    recon = cli("reconcile", str(src), "--kea", kea4.socket_url, "--as-of", _iso(now),
                "--json", str(tmp_path / "r.json"))
    assert recon.exit_code == 1, recon.output
    assert "matched 30  missing 20  extra 0  mismatched 0" in recon.output
    assert "no subnet in the target (counted missing): 10.101.0.0/24 20" in recon.output
    assert "OK: everything matches" not in recon.output
    r = json.loads((tmp_path / "r.json").read_text())
    missing = [d for d in r["differences"] if d["category"] == "missing"]
    assert len(missing) == 20 and {d["subnet_id"] for d in missing} == {0}

    # the operator accepts the loss explicitly: exit 0, and both reports say the flag was given
    allowed = cli("migrate", str(src), "--to", f"kea:{kea4.socket_url}", "--as-of", _iso(now),
                  "--report", str(rep), "--allow-unmapped")
    assert allowed.exit_code == 0, allowed.output
    assert "SKIPPED (--allow-unmapped was given)" in allowed.output
    assert "    10.101.0.0/24: 20\n" in allowed.output
    data = json.loads(rep.read_text())
    assert data["allow_unmapped"] is True and data["skipped"]["no-subnet"] == 20
    assert data["failed"] == 0 and data["already_present"] == 30
    ok = cli("reconcile", str(src), "--kea", kea4.socket_url, "--as-of", _iso(now),
             "--allow-unmapped")
    assert ok.exit_code == 0, ok.output
    assert "no subnet in the target (skipped: --allow-unmapped was given)" in ok.output


def test_live_migrate_fails_unmapped_v6_addresses_and_prefixes(kea6: KeaServer,
                                                               tmp_path: Path) -> None:
    now = clock.now()
    src = _v6_source(tmp_path, now)
    rep = tmp_path / "report.json"
    res = cli("migrate", str(src), "--to", f"kea:{kea6.socket_url}", "--as-of", _iso(now),
              "--report", str(rep))
    assert res.exit_code == 1, res.output
    assert "    2001:db8:2::/64: 2\n" in res.output
    assert "    2001:db8:9900:100::/56 (delegated prefix): 1\n" in res.output
    data = json.loads(rep.read_text())
    assert data["unmapped"] == {"2001:db8:2::/64": 2, "2001:db8:9900:100::/56 (delegated prefix)": 1}
    assert (data["loaded"], data["failed"]) == (4, 3)
    assert len(kea6.leases()) == 4
    recon = cli("reconcile", str(src), "--kea", kea6.socket_url, "--as-of", _iso(now))
    assert recon.exit_code == 1, recon.output
    assert "matched 4  missing 3" in recon.output


def test_memfile_unmapped_fails_and_reconcile_against_counts_missing(tmp_path: Path) -> None:
    now = clock.now()
    src = _v4_source(tmp_path, now, mapped=3, unmapped=2)
    conf = _kea_config(tmp_path, "kea4.json", {"Dhcp4": {"subnet4": TARGET4}})
    out = tmp_path / "out"
    res = cli("migrate", str(src), "--to", f"memfile:{out}", "--kea-config", str(conf),
              "--as-of", _iso(now))
    assert res.exit_code == 1, res.output
    assert "    10.101.0.0/24: 2\n" in res.output
    recon = cli("reconcile", str(src), "--against", str(out), "--kea-config", str(conf),
                "--as-of", _iso(now))
    assert recon.exit_code == 1 and "missing 2" in recon.output, recon.output


# --- a source of the wrong family ----------------------------------------------------------------

def test_v6_source_to_a_dhcp4_server_is_a_usage_error(kea4: KeaServer, tmp_path: Path) -> None:
    """The README's old live example: dhcpd6.leases to a DHCPv4 socket skipped every v6 lease and
    exited 0. The v4 file first: nothing of it may be sent before the refusal."""
    _set_subnets4(kea4, TARGET4)
    now = clock.now()
    v4 = _v4_source(tmp_path, now, unmapped=0)
    v6 = _v6_source(tmp_path, now)
    for extra in ([], ["--dry-run"]):
        res = CliRunner().invoke(main, ["migrate", str(v4), str(v6), "--to",
                                        f"kea:{kea4.socket_url}", "--as-of", _iso(now), *extra])
        assert res.exit_code == 2, res.output
        assert res.output.count("\n") == 1, res.output
        assert res.output.startswith(f"Error: {v6} line ")
        assert "a DHCPv6 lease" in res.output and "no DHCPv6 configuration" in res.output
        assert f"config-get of {kea4.socket_url}" in res.output
        assert kea4.leases() == []
    recon = CliRunner().invoke(main, ["reconcile", str(v6), "--kea", kea4.socket_url,
                                      "--as-of", _iso(now)])
    assert recon.exit_code == 2 and "a DHCPv6 lease" in recon.output, recon.output


def test_memfile_target_needs_a_config_for_each_family(kea6: KeaServer, tmp_path: Path) -> None:
    now = clock.now()
    v4 = _v4_source(tmp_path, now, unmapped=0)
    v6 = _v6_source(tmp_path, now)
    conf4 = _kea_config(tmp_path, "kea4.json", {"Dhcp4": {"subnet4": TARGET4}})
    out = tmp_path / "out"
    res = cli("migrate", str(v4), str(v6), "--to", f"memfile:{out}", "--kea-config", str(conf4),
              "--as-of", _iso(now))
    assert res.exit_code == 2, res.output
    assert "a DHCPv6 lease" in res.output and str(conf4) in res.output
    assert not (out / "kea-leases4.csv").exists()
    # given a DHCPv6 target too (the kea6 fixture's own configuration), the same sources load
    conf6 = _kea_config(tmp_path, "kea6.json", {"Dhcp6": kea6.config["Dhcp6"]})
    both = cli("migrate", str(v4), str(v6), "--to", f"memfile:{out}", "--kea-config", str(conf4),
               "--kea-config", str(conf6), "--as-of", _iso(now), "--allow-unmapped")
    assert both.exit_code == 0, both.output
    assert "34 loaded" in both.output


# --- --kea-config against the live target's own subnets -----------------------------------------

@pytest.mark.parametrize("kea3", [False, pytest.param(True, marks=pytest.mark.kea3)],
                         ids=["kea2", "kea3"])
def test_kea_config_with_other_ids_stops_dry_run_and_run(kea_factory: Any, tmp_path: Path,
                                                         kea3: bool) -> None:
    """The dry run said "would send lease4-add x..." and the real run then failed them all."""
    srv = kea_factory(family=4, kea3=kea3, subnets=[
        {"id": 7, "subnet": "10.100.0.0/22"}, {"id": 8, "subnet": "10.99.0.0/24"}])
    now = clock.now()
    src = _v4_source(tmp_path, now, mapped=5, unmapped=0)
    conf = _kea_config(tmp_path, "kea4.json", {"Dhcp4": {"subnet4": [
        {"id": 2, "subnet": "10.100.0.0/22"}, {"id": 8, "subnet": "10.99.0.0/24"},
        {"id": 3, "subnet": "10.101.0.0/24"}]}})
    for extra in (["--dry-run"], []):
        res = CliRunner().invoke(main, ["migrate", str(src), "--to", f"kea:{srv.socket_url}",
                                        "--kea-config", str(conf), "--as-of", _iso(now), *extra])
        assert res.exit_code == 2, res.output
        lines = res.output.splitlines()
        assert lines[0].startswith("Error: the --kea-config subnets do not match")
        assert lines[1:] == [
            "  subnet 10.100.0.0/22: id 2 in the --kea-config, id 7 on the target",
            "  subnet 10.101.0.0/24 (id 3 in the --kea-config): the target has no such subnet"]
        assert srv.leases() == []
    # the same subnets under the target's ids: the run goes ahead
    conf.write_text(json.dumps({"Dhcp4": {"subnet4": [{"id": 7, "subnet": "10.100.0.0/22"}]}}))
    res = cli("migrate", str(src), "--to", f"kea:{srv.socket_url}", "--kea-config", str(conf),
              "--as-of", _iso(now))
    assert res.exit_code == 0, res.output
    assert {x["subnet-id"] for x in srv.leases()} == {7} and len(srv.leases()) == 5


# --- the pipeline's migrate and reconcile steps --------------------------------------------------

def test_pipeline_steps_fail_unmapped_and_check_subnets(kea4: KeaServer, tmp_path: Path) -> None:
    _set_subnets4(kea4, TARGET4)
    now = clock.now()
    src = _v4_source(tmp_path, now, mapped=4, unmapped=3)
    wrong = _kea_config(tmp_path, "wrong.json", {"Dhcp4": {"subnet4": [
        {"id": 9, "subnet": "10.100.0.0/22"}]}})

    def run(text: str) -> list[Any]:
        p = tmp_path / "p.yaml"
        p.write_text(text)
        return run_pipeline(load_pipeline(p, env={"URL": kea4.socket_url}))

    base = (f"steps:\n  - migrate:\n      sources: [{src}]\n      to: kea:${{URL}}\n"
            f"      as_of: '{_iso(now)}'\n")
    recon = (f"  - reconcile:\n      source: {src}\n      kea: ${{URL}}\n"
             f"      as_of: '{_iso(now)}'\n")
    [refused] = run(base + f"      kea_config: [{wrong}]\n")
    assert refused.exit_code == 2
    assert "subnet 10.100.0.0/22: id 9 in the --kea-config, id 2 on the target" in \
        refused.summary["error"]
    assert kea4.leases() == []
    migrated, checked = run(base + recon)
    assert migrated.exit_code == 1 and migrated.summary["unmapped"] == {"10.101.0.0/24": 3}
    assert checked.exit_code == 1 and checked.summary["missing"] == 3
    migrated, checked = run(base + "      allow_unmapped: true\n" + recon
                            + "      allow_unmapped: true\n")
    assert migrated.exit_code == 0 and migrated.summary["allow_unmapped"] is True
    assert checked.exit_code == 0 and checked.summary["matched"] == 4
