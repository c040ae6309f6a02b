"""What every extractor yields: ``Extracted`` items, or ``MalformedRecordError`` for bad input.

An extractor is a generator ``extract(path, **options) -> Iterator[Extracted | MalformedRecordError]``.
It never raises for one bad record: it yields the error (with file, line and key) and carries on,
so the run's accounting can count it as read-and-failed. It raises only for problems with the
whole source (file missing, unreadable, wrong format), as a :class:`~kea_etl.errors.ConfigError`.
What the source holds but the extractor does not translate, and that is no record of its own (a
dhcpd ``class`` declaration, say), is yielded as a :class:`~kea_etl.report.SourceWarning`; it
is not counted as read. A record's own untranslated statements travel with it in
``Extracted.warnings`` (``SourceWarning`` s). Either way the run report lists them.

``Extracted.record`` is already canonical (``Lease4`` / ``Lease6`` / ``Reservation``), with
``subnet_id`` 0 unless the source knew it; the transform stage assigns subnets from the target
Kea configuration and applies the policy filters, using ``binding_state`` for sources (ISC
dhcpd) that have one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kea_etl.errors import MalformedRecordError
from kea_etl.records import STATE_EXPIRED_RECLAIMED, STATE_RELEASED, Lease4, Lease6, Reservation
from kea_etl.report import SourceWarning

__all__ = ["BINDING_STATES", "ExtractItem", "Extracted", "SourceWarning", "kea_binding_state"]

#: ISC dhcpd binding states (dhcpd.leases(5)); sources without states use "active".
BINDING_STATES = ("active", "free", "abandoned", "backup", "expired", "released", "reset",
                  "bootp")


def kea_binding_state(state: int) -> str:
    """The binding state of a lease in Kea's own terms (a Kea memfile, database or server):
    state 2 (expired-reclaimed) is "expired", 3 (released, 2.7+) "released", and 0 (default)
    and 1 (declined) are "active": a declined address stays declined (``record.state``)."""
    if state == STATE_EXPIRED_RECLAIMED:
        return "expired"
    if state == STATE_RELEASED:
        return "released"
    return "active"


@dataclass(frozen=True, slots=True)
class Extracted:
    """One record read from a source, with what the policy filters need to judge it."""

    record: Lease4 | Lease6 | Reservation
    #: ISC binding state of the winning block; "active" for sources that have no such notion
    binding_state: str = "active"
    #: file name / URL and line (1-based, of the block's first line) for the report
    source: str = ""
    line: int | None = None
    #: source-specific facts kept for failover merging and checks (tstp, tsfp, alt ids ...)
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    #: this record's statements that were not translated, or translated with a change; the
    #: run report (kea_etl.migration) and convert list every one
    warnings: tuple[SourceWarning, ...] = field(default=(), compare=False, hash=False)

    @property
    def key(self) -> str:
        return self.record.key


ExtractItem = Extracted | MalformedRecordError | SourceWarning
