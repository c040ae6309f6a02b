"""Windows DHCP Server export fixtures (tests/extract/data_windows) made "now".

The files hold ``@@+SECONDS@@`` / ``@@-SECONDS@@`` where Windows writes a local time without a
zone; :func:`render` replaces each with the suite's now (:func:`tests.harness.clock.now`) plus
that offset, as local time in ``tz`` and in the file's format: ISO (``2026-12-12T17:07:21``) in
the XML, the en-US culture Export-Csv uses (``12/12/2026 5:07:21 PM``) in a CSV.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tests.harness import clock

DATA = Path(__file__).resolve().parents[1] / "extract" / "data_windows"
#: the zone the tests give --source-tz (a fixed offset: no clock change can make a time ambiguous)
TZ = "+01:00"
_ZONE = timezone(timedelta(hours=1))


def local(t: int, style: str) -> str:
    d = datetime.fromtimestamp(t, tz=_ZONE)
    if style == "xml":
        return d.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{d.month}/{d.day}/{d.year} {d.hour % 12 or 12}:{d:%M:%S} {'PM' if d.hour >= 12 else 'AM'}"


def render(name: str, dest: Path, *, now: int | None = None) -> Path:
    """``DATA/name`` with its times made relative to ``now`` (default: the suite's now)."""
    base = clock.now() if now is None else now
    style = "xml" if name.endswith(".xml") else "csv"
    text = (DATA / name).read_text(encoding="utf-8")
    out = re.sub(r"@@([+-]\d+)@@", lambda m: local(base + int(m[1]), style), text)
    target = dest / name if dest.is_dir() else dest
    target.write_text(out, encoding="utf-8")
    return target


def expiry(offset: int, now: int) -> int:
    """The epoch second a rendered ``@@+offset@@`` stands for."""
    return now + offset
