"""The accounting report every run produces: nothing is lost silently.

Every input record ends in exactly one bucket: ``loaded`` (including ``already_present``, a record
the target already held identically), ``skipped`` with a reason (a policy decision: free, expired,
backup, no subnet, ...) or ``failed`` with a reason (malformed input, Kea refused it, a conflict
left alone). ``RunReport.check()`` enforces ``read == loaded + sum(skipped) + failed``.
Problems carry the source file, line, record key and reason so an operator can find the record.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Problem", "RunReport", "write_json_atomic"]

#: cap on problems kept in memory / in the report; counts stay exact beyond it
MAX_PROBLEMS = 100_000


@dataclass(frozen=True, slots=True)
class Problem:
    """One record that was not loaded, or loaded with a warning."""

    kind: str  # "skipped" | "failed" | "conflict" | "warning"
    reason: str
    source: str | None = None
    line: int | None = None
    key: str | None = None
    detail: str | None = None

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
    extra: dict[str, Any] = field(default_factory=dict)

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
        for p in other.problems:
            self._problem(p)
        self.problems_dropped += other.problems_dropped

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
            **self.extra,
            "problems": [p.to_json() for p in self.problems],
            "problems_dropped": self.problems_dropped,
        }

    def exit_code(self) -> int:
        """0 when everything read was loaded or skipped by policy, 1 when something failed."""
        return 1 if self.failed else 0


def write_json_atomic(path: str | Path, data: Any, *, mode: int = 0o644) -> None:
    """Write JSON to ``path`` via a temp file in the same directory and an atomic rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=False, default=str)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).chmod(mode)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
