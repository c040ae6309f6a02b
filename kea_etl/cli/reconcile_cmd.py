"""``kea-etl reconcile``: compare migration sources (leases and host reservations) with a live
Kea (``--kea``) or with Kea's files (``--against``), record by record, and write JSON / HTML / CSV
reports. Thin layer over :func:`kea_etl.reconcile.reconcile_kea` /
:func:`~kea_etl.reconcile.reconcile_file`."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kea_etl.cli import main
from kea_etl.cli._options import click_options, from_click
from kea_etl.cli._progress import Bars
from kea_etl.cli.export_cmd import check_url, connection, connection_options
from kea_etl.errors import ConfigError, KeaEtlError
from kea_etl.load.credentials import SOURCE_PREFIX, LiveCredentials
from kea_etl.options import ReconcileOptions
from kea_etl.terminal import echo

if TYPE_CHECKING:
    from kea_etl.reconcile import ReconcileResult

EXIT_ERROR = 2


@main.command("reconcile")
@click_options(ReconcileOptions)
@click.option("--progress/--no-progress", default=None,
              help="Progress bars: reading the source, reading Kea (of its stat-leaseN-get "
                   "count, percentage, current rate, ETA), comparing [default: when stderr is a "
                   "terminal].")
@click.option("--quiet", "-q", is_flag=True, help="Print only the summary (for cron).")
@connection_options
def reconcile_cmd(progress: bool | None, quiet: bool, **params: Any) -> None:
    """Compare the leases and host reservations of SOURCE... (dhcpd.leases, dhcpd.conf,
    dnsmasq.leases or dnsmasq.conf, pfSense config.xml, a Windows DHCP Server export with
    --source-tz, CSV, SQL, Kea memfile ...) with what Kea holds. Several sources are read as one:
    `reconcile dhcpd.leases dhcpd.conf --kea URL` checks the leases of the first and the
    reservations of the second in one run.

    The sources go through the migration's policy first (free, expired, backup ... leases are
    set aside, not reported missing; a reservation gets the subnet migrate gives it). Every record
    is then matched, missing (in the source, not in Kea), extra (in Kea, not in the source) or
    mismatched. Leases are keyed by address and compared on hwaddr, client-id, DUID, IAID,
    subnet, state, type / prefix length and expiry beyond --tolerance; per-subnet counts are
    checked against Kea's stat-lease4-get / stat-lease6-get. Reservations are keyed by subnet,
    identifier type and identifier and compared on addresses, prefixes, hostname, classes,
    options, next-server, boot file and user context; Kea's come from reservation-get-page
    (host_cmds) where the server has it, else from its config-get. An active source lease that
    no subnet of the target contains is missing (Kea cannot hold it), unless --allow-unmapped; a
    source of the other family (dhcpd6.leases against a DHCPv4 Kea) is a usage error.

    Leases are compared when a source holds leases or can hold nothing else (a dhcpd.leases,
    even an empty one); reservations likewise (a dhcpd.conf, a pfSense config.xml). So a
    dhcpd.conf alone does not report every Kea lease as extra, nor a dhcpd.leases alone every
    Kea reservation.

    Give exactly one of --kea (a running server) or --against (files, no server needed: check
    a cold cutover's memfile before Kea starts, or audit a nightly export). A memfile is read as
    Kea loads it: the last row per address wins, a row with valid lifetime 0 deletes, rows Kea
    cannot parse are skipped, and the --kea-config's lease-checks apply. Per-subnet counts then
    come from the file. With a directory, the family is the --kea-config's. Reservations are
    then compared with the --kea-config's, plus the reservations4.json / reservations6.json that
    migrate --to memfile: wrote beside the lease file.

    Exit code (README "Exit codes"): 0 everything matches (every active source lease and every
    source reservation is in Kea as the source has it, or explicitly allowed), 1 differences
    found (missing, extra or mismatched leases or reservations), 2 usage or configuration error.

    \b
    Examples:
      kea-etl reconcile dhcpd.leases --kea unix:///run/kea/kea4.sock \\
          --kea-config kea-dhcp4.json --as-of 2026-11-27T21:00:00Z \\
          --json recon.json --html recon.html --csv recon.csv
      kea-etl migrate dhcpd.leases --to memfile:out --kea-config kea-dhcp4.json
      kea-etl reconcile dhcpd.leases --against out --kea-config kea-dhcp4.json
      kea-etl reconcile dhcpd.leases dhcpd.conf --kea http://127.0.0.1:8000 \\
          --service dhcp4 --json recon.json
    """
    from kea_etl.reconcile import check_options, run, write_html

    options = from_click(ReconcileOptions, params)
    conn = connection(params)
    try:
        check_options(options)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    if options.against is not None:
        ctx = click.get_current_context()
        server_only = [f"--{name.replace('_', '-')}" for name in
                       ("service", "page_size", "user", "password_env", "password_file", "ca_file",
                        "cert_file", "key_file", "insecure", "timeout")
                       if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE]
        if server_only:
            raise click.UsageError(f"{', '.join(server_only)} only apply to --kea (a running "
                                   "server), not to --against")
    json_out, csv_out, html_out = options.json, options.csv, options.html
    for option, out in (("--json", json_out), ("--csv", csv_out), ("--html", html_out)):
        if out and Path(out).is_dir():  # before the comparison, not after it
            echo(f"Error: cannot write {option} {out}: it is a directory (give a file name)",
                 err=True)
            sys.exit(EXIT_ERROR)
    if options.kea is not None:
        check_url(options.kea)
    bars = Bars(not quiet and (sys.stderr.isatty() if progress is None else progress))
    _arrow_without_pandas()
    with _bulk_collector(), _bulk_allocator():
        try:
            result = run(options, client_factory=conn.client_factory(os.environ),
                         source_credentials=LiveCredentials.from_environ(
                             os.environ, prefix=SOURCE_PREFIX),
                         progress=bars)
        except KeaEtlError as exc:
            bars.close()
            echo(f"Error: {exc}", err=True)
            sys.exit(EXIT_ERROR)
    bars.close()
    with result:
        for option, path, write in (("--json", json_out, result.write_json),
                                    ("--csv", csv_out, result.write_csv),
                                    ("--html", html_out, lambda p: write_html(result, p))):
            if not path:
                continue
            try:
                write(path)
            except OSError as exc:  # the path given, never the temporary file beside it
                echo(f"Error: cannot write {option} {path}: {exc.strerror or exc}", err=True)
                sys.exit(EXIT_ERROR)
        echo(_summary(result))
        code = result.exit_code()
    sys.exit(code)


class _NoPandas:
    """A meta path finder that refuses to import pandas (see :func:`_arrow_without_pandas`)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas":
            raise ModuleNotFoundError("not for pyarrow's probe", name=name)


def _arrow_without_pandas() -> None:
    """Spare ``reconcile`` the import of pandas, its largest (0.15-0.3 s of start-up).

    The first time pyarrow converts anything (``pa.array``, ``to_numpy``) it imports pandas,
    only to ask whether the values are pandas objects. A reconciliation hands it none (no
    extractor, Kea page or file reader of this command makes a DataFrame), so that first probe
    is answered "pandas is not installed". pyarrow remembers the answer for its probes only: a
    conversion to or from pandas asks again and imports it (pyarrow's
    ``_PandasAPIShim._check_import``), so nothing that needs pandas goes without."""
    if "pandas" in sys.modules:
        return
    import pyarrow as pa

    finder = _NoPandas()
    sys.meta_path.insert(0, finder)
    try:
        pa.array([0])  # the probe, answered now
    finally:
        sys.meta_path.remove(finder)


@contextmanager
def _bulk_collector() -> Iterator[None]:
    """The garbage collector tuned for reading hundreds of thousands of records, then as it was.

    What start-up made (modules, classes, functions: about 100,000 objects) outlives the
    comparison: frozen, out of the collector's sight, its full collections (one every few
    hundred thousand records read) do not walk it again and again. The records themselves come
    and go by the batch and are freed by reference counting: collecting the young generation
    every 700 allocations finds nothing to free, so it is collected every 10,000. Together
    0.15-0.3 s at 300,000 leases. Restored afterwards for a caller that runs on (CliRunner)."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(10_000, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@contextmanager
def _bulk_allocator() -> Iterator[None]:
    """Arrow's buffers from jemalloc for the comparison (the C library's allocator where this
    pyarrow lacks it), then as it was.

    The comparison allocates and frees Arrow buffers of a few MiB by the hundred (CSV blocks,
    columns, sorted copies) in two threads. pyarrow's default allocator here, mimalloc, hands
    freed pages back to the kernel within milliseconds and takes page faults to get them again
    (system time 0.12-0.53 s at 300,000 leases against 0.16-0.22 s). The C library's allocator
    keeps what it frees: its mmap threshold rises to the blocks freed, and they are then
    carved from per-thread heaps that fragment, so its RSS grows with the lease count (3M
    leases: 1.76 GB against 1.12 GB with jemalloc or mimalloc, the same comparison). jemalloc
    is as fast as the C library's allocator at 300,000 leases and bounded like mimalloc.
    Measured on the 2-core build machine, 2026-12-06."""
    import pyarrow as pa

    before = pa.default_memory_pool()
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without it
        pool = pa.system_memory_pool()
    pa.set_memory_pool(pool)
    try:
        yield
    finally:
        pa.set_memory_pool(before)


def _summary(result: ReconcileResult) -> str:
    s = result.summary()
    lines = [f"Reconcile {s['source']['name']} vs {s['kea']['server']} (Kea {s['kea']['version']}, "
             f"DHCPv{s['family']}, as of {s['as_of']})"]
    if result.leases_compared:
        lines.extend(_lease_lines(result, s))
    else:
        lines.append("  leases: not compared (no source holds leases; Kea's leases not read)")
    lines.extend(_host_lines(result))
    for w in s["warnings"]:
        lines.append(f"  warning: {w}")
    if s["ok"]:
        lines.append("OK: everything matches")
    else:
        parts = [f"{what} {n}" for what, n, on in (
            ("leases", result.lease_differences, result.leases_compared),
            ("reservations", result.reservations.differences, result.reservations.compared))
            if on]
        lines.append(f"DIFFERENCES: {s['differences_total']} ({', '.join(parts)})")
    return "\n".join(lines)


def _lease_lines(result: ReconcileResult, s: dict[str, Any]) -> list[str]:
    lines = [f"  leases: matched {s['matched']}  missing {s['missing']}  extra {s['extra']}  "
             f"mismatched {s['mismatched']}",
             f"  source: read {s['source']['read']}, compared {s['source']['compared']}, "
             f"failed {s['source']['failed']}, skipped "
             + (", ".join(f"{k} {v}" for k, v in s["source"]["skipped"].items()) or "0"),
             f"  Kea: read {s['kea']['read']}, compared {s['kea']['compared']}, ignored "
             + (", ".join(f"{k} {v}" for k, v in s["kea"]["ignored"].items()) or "0")]
    unmapped = s["source"]["unmapped"]
    if unmapped:
        verdict = ("skipped: --allow-unmapped was given" if s["source"]["allow_unmapped"]
                   else "counted missing")
        shown = list(unmapped.items())
        lines.append(f"  no subnet in the target ({verdict}): "
                     + ", ".join(f"{k} {v}" for k, v in shown[:10])
                     + (f", ... ({len(shown) - 10} more)" if len(shown) > 10 else ""))
    if s["fields_mismatched"]:
        lines.append("  mismatched fields: " + ", ".join(
            f"{k} {v}" for k, v in s["fields_mismatched"].items()))
    for sub in s["subnets"]:
        if not sub["counts_match"]:
            lines.append(f"  subnet {sub['subnet_id']} {sub['prefix']}: source {sub['source']}, "
                         f"Kea {sub['kea']}, stat assigned {sub['stat_assigned']}"
                         + (f" + declined {sub['stat_declined']}" if sub["stat_declined"] else ""))
    for i, d in enumerate(result.sample[:10]):
        if i == 0:
            lines.append("  first differences:")
        fields = ", ".join(f"{k} {v.get('source')!s} -> {v.get('kea')!s}"
                           for k, v in d["fields"].items())
        lines.append(f"    {d['category']:<10} {d['address']}" + (f"  {fields}" if fields else ""))
    return lines


def _shown(value: Any) -> str:
    from kea_etl.reconcile.hosts import field_text

    return field_text(value) or "none"


def _host_lines(result: ReconcileResult) -> list[str]:
    h = result.reservations
    if not h.compared:
        return ["  reservations: not compared (no source holds reservations)"]
    s = h.summary()
    lines = [f"  reservations: matched {h.matched}  missing {h.missing}  extra {h.extra}  "
             f"mismatched {h.mismatched}  (Kea's from {h.kea_source})",
             f"  source reservations: read {h.source_read}, compared {h.source_compared}, "
             "failed " + (", ".join(f"{k} {v}" for k, v in s["source"]["failed"].items()) or "0")
             + ", skipped "
             + (", ".join(f"{k} {v}" for k, v in s["source"]["skipped"].items()) or "0"),
             f"  Kea reservations: read {h.kea_read}"
             + "".join(f", ignored {k} {v}" for k, v in s["kea"]["ignored"].items())]
    if h.fields_mismatched:
        lines.append("  mismatched reservation fields: " + ", ".join(
            f"{k} {v}" for k, v in s["fields_mismatched"].items()))
    for i, d in enumerate(h.items[:10]):
        if i == 0:
            lines.append("  first reservation differences (missing: in the source, not in Kea; "
                         "extra: in Kea only; fields: source -> Kea):")
        where = f"subnet {d.subnet_id}" + (f" {' '.join(d.addresses)}" if d.addresses else "")
        fields = ", ".join(f"{k} {_shown(v.get('source'))} -> {_shown(v.get('kea'))}"
                           for k, v in d.fields.items())
        lines.append(f"    {d.category:<10} {d.key}  {where}" + (f"  {fields}" if fields else ""))
    return lines
