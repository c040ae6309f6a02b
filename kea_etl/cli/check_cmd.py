"""``kea-etl check``: pre-flight findings for a dhcpd -> Kea cutover. Thin layer over
:func:`kea_etl.convert.check.check`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from kea_etl.cli import main
from kea_etl.errors import KeaEtlError

EXIT_ERROR = 2


@main.command("check")
@click.argument("dhcpd_conf", metavar="DHCPD.conf|windows:EXPORT.xml")
@click.argument("leases", nargs=-1, metavar="[DHCPD.leases]...")
@click.option("--kea-config", metavar="KEA.json",
              help="The Kea configuration to judge against (a previous or planned one) "
                   "[default: what kea-etl convert makes of DHCPD.conf].")
@click.option("--family", type=click.Choice(["4", "6"]), default=None,
              help="The family of DHCPD.conf [default: 6 when it has only subnet6 blocks].")
@click.option("--as-of", metavar="ISO", help="Judge lease expiry as of this time [default: now].")
@click.option("--source-tz", metavar="ZONE",
              help="A Windows export's time zone (as for migrate): its own leases are judged "
                   "too.")
@click.option("--json", "json_out", is_flag=True, help="Print the findings as JSON.")
@click.option("--html", "html_out", metavar="OUT.html",
              help="Also write the findings as a self-contained HTML page (by severity, each "
                   "with its evidence and the Kea setting that addresses it).")
def check_cmd(dhcpd_conf: str, leases: tuple[str, ...], kea_config: str | None,
              family: str | None, as_of: str | None, source_tz: str | None,
              json_out: bool, html_out: str | None) -> None:
    """List what an operator must decide before moving DHCPD.conf (and its leases) to Kea.

    Findings by severity (error, decide, warning, info), each with its evidence (file:line,
    counts) and the Kea setting that addresses it: client-id handling (ignore-client-uids vs
    match-client-id, seen in the leases), addresses reserved for several hosts, fixed addresses
    inside dynamic pools, active leases outside every subnet or pool of the Kea config, subnet
    ids that differ from --kea-config, DDNS guard records (TXT/DHCID) vs Kea's conflict
    resolution, failover pairs, lease times Kea will shorten or extend, and options and
    statements with no Kea equivalent.

    A Windows DHCP Server export (windows:EXPORT.xml, or detected) is judged the same way from
    what `kea-etl convert` makes of it; with --source-tz its own leases are read too, and LEASES
    may be further Windows lease exports (Get-DhcpServerv4Lease | Export-Csv).

    Exit status: 0 nothing to decide; 1 something to decide (a decide or error finding);
    2 a usage error or unreadable input.

    \b
    Example:
      kea-etl check /etc/dhcp/dhcpd.conf /var/lib/dhcp/dhcpd.leases \\
          --kea-config /etc/kea/kea-dhcp4.conf --json > preflight.json
      kea-etl check /etc/dhcp/dhcpd.conf --html preflight.html
      kea-etl check windows:dhcp-export.xml --source-tz Europe/Berlin
    """
    from kea_etl.convert.check import check
    from kea_etl.convert.check_html import write_html
    from kea_etl.records import epoch

    if html_out and Path(html_out).is_dir():  # before the check, not after it
        click.echo(f"Error: cannot write --html {html_out}: it is a directory (give a file name)",
                   err=True)
        sys.exit(EXIT_ERROR)
    try:
        when = epoch(as_of) if as_of else None
        result = check(dhcpd_conf, leases, kea_config=kea_config, as_of=when,
                       family=int(family) if family else None, source_tz=source_tz)
    except KeaEtlError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    if html_out:
        try:
            write_html(result, html_out, sources=[dhcpd_conf, *leases])
        except OSError as exc:  # the path given, never the temporary file beside it
            click.echo(f"Error: cannot write --html {html_out}: {exc.strerror or exc}", err=True)
            sys.exit(EXIT_ERROR)
    if json_out:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        for f in result.sorted():
            click.echo(f.render())
        sev = result.to_json()["severities"]
        click.echo(", ".join(f"{n} {s}" for s, n in sev.items()) + "; "
                   + ", ".join(f"{k}={v}" for k, v in result.counts.items()))
    sys.exit(1 if result.needs_decision else 0)
