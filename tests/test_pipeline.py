"""Pipelines: file validation (errors name the key and line) and every shipped pipeline run
against real Kea servers started by the harness."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kea_etl.errors import ConfigError
from kea_etl.pipeline import load_pipeline
from tests.harness.kea import KeaServer

REPO = Path(__file__).resolve().parent.parent
PIPELINES = REPO / "pipelines"


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "p.yaml"
    p.write_text(text)
    return p


def test_unknown_step_key_names_key_and_line(tmp_path: Path) -> None:
    p = _write(tmp_path, "name: x\nsteps:\n  - migrate:\n      sources: [a]\n      to: memfile:o\n"
                         "      kea_confg: k.json\n")
    with pytest.raises(ConfigError) as ei:
        load_pipeline(p, env={})
    assert str(ei.value).startswith(f"{p} line 6: step 'migrate' has no key 'kea_confg'")


def test_missing_required_key_and_unknown_step(tmp_path: Path) -> None:
    p = _write(tmp_path, "steps:\n  - migrate:\n      sources: [a]\n")
    with pytest.raises(ConfigError, match=r"line 2: step 'migrate' needs the key 'to'"):
        load_pipeline(p, env={})
    p = _write(tmp_path, "steps:\n  - load:\n      x: 1\n")
    with pytest.raises(ConfigError, match=r"line 2: unknown step 'load'"):
        load_pipeline(p, env={})


def test_env_interpolation_defaults_and_missing_variable(tmp_path: Path) -> None:
    p = _write(tmp_path, "vars:\n  OUT: o\nsteps:\n  - export:\n      kea: ${URL}\n"
                         "      parquet: ${OUT}/pq\n      warehouse: ${WH:-sqlite:///w.db}\n")
    step = load_pipeline(p, env={"URL": "unix:///s"}).steps[0]
    assert step.options == {"kea": "unix:///s", "parquet": "o/pq", "warehouse": "sqlite:///w.db"}
    # the environment overrides vars
    assert load_pipeline(p, env={"URL": "u", "OUT": "x"}).steps[0].options["parquet"] == "x/pq"
    with pytest.raises(ConfigError) as ei:
        load_pipeline(p, env={})
    assert "line 5: key 'kea' uses ${URL} but the environment variable URL is not set" in str(ei.value)


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    p = _write(tmp_path, "steps:\n  - migrate: {sources: [a\n")
    with pytest.raises(ConfigError, match=r"line \d+: not valid YAML"):
        load_pipeline(p, env={})


def test_secrets_stay_out_of_the_file(tmp_path: Path) -> None:
    # password_env names a variable; the value itself never appears in the pipeline.
    p = _write(tmp_path, "steps:\n  - export:\n      kea: http://127.0.0.1:1\n      username: u\n"
                         "      password_env: KEA_PW\n      parquet: o\n")
    assert load_pipeline(p, env={}).steps[0].options["password_env"] == "KEA_PW"


def _run(pipeline: str, env: dict[str, str], cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env}
    return subprocess.run([sys.executable, "-m", "kea_etl.cli", "run", str(PIPELINES / pipeline),
                           "--json", *extra], capture_output=True, text=True, env=full, cwd=cwd,
                          timeout=300, check=False)


def _steps(proc: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def _link_sample_data(tmp_path: Path) -> None:
    (tmp_path / "sample-data").symlink_to(REPO / "sample-data")


@pytest.mark.kea
def test_isc_to_kea_pipeline_on_real_kea(kea4: KeaServer, tmp_path: Path) -> None:
    _link_sample_data(tmp_path)
    cfg = json.loads((REPO / "sample-data/kea-dhcp4.json").read_text())
    kea4.ok("config-set", {"Dhcp4": {**kea4.config["Dhcp4"], "subnet4": cfg["Dhcp4"]["subnet4"]}})
    env = {"KEA4_URL": kea4.socket_url}
    dry = _run("isc-to-kea.yaml", env, tmp_path, "--dry-run")
    assert kea4.leases() == [], "a dry run must not write"
    proc = _run("isc-to-kea.yaml", env, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    migrate, reconcile = _steps(proc)
    m = migrate["summary"]
    assert isinstance(m, dict)
    assert m["loaded"] == len(kea4.leases()) > 200
    assert m["read"] == m["loaded"] + sum(m["skipped"].values()) + m["failed"]
    r = reconcile["summary"]
    assert isinstance(r, dict)
    assert (r["matched"], r["missing"], r["extra"], r["mismatched"]) == (m["loaded"], 0, 0, 0)
    assert (tmp_path / "out/isc-to-kea/reconcile.html").stat().st_size > 1000
    assert dry.returncode in (0, 1), dry.stderr  # reconcile of an empty Kea: differences
    # a second run changes nothing
    again = _steps(_run("isc-to-kea.yaml", env, tmp_path))[0]["summary"]
    assert isinstance(again, dict)
    assert again["already_present"] == again["loaded"] == m["loaded"]


@pytest.mark.kea
def test_nightly_export_pipeline_on_real_kea(kea4: KeaServer, kea6: KeaServer,
                                             tmp_path: Path) -> None:
    import sqlalchemy as sa

    for i in range(5):
        kea4.ok("lease4-add", {"ip-address": f"192.0.2.{10 + i}", "hw-address": f"02:00:00:00:00:{i:02x}",
                               "valid-lft": 3600})
    kea6.ok("lease6-add", {"ip-address": "2001:db8:1::1001", "duid": "00:01:02:03", "iaid": 7,
                           "valid-lft": 3600})
    env = {"KEA4_URL": kea4.socket_url, "KEA6_URL": kea6.socket_url}
    for _night in range(2):
        proc = _run("nightly-export.yaml", env, tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    engine = sa.create_engine(f"sqlite:///{tmp_path}/out/nightly/warehouse.db")
    with engine.connect() as conn:
        current = conn.execute(sa.text("select count(*) from leases_current")).scalar_one()
        snaps = conn.execute(sa.text("select count(*) from lease_snapshots")).scalar_one()
    assert current == 6
    assert snaps == 6, "re-running the same night must not duplicate snapshot rows"
    assert list((tmp_path / "out/nightly/parquet").rglob("*.parquet"))


@pytest.mark.kea
def test_export_dry_run_prints_a_table(kea4: KeaServer, kea6: KeaServer,
                                       tmp_path: Path) -> None:
    """Was: ``export: ok would_export={'unix:///...': '2.2.0', ...}`` (a Python dict)."""
    env = {**os.environ, "KEA4_URL": kea4.socket_url, "KEA6_URL": kea6.socket_url}
    proc = subprocess.run([sys.executable, "-m", "kea_etl.cli", "run",
                           str(PIPELINES / "nightly-export.yaml"), "--dry-run"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    width = max(len(kea4.socket_url), len(kea6.socket_url))
    assert proc.stdout == (
        "export: ok -- would export DHCPv4/v6 from:\n"
        f"  {'server':<{width}}  Kea\n"
        f"  {kea4.socket_url:<{width}}  {kea4.version}\n"
        f"  {kea6.socket_url:<{width}}  {kea6.version}\n")
    assert not (tmp_path / "out").exists()


@pytest.mark.kea
def test_audit_pipeline_reports_differences(kea4: KeaServer, tmp_path: Path) -> None:
    _link_sample_data(tmp_path)
    cfg = json.loads((REPO / "sample-data/kea-dhcp4.json").read_text())
    kea4.ok("config-set", {"Dhcp4": {**kea4.config["Dhcp4"], "subnet4": cfg["Dhcp4"]["subnet4"]}})
    # Kea holds one lease the source does not know: the audit must say so and exit 1.
    kea4.ok("lease4-add", {"ip-address": "10.101.0.250", "hw-address": "02:00:00:00:00:99",
                           "valid-lft": 3600})
    proc = _run("audit.yaml", {"KEA4_URL": kea4.socket_url}, tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    export, reconcile = _steps(proc)
    assert export["exit_code"] == 0
    r = reconcile["summary"]
    assert isinstance(r, dict)
    assert r["extra"] == 1 and r["matched"] == 0 and r["missing"] > 200
    data = json.loads((tmp_path / "out/audit/reconcile.json").read_text())
    assert [d["address"] for d in data["differences"] if d["category"] == "extra"] == ["10.101.0.250"]


def test_family_key_of_migrate_and_reconcile_steps(tmp_path: Path) -> None:
    """``family`` is a key of migrate and reconcile steps (as --family), and a value other than
    4 or 6 is an error naming the step and its line."""
    from kea_etl.options import MigrateOptions, ReconcileOptions, from_step
    from kea_etl.pipeline import STEP_KEYS

    assert "family" in STEP_KEYS["migrate"][1] and "family" in STEP_KEYS["reconcile"][1]
    assert from_step(ReconcileOptions, {"family": 6}, where="step reconcile").family == "6"
    assert from_step(MigrateOptions, {}, where="step migrate").family is None
    with pytest.raises(ConfigError, match=r"step reconcile \(line 9\): 'family' must be one of "
                                          r"4, 6, not 'v4'"):
        from_step(ReconcileOptions, {"family": "v4"}, where="step reconcile",
                  key_lines={"family": 9})


def test_every_step_kind_has_a_runner() -> None:
    """The runner table is explicit (kind -> function): a kind the loader accepts has one."""
    from kea_etl._pipeline_steps import RUNNERS, run_export, run_migrate, run_reconcile
    from kea_etl.pipeline import STEP_KEYS

    assert set(RUNNERS) == set(STEP_KEYS)
    assert {"export": run_export, "migrate": run_migrate, "reconcile": run_reconcile} == RUNNERS
