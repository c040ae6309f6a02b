"""``kea-etl migrate``: ISC dhcpd (or CSV, SQL, Kea memfile) leases and hosts into Kea.

Thin layer over :func:`kea_etl.migration.migrate`: parse options, build the subnet map and the
loader, draw a tqdm bar on a terminal, print a one-screen summary, write the report. Exit codes
(README "Exit codes"): 0 every active source lease is in Kea (or explicitly allowed), 1 some
records failed (an active lease without a target subnet among them), 2 usage or configuration
error.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import click

from kea_etl.cli import StrictCommand, main
from kea_etl.cli._progress import Bars, human
from kea_etl.cli.export_cmd import connection_options, credentials
from kea_etl.errors import InvalidValueError, KeaEtlError
from kea_etl.extract import Source, resolve_source
from kea_etl.extract.failover import FailoverSource, failover_sources
from kea_etl.load.base import Resumable
from kea_etl.load.credentials import SOURCE_PREFIX, LiveCredentials
from kea_etl.load.ha import make_targets_loader, window_summary
from kea_etl.load.lease_backup import LeaseBackup
from kea_etl.load.memfile import KEA_VERSIONS
from kea_etl.load.pause import DEFAULT_MAX_PERIOD, ServiceWindow
from kea_etl.load.reservations import NEEDS_CONFIG_WRITE
from kea_etl.migration import migrate, target_subnets
from kea_etl.records import epoch
from kea_etl.report import RunReport, write_json_atomic
from kea_etl.terminal import echo, printable
from kea_etl.transform.subnets import SubnetMap

EXIT_USAGE = 2
_SHOW_PROBLEMS = 5
_SHOW_UNMAPPED = 20


def _fail(message: str) -> None:
    echo(f"Error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def _target_lines(report: RunReport, dry_run: bool) -> list[str]:
    """What the run did (or would do) to the target beyond records: the memfile format it
    chose and why, a Kea configuration saved before it was changed, hosts that needed one."""
    lines = []
    outputs = report.extra.get("outputs")
    if isinstance(outputs, dict) and outputs.get("kea_version_from"):
        lines.append(f"  memfile format: Kea {outputs['kea_version']} (from "
                     f"{outputs['kea_version_from']})")
    for b in report.extra.get("config_backups") or []:
        if dry_run:
            lines.append(f"  would save the configuration of {b['server']} to {b['path']} "
                         "before changing it (--allow-config-write)")
        else:
            lines.append(f"  configuration of {b['server']} before kea-etl changed it: saved in "
                         f"{b['path']}")
    for saved in report.extra.get("lease_backups") or []:
        lines.append(LeaseBackup(**saved).summary())
    refused = report.failed_reasons.get(NEEDS_CONFIG_WRITE, 0)
    if refused:
        lines.append(f"  {refused} reservation(s) FAILED: only a change of the Kea configuration "
                     "could store them; re-run with --allow-config-write to allow it (the "
                     "current configuration is saved first)")
    return lines


def _top(counts: dict[str, int], n: int = 6) -> str:
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{k} {v}" for k, v in items[:n])
    return shown + (f", ... ({len(items) - n} more)" if len(items) > n else "")


def _unmapped_lines(report: RunReport) -> list[str]:
    """Active leases the target has no subnet for, by source prefix, with the verdict."""
    if not report.unmapped:
        return []
    total = sum(report.unmapped.values())
    if report.allow_unmapped:
        head = (f"  no subnet in the target: {total} active lease(s) SKIPPED (--allow-unmapped "
                "was given); these clients lose their addresses:")
    else:
        head = (f"  no subnet in the target: {total} active lease(s) FAILED (add the subnets to "
                "the target, or accept the loss with --allow-unmapped):")
    items = sorted(report.unmapped.items(), key=lambda kv: (-kv[1], kv[0]))
    lines = [head, *(f"    {prefix}: {n}" for prefix, n in items[:_SHOW_UNMAPPED])]
    if len(items) > _SHOW_UNMAPPED:
        lines.append(f"    ... {len(items) - _SHOW_UNMAPPED} more prefixes (the report lists "
                     "all)")
    return lines


def _summary(report: RunReport, seconds: float, report_path: str | None, dry_run: bool) -> str:
    rate = report.read / seconds if seconds > 0 else 0.0
    # "loaded" counts what the target gets from this run; what it held already is apart (a
    # re-run printed "274 loaded" beside "already present 274", the same records twice)
    new = report.loaded - report.already_present
    already = (f"{human(report.already_present)} already present, " if report.already_present
               else "")
    lines = [f"kea-etl migrate: {human(report.read)} read, {human(new)} "
             f"{'to load' if dry_run else 'loaded'}, {already}"
             f"{human(report.skipped_total)} skipped, {human(report.failed)} failed, "
             f"{human(report.warnings_total)} statement(s) not translated "
             f"({seconds:.1f} s, {rate:,.0f} records/s)"]
    if report.skipped:
        lines.append(f"  skipped: {_top(dict(report.skipped))}")
    if report.failed_reasons:
        lines.append(f"  failed: {_top(dict(report.failed_reasons))}")
    lines.extend(_unmapped_lines(report))
    warned = report.extra.get("warnings") or {}
    if warned:
        lines.append(f"  warnings (loaded anyway): {_top(warned)}")
    if report.warnings:
        more = report.warnings_total - _SHOW_PROBLEMS
        lines.append("  not translated (every one is in the report's source_warnings):")
        lines.extend(f"    {w}" for w in report.warnings[:_SHOW_PROBLEMS])
        if more > 0:
            lines.append(f"    ... and {more} more")
    shown = [p for p in report.problems if p.kind != "skipped"][:_SHOW_PROBLEMS]
    if shown:
        lines.append("  first problems:")
        lines.extend(f"    {printable(str(p))}" for p in shown)  # input text: escaped
    outputs = report.extra.get("outputs", {})
    files = outputs.get("files", {}) if isinstance(outputs, dict) else {}
    verb = "would write" if dry_run else "wrote"
    live_keys = ("sent", "would_send", "written", "would_write")
    if isinstance(outputs, dict) and any(k in outputs for k in live_keys):  # kea: / kea-sql:
        sent: dict[str, int] = next((outputs[k] for k in live_keys if k in outputs), {}) or {}
        lines.append(f"  {'would send' if dry_run else 'sent'}: "
                     + (", ".join(f"{c} x{human(n)}" for c, n in sorted(sent.items()))
                        or "nothing")
                     + (f"; already in the target (nothing sent): "
                        f"{human(report.already_present)}" if report.already_present else "")
                     + (f"; conflicts: {human(report.conflicts)}" if report.conflicts else ""))
        if report.loaded and report.already_present == report.loaded and not any(
                sent.values()):
            lines.append("  nothing " + ("would change" if dry_run else "changed")
                         + ": the target already holds every record")
        state = outputs.get("state")
        if state and outputs.get("state_kept"):
            lines.append(f"  state kept (--keep-state): {state}")
    elif files:
        lines.append(f"  {verb}: " + ", ".join(f"{path} ({n} records)" for path, n in files.items()))
    else:
        lines.append(f"  {verb}: nothing (no record was loaded)")
    lines.extend(_target_lines(report, dry_run))
    if report_path:
        lines.append(f"  report: {report_path}")
    if dry_run:
        lines.append("  DRY RUN: nothing was written" + (" except the report." if report_path
                                                          else "."))
    return "\n".join(lines)


class _MigrateCommand(StrictCommand):
    """Keeps the arguments as given, for the exact command a Ctrl-C message says to re-run."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["kea_etl.argv"] = list(args)
        return super().parse_args(ctx, args)


def _resume_command(ctx: click.Context) -> str:
    argv = [a for a in ctx.meta.get("kea_etl.argv", []) if a != "--resume"]
    return shlex.join(["kea-etl", "migrate", *argv, "--resume"])


def _state_paths(loader: Any) -> list[Path]:
    """The checkpoint file(s) of a live loader (one per HA peer; inside a ServiceWindow)."""
    return loader.state_paths() if isinstance(loader, Resumable) else []


def _saved(paths: list[Path]) -> int | None:
    """Records whose outcome the state file(s) hold (the first peer's for an HA pair)."""
    import sqlite3

    for path in paths[:1]:
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                return int(db.execute("SELECT count(*) FROM outcome").fetchone()[0])
            finally:
                db.close()
        except sqlite3.Error:
            return None
    return None


def _interrupted(ctx: click.Context, target: str, loader: Any, bars: Bars | None) -> None:
    last = bars.last.get("migrate") if bars is not None else None
    read = dict(last.counts).get("read", 0) if last is not None else 0
    if not target.startswith(("kea:", "kea-sql:")):
        echo(f"Interrupted after {human(read)} records read: no report written; a memfile target "
             "keeps its old files (nothing to resume: run the command again).", err=True)
        sys.exit(130)
    paths = _state_paths(loader)
    done = _saved(paths)
    if not paths or done is None:
        echo(f"Interrupted after {human(read)} records read: no report written; nothing was "
             "saved to resume from (run the command again).", err=True)
        sys.exit(130)
    echo(f"Interrupted: {human(done)} records done and saved in {paths[0]}"
         + (f" (and {', '.join(map(str, paths[1:]))})" if len(paths) > 1 else "")
         + "; no report written. Resume with:", err=True)
    echo(f"  {_resume_command(ctx)}", err=True)
    sys.exit(130)


@main.command("migrate", cls=_MigrateCommand)
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option("--to", "targets", required=True, multiple=True, metavar="TARGET",
              help="Where to load: memfile:OUTDIR (writes kea-leases4.csv / kea-leases6.csv and "
                   "reservations4.json / reservations6.json into OUTDIR); kea:URL (a running Kea: "
                   "kea:unix:///PATH, "
                   "kea:http://HOST:PORT, kea:https://...); kea-sql:postgresql://USER@HOST/DB or "
                   "kea-sql:mysql://USER@HOST/DB (Kea's own database; password from "
                   "KEA_ETL_DB_PASSWORD). Give --to kea:URL twice for the two peers of a Kea HA "
                   "pair: both are loaded and compared.")
@click.option("--kea-config", "kea_configs", multiple=True, metavar="KEA.json",
              help="The target Kea's configuration (a Dhcp4 or Dhcp6 section; comments allowed). "
                   "Subnet ids come from it. Repeat it to migrate v4 and v6 in one run.")
@click.option("--as-of", metavar="TIME",
              help="Skip leases that expired before TIME (ISO-8601 with offset, e.g. "
                   "2026-11-27T21:00:00Z) [default: now].")
@click.option("--report", "report_path", metavar="REPORT.json",
              help="Write the full report (counts, every problem with file, line and key) here.")
@click.option("--dry-run", is_flag=True, help="Do everything but write the target; only the report "
                                               "is written.")
@click.option("--abandoned", type=click.Choice(["skip", "declined"]), default="skip",
              show_default=True,
              help="dhcpd's abandoned leases: skip them, or load them as declined (Kea state 1).")
@click.option("--allow-unmapped", is_flag=True,
              help="Accept active leases that no subnet of the target holds: report them as "
                   "skipped (no-subnet) instead of failed, and exit 0 for them. Their clients "
                   "lose their addresses at the cutover.")
@click.option("--family", type=click.Choice(["4", "6"]), default=None,
              help="Move only DHCPv4 (4) or DHCPv6 (6) records; the others are counted skipped "
                   "(other-family). For a source holding both (a Windows export, dnsmasq.leases, "
                   "kea:URL of a Control Agent) into one daemon.")
@click.option("--kea-version", metavar="X.Y", default=None,
              help="memfile: the version of the Kea that will read the files (2.2 writes Kea "
                   "2.2's columns; 2.4 and later add pool_id; known: " + ", ".join(KEA_VERSIONS)
                   + ") [default: what the local kea-dhcp4 -V / kea-dhcp6 -V says; with no "
                   "local Kea the run stops (exit 2) rather than guess].")
@click.option("--query", metavar="SQL",
              help="For a database URL source: a SELECT statement or a table name.")
@click.option("--mapping", metavar="FILE",
              help="Column mapping (YAML/JSON) for csv: and database sources.")
@click.option("--source-tz", metavar="ZONE",
              help="Time zone of a source's local times without a zone (Windows DHCP Server "
                   "exports: required there): an IANA name such as Europe/Berlin, UTC, or +01:00.")
# --- live targets (kea:URL, kea-sql:URL) -----------------------------------------------------
@click.option("--resume", is_flag=True,
              help="kea:/kea-sql: continue an interrupted run from its saved state "
                   "(REPORT.json.state.sqlite beside --report, else in $XDG_STATE_HOME/kea-etl/ "
                   "or ~/.local/state/kea-etl/).")
@click.option("--workers", type=click.IntRange(1, 64), default=None, metavar="N",
              help="kea: requests in flight at once [default: 4].")
@click.option("--mode", type=click.Choice(["add", "upsert"]), default=None,
              help="kea:/kea-sql: add new leases and hosts only (default: what the target "
                   "holds for the same client is kept and reported), or upsert: replace the same "
                   "client's lease or host reservation when it differs (lease4-update / "
                   "lease6-update, reservation-update).")
@click.option("--on-conflict", "on_conflict", type=click.Choice(["skip", "overwrite"]),
              default=None, help="kea:/kea-sql: an address held by ANOTHER client: report and "
                                 "leave it (skip, default) or overwrite it.")
@click.option("--service", type=click.Choice(["dhcp4", "dhcp6"]), default=None,
              help="kea:http://... through kea-ctrl-agent (Kea 2.x): the daemon to talk to. "
                   "Basic-auth password from KEA_ETL_PASSWORD or KEA_ETL_PASSWORD_FILE.")
# --- failover pairs and HA targets (kea_etl.extract.failover, kea_etl.load.ha / pause) -------
@click.option("--failover-pair", is_flag=True,
              help="The two ISC lease files among SOURCE are the two peers of a dhcpd failover "
                   "pair: merge them into one lease per address (newest state wins; free and "
                   "backup never hide the partner's active lease).")
@click.option("--force", is_flag=True,
              help="kea: load even if a target's HA state is unsafe (partner-down, terminated, "
                   "maintenance, syncing, ...) or only one peer of an HA pair is named.")
@click.option("--pause-service", is_flag=True,
              help="kea: dhcp-disable every target during the load (Kea re-enables itself after "
                   "--pause-max-period if kea-etl dies) and dhcp-enable after, also on failure "
                   "and Ctrl-C.")
@click.option("--pause-max-period", type=click.IntRange(1, None), default=None, metavar="SECONDS",
              help="max-period of the dhcp-disable sent by --pause-service [default: 300; "
                   "renewed while the load runs].")
@click.option("--reclaim", is_flag=True,
              help="kea: run leases-reclaim on every target after the load, so leases already "
                   "expired are reclaimed now.")
@click.option("--allow-config-write", is_flag=True,
              help="kea: let kea-etl change the server's configuration where that is the only "
                   "place a host reservation can go (no host_cmds: config-set + config-write; "
                   "host_cmds without a hosts database: reservation-add into memory + "
                   "config-write). Kea rewrites its configuration file from memory (comments "
                   "and includes are lost); the current configuration (config-get) is saved "
                   "next to --report (or in the working directory) first. Without it such "
                   "reservations fail with a reason naming this flag, and nothing is changed.")
@click.option("--keep-state", is_flag=True,
              help="kea:/kea-sql: keep the run's state file after a completed load (it is "
                   "removed then; an interrupted run always keeps it for --resume).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bars: phase, done/total (bytes of the source files), percentage, "
                   "current rate and ETA [default: when stderr is a terminal].")
@click.option("--quiet", "-q", is_flag=True,
              help="Print only the summary (for cron): no progress bars.")
@click.pass_context
@connection_options
def migrate_cmd(ctx: click.Context, sources: tuple[str, ...], targets: tuple[str, ...],
                kea_configs: tuple[str, ...],
                as_of: str | None, report_path: str | None, dry_run: bool, abandoned: str,
                kea_version: str | None, query: str | None, mapping: str | None,
                allow_config_write: bool,
                progress: bool | None, resume: bool = False, workers: int | None = None,
                mode: str | None = None, on_conflict: str | None = None,
                service: str | None = None, failover_pair: bool = False, force: bool = False,
                pause_service: bool = False, pause_max_period: int | None = None,
                reclaim: bool = False, allow_unmapped: bool = False, keep_state: bool = False,
                quiet: bool = False, source_tz: str | None = None,
                family: str | None = None, **conn: Any) -> None:
    """Migrate leases and host reservations from ISC dhcpd (or CSV, SQL, another Kea) into Kea.

    SOURCE is a file whose format is detected from its content, FORMAT:PATH with FORMAT one of
    isc-leases, isc-conf, csv, kea-memfile, dnsmasq (dnsmasq.leases or a dnsmasq configuration's
    dhcp-host lines), pfsense (a pfSense / OPNsense config.xml's static mappings), windows
    (Windows DHCP Server: Export-DhcpServer -Leases XML or a DhcpServer cmdlet's Export-Csv, with
    --source-tz), or a SQLAlchemy database URL used with --query. Another Kea: kea:URL (a running
    server's leases and reservations; URL#leases, #reservations, #dhcp4, #dhcp6 pick parts) or
    kea-sql:postgresql://USER@HOST/DB / kea-sql:mysql://... (its database); their credentials
    come from KEA_ETL_SOURCE_PASSWORD, KEA_ETL_SOURCE_DB_PASSWORD and the other
    KEA_ETL_SOURCE_* variables, not the target's.

    \b
    Example:
      kea-etl migrate dhcpd.leases dhcpd6.leases dhcpd.conf --to memfile:out \\
          --kea-config kea-dhcp4.json --kea-config kea-dhcp6.json --report report.json

    \b
    A dhcpd failover pair into a Kea HA pair, with DHCP paused during the load:
      kea-etl migrate --failover-pair peer1/dhcpd.leases peer2/dhcpd.leases \\
          --to kea:http://10.0.0.1:8000 --to kea:http://10.0.0.2:8000 --service dhcp4 \\
          --pause-service --reclaim --report report.json

    An active lease that no subnet of the target contains fails: the summary names each
    source prefix (/24, /64, delegated prefix) with its count; --allow-unmapped accepts them.
    A source of a family the target has no configuration for (dhcpd6.leases to a DHCPv4 Kea)
    and, for a live target, a --kea-config whose subnets the server lacks or numbers otherwise
    (config-get) stop the run before anything is sent (exit 2).

    Before a live run (kea:URL, not --dry-run) changes a server's leases, the server saves them
    with lease4-write / lease6-write where it lists the command: Kea writes
    REPORT.json.kea-leasesN-before-TIME.csv next to the report, or into its data directory where
    its path restrictions (Kea 2.6.3+, 3.x) allow nothing else; the summary says where (Kea 2.2
    has no such command: one line says the leases were not saved).

    Exit status (README "Exit codes"): 0 when every active source lease is in Kea (loaded, or
    already there) or explicitly allowed, the rest skipped by policy (free, expired, ...); 1
    when some records failed (see the report); 2 on a usage or configuration error.
    """
    try:
        as_of_epoch = epoch(as_of) if as_of is not None else None
    except InvalidValueError as exc:
        raise click.BadParameter(f"{as_of!r} {exc.reason}", param_hint="--as-of") from None
    if report_path is not None:
        parent = Path(report_path).parent
        if not parent.is_dir():
            _fail(f"--report {report_path}: directory {parent} does not exist")
    target = targets[0]
    if (pause_service or reclaim or pause_max_period is not None) and not all(
            t.startswith("kea:") for t in targets):
        _fail("--pause-service, --pause-max-period and --reclaim need kea:URL targets")
    if pause_max_period is not None and not pause_service:
        _fail("--pause-max-period goes with --pause-service")
    try:
        # a kea: / kea-sql: source has its own credentials (KEA_ETL_SOURCE_*), not the target's
        source_creds = LiveCredentials.from_environ(os.environ, prefix=SOURCE_PREFIX)
        run_sources: list[str | Source | FailoverSource] = list(sources)
        if source_tz is not None:  # the zone travels with each resolved source
            run_sources = [resolve_source(s, query=query, mapping=mapping, source_tz=source_tz,
                                          credentials=source_creds) for s in sources]
        if failover_pair:
            run_sources = list(failover_sources(sources))
        subnets = SubnetMap.from_files(kea_configs) if kea_configs else None
        live: dict[str, object] = {}  # options of the live targets (None = not given)
        timeout = conn.pop("timeout")
        given = sorted(f"--{k.replace('_', '-')}" for k, v in conn.items() if v)
        if target.startswith(("kea:", "kea-sql:")):
            live = {"sources": list(sources), "report_path": report_path,
                    "credentials": credentials(**conn),
                    "state_home": os.environ.get("XDG_STATE_HOME")}
            if target.startswith("kea:"):
                live["timeout"] = timeout
        elif given:
            _fail(f"{', '.join(given)}: connection options of a kea:URL target, not of {target}")
        if allow_config_write:
            if not all(t.startswith("kea:") for t in targets):
                _fail("--allow-config-write goes with kea:URL targets (a running Kea whose "
                      "configuration kea-etl may change)")
            live["allow_config_write"] = True
        if keep_state:
            if not live:
                _fail("--keep-state goes with kea:URL and kea-sql:URL targets (a memfile target "
                      "keeps no state)")
            live["keep_state"] = True
        live.update({"resume": resume or None, "workers": workers, "mode": mode,
                     "on_conflict": on_conflict, "service": service})
        loader = make_targets_loader(targets, subnets=subnets, force=force,
                                     kea_version=kea_version, dry_run=dry_run, **live)
        if pause_service or reclaim:
            loader = ServiceWindow(loader, pause=pause_service, reclaim=reclaim, dry_run=dry_run,
                                   max_period=pause_max_period or DEFAULT_MAX_PERIOD)
        subnets = target_subnets(loader, subnets, missing=f"--kea-config is required for --to "
                                 f"{target} (subnet ids come from the target Kea's "
                                 "configuration)")
        show_bar = not quiet and (sys.stderr.isatty() if progress is None else progress)
        started = time.monotonic()
        bars = Bars(show_bar)
        with bars:
            report = migrate(run_sources, loader, subnets=subnets, as_of=as_of_epoch,
                             abandoned="declined" if abandoned == "declined" else "skip",
                             query=query, mapping=mapping, progress=bars,
                             allow_unmapped=allow_unmapped, source_credentials=source_creds,
                             family=int(family) if family else None)
        seconds = time.monotonic() - started
        report.extra["seconds"] = round(seconds, 3)
        report.extra["dry_run"] = dry_run
        if report_path is not None:
            try:
                write_json_atomic(report_path, report.to_json())
            except OSError as exc:
                _fail(f"cannot write --report {report_path}: {exc.strerror or exc} (the target "
                      "was written)")
    except KeaEtlError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _interrupted(ctx, target, locals().get("loader"), locals().get("bars"))
    echo(_summary(report, seconds, report_path, dry_run))
    for line in window_summary(report):
        echo(line)
    sys.exit(report.exit_code())
