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

Kea's configuration files may carry ``//``, ``#`` and ``/* */`` comments;
:func:`strip_json_comments` removes them without touching string contents.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from pathlib import Path
from typing import Any

from kea_etl.errors import ConfigError

__all__ = ["Subnet", "SubnetDisagreement", "SubnetMap", "compare_subnets", "load_kea_config",
           "strip_json_comments"]


def strip_json_comments(text: str) -> str:
    """Remove Kea-style comments (``//``, ``#`` to end of line, ``/* ... */``) outside strings.

    Line structure is kept (a block comment's newlines survive) so JSON error positions still
    point at the right line of the original file.
    """
    out: list[str] = []
    i, n = 0, len(text)
    start = 0
    while i < n:
        c = text[i]
        if c == '"':
            # skip the string, honouring backslash escapes
            i += 1
            while i < n:
                ch = text[i]
                if ch == "\\":
                    i += 2
                    continue
                if ch == '"':
                    break
                i += 1
            i += 1
            continue
        if c == "#" or (c == "/" and text.startswith("//", i)):
            out.append(text[start:i])
            j = text.find("\n", i)
            i = n if j < 0 else j
            start = i
            continue
        if c == "/" and text.startswith("/*", i):
            out.append(text[start:i])
            j = text.find("*/", i + 2)
            end = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, end))
            i = start = end
            continue
        i += 1
    out.append(text[start:])
    return "".join(out)


def _looks_like(text: str) -> str | None:
    """What an ISC file given where a Kea configuration belongs is (dhcpd's own sniffers)."""
    from kea_etl.extract import isc_conf, isc_leases

    head = text[:4096].encode("utf-8", "replace")
    if isc_leases.sniff(head):
        return "a dhcpd lease file"
    if isc_conf.sniff(head):
        return "a dhcpd.conf (ISC dhcpd's configuration)"
    return None


def load_kea_config(path: str | Path) -> dict[str, Any]:
    """Read a Kea JSON configuration file (comments allowed). Raises :class:`ConfigError`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read Kea config {p}: {exc.strerror or exc}") from exc
    if "<?include" in text:
        raise ConfigError(f"Kea config {p} uses <?include ...?>: kea-etl does not follow includes; "
                          "pass the configuration as config-get prints it")
    try:
        data = json.loads(strip_json_comments(text))
    except json.JSONDecodeError as exc:
        looks = _looks_like(text)
        if looks:
            raise ConfigError(f"Kea config {p}: this looks like {looks}, not a Kea configuration "
                              "(JSON with a Dhcp4 or Dhcp6 section); give the ISC file as a "
                              "SOURCE and the target Kea's kea-dhcp4.json / kea-dhcp6.json as "
                              "--kea-config") from exc
        raise ConfigError(f"Kea config {p} line {exc.lineno} column {exc.colno}: not valid JSON "
                          f"({exc.msg})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"Kea config {p}: expected a JSON object with a Dhcp4 or Dhcp6 section")
    return data


@dataclass(frozen=True, slots=True)
class Subnet:
    """One subnet of the target configuration."""

    id: int
    prefix: IPv4Network | IPv6Network
    shared_network: str | None = None
    #: (pool prefix, delegated length) of each pd-pool (v6 only)
    pd_pools: tuple[tuple[IPv6Network, int], ...] = ()

    @property
    def family(self) -> int:
        return self.prefix.version


@dataclass
class _Table:
    """Longest-prefix match over a handful of prefix lengths: ``{plen: {network_int: value}}``."""

    bits: int
    by_len: dict[int, dict[int, int]] = field(default_factory=dict)
    _order: list[tuple[int, int]] = field(default_factory=list)  # (plen, mask), longest first

    def add(self, net_int: int, plen: int, value: int) -> int | None:
        """Add; returns the value already present for exactly this prefix, if any."""
        table = self.by_len.setdefault(plen, {})
        old = table.get(net_int)
        if old is None:
            table[net_int] = value
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
        if "arguments" in config and isinstance(config["arguments"], Mapping):
            config = config["arguments"]  # a whole config-get answer
        found = False
        for family, section_name in ((4, "Dhcp4"), (6, "Dhcp6")):
            section = config.get(section_name)
            if section is None:
                continue
            if not isinstance(section, Mapping):
                raise ConfigError(f"{origin}: {section_name} is not a JSON object")
            if family in self.sources:
                raise ConfigError(f"{origin}: a {section_name} section was already given "
                                  f"({self.sources[family]}); give one per family")
            self.sources[family] = origin
            self._add_section(family, section, origin)
            found = True
        if not found:
            raise ConfigError(f"{origin}: no Dhcp4 or Dhcp6 section (is this a Kea DHCP server "
                              "configuration?)")

    def _add_section(self, family: int, section: Mapping[str, Any], origin: str) -> None:
        key = "subnet4" if family == 4 else "subnet6"
        for subnet in _list(section, key, origin):
            self._add_subnet(family, subnet, None, origin)
        for net in _list(section, "shared-networks", origin):
            name = str(net.get("name", "?"))
            for subnet in _list(net, key, f"{origin} shared network {name!r}"):
                self._add_subnet(family, subnet, name, origin)

    def _add_subnet(self, family: int, raw: Mapping[str, Any], shared: str | None,
                    origin: str) -> None:
        text = raw.get("subnet")
        where = f"{origin}: subnet {text!r}" + (f" in shared network {shared!r}" if shared else "")
        try:
            prefix = ip_network(str(text), strict=False)
        except ValueError as exc:
            raise ConfigError(f"{where}: not a valid prefix") from exc
        if prefix.version != family:
            raise ConfigError(f"{where}: an IPv{prefix.version} prefix in the Dhcp{family} section")
        sid = raw.get("id")
        if isinstance(sid, bool) or not isinstance(sid, int) or not 1 <= sid <= 0xFFFFFFFE:
            # Kea 2.x numbers subnets without an id itself, in an order that changes with the
            # configuration: lease subnet ids must not depend on that.
            raise ConfigError(f"{where}: no valid 'id' (Kea would number it itself and the lease "
                              "file would break when the configuration changes): give every "
                              "subnet an explicit id")
        if sid in self.subnets[family]:
            raise ConfigError(f"{where}: id {sid} is used by subnet "
                              f"{self.subnets[family][sid].prefix} too")
        pd_pools: list[tuple[IPv6Network, int]] = []
        if family == 6:
            for pool in _list(raw, "pd-pools", where):
                try:
                    net = IPv6Network(f"{pool['prefix']}/{int(pool['prefix-len'])}", strict=False)
                    dlen = int(pool["delegated-len"])
                except (KeyError, ValueError, TypeError) as exc:
                    raise ConfigError(f"{where}: pd-pool {dict(pool)!r} needs prefix, prefix-len "
                                      "and delegated-len") from exc
                pd_pools.append((net, dlen))
        subnet = Subnet(sid, prefix, shared, tuple(pd_pools))
        table = self._v4 if family == 4 else self._v6
        clash = table.add(int(prefix.network_address), prefix.prefixlen, sid)
        if clash is not None:
            raise ConfigError(f"{where}: same prefix as subnet id {clash}")
        self.subnets[family][sid] = subnet
        for net, dlen in pd_pools:
            idx = len(self._pd_info)
            clash = self._pd.add(int(net.network_address), net.prefixlen, idx)
            if clash is not None:
                other = self._pd_info[clash][0]
                raise ConfigError(f"{where}: pd-pool {net} is also a pd-pool of subnet id {other}")
            self._pd_info[idx] = (sid, dlen)

    # ---- lookups --------------------------------------------------------------------------

    def has_family(self, family: int) -> bool:
        return family in self.sources

    def subnet4_id(self, address: IPv4Address | int) -> int | None:
        return self._v4.lookup(int(address))

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


def _list(obj: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    value = obj.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ConfigError(f"{where}: '{key}' must be a list of objects")
    return value
