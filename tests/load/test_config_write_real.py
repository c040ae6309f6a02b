"""kea-etl never changes a Kea's configuration unasked (issue 11 part 4).

dhcpd.conf hosts into a Kea without host_cmds (Kea 2.2: config-set + config-write) or with
host_cmds but no hosts database (Kea 3.0: reservation-add into memory + config-write) need a
change of the server's configuration. Without --allow-config-write nothing is changed (the
operator's hand-written file stays byte for byte, config-get stays the same), the hosts fail with
a reason naming the flag and the run exits 1; --dry-run says the same. With the flag the
configuration is saved next to the report first and the summary says where. Real servers only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kea_etl.cli import main

SUBNETS4 = [{"id": 1, "subnet": "192.0.2.0/24", "pools": [{"pool": "192.0.2.10-192.0.2.250"}],
             "reservations": [{"hw-address": "0a:00:00:00:00:01", "ip-address": "192.0.2.5",
                               "hostname": "old"}]}]
HOSTS = """\
subnet 192.0.2.0 netmask 255.255.255.0 {
  host printer { hardware ethernet 02:aa:00:00:00:01; fixed-address 192.0.2.201; }
  host scanner { hardware ethernet 02:aa:00:00:00:02; fixed-address 192.0.2.202; }
}
"""
SERVERS = {"kea2-config-set": {},
           "kea3-host-cmds-memory": {"kea3": True, "hooks": ("lease_cmds", "host_cmds")}}
BY_SERVER = [pytest.param("kea2-config-set"),
             pytest.param("kea3-host-cmds-memory", marks=pytest.mark.kea3)]


def _server(kea_factory: Any, kind: str) -> tuple[Any, bytes]:
    """A server whose configuration file is hand-written (with a comment, as operators keep
    them); returns it and the file's bytes."""
    srv = kea_factory(family=4, subnets=SUBNETS4, **SERVERS[kind])
    path = Path(srv.config_path)
    text = "// hand-written by the operator: keep this comment\n" + path.read_text()
    path.write_text(text)
    return srv, text.encode()


def _migrate(srv: Any, tmp: Path, *extra: str) -> tuple[int, str, dict[str, Any]]:
    conf = tmp / "dhcpd.conf"
    conf.write_text(HOSTS)
    report = tmp / "report.json"
    report.unlink(missing_ok=True)
    res = CliRunner().invoke(main, ["migrate", str(conf), "--to", f"kea:{srv.socket_url}",
                                    "--report", str(report), "--no-progress", *extra],
                             catch_exceptions=False)
    data = json.loads(report.read_text()) if report.exists() else {}
    return res.exit_code, res.output, data


def _hosts_in_kea(srv: Any) -> set[str]:
    body = srv.command("config-get")["arguments"]["Dhcp4"]
    return {h["hw-address"] for s in body["subnet4"] for h in s.get("reservations", [])}


@pytest.mark.kea
@pytest.mark.parametrize("kind", BY_SERVER)
def test_no_config_change_without_the_flag(kea_factory: Any, tmp_path: Path, kind: str) -> None:
    srv, original = _server(kea_factory, kind)
    before = srv.command("config-get")["arguments"]
    for extra in ((), ("--dry-run",)):
        code, out, data = _migrate(srv, tmp_path, *extra)
        assert code == 1, out
        assert "failed: needs --allow-config-write 2" in out
        assert ("2 reservation(s) FAILED: only a change of the Kea configuration could store "
                "them; re-run with --allow-config-write") in out
        failed = [p for p in data["problems"] if p["kind"] == "failed"]
        assert [p["reason"] for p in failed] == ["needs --allow-config-write"] * 2
        assert "--allow-config-write" in failed[0]["detail"]
        sent = data.get("would_send" if extra else "sent") or {}
        assert not {c for c in sent if c.startswith(("config-", "reservation-"))}, sent
        assert Path(srv.config_path).read_bytes() == original  # the file, comment and all
        assert srv.command("config-get")["arguments"] == before
        assert _hosts_in_kea(srv) == {"0a:00:00:00:00:01"}
        assert not list(tmp_path.glob("*kea-config-before*"))


@pytest.mark.kea
@pytest.mark.parametrize("kind", BY_SERVER)
def test_with_the_flag_the_old_config_is_saved_first(kea_factory: Any, tmp_path: Path,
                                                     kind: str) -> None:
    srv, _ = _server(kea_factory, kind)
    before = srv.command("config-get")["arguments"]
    code, out, data = _migrate(srv, tmp_path, "--allow-config-write", "--dry-run")
    assert code == 0, out
    [would] = data["config_backups"]
    assert f"would save the configuration of {srv.socket_url} to {would['path']}" in out
    assert not Path(would["path"]).exists() and _hosts_in_kea(srv) == {"0a:00:00:00:00:01"}

    code, out, data = _migrate(srv, tmp_path, "--allow-config-write")
    assert code == 0, out
    [saved] = data["config_backups"]
    backup = Path(saved["path"])
    assert backup.parent == tmp_path and backup.name.startswith("report.json.kea-config-before-")
    assert f"configuration of {srv.socket_url} before kea-etl changed it: saved in {backup}" in out
    assert json.loads(backup.read_text()) == before  # as it was before anything changed
    assert backup.stat().st_mode & 0o077 == 0  # may hold credentials
    assert _hosts_in_kea(srv) == {"0a:00:00:00:00:01", "02:aa:00:00:00:01", "02:aa:00:00:00:02"}
    saved_file = json.loads(Path(srv.config_path).read_text())  # config-write persisted them
    assert len(saved_file["Dhcp4"]["subnet4"][0]["reservations"]) == 3

    # a second changing run never overwrites the first backup
    (tmp_path / "dhcpd.conf").write_text(HOSTS.replace("192.0.2.202", "192.0.2.203"))
    res = CliRunner().invoke(main, ["migrate", str(tmp_path / "dhcpd.conf"), "--to",
                                    f"kea:{srv.socket_url}", "--report",
                                    str(tmp_path / "report.json"), "--no-progress",
                                    "--allow-config-write", "--mode", "upsert"])
    assert res.exit_code == 0, res.output
    assert len(list(tmp_path.glob("report.json.kea-config-before-*"))) == 2
    assert json.loads(backup.read_text()) == before


@pytest.mark.kea
def test_without_report_the_backup_goes_to_the_working_dir(kea_factory: Any, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    srv, _ = _server(kea_factory, "kea2-config-set")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dhcpd.conf").write_text(HOSTS)
    res = CliRunner().invoke(main, ["migrate", "dhcpd.conf", "--to", f"kea:{srv.socket_url}",
                                    "--no-progress", "--allow-config-write"])
    assert res.exit_code == 0, res.output
    [backup] = tmp_path.glob("kea-etl.kea-config-before-*.json")
    assert f"saved in {backup.name}" in res.output


def test_flag_goes_with_live_targets_only(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["migrate", "x.leases", "--to", f"memfile:{tmp_path}",
                                    "--allow-config-write"])
    assert res.exit_code == 2
    assert "--allow-config-write goes with kea:URL targets" in res.output


@pytest.mark.kea
def test_pipeline_step_takes_allow_config_write(kea_factory: Any, tmp_path: Path) -> None:
    srv, original = _server(kea_factory, "kea2-config-set")
    (tmp_path / "dhcpd.conf").write_text(HOSTS)

    def run(flag: str) -> dict[str, Any]:
        p = tmp_path / "p.yaml"
        p.write_text(f"steps:\n  - migrate:\n      sources: [{tmp_path / 'dhcpd.conf'}]\n"
                     f"      to: kea:{srv.socket_url}\n      report: {tmp_path / 'r.json'}\n"
                     + (f"      allow_config_write: {flag}\n" if flag else ""))
        res = CliRunner().invoke(main, ["run", str(p), "--json"])
        [step] = [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]
        return dict(step)

    refused = run("")
    assert refused["exit_code"] == 1 and refused["summary"]["failed"] == 2, refused
    assert Path(srv.config_path).read_bytes() == original
    done = run("true")
    assert done["exit_code"] == 0, done
    [saved] = done["summary"]["config_backups"]
    assert Path(saved["path"]).parent == tmp_path
    assert _hosts_in_kea(srv) == {"0a:00:00:00:00:01", "02:aa:00:00:00:01", "02:aa:00:00:00:02"}
