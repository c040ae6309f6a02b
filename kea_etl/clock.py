"""The one place kea-etl asks what time it is.

Every default "now" (a run's ``--as-of``, a reconcile's reference time, an export's snapshot
time) comes from :func:`now`, so a caller that pins a time gets it everywhere, and the test suite
can move kea-etl's clock together with the real servers it runs under ``faketime`` (``make
test-later``) without touching Python's own timers.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["now", "now_datetime"]

# Seconds added to the system clock. Zero in production; the suite's two-years-ahead run sets
# it (tests/harness/clock.py) so that kea-etl agrees with servers started under faketime.
OFFSET = 0


def now() -> int:
    """UTC epoch seconds."""
    return int(time.time()) + OFFSET


def now_datetime() -> datetime:
    """Aware UTC datetime (microseconds kept)."""
    return datetime.fromtimestamp(time.time() + OFFSET, tz=UTC)
