"""The accounting report every run produces: nothing is lost silently.

Every input record ends in exactly one bucket: ``loaded`` (including ``already_present``, a record
the target already held identically), ``skipped`` with a reason (a policy decision: free, expired,
backup, no subnet, ...) or ``failed`` with a reason (malformed input, Kea refused it, a conflict
left alone). ``RunReport.check()`` enforces ``read == loaded + sum(skipped) + failed``.
Problems carry the source file, line, record key and reason so an operator can find the record.

What a source holds but kea-etl does not translate (a dhcpd.conf ``option`` it does not map, a
``class`` declaration, a setting a host inherits from a ``group``, ...) is not a record and does
not change the counts, but it is never dropped in silence either: each becomes a
:class:`SourceWarning` (file, line, the statement, why) in ``RunReport.warnings``, listed in the
JSON report under ``source_warnings`` and counted on the CLI summary line.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kea_etl.load.base import LoadOutcome
    from kea_etl.load.lease_backup import LeaseBackup

__all__ = ["MAX_MESSAGE", "MAX_QUOTE", "Problem", "RunReport", "SourceWarning", "quote", "quote_key",
           "write_json_atomic"]

#: cap on problems kept in memory / in the report; counts stay exact beyond it
MAX_PROBLEMS = 100_000
#: longest piece of input a message quotes; longer text is cut and the cut is said (a 50 MB line
#: must not become 100 MB of report)
MAX_QUOTE = 200
#: longest message kept whole (kea-etl's own words plus what it quotes); a safety net
MAX_MESSAGE = 1000


def quote(text: str, *, limit: int = MAX_QUOTE) -> str:
    """``text`` as a message may quote it: at most ``limit`` characters, and when it was longer
    the cut says how much was left out (the message around it names file and line)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} more characters cut; {len(text)} in all]"


_LONG_RUN = re.compile(r"\S{" + str(MAX_QUOTE + 1) + ",}")


def quote_key(key: str | None, reason: str) -> tuple[str | None, str]:
    """``key`` cut to MAX_QUOTE, the same cut wherever ``reason`` names it, and ``reason`` cut to
    MAX_MESSAGE: a record's key is a piece of its input, and the input can be megabytes."""
    if key is not None and len(key) > MAX_QUOTE:
        short = quote(key)
        reason = reason.replace(key, short)
        key = short
    if len(reason) > MAX_QUOTE:
        # kea-etl's own words are short: a longer run without blanks is quoted input
        reason = _LONG_RUN.sub(lambda m: quote(m.group()), reason)
    if len(reason) > MAX_MESSAGE:
        reason = quote(reason, limit=MAX_MESSAGE)
    return key, reason


@dataclass(frozen=True, slots=True)
class SourceWarning:
    """A statement of the source that kea-etl did not translate, or translated with a change the
    operator must know about (not a record: the counts do not change). ``reason`` reads on from
    the statement: ``not translated: Kea has no groups ...``."""

    source: str
    line: int | None
    statement: str
    reason: str
    #: the record it belongs to (``host web1``), when it belongs to one
    key: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in (("source", self.source), ("line", self.line),
                                  ("statement", self.statement), ("reason", self.reason),
                                  ("key", self.key)) if v is not None}

    def __str__(self) -> str:
        where = self.source + (f" line {self.line}" if self.line is not None else "")
        key = f"{self.key}: " if self.key else ""
        return f"{where}: {key}'{self.statement}' {self.reason}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One record that was not loaded, or loaded with a warning."""

    kind: str  # "skipped" | "failed" | "conflict" | "warning"
    reason: str
    source: str | None = None
    line: int | None = None
    key: str | None = None
    detail: str | None = None

    def __post_init__(self) -> None:
        # a failing record can be a whole (huge) block: what the key and the detail quote of it
        # is cut to MAX_QUOTE (see quote_key), the reason to MAX_MESSAGE
        key, detail = self.key, self.detail
        if detail is not None:
            key, detail = quote_key(key, detail)
        elif key is not None and len(key) > MAX_QUOTE:
            key = quote(key)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "detail", detail)
        if len(self.reason) > MAX_MESSAGE:
            object.__setattr__(self, "reason", quote_key(None, self.reason)[1])

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in (("kind", self.kind), ("reason", self.reason),
                                  ("source", self.source), ("line", self.line),
                                  ("key", self.key), ("detail", self.detail)) if v is not None}

    def __str__(self) -> str:
        where = self.source or "input"
        if self.line is not None:
            where += f" line {self.line}"
        key = f"{self.key}: " if self.key else ""
        detail = f" ({self.detail})" if self.detail else ""
        return f"{where}: {key}{self.kind}: {self.reason}{detail}"


@dataclass
class RunReport:
    """Counts and problems of one run. Mutated by one thread (the orchestrator)."""

    read: int = 0
    loaded: int = 0
    failed: int = 0
    already_present: int = 0
    conflicts: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    #: failed records by reason (exact even when problems are capped)
    failed_reasons: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    problems_dropped: int = 0
    #: statements of the sources that were not translated (see :class:`SourceWarning`)
    warnings: list[SourceWarning] = field(default_factory=list)
    #: warnings beyond MAX_PROBLEMS (counted, not kept)
    warnings_dropped: int = 0
    #: active leases no subnet of the target contains, by source prefix ("10.101.0.0/24": 20;
    #: a /24 for v4, a /64 for v6 addresses, the delegated prefix itself for IA_PD)
    unmapped: Counter[str] = field(default_factory=Counter)
    #: the operator accepted those (``--allow-unmapped``): skipped ``no-subnet``, not failed
    allow_unmapped: bool = False
    # What the run was and what it did beyond counts: each has one writer, is read by the CLI
    # summary and appears in the JSON under its name (None / empty: not part of this run).
    #: the sources as resolved, the target's name, the time leases had to outlive (ISO, UTC)
    sources: list[str] | None = None
    target: str | None = None
    as_of: str | None = None
    #: conflicts loaded anyway, by reason (JSON ``warnings``; kea_etl.migration)
    load_warnings: dict[str, int] | None = None
    #: what the loader's commit() wrote or sent (files, commands, state file)
    outputs: LoadOutcome | None = None
    #: a dhcpd failover pair's merge statistics (kea_etl.extract.failover)
    failover: dict[str, Any] | None = None
    #: each HA peer's outcome and their comparison (kea_etl.load.ha)
    ha: dict[str, Any] | None = None
    #: DHCP paused during the load / leases reclaimed after it (kea_etl.load.pause)
    pause: dict[str, Any] | None = None
    reclaim: dict[str, str] | None = None
    #: configurations saved before kea-etl changed them (--allow-config-write)
    config_backups: list[dict[str, Any]] = field(default_factory=list)
    #: leases a live target saved before the first change (kea_etl.load.lease_backup)
    lease_backups: list[LeaseBackup] = field(default_factory=list)
    dry_run: bool | None = None
    #: wall time of the run (the CLI measures it)
    seconds: float | None = None
    #: what a live loader sent so far, by command (``kea:``; ``kea-sql:`` in a dry run): set
    #: even when the load stops part way (JSON ``sent``, or ``would_send`` in a dry run)
    sent: dict[str, int] | None = None
    #: how reservations reached a live Kea: reservation-add, cache-load or config-set
    reservations_via: str | None = None
    #: leases lease6-bulk-apply wrote, re-read afterwards: {"checked": n, "lost": n}
    bulk_recheck: dict[str, int] | None = None
    #: --resume's check of what the checkpoint says Kea took (kea_etl.load.resume_check)
    resume_check: dict[str, int] | None = None
    _warned: set[tuple[str, int | None, str, str]] = field(default_factory=set, repr=False)

    def _problem(self, problem: Problem) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        else:
            self.problems_dropped += 1

    def count_read(self, n: int = 1) -> None:
        self.read += n

    def count_loaded(self, n: int = 1, *, already_present: bool = False) -> None:
        self.loaded += n
        if already_present:
            self.already_present += n

    def skip(self, reason: str, *, source: str | None = None, line: int | None = None,
             key: str | None = None, detail: str | None = None) -> None:
        self.skipped[reason] += 1
        self._problem(Problem("skipped", reason, source, line, key, detail))

    def fail(self, reason: str, *, source: str | None = None, line: int | None = None,
             key: str | None = None, detail: str | None = None, conflict: bool = False) -> None:
        self.failed += 1
        self.failed_reasons[reason] += 1
        if conflict:
            self.conflicts += 1
        self._problem(Problem("conflict" if conflict else "failed", reason, source, line, key,
                              detail))

    def warn(self, reason: str, *, source: str | None = None, line: int | None = None,
             key: str | None = None, detail: str | None = None) -> None:
        """A note that does not change the counts (e.g. a conflict that was overwritten)."""
        self._problem(Problem("warning", reason, source, line, key, detail))

    def not_translated(self, warning: SourceWarning) -> None:
        """Record a source statement that was not translated. The same statement reported for
        several records (a host with two fixed addresses) is listed once."""
        seen = (warning.source, warning.line, warning.statement, warning.reason)
        if seen in self._warned:
            return
        self._warned.add(seen)
        if len(self.warnings) < MAX_PROBLEMS:
            self.warnings.append(warning)
        else:
            self.warnings_dropped += 1

    @property
    def warnings_total(self) -> int:
        return len(self.warnings) + self.warnings_dropped

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def balanced(self) -> bool:
        return self.read == self.loaded + self.skipped_total + self.failed

    def check(self) -> None:
        """Raise AssertionError if a record went missing from the accounting (a kea-etl bug)."""
        if not self.balanced():
            raise AssertionError(
                f"report does not add up: read {self.read} != loaded {self.loaded} + skipped "
                f"{self.skipped_total} + failed {self.failed}")

    def merge(self, other: RunReport) -> None:
        self.read += other.read
        self.loaded += other.loaded
        self.failed += other.failed
        self.already_present += other.already_present
        self.conflicts += other.conflicts
        self.skipped.update(other.skipped)
        self.failed_reasons.update(other.failed_reasons)
        self.unmapped.update(other.unmapped)
        for p in other.problems:
            self._problem(p)
        self.problems_dropped += other.problems_dropped
        for w in other.warnings:
            self.not_translated(w)
        self.warnings_dropped += other.warnings_dropped

    def to_json(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "loaded": self.loaded,
            "skipped": dict(sorted(self.skipped.items())),
            "failed": self.failed,
            "failed_reasons": dict(sorted(self.failed_reasons.items())),
            "already_present": self.already_present,
            "conflicts": self.conflicts,
            "balanced": self.balanced(),
            "unmapped": dict(sorted(self.unmapped.items(), key=lambda kv: (-kv[1], kv[0]))),
            "allow_unmapped": self.allow_unmapped,
            **{k: v for k, v in (("sources", self.sources), ("target", self.target),
                                 ("as_of", self.as_of)) if v is not None},
            **({"would_send" if self.dry_run else "sent": self.sent} if self.sent is not None
               else {}),
            **{k: v for k, v in (("reservations_via", self.reservations_via),
                                 ("bulk_recheck", self.bulk_recheck),
                                 ("resume_check", self.resume_check)) if v is not None},
            **{k: v for k, v in (
                ("warnings", self.load_warnings),
                ("outputs", self.outputs.to_json() if self.outputs else None),
                ("failover", self.failover), ("ha", self.ha), ("pause", self.pause),
                ("reclaim", self.reclaim),
                ("config_backups", self.config_backups or None),
                ("lease_backups", [b.to_dict() for b in self.lease_backups] or None),
                ("dry_run", self.dry_run), ("seconds", self.seconds)) if v is not None},
            "problems": [p.to_json() for p in self.problems],
            "problems_dropped": self.problems_dropped,
            "source_warnings_total": self.warnings_total,
            "source_warnings": [w.to_json() for w in self.warnings],
        }

    def exit_code(self) -> int:
        """0 when everything read was loaded or skipped by policy, 1 when something failed."""
        return 1 if self.failed else 0


def write_json_atomic(path: str | Path, data: Any, *, mode: int = 0o600) -> None:
    """Write JSON to ``path`` atomically, ``mode`` narrowed by the umask (kea_etl._files)."""
    from kea_etl._files import atomic_write

    with atomic_write(path, mode=mode) as fh:
        json.dump(data, fh, indent=2, sort_keys=False, default=str)
        fh.write("\n")
