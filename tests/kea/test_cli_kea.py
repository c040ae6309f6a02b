"""``kea-etl kea``: replies on stdout as JSON, one clear line on stderr and the right exit code
for each failure, against real Kea servers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kea_etl.cli import main
from tests.harness.kea import KeaServer, free_port
from tests.kea.test_client_real import SECRET, AuthAgent


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    base: dict[str, str | None] = {"KEA_ETL_URL": None, "KEA_ETL_USER": None,
                                   "KEA_ETL_PASSWORD": None}
    runner = CliRunner(env={**base, **(env or {})})
    return runner.invoke(main, ["kea", *args], input=stdin, catch_exceptions=False)


def one_line(result: Result) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def auth_agent(kea4: KeaServer, tmp_path: Path) -> Iterator[AuthAgent]:
    agent = AuthAgent(kea4, tmp_path)
    yield agent
    agent.close()


# ---------------------------------------------------------------------- success
@pytest.mark.kea
def test_version_get_over_unix_socket(kea4: KeaServer) -> None:
    r = run("version-get", "--url", kea4.socket_url)
    assert r.exit_code == 0, r.output
    reply = json.loads(r.stdout)
    assert reply["result"] == 0 and reply["text"] == kea4.version
    assert "extended" in reply["arguments"]


@pytest.mark.kea
def test_version_get_through_ctrl_agent_url_from_env(kea4_ca: KeaServer) -> None:
    assert kea4_ca.http_url
    r = run("version-get", "--service", "dhcp4", env={"KEA_ETL_URL": kea4_ca.http_url})
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["text"] == kea4_ca.version


@pytest.mark.kea3
def test_version_get_kea3_http(kea3_4: KeaServer) -> None:
    assert kea3_4.http_url
    user, password = kea3_4.http_credentials or ("", "")  # Kea 3.2 requires basic auth
    r = run("version-get", "--url", kea3_4.http_url,
            *(["--user", user] if user else []), env={"KEA_ETL_PASSWORD": password})
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["text"] == kea3_4.version
    assert kea3_4.version.startswith("3.")


@pytest.mark.kea
def test_args_and_args_file_and_empty_result(kea4: KeaServer, tmp_path: Path) -> None:
    add = {"ip-address": "192.0.2.33", "hw-address": "02:00:00:00:00:33", "subnet-id": 1}
    r = run("lease4-add", "--args", json.dumps(add), "--url", kea4.socket_url)
    assert r.exit_code == 0, r.output
    f = tmp_path / "args.json"
    f.write_text(json.dumps({"ip-address": "192.0.2.33"}))
    r = run("lease4-get", "--args-file", str(f), "--url", kea4.socket_url)
    assert r.exit_code == 0
    assert json.loads(r.stdout)["arguments"]["hw-address"] == "02:00:00:00:00:33"
    r = run("lease4-get", "--args-file", "-", "--url", kea4.socket_url,
            stdin='{"ip-address": "192.0.2.34"}')
    assert r.exit_code == 0                      # result 3 (empty) is not a failure
    assert json.loads(r.stdout) == {"result": 3, "text": "Lease not found."}


@pytest.mark.kea
def test_list_groups_by_hook(kea4: KeaServer) -> None:
    r = run("--list", "--url", kea4.socket_url)
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"Kea {kea4.version} at {kea4.socket_url}: ")
    groups = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert "lease4-get-page" in groups["lease_cmds"]
    assert "stat-lease4-get" in groups["stat_cmds"]
    assert "version-get" in groups["built-in"]
    assert "host_cmds" not in groups


# ---------------------------------------------------------------------- failures: one line each
@pytest.mark.kea
def test_kea_error_result_exits_1(kea4: KeaServer) -> None:
    r = run("lease4-add", "--args", '{"ip-address": "192.0.2.40"}', "--url", kea4.socket_url)
    assert r.exit_code == 1
    assert one_line(r).startswith(f"Error: Kea refused lease4-add on {kea4.socket_url}: ")
    assert r.stdout == ""


@pytest.mark.kea
def test_unsupported_command_names_the_hook(kea4: KeaServer) -> None:
    r = run("reservation-add", "--args", '{"reservation": {}}', "--url", kea4.socket_url)
    assert r.exit_code == 1
    assert one_line(r) == (
        f"Error: the Kea server {kea4.socket_url} does not support 'reservation-add': load the "
        "host_cmds hook library (libdhcp_host_cmds.so) [Kea said: 'reservation-add' command "
        "not supported.]")


@pytest.mark.kea
def test_a_typo_is_an_unknown_command_with_a_suggestion(kea4: KeaServer) -> None:
    """Was: "load the lease_cmds hook library", exit 1, for a misspelt lease4-get-all."""
    r = run("lease4-get-al", "--url", kea4.socket_url)
    assert r.exit_code == 2
    assert one_line(r) == (
        f"Error: unknown command 'lease4-get-al': {kea4.socket_url} does not list it "
        "(list-commands) and it is no Kea command kea-etl knows; did you mean lease4-get-all?")
    r = run("no-such-thing", "--url", kea4.socket_url)
    assert r.exit_code == 2
    assert one_line(r) == (
        f"Error: unknown command 'no-such-thing': {kea4.socket_url} does not list it "
        "(list-commands) and it is no Kea command kea-etl knows; 'kea-etl kea --list --url "
        f"{kea4.socket_url}' shows the commands it has")


@pytest.mark.kea
def test_refused_connection() -> None:
    port = free_port()
    r = run("version-get", "--url", f"http://127.0.0.1:{port}", "--retries", "1")
    assert r.exit_code == 2
    assert one_line(r) == (f"Error: connection refused by http://127.0.0.1:{port}: nothing is "
                           "listening there (Kea stopped, or wrong port?)")


@pytest.mark.kea
def test_401(auth_agent: AuthAgent, kea4: KeaServer, tmp_path: Path) -> None:
    r = run("version-get", "--url", auth_agent.url, "--service", "dhcp4", "--user", "u",
            env={"KEA_ETL_PASSWORD": "wrong"})
    assert r.exit_code == 2
    assert one_line(r) == (f"Error: {auth_agent.url} refused the credentials: HTTP 401 "
                           "unauthorized (user 'u'; check --user and the password)")
    # the right password, from a named variable and from a file
    r = run("version-get", "--url", auth_agent.url, "--service", "dhcp4", "--user", "u",
            "--password-env", "MY_KEA_PW", env={"MY_KEA_PW": SECRET})
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["text"] == kea4.version
    pw = tmp_path / "pw"
    pw.write_text(SECRET + "\n")
    r = run("version-get", "--url", auth_agent.url, "--service", "dhcp4", "--user", "u",
            "--password-file", str(pw))
    assert r.exit_code == 0, r.output
    assert SECRET not in r.output


def test_wrong_urls() -> None:
    r = run("version-get", "--url", "ftp://kea:8000")
    assert r.exit_code == 2
    assert one_line(r) == ("Error: cannot use Kea URL 'ftp://kea:8000': write "
                           "unix:///path/to/kea.sock, http://HOST:PORT or https://HOST:PORT")
    r = run("version-get", "--url", "unix:///nonexistent/kea4.sock")
    assert r.exit_code == 2
    assert one_line(r) == ("Error: cannot connect to Kea at /nonexistent/kea4.sock: no such file "
                           "(is Kea running, is the path right? It is the socket-name of the "
                           "control socket in Kea's configuration)")
    r = run("version-get", "--url", "http://u:hunter2@127.0.0.1:8000")
    assert r.exit_code == 2 and "hunter2" not in r.output
    r = run("version-get")
    assert r.exit_code == 2
    assert one_line(r).startswith("Error: no Kea URL: use --url or set KEA_ETL_URL")


def test_usage_errors() -> None:
    r = run("--url", "unix:///x.sock")
    assert r.exit_code == 2 and "give a COMMAND (e.g. version-get) or --list" in r.stderr
    r = run("lease4-get", "--args", "{bad", "--url", "unix:///x.sock")
    assert r.exit_code == 2 and "--args is not valid JSON" in r.stderr
    r = run("version-get", "--url", "http://127.0.0.1:1", "--user", "u")
    assert r.exit_code == 2
    assert one_line(r) == ("Error: --user u given but no password: set KEA_ETL_PASSWORD, or use "
                           "--password-env VAR or --password-file FILE")
    # there is no way to pass a password on the command line
    r = run("version-get", "--url", "http://127.0.0.1:1", "--password", "x", "--retries", "0")
    assert r.exit_code == 2 and "No such option '--password'" in r.stderr


def test_help_has_an_example() -> None:
    r = run("--help")
    assert r.exit_code == 0
    assert "Example:" in r.stdout and "kea-etl kea version-get --url unix://" in r.stdout



def test_importing_the_cli_leaves_the_process_warning_display_alone() -> None:
    """The CLI shows kea-etl's SecurityWarning as one line only while a command runs."""
    import subprocess
    import sys

    code = ("import warnings; before = warnings.showwarning; import kea_etl.cli; "
            "assert warnings.showwarning is before, warnings.showwarning")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
