"""The target Kea's DHCP configuration, read in one place: subnets, shared networks and pools.

Every module that needs subnets, ``pools`` or ``pd-pools`` of a Kea configuration reads them
here, from a configuration file (Kea allows ``//``, ``#`` and ``/* */`` comments in it) or from a
live server's ``config-get`` answer (its ``arguments``, or the whole answer):

* :func:`load_kea_config` reads a file; :func:`sections` gives its ``Dhcp4`` / ``Dhcp6`` sections
  by family.
* :func:`subnets` / :func:`section_subnets` give typed :class:`Subnet` records, with
  :class:`Pool` and :class:`PdPool` parsed and checked. Subnets inside ``shared-networks`` come
  out flattened, with the network's name in :attr:`Subnet.shared_network`.
* :func:`raw_subnets` gives the subnet objects themselves (with their shared network), for the
  few callers that read other parameters (client classes, inheritance) or change a copy of the
  configuration to send back with config-set.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from pathlib import Path
from typing import Any

from kea_etl.errors import ConfigError

__all__ = ["PdPool", "Pool", "Subnet", "load_kea_config", "pool_range", "raw_subnets",
           "section_reservations", "section_subnets", "sections", "strip_json_comments",
           "subnets"]

#: Kea's largest subnet id (0 and 0xFFFFFFFF are reserved)
MAX_SUBNET_ID = 0xFFFFFFFE


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
class Pool:
    """An address pool (``pools``) of a subnet: ``FIRST - LAST`` or ``PREFIX/LEN``."""

    #: as configured, surrounding blanks removed
    text: str
    first: int
    last: int
    pool_id: int = 0

    @property
    def size(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True, slots=True)
class PdPool:
    """A prefix-delegation pool (``pd-pools``) of a v6 subnet."""

    prefix: IPv6Network
    delegated_len: int
    pool_id: int = 0

    @property
    def size(self) -> int:
        """How many prefixes of ``delegated_len`` the pool delegates."""
        return int(2 ** (self.delegated_len - self.prefix.prefixlen))


@dataclass(frozen=True, slots=True)
class Subnet:
    """One subnet of a Kea configuration."""

    id: int
    prefix: IPv4Network | IPv6Network
    #: the name of the shared network it is declared in, if any
    shared_network: str | None = None
    pools: tuple[Pool, ...] = ()
    pd_pools: tuple[PdPool, ...] = field(default=())

    @property
    def family(self) -> int:
        return self.prefix.version


def sections(config: Mapping[str, Any], *, origin: str = "Kea config",
             required: bool = False) -> dict[int, Mapping[str, Any]]:
    """``{4: Dhcp4 section, 6: Dhcp6 section}`` (those present) of a file or config-get answer.

    With ``required``, a configuration with neither section is a :class:`ConfigError`.
    """
    if "arguments" in config and isinstance(config["arguments"], Mapping):
        config = config["arguments"]  # a whole config-get answer
    out: dict[int, Mapping[str, Any]] = {}
    for family in (4, 6):
        section = config.get(f"Dhcp{family}")
        if section is None:
            continue
        if not isinstance(section, Mapping):
            raise ConfigError(f"{origin}: Dhcp{family} is not a JSON object")
        out[family] = section
    if required and not out:
        agent = config.get("Control-agent")
        if isinstance(agent, Mapping):
            # kea-ctrl-agent (2.x, 3.0) answers config-get itself unless a service is named
            sockets = agent.get("control-sockets") or {}
            daemons = [d for d in ("dhcp4", "dhcp6") if d in sockets] or ["dhcp4", "dhcp6"]
            raise ConfigError(f"{origin}: no Dhcp4 or Dhcp6 section: this is kea-ctrl-agent's "
                              "own configuration; name the DHCP daemon behind it with "
                              f"--service {' or '.join(daemons)}")
        raise ConfigError(f"{origin}: no Dhcp4 or Dhcp6 section (is this a Kea DHCP server "
                          "configuration?)")
    return out


def raw_subnets(section: Mapping[str, Any], family: int, *, origin: str = "Kea config"
                ) -> Iterator[tuple[Mapping[str, Any], Mapping[str, Any] | None]]:
    """Each subnet object of a ``Dhcp4`` / ``Dhcp6`` section with its shared network (or None).

    Top-level subnets come first, then those of each shared network in order. The objects are
    the section's own (not copies), so a caller may change them.
    """
    key = f"subnet{family}"
    for subnet in _list(section, key, origin):
        yield subnet, None
    for net in _list(section, "shared-networks", origin):
        for subnet in _list(net, key, f"{origin} shared network {str(net.get('name', '?'))!r}"):
            yield subnet, net


def section_reservations(section: Mapping[str, Any], family: int, *,
                         origin: str = "Kea config") -> Iterator[dict[str, Any]]:
    """The host reservations a ``Dhcp4`` / ``Dhcp6`` section holds, each a copy of its host map
    with ``subnet-id``: the global ones (``reservations`` at the top: subnet id 0, as Kea keeps
    them) first, then each subnet's (shared networks' subnets included). A hosts database the
    section names is not read: callers that need those hosts must ask Kea (host_cmds) or the
    database."""
    for host in _list(section, "reservations", origin):
        yield {**host, "subnet-id": 0}
    for subnet, _net in raw_subnets(section, family, origin=origin):
        for host in _list(subnet, "reservations", f"{origin} subnet {subnet.get('id', '?')}"):
            yield {**host, "subnet-id": int(subnet.get("id", 0))}


def section_subnets(section: Mapping[str, Any], family: int, *,
                    origin: str = "Kea config") -> list[Subnet]:
    """The typed subnets of one ``Dhcp4`` / ``Dhcp6`` section (shared networks flattened)."""
    return [_subnet(family, raw, None if net is None else str(net.get("name", "?")), origin)
            for raw, net in raw_subnets(section, family, origin=origin)]


def subnets(config: Mapping[str, Any], *, origin: str = "Kea config",
            required: bool = False) -> list[Subnet]:
    """The typed subnets of both families of a configuration file's content or config-get."""
    return [sub for family, section in sections(config, origin=origin, required=required).items()
            for sub in section_subnets(section, family, origin=origin)]


def pool_range(text: str, family: int) -> tuple[int, int]:
    """``(first, last)`` of a pool written ``FIRST - LAST`` or ``PREFIX/LEN``; ValueError if not
    one of IPv``family`` addresses (or FIRST > LAST)."""
    text = text.strip()
    if "-" in text:
        lo, hi = (ip_address(p.strip()) for p in text.split("-", 1))
        if lo.version != family or hi.version != family or int(hi) < int(lo):
            raise ValueError(text)
        return int(lo), int(hi)
    net = ip_network(text, strict=False)
    if net.version != family:
        raise ValueError(text)
    return int(net.network_address), int(net.broadcast_address)


def _subnet(family: int, raw: Mapping[str, Any], shared: str | None, origin: str) -> Subnet:
    text = raw.get("subnet")
    where = f"{origin}: subnet {text!r}" + (f" in shared network {shared!r}" if shared else "")
    try:
        prefix = ip_network(str(text), strict=False)
    except ValueError as exc:
        raise ConfigError(f"{where}: not a valid prefix") from exc
    if prefix.version != family:
        raise ConfigError(f"{where}: an IPv{prefix.version} prefix in the Dhcp{family} section")
    sid = raw.get("id")
    if isinstance(sid, bool) or not isinstance(sid, int) or not 1 <= sid <= MAX_SUBNET_ID:
        # Kea 2.x numbers subnets without an id itself, in an order that changes with the
        # configuration: lease subnet ids must not depend on that.
        why = "no 'id'" if sid is None else f"'id' {sid!r} is not 1..{MAX_SUBNET_ID}"
        raise ConfigError(f"{where}: no valid 'id' ({why}; Kea would number it itself and the "
                          "lease file would break when the configuration changes): give every "
                          "subnet an explicit id")
    pools: list[Pool] = []
    for pool in _list(raw, "pools", where):
        try:
            first, last = pool_range(str(pool["pool"]), family)
            pools.append(Pool(str(pool["pool"]).strip(), first, last, int(pool.get("pool-id", 0))))
        except (KeyError, ValueError, TypeError) as exc:
            raise ConfigError(f"{where}: pool {dict(pool)!r} is not 'FIRST - LAST' or a prefix "
                              f"of IPv{family} addresses") from exc
    pd_pools: list[PdPool] = []
    if family == 6:
        for pool in _list(raw, "pd-pools", where):
            try:
                net = IPv6Network(f"{pool['prefix']}/{int(pool['prefix-len'])}", strict=False)
                pd_pools.append(PdPool(net, int(pool["delegated-len"]),
                                       int(pool.get("pool-id", 0))))
            except (KeyError, ValueError, TypeError) as exc:
                raise ConfigError(f"{where}: pd-pool {dict(pool)!r} needs prefix, prefix-len "
                                  "and delegated-len") from exc
    return Subnet(sid, prefix, shared, tuple(pools), tuple(pd_pools))


def _list(obj: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ConfigError(f"{where}: '{key}' must be a list of objects")
    return value
