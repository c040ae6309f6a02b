"""A running Kea server as a source (``kea:URL``): its leases and host reservations.

For moves between Kea installations (memfile -> SQL, 2.x -> 3.x, one server -> an HA pair):
``kea-etl migrate kea:unix:///old/kea4.sock --to kea-sql:postgresql://...``.

What is read, over the control channel (``unix:///path``, ``http(s)://host:port``):

* the families: ``config-get`` names ``Dhcp4`` or ``Dhcp6`` (a daemon's own socket); a Control
  Agent's answer (``Control-agent``) lists the daemons it reaches in ``control-sockets``, and each
  of those is read through it (``service``);
* leases: ``lease4-get-page`` / ``lease6-get-page`` (lease_cmds), every state. State 2
  (expired-reclaimed) comes out as binding state "expired" and 3 (released) as "released", as
  from a memfile (:func:`~kea_etl.extract.base.kea_binding_state`), so the policy decides the
  same way; user context (extended info included) and declined state are carried exactly.
  ``pool-id`` is not: Kea derives it from the target's pools;
* reservations: ``reservation-get-page`` without a subnet (host_cmds; every host source, the
  configuration first, then each hosts database) where the server has it, else the
  ``reservations`` of ``config-get`` (global, each subnet, each shared network's subnets). A
  server with a hosts database (``hosts-database(s)``) and no host_cmds cannot show those
  hosts: that is an error, not a silent gap; read them with ``kea-sql:DBURL`` and this source
  with ``#leases``. Host fields kea-etl does not carry (``server-hostname``, v6
  ``excluded-prefixes``) are listed as not translated, with the host.

A fragment picks what is read: ``#leases``, ``#reservations``, ``#dhcp4``, ``#dhcp6`` (combine
with ``,``: ``kea:http://ca:8000#dhcp4,leases``). Credentials: the user may be in the URL, the
password and TLS files come from ``credentials`` (the CLI: ``KEA_ETL_SOURCE_PASSWORD`` and the
other ``KEA_ETL_SOURCE_*`` variables, so that a source and a target can differ).

**One snapshot per run.** A migration may read its sources twice (a conflict pre-pass, then
the load): the server is read once, into a private spool file (one JSON line per lease or
host; disk grows with the server, memory does not), and every later :meth:`Snapshot.items`
replays that file, so both passes see the same records even while the old server keeps serving.
"""

from __future__ import annotations

import json
import os
import tempfile
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from kea_etl.errors import ConfigError, InvalidValueError, KeaEtlError, MalformedRecordError
from kea_etl.extract.base import Extracted, ExtractItem, kea_binding_state
from kea_etl.kea_config import section_reservations
from kea_etl.records import Lease4, Lease6, Reservation
from kea_etl.report import SourceWarning
from kea_etl.urls import redact_url

if TYPE_CHECKING:
    from kea_etl.kea import KeaClient
    from kea_etl.load.credentials import LiveCredentials

__all__ = ["PARTS", "Selection", "Snapshot", "Spool", "extract", "iter_held_hosts", "parse_location",
           "sniff"]

Family = Literal[4, 6]
PARTS = ("leases", "reservations", "dhcp4", "dhcp6")
#: host map keys kea-etl carries (see :meth:`Reservation.from_kea`), and Kea's empty defaults
_HOST_KEYS = frozenset({"hw-address", "client-id", "duid", "circuit-id", "flex-id", "subnet-id",
                        "subnet-id4", "subnet-id6", "ip-address", "ip-addresses", "prefixes",
                        "hostname", "client-classes", "option-data", "next-server",
                        "boot-file-name", "user-context", "host-id"})
_EMPTY: tuple[Any, ...] = (None, "", "0.0.0.0", [], {})


@dataclass(frozen=True, slots=True)
class Selection:
    """What a ``kea:`` source reads (its URL fragment)."""

    leases: bool = True
    reservations: bool = True
    families: tuple[Family, ...] = (4, 6)


def parse_location(location: str) -> tuple[str, Selection]:
    """``URL#part,part`` -> (URL, :class:`Selection`); no fragment reads everything."""
    url, _, fragment = location.partition("#")
    if not url:
        raise ConfigError("kea: source: no URL (kea:unix:///path or kea:http://host:port)")
    if not fragment:
        return url, Selection()
    parts = [p.strip() for p in fragment.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ConfigError(f"kea:{redact_url(url)}#{fragment}: unknown part(s) "
                          f"{', '.join(unknown)}; use {', '.join(PARTS)}")
    what = [p for p in parts if p in ("leases", "reservations")] or ["leases", "reservations"]
    fams: tuple[Family, ...] = tuple(4 if p == "dhcp4" else 6 for p in parts if p.startswith("dhcp"))
    return url, Selection("leases" in what, "reservations" in what, fams or (4, 6))


def sniff(head: bytes) -> bool:
    """A server is named, never detected from a file's content."""
    del head
    return False


def iter_held_hosts(client: KeaClient, family: Family, *, page_size: int = 100,
                    config: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Every host reservation ``client``'s server holds, as Kea's host maps with ``subnet-id``.

    ``reservation-get-page`` (host_cmds) without a subnet where the server has it: every host
    source, the configuration first. Else the configuration (``config`` or ``config-get``); a
    hosts database it then cannot see raises :class:`~kea_etl.errors.ConfigError`.
    """
    if "reservation-get-page" in client.commands():
        source_index: int | None = None
        start: int | None = None
        while True:
            page = _host_page(client, page_size, source_index, start)
            hosts = page.get("hosts") or []
            yield from hosts
            nxt = page.get("next")
            if not hosts or not isinstance(nxt, Mapping):
                return
            new = (int(nxt.get("source-index", 0)), int(nxt.get("from", 0)))
            if (source_index, start) == new:  # a server whose paging does not advance
                raise KeaEtlError(f"{client.url}: reservation-get-page does not advance past "
                                  f"host id {new[1]} (source {new[0]})")
            source_index, start = new
    cfg = config if config is not None else client.config_get()
    section = cfg.get(f"Dhcp{family}")
    if not isinstance(section, Mapping):
        raise ConfigError(f"{client.url}: config-get has no Dhcp{family} section")
    if section.get("hosts-database") or section.get("hosts-databases"):
        raise ConfigError(
            f"{client.url} keeps reservations in a hosts database and has no host_cmds hook to "
            "show them: they would be missed. Read them from the database as a second source "
            "(kea-sql:postgresql://... or kea-sql:mysql://...) and read this server with "
            "#leases (kea:URL#leases)")
    yield from section_reservations(section, family, origin=f"config-get of {client.url}")


def _host_page(client: KeaClient, limit: int, source_index: int | None,
               start: int | None) -> dict[str, Any]:
    # no subnet-id: every subnet's hosts (Kea >= 1.9); the subnet-id of each is in its map
    args: dict[str, Any] = {"limit": limit}
    if source_index is not None:
        args["source-index"] = source_index
    if start is not None:
        args["from"] = start
    resp = client.call("reservation-get-page", args)
    if resp.result == 3 or not isinstance(resp.arguments, dict):
        return {"hosts": [], "next": None}
    return dict(resp.arguments)


def _families(client: KeaClient, selection: Selection) -> list[tuple[Family, str | None]]:
    """(family, service) pairs to read: a daemon serves one family; a Control Agent each daemon
    its ``control-sockets`` name."""
    config = client.config_get()
    found: list[tuple[Family, str | None]] = []
    fam: Family
    for fam in (4, 6):
        if f"Dhcp{fam}" in config:
            found.append((fam, None))
    agent = config.get("Control-agent")
    if not found and isinstance(agent, Mapping):
        sockets = agent.get("control-sockets") or {}
        for fam in (4, 6):
            if f"dhcp{fam}" in sockets:
                found.append((fam, f"dhcp{fam}"))
    if not found:
        raise ConfigError(f"{client.url}: config-get shows no Dhcp4, Dhcp6 or Control Agent "
                          "with dhcp4/dhcp6 control sockets; is this a Kea DHCP server?")
    return [(f, s) for f, s in found if f in selection.families]


class Spool:
    """One read of a source kept in a private spool file (one JSON line per lease or host, in
    Kea's JSON form) and replayed by every :meth:`items`: the source is read once, at the first
    :meth:`items`, however many passes a migration makes. The file is removed when the spool is
    garbage-collected or the process exits. Subclasses say how to read in :meth:`fill`."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._path: str | None = None

    def fill(self, write: Callable[[dict[str, Any]], object]) -> None:
        """Call ``write({"f": 4|6, "lease": LEASE_MAP})`` or ``{"f": ..., "host": HOST_MAP}``
        for every record of the source."""
        raise NotImplementedError

    def items(self) -> Iterator[ExtractItem]:
        if self._path is None:
            fd, path = tempfile.mkstemp(prefix="kea-etl-source-", suffix=".jsonl")
            finalizer = weakref.finalize(self, _remove, path)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    self.fill(lambda entry: out.write(json.dumps(entry) + "\n"))
            except BaseException:
                finalizer()
                raise
            self._path = path
        with Path(self._path).open(encoding="utf-8") as fh:
            for line in fh:
                yield from _item(json.loads(line), self.label)


class Snapshot(Spool):
    """One read of a ``kea:`` source (see the module docstring)."""

    def __init__(self, location: str, *, credentials: LiveCredentials | None = None,
                 page_size: int = 1000, timeout: float = 30.0) -> None:
        self.url, self.selection = parse_location(location)
        super().__init__(f"kea:{redact_url(self.url)}")
        self.credentials = credentials
        self.page_size = page_size
        self.timeout = timeout

    def fill(self, write: Callable[[dict[str, Any]], object]) -> None:
        from kea_etl.export.kea_api import iter_lease_pages
        from kea_etl.load.credentials import LiveCredentials

        creds = self.credentials or LiveCredentials()
        with creds.kea_client(self.url, timeout=self.timeout) as client:
            pairs = _families(client, self.selection)
        for fam, service in pairs:
            with creds.kea_client(self.url, service=service, timeout=self.timeout) as client:
                if self.selection.leases:
                    for page in iter_lease_pages(client, fam, page_size=self.page_size):
                        for lease in page:
                            write({"f": fam, "lease": lease})
                if self.selection.reservations:
                    for host in iter_held_hosts(client, fam, page_size=self.page_size):
                        write({"f": fam, "host": host})


def _remove(path: str) -> None:
    Path(path).unlink(missing_ok=True)


def _item(entry: Mapping[str, Any], label: str) -> Iterator[ExtractItem]:
    # no line: a server has none; the key (address, identifier) names the record
    fam = cast(Family, entry["f"])
    if "lease" in entry:
        data = entry["lease"]
        key = str(data.get("ip-address", "?")) if isinstance(data, Mapping) else "?"
        try:
            rec: Lease4 | Lease6 = (Lease4 if fam == 4 else Lease6).from_kea(data, origin=label)
        except InvalidValueError as exc:
            yield MalformedRecordError(label, None, key, str(exc))
            return
        yield Extracted(rec, binding_state=kea_binding_state(rec.state), source=label)
        return
    host = entry["host"]
    try:
        res = Reservation.from_kea(host, family=fam, origin=label)
    except InvalidValueError as exc:
        yield MalformedRecordError(label, None, "host", str(exc))
        return
    lost = [SourceWarning(label, None, f"{k} {json.dumps(v)[:80]}",
                          "not translated: kea-etl does not carry this host field", key=res.key)
            for k, v in sorted(host.items()) if k not in _HOST_KEYS and v not in _EMPTY]
    yield Extracted(res, source=label, warnings=tuple(lost))


def extract(location: str, *, snapshot: Snapshot | None = None,
            credentials: LiveCredentials | None = None,
            page_size: int = 1000) -> Iterator[ExtractItem]:
    """The leases and reservations of the server at ``location`` (``URL[#parts]``)."""
    snap = snapshot or Snapshot(location, credentials=credentials, page_size=page_size)
    yield from snap.items()
