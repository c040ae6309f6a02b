"""Reconciliation of host reservations: the source's hosts vs the hosts Kea holds.

The reservation half of :mod:`kea_etl.reconcile.compare`. The source's hosts go through the
**same policy as the migration**: :class:`~kea_etl.transform.normalize.Normalizer` gives each
its target subnet (a host with subnet id 0 and an address gets the subnet holding that address;
one without an address stays global), and
:meth:`~kea_etl.transform.conflicts.ConflictTracker.check_reservation` fails a second host for
the same identifier or address in a subnet, as the migration does (Kea would refuse it, so it is
never expected in Kea). Kea's hosts come from ``reservation-get-page`` (host_cmds) where the
server lists it, else from the reservations of its configuration (``config-get``: global and
per subnet, :func:`kea_etl.extract.kea_server.iter_held_hosts`); for ``--against`` files, from
the ``--kea-config`` plus the ``reservationsN.json`` fragment ``migrate --to memfile:`` wrote.

Each host is keyed by (subnet id, identifier type, identifier) and ends in one category, as a
lease does: ``matched``, ``missing`` (in the source, not in Kea), ``extra`` (in Kea only) or
``mismatched`` (the fields that differ, compared by
:func:`kea_etl.load.reservations.differences`, the one comparison the loaders use too: addresses,
prefixes, hostname, client classes, option-data in canonical form, next-server, boot-file-name,
user-context).

Reservations are few next to leases (the loaders hold them in memory too), so both sides are
held in dicts here, not spooled.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kea_etl.errors import ConfigError
from kea_etl.extract.base import Extracted
from kea_etl.records import Reservation

__all__ = ["CATEGORIES", "CategoryCounts", "HostDifference", "HostReconcile", "SourceHosts",
           "compare_hosts", "field_text", "kea_held_hosts"]

HostKey = tuple[int, str, str]


def field_text(value: Any) -> str:
    """A reservation field's value (of :attr:`HostDifference.fields`) as one line of text, for
    a CSV cell, an HTML cell or the terminal: lists comma separated, options ``name=data``."""
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    if isinstance(value, Mapping):
        return "; ".join(f"{k}={v}" for k, v in value.items())
    return "" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class HostDifference:
    """One reservation that is not the same on both sides."""

    #: "missing" (source only), "extra" (Kea only) or "mismatched"
    category: str
    subnet_id: int
    identifier_type: str
    identifier: str
    #: reserved addresses and prefixes (the source's; an extra host: Kea's)
    addresses: tuple[str, ...] = ()
    hostname: str = ""
    #: mismatched: ``{field: {"source": .., "kea": ..}}`` by Kea's field names
    fields: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    source_line: int | None = None
    source_origin: str | None = None

    @property
    def key(self) -> str:
        """How an operator names the host: ``hw-address 00:11:22:33:44:55``."""
        return f"{self.identifier_type} {self.identifier}"

    def to_json(self) -> dict[str, Any]:
        return {"reservation": self.key, "category": self.category,
                "subnet_id": self.subnet_id, "identifier_type": self.identifier_type,
                "identifier": self.identifier, "addresses": list(self.addresses),
                "hostname": self.hostname, "fields": {k: dict(v) for k, v in self.fields.items()},
                "source_line": self.source_line, "source_origin": self.source_origin}


#: the four categories of a compared record, in report order
CATEGORIES = ("matched", "missing", "extra", "mismatched")


@dataclass(kw_only=True)
class CategoryCounts:
    """How many records of one kind ended in each category (leases, or reservations)."""

    matched: int = 0
    missing: int = 0
    extra: int = 0
    mismatched: int = 0
    source_read: int = 0
    source_compared: int = 0

    def category_counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in CATEGORIES}


@dataclass
class HostReconcile(CategoryCounts):
    """Counts and differences of the reservation half of a reconciliation."""

    #: False when no source holds reservations (a dhcpd.leases alone): Kea's hosts not read
    compared: bool = False
    #: where Kea's hosts were read: "reservation-get-page", "config-get", or the files
    kea_source: str = ""
    #: hosts the migration would fail (duplicate identifier or address; an empty host), by reason
    source_failed: Counter[str] = field(default_factory=Counter)
    #: hosts the migration sets aside (no subnet of the target), by reason
    source_skipped: Counter[str] = field(default_factory=Counter)
    kea_read: int = 0
    kea_ignored: Counter[str] = field(default_factory=Counter)
    fields_mismatched: Counter[str] = field(default_factory=Counter)
    #: every difference, missing and mismatched in source order, then the extra ones by key
    items: list[HostDifference] = field(default_factory=list)

    @property
    def differences(self) -> int:
        return self.missing + self.extra + self.mismatched

    def summary(self) -> dict[str, Any]:
        """Counts only (the differences: :attr:`items`)."""
        return {"compared": self.compared, "kea_source": self.kea_source,
                **self.category_counts(), "differences_total": self.differences,
                "source": {"read": self.source_read, "compared": self.source_compared,
                           "failed": dict(sorted(self.source_failed.items())),
                           "skipped": dict(sorted(self.source_skipped.items()))},
                "kea": {"read": self.kea_read,
                        "ignored": dict(sorted(self.kea_ignored.items()))},
                "fields_mismatched": dict(sorted(self.fields_mismatched.items()))}


class SourceHosts:
    """Collects the source's hosts through the migration's policy (see the module docstring).

    ``add(item, verdict)`` takes an extracted reservation and the Normalizer's verdict on it.
    """

    def __init__(self, result: HostReconcile) -> None:
        from kea_etl.transform.conflicts import ConflictTracker

        self.result = result
        self.hosts: list[tuple[Reservation, int | None]] = []
        self._tracker = ConflictTracker()

    def add(self, item: Extracted, verdict: Any) -> None:
        from kea_etl.transform.normalize import Rejected

        self.result.source_read += 1
        if isinstance(verdict, Rejected):
            if verdict.failed:
                self.result.source_failed[verdict.reason] += 1
            else:
                self.result.source_skipped[verdict.reason] += 1
            return
        assert isinstance(verdict, Reservation)
        bad = self._tracker.check_reservation(verdict)
        if bad is not None:  # the migration fails it: Kea is not expected to hold it
            self.result.source_failed[bad.reason] += 1
            return
        self.hosts.append((verdict, item.line))


def kea_held_hosts(client: Any, family: int, *, server: str,
                   page_size: int = 100) -> tuple[str, Iterator[dict[str, Any]]]:
    """(where they come from, the hosts ``client``'s server holds): reservation-get-page where
    the server lists it, else config-get's reservations. A server that keeps hosts in a
    database it cannot show (no host_cmds) is a :class:`~kea_etl.errors.ConfigError`: comparing
    only the configuration's hosts would call every database host missing."""
    from kea_etl.extract.kea_server import iter_held_hosts

    if "reservation-get-page" in client.commands():
        return "reservation-get-page", iter_held_hosts(client, family,  # type: ignore[arg-type]
                                                       page_size=page_size)
    config = client.config_get()
    section = config.get(f"Dhcp{family}") or {}
    if section.get("hosts-database") or section.get("hosts-databases"):
        raise ConfigError(
            f"cannot compare reservations with {server}: it keeps them in a hosts database and "
            "has no host_cmds hook (reservation-get-page) to show them; load "
            "libdhcp_host_cmds.so, or reconcile only lease sources")
    return "config-get", iter_held_hosts(client, family,  # type: ignore[arg-type]
                                         page_size=page_size, config=config)


def _addresses(host: Reservation) -> tuple[str, ...]:
    return ((str(host.ipv4_address),) if host.ipv4_address is not None else ()) + tuple(
        str(a) for a in host.ip_addresses) + tuple(str(p) for p in host.prefixes)


def _held_addresses(host: Mapping[str, Any]) -> tuple[str, ...]:
    ip4 = host.get("ip-address")
    return (((str(ip4),) if ip4 not in (None, "", "0.0.0.0") else ())
            + tuple(str(a) for a in host.get("ip-addresses") or ())
            + tuple(str(p) for p in host.get("prefixes") or ()))


def compare_hosts(source: Iterable[tuple[Reservation, int | None]],
                  kea_hosts: Iterable[Mapping[str, Any]], *, family: int,
                  result: HostReconcile) -> HostReconcile:
    """Fill ``result`` with the comparison of the policy's hosts and Kea's host maps."""
    # imported here: a lease-only reconciliation never needs the loaders' host code
    from kea_etl.load.reservations import differences, host_field_values, host_identifier

    held: dict[HostKey, Mapping[str, Any]] = {}
    for host in kea_hosts:
        result.kea_read += 1
        ident = host_identifier(host)
        if ident is None:  # Kea refuses such a host; a hostile or broken answer
            result.kea_ignored["no identifier"] += 1
            continue
        held[(int(host.get("subnet-id") or 0), *ident)] = host
    result.compared = True
    for res, line in source:
        result.source_compared += 1
        theirs = held.pop((res.subnet_id, res.identifier_type, res.identifier), None)
        if theirs is None:
            result.missing += 1
            result.items.append(HostDifference(
                "missing", res.subnet_id, res.identifier_type, res.identifier, _addresses(res),
                res.hostname, {}, line, res.origin))
            continue
        ours = res.to_kea_host()
        diffs = differences(theirs, ours, family)
        if not diffs:
            result.matched += 1
            continue
        result.mismatched += 1
        result.fields_mismatched.update(diffs)
        result.items.append(HostDifference(
            "mismatched", res.subnet_id, res.identifier_type, res.identifier, _addresses(res),
            res.hostname, host_field_values(theirs, ours, family, diffs), line, res.origin))
    for (sid, kind, text), host in sorted(held.items()):
        result.extra += 1
        result.items.append(HostDifference("extra", sid, kind, text, _held_addresses(host),
                                          str(host.get("hostname") or "")))
    return result
