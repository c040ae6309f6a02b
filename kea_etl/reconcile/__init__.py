"""Reconciliation: compare a migration source with what a Kea server holds, record by record.

``kea-etl reconcile`` and the pipelines' reconcile step call :func:`reconcile_kea` (a live Kea)
or :func:`reconcile_file` (the files a Kea would load). The modules:

* :mod:`.compare`: the source through the migration's policy, both sides, the lease comparison
  and its :class:`ReconcileResult` (JSON and CSV writers);
* :mod:`.hosts`: the host reservation half;
* :mod:`.kea_files`: the Kea side read from a memfile set exactly as Kea loads it, or from a
  kea-etl export;
* :mod:`.html_report`: the self-contained HTML page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kea_etl.errors import ConfigError
from kea_etl.options import cli_name
from kea_etl.progress import ProgressCallback
from kea_etl.reconcile.compare import (
    DEFAULT_TOLERANCE,
    SAMPLE_LIMIT,
    PoolCounts,
    ReconcileClient,
    ReconcileResult,
    Sources,
    SubnetCounts,
    compare_records,
    kinds_for_formats,
    open_sources,
    pool_stats,
    reconcile,
    reconcile_file,
    reconcile_kea,
)
from kea_etl.reconcile.html_report import render_html, write_html
from kea_etl.reconcile.kea_files import KeaFileLeases

if TYPE_CHECKING:
    from kea_etl.load.credentials import LiveCredentials
    from kea_etl.options import ReconcileOptions

__all__ = [
    "DEFAULT_TOLERANCE",
    "SAMPLE_LIMIT",
    "KeaFileLeases",
    "PoolCounts",
    "ReconcileClient",
    "ReconcileResult",
    "Sources",
    "SubnetCounts",
    "check_options",
    "compare_records",
    "kinds_for_formats",
    "open_sources",
    "pool_stats",
    "reconcile",
    "reconcile_file",
    "reconcile_kea",
    "render_html",
    "run",
    "write_html",
]


def check_options(options: ReconcileOptions, *, name: Callable[[str], str] = cli_name) -> None:
    """ConfigError unless ``options`` name exactly one Kea side (``kea`` or ``against``), and
    files come with the configuration they are read with. ``name(field)`` names an option in
    the caller's words (``--against`` on the command line, ``'against'`` in a pipeline)."""
    if (options.kea is None) == (options.against is None):
        raise ConfigError(f"give exactly one of {name('kea')} URL (a running Kea) or "
                          f"{name('against')} PATH (Kea's lease file, a directory holding it, "
                          "or a kea-etl export)")
    if options.against is not None and options.kea_config is None:
        raise ConfigError(f"{name('against')} needs {name('kea_config')} KEA.json (the "
                          "target's subnets, for the migration policy and the per-subnet "
                          "counts)")


def run(options: ReconcileOptions, *,
        client_factory: Callable[[str, str | None], Any] | None = None,
        source_credentials: LiveCredentials | None = None,
        progress: ProgressCallback | None = None,
        name: Callable[[str], str] = cli_name) -> ReconcileResult:
    """The reconciliation ``options`` describe: what ``kea-etl reconcile`` and a pipeline's
    reconcile step run. ``client_factory(url, service)`` opens ``options.kea`` (default: no
    credentials); ``source_credentials`` are a ``kea:`` / ``kea-sql:`` source's."""
    from kea_etl.records import epoch
    from kea_etl.transform.subnets import load_kea_config

    check_options(options, name=name)
    o = options
    src = open_sources(o.sources, query=o.query, mapping=o.mapping, source_tz=o.source_tz,
                       credentials=source_credentials)
    when = epoch(o.as_of) if o.as_of else None
    tolerance = DEFAULT_TOLERANCE if o.tolerance is None else o.tolerance
    only = int(o.family) if o.family else None
    if o.against is not None:
        assert o.kea_config is not None  # check_options
        return reconcile_file(src.items, o.against, kea_config=load_kea_config(o.kea_config),
                              as_of=when, tolerance=tolerance, abandoned=o.abandoned,
                              source_name=src.name, allow_unmapped=o.allow_unmapped,
                              progress=progress, compare=src.compare, only_family=only)
    assert o.kea is not None
    from kea_etl.export.targets import server_label  # not for files: it loads the exporters

    if client_factory is None:
        from kea_etl.load.credentials import LiveCredentials

        client = LiveCredentials().kea_client(o.kea, service=o.service)
    else:
        client = client_factory(o.kea, o.service)
    config = load_kea_config(o.kea_config) if o.kea_config else client.config_get()
    return reconcile_kea(src.items, client, kea_config=config, as_of=when, tolerance=tolerance,
                         abandoned=o.abandoned, source_name=src.name, compare=src.compare,
                         only_family=only, server=server_label(o.kea, o.service),
                         kea_version=client.version_get(), page_size=o.page_size,
                         allow_unmapped=o.allow_unmapped, progress=progress)
