"""Windows DHCP Server extractor: ``Export-DhcpServer -Leases`` XML and the CSV that
``Get-DhcpServerv4Lease`` / ``Get-DhcpServerv6Lease`` / ``Get-DhcpServerv4Reservation`` /
``Get-DhcpServerv6Reservation | Export-Csv`` write -> ``Lease4`` / ``Lease6`` / ``Reservation``.

``extract(path, source_tz=...)`` (``windows:PATH``, or detected: an XML root ``<DHCPServer>``, or
a CSV whose header has Windows' property names) reads either. No Windows server ran for this
code: the formats are Microsoft's documented classes (DhcpServerv4Lease, DhcpServerv6Lease,
DhcpServerv4Reservation, DhcpServerv6Reservation in ``Root\\Microsoft\\Windows\\DHCP``; the
DhcpServer module's cmdlets), see docs/sources.md.

Times: Windows writes ``LeaseExpiryTime`` in the server's local time without a zone (XML
``2026-12-12T17:07:21`` or ``...21.123``; CSV in the exporting session's culture,
``12/12/2026 5:07:21 PM``). kea-etl never guesses a zone: such a file needs ``source_tz`` (an IANA
name such as ``Europe/Berlin``, ``UTC``, or an offset ``+01:00``; CLI ``--source-tz``), else
:class:`ConfigError` before any record. A local time that occurs twice (the autumn clock change)
is read as the first. Slash dates are month first (en-US); a first number above 12 is refused
with its line. Times with a zone (``Z``, ``+01:00``) need no ``source_tz``.

v4 leases: ``ClientId`` ``00-11-22-33-44-55`` (6 bytes: Windows keeps an Ethernet client's MAC,
without the hardware type byte of the client-id it sent) -> ``hwaddr`` (no client-id: Kea then
matches the client by MAC); a longer ClientId is the client identifier (``client_id``), and its
MAC when it is ``01`` + 6 bytes; otherwise the lease has no MAC and fails (``no-hwaddr``).
``AddressState``: Active / ActiveReservation -> loaded; Declined -> Kea state declined (no
client); Expired -> skipped (expired); Offered and InactiveReservation -> skipped (not a lease,
reported as ``free``); anything else -> skipped with the state named. ``HostName`` -> hostname,
``Description`` -> user-context comment. No lease length is exported: the XML's scope
``LeaseDuration`` gives ``valid_lft`` (``cltt = expiry - duration``, the last renewal); the CSV
has none, so ``cltt`` is the time the file is read and ``valid_lft`` the time left (as for
dnsmasq). No expiry (a BOOTP reservation) = infinite.

v6 leases: ``ClientDuid``, ``Iaid``, ``AddressType`` IANA / IATA (IA_TA: skipped, Kea has none).

Reservations: ``ClientId`` of 6 bytes -> ``hw-address``, longer -> ``client-id``; v6
``ClientDuid`` -> ``duid``; ``Name`` -> hostname; ``Description`` -> user-context comment;
``Type`` Dhcp (as is) / Bootp / Both (Kea answers BOOTP clients only with the bootp hook: a
warning says so); an XML reservation's ``OptionValues`` -> option-data for standard options (by
code, under Kea's names), vendor- / user-class options and unmapped codes -> warnings.

Not carried, each a SourceWarning with file and line: scopes (Kea subnets: the warning names the
subnet, pool and lease time to configure, and what else the scope has), server and scope option
values, policies,
classes, filters, failover relationships (a Kea HA pair: see docs/failover.md), and unknown
lease or reservation columns with a value (NapStatus, ProbationEnds, DnsRR ...). Those that Kea
has a place for, ``kea-etl convert windows:F.xml`` writes into a Kea configuration
(:mod:`kea_etl.convert.windows`, which reads options and reservations with this module's
:func:`option_entry` and :func:`scope_reservations`).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from ipaddress import IPv4Address, IPv4Network, IPv6Address
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kea_etl import clock
from kea_etl import dhcp_options as opts
from kea_etl._files import open_regular
from kea_etl.errors import ConfigError, InvalidValueError, MalformedRecordError
from kea_etl.extract import _safe_xml
from kea_etl.extract.base import Extracted, ExtractItem
from kea_etl.records import (
    INFINITE_LIFETIME,
    STATE_DECLINED,
    Lease4,
    Lease6,
    Reservation,
    canonical_hex,
)
from kea_etl.report import SourceWarning

__all__ = ["OptionValue", "extract", "option_entry", "option_values", "parse_time",
           "scope_reservations", "sniff", "timespan", "timezone_named"]

_DEFAULT_LIFETIME = 3600
#: AddressState -> (binding state for the transform, Kea lease state)
_STATES = {"active": ("active", 0), "activereservation": ("active", 0),
           "declined": ("active", STATE_DECLINED), "expired": ("expired", 0),
           "offered": ("free", 0), "inactivereservation": ("free", 0)}
_CSV_HEADS = (b"#TYPE Microsoft.Management.Infrastructure.CimInstance#root/Microsoft/Windows/DHCP",)
_CSV_COLUMNS = ({"IPAddress", "ScopeId", "ClientId"}, {"IPAddress", "ClientDuid"})
_XML_ROOT = re.compile(rb"^(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*\?>\s*)?<DHCPServer[\s>]")
_TZ_HELP = ("give --source-tz with the DHCP server's time zone (an IANA name such as "
            "Europe/Berlin, UTC, or an offset like +01:00)")


def sniff(head: bytes) -> bool:
    """True for Export-DhcpServer XML or a DhcpServer cmdlet's Export-Csv output."""
    if _XML_ROOT.match(head):
        return True
    text = head.decode("utf-8-sig", errors="replace")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if lines and lines[0].encode().startswith(_CSV_HEADS):
        return True
    if not lines:
        return False
    cols = {c.strip().strip('"') for c in lines[0].split(",")}
    return any(need <= cols for need in _CSV_COLUMNS) and (
        "AddressState" in cols or "LeaseExpiryTime" in cols or "Type" in cols
        or "Iaid" in cols)


def timezone_named(name: str) -> tzinfo:
    """``UTC``, ``+01:00`` / ``-0530``, or an IANA zone name. Raises :class:`ConfigError`."""
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", name.strip())
    if m:
        delta = timedelta(hours=int(m[2]), minutes=int(m[3]))
        return timezone(-delta if m[1] == "-" else delta)
    if name.strip().upper() in ("UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"--source-tz {name!r}: not a time zone (an IANA name such as "
                          "Europe/Berlin, UTC, or an offset like +01:00)") from None


_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})[T ](\d{1,2}):(\d{2}):(\d{2})(\.\d+)?"
                  r"(Z|[+-]\d{2}:?\d{2})?")
_US = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2}):(\d{2})(?: ?([AaPp][Mm]))?")
_DOTTED = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4}) (\d{1,2}):(\d{2}):(\d{2})")


def parse_time(text: str, tz: tzinfo | None) -> int:
    """Epoch seconds of a Windows time. Raises ``ValueError`` (a reason) for text it cannot read
    and :class:`ConfigError` for a zone-less time when ``tz`` is None."""
    t = text.strip()
    zone: tzinfo | None = None
    if m := _ISO.fullmatch(t):
        y, mo, d, h, mi, s = (int(x) for x in m.group(1, 2, 3, 4, 5, 6))
        if m[8]:
            zone = UTC if m[8] == "Z" else timezone_named(m[8])
    elif m := _US.fullmatch(t):
        mo, d, y, h, mi, s = (int(x) for x in m.group(1, 2, 3, 4, 5, 6))
        if mo > 12:
            raise ValueError(f"{t!r}: month {mo}: slash dates are read month first (en-US); "
                             "export with an en-US or invariant culture")
        if m[7]:
            if not 1 <= h <= 12:
                raise ValueError(f"{t!r}: hour {h} with AM/PM")
            h = h % 12 + (12 if m[7].lower() == "pm" else 0)
    elif m := _DOTTED.fullmatch(t):
        d, mo, y, h, mi, s = (int(x) for x in m.group(1, 2, 3, 4, 5, 6))
    else:
        raise ValueError(f"{t!r} is not a time kea-etl reads (ISO 8601, M/d/yyyy h:mm:ss AM/PM, "
                         "d.M.yyyy H:mm:ss)")
    if zone is None:
        if tz is None:
            raise ConfigError(f"times such as {t!r} are the server's local time without a zone; "
                              + _TZ_HELP)
        zone = tz
    try:
        return int(datetime(y, mo, d, h, mi, s, tzinfo=zone).timestamp())
    except ValueError as exc:
        raise ValueError(f"{t!r}: {exc}") from None


def _lifetimes(expiry: int | None, duration: int | None, now: int) -> tuple[int, int]:
    """(cltt, valid_lft) keeping ``expiry`` exactly (module docstring)."""
    if expiry is None:
        return 0, INFINITE_LIFETIME
    if duration:
        valid = min(duration, expiry)
        return expiry - valid, valid
    if expiry > now:
        return now, expiry - now
    valid = min(_DEFAULT_LIFETIME, expiry)
    return expiry - valid, valid


def _client_id4(raw: str) -> tuple[str | None, str | None]:
    """Windows ClientId -> (hwaddr, client_id)."""
    ident = canonical_hex(raw, "ClientId")
    if ident is None:
        return None, None
    n = (len(ident) + 1) // 3
    if n == 6:
        return ident, None
    if n == 7 and ident.startswith("01:"):
        return ident[3:], ident
    return None, ident


_LEASE4_COLS = {"IPAddress", "ScopeId", "AddressState", "ClientId", "ClientType", "Description",
                "HostName", "LeaseExpiryTime", "ServerIP", "PSComputerName", "CimClass",
                "CimInstanceProperties", "CimSystemProperties"}
_LEASE6_COLS = {"IPAddress", "Prefix", "AddressType", "ClientDuid", "Iaid", "HostName",
                "LeaseExpiryTime", "Description", "ServerIP", "PSComputerName", "CimClass",
                "CimInstanceProperties", "CimSystemProperties"}
_RES_COLS = {"IPAddress", "ScopeId", "Prefix", "ClientId", "ClientDuid", "Iaid", "Name", "Type",
             "Description", "PSComputerName", "CimClass", "CimInstanceProperties",
             "CimSystemProperties"}
#: columns whose values Kea has no place for but that carry no lease information either
_QUIET = {"DnsRegistration": {"", "NotApplicable", "Complete", "Pending"},
          "NapCapable": {"", "False", "false"}, "NapStatus": {"", "FullAccess", "NoQuarantine"},
          "PolicyName": {""}, "DnsRR": {"", "A", "PTR", "AandPTR", "NoRegistration"},
          "ProbationEnds": {""}}


class _Row:
    """One lease or reservation, from an XML element or a CSV row: field access by name."""

    def __init__(self, fields: dict[str, str], line: int, source: str) -> None:
        self.f, self.line, self.source = fields, line, source

    def get(self, name: str) -> str:
        return (self.f.get(name) or "").strip()


def _lease(row: _Row, family: int, tz: tzinfo | None, now: int, duration: int | None
           ) -> ExtractItem:
    key = row.get("IPAddress") or None
    state_text = row.get("AddressState") or "Active"
    binding, state = _STATES.get(state_text.lower(), (f"windows-{state_text}", 0))
    try:
        exp_text = row.get("LeaseExpiryTime")
        expiry = parse_time(exp_text, tz) if exp_text else None
        cltt, valid = _lifetimes(expiry, duration, now)
        comment = row.get("Description")
        context = {"comment": comment} if comment else None
        rec: Lease4 | Lease6
        if family == 4:
            hwaddr, client_id = _client_id4(row.get("ClientId"))
            if state == STATE_DECLINED:  # Windows keeps no client on a bad address
                hwaddr, client_id = None, None
            rec = Lease4(address=IPv4Address(row.get("IPAddress")), hwaddr=hwaddr, client_id=client_id,
                         valid_lft=valid, cltt=cltt, hostname=row.get("HostName"), state=state,
                         user_context=context, origin=row.source, line=row.line)
        else:
            ltype = "IA_TA" if row.get("AddressType").upper() == "IATA" else "IA_NA"
            rec = Lease6(address=IPv6Address(row.get("IPAddress")), duid=row.get("ClientDuid"),
                         iaid=int(row.get("Iaid") or "x"), valid_lft=valid,
                         preferred_lft=valid, cltt=cltt, lease_type=ltype,  # type: ignore[arg-type]
                         hostname=row.get("HostName"), user_context=context,
                         origin=row.source, line=row.line)
    except (ValueError, InvalidValueError) as exc:
        return MalformedRecordError(row.source, row.line, key, str(exc))
    extra: dict[str, Any] = {"windows_state": state_text}
    notes = _unknown_columns(row, _LEASE4_COLS if family == 4 else _LEASE6_COLS, key)
    return Extracted(rec, binding_state=binding, source=row.source, line=row.line, extra=extra,
                     warnings=tuple(notes))


def _unknown_columns(row: _Row, known: set[str], key: str | None) -> list[SourceWarning]:
    out = []
    for name, value in row.f.items():
        v = (value or "").strip()
        if name in known or not v or v in _QUIET.get(name, set()):
            continue
        out.append(SourceWarning(row.source, row.line, f"{name}={v[:80]}",
                                 "not translated: Kea has no such lease or reservation field",
                                 key))
    return out


def _reservation(row: _Row, family: int) -> ExtractItem:
    key = row.get("IPAddress") or row.get("ClientId") or row.get("ClientDuid") or None
    warnings: list[SourceWarning] = []
    try:
        comment = row.get("Description")
        context = {"comment": comment} if comment else None
        if family == 4:
            hwaddr, client_id = _client_id4(row.get("ClientId"))
            if hwaddr is None and client_id is None:
                raise ValueError("a reservation without a ClientId")
            if hwaddr is not None and client_id is None:
                ident_type, ident = "hw-address", hwaddr
            else:
                ident_type, ident = "client-id", client_id or ""
            kind = row.get("Type") or "Dhcp"
            if kind.lower() in ("bootp", "both"):
                warnings.append(SourceWarning(
                    row.source, row.line, f"Type={kind}", "translated with a change: Kea answers "
                    "BOOTP clients only with the bootp hook (libdhcp_bootp.so) loaded", key))
            elif kind.lower() != "dhcp":
                raise ValueError(f"Type {kind!r} is not Dhcp, Bootp or Both")
            rec = Reservation(family=4, identifier_type=ident_type,  # type: ignore[arg-type]
                              identifier=ident,
                              ipv4_address=IPv4Address(row.get("IPAddress"))
                              if row.get("IPAddress") else None,
                              hostname=row.get("Name"), user_context=context,
                              origin=row.source, line=row.line)
        else:
            addr = row.get("IPAddress")
            rec = Reservation(family=6, identifier_type="duid", identifier=row.get("ClientDuid"),
                              ip_addresses=(IPv6Address(addr),) if addr else (),
                              hostname=row.get("Name"), user_context=context,
                              origin=row.source, line=row.line)
            if row.get("Iaid"):
                warnings.append(SourceWarning(
                    row.source, row.line, f"Iaid={row.get('Iaid')}", "not translated: Kea "
                    "reserves per DUID, for any IAID", key))
    except (ValueError, InvalidValueError) as exc:
        return MalformedRecordError(row.source, row.line, key, str(exc))
    warnings += _unknown_columns(row, _RES_COLS, key)
    return Extracted(rec, source=row.source, line=row.line, warnings=tuple(warnings))


# ---- CSV ----------------------------------------------------------------------------------------


def _extract_csv(p: Path, tz: tzinfo | None) -> Iterator[ExtractItem]:
    """Rows streamed one at a time (a lease export can be large)."""
    source = str(p)
    with io.TextIOWrapper(open_regular(p, what="Windows DHCP CSV"), encoding="utf-8-sig",
                          errors="replace", newline="") as fh:
        skipped = 0  # blank lines and the #TYPE line Windows PowerShell 5.1 writes first
        while True:
            pos = fh.tell()
            first = fh.readline()
            if not first or (first.strip() and not first.startswith("#TYPE")):
                fh.seek(pos)
                break
            skipped += 1
        reader = csv.DictReader(fh)
        cols = set(reader.fieldnames or ())
        family = 6 if "ClientDuid" in cols else 4
        is_lease = "LeaseExpiryTime" in cols or "AddressState" in cols or "AddressType" in cols
        if is_lease and "LeaseExpiryTime" in cols and tz is None:
            raise ConfigError(f"{p}: LeaseExpiryTime in a Windows CSV is the server's local time "
                              "without a zone; " + _TZ_HELP)
        now = clock.now()
        for fields in reader:
            line = skipped + reader.line_num
            if None in fields:  # more values than columns
                yield MalformedRecordError(source, line, fields.get("IPAddress"),
                                           "more values than the header has columns")
                continue
            row = _Row({k: v or "" for k, v in fields.items()}, line, source)
            if not any(row.f.values()):
                continue
            yield _lease(row, family, tz, now, None) if is_lease else _reservation(row, family)


# ---- XML ----------------------------------------------------------------------------------------


def timespan(text: str) -> int | None:
    """Windows TimeSpan ``d.hh:mm:ss`` / ``hh:mm:ss`` -> seconds (None for none)."""
    # TimeSpan.MaxValue (an unlimited lease) prints with fractions: 10675199.02:48:05.4775807
    m = re.fullmatch(r"(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.\d+)?", text.strip())
    if not m:
        return None
    return int(m[1] or 0) * 86400 + int(m[2]) * 3600 + int(m[3]) * 60 + int(m[4])


def _fields(el: ET.Element) -> dict[str, str]:
    return {c.tag: _safe_xml.text(c) for c in el if not len(c)}


@dataclasses.dataclass(frozen=True, slots=True)
class OptionValue:
    """One ``<OptionValue>`` of an Export-DhcpServer XML (server, scope or reservation)."""

    code: str
    values: tuple[str, ...]
    vendor_class: str
    user_class: str
    line: int

    @property
    def statement(self) -> str:
        return f"OptionId {self.code} = {', '.join(self.values)[:80]}"


def option_values(holder: ET.Element | None) -> list[OptionValue]:
    """The ``<OptionValue>`` children of an ``<OptionValues>`` element (none for None)."""
    return [OptionValue(_safe_xml.text(ov.find("OptionId")),
                        tuple(_safe_xml.text(v) for v in ov.findall("Value") if _safe_xml.text(v)),
                        _safe_xml.text(ov.find("VendorClass")), _safe_xml.text(ov.find("UserClass")),
                        _safe_xml.line(ov))
            for ov in (holder.findall("OptionValue") if holder is not None else ())]


def option_entry(ov: OptionValue, family: int) -> dict[str, Any]:
    """Kea option-data for a standard option (by code, Kea's name and spelling). Raises
    :class:`~kea_etl.dhcp_options.OptionValueError` saying why it is not translated."""
    if ov.vendor_class or ov.user_class:
        raise opts.OptionValueError("a vendor- or user-class option is a Kea client class's "
                                    "option-data")
    odef = opts.by_kea("dhcp4" if family == 4 else "dhcp6",
                       code=int(ov.code)) if ov.code.isdigit() else None
    if odef is None:
        raise opts.OptionValueError("an option kea-etl does not map")
    data = opts._format(odef.kind, ov.values)  # noqa: SLF001 - the canonical spelling
    return {"name": odef.kea, "code": odef.code, "space": odef.space, "data": data}


def _with_options(item: Extracted, options: ET.Element, family: int) -> Extracted:
    """A reservation's ``<OptionValues>``: standard options (by code, Kea's name) become its
    option-data; vendor- or user-class options and unknown codes are warnings."""
    rec = item.record
    assert isinstance(rec, Reservation)
    entries: list[dict[str, Any]] = []
    notes = list(item.warnings)
    for ov in option_values(options):
        try:
            entries.append(option_entry(ov, family))
        except opts.OptionValueError as exc:
            notes.append(SourceWarning(item.source, ov.line, ov.statement,
                                       f"not translated: {exc}", rec.key))
    if entries:
        rec = dataclasses.replace(rec, option_data=opts.canonical_option_data(entries, family))
    return dataclasses.replace(item, record=rec, warnings=tuple(notes))


def _extract_xml(p: Path, tz: tzinfo | None) -> Iterator[ExtractItem]:
    source = str(p)
    root = _safe_xml.parse(p, roots=("DHCPServer",), what="Export-DhcpServer XML")
    if tz is None:
        for t in root.iter("LeaseExpiryTime"):
            v = _safe_xml.text(t)
            if v and not re.search(r"(Z|[+-]\d{2}:?\d{2})$", v):
                raise ConfigError(f"{p} line {_safe_xml.line(t)}: LeaseExpiryTime {v!r} is the "
                                  "server's local time without a zone; " + _TZ_HELP)
    now = clock.now()
    for family, section_tag in ((4, "IPv4"), (6, "IPv6")):
        section = root.find(section_tag)
        if section is None:
            continue
        for child in section:
            if child.tag == "Scopes":
                continue
            if len(child) or _safe_xml.text(child):
                hint = (" (a Kea HA pair: docs/failover.md)" if "Failover" in child.tag else "")
                yield SourceWarning(source, _safe_xml.line(child), f"<{section_tag}><{child.tag}>",
                                    f"not translated: server-wide setting{hint}")
        scopes = section.find("Scopes")
        for scope in scopes if scopes is not None else ():
            yield from _scope(scope, family, tz, now, source)


def _scope(scope: ET.Element, family: int, tz: tzinfo | None, now: int, source: str
           ) -> Iterator[ExtractItem]:
    f = _fields(scope)
    duration = timespan(f.get("LeaseDuration", "")) if family == 4 else \
        timespan(f.get("ValidLifetime", ""))
    if family == 4:
        try:
            net = str(IPv4Network(f"{f.get('ScopeId')}/{f.get('SubnetMask')}", strict=False))
        except ValueError:
            net = f.get("ScopeId", "?")
        pool = f" pool {f['StartRange']} - {f['EndRange']}," if f.get("StartRange") else ""
    else:
        net, pool = f"{f.get('Prefix', '?')}/64", ""
    parts = [c.tag for c in scope if len(c) and c.tag not in ("Leases", "Reservations")]
    extra = f"; also {', '.join(parts)}" if parts else ""
    yield SourceWarning(source, _safe_xml.line(scope), f"<Scope> {f.get('Name', '')}".strip(),
                        f"not loaded: a scope is Kea configuration; configure subnet {net},{pool}"
                        f" valid-lifetime {duration}{extra} (kea-etl convert windows:FILE "
                        "writes it)")
    yield from scope_reservations(scope, family, source)
    holder = scope.find("Leases")
    for el in holder if holder is not None else ():
        yield _lease(_Row(_fields(el), _safe_xml.line(el), source), family, tz, now, duration)


def scope_reservations(scope: ET.Element, family: int, source: str) -> Iterator[ExtractItem]:
    """The reservations of one ``<Scope>`` element (``migrate`` and ``convert`` both read them
    here)."""
    holder = scope.find("Reservations")
    for el in holder if holder is not None else ():
        item = _reservation(_Row(_fields(el), _safe_xml.line(el), source), family)
        options = el.find("OptionValues")
        if options is not None and len(options) and isinstance(item, Extracted):
            item = _with_options(item, options, family)
        yield item


def extract(path: str | Path, *, source_tz: str | None = None) -> Iterator[ExtractItem]:
    """Stream a Windows DHCP Server export (XML or CSV, told apart by content)."""
    p = Path(path)
    tz = timezone_named(source_tz) if source_tz else None
    with open_regular(p, what="Windows DHCP export") as fh:
        head = fh.read(4096)
    if _XML_ROOT.match(head):
        yield from _extract_xml(p, tz)
    else:
        yield from _extract_csv(p, tz)
