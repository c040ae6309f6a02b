"""Report lines of ``convert`` and ``check``: what was not translated, what behaves differently.

A :class:`Finding` has a severity (``error``: the input is broken; ``decide``: the operator must
choose before cutover; ``warning``: a statement kea-etl did not translate, or translated with a
change the operator should know; ``info``: translated, with a remark), a topic, the evidence
(file, line, the statement, counts) and the Kea setting that addresses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["SEVERITIES", "Finding", "Severity"]

Severity = Literal["error", "decide", "warning", "info"]
#: most severe first
SEVERITIES: tuple[Severity, ...] = ("error", "decide", "warning", "info")


@dataclass(slots=True)
class Finding:
    severity: Severity
    topic: str
    message: str
    file: str | None = None
    line: int | None = None
    statement: str = ""
    #: the Kea setting (or tool) that addresses it
    kea: str = ""
    count: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}" if self.line else self.file

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity, "topic": self.topic,
                               "file": self.file, "line": self.line,
                               "statement": self.statement, "message": self.message}
        if self.kea:
            out["kea"] = self.kea
        if self.count is not None:
            out["count"] = self.count
        if self.details:
            out["details"] = self.details
        return out

    def render(self) -> str:
        head = f"{self.where}: " if self.where else ""
        stmt = f"{self.statement}: " if self.statement else ""
        tail = f" [Kea: {self.kea}]" if self.kea else ""
        return f"{self.severity.upper():7} {head}{stmt}{self.message}{tail}"
