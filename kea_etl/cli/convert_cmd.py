"""``kea-etl convert``: dhcpd.conf (or a Windows Export-DhcpServer XML) -> kea-dhcp4.conf /
kea-dhcp6.conf and a report. Thin layer over :func:`kea_etl.convert.convert` /
:func:`kea_etl.convert.convert_windows`."""

from __future__ import annotations

import sys

import click

from kea_etl.cli import main
from kea_etl.errors import KeaEtlError

EXIT_ERROR = 2


@main.command("convert")
@click.argument("dhcpd_conf", metavar="DHCPD.conf|windows:EXPORT.xml", required=False)
@click.option("--v6", "conf6", metavar="DHCPD6.conf", help="The dhcpd -6 configuration.")
@click.option("--out", "out_dir", metavar="DIR", required=True,
              help="Directory for kea-dhcp4.conf / kea-dhcp6.conf (created).")
@click.option("--ids", "ids", default="stable", show_default=True, metavar="stable|from:KEA.json",
              help="Subnet ids: 'stable' derives each from its prefix (docs/convert.md); "
                   "'from:KEA.json[,KEA6.json]' keeps the ids of an existing Kea config, new "
                   "subnets get derived ones.")
@click.option("--report", "report_path", metavar="R.json",
              help="Write every finding (file, line, statement, why, Kea setting) here.")
@click.option("--hooks-dir", default=None, metavar="DIR",
              help="Where the Kea hook libraries live [default: Debian's "
                   "/usr/lib/x86_64-linux-gnu/kea/hooks].")
@click.option("--include-dir", metavar="DIR",
              help="Resolve relative include names against DIR (dhcpd uses its working "
                   "directory) [default: the including file's directory].")
@click.option("-q", "--quiet", is_flag=True, help="Print only the summary, not each finding.")
def convert_cmd(dhcpd_conf: str | None, conf6: str | None, out_dir: str, ids: str,
                report_path: str | None, hooks_dir: str | None, include_dir: str | None,
                quiet: bool) -> None:
    """Translate an ISC dhcpd configuration (or a Windows DHCP Server export) into Kea
    configuration files.

    Writes DIR/kea-dhcp4.conf (and DIR/kea-dhcp6.conf with --v6): lease times, authoritative,
    boot settings, match-client-id, DDNS switches, subnets, pools and pd-pools (with client
    classes for allow/deny), shared networks, options (standard ones under Kea's names,
    user-defined ones with option-def), hosts as reservations, classes and subclasses as client
    classes with test expressions, and a failover peer as an HA hook skeleton. Every statement
    that is not translated, and every behaviour the operator must decide before cutover, is a
    finding with file, line and the Kea setting that addresses it (printed, and in --report,
    which also holds `kea-etl check`'s pre-flight findings for the configuration).

    A Windows DHCP Server's `Export-DhcpServer -File F.xml [-Leases]` (windows:F.xml, or any
    file starting with <DHCPServer>) gives DIR/kea-dhcp4.conf and, when it has v6 scopes,
    DIR/kea-dhcp6.conf: scopes as subnets (the range less its exclusion ranges as pools, lease
    duration, an inactive scope limited to a class no client joins), superscopes as shared
    networks, server and scope option values as option-data, reservations, vendor/user classes
    as client classes, denied MACs as class DROP, DNS update settings, and a failover
    relationship as the same HA skeleton; policies, allow filters and multicast scopes are
    findings with the XML line. Its leases are loaded with `kea-etl migrate windows:F.xml`.

    Exit status: 0 the files are written (findings are in the report); 1 written, but the input
    has errors (a statement or host that does not parse); 2 usage error or unreadable input.

    \b
    Example:
      kea-etl convert /etc/dhcp/dhcpd.conf --v6 /etc/dhcp/dhcpd6.conf --out kea/ \\
          --ids stable --report convert.json
      kea-dhcp4 -t kea/kea-dhcp4.conf
      kea-etl migrate /var/lib/dhcp/dhcpd.leases --to memfile:out \\
          --kea-config kea/kea-dhcp4.conf
      kea-etl convert windows:dhcp-export.xml --out kea/ --report convert.json
      kea-etl migrate windows:dhcp-export.xml --source-tz Europe/Berlin \\
          --to memfile:out --kea-config kea/kea-dhcp4.conf
    """
    from kea_etl.convert import convert, convert_windows, ids_from_config, write
    from kea_etl.convert.build import DEFAULT_HOOKS_DIR
    from kea_etl.convert.check import check
    from kea_etl.convert.windows import windows_source
    from kea_etl.report import write_json_atomic

    try:
        keep = None
        if ids.startswith("from:"):
            keep = ids_from_config([p for p in ids[5:].split(",") if p])
        elif ids != "stable":
            raise click.UsageError(f"--ids {ids!r}: expected 'stable' or 'from:KEA.json'")
        if dhcpd_conf is None and conf6 is None:
            raise click.UsageError("give a dhcpd.conf, --v6 DHCPD6.conf, or both")
        export = windows_source(dhcpd_conf) if dhcpd_conf is not None else None
        if export is not None and (conf6 is not None or include_dir is not None):
            raise click.UsageError("--v6 and --include-dir are for dhcpd: a Windows export holds "
                                   "both families")
        if export is not None:
            result = convert_windows(export, keep_ids=keep,
                                     hooks_dir=hooks_dir or DEFAULT_HOOKS_DIR)
        else:
            result = convert(dhcpd_conf, conf6=conf6, keep_ids=keep,
                             hooks_dir=hooks_dir or DEFAULT_HOOKS_DIR, include_dir=include_dir)
        written = write(result, out_dir)
        if report_path:
            report = result.to_json()
            report["preflight"] = {
                f"v{r.family}": check(export or (dhcpd_conf if r.family == 4  # type: ignore[arg-type]
                                                 else conf6), derived=r).to_json()
                for r in result.families()}
            write_json_atomic(report_path, report)
    except KeaEtlError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except OSError as exc:
        click.echo(f"Error: cannot write {exc.filename or out_dir}: {exc.strerror or exc}",
                   err=True)
        sys.exit(EXIT_ERROR)
    if not quiet:
        for f in result.all_findings():
            click.echo(f.render())
    for r in result.families():
        sect = r.config[f"Dhcp{r.family}"]
        nsub = len(r.subnet_ids)
        click.echo(f"v{r.family}: {nsub} subnet(s), {len(sect.get('shared-networks', []))} shared "
                   f"network(s), {len(r.reservations)} reservation(s), "
                   f"{len(sect.get('client-classes', []))} client class(es)")
    counts = result.counts()
    click.echo("wrote " + ", ".join(str(p) for p in written) + "; findings: "
               + ", ".join(f"{n} {s}" for s, n in counts.items())
               + (f"; report {report_path}" if report_path else ""))
    sys.exit(1 if counts["error"] else 0)
