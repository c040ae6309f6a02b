"""extract stage of kea-etl: one module per source kind, and :func:`open_source` to pick one.

A source is named on the command line as

* ``FORMAT:PATH`` with FORMAT one of ``isc-leases`` (dhcpd.leases / dhcpd6.leases),
  ``isc-conf`` (dhcpd.conf host declarations), ``csv`` (any CSV with a column mapping),
  ``kea-memfile`` (Kea's kea-leases4.csv / kea-leases6.csv), ``dnsmasq`` (dnsmasq.leases or
  a dnsmasq configuration's dhcp-host lines), ``pfsense`` (a pfSense / OPNsense config.xml's static
  mappings), ``windows`` (Windows DHCP Server: Export-DhcpServer XML or a DhcpServer cmdlet's
  Export-Csv; its local times need ``source_tz``), ``kea`` (a running Kea server's leases and
  reservations over its control channel: ``kea:unix:///run/kea/kea4.sock``; see
  :mod:`kea_etl.extract.kea_server`), ``kea-sql`` (Kea's own lease and host database:
  ``kea-sql:postgresql://kea@db/kea``; see :mod:`kea_etl.extract.kea_db`); a server or database
  source uses ``credentials`` (never the target's);
* a SQLAlchemy URL (``postgresql://...``, ``mysql+pymysql://...``, ``sqlite:///x.db``), read with
  ``query`` (a SELECT, or a table name);
* a plain path: the format is detected from the file's first bytes by asking each extractor's
  ``sniff(head)`` in a fixed order (Kea memfile, dhcpd leases, dhcpd.conf, pfSense, dnsmasq,
  Windows DHCP Server, CSV).

Extractor modules are imported only when a source needs them, so a missing optional dependency
(a database driver, say) only matters to runs that use it.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from kea_etl._files import open_regular, require_regular
from kea_etl.errors import ConfigError
from kea_etl.extract.base import ExtractItem
from kea_etl.urls import redact_url, refuse_password

__all__ = ["FORMATS", "NOT_FILES", "Source", "open_source", "resolve_source"]

#: FORMAT prefix -> extractor module in this package (sniffing order: memfile first, csv last)
FORMATS: dict[str, str] = {
    "kea-memfile": "kea_memfile",
    "isc-leases": "isc_leases",
    "isc-conf": "isc_conf",
    "dnsmasq": "dnsmasq",
    "pfsense": "pfsense",
    "windows": "windows",
    "csv": "csvfile",
    "sql": "sql",
    "kea": "kea_server",
    "kea-sql": "kea_db",
}
#: a server or database source's credentials come from these variables, not the target's
#: (kea_etl.load.credentials.SOURCE_PREFIX; kept here so that the hint needs no import of load)
SOURCE_ENV_PREFIX = "KEA_ETL_SOURCE_"
#: sources that are not files (a server, a database): no file checks, no byte progress
NOT_FILES = frozenset({"sql", "kea", "kea-sql"})
_SNIFF_ORDER = ("kea-memfile", "isc-leases", "isc-conf", "pfsense", "dnsmasq", "windows", "csv")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://")
_HEAD_BYTES = 4096


def _module(fmt: str) -> ModuleType:
    name = FORMATS[fmt]
    try:
        return importlib.import_module(f"kea_etl.extract.{name}")
    except ImportError as exc:
        raise ConfigError(f"the {fmt} extractor is not available: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Source:
    """A resolved source: its format and location. :meth:`open` may be called more than once.

    A dhcpd lease file is opened once, by the first :meth:`open`, and every later one reads the
    same bytes from that open file (:class:`kea_etl.extract.isc_leases.Snapshot`): a migration
    that scans the file for conflicts and then loads it sees one file, even when dhcpd rewrites
    or appends to it in between.
    """

    spec: str
    format: str
    location: str
    query: str | None = None
    mapping: Any = None
    #: the zone of a source's zone-less local times (Windows DHCP Server exports): --source-tz
    source_tz: str | None = None
    #: who kea-etl is to a ``kea:`` / ``kea-sql:`` source (a LiveCredentials; not the target's)
    credentials: Any = field(default=None, compare=False, repr=False)
    _pinned: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def open(self) -> Iterator[ExtractItem]:
        """A fresh stream of ``Extracted`` / ``MalformedRecordError`` items from the start."""
        if self.format not in NOT_FILES:  # a FIFO or a device never ends: only regular files
            require_regular(self.location, what="source")
        mod = _module(self.format)
        options: dict[str, Any] = {}
        if self.format == "sql":
            if self.query is None:
                raise ConfigError(f"source {self.spec}: a database URL needs --query "
                                  "(a SELECT statement or a table name)")
            options["query"] = self.query
        if self.mapping is not None and self.format in ("csv", "sql"):
            options["mapping"] = self.mapping
        if self.format == "windows":
            options["source_tz"] = self.source_tz
        if self.format in ("isc-leases", "kea", "kea-sql"):  # one read, however many passes
            if "snapshot" not in self._pinned:
                self._pinned["snapshot"] = (
                    mod.Snapshot(self.location) if self.format == "isc-leases"
                    else mod.Snapshot(self.location, credentials=self.credentials))
            options["snapshot"] = self._pinned["snapshot"]
        items: Iterator[ExtractItem] = mod.extract(self.location, **options)
        return items

    def __str__(self) -> str:
        if self.format == "sql":
            return redact_url(self.location)
        if self.format in NOT_FILES:
            return f"{self.format}:{redact_url(self.location)}"
        return f"{self.format}:{self.location}"


def resolve_source(spec: str, *, query: str | None = None, mapping: Any = None,
                   source_tz: str | None = None, credentials: Any = None) -> Source:
    """Work out the format of ``spec`` (prefix, URL or content). Raises :class:`ConfigError`."""
    if _URL.match(spec):
        return Source(spec, "sql", spec, query=query, mapping=mapping)
    fmt, sep, rest = spec.partition(":")
    if sep and fmt in FORMATS and fmt != "sql":
        if not rest:
            raise ConfigError(f"source {spec!r}: no path after '{fmt}:'")
        if fmt in NOT_FILES:  # before anything is read: a password never rides in a URL
            refuse_password(f"{fmt}:{rest}", env_prefix=SOURCE_ENV_PREFIX)
        return Source(spec, fmt, rest, query=query, mapping=mapping, source_tz=source_tz,
                      credentials=credentials)
    path = Path(spec)
    try:
        with open_regular(path, what="source") as fh:  # not a FIFO or device: says which
            head = fh.read(_HEAD_BYTES)
    except OSError as exc:
        raise ConfigError(f"source {spec}: cannot read it ({exc.strerror or exc})") from exc
    if not head.strip():
        raise ConfigError(f"source {spec}: the file is empty; cannot tell its format (prefix it "
                          "with isc-leases:, isc-conf:, dnsmasq:, pfsense:, windows:, csv: or "
                          "kea-memfile:)")
    for fmt in _SNIFF_ORDER:
        try:
            mod = _module(fmt)
        except ConfigError:
            continue
        if mod.sniff(head):
            return Source(spec, fmt, spec, query=query, mapping=mapping, source_tz=source_tz)
    raise ConfigError(f"source {spec}: cannot tell its format from its content; prefix it with "
                      "isc-leases:, isc-conf:, dnsmasq:, pfsense:, windows:, csv: or "
                      "kea-memfile:")


def open_source(spec: str, *, query: str | None = None, mapping: Any = None,
                source_tz: str | None = None, credentials: Any = None
                ) -> Iterator[ExtractItem]:
    """Stream the items of the source named ``spec`` (see the module docstring)."""
    return resolve_source(spec, query=query, mapping=mapping, source_tz=source_tz,
                          credentials=credentials).open()
