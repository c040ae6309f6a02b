"""The step kinds of a pipeline (``migrate``, ``export``, ``reconcile``): YAML options -> library call.

A step's keys are the fields of its command's typed options (:mod:`kea_etl.options`: the CLI
option names with ``_`` for ``-``; ``--user`` is ``username``), so the step and the command
accept the same things; each runner builds those options and calls the library function the CLI
calls (:func:`kea_etl.migration.run`, :func:`kea_etl.export.run`, :func:`kea_etl.reconcile.run`)
through the explicit table :data:`RUNNERS`, and returns a :class:`StepResult` with the step's
exit code (0 ok, 1 failed records / differences / a server that could not be exported, 2 error)
and a JSON-able summary. Library code: nothing here prints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kea_etl import clock
from kea_etl.errors import ConfigError, KeaEtlError
from kea_etl.options import (
    ConnectionOptions,
    ExportOptions,
    MigrateOptions,
    ReconcileOptions,
    from_step,
    required_keys,
    yaml_keys,
)

if TYPE_CHECKING:
    from kea_etl.kea import KeaClient
    from kea_etl.load.credentials import LiveCredentials

T = TypeVar("T")

__all__ = ["RUNNERS", "STEP_KEYS", "Step", "StepResult", "StepRunner", "run_export",
           "run_migrate", "run_reconcile"]


@dataclass(frozen=True)
class Step:
    """One step of a pipeline: its kind, its options (interpolated) and where it was written."""

    kind: str
    options: dict[str, Any]
    line: int
    key_lines: dict[str, int] = field(default_factory=dict)
    #: the environment the pipeline was loaded with (given by the caller, e.g. the CLI): where
    #: a step finds the credentials of a live target
    env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)


@dataclass
class StepResult:
    kind: str
    exit_code: int
    summary: dict[str, Any]
    dry_run: bool = False


def _keys(cls: type) -> tuple[set[str], set[str]]:
    """(required, optional) keys of a step: the fields of its options class and the connection
    options every step takes (all three talk to Kea)."""
    required = required_keys(cls)
    return required, (set(yaml_keys(cls)) | set(yaml_keys(ConnectionOptions))) - required


#: kind -> (required keys, optional keys), derived from the step's typed options
STEP_KEYS: dict[str, tuple[set[str], set[str]]] = {
    "export": _keys(ExportOptions),
    "migrate": _keys(MigrateOptions),
    "reconcile": _keys(ReconcileOptions),
}

StepRunner = Callable[[Step, bool], StepResult]


def _error(step: Step, exc: KeaEtlError) -> StepResult:
    return StepResult(step.kind, 2, {"error": str(exc), "line": step.line})


def _options(step: Step, cls: type[T]) -> T:
    """The typed options ``cls`` of the step's keys (each checked, errors naming key and line)."""
    return from_step(cls, step.options, where=f"step {step.kind}", key_lines=step.key_lines)


def _connection(step: Step) -> ConnectionOptions:
    """The step's ``username`` / ``password_env`` / ... / ``timeout``, as the CLI's connection
    options."""
    return _options(step, ConnectionOptions)


def _credentials(step: Step) -> LiveCredentials:
    """The step's connection options over the KEA_ETL_* variables of its environment."""
    return _connection(step).credentials(step.env)


def _client_factory(step: Step) -> Callable[[str, str | None], KeaClient]:
    return _connection(step).client_factory(step.env)


def _namer(*classes: type) -> Callable[[str], str]:
    """How a message names a field of ``classes``: by its pipeline key, quoted."""
    keys = {name: key for cls in classes for key, name in yaml_keys(cls).items()}
    return lambda name: f"'{keys.get(name, name)}'"


def _mkdir_for(path: str | None) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def run_migrate(step: Step, dry_run: bool) -> StepResult:
    from kea_etl.load.credentials import SOURCE_PREFIX, LiveCredentials
    from kea_etl.migration import prepare
    from kea_etl.report import write_json_atomic

    try:
        o = replace(_options(step, MigrateOptions), dry_run=dry_run)
        conn = _connection(step)
        for target in o.to:
            if target.startswith("memfile:"):
                Path(target.split(":", 1)[1]).mkdir(parents=True, exist_ok=True)
        _mkdir_for(o.report)
        # a kea: / kea-sql: source's own credentials: KEA_ETL_SOURCE_* of the step's environment
        report = prepare(o, connection=conn,
                         credentials=conn.credentials(step.env) if o.live else None,
                         source_credentials=LiveCredentials.from_environ(step.env,
                                                                         prefix=SOURCE_PREFIX),
                         state_home=step.env.get("XDG_STATE_HOME"),
                         name=_namer(MigrateOptions, ConnectionOptions)).run()
        if o.report:
            write_json_atomic(o.report, report.to_json())
    except KeaEtlError as exc:
        return _error(step, exc)
    summary = {k: v for k, v in report.to_json().items() if k != "problems"}
    return StepResult("migrate", report.exit_code(), summary, dry_run)


def run_export(step: Step, dry_run: bool) -> StepResult:
    from kea_etl.export import run as export
    from kea_etl.export.targets import targets_of
    from kea_etl.report import write_json_atomic

    try:
        o = _options(step, ExportOptions)
        factory = _client_factory(step)
    except KeaEtlError as exc:
        return _error(step, exc)
    try:
        targets = targets_of(o)
    except ConfigError as exc:
        return _error(step, ConfigError(f"step export (line {step.key_lines.get('kea', step.line)})"
                                        f": kea: {exc}"))
    if dry_run:
        # Reads only: check every server answers, write nothing.
        try:
            versions = {t.name: factory(t.url, t.service).version_get() for t in targets}
        except KeaEtlError as exc:
            return _error(step, exc)
        return StepResult("export", 0, {"would_export": versions, "families": list(o.families)},
                          True)
    try:
        if o.to and o.to.startswith("sqlite:///"):
            _mkdir_for(o.to[len("sqlite:///"):])
        report = export(o, client_factory=factory, exported_at=clock.now_datetime())
    except KeaEtlError as exc:
        return _error(step, exc)
    data = report.to_json()
    if o.report:
        _mkdir_for(o.report)
        write_json_atomic(o.report, data)
    return StepResult("export", report.exit_code(), data)


def run_reconcile(step: Step, dry_run: bool) -> StepResult:
    from kea_etl.load.credentials import SOURCE_PREFIX, LiveCredentials
    from kea_etl.reconcile import run as reconcile
    from kea_etl.reconcile import write_html

    name = _namer(ReconcileOptions, ConnectionOptions)
    try:
        o = _options(step, ReconcileOptions)
        conn = _connection(step)
        server_only = [f for f in ("service",) if getattr(o, f)] + [
            f.removeprefix("--").replace("-", "_") for f in conn.given()]
        if o.against is not None and server_only:
            raise ConfigError(f"{', '.join(map(name, server_only))} only apply to 'kea' (a "
                              "running server), not to 'against'")
        result = reconcile(o, client_factory=conn.client_factory(step.env),
                           source_credentials=LiveCredentials.from_environ(step.env,
                                                                           prefix=SOURCE_PREFIX),
                           name=name)
    except KeaEtlError as exc:
        return _error(step, exc)
    with result:
        if not dry_run:  # a dry run reads both sides but writes no report files
            for path, write in ((o.json, result.write_json), (o.csv, result.write_csv),
                                (o.html, lambda p: write_html(result, p))):
                if path:
                    _mkdir_for(path)
                    write(path)
        summary = result.summary()
        code = result.exit_code()
    return StepResult("reconcile", code, summary, dry_run)


#: step kind -> its runner; a kind of STEP_KEYS without a runner is caught by the tests
RUNNERS: dict[str, StepRunner] = {
    "export": run_export,
    "migrate": run_migrate,
    "reconcile": run_reconcile,
}
