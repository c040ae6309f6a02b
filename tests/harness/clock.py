"""The suite's clock: today, or two years ahead under ``make test-later``.

``KEA_ETL_TEST_SHIFT_DAYS`` (set by ``make test-later``; 0 otherwise) moves the time the tests
live in. Everything date-sensitive follows it:

* :func:`now` -- the time tests generate lease dates from and compare against;
* :func:`server_argv` -- real servers (Kea, dhcpd, dnsmasq) are started with Debian's libfaketime
  preloaded, shifted by the same amount. pytest itself never runs under libfaketime: it breaks
  Python 3.11's own timed waits (``time.sleep`` fails with EINVAL,
  ``threading.Event().wait(timeout)`` hangs);
* kea-etl's own clock (:mod:`kea_etl.clock`) is moved by the same amount, in this process by
  ``tests/conftest.py`` and in ``kea-etl`` subprocesses by ``tests/harness/later/sitecustomize.py``;
* :func:`rebase` moves a dated fixture (written around :data:`ANCHOR`) so that its "now" is
  :func:`now`, keeping every interval between its dates.
"""

from __future__ import annotations

import calendar
import os
import re
import shutil
import time
from pathlib import Path

from tests.harness.leasefile import dhcpd_date

__all__ = ["ANCHOR", "SAMPLE_ANCHOR", "SHIFT_DAYS", "SHIFT_S", "iso", "now", "rebase", "rebased_copy",
           "rebased_sample", "rebased_sample_dir", "server_argv"]

SHIFT_DAYS = int(os.environ.get("KEA_ETL_TEST_SHIFT_DAYS", "0") or 0)
SHIFT_S = SHIFT_DAYS * 86400

# The moment the hand-written fixtures in tests/extract/data were written "at"
# (2026-11-27 21:00:00 UTC): their active leases end after it, their expired ones before it.
ANCHOR = 1795813200

# When scripts/make-sample-data ran dhcpd to make sample-data/ (see sample-data/README.md); the
# demo pins --as-of to it. Tests that give the sample to a live server use rebased_sample().
SAMPLE_ANCHOR = 1795814721
SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample-data"

LATER_DIR = Path(__file__).resolve().parent / "later"
FAKETIME_LIBS = Path("/usr/lib/x86_64-linux-gnu/faketime")


def now() -> int:
    """UTC epoch seconds in the suite's time (the real time plus the shift)."""
    return int(time.time()) + SHIFT_S


def iso(t: int | None = None) -> str:
    """``t`` (default: now) as kea-etl's ``--as-of`` takes it: ``2026-11-27T21:00:00Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now() if t is None else t))


def server_argv(argv: list[str], *, root: Path | None = None) -> list[str]:
    """``argv`` prefixed so that the server runs in the suite's time (unchanged when not shifted).

    ``root``: the server runs ``chroot root ...``; libfaketime is preloaded after the chroot, so
    the host's copy is placed at the same path inside ``root`` (its libc is newer, so the host's
    build runs there).
    """
    if not SHIFT_DAYS:
        return list(argv)
    lib = FAKETIME_LIBS / "libfaketime.so.1"
    if not lib.exists():
        raise RuntimeError("make test-later needs Debian's faketime (apt-get install faketime)")
    if root is not None:
        inside = root / lib.relative_to("/")
        if not inside.exists():
            inside.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(lib, inside)
    # libfaketime preloaded directly, not through the `faketime` wrapper: the wrapper names a POSIX
    # semaphore after its own pid and leaves it behind when it is SIGKILLed, so a later wrapper
    # that gets the same pid refuses to start ("faketime: sem_open: File exists"). `env` execs,
    # so the Popen child is the server itself.
    return ["env", f"LD_PRELOAD={lib}", f"FAKETIME={SHIFT_DAYS:+d}d", *argv]


_DATE = re.compile(r"\b[0-6] (\d{4})/(\d{2})/(\d{2}) (\d{2}):(\d{2}):(\d{2})")
_EPOCH = re.compile(r"\bepoch (\d+);")


def rebase(text: str, *, anchor: int = ANCHOR, to: int | None = None) -> str:
    """``text`` (a dhcpd lease file) with every date moved by ``to - anchor`` (default: to now).

    ``W YYYY/MM/DD HH:MM:SS`` dates get their weekday recomputed; ``epoch N;`` dates move too;
    ``never`` stays. Intervals between dates are kept, so what was active at ``anchor`` is active
    at ``to`` and what had expired still has.
    """
    delta = (now() if to is None else to) - anchor

    def move_date(m: re.Match[str]) -> str:
        t = time.struct_time((int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]),
                              0, 0, 0))
        return dhcpd_date(calendar.timegm(t) + delta)

    text = _DATE.sub(move_date, text)
    return _EPOCH.sub(lambda m: f"epoch {int(m[1]) + delta};", text)


def rebased_copy(path: Path, dest: Path, *, anchor: int = ANCHOR, to: int | None = None) -> Path:
    """Write :func:`rebase` of ``path`` to ``dest`` (a file, or a directory to put it in)."""
    if dest.is_dir():
        dest = dest / path.name
    dest.write_bytes(rebase(path.read_bytes().decode("latin-1"), anchor=anchor, to=to)
                     .encode("latin-1"))
    return dest


def rebased_sample_dir(dest: Path) -> Path:
    """A copy of sample-data/ in ``dest`` whose lease files are made "now" (rebased_sample); the
    configurations are copied as they are (dhcpd.conf includes dhcpd-hosts.conf by a relative
    path, so they stay side by side)."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in SAMPLE_DIR.iterdir():
        if path.suffix == ".leases":
            rebased_sample(path.name, dest)
        elif path.is_file():
            shutil.copy2(path, dest / path.name)
    return dest


def rebased_sample(name: str, dest: Path) -> Path:
    """``sample-data/NAME`` with its dates moved so that the moment it was made is now (its active
    leases are active now, by kea-etl's clock and by a server's under faketime)."""
    return rebased_copy(SAMPLE_DIR / name, dest, anchor=SAMPLE_ANCHOR)
