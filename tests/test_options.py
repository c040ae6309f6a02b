"""One typed option surface per command (kea_etl.options): the click options and the pipeline
step keys are derived from the same dataclass fields, so neither can take a key the other
ignores, and values are checked the same way whichever way they came."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from kea_etl.cli import main
from kea_etl.errors import ConfigError
from kea_etl.options import (
    ConnectionOptions,
    ExportOptions,
    MigrateOptions,
    ReconcileOptions,
    from_step,
    option_fields,
    required_keys,
    yaml_keys,
)
from kea_etl.pipeline import STEP_KEYS, Step, load_pipeline
from tests.harness import clock


def _params(command: str) -> set[str]:
    cmd = main.get_command(click.Context(main), command)
    assert cmd is not None
    return {p.name for p in cmd.params if p.name}


@pytest.mark.parametrize(("command", "classes"), [
    ("migrate", (MigrateOptions, ConnectionOptions)),
    ("export", (ExportOptions, ConnectionOptions)),
    ("reconcile", (ReconcileOptions, ConnectionOptions)),
])
def test_every_field_is_a_click_option_and_every_key_a_field(command: str,
                                                             classes: tuple[type, ...]) -> None:
    params = _params(command)
    for cls in classes:
        assert {f.name for f, _, _ in option_fields(cls)} <= params
        assert set(yaml_keys(cls)) <= STEP_KEYS[command][0] | STEP_KEYS[command][1]


def test_the_migrate_step_takes_exactly_the_fields_of_its_options() -> None:
    required, optional = STEP_KEYS["migrate"]
    assert required == required_keys(MigrateOptions) == {"sources", "to"}
    assert required | optional == set(yaml_keys(MigrateOptions)) | set(yaml_keys(ConnectionOptions))
    # command-line only: presentation and the run's own --dry-run
    assert "dry_run" not in optional and "progress" not in optional
    # what the CLI had and the pipeline silently lacked
    assert {"failover_pair", "pause_service", "reclaim", "keep_state", "force", "cert_file",
            "key_file", "insecure", "timeout"} <= optional
    assert yaml_keys(ConnectionOptions)["username"] == "user"


def test_the_export_step_takes_exactly_the_fields_of_its_options() -> None:
    required, optional = STEP_KEYS["export"]
    assert required == {"kea"}
    assert required | optional == set(yaml_keys(ExportOptions)) | set(yaml_keys(ConnectionOptions))
    assert yaml_keys(ExportOptions)["warehouse"] == "to" and "export_date" in optional
    o = from_step(ExportOptions, {"kea": [{"name": "a", "url": "unix:///a"}, "b=unix:///b"],
                                  "subnets": [1, "2"], "stats": "no", "family": 4,
                                  "export_date": "2026-12-01"}, where="step export")
    assert (o.kea, o.subnets, o.stats, o.families, str(o.export_date)) == (
        ("a=unix:///a", "b=unix:///b"), (1, 2), False, (4,), "2026-12-01")
    with pytest.raises(ConfigError, match=r"step export \(line 3\): 'kea': a server is a URL"):
        from_step(ExportOptions, {"kea": [{"url": "unix:///a", "port": 1}]},
                  where="step export", key_lines={"kea": 3})
    with pytest.raises(ConfigError, match="'service' must be one of dhcp4, dhcp6, not 'd2'"):
        from_step(ExportOptions, {"kea": "unix:///a", "service": ["dhcp4", "d2"]},
                  where="step export")


def test_values_are_converted_and_checked_naming_key_and_line() -> None:
    values = {"sources": "a.leases", "to": ["kea:unix:///a", "kea:unix:///b"], "workers": "8",
              "resume": "yes", "family": 6, "kea_config": ["k4.json"]}
    o = from_step(MigrateOptions, values, where="step migrate")
    assert (o.sources, o.to, o.workers, o.resume, o.family, o.kea_config) == (
        ("a.leases",), ("kea:unix:///a", "kea:unix:///b"), 8, True, "6", ("k4.json",))
    for key, bad, text in (("family", "v4", "must be one of 4, 6, not 'v4'"),
                           ("workers", "many", "must be a number, not 'many'"),
                           ("workers", 0, "must be in 1..64, not 0"),
                           ("resume", "maybe", "must be true or false, not 'maybe'"),
                           ("abandoned", "keep", "must be one of skip, declined")):
        with pytest.raises(ConfigError, match=rf"step migrate \(line 9\): '{key}' {text}"):
            from_step(MigrateOptions, {**values, key: bad}, where="step migrate",
                      key_lines={key: 9})
    conn = from_step(ConnectionOptions, {"username": "svc", "timeout": "5", "insecure": True},
                     where="step export")
    assert conn == ConnectionOptions(user="svc", timeout=5.0, insecure=True)


def test_options_built_in_code_are_checked_too() -> None:
    import kea_etl

    with pytest.raises(ConfigError, match="family: must be one of 4, 6, not '5'"):
        MigrateOptions(sources=("x",), to=("memfile:out",), family="5")
    with pytest.raises(ConfigError, match="workers: 99 is out of range"):
        MigrateOptions(sources=("x",), to=("kea:unix:///x",), workers=99)
    with pytest.raises(ConfigError, match="wokers: not an option of kea_etl.migrate"):
        kea_etl.migrate("x.leases", to="kea:unix:///x", wokers=4)


def test_unknown_key_still_names_key_and_line(tmp_path: Path) -> None:
    p = tmp_path / "p.yaml"
    p.write_text("steps:\n  - migrate:\n      sources: [a]\n      to: memfile:out\n"
                 "      progress: true\n")
    with pytest.raises(ConfigError, match=r"line 5: step 'migrate' has no key 'progress'"):
        load_pipeline(p, env={})


@pytest.mark.parametrize(("extra", "message"), [
    ({"username": "svc"}, "'username': connection options of a kea:URL target, not of memfile:"),
    ({"reclaim": True}, "'pause_service', 'pause_max_period' and 'reclaim' need kea:URL targets"),
    ({"keep_state": "yes"}, "'keep_state' goes with kea:URL and kea-sql:URL targets"),
    ({"allow_config_write": True}, "'allow_config_write' goes with kea:URL targets"),
])
def test_a_migrate_step_refuses_what_its_target_would_ignore(tmp_path: Path, extra: dict[str, object],
                                                            message: str) -> None:
    from kea_etl._pipeline_steps import run_migrate

    options = {"sources": [str(clock.SAMPLE_DIR / "dhcpd.leases")],
               "to": f"memfile:{tmp_path / 'out'}",
               "kea_config": [str(clock.SAMPLE_DIR / "kea-dhcp4.json")], **extra}
    result = run_migrate(Step("migrate", options, 4), dry_run=True)
    assert result.exit_code == 2
    assert message in str(result.summary["error"]), result.summary


@pytest.mark.parametrize("cls", [MigrateOptions, ExportOptions, ReconcileOptions])
def test_every_step_takes_exactly_its_options(cls: type) -> None:
    kind = {MigrateOptions: "migrate", ExportOptions: "export", ReconcileOptions: "reconcile"}[cls]
    required, optional = STEP_KEYS[kind]
    assert required == required_keys(cls)
    assert required | optional == set(yaml_keys(cls)) | set(yaml_keys(ConnectionOptions))


def test_a_reconcile_step_names_its_keys(tmp_path: Path) -> None:
    from kea_etl._pipeline_steps import run_reconcile

    leases = str(clock.SAMPLE_DIR / "dhcpd.leases")
    result = run_reconcile(Step("reconcile", {"source": leases}, 3), dry_run=True)
    assert result.exit_code == 2
    assert "give exactly one of 'kea' URL (a running Kea) or 'against' PATH" in str(
        result.summary["error"])
    result = run_reconcile(Step("reconcile", {"source": leases, "against": str(tmp_path),
                                              "kea_config": "k.json", "username": "svc"}, 3),
                           dry_run=True)
    assert "'username' only apply to 'kea' (a running server), not to 'against'" in str(
        result.summary["error"])


def test_kea_takes_the_shared_connection_options_and_their_variables() -> None:
    from click.testing import CliRunner

    assert {f.name for f, _, _ in option_fields(ConnectionOptions)} <= _params("kea")
    # KEA_ETL_USERNAME applies to kea as to the other commands (README: the same options)
    r = CliRunner().invoke(main, ["kea", "version-get", "--url", "http://127.0.0.1:1",
                                  "--retries", "0"], env={"KEA_ETL_USERNAME": "u",
                                                          "KEA_ETL_PASSWORD": None})
    assert r.exit_code == 2
    assert ("Error: --user u given but no password: set KEA_ETL_PASSWORD, or use --password-env "
            "VAR or --password-file FILE") in r.stderr
