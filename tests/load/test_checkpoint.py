"""The checkpoint store: durable per-record outcomes, fingerprints, no credentials."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kea_etl.errors import ConfigError
from kea_etl.load.checkpoint import (
    Checkpoint,
    Outcome,
    count_outcome,
    default_state_path,
    fingerprint,
    record_key,
    redact_url,
)
from kea_etl.records import Lease4, Lease6, Reservation
from kea_etl.report import RunReport


def test_redact_url_strips_userinfo_and_query() -> None:
    assert redact_url("kea:http://admin:s3cret@127.0.0.1:8000/") == "kea:http://127.0.0.1:8000/"
    assert redact_url("kea-sql:postgresql://kea:pw@db/kea?sslpassword=x") == \
        "kea-sql:postgresql://db/kea"
    assert redact_url("kea:unix:///run/kea/kea4.sock") == "kea:unix:///run/kea/kea4.sock"


def test_fingerprint_changes_with_input_target_and_options(tmp_path: Path) -> None:
    src = tmp_path / "dhcpd.leases"
    src.write_text("x")
    fp = fingerprint([str(src)], "kea:unix:///a.sock", {"mode": "add"})
    assert fp == fingerprint([str(src)], "kea:unix:///a.sock", {"mode": "add"})
    assert fp != fingerprint([str(src)], "kea:unix:///b.sock", {"mode": "add"})
    assert fp != fingerprint([str(src)], "kea:unix:///a.sock", {"mode": "upsert"})
    src.write_text("xy")
    assert fp != fingerprint([str(src)], "kea:unix:///a.sock", {"mode": "add"})
    # the password is not part of a run's identity (and never stored)
    assert fingerprint([str(src)], "kea:http://u:one@h/", {}) == \
        fingerprint([str(src)], "kea:http://u:two@h/", {})


def test_record_resume_and_refusals(tmp_path: Path) -> None:
    path = tmp_path / "r.json.state.sqlite"
    assert default_state_path(tmp_path / "r.json") == path
    with pytest.raises(ConfigError, match="no saved progress"):
        Checkpoint(path, "fp1", resume=True)
    cp = Checkpoint(path, "fp1", resume=False, target="kea:http://admin:pw@h:8000/")
    cp.record([Outcome("4:192.0.2.1", "loaded"),
               Outcome("4:192.0.2.2", "conflict", "conflict", "held by aa", "f", 7)])
    cp.close()
    again = Checkpoint(path, "fp1", resume=True)
    got = again.lookup(["4:192.0.2.1", "4:192.0.2.2", "4:192.0.2.3"])
    assert set(got) == {"4:192.0.2.1", "4:192.0.2.2"}
    assert got["4:192.0.2.2"] == Outcome("4:192.0.2.2", "conflict", "conflict", "held by aa",
                                         "f", 7)
    assert again.counts() == {"loaded": 1, "conflict": 1}
    again.close()
    with pytest.raises(ConfigError, match="belongs to a different run"):
        Checkpoint(path, "fp2", resume=True)
    # no credentials anywhere in the file
    assert b"pw@" not in path.read_bytes() and b":pw" not in path.read_bytes()
    # a fresh (non-resume) run starts over
    fresh = Checkpoint(path, "fp2", resume=False)
    assert fresh.lookup(["4:192.0.2.1"]) == {}
    fresh.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_count_outcome_reproduces_the_report() -> None:
    report = RunReport(read=4)
    for o in (Outcome("a", "loaded"), Outcome("b", "already_present"),
              Outcome("c", "conflict", "conflict", "x"), Outcome("d", "failed", "Kea refused", "t"),
              ):
        count_outcome(report, o)
    assert (report.loaded, report.already_present, report.failed, report.conflicts) == \
        (2, 1, 2, 1)
    assert report.balanced()


def test_record_keys_distinguish_families_and_hosts() -> None:
    l4 = Lease4(address="192.0.2.1", hwaddr="aa:bb:cc:dd:ee:ff", valid_lft=1, cltt=1)
    pd = Lease6(address="2001:db8::", duid="01:02", iaid=1, valid_lft=1, cltt=1,
                lease_type="IA_PD", prefix_len=56)
    host = Reservation(family=4, identifier_type="hw-address", identifier="aa:bb:cc:dd:ee:ff",
                       subnet_id=1)
    assert [record_key(x) for x in (l4, pd, host)] == [
        "4:192.0.2.1", "6:2001:db8::/56", "h4:hw-address=aa:bb:cc:dd:ee:ff@1"]
