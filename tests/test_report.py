"""RunReport: what a run did beyond counts is in typed fields, each with one writer and read by
the CLI summary, and report.json keeps its documented names for them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from kea_etl.cli import main
from kea_etl.load.base import LoadOutcome
from kea_etl.report import RunReport
from tests.harness import clock


def test_typed_fields_appear_under_their_json_names_only_when_set() -> None:
    report = RunReport()
    assert not {"sources", "warnings", "outputs", "failover", "ha", "pause", "reclaim",
                "config_backups", "lease_backups", "dry_run", "seconds"} & set(report.to_json())
    report.load_warnings = {"reserved for another client": 2}
    report.outputs = LoadOutcome(target="memfile:out", files={"out/kea-leases4.csv": 3})
    report.pause = {"would_pause": ["unix:///k.sock"], "max_period": 300}
    report.config_backups.append({"server": "k", "path": "p", "saved": False})
    report.dry_run = True
    data = report.to_json()
    assert data["warnings"] == {"reserved for another client": 2}
    assert data["outputs"]["files"] == {"out/kea-leases4.csv": 3}
    assert "sent" not in data["outputs"] and "state" not in data["outputs"]
    assert data["pause"]["max_period"] == 300 and data["dry_run"] is True
    assert data["config_backups"] == [{"server": "k", "path": "p", "saved": False}]


def test_report_json_of_a_migration(tmp_path: Path) -> None:
    """The names a report.json consumer reads (README: source_warnings, warnings, outputs ...)."""
    out = tmp_path / "out"
    r = CliRunner().invoke(main, [
        "migrate", str(clock.SAMPLE_DIR / "dhcpd.leases"), "--to", f"memfile:{out}",
        "--kea-config", str(clock.SAMPLE_DIR / "kea-dhcp4.json"), "--kea-version", "2.2",
        "--as-of", "2026-11-27T21:25:21Z", "--no-progress", "--report", str(tmp_path / "r.json")])
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert list(data) == [
        "read", "loaded", "skipped", "failed", "failed_reasons", "already_present", "conflicts",
        "balanced", "unmapped", "allow_unmapped", "sources", "target", "as_of", "warnings",
        "outputs", "dry_run", "seconds", "problems", "problems_dropped",
        "source_warnings_total", "source_warnings"]
    assert data["target"] == f"memfile:{out}" and data["as_of"] == "2026-11-27T21:25:21Z"
    assert data["dry_run"] is False and data["seconds"] >= 0
    assert sum(data["outputs"]["files"].values()) == data["loaded"]


def test_a_live_outcome_keeps_the_names_report_readers_know() -> None:
    """kea: sends commands, kea-sql: writes rows; a dry run says would_*; an HA pair nests peers."""
    api = LoadOutcome(target="kea:unix:///k.sock", sent={"lease4-add": 2}, state="s.json",
                      state_kept=True, resumed=True)
    assert api.to_json() == {"target": "kea:unix:///k.sock", "sent": {"lease4-add": 2},
                             "state": "s.json", "state_kept": True, "resumed": True}
    dry_sql = LoadOutcome(target="kea-sql:postgresql://h/k", dry_run=True, sent={"lease4": 5},
                          sent_unit="rows")
    assert dry_sql.to_json() == {"target": "kea-sql:postgresql://h/k",
                                 "would_write": {"lease4": 5}}
    pair = LoadOutcome(target="ha", sent={"lease4-add": 4}, peers=[api, api])
    assert [p["sent"] for p in pair.to_json()["peers"]] == [{"lease4-add": 2}] * 2
