"""One set of connection options for every command and pipeline step: ``migrate`` takes
``--user`` / ``--password-env`` / ``--password-file`` / ``--ca-file`` / ``--cert-file`` /
``--key-file`` / ``--insecure`` / ``--timeout`` as ``kea``, ``export`` and ``reconcile`` do, and
a pipeline step's ``username`` / ``password_env`` / ``password_file`` / ``ca_file`` are used,
not ignored (kea_etl.load.credentials.LiveCredentials.from_options)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from kea_etl._pipeline_steps import _credentials
from kea_etl.cli import main
from kea_etl.errors import ConfigError
from kea_etl.load.credentials import LiveCredentials
from kea_etl.pipeline import Step
from tests.harness import clock
from tests.harness.kea import KeaServer

ENV = {"KEA_ETL_USERNAME": "env-user", "KEA_ETL_PASSWORD": "env-pw", "OTHER_PW": "other",
       "KEA_ETL_CA_FILE": "/env/ca.pem"}


def test_an_option_wins_over_its_variable() -> None:
    c = LiveCredentials.from_options(ENV)
    assert (c.username, c.kea_password(), c.ca_file) == ("env-user", "env-pw", "/env/ca.pem")
    c = LiveCredentials.from_options(ENV, user="admin", password_env="OTHER_PW",
                                     ca_file="/opt/ca.pem", insecure=True)
    assert (c.username, c.kea_password(), c.ca_file, c.insecure) == (
        "admin", "other", "/opt/ca.pem", True)


def test_password_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="NOPE .*not set"):
        LiveCredentials.from_options(ENV, user="admin", password_env="NOPE")
    with pytest.raises(ConfigError, match="need --user"):
        LiveCredentials.from_options({}, password_file="/x")


def test_pipeline_step_keys_are_used() -> None:
    step = Step(kind="migrate", options={"username": "svc", "password_env": "OTHER_PW",
                                         "ca_file": "/nonexistent/ca.pem"}, line=3,
                env=ENV)
    c = _credentials(step)
    assert (c.username, c.kea_password(), c.ca_file) == ("svc", "other", "/nonexistent/ca.pem")


def test_connection_options_with_a_memfile_target_are_refused(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["migrate", str(clock.SAMPLE_DIR / "dhcpd.leases"), "--to",
                                  f"memfile:{tmp_path}", "--kea-config",
                                  str(clock.SAMPLE_DIR / "kea-dhcp4.json"), "--ca-file", "x.pem"])
    assert r.exit_code == 2 and "--ca-file" in r.output, r.output


@pytest.mark.kea3
def test_migrate_over_kea3_http_with_user_and_password_file(
        kea_factory: Callable[..., KeaServer], tmp_path: Path) -> None:
    """A Kea 3 daemon's own HTTP socket behind basic auth: --user + --password-file load the
    sample; a wrong password is Kea's 401, exit 2, nothing sent."""
    subnets = json.loads((clock.SAMPLE_DIR / "kea-dhcp4.json").read_text())["Dhcp4"]["subnet4"]
    srv = kea_factory(family=4, kea3=True, subnets=subnets, http=True, http_auth=True)
    user, password = srv.http_credentials
    pw = tmp_path / "pw"
    pw.write_text(password + "\n")
    leases = clock.rebased_sample("dhcpd.leases", tmp_path)
    base = ["migrate", str(leases), "--to", f"kea:{srv.http_url}", "--no-progress", "--user", user]
    bad = tmp_path / "bad"
    bad.write_text("wrong\n")
    r = CliRunner().invoke(main, [*base, "--password-file", str(bad)])
    assert r.exit_code == 2 and srv.leases() == [], r.output
    r = CliRunner().invoke(main, [*base, "--password-file", str(pw), "--timeout", "20",
                                  "--report", str(tmp_path / "r.json")])
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["loaded"] == len(srv.leases()) > 100
