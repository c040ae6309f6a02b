"""``kea-etl history``: who held an address, which addresses a client had, from the warehouse's
nightly snapshots. Thin layer over :func:`kea_etl.export.history.lease_history`."""

from __future__ import annotations

import json
from datetime import datetime

import click

from kea_etl.cli import main
from kea_etl.cli.export_cmd import check_warehouse_url
from kea_etl.errors import InvalidValueError
from kea_etl.terminal import columns, echo


def _when(t: datetime | None) -> str:
    return "-" if t is None else t.strftime("%Y-%m-%d %H:%M")


@main.command("history")
@click.argument("query", metavar="ADDRESS|MAC|DUID|HOSTNAME")
@click.option("--warehouse", "warehouse_url", required=True, metavar="URL",
              help="SQLAlchemy URL of the warehouse kea-etl export --to wrote: "
                   "sqlite:///warehouse.db, postgresql://user@host/db.")
@click.option("--since", metavar="WHEN",
              help="Only intervals that reach this time: a date (2026-11-24, from 00:00 UTC) or "
                   "an ISO-8601 time (2026-11-24T10:00:00Z).")
@click.option("--until", metavar="WHEN",
              help="Only intervals that began by this time: a date (to the end of that day, "
                   "UTC) or an ISO-8601 time.")
@click.option("--by", "kind", type=click.Choice(["address", "mac", "id", "hostname"]),
              help="Read QUERY as this instead of guessing (id: a client-id or DUID in hex).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def history_cmd(query: str, warehouse_url: str, since: str | None, until: str | None,
                kind: str | None, as_json: bool) -> None:
    """Lease history: who held an address, which addresses a MAC, DUID or hostname had.

    QUERY is detected: an IPv4/IPv6 address (or a delegated prefix), a MAC (aa:bb:cc:dd:ee:ff,
    aa-bb-..., aabb.ccdd.eeff; also finds v4 client-ids 01:MAC and v6 DUID-LL/LLT with that
    MAC), a client-id or DUID in colon hex, else a hostname (a short name finds its FQDN too).
    The nightly snapshots (lease_snapshots) are merged into intervals: the same client on the
    same address across consecutive exports of a server is one row. "from" is the lease's cltt
    in the first snapshot, "last seen" the last export that showed it, "held until" the latest
    it can have been held (its expiry, not past the next export that no longer showed it;
    "now" while the newest export still shows it). Exit code 0 (also when nothing matched), 2
    on a usage or warehouse error.

    \b
    Examples:
      kea-etl history 10.0.0.5 --since 2026-11-24 --until 2026-11-24 \\
          --warehouse sqlite:///warehouse.db
      kea-etl history 00:0c:01:00:00:05 --since 2026-11-01 --json \\
          --warehouse postgresql://etl@warehouse/dhcp
    """
    from kea_etl.export.history import HistoryQuery, lease_history, parse_time

    check_warehouse_url(warehouse_url, "--warehouse")
    try:
        q = HistoryQuery.parse(query, kind=kind)  # type: ignore[arg-type]  # click.Choice
    except InvalidValueError as exc:
        raise click.BadParameter(str(exc), param_hint="QUERY") from None
    try:
        start = parse_time(since) if since else None
        end = parse_time(until, end_of_day=True) if until else None
    except InvalidValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since/--until") from None
    # an auditor reads a story: oldest first (the library streams per address)
    intervals = sorted(lease_history(warehouse_url, q, since=start, until=end),
                       key=lambda i: (i.first_seen, i.server, i.address))
    if as_json:
        echo(json.dumps({"query": q.value, "kind": q.kind,
                         "since": start.isoformat() if start else None,
                         "until": end.isoformat() if end else None,
                         "intervals": [i.to_json() for i in intervals]}, indent=2))
        return
    window = "".join([f" from {_when(start)}" if start else "",
                      f" to {_when(end)}" if end else ""])
    echo(f"History of {q.describe()}{window} (UTC): {len(intervals)} interval(s)")
    if not intervals:
        return
    rows = [("server", "address", "client", "hostname", "from", "last seen", "held until",
             "nights")]
    for i in intervals:
        rows.append((i.server, i.lease, i.client or "-", i.hostname or "-", _when(i.first_seen),
                     _when(i.last_seen), "now" if i.current else _when(i.held_until),
                     str(i.nights)))
    for line in columns(rows, right={7}):
        echo(line)
