"""Typed command options: one dataclass per option group, the single source of its CLI options
and its pipeline YAML keys.

Each field carries an :func:`option` in its metadata: the help text, the command-line flag(s),
the pipeline key (``None``: command line only), a choice list or a range. ``kea_etl.cli``
derives the click options from the fields (:mod:`kea_etl.cli._options`) and
:mod:`kea_etl.pipeline` derives the keys a step accepts and converts their values with
:func:`from_step`, so an option cannot be accepted by one and ignored by the other. Library
code: no click here, and no environment (the caller passes it to e.g.
:meth:`ConnectionOptions.credentials`).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

from kea_etl.errors import ConfigError
from kea_etl.kea.client import DEFAULT_PASSWORD_ENV
from kea_etl.load.memfile import KEA_VERSIONS

if TYPE_CHECKING:
    from kea_etl.kea import KeaClient
    from kea_etl.load.credentials import LiveCredentials

__all__ = ["ConnectionOptions", "ExportOptions", "MigrateOptions", "Option", "ReconcileOptions",
           "check", "cli_name", "element_type", "from_step", "option", "option_fields",
           "required_keys", "unwrap_optional", "yaml_keys"]

_META = "kea_etl.option"
#: ``yaml=SAME``: the pipeline key is the field's name
SAME = "\0same"


@dataclass(frozen=True, slots=True)
class Option:
    """How one field appears on the command line and in a pipeline step."""

    help: str
    #: command-line flags; empty: ``--`` + the field name with ``-`` for ``_``
    flags: tuple[str, ...] = ()
    #: the pipeline key; None: command line only (presentation: progress bars, quiet)
    yaml: str | None = SAME
    metavar: str | None = None
    #: a variable click reads when the flag is absent (click does it, in kea_etl.cli)
    envvar: str | None = None
    choices: tuple[str, ...] = ()
    #: inclusive bounds of an integer option (None: unbounded)
    minimum: int | None = None
    maximum: int | None = None
    show_default: bool = False
    #: required on the command line and in a step
    required: bool = False
    #: the command's positional arguments (``SOURCE...``) rather than a flag
    argument: bool = False
    #: a pipeline value that is not a plain string (a mapping), as the command line writes it
    item: Callable[[Any], str] | None = None


def option(default: Any, help: str, *, flags: tuple[str, ...] = (), yaml: str | None = SAME,
           metavar: str | None = None, envvar: str | None = None, choices: tuple[str, ...] = (),
           minimum: int | None = None, maximum: int | None = None,
           show_default: bool = False, required: bool = False, argument: bool = False,
           item: Callable[[Any], str] | None = None) -> Any:
    """A dataclass field with its :class:`Option` (use as ``name: T = option(default, help)``)."""
    meta = Option(help=help, flags=flags, yaml=yaml, metavar=metavar, envvar=envvar,
                  choices=choices, minimum=minimum, maximum=maximum, show_default=show_default,
                  required=required, argument=argument, item=item)
    return dataclasses.field(default=default, metadata={_META: meta})


def option_fields(cls: type) -> list[tuple[dataclasses.Field[Any], Option, Any]]:
    """(field, its :class:`Option`, its resolved type) for every option field of ``cls``."""
    hints = typing.get_type_hints(cls)
    return [(f, f.metadata[_META], hints[f.name]) for f in dataclasses.fields(cls)
            if _META in f.metadata]


def cli_name(field_name: str) -> str:
    """How the command line names an option in a message: ``--allow-config-write``."""
    return "--" + field_name.replace("_", "-")


def yaml_keys(cls: type) -> dict[str, str]:
    """Pipeline key -> field name, for the fields of ``cls`` a pipeline step accepts."""
    return {(f.name if o.yaml == SAME else o.yaml): f.name for f, o, _ in option_fields(cls)
            if o.yaml is not None}


def required_keys(cls: type) -> set[str]:
    """The pipeline keys a step of ``cls`` cannot go without."""
    required = {f.name for f, o, _ in option_fields(cls) if o.required}
    return {key for key, name in yaml_keys(cls).items() if name in required}


def unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """The type without ``| None``, and whether None was allowed."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return (args[0] if len(args) == 1 else tp), len(args) < len(typing.get_args(tp))
    return tp, False


def _flag(value: Any, where: str) -> bool:
    """A yes/no key: YAML true/false, or the same words after ${VAR} substitution."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0", ""):
        return False
    raise ConfigError(f"{where} must be true or false, not {value!r}")


def element_type(tp: Any) -> tuple[Any, bool]:
    """(the type of one value, whether the field holds several): ``tuple[int, ...]`` ->
    (int, True), ``str | None`` -> (str, False)."""
    base, _ = unwrap_optional(tp)
    if typing.get_origin(base) is tuple:
        return typing.get_args(base)[0], True
    return base, False


def _scalar(value: Any, base: Any, opt: Option, where: str) -> Any:
    if base is bool:
        return _flag(value, where)
    if base is date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise ConfigError(f"{where} must be a date (YYYY-MM-DD), not {value!r}") from None
    if base in (int, float):
        try:
            number = base(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where} must be a number, not {value!r}") from None
        if (opt.minimum is not None and number < opt.minimum) or (
                opt.maximum is not None and number > opt.maximum):
            bounds = f"{opt.minimum if opt.minimum is not None else ''}.." \
                     f"{opt.maximum if opt.maximum is not None else ''}"
            raise ConfigError(f"{where} must be in {bounds}, not {value!r}")
        return number
    try:
        text = opt.item(value) if opt.item is not None else str(value)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if opt.choices and text not in opt.choices:
        raise ConfigError(f"{where} must be one of {', '.join(opt.choices)}, not {value!r}")
    return text


def _convert(value: Any, tp: Any, opt: Option, where: str) -> Any:
    _, nullable = unwrap_optional(tp)
    if value is None and nullable:
        return None
    base, several = element_type(tp)
    if several:  # a key that takes one value or a list
        items = value if isinstance(value, list) else [value]
        return tuple(_scalar(v, base, opt, where) for v in items)
    return _scalar(value, base, opt, where)


def check(options: Any) -> None:
    """Refuse a value outside its field's choices or range, however the options were built
    (command line, pipeline, a library caller): the dataclasses' ``__post_init__``."""
    for f, opt, tp in option_fields(type(options)):
        value = getattr(options, f.name)
        if value is None:
            continue
        for v in (value if element_type(tp)[1] else (value,)):
            if opt.choices and v not in opt.choices:
                raise ConfigError(f"{f.name}: must be one of {', '.join(opt.choices)}, not "
                                  f"{v!r}")
            if isinstance(v, int) and not isinstance(v, bool) and (
                    (opt.minimum is not None and v < opt.minimum)
                    or (opt.maximum is not None and v > opt.maximum)):
                raise ConfigError(f"{f.name}: {v} is out of range")


T = TypeVar("T")


def from_step(cls: type[T], values: Mapping[str, Any], *, where: str,
              key_lines: Mapping[str, int] | None = None) -> T:
    """An instance of ``cls`` from a pipeline step's keys (those of :func:`yaml_keys`; other
    keys are the caller's). A value of the wrong type or outside its choices is a
    :class:`ConfigError` naming the key (and its line when ``key_lines`` has it)."""
    lines = key_lines or {}
    names = {f.name: (o, tp) for f, o, tp in option_fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, name in yaml_keys(cls).items():
        if key in values:
            at = f" (line {lines[key]})" if key in lines else ""
            opt, tp = names[name]
            kwargs[name] = _convert(values[key], tp, opt, f"{where}{at}: '{key}'")
    return cls(**kwargs)


@dataclass(frozen=True, slots=True)
class ConnectionOptions:
    """Who kea-etl is to a running Kea and how long it waits: the same options for every
    command and pipeline step that talks to one (``kea``, ``migrate`` to ``kea:``, ``export``,
    ``reconcile``). Passwords never come from argv: a variable's name or a file."""

    user: str | None = option(None, "Basic-auth user [env KEA_ETL_USER].", metavar="USER",
                              envvar="KEA_ETL_USER", yaml="username")
    password_env: str | None = option(
        None, "Read the password from environment variable VAR "
              f"[default {DEFAULT_PASSWORD_ENV}].", metavar="VAR")
    password_file: str | None = option(None, "Read the password from FILE (first line).",
                                       metavar="FILE")
    ca_file: str | None = option(None, "CA certificate(s) to verify https.", metavar="FILE")
    cert_file: str | None = option(None, "Client certificate (mutual TLS).", metavar="FILE")
    key_file: str | None = option(None, "Private key of --cert-file.", metavar="FILE")
    insecure: bool = option(False, "Do not verify the server's certificate.")
    timeout: float = option(30.0, "Seconds per Kea request.", show_default=True)

    def credentials(self, environ: Mapping[str, str]) -> LiveCredentials:
        """These options over the KEA_ETL_* variables of ``environ`` (the caller's: the CLI
        passes the process's, a pipeline step the one it was loaded with)."""
        from kea_etl.load.credentials import LiveCredentials

        return LiveCredentials.from_options(
            environ, user=self.user, password_env=self.password_env,
            password_file=self.password_file, ca_file=self.ca_file, cert_file=self.cert_file,
            key_file=self.key_file, insecure=self.insecure)

    def given(self) -> list[str]:
        """The flags of the credential options set to something (``timeout`` has a default
        and is not a credential), for "these only apply to ..." messages."""
        return [f"--{f.name.replace('_', '-')}" for f, _, _ in option_fields(type(self))
                if f.name != "timeout" and getattr(self, f.name)]

    def client_factory(self, environ: Mapping[str, str]
                       ) -> Callable[[str, str | None], KeaClient]:
        """``factory(url, service) -> KeaClient`` with these credentials and timeout."""
        creds = self.credentials(environ)
        timeout = self.timeout

        def make(url: str, service: str | None) -> KeaClient:
            return creds.kea_client(url, service=service, timeout=timeout)
        return make




@dataclass(frozen=True, slots=True)
class MigrateOptions:
    """What ``kea-etl migrate`` and a pipeline's ``migrate`` step take (besides the
    :class:`ConnectionOptions` of a live target): sources, targets and the migration policy.
    The library entry is :func:`kea_etl.migration.run`."""

    sources: tuple[str, ...] = option((), "", argument=True, required=True, metavar="SOURCE...")
    to: tuple[str, ...] = option(
        (), "Where to load: memfile:OUTDIR (writes kea-leases4.csv / kea-leases6.csv and "
            "reservations4.json / reservations6.json into OUTDIR); kea:URL (a running Kea: "
            "kea:unix:///PATH, kea:http://HOST:PORT, kea:https://...); "
            "kea-sql:postgresql://USER@HOST/DB or kea-sql:mysql://USER@HOST/DB (Kea's own "
            "database; password from KEA_ETL_DB_PASSWORD). Give --to kea:URL twice for the two "
            "peers of a Kea HA pair: both are loaded and compared.",
        required=True, metavar="TARGET")
    kea_config: tuple[str, ...] = option(
        (), "The target Kea's configuration (a Dhcp4 or Dhcp6 section; comments allowed). "
            "Subnet ids come from it. Repeat it to migrate v4 and v6 in one run.",
        metavar="KEA.json")
    as_of: str | None = option(
        None, "Skip leases that expired before TIME (ISO-8601 with offset, e.g. "
              "2026-11-27T21:00:00Z) [default: now].", metavar="TIME")
    report: str | None = option(
        None, "Write the full report (counts, every problem with file, line and key) here.",
        metavar="REPORT.json")
    #: a pipeline's comes from ``kea-etl run --dry-run``, not from a key
    dry_run: bool = option(False, "Do everything but write the target; only the report is "
                                  "written.", yaml=None)
    abandoned: str = option(
        "skip", "dhcpd's abandoned leases: skip them, or load them as declined (Kea state 1).",
        choices=("skip", "declined"), show_default=True)
    allow_unmapped: bool = option(
        False, "Accept active leases that no subnet of the target holds: report them as "
               "skipped (no-subnet) instead of failed, and exit 0 for them. Their clients lose "
               "their addresses at the cutover.")
    family: str | None = option(
        None, "Move only DHCPv4 (4) or DHCPv6 (6) records; the others are counted skipped "
              "(other-family). For a source holding both (a Windows export, dnsmasq.leases, "
              "kea:URL of a Control Agent) into one daemon.", choices=("4", "6"))
    kea_version: str | None = option(
        None, "memfile: the version of the Kea that will read the files (2.2 writes Kea 2.2's "
              "columns; 2.4 and later add pool_id; known: " + ", ".join(KEA_VERSIONS)
              + ") [default: what the local kea-dhcp4 -V / kea-dhcp6 -V says; with no local "
              "Kea the run stops (exit 2) rather than guess].", metavar="X.Y")
    query: str | None = option(
        None, "For a database URL source: a SELECT statement or a table name.", metavar="SQL")
    mapping: str | None = option(
        None, "Column mapping (YAML/JSON) for csv: and database sources.", metavar="FILE")
    source_tz: str | None = option(
        None, "Time zone of a source's local times without a zone (Windows DHCP Server "
              "exports: required there): an IANA name such as Europe/Berlin, UTC, or +01:00.",
        metavar="ZONE")
    # --- live targets (kea:URL, kea-sql:URL)
    resume: bool = option(
        False, "kea:/kea-sql: continue an interrupted run from its saved state "
               "(REPORT.json.state.sqlite beside --report, else in $XDG_STATE_HOME/kea-etl/ or "
               "~/.local/state/kea-etl/).")
    workers: int | None = option(None, "kea: requests in flight at once [default: 4].",
                                 minimum=1, maximum=64, metavar="N")
    mode: str | None = option(
        None, "kea:/kea-sql: add new leases and hosts only (default: what the target holds for "
              "the same client is kept and reported), or upsert: replace the same client's "
              "lease or host reservation when it differs (lease4-update / lease6-update, "
              "reservation-update).", choices=("add", "upsert"))
    on_conflict: str | None = option(
        None, "kea:/kea-sql: an address held by ANOTHER client: report and leave it (skip, "
              "default) or overwrite it.", choices=("skip", "overwrite"))
    service: str | None = option(
        None, "kea:http://... through kea-ctrl-agent (Kea 2.x): the daemon to talk to. "
              "Basic-auth: --user with --password-env / --password-file.",
        choices=("dhcp4", "dhcp6"))
    # --- failover pairs and HA targets (kea_etl.extract.failover, kea_etl.load.ha / pause)
    failover_pair: bool = option(
        False, "The two ISC lease files among SOURCE are the two peers of a dhcpd failover "
               "pair: merge them into one lease per address (newest state wins; free and backup "
               "never hide the partner's active lease).")
    force: bool = option(
        False, "kea: load even if a target's HA state is unsafe (partner-down, terminated, "
               "maintenance, syncing, ...) or only one peer of an HA pair is named.")
    pause_service: bool = option(
        False, "kea: dhcp-disable every target during the load (Kea re-enables itself after "
               "--pause-max-period if kea-etl dies) and dhcp-enable after, also on failure and "
               "Ctrl-C.")
    pause_max_period: int | None = option(
        None, "max-period of the dhcp-disable sent by --pause-service [default: 300; renewed "
              "while the load runs].", minimum=1, metavar="SECONDS")
    reclaim: bool = option(
        False, "kea: run leases-reclaim on every target after the load, so leases already "
               "expired are reclaimed now.")
    allow_config_write: bool = option(
        False, "kea: let kea-etl change the server's configuration where that is the only place "
               "a host reservation can go (no host_cmds: config-set + config-write; host_cmds "
               "without a hosts database: reservation-add into memory + config-write). Kea "
               "rewrites its configuration file from memory (comments and includes are lost); "
               "the current configuration (config-get) is saved next to --report (or in the "
               "working directory) first. Without it such reservations fail with a reason "
               "naming this flag, and nothing is changed.")
    keep_state: bool = option(
        False, "kea:/kea-sql: keep the run's state file after a completed load (it is removed "
               "then; an interrupted run always keeps it for --resume).")

    def __post_init__(self) -> None:
        check(self)

    @property
    def live(self) -> bool:
        """The targets are running servers or their databases (kea:URL, kea-sql:URL)."""
        return bool(self.to) and self.to[0].startswith(("kea:", "kea-sql:"))


def _server_text(item: Any) -> str:
    # kea_etl.export.targets, imported only when a pipeline has an export step: the export
    # package brings pyarrow, which kea-etl migrate does not need
    from kea_etl.export.targets import server_text

    return server_text(item)


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """What ``kea-etl export`` and a pipeline's ``export`` step take (besides the
    :class:`ConnectionOptions`): the servers, what to read and where to write it. The library
    entry is :func:`kea_etl.export.run`."""

    kea: tuple[str, ...] = option(
        (), "Kea server: unix:///path.sock, http://HOST:PORT (Control Agent: add --service) or "
            "https://... Repeat for several servers. NAME= stores it under a short name (server "
            "column, server= partition, notebook labels; no '/' or '=', one per server; keep "
            "it the same every night) instead of its URL.",
        required=True, metavar="[NAME=]URL", item=_server_text)
    service: tuple[str, ...] = option((), "Daemon(s) behind a Control Agent URL; repeatable.",
                                      choices=("dhcp4", "dhcp6"))
    family: str = option("both", "Which lease families to export.", choices=("4", "6", "both"),
                         show_default=True)
    subnets: tuple[int, ...] = option((), "Export only these subnet ids (repeatable).",
                                      flags=("--subnet",), metavar="ID")
    to: str | None = option(
        None, "SQLAlchemy URL of the warehouse: sqlite:///warehouse.db, "
              "postgresql://user@host/db (password from PGPASSWORD or ~/.pgpass).",
        metavar="URL", yaml="warehouse")
    parquet: str | None = option(
        None, "Also write Parquet under DIR/leases and DIR/stats (partitioned export_date=/"
              "server=).", metavar="DIR")
    csv: str | None = option(None, "Also write CSV files, same layout.", metavar="DIR")
    delta: str | None = option(
        None, "Also keep Delta Lake tables DIR/lease_snapshots (partitioned export_date=/"
              "server=) and DIR/leases_current (MERGE per run), for Spark, Trino, DuckDB (needs "
              "the deltalake package: pip install 'kea-etl[delta]').", metavar="DIR")
    page_size: int = option(1000, "Leases per lease4-get-page / lease6-get-page request.",
                            minimum=1, maximum=100_000, show_default=True)
    export_date: date | None = option(None, "Night to file the snapshot under [default: today, "
                                            "UTC].")
    stats: bool = option(True, "Skip the statistics.", flags=("--no-stats",))
    report: str | None = option(None, "Write the run's report as JSON.", metavar="FILE")

    def __post_init__(self) -> None:
        check(self)

    @property
    def families(self) -> tuple[int, ...]:
        return (4, 6) if self.family == "both" else (int(self.family),)

    @property
    def outputs(self) -> bool:
        """Something to write to: a warehouse, Parquet, CSV or Delta Lake."""
        return bool(self.to or self.parquet or self.csv or self.delta)


@dataclass(frozen=True, slots=True)
class ReconcileOptions:
    """What ``kea-etl reconcile`` and a pipeline's ``reconcile`` step take (besides the
    :class:`ConnectionOptions` of ``kea``): the sources, the Kea side (a server or its files),
    the migration's policy and the reports. The library entry is :func:`kea_etl.reconcile.run`."""

    sources: tuple[str, ...] = option((), "", argument=True, required=True, metavar="SOURCE...",
                                      yaml="source")
    kea: str | None = option(
        None, "The Kea server to check: unix:///path.sock, http://HOST:PORT or https://...",
        metavar="URL")
    against: str | None = option(
        None, "Instead of a server: Kea's lease file (kea-leases4.csv / kea-leases6.csv, read as "
              "Kea loads it), a directory holding it (migrate's --to memfile:OUT), or a kea-etl "
              "export (leases-v4.parquet / .csv). Needs --kea-config.", metavar="PATH")
    service: str | None = option(None, "Daemon behind a Kea 2.x Control Agent URL.",
                                 choices=("dhcp4", "dhcp6"))
    kea_config: str | None = option(
        None, "Target Kea configuration the migration used [default: the server's config-get].",
        metavar="KEA.json")
    as_of: str | None = option(
        None, "Judge expiry as of this UTC time, as the migration did [default: now].",
        metavar="ISO")
    tolerance: int | None = option(None, "Expiry difference still counted equal [default: 2].",
                                   minimum=0, metavar="SECONDS")
    abandoned: str = option("skip", "The migration's policy for abandoned dhcpd leases.",
                            choices=("skip", "declined"), show_default=True)
    allow_unmapped: bool = option(
        False, "As migrate's --allow-unmapped: active source leases that no subnet of the target "
               "holds are skipped (no-subnet) instead of counted missing.")
    family: str | None = option(
        None, "As migrate's --family: compare only DHCPv4 (4) or DHCPv6 (6) records; the others "
              "are counted skipped (other-family). For a source holding both (a pfSense "
              "config.xml, a Windows export, dnsmasq) against one daemon.", choices=("4", "6"))
    query: str | None = option(None, "SELECT or table name for a database SOURCE.",
                               metavar="SQL")
    mapping: str | None = option(None, "Column mapping for a CSV or SQL SOURCE.", metavar="FILE")
    source_tz: str | None = option(
        None, "Time zone of a source's local times without a zone (Windows DHCP Server exports: "
              "required there): an IANA name such as Europe/Berlin, UTC, or +01:00.",
        metavar="ZONE")
    json: str | None = option(None, "Write counts and all differences.", metavar="OUT.json")
    html: str | None = option(None, "Write the self-contained report.", metavar="OUT.html")
    csv: str | None = option(None, "Write the differences, one field a row.", metavar="OUT.csv")
    page_size: int = option(1000, "Leases per lease4-get-page / lease6-get-page request.",
                            minimum=1, maximum=100_000, show_default=True)

    def __post_init__(self) -> None:
        check(self)
