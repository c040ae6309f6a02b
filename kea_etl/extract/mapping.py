"""Column mapping shared by the CSV and SQL extractors: which source column feeds which record field.

A mapping is a small YAML or JSON file (or a dict) such as::

    kind: lease4                 # lease4 | lease6 | reservation4 | reservation6 (default: guessed)
    columns:                     # record field -> source column (case-insensitive)
      address: ip
      hwaddr: mac
      valid_lft: lease_seconds
      expire: ends_at            # give two of valid_lft / cltt / expire, the third is derived
      hostname: name
    constants:                   # record field -> value used for every row
      subnet_id: 0
    time_format: iso8601         # auto (default) | epoch | iso8601 | a strptime pattern
    timezone: Europe/Berlin      # only for naive times; without it a naive time is an error
    delimiter: ","               # CSV only
    encoding: utf-8              # CSV only

Fields by kind (``columns`` or ``constants`` may name any of them):

* lease4: address, hwaddr, client_id, valid_lft, cltt, expire, subnet_id, hostname, fqdn_fwd,
  fqdn_rev, state, user_context, binding_state
* lease6: the same minus client_id, plus duid, iaid, preferred_lft, lease_type, prefix_len
* reservation4 / reservation6: identifier_type + identifier, or one of the identifier columns
  hwaddr / client_id / duid / circuit_id / flex_id (the first non-empty in that order wins),
  address (v4) / addresses and prefixes (v6, several separated by spaces, commas or semicolons),
  hostname, subnet_id, client_classes, next_server, boot_file_name, user_context

Without a mapping (:func:`default_mapping`) columns are recognised by common names: Kea's memfile
and SQL column names (``valid_lifetime``, ``expire``, ``pref_lifetime`` ...), and obvious ones
(``ip`` / ``ip_address``, ``mac`` / ``hw_address``, ``lease_time``, ``ends`` ...). The kind is
guessed from the columns present (``duid`` / ``iaid`` -> v6, any lifetime column -> lease) and,
when still open, from the first row's address.

Values may be strings (CSV) or native database values (SQL): ``int`` / ``Decimal`` (an IPv4
address stored as a number, as in Kea's own lease4 table; a negative IAID is read as the unsigned
32-bit value Kea stored in its signed ``iaid`` column), ``bytes`` / ``memoryview`` (ids as raw
bytes), ``datetime`` (aware, or naive plus ``timezone``). Times given as text are epoch seconds or
ISO-8601 *with* an offset; Kea lease times are never local.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from kea_etl.errors import ConfigError, InvalidValueError, MalformedRecordError
from kea_etl.extract.base import BINDING_STATES, Extracted
from kea_etl.records import (
    INFINITE_LIFETIME,
    LEASE_TYPE_NAMES,
    Lease4,
    Lease6,
    Reservation,
)

__all__ = ["ALIASES", "FIELDS", "KINDS", "ColumnMapping", "RowConverter", "default_mapping",
           "load_mapping", "mapping_from_dict", "normalise_column", "parse_time", "resolve_mapping"]

Kind = Literal["lease4", "lease6", "reservation4", "reservation6"]
KINDS: tuple[str, ...] = ("lease4", "lease6", "reservation4", "reservation6")

_LEASE_COMMON = ("address", "hwaddr", "valid_lft", "cltt", "expire", "subnet_id", "hostname",
                 "fqdn_fwd", "fqdn_rev", "state", "user_context", "binding_state")
_RES_COMMON = ("identifier_type", "identifier", "hwaddr", "client_id", "duid", "circuit_id",
               "flex_id", "subnet_id", "hostname", "client_classes", "user_context")
FIELDS: dict[str, tuple[str, ...]] = {
    "lease4": (*_LEASE_COMMON, "client_id"),
    "lease6": (*_LEASE_COMMON, "duid", "iaid", "preferred_lft", "lease_type", "prefix_len"),
    "reservation4": (*_RES_COMMON, "address", "next_server", "boot_file_name"),
    "reservation6": (*_RES_COMMON, "addresses", "prefixes"),
}

#: column-name aliases the default mapping recognises (normalised: lowercase, ``-``/space -> ``_``)
ALIASES: dict[str, tuple[str, ...]] = {
    "address": ("address", "ip", "ip_address", "ipaddress", "ipaddr", "ip_addr", "addr",
                "ipv4", "ipv4_address", "ipv6", "ipv6_address", "lease_address", "fixed_address"),
    "addresses": ("addresses", "ip_addresses", "ipv6_addresses", "fixed_address6"),
    "prefixes": ("prefixes", "prefix", "delegated_prefix", "fixed_prefix6"),
    "hwaddr": ("hwaddr", "hw_address", "hwaddress", "mac", "mac_address", "macaddress", "macaddr",
               "hardware_address", "hardware_ethernet", "ethernet", "chaddr"),
    "client_id": ("client_id", "clientid", "client_identifier", "dhcp_client_identifier", "uid"),
    "duid": ("duid", "client_duid"),
    "circuit_id": ("circuit_id",),
    "flex_id": ("flex_id",),
    "identifier_type": ("identifier_type", "id_type"),
    "identifier": ("identifier", "dhcp_identifier"),
    "iaid": ("iaid",),
    "valid_lft": ("valid_lft", "valid_lifetime", "valid_life", "lease_time", "lease_duration",
                  "lifetime", "valid"),
    "preferred_lft": ("preferred_lft", "pref_lifetime", "preferred_lifetime", "preferred_life"),
    "cltt": ("cltt", "starts", "start", "start_time", "starts_at", "lease_start"),
    "expire": ("expire", "expires", "expiry", "expiration", "ends", "end", "end_time", "ends_at",
               "lease_end", "expires_at"),
    "subnet_id": ("subnet_id", "subnetid", "dhcp4_subnet_id", "dhcp6_subnet_id"),
    "hostname": ("hostname", "host_name", "client_hostname", "fqdn", "name"),
    "fqdn_fwd": ("fqdn_fwd",),
    "fqdn_rev": ("fqdn_rev",),
    "state": ("state", "lease_state"),
    "binding_state": ("binding_state",),
    "user_context": ("user_context",),
    "lease_type": ("lease_type", "type", "ia_type"),
    "prefix_len": ("prefix_len", "prefix_length", "prefixlen", "plen"),
    "client_classes": ("client_classes", "classes"),
    "next_server": ("next_server", "siaddr"),
    "boot_file_name": ("boot_file_name", "filename", "boot_file"),
}

_STATE_NAMES = {"default": 0, "active": 0, "declined": 1, "expired-reclaimed": 2,
                "expired_reclaimed": 2, "reclaimed": 2, "released": 3}
_TRUE = {"1", "true", "yes", "on", "t", "y"}
_FALSE = {"0", "false", "no", "off", "f", "n", ""}
_LIST_SPLIT = re.compile(r"[\s,;]+")
_IDENT_ORDER = (("hwaddr", "hw-address"), ("client_id", "client-id"), ("duid", "duid"),
                ("circuit_id", "circuit-id"), ("flex_id", "flex-id"))


def normalise_column(name: str) -> str:
    """Column name as the default mapping compares it: lowercase, spaces and '-' as '_'."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


@dataclass(frozen=True)
class ColumnMapping:
    """A validated mapping. ``columns`` maps record field -> source column name (as in the source)."""

    kind: Kind | None
    columns: Mapping[str, str]
    constants: Mapping[str, Any] = field(default_factory=dict)
    time_format: str = "auto"
    timezone: str | None = None
    delimiter: str = ","
    encoding: str = "utf-8"
    #: the keys the mapping file actually set (so defaults can be told from choices)
    given: frozenset[str] = frozenset()

    def tz(self) -> tzinfo | None:
        """The tzinfo for naive times, or ``None`` (naive times are then an error)."""
        if self.timezone is None:
            return None
        return _parse_tz(self.timezone)

    def family(self) -> int:
        return 6 if self.kind in ("lease6", "reservation6") else 4


def _parse_tz(name: str) -> tzinfo:
    text = name.strip()
    if text.upper() in ("UTC", "Z", "GMT"):
        return UTC
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text)
    if m:
        delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
        return timezone(-delta if m.group(1) == "-" else delta)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"mapping: unknown timezone {name!r} (use UTC, +02:00 or an IANA name "
                          "like Europe/Berlin)") from exc


def load_mapping(path: str | Path) -> ColumnMapping:
    """Read a YAML or JSON mapping file (JSON is YAML, so one reader does both)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read mapping file {p}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text) if p.suffix.lower() != ".json" else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ConfigError(f"mapping file {p} is not valid YAML/JSON: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ConfigError(f"mapping file {p}: expected a map with 'columns', got {type(data).__name__}")
    return mapping_from_dict(data, where=str(p))


def mapping_from_dict(data: Mapping[str, Any], *, where: str = "mapping") -> ColumnMapping:
    """Validate a mapping given as a dict (the parsed file, or built by a caller)."""
    known = {"kind", "columns", "constants", "time_format", "timezone", "delimiter", "encoding"}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
                          f"expected {', '.join(sorted(known))}")
    kind = data.get("kind")
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    columns = data.get("columns") or {}
    constants = data.get("constants") or {}
    if not isinstance(columns, Mapping) or not all(isinstance(v, str) for v in columns.values()):
        raise ConfigError(f"{where}: 'columns' must map record fields to column names")
    if not isinstance(constants, Mapping):
        raise ConfigError(f"{where}: 'constants' must map record fields to values")
    all_fields = set().union(*FIELDS.values())
    allowed = set(FIELDS[kind]) if kind else all_fields
    for name in (*columns, *constants):
        if name not in allowed:
            raise ConfigError(f"{where}: {name!r} is not a field of {kind or 'any record kind'}; "
                              f"fields: {', '.join(sorted(allowed))}")
    time_format = str(data.get("time_format", "auto"))
    tz = data.get("timezone")
    m = ColumnMapping(kind=kind, columns=dict(columns), constants=dict(constants),
                      time_format=time_format, timezone=str(tz) if tz is not None else None,
                      delimiter=str(data.get("delimiter", ",")),
                      encoding=str(data.get("encoding", "utf-8")), given=frozenset(data))
    m.tz()  # validate early
    return m


def default_mapping(columns: Sequence[str], *, kind: str | None = None,
                    time_format: str = "auto", timezone: str | None = None) -> ColumnMapping:
    """Recognise fields from column names (see :data:`ALIASES`); ``kind`` may still be ``None``."""
    by_norm: dict[str, str] = {}
    for col in columns:
        by_norm.setdefault(normalise_column(str(col)), str(col))
    found: dict[str, str] = {}
    for fname, aliases in ALIASES.items():
        for alias in aliases:
            if alias in by_norm:
                found[fname] = by_norm[alias]
                break
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    m = ColumnMapping(kind=kind, columns=found, time_format=time_format,  # type: ignore[arg-type]
                      timezone=timezone)
    m.tz()
    return m


def resolve_mapping(mapping: ColumnMapping | Mapping[str, Any] | str | Path | None,
                    columns: Sequence[str], *, first_row: Mapping[str, Any] | None = None,
                    kind: str | None = None, where: str = "source") -> ColumnMapping:
    """Turn whatever the caller gave into a complete mapping for a source with ``columns``.

    Checks that every mapped column exists and that the kind is known (guessing it if needed).
    """
    if mapping is None:
        m = default_mapping(columns, kind=kind)
    elif isinstance(mapping, ColumnMapping):
        m = mapping
    elif isinstance(mapping, str | Path):
        m = load_mapping(mapping)
    else:
        m = mapping_from_dict(mapping)
    if kind is not None and m.kind is None:
        m = _replace(m, kind=kind)
    # Column names are matched case-insensitively.
    by_norm = {normalise_column(str(c)): str(c) for c in columns}
    resolved: dict[str, str] = {}
    for fname, col in m.columns.items():
        actual = col if col in columns else by_norm.get(normalise_column(col))
        if actual is None:
            raise ConfigError(f"{where}: mapped column {col!r} (for {fname}) is not in the header; "
                              f"columns are: {', '.join(map(str, columns))}")
        resolved[fname] = actual
    m = _replace(m, columns=resolved)
    if m.kind is None:
        m = _replace(m, kind=_guess_kind(m, first_row, where))
    assert m.kind is not None
    have = set(m.columns) | set(m.constants)
    if "address" not in have and not ({"addresses", "prefixes"} & have):
        raise ConfigError(f"{where}: no address column (looked for "
                          f"{', '.join(ALIASES['address'][:4])} ...); give a mapping file")
    if m.kind.startswith("lease"):
        times = have & {"valid_lft", "cltt", "expire"}
        if len(times) < 2:
            raise ConfigError(f"{where}: a {m.kind} needs two of valid_lft / cltt / expire "
                              f"(columns or constants); found {', '.join(sorted(times)) or 'none'}")
        ident = "hwaddr" if m.kind == "lease4" else "duid"
        if ident not in have and not (m.kind == "lease4" and "client_id" in have):
            raise ConfigError(f"{where}: a {m.kind} needs a {ident} column")
        if m.kind == "lease6" and "iaid" not in have:
            raise ConfigError(f"{where}: a lease6 needs an iaid column (or constants: iaid: 0)")
    else:
        if not have & {"identifier", "hwaddr", "client_id", "duid", "circuit_id", "flex_id"}:
            raise ConfigError(f"{where}: a reservation needs an identifier column "
                              "(hwaddr, client_id, duid, circuit_id, flex_id or identifier)")
    return m


def _replace(m: ColumnMapping, **changes: Any) -> ColumnMapping:
    return dataclasses.replace(m, **changes)


def _guess_kind(m: ColumnMapping, first_row: Mapping[str, Any] | None, where: str) -> str:
    have = set(m.columns) | set(m.constants)
    lease = bool(have & {"valid_lft", "cltt", "expire"})
    v6: bool | None = None
    # lease_type / prefix_len are not evidence: a v4 export may well have a "type" column.
    if have & {"duid", "iaid", "preferred_lft", "addresses", "prefixes"}:
        v6 = True
    elif "client_id" in have:
        v6 = False
    if v6 is None and first_row is not None and "address" in m.columns:
        value = first_row.get(m.columns["address"])
        if isinstance(value, str) and value.strip():
            v6 = ":" in value
        elif isinstance(value, int | Decimal):
            v6 = False
    if v6 is None:
        v6 = False
    return ("lease" if lease else "reservation") + ("6" if v6 else "4")


# ---- value conversion ------------------------------------------------------------------------

def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and value != value:  # NaN from pandas
        return True
    return isinstance(value, str) and not value.strip()


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value).strip()


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal | float):
        if value != int(value):
            raise InvalidValueError(name, value, "expected a whole number")
        return int(value)
    text = _text(value)
    try:
        return int(text)
    except ValueError:
        try:
            f = float(text)
        except ValueError as exc:
            raise InvalidValueError(name, value, "expected a number") from exc
        if f != int(f):
            raise InvalidValueError(name, value, "expected a whole number") from None
        return int(f)


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    text = _text(value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidValueError(name, value, "expected true/false or 1/0")


def _hexid(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex(":")
    return _text(value)


def _address(value: Any, name: str, family: int) -> IPv4Address | IPv6Address:
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        # Kea's SQL lease4 table stores the address as an unsigned 32-bit number.
        try:
            return IPv4Address(int(value)) if family == 4 else IPv6Address(int(value))
        except ValueError as exc:
            raise InvalidValueError(name, value, str(exc)) from exc
    text = _text(value)
    if family == 4 and text.isdigit():
        return IPv4Address(int(text))
    try:
        addr = ip_address(text)
    except ValueError as exc:
        raise InvalidValueError(name, value, f"not an IPv{family} address") from exc
    if addr.version != family:
        raise InvalidValueError(name, value, f"an IPv{addr.version} address in an IPv{family} source")
    return addr


def parse_time(value: Any, name: str, *, time_format: str = "auto", tz: tzinfo | None = None) -> int:
    """UTC epoch seconds from a number, an ISO-8601 text, a strptime text or a datetime."""
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, int | Decimal | float) and not isinstance(value, bool):
        return int(value)
    else:
        text = _text(value)
        fmt = time_format.lower()
        if fmt == "epoch" or (fmt == "auto" and re.fullmatch(r"-?\d+(\.\d+)?", text)):
            try:
                return int(float(text))
            except ValueError as exc:
                raise InvalidValueError(name, value, "expected epoch seconds") from exc
        if fmt in ("auto", "iso8601", "iso-8601", "iso"):
            try:
                when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError as exc:
                raise InvalidValueError(name, value, "not an ISO-8601 time "
                                        "(like 2026-11-27T21:00:00Z) nor epoch seconds") from exc
        else:
            try:
                when = datetime.strptime(text, time_format)
            except ValueError as exc:
                raise InvalidValueError(name, value, f"does not match time_format {time_format!r}") from exc
    if when.tzinfo is None:
        if tz is None:
            raise InvalidValueError(name, value, "time has no UTC offset; write it as "
                                    "2026-11-27T21:00:00Z or set 'timezone' in the mapping")
        when = when.replace(tzinfo=tz)
    return int(when.timestamp())


def _state(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = _text(value).lower()
    if text in _STATE_NAMES:
        return _STATE_NAMES[text]
    return _int(text, "state")


def _lease_type(value: Any) -> str:
    text = _text(value).upper().replace("-", "_")
    if text.isdigit():
        code = int(text)
        if code not in LEASE_TYPE_NAMES:
            raise InvalidValueError("lease_type", value, "expected 0 (IA_NA), 1 (IA_TA) or 2 (IA_PD)")
        return LEASE_TYPE_NAMES[code]
    aliases = {"NA": "IA_NA", "TA": "IA_TA", "PD": "IA_PD", "IA_NA": "IA_NA", "IA_TA": "IA_TA",
               "IA_PD": "IA_PD", "ADDRESS": "IA_NA", "PREFIX": "IA_PD"}
    if text not in aliases:
        raise InvalidValueError("lease_type", value, "expected IA_NA, IA_TA, IA_PD or 0/1/2")
    return aliases[text]


def _user_context(value: Any) -> Mapping[str, Any] | None:
    if isinstance(value, Mapping):
        return value
    text = _text(value)
    if not text:
        return None
    try:
        ctx = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidValueError("user_context", value, f"not JSON: {exc.msg}") from exc
    if not isinstance(ctx, Mapping):
        raise InvalidValueError("user_context", value, "not a JSON object")
    return ctx


class RowConverter:
    """Turns one source row (column -> value) into an ``Extracted`` or a ``MalformedRecordError``."""

    def __init__(self, mapping: ColumnMapping, *, source: str) -> None:
        if mapping.kind is None:
            raise ConfigError(f"{source}: the mapping has no kind")
        self.m = mapping
        self.kind: str = mapping.kind
        self.source = source
        self.tz = mapping.tz()
        self.family = mapping.family()

    def _get(self, row: Mapping[str, Any], fname: str) -> Any:
        col = self.m.columns.get(fname)
        if col is not None:
            value = row.get(col)
            if not _blank(value):
                return value
        if fname in self.m.constants:
            return self.m.constants[fname]
        return None

    def _key(self, row: Mapping[str, Any]) -> str | None:
        for fname in ("address", "addresses", "identifier", "hwaddr", "duid", "client_id"):
            v = self._get(row, fname)
            if v is not None:
                if isinstance(v, bytes | bytearray | memoryview):
                    return bytes(v).hex(":")
                if isinstance(v, int) and fname == "address" and self.family == 4:
                    try:
                        return str(IPv4Address(v))
                    except ValueError:
                        return str(v)
                return _text(v)
        return None

    def convert(self, row: Mapping[str, Any], line: int | None) -> Extracted | MalformedRecordError:
        try:
            if self.kind == "lease4":
                ext = self._lease4(row, line)
            elif self.kind == "lease6":
                ext = self._lease6(row, line)
            else:
                ext = self._reservation(row, line)
        except (InvalidValueError, ValueError, TypeError, OverflowError) as exc:
            return MalformedRecordError(self.source, line, self._key(row), str(exc))
        return ext

    def _times(self, row: Mapping[str, Any]) -> tuple[int, int]:
        valid_raw = self._get(row, "valid_lft")
        cltt_raw = self._get(row, "cltt")
        expire_raw = self._get(row, "expire")
        fmt, tz = self.m.time_format, self.tz
        valid = None if valid_raw is None else _int(valid_raw, "valid_lft")
        cltt = None if cltt_raw is None else parse_time(cltt_raw, "cltt", time_format=fmt, tz=tz)
        never = isinstance(expire_raw, str) and expire_raw.strip().lower() in ("never", "infinite")
        expire = None
        if expire_raw is not None and not never:
            expire = parse_time(expire_raw, "expire", time_format=fmt, tz=tz)
        if never:
            valid = INFINITE_LIFETIME
        if valid is not None and expire is not None:
            # The expiry is what a client holds: keep it exactly, derive cltt.
            return valid, expire - valid
        if valid is not None and cltt is not None:
            return valid, cltt
        if cltt is not None and expire is not None:
            if expire < cltt:
                raise InvalidValueError("expire", expire_raw, "earlier than cltt")
            return expire - cltt, cltt
        missing = [n for n, v in (("valid_lft", valid), ("cltt", cltt), ("expire", expire)) if v is None]
        raise ValueError(f"{' and '.join(missing)} empty: a lease needs two of valid_lft / cltt / expire")

    def _common_lease(self, row: Mapping[str, Any]) -> dict[str, Any]:
        valid, cltt = self._times(row)
        kw: dict[str, Any] = {"valid_lft": valid, "cltt": cltt}
        v = self._get(row, "subnet_id")
        if v is not None:
            kw["subnet_id"] = _int(v, "subnet_id")
        v = self._get(row, "hostname")
        if v is not None:
            kw["hostname"] = _text(v)
        for flag in ("fqdn_fwd", "fqdn_rev"):
            v = self._get(row, flag)
            if v is not None:
                kw[flag] = _bool(v, flag)
        v = self._get(row, "state")
        if v is not None:
            kw["state"] = _state(v)
        v = self._get(row, "user_context")
        if v is not None:
            kw["user_context"] = _user_context(v)
        return kw

    def _binding_state(self, row: Mapping[str, Any]) -> str:
        v = self._get(row, "binding_state")
        if v is None:
            return "active"
        text = _text(v).lower()
        if text not in BINDING_STATES:
            raise InvalidValueError("binding_state", v, f"expected one of {', '.join(BINDING_STATES)}")
        return text

    def _lease4(self, row: Mapping[str, Any], line: int | None) -> Extracted:
        addr = self._get(row, "address")
        if addr is None:
            raise InvalidValueError("address", None, "empty")
        kw = self._common_lease(row)
        hw = self._get(row, "hwaddr")
        cid = self._get(row, "client_id")
        rec = Lease4(address=_address(addr, "address", 4),  # type: ignore[arg-type]
                     hwaddr=None if hw is None else _hexid(hw),
                     client_id=None if cid is None else _hexid(cid), origin=self.source, line=line,
                     **kw)
        if rec.hwaddr is None and rec.client_id is None:
            raise InvalidValueError("hwaddr", None, "empty (and no client_id)")
        return Extracted(rec, binding_state=self._binding_state(row), source=self.source, line=line)

    def _lease6(self, row: Mapping[str, Any], line: int | None) -> Extracted:
        addr = self._get(row, "address")
        if addr is None:
            raise InvalidValueError("address", None, "empty")
        kw = self._common_lease(row)
        duid = self._get(row, "duid")
        if duid is None:
            raise InvalidValueError("duid", None, "empty")
        iaid = self._get(row, "iaid")
        if iaid is None:
            raise InvalidValueError("iaid", None, "empty")
        ltype = self._get(row, "lease_type")
        lease_type = "IA_NA" if ltype is None else _lease_type(ltype)
        text = _text(addr)
        plen_raw = self._get(row, "prefix_len")
        if "/" in text:
            text, _, plen_text = text.partition("/")
            plen_raw = plen_raw if plen_raw is not None else plen_text
            if ltype is None:
                lease_type = "IA_PD"
        prefix_len = 128 if plen_raw is None else _int(plen_raw, "prefix_len")
        if lease_type != "IA_PD" and prefix_len != 128:
            raise InvalidValueError("prefix_len", plen_raw, f"an {lease_type} lease is a /128")
        pref = self._get(row, "preferred_lft")
        hw = self._get(row, "hwaddr")
        iaid_n = _int(iaid, "iaid")
        if -(2**31) <= iaid_n < 0:
            # Kea's SQL lease6 tables keep the 32-bit IAID in a signed INT column.
            iaid_n += 2**32
        rec = Lease6(address=_address(text, "address", 6), duid=_hexid(duid),  # type: ignore[arg-type]
                     iaid=iaid_n, lease_type=lease_type,  # type: ignore[arg-type]
                     prefix_len=prefix_len,
                     preferred_lft=_int(pref, "preferred_lft") if pref is not None else kw["valid_lft"],
                     hwaddr=None if hw is None else _hexid(hw), origin=self.source, line=line, **kw)
        return Extracted(rec, binding_state=self._binding_state(row), source=self.source, line=line)

    def _reservation(self, row: Mapping[str, Any], line: int | None) -> Extracted:
        family = 4 if self.kind == "reservation4" else 6
        ident_type: str | None = None
        ident: Any = None
        itype = self._get(row, "identifier_type")
        if itype is not None:
            ident_type = _text(itype).lower().replace("_", "-")
            if ident_type in ("hwaddr", "mac", "hw-addr"):
                ident_type = "hw-address"
            ident = self._get(row, "identifier")
            if ident is None:
                raise InvalidValueError("identifier", None, "empty")
        else:
            for fname, kea_name in _IDENT_ORDER:
                v = self._get(row, fname)
                if v is not None:
                    ident_type, ident = kea_name, v
                    break
            if ident is None:
                v = self._get(row, "identifier")
                if v is not None:
                    raise InvalidValueError("identifier_type", None,
                                            "an identifier column needs an identifier_type")
                raise InvalidValueError("identifier", None, "no hwaddr, client_id, duid, circuit_id "
                                        "or flex_id in this row")
        kw: dict[str, Any] = {}
        v = self._get(row, "subnet_id")
        if v is not None:
            kw["subnet_id"] = _int(v, "subnet_id")
        v = self._get(row, "hostname")
        if v is not None:
            kw["hostname"] = _text(v)
        v = self._get(row, "client_classes")
        if v is not None:
            kw["client_classes"] = tuple(c for c in _LIST_SPLIT.split(_text(v)) if c)
        v = self._get(row, "user_context")
        if v is not None:
            kw["user_context"] = _user_context(v)
        if family == 4:
            v = self._get(row, "address")
            if v is not None:
                kw["ipv4_address"] = _address(v, "address", 4)
            v = self._get(row, "next_server")
            if v is not None:
                kw["next_server"] = _address(v, "next_server", 4)
            v = self._get(row, "boot_file_name")
            if v is not None:
                kw["boot_file_name"] = _text(v)
        else:
            addrs: list[Any] = []
            for fname in ("address", "addresses"):
                v = self._get(row, fname)
                if v is not None:
                    addrs.extend(a for a in _LIST_SPLIT.split(_text(v)) if a)
            kw["ip_addresses"] = tuple(_address(a, "address", 6) for a in addrs)
            v = self._get(row, "prefixes")
            if v is not None:
                kw["prefixes"] = tuple(p for p in _LIST_SPLIT.split(_text(v)) if p)
        rec = Reservation(family=family, identifier_type=ident_type,  # type: ignore[arg-type]
                          identifier=_hexid(ident), origin=self.source, line=line,
                          **kw)
        return Extracted(rec, source=self.source, line=line)
