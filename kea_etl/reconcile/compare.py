"""Reconciliation: compare a migration source with what a Kea server holds, record by record.

The Kea side is a live server (:func:`reconcile_kea`: ``leaseN-get-page`` and
``stat-leaseN-get``) or files (:func:`reconcile_file`: a Kea memfile read exactly as Kea would
load it, or a kea-etl export; see :mod:`kea_etl.reconcile.kea_files`), so a cold cutover's memfile
can be checked before Kea starts. :func:`reconcile` is the generic comparison under both.

Both sides are streams. The source goes through the **same policy as the migration**
(:class:`~kea_etl.transform.normalize.Normalizer` with the target's subnets and ``as_of``), so a
free, expired or backup lease of the source is counted as *skipped by policy*, never as "missing
in Kea". An active source lease that no subnet of the target contains is *missing* (Kea cannot
hold it; counted by source prefix in ``unmapped``), unless ``allow_unmapped`` accepts it as the
migration's ``--allow-unmapped`` did (then skipped ``no-subnet``). A source lease of the other
family raises :class:`~kea_etl.transform.normalize.WrongFamilyError` (a usage error). The Kea
side drops leases that no longer hold their address (state expired-reclaimed or released, or
expired before ``as_of``), counted as *ignored*.

Each record is keyed by its address (for a delegated prefix: the prefix address; the key shown
is ``prefix/len``) and ends in exactly one category:

``matched``     in both, every compared field equal
``missing``     in the source, not in Kea
``extra``       in Kea, not in the source
``mismatched``  in both, some field differs: hwaddr, client_id (v4), duid, iaid, lease_type,
                prefix_len (v6), subnet_id, state, and expire beyond ``tolerance`` seconds
                (two infinite lifetimes are equal whatever their cltt). A v6 hwaddr is compared
                only when the source has one (Kea learns it from traffic).

Host reservations are compared too (:mod:`kea_etl.reconcile.hosts`): keyed by (subnet id,
identifier type, identifier), in the same four categories, Kea's hosts read with
``reservation-get-page`` where the server has host_cmds, else from its configuration. Which
kinds are compared follows the sources: leases when a source holds leases or can hold nothing
else (a dhcpd.leases, even an empty one), reservations likewise (a dhcpd.conf, a pfSense
config.xml); a source that can hold both (CSV, dnsmasq, Windows, ``kea:``) by what it yields;
leases when nothing tells. So ``dhcpd.conf`` alone does not call every Kea lease extra, and
``dhcpd.leases`` alone does not call every Kea host extra. Several sources are one stream
(:func:`kinds_for_formats` gives what their formats decide).

Memory and speed: both sides become columns (:mod:`kea_etl.reconcile.columns`: the address as
a number or 16 bytes plus about ten short fields, no Python object per lease), sorted by key
and compared a window of keys at a time with numpy; past a memory budget a side spills sorted
runs to disk and they are merged back in key order, so RAM stays near the budget whatever the
lease count. The sort does not trust Kea's page order (Kea 2.2's PostgreSQL backend orders IPv6
leases as text) and de-duplicates the source (the last record for an address wins, as in Kea's
memfile). Only a record that differs becomes a dict, for the report. DHCPv4 source leases go
through the policy a batch at a time, in columns (:func:`_decide4`: no record built per lease,
only the unusual ones judged one by one). Differences stream to a JSON-lines spool; the first
:data:`SAMPLE_LIMIT` stay in memory for the HTML report. Per-subnet counts (source, Kea
leases, ``stat-leaseN-get``) are small dicts.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kea_etl import clock
from kea_etl._files import atomic_write
from kea_etl.errors import KeaEtlError, KeaUnsupportedError, MalformedRecordError, RecordError
from kea_etl.extract.base import Extracted, ExtractItem, SourceWarning
from kea_etl.kea_config import section_reservations, section_subnets
from kea_etl.progress import Progress, ProgressCallback, Unit
from kea_etl.reconcile.columns import (
    BUDGET,
    SortedSpool,
    dedupe_last,
    join,
    key_text,
    not_null_equal,
)
from kea_etl.reconcile.hosts import (
    CategoryCounts,
    HostReconcile,
    SourceHosts,
    compare_hosts,
    field_text,
    kea_held_hosts,
)
from kea_etl.records import (
    INFINITE_LIFETIME,
    LEASE_STATES,
    STATE_DECLINED,
    STATE_DEFAULT,
    Lease4,
    Lease6,
    Reservation,
    from_epoch,
)
from kea_etl.spreadsheet import defuse_row
from kea_etl.transform.normalize import (
    POLICY4_BATCH,
    Normalizer,
    Rejected,
    lease4_records,
    policy4_batch,
)
from kea_etl.transform.subnets import SubnetMap

__all__ = [
    "DEFAULT_TOLERANCE",
    "SAMPLE_LIMIT",
    "ReconcileClient",
    "PoolCounts",
    "ReconcileResult",
    "Sources",
    "SubnetCounts",
    "compare_records",
    "kinds_for_formats",
    "open_sources",
    "pool_stats",
    "reconcile",
    "reconcile_file",
    "reconcile_kea",
]

#: expiry tolerance in seconds. The migration keeps expiry exactly, so any honest difference is
#: either a bug or a client that renewed on Kea; 2 s only absorbs sources with sub-second times
#: (CSV/SQL) rounded differently on the way in. Raise it when comparing after live traffic.
DEFAULT_TOLERANCE = 2
#: differences kept in memory for the HTML report (all of them go to JSON / CSV)
SAMPLE_LIMIT = 2000

FIELDS4 = ("hwaddr", "client_id", "subnet_id", "state", "expire")
FIELDS6 = ("duid", "iaid", "lease_type", "prefix_len", "subnet_id", "state", "expire", "hwaddr")
#: decide batches of DHCPv4 source leases in columns (:func:`_decide4`); False
#: sends every record through the Normalizer one by one, the reference the tests compare with
POLICY_IN_COLUMNS = True


@dataclass(frozen=True, slots=True)
class SourceColumns:
    """Source leases already through the policy, as spool columns (:func:`record_columns`'s
    form, ``line`` and ``origin`` included): what the policy gives for a batch it decided in
    columns, in place of its records."""

    columns: dict[str, Any]
    rows: int





class ReconcileClient(Protocol):
    """The Kea client methods reconciliation uses (:class:`kea_etl.kea.KeaClient` has them)."""

    def lease4_get_page(self, start: str, limit: int) -> list[dict[str, Any]]: ...

    def lease6_get_page(self, start: str, limit: int) -> list[dict[str, Any]]: ...

    def call(self, command: str, arguments: dict[str, Any] | None = None) -> Any: ...

    def commands(self) -> frozenset[str]: ...

    def config_get(self) -> dict[str, Any]: ...


#: source formats that can hold only one kind of record: that kind is compared even when the
#: source turns out empty (an empty dhcpd.leases vs a Kea full of leases is a difference, not
#: "nothing to compare"). isc-leases also yields OMAPI hosts, which then add reservations.
_ONLY_LEASES = frozenset({"isc-leases", "kea-memfile"})
_ONLY_RESERVATIONS = frozenset({"isc-conf", "pfsense"})
KINDS = ("leases", "reservations")


@dataclass(frozen=True)
class Sources:
    """Several sources read as one stream (:func:`open_sources`)."""

    #: "a + b", for the report
    name: str
    #: the kinds their formats decide (:func:`kinds_for_formats`): reconcile_*'s ``compare``
    compare: frozenset[str]
    items: Iterator[ExtractItem]


def open_sources(specs: Iterable[str], *, query: str | None = None, mapping: Any = None,
                 source_tz: str | None = None, credentials: Any = None) -> Sources:
    """Resolve every source first (a bad name fails before anything is read), then chain them:
    ``dhcpd.leases`` and ``dhcpd.conf`` give leases and reservations to one reconciliation.
    ``credentials``: a ``kea:`` / ``kea-sql:`` source's (KEA_ETL_SOURCE_* at the CLI)."""
    import itertools

    from kea_etl.extract import resolve_source

    names = list(specs)
    resolved = [resolve_source(s, query=query, mapping=mapping, source_tz=source_tz,
                               credentials=credentials) for s in names]
    return Sources(" + ".join(names), kinds_for_formats(src.format for src in resolved),
                   itertools.chain.from_iterable(src.open() for src in resolved))


def kinds_for_formats(formats: Iterable[str]) -> frozenset[str]:
    """The kinds of record ("leases", "reservations") compared whatever sources of these
    formats (:attr:`kea_etl.extract.Source.format`) turn out to hold."""
    out = set()
    for fmt in formats:
        if fmt in _ONLY_LEASES:
            out.add("leases")
        elif fmt in _ONLY_RESERVATIONS:
            out.add("reservations")
    return frozenset(out)


def _ratio(assigned: int | None, total: int | None) -> float | None:
    return assigned / total if total and assigned is not None else None


@dataclass
class PoolCounts:
    """Kea's own statistics for the pools of one subnet that share a ``pool-id`` (Kea 2.4+).

    Kea keeps pool statistics per pool-id (``subnet[1].pool[0].assigned-nas``,
    ``subnet[1].pd-pool[2].assigned-pds`` in statistic-get-all), not per pool: pools without a
    ``pool-id`` all count under id 0. ``pools`` names the configured pools with that id.
    """

    subnet_id: int
    #: "pool" (addresses: IA_NA, or v4) or "pd-pool" (delegated prefixes)
    kind: str
    pool_id: int
    pools: str = ""
    assigned: int = 0
    total: int = 0
    declined: int | None = None

    @property
    def utilisation(self) -> float | None:
        return _ratio(self.assigned, self.total)

    def to_json(self) -> dict[str, Any]:
        return {"subnet_id": self.subnet_id, "kind": self.kind, "pool_id": self.pool_id,
                "pools": self.pools, "assigned": self.assigned, "total": self.total,
                "declined": self.declined, "utilisation": self.utilisation}


@dataclass
class SubnetCounts:
    """Per-subnet counts: source (after policy), Kea (active leases), and stat-leaseN-get.

    For DHCPv6, addresses (IA_NA) and delegated prefixes (IA_PD) are also kept apart
    (``*_nas`` / ``*_pds``): one percentage over both hides a full pd-pool behind a huge
    address pool. ``pools`` holds Kea's per-pool statistics where the server has them.
    """

    subnet_id: int
    prefix: str = ""
    source: int = 0
    kea: int = 0
    stat_assigned: int | None = None
    stat_declined: int | None = None
    stat_total: int | None = None
    stat_assigned_nas: int | None = None
    stat_total_nas: int | None = None
    stat_assigned_pds: int | None = None
    stat_total_pds: int | None = None
    pools: list[PoolCounts] = field(default_factory=list)

    @property
    def utilisation(self) -> float | None:
        """Assigned over total, all lease types together (v6: prefer the NA / PD ones)."""
        return _ratio(self.stat_assigned, self.stat_total)

    @property
    def utilisation_nas(self) -> float | None:
        return _ratio(self.stat_assigned_nas, self.stat_total_nas)

    @property
    def utilisation_pds(self) -> float | None:
        return _ratio(self.stat_assigned_pds, self.stat_total_pds)

    @property
    def counts_match(self) -> bool:
        """Source == Kea leases, and == Kea's own statistic when it was available.

        Kea's assigned-addresses (assigned-nas + assigned-pds) leaves declined leases out while
        the Kea count here holds them (a declined address is still taken), so the statistic
        compared is assigned + declined.
        """
        return self.source == self.kea and (
            self.stat_assigned is None
            or self.stat_assigned + (self.stat_declined or 0) == self.kea)

    def to_json(self) -> dict[str, Any]:
        return {"subnet_id": self.subnet_id, "prefix": self.prefix, "source": self.source,
                "kea": self.kea, "stat_assigned": self.stat_assigned,
                "stat_declined": self.stat_declined, "stat_total": self.stat_total,
                "utilisation": self.utilisation, "counts_match": self.counts_match,
                **({"stat_assigned_nas": self.stat_assigned_nas,
                    "stat_total_nas": self.stat_total_nas,
                    "utilisation_nas": self.utilisation_nas,
                    "stat_assigned_pds": self.stat_assigned_pds,
                    "stat_total_pds": self.stat_total_pds,
                    "utilisation_pds": self.utilisation_pds}
                   if self.stat_total_nas is not None or self.stat_total_pds is not None
                   else {}),
                "pools": [p.to_json() for p in self.pools]}


def record_columns(records: list[Lease4 | Lease6], lines: list[int | None],
                   origins: list[str | None] | None) -> dict[str, Any]:
    """The spool columns (:data:`~kea_etl.reconcile.columns.COLUMNS`) of records of one family,
    column by column; ``origins`` None: no origin."""
    n = len(records)
    out: dict[str, Any] = {
        "subnet_id": [r.subnet_id for r in records], "hwaddr": [r.hwaddr for r in records],
        "valid_lft": [r.valid_lft for r in records], "cltt": [r.cltt for r in records],
        "state": [r.state for r in records], "hostname": [r.hostname for r in records],
        "line": lines, "origin": origins}
    if n and type(records[0]) is Lease4:
        out.update(k=np.fromiter((int(r.address) for r in records), dtype=np.uint64, count=n),
                   lease_type=pa.repeat(pa.scalar("V4"), n),
                   prefix_len=pa.repeat(pa.scalar(32, pa.int64()), n),
                   client_id=[r.client_id for r in records])  # type: ignore[union-attr]
    else:
        out.update(k=[r.address.packed for r in records],
                   lease_type=[r.lease_type for r in records],  # type: ignore[union-attr]
                   prefix_len=[r.prefix_len for r in records],  # type: ignore[union-attr]
                   duid=[r.duid for r in records],  # type: ignore[union-attr]
                   iaid=[r.iaid for r in records])  # type: ignore[union-attr]
    return out


def _concat_columns(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Several batches' columns (numpy arrays, Arrow arrays or lists) as one."""
    if len(parts) == 1:
        return parts[0]
    out: dict[str, Any] = {}
    for name, first in parts[0].items():
        values = [p[name] for p in parts]
        if isinstance(first, np.ndarray):
            out[name] = np.concatenate(values)
        elif isinstance(first, pa.Array):
            out[name] = pa.concat_arrays(values)
        else:
            out[name] = list(itertools.chain.from_iterable(values))
    return out


def _expire(row: Mapping[str, Any]) -> int | None:
    if row["valid_lft"] == INFINITE_LIFETIME:
        return None  # never expires
    return int(row["cltt"]) + int(row["valid_lft"])


def _show(name: str, value: Any) -> Any:
    if name == "state" and isinstance(value, int):
        return f"{value} ({LEASE_STATES.get(value, '?')})"
    return value


def compare_records(src: Mapping[str, Any], kea: Mapping[str, Any], *, family: int,
                    tolerance: int) -> dict[str, dict[str, Any]]:
    """The differing fields of two spooled rows: ``{field: {"source": .., "kea": ..}}``."""
    diffs: dict[str, dict[str, Any]] = {}
    for name in (FIELDS4 if family == 4 else FIELDS6):
        if name == "expire":
            a, b = _expire(src), _expire(kea)
            if a is None and b is None:
                continue
            if a is None or b is None or abs(a - b) > tolerance:
                diffs["expire"] = {
                    "source": "never" if a is None else from_epoch(a).isoformat(),
                    "kea": "never" if b is None else from_epoch(b).isoformat(),
                    "delta_s": None if a is None or b is None else b - a}
            continue
        if name == "hwaddr" and family == 6 and not src["hwaddr"]:
            continue
        if src[name] != kea[name]:
            diffs[name] = {"source": _show(name, src[name]), "kea": _show(name, kea[name])}
    return diffs


_SHOW_SOURCE_WARNINGS = 20


@dataclass
class ReconcileResult(CategoryCounts):
    """Counts, per-subnet table and differences of one reconciliation.

    Differences live in a spool file owned by the result: call :meth:`close` (or use it as a
    context manager) when done with :meth:`iter_differences`.
    """

    family: int
    as_of: int
    tolerance: int
    source_name: str = ""
    server: str = ""
    kea_version: str = ""
    generated_at: datetime = field(default_factory=clock.now_datetime)
    source_failed: int = 0
    source_duplicates: int = 0
    source_skipped: Counter[str] = field(default_factory=Counter)
    #: active source leases no subnet of the target contains, by source prefix (see
    #: :func:`kea_etl.migration.unmapped_prefix`); missing, or skipped when allow_unmapped
    unmapped: Counter[str] = field(default_factory=Counter)
    allow_unmapped: bool = False
    kea_read: int = 0
    kea_compared: int = 0
    kea_ignored: Counter[str] = field(default_factory=Counter)
    fields_mismatched: Counter[str] = field(default_factory=Counter)
    subnets: dict[int, SubnetCounts] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: statements of the source that are not records (kea_etl.report.SourceWarning); the first
    #: _SHOW_SOURCE_WARNINGS are in ``warnings``
    source_warnings: int = 0
    sample: list[dict[str, Any]] = field(default_factory=list)
    #: False when no source holds leases (a dhcpd.conf alone): Kea's leases were not read
    leases_compared: bool = True
    reservations: HostReconcile = field(default_factory=HostReconcile)
    _workdir: Path | None = None
    _diff_path: Path | None = None

    @property
    def lease_differences(self) -> int:
        return self.missing + self.extra + self.mismatched

    @property
    def differences(self) -> int:
        """Leases and reservations that are not the same on both sides."""
        return self.lease_differences + self.reservations.differences

    def exit_code(self) -> int:
        """0 when every record (lease and reservation) matches, 1 when there are differences
        (missing, extra or mismatched, as for leases); 2 is the CLI's, errors."""
        return 1 if self.differences else 0

    def iter_differences(self) -> Iterator[dict[str, Any]]:
        if self._diff_path is None or not self._diff_path.exists():
            yield from self.sample
            return
        with self._diff_path.open(encoding="utf-8") as fh:
            for line in fh:
                yield json.loads(line)

    def summary(self) -> dict[str, Any]:
        """Everything but the differences list."""
        return {
            **self.category_counts(), "differences_total": self.differences,
            "ok": self.differences == 0, "family": self.family,
            "leases_compared": self.leases_compared,
            "lease_differences": self.lease_differences,
            "as_of": from_epoch(self.as_of).isoformat(), "tolerance_s": self.tolerance,
            "generated_at": self.generated_at.isoformat(),
            "source": {"name": self.source_name, "read": self.source_read,
                       "compared": self.source_compared, "failed": self.source_failed,
                       "duplicates": self.source_duplicates,
                       "skipped": dict(sorted(self.source_skipped.items())),
                       "unmapped": dict(sorted(self.unmapped.items(),
                                               key=lambda kv: (-kv[1], kv[0]))),
                       "allow_unmapped": self.allow_unmapped},
            "kea": {"server": self.server, "version": self.kea_version, "read": self.kea_read,
                    "compared": self.kea_compared,
                    "ignored": dict(sorted(self.kea_ignored.items()))},
            "fields_mismatched": dict(sorted(self.fields_mismatched.items())),
            "subnets": [s.to_json() for s in sorted(self.subnets.values(),
                                                    key=lambda s: s.subnet_id)],
            "subnet_count_mismatches": sum(1 for s in self.subnets.values()
                                           if not s.counts_match),
            "warnings": self.warnings,
            "source_warnings": self.source_warnings,
            "reservations": self.reservations.summary(),
        }

    def write_json(self, path: str | Path) -> None:
        """Summary plus the complete ``differences`` list (leases, streamed; the reservations'
        in ``reservations.differences``), written atomically."""
        summary = self.summary()
        summary["reservations"]["differences"] = [d.to_json() for d in self.reservations.items]
        with atomic_write(path) as fh:  # private: it names clients (kea_etl._files)
            head = json.dumps(summary, indent=2, default=str)
            fh.write(head[:-2] + ',\n  "differences": [')
            for i, diff in enumerate(self.iter_differences()):
                fh.write(("\n    " if i == 0 else ",\n    ")
                         + json.dumps(diff, default=str, sort_keys=False))
            fh.write("\n  ]\n}\n")

    def write_csv(self, path: str | Path) -> None:
        """One row per differing field (one row for a missing / extra record), atomically.

        ``record`` says lease or reservation; a reservation's ``address`` holds its reserved
        addresses and prefixes (space separated) and ``identifier`` its key."""
        with atomic_write(path, newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["address", "category", "subnet_id", "field", "source_value",
                        "kea_value", "source_line", "record", "identifier"])
            for d in self.iter_differences():
                base = [d["address"], d["category"], d.get("subnet_id")]
                line = d.get("source_line")
                if d["category"] == "mismatched":
                    for name, vals in d["fields"].items():
                        w.writerow(defuse_row([*base, name, vals.get("source"),
                                                vals.get("kea"), line, "lease", ""]))
                else:
                    w.writerow(defuse_row([*base, "", "", "", line, "lease", ""]))
            for h in self.reservations.items:
                base = [" ".join(h.addresses), h.category, h.subnet_id]
                tail = ["reservation", h.key]
                for name, vals in h.fields.items():
                    w.writerow(defuse_row([*base, name, field_text(vals.get("source")),
                                           field_text(vals.get("kea")), h.source_line, *tail]))
                if not h.fields:
                    w.writerow(defuse_row([*base, "", "", "", h.source_line, *tail]))

    def close(self) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> ReconcileResult:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _snapshot(row: Mapping[str, Any], family: int) -> dict[str, Any]:
    names = FIELDS4 if family == 4 else FIELDS6
    out: dict[str, Any] = {}
    for n in names:
        if n == "expire":
            e = _expire(row)
            out["expire"] = "never" if e is None else from_epoch(e).isoformat()
        else:
            out[n] = _show(n, row[n])
    if row["hostname"]:
        out["hostname"] = row["hostname"]
    return out


Stats = Mapping[int, Mapping[str, int]]
Chunks = Iterator[tuple[Any, Any]]


class ColumnSide(Protocol):
    """A Kea side that gives its leases as columns (KeaFileLeases, KeaPages)."""

    def live_chunks(self, *, as_of: int, result: Any,
                    progress: Callable[[], None] | None = None) -> Chunks: ...


def reconcile(source: Iterable[Lease4 | Lease6 | tuple[Lease4 | Lease6, int | None]
                               | SourceColumns],
              kea_leases: Iterable[Lease4 | Lease6] | ColumnSide, *, family: int, as_of: int,
              tolerance: int = DEFAULT_TOLERANCE,
              stats: Stats | Callable[[], Stats] | None = None,
              subnet_prefixes: Mapping[int, str] | None = None,
              pools: Iterable[PoolCounts] | Callable[[], Iterable[PoolCounts]] | None = None,
              result: ReconcileResult | None = None, workdir: str | Path | None = None,
              batch: int = 8192, progress: ProgressCallback | None = None,
              compare_leases: Callable[[], bool] | None = None,
              leases_certain: Callable[[], bool] | None = None,
              memory_budget: int = BUDGET) -> ReconcileResult:
    """Compare records already through the migration policy with Kea's leases.

    ``source`` yields records (or ``(record, source_line)`` pairs, or :class:`SourceColumns` of
    several) exactly as the migration would load them; ``kea_leases`` yields Kea's leases (any
    state: inactive ones are ignored here);
    one with a ``live_chunks`` method (:class:`~kea_etl.reconcile.kea_files.KeaFileLeases`, the
    pages of :func:`reconcile_kea`) gives them as columns itself.
    ``stats`` maps subnet id -> Kea's stat-leaseN-get row; ``pools`` are Kea's per-pool
    statistics (:func:`pool_stats`); either may be a function, called only when Kea's leases
    are read. ``compare_leases``, asked once the source is read, may say that leases are not
    compared (the sources held none): Kea's leases are then not read, nor its statistics.
    ``leases_certain``, asked while the source is read, says when leases will be compared
    whatever comes next; a Kea side with a ``start`` method (:class:`~kea_etl.reconcile.
    kea_pages.KeaPages`) then starts reading (without it: at once unless ``compare_leases``
    is given). ``memory_budget``: bytes of columns each side holds before it spills a sorted run to disk.
    Returns a :class:`ReconcileResult`. ``progress`` gets
    :class:`~kea_etl.progress.Progress` events (task "reconcile"): phases "reading the source"
    (records), "reading Kea" (leases, of the statistics' count) and "comparing".
    """
    def tick(phase: str, done: int, total: int | None, unit: Unit) -> None:
        if progress is not None:
            progress(Progress("reconcile", phase, done, total, unit,
                              (("source", res.source_read), ("Kea", res.kea_read))))

    res = result or ReconcileResult(family=family, as_of=as_of, tolerance=tolerance)
    res.family, res.as_of, res.tolerance = family, as_of, tolerance
    base = Path(tempfile.mkdtemp(prefix="kea-etl-reconcile-", dir=workdir))
    res._workdir = base
    res._diff_path = base / "differences.jsonl"
    prefixes = subnet_prefixes or {}

    def counts(sid: int) -> SubnetCounts:
        sc = res.subnets.get(sid)
        if sc is None:
            sc = res.subnets[sid] = SubnetCounts(sid, prefixes.get(sid, ""))
        return sc

    with _removed_on_error(res), \
            SortedSpool(family, workdir=base, budget=memory_budget) as src, \
            SortedSpool(family, workdir=base, budget=memory_budget) as kea:
        buf: list[Lease4 | Lease6] = []
        lines: list[int | None] = []

        def spool(side: SortedSpool, origin: bool) -> None:
            side.add_columns(record_columns(
                buf, lines, [r.origin for r in buf] if origin else None), len(buf))
            buf.clear()
            lines.clear()

        # a Kea side that can read while the source is read starts as soon as leases are
        # certain to be compared (the source has given one, or its format holds only leases)
        start = getattr(kea_leases, "start", None)

        def maybe_start() -> None:
            nonlocal start
            if start is not None and (leases_certain() if leases_certain is not None
                                      else compare_leases is None):
                start(as_of=as_of, result=res)
                start = None

        tick("reading the source", 0, None, "records")
        maybe_start()
        parts: list[SourceColumns] = []  # batches the policy decided in columns
        in_parts = 0

        def spool_parts() -> None:
            nonlocal in_parts
            if parts:
                src.add_columns(_concat_columns([p.columns for p in parts]), in_parts)
                parts.clear()
                in_parts = 0

        for item in source:
            if type(item) is SourceColumns:
                spool(src, True)  # the records before it first: rows keep their order
                parts.append(item)
                in_parts += item.rows
                if in_parts >= batch:
                    spool_parts()
                    maybe_start()
                    tick("reading the source", res.source_read, None, "records")
                continue
            spool_parts()
            rec, line = item if isinstance(item, tuple) else (item, None)
            assert not isinstance(rec, SourceColumns)
            buf.append(rec)
            lines.append(line)
            if len(buf) >= batch:
                spool(src, True)
                maybe_start()
                tick("reading the source", res.source_read, None, "records")
        if buf or parts:
            maybe_start()
        spool_parts()
        spool(src, True)
        if compare_leases is not None and not compare_leases():
            res.leases_compared = False
            kea_leases, stats, pools = (), None, None
        if callable(stats):
            stats = stats()
        if callable(pools):
            pools = pools()
        kea_total = _stat_total(stats, family) if stats else None
        tick("reading Kea", 0, kea_total, "leases")
        live_chunks = getattr(kea_leases, "live_chunks", None)
        if live_chunks is not None:  # already columns, counted and filtered by their reader
            kea_side: Chunks = live_chunks(
                as_of=as_of, result=res,
                progress=lambda: tick("reading Kea", res.kea_read, kea_total, "leases"))
        else:
            assert not hasattr(kea_leases, "live_chunks")
            for lease in kea_leases:
                res.kea_read += 1
                if res.kea_read % batch == 0:
                    tick("reading Kea", res.kea_read, kea_total, "leases")
                if lease.state not in (STATE_DEFAULT, STATE_DECLINED):
                    res.kea_ignored[LEASE_STATES.get(lease.state, str(lease.state))] += 1
                    continue
                if lease.valid_lft != INFINITE_LIFETIME and lease.expire < as_of:
                    res.kea_ignored["expired"] += 1
                    continue
                buf.append(lease)
                lines.append(None)
                if len(buf) >= batch:
                    spool(kea, False)
            spool(kea, False)
            kea_side = (dedupe_last(c) for c in kea.chunks())
        tick("reading Kea", res.kea_read, kea_total, "leases")
        tick("comparing", 0, None, "records")
        source_side = (dedupe_last(c) for c in src.chunks())
        _merge(source_side, kea_side, src.schema, res, family=family, tolerance=tolerance,
               counts=counts)
        # the same key twice in the source: the later record replaced the earlier one
        res.source_duplicates = src.rows - res.source_compared
    for sid, row in (stats or {}).items():
        sc = counts(sid)
        if family == 4:
            sc.stat_assigned = int(row.get("assigned-addresses", 0))
            sc.stat_total = int(row.get("total-addresses", 0))
            sc.stat_declined = int(row.get("declined-addresses", 0))
        else:
            sc.stat_assigned_nas = int(row.get("assigned-nas", 0))
            sc.stat_total_nas = int(row.get("total-nas", 0))
            sc.stat_assigned_pds = int(row.get("assigned-pds", 0))
            sc.stat_total_pds = int(row.get("total-pds", 0))
            sc.stat_assigned = sc.stat_assigned_nas + sc.stat_assigned_pds
            sc.stat_total = sc.stat_total_nas + sc.stat_total_pds
            sc.stat_declined = int(row.get("declined-nas", row.get("declined-addresses", 0)))
    for pool in pools or ():
        counts(pool.subnet_id).pools.append(pool)
    return res


@contextlib.contextmanager
def _removed_on_error(res: ReconcileResult) -> Iterator[None]:
    """The result's temporary directory goes when the comparison fails (no caller holds the
    result to close it)."""
    try:
        yield
    except BaseException:
        res.close()
        raise


def _stat_total(stats: Mapping[int, Mapping[str, int]], family: int) -> int:
    """The leases Kea counts (assigned + declined; v6: NAs and PDs): reading Kea's total."""
    names = (("assigned-addresses", "declined-addresses") if family == 4
             else ("assigned-nas", "declined-nas", "assigned-pds"))
    return sum(int(row.get(n, 0)) for row in stats.values() for n in names)


def _same(s: pa.Table, k: pa.Table, family: int, tolerance: int) -> Any:
    """Per pair of rows (two tables of equal length): True where :func:`compare_records` would
    find no difference, decided on the columns (the common case builds no dict per row)."""
    same = np.ones(s.num_rows, dtype=bool)
    for name in (FIELDS4 if family == 4 else FIELDS6):
        if name == "expire" or (name == "hwaddr" and family == 6):
            continue
        same &= not_null_equal(s.column(name), k.column(name))
    if family == 6:  # a v6 hwaddr only when the source has one (Kea learns it from traffic)
        src_hw = s.column("hwaddr")
        has = np.asarray(pc.fill_null(pc.not_equal(src_hw, ""), False).to_numpy(
            zero_copy_only=False), dtype=bool)
        same &= ~has | not_null_equal(src_hw, k.column("hwaddr"))
    sv, kv = s.column("valid_lft").to_numpy(), k.column("valid_lft").to_numpy()
    sc, kc = s.column("cltt").to_numpy(), k.column("cltt").to_numpy()
    infinite = (sv == INFINITE_LIFETIME) | (kv == INFINITE_LIFETIME)
    close = np.abs((sc + sv) - (kc + kv)) <= tolerance
    same &= np.where(infinite, sv == kv, close)
    return same


def _count_subnets(table: pa.Table, counts: Callable[[int], SubnetCounts], side: str) -> None:
    if not table.num_rows:
        return
    ids, n = np.unique(table.column("subnet_id").to_numpy(), return_counts=True)
    for sid, c in zip(ids.tolist(), n.tolist(), strict=True):
        sc = counts(sid)
        setattr(sc, side, getattr(sc, side) + c)


def _merge(source: Chunks, kea: Chunks, schema: pa.Schema, res: ReconcileResult, *,
           family: int, tolerance: int, counts: Callable[[int], SubnetCounts]) -> None:
    """Both sides' de-duplicated, key-ordered chunks joined window by window: the counts, and
    every difference written to the spool in key order."""
    assert res._diff_path is not None
    with res._diff_path.open("w", encoding="utf-8") as out:

        def emit(diff: dict[str, Any]) -> None:
            out.write(json.dumps(diff, default=str) + "\n")
            if len(res.sample) < SAMPLE_LIMIT:
                res.sample.append(diff)

        for s, sk, k, kk in join(source, kea, schema, schema):
            res.source_compared += s.num_rows
            res.kea_compared += k.num_rows
            _count_subnets(s, counts, "source")
            _count_subnets(k, counts, "kea")
            found = np.zeros(len(sk), dtype=bool)
            at = np.zeros(len(sk), dtype=np.int64)
            if len(kk) and len(sk):
                at = np.searchsorted(kk, sk)
                inside = at < len(kk)
                found[inside] = kk[at[inside]] == sk[inside]
            pairs_s = np.flatnonzero(found)
            pairs_k = at[found]
            extra = np.ones(len(kk), dtype=bool)
            extra[pairs_k] = False
            same = _same(_rows(s, pairs_s, len(sk)), _rows(k, pairs_k, len(kk)), family,
                         tolerance)
            res.matched += int(same.sum())
            missing, odd, extra_rows = (np.flatnonzero(~found), np.flatnonzero(~same),
                                        np.flatnonzero(extra))
            if not (len(missing) or len(odd) or len(extra_rows)):
                continue
            # every record that differs, in key order: its kind, its row on each side
            keys = np.concatenate([sk[missing], sk[pairs_s[odd]], kk[extra_rows]])
            kinds = np.concatenate([np.zeros(len(missing), np.int8), np.ones(len(odd), np.int8),
                                    np.full(len(extra_rows), 2, np.int8)])
            src_rows = np.concatenate([missing, pairs_s[odd],
                                       np.full(len(extra_rows), -1, np.int64)])
            kea_rows = np.concatenate([np.full(len(missing), -1, np.int64), pairs_k[odd],
                                       extra_rows])
            s_dicts, k_dicts = _rows_of(s, src_rows), _rows_of(k, kea_rows)
            for i in np.argsort(keys, kind="stable").tolist():
                kind = int(kinds[i])
                if kind == 0:
                    res.missing += 1
                    d = s_dicts[int(src_rows[i])]
                    emit({"address": d["key"], "category": "missing",
                          "subnet_id": d["subnet_id"], "fields": {},
                          "source": _snapshot(d, family), "source_line": d["line"],
                          "source_origin": d["origin"]})
                elif kind == 2:
                    res.extra += 1
                    d = k_dicts[int(kea_rows[i])]
                    emit({"address": d["key"], "category": "extra", "subnet_id": d["subnet_id"],
                          "fields": {}, "kea": _snapshot(d, family)})
                else:
                    ds = s_dicts[int(src_rows[i])]
                    diffs = compare_records(ds, k_dicts[int(kea_rows[i])], family=family,
                                            tolerance=tolerance)
                    if not diffs:
                        res.matched += 1
                        continue
                    res.mismatched += 1
                    res.fields_mismatched.update(diffs.keys())
                    emit({"address": ds["key"], "category": "mismatched",
                          "subnet_id": ds["subnet_id"], "fields": diffs,
                          "source_line": ds["line"], "source_origin": ds["origin"]})


#: the columns :func:`_same` reads
_COMPARED = ("hwaddr", "client_id", "subnet_id", "state", "valid_lft", "cltt", "duid", "iaid",
             "lease_type", "prefix_len")


def _rows(table: pa.Table, rows: Any, n: int) -> pa.Table:
    """The compared columns of ``table``'s ``rows`` (increasing row numbers below ``n``, the
    table's length): the table itself when they are all its rows, the common case."""
    table = table.select(list(_COMPARED))
    return table if len(rows) == n else table.take(pa.array(rows))


def _rows_of(table: pa.Table, rows: Any) -> dict[int, dict[str, Any]]:
    """``{row number: {column: value}}`` of the given rows of ``table`` (-1 ignored), with the
    key's text as ``key``."""
    wanted = np.unique(rows[rows >= 0])
    if not len(wanted):
        return {}
    picked = table.take(pa.array(wanted)).to_pylist()
    for d in picked:
        d["key"] = key_text(d["k"], d["lease_type"], d["prefix_len"])
    return dict(zip(wanted.tolist(), picked, strict=True))


def _config_family(config: Mapping[str, Any]) -> tuple[int, Mapping[str, Any]]:
    if "arguments" in config and isinstance(config["arguments"], Mapping):
        config = config["arguments"]
    has4, has6 = "Dhcp4" in config, "Dhcp6" in config
    if has4 == has6:
        raise KeaEtlError("the Kea configuration must have exactly one of Dhcp4 / Dhcp6 "
                          f"(found: {', '.join(k for k in ('Dhcp4', 'Dhcp6') if k in config)})")
    return (4 if has4 else 6), config


#: From Kea 3.1.2 (so 3.2) stat-leaseN-get's ``assigned-addresses`` / ``assigned-nas`` include
#: the declined leases (ChangeLog 2393; stat_cmds.cc addValueRow4/6 answer assigned + declined);
#: before, and in this module and kea_files, "assigned" counts leases in state 0 only.
ASSIGNED_HOLDS_DECLINED = (3, 1, 2)
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def _kea_version(client: ReconcileClient, known: str) -> tuple[int, ...] | None:
    """The server's version as numbers: ``known`` (the caller's version-get), else asked."""
    text = known
    if not _VERSION.search(text or ""):
        try:
            resp = client.call("version-get", None)
        except KeaEtlError:
            return None
        text = str(resp.get("text") if isinstance(resp, Mapping) else getattr(resp, "text", ""))
    m = _VERSION.search(text or "")
    return tuple(int(x) for x in m.groups()) if m else None


def _stat_rows(client: ReconcileClient, family: int,
               kea_version: str = "") -> dict[int, dict[str, int]]:
    """stat-leaseN-get per subnet, ``assigned-*`` counting state-0 leases on every Kea version
    (a 3.2 answer has its declined leases taken out again: :data:`ASSIGNED_HOLDS_DECLINED`)."""
    resp = client.call(f"stat-lease{family}-get", None)
    args = resp.get("arguments") if isinstance(resp, Mapping) else getattr(resp, "arguments", None)
    if not isinstance(args, Mapping):
        return {}
    rs = args.get("result-set") or {}
    cols = list(rs.get("columns") or [])
    out: dict[int, dict[str, int]] = {}
    for raw in rs.get("rows") or []:
        row = dict(zip(cols, raw, strict=False))
        out[int(row.pop("subnet-id"))] = {k: int(v) for k, v in row.items()}
    version = _kea_version(client, kea_version) if out else None
    if version is not None and version >= ASSIGNED_HOLDS_DECLINED:
        assigned = "assigned-addresses" if family == 4 else "assigned-nas"
        for row in out.values():
            declined = row.get("declined-addresses", row.get("declined-nas", 0))
            if assigned in row:
                row[assigned] -= declined
    return out


_POOL_STAT = re.compile(r"^subnet\[(\d+)\]\.(pool|pd-pool)\[(\d+)\]\.([a-z-]+)$")


def _pool_labels(section: Mapping[str, Any], family: int) -> dict[tuple[int, str, int], str]:
    """``(subnet id, kind, pool-id) -> "pool, pool"`` from a Dhcp4 / Dhcp6 section."""
    out: dict[tuple[int, str, int], list[str]] = {}
    for sub in section_subnets(section, family):
        for pool in sub.pools:
            out.setdefault((sub.id, "pool", pool.pool_id), []).append(pool.text.replace(" ", ""))
        for pd in sub.pd_pools:
            out.setdefault((sub.id, "pd-pool", pd.pool_id), []).append(
                f"{pd.prefix} delegating /{pd.delegated_len}")
    return {k: ", ".join(v) for k, v in out.items()}


def pool_stats(client: ReconcileClient, family: int,
               section: Mapping[str, Any] | None = None) -> list[PoolCounts]:
    """Kea's per-pool statistics (statistic-get-all, Kea 2.4+), labelled from ``section``.

    Empty when the server keeps none (Kea 2.2: subnet-level only) or does not answer.
    """
    try:
        resp = client.call("statistic-get-all", None)
    except KeaEtlError:
        return []
    args = resp.get("arguments") if isinstance(resp, Mapping) else getattr(resp, "arguments", None)
    if not isinstance(args, Mapping):
        return []
    found: dict[tuple[int, str, int], dict[str, int]] = {}
    for name, samples in args.items():
        m = _POOL_STAT.match(str(name))
        if m is None or not isinstance(samples, list) or not samples:
            continue
        try:
            value = int(samples[0][0])
        except (TypeError, ValueError, IndexError):
            continue
        found.setdefault((int(m[1]), m[2], int(m[3])), {})[m[4]] = value
    labels = _pool_labels(section or {}, family)
    out: list[PoolCounts] = []
    for (sid, kind, pid), vals in sorted(found.items()):
        if family == 4:
            assigned, total = vals.get("assigned-addresses"), vals.get("total-addresses")
            declined = vals.get("declined-addresses")
        elif kind == "pool":
            assigned, total = vals.get("assigned-nas"), vals.get("total-nas")
            declined = vals.get("declined-addresses", vals.get("declined-nas"))
        else:
            assigned, total, declined = vals.get("assigned-pds"), vals.get("total-pds"), None
        if assigned is None or total is None:
            continue
        out.append(PoolCounts(sid, kind, pid, labels.get((sid, kind, pid), f"pool-id {pid}"),
                              assigned, total, declined))
    return out


# ---- the policy over a batch of DHCPv4 leases in columns -----------------------------------
#
# One Normalizer call per source record, and a new record per lease for the target's subnet id,
# was most of ``reconcile --against``'s time at a few hundred thousand leases. For a batch of
# DHCPv4 leases (a dhcpd.leases, the common case) _decide4 takes the fields the policy reads a
# column at a time and lets transform.normalize.policy4_batch decide the plain cases; every
# other record goes to the caller's per-record judge, the Normalizer itself, so each record gets
# exactly the Normalizer's verdict. The loaded leases come back as record_columns' columns, no
# record built. tests/reconcile/test_policy_differential.py pins this to the Normalizer record
# by record.

_LINE = attrgetter("line")
_HWADDR = attrgetter("hwaddr")
_CLIENT_ID = attrgetter("client_id")
_HOSTNAME = attrgetter("hostname")
_ORIGIN = attrgetter("origin")


def _decide4(items: Sequence[Extracted], recs: list[Lease4 | Lease6], *, subnets: SubnetMap,
             as_of: int, judge: Callable[[Extracted], Lease4 | Lease6 | None],
             skipped: Counter[str]) -> tuple[dict[str, Any], int]:
    """The policy over ``items`` (each an :class:`Extracted` holding a :class:`Lease4`, for a
    Normalizer that moves DHCPv4 and has a Dhcp4 section; ``recs`` their records, replaced
    here by what is compared): ``(columns, rows)`` of the leases to compare, in ``items``'
    order.

    Skips decided here are added to ``skipped`` (by reason); ``judge(item)`` is called, in
    order, for every item not decided here, and returns the record to compare (the Normalizer's,
    or its unmapped lease) or None (it counted the item itself)."""
    d = policy4_batch(items, recs, subnets=subnets, as_of=as_of, judge=judge, skipped=skipped)
    rows = d.rows
    m = len(rows)
    if m == len(items):
        kept, kept_items = recs, items
    else:
        at = rows.tolist()
        kept = [recs[i] for i in at]
        kept_items = [items[i] for i in at]
    return {"k": d.address[rows], "subnet_id": d.subnet_id[rows], "state": d.state[rows],
            "valid_lft": d.valid_lft[rows], "cltt": d.cltt[rows],
            "hwaddr": list(map(_HWADDR, kept)), "client_id": list(map(_CLIENT_ID, kept)),
            "hostname": list(map(_HOSTNAME, kept)), "origin": list(map(_ORIGIN, kept)),
            "line": list(map(_LINE, kept_items)),
            "lease_type": pa.repeat(pa.scalar("V4"), m),
            "prefix_len": pa.repeat(pa.scalar(32, pa.int64()), m)}, m


@dataclass
class _Prepared:
    """What :func:`_prepare` sets up for both kinds of Kea side."""

    family: int
    section: Mapping[str, Any]
    result: ReconcileResult
    prefixes: dict[int, str]
    #: the source's leases through the policy (a generator: nothing is read until iterated)
    leases: Iterator[tuple[Lease4 | Lease6, int | None] | SourceColumns]
    #: the source's reservations through the policy, filled while ``leases`` is iterated
    hosts: SourceHosts
    #: kinds compared whatever the sources hold (:func:`kinds_for_formats`)
    forced: frozenset[str]
    leases_seen: int = 0

    def compare_leases(self) -> bool:
        """Leases are compared when a source held one or can hold nothing else, and when
        nothing tells either way (no record at all: today's lease comparison)."""
        return ("leases" in self.forced or self.leases_seen > 0
                or not (self.forced or self.hosts.result.source_read))

    def leases_certain(self) -> bool:
        """True once :meth:`compare_leases` can only be True (read while the source is)."""
        return "leases" in self.forced or self.leases_seen > 0

    def compare_reservations(self) -> bool:
        return "reservations" in self.forced or self.hosts.result.source_read > 0


def _prepare(source: Iterable[ExtractItem], kea_config: Mapping[str, Any], *,
             as_of: int | None, tolerance: int, abandoned: str, source_name: str,
             allow_unmapped: bool = False, compare: Iterable[str] = (),
             only_family: int | None = None, columns: bool | None = None) -> _Prepared:
    """Family, config section, an empty result with the subnets, their prefixes and the source
    through the migration policy. ``columns`` False: every record one by one through the
    Normalizer (the reference; default :data:`POLICY_IN_COLUMNS`)."""
    from kea_etl.migration import unmapped_prefix

    family, config = _config_family(kea_config)
    now = int(as_of if as_of is not None else clock.now())
    smap = SubnetMap.from_config(config)
    # only_family: migrate's --family (a source holding both families into one daemon)
    normalizer = Normalizer(smap, as_of=now, abandoned=abandoned,  # type: ignore[arg-type]
                            family=only_family)
    res = ReconcileResult(family=family, as_of=now, tolerance=tolerance, source_name=source_name,
                          allow_unmapped=allow_unmapped)
    prefixes = {sid: str(sub.prefix) for sid, sub in smap.subnets.get(family, {}).items()}
    for sid, prefix in prefixes.items():
        res.subnets[sid] = SubnetCounts(sid, prefix)
    prefixes[0] = "no subnet in the target"  # the row of unmapped leases, made when one comes
    unknown = set(compare) - set(KINDS)
    if unknown:
        raise KeaEtlError(f"cannot compare {', '.join(sorted(unknown))}: use "
                          f"{' / '.join(KINDS)}")
    prep = _Prepared(family, config[f"Dhcp{family}"], res, prefixes, iter(()),
                     SourceHosts(res.reservations), frozenset(compare))
    if columns is None:
        columns = POLICY_IN_COLUMNS

    def judge(item: Extracted) -> Lease4 | Lease6 | None:
        """The policy's verdict on one lease item: the record to compare, or None (counted)."""
        out = normalizer(item)  # a lease of the other family: WrongFamilyError
        if isinstance(out, Rejected):
            if out.unmapped is not None:  # active, and Kea cannot hold it
                res.unmapped[unmapped_prefix(out.unmapped)] += 1
                if not allow_unmapped:
                    return out.unmapped  # missing in Kea, under subnet 0
            if out.failed:
                res.source_failed += 1
            else:
                res.source_skipped[out.reason] += 1
            return None
        assert isinstance(out, Lease4 | Lease6)
        return out

    # a batch of DHCPv4 leases is decided in columns (_decide4) when the
    # Normalizer would move them all (a Dhcp4 target, no --family 6); anything else one by one
    in_columns = columns and family == 4 and normalizer.moves4

    def policy() -> Iterator[tuple[Lease4 | Lease6, int | None] | SourceColumns]:
        items = iter(source)
        while batch := list(itertools.islice(items, POLICY4_BATCH)):
            recs = lease4_records(batch) if in_columns else None
            if recs is not None:
                res.source_read += len(batch)
                prep.leases_seen += len(batch)
                cols, n = _decide4(batch, recs, subnets=smap,  # type: ignore[arg-type]
                                   as_of=now, judge=judge, skipped=res.source_skipped)
                yield SourceColumns(cols, n)
                continue
            for item in batch:
                if isinstance(item, SourceWarning):  # not a record (a dhcpd class, say): said
                    res.source_warnings += 1
                    if res.source_warnings <= _SHOW_SOURCE_WARNINGS:
                        res.warnings.append(f"not compared: {item}")
                    elif res.source_warnings == _SHOW_SOURCE_WARNINGS + 1:
                        res.warnings.append("more statements not compared: see "
                                            "source_warnings in the JSON, and kea-etl migrate "
                                            "--report for every one")
                    continue
                if isinstance(item, MalformedRecordError):
                    res.source_read += 1
                    res.source_failed += 1
                    continue
                if isinstance(item.record, Reservation):  # the same subnet policy as migrate
                    try:
                        verdict: Any = normalizer(item)
                    except RecordError as exc:  # migrate fails it "invalid"
                        verdict = Rejected("invalid", str(exc), failed=True)
                    prep.hosts.add(item, verdict)
                    continue
                res.source_read += 1
                prep.leases_seen += 1
                rec = judge(item)
                if rec is not None:
                    yield rec, item.line

    prep.leases = policy()
    return prep


def reconcile_kea(source: Iterable[ExtractItem], client: ReconcileClient, *,
                  kea_config: Mapping[str, Any], as_of: int | None = None,
                  tolerance: int = DEFAULT_TOLERANCE, abandoned: str = "skip",
                  source_name: str = "", allow_unmapped: bool = False,
                  server: str = "", kea_version: str = "",
                  page_size: int = 1000, workdir: str | Path | None = None,
                  progress: ProgressCallback | None = None,
                  compare: Iterable[str] = (), only_family: int | None = None) -> ReconcileResult:
    """Extracted source items vs a live Kea: apply the migration policy, compare, count.

    ``kea_config`` is the target configuration (a ``--kea-config`` file's content or config-get's
    answer); it gives the family, the subnet ids the policy assigns and the subnet prefixes.
    ``source`` may chain several sources (leases from one, reservations from another);
    ``compare`` names kinds compared whatever they hold (:func:`kinds_for_formats`). Kea's
    reservations come from the server itself (reservation-get-page, else its config-get), never
    from ``kea_config``: the comparison is with what Kea holds.
    """
    prep = _prepare(source, kea_config, as_of=as_of, tolerance=tolerance, abandoned=abandoned,
                    source_name=source_name, allow_unmapped=allow_unmapped, compare=compare,
                    only_family=only_family)
    family, res = prep.family, prep.result
    res.server, res.kea_version = server, kea_version

    def stats() -> Stats:
        try:
            return _stat_rows(client, family, kea_version)
        except KeaUnsupportedError as exc:
            res.warnings.append(f"no per-subnet statistics: {exc}")
            return {}

    from kea_etl.export.kea_api import iter_lease_pages
    from kea_etl.reconcile.kea_pages import KeaPages

    kea = KeaPages(iter_lease_pages(client, family, page_size=page_size),  # type: ignore[arg-type]
                   family, workdir=workdir)
    reconcile(prep.leases, kea, family=family, as_of=res.as_of, tolerance=tolerance,
              stats=stats, subnet_prefixes=prep.prefixes,
              pools=lambda: pool_stats(client, family, prep.section), result=res,
              workdir=workdir, progress=progress, compare_leases=prep.compare_leases,
              leases_certain=prep.leases_certain)
    if prep.compare_reservations():
        res.reservations.kea_source, held = kea_held_hosts(
            client, family, server=server or str(getattr(client, "url", "Kea")),
            page_size=min(page_size, 1000))
        compare_hosts(prep.hosts.hosts, held, family=family, result=res.reservations)
    return res


def reconcile_file(source: Iterable[ExtractItem], path: str | Path, *,
                   kea_config: Mapping[str, Any], as_of: int | None = None,
                   tolerance: int = DEFAULT_TOLERANCE, abandoned: str = "skip",
                   source_name: str = "", allow_unmapped: bool = False,
                   workdir: str | Path | None = None,
                   progress: ProgressCallback | None = None,
                   compare: Iterable[str] = (), only_family: int | None = None
                   ) -> ReconcileResult:
    """Extracted source items vs the leases Kea *would* hold after loading ``path``.

    ``path`` is a Kea memfile (``kea-leases4.csv`` / ``kea-leases6.csv``), a kea-etl export
    (``leases-v4.parquet`` / ``.csv``) or a directory holding one of them (the family is the
    configuration's). A memfile is read exactly as Kea loads it at start-up: its lease file
    cleanup leftovers first, a row Kea cannot parse skipped, the configuration's
    ``lease-checks`` sanity check applied to every row, then the last surviving row per address
    wins unless its valid lifetime is 0 (a deletion); see :mod:`kea_etl.reconcile.kea_files`.
    Per-subnet counts are what ``stat-leaseN-get`` would report for that table. The files are
    checked (present, lease files of the right family) before the source is touched, and read
    while it is read (a thread of their own).

    Reservations (when the sources hold some, see :func:`reconcile_kea`) are compared with the
    hosts Kea would hold when started on ``kea_config``: its reservations, plus those of the
    ``reservationsN.json`` fragment next to the lease file (``migrate --to memfile:`` writes it
    to merge into the configuration; a host in both counts as the fragment's). A configuration
    naming a hosts database cannot show those hosts: an error.

    The result's ``server`` is the file's path; ``kea_version`` what its header says (memfile)
    or the export's ``kea_version`` column ("file" when unknown).
    """
    from kea_etl.reconcile.kea_files import KeaFileLeases

    prep = _prepare(source, kea_config, as_of=as_of, tolerance=tolerance, abandoned=abandoned,
                    source_name=source_name, allow_unmapped=allow_unmapped, compare=compare,
                    only_family=only_family)
    family, res = prep.family, prep.result
    with KeaFileLeases(path, family=family, section=prep.section, workdir=workdir) as files:
        # the files are read while the source is: two cores, one wall-clock pass
        files.start()
        res.server = str(files.path)
        before = len(res.warnings)
        try:
            reconcile(prep.leases, files, family=family, as_of=res.as_of, tolerance=tolerance,
                      stats=files.stats, subnet_prefixes=prep.prefixes, result=res,
                      workdir=workdir, progress=progress, compare_leases=prep.compare_leases)
        except Exception:
            files.wait()  # a problem with the files is the error, as if they were read first
            raise
        files.wait()  # a file Kea would refuse fails the run even when no lease was compared
        res.kea_version = files.version
        res.warnings[before:before] = files.warnings
        folder = files.path if files.path.is_dir() else files.path.parent
    if prep.compare_reservations():
        res.reservations.kea_source, held = _file_hosts(prep.section, family, folder)
        compare_hosts(prep.hosts.hosts, held, family=family, result=res.reservations)
    return res


def _file_hosts(section: Mapping[str, Any], family: int, folder: Path
                ) -> tuple[str, list[dict[str, Any]]]:
    """The hosts a Kea started on ``section`` plus ``folder``'s reservations fragment holds."""
    from kea_etl.memfile_set import RESERVATIONS4_FILE, RESERVATIONS6_FILE

    if section.get("hosts-database") or section.get("hosts-databases"):
        raise KeaEtlError("cannot compare reservations with files: the --kea-config keeps them "
                          "in a hosts database; compare with the running server (--kea URL), "
                          "or reconcile only lease sources")
    hosts = {_host_key(h): h for h in section_reservations(section, family,
                                                           origin="--kea-config")}
    where = "--kea-config"
    fragment = folder / (RESERVATIONS4_FILE if family == 4 else RESERVATIONS6_FILE)
    if fragment.is_file():
        from kea_etl.kea_config import load_kea_config

        part = load_kea_config(fragment).get(f"Dhcp{family}") or {}
        hosts.update((_host_key(h), h) for h in section_reservations(part, family,
                                                                     origin=str(fragment)))
        where += f" + {fragment}"
    return where, list(hosts.values())


def _host_key(host: Mapping[str, Any]) -> tuple[Any, ...]:
    from kea_etl.load.reservations import host_identifier

    return (host.get("subnet-id"), host_identifier(host))
