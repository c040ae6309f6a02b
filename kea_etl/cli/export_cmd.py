"""``kea-etl export``: leases and statistics of one or more Kea servers into a SQL warehouse,
Parquet and/or CSV (the nightly export). Thin layer over :func:`kea_etl.export.run_export`."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

import click

from kea_etl.cli import main
from kea_etl.cli._options import click_options, from_click
from kea_etl.errors import ConfigError, KeaEtlError
from kea_etl.options import ConnectionOptions, ExportOptions
from kea_etl.terminal import columns, echo

if TYPE_CHECKING:
    pass

EXIT_USAGE = 2


def connection_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The :class:`~kea_etl.options.ConnectionOptions` as click options (--user,
    --password-env, ..., --timeout): the same for every command that talks to a running Kea."""
    return click_options(ConnectionOptions)(f)


def connection(conn: dict[str, Any]) -> ConnectionOptions:
    """The :class:`~kea_etl.options.ConnectionOptions` among a command's parameters (removed
    from ``conn``)."""
    return from_click(ConnectionOptions, conn)


def sqlite_url(path: str) -> str:
    """The SQLAlchemy URL of the SQLite file ``path`` (``sqlite:///`` + the path as given, so an
    absolute path gets the fourth slash: ``sqlite:////srv/w.db``)."""
    return f"sqlite:///{path}"


def check_warehouse_url(url: str, option: str) -> None:
    """A usage error for a file name given where a database URL belongs, with the URL to write."""
    if "://" not in url:
        raise click.UsageError(f"{option} {url} is a file name, not a database URL; for a SQLite "
                               f"file write {option} {sqlite_url(url)}")


def check_url(url: str) -> None:
    """A usage error for a Kea URL with a password in it (the check: kea_etl.urls)."""
    from kea_etl.errors import InvalidURLError
    from kea_etl.urls import refuse_password
    try:
        refuse_password(url)
    except InvalidURLError as exc:
        raise click.UsageError(str(exc)) from None


@main.command("export")
@click_options(ExportOptions)
@click.option("--progress/--no-progress", default=None,
              help="Progress bars, one per server and family: leases done of the server's own "
                   "count (stat-lease4-get / stat-lease6-get), percentage, current rate, ETA "
                   "[default: when stderr is a terminal].")
@click.option("--quiet", "-q", is_flag=True, help="Print only the summary (for cron).")
@connection_options
def export_cmd(progress: bool | None, quiet: bool, **params: Any) -> None:
    """Export leases and statistics from Kea servers (several at once, concurrently).

    Each run is stamped (exported_at, server, Kea version). In the warehouse, lease_snapshots
    keeps history, leases_current shows each server's newest complete run (a view in SQLite,
    an upserted table in PostgreSQL), lease_stats holds tidy statistics; re-running
    the same night replaces that night's rows (key: server, export_date, family). Exit code 0
    when every server exported, 1 when one failed (the others' data is kept), 2 on a usage or
    configuration error.

    \b
    Examples:
      kea-etl export --kea unix:///run/kea/kea4.sock --kea http://10.0.0.2:8000 \\
          --service dhcp4 --to sqlite:///warehouse.db --parquet export/
      kea-etl export --kea dhcp-a=unix:///run/kea/kea4.sock \\
          --kea dhcp-b=http://10.0.0.2:8000 --service dhcp4 --to sqlite:///warehouse.db
    """
    from kea_etl.cli._progress import Bars
    from kea_etl.export import run
    from kea_etl.export.targets import parse_target, targets_for
    from kea_etl.report import write_json_atomic

    options = from_click(ExportOptions, params)
    conn = connection(params)
    if not options.outputs:
        raise click.UsageError("nothing to export to: give --to URL, --parquet DIR, --csv DIR "
                               "or --delta DIR")
    if options.to:
        check_warehouse_url(options.to, "--to")
    try:
        servers = [parse_target(text) for text in options.kea]
        for _, url in servers:
            check_url(url)
        targets_for(servers, options.service)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--kea") from None
    # one bar per server and family: leases done of Kea's own count (stat-leaseN-get)
    bars = Bars(not quiet and (sys.stderr.isatty() if progress is None else progress))
    try:
        with bars:
            report = run(options, client_factory=conn.client_factory(os.environ),
                         progress=bars)
    except KeaEtlError as exc:
        echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    report_path = options.report
    if report_path:
        write_json_atomic(report_path, report.to_json())
    echo(_summary(report.to_json(), day=report.export_date))
    for r in report.results:
        for w in r.warnings:
            echo(f"Warning: {w}", err=True)
        if r.error:
            echo(f"Error: {r.error}", err=True)
    sys.exit(report.exit_code())


def _summary(data: dict[str, Any], *, day: date) -> str:
    rows = [("server", "family", "leases", "stats", "Kea", "status")]
    for r in data["results"]:
        rows.append((r["server"], f"v{r['family']}" if r["family"] else "-", str(r["leases"]),
                     str(r["stats"]), r["kea_version"] or "-", "FAILED" if r["error"] else "ok"))
    lines = [f"Export {day.isoformat()} at {data['exported_at']}: {data['leases']} leases"
             + (f" -> {data['warehouse']}" if data["warehouse"] else "")]
    if data["added_columns"]:
        lines.append("Schema: added columns " + ", ".join(data["added_columns"]))
    lines.extend(columns(rows, right=range(1, len(rows[0]))))
    return "\n".join(lines)

