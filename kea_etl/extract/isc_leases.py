"""Streaming extractor for ISC dhcpd lease files: ``dhcpd.leases`` (v4) and ``dhcpd6.leases`` (v6).

A dhcpd lease file is a log: every change to a lease appends a whole new block, and the **last**
block for an address is the current one; earlier blocks are history (dhcpd.leases(5)). The file
of a busy server holds millions of blocks, so this module never holds the file or all records:

1. **pass 1** reads the file in large chunks and, with one C-level regex scan per chunk, records
   only the *key* of every lease block in a compact numpy array (v4: the address as an integer;
   v6: type + address + prefix length, per ``iaaddr`` / ``iaprefix``). The last occurrence of
   every key is found with ``np.unique`` on the reversed array (v6 keys: a hash set in the C
   extension, when built): a boolean "winner" mask, about 9 bytes per block (v4) or 19 bytes
   per address (v6);
2. **pass 2** reads the file again, splits the same chunks into the same blocks and parses only
   the winners, yielding them in file order. For a large v4 file each chunk can be parsed on its
   own (pass 1 recorded where every chunk starts), so a forked worker parses some of them
   (:mod:`kea_etl.extract._isc_parallel`); the items and their order are the same.

Both passes cut the file at the same places with the same regexes, so block number *i* means the
same block in both; no field of an earlier block can leak into the winner.

Keys follow dhcpd itself (verified against dhcpd 4.4.3 rewriting such files): v4 by address; v6
by (IA type, address / prefix) -- an address that moved from one IA to another belongs to the IA
that mentions it last, exactly as dhcpd's ``add_lease6`` replaces the pool entry by address.

Each winner becomes an :class:`~kea_etl.extract.base.Extracted` holding a canonical
:class:`~kea_etl.records.Lease4` / :class:`~kea_etl.records.Lease6` (``subnet_id`` 0; the
transform assigns subnets), the ISC ``binding_state`` and the source file and line. A block that
cannot be parsed, or a copy that ends mid-block, becomes a
:class:`~kea_etl.errors.MalformedRecordError` naming file, line and key; everything else is kept.
Lifetime rules (documented in ``docs/isc-leases.md``): the expiry ``ends`` is kept exactly;
``valid_lft = ends - cltt`` (``starts`` when there is no ``cltt``); ``ends never`` is Kea's
infinite lifetime; a lease whose ``ends`` is not after its ``cltt`` gets ``valid_lft`` 0 and
``cltt = ends``.
"""

from __future__ import annotations

import calendar
import codecs
import contextlib
import dataclasses
import os
import re
import socket
import stat
import zlib
from collections.abc import Iterator, Mapping
from datetime import datetime
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from kea_etl._fastrec import builder
from kea_etl._files import file_kind
from kea_etl.errors import ConfigError, InvalidValueError, MalformedRecordError
from kea_etl.extract.base import Extracted, ExtractItem, SourceWarning
from kea_etl.records import INFINITE_LIFETIME, Lease4, Lease6, Reservation, canonical_hex
from kea_etl.report import quote, quote_key

__all__ = ["Snapshot", "extract", "sniff", "tune", "tuning_from_environ"]

ByteOrder = Literal["little", "big"]

#: bytes read per chunk; both passes must use the same value (the cut points must agree)
CHUNK_SIZE = 1 << 22
#: the most text held while looking for the end of a block: a longer stretch without a
#: column-0 "}" line is cut there and its block reported truncated (bounded memory)
MAX_BLOCK = 16 << 20

# A top-level block starts at column 0 with one of dhcpd's top-level keywords. dhcpd writes
# every nested closing brace indented, so the first "\n}" after a block start closes it.
_BLOCK_WORDS = r"lease|ia-na|ia-ta|ia-pd|failover|host|group|class|subclass"
# Every chunk is processed as "\n" + text, so "\n" anchors line starts (sre's multi-line "^"
# costs a check at every character; a literal "\n" is found by a fast scan).
_START_SPLIT = re.compile(r"\n(" + _BLOCK_WORDS + r")[ \t]+([^\n]*)")
_LEASE_IP = re.compile(r"\nlease[ \t]+([^\s{]*)")
_V6_SCAN = re.compile(
    r"\n(?:(" + _BLOCK_WORDS + r")[ \t]|[ \t]+ia(addr|prefix)[ \t]+([^\s{]*))")
_IAADDR = re.compile(r"\n[ \t]+ia(addr|prefix)[ \t]+([^\s{]*)")
_IPV4_LIST = re.compile(
    r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)")
_IPV4_LINES = re.compile(r"(?:" + _IPV4_LIST.pattern + r"\n)*")

# One statement inside a block: ``name value;`` with quoted strings that may hold ';'. The name
# group keeps ``binding state``, ``set NAME`` and ``option NAME`` whole so that dict() works.
_QSTR = r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"'
_VALUE = r'[^;"\n{}#]*(?:' + _QSTR + r'[^;"\n{}#]*)*'
_STMT_NAME = (r"(starts|ends|tstp|tsfp|atsfp|cltt|binding state|next binding state"
              r"|rewind binding state|hardware|uid|client-hostname|hostname"
              r"|set[ \t]+[^\s=;]+|option[ \t]+[^\s;]+|billing|[a-z][a-z0-9-]*)")
_STMT = re.compile(r"\s*" + _STMT_NAME + r"(?:[ \t]*=)?(?:[ \t]+(" + _VALUE + r"))?[ \t]*;"
                   r"(?:[ \t]*#[^\n]*)?")
_TOP_STMT = re.compile(
    r"\s*(authoring-byte-order|lease-id-format|server-duid|db-time-format)[ \t]+(" + _VALUE
    + r")[ \t]*;(?:[ \t]*#[^\n]*)?")
_COMMENT_LINE = re.compile(r"\s*#[^\n]*")
_WS = re.compile(r"\s*")
_DATE = re.compile(r"(\d)[ \t]+(\d{1,5})/(\d{1,2})/(\d{1,2})[ \t]+(\d{1,2}):(\d{1,2}):(\d{1,2})"
                   r"(?:[ \t]+UTC)?")
_EPOCH = re.compile(r"epoch[ \t]+(\d+)")
_HEX_ID = re.compile(r"[0-9a-fA-F]{1,2}(?::[0-9a-fA-F]{1,2})*")
_ESCAPE = re.compile(r"\\([0-7]{1,3}|x[0-9a-fA-F]{1,2}|.)", re.S)
_ODD_ESCAPE = re.compile(r'\\(?:[^0-7"\\]|[0-7]{1,2}(?![0-7])|[4-7][0-7]{2})')
_HEXCHARS = frozenset("0123456789abcdef:")
# the fixed-width date shortcut must refuse what _DATE refuses, whatever the caches hold
_ASCII_DIGITS = frozenset("0123456789")
_ESCAPES = {"t": "\t", "r": "\r", "n": "\n", "b": "\b"}

_IA_TYPES = {"ia-na": "IA_NA", "ia-ta": "IA_TA", "ia-pd": "IA_PD"}
_IA_CODES = {"ia-na": 0, "ia-ta": 1, "ia-pd": 2}
_KNOWN_STATES = frozenset(("active", "free", "abandoned", "backup", "expired", "released",
                           "reset", "bootp"))

_CORE4_SET = frozenset(("starts", "ends", "cltt", "tstp", "tsfp", "atsfp", "binding state",
                        "next binding state", "rewind binding state", "hardware", "uid",
                        "client-hostname", "hostname"))
_NEVER = -1
_DATE_CACHE: dict[str, int] = {}
_DATE_CACHE_MAX = 400_000
_DAY_CACHE: dict[str, int] = {}
_TOD_CACHE: dict[str, int] = {}


class _BadBlock(Exception):
    """Internal: a block cannot be parsed; carries the reason and the line offset in the block."""

    def __init__(self, reason: str, line_offset: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line_offset = line_offset


# ---------------------------------------------------------------------------------------------
# public API


def sniff(head: bytes) -> bool:
    """True when ``head`` (the first KB of a file) looks like a dhcpd lease file.

    Looks for what only a lease file has at column 0: a ``lease ADDR {`` or ``ia-na/ia-ta/ia-pd``
    block, ``authoring-byte-order``, a ``failover peer "x" state {`` record, or the header comment
    dhcpd writes. dhcpd.conf shares much syntax but none of these.
    """
    text = head.decode("latin-1")
    return _SNIFF.search(text) is not None


_SNIFF = re.compile(
    r"^(?:lease[ \t]+\d{1,3}(?:\.\d{1,3}){3}[ \t]*\{|ia-(?:na|ta|pd)[ \t]+\S"
    r"|authoring-byte-order[ \t]+(?:little|big)-endian|failover[ \t]+peer[ \t]+\S+[ \t]+state"
    r"|# The format of this file is documented in the dhcpd\.leases)", re.M)


def extract(path: str | os.PathLike[str], *, family: Literal[4, 6] | None = None,
            byte_order: ByteOrder = "little", chunk_size: int = CHUNK_SIZE,
            snapshot: Snapshot | None = None) -> Iterator[ExtractItem]:
    """Yield the current lease of every address in a dhcpd.leases / dhcpd6.leases file.

    ``family`` None reads whatever the file holds (``lease`` blocks are v4, ``ia-*`` blocks v6);
    4 or 6 reports blocks of the other family as malformed. ``byte_order`` is the byte order of
    the IAID when the file has no ``authoring-byte-order`` statement (dhcpd then uses the reading
    host's order; files written on x86 / ARM are little-endian). Raises :class:`ConfigError` if
    the file cannot be read; bad blocks are yielded as :class:`MalformedRecordError`.

    Both passes read one open file (a :class:`Snapshot`): a live file that dhcpd appends to or
    rewrites meanwhile is read as it was when the read started, and a :class:`SourceWarning`
    says so; a file changed in place raises :class:`ConfigError`. Pass ``snapshot`` to read the
    same bytes again in a later call (a migration's conflict scan and load).
    """
    if byte_order not in ("little", "big"):
        raise ConfigError(f"byte_order must be 'little' or 'big', not {byte_order!r}")
    p = Path(path)
    try:
        regular = p.is_file() and os.access(p, os.R_OK)
    except OSError:
        regular = False
    if not regular:
        if p.exists() and not p.is_file():  # a FIFO or a device: say what it is
            raise ConfigError(f"the lease file {p} is {file_kind(p.stat().st_mode)}, not a "
                              "regular file; kea-etl reads only regular files")
        why = "no such file" if not p.exists() else "not a readable regular file"
        raise ConfigError(f"cannot read the lease file {p}: {why}")
    source = os.fspath(path)
    snap = Snapshot(p) if snapshot is None else snapshot
    try:
        layout = _Layout()
        others = _Others(source)
        keys4, keys6 = _pass1(snap, chunk_size, layout, others)
        mask4 = _last_occurrence(keys4)
        mask6 = _last_occurrence(keys6)
        del keys4, keys6
        pass2 = _Pass2(snap, source, mask4, mask6, family, byte_order, layout)
        if _parallel_ok(layout):
            from kea_etl.extract._isc_parallel import run_parallel

            yield from run_parallel(pass2, layout)
        else:
            yield from pass2.run()
        yield from others.items(family)
        yield from snap.warnings()
    finally:
        if snapshot is None:
            snap.close()


#: pass 2 uses a second process (fork) for files at least this large (bytes)
PARALLEL_MIN_BYTES = 32 << 20

Parallel = Literal["auto", "off", "force"]
#: how pass 2 may use a second core: see :func:`tune`
_parallel: Parallel = "auto"


def tune(*, parallel: Parallel | None = None, accelerate: bool | None = None) -> None:
    """Set how this process parses dhcpd lease files (both default to the fastest safe choice).

    ``parallel``: ``"auto"`` forks a worker for pass 2 when that pays (see :func:`_parallel_ok`),
    ``"off"`` never does, ``"force"`` also in a process with other threads (the test suite keeps
    helper threads alive; never needed in production). ``accelerate=False`` turns the C
    extension off (the pure-Python parser gives the same results, about 5x slower).

    Library code never reads the environment: the CLI calls this with
    :func:`tuning_from_environ` (``KEA_ETL_PARALLEL``, ``KEA_ETL_NO_ACCEL``).
    """
    global _parallel, _scan4, _keys4, _scan6, _keys6, _line_starts, _last_keys
    if parallel is not None:
        if parallel not in ("auto", "off", "force"):
            raise ValueError(f"parallel must be auto, off or force, not {parallel!r}")
        _parallel = parallel
    if accelerate is not None:
        on = accelerate and _accel is not None
        _scan4 = _accel.scan4 if on else None
        _keys4 = _accel.keys4 if on else None
        _scan6 = _accel.scan6 if on and _accel6 else None
        _keys6 = _accel.keys6 if on and _accel6 else None
        _line_starts = _accel.line_starts if on else _line_starts_py
        _last_keys = _accel.last_keys if on else None


def tuning_from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    """:func:`tune`'s arguments from ``KEA_ETL_PARALLEL`` (``0`` = off, ``force``) and
    ``KEA_ETL_NO_ACCEL`` (anything but empty or ``0`` = no C extension)."""
    par = environ.get("KEA_ETL_PARALLEL", "")
    return {"parallel": "off" if par == "0" else "force" if par == "force" else "auto",
            "accelerate": environ.get("KEA_ETL_NO_ACCEL", "") in ("", "0")}


def _parallel_ok(layout: _Layout) -> bool:
    """Whether pass 2 may run on two cores (see kea_etl.extract._isc_parallel).

    Only v4 files (the chunks then carry no state from one to the next beyond what pass 1
    recorded), at least two chunks and PARALLEL_MIN_BYTES, two CPUs, ``fork`` available, and no
    other thread in this process (forking a threaded process may copy a held lock; ``force``
    skips only that check).
    """
    import threading

    if _parallel == "off" or layout.has_ia or len(layout.offsets) < 2:
        return False
    if _scan4 is not None and _parallel != "force":
        # the C fast path parses faster than a worker's items can be sent back and rebuilt
        return False
    if layout.offsets[-1] + layout.lengths[-1] < PARALLEL_MIN_BYTES:
        return False
    if (os.cpu_count() or 1) < 2 or not hasattr(os, "fork"):
        return False
    return _parallel == "force" or threading.active_count() == 1


# ---------------------------------------------------------------------------------------------
# one open file for both passes (dhcpd rewrites and appends to a live lease file)


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
    max_block = MAX_BLOCK
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


# ---------------------------------------------------------------------------------------------
# pass 1: keys of every lease block, in file order


class _KeyArray:
    """Append-only growable numpy array (amortised doubling)."""

    def __init__(self, dtype: str) -> None:
        self.data: npt.NDArray[Any] = np.zeros(1024, dtype=dtype)
        self.n = 0

    def extend(self, values: npt.NDArray[Any]) -> None:
        need = self.n + len(values)
        if need > len(self.data):
            grown = np.zeros(max(need, 2 * len(self.data)), dtype=self.data.dtype)
            grown[:self.n] = self.data[:self.n]
            self.data = grown
        self.data[self.n:need] = values
        self.n = need

    def view(self) -> npt.NDArray[Any]:
        return self.data[:self.n]


_V6_KEY = "V18"


class _Layout:
    """Where pass 1 cut the file: per chunk its byte offset and length, the number of the first
    v4 lease block in it and its first line (what pass 2 needs to start at any chunk)."""

    def __init__(self) -> None:
        self.offsets: list[int] = []
        self.lengths: list[int] = []
        self.first_i4: list[int] = []
        self.first_line: list[int] = []
        self.has_ia = False


_OTHER_START = re.compile(r"\n(host|group|class|subclass)[ \t]+([^\n]*)")
_DELETED = re.compile(r"(?:^|[\s;{])deleted[ \t]*;")


class _Others:
    """What a lease file holds besides leases, read in pass 1 (in the main process, so that the
    parallel pass 2 needs no part of it).

    ``host`` blocks are OMAPI host declarations (omshell, Foreman and other provisioning tools
    keep their reservations so). dhcpd applies them in file order (server/mdb.c enter_host, and
    checked against dhcpd 4.4.3 rewriting such a file): one holding ``deleted;`` removes the host,
    after which a new declaration of the name is taken (an OMAPI update is a delete and an add);
    a second declaration of a name that is not deleted is refused ("host NAME: already exists")
    and the earlier one stays; that refusal is reported as a warning. A ``deleted;`` for a name
    the file never declared removes a host of dhcpd.conf: said too. ``group``,
    ``class`` and ``subclass`` blocks (OMAPI groups, spawned billing classes) are not translated:
    each becomes a SourceWarning.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        #: host name -> (line, the whole block text); insertion order = order of the last decl
        self.hosts: dict[str, tuple[int, str]] = {}
        self.deleted = 0
        self.notes: list[SourceWarning] = []

    def scan(self, text: str, line: int) -> None:
        """Blocks of one chunk ("\n" + text starting at ``line``); a block that never closes is
        left to pass 2, which reports it truncated."""
        at_pos, at_line = 1, line
        for m in _OTHER_START.finditer(text):
            at_line += text.count("\n", at_pos, m.start() + 1)
            at_pos = m.start() + 1
            word, header = m.group(1), m.group(2)
            one = _one_line(header) if "}" in header else None
            if one is not None:
                head, inner = one
                block = f"{word} {header}"
            else:
                end = text.find("\n}", m.end())
                nxt = _START_SPLIT.search(text, m.end())
                if end < 0 or (nxt is not None and nxt.start() < end) or "{" not in header:
                    continue
                head, inner = header, text[m.end():end]
                block = text[m.start() + 1:end + 2]
            name = head[:head.find("{")].strip() if "{" in head else head.strip()
            if word != "host":
                what = f"{word} {quote(name)}"
                self.notes.append(SourceWarning(
                    self.source, at_line, what + " { ... }",
                    f"not translated: kea-etl moves leases and host reservations, not {word} "
                    "declarations (write a Kea client class by hand if it is still needed)"))
                continue
            if _DELETED.search(inner) is not None:
                self.deleted += 1
                if self.hosts.pop(name, None) is None:
                    self.notes.append(SourceWarning(
                        self.source, at_line, f"host {quote(name)} {{ deleted; }}",
                        "deletes a host this file never declared: if dhcpd.conf declares it, "
                        "dhcpd no longer uses that host; leave it out of the migration",
                        f"host {quote(name)}"))
            elif name in self.hosts:
                first = self.hosts[name][0]
                self.notes.append(SourceWarning(
                    self.source, at_line, f"host {quote(name)} {{ ... }}",
                    f"not translated: dhcpd refuses a second declaration of a host that is not "
                    f"deleted (\"already exists\") and keeps the one of line {first}",
                    f"host {quote(name)}"))
            else:
                self.hosts[name] = (at_line, block)

    def items(self, family: int | None) -> Iterator[ExtractItem]:
        """The reservations of the hosts still declared at the end of the file, then the notes."""
        from kea_etl.extract import isc_conf

        for at, block in sorted(self.hosts.values()):
            for item in isc_conf.hosts_from_text(block, self.source, at):
                if (family is not None and isinstance(item, Extracted)
                        and isinstance(item.record, Reservation) and item.record.family != family):
                    # read as the other family: said, not dropped
                    item = SourceWarning(self.source, at, item.extra.get("dhcpd_host", "host"),
                                         f"not translated: a DHCPv{item.record.family} host "
                                         f"reservation in a file read as DHCPv{family}")
                yield item
        yield from self.notes


def _pass1(snap: Snapshot | Path, chunk_size: int, layout: _Layout | None = None,
           others: _Others | None = None) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """Keys of every lease block; fills ``layout`` and fixes or checks the snapshot's bytes."""
    if not isinstance(snap, Snapshot):
        with Snapshot(snap) as own:
            return _pass1(own, chunk_size, layout, others)
    if layout is None:
        layout = _Layout()
    crcs: dict[tuple[int, int], int] = {}
    keys4 = _KeyArray("u8")
    keys6 = _KeyArray(_V6_KEY)
    last_text = ""
    offset = 0
    line = 1
    for text, is_last, chunk_crc in _chunks(snap, chunk_size):
        starts = _line_starts(text)
        if others is not None and starts & 1:
            others.scan(text, line)
        n = len(text) - 1  # without the leading "\n"; latin-1: one char per byte
        layout.offsets.append(offset)
        layout.lengths.append(n)
        layout.first_i4.append(keys4.n)
        layout.first_line.append(line)
        crcs[offset, n] = chunk_crc
        offset += n
        line += text.count("\n", 1)
        if _keys4 is not None:
            got = _keys4(text, keys4.n)
            if got:
                keys4.extend(np.frombuffer(got, dtype=np.uint64))
        else:
            ips = _LEASE_IP.findall(text)
            if ips:
                keys4.extend(_v4_keys(ips, keys4.n))
        if starts & 2:
            got6 = _keys6(text, keys6.n) if _keys6 is not None else None
            keys6.extend(np.frombuffer(got6, dtype=_V6_KEY) if got6 is not None
                         else _v6_keys(text, keys6.n))
            layout.has_ia = True
        if is_last:
            last_text = text
    # A copy taken while dhcpd was writing ends mid-block: that block is reported as truncated
    # and must not hide the complete earlier block for the same key.
    if last_text:
        _unkey_truncated_tail(last_text, keys4, keys6)
    snap.settle(offset, crcs)
    return keys4.view(), keys6.view()


def _v4_keys(ips: list[str], base: int) -> npt.NDArray[np.uint64]:
    joined = "\n".join(ips) + "\n"
    if _IPV4_LINES.fullmatch(joined) is not None:
        packed = b"".join(map(socket.inet_aton, ips))
        return np.frombuffer(packed, dtype=">u4").astype(np.uint64)
    out = np.empty(len(ips), dtype=np.uint64)
    for i, ip in enumerate(ips):
        if _IPV4_LIST.fullmatch(ip) is not None:
            out[i] = int.from_bytes(socket.inet_aton(ip), "big")
        else:
            out[i] = (1 << 32) + base + i  # unique: an unparsable address never wins over another
    return out


def _v6_key(kind: str, code: int, addr: str, unique: int) -> bytes:
    try:
        if kind == "prefix":
            a, _, plen_s = addr.partition("/")
            plen = int(plen_s)
            if not 0 <= plen <= 128:
                raise ValueError(plen)
        else:
            a, plen = addr, 128
        return socket.inet_pton(socket.AF_INET6, a) + bytes((code, plen))
    except (OSError, ValueError):
        return b"\xff" + unique.to_bytes(17, "big")


def _v6_keys(text: str, base: int) -> npt.NDArray[Any]:
    out: list[bytes] = []
    code = -1
    for word, kind, addr in _V6_SCAN.findall(text):
        if word:
            code = _IA_CODES.get(word, -1)
        elif code >= 0:
            out.append(_v6_key(kind, code, addr, base + len(out)))
    return np.frombuffer(b"".join(out), dtype=_V6_KEY)


def _one_line(header: str) -> tuple[str, str] | None:
    """(``ADDR {``, statements) when a block header line holds the whole block, else None.

    ``lease 10.0.0.5 { starts ...; ends ...; binding state active; }`` is valid dhcpd syntax
    (its lexer does not care for lines); dhcpd itself writes one statement per line.
    """
    o = header.find("{")
    c = header.rfind("}")
    if o < 0 or c < o:
        return None
    after = header[c + 1:].strip()
    if after and after[0] != "#":
        return None
    inner = header[o + 1:c]
    depth = 0  # the braces inside (an ``on expiry { ... }``) must balance, quotes aside
    quoted = False
    k = 0
    while k < len(inner):
        ch = inner[k]
        if quoted:
            if ch == "\\":
                k += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return None
        k += 1
    if depth or quoted:
        return None
    return header[:o + 1], inner


def _unkey_truncated_tail(text: str, keys4: _KeyArray, keys6: _KeyArray) -> None:
    starts = list(_START_SPLIT.finditer(text))
    if not starts:
        return
    last = starts[-1]
    body = text[last.end():]
    if "\n}" in body or ("}" in last.group(2) and _one_line(last.group(2)) is not None):
        return
    word = last.group(1)
    if word == "lease" and keys4.n:
        keys4.data[keys4.n - 1] = (1 << 33) + keys4.n
    elif word in _IA_CODES:
        n = len(_IAADDR.findall(body))
        for i in range(keys6.n - n, keys6.n):
            keys6.data[i] = np.frombuffer(b"\xfe" + i.to_bytes(17, "big"), dtype=_V6_KEY)[0]


def _last_occurrence(keys: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    n = len(keys)
    if n and _last_keys is not None and keys.dtype == np.dtype(_V6_KEY):
        # a hash set in C: np.unique sorts 18-byte keys with one memcmp per comparison
        return np.frombuffer(_last_keys(np.ascontiguousarray(keys), keys.itemsize),
                             dtype=np.bool_)
    mask = np.zeros(n, dtype=np.bool_)
    if n:
        _, first_in_reversed = np.unique(keys[::-1], return_index=True)
        mask[n - 1 - first_in_reversed] = True
    return mask


# ---------------------------------------------------------------------------------------------
# value decoding


def _date(value: str) -> int:
    """Epoch seconds of a dhcpd date (``W YYYY/MM/DD HH:MM:SS`` UTC, ``epoch N``), or _NEVER.

    Memoised: a lease file holds few distinct seconds per day, and fewer distinct days.
    """
    got = _DATE_CACHE.get(value)
    if got is not None:
        return got
    result = _date_uncached(value)
    if len(_DATE_CACHE) >= _DATE_CACHE_MAX:
        _DATE_CACHE.clear()
    _DATE_CACHE[value] = result
    return result


def _date_uncached(value: str) -> int:
    v = value
    if len(v) == 21 and v[1] == " " and v[12] == " " and v[0] in _ASCII_DIGITS:
        # the fixed-width form dhcpd writes, "W YYYY/MM/DD HH:MM:SS": day and time of day
        # are looked up separately (few distinct days; at most 86400 distinct times)
        day = _DAY_CACHE.get(v[2:12])
        if day is not None:
            tod = _TOD_CACHE.get(v[13:])
            if tod is None:
                t = v[13:]
                digits = t[:2] + t[3:5] + t[6:]
                if t[2] == ":" and t[5] == ":" and digits.isascii() and digits.isdigit():
                    hh, mi, ss = int(t[:2]), int(t[3:5]), int(t[6:])
                    if hh < 24 and mi < 60 and ss < 61:
                        tod = _TOD_CACHE[t] = hh * 3600 + mi * 60 + ss
            if tod is not None:
                return day + tod
    v = value.strip()
    if v == "never":
        return _NEVER
    m = _DATE.fullmatch(v)
    if m is not None:
        y, mo, d, hh, mi, ss = (int(x) for x in m.groups()[1:])
        try:
            datetime(y, mo, d, hh, mi, min(ss, 59))  # validates the calendar date
        except ValueError as exc:
            raise ValueError(f"invalid date {value!r}: {exc}") from None
        if ss > 60:
            raise ValueError(f"invalid date {value!r}: second must be in 0..60")
        result = calendar.timegm((y, mo, d, hh, mi, ss, 0, 0, 0))
        if len(v) >= 12 and v[6] == "/" and v[9] == "/" and result >= 0:
            if len(_DAY_CACHE) > 100_000:
                _DAY_CACHE.clear()
            _DAY_CACHE[v[2:12]] = result - (hh * 3600 + mi * 60 + ss)
    else:
        m = _EPOCH.fullmatch(v)
        if m is None:
            raise ValueError(f"invalid date {value!r} (expected 'W YYYY/MM/DD HH:MM:SS', "
                             "'epoch N' or 'never')")
        result = int(m.group(1))
    if result < 0:
        raise ValueError(f"date {value!r} is before 1970")
    return result


def _unescape(body: str) -> bytes:
    """Bytes of a dhcpd quoted string's inside (octal escapes, \\" and \\\\, as dhcpd's lexer)."""
    if "\\" not in body:
        return body.encode("latin-1")
    if _ODD_ESCAPE.search(body) is None:
        # only \ooo, \" and \\ (all dhcpd writes): Python's C decoder agrees with dhcpd's lexer
        return codecs.escape_decode(body.encode("latin-1"))[0]

    def repl(m: re.Match[str]) -> str:
        e = m.group(1)
        c = e[0]
        if c in "01234567":
            return chr(int(e, 8) & 0xFF)
        if c == "x" and len(e) > 1:
            return chr(int(e[1:], 16))
        return _ESCAPES.get(c, c)

    return _ESCAPE.sub(repl, body).encode("latin-1")


def _id_bytes(value: str) -> bytes:
    """Bytes of an id written as a quoted string (octal escapes) or as colon hex."""
    v = value.strip()
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        return _unescape(v[1:-1])
    if _HEX_ID.fullmatch(v) is not None:
        return bytes(int(x, 16) for x in v.split(":"))
    raise ValueError(f"{value!r} is neither a quoted string nor colon hex")


def _text(value: str) -> str:
    """A quoted dhcpd string as text (UTF-8 when it decodes, else latin-1)."""
    raw = _id_bytes(value)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _hex_or_text(value: str) -> str:
    """Relay-agent sub-options as lowercase colon hex (dhcpd writes a string or unpadded hex)."""
    return _id_bytes(value).hex(":")


def _set_value(value: str | None) -> Any:
    if value is None:
        return None
    v = value.strip()
    if v[:1] == '"':
        return _text(v)
    if v[:1] == "%":
        return int(v[1:])
    if v in ("true", "false"):
        return v == "true"
    if v == "null":
        return None
    if _HEX_ID.fullmatch(v) is not None:
        return _id_bytes(v).hex(":")
    return v


# ---------------------------------------------------------------------------------------------
# fast record construction (the parser has already validated and canonicalised every value;
# Lease4/Lease6.__post_init__ would re-validate at ~20 us per record). A unit test pins the
# result equal to the validated constructor so a new field in records.py cannot slip through.

_new = object.__new__


def _extracted_tail() -> tuple[Any, ...] | None:
    """The defaults of Extracted's fields after ``extra`` (a lease block sets none of them),
    or None when one has no plain default (the fast builders then stand aside)."""
    names = tuple(Extracted.__slots__)
    if names[:5] != ("record", "binding_state", "source", "line", "extra"):
        return None
    fields = {f.name: f for f in dataclasses.fields(Extracted)}
    tail = tuple(fields[name].default for name in names[5:])
    return None if any(d is dataclasses.MISSING for d in tail) else tail


_EXTRACTED_TAIL = _extracted_tail()
_build_extracted_slots = builder(Extracted)


def _build_extracted(record: Lease4 | Lease6, binding_state: str, source: str, line: int,
                     extra: dict[str, Any]) -> Extracted:
    """An Extracted of canonical values (its later fields at their defaults)."""
    if _EXTRACTED_TAIL is None:
        return Extracted(record=record, binding_state=binding_state, source=source, line=line,
                         extra=extra)
    return _build_extracted_slots(record, binding_state, source, line, extra, *_EXTRACTED_TAIL)


#: ``_build_lease4(address, hwaddr, valid_lft, cltt, client_id, subnet_id, hostname, fqdn_fwd,
#: fqdn_rev, state, user_context, origin, line)`` (slot order, see kea_etl._fastrec)
_build_lease4 = builder(Lease4)
#: ``Lease6`` in slot order: address, duid, iaid, valid_lft, cltt, lease_type, prefix_len,
#: preferred_lft, subnet_id, hostname, fqdn_fwd, fqdn_rev, hwaddr, state, user_context, origin,
#: line
_build_lease6 = builder(Lease6)
_U32 = 0xFFFFFFFF


def _ip6(text: str) -> IPv6Address | None:
    """``IPv6Address(text)``, or None where it raises; inet_pton (C) first, since
    :mod:`ipaddress` parses in pure Python (~8 % of a v6 file). What inet_pton accepts,
    IPv6Address accepts with the same value; anything else (a scope id, ...) goes to it."""
    try:
        return IPv6Address(int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big"))
    except (OSError, ValueError):
        pass
    try:
        return IPv6Address(text)
    except ValueError:
        return None


def _load_accelerator() -> Any:
    """kea_etl._isc4 when the C extension is built and agrees with the record classes
    (``tune(accelerate=False)`` turns it off)."""
    try:
        from kea_etl import _isc4
    except ImportError:
        return None
    if _EXTRACTED_TAIL is None:
        return None
    return _isc4 if _isc4.init(Extracted, Lease4, IPv4Address, _EXTRACTED_TAIL) else None


_accel = _load_accelerator()
#: the C fast paths of pass 2 and pass 1 (None when unavailable); see kea_etl/_isc4.c
_scan4: Any = _accel.scan4 if _accel is not None else None
_keys4: Any = _accel.keys4 if _accel is not None else None
#: whether the C extension for dhcpd.leases v4 blocks is built and usable
ACCELERATED = _scan4 is not None
_accel6 = _accel is not None and _accel.init6(Lease6, IPv6Address)
#: the same for dhcpd6.leases ia-na / ia-ta / ia-pd blocks
_scan6: Any = _accel.scan6 if _accel6 else None
_keys6: Any = _accel.keys6 if _accel6 else None
#: the same for dhcpd6.leases blocks
ACCELERATED6 = _scan6 is not None


def _line_starts_py(text: str) -> int:
    """What pass 1 looks for at line starts of a chunk: 1 when a line starts with host / group /
    class / subclass (pass 1 reads those blocks), | 2 when one starts with ``ia-``."""
    others = "\nhost" in text or "\ngroup" in text or "\nclass" in text or "\nsubclass" in text
    return int(others) | (2 if "\nia-" in text else 0)


_line_starts: Any = _accel.line_starts if _accel is not None else _line_starts_py
_last_keys: Any = _accel.last_keys if _accel is not None else None
#: items per scan4 call: few enough to die young (cheap garbage collection)
_SCAN_BATCH = 256
#: items per scan6 call: its ~190 new tracked objects (Extracted, Lease6, IPv6Address) stay
#: under the collector's generation-0 threshold (700), so a batch is mostly gone before a
#: collection looks at it (measured: ~10 % faster at 1M blocks than 256)
_SCAN_BATCH6 = 64


def _extracted(record: Lease4 | Lease6, binding_state: str, source: str, line: int,
               extra: dict[str, Any]) -> Extracted:
    return _build_extracted(record, binding_state, source, line, extra)


# ---------------------------------------------------------------------------------------------
# statements of one block


def _statements(text: str) -> list[tuple[str, str]]:
    """(name, value) pairs of a block body (without its braces).

    Fast path: one findall, trusted when it consumed one statement per line and per ';' (what
    dhcpd writes). Otherwise the careful path walks the text statement by statement, skipping
    comments and nested ``on expiry { ... }`` blocks, and raises _BadBlock on anything else.
    """
    if "{" not in text and "#" not in text:
        pairs: list[tuple[str, str]] = _STMT.findall(text)
        n = len(pairs)
        if n == text.count(";") and n == text.count("\n") + (0 if text.endswith("\n") else 1):
            return pairs
    return _statements_careful(text)


def _statements_exact(text: str) -> list[tuple[str, str]]:
    """What :func:`_statements_careful` returns, faster when the text is nothing but
    statements: each match must start where the previous one ended, and only blank space may
    follow the last (so no stray text is skipped, whatever the line layout). The v6 blocks use
    it: their bodies start and end with blank space, which :func:`_statements`' line count
    always sent down the careful path."""
    if "{" not in text and "#" not in text:
        pairs: list[tuple[str, str]] = []
        pos = 0
        for m in _STMT.finditer(text):
            if m.start() != pos:
                break
            pairs.append((m.group(1), m.group(2) or ""))
            pos = m.end()
        else:
            if _WS.match(text, pos).end() == len(text):  # type: ignore[union-attr]
                return pairs
    return _statements_careful(text)


def _statements_careful(text: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    pos = 0
    end = len(text)
    while True:
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        if pos >= end:
            return pairs
        if text[pos] == "#":
            pos = _COMMENT_LINE.match(text, pos).end()  # type: ignore[union-attr]
            continue
        m = _STMT.match(text, pos)
        if m is not None:
            pairs.append((m.group(1), m.group(2) or ""))
            pos = m.end()
            continue
        # ``on expiry { ... }`` / ``on release { ... }`` and other nested blocks: skip them
        brace = _nested_block_end(text, pos)
        if brace is not None:
            pos = brace
            continue
        line_offset = text.count("\n", 0, pos)
        snippet = text[pos:].split("\n", 1)[0].strip()
        if len(snippet) > 60:
            snippet = snippet[:57] + "..."
        raise _BadBlock(f"has a statement that cannot be parsed: {snippet!r}", line_offset)


def _nested_block_end(text: str, pos: int) -> int | None:
    """End position of a ``word ... { ... }`` statement starting at pos (quote-aware), or None."""
    i = pos
    n = len(text)
    # the head (e.g. "on expiry or release") must reach '{' before any ';' on the way
    while i < n and text[i] not in "{;\"\n":
        i += 1
    if i >= n or text[i] != "{":
        return None
    depth = 0
    while i < n:
        c = text[i]
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                i += 1
                if i < n and text[i] == ";":
                    i += 1
                return i
        i += 1
    return None


def _sub_block_end(text: str, pos: int) -> int | None:
    """End of the ``iaaddr X { ... }`` block starting at pos; fast when it holds no braces."""
    o = text.find("{", pos)
    if o < 0:
        return None
    c = text.find("}", o)
    if c >= 0 and "{" not in text[o + 1:c] and '"' not in text[o + 1:c]:
        return c + 1
    return _nested_block_end(text, pos)


def _binding(value: str) -> str:
    if value in _KNOWN_STATES:
        return value
    state = value.strip()
    if state not in _KNOWN_STATES:
        raise ValueError(f"unknown binding state {state!r}")
    return state



# dhcpd 4.x writes a lease's statements in this fixed order (server/db.c write_lease); one
# anchored regex reads such a block in C. Anything else (hand edits, epoch dates with comments,
# on-expiry blocks, billing classes) takes the general statement parser; both give equal results.
_FAST4_BODY = (
    r"(?:  starts ([^;\n#]*+);\n)?"
    r"(?:  ends ([^;\n#]*+);\n)?"
    r"(?:  tstp ([^;\n#]*+);\n)?"
    r"(?:  tsfp ([^;\n#]*+);\n)?"
    r"(?:  atsfp ([^;\n#]*+);\n)?"
    r"(?:  cltt ([^;\n#]*+);\n)?"
    r"  binding state ([a-z]+);\n"
    r"(?:  next binding state ([a-z]+);\n)?"
    r"(?:  rewind binding state ([a-z]+);\n)?"
    r"(?:  (reserved);\n)?"
    r"(?:  (dynamic-bootp);\n)?"
    r"(?:  hardware ([a-z0-9-]+) ([0-9a-f:]*);\n)?"
    r"(?:  uid (\"[^\"\\\n]*(?:\\.[^\"\\\n]*)*\"|[0-9a-fA-F:]+);\n)?"
    r"()"  # placeholder keeping the group numbering of _fields4 (billing is not fast-pathed)
    r"((?:  (?:set|option) [^\n]*\n)*)"
    r"(?:  client-hostname (\"[^\"\\\n]*(?:\\.[^\"\\\n]*)*\");\n)?")
_FAST4 = re.compile(_FAST4_BODY + r"\Z")
# a whole lease block in dhcpd's layout, found by finditer over a chunk; group 1 is the address
_BLOCK4 = re.compile(r"\nlease ([0-9.]+) \{\n" + _FAST4_BODY + r"\}(?=\n|\Z)")
# _FAST4 / _fields4 tuples: starts ends tstp tsfp atsfp cltt state next rewind reserved
# dynamic-bootp htype hw uid (unused) rest hostname; "rest" holds set / option lines
_F_REST = 15


def _fields4(pairs: list[tuple[str, str]]) -> tuple[tuple[Any, ...], list[tuple[str, str]]]:
    """The general parser's statements in the shape of a _FAST4 match, plus the other pairs."""
    d: dict[str, str] = {}
    rest: list[tuple[str, str]] = []
    for name, value in pairs:
        if name in _CORE4_SET:
            d[name] = value
        else:
            rest.append((name, value))
    htype = hw = None
    hv = d.get("hardware")
    if hv is not None:
        htype, _, hw = hv.strip().partition(" ")
        hw = hw.strip()
    state = d.get("binding state")
    if state is None and any(n == "abandoned" for n, _ in rest):
        state = "abandoned"  # OpenBSD dhcpd writes a bare "abandoned;"
    hostname = d.get("client-hostname")
    if hostname is None:
        hostname = d.get("hostname")
    return ((d.get("starts"), d.get("ends"), d.get("tstp"), d.get("tsfp"), d.get("atsfp"),
             d.get("cltt"), state, d.get("next binding state"), d.get("rewind binding state"),
             None, None, htype, hw, d.get("uid"), None, None, hostname), rest)


def _make4(packed: bytes, f: tuple[Any, ...], pairs: list[tuple[str, str]] | None, source: str,
           line: int) -> Extracted:
    """The Extracted item of one v4 block from its _FAST4-shaped fields.

    This is the hot path of a migration (one call per current lease), so the helpers it needs
    (date cache, lifetime rule, record construction) are written out inline.
    """
    (v_starts, v_ends, v_tstp, v_tsfp, v_atsfp, v_cltt, v_state, v_next, v_rewind, v_reserved,
     v_bootp, v_htype, v_hw, v_uid, _unused, _rest, v_host) = f
    cache = _DATE_CACHE
    extra: dict[str, Any] = {}
    starts = ends = cltt = None
    if v_starts is not None:
        starts = cache.get(v_starts)
        if starts is None:
            starts = _date(v_starts)
        extra["starts"] = starts if starts >= 0 else None
    if v_ends is not None:
        ends = cache.get(v_ends)
        if ends is None:
            ends = _date(v_ends)
        extra["ends"] = ends if ends >= 0 else None
    if v_tstp is not None:
        t = cache.get(v_tstp)
        if t is None:
            t = _date(v_tstp)
        extra["tstp"] = t if t >= 0 else None
    if v_tsfp is not None:
        t = _date(v_tsfp)
        extra["tsfp"] = t if t >= 0 else None
    if v_atsfp is not None:
        t = _date(v_atsfp)
        extra["atsfp"] = t if t >= 0 else None
    if v_cltt is not None:
        cltt = cache.get(v_cltt)
        if cltt is None:
            cltt = _date(v_cltt)
        extra["cltt"] = cltt if cltt >= 0 else None
    # OpenBSD dhcpd writes no binding state: "active", and the transform checks the expiry
    if v_state is None:
        state = "active"
    elif v_state in _KNOWN_STATES:
        state = v_state
    else:
        state = _binding(v_state)
    if v_next is not None:
        extra["next-binding-state"] = v_next.strip()
    if v_rewind is not None:
        extra["rewind-binding-state"] = v_rewind.strip()
    if v_reserved:
        extra["reserved"] = True
    if v_bootp:
        extra["dynamic-bootp"] = True
    hwaddr = None
    if v_hw is not None:
        if v_htype != "ethernet":
            extra["hardware-type"] = v_htype
        n = len(v_hw)
        if n == 17 and v_hw[2::3] == ":::::" and _HEXCHARS.issuperset(v_hw):
            hwaddr = v_hw  # already lowercase colon hex (what dhcpd writes for ethernet)
        elif v_hw:
            hwaddr = canonical_hex(v_hw, "hwaddr", max_len=20)
    client_id = None
    if v_uid is not None:
        plain = v_uid[:1] == '"' and "\\" not in v_uid
        raw = v_uid[1:-1].encode("latin-1") if plain else _id_bytes(v_uid)
        if raw:
            if len(raw) > 255:
                raise ValueError(f"uid is {len(raw)} bytes long (at most 255)")
            client_id = raw.hex(":")
    hostname = ""
    if v_host is not None:
        if v_host[:1] == '"' and "\\" not in v_host and v_host.isascii():
            hostname = v_host[1:-1]
        else:
            hostname = _text(v_host)
        extra["client-hostname"] = hostname
    if pairs:
        _options_and_sets(pairs, extra)
        if not hostname and "set" in extra:
            fwd = extra["set"].get("ddns-fwd-name")
            if isinstance(fwd, str):
                hostname = fwd
    # lifetimes: keep the expiry (ends) exactly; see the module docstring
    base = cltt if cltt is not None and cltt >= 0 else starts
    if base is not None and base < 0:
        base = None
    if ends is None:
        # no ends at all (backup leases, some free ones): already expired at base
        cltt_out, valid = (base if base is not None else 0), 0
    elif ends < 0:
        cltt_out, valid = (base if base is not None else 0), INFINITE_LIFETIME
    elif base is None or ends <= base:
        cltt_out, valid = ends, 0
    else:
        cltt_out, valid = base, ends - base
        if valid > INFINITE_LIFETIME:
            valid = INFINITE_LIFETIME
    if cltt_out > 0xFFFFFFFF:
        raise ValueError("times beyond 2106 do not fit Kea's 32-bit cltt")
    addr = _new(IPv4Address)
    addr._ip = int.from_bytes(packed, "big")  # type: ignore[attr-defined]
    return _build_extracted(
        _build_lease4(addr, hwaddr, valid, cltt_out, client_id, 0, hostname, False, False, 0,
                      None, source, line),
        state, source, line, extra)


def _options_and_sets(pairs: list[tuple[str, str]], extra: dict[str, Any]) -> None:
    sets: dict[str, Any] = {}
    for name, value in pairs:
        c = name[0]
        if c == "s" and name.startswith("set"):
            sets[name[3:].strip()] = _set_value(value)
        elif c == "o" and name.startswith("option"):
            opt = name[6:].strip()
            if not value:
                continue
            if opt == "agent.circuit-id":
                extra["circuit-id"] = _hex_or_text(value)
            elif opt == "agent.remote-id":
                extra["remote-id"] = _hex_or_text(value)
            else:
                extra.setdefault("options", {})[opt] = value.strip()
        elif c == "b" and name == "billing" and value:
            extra["billing"] = value.strip()
        elif name in ("reserved", "dynamic-bootp", "bootp"):
            extra[name] = True
    if sets:
        extra["set"] = sets


# ---------------------------------------------------------------------------------------------
# pass 2


class _Pass2:
    def __init__(self, snap: Snapshot, source: str, mask4: npt.NDArray[np.bool_],
                 mask6: npt.NDArray[np.bool_], family: int | None, byte_order: ByteOrder,
                 layout: _Layout) -> None:
        self.snap = snap
        self.layout = layout
        self.source = source
        #: the same mask as bytes for the C fast path (None: pure Python); with it, the mask
        #: is kept only as bytes (a list of a million bools costs every full GC a million visits)
        self.win4b: bytes | None = mask4.astype(np.uint8).tobytes() if _scan4 is not None else None
        self.win4: list[bool] | bytes = self.win4b if self.win4b is not None else mask4.tolist()
        self.win6b: bytes | None = mask6.astype(np.uint8).tobytes() if _scan6 is not None else None
        self.win6: list[bool] | bytes = self.win6b if self.win6b is not None else mask6.tolist()
        self.family = family
        self.byte_order: ByteOrder = byte_order
        self.server_duid: str | None = None
        self.i4 = 0
        self.i6 = 0
        self.line = 1

    # -- driver ------------------------------------------------------------------------------

    def run(self) -> Iterator[ExtractItem]:
        win4 = self.win4
        fast4 = self._fast4
        source = self.source
        aton = socket.inet_aton
        ntoa = socket.inet_ntoa
        make4 = _make4
        v6_only = self.family == 6
        layout = self.layout
        for k in range(len(layout.offsets)):
            text = self.read_chunk(layout, k)
            yield from self.chunk(text, win4, fast4, source, aton, ntoa, make4, v6_only)

    def read_chunk(self, layout: _Layout, k: int) -> str:
        """Chunk k of the file as pass 1 cut it ("\n" + text), read on its own from the same open
        file and checked to be the bytes pass 1 read."""
        return self.snap.chunk(layout.offsets[k], layout.lengths[k])

    def run_chunk(self, layout: _Layout, k: int, text: str) -> Iterator[ExtractItem]:
        """The items of chunk k (text from read_chunk), independent of the other chunks (v4)."""
        self.i4 = layout.first_i4[k]
        self.line = layout.first_line[k]
        yield from self.chunk(text, self.win4, self._fast4, self.source, socket.inet_aton,
                              socket.inet_ntoa, _make4, self.family == 6)

    def chunk(self, text: str, win4: list[bool] | bytes, fast4: Any, source: str, aton: Any, ntoa: Any,
              make4: Any, v6_only: bool) -> Iterator[ExtractItem]:
        """Items of one chunk, continuing from self.i4 / self.i6 / self.line."""
        # Blocks in dhcpd's own layout are matched whole by one finditer over the chunk;
        # the text between them (other blocks, hand edits, top-level statements) goes
        # through the general region parser. Line numbers are counted lazily: (cp, cl) says
        # that the line after text[cp] (a "\n") is line cl.
        cp, cl = 0, self.line
        pos = 0
        i4 = self.i4
        count = text.count
        n = len(text)
        win4b = self.win4b
        scan = _scan4 if not v6_only and win4b is not None else None
        win6b = self.win6b
        scan6 = _scan6 if self.family != 4 and win6b is not None and self.layout.has_ia else None
        # the next _BLOCK4 match from m4_from on (kept: with scan6, Python reads one block at a
        # time, and searching a v6 chunk for a v4 block after each would be quadratic)
        m4: re.Match[str] | None = None
        m4_from = -1
        while True:
            if scan is not None and pos < n:
                # the C fast path takes every block from pos on that it reads exactly like
                # _make4 would; it stops at the first other one (text[pos] is a "\n")
                cl += count("\n", cp + 1, pos + 1)
                while True:
                    items, pos, i4, cl = scan(text, pos, win4b, i4, cl, source, _SCAN_BATCH)
                    yield from items
                    if len(items) < _SCAN_BATCH:
                        break
                cp = pos
            if scan6 is not None and pos < n:
                # the same for ia-na / ia-ta / ia-pd blocks (what _ia would build)
                cl += count("\n", cp + 1, pos + 1)
                while True:
                    items, pos, self.i6, cl = scan6(text, pos, win6b, self.i6, cl, source,
                                                    _SCAN_BATCH6, self.byte_order == "big",
                                                    self.server_duid)
                    yield from items
                    if len(items) < _SCAN_BATCH6:
                        break
                cp = pos
            if m4_from < 0 or (m4 is not None and m4.start() < pos):
                m4, m4_from = _BLOCK4.search(text, pos), pos
            m = m4
            s = m.start() if m is not None else n
            if scan6 is not None and s != pos:
                # Python reads only the text up to the next block (a block scan6 refused,
                # top-level statements), then the fast paths go on
                nxt = _START_SPLIT.search(text, pos + 1, s)
                if nxt is not None:
                    s, m = nxt.start(), None
            if m is None and s == n:
                break
            if s != pos:
                cl += count("\n", cp + 1, pos + 1)
                cp = pos
                self.i4 = i4
                yield from self._regions(text[pos:s], cl)
                i4 = self.i4
                if scan is not None or scan6 is not None:
                    pos = s  # the fast path may take the block at s
                    continue
            assert m is not None
            if win4[i4]:
                cl += count("\n", cp + 1, s + 1)
                cp = s
                # the common case inline: a canonical address, no set / option lines, no
                # error; anything else (including every error) goes through _fast4
                item: ExtractItem | None = None
                fields = m.groups()
                if not fields[_F_REST + 1] and not v6_only:
                    key = fields[0]
                    try:
                        packed = aton(key)
                        if ntoa(packed) == key:
                            item = make4(packed, fields[1:], None, source, cl)
                    except (OSError, ValueError, InvalidValueError, _BadBlock):
                        item = None
                yield item if item is not None else fast4(m, cl)
            i4 += 1
            pos = m.end()
        self.i4 = i4
        if pos < n:
            cl += text.count("\n", cp + 1, pos + 1)
            cp = pos
            yield from self._regions(text[pos:], cl)
        self.line = cl + text.count("\n", cp + 1)

    def _fast4(self, m: re.Match[str], line: int) -> ExtractItem:
        """A winner matched by _BLOCK4 (dhcpd's layout)."""
        key = m.group(1)
        source = self.source
        try:
            packed = socket.inet_aton(key)
            if socket.inet_ntoa(packed) != key:  # inet_aton also takes "10.1", "0x0a.1.2.3"
                raise OSError
        except (OSError, ValueError):  # ValueError: a NUL byte in the address (found by fuzzing)
            return _error(source, line, key, f"lease {key!r} does not name an IPv4 address")
        if self.family == 6:
            return _error(source, line, key,
                          f"lease {key} is a DHCPv4 block in a file read as DHCPv6")
        fields = m.groups()[1:]
        try:
            rest = fields[_F_REST]
            return _make4(packed, fields, _statements(rest) if rest else None, source, line)
        except _BadBlock as exc:
            # the offset counts from the first set/option line (group _F_REST + 2 of _BLOCK4)
            at = line + m.string.count("\n", m.start() + 1, m.start(_F_REST + 2)) + exc.line_offset
            return _error(source, at, key, f"lease {key} {exc.reason}")
        except (ValueError, InvalidValueError) as exc:
            return _error(source, line, key, f"lease {key}: {exc}")

    def _regions(self, text: str, first_line: int) -> Iterator[ExtractItem]:
        """Blocks and statements of text ("\n" + content starting on line first_line)."""
        win4 = self.win4
        parse4 = self._lease4
        # parts: [text before the first block, word, header, body, word, header, body, ...];
        # a body starts with the header line's "\n" and runs to the next block's "\n"
        parts = _START_SPLIT.split(text)
        pre = parts[0]
        if len(pre) > 1 and not pre.isspace():
            yield from self._top_level(pre[1:], first_line)
        if len(parts) == 1:
            return
        i4 = self.i4
        line = first_line + pre.count("\n")
        for j in range(1, len(parts), 3):
            word = parts[j]
            body = parts[j + 2]
            # the block ends at its first column-0 "}"
            end = body.find("\n}")
            header = parts[j + 1]
            one = _one_line(header) if "}" in header else None
            if one is not None:
                # a whole block on its header's line (``lease A { starts ...; ... }``): valid
                # dhcpd syntax, written by hand or by other tools; what follows is top level
                head, inner = one
                if word == "lease":
                    if win4[i4]:
                        yield parse4(head, inner, line, stmt_line=0)
                    i4 += 1
                elif word in _IA_TYPES:
                    yield _error(self.source, line, None, f"{word} {quote(head.rstrip(' {'))} is "
                                 "written on one line: kea-etl reads ia-na / ia-ta / ia-pd blocks "
                                 "with one statement per line (as dhcpd writes them)")
                # host / group / class / subclass: pass 1 reads them (see _Others)
                if len(body) > 1 and not body.isspace():
                    yield from self._top_level(body[1:], line + 1)
                line += body.count("\n") + 1
                continue
            if word == "lease":
                if win4[i4]:
                    yield parse4(header, body[1:end + 1] if end >= 0 else None, line)
                elif end < 0:
                    key = header.split("{", 1)[0].strip()
                    yield self._truncated(f"lease {key}", key, line)
                i4 += 1
            elif word in _IA_TYPES:
                yield from self._ia(word, parts[j + 1], body[1:end + 1] if end >= 0 else None,
                                    body, line)
            elif end < 0:
                # failover peer state, host, group, class, subclass: not leases, skipped,
                # but a truncated one is still worth a line in the report
                what = f"{word} {quote(parts[j + 1].rstrip(' {'))}"
                yield _error(self.source, line, None, f"{what} is truncated (no closing brace)")
            nl = body.count("\n")
            if 0 <= end < len(body) - 2:
                tail = body[end + 2:]
                if not tail.isspace():
                    yield from self._top_level(tail, line + nl - tail.count("\n"))
            line += nl + 1
        self.i4 = i4

    # -- pieces ------------------------------------------------------------------------------

    def _truncated(self, what: str, key: str, line: int) -> MalformedRecordError:
        return _error(self.source, line, key, f"{what} is truncated (no closing brace)")

    def _top_level(self, text: str, line: int) -> Iterator[ExtractItem]:
        """Statements between blocks: comments, authoring-byte-order, lease-id-format, ..."""
        pos = 0
        end = len(text)
        # line numbers are counted on from the last error, not from the start: a region of
        # n bad lines costs O(n), not O(n^2) (found with 100k stray closing braces)
        at_pos, at_line = 0, line

        def line_of(p: int) -> int:
            nonlocal at_pos, at_line
            at_line += text.count("\n", at_pos, p)
            at_pos = p
            return at_line

        while True:
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            if pos >= end:
                return
            if text[pos] == "#":
                pos = _COMMENT_LINE.match(text, pos).end()  # type: ignore[union-attr]
                continue
            m = _TOP_STMT.match(text, pos)
            if m is None:
                nl = text.find("\n", pos)
                snippet = text[pos:nl if nl >= 0 else end].strip()[:60]
                yield _error(self.source, line_of(pos), None,
                             f"unexpected text between blocks: {snippet!r}")
                if nl < 0:
                    return
                pos = nl + 1
                continue
            word, value = m.group(1), m.group(2).strip()
            if word == "authoring-byte-order":
                if value not in ("little-endian", "big-endian"):
                    yield _error(self.source, line_of(pos), None,
                                 f"authoring-byte-order {value!r} is not little-endian or "
                                 "big-endian")
                else:
                    self.byte_order = "little" if value == "little-endian" else "big"
            elif word == "server-duid":
                try:
                    self.server_duid = _id_bytes(value).hex(":")
                except ValueError:
                    yield _error(self.source, line_of(pos), None,
                                 f"server-duid {value!r} cannot be decoded")
            # lease-id-format / db-time-format need no state: ids and dates are recognised by
            # their shape, which is also what dhcpd does when it reads the file.
            pos = m.end()

    # -- v4 ------------------------------------------------------------------------------------

    def _lease4(self, header: str, stmts: str | None, line: int, stmt_line: int = 1
                ) -> ExtractItem:
        """One v4 block: ``header`` is the rest of the ``lease`` line, ``stmts`` the statements
        (None: never closed); they start ``stmt_line`` lines after ``line`` (0: a one-line block)."""
        source = self.source
        key = header[:-2] if header[-2:] == " {" else header.split("{", 1)[0].strip()
        if stmts is None:
            return self._truncated(f"lease {key}", key, line)
        if header[-1:] != "{":
            return _error(source, line, key, f"lease {key} has no opening brace")
        if self.family == 6:
            return _error(source, line, key,
                          f"lease {key} is a DHCPv4 block in a file read as DHCPv6")
        try:
            packed = socket.inet_aton(key)
            if socket.inet_ntoa(packed) != key:  # inet_aton also takes "10.1", "0x0a.1.2.3"
                raise OSError
        except (OSError, ValueError):  # ValueError: a NUL byte in the address (found by fuzzing)
            return _error(source, line, key, f"lease {key!r} does not name an IPv4 address")
        m = _FAST4.match(stmts)
        rest_at = 0  # line offset of the text given to _statements within the block's statements
        try:
            if m is not None:
                fields = m.groups()
                rest = fields[_F_REST]
                rest_at = stmts.count("\n", 0, m.start(_F_REST + 1))
                extra_pairs = _statements(rest) if rest else None
            else:
                fields, extra_pairs = _fields4(_statements(stmts))
            return _make4(packed, fields, extra_pairs, source, line)
        except _BadBlock as exc:
            return _error(source, line + stmt_line + rest_at + exc.line_offset, key,
                          f"lease {key} {exc.reason}")
        except (ValueError, InvalidValueError) as exc:
            return _error(source, line, key, f"lease {key}: {exc}")

    # -- v6 ------------------------------------------------------------------------------------

    def _ia(self, word: str, header: str, stmts: str | None, body: str,
            line: int) -> Iterator[ExtractItem]:
        addrs = list(_IAADDR.finditer(body))
        base = self.i6
        self.i6 = base + len(addrs)
        win6 = self.win6
        winners = [k for k in range(len(addrs)) if win6[base + k]]
        ident = header.rstrip(" \t{").strip()
        source = self.source
        if stmts is None:
            if winners or not addrs:
                key = addrs[winners[-1]].group(2) if winners else f"{word} {ident}"
                yield self._truncated(f"{word} {ident}", key, line)
            return
        if not winners:
            return
        keys = [addrs[k].group(2) for k in winners]
        if header[-1:] != "{":
            for key in keys:
                yield _error(source, line, key, f"{word} {ident} has no opening brace")
            return
        if self.family == 4:
            for key in keys:
                yield _error(source, line, key,
                             f"{word} {ident} is a DHCPv6 block in a file read as DHCPv4")
            return
        try:
            raw = _id_bytes(ident)
            if len(raw) < 5:
                raise ValueError(f"IAID+DUID is {len(raw)} bytes (needs 4 for the IAID and "
                                 "at least 1 for the DUID)")
            if len(raw) > 134:
                raise ValueError(f"the DUID is {len(raw) - 4} bytes long (at most 130)")
        except ValueError as exc:
            for key in keys:
                yield _error(source, line, key, f"{word} {ident}: {exc}")
            return
        # The IAID is the first 4 bytes in the byte order of the host that wrote the file
        # (dhcpd copies its host-order uint32 there); authoring-byte-order says which.
        iaid = int.from_bytes(raw[:4], self.byte_order)
        duid_hex = raw[4:].hex(":")
        lease_type = _IA_TYPES[word]
        # the address sub-blocks, and the IA's own statements (cltt) outside them
        spans: list[tuple[int, int]] = []
        pieces: list[str] = []
        prev = 0
        for a in addrs:
            s = a.start()
            e = _sub_block_end(stmts, s)
            if e is None:
                for k in winners:
                    what = "iaprefix" if addrs[k].group(1) == "prefix" else "iaaddr"
                    yield _error(source, line + 1 + stmts.count("\n", 0, s), addrs[k].group(2),
                                 f"{word} {ident}: an {what} block is not closed")
                return
            spans.append((s, e))
            pieces.append(stmts[prev:s])
            prev = e
        pieces.append(stmts[prev:])
        try:
            ia_pairs = dict(_statements_exact("".join(pieces)))
            cltt_v = ia_pairs.get("cltt")
            ia_cltt = _date(cltt_v) if cltt_v else None
            if ia_cltt == _NEVER:
                ia_cltt = None
        except (_BadBlock, ValueError) as exc:
            reason = exc.reason if isinstance(exc, _BadBlock) else f": {exc}"
            for key in keys:
                yield _error(source, line, key, f"{word} {ident} {reason}")
            return
        for k in winners:
            s, e = spans[k]
            yield self._build6(addrs[k], stmts[s:e], lease_type, iaid, duid_hex, ia_cltt,
                               line + 1 + stmts.count("\n", 0, s), word, ident)

    def _build6(self, a: re.Match[str], block: str, lease_type: str, iaid: int, duid: str,
                ia_cltt: int | None, line: int, word: str, ident: str) -> ExtractItem:
        source = self.source
        key = a.group(2)
        what = "iaprefix" if a.group(1) == "prefix" else "iaaddr"
        open_at = block.find("{")
        inner = block[open_at + 1:block.rfind("}")]
        try:
            if what == "iaprefix":
                if lease_type != "IA_PD":
                    raise ValueError(f"an iaprefix inside {word}")
                addr_s, _, plen_s = key.partition("/")
                if not plen_s.isdigit():
                    raise ValueError(f"prefix {key!r} has no /length")
                plen = int(plen_s)
            else:
                if lease_type == "IA_PD":
                    raise ValueError("an iaaddr inside ia-pd")
                addr_s, plen = key, 128
            addr = _ip6(addr_s)
            if addr is None:
                raise ValueError(f"{key!r} is not an IPv6 address")
            d = dict(_statements_exact(inner))
        except _BadBlock as exc:
            return _error(source, line + exc.line_offset, key, f"{what} {key} {exc.reason}")
        except ValueError as exc:
            return _error(source, line, key, f"{what} {key}: {exc}")
        try:
            extra: dict[str, Any] = {"iaid-duid": ident}
            v = d.get("binding state")
            state = _binding(v) if v is not None else "active"
            for name in ("preferred-life", "max-life"):
                v = d.get(name)
                if v is not None:
                    n = int(v.strip())
                    if not 0 <= n <= 0xFFFFFFFF:
                        raise ValueError(f"{name} {n} is outside 0..4294967295")
                    extra[name] = n
            ends = None
            v = d.get("ends")
            if v is not None:
                ends = _date(v)
                extra["ends"] = None if ends == _NEVER else ends
            if ia_cltt is not None:
                extra["cltt"] = ia_cltt
            if self.server_duid is not None:
                extra["server-duid"] = self.server_duid
            sets = {n[3:].strip(): _set_value(val) for n, val in d.items() if n.startswith("set")}
            if sets:
                extra["set"] = sets
            max_life = extra.get("max-life")
            preferred = extra.get("preferred-life", 0)
            base = ia_cltt
            if ends == _NEVER:
                valid = INFINITE_LIFETIME
                cltt = base if base is not None else 0
            elif ends is None:
                # no ends: dhcpd always writes one; fall back to cltt + max-life
                cltt = base if base is not None else 0
                valid = max_life if max_life is not None else 0
            else:
                if base is None and max_life is not None and ends - max_life >= 0:
                    base = ends - max_life
                if base is None or ends <= base:
                    cltt, valid = ends, 0
                else:
                    cltt, valid = base, min(ends - base, INFINITE_LIFETIME)
            hostname = ""
            fwd = sets.get("ddns-fwd-name") if sets else None
            if isinstance(fwd, str):
                hostname = fwd
            if 0 <= cltt <= _U32 and 0 <= valid <= _U32 and 1 <= plen <= 128 and (
                    plen == 128 or int(addr) & ((1 << (128 - plen)) - 1) == 0):
                # every value already canonical (the DUID is raw.hex(":") of 1..130 bytes, the
                # IAID 4 bytes, lifetimes checked above): build without Lease6's validation
                record = _build_lease6(addr, duid, iaid, valid, cltt, lease_type, plen,
                                       preferred, 0, hostname, False, False, None, 0, None,
                                       source, line)
            else:  # out of range or host bits set: the constructor says what is wrong
                record = Lease6(address=addr, duid=duid, iaid=iaid, valid_lft=valid, cltt=cltt,
                                lease_type=lease_type,  # type: ignore[arg-type]
                                prefix_len=plen, preferred_lft=preferred, hostname=hostname,
                                origin=source, line=line)
        except (ValueError, InvalidValueError) as exc:
            return _error(source, line, key, f"{what} {key}: {exc}")
        return _extracted(record, state, source, line, extra)


def _error(source: str, line: int, key: str | None, reason: str) -> MalformedRecordError:
    """A MalformedRecordError whose message reads ``FILE line N: REASON`` and whose key is set.

    The reason already names the record (``lease 192.0.2.30 is truncated ...``), so the key is
    attached after construction instead of being prefixed to the message a second time.
    """
    key, reason = quote_key(key, reason)  # the key is input: a 50 MB line is quoted, not echoed
    err = MalformedRecordError(source, line, None, reason)
    err.key = key
    return err
