"""The servers an export reads, and the names they are stored under.

A server's name is the ``server`` column of every warehouse table, the ``server=`` Parquet / CSV
partition and the label of the notebook's plots. By default it is the server's URL without
credentials (``unix:///run/kea/kea4.sock``, ``http://10.0.0.2:8000/#dhcp4`` behind a Control
Agent), which keeps warehouses written before names existed consistent but makes partitions like
``server=unix%3A%2F%2F%2Frun%2Fkea%2Fkea4.sock``. ``--kea NAME=URL`` (or ``name:`` in a pipeline)
gives it a short stable name instead; the name must then stay the same night after night, since
the history (:mod:`kea_etl.export.history`) follows a server by it. A name covers both daemons
behind a Control Agent (``--service dhcp4 --service dhcp6``): their rows differ by family.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kea_etl.errors import ConfigError

if TYPE_CHECKING:
    from kea_etl.options import ExportOptions

__all__ = ["KeaTarget", "check_targets", "parse_target", "server_label", "server_text",
           "targets_for", "targets_of"]

#: the longest name the warehouse's ``server`` column holds
MAX_NAME = 255


def server_label(url: str, service: str | None = None) -> str:
    """The name a server is stored under: its URL without credentials, plus ``#service``."""
    from kea_etl.urls import redact_url

    url = redact_url(url)
    return f"{url}#{service}" if service else url


def check_name(name: str) -> str:
    """``name`` if it can name a server, else ConfigError saying why."""
    why = None
    if not name:
        why = "it is empty"
    elif "/" in name:
        why = "it contains '/' (a partition directory name cannot)"
    elif "=" in name:
        why = "it contains '=' (NAME=URL could not be read back)"
    elif not name.isprintable() or name != name.strip() or any(c.isspace() for c in name):
        why = "it contains a space or a control character"
    elif len(name) > MAX_NAME:
        why = f"it is longer than {MAX_NAME} characters"
    if why is not None:
        raise ConfigError(f"server name {name!r} is not usable: {why}; use letters, digits, "
                          "'-', '_', '.' (e.g. dhcp-a)")
    return name


@dataclass(frozen=True, slots=True)
class KeaTarget:
    """One server to export: a URL, the Control Agent service if any, an optional label."""

    url: str
    service: str | None = None
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or server_label(self.url, self.service)


def parse_target(text: str) -> tuple[str | None, str]:
    """``--kea`` as given: ``NAME=URL`` -> (NAME, URL), a bare URL -> (None, URL).

    A URL's own ``=`` (a query string) comes after its ``://``, so text whose part before the
    first ``=`` holds no ``://`` is a name. ConfigError for an unusable name or a missing URL.
    """
    name, sep, url = text.partition("=")
    if not sep or "://" in name:
        return None, text
    check_name(name)
    if not url:
        raise ConfigError(f"server {text}: no URL after the name (write NAME=URL, e.g. "
                          f"{name}=unix:///run/kea/kea4.sock)")
    return name, url


def server_text(item: Any) -> str:
    """A pipeline's server item as ``--kea`` writes it: a URL or ``NAME=URL`` as is, a mapping
    ``{name: NAME, url: URL}`` as ``NAME=URL`` (:func:`parse_target` reads it back)."""
    if not isinstance(item, dict):
        return str(item)
    if set(item) - {"name", "url"} or "url" not in item:
        raise ConfigError(f"a server is a URL, NAME=URL or {{name: NAME, url: URL}}, not {item!r}")
    if item.get("name") is None:
        return str(item["url"])
    return f"{check_name(str(item['name']))}={item['url']}"


def targets_of(options: ExportOptions) -> list[KeaTarget]:
    """The targets of an export's ``kea`` (URL or NAME=URL each) and ``service``."""
    return targets_for([parse_target(text) for text in options.kea], options.service)


def targets_for(servers: Iterable[tuple[str | None, str]],
                services: Sequence[str] = ()) -> list[KeaTarget]:
    """The targets of ``(name, url)`` pairs: an http(s) URL with ``services`` (a Control Agent)
    becomes one target per service, under the one name if given. Names are checked
    (:func:`check_targets`)."""
    targets: list[KeaTarget] = []
    named: dict[str, str] = {}
    for name, url in servers:
        if name is not None:
            check_name(name)
            if name in named:
                raise ConfigError(f"the server name {name!r} is given twice (to "
                                  f"{server_label(named[name])} and {server_label(url)}): each "
                                  "server needs its own name")
            named[name] = url
        if services and url.startswith(("http://", "https://")):
            targets.extend(KeaTarget(url, service=s, label=name) for s in services)
        else:
            targets.append(KeaTarget(url, label=name))
    check_targets(targets)
    return targets


def check_targets(targets: Sequence[KeaTarget]) -> None:
    """ConfigError when two targets would write under the same name (one would replace the
    other's snapshot every night)."""
    seen: dict[tuple[str, str | None], KeaTarget] = {}
    for t in targets:
        key = (t.name, t.service)
        first = seen.setdefault(key, t)
        if first is t:
            continue
        raise ConfigError(f"the server {t.name}{f' (service {t.service})' if t.service else ''}"
                          " is given twice: give each server once, under its own name")
