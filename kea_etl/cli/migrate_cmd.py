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
from kea_etl.cli._options import click_options, from_click
from kea_etl.cli._progress import Bars, human
from kea_etl.cli.export_cmd import connection, connection_options
from kea_etl.errors import InvalidValueError, KeaEtlError
from kea_etl.load.base import Resumable
from kea_etl.load.credentials import SOURCE_PREFIX, LiveCredentials
from kea_etl.load.ha import window_summary
from kea_etl.load.reservations import NEEDS_CONFIG_WRITE
from kea_etl.migration import prepare
from kea_etl.options import MigrateOptions
from kea_etl.records import epoch
from kea_etl.report import RunReport, write_json_atomic
from kea_etl.terminal import echo, printable

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
    outcome = report.outputs
    if outcome is not None and outcome.kea_version_from:
        lines.append(f"  memfile format: Kea {outcome.kea_version} (from "
                     f"{outcome.kea_version_from})")
    for b in report.config_backups:
        if dry_run:
            lines.append(f"  would save the configuration of {b['server']} to {b['path']} "
                         "before changing it (--allow-config-write)")
        else:
            lines.append(f"  configuration of {b['server']} before kea-etl changed it: saved in "
                         f"{b['path']}")
    for saved in report.lease_backups:
        lines.append(saved.summary())
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
    warned = report.load_warnings or {}
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
    outcome = report.outputs
    files = outcome.files if outcome is not None else {}
    verb = "would write" if dry_run else "wrote"
    if outcome is not None and outcome.sent is not None:  # kea: / kea-sql:
        sent = outcome.sent
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
        if outcome.state and outcome.state_kept:
            lines.append(f"  state kept (--keep-state): {outcome.state}")
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
@click_options(MigrateOptions)
@click.option("--progress/--no-progress", default=None,
              help="Progress bars: phase, done/total (bytes of the source files), percentage, "
                   "current rate and ETA [default: when stderr is a terminal].")
@click.option("--quiet", "-q", is_flag=True,
              help="Print only the summary (for cron): no progress bars.")
@click.pass_context
@connection_options
def migrate_cmd(ctx: click.Context, progress: bool | None, quiet: bool, **params: Any) -> None:
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
    options = from_click(MigrateOptions, params)
    conn = connection(params)
    if options.as_of is not None:
        try:
            epoch(options.as_of)
        except InvalidValueError as exc:
            raise click.BadParameter(f"{options.as_of!r} {exc.reason}",
                                     param_hint="--as-of") from None
    report_path = options.report
    if report_path is not None:
        parent = Path(report_path).parent
        if not parent.is_dir():
            _fail(f"--report {report_path}: directory {parent} does not exist")
    target = options.to[0]
    try:
        # a kea: / kea-sql: source has its own credentials (KEA_ETL_SOURCE_*), not the target's
        source_creds = LiveCredentials.from_environ(os.environ, prefix=SOURCE_PREFIX)
        prepared = prepare(options, connection=conn,
                           credentials=conn.credentials(os.environ) if options.live else None,
                           source_credentials=source_creds,
                           state_home=os.environ.get("XDG_STATE_HOME"))
        loader = prepared.loader
        show_bar = not quiet and (sys.stderr.isatty() if progress is None else progress)
        started = time.monotonic()
        bars = Bars(show_bar)
        with bars:
            report = prepared.run(progress=bars)
        seconds = time.monotonic() - started
        report.seconds = round(seconds, 3)
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
    echo(_summary(report, seconds, report_path, options.dry_run))
    for line in window_summary(report):
        echo(line)
    sys.exit(report.exit_code())
