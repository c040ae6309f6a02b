"""What every loader is: the :class:`Loader` protocol the orchestrator (:mod:`kea_etl.migration`) drives.

A loader receives the records the transform stage accepted, as one stream, and owns their
accounting from then on: for every record it is handed it calls exactly one of
``report.count_loaded()`` or ``report.fail(...)`` (the orchestrator has already counted it as read).
The orchestrator calls, in this order::

    loader.load(records, report)          # consume the stream (may be called once only)
    loader.retract(losers, report)        # conflicts decided after the last record (if any)
    outputs = loader.commit()             # make it durable; returns what was written
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
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kea_etl.records import Lease4, Lease6, Reservation
from kea_etl.report import RunReport
from kea_etl.transform.conflicts import Conflict

if TYPE_CHECKING:
    from kea_etl.kea import KeaClient
    from kea_etl.transform.subnets import SubnetMap

__all__ = ["LiveLoader", "LoadRecord", "Loader", "Resumable"]

LoadRecord = Lease4 | Lease6 | Reservation


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

    def commit(self) -> dict[str, Any]:
        """Make the result durable; returns a JSON-able description of what was written."""
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
