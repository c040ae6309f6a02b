"""kea-etl: move DHCP leases and reservations into, out of and around ISC Kea.

The front door (docs/python-api.md)::

    import kea_etl
    report = kea_etl.migrate(["dhcpd.leases", "dhcpd.conf"], to="memfile:out",
                             kea_config=["kea-dhcp4.json"], kea_version="2.6")
    assert report.exit_code() == 0

:func:`migrate` and :func:`export` do what ``kea-etl migrate`` and ``kea-etl export`` do, with
credentials as arguments (:class:`~kea_etl.load.credentials.LiveCredentials`), never read from
the environment. The pieces behind them stay public: ``kea_etl.extract``, ``transform``,
``load``, ``export``, the orchestrator ``kea_etl.migration`` and the Kea client ``kea_etl.kea``.
Heavy modules are imported only when a function needs them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kea_etl.errors import ConfigError, KeaEtlError
from kea_etl.records import Lease4, Lease6, Reservation
from kea_etl.report import RunReport

if TYPE_CHECKING:
    from kea_etl.export import ExportReport
    from kea_etl.load.credentials import LiveCredentials

__version__ = "0.1.0"
__all__ = ["KeaEtlError", "Lease4", "Lease6", "Reservation", "RunReport", "__version__", "export",
           "migrate"]


def migrate(sources: str | Sequence[str], *, to: str | Sequence[str],
            kea_config: str | Path | Sequence[str | Path] = (),
            as_of: int | datetime | str | None = None, dry_run: bool = False,
            family: int | None = None, allow_unmapped: bool = False,
            abandoned: str = "skip", kea_version: str | None = None,
            credentials: LiveCredentials | None = None,
            source_credentials: LiveCredentials | None = None,
            query: str | None = None, mapping: Any = None, source_tz: str | None = None,
            report_path: str | None = None, **target_options: Any) -> RunReport:
    """Move ``sources`` into the target(s) ``to``, as ``kea-etl migrate`` does; the report.

    ``to``: ``memfile:DIR``, ``kea:URL`` or ``kea-sql:URL`` (two ``kea:`` URLs: an HA pair).
    ``kea_config``: the target Kea's configuration file(s); required for memfile and kea-sql
    targets, checked against a live target's own (config-get) otherwise. ``credentials`` are
    the target's, ``source_credentials`` a ``kea:`` / ``kea-sql:`` source's.
    ``target_options``: the other fields of :class:`kea_etl.options.MigrateOptions`, what the
    live targets take (``mode``, ``on_conflict``, ``workers``, ``service``,
    ``allow_config_write``, ``resume``, ``keep_state``, ``pause_service`` ...).
    Raises :class:`KeaEtlError` subclasses for usage and whole-run problems; per-record outcomes
    are in the report (``report.exit_code()`` is the CLI's exit status).
    """
    from dataclasses import fields

    from kea_etl.migration import run
    from kea_etl.options import MigrateOptions
    from kea_etl.records import epoch, from_epoch

    specs = [sources] if isinstance(sources, str) else list(sources)
    targets = [to] if isinstance(to, str) else list(to)
    configs = [kea_config] if isinstance(kea_config, str | Path) else list(kea_config)
    unknown = set(target_options) - {f.name for f in fields(MigrateOptions)}
    if unknown:
        raise ConfigError(f"{', '.join(sorted(unknown))}: not an option of kea_etl.migrate")
    if target_options and not targets[0].startswith(("kea:", "kea-sql:")):
        raise ConfigError(f"{', '.join(sorted(target_options))}: option(s) of live targets "
                          f"(kea:URL, kea-sql:URL), not of {targets[0]}")
    when = as_of if as_of is None or isinstance(as_of, str) else from_epoch(epoch(as_of))
    options = MigrateOptions(
        sources=tuple(specs), to=tuple(targets), kea_config=tuple(str(c) for c in configs),
        as_of=when.isoformat() if isinstance(when, datetime) else when, report=report_path,
        dry_run=dry_run, family=str(family) if family is not None else None,
        allow_unmapped=allow_unmapped, abandoned=abandoned, kea_version=kea_version,
        query=query, mapping=mapping, source_tz=source_tz, **target_options)
    return run(options, credentials=credentials, source_credentials=source_credentials,
               name=lambda field: field)


def _export_front(servers: str | Sequence[str], *, to: str | None = "sqlite:///kea-leases.db",
           parquet: str | Path | None = None, csv: str | Path | None = None,
           delta: str | Path | None = None,
           families: Collection[int] = (4, 6), service: Sequence[str] = (),
           stats: bool = True, credentials: LiveCredentials | None = None,
           exported_at: datetime | None = None) -> ExportReport:
    """Export the leases (and statistics) of Kea ``servers`` (``URL`` or ``NAME=URL`` each), as
    ``kea-etl export`` does: into the warehouse ``to`` (a SQLAlchemy URL; None for none) and/or
    Parquet / CSV directories, and/or Delta Lake tables under ``delta``. ``service``: ``dhcp4`` /
    ``dhcp6`` behind a Control Agent. Never raises for one server: see ``report.results`` and
    ``report.exit_code()``."""
    from kea_etl.export import run
    from kea_etl.load.credentials import LiveCredentials
    from kea_etl.options import ExportOptions

    given = [servers] if isinstance(servers, str) else list(servers)
    family = "both" if set(families) >= {4, 6} else ",".join(str(f) for f in sorted(families))
    options = ExportOptions(kea=tuple(given), service=tuple(service), family=family, to=to,
                            parquet=None if parquet is None else str(parquet),
                            csv=None if csv is None else str(csv),
                            delta=None if delta is None else str(delta), stats=stats)
    creds = credentials or LiveCredentials()
    return run(options, exported_at=exported_at,
               client_factory=lambda url, svc: creds.kea_client(url, service=svc))


#: ``kea_etl.export(...)``. Importing a module of the ``kea_etl.export`` package rebinds this
#: name to the package; the package is callable and calls the same function
#: (kea_etl/export/__init__.py), so the front door works whatever was imported before.
export = _export_front
