"""What every loader is: the :class:`Loader` protocol the orchestrator (:mod:`kea_etl.migration`) drives.

A loader receives the records the transform stage accepted, as one stream, and owns their
accounting from then on: for every record it is handed it calls exactly one of
``report.count_loaded()`` or ``report.fail(...)`` (the orchestrator has already counted it as read).
The orchestrator calls, in this order::

    loader.load(records, report)          # consume the stream (may be called once only)
    loader.retract(losers, report)        # conflicts decided after the last record (if any)
    outcome = loader.commit()             # make it durable; a LoadOutcome of what was written
    # or, on any exception or Ctrl-C:
    loader.abort()                        # leave nothing half-written behind

Leases of each family arrive in a fixed order and :class:`~kea_etl.transform.conflicts.Conflict`
refers to a loser by its *ordinal* (position among that family's leases handed to ``load``), so a
loader can map a conflict back to its own row, request or checkpoint entry.

``can_retract`` says whether the loader can take back a record after ``load`` returned (the memfile
loader drops rows from its temporary file). When it cannot, the orchestrator makes a first pass
that only tracks conflicts and then hands ``load`` the stream without the losers (they are failed
by the orchestrator), so ``retract`` receives an empty list.

A live loader (lease4-add over the API) may batch in ``load`` with
:func:`kea_etl._batching.chunks`, keep several requests in flight, and record a checkpoint per
batch; results from worker threads must be folded into ``report`` by the thread that called
``load`` (RunReport is not thread-safe). ``dry_run`` loaders count what they would load and write
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from kea_etl.records import Lease4, Lease6, Reservation
from kea_etl.report import RunReport
from kea_etl.transform.conflicts import Conflict

if TYPE_CHECKING:
    from kea_etl.kea import KeaClient
    from kea_etl.transform.subnets import SubnetMap

__all__ = ["LiveLoader", "LoadOutcome", "LoadRecord", "Loader", "Resumable"]

LoadRecord = Lease4 | Lease6 | Reservation


@dataclass
class LoadOutcome:
    """What a loader's :meth:`Loader.commit` wrote or sent: the report's ``outputs``.

    One shape for every target, so a reader asks ``outcome.sent is not None`` instead of probing
    keys. ``to_json`` keeps the names report.json readers know (README: ``outputs``).
    """

    target: str
    dry_run: bool = False
    #: file targets: each file written (or that would be) and its record count
    files: dict[str, int] = field(default_factory=dict)
    #: live targets: what was sent, by Kea command (``kea:``) or by table (``kea-sql:``)
    sent: dict[str, int] | None = None
    #: what ``sent`` counts: API commands or SQL rows (JSON ``sent`` / ``written``)
    sent_unit: Literal["commands", "rows"] = "commands"
    #: reservations went through host_cmds or the configuration (``kea:``)
    reservations_via: str | None = None
    #: the checkpoint file, whether it was kept (--keep-state), whether this run resumed one
    state: str | None = None
    state_kept: bool = False
    resumed: bool = False
    #: memfile: the Kea version whose format was written and where that version came from
    kea_version: str | None = None
    kea_version_from: str | None = None
    #: memfile: this run's id in the manifest, the manifest, temporary files of a dead run removed
    run: str | None = None
    manifest: str | None = None
    leftovers_removed: list[str] = field(default_factory=list)
    #: kea-sql: how Kea's lease statistics tables were kept (kea_etl.load.kea_sql_stats)
    statistics: str | None = None
    #: an HA pair: each peer's own outcome (``sent`` is then their sum)
    peers: list[LoadOutcome] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"target": self.target}
        if self.sent is not None:
            if self.sent_unit == "rows":
                out["would_write" if self.dry_run else "written"] = dict(self.sent)
            else:
                out["would_send" if self.dry_run else "sent"] = dict(self.sent)
        else:
            out.update(kea_version=self.kea_version, kea_version_from=self.kea_version_from,
                       dry_run=self.dry_run, files=dict(self.files))
        for key, value in (("reservations_via", self.reservations_via), ("run", self.run),
                           ("manifest", self.manifest),
                           ("leftovers_removed", self.leftovers_removed or None),
                           ("statistics", self.statistics)):
            if value is not None:
                out[key] = value
        if self.state is not None:
            out.update(state=self.state, state_kept=self.state_kept, resumed=self.resumed)
        if self.peers:
            out["peers"] = [p.to_json() for p in self.peers]
        return out


@runtime_checkable
class Loader(Protocol):
    """A target for accepted records (memfile CSV, a live Kea, Kea's SQL database, ...)."""

    #: short description for summaries and the report, e.g. ``memfile:/srv/out``
    name: str
    #: True when :meth:`retract` can take back records already handed to :meth:`load`
    can_retract: bool

    def load(self, records: Iterable[LoadRecord], report: RunReport) -> None:
        """Consume ``records``; for each, ``report.count_loaded()`` or ``report.fail(...)``.

        Memory stays bounded by one batch (reservations, which are few, may be held).
        Raises only for problems with the whole target (:class:`~kea_etl.errors.FatalError`,
        :class:`~kea_etl.errors.RetriableError` once retries are spent).
        """
        ...

    def retract(self, conflicts: Sequence[Conflict], report: RunReport) -> None:
        """Take back the losing leases; move each from loaded to failed with its reason."""
        ...

    def commit(self) -> LoadOutcome:
        """Make the result durable; returns what was written or sent."""
        ...

    def abort(self) -> None:
        """Discard anything not committed. Safe to call more than once, and after commit."""
        ...


@runtime_checkable
class Resumable(Loader, Protocol):
    """A loader that keeps its progress in state files (``kea:``, ``kea-sql:``, an HA pair)."""

    def state_paths(self) -> list[Path]:
        """The checkpoint file(s) of this run (one per HA peer); empty for a dry run."""
        ...


@runtime_checkable
class LiveLoader(Resumable, Protocol):
    """A loader whose target is a running Kea: ``kea:URL``, an HA pair, or either inside a
    :class:`~kea_etl.load.pause.ServiceWindow`. What the orchestrator and the CLI ask of a live
    target, instead of probing its attributes."""

    @property
    def clients(self) -> Sequence[KeaClient]:
        """The control clients of the Kea server(s) it loads (two for an HA pair)."""
        ...

    def fetch_subnets(self) -> SubnetMap:
        """The target's own subnets (config-get), to check ``--kea-config`` against."""
        ...
