"""dnsmasq extractor: ``dnsmasq.leases`` -> ``Lease4`` / ``Lease6``, and a dnsmasq configuration's
``dhcp-host=`` lines -> ``Reservation`` records.

``extract(path)`` (``dnsmasq:PATH``, or a plain path detected by :func:`sniff`) looks at the file's
content and reads it as a lease file or as a configuration.

**Lease file** (written by dnsmasq's ``lease_update_file()`` in ``src/lease.c``; one lease a line,
fields separated by one space, ``*`` for an unknown hostname or client-id):

* v4: ``EXPIRY MAC IP HOSTNAME CLIENT-ID``. ``EXPIRY`` is the end of the lease in UTC epoch
  seconds, ``0`` for an infinite lease. The MAC is colon hex; for a hardware type other than
  Ethernet (or no hardware address at all) dnsmasq puts the ARP type in front: ``06-00:11:..``.
  Kea keeps a bare hardware address, so the type prefix is dropped (a warning says so when it is
  not Ethernet); a lease without any hardware address is read and then skipped by the transform
  (``no-hwaddr``: Kea drops such leases).
* ``duid SERVER-DUID``: dnsmasq's own DUID, written once before the v6 leases. It is no lease;
  kea-etl keeps it in ``Extracted.extra["server_duid"]`` of the v6 leases (Kea has its own).
* v6: ``EXPIRY IAID IP HOSTNAME DUID``, ``IAID`` in decimal, prefixed ``T`` for a temporary
  address (IA_TA: read, then skipped by the transform, Kea has none). dnsmasq does not delegate
  prefixes and does not write a v6 client's MAC.

dnsmasq keeps only when a lease ends, not when it began or how long it is. kea-etl keeps the
expiry exactly (what the client holds). Without ``lease_time`` the lease is taken as last renewed
when it is read: ``cltt`` = now (:func:`kea_etl.clock.now`), ``valid_lft`` = the time left, so
Kea never sees a client-last-transaction time in the future; a lease already expired gets
``cltt = expiry - 3600`` (dnsmasq's default lease time) and is then skipped by the transform.
With ``lease_time`` (the ``dhcp-range``'s time, when known) ``cltt = expiry - lease_time``. An
infinite lease is Kea's infinite lifetime (``0xFFFFFFFF``) with ``cltt`` 0. (dnsmasq built with
``HAVE_BROKEN_RTC`` writes the lease *length* instead of the expiry; such a file shows small
numbers and would read as long expired.)

**Configuration** (dnsmasq(8), ``--dhcp-host`` and ``--dhcp-range``):
``dhcp-host=[HWADDR,...][,id:CLIENT-ID|*][,set:TAG][,tag:TAG][,IPADDR][,[IPV6ADDR]][,HOSTNAME]
[,LEASE-TIME][,ignore]`` becomes a reservation:

* identifier: ``id:`` (hex ``01:02:03`` or text, as its bytes) -> ``client-id`` (v4) / ``duid``
  (v6); else the first MAC -> ``hw-address``. ``id:*`` (ignore the client-id) leaves the MAC.
  A host with both keeps the client-id (Kea holds one identifier per reservation, as for dhcpd
  hosts; ``extra["alt_identifiers"]`` keeps the MAC) with a warning; further MACs are warnings.
* an IPv4 address -> a v4 reservation; ``[IPv6]`` addresses -> a v6 reservation (a host with
  both yields both); a partial ``[::56]`` takes the network of the only v6 ``dhcp-range``;
  no address: a hostname-only reservation (Kea: global or per subnet, subnet id 0).
* ``set:TAG`` -> ``client-classes`` (a Kea host assigns its classes as dnsmasq sets tags).
* hostname -> ``hostname``.
* what Kea cannot hold per host is a :class:`~kea_etl.report.SourceWarning` with file and line:
  a lease time (Kea sets lifetimes per subnet or class), ``tag:`` conditions, extra MACs.
* no usable identifier (hostname only: dnsmasq matches the name the client sends; a wildcard MAC;
  ``ignore``; an address prefix ``[x::/126]``) -> :class:`MalformedRecordError` with the reason.

``dhcp-range`` lines are no records: they are Kea subnets and pools, written into the Kea
configuration, not loaded. :func:`subnet_hints` returns them (network, pool, lease time, tags)
for a pre-flight check, each reservation carries ``extra["dnsmasq_range"]`` (the range whose
network holds its address), and each range line is reported as a SourceWarning naming the subnet
and pool to configure in Kea. Every other setting (DNS, ``dhcp-option``, ``conf-file``, ...) is
reported as a SourceWarning with its file and line; nothing is dropped silently. A
``--dhcp-hostsfile`` (one dhcp-host value a line, without ``dhcp-host=``) is read the same way
when named ``dnsmasq:PATH``; ``conf-file=`` / ``conf-dir=`` / ``dhcp-hostsfile=`` lines are
reported, not followed (their paths are the dnsmasq machine's): name those files as sources.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
)
from pathlib import Path
from typing import Any

from kea_etl import clock
from kea_etl._files import open_regular
from kea_etl.errors import ConfigError, InvalidValueError, MalformedRecordError
from kea_etl.extract.base import Extracted, ExtractItem
from kea_etl.records import INFINITE_LIFETIME, Lease4, Lease6, Reservation, canonical_hex
from kea_etl.report import SourceWarning

__all__ = ["DEFAULT_LEASE_TIME", "DhcpRange", "extract", "extract_conf", "extract_leases",
           "lease_line", "parse_lease_line", "sniff", "subnet_hints"]

#: dnsmasq's own default lease time (dnsmasq(8): "the default lease time is one hour")
DEFAULT_LEASE_TIME = 3600
_ARPHRD_ETHER = 1

_HEX = r"[0-9a-fA-F]{1,2}(?::[0-9a-fA-F]{1,2})*"
_V4_LINE = re.compile(rb"^\d+ (?:[0-9a-fA-F]{2}-)?(?:[0-9a-fA-F]{1,2}(?::[0-9a-fA-F]{1,2})*)? "
                      rb"\d{1,3}(?:\.\d{1,3}){3} \S+ \S+\s*$", re.MULTILINE)
_V6_LINE = re.compile(rb"^\d+ T?\d+ [0-9a-fA-F:.]*:[0-9a-fA-F:.]* \S+ \S+\s*$", re.MULTILINE)
_DUID_LINE = re.compile(rb"^duid [0-9a-fA-F]{2}(?::[0-9a-fA-F]{2})*\s*$", re.MULTILINE)
_CONF_LINE = re.compile(rb"^\s*(?:dhcp-host|dhcp-range|dhcp-option|dhcp-leasefile|dhcp-authoritative"
                        rb"|dhcp-hostsfile|dhcp-optsfile|dhcp-boot|dhcp-lease-max|domain-needed"
                        rb"|bogus-priv|no-resolv|interface|listen-address|bind-interfaces)(?:=|\s*$)",
                        re.MULTILINE)


def sniff(head: bytes) -> bool:
    """True for a dnsmasq lease file (its first line is a v4 or v6 lease or the ``duid`` line)
    or a dnsmasq configuration (``dhcp-host=``, ``dhcp-range=`` ... at the start of a line)."""
    if b"\x00" in head:
        return False
    return _is_lease_file(head) or bool(_CONF_LINE.search(head))


def _is_lease_file(head: bytes) -> bool:
    first = next((ln for ln in head.splitlines() if ln.strip()), b"")
    return any(rx.fullmatch(first.strip()) for rx in (_V4_LINE, _V6_LINE, _DUID_LINE))


def extract(path: str | Path, *, lease_time: int | None = None) -> Iterator[ExtractItem]:
    """Stream a dnsmasq lease file or configuration (told apart by content)."""
    p = Path(path)
    try:
        with open_regular(p, what="dnsmasq file") as fh:  # a FIFO or device never ends
            head = fh.read(4096)
    except OSError as exc:
        raise ConfigError(f"cannot read dnsmasq file {p}: {exc.strerror or exc}") from exc
    if _is_lease_file(head):
        return extract_leases(p, lease_time=lease_time)
    if not head.strip():  # an empty lease file: dnsmasq writes one before its first lease
        return iter(())
    return extract_conf(p)


# ---- lease file --------------------------------------------------------------------------------


def parse_lease_line(line: str, *, lease_time: int | None = None, now: int | None = None,
                     family: int | None = None) -> Lease4 | Lease6:
    """One lease line -> ``Lease4`` / ``Lease6``. Raises ``ValueError`` (or
    :class:`InvalidValueError`) with the reason for a line that is not a lease.

    ``lease_time`` / ``now``: how ``cltt`` and ``valid_lft`` are made (module docstring).
    ``family`` forces the reading (dnsmasq writes v6 lines only after the ``duid`` line); without
    it an IPv4 address in the third field means v4."""
    fields = line.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (EXPIRY MAC|IAID IP HOSTNAME CLIENT-ID|DUID), "
                         f"found {len(fields)}")
    expiry_s, second, addr_s, host, ident = fields
    if not expiry_s.isdigit():
        raise ValueError(f"expiry {expiry_s!r} is not epoch seconds")
    expiry = int(expiry_s)
    if expiry > 0xFFFFFFFF:
        raise ValueError(f"expiry {expiry} does not fit Kea's 32-bit times")
    if expiry == 0:
        cltt, valid = 0, INFINITE_LIFETIME
    elif lease_time is not None:
        valid = min(lease_time, expiry)
        cltt = expiry - valid
    else:
        at = clock.now() if now is None else now
        if expiry > at:
            cltt, valid = at, expiry - at
        else:
            valid = min(DEFAULT_LEASE_TIME, expiry)
            cltt = expiry - valid
    hostname = "" if host == "*" else host
    try:
        addr = ip_address(addr_s)
    except ValueError:
        raise ValueError(f"{addr_s!r} is not an IP address") from None
    if family is None:
        family = 4 if isinstance(addr, IPv4Address) else 6
    if family == 4:
        if not isinstance(addr, IPv4Address):
            raise ValueError(f"{addr_s} is not an IPv4 address")
        hwaddr = second
        if re.fullmatch(r"[0-9a-fA-F]{2}-.*", hwaddr):
            hwaddr = hwaddr[3:]
        return Lease4(address=addr, hwaddr=hwaddr or None,
                      client_id=None if ident == "*" else ident,
                      valid_lft=valid, cltt=cltt, hostname=hostname)
    if not isinstance(addr, IPv6Address):
        raise ValueError(f"{addr_s} after the duid line is not an IPv6 address")
    temporary = second.startswith("T")
    iaid_s = second[1:] if temporary else second
    if not iaid_s.isdigit():
        raise ValueError(f"IAID {second!r} is not a decimal number")
    if ident == "*":
        raise ValueError("a v6 lease without the client's DUID")
    return Lease6(address=addr, duid=ident, iaid=int(iaid_s), valid_lft=valid,
                  preferred_lft=valid if valid != INFINITE_LIFETIME else INFINITE_LIFETIME,
                  cltt=cltt, lease_type="IA_TA" if temporary else "IA_NA", hostname=hostname)


def lease_line(lease: Lease4 | Lease6, *, hwtype: int = _ARPHRD_ETHER) -> str:
    """The line dnsmasq writes for ``lease`` (the inverse of :func:`parse_lease_line`)."""
    expiry = 0 if lease.valid_lft == INFINITE_LIFETIME else lease.expire
    host = lease.hostname or "*"
    if isinstance(lease, Lease4):
        mac = lease.hwaddr or ""
        if hwtype != _ARPHRD_ETHER or not mac:
            mac = f"{hwtype:02x}-{mac}"
        return f"{expiry} {mac} {lease.address} {host} {lease.client_id or '*'}"
    iaid = ("T" if lease.lease_type == "IA_TA" else "") + str(lease.iaid)
    return f"{expiry} {iaid} {lease.address} {host} {lease.duid}"


def extract_leases(path: str | Path, *, lease_time: int | None = None
                   ) -> Iterator[ExtractItem]:
    """Stream the leases of a ``dnsmasq.leases`` file (see the module docstring)."""
    p = Path(path)
    now = clock.now()  # one "now" for the whole file
    source = str(p)
    server_duid: str | None = None
    try:
        fh = io.TextIOWrapper(open_regular(p, what="dnsmasq lease file"), encoding="utf-8",
                              errors="surrogateescape")
    except OSError as exc:
        raise ConfigError(f"cannot read dnsmasq lease file {p}: {exc.strerror or exc}") from exc
    with fh:
        for lineno, raw in enumerate(fh, 1):
            line = raw.strip()
            if not line:
                continue
            if line.startswith("duid "):
                try:
                    server_duid = canonical_hex(line[5:].strip(), "server duid")
                except InvalidValueError as exc:
                    yield SourceWarning(source, lineno, _clip(line),
                                        f"not translated: not a DUID ({exc.reason})")
                    continue
                yield SourceWarning(source, lineno, _clip(line),
                                    "not translated: dnsmasq's own server DUID (Kea has its own "
                                    "server-id; clients accept a new one at their next "
                                    "solicit/rebind)")
                continue
            key = line.split()[2] if len(line.split()) > 2 else None
            try:
                rec = parse_lease_line(line, lease_time=lease_time, now=now,
                                       family=6 if server_duid is not None else None)
            except (ValueError, InvalidValueError) as exc:
                yield MalformedRecordError(source, lineno, key, _text(exc))
                continue
            extra: dict[str, Any] = {}
            notes: tuple[SourceWarning, ...] = ()
            if isinstance(rec, Lease6) and server_duid is not None:
                extra["server_duid"] = server_duid
            if isinstance(rec, Lease4):
                hw = line.split()[1]
                if re.fullmatch(r"[0-9a-fA-F]{2}-.*", hw) and int(hw[:2], 16) != _ARPHRD_ETHER \
                        and rec.hwaddr:
                    notes = (SourceWarning(
                        source, lineno, hw, f"translated with a change: hardware type "
                        f"{int(hw[:2], 16)} dropped (Kea keeps the address bytes only)",
                        rec.key),)
            rec = _with_origin(rec, source, lineno)
            yield Extracted(rec, source=source, line=lineno, extra=extra, warnings=notes)


def _with_origin(rec: Any, source: str, line: int) -> Any:
    object.__setattr__(rec, "origin", source)
    object.__setattr__(rec, "line", line)
    return rec


def _text(exc: Exception) -> str:
    return str(exc)


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more characters)"


# ---- configuration -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DhcpRange:
    """One ``dhcp-range`` of a dnsmasq configuration: what a Kea subnet and pool need."""

    network: IPv4Network | IPv6Network
    start: IPv4Address | IPv6Address
    end: IPv4Address | IPv6Address | None
    #: seconds; ``0xFFFFFFFF`` for infinite; None when the line gives none (dnsmasq: 1 h)
    lease_time: int | None
    mode: str = ""            # static, proxy, ra-only, slaac, ... ("" for a plain range)
    tags: tuple[str, ...] = ()
    source: str = ""
    line: int | None = None

    @property
    def pool(self) -> str | None:
        """The Kea pool (``a - b``), or None for a ``static`` range (reservations only)."""
        if self.mode == "static" or self.end is None:
            return None
        return f"{self.start} - {self.end}"


_TIME = re.compile(r"^(\d+)([smhdw]?)$", re.IGNORECASE)
_TIME_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_V6_MODES = {"static", "ra-only", "slaac", "ra-names", "ra-stateless", "ra-advrouter", "off-link"}
_V4_MODES = {"static", "proxy"}


def _lease_time(text: str) -> int | None:
    t = text.strip().lower()
    if t in ("infinite", "deprecated"):
        return INFINITE_LIFETIME if t == "infinite" else 0
    m = _TIME.match(t)
    if not m:
        return None
    return int(m.group(1)) * _TIME_UNITS[m.group(2)]


def _strip_tags(parts: list[str]) -> tuple[list[str], list[str], list[str]]:
    """Split off leading ``set:X`` / ``tag:X`` / ``net:X`` fields: (rest, set tags, if tags)."""
    sets: list[str] = []
    ifs: list[str] = []
    while parts and re.match(r"^(set|tag|net):", parts[0]):
        kind, _, name = parts.pop(0).partition(":")
        (ifs if kind == "tag" else sets).append(name)
    return parts, sets, ifs


def parse_dhcp_range(value: str, *, source: str = "", line: int | None = None) -> DhcpRange:
    """One ``dhcp-range=`` value -> :class:`DhcpRange`. Raises ``ValueError`` with the reason."""
    parts, sets, ifs = _strip_tags([p.strip() for p in value.split(",")])
    if not parts:
        raise ValueError("no start address")
    start = ip_address(parts.pop(0))
    end: IPv4Address | IPv6Address | None = None
    mode = ""
    lease_time: int | None = None
    if isinstance(start, IPv4Address):
        mask = "255.255.255.0"  # dnsmasq derives it from the interface; /24 is the common case
        if parts and parts[0] in _V4_MODES:
            mode = parts.pop(0)
        elif parts:
            end = IPv4Address(parts.pop(0))
        if parts and parts[0] in _V4_MODES:
            mode = parts.pop(0)
        if parts and re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", parts[0]):
            mask = parts.pop(0)
            if parts and re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", parts[0]):
                parts.pop(0)  # broadcast
        if parts:
            lease_time = _lease_time(parts.pop(0))
        if parts:
            raise ValueError(f"unexpected {','.join(parts)!r}")
        net: IPv4Network | IPv6Network = IPv4Network(f"{start}/{mask}", strict=False)
    else:
        if parts and parts[0].startswith("constructor:"):
            raise ValueError("a constructed range (constructor:IFACE) takes its network from an "
                             "interface; write the subnet into Kea by hand")
        if parts and parts[0] not in _V6_MODES and not parts[0].isdigit():
            end = IPv6Address(parts.pop(0))
        while parts and parts[0] in _V6_MODES:
            mode = mode or parts.pop(0)
        plen = 64
        if parts and parts[0].isdigit() and int(parts[0]) <= 128 and not _TIME.match(parts[0] + "x"):
            plen = int(parts.pop(0))
        if parts:
            lease_time = _lease_time(parts.pop(0))
        if parts:
            raise ValueError(f"unexpected {','.join(parts)!r}")
        net = IPv6Network(f"{start}/{plen}", strict=False)
    if end is not None and end not in net:
        raise ValueError(f"end {end} is outside {net}")
    return DhcpRange(net, start, end, lease_time, mode, tuple(sets + ifs), source, line)


def _conf_lines(path: Path) -> Iterator[tuple[int, str, str, str]]:
    """(line number, raw line, key, value) of each setting; comments and blank lines skipped."""
    try:
        fh = io.TextIOWrapper(open_regular(path, what="dnsmasq configuration"), encoding="utf-8",
                              errors="surrogateescape")
    except OSError as exc:
        raise ConfigError(f"cannot read dnsmasq configuration {path}: {exc.strerror or exc}") from exc
    with fh:
        for lineno, raw in enumerate(fh, 1):
            text = raw.strip()
            if not text or text.startswith("#"):
                continue
            # dnsmasq ends a line at an unquoted '#' that follows whitespace (option.c, one_file)
            text = re.sub(r"\s+#.*$", "", text)
            if "=" not in text and "," in text:
                # a --dhcp-hostsfile line: a dhcp-host value without the key (no option of the
                # configuration itself has a comma but no '=')
                yield lineno, text, "dhcp-host", text
                continue
            key, _, value = text.partition("=")
            yield lineno, text, key.strip(), value.strip()


def subnet_hints(path: str | Path) -> list[DhcpRange]:
    """The ``dhcp-range`` lines of a dnsmasq configuration (malformed ones left out; the
    extractor reports them)."""
    p = Path(path)
    out = []
    for lineno, _raw, key, value in _conf_lines(p):
        if key == "dhcp-range":
            try:
                out.append(parse_dhcp_range(value, source=str(p), line=lineno))
            except ValueError:
                continue
    return out


_MAC = re.compile(r"^(?:[0-9a-fA-F]{2}-)?(?:[0-9a-fA-F*]{1,2}(?::[0-9a-fA-F*]{1,2}){5,19})$")


@dataclass
class _Host:
    macs: list[str] = field(default_factory=list)
    client_id: str | None = None
    ignore_client_id: bool = False
    sets: list[str] = field(default_factory=list)
    ifs: list[str] = field(default_factory=list)
    v4: IPv4Address | None = None
    v6: list[str] = field(default_factory=list)
    hostname: str = ""
    lease_time: str | None = None
    ignore: bool = False


def _client_id(text: str) -> str:
    """``id:`` value -> colon hex: hex bytes as written, else the text's bytes (dnsmasq: "it is
    also allowed to specify the client ID as text")."""
    if re.fullmatch(r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2})*", text):
        return text.lower()
    hexed = canonical_hex(text.encode("utf-8"), "client-id")
    assert hexed is not None
    return hexed


def parse_dhcp_host(value: str) -> _Host:
    """One ``dhcp-host=`` value -> its fields. Raises ``ValueError`` for a field it cannot place."""
    host = _Host()
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        low = part.lower()
        if low.startswith("id:"):
            cid = part[3:]
            if cid == "*":
                host.ignore_client_id = True
            else:
                host.client_id = _client_id(cid)
        elif low.startswith(("set:", "net:")):
            host.sets.append(part[4:])
        elif low.startswith("tag:"):
            host.ifs.append(part[4:])
        elif low == "ignore":
            host.ignore = True
        elif part.startswith("["):
            host.v6.append(part.strip("[]"))
        elif _MAC.match(part):
            host.macs.append(part)
        elif re.fullmatch(r"\d{1,3}(?:\.\d{1,3}){3}", part):
            host.v4 = IPv4Address(part)
        elif _lease_time(part) is not None and (low == "infinite" or re.fullmatch(r"\d+[smhdw]?", low)):
            host.lease_time = part
        elif re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*", part):
            if host.hostname:
                raise ValueError(f"a second hostname {part!r}")
            host.hostname = part
        else:
            raise ValueError(f"cannot tell what {part!r} is")
    return host


def extract_conf(path: str | Path) -> Iterator[ExtractItem]:
    """Stream the ``dhcp-host`` reservations of a dnsmasq configuration file."""
    p = Path(path)
    source = str(p)
    ranges: list[DhcpRange] = []
    lines = list(_conf_lines(p))  # a configuration is small; ranges are needed before hosts
    for lineno, _raw, key, value in lines:
        if key == "dhcp-range":
            with contextlib.suppress(ValueError):  # reported in the second pass
                ranges.append(parse_dhcp_range(value, source=source, line=lineno))
    v6_nets = [r.network for r in ranges if isinstance(r.network, IPv6Network)]
    for lineno, raw, key, value in lines:
        if key == "dhcp-host":
            yield from _host_items(value, raw, source, lineno, ranges, v6_nets)
        elif key == "dhcp-range":
            try:
                r = parse_dhcp_range(value, source=source, line=lineno)
            except ValueError as exc:
                yield SourceWarning(source, lineno, _clip(raw), f"not translated: {exc}")
                continue
            what = f"Kea subnet {r.network}"
            what += f", pool {r.pool}" if r.pool else " (no pool: reservations only)"
            if r.lease_time is not None:
                what += f", valid-lifetime {r.lease_time}"
            yield SourceWarning(source, lineno, _clip(raw),
                                f"not loaded: a range is Kea configuration, not a record; "
                                f"configure {what} (kea_etl.extract.dnsmasq.subnet_hints)")
        else:
            yield SourceWarning(source, lineno, _clip(raw),
                                "not translated: kea-etl carries dnsmasq's dhcp-host "
                                "reservations only")


def _host_items(value: str, raw: str, source: str, lineno: int, ranges: list[DhcpRange],
                v6_nets: list[IPv6Network]) -> Iterator[ExtractItem]:
    try:
        h = parse_dhcp_host(value)
    except (ValueError, InvalidValueError) as exc:
        yield MalformedRecordError(source, lineno, None, f"dhcp-host: {_text(exc)}")
        return
    key = h.hostname or (h.macs[0] if h.macs else h.client_id)
    if h.ignore:
        yield MalformedRecordError(source, lineno, key, "dhcp-host ...,ignore: Kea has no "
                                   "per-host 'ignore' (use a client class that drops the "
                                   "client); not loaded")
        return
    macs = []
    for mac in h.macs:
        if "*" in mac:
            yield MalformedRecordError(source, lineno, key, f"wildcard MAC {mac}: Kea reserves "
                                       "for one exact identifier")
            return
        macs.append(mac[3:] if re.match(r"^[0-9a-fA-F]{2}-", mac) else mac)
    warnings: list[SourceWarning] = []
    if h.lease_time is not None:
        warnings.append(SourceWarning(source, lineno, h.lease_time, "not translated: Kea sets "
                                      "lease lifetimes per subnet or client class, not per host",
                                      key))
    for tag in h.ifs:
        warnings.append(SourceWarning(source, lineno, f"tag:{tag}", "not translated: Kea "
                                      "reservations have no condition on client classes", key))
    alt: list[str] = []
    ident_type, ident = None, None
    if h.client_id is not None:
        ident_type, ident = "client-id", h.client_id
        alt = macs
        for mac in macs:
            warnings.append(SourceWarning(source, lineno, mac, "not translated: Kea keeps one "
                                          "identifier per reservation; the client-id was kept",
                                          key))
    elif macs:
        ident_type, ident = "hw-address", macs[0]
        for mac in macs[1:]:
            alt.append(mac)
            warnings.append(SourceWarning(source, lineno, mac, "not translated: Kea keeps one "
                                          "identifier per reservation; the first MAC was kept",
                                          key))
    if ident is None or ident_type is None:
        yield MalformedRecordError(source, lineno, key, "dhcp-host without a MAC or id: dnsmasq "
                                   "matches it by the hostname the client sends; Kea cannot "
                                   "reserve by hostname")
        return
    v6_addrs: list[IPv6Address] = []
    for text in h.v6:
        if "/" in text:
            yield MalformedRecordError(source, lineno, key, f"[{text}]: an address range per host;"
                                       " Kea reserves single addresses")
            return
        try:
            a6 = IPv6Address(text)
        except ValueError:
            yield MalformedRecordError(source, lineno, key, f"[{text}] is not an IPv6 address")
            return
        if int(a6) >> 64 == 0:  # only the interface identifier: dnsmasq fills in the network
            if len(v6_nets) != 1:
                yield MalformedRecordError(source, lineno, key, f"[{text}] gives only the host "
                                           "part and the configuration has "
                                           f"{len(v6_nets)} v6 dhcp-ranges to take the network "
                                           "from")
                return
            a6 = IPv6Address(int(v6_nets[0].network_address) | int(a6))
        v6_addrs.append(a6)
    extra: dict[str, Any] = {}
    if alt:
        extra["alt_identifiers"] = [{"hw-address": canonical_hex(m, "hw-address")} for m in alt]
    made = False
    try:
        if h.v4 is not None or not v6_addrs:
            rng = next((r for r in ranges if h.v4 is not None and h.v4 in r.network), None)
            res = Reservation(family=4, identifier_type=ident_type,  # type: ignore[arg-type]
                              identifier=ident, ipv4_address=h.v4, hostname=h.hostname,
                              client_classes=tuple(h.sets), origin=source, line=lineno)
            e4 = dict(extra)
            if rng is not None:
                e4["dnsmasq_range"] = str(rng.network)
            made = True
            yield Extracted(res, source=source, line=lineno, extra=e4,
                            warnings=tuple(warnings))
        if v6_addrs:
            t6 = "duid" if ident_type == "client-id" else ident_type
            rng = next((r for r in ranges if v6_addrs[0] in r.network), None)
            res6 = Reservation(family=6, identifier_type=t6,  # type: ignore[arg-type]
                               identifier=ident, ip_addresses=tuple(v6_addrs),
                               hostname=h.hostname, client_classes=tuple(h.sets),
                               origin=source, line=lineno)
            e6 = {} if made else dict(extra)  # warnings once per line
            if rng is not None:
                e6["dnsmasq_range"] = str(rng.network)
            yield Extracted(res6, source=source, line=lineno, extra=e6,
                            warnings=() if made else tuple(warnings))
    except InvalidValueError as exc:
        yield MalformedRecordError(source, lineno, key, f"dhcp-host: {exc}")
