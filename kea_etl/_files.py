"""Every file kea-etl writes or reads by path goes through here: private, atomic, regular.

*Writing.* Reports, reconcile HTML / JSON / CSV, Parquet / CSV exports and the memfile hold MAC
addresses, hostnames and client ids. Each is written to a temporary name in the target directory
(``mkstemp``: created 0600, never following a planted symlink), fsync'ed, given its final mode and
renamed over the final name, so a reader never sees half a file and an earlier file of the same
name survives a failure. The final mode is :data:`PRIVATE` (0600) unless the caller names another
(the memfile is 0640 for Kea's group), and is always narrowed by the process umask: a file is
never more open than ``umask`` allows (``umask 077`` gives 0600 even for the memfile).

*Reading.* Only regular files are read: a FIFO never delivers EOF to a reader that waits for it,
``/dev/zero`` and ``/dev/urandom`` never end. :func:`require_regular` refuses anything else with one
line that says what the path is (``is a FIFO (named pipe), not a regular file``), and never calls
an existing path "not found". :func:`open_regular` checks the open file itself (``fstat``), opened
non-blocking so that opening a FIFO cannot hang.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal, overload

from kea_etl.errors import ConfigError

__all__ = ["PRIVATE", "atomic_write", "create_private", "file_kind", "open_regular", "publish",
           "require_regular", "umask"]

#: mode of every file kea-etl writes unless a caller names another; narrowed by the umask
PRIVATE = 0o600

_umask_lock = threading.Lock()


def umask() -> int:
    """The process umask, read without changing it (Linux: /proc/self/status)."""
    with contextlib.suppress(OSError, ValueError), Path("/proc/self/status").open(encoding="ascii") as fh:
        for line in fh:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _umask_lock:  # elsewhere: set and restore (threads of this process only)
        old = os.umask(0o077)
        os.umask(old)
    return old


def create_private(path: str | os.PathLike[str], *, mode: int = PRIVATE) -> None:
    """Create ``path`` empty with ``mode`` (narrowed by the umask) unless it exists: for a file
    another library then opens (a SQLite warehouse, whose -wal/-shm files SQLite gives the same
    mode). An existing file keeps its mode."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode))


def publish(tmp: str | os.PathLike[str], final: str | os.PathLike[str], *,
            mode: int = PRIVATE) -> Path:
    """fsync ``tmp``, give it ``mode`` narrowed by the umask, rename it over ``final``."""
    tmp, final = Path(tmp), Path(final)
    fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fsync(fd)
        os.fchmod(fd, mode & ~umask() & 0o777)
    finally:
        os.close(fd)
    tmp.replace(final)
    return final


@overload
def atomic_write(path: str | os.PathLike[str], *, binary: Literal[False] = ..., mode: int = ...,
                 newline: str | None = ...) -> contextlib.AbstractContextManager[IO[str]]: ...


@overload
def atomic_write(path: str | os.PathLike[str], *, binary: Literal[True], mode: int = ...,
                 newline: str | None = ...) -> contextlib.AbstractContextManager[IO[bytes]]: ...


def atomic_write(path: str | os.PathLike[str], *, binary: bool = False, mode: int = PRIVATE,
                 newline: str | None = None) -> contextlib.AbstractContextManager[Any]:
    """``with atomic_write(path) as fh:`` write ``fh``; on a normal exit the file appears at
    ``path`` whole, with ``mode`` (narrowed by the umask); on an exception nothing changes."""
    return _atomic_write(Path(path), binary=binary, mode=mode, newline=newline)


@contextlib.contextmanager
def _atomic_write(path: Path, *, binary: bool, mode: int, newline: str | None) -> Iterator[Any]:
    # Errors name ``path`` (what the user gave), never the temporary file beside it.
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "it is a directory (give a file name)", str(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise type(exc)(exc.errno, exc.strerror, str(path)) from None
    try:
        fh: IO[Any]
        fh = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8",
                                                           newline=newline)
        with fh:
            yield fh
        try:
            publish(tmp, path, mode=mode)
        except OSError as exc:
            raise type(exc)(exc.errno, exc.strerror, str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_kind(st_mode: int) -> str:
    """What a non-regular file is, in words (for 'X is a FIFO (named pipe), not a regular file')."""
    kinds: list[tuple[Callable[[int], bool], str]] = [
        (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket")]
    for test, name in kinds:
        if test(st_mode):
            return name
    return "not a regular file"


def _refusal(what: str, path: str | os.PathLike[str], st_mode: int) -> ConfigError:
    return ConfigError(f"{what} {os.fspath(path)} is {file_kind(st_mode)}, not a regular file; "
                       "kea-etl reads only regular files (copy the data to a file first)")


def require_regular(path: str | os.PathLike[str], *, what: str = "input file") -> None:
    """Raise :class:`ConfigError` unless ``path`` is an existing regular file (after symlinks),
    saying what it is instead: not found, a directory, a FIFO, a device, a socket."""
    try:
        st = Path(path).stat()
    except FileNotFoundError:
        raise ConfigError(f"{what} {os.fspath(path)}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {os.fspath(path)}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise _refusal(what, path, st.st_mode)


def open_regular(path: str | os.PathLike[str], *, what: str = "input file") -> BinaryIO:
    """Open ``path`` for reading in binary, only if it is a regular file.

    Opened with ``O_NONBLOCK`` (opening a FIFO with no writer would otherwise wait forever), then
    checked with ``fstat`` on the open file (no window between check and use), then switched
    back to blocking reads. Raises :class:`ConfigError` (one line) for anything else; other
    ``OSError`` s (permission denied) propagate for the caller's own message.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError(f"{what} {os.fspath(path)}: file not found") from None
    except OSError as exc:  # a directory, a socket (ENXIO), ...: say what it is
        with contextlib.suppress(OSError):
            st_mode = Path(path).stat().st_mode
            if not stat.S_ISREG(st_mode):
                raise _refusal(what, path, st_mode) from None
        raise exc from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _refusal(what, path, st.st_mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
