"""Export stage: leases and statistics out of Kea into a SQL warehouse, Parquet and CSV.

``run_export(targets, ...)`` is what ``kea-etl export`` and the nightly pipeline call: every
(server, family) pair is exported in its own thread; inside it, :mod:`.kea_api` walks
``leaseN-get-page`` one page ahead of the writers, each page becomes an Arrow record batch and
goes to every sink (:mod:`.warehouse`, :mod:`.parquet`, :mod:`.delta`), then :mod:`.stats` adds
the statistics.
Memory is bounded by a few pages per server whatever the lease count. A server that fails is
reported in its :class:`ExportResult` (its partial rows and files are rolled back) while the
others complete; :meth:`ExportReport.exit_code` is then 1.
"""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kea_etl import clock
from kea_etl.errors import KeaEtlError, KeaUnsupportedError
from kea_etl.export.kea_api import (
    LEASE_SCHEMA,
    Family,
    iter_lease_batches,
)
from kea_etl.export.stats import STATS_SCHEMA, StatRow, collect_stats, stats_to_batch
from kea_etl.export.targets import (
    KeaTarget,
    check_targets,
    server_label,
    targets_for,
    targets_of,
)
from kea_etl.progress import Progress as ProgressEvent
from kea_etl.progress import ProgressCallback

if TYPE_CHECKING:
    from kea_etl.export.delta import DeltaRun
    from kea_etl.export.parquet import Format, PartitionedFileSink
    from kea_etl.export.warehouse import Warehouse, WarehouseRun
    from kea_etl.options import ExportOptions

__all__ = [
    "ExportClient",
    "ExportReport",
    "ExportResult",
    "KeaTarget",
    "Warehouse",
    "export_server",
    "run",
    "run_export",
    "server_label",
    "targets_for",
]

#: ``progress(Progress(task="SERVER vFAMILY", phase="exporting", done=leases, total=...))``:
#: the total is Kea's own count (stat-leaseN-get: assigned + declined over the exported
#: subnets), None without the stat_cmds hook
Progress = ProgressCallback


def lease_total(client: ExportClient, family: int,
                subnets: Collection[int] | None = None) -> int | None:
    """How many leases the server holds, by its own statistics (``stat-leaseN-get``): the total
    of an export's progress. Leases Kea has not reclaimed yet are exported too, so the export
    may end a little past it. None when the server cannot say (no stat_cmds hook)."""
    try:
        resp = client.call(f"stat-lease{family}-get", None)
    except KeaEtlError:
        return None
    args = resp.get("arguments") if isinstance(resp, dict) else getattr(resp, "arguments", None)
    rs = args.get("result-set") if isinstance(args, dict) else None
    if not isinstance(rs, dict):
        return None
    cols = list(rs.get("columns") or [])
    total = 0
    for raw in rs.get("rows") or []:
        row = dict(zip(cols, raw, strict=False))
        if subnets is not None and row.get("subnet-id") not in subnets:
            continue
        total += sum(int(row.get(k) or 0) for k in (
            ("assigned-addresses", "declined-addresses") if family == 4
            else ("assigned-nas", "declined-nas", "assigned-pds")))
    return total


class ExportClient(Protocol):
    """The Kea client methods the export uses (:class:`kea_etl.kea.KeaClient` has them)."""

    def lease4_get_page(self, start: str, limit: int) -> list[dict[str, Any]]: ...

    def lease6_get_page(self, start: str, limit: int) -> list[dict[str, Any]]: ...

    def call(self, command: str, arguments: dict[str, Any] | None = None) -> Any: ...

    def version_get(self) -> str: ...

    def config_get(self) -> dict[str, Any]: ...


@dataclass
class ExportResult:
    """What happened to one (server, family)."""

    server: str
    family: int | None
    leases: int = 0
    stats: int = 0
    kea_version: str = ""
    run_id: str | None = None
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"server": self.server, "family": self.family, "leases": self.leases,
                "stats": self.stats, "kea_version": self.kea_version, "run_id": self.run_id,
                "files": self.files, "warnings": self.warnings, "error": self.error}


@dataclass
class ExportReport:
    exported_at: datetime
    export_date: date
    results: list[ExportResult] = field(default_factory=list)
    warehouse: str | None = None
    added_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.error is None for r in self.results)

    @property
    def leases(self) -> int:
        return sum(r.leases for r in self.results)

    def exit_code(self) -> int:
        """0 when every server exported, 1 when at least one failed."""
        return 0 if self.ok and self.results else 1

    def to_json(self) -> dict[str, Any]:
        return {"exported_at": self.exported_at.isoformat(),
                "export_date": self.export_date.isoformat(), "warehouse": self.warehouse,
                "added_columns": self.added_columns, "leases": self.leases,
                "results": [r.to_json() for r in self.results]}


def _formats(parquet_dir: str | Path | None,
             csv_dir: str | Path | None) -> list[tuple[str | Path, Format]]:
    out: list[tuple[str | Path, Format]] = []
    if parquet_dir is not None:
        out.append((parquet_dir, "parquet"))
    if csv_dir is not None:
        out.append((csv_dir, "csv"))
    return out


def _message(exc: BaseException) -> str:
    if isinstance(exc, KeaEtlError):
        return str(exc)
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def export_server(client: ExportClient, *, server: str, family: Family, exported_at: datetime,
                  export_date: date | None = None, kea_version: str | None = None,
                  warehouse: Warehouse | None = None, parquet_dir: str | Path | None = None,
                  csv_dir: str | Path | None = None, page_size: int = 1000,
                  subnets: Collection[int] | None = None, stats: bool = True,
                  progress: Progress | None = None, prefetch: int = 2,
                  delta_dir: str | Path | None = None) -> ExportResult:
    """Export one server's leases (one family) and statistics to every given sink.

    Never raises for a failure of this server: the error is in the result, its warehouse rows
    are deleted and its temporary files removed (earlier complete files stay).
    """
    from kea_etl.export.delta import DeltaRun
    from kea_etl.export.parquet import PartitionedFileSink

    result = ExportResult(server=server, family=family)
    day = export_date or exported_at.date()
    run: WarehouseRun | None = None
    sinks: list[PartitionedFileSink] = []
    delta: DeltaRun | None = None
    try:
        version = kea_version if kea_version is not None else client.version_get()
        result.kea_version = version
        if warehouse is not None:
            run = warehouse.begin_run(server=server, family=family, exported_at=exported_at,
                                      kea_version=version, export_date=day, subnets=subnets)
            result.run_id = run.run_id
            if run.waited:
                result.warnings.append(
                    f"{server} (DHCPv{family}): waited for another export of this server to "
                    "finish; this run's snapshot replaces that one")
        task = f"{server} v{family}"
        total = lease_total(client, family, subnets) if progress is not None else None
        if progress is not None:
            progress(ProgressEvent(task, "exporting", 0, total, "leases"))
        lease_files: list[PartitionedFileSink] = []
        for root, fmt in _formats(parquet_dir, csv_dir):
            sink = PartitionedFileSink(root, dataset="leases", name=f"leases-v{family}",
                                       export_date=day, server=server, schema=LEASE_SCHEMA,
                                       fmt=fmt)
            sinks.append(sink)
            lease_files.append(sink)
        if delta_dir is not None:
            delta = DeltaRun(delta_dir, server=server, family=family, export_date=day,
                             subnets=subnets)
        for batch in iter_lease_batches(client, family, exported_at=exported_at,
                                        kea_version=version, page_size=page_size,
                                        subnets=subnets, prefetch=prefetch,
                                        idle=run.idle if run is not None else None):
            for sink in lease_files:
                sink.write(batch)
            if delta is not None:
                delta.write(batch)
            if run is not None:
                run.write_leases(batch)
            result.leases += batch.num_rows
            if progress is not None:
                progress(ProgressEvent(task, "exporting", result.leases, total, "leases"))
        rows: list[StatRow] = []
        if stats:
            try:
                rows = collect_stats(client, family, subnets=subnets)
            except KeaUnsupportedError as exc:
                # No stat_cmds hook: keep the leases and the built-in counters.
                result.warnings.append(f"{server}: no per-subnet lease statistics ({exc})")
                rows = collect_stats(client, family, subnets=subnets, lease_stats=False)
        result.stats = len(rows)
        if rows:
            sbatch = stats_to_batch(rows, exported_at=exported_at, kea_version=version)
            for root, fmt in _formats(parquet_dir, csv_dir):
                sink = PartitionedFileSink(root, dataset="stats", name=f"stats-v{family}",
                                           export_date=day, server=server,
                                           schema=STATS_SCHEMA, fmt=fmt)
                sinks.append(sink)
                sink.write(sbatch)
            if run is not None:
                run.write_stats(rows)
        if delta is not None:
            # first: a Delta conflict that outlasts the retries fails the run before its files
            # and warehouse rows are published
            dstats = delta.commit()
            result.files.extend(str(p) for p in delta.tables.values())
            if dstats.retries:
                result.warnings.append(
                    f"{server} (DHCPv{family}): {dstats.retries} Delta commit(s) retried after "
                    "a concurrent export's commit")
        for sink in sinks:
            result.files.append(str(sink.commit()))
        if run is not None:
            run.complete()
            if run.escaped:
                shown = ", ".join(run.escaped[:10])
                more = f" and {len(run.escaped) - 10} more" if len(run.escaped) > 10 else ""
                result.warnings.append(
                    f"{server} (DHCPv{family}): {len(run.escaped)} value(s) held a NUL byte, "
                    f"stored in the warehouse with NUL written \\x00 (PostgreSQL text cannot "
                    f"hold NUL): {shown}{more}")
    except Exception as exc:  # noqa: BLE001 - one server's failure must not stop the others
        result.error = f"{server} (DHCPv{family}): {_message(exc)}"
        for sink in sinks:
            sink.abort()
        if delta is not None:
            delta.abort()
        if run is not None:
            try:
                run.fail(result.error)
            except Exception as exc2:  # noqa: BLE001
                result.warnings.append(f"could not record the failure in the warehouse: "
                                       f"{_message(exc2)}")
        result.leases = 0
    return result


ClientFactory = Callable[[str, "str | None"], ExportClient]


def _default_factory(url: str, service: str | None) -> ExportClient:
    from kea_etl.kea import KeaClient  # the client engineer's module
    client: ExportClient = KeaClient.from_url(url, service=service)
    return client


def _families(client: ExportClient, target: KeaTarget) -> list[Family]:
    """The family a server serves: from --service, else the top key of its config-get.

    (list-commands cannot tell: Kea's lease_cmds hook registers lease4-* and lease6-* commands
    in kea-dhcp4 and kea-dhcp6 alike.)
    """
    if target.service in ("dhcp4", "dhcp6"):
        return [4 if target.service == "dhcp4" else 6]
    config = client.config_get()
    fams: list[Family] = []
    if "Dhcp4" in config:
        fams.append(4)
    if "Dhcp6" in config:
        fams.append(6)
    if not fams:
        hint = (" (a Control Agent? pass --service dhcp4 or dhcp6)"
                if target.url.startswith(("http://", "https://")) else "")
        raise KeaEtlError(f"{target.name}: config-get shows neither Dhcp4 nor Dhcp6{hint}")
    return fams


def run_export(targets: Sequence[KeaTarget], *, families: Collection[int] = (4, 6),
               warehouse: str | Warehouse | None = None, parquet_dir: str | Path | None = None,
               csv_dir: str | Path | None = None, page_size: int = 1000,
               subnets: Collection[int] | None = None, stats: bool = True,
               exported_at: datetime | None = None, export_date: date | None = None,
               client_factory: ClientFactory | None = None,
               progress: Progress | None = None, max_workers: int | None = None,
               prefetch: int = 2, delta_dir: str | Path | None = None) -> ExportReport:
    """Export every target concurrently; see the module docstring. Never raises for one server."""
    from kea_etl.export.warehouse import Warehouse

    check_targets(targets)  # two servers under one name would replace each other's rows
    now = (exported_at or clock.now_datetime()).astimezone(UTC)
    day = export_date or now.date()
    wh = Warehouse(warehouse) if isinstance(warehouse, str) else warehouse
    report = ExportReport(exported_at=now, export_date=day,
                          warehouse=wh.url if wh is not None else None)
    if wh is not None:
        report.added_columns = wh.ensure_schema()
    factory = client_factory or _default_factory
    lock = threading.Lock()

    def one_target(target: KeaTarget) -> list[ExportResult]:
        try:
            client = factory(target.url, target.service)
            fams = [f for f in _families(client, target) if f in families]
            version = client.version_get()
        except Exception as exc:  # noqa: BLE001
            return [ExportResult(server=target.name, family=None,
                                 error=f"{target.name}: {_message(exc)}")]
        if not fams:
            return [ExportResult(server=target.name, family=None,
                                 warnings=[f"{target.name}: serves no requested family"])]
        out = []
        for fam in fams:
            out.append(export_server(client, server=target.name, family=fam, exported_at=now,
                                     export_date=day, kea_version=version, warehouse=wh,
                                     parquet_dir=parquet_dir, csv_dir=csv_dir,
                                     page_size=page_size, subnets=subnets, stats=stats,
                                     progress=progress, prefetch=prefetch,
                                     delta_dir=delta_dir))
        return out

    workers = max_workers or max(1, len(targets))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kea-etl-export") as pool:
        for results in pool.map(one_target, targets):
            with lock:
                report.results.extend(results)
    return report


def run(options: ExportOptions, *, client_factory: ClientFactory | None = None,
        exported_at: datetime | None = None, progress: Progress | None = None) -> ExportReport:
    """The export ``options`` describe: what ``kea-etl export``, a pipeline's export step and
    :func:`kea_etl.export` run (:func:`run_export` with the servers of ``options.kea``)."""
    return run_export(targets_of(options), families=options.families, warehouse=options.to,
                      parquet_dir=options.parquet, csv_dir=options.csv, delta_dir=options.delta,
                      page_size=options.page_size, subnets=options.subnets or None,
                      stats=options.stats, exported_at=exported_at,
                      export_date=options.export_date, client_factory=client_factory,
                      progress=progress)


def __getattr__(name: str) -> Any:
    # the warehouse (SQLAlchemy) and the file sinks (pyarrow.parquet) load on first use, so
    # reading lease pages (reconcile --kea) does not pay for them
    if name == "Warehouse":
        from kea_etl.export.warehouse import Warehouse

        return Warehouse
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _CallablePackage(types.ModuleType):
    """This package, callable: ``import kea_etl.export.warehouse`` binds ``kea_etl.export`` to
    the package where it was the front-door function (kea_etl/__init__.py), so a call goes on
    to that function and ``kea_etl.export(...)`` works whatever was imported first."""

    def __call__(self, *args: Any, **kwargs: Any) -> ExportReport:
        from kea_etl import _export_front

        return _export_front(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
