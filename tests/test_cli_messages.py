"""Messages that point at the fix (issue 16, part 2): each one was seen by a new user, and each
test pins the exact text that replaced it. Messages about a Kea server are checked against a
real one (tests/kea/test_cli_kea.py: a typo in a command name; tests/load/test_ha_real.py: a
stopped peer)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kea_etl.cli import main
from tests.harness import clock

SAMPLE = clock.SAMPLE_DIR


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def error_line(r: Result) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1, r.output
    assert "Traceback" not in r.output
    return lines[0]


def test_unix_socket_that_is_missing_says_no_such_file() -> None:
    """Was: "cannot read the HA state ... (ha-heartbeat) ...; is the server running?" for a
    site without HA and a wrong path."""
    r = run("migrate", str(SAMPLE / "dhcpd.leases"), "--to", "kea:unix:///nonexistent/kea4.sock",
            "--kea-config", str(SAMPLE / "kea-dhcp4.json"), "--no-progress")
    assert r.exit_code == 2
    assert error_line(r) == (
        "Error: cannot connect to Kea at /nonexistent/kea4.sock: no such file (is Kea running, "
        "is the path right? It is the socket-name of the control socket in Kea's "
        "configuration)")


def test_unix_socket_nobody_listens_on_says_refused(tmp_path: Path) -> None:
    import socket

    path = tmp_path / "kea4.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()  # the socket file stays, nothing listens: what a crashed Kea leaves
    r = run("kea", "version-get", "--url", f"unix://{path}", "--retries", "0")
    assert r.exit_code == 2
    assert error_line(r) == (f"Error: cannot connect to Kea at {path}: connection refused, "
                             "nothing is listening (Kea stopped or restarting?)")


def test_export_to_a_file_name_suggests_the_sqlite_url(tmp_path: Path) -> None:
    """Was: "cannot use database URL <unparsable URL>"."""
    r = run("export", "--kea", "unix:///run/kea/kea4.sock", "--to", f"{tmp_path}/w.db")
    assert r.exit_code == 2
    assert error_line(r) == (f"Error: --to {tmp_path}/w.db is a file name, not a database URL; "
                             f"for a SQLite file write --to sqlite:///{tmp_path}/w.db")
    assert f"sqlite:////{str(tmp_path).lstrip('/')}/w.db" in r.stderr
    r = run("export", "--kea", "unix:///run/kea/kea4.sock", "--to", "w.db")
    assert error_line(r) == ("Error: --to w.db is a file name, not a database URL; for a SQLite "
                             "file write --to sqlite:///w.db")


def test_html_to_a_directory_names_the_path_given(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Was: "cannot write the report .adir.bwt5xaqc" (the temporary file)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "adir").mkdir()
    # --as-of: when the sample was made (its leases expire days later; no clock decides here)
    r = run("migrate", str(SAMPLE / "dhcpd.leases"), "--to", "memfile:out", "--kea-config",
            str(SAMPLE / "kea-dhcp4.json"), "--kea-version", "2.6", "--no-progress",
            "--as-of", clock.iso(clock.SAMPLE_ANCHOR))
    assert r.exit_code in (0, 1), r.output
    r = run("reconcile", str(SAMPLE / "dhcpd.leases"), "--against", "out", "--kea-config",
            str(SAMPLE / "kea-dhcp4.json"), "--html", "adir")
    assert r.exit_code == 2
    assert error_line(r) == "Error: cannot write --html adir: it is a directory (give a file name)"
    r = run("reconcile", str(SAMPLE / "dhcpd.leases"), "--against", "out", "--kea-config",
            str(SAMPLE / "kea-dhcp4.json"), "--html", "no-such-dir/r.html")
    assert r.exit_code == 2
    assert error_line(r) == ("Error: cannot write --html no-such-dir/r.html: No such file or "
                             "directory")
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_a_dhcpd_conf_as_kea_config_is_named(tmp_path: Path) -> None:
    """Was: "... line 5 column 1: not valid JSON (Expecting value)"."""
    conf = str(SAMPLE / "dhcpd.conf")
    r = run("migrate", str(SAMPLE / "dhcpd.leases"), "--to", f"memfile:{tmp_path}/out",
            "--kea-config", conf, "--no-progress")
    assert r.exit_code == 2
    assert error_line(r) == (
        f"Error: Kea config {conf}: this looks like a dhcpd.conf (ISC dhcpd's configuration), "
        "not a Kea configuration (JSON with a Dhcp4 or Dhcp6 section); give the ISC file as a "
        "SOURCE and the target Kea's kea-dhcp4.json / kea-dhcp6.json as --kea-config")
    leases = str(SAMPLE / "dhcpd.leases")
    r = run("migrate", leases, "--to", f"memfile:{tmp_path}/out", "--kea-config", leases,
            "--no-progress")
    assert error_line(r).startswith(f"Error: Kea config {leases}: this looks like a dhcpd lease "
                                    "file, not a Kea configuration")


def test_a_lease_file_given_as_isc_conf_says_so(tmp_path: Path) -> None:
    """Was: 0 read, 0 loaded, exit 0."""
    leases = tmp_path / "dhcpd.leases"
    shutil.copy(SAMPLE / "dhcpd.leases", leases)
    r = run("migrate", f"isc-conf:{leases}", "--to", f"memfile:{tmp_path}/out", "--kea-config",
            str(SAMPLE / "kea-dhcp4.json"), "--kea-version", "2.6", "--no-progress")
    assert r.exit_code == 2
    assert error_line(r) == (
        f"Error: {leases}: the content is a dhcpd lease file (lease / ia-na blocks), not a "
        f"dhcpd.conf; give it as isc-leases:{leases} (or without a prefix)")
