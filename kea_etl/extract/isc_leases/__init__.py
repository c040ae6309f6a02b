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
   (:mod:`kea_etl.extract.isc_leases._parallel`); the items and their order are the same.

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

The package: ``_syntax`` (regexes, values, statements), ``_snapshot`` (the open file),
``_index`` (pass 1: keys and winners), ``_build`` (records), ``_pass2``, ``_parallel`` (pass 2 on two
cores) and ``_fastpath`` (the C extension and :func:`tune`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from kea_etl._files import file_kind
from kea_etl.errors import ConfigError
from kea_etl.extract.base import ExtractItem
from kea_etl.extract.isc_leases import _fastpath
from kea_etl.extract.isc_leases._fastpath import (
    ACCELERATED,
    ACCELERATED6,
    Parallel,
    tune,
    tuning_from_environ,
)
from kea_etl.extract.isc_leases._index import _last_occurrence, _Layout, _Others, _pass1
from kea_etl.extract.isc_leases._pass2 import _Pass2
from kea_etl.extract.isc_leases._snapshot import Snapshot
from kea_etl.extract.isc_leases._syntax import CHUNK_SIZE, MAX_BLOCK, ByteOrder

__all__ = ["ACCELERATED", "ACCELERATED6", "CHUNK_SIZE", "MAX_BLOCK", "ByteOrder", "Parallel",
           "Snapshot", "extract", "sniff", "tune", "tuning_from_environ"]


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
    same bytes again in a later call (a migration's conflict scan and load): while the file was
    not written since, that read reuses the first one's pass 1 (:meth:`Snapshot.index`).
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
        index = snap.index(chunk_size)  # a second read of the same bytes: pass 1 is known
        if index is not None:
            layout, others, mask4, mask6 = index
        else:
            layout = _Layout()
            others = _Others(source)
            keys4, keys6 = _pass1(snap, chunk_size, layout, others)
            mask4 = _last_occurrence(keys4, consume=True)
            mask6 = _last_occurrence(keys6)
            del keys4, keys6
            if snapshot is not None:
                snap.keep_index(chunk_size, (layout, others, mask4, mask6))
        pass2 = _Pass2(snap, source, mask4, mask6, family, byte_order, layout)
        if _parallel_ok(layout):
            from kea_etl.extract.isc_leases._parallel import run_parallel

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


def _parallel_ok(layout: _Layout) -> bool:
    """Whether pass 2 may run on two cores (see kea_etl.extract.isc_leases._parallel).

    Only v4 files (the chunks then carry no state from one to the next beyond what pass 1
    recorded), at least two chunks and PARALLEL_MIN_BYTES, two CPUs, ``fork`` available, and no
    other thread in this process (forking a threaded process may copy a held lock; ``force``
    skips only that check).
    """
    import threading

    if _fastpath._parallel == "off" or layout.has_ia or len(layout.offsets) < 2:
        return False
    if _fastpath._scan4 is not None and _fastpath._parallel != "force":
        # the C fast path parses faster than a worker's items can be sent back and rebuilt
        return False
    if layout.offsets[-1] + layout.lengths[-1] < PARALLEL_MIN_BYTES:
        return False
    if (os.cpu_count() or 1) < 2 or not hasattr(os, "fork"):
        return False
    return _fastpath._parallel == "force" or threading.active_count() == 1
