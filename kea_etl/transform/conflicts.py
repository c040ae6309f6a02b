"""Conflicts between records of one run: reported, never resolved silently.

Three kinds, each with a documented decision:

``duplicate-address``
    Two leases for the same address (v4) or the same type and address (v6), e.g. from the two
    lease files of a failover pair. Kea keeps one lease per address: its memfile silently keeps the
    *last row*, lease4-add refuses the second. Decision: the lease with the newest ``cltt`` is
    loaded (on a tie, the one read last, as in dhcpd's own log), the other **fails** with this
    reason.
``conflict``
    The same v4 client (client-id if it sent one, else hardware address) holds two addresses in
    one subnet. Kea would accept both, then renew only one of them; the other stays allocated
    until it expires. Decision: the newest by ``cltt`` is loaded, the other **fails** with reason
    ``conflict`` and names the winner. Declined leases have no client and are not compared. In
    DHCPv6 one IA may legitimately hold several addresses and prefixes (RFC 8415), so v6 is not
    checked for this.
``reserved-for-other``
    A lease holds an address that a host reservation of the same run gives to a different client
    (compared by the reservation's identifier: hw-address or client-id in v4, duid or hw-address
    in v6). Decision: **both are loaded** and the lease gets a warning. This is how Kea itself
    treats a reservation added while another client holds the address: the holder keeps it until
    it renews (then gets a NAK and a new address) and the reserved client gets it afterwards.
    Dropping the lease would strand a client that is online now.

Leases are remembered compactly (numbers in :mod:`array` columns, 34 bytes per v4 lease and 42
per v6 lease: the v4 client identity as a 64-bit hash, the hardware address / client-id / DUID
fingerprints that only the ``reserved-for-other`` warning compares as 32-bit hashes) and
resolving needs at most about 17 bytes per lease more; the decisions are made once at the end by
:meth:`ConflictTracker.resolve`, because the newest lease of a client may come last. Past a memory
budget (``memory_budget``, 32 MiB by default: about 980,000 v4 leases) the columns are spilled
to an unnamed temporary file, and resolving then works on hash partitions of that file, one at a
time, each within the budget: every lease of one address (or one client) falls into the same
partition, so the decisions are the same as in memory, and the tracker's memory no longer grows
with the file (ten million leases would need 340 MB in memory). A loader that
can take back rows it wrote (the memfile loader filters its temp file before the rename) applies
them after one pass; for one that cannot, the orchestrator runs a first pass over the sources
that only tracks, then loads while excluding the losers.

Reservations are checked as they arrive (:meth:`ConflictTracker.check_reservation`): Kea refuses a
configuration with two hosts of the same identifier, or two reservations of the same address, in
one subnet, so the second one fails with ``duplicate-reservation``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from operator import attrgetter
from typing import IO, TYPE_CHECKING, Any

from kea_etl.records import STATE_DECLINED, Lease4, Lease6, Reservation
from kea_etl.transform.normalize import Rejected

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["Conflict", "ConflictTracker", "Numbering"]

_TYPE_CODE = {"IA_NA": 0, "IA_TA": 1, "IA_PD": 2}
_MASK64 = (1 << 64) - 1
_HWADDR = attrgetter("hwaddr")
_CLIENT_ID = attrgetter("client_id")
#: bytes of tracker columns held in memory before they are spilled to a temporary file
MEMORY_BUDGET = 32 << 20


def _h(text: str | None) -> int:
    """A 32-bit fingerprint of an id (0 = none), as observe stores hardware addresses,
    client-ids and DUIDs. Only the ``reserved-for-other`` warning compares them: two different
    ids agree by chance once in 4 billion, and then that one warning is not given."""
    return hash(text) & 0xFFFFFFFF if text else 0


@dataclass(frozen=True, slots=True)
class Conflict:
    """One decision about a record that lost (or, for warnings, shares an address)."""

    reason: str  # "duplicate-address" | "conflict" | "reserved-for-other"
    family: int
    #: the losing lease's position among the leases of its family handed to the loader (0-based)
    ordinal: int
    key: str
    source: str | None
    line: int | None
    detail: str
    #: True: the lease is not loaded (failed); False: loaded with a warning
    fails: bool = True


def _row_dtype(family: int) -> np.dtype[Any]:
    """One remembered lease in the spill file: its in-memory columns, side by side."""
    import numpy as np

    if family == 4:
        return np.dtype([("u32", "<u4", (6,)), ("i64", "<i8"), ("src", "<u2")])
    return np.dtype([("u64", "<u8", (2,)), ("u32", "<u4", (6,)), ("src", "<u2")])


class _Columns:
    """Per-family columns, interleaved to keep appends cheap (one ``extend`` per array).

    ``u32`` rows: v4 ``(address, subnet, cltt, line, hw, ident)``, v6 ``(subnet, cltt, line,
    type, hw, ident)``, where hw is the hardware address fingerprint and ident the client-id
    (v4) or DUID (v6) fingerprint (:func:`_h`); ``i64`` (v4 only): the client identity, a 64-bit
    hash of the client-id, else of the hardware address (0 when declined): the conflict check
    groups by it, so it must not collide; ``u64`` rows (v6 only): ``(address high, address low)``.

    :meth:`spill` moves the rows held in memory to the end of the spill file (rows of
    :func:`_row_dtype`); the first ``spilled`` ordinals are then in the file, the rest in memory.
    """

    #: rows converted at a time when spilling (bounds the temporary copy)
    SPILL_STEP = 1 << 18

    def __init__(self, family: int) -> None:
        self.family = family
        self.u32 = array("I")
        self.i64 = array("q")
        self.u64 = array("Q")
        self.src = array("H")
        self.spilled = 0
        self.file: IO[bytes] | None = None
        self._row: tuple[int, Any] | None = None  # the last row read back from the file

    def __len__(self) -> int:
        return self.spilled + len(self.src)

    def spill(self) -> None:
        """Append the rows held in memory to the spill file and empty the columns."""
        import numpy as np

        m = len(self.src)
        if not m:
            return
        if self.file is None:
            # open until close(): unnamed, so it is gone however the process ends
            self.file = tempfile.TemporaryFile(prefix="kea-etl-conflicts-")  # noqa: SIM115
        dtype = _row_dtype(self.family)
        u32 = np.frombuffer(self.u32, dtype=np.uint32).reshape(-1, 6)
        src = np.frombuffer(self.src, dtype=np.uint16)
        wide = (np.frombuffer(self.i64, dtype=np.int64) if self.family == 4
                else np.frombuffer(self.u64, dtype=np.uint64).reshape(-1, 2))
        self.file.seek(0, os.SEEK_END)
        for start in range(0, m, self.SPILL_STEP):
            part = slice(start, start + self.SPILL_STEP)
            rows = np.empty(len(src[part]), dtype=dtype)
            rows["u32"] = u32[part]
            rows["i64" if self.family == 4 else "u64"] = wide[part]
            rows["src"] = src[part]
            self.file.write(rows.tobytes())
        del u32, src, wide  # views of the arrays: they must go before the arrays are replaced
        self.file.flush()
        self.spilled += m
        self.u32, self.i64, self.u64, self.src = array("I"), array("q"), array("Q"), array("H")

    def chunks(self, rows: int) -> Iterator[tuple[int, npt.NDArray[Any]]]:
        """(first ordinal, rows) of the spill file, ``rows`` at a time (call after :meth:`spill`)."""
        import numpy as np

        assert self.file is not None and not len(self.src)
        dtype = _row_dtype(self.family)
        fd = self.file.fileno()
        for start in range(0, self.spilled, rows):
            count = min(rows, self.spilled - start)
            data = os.pread(fd, count * dtype.itemsize, start * dtype.itemsize)
            yield start, np.frombuffer(data, dtype=dtype)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def u32_col(self, i: int) -> npt.NDArray[np.uint32]:
        """Column i of the u32 rows, as a strided view (no copy)."""
        import numpy as np  # imported when conflicts are resolved, not at start-up

        return np.frombuffer(self.u32, dtype=np.uint32).reshape(-1, 6)[:, i]

    def client_col(self) -> npt.NDArray[np.int64]:
        import numpy as np  # imported when conflicts are resolved, not at start-up

        return np.frombuffer(self.i64, dtype=np.int64)

    def u64_col(self, i: int) -> npt.NDArray[np.uint64]:
        import numpy as np  # imported when conflicts are resolved, not at start-up

        return np.frombuffer(self.u64, dtype=np.uint64).reshape(-1, 2)[:, i]

    def _u32(self, i: int, k: int) -> int:
        if self.file is None:
            return self.u32[6 * i + k]
        return int(self._read(i)["u32"][k])

    def _read(self, i: int) -> Any:
        """Row i of the spill file (a conflict's loser or winner: few rows, read one by one)."""
        import numpy as np

        if self._row is None or self._row[0] != i:
            assert self.file is not None
            dtype = _row_dtype(self.family)
            data = os.pread(self.file.fileno(), dtype.itemsize, i * dtype.itemsize)
            self._row = (i, np.frombuffer(data, dtype=dtype)[0])
        return self._row[1]

    def address(self, i: int) -> IPv4Address | IPv6Address:
        if self.family == 4:
            return IPv4Address(self._u32(i, 0))
        if self.file is None:
            hi, lo = self.u64[2 * i], self.u64[2 * i + 1]
        else:
            hi, lo = (int(v) for v in self._read(i)["u64"])
        return IPv6Address((hi << 64) | lo)

    def source(self, i: int) -> int:
        return self.src[i] if self.file is None else int(self._read(i)["src"])

    def subnet(self, i: int) -> int:
        return self._u32(i, 0 if self.family == 6 else 1)

    def line(self, i: int) -> int:
        return self._u32(i, 3 if self.family == 4 else 2)

    def ltype(self, i: int) -> int:
        return self._u32(i, 3) if self.family == 6 else 0

    def hw(self, i: int) -> int:
        return self._u32(i, 4)

    def ident(self, i: int) -> int:
        return self._u32(i, 5)


class ConflictTracker:
    """Remembers every lease handed to the loader and decides conflicts at the end."""

    def __init__(self, *, memory_budget: int = MEMORY_BUDGET) -> None:
        #: bytes of columns held in memory (and of one partition while resolving) before the
        #: columns go to the spill file
        self.memory_budget = max(1024, memory_budget)
        self._room = self.memory_budget
        self._c4 = _Columns(4)
        self._c6 = _Columns(6)
        self._sources: list[str] = []
        self._source_idx: dict[str, int] = {}
        self._last_source: str | None = None
        self._last_idx = self._src(None)
        # reservations: (family, subnet, identifier type, identifier) -> key;
        # (family, subnet, address text) -> key; address -> (ident type, ident hash, key)
        self._host_ids: dict[tuple[int, int, str, str], str] = {}
        self._host_addrs: dict[tuple[int, int, str], str] = {}
        self._reserved4: dict[int, tuple[str, int, str]] = {}
        self._reserved6: dict[tuple[int, int], tuple[str, int, str]] = {}

    # ---- observing --------------------------------------------------------------------------

    def _src(self, source: str | None) -> int:
        name = source or ""
        idx = self._source_idx.get(name)
        if idx is None:
            idx = self._source_idx[name] = len(self._sources)
            self._sources.append(name)
        return idx

    def observe(self, lease: Lease4 | Lease6, *, source: str | None = None,
                line: int | None = None) -> int:
        """Remember a lease about to be loaded; returns its ordinal within its family."""
        if source is self._last_source:
            src = self._last_idx
        else:
            src = self._last_idx = self._src(source)
            self._last_source = source
        if type(lease) is Lease4:
            cols = self._c4
            hw = hash(lease.hwaddr) if lease.hwaddr else 0
            cid = hash(lease.client_id) if lease.client_id else 0
            cols.u32.extend((int(lease.address), lease.subnet_id, lease.cltt, line or 0,
                             hw & 0xFFFFFFFF, cid & 0xFFFFFFFF))
            cols.i64.append(0 if lease.state == STATE_DECLINED else (cid or hw))
            self._room -= 34
        else:
            assert isinstance(lease, Lease6)
            cols = self._c6
            a = int(lease.address)
            cols.u64.extend((a >> 64, a & _MASK64))
            cols.u32.extend((lease.subnet_id, lease.cltt, line or 0, _TYPE_CODE[lease.lease_type],
                             _h(lease.hwaddr), _h(lease.duid)))
            self._room -= 42
        cols.src.append(src)
        ordinal = len(cols) - 1
        if self._room < 0:
            self._spill()
        return ordinal

    def _spill(self) -> None:
        """Past the memory budget: both families' columns go to their spill files."""
        self._c4.spill()
        self._c6.spill()
        self._room = self.memory_budget

    def observe4(self, leases: Sequence[Lease4], address: npt.NDArray[np.uint64],
                 subnet_id: npt.NDArray[np.int64], cltt: npt.NDArray[np.int64],
                 declined: npt.NDArray[np.bool_], sources: Sequence[str | None],
                 lines: Sequence[int | None]) -> None:
        """:meth:`observe` for DHCPv4 leases in columns, in order (the conflict pre-pass of
        :func:`kea_etl.migration.migrate`): ``leases`` give the hardware address and client-id,
        the columns the rest (one element per lease; ``declined``: in Kea's declined state,
        which has no client). Remembers exactly what :meth:`observe` would, lease by lease."""
        import numpy as np

        m = len(leases)
        if not m:
            return
        limit = 0xFFFFFFFF
        line = np.fromiter((x or 0 for x in lines), dtype=np.int64, count=m)
        if not all(bool(((c >= 0) & (c <= limit)).all()) for c in (subnet_id, cltt, line)):
            for j, lease in enumerate(leases):  # out of the columns' range: observe says so
                self.observe(lease, source=sources[j], line=lines[j])
            return
        hw = [hash(h) if h else 0 for h in map(_HWADDR, leases)]
        cid = [hash(c) if c else 0 for c in map(_CLIENT_ID, leases)]
        hw64 = np.array(hw, dtype=np.int64)
        cid64 = np.array(cid, dtype=np.int64)
        rows = np.empty((m, 6), dtype=np.uint32)
        rows[:, 0] = address
        rows[:, 1] = subnet_id
        rows[:, 2] = cltt
        rows[:, 3] = line
        rows[:, 4] = hw64 & limit
        rows[:, 5] = cid64 & limit
        client = np.where(declined, 0, np.where(cid64 != 0, cid64, hw64))
        first = sources[0]
        if all(s is first for s in sources):
            src = np.full(m, self._src(first), dtype=np.uint16)
        else:
            src = np.fromiter(map(self._src, sources), dtype=np.uint16, count=m)
        cols = self._c4
        cols.u32.frombytes(rows.tobytes())
        cols.i64.frombytes(client.astype(np.int64).tobytes())
        cols.src.frombytes(src.tobytes())
        self._room -= 34 * m
        if self._room < 0:
            self._spill()

    @property
    def spilled(self) -> bool:
        """Whether the columns went to the spill file (more leases than the memory budget)."""
        return self._c4.file is not None or self._c6.file is not None

    def check_reservation(self, host: Reservation) -> Rejected | None:
        """A verdict for a host that Kea would refuse next to one already seen, else None."""
        id_key = (host.family, host.subnet_id, host.identifier_type, host.identifier)
        other = self._host_ids.get(id_key)
        if other is not None:
            return Rejected("duplicate-reservation", f"{host.identifier_type} {host.identifier} "
                            f"already has a reservation in subnet {host.subnet_id} ({other})",
                            failed=True)
        addrs = [str(host.ipv4_address)] if host.ipv4_address is not None else []
        addrs += [str(a) for a in host.ip_addresses] + [str(p) for p in host.prefixes]
        for text in addrs:
            other = self._host_addrs.get((host.family, host.subnet_id, text))
            if other is not None:
                return Rejected("duplicate-reservation", f"{text} is already reserved in subnet "
                                f"{host.subnet_id} for {other}", failed=True)
        who = f"{host.identifier_type} {host.identifier}"
        self._host_ids[id_key] = who
        for text in addrs:
            self._host_addrs[(host.family, host.subnet_id, text)] = who
        ident = (host.identifier_type, _h(host.identifier), who)
        if host.ipv4_address is not None:
            self._reserved4[int(host.ipv4_address)] = ident
        for a in host.ip_addresses:
            self._reserved6[(0, int(a))] = ident
        for p in host.prefixes:
            self._reserved6[(2, int(p.network_address))] = ident
        return None

    # ---- deciding ---------------------------------------------------------------------------

    def resolve(self) -> list[Conflict]:
        """All conflicts, losers first by family and ordinal. Call once, after the last lease."""
        try:
            out: list[Conflict] = []
            for cols, in_memory, spilled in ((self._c4, self._resolve4, self._resolve4_spilled),
                                             (self._c6, self._resolve6, self._resolve6_spilled)):
                if cols.file is None:
                    out.extend(in_memory())
                else:
                    cols.spill()  # the rest too: every row is in the file
                    out.extend(spilled())
        finally:
            self._c4.close()
            self._c6.close()
        out.sort(key=lambda c: (c.family, c.ordinal, c.reason))
        return out

    def _where(self, cols: _Columns, i: int) -> tuple[str | None, int | None]:
        src = self._sources[cols.source(i)] or None
        line = cols.line(i) or None
        return src, line

    def _describe(self, cols: _Columns, i: int) -> str:
        src, line = self._where(cols, i)
        where = f" ({src}" + (f" line {line}" if line else "") + ")" if src else ""
        return f"{self._key(cols, i)}{where}"

    def _key(self, cols: _Columns, i: int) -> str:
        return str(cols.address(i))

    def _conflict(self, reason: str, cols: _Columns, i: int, detail: str,
                  fails: bool = True) -> Conflict:
        src, line = self._where(cols, i)
        return Conflict(reason, cols.family, i, self._key(cols, i), src, line, detail, fails)

    @staticmethod
    def _repeated(values: npt.NDArray[Any], where: npt.NDArray[np.bool_] | None = None
                  ) -> npt.NDArray[Any]:
        """The values that occur more than once (among ``where``). One sorted copy of the
        column: the cheap test that lets the full grouping run only on candidate rows."""
        import numpy as np

        s = np.sort(values) if where is None else values[where]  # a copy either way
        if where is not None:
            s.sort()
        if len(s) < 2:
            return s[:0]
        return np.unique(s[1:][s[1:] == s[:-1]])

    @staticmethod
    def _group_losers(keys: list[npt.NDArray[Any]], cltt: npt.NDArray[Any],
                      alive: npt.NDArray[np.bool_]) -> Iterator[tuple[int, int]]:
        """(loser, winner) index pairs: in each group of equal ``keys``, all but the newest."""
        import numpy as np

        idx = np.nonzero(alive)[0]
        if len(idx) < 2:
            return
        sub_keys = [k[idx] for k in keys]
        # lexsort: last key is primary; order = group keys, then cltt, then position
        order = np.lexsort([idx, cltt[idx], *reversed(sub_keys)])
        sorted_keys = [k[order] for k in sub_keys]
        same_as_next = np.ones(len(order) - 1, dtype=bool)
        for col in sorted_keys:
            same_as_next &= col[:-1] == col[1:]
        if not same_as_next.any():
            return
        pos = idx[order]
        # a position whose next has the same key loses to the last position of its run
        losers = np.nonzero(same_as_next)[0]
        run_ends = np.append(np.nonzero(~same_as_next)[0], len(order) - 1)
        winners = run_ends[np.searchsorted(run_ends, losers)]
        for lose, win in zip(losers.tolist(), winners.tolist(), strict=True):
            yield int(pos[lose]), int(pos[win])

    # The three decisions, as messages; shared by the in-memory and the partitioned paths.

    def _duplicate(self, cols: _Columns, loser: int, winner: int) -> Conflict:
        return self._conflict("duplicate-address", cols, loser,
                              f"newer lease for the same address: {self._describe(cols, winner)}")

    def _same_client(self, cols: _Columns, loser: int, winner: int) -> Conflict:
        return self._conflict("conflict", cols, loser,
                              f"the same client holds a newer lease in subnet "
                              f"{cols.subnet(loser)}: {self._describe(cols, winner)}")

    def _reserved_for_other(self, cols: _Columns, i: int, found: tuple[str, int, str],
                            hw: int, ident: int) -> Conflict | None:
        ident_type, reserved, who = found
        mine = {"hw-address": hw, "client-id" if cols.family == 4 else "duid": ident}.get(
            ident_type)
        if mine is None or mine == reserved:
            return None
        return self._conflict("reserved-for-other", cols, i,
                              f"reserved for {who}; both loaded, Kea moves the holder when it "
                              "renews", fails=False)

    def _resolve4(self) -> Iterator[Conflict]:
        import numpy as np

        cols = self._c4
        n = len(cols)
        if n == 0:
            return
        # Memory: the columns are views; each step first finds the few repeated values with one
        # sorted copy of a column and groups only the rows that hold them (a million-lease
        # file without conflicts never pays for a full sort of all keys).
        addr = cols.u32_col(0)
        cltt = cols.u32_col(2)
        alive = np.ones(n, dtype=bool)
        dup = self._repeated(addr)
        if len(dup):
            cand = np.isin(addr, dup)
            for loser, winner in self._group_losers([addr], cltt, cand):
                alive[loser] = False
                yield self._duplicate(cols, loser, winner)
        client = cols.client_col()
        has_client = alive & (client != 0)
        repeated = self._repeated(client, has_client)
        if len(repeated):
            cand = has_client & np.isin(client, repeated)
            subnet = cols.u32_col(1)
            for loser, winner in self._group_losers([subnet, client], cltt, cand):
                alive[loser] = False
                yield self._same_client(cols, loser, winner)
        del has_client
        if self._reserved4:
            reserved = np.fromiter(self._reserved4.keys(), dtype=np.int64,
                                   count=len(self._reserved4))
            for i in np.nonzero(alive & np.isin(addr, reserved))[0].tolist():
                found = self._reserved_for_other(cols, i, self._reserved4[int(addr[i])],
                                                 cols.hw(i), cols.ident(i))
                if found is not None:
                    yield found

    def _resolve6(self) -> Iterator[Conflict]:
        import numpy as np

        cols = self._c6
        n = len(cols)
        if n == 0:
            return
        hi = cols.u64_col(0)
        lo = cols.u64_col(1)
        ltype = cols.u32_col(3)
        cltt = cols.u32_col(1)
        alive = np.ones(n, dtype=bool)
        for loser, winner in self._group_losers([ltype, hi, lo], cltt, alive):
            alive[loser] = False
            yield self._duplicate(cols, loser, winner)
        for i in range(n) if self._reserved6 else ():
            if not alive[i]:
                continue
            found = self._reserved6.get((cols.ltype(i), int(cols.address(i))))
            if found is not None:
                c = self._reserved_for_other(cols, i, found, cols.hw(i), cols.ident(i))
                if c is not None:
                    yield c

    # ---- deciding, past the memory budget ----------------------------------------------------
    # The rows are in the spill file. Each check reads it in chunks and writes the few columns
    # it groups by, with the row's ordinal, into hash partitions (temporary files) of at most
    # about the budget each; all rows of one key land in one partition, in ordinal order, so
    # grouping a partition decides exactly as grouping the whole column would.

    def _chunk_rows(self, family: int) -> int:
        # a quarter of the budget per chunk read, about half per partition: a chunk, the rows
        # picked from it, and later one partition with its sorted copies fit the budget together
        return max(8, self.memory_budget // 4 // _row_dtype(family).itemsize)

    def _partition_losers(self, cols: _Columns, dtype: np.dtype[Any], keys: tuple[str, ...],
                          pick: Callable[[int, npt.NDArray[Any]], npt.NDArray[Any]],
                          group: Callable[[npt.NDArray[Any]], Iterator[tuple[int, int]]],
                          ) -> Iterator[tuple[int, int]]:
        """(loser, winner) ordinals: the rows ``pick(first ordinal, chunk)`` returns (structured
        arrays of ``dtype`` with an ``ord`` field) are hash-partitioned by the fields ``keys``,
        then ``group`` decides each partition on its own (positions within the partition)."""
        import numpy as np

        parts = max(1, -(-len(cols) * dtype.itemsize * 2 // self.memory_budget))
        with contextlib.ExitStack() as stack:
            files = [stack.enter_context(tempfile.TemporaryFile(prefix="kea-etl-conflicts-"))
                     for _ in range(parts)]
            for start, chunk in cols.chunks(self._chunk_rows(cols.family)):
                self._spread(pick(start, chunk), keys, files)
            for fh in files:
                fh.flush()
                fh.seek(0)
                part = np.fromfile(fh, dtype=dtype)
                fh.close()
                ordinals = part["ord"]
                # the partition is freed before the caller turns the pairs into conflicts
                pairs = [(int(ordinals[lose]), int(ordinals[win])) for lose, win in group(part)]
                del part, ordinals
                yield from pairs

    @staticmethod
    def _spread(rows: npt.NDArray[Any], keys: tuple[str, ...], files: Sequence[IO[bytes]]) -> None:
        """Append each row to the partition file its ``keys`` hash to."""
        import numpy as np

        h = np.zeros(len(rows), dtype=np.uint64)
        for k in keys:
            h ^= rows[k].astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        bucket = (h >> np.uint64(40)) % np.uint64(len(files))
        for b, fh in enumerate(files):
            fh.write(rows[bucket == b].tobytes())

    @staticmethod
    def _alive(ordinals: npt.NDArray[Any], lost: list[int]) -> npt.NDArray[np.bool_]:
        import numpy as np

        if not lost:
            return np.ones(len(ordinals), dtype=bool)
        return ~np.isin(ordinals, np.array(lost, dtype=np.int64))

    def _resolve4_spilled(self) -> Iterator[Conflict]:
        import numpy as np

        cols = self._c4
        lost: list[int] = []
        by_addr = np.dtype([("addr", "<u4"), ("cltt", "<u4"), ("ord", "<i8")])

        def addresses(start: int, chunk: npt.NDArray[Any]) -> npt.NDArray[Any]:
            rows = np.empty(len(chunk), dtype=by_addr)
            rows["addr"], rows["cltt"] = chunk["u32"][:, 0], chunk["u32"][:, 2]
            rows["ord"] = np.arange(start, start + len(chunk))
            return rows

        def same_address(part: npt.NDArray[Any]) -> Iterator[tuple[int, int]]:
            addr = part["addr"]
            dup = self._repeated(addr)
            if len(dup):
                yield from self._group_losers([addr], part["cltt"], np.isin(addr, dup))

        for loser, winner in self._partition_losers(cols, by_addr, ("addr",), addresses,
                                                    same_address):
            lost.append(loser)
            yield self._duplicate(cols, loser, winner)
        by_client = np.dtype([("client", "<i8"), ("subnet", "<u4"), ("cltt", "<u4"),
                              ("ord", "<i8")])
        lost_before = list(lost)

        def clients(start: int, chunk: npt.NDArray[Any]) -> npt.NDArray[Any]:
            ordinals = np.arange(start, start + len(chunk))
            keep = (chunk["i64"] != 0) & self._alive(ordinals, lost_before)
            rows = np.empty(int(keep.sum()), dtype=by_client)
            rows["client"], rows["ord"] = chunk["i64"][keep], ordinals[keep]
            rows["subnet"], rows["cltt"] = chunk["u32"][keep, 1], chunk["u32"][keep, 2]
            return rows

        def same_client(part: npt.NDArray[Any]) -> Iterator[tuple[int, int]]:
            client = part["client"]
            repeated = self._repeated(client)
            if len(repeated):
                yield from self._group_losers([part["subnet"], client], part["cltt"],
                                              np.isin(client, repeated))

        for loser, winner in self._partition_losers(cols, by_client, ("client",), clients,
                                                    same_client):
            lost.append(loser)
            yield self._same_client(cols, loser, winner)
        if not self._reserved4:
            return
        reserved = np.fromiter(self._reserved4.keys(), dtype=np.int64, count=len(self._reserved4))
        for start, chunk in cols.chunks(self._chunk_rows(4)):
            addr = chunk["u32"][:, 0]
            ordinals = np.arange(start, start + len(chunk))
            hits = np.isin(addr, reserved) & self._alive(ordinals, lost)
            for j in np.nonzero(hits)[0].tolist():
                row = chunk["u32"][j]
                found = self._reserved_for_other(cols, start + j, self._reserved4[int(row[0])],
                                                 int(row[4]), int(row[5]))
                if found is not None:
                    yield found

    def _resolve6_spilled(self) -> Iterator[Conflict]:
        import numpy as np

        cols = self._c6
        lost: list[int] = []
        by_addr = np.dtype([("hi", "<u8"), ("lo", "<u8"), ("type", "<u4"), ("cltt", "<u4"),
                            ("ord", "<i8")])

        def addresses(start: int, chunk: npt.NDArray[Any]) -> npt.NDArray[Any]:
            rows = np.empty(len(chunk), dtype=by_addr)
            rows["hi"], rows["lo"] = chunk["u64"][:, 0], chunk["u64"][:, 1]
            rows["type"], rows["cltt"] = chunk["u32"][:, 3], chunk["u32"][:, 1]
            rows["ord"] = np.arange(start, start + len(chunk))
            return rows

        def same_address(part: npt.NDArray[Any]) -> Iterator[tuple[int, int]]:
            return self._group_losers([part["type"], part["hi"], part["lo"]], part["cltt"],
                                      np.ones(len(part), dtype=bool))

        for loser, winner in self._partition_losers(cols, by_addr, ("hi", "lo", "type"),
                                                    addresses, same_address):
            lost.append(loser)
            yield self._duplicate(cols, loser, winner)
        if not self._reserved6:
            return
        for start, chunk in cols.chunks(self._chunk_rows(6)):
            alive = self._alive(np.arange(start, start + len(chunk)), lost)
            for j in np.nonzero(alive)[0].tolist():
                row = chunk["u32"][j]
                hi, lo = (int(v) for v in chunk["u64"][j])
                found = self._reserved6.get((int(row[3]), (hi << 64) | lo))
                if found is not None:
                    c = self._reserved_for_other(cols, start + j, found, int(row[4]),
                                                 int(row[5]))
                    if c is not None:
                        yield c


class Numbering(ConflictTracker):
    """The load pass after a conflict pre-pass (a target that cannot take a record back): the
    conflicts are known, so a lease is only given its ordinal (the same the pre-pass gave it,
    the stream being the same); reservations are checked as by the tracker. Spares the load
    pass the tracker's columns (about a tenth of its CPU)."""

    def __init__(self) -> None:
        super().__init__()
        self._count4 = self._count6 = 0

    def observe(self, lease: Lease4 | Lease6, *, source: str | None = None,
                line: int | None = None) -> int:
        if type(lease) is Lease4:
            self._count4 += 1
            return self._count4 - 1
        self._count6 += 1
        return self._count6 - 1

    def resolve(self) -> list[Conflict]:
        raise TypeError("Numbering keeps no leases: resolve the pre-pass's ConflictTracker")
