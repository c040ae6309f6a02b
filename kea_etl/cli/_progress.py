"""Progress bars on the terminal: the CLI's drawing of :class:`kea_etl.progress.Progress`.

One tqdm bar per task, on stderr, started afresh at each new phase (so the rate of the load
never includes the fast conflict scan). Each bar shows the phase, done / total (bytes of the
files, or records / leases), the percentage, the current rate (tqdm's moving average, not the
average since the start) and the ETA; the counts go after it with thousands separators
("30,000 read, 20,512 loaded"), never in scientific notation. Disabled (``--quiet``,
``--no-progress``, or stderr is not a terminal) it draws nothing.
"""

from __future__ import annotations

import os
import sys
import threading
from types import TracebackType
from typing import Any

from kea_etl.progress import Progress
from kea_etl.terminal import printable

__all__ = ["Bars", "human"]


def human(n: int) -> str:
    """A count for people: ``30,000``."""
    return f"{n:,}"


def _width() -> dict[str, Any]:
    """Follow the terminal's width; a pseudo-terminal that reports 0 columns (``script`` with
    no terminal of its own, some CI runners) would get no bar at all: use 100 there."""
    try:
        cols = os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError, AttributeError):
        cols = 0
    return {"dynamic_ncols": True} if cols > 0 else {"ncols": 100}


class Bars:
    """``with Bars(enabled) as bars: library(..., progress=bars)``; thread-safe (export calls
    it from one thread per server)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bars: dict[str, tuple[str, Any]] = {}
        self._lock = threading.Lock()
        self._lines: dict[str, int] = {}
        #: the last event of each task (the CLI's Ctrl-C message uses it)
        self.last: dict[str, Progress] = {}

    def __enter__(self) -> Bars:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __call__(self, event: Progress) -> None:
        with self._lock:
            self.last[event.task] = event
            if not self.enabled:
                return
            phase, bar = self._bars.get(event.task, ("", None))
            if bar is None or phase != event.phase:
                if bar is not None:
                    bar.close()
                bar = self._new(event)
                self._bars[event.task] = (event.phase, bar)
            if event.total is not None and bar.total != event.total:
                bar.total = event.total
            # the first two counts always (read, loaded), the others once they are not 0
            shown = [(k, v) for i, (k, v) in enumerate(event.counts) if i < 2 or v]
            bar.set_postfix_str(", ".join(f"{human(v)} {k}" for k, v in shown), refresh=False)
            bar.update(event.done - bar.n)

    def _new(self, event: Progress) -> Any:
        from tqdm import tqdm

        byte = event.unit == "B"
        # a task may name a server (a URL from the command line or a pipeline): escaped
        desc = event.phase if event.task in ("migrate", "reconcile") else \
            printable(f"{event.task}: {event.phase}")
        # k/M scaling for bytes and big counts ("30.0k/300k"); small counts stay whole ("20/300",
        # tqdm would draw "20.0/300")
        scale = byte or (event.total or 0) >= 10_000
        return tqdm(total=event.total, desc=desc, unit="B" if byte else f" {event.unit}",
                    unit_scale=scale, unit_divisor=1024 if byte else 1000, file=sys.stderr,
                    leave=False, position=self._line(event.task), smoothing=0.3,
                    mininterval=0.2,
                    **_width())

    def _line(self, task: str) -> int:
        """Each task keeps its line; its next phase is drawn where the last one was."""
        if task not in self._lines:
            self._lines[task] = len(self._lines)
        return self._lines[task]

    def close(self) -> None:
        with self._lock:
            for _, bar in self._bars.values():
                bar.close()
            self._bars.clear()
