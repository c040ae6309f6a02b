"""The records every stage passes around: ``Lease4``, ``Lease6`` and ``Reservation``.

They are frozen, slotted dataclasses in canonical form, so two records describing the same lease
compare equal whatever file or server they came from:

* addresses are :mod:`ipaddress` objects (a delegated prefix is its network address plus
  ``prefix_len``);
* MAC addresses, client-ids and DUIDs are lowercase colon hex (``01:aa:bb``);
* IAIDs are plain ``int`` (the ISC extractor has already undone the lease file's byte order);
* times are UTC epoch seconds: ``cltt`` (client last transaction time) and ``valid_lft``;
  ``expire`` is derived as ``cltt + valid_lft`` exactly as Kea's memfile does, also for the
  infinite lifetime ``0xFFFFFFFF``;
* ``state`` is Kea's lease state (0 default, 1 declined, 2 expired-reclaimed, 3 released).

Kea's hyphenated wire names appear only in ``to_kea_args()`` / ``from_kea()``. Constructors accept
strings for addresses and any common hex spelling for ids (``AA-BB``, ``aabb``, ``aa:bb``) and
canonicalise them; a value that cannot be canonicalised raises :class:`InvalidValueError` naming
the field and the value.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address
from typing import Any, Literal

from kea_etl.errors import InvalidValueError
from kea_etl.kea_limits import CLIENT_ID_MAX, DUID_MAX, HWADDR_MAX

__all__ = [
    "INFINITE_LIFETIME",
    "LEASE_STATES",
    "STATE_DECLINED",
    "STATE_DEFAULT",
    "STATE_EXPIRED_RECLAIMED",
    "STATE_RELEASED",
    "Lease4",
    "Lease6",
    "Reservation",
    "canonical_hex",
    "epoch",
    "from_epoch",
]

#: Kea's "infinite" lifetime (RFC 8415 / RFC 2131 0xffffffff).
INFINITE_LIFETIME = 0xFFFFFFFF
STATE_DEFAULT = 0
STATE_DECLINED = 1
STATE_EXPIRED_RECLAIMED = 2
STATE_RELEASED = 3
LEASE_STATES = {
    STATE_DEFAULT: "default",
    STATE_DECLINED: "declined",
    STATE_EXPIRED_RECLAIMED: "expired-reclaimed",
    STATE_RELEASED: "released",
}
LeaseType = Literal["IA_NA", "IA_TA", "IA_PD"]
#: memfile ``lease_type`` column values
LEASE_TYPE_CODES: dict[str, int] = {"IA_NA": 0, "IA_TA": 1, "IA_PD": 2}
LEASE_TYPE_NAMES: dict[int, str] = {v: k for k, v in LEASE_TYPE_CODES.items()}

_CANONICAL_HEX = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2})*")
_LOOSE_HEX_SEP = re.compile(r"[:\-.\s]")
_HEXDIGITS = re.compile(r"[0-9a-fA-F]+")


def canonical_hex(value: str | bytes | None, field_name: str, *, min_len: int = 1,
                  max_len: int = 255) -> str | None:
    """Return ``value`` as lowercase colon hex, or ``None`` for ``None`` / empty.

    Accepts bytes, ``aa:bb``, ``AA-BB``, ``aabb``, ``0xaabb`` and dhcpd's unpadded
    ``1:2:a`` form. Raises :class:`InvalidValueError` naming ``field_name`` otherwise.
    """
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        raw = bytes(value)
    else:
        if not isinstance(value, str):
            raise InvalidValueError(field_name, value, "expected a hex string or bytes")
        text = value.strip()
        if not text:
            return None
        if _CANONICAL_HEX.fullmatch(text):
            n = (len(text) + 1) // 3
            if not min_len <= n <= max_len:
                raise InvalidValueError(field_name, value,
                                        f"length {n} bytes is outside {min_len}..{max_len}")
            return text
        if text[:2] in ("0x", "0X"):
            text = text[2:]
        parts = _LOOSE_HEX_SEP.split(text)
        if len(parts) > 1:
            if not all(p and len(p) <= 2 and _HEXDIGITS.fullmatch(p) for p in parts):
                raise InvalidValueError(field_name, value, "not colon-separated hex bytes")
            raw = bytes(int(p, 16) for p in parts)
        else:
            if len(text) % 2 or not _HEXDIGITS.fullmatch(text):
                raise InvalidValueError(field_name, value, "not an even number of hex digits")
            raw = bytes.fromhex(text)
    if not raw:
        return None
    if not min_len <= len(raw) <= max_len:
        raise InvalidValueError(field_name, value,
                                f"length {len(raw)} bytes is outside {min_len}..{max_len}")
    return raw.hex(":")


def epoch(when: datetime | int | float | str) -> int:
    """UTC epoch seconds from an aware datetime, an ISO-8601 string (``Z`` allowed) or a number.

    A naive datetime or an ISO string without an offset is refused: lease times are never local.
    """
    if isinstance(when, bool):
        raise InvalidValueError("time", when, "expected a time, got a boolean")
    if isinstance(when, int | float):
        return int(when)
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidValueError("time", when, "not an ISO-8601 time") from exc
    if when.tzinfo is None:
        raise InvalidValueError("time", when.isoformat(),
                                "no UTC offset; write it as 2026-11-27T21:00:00Z")
    return int(when.timestamp())


def from_epoch(seconds: int) -> datetime:
    """Aware UTC datetime for epoch ``seconds``."""
    return datetime.fromtimestamp(seconds, tz=UTC)


def _u32(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(value)
        except (TypeError, ValueError) as exc:
            raise InvalidValueError(name, value, "expected an integer") from exc
    if not 0 <= value <= 0xFFFFFFFF:
        raise InvalidValueError(name, value, "outside 0..4294967295")
    return int(value)


def _state(value: Any) -> int:
    state = _u32(value, "state")
    if state not in LEASE_STATES:
        raise InvalidValueError("state", value, "Kea lease states are 0 default, 1 declined, "
                                "2 expired-reclaimed, 3 released")
    return state


def _addr4(value: Any, name: str = "address") -> IPv4Address:
    if isinstance(value, IPv4Address):
        return value
    try:
        addr = ip_address(value)
    except ValueError as exc:
        raise InvalidValueError(name, value, "not an IPv4 address") from exc
    if not isinstance(addr, IPv4Address):
        raise InvalidValueError(name, value, "an IPv6 address where IPv4 is expected")
    return addr


def _addr6(value: Any, name: str = "address") -> IPv6Address:
    if isinstance(value, IPv6Address):
        return value
    try:
        addr = ip_address(value)
    except ValueError as exc:
        raise InvalidValueError(name, value, "not an IPv6 address") from exc
    if not isinstance(addr, IPv6Address):
        raise InvalidValueError(name, value, "an IPv4 address where IPv6 is expected")
    return addr


def kea_text(value: Any) -> Any:
    """Undo Kea's JSON rendering of stored bytes: Kea keeps a hostname as raw bytes and writes
    each byte >= 0x80 as its own character (UTF-8 "é" comes back as "Ã©"). Text that re-encodes
    to valid UTF-8 is decoded; anything else (a lone Latin-1 byte) is returned unchanged.
    Pinned against a real Kea in tests/fuzz/test_property_memfile_real_kea.py."""
    if not isinstance(value, str) or value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def _hostname(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidValueError("hostname", value, "expected a string")
    return value


def _context(value: Any) -> Mapping[str, Any] | None:
    if value is None or value == {}:
        return None
    if not isinstance(value, Mapping):
        raise InvalidValueError("user_context", value, "expected a JSON object")
    return value


def _ip6_text(addr: IPv6Address) -> str:
    """``str(addr)`` via ``inet_ntop`` (C) rather than :mod:`ipaddress` (pure Python, ~20 us):
    v6 bulk loads are CPU-bound on the client. IPv4-mapped/compatible addresses, which the two
    spell differently, take the canonical :mod:`ipaddress` form."""
    text = socket.inet_ntop(socket.AF_INET6, addr.packed)
    return str(addr) if "." in text else text


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True, slots=True)
class Lease4:
    """A DHCPv4 lease in canonical form."""

    address: IPv4Address
    hwaddr: str | None
    valid_lft: int
    cltt: int
    client_id: str | None = None
    subnet_id: int = 0
    hostname: str = ""
    fqdn_fwd: bool = False
    fqdn_rev: bool = False
    state: int = STATE_DEFAULT
    user_context: Mapping[str, Any] | None = field(default=None, hash=False)
    #: where the record came from (file name, server URL) and its line; not part of equality
    origin: str | None = field(default=None, compare=False, repr=False)
    line: int | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        _set(self, "address", _addr4(self.address))
        _set(self, "hwaddr", canonical_hex(self.hwaddr, "hwaddr", max_len=HWADDR_MAX))
        _set(self, "client_id", canonical_hex(self.client_id, "client_id", max_len=CLIENT_ID_MAX))
        _set(self, "valid_lft", _u32(self.valid_lft, "valid_lft"))
        _set(self, "cltt", _u32(self.cltt, "cltt"))
        _set(self, "subnet_id", _u32(self.subnet_id, "subnet_id"))
        _set(self, "state", _state(self.state))
        _set(self, "hostname", _hostname(self.hostname))
        _set(self, "user_context", _context(self.user_context))
        if (self.fqdn_fwd or self.fqdn_rev) and not self.hostname:
            # Kea refuses fqdn-fwd/fqdn-rev without a hostname; drop the flags rather than the lease.
            _set(self, "fqdn_fwd", False)
            _set(self, "fqdn_rev", False)

    @property
    def key(self) -> str:
        """The identity Kea indexes leases by: the address (as ``str(address)``, three times
        faster: the checkpoint keys every record by it)."""
        return socket.inet_ntoa(int(self.address).to_bytes(4, "big"))

    @property
    def expire(self) -> int:
        """Expiry in UTC epoch seconds (``cltt + valid_lft``, as in Kea's memfile)."""
        return self.cltt + self.valid_lft

    def to_kea_args(self) -> dict[str, Any]:
        """Arguments for lease4-add / lease4-update."""
        args: dict[str, Any] = {
            "ip-address": str(self.address),
            "hw-address": self.hwaddr or "",
            "valid-lft": self.valid_lft,
            "expire": self.expire,
            "fqdn-fwd": self.fqdn_fwd,
            "fqdn-rev": self.fqdn_rev,
            "hostname": self.hostname,
            "state": self.state,
        }
        if self.client_id:
            args["client-id"] = self.client_id
        return _kea_args_tail(args, self.subnet_id, self.user_context)

    @classmethod
    def from_kea(cls, data: Mapping[str, Any], *, origin: str | None = None) -> Lease4:
        """A lease from Kea's JSON (lease4-get, lease4-get-page, ...)."""
        try:
            return cls(address=data["ip-address"], hwaddr=data.get("hw-address") or None,
                       client_id=data.get("client-id") or None, origin=origin,
                       **_common_from_kea(data))
        except InvalidValueError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise _not_a_kea_lease(data, exc) from exc


def _common_from_kea(data: Mapping[str, Any]) -> dict[str, Any]:
    """The fields Lease4 and Lease6 read alike from Kea's lease JSON (KeyError: one missing)."""
    valid = data["valid-lft"]
    return {"valid_lft": valid,
            "cltt": data["cltt"] if "cltt" in data else int(data["expire"]) - int(valid),
            "subnet_id": data.get("subnet-id", 0),
            "hostname": kea_text(data.get("hostname", "")),
            "fqdn_fwd": bool(data.get("fqdn-fwd", False)),
            "fqdn_rev": bool(data.get("fqdn-rev", False)),
            "state": data.get("state", STATE_DEFAULT),
            "user_context": data.get("user-context")}


def _not_a_kea_lease(data: Mapping[str, Any], exc: Exception) -> InvalidValueError:
    if isinstance(exc, KeyError):
        return InvalidValueError(str(exc.args[0]), data, "missing from Kea's lease JSON")
    # a field of the wrong JSON type
    return InvalidValueError("lease", data, f"not a Kea lease map ({exc})")


def _kea_args_tail(args: dict[str, Any], subnet_id: int,
                   user_context: Mapping[str, Any] | None) -> dict[str, Any]:
    """Kea takes no subnet-id 0 (it then picks the subnet itself) and a user-context as a map."""
    if subnet_id:
        args["subnet-id"] = subnet_id
    if user_context is not None:
        args["user-context"] = dict(user_context)
    return args


@dataclass(frozen=True, slots=True)
class Lease6:
    """A DHCPv6 lease (IA_NA address or IA_PD delegated prefix) in canonical form."""

    address: IPv6Address
    duid: str
    iaid: int
    valid_lft: int
    cltt: int
    lease_type: LeaseType = "IA_NA"
    prefix_len: int = 128
    preferred_lft: int = 0
    subnet_id: int = 0
    hostname: str = ""
    fqdn_fwd: bool = False
    fqdn_rev: bool = False
    hwaddr: str | None = None
    state: int = STATE_DEFAULT
    user_context: Mapping[str, Any] | None = field(default=None, hash=False)
    origin: str | None = field(default=None, compare=False, repr=False)
    line: int | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        _set(self, "address", _addr6(self.address))
        duid = canonical_hex(self.duid, "duid", max_len=DUID_MAX)
        if duid is None:
            raise InvalidValueError("duid", self.duid, "a DHCPv6 lease needs a DUID")
        _set(self, "duid", duid)
        _set(self, "iaid", _u32(self.iaid, "iaid"))
        _set(self, "valid_lft", _u32(self.valid_lft, "valid_lft"))
        _set(self, "preferred_lft", _u32(self.preferred_lft, "preferred_lft"))
        _set(self, "cltt", _u32(self.cltt, "cltt"))
        _set(self, "subnet_id", _u32(self.subnet_id, "subnet_id"))
        _set(self, "state", _state(self.state))
        _set(self, "hostname", _hostname(self.hostname))
        _set(self, "hwaddr", canonical_hex(self.hwaddr, "hwaddr", max_len=HWADDR_MAX))
        _set(self, "user_context", _context(self.user_context))
        if self.lease_type not in LEASE_TYPE_CODES:
            raise InvalidValueError("lease_type", self.lease_type, "expected IA_NA, IA_TA or IA_PD")
        plen = self.prefix_len
        if isinstance(plen, bool) or not isinstance(plen, int) or not 1 <= plen <= 128:
            raise InvalidValueError("prefix_len", plen, "outside 1..128")
        if self.lease_type != "IA_PD" and plen != 128:
            raise InvalidValueError("prefix_len", plen, f"an {self.lease_type} lease is a /128")
        if self.lease_type == "IA_PD":
            net = IPv6Network((self.address, plen), strict=False)
            if net.network_address != self.address:
                raise InvalidValueError("address", f"{self.address}/{plen}",
                                        "host bits set in a delegated prefix")
        if (self.fqdn_fwd or self.fqdn_rev) and not self.hostname:
            _set(self, "fqdn_fwd", False)
            _set(self, "fqdn_rev", False)

    @property
    def key(self) -> str:
        """``address`` for IA_NA, ``prefix/len`` for IA_PD (Kea indexes by type and address)."""
        if self.lease_type == "IA_PD":
            return f"{self.address}/{self.prefix_len}"
        return str(self.address)

    @property
    def expire(self) -> int:
        return self.cltt + self.valid_lft

    @property
    def prefix(self) -> IPv6Network:
        return IPv6Network((self.address, self.prefix_len))

    def to_kea_args(self) -> dict[str, Any]:
        """Arguments for lease6-add / lease6-update / one entry of lease6-bulk-apply."""
        args: dict[str, Any] = {
            "ip-address": _ip6_text(self.address),
            "duid": self.duid,
            "iaid": self.iaid,
            "type": self.lease_type,
            "valid-lft": self.valid_lft,
            "preferred-lft": self.preferred_lft,
            "expire": self.expire,
            "fqdn-fwd": self.fqdn_fwd,
            "fqdn-rev": self.fqdn_rev,
            "hostname": self.hostname,
            "state": self.state,
        }
        if self.lease_type == "IA_PD":
            args["prefix-len"] = self.prefix_len
        if self.hwaddr:
            args["hw-address"] = self.hwaddr
        return _kea_args_tail(args, self.subnet_id, self.user_context)

    @classmethod
    def from_kea(cls, data: Mapping[str, Any], *, origin: str | None = None) -> Lease6:
        try:
            ltype = data.get("type", "IA_NA")
            return cls(address=data["ip-address"], duid=data["duid"], iaid=data["iaid"],
                       lease_type=ltype,
                       prefix_len=int(data.get("prefix-len", 128)) if ltype == "IA_PD" else 128,
                       preferred_lft=data.get("preferred-lft", 0),
                       hwaddr=data.get("hw-address") or None, origin=origin,
                       **_common_from_kea(data))
        except InvalidValueError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise _not_a_kea_lease(data, exc) from exc


IdentifierType = Literal["hw-address", "client-id", "duid", "circuit-id", "flex-id"]
IDENTIFIER_TYPES: tuple[str, ...] = ("hw-address", "client-id", "duid", "circuit-id", "flex-id")


@dataclass(frozen=True, slots=True)
class Reservation:
    """A host reservation (v4 or v6) keyed by one identifier, as Kea's host_cmds sees it."""

    family: Literal[4, 6]
    identifier_type: IdentifierType
    identifier: str
    subnet_id: int = 0
    ipv4_address: IPv4Address | None = None
    ip_addresses: tuple[IPv6Address, ...] = ()
    prefixes: tuple[IPv6Network, ...] = ()
    hostname: str = ""
    client_classes: tuple[str, ...] = ()
    option_data: tuple[Mapping[str, Any], ...] = field(default=(), hash=False)
    next_server: IPv4Address | None = None
    boot_file_name: str = ""
    user_context: Mapping[str, Any] | None = field(default=None, hash=False)
    origin: str | None = field(default=None, compare=False, repr=False)
    line: int | None = field(default=None, compare=False, repr=False)

    @property
    def holds_nothing(self) -> bool:
        """No address, prefix, hostname, class, option, next-server or boot file: Kea refuses
        such a reservation ("must include at least one resource")."""
        return not (self.ipv4_address or self.ip_addresses or self.prefixes or self.hostname
                    or self.client_classes or self.option_data or self.next_server
                    or self.boot_file_name)

    def __post_init__(self) -> None:
        if self.family not in (4, 6):
            raise InvalidValueError("family", self.family, "expected 4 or 6")
        if self.identifier_type not in IDENTIFIER_TYPES:
            raise InvalidValueError("identifier_type", self.identifier_type,
                                    f"expected one of {', '.join(IDENTIFIER_TYPES)}")
        if self.family == 4 and self.identifier_type == "duid" and self.ipv4_address is None:
            pass  # Kea allows a DUID-keyed v4 host (RFC 4361 client-ids); nothing to check here
        ident = canonical_hex(self.identifier, self.identifier_type, max_len=255)
        if ident is None:
            raise InvalidValueError(self.identifier_type, self.identifier, "empty identifier")
        _set(self, "identifier", ident)
        _set(self, "subnet_id", _u32(self.subnet_id, "subnet_id"))
        if self.ipv4_address is not None:
            if self.family != 4:
                raise InvalidValueError("ipv4_address", self.ipv4_address, "set on a v6 reservation")
            _set(self, "ipv4_address", _addr4(self.ipv4_address, "ipv4_address"))
        if self.family == 4 and (self.ip_addresses or self.prefixes):
            raise InvalidValueError("ip_addresses", self.ip_addresses, "set on a v4 reservation")
        _set(self, "ip_addresses", tuple(_addr6(a, "ip_addresses") for a in self.ip_addresses))
        prefixes = []
        for p in self.prefixes:
            try:
                prefixes.append(p if isinstance(p, IPv6Network) else IPv6Network(p))
            except ValueError as exc:
                raise InvalidValueError("prefixes", p, str(exc)) from exc
        _set(self, "prefixes", tuple(prefixes))
        if self.next_server is not None:
            _set(self, "next_server", _addr4(self.next_server, "next_server"))
        _set(self, "hostname", _hostname(self.hostname))
        _set(self, "client_classes", tuple(self.client_classes))
        _set(self, "option_data", tuple(self.option_data))
        _set(self, "user_context", _context(self.user_context))

    @property
    def key(self) -> str:
        return f"{self.identifier_type}={self.identifier}@{self.subnet_id}"

    def to_kea_host(self) -> dict[str, Any]:
        """The host map as it appears in a subnet's ``reservations`` list."""
        host: dict[str, Any] = {self.identifier_type: self.identifier}
        if self.ipv4_address is not None:
            host["ip-address"] = str(self.ipv4_address)
        if self.ip_addresses:
            host["ip-addresses"] = [str(a) for a in self.ip_addresses]
        if self.prefixes:
            host["prefixes"] = [str(p) for p in self.prefixes]
        if self.hostname:
            host["hostname"] = self.hostname
        if self.client_classes:
            host["client-classes"] = list(self.client_classes)
        if self.option_data:
            host["option-data"] = [dict(o) for o in self.option_data]
        if self.next_server is not None:
            host["next-server"] = str(self.next_server)
        if self.boot_file_name:
            host["boot-file-name"] = self.boot_file_name
        if self.user_context is not None:
            host["user-context"] = dict(self.user_context)
        return host

    def to_kea_args(self) -> dict[str, Any]:
        """Arguments for reservation-add (``{"reservation": {..., "subnet-id": N}}``)."""
        host = self.to_kea_host()
        host["subnet-id"] = self.subnet_id
        return {"reservation": host}

    @classmethod
    def from_kea(cls, data: Mapping[str, Any], *, family: Literal[4, 6],
                 origin: str | None = None) -> Reservation:
        """A reservation from a host map (config ``reservations`` entry or reservation-get)."""
        for ident_type in IDENTIFIER_TYPES:
            if data.get(ident_type):
                break
        else:
            raise InvalidValueError("identifier", data, "a host needs hw-address, client-id, duid, "
                                    "circuit-id or flex-id")
        subnet = data.get("subnet-id", data.get("subnet-id4" if family == 4 else "subnet-id6", 0))
        try:
            return cls._from_kea_host(data, family, ident_type, subnet, origin)
        except InvalidValueError:
            raise
        except (TypeError, ValueError, AttributeError) as exc:  # a field of the wrong JSON type
            raise InvalidValueError("host", data, f"not a Kea host map ({exc})") from exc

    @classmethod
    def _from_kea_host(cls, data: Mapping[str, Any], family: Literal[4, 6], ident_type: str,
                       subnet: Any, origin: str | None) -> Reservation:
        return cls(
            family=family,
            identifier_type=ident_type,  # type: ignore[arg-type]
            identifier=data[ident_type],
            subnet_id=subnet,
            ipv4_address=data.get("ip-address") if family == 4 and data.get("ip-address") not in
            (None, "", "0.0.0.0") else None,
            ip_addresses=tuple(data.get("ip-addresses", ())),
            prefixes=tuple(data.get("prefixes", ())),
            hostname=kea_text(data.get("hostname", "")),
            client_classes=tuple(data.get("client-classes", ())),
            option_data=tuple(data.get("option-data", ())),
            next_server=data.get("next-server") if data.get("next-server") not in
            (None, "", "0.0.0.0") else None,
            boot_file_name=data.get("boot-file-name", ""),
            user_context=data.get("user-context"),
            origin=origin,
        )


Record = Lease4 | Lease6 | Reservation
