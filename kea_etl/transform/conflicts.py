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
:meth:`ConflictTracker.resolve`, because the newest lease of a client may come last. A loader that
can take back rows it wrote (the memfile loader filters its temp file before the rename) applies
them after one pass; for one that cannot, the orchestrator runs a first pass over the sources
that only tracks, then loads while excluding the losers.

Reservations are checked as they arrive (:meth:`ConflictTracker.check_reservation`): Kea refuses a
configuration with two hosts of the same identifier, or two reservations of the same address, in
one subnet, so the second one fails with ``duplicate-reservation``.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING, Any

from kea_etl.records import STATE_DECLINED, Lease4, Lease6, Reservation
from kea_etl.transform.normalize import Rejected

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["Conflict", "ConflictTracker"]

_TYPE_CODE = {"IA_NA": 0, "IA_TA": 1, "IA_PD": 2}
_MASK64 = (1 << 64) - 1


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


class _Columns:
    """Per-family columns, interleaved to keep appends cheap (one ``extend`` per array).

    ``u32`` rows: v4 ``(address, subnet, cltt, line, hw, ident)``, v6 ``(subnet, cltt, line,
    type, hw, ident)``, where hw is the hardware address fingerprint and ident the client-id
    (v4) or DUID (v6) fingerprint (:func:`_h`); ``i64`` (v4 only): the client identity, a 64-bit
    hash of the client-id, else of the hardware address (0 when declined): the conflict check
    groups by it, so it must not collide; ``u64`` rows (v6 only): ``(address high, address low)``.
    """

    def __init__(self, family: int) -> None:
        self.family = family
        self.u32 = array("I")
        self.i64 = array("q")
        self.u64 = array("Q")
        self.src = array("H")

    def __len__(self) -> int:
        return len(self.src)

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

    def address(self, i: int) -> IPv4Address | IPv6Address:
        if self.family == 4:
            return IPv4Address(self.u32[6 * i])
        return IPv6Address((self.u64[2 * i] << 64) | self.u64[2 * i + 1])

    def subnet(self, i: int) -> int:
        return self.u32[6 * i] if self.family == 6 else self.u32[6 * i + 1]

    def line(self, i: int) -> int:
        return self.u32[6 * i + (3 if self.family == 4 else 2)]

    def ltype(self, i: int) -> int:
        return self.u32[6 * i + 3] if self.family == 6 else 0

    def hw(self, i: int) -> int:
        return self.u32[6 * i + 4]

    def ident(self, i: int) -> int:
        return self.u32[6 * i + 5]


class ConflictTracker:
    """Remembers every lease handed to the loader and decides conflicts at the end."""

    def __init__(self) -> None:
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
        else:
            assert isinstance(lease, Lease6)
            cols = self._c6
            a = int(lease.address)
            cols.u64.extend((a >> 64, a & _MASK64))
            cols.u32.extend((lease.subnet_id, lease.cltt, line or 0, _TYPE_CODE[lease.lease_type],
                             _h(lease.hwaddr), _h(lease.duid)))
        cols.src.append(src)
        return len(cols.src) - 1

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
        out = list(self._resolve4()) + list(self._resolve6())
        out.sort(key=lambda c: (c.family, c.ordinal, c.reason))
        return out

    def _where(self, cols: _Columns, i: int) -> tuple[str | None, int | None]:
        src = self._sources[cols.src[i]] or None
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
                yield self._conflict("duplicate-address", cols, loser,
                                     "newer lease for the same address: "
                                     f"{self._describe(cols, winner)}")
        client = cols.client_col()
        has_client = alive & (client != 0)
        repeated = self._repeated(client, has_client)
        if len(repeated):
            cand = has_client & np.isin(client, repeated)
            subnet = cols.u32_col(1)
            for loser, winner in self._group_losers([subnet, client], cltt, cand):
                alive[loser] = False
                yield self._conflict("conflict", cols, loser,
                                     f"the same client holds a newer lease in subnet "
                                     f"{cols.subnet(loser)}: {self._describe(cols, winner)}")
        del has_client
        if self._reserved4:
            reserved = np.fromiter(self._reserved4.keys(), dtype=np.int64,
                                   count=len(self._reserved4))
            for i in np.nonzero(alive & np.isin(addr, reserved))[0].tolist():
                ident_type, ident, who = self._reserved4[int(addr[i])]
                mine = {"hw-address": cols.hw(i), "client-id": cols.ident(i)}.get(ident_type)
                if mine is not None and mine != ident:
                    yield self._conflict("reserved-for-other", cols, i,
                                         f"reserved for {who}; both loaded, Kea moves the holder "
                                         "when it renews", fails=False)

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
            yield self._conflict("duplicate-address", cols, loser,
                                 f"newer lease for the same address: {self._describe(cols, winner)}")
        for i in range(n) if self._reserved6 else ():
            if not alive[i]:
                continue
            found = self._reserved6.get((cols.ltype(i), int(cols.address(i))))
            if found is None:
                continue
            ident_type, ident, who = found
            mine = {"hw-address": cols.hw(i), "duid": cols.ident(i)}.get(ident_type)
            if mine is not None and mine != ident:
                yield self._conflict("reserved-for-other", cols, i,
                                     f"reserved for {who}; both loaded, Kea moves the holder when "
                                     "it renews", fails=False)
