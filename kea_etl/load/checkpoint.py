"""Durable progress of a live load, so an interrupted run resumes with ``--resume``.

The state lives in a small SQLite file beside the report (``REPORT.json.state.sqlite``), or without
``--report`` in the XDG state directory (``$XDG_STATE_HOME/kea-etl/``, default
``~/.local/state/kea-etl/``), never in the working directory. It is removed once the load has
completed, unless ``--keep-state``; an interrupted or failed run keeps it for ``--resume``. It is
keyed by a *fingerprint* of the run: the sources' absolute paths, sizes and modification times, the
target (without credentials) and the options that change what gets written. For every record the
loader has finished with it keeps the record key and its final outcome (loaded, already present,
conflict, failed, with reason and Kea's text); rows are written one batch per transaction in WAL
mode, so a ``kill -9`` loses at most the batch in flight, and that batch is re-sent on resume (the
live loaders are idempotent: a lease Kea already holds for the same client counts as
``already_present``).

On ``--resume`` the loader asks :meth:`Checkpoint.lookup` for each batch and counts the stored
outcomes instead of sending the records again, so the final report still satisfies
``read == loaded + skipped + failed`` over the whole input. The store never holds credentials:
:func:`kea_etl.urls.redact_url` strips userinfo from the target before it is fingerprinted or stored.

Fault injection for tests: ``KEA_ETL_CRASH_AFTER_BATCHES=N`` makes the process SIGKILL itself
right after the N-th batch is committed (only when that variable is set).
Small batches are grouped into one transaction (500 rows or half a second, whichever first).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import signal
import sqlite3
import stat
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kea_etl._faults import CHECKPOINT_CRASH_ENV, crash_after
from kea_etl.errors import ConfigError
from kea_etl.records import Lease4, Lease6, Reservation
from kea_etl.report import RunReport
from kea_etl.urls import redact_url

__all__ = ["OUTCOMES", "Checkpoint", "Outcome", "count_outcome", "record_key",
           "check_state_location", "default_state_path", "fingerprint", "redact_url",
           "remove_state", "state_dir"]

OutcomeKind = Literal["loaded", "already_present", "conflict", "failed"]
OUTCOMES: tuple[str, ...] = ("loaded", "already_present", "conflict", "failed")
_SCHEMA_VERSION = "1"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The final outcome of one record, as stored in (and replayed from) the checkpoint."""

    key: str
    status: OutcomeKind
    reason: str | None = None
    detail: str | None = None
    source: str | None = None
    line: int | None = None


def fingerprint(sources: Sequence[str | os.PathLike[str]], target: str,
                options: Mapping[str, Any]) -> str:
    """A stable hash of what defines a run: sources (path, size, mtime), target, options."""
    src: list[list[Any]] = []
    for s in sources:
        text = os.fspath(s)
        kind, _, path = text.partition(":") if ":" in text and not Path(text).exists() else (
            "", "", text)
        p = Path(path or text)
        if p.exists():
            st = p.stat()
            src.append([kind, str(p.resolve()), st.st_size, st.st_mtime_ns])
        else:  # a URL source (SQL): identify it by its text without credentials
            src.append([redact_url(text), None, None, None])
    blob = json.dumps({"sources": src, "target": redact_url(target),
                       "options": {k: options[k] for k in sorted(options)}},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def state_dir(state_home: str | None = None) -> Path:
    """Where a run without ``--report`` keeps its state: ``STATE_HOME/kea-etl`` (the CLI passes
    ``$XDG_STATE_HOME``), else ``~/.local/state/kea-etl`` (the XDG base directory default).
    Never the working directory: cron runs kea-etl in a directory it may not write (``/`` or a
    read-only checkout)."""
    base = state_home or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "kea-etl"


def default_state_path(report: str | os.PathLike[str] | None, fp: str = "", *,
                       state_home: str | None = None) -> Path:
    """``REPORT.json.state.sqlite`` beside the report, else ``RUN.state.sqlite`` in
    :func:`state_dir` (RUN: the start of the run's fingerprint, so ``--resume`` of the same
    command finds it and two different runs do not share one)."""
    if report:
        r = Path(report)
        return r.with_name(r.name + ".state.sqlite")
    return state_dir(state_home) / f"run-{fp[:16] or 'default'}.state.sqlite"


def check_state_location(path: Path, *, state_home: str | None = None) -> None:
    """Raise :class:`ConfigError` (one line) when the state cannot be kept at ``path``: checked
    before anything is sent, by ``--dry-run`` too. The XDG state directory is created (0700)."""
    where = path.parent
    if path.parent == state_dir(state_home):
        try:
            where.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot keep the run's state in {where}: {exc.strerror or exc} "
                              "(set XDG_STATE_HOME to a writable directory, or give --report in "
                              "one: the state is kept beside the report)") from None
    if not where.is_dir():
        raise ConfigError(f"cannot keep the run's state in {where}: no such directory")
    if not os.access(where, os.W_OK | os.X_OK):
        hint = ("set XDG_STATE_HOME to a writable directory, or give --report in one"
                if path.parent == state_dir(state_home) else "give --report in a writable directory")
        raise ConfigError(f"cannot keep the run's state in {where}: not writable ({hint}; the "
                          "state is kept beside the report)")


def remove_state(path: Path) -> None:
    """Delete a state file and its SQLite side files (-wal, -shm)."""
    for name in (str(path), f"{path}-wal", f"{path}-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(name).unlink()


def _connect_private(path: Path) -> sqlite3.Connection:
    """SQLite on ``path`` and its ``-wal`` / ``-shm``, never through a symlink, all 0600.

    A state path (``REPORT.json.state.sqlite``) is predictable: a symlink planted there must
    not make kea-etl (often root) create or overwrite the file it names. Each of the three files
    is opened here first with ``O_NOFOLLOW`` (created 0600 when missing, so SQLite, which gives
    the -wal / -shm the database file's mode, never makes them 0644), must be a regular file,
    and after SQLite has opened the database the path must still be the same file.
    """
    fds: list[int] = []
    try:
        for name in (str(path), f"{path}-wal", f"{path}-shm"):
            try:
                fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise ConfigError(f"the progress file {name} is a symbolic link; kea-etl "
                                      "does not follow links for its state (remove it, or give "
                                      "--report in a directory only you can write)") from None
                raise ConfigError(f"cannot open the progress file {name}: "
                                  f"{exc.strerror or exc}") from None
            fds.append(fd)
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise ConfigError(f"the progress file {name} is not a regular file")
            if st.st_uid == os.geteuid() and st.st_mode & 0o077:
                os.fchmod(fd, 0o600)
        db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        try:
            now = path.lstat()
        except OSError:
            now = None
        first = os.fstat(fds[0])
        if now is None or (now.st_dev, now.st_ino) != (first.st_dev, first.st_ino):
            db.close()
            raise ConfigError(f"the progress file {path} was replaced while kea-etl opened it; "
                              "refusing to use it")
        return db
    finally:
        for fd in fds:
            os.close(fd)


class Checkpoint:
    """Per-record outcomes of one run in SQLite (WAL, one transaction per batch).

    ``resume=False`` starts over (the old state of any run at ``path`` is discarded);
    ``resume=True`` requires the state at ``path`` to belong to the same fingerprint and refuses
    otherwise, naming what to do.
    """

    def __init__(self, path: str | os.PathLike[str], fp: str, *, resume: bool,
                 target: str = "") -> None:
        self.path = Path(path)
        self.fingerprint = fp
        #: keep the file after a completed load (``--keep-state``); else :meth:`finish` removes it
        self.keep = False
        self._batches = 0
        self._closed = False
        self._pending: list[tuple[Any, ...]] = []
        # a loader's writer thread records while its reader looks up (one SQLite connection)
        self._lock = threading.RLock()
        self.flush_rows = 500
        self.flush_seconds = 0.5
        self._last_flush = time.monotonic()
        self._crash_after = crash_after(CHECKPOINT_CRASH_ENV)  # test-only (kea_etl._faults)
        existed = os.path.lexists(self.path)
        if resume and not existed:
            raise ConfigError(f"--resume: no saved progress at {self.path}; run without --resume "
                              "to start the load")
        self._db = _connect_private(self.path)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(
                "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);"
                "CREATE TABLE IF NOT EXISTS outcome (key TEXT PRIMARY KEY, status TEXT NOT NULL,"
                " reason TEXT, detail TEXT, source TEXT, line INTEGER);")
            old = dict(self._db.execute("SELECT k, v FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:  # a stray file, one truncated by a full disk
            self._db.close()
            for side in (f"{self.path}-wal", f"{self.path}-shm"):  # the empty ones opened here
                with contextlib.suppress(OSError):
                    if Path(side).lstat().st_size == 0:
                        Path(side).unlink()
            raise ConfigError(f"the progress file {self.path} is not a kea-etl checkpoint "
                              f"(SQLite: {exc}); move it away or remove it, then run without "
                              "--resume") from None
        if resume:
            if old.get("fingerprint") != fp:
                self._db.close()
                raise ConfigError(
                    f"--resume: the saved progress at {self.path} belongs to a different run "
                    "(sources, target or options changed); run without --resume to start over")
        else:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM outcome")
            self._db.execute("DELETE FROM meta")
            self._db.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("fingerprint", fp), ("schema", _SCHEMA_VERSION),
                ("target", redact_url(target)), ("started", str(int(time.time()))),
                ("complete", "0")])
            self._db.execute("COMMIT")
        self.resumed = resume

    # -- reading -----------------------------------------------------------------------------
    def lookup(self, keys: Iterable[str]) -> dict[str, Outcome]:
        """Stored outcomes for those of ``keys`` already done (only a resumed run has any)."""
        out: dict[str, Outcome] = {}
        if not self.resumed:
            return out
        klist = list(keys)
        for i in range(0, len(klist), 500):
            part = klist[i:i + 500]
            q = ("SELECT key, status, reason, detail, source, line FROM outcome WHERE key IN ("
                 + ",".join("?" * len(part)) + ")")
            with self._lock:
                rows = self._db.execute(q, part).fetchall()
            for row in rows:
                out[row[0]] = Outcome(*row)
        return out

    def counts(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT status, count(*) FROM outcome GROUP BY status"))

    def done_keys(self, prefix: str) -> list[str]:
        """Keys starting with ``prefix`` ("4:", "6:") that Kea took (loaded or already present):
        what ``--resume`` checks against Kea (:mod:`kea_etl.load.resume_check`)."""
        self.flush()
        return [k for (k,) in self._db.execute(
            "SELECT key FROM outcome WHERE status IN ('loaded', 'already_present') "
            "AND substr(key, 1, ?) = ?", (len(prefix), prefix))]

    def forget(self, keys: Sequence[str]) -> int:
        """Drop the outcomes of ``keys`` (Kea no longer holds them): the run sends them again.
        Returns how many were dropped."""
        if not keys:
            return 0
        self.flush()
        self._db.execute("BEGIN")
        for i in range(0, len(keys), 500):
            part = list(keys[i:i + 500])
            self._db.execute("DELETE FROM outcome WHERE key IN (" + ",".join("?" * len(part))
                             + ")", part)
        self._db.execute("COMMIT")
        return len(keys)

    @property
    def complete(self) -> bool:
        row = self._db.execute("SELECT v FROM meta WHERE k='complete'").fetchone()
        return bool(row and row[0] == "1")

    # -- writing -----------------------------------------------------------------------------
    def record(self, outcomes: Sequence[Outcome]) -> None:
        """Store one batch of outcomes; committed (one transaction) once ``flush_rows`` rows
        or ``flush_seconds`` have accumulated, and always on :meth:`flush` / :meth:`close`.

        A commit costs milliseconds on some disks; grouping small batches keeps the checkpoint
        off the critical path. A crash loses at most the uncommitted group: those records are
        sent again on resume and come back ``already_present`` (never loaded twice).
        """
        with self._lock:
            self._pending.extend((o.key, o.status, o.reason, o.detail, o.source, o.line)
                                 for o in outcomes)
            self._batches += 1
            crash = self._crash_after is not None and self._batches >= self._crash_after
            if (crash or len(self._pending) >= self.flush_rows
                    or time.monotonic() - self._last_flush >= self.flush_seconds):
                self.flush()
        if crash:
            os.kill(os.getpid(), signal.SIGKILL)  # fault injection for the resume tests

    def flush(self) -> None:
        with self._lock:
            self._last_flush = time.monotonic()
            if not self._pending:
                return
            rows, self._pending = self._pending, []
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO outcome VALUES (?, ?, ?, ?, ?, ?)",
                                 rows)
            self._db.execute("COMMIT")

    def mark_complete(self) -> None:
        self.flush()
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('complete', '1')")

    def finish(self) -> bool:
        """The load completed: mark it, close, and remove the file unless :attr:`keep` (the
        ``--keep-state`` option). Returns whether the file is still there."""
        self.mark_complete()
        self.close()
        if not self.keep:
            remove_state(self.path)
        return self.keep

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        self._db.close()
        self._closed = True

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def count_outcome(report: RunReport, o: Outcome) -> None:
    """Add one record's final outcome to ``report`` (used live and when replaying a resume)."""
    if o.status in ("loaded", "already_present"):
        report.count_loaded(already_present=o.status == "already_present")
        if o.reason:  # loaded with a note (a conflict overwritten, a field Kea cannot take)
            report.warn(o.reason, source=o.source, line=o.line, key=o.key, detail=o.detail)
    elif o.status == "conflict":
        report.fail(o.reason or "conflict", source=o.source, line=o.line, key=o.key,
                    detail=o.detail, conflict=True)
    else:
        report.fail(o.reason or "failed", source=o.source, line=o.line, key=o.key,
                    detail=o.detail)


def record_key(record: Lease4 | Lease6 | Reservation) -> str:
    """The checkpoint key of a record: family and Kea's identity (address, prefix, host id)."""
    if isinstance(record, Lease4):
        return f"4:{record.key}"
    if isinstance(record, Lease6):
        return f"6:{record.key}"
    return f"h{record.family}:{record.key}"
