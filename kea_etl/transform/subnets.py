"""Subnet ids from the *target* Kea configuration: which subnet a lease or reservation belongs to.

A lease's subnet id in Kea must be the id the target server uses, so it is never copied from the
source: it is looked up in the target's ``Dhcp4`` / ``Dhcp6`` configuration (a config file, or the
``arguments`` of a live server's ``config-get``).

* An address goes to the subnet whose prefix contains it. Kea accepts a lease inside a subnet but
  outside its pools, so pools do not matter for addresses. When subnets nest, the longest prefix
  wins.
* A delegated prefix (IA_PD) goes to the subnet whose ``pd-pools`` contain it. Kea itself does not
  check this on lease6-add, but a lease filed under the wrong subnet is not found when the client
  renews.
* Subnets nested in ``shared-networks`` count like top-level ones.

The configuration itself is read by :mod:`kea_etl.kea_config`; this module indexes its subnets
for longest-prefix lookups.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

from kea_etl.errors import ConfigError
from kea_etl.kea_config import Subnet, load_kea_config, section_subnets, sections, strip_json_comments

__all__ = ["Subnet", "SubnetDisagreement", "SubnetMap", "compare_subnets", "load_kea_config",
           "strip_json_comments"]


@dataclass
class _Table:
    """Longest-prefix match over a handful of prefix lengths: ``{plen: {network_int: value}}``."""

    bits: int
    by_len: dict[int, dict[int, int]] = field(default_factory=dict)
    _order: list[tuple[int, int]] = field(default_factory=list)  # (plen, mask), longest first
    #: lookup_many's numpy form of by_len (built on first use, dropped by add)
    _arrays: list[tuple[Any, Any, Any]] | None = field(default=None, repr=False)

    def add(self, net_int: int, plen: int, value: int) -> int | None:
        """Add; returns the value already present for exactly this prefix, if any."""
        table = self.by_len.setdefault(plen, {})
        old = table.get(net_int)
        if old is None:
            table[net_int] = value
            self._arrays = None
            full = (1 << self.bits) - 1
            self._order = sorted(((pl, full ^ ((1 << (self.bits - pl)) - 1))
                                  for pl in self.by_len), reverse=True)
        return old

    def lookup(self, addr_int: int) -> int | None:
        by_len = self.by_len
        for plen, mask in self._order:
            hit = by_len[plen].get(addr_int & mask)
            if hit is not None:
                return hit
        return None

    def lookup_many(self, addresses: Any) -> tuple[Any, Any]:
        """:meth:`lookup` of a uint64 array of addresses at once (tables of at most 64 bits):
        ``(value per address, 0 where none; whether a prefix holds it)``."""
        import numpy as np

        if self._arrays is None:
            self._arrays = []
            for plen, mask in self._order:
                nets = sorted(self.by_len[plen].items())
                self._arrays.append((np.uint64(mask),
                                     np.array([net for net, _ in nets], dtype=np.uint64),
                                     np.array([value for _, value in nets], dtype=np.int64)))
        n = len(addresses)
        values = np.zeros(n, dtype=np.int64)
        found = np.zeros(n, dtype=bool)
        for mask, nets, ids in self._arrays:
            net = addresses & mask
            at = np.minimum(np.searchsorted(nets, net), len(nets) - 1)
            hit = (nets[at] == net) & ~found
            values[hit] = ids[at[hit]]
            found |= hit
        return values, found

    def lookup_max_len(self, addr_int: int, max_len: int) -> int | None:
        """Like :meth:`lookup`, ignoring prefixes longer than ``max_len``."""
        by_len = self.by_len
        for plen, mask in self._order:
            if plen > max_len:
                continue
            hit = by_len[plen].get(addr_int & mask)
            if hit is not None:
                return hit
        return None


class SubnetMap:
    """Address -> subnet id lookups for the target Kea (v4 and/or v6).

    Build it with :meth:`from_config` (a dict with ``Dhcp4`` and/or ``Dhcp6``, or config-get's
    ``arguments``) or :meth:`from_files`. Lookups return ``None`` when no subnet matches.
    """

    def __init__(self) -> None:
        self.subnets: dict[int, dict[int, Subnet]] = {4: {}, 6: {}}
        self._v4 = _Table(32)
        self._v6 = _Table(128)
        self._pd = _Table(128)
        #: per pd-pool table entry: the pool's delegated length, to check the prefix length
        self._pd_info: dict[int, tuple[int, int]] = {}  # index -> (subnet id, delegated len)
        self.sources: dict[int, str] = {}  # family -> where the section came from

    # ---- building -------------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, origin: str = "Kea config") -> SubnetMap:
        smap = cls()
        smap.add_config(config, origin=origin)
        return smap

    @classmethod
    def from_files(cls, paths: Iterable[str | Path]) -> SubnetMap:
        smap = cls()
        for p in paths:
            smap.add_config(load_kea_config(p), origin=str(p))
        return smap

    def add_config(self, config: Mapping[str, Any], *, origin: str = "Kea config") -> None:
        """Add the Dhcp4 and/or Dhcp6 section of ``config`` (a file's content or config-get)."""
        for family, section in sections(config, origin=origin, required=True).items():
            if family in self.sources:
                raise ConfigError(f"{origin}: a Dhcp{family} section was already given "
                                  f"({self.sources[family]}); give one per family")
            self.sources[family] = origin
            for subnet in section_subnets(section, family, origin=origin):
                self._add_subnet(family, subnet, origin)

    def _add_subnet(self, family: int, subnet: Subnet, origin: str) -> None:
        sid, prefix, shared = subnet.id, subnet.prefix, subnet.shared_network
        where = (f"{origin}: subnet {str(prefix)!r}"
                 + (f" in shared network {shared!r}" if shared else ""))
        if sid in self.subnets[family]:
            raise ConfigError(f"{where}: id {sid} is used by subnet "
                              f"{self.subnets[family][sid].prefix} too")
        table = self._v4 if family == 4 else self._v6
        clash = table.add(int(prefix.network_address), prefix.prefixlen, sid)
        if clash is not None:
            raise ConfigError(f"{where}: same prefix as subnet id {clash}")
        self.subnets[family][sid] = subnet
        for pool in subnet.pd_pools:
            net = pool.prefix
            idx = len(self._pd_info)
            clash = self._pd.add(int(net.network_address), net.prefixlen, idx)
            if clash is not None:
                other = self._pd_info[clash][0]
                raise ConfigError(f"{where}: pd-pool {net} is also a pd-pool of subnet id {other}")
            self._pd_info[idx] = (sid, pool.delegated_len)

    # ---- lookups --------------------------------------------------------------------------

    def has_family(self, family: int) -> bool:
        return family in self.sources

    def subnet4_id(self, address: IPv4Address | int) -> int | None:
        return self._v4.lookup(int(address))

    def subnet4_ids(self, addresses: Any) -> tuple[Any, Any]:
        """:meth:`subnet4_id` of a uint64 numpy array of addresses: (ids, 0 where none; whether
        a subnet holds each)."""
        return self._v4.lookup_many(addresses)

    def subnet6_id(self, address: IPv6Address | int) -> int | None:
        return self._v6.lookup(int(address))

    def pd_subnet_id(self, prefix: IPv6Address | int, prefix_len: int) -> int | None:
        """Subnet whose pd-pool contains ``prefix/prefix_len`` (longest pool prefix wins).

        A pool contains the delegated prefix when the pool's prefix-len is not longer than
        ``prefix_len`` and the prefix's network bits match. The pool's delegated-len is not
        required to equal ``prefix_len``: dhcpd may have delegated another size, and Kea still
        renews it in that subnet.
        """
        idx = self._pd.lookup_max_len(int(prefix), prefix_len)
        return None if idx is None else self._pd_info[idx][0]

    def subnet(self, family: int, subnet_id: int) -> Subnet | None:
        return self.subnets[family].get(subnet_id)

    def __len__(self) -> int:
        return len(self.subnets[4]) + len(self.subnets[6])

    def __repr__(self) -> str:
        return f"SubnetMap(v4={len(self.subnets[4])} subnets, v6={len(self.subnets[6])} subnets)"


@dataclass(frozen=True, slots=True)
class SubnetDisagreement:
    """A subnet of the ``--kea-config`` that the live target does not have under the same id."""

    family: int
    prefix: IPv4Network | IPv6Network
    config_id: int
    #: the id the target gives this prefix; None when the target has no such subnet
    target_id: int | None

    def __str__(self) -> str:
        if self.target_id is None:
            return (f"subnet {self.prefix} (id {self.config_id} in the --kea-config): the target "
                    "has no such subnet")
        return (f"subnet {self.prefix}: id {self.config_id} in the --kea-config, id "
                f"{self.target_id} on the target")


def compare_subnets(configured: SubnetMap, target: SubnetMap) -> list[SubnetDisagreement]:
    """Every subnet of ``configured`` whose prefix ``target`` lacks or numbers differently.

    Leases are filed under the ``--kea-config``'s ids; a live Kea with other ids files them
    under another subnet, or refuses them (lease4-add with a subnet id the server lacks). Only
    the families ``configured`` has are compared; subnets only the target has do not matter.
    """
    out: list[SubnetDisagreement] = []
    for family in sorted(configured.sources):
        by_prefix = {sub.prefix: sid for sid, sub in target.subnets[family].items()}
        for sid, sub in sorted(configured.subnets[family].items()):
            got = by_prefix.get(sub.prefix)
            if got != sid:
                out.append(SubnetDisagreement(family, sub.prefix, sid, got))
    return out

