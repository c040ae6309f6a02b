"""Targets by name: ``--to PREFIX:LOCATION`` -> the loader for it.

``memfile:OUTDIR`` (:mod:`kea_etl.load.memfile`), ``kea:URL`` (:mod:`kea_etl.load.api`) and
``kea-sql:URL`` (:mod:`kea_etl.load.kea_sql`) are registered here; other loaders register their
prefix with :func:`register_target`. :func:`make_loader` builds one target's loader; several
``kea:`` targets make an HA pair (:func:`kea_etl.load.ha.make_targets_loader`). This lives in the
load stage, not beside the orchestrator, so that a loader module that builds loaders by name
does not import :mod:`kea_etl.migration`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from kea_etl.errors import ConfigError

if TYPE_CHECKING:
    from kea_etl.load.base import Loader
    from kea_etl.transform.subnets import SubnetMap

__all__ = ["TargetFactory", "make_loader", "register_target"]


class TargetFactory(Protocol):
    def __call__(self, location: str, *, subnets: SubnetMap | None, **options: Any) -> Loader: ...


# Each loader module is imported only when its target is used (kea-sql pulls in SQLAlchemy).
def _memfile_factory(location: str, *, subnets: SubnetMap | None, **options: Any) -> Loader:
    from kea_etl.load.memfile import MemfileLoader

    unknown = set(options) - {"kea_version", "dry_run"}
    if unknown:
        raise ConfigError(f"memfile target: option(s) {', '.join(sorted(unknown))} do not apply")
    return MemfileLoader(location, subnets=subnets, **options)


def _kea_factory(location: str, *, subnets: SubnetMap | None, **options: Any) -> Loader:
    from kea_etl.load.api import make_kea_loader

    return make_kea_loader(location, subnets=subnets, **options)


def _kea_sql_factory(location: str, *, subnets: SubnetMap | None, **options: Any) -> Loader:
    from kea_etl.load.kea_sql import make_kea_sql_loader

    return make_kea_sql_loader(location, subnets=subnets, **options)


_TARGETS: dict[str, TargetFactory] = {"memfile": _memfile_factory, "kea": _kea_factory,
                                      "kea-sql": _kea_sql_factory}


def register_target(prefix: str, factory: TargetFactory) -> None:
    """Make ``--to PREFIX:LOCATION`` build a loader with ``factory(LOCATION, subnets=..., **opts)``."""
    _TARGETS[prefix] = factory


def make_loader(target: str, *, subnets: SubnetMap | None, **options: Any) -> Loader:
    """Build the loader for a target such as ``memfile:out``. Options with value None are dropped."""
    prefix, sep, location = target.partition(":")
    if not sep or prefix not in _TARGETS:
        known = ", ".join(f"{p}:..." for p in sorted(_TARGETS))
        raise ConfigError(f"--to {target!r}: unknown target; use one of {known}")
    if not location:
        raise ConfigError(f"--to {target!r}: nothing after '{prefix}:'")
    opts = {k: v for k, v in options.items() if v is not None}
    return _TARGETS[prefix](location, subnets=subnets, **opts)
