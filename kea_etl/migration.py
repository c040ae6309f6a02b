"""The migration, as a library: sources -> extract -> transform -> load -> :class:`RunReport`.

:func:`migrate` streams every source through the policy (:mod:`kea_etl.transform.normalize`), the
conflict tracker (:mod:`kea_etl.transform.conflicts`) and one loader (:mod:`kea_etl.load.base`).
It never prints; a ``progress`` callback sees the report as it fills. Every record read ends in
exactly one bucket of the report (loaded, skipped with a reason, failed with a reason), and the
invariant ``read == loaded + sum(skipped) + failed`` is checked before returning.

Targets are named like sources (``memfile:OUTDIR``, ``kea:URL``, ``kea-sql:URL``); the load
stage builds their loaders by name (:mod:`kea_etl.load.targets`).
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from ipaddress import IPv4Network, IPv6Network
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kea_etl import clock
from kea_etl.errors import ConfigError, MalformedRecordError, RecordError
from kea_etl.extract import NOT_FILES, Source, resolve_source
from kea_etl.extract.base import Extracted, ExtractItem
from kea_etl.extract.failover import FailoverSource
from kea_etl.load.base import LiveLoader, Loader, LoadRecord
from kea_etl.options import ConnectionOptions, MigrateOptions, cli_name
from kea_etl.progress import Progress, count_lines
from kea_etl.records import STATE_DECLINED, Lease4, Lease6, Reservation, epoch, from_epoch
from kea_etl.report import RunReport, SourceWarning
from kea_etl.transform.conflicts import Conflict, ConflictTracker, Numbering
from kea_etl.transform.normalize import (
    POLICY4_BATCH,
    AbandonedPolicy,
    Normalizer,
    Rejected,
    lease4_records,
    policy4_batch,
)
from kea_etl.transform.subnets import SubnetMap

if TYPE_CHECKING:
    from kea_etl.load.credentials import LiveCredentials

__all__ = ["PreparedRun", "ProgressCallback", "check_target_subnets", "migrate", "prepare", "run",
           "target_subnets", "unmapped_prefix"]

#: ``progress(Progress(task="migrate", phase=...))``: phases "checking conflicts" (the pre-pass
#: of a target that cannot take a record back), "loading" and "done"; bytes of the source files
#: (records for a database or failover-pair source); counts read / loaded / already present /
#: skipped / failed
ProgressCallback = Callable[[Progress], None]
PHASES = {"scan": "checking conflicts", "load": "loading", "done": "done"}


class _Meter:
    """How far one pass is through the sources, for :class:`Progress`.

    Files: bytes, as the share of each file's lines before the record being read (every
    extractor gives the line of a record; :func:`count_lines` counts a file's lines once), so
    ``done`` is exact at the end of every file and close in between. A database or failover-pair
    source has no such position: then the unit is records and the total is unknown.
    """

    def __init__(self, sources: Sequence[Source | FailoverSource]) -> None:
        self.files: list[tuple[int, int]] | None = []
        for s in sources:
            if not isinstance(s, Source) or s.format in NOT_FILES:
                self.files = None
                break
            try:
                size = Path(s.location).stat().st_size
                self.files.append((size, max(1, count_lines(s.location))))
            except OSError:  # the extractor says what is wrong with the file
                self.files = None
                break
        self.total = sum(size for size, _ in self.files) if self.files is not None else None
        self.index = 0
        self.line = 0

    def reached(self, line: int | None) -> None:
        """A record at ``line`` is being read: the lines before it are."""
        if line is not None and line > self.line:
            self.line = line - 1

    def done(self, read: int) -> int:
        if self.files is None:
            return read
        before = sum(size for size, _ in self.files[:self.index])
        size, lines = self.files[self.index] if self.index < len(self.files) else (0, 1)
        return before + size * min(self.line, lines) // lines

    def event(self, phase: str, report: RunReport) -> Progress:
        already = report.already_present
        return Progress(task="migrate", phase=PHASES[phase], done=self.done(report.read),
                        total=self.total, unit="B" if self.files is not None else "records",
                        counts=(("read", report.read), ("loaded", report.loaded - already),
                                ("already present", already),
                                ("skipped", report.skipped_total), ("failed", report.failed)))


def check_target_subnets(loader: Loader, configured: SubnetMap | None) -> SubnetMap | None:
    """The subnet map a run files leases under, checked against a live target before any send.

    A live target (a loader with ``fetch_subnets``: ``kea:URL``, an HA pair) is asked for its
    subnets (config-get, a read). Without ``configured`` (no ``--kea-config``) they are the map.
    With it, every configured subnet must be on the target under the same id: otherwise the run
    would file leases under ids the server does not use (a dry run would approve it and the
    real run fail them all), so :class:`~kea_etl.errors.ConfigError` is raised with one line
    per disagreeing subnet. Targets without a live configuration (memfile, kea-sql) return
    ``configured`` unchanged (None when none was given; the caller says it is required).
    """
    from kea_etl.transform.subnets import compare_subnets

    if not isinstance(loader, LiveLoader):
        return configured
    live = loader.fetch_subnets()
    if configured is None:
        return live
    wrong = compare_subnets(configured, live)
    if wrong:
        lines = "\n".join(f"  {w}" for w in wrong)
        raise ConfigError(f"the --kea-config subnets do not match {loader.name}'s own "
                          f"configuration (config-get); nothing was sent:\n{lines}")
    return configured


def target_subnets(loader: Loader, configured: SubnetMap | None, *, missing: str) -> SubnetMap:
    """:func:`check_target_subnets`, and the map a run cannot go without: on a disagreement, or
    with no map at all (a memfile or kea-sql target given no Kea configuration), the loader is
    aborted (nothing was sent) and :class:`~kea_etl.errors.ConfigError` raised; ``missing`` is
    the message of the second, in the caller's words (an option, a pipeline key)."""
    try:
        checked = check_target_subnets(loader, configured)
    except BaseException:
        loader.abort()
        raise
    if checked is None:
        loader.abort()
        raise ConfigError(missing)
    return checked


def migrate(
    sources: Sequence[str | Source | FailoverSource],
    loader: Loader,
    *,
    subnets: SubnetMap,
    as_of: int | datetime | str | None = None,
    abandoned: AbandonedPolicy = "skip",
    query: str | None = None,
    mapping: Any = None,
    progress: ProgressCallback | None = None,
    progress_every: int = 1_000,
    allow_unmapped: bool = False,
    source_credentials: Any = None,
    family: int | None = None,
) -> RunReport:
    """Move every record of ``sources`` into ``loader``; returns the balanced report.

    ``sources`` are specs as on the command line (see :func:`kea_etl.extract.resolve_source`) or
    resolved :class:`Source` objects (``source_credentials``, a
    :class:`~kea_etl.load.credentials.LiveCredentials`, is who kea-etl is to a ``kea:`` or
    ``kea-sql:`` source); all are resolved (format detected) before anything is read,
    so a bad spec fails fast. ``as_of`` (default: now) is the time leases must outlive to be
    loaded. Raises :class:`~kea_etl.errors.FatalError` for problems with a whole source or the
    target; the loader is then aborted (a memfile target leaves no new file behind).

    An active lease that no subnet of the target contains *fails* (``no-subnet``): the target
    cannot hold the client's address. ``report.unmapped`` counts them by source prefix (a /24
    for v4, a /64 for v6 addresses, the delegated prefix for IA_PD). ``allow_unmapped=True``
    accepts them: skipped ``no-subnet`` instead, and ``report.allow_unmapped`` says so.
    ``family`` (4 or 6) moves only that family's records; the others are skipped
    ``other-family``. Otherwise a record of a family the target has no configuration for raises
    :class:`~kea_etl.transform.normalize.WrongFamilyError` (a usage error) before anything is
    loaded into a target that cannot take a record back (live and SQL targets: their conflict
    pre-pass reads every record first), and before a memfile target writes any file.
    """
    if not sources:
        raise ConfigError("no source given")
    resolved = [s if not isinstance(s, str) else
                resolve_source(s, query=query, mapping=mapping, credentials=source_credentials)
                for s in sources]
    as_of_epoch = clock.now() if as_of is None else epoch(as_of)
    normalizer = Normalizer(subnets, as_of=as_of_epoch, abandoned=abandoned, family=family)
    report = RunReport(allow_unmapped=allow_unmapped)
    report.sources = [str(s) for s in resolved]
    report.target = loader.name
    report.as_of = from_epoch(as_of_epoch).isoformat().replace("+00:00", "Z")
    tick: Callable[[RunReport, str], None] | None = None
    meter: _Meter | None = None
    if progress is not None:
        meter = _Meter(resolved)
        m, p = meter, progress

        def tick(rep: RunReport, phase: str) -> None:
            p(m.event(phase, rep))
    collector = gc.get_threshold()
    gc.set_threshold(max(collector[0], _GC_YOUNG), *collector[1:])
    try:
        exclude: dict[tuple[int, int], Conflict] = {}
        if not loader.can_retract:
            # The loader cannot take a record back: find the losers first, then load without them.
            scan = RunReport(allow_unmapped=allow_unmapped)
            tracker = ConflictTracker()
            for _ in _stream(resolved, normalizer, tracker, scan, {}, tick, progress_every,
                             "scan", meter):
                pass
            conflicts = tracker.resolve()
            exclude = {(c.family, c.ordinal): c for c in conflicts if c.fails}
        tracker = ConflictTracker() if loader.can_retract else Numbering()
        loader.load(_stream(resolved, normalizer, tracker, report, exclude, tick,
                            progress_every, "load", meter), report)
        if loader.can_retract:
            conflicts = tracker.resolve()
            loader.retract([c for c in conflicts if c.fails], report)
        warnings = [c for c in conflicts if not c.fails]
        for c in warnings:
            report.warn(c.reason, source=c.source, line=c.line, key=c.key, detail=c.detail)
        report.load_warnings = _count(warnings)
        report.outputs = loader.commit()
        for s in resolved:  # a failover pair's merge statistics (kea_etl.extract.failover)
            if isinstance(s, FailoverSource):
                report.failover = s.stats.to_json()
    except BaseException:
        loader.abort()
        raise
    finally:
        gc.set_threshold(*collector)
    if tick is not None:
        tick(report, "done")
    report.check()
    return report


def unmapped_prefix(lease: Lease4 | Lease6) -> str:
    """How a lease no target subnet holds is grouped in the summary: the /24 of a v4 address,
    the /64 of a v6 address, the delegated prefix itself for IA_PD."""
    if type(lease) is Lease4:
        return str(IPv4Network((int(lease.address) & 0xFFFFFF00, 24)))
    assert isinstance(lease, Lease6)
    if lease.lease_type == "IA_PD":
        return f"{lease.address}/{lease.prefix_len} (delegated prefix)"
    return str(IPv6Network((int(lease.address) >> 64 << 64, 64)))


def _count(conflicts: Sequence[Conflict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in conflicts:
        counts[c.reason] = counts.get(c.reason, 0) + 1
    return counts


def _stream(sources: Sequence[Source | FailoverSource], normalizer: Normalizer, tracker: ConflictTracker,
            report: RunReport, exclude: dict[tuple[int, int], Conflict],
            progress: Callable[[RunReport, str], None] | None, every: int, phase: str,
            meter: _Meter | None = None) -> Iterator[LoadRecord]:
    """Extract and transform; count read / skipped / failed; yield what the loader should get."""
    observe = tracker.observe
    next_tick = every if progress is not None else 1 << 62
    columns = phase == "scan" and normalizer.moves4
    for index, source in enumerate(sources):
        if meter is not None:
            meter.index, meter.line = index, 0
            progress(report, phase)  # type: ignore[misc]
        items: Iterable[ExtractItem] = source.open()
        if columns:
            items = _scan4(items, normalizer, tracker, report, meter,
                           None if progress is None else lambda: progress(report, phase), every)
        for item in items:
            if meter is not None:
                meter.reached(getattr(item, "line", None))
            if type(item) is SourceWarning:  # not a record: listed, not counted as read
                report.not_translated(item)
                continue
            report.read += 1
            if report.read >= next_tick:
                next_tick = report.read + every
                progress(report, phase)  # type: ignore[misc]
            if type(item) is not Extracted:
                if isinstance(item, MalformedRecordError):
                    report.fail("malformed", source=item.source, line=item.line, key=item.key,
                                detail=item.reason)
                    continue
                raise TypeError(f"extractor for {source} yielded {type(item).__name__}")
            for note in item.warnings:  # statements of this record that were not translated
                report.not_translated(note)
            try:
                verdict = normalizer(item)
            except RecordError as exc:
                report.fail("invalid", source=item.source, line=item.line, key=item.key,
                            detail=str(exc))
                continue
            if type(verdict) is Rejected:
                if verdict.unmapped is not None:  # an active lease the target cannot hold
                    report.unmapped[unmapped_prefix(verdict.unmapped)] += 1
                    (report.skip if report.allow_unmapped else report.fail)(
                        "no-subnet", source=item.source, line=item.line, key=item.key,
                        detail=verdict.detail)
                elif verdict.failed:
                    report.fail(verdict.reason, source=item.source, line=item.line, key=item.key,
                                detail=verdict.detail)
                else:
                    report.skip(verdict.reason, source=item.source, line=item.line, key=item.key,
                                detail=verdict.detail)
                continue
            if type(verdict) is Reservation:
                bad = tracker.check_reservation(verdict)
                if bad is not None:
                    report.fail(bad.reason, source=item.source, line=item.line, key=item.key,
                                detail=bad.detail, conflict=True)
                    continue
                yield verdict
                continue
            assert isinstance(verdict, Lease4 | Lease6)
            ordinal = observe(verdict, source=item.source, line=item.line)
            if exclude:
                lost = exclude.get((4 if type(verdict) is Lease4 else 6, ordinal))
                if lost is not None:
                    report.fail(lost.reason, source=item.source, line=item.line, key=item.key,
                                detail=lost.detail, conflict=True)
                    continue
            yield verdict
        if meter is not None:  # the whole file is read
            meter.line = 1 << 62
            progress(report, phase)  # type: ignore[misc]


#: young objects between two runs of the garbage collector during a migration (Python: 700).
#: Records are made and dropped by the hundred thousand and form no cycles; at 700 the collector
#: ran every few records and moved the batch in flight through its generations: 20% of the
#: conflict pre-pass (0.71 s -> 0.55 s at 300,000 leases)
_GC_YOUNG = 10_000


def _scan4(items: Iterable[ExtractItem], normalizer: Normalizer, tracker: ConflictTracker,
           report: RunReport, meter: _Meter | None, progress: Callable[[], None] | None,
           every: int) -> Iterator[ExtractItem]:
    """The conflict pre-pass's shortcut: batches of DHCPv4 leases (a dhcpd.leases, the common
    case) are decided in columns (:func:`~kea_etl.transform.normalize.policy4_batch`, the
    Normalizer for all but the plain cases) and the leases it loads are observed in columns
    (:meth:`ConflictTracker.observe4`), in order; any other batch is passed on to
    :func:`_stream`, item by item. The pre-pass only needs what the tracker remembers (its
    report is thrown away), so the leases observed and their order are those of the load pass,
    which numbers them one by one: an ordinal means the same lease in both passes
    (tests/transform/test_conflict_prepass.py compares the two passes' conflicts).
    ``progress()`` is called after a batch that passed a multiple of ``every`` records read."""
    it = iter(items)
    skipped: Counter[str] = Counter()
    subnets, as_of = normalizer.subnets, normalizer.as_of

    def judge(item: Extracted) -> Lease4 | Lease6 | None:
        try:
            verdict = normalizer(item)
        except RecordError:  # the load pass fails it "invalid"
            return None
        return verdict if type(verdict) is Lease4 else None

    while batch := list(islice(it, POLICY4_BATCH)):
        recs = lease4_records(batch)
        if recs is None:
            yield from batch
            continue
        d = policy4_batch(batch, recs, subnets=subnets, as_of=as_of,  # type: ignore[arg-type]
                          judge=judge, skipped=skipped)
        at = d.rows.tolist()
        tracker.observe4([recs[i] for i in at], d.address[d.rows],
                         d.subnet_id[d.rows], d.cltt[d.rows],
                         d.state[d.rows] == STATE_DECLINED,
                         [batch[i].source for i in at], [batch[i].line for i in at])
        before = report.read
        report.read += len(batch)
        if meter is not None:
            meter.reached(batch[-1].line)
        if progress is not None and report.read // every != before // every:
            progress()


@dataclass
class PreparedRun:
    """A migration ready to go: its sources, the loader of its target(s), checked against the
    target's own subnets. :meth:`run` moves the records; until then nothing was sent, and
    :meth:`abort` lets go of the loader (a caller that stops here)."""

    options: MigrateOptions
    sources: list[str | Source | FailoverSource]
    loader: Loader
    subnets: SubnetMap
    source_credentials: LiveCredentials | None = None

    def run(self, *, progress: ProgressCallback | None = None) -> RunReport:
        o = self.options
        report = migrate(self.sources, self.loader, subnets=self.subnets, as_of=o.as_of,
                         abandoned="declined" if o.abandoned == "declined" else "skip",
                         query=o.query, mapping=o.mapping, progress=progress,
                         allow_unmapped=o.allow_unmapped,
                         source_credentials=self.source_credentials,
                         family=int(o.family) if o.family else None)
        report.dry_run = o.dry_run
        return report

    def abort(self) -> None:
        self.loader.abort()


def prepare(options: MigrateOptions, *, connection: ConnectionOptions | None = None,
            credentials: LiveCredentials | None = None,
            source_credentials: LiveCredentials | None = None, state_home: str | None = None,
            name: Callable[[str], str] = cli_name) -> PreparedRun:
    """Check ``options``, open the target(s) and check their subnets: the one place
    ``kea-etl migrate``, a pipeline's migrate step and :func:`kea_etl.migrate` build a run.

    ``connection``: the options given for a live target (a memfile target refuses them);
    ``credentials``: the target's, resolved by the caller from ``connection`` and its
    environment. ``state_home``: where a live run keeps its state without ``report``
    (``$XDG_STATE_HOME`` for the CLI). ``name(field)`` names an option in an error message in
    the caller's words (``--kea-config`` on the command line, ``'kea_config'`` in a
    pipeline). Raises :class:`~kea_etl.errors.ConfigError` before anything is sent.
    """
    from kea_etl.extract.failover import failover_sources
    from kea_etl.load.ha import make_targets_loader
    from kea_etl.load.pause import DEFAULT_MAX_PERIOD, ServiceWindow

    o = options
    if not o.to:
        raise ConfigError(f"no {name('to')} target given")
    target = o.to[0]
    every_kea = all(t.startswith("kea:") for t in o.to)
    if (o.pause_service or o.reclaim or o.pause_max_period is not None) and not every_kea:
        raise ConfigError(f"{name('pause_service')}, {name('pause_max_period')} and "
                          f"{name('reclaim')} need kea:URL targets")
    if o.pause_max_period is not None and not o.pause_service:
        raise ConfigError(f"{name('pause_max_period')} goes with {name('pause_service')}")
    conn = connection or ConnectionOptions()
    live: dict[str, Any] = {}  # options of the live targets (None = not given)
    if o.live:
        live = {"sources": list(o.sources), "report_path": o.report,
                "credentials": credentials, "state_home": state_home}
        if target.startswith("kea:"):
            live["timeout"] = conn.timeout
    elif conn.given():
        given = ", ".join(name(f.removeprefix("--").replace("-", "_")) for f in conn.given())
        raise ConfigError(f"{given}: connection options of a kea:URL target, not of {target}")
    if o.allow_config_write:
        if not every_kea:
            raise ConfigError(f"{name('allow_config_write')} goes with kea:URL targets (a "
                              "running Kea whose configuration kea-etl may change)")
        live["allow_config_write"] = True
    if o.keep_state:
        if not o.live:
            raise ConfigError(f"{name('keep_state')} goes with kea:URL and kea-sql:URL targets "
                              "(a memfile target keeps no state)")
        live["keep_state"] = True
    live.update({"resume": o.resume or None, "workers": o.workers, "mode": o.mode,
                 "on_conflict": o.on_conflict, "service": o.service})
    sources: list[str | Source | FailoverSource] = list(o.sources)
    if o.failover_pair:
        sources = list(failover_sources(o.sources))
    elif o.source_tz is not None:  # the zone travels with each resolved source
        sources = [resolve_source(s, query=o.query, mapping=o.mapping, source_tz=o.source_tz,
                                  credentials=source_credentials) for s in o.sources]
    subnets = SubnetMap.from_files(list(o.kea_config)) if o.kea_config else None
    loader = make_targets_loader(list(o.to), subnets=subnets, force=o.force,
                                 kea_version=o.kea_version, dry_run=o.dry_run, **live)
    if o.pause_service or o.reclaim:
        loader = ServiceWindow(loader, pause=o.pause_service, reclaim=o.reclaim,
                               dry_run=o.dry_run,
                               max_period=o.pause_max_period or DEFAULT_MAX_PERIOD)
    checked = target_subnets(loader, subnets, missing=f"{name('kea_config')} is required for "
                             f"{name('to')} {target} (subnet ids come from the target Kea's "
                             "configuration)")
    return PreparedRun(o, sources, loader, checked, source_credentials)


def run(options: MigrateOptions, *, connection: ConnectionOptions | None = None,
        credentials: LiveCredentials | None = None,
        source_credentials: LiveCredentials | None = None, state_home: str | None = None,
        progress: ProgressCallback | None = None,
        name: Callable[[str], str] = cli_name) -> RunReport:
    """:func:`prepare`, then :meth:`PreparedRun.run`: the whole migration ``options`` describe."""
    return prepare(options, connection=connection, credentials=credentials,
                   source_credentials=source_credentials, state_home=state_home,
                   name=name).run(progress=progress)
