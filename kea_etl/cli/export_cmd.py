"""``kea-etl export``: leases and statistics of one or more Kea servers into a SQL warehouse,
Parquet and/or CSV (the nightly export). Thin layer over :func:`kea_etl.export.run_export`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date
from typing import Any

import click

from kea_etl.cli import main
from kea_etl.errors import ConfigError, KeaEtlError
from kea_etl.terminal import columns, echo

EXIT_USAGE = 2


def connection_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Credentials and TLS options shared by export and reconcile (never a password in argv)."""
    from kea_etl.kea import DEFAULT_PASSWORD_ENV
    opts = [
        click.option("--user", envvar="KEA_ETL_USER", metavar="USER",
                     help="Basic-auth user [env KEA_ETL_USER]."),
        click.option("--password-env", metavar="VAR",
                     help=f"Read the password from environment variable VAR "
                          f"[default {DEFAULT_PASSWORD_ENV}]."),
        click.option("--password-file", metavar="FILE",
                     help="Read the password from FILE (first line)."),
        click.option("--ca-file", metavar="FILE", help="CA certificate(s) to verify https."),
        click.option("--cert-file", metavar="FILE", help="Client certificate (mutual TLS)."),
        click.option("--key-file", metavar="FILE", help="Private key of --cert-file."),
        click.option("--insecure", is_flag=True, help="Do not verify the server's certificate."),
        click.option("--timeout", type=float, default=30.0, show_default=True,
                     help="Seconds per Kea request."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def credentials(*, user: str | None, password_env: str | None, password_file: str | None,
                ca_file: str | None, cert_file: str | None, key_file: str | None,
                insecure: bool, timeout: float | None = None) -> Any:
    """The :class:`~kea_etl.load.credentials.LiveCredentials` of :func:`connection_options`
    over the environment's (``timeout`` is not a credential: the caller uses it)."""
    import os

    from kea_etl.load.credentials import LiveCredentials
    del timeout
    return LiveCredentials.from_options(os.environ, user=user, password_env=password_env,
                                        password_file=password_file, ca_file=ca_file,
                                        cert_file=cert_file, key_file=key_file,
                                        insecure=insecure)


def client_factory(*, timeout: float = 30.0, **conn: Any) -> Callable[[str, str | None], Any]:
    """``factory(url, service) -> KeaClient`` with :func:`connection_options`' credentials."""
    creds = credentials(**conn)

    def make(url: str, service: str | None) -> Any:
        return creds.kea_client(url, service=service, timeout=timeout)
    return make


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
@click.option("--kea", "kea_urls", multiple=True, required=True, metavar="[NAME=]URL",
              help="Kea server: unix:///path.sock, http://HOST:PORT (Control Agent: add "
                   "--service) or https://... Repeat for several servers. NAME= stores it "
                   "under a short name (server column, server= partition, notebook labels; "
                   "no '/' or '=', one per server; keep it the same every night) instead "
                   "of its URL.")
@click.option("--service", "services", multiple=True, type=click.Choice(["dhcp4", "dhcp6"]),
              help="Daemon(s) behind a Control Agent URL; repeatable.")
@click.option("--family", type=click.Choice(["4", "6", "both"]), default="both",
              show_default=True, help="Which lease families to export.")
@click.option("--subnet", "subnets", multiple=True, type=int, metavar="ID",
              help="Export only these subnet ids (repeatable).")
@click.option("--to", "to_url", metavar="URL",
              help="SQLAlchemy URL of the warehouse: sqlite:///warehouse.db, "
                   "postgresql://user@host/db (password from PGPASSWORD or ~/.pgpass).")
@click.option("--parquet", "parquet_dir", metavar="DIR",
              help="Also write Parquet under DIR/leases and DIR/stats "
                   "(partitioned export_date=/server=).")
@click.option("--csv", "csv_dir", metavar="DIR", help="Also write CSV files, same layout.")
@click.option("--delta", "delta_dir", metavar="DIR",
              help="Also keep Delta Lake tables DIR/lease_snapshots (partitioned export_date=/"
                   "server=) and DIR/leases_current (MERGE per run), for Spark, Trino, DuckDB "
                   "(needs the deltalake package: pip install 'kea-etl[delta]').")
@click.option("--page-size", type=click.IntRange(1, 100_000), default=1000, show_default=True,
              help="Leases per lease4-get-page / lease6-get-page request.")
@click.option("--export-date", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Night to file the snapshot under [default: today, UTC].")
@click.option("--no-stats", is_flag=True, help="Skip the statistics.")
@click.option("--report", "report_path", metavar="FILE", help="Write the run's report as JSON.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bars, one per server and family: leases done of the server's own "
                   "count (stat-lease4-get / stat-lease6-get), percentage, current rate, ETA "
                   "[default: when stderr is a terminal].")
@click.option("--quiet", "-q", is_flag=True, help="Print only the summary (for cron).")
@connection_options
def export_cmd(kea_urls: tuple[str, ...], services: tuple[str, ...], family: str,
               subnets: tuple[int, ...], to_url: str | None, parquet_dir: str | None,
               csv_dir: str | None, page_size: int, export_date: Any, no_stats: bool,
               report_path: str | None, progress: bool | None = None, quiet: bool = False,
               delta_dir: str | None = None,
               **conn: Any) -> None:
    """Export leases and statistics from Kea servers (several at once, concurrently).

    Each run is stamped (exported_at, server, Kea version). In the warehouse, lease_snapshots
    keeps history, leases_current is upserted, lease_stats holds tidy statistics; re-running
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
    from kea_etl.export import run_export
    from kea_etl.export.targets import parse_target, targets_for
    from kea_etl.report import write_json_atomic

    if not (to_url or parquet_dir or csv_dir or delta_dir):
        raise click.UsageError("nothing to export to: give --to URL, --parquet DIR, --csv DIR "
                               "or --delta DIR")
    if to_url:
        check_warehouse_url(to_url, "--to")
    try:
        servers = [parse_target(text) for text in kea_urls]
        for _, url in servers:
            check_url(url)
        targets = targets_for(servers, services)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--kea") from None
    families = (4, 6) if family == "both" else (int(family),)
    # one bar per server and family: leases done of Kea's own count (stat-leaseN-get)
    bars = Bars(not quiet and (sys.stderr.isatty() if progress is None else progress))
    try:
        factory = client_factory(**conn)
        day = export_date.date() if export_date is not None else None
        with bars:
            report = run_export(targets, families=families, warehouse=to_url,
                                parquet_dir=parquet_dir, csv_dir=csv_dir, page_size=page_size,
                                subnets=subnets or None, stats=not no_stats, export_date=day,
                                client_factory=factory, progress=bars, delta_dir=delta_dir)
    except KeaEtlError as exc:
        echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
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

