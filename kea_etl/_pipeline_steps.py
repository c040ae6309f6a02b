"""The step kinds of a pipeline (``migrate``, ``export``, ``reconcile``): YAML options -> library call.

Each runner maps the step's keys (the CLI option names with ``_`` for ``-``) onto the same library
functions the CLI calls, and returns a :class:`~kea_etl.pipeline.StepResult` with the step's exit
code (0 ok, 1 failed records / differences / a server that could not be exported, 2 error) and a
JSON-able summary. Library code: nothing here prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kea_etl import clock
from kea_etl.errors import ConfigError, KeaEtlError
from kea_etl.pipeline import Step, StepResult, _as_list

__all__ = ["run_export", "run_migrate", "run_reconcile"]


def _error(step: Step, exc: KeaEtlError) -> StepResult:
    return StepResult(step.kind, 2, {"error": str(exc), "line": step.line})


def _credentials(step: Step) -> Any:
    """The step's ``username`` / ``password_env`` / ``password_file`` / ``ca_file`` over the
    KEA_ETL_* variables of its environment, as the CLI's connection options."""
    from kea_etl.load.credentials import LiveCredentials

    o = step.options
    return LiveCredentials.from_options(step.env, user=o.get("username"),
                                        password_env=o.get("password_env"),
                                        password_file=o.get("password_file"),
                                        ca_file=o.get("ca_file"))


def _client_factory(step: Step) -> Any:
    creds = _credentials(step)

    def make(url: str, service: str | None) -> Any:
        return creds.kea_client(url, service=service)
    return make


def _flag(step: Step, key: str) -> bool:
    """A yes/no key: YAML true/false, or the same words after ${VAR} substitution."""
    value = step.options.get(key, False)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0", ""):
        return False
    raise ConfigError(f"step {step.kind} (line {step.line}): '{key}' must be true or false, "
                      f"not {value!r}")


def _family(step: Step) -> int | None:
    """A migrate or reconcile step's ``family`` (4 or 6; none: both)."""
    family = step.options.get("family")
    if family not in (None, 4, 6, "4", "6"):
        raise ConfigError(f"step {step.kind} (line {step.line}): family must be 4 or 6, not "
                          f"{family!r}")
    return int(family) if family is not None else None


def _mkdir_for(path: str | None) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def run_migrate(step: Step, dry_run: bool) -> StepResult:
    from kea_etl.load.credentials import SOURCE_PREFIX, LiveCredentials
    from kea_etl.migration import make_loader, migrate, target_subnets
    from kea_etl.report import write_json_atomic
    from kea_etl.transform.subnets import SubnetMap

    o = step.options
    sources: list[Any] = _as_list(o["sources"])
    target = str(o["to"])
    report_path = o.get("report")
    try:
        if target.startswith("memfile:"):
            Path(target.split(":", 1)[1]).mkdir(parents=True, exist_ok=True)
        _mkdir_for(report_path)
        configs = _as_list(o.get("kea_config"))
        subnets = SubnetMap.from_files(configs) if configs else None
        live: dict[str, Any] = {}
        if target.startswith(("kea:", "kea-sql:")):
            live = {"sources": sources, "report_path": report_path,
                    "credentials": _credentials(step),
                    "state_home": step.env.get("XDG_STATE_HOME"),
                    "resume": bool(o.get("resume")) or None, "workers": o.get("workers"),
                    "mode": o.get("mode"), "on_conflict": o.get("on_conflict"),
                    "service": o.get("service")}
        if _flag(step, "allow_config_write"):  # as --allow-config-write: kea: targets only
            if not target.startswith("kea:"):
                raise ConfigError(f"step migrate (line {step.line}): 'allow_config_write' goes "
                                  "with to: kea:URL (a running Kea whose configuration kea-etl "
                                  "may change)")
            live["allow_config_write"] = True
        version = o.get("kea_version")  # None: the local Kea's (kea_etl.load.memfile)
        loader = make_loader(target, subnets=subnets,
                             kea_version=str(version) if version is not None else None,
                             dry_run=dry_run, **live)
        # a live target's own subnets must agree with kea_config before anything is sent
        checked = target_subnets(loader, subnets, missing=f"step migrate (line {step.line}): "
                                 f"'kea_config' is required for to: {target}")
        # a kea: / kea-sql: source's own credentials: KEA_ETL_SOURCE_* of the step's environment
        source_creds = LiveCredentials.from_environ(step.env, prefix=SOURCE_PREFIX)
        if o.get("source_tz"):  # the zone of zone-less local times travels with each source
            from kea_etl.extract import resolve_source

            sources = [resolve_source(str(s), query=o.get("query"), mapping=o.get("mapping"),
                                      source_tz=str(o["source_tz"]), credentials=source_creds)
                       for s in sources]
        report = migrate(sources, loader, subnets=checked, as_of=o.get("as_of"),
                         abandoned="declined" if o.get("abandoned") == "declined" else "skip",
                         query=o.get("query"), mapping=o.get("mapping"),
                         allow_unmapped=_flag(step, "allow_unmapped"),
                         source_credentials=source_creds,
                         family=_family(step))
        report.extra["dry_run"] = dry_run
        if report_path:
            write_json_atomic(report_path, report.to_json())
    except KeaEtlError as exc:
        return _error(step, exc)
    summary = {k: v for k, v in report.to_json().items() if k != "problems"}
    return StepResult("migrate", report.exit_code(), summary, dry_run)


def _export_servers(step: Step) -> list[tuple[str | None, str]]:
    """The export step's ``kea:`` as (name, url) pairs: each item a URL, ``NAME=URL``, or a
    mapping ``{name: NAME, url: URL}``."""
    from kea_etl.export.targets import parse_target

    raw = step.options["kea"]
    out: list[tuple[str | None, str]] = []
    for item in raw if isinstance(raw, list) else [raw]:
        if isinstance(item, dict):
            unknown = set(item) - {"name", "url"}
            if unknown or "url" not in item:
                raise ConfigError(f"a server is a URL, NAME=URL or {{name: NAME, url: URL}}, not "
                                  f"{item!r}")
            name = item.get("name")
            out.append((None if name is None else str(name), str(item["url"])))
        else:
            out.append(parse_target(str(item)))
    return out


def run_export(step: Step, dry_run: bool) -> StepResult:
    from kea_etl.export import run_export as export
    from kea_etl.export.targets import targets_for
    from kea_etl.report import write_json_atomic

    o = step.options
    try:
        targets = targets_for(_export_servers(step), _as_list(o.get("service")))
    except ConfigError as exc:
        return _error(step, ConfigError(f"step export (line {step.key_lines.get('kea', step.line)})"
                                        f": kea: {exc}"))
    fam = str(o.get("family", "both"))
    families = (4, 6) if fam == "both" else (int(fam),)
    if dry_run:
        # Reads only: check every server answers, write nothing.
        try:
            factory = _client_factory(step)
            versions = {t.name: factory(t.url, t.service).version_get() for t in targets}
        except KeaEtlError as exc:
            return _error(step, exc)
        return StepResult("export", 0, {"would_export": versions, "families": list(families)},
                          True)
    try:
        warehouse = o.get("warehouse")
        if isinstance(warehouse, str) and warehouse.startswith("sqlite:///"):
            _mkdir_for(warehouse[len("sqlite:///"):])
        report = export(targets, families=families, warehouse=warehouse,
                        parquet_dir=o.get("parquet"), csv_dir=o.get("csv"),
                        delta_dir=o.get("delta"),
                        page_size=int(o.get("page_size", 1000)),
                        subnets=[int(s) for s in _as_list(o.get("subnets"))] or None,
                        stats=bool(o.get("stats", True)), exported_at=clock.now_datetime(),
                        client_factory=_client_factory(step))
    except KeaEtlError as exc:
        return _error(step, exc)
    data = report.to_json()
    if o.get("report"):
        _mkdir_for(o["report"])
        write_json_atomic(o["report"], data)
    return StepResult("export", report.exit_code(), data)


def run_reconcile(step: Step, dry_run: bool) -> StepResult:
    from kea_etl.export.html_report import write_html
    from kea_etl.export.reconcile import DEFAULT_TOLERANCE, open_sources, reconcile_kea
    from kea_etl.load.credentials import SOURCE_PREFIX, LiveCredentials
    from kea_etl.records import epoch
    from kea_etl.transform.subnets import load_kea_config

    o = step.options
    url = str(o["kea"])
    service = o.get("service")
    try:
        client = _client_factory(step)(url, service)
        config = load_kea_config(o["kea_config"]) if o.get("kea_config") else client.config_get()
        # one source, or a list (leases and a dhcpd.conf: reservations too)
        src = open_sources([str(x) for x in _as_list(o["source"])], query=o.get("query"),
                           mapping=o.get("mapping"),
                           source_tz=str(o["source_tz"]) if o.get("source_tz") else None,
                           credentials=LiveCredentials.from_environ(step.env,
                                                                    prefix=SOURCE_PREFIX))
        result = reconcile_kea(src.items, client, kea_config=config, compare=src.compare,
                               as_of=epoch(o["as_of"]) if o.get("as_of") else None,
                               tolerance=int(o.get("tolerance", DEFAULT_TOLERANCE)),
                               source_name=src.name, server=url,
                               kea_version=client.version_get(),
                               allow_unmapped=_flag(step, "allow_unmapped"),
                               only_family=_family(step))
    except KeaEtlError as exc:
        return _error(step, exc)
    with result:
        if not dry_run:  # a dry run reads both sides but writes no report files
            for key, write in (("json", result.write_json), ("csv", result.write_csv)):
                if o.get(key):
                    _mkdir_for(o[key])
                    write(o[key])
            if o.get("html"):
                _mkdir_for(o["html"])
                write_html(result, o["html"])
        summary = result.summary()
        code = result.exit_code()
    return StepResult("reconcile", code, summary, dry_run)
