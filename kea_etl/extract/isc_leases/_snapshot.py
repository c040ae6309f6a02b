"""One open file for both passes: dhcpd rewrites and appends to a live lease file while it is
read, and the snapshot says which file the read started on and whether it changed."""

from __future__ import annotations

import contextlib
import os
import stat
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kea_etl._files import file_kind
from kea_etl.errors import ConfigError
from kea_etl.extract.base import SourceWarning
from kea_etl.extract.isc_leases import _syntax


class Snapshot:
    """One open file descriptor on a lease file and the bytes ``[0, end)`` every pass reads.

    dhcpd changes its lease file in two ways while kea-etl may be reading it: it **appends** a
    block for every lease change (the same inode grows), and it **rewrites** it at start-up and
    about once an hour (server/db.c ``new_lease_file``: write ``dhcpd.leases.<n>``, link the old
    file to ``dhcpd.leases~``, rename the new one into place). Both passes (and both reads of a
    live or SQL migration: the conflict scan and the load) therefore read through this one
    descriptor, never the path again: a rename-into-place leaves the inode we hold intact, and
    bytes appended after the first read are not part of the snapshot. The first pass 1 fixes
    ``end`` (the size at open, or, when dhcpd was half-way through writing a block then, the end
    of that block) and a CRC-32 of every chunk; every later read is checked against them, and a
    file changed in place (truncated, or overwritten rather than appended to) is refused with one
    line (:class:`ConfigError`, exit 2). :meth:`warnings` says what happened to the file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise ConfigError(f"cannot read the lease file {self.path}: no such file") from None
        except OSError as exc:
            raise ConfigError(f"cannot read the lease file {self.path}: "
                              f"{exc.strerror or exc}") from exc
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # /dev/zero, a FIFO: say what it is
            os.close(fd)
            raise ConfigError(f"the lease file {self.path} is {file_kind(st.st_mode)}, not a "
                              "regular file; kea-etl reads only regular files")
        os.set_blocking(fd, True)
        self.fd: int | None = fd
        self.opened = st
        #: bytes every pass reads (fixed by the first pass 1)
        self.end: int | None = None
        #: CRC-32 of each chunk read, by (offset, length)
        self.chunk_crcs: dict[tuple[int, int], int] = {}
        # pass 1's result of the last read (see index / keep_index), and the file's
        # (size, mtime) then
        self._index: tuple[int, Any] | None = None
        self._index_stat: tuple[int, int] | None = None

    # -- reading -----------------------------------------------------------------------------

    def pread(self, offset: int, n: int) -> bytes:
        """Up to n bytes at offset (fewer only at the end of the file)."""
        if self.fd is None:
            raise ConfigError(f"the lease file {self.path} was closed")
        parts = []
        while n > 0:
            try:
                data = os.pread(self.fd, min(n, 1 << 24), offset)
            except OSError as exc:
                raise ConfigError(f"cannot read the lease file {self.path}: "
                                  f"{exc.strerror or exc}") from exc
            if not data:
                break
            parts.append(data)
            offset += len(data)
            n -= len(data)
        return b"".join(parts)

    def chunk(self, offset: int, length: int) -> str:
        """The bytes pass 1 read at offset, checked to be the same ("\\n" + latin-1 text)."""
        data = self.pread(offset, length)
        if len(data) != length:
            self._refuse(f"it is now {self._size()} bytes, shorter than the {self.end} read before")
        want = self.chunk_crcs.get((offset, length))
        if want is not None and zlib.crc32(data) != want:
            self._refuse(f"bytes {offset}-{offset + length} differ between the two passes")
        return "\n" + data.decode("latin-1")

    def settle(self, end: int, chunk_crcs: dict[tuple[int, int], int]) -> None:
        """After a pass 1: fix the snapshot (first time) or check a later read against it, and
        check that the file was at most appended to (before pass 2 yields anything)."""
        if self.end is None:
            self.end, self.chunk_crcs = end, chunk_crcs
        elif end != self.end or any(self.chunk_crcs.get(at, crc) != crc
                                    for at, crc in chunk_crcs.items()):
            self._refuse("the bytes read differ from those of the first read")
        else:
            self.chunk_crcs.update(chunk_crcs)
        st = os.fstat(self.fd) if self.fd is not None else self.opened
        if st.st_size < self.end:
            self._refuse(f"it is now {st.st_size} bytes, shorter than the {self.end} read")
        if st.st_mtime_ns != self.opened.st_mtime_ns and st.st_size == self.opened.st_size:
            self._refuse("it was written to in place, not appended to")

    def keep_index(self, chunk_size: int, index: Any) -> None:
        """Keep pass 1's result (read in ``chunk_size`` chunks, just checked by :meth:`settle`)
        for the next read of this snapshot."""
        st = os.fstat(self.fd) if self.fd is not None else self.opened
        self._index, self._index_stat = (chunk_size, index), (st.st_size, st.st_mtime_ns)

    def index(self, chunk_size: int) -> Any | None:
        """The kept pass 1 result, while the file was not written since it was kept (same size,
        same mtime): the bytes pass 1 checked are then those a later pass 2 reads, and that
        read checks every chunk again. Otherwise None: the next read runs (and checks) its
        own pass 1 before it yields anything, so a change is refused before a record moves."""
        if self._index is None or self._index[0] != chunk_size or self.fd is None:
            return None
        st = os.fstat(self.fd)
        return self._index[1] if (st.st_size, st.st_mtime_ns) == self._index_stat else None

    def _size(self) -> int:
        return os.fstat(self.fd).st_size if self.fd is not None else -1

    def _refuse(self, why: str) -> None:
        raise ConfigError(
            f"the lease file {self.path} changed in place while it was read ({why}): dhcpd only "
            "appends or renames a new file into place, so something else rewrote it; read a copy "
            "(README: 'What happens when things fail')")

    # -- what happened -----------------------------------------------------------------------

    def warnings(self) -> list[SourceWarning]:
        """Notes for the run report: the file was replaced or grew while it was read."""
        notes: list[SourceWarning] = []
        if self.fd is None or self.end is None:
            return notes
        source = os.fspath(self.path)
        try:
            now = self.path.stat()
            replaced = (now.st_dev, now.st_ino) != (self.opened.st_dev, self.opened.st_ino)
        except OSError:
            replaced = True
        if replaced:
            notes.append(SourceWarning(
                source, None, "the file was replaced while it was read",
                f"(dhcpd's periodic rewrite): every lease was read from the file as it was when "
                f"the read started ({self.end} bytes); changes dhcpd made since are not included "
                "(run again to pick them up)"))
        grown = os.fstat(self.fd).st_size - self.end
        if grown > 0:
            notes.append(SourceWarning(
                source, None, "the file grew while it was read",
                f"(dhcpd appended {grown} bytes): every lease was read from the first "
                f"{self.end} bytes, the file as it was when the read started; the later "
                "changes are not included (run again to pick them up)"))
        return notes

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def _chunks(snap: Snapshot, chunk_size: int) -> Iterator[tuple[str, bool, int]]:
    """Yield ("\\n" + text, is_last, crc32) pieces of the snapshot, cut after a column-0 closing
    brace line.

    The first read stops at the size the file had when it was opened or, if dhcpd was writing a
    block at that moment, at the end of that block; later reads stop at the same byte. The text
    is decoded as latin-1 (byte-transparent); dhcpd escapes non-printable bytes anyway.
    """
    limit = snap.end if snap.end is not None else snap.opened.st_size
    offset = 0
    # Text since the last cut, kept as pieces and searched only where it is new, so a stretch
    # with no closing line (a zero-filled region after a crash, a file that is no lease file)
    # costs linear time; past max_block it is cut anyway (memory stays bounded), and the block
    # it belongs to is then reported truncated.
    pending: list[str] = []
    size = 0
    brace_open = False  # the pending text ends inside a line that starts with "}"
    max_block = _syntax.MAX_BLOCK
    while offset < limit:
        data = snap.pread(offset, min(chunk_size, limit - offset))
        if not data:
            break  # the file is shorter than it was: Snapshot.settle refuses it
        offset += len(data)
        piece = data.decode("latin-1")
        before = pending[-1][-1:] if pending else ""
        probe = before + piece
        cut = probe.rfind("\n}")
        if cut >= 0:  # the last "}" line so far is in the new text: cut after its end
            nl = probe.find("\n", cut + 2)
            brace_open = nl < 0
        else:  # else the newline ending a "}" line still open, if any
            nl = probe.find("\n") if brace_open else -1
        pending.append(piece)
        size += len(piece)
        if nl >= 0:
            text = "".join(pending)
            at = size - len(probe) + nl + 1
            body, carry = text[:at], text[at:]
            brace_open = False
        elif size > max_block:
            body, carry = "".join(pending), ""
            brace_open = False
        else:
            continue
        pending, size = ([carry], len(carry)) if carry else ([], 0)
        last = offset >= limit and not carry
        yield "\n" + body, last, zlib.crc32(body.encode("latin-1"))
        if last:
            return
    carry = "".join(pending)
    del pending
    if not carry:
        return
    if snap.end is None:
        # The file ended mid-block when it was opened: dhcpd may have been writing that block.
        # Read on to its end if it has been completed since (a torn block stays torn).
        text = carry
        while True:
            data = snap.pread(offset, chunk_size)
            if not data:
                break
            start = max(0, len(text) - 2)
            offset += len(data)
            text += data.decode("latin-1")
            cut = text.find("\n}", start)
            nl = text.find("\n", cut + 2) if cut >= 0 else -1
            if nl >= 0:
                carry = text[:nl + 1]
                break
            if len(text) - len(carry) > 1 << 20:  # not one block being written
                break
    yield "\n" + carry, True, zlib.crc32(carry.encode("latin-1"))
