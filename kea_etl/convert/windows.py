"""Windows DHCP Server ``Export-DhcpServer`` XML -> Kea ``Dhcp4`` / ``Dhcp6`` configurations.

:class:`WindowsConverter` reads the export with :mod:`kea_etl.extract._safe_xml` (the parser
``migrate windows:`` uses) and returns one :class:`~kea_etl.convert.build.FamilyResult` per family
(v6 only when the export has v6 scopes), with the same kind of findings as the dhcpd converter:
every element it does not translate is reported with the file and the line of its start tag.

* a ``<Scope>`` -> a subnet: ``ScopeId`` + ``SubnetMask`` (v6: ``Prefix``, always a /64 on
  Windows) with the id :func:`kea_etl.convert.ids.assign_ids` derives, so ``migrate`` files the
  scope's leases under the same id as for a dhcpd site; ``StartRange`` - ``EndRange`` minus the
  ``ExclusionRanges`` -> pools (split around each exclusion; a v6 scope's pool is its whole prefix
  minus the exclusions); ``LeaseDuration`` (v6 ``ValidLifetime`` / ``PreferredLifetime``,
  ``T1`` / ``T2``) -> lifetimes and timers; ``SuperscopeName`` -> a shared network; an inactive
  scope keeps its subnet (its leases keep their id) but serves nobody: its ``client-class`` is a
  class no client is put into, and a ``decide`` finding says so;
* server and scope ``OptionValues`` -> ``option-data`` through
  :func:`kea_etl.extract.windows.option_entry` (the table of :mod:`kea_etl.dhcp_options`,
  as for reservations);
* reservations -> the subnet's ``reservations``, read by
  :func:`kea_etl.extract.windows.scope_reservations`, the code ``migrate`` uses (as the dhcpd
  converter places hosts);
* a failover relationship -> the HA skeleton and to-do list of :mod:`kea_etl.convert.ha`;
* vendor and user classes -> client classes testing option 60 / 77; a MAC deny filter -> Kea's
  ``DROP`` class; ``DnsSettings`` -> ``ddns-send-updates`` / ``ddns-override-client-update`` /
  ``ddns-override-no-update``; policies, allow filters, multicast scopes, NAP and conflict
  detection: findings.

Windows writes no zone-less times into the configuration parts, so no ``--source-tz`` is needed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from pathlib import Path
from typing import Any, Literal

from kea_etl.convert.build import DEFAULT_HOOKS_DIR, FamilyResult, finish_config, host_error, host_finding
from kea_etl.convert.expr import literal
from kea_etl.convert.findings import Finding, Severity
from kea_etl.convert.ha import Relationship, ha_library, ha_todo
from kea_etl.convert.ids import assign_ids
from kea_etl.dhcp_options import OptionValueError, canonical_option_data
from kea_etl.errors import ConfigError, MalformedRecordError
from kea_etl.extract import _safe_xml
from kea_etl.extract import windows as win
from kea_etl.extract.base import Extracted, SourceWarning
from kea_etl.records import INFINITE_LIFETIME, Reservation

__all__ = ["INACTIVE_CLASS", "WindowsConverter", "windows_source"]

#: the client class an inactive scope's subnet is limited to: defined without a test, so no
#: client is ever put into it (removing the subnet's client-class activates the scope)
INACTIVE_CLASS = "windows-inactive-scope"

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address

#: (element, value) pairs that are Windows' defaults and need nothing in Kea
_QUIET = {("MaxBootpClients", None), ("ActivatePolicies", None), ("DelayOffer", "0"),
          ("NapEnable", "false"), ("NapEnabled", "false"), ("NapProfile", ""),
          ("ConflictDetectionAttempts", "0"), ("NpsUnreachableAction", None),
          ("Preference", "0"), ("MajorVersion", None), ("MinorVersion", None), ("Type", "Dhcp")}
#: Windows DnsSettings -> what Kea does
_DYNAMIC_UPDATES = {"never": (False, False), "onclientrequest": (True, False),
                    "always": (True, True)}


def windows_source(arg: str | Path) -> Path | None:
    """The export's path when ``arg`` names a Windows source (``windows:PATH``, or a file that
    starts like an Export-DhcpServer XML, ``<DHCPServer>``); None for anything else."""
    text = str(arg)
    if text.startswith("windows:"):
        return Path(text[len("windows:"):])
    try:
        with Path(text).open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    return Path(text) if win._XML_ROOT.match(head) else None  # noqa: SLF001 - one definition


@dataclass(slots=True)
class _Scope:
    el: ET.Element
    net: Network
    body: dict[str, Any]
    superscope: str
    #: the <SuperscopeName> element (its line for the report)
    superscope_el: ET.Element | None = None


def _fields(el: ET.Element) -> dict[str, tuple[str, ET.Element]]:
    return {c.tag: (_safe_xml.text(c), c) for c in el if not len(c)}


def _ranges_minus(lo: int, hi: int, holes: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """``[lo, hi]`` without the ``holes`` (inclusive ranges), as sorted inclusive pieces."""
    out: list[tuple[int, int]] = []
    start = lo
    for a, b in sorted(holes):
        if b < start or a > hi:
            continue
        if a > start:
            out.append((start, a - 1))
        start = max(start, b + 1)
    if start <= hi:
        out.append((start, hi))
    return out


class WindowsConverter:
    """Translate one Export-DhcpServer XML into Kea configurations (both families)."""

    def __init__(self, path: str | Path, *, keep_ids: Mapping[int, Mapping[str, int]] | None = None,
                 hooks_dir: str = DEFAULT_HOOKS_DIR) -> None:
        self.path = Path(path)
        self.source = str(self.path)
        self.keep_ids = keep_ids or {}
        self.hooks_dir = hooks_dir.rstrip("/")
        self.findings: list[Finding] = []

    # ---- reporting ---------------------------------------------------------------------------
    def note(self, severity: Severity, topic: str, el: ET.Element | None, message: str, *,
             statement: str = "", kea: str = "", **details: Any) -> None:
        if el is not None and not statement:
            value = _safe_xml.text(el) if not len(el) else ""
            statement = f"<{el.tag}>" + (f" {value[:80]}" if value else "")
        self.findings.append(Finding(severity, topic, message, file=self.source,
                                     line=_safe_xml.line(el) if el is not None else None,
                                     statement=statement, kea=kea, details=details))

    def untranslated(self, el: ET.Element, why: str, *, kea: str = "",
                     severity: Severity = "warning", statement: str = "") -> None:
        self.note(severity, "untranslated", el, f"not translated: {why}", kea=kea,
                  statement=statement)

    def _quiet(self, el: ET.Element) -> bool:
        value = _safe_xml.text(el)
        return (el.tag, None) in _QUIET or (el.tag, value) in _QUIET or (not len(el) and not value)

    # ---- entry point ---------------------------------------------------------------------------
    def run(self) -> tuple[FamilyResult | None, FamilyResult | None]:
        root = _safe_xml.parse(self.path, roots=("DHCPServer",), what="Export-DhcpServer XML")
        for child in root:
            if child.tag not in ("IPv4", "IPv6") and not self._quiet(child):
                self.untranslated(child, "a server setting kea-etl does not know")
        out: dict[int, FamilyResult | None] = {4: None, 6: None}
        for family, tag in ((4, "IPv4"), (6, "IPv6")):
            section = root.find(tag)
            scopes = section.find("Scopes") if section is not None else None
            if section is None or scopes is None or not len(scopes):
                continue
            self.findings = []
            out[family] = self._family(section, family)
        if out[4] is None and out[6] is None:
            raise ConfigError(f"{self.path}: no <Scope> in <IPv4><Scopes> or <IPv6><Scopes>: "
                              "nothing to convert (export with Export-DhcpServer -File F.xml)")
        return out[4], out[6]

    def _family(self, section: ET.Element, family: int) -> FamilyResult:
        result = FamilyResult(family, {})
        body: dict[str, Any] = {}
        scopes: list[_Scope] = []
        classes: list[dict[str, Any]] = []
        relationships: list[ET.Element] = []
        for child in section:
            tag = child.tag
            if tag == "Scopes":
                for el in child:
                    sc = self._scope(el, family)
                    if sc is not None:
                        scopes.append(sc)
            elif tag == "OptionValues":
                data = self._options(child, family)
                if data:
                    body["option-data"] = data
            elif tag == "Failover":
                relationships.extend(child)
            elif tag == "Classes":
                classes.extend(self._classes(child, family))
            elif tag == "Filters":
                classes.extend(self._filters(child, family))
            elif tag == "Policies":
                self._policies(child)
            elif tag == "DnsSettings":
                self._dns(child, body)
            elif tag == "MulticastScopes":
                for el in child:
                    self.untranslated(el, "a multicast (MADCAP) scope: Kea has no MADCAP server")
            elif tag == "OptionDefinitions":
                self._option_defs(child, family)
            elif tag == "ConflictDetectionAttempts" and not self._quiet(child):
                self.untranslated(child, "Kea 2.x does not ping before an offer (Kea 3.0 has "
                                  "the ping_check hook)", kea="libdhcp_ping_check.so")
            elif tag == "NapEnabled" and not self._quiet(child):
                self.untranslated(child, "Network Access Protection: Kea has none (Windows "
                                  "Server 2012 R2 deprecated it)")
            elif not self._quiet(child):
                self.untranslated(child, "a server-wide setting kea-etl does not know")
        if any(sc.body.get("client-class") == INACTIVE_CLASS for sc in scopes):
            classes.append({"name": INACTIVE_CLASS})
        self._lifetimes(body, scopes, family)
        # result.pools stays empty: check reads it for dhcpd fixed addresses inside a pool, which
        # dhcpd may lease to another client; Windows never leases a reserved address dynamically
        self._subnets_out(body, scopes, family, result)
        self._reservations(_subnets_of(body, family), scopes, family, result)
        if classes:
            body["client-classes"] = classes
        self._failover(relationships, body, scopes, result)
        result.config = finish_config(body, family, self.hooks_dir)
        self.note("decide", "interfaces", None, "Windows serves the interfaces its bindings name "
                  f"(Get-DhcpServerv{family}Binding); the converted config listens on none",
                  kea="interfaces-config.interfaces")
        result.findings = self.findings
        return result

    # ---- scopes ----------------------------------------------------------------------------------
    def _scope(self, el: ET.Element, family: int) -> _Scope | None:
        f = _fields(el)

        def get(name: str) -> str:
            return f.get(name, ("", el))[0]

        net: Network
        try:
            if family == 4:
                net = IPv4Network(f"{get('ScopeId')}/{get('SubnetMask')}", strict=False)
            else:
                # Windows DHCPv6 scopes are always /64 (Add-DhcpServerv6Scope takes a prefix only)
                net = IPv6Network(f"{get('Prefix')}/64", strict=False)
        except ValueError as exc:
            self.note("error", "scopes", el, f"not translated: the scope's prefix: {exc}",
                      statement=f"<Scope> {get('Name')}".strip(), kea=f"subnet{family}")
            return None
        body: dict[str, Any] = {}
        where = f"<Scope> {net}"
        comment = " - ".join(x for x in (get("Name"), get("Description")) if x)
        if comment:
            body["user-context"] = {"comment": comment}
        self._scope_lifetimes(el, f, body, family)
        body["pools"] = self._pools(el, f, net, family)
        state = get("State") or "Active"
        if state.lower() == "inactive":
            body["client-class"] = INACTIVE_CLASS
            self.note("decide", "scopes", f["State"][1], f"scope {net} is inactive on Windows "
                      "(it answers no client): its subnet is kept, so migrated leases keep their "
                      f"subnet id, but limited to client class {INACTIVE_CLASS!r}, which no "
                      "client joins; remove the subnet's client-class to activate it",
                      statement=f"{where}: State {state}", kea="subnet.client-class")
        elif state.lower() != "active":
            self.note("warning", "scopes", f["State"][1], f"scope state {state!r} is neither "
                      "Active nor Inactive: translated as active", statement=where)
        kind = get("Type") or "Dhcp"
        if kind.lower() in ("bootp", "both"):
            self.note("warning", "scopes", f["Type"][1], f"scope type {kind}: Kea answers BOOTP "
                      "clients only with the bootp hook (libdhcp_bootp.so) loaded",
                      statement=where, kea="libdhcp_bootp.so")
        if family == 6 and get("Preference") not in ("", "0"):
            body.setdefault("option-data", []).append(
                {"name": "preference", "code": 7, "space": "dhcp6", "data": get("Preference")})
        handled = {"ScopeId", "SubnetMask", "Prefix", "Name", "Description", "StartRange",
                   "EndRange", "LeaseDuration", "ValidLifetime", "PreferredLifetime", "T1", "T2",
                   "State", "Type", "Preference", "SuperscopeName", "ExclusionRanges",
                   "Reservations", "Leases"}
        for child in el:
            tag = child.tag
            if tag == "OptionValues":
                data = self._options(child, family)
                if data:
                    body["option-data"] = [*body.get("option-data", []), *data]
            elif tag == "Policies":
                self._policies(child)
            elif tag == "DnsSettings":
                self._dns(child, body)
            elif tag == "DelayOffer" and not self._quiet(child):
                self.untranslated(child, "Kea cannot delay its offers (a Windows secondary "
                                  "server's delay; Kea HA splits clients instead)")
            elif tag not in handled and not self._quiet(child):
                self.untranslated(child, "a scope setting kea-etl does not know",
                                  statement=f"{where}: <{tag}> {_safe_xml.text(child)[:80]}")
        if "option-data" in body:
            body["option-data"] = list(canonical_option_data(body["option-data"], family))
        if not body["pools"]:
            del body["pools"]
        return _Scope(el, net, body, get("SuperscopeName"), f.get("SuperscopeName", ("", el))[1])

    def _scope_lifetimes(self, el: ET.Element, f: Mapping[str, tuple[str, ET.Element]],
                         body: dict[str, Any], family: int) -> None:
        keys = ({"LeaseDuration": "valid-lifetime"} if family == 4 else
                {"ValidLifetime": "valid-lifetime", "PreferredLifetime": "preferred-lifetime",
                 "T1": "renew-timer", "T2": "rebind-timer"})
        for tag, key in keys.items():
            text, child = f.get(tag, ("", el))
            if not text:
                continue
            seconds = win.timespan(text)
            if seconds is None and text.lower() in ("unlimited", "infinite"):
                seconds = INFINITE_LIFETIME
            if seconds is None or seconds == 0 and tag in ("T1", "T2"):
                if seconds is None:
                    self.note("error", "lease-times", child, f"not translated: {text!r} is not a "
                              "TimeSpan (d.hh:mm:ss)", kea=key)
                continue
            # TimeSpan.MaxValue (10675199 days) and anything past 32 bits: Kea's infinite
            body[key] = min(seconds, INFINITE_LIFETIME)
        if family == 6 and body.get("preferred-lifetime", 0) > body.get("valid-lifetime",
                                                                        INFINITE_LIFETIME):
            body["preferred-lifetime"] = body["valid-lifetime"]
            self.note("warning", "lease-times", el, "PreferredLifetime exceeds ValidLifetime: "
                      "lowered to it", kea="preferred-lifetime")

    def _pools(self, el: ET.Element, f: Mapping[str, tuple[str, ET.Element]], net: Network,
               family: int) -> list[dict[str, Any]]:
        where = f"<Scope> {net}"
        lo, hi = int(net.network_address), int(net.broadcast_address)
        if family == 4:
            start, end = f.get("StartRange", ("", el)), f.get("EndRange", ("", el))
            try:
                first, last = int(IPv4Address(start[0])), int(IPv4Address(end[0]))
            except ValueError:
                self.note("error", "scopes", el, "not translated: the scope's StartRange / "
                          f"EndRange {start[0]!r} - {end[0]!r} are not addresses: no pool",
                          statement=where, kea="pools")
                return []
            if not lo <= first <= last <= hi:
                self.note("error", "scopes", start[1], f"not translated: the range {start[0]} - "
                          f"{end[0]} is not inside {net}: no pool", statement=where, kea="pools")
                return []
        else:
            first, last = lo, hi
        holes: list[tuple[int, int]] = []
        excl = el.find("ExclusionRanges")
        for rng in excl if excl is not None else ():
            a, b = _safe_xml.text(rng.find("StartRange")), _safe_xml.text(rng.find("EndRange"))
            try:
                xa, xb = ip_address(a), ip_address(b or a)
            except ValueError:
                self.note("error", "scopes", rng, f"not translated: exclusion {a!r} - {b!r} is "
                          "not a range of addresses", statement=where, kea="pools")
                continue
            if xa.version != family or xb.version != family or int(xa) > int(xb):
                self.note("error", "scopes", rng, f"not translated: exclusion {a} - {b} is not "
                          f"an IPv{family} range", statement=where, kea="pools")
                continue
            if int(xb) < first or int(xa) > last:
                self.note("info", "scopes", rng, f"exclusion {xa} - {xb} lies outside the "
                          "scope's range: nothing to exclude", statement=where, kea="pools")
            holes.append((int(xa), int(xb)))
        pieces = _ranges_minus(first, last, holes)
        make = IPv4Address if family == 4 else IPv6Address
        pools = [{"pool": f"{make(a)} - {make(b)}"} for a, b in pieces]
        if holes and any(first <= a <= last or first <= b <= last for a, b in holes):
            self.note("info", "scopes", excl, f"the range less its exclusions: {len(pools)} "
                      "pool(s)", statement=where, kea="pools", count=len(pools))
        if not pools:
            self.note("warning", "scopes", excl if excl is not None else el, "the exclusions "
                      "cover the whole range: a subnet without a pool (reservations and "
                      "migrated leases only)", statement=where, kea="pools")
        return pools

    def _lifetimes(self, body: dict[str, Any], scopes: list[_Scope], family: int) -> None:
        """Global lifetimes that every scope's own lies between (Kea checks each scope's
        valid-lifetime against the min / max it inherits)."""
        valid = [sc.body["valid-lifetime"] for sc in scopes if "valid-lifetime" in sc.body]
        if not valid:
            return
        body["valid-lifetime"] = Counter(valid).most_common(1)[0][0]
        body["min-valid-lifetime"], body["max-valid-lifetime"] = min(valid), max(valid)
        pref = [sc.body["preferred-lifetime"] for sc in scopes if "preferred-lifetime" in sc.body]
        if family == 6 and pref:
            body["preferred-lifetime"] = min(Counter(pref).most_common(1)[0][0],
                                             body["valid-lifetime"])
            body["min-preferred-lifetime"] = min(pref)
            body["max-preferred-lifetime"] = max(pref)

    def _subnets_out(self, body: dict[str, Any], scopes: list[_Scope], family: int,
                     result: FamilyResult) -> None:
        keep = self.keep_ids.get(family)
        ids, notes = assign_ids([sc.net for sc in scopes], keep=keep)
        result.subnet_ids = ids
        for prefix, sid, why in notes:
            self.note("warning", "subnet-ids", None, f"subnet {prefix} gets id {sid}: {why}",
                      kea="subnet id")
        for prefix in sorted(set(keep or {}) - set(ids)):
            self.note("decide", "subnet-ids", None, f"subnet {prefix} (id {keep[prefix]}) of the "  # type: ignore[index]
                      "previous Kea config is not in the export: its leases have no subnet after "
                      "cutover")
        key = f"subnet{family}"
        top: list[dict[str, Any]] = []
        shared: dict[str, list[dict[str, Any]]] = defaultdict(list)
        first_el: dict[str, ET.Element | None] = {}
        seen: set[str] = set()
        for sc in scopes:
            if str(sc.net) in seen:
                self.note("error", "scopes", sc.el, f"not translated: scope {sc.net} appears "
                          "twice", statement=f"<Scope> {sc.net}", kea=key)
                continue
            seen.add(str(sc.net))
            sub = {"id": ids[str(sc.net)], "subnet": str(sc.net), **sc.body}
            (shared[sc.superscope] if sc.superscope else top).append(sub)
            if sc.superscope:
                first_el.setdefault(sc.superscope, sc.superscope_el)
        if top:
            body[key] = top
        nets = []
        for name, subs in shared.items():
            nets.append({"name": name, key: subs})
            self.note("info", "shared-networks", first_el.get(name), f"superscope {name!r} "
                      f"became a shared network of {len(subs)} subnet(s)", kea="shared-networks")
        if nets:
            body["shared-networks"] = nets

    # ---- reservations ----------------------------------------------------------------------------
    def _reservations(self, subnets: Mapping[str, dict[str, Any]], scopes: list[_Scope],
                      family: int, result: FamilyResult) -> None:
        for sc in scopes:
            sub = subnets.get(str(sc.net))
            if sub is None:
                continue
            idents: set[tuple[str, str]] = set()
            addrs: set[str] = set()
            for item in win.scope_reservations(sc.el, family, self.source):
                if isinstance(item, MalformedRecordError):
                    self.findings.append(host_error(item))
                    continue
                if isinstance(item, SourceWarning):
                    self._source_warning(item)
                    continue
                assert isinstance(item, Extracted)
                for sw in item.warnings:
                    self._source_warning(sw)
                rec = item.record
                assert isinstance(rec, Reservation)
                held: list[Address] = ([rec.ipv4_address] if rec.ipv4_address is not None
                                       else list(rec.ip_addresses))
                stmt = f"<Reservation> {rec.key}"
                if any(a not in sc.net for a in held):
                    self.findings.append(Finding(
                        "warning", "hosts", f"its address is outside scope {sc.net}: Kea keeps "
                        "a reservation in the subnet that holds its address; not placed",
                        file=item.source, line=item.line, statement=stmt, kea="reservations"))
                    continue
                ident = (rec.identifier_type, rec.identifier)
                dup = ident in idents or any(str(a) in addrs for a in held)
                if dup:
                    self.findings.append(Finding(
                        "warning", "hosts", f"a second reservation for the same client or "
                        f"address in subnet {sc.net}: Kea holds one; the first is kept",
                        file=item.source, line=item.line, statement=stmt, kea="reservations"))
                    continue
                idents.add(ident)
                addrs.update(str(a) for a in held)
                sub.setdefault("reservations", []).append(rec.to_kea_host())
                result.reservations.append(replace(rec, subnet_id=int(sub["id"])))

    def _source_warning(self, sw: SourceWarning) -> None:
        self.findings.append(host_finding(sw))

    # ---- options ---------------------------------------------------------------------------------
    def _options(self, holder: ET.Element, family: int) -> list[dict[str, Any]]:
        entries = []
        for ov in win.option_values(holder):
            try:
                entries.append(win.option_entry(ov, family))
            except OptionValueError as exc:
                self.findings.append(Finding("warning", "untranslated", f"not translated: {exc}",
                                             file=self.source, line=ov.line,
                                             statement=ov.statement, kea="option-data"))
        return list(canonical_option_data(entries, family))

    def _option_defs(self, holder: ET.Element, family: int) -> None:
        from kea_etl.convert.build import KEA_STD4, KEA_STD6

        std = KEA_STD4 if family == 4 else KEA_STD6
        for el in holder:
            f = _fields(el)
            code = f.get("OptionId", ("", el))[0]
            vendor = f.get("VendorClass", ("", el))[0]
            if code.isdigit() and int(code) in std and not vendor:
                continue  # Windows lists its predefined options: Kea defines them itself
            self.untranslated(el, "an option definition Kea does not have: write its option-def "
                              "by hand (values of this option are reported where they are set)",
                              kea="option-def", statement=f"<OptionDefinition> {code} "
                              f"{f.get('Name', ('', el))[0]}".strip())

    # ---- classes, filters, policies, DNS ---------------------------------------------------------
    def _classes(self, holder: ET.Element, family: int) -> list[dict[str, Any]]:
        out = []
        for el in holder:
            f = _fields(el)
            name, kind = f.get("Name", ("", el))[0], f.get("Type", ("", el))[0].lower()
            data = f.get("AsciiData", f.get("Data", ("", el)))[0]
            stmt = f"<Class> {name} ({kind})"
            if family == 6 or kind not in ("vendor", "user") or not name or not data:
                self.untranslated(el, "a class kea-etl cannot express as a Kea client class "
                                  "test (a DHCPv6 class, or no name, type or data)",
                                  kea="client-classes", statement=stmt)
                continue
            # Get-DhcpServerv4Class shows Data as hex and AsciiData as text
            raw = (data.encode() if "AsciiData" in f or not _is_hex(data)
                   else bytes.fromhex(data))
            code = 60 if kind == "vendor" else 77
            out.append({"name": name, "test": f"option[{code}].hex == {literal(raw)}"})
            self.note("info", "classes", el, f"became client class {name!r} (option {code} "
                      "equals the class data); only a policy or class option on Windows used it: "
                      "those are reported where they are", kea="client-classes", statement=stmt)
        return out

    def _filters(self, holder: ET.Element, family: int) -> list[dict[str, Any]]:
        deny: list[str] = []
        for el in holder:
            f = _fields(el)
            mac, kind = f.get("MacAddress", ("", el))[0], f.get("List", ("", el))[0].lower()
            stmt = f"<Filter> {kind} {mac}"
            hexmac = mac.replace("-", "").replace(":", "").lower()
            if family == 4 and kind == "deny" and len(hexmac) == 12 and _is_hex(hexmac):
                deny.append(f"pkt4.mac == 0x{hexmac.upper()}")
                continue
            if kind == "allow":
                self.untranslated(el, "an allow filter: with the allow list enabled, Windows "
                                  "answers only listed MACs; in Kea that is class DROP with test "
                                  "'not (pkt4.mac == 0x... or ...)'", kea="client-classes DROP",
                                  severity="decide", statement=stmt)
            else:
                self.untranslated(el, "a filter kea-etl cannot express (a wildcard MAC, or not "
                                  "Allow / Deny)", kea="client-classes DROP", statement=stmt)
        if not deny:
            return []
        self.note("decide", "filters", holder, f"{len(deny)} denied MAC(s) became Kea's DROP "
                  "class (Kea drops their packets); Windows applies the deny list only when it "
                  "is enabled (Get-DhcpServerv4FilterList): remove the class if it was not",
                  kea="client-classes DROP", count=len(deny))
        return [{"name": "DROP", "test": " or ".join(deny)}]

    def _policies(self, holder: ET.Element) -> None:
        for el in holder:
            name = _safe_xml.text(el.find("Name"))
            self.untranslated(el, "a Windows policy (conditions on vendor / user class, MAC, "
                              "client-id, relay agent or FQDN, with its own ranges, lease time "
                              "and options): in Kea a client class with a test, a pool "
                              "client-class and the class's option-data; write it by hand",
                              kea="client-classes", statement=f"<Policy> {name}".strip())

    def _dns(self, holder: ET.Element, body: dict[str, Any]) -> None:
        for el in holder:
            tag, value = el.tag, _safe_xml.text(el).lower()
            if tag == "DynamicUpdates" and value in _DYNAMIC_UPDATES:
                send, override = _DYNAMIC_UPDATES[value]
                body["ddns-send-updates"] = send
                if send:
                    body["ddns-override-client-update"] = override
                    self.note("decide", "ddns", el, "DNS updates on: Kea sends them through "
                              "kea-dhcp-ddns (D2), which needs dhcp-ddns.enable-updates, the "
                              "forward and reverse zones and their keys (Windows DNS takes "
                              "secure updates: GSS-TSIG, Kea's gss_tsig hook)",
                              kea="dhcp-ddns, ddns-send-updates")
            elif tag == "UpdateDnsRRForOlderClients" and value in ("true", "false"):
                body["ddns-override-no-update"] = value == "true"
            elif tag == "NameProtection" and value == "false":
                self.note("decide", "ddns", el, "Windows registered names without DHCID "
                          "records; Kea's default conflict resolution (check-with-dhcid) will "
                          "refuse to update or remove them", kea="ddns-conflict-resolution-mode: "
                          "no-check-without-dhcid (2.6+) or ddns-use-conflict-resolution: false "
                          "(2.2)")
            elif tag == "NameProtection" and value == "true":
                self.note("info", "ddns", el, "name protection (DHCID records) is what Kea's "
                          "conflict resolution does by default", kea="ddns-conflict-resolution-mode")
            elif tag == "DeleteDnsRROnLeaseExpiry" and value == "true":
                continue  # Kea removes the names of a lease it reclaims
            elif tag == "DisableDnsPtrRRUpdate" and value == "true":
                self.untranslated(el, "Kea has no switch for PTR updates: leave the reverse "
                                  "zones out of D2's reverse-ddns", kea="reverse-ddns")
            elif not self._quiet(el) or tag == "DeleteDnsRROnLeaseExpiry":
                self.untranslated(el, "a DNS setting Kea has no equivalent for",
                                  kea="ddns-*")

    # ---- failover -> HA --------------------------------------------------------------------------
    def _failover(self, relationships: list[ET.Element], body: dict[str, Any],
                  scopes: list[_Scope], result: FamilyResult) -> None:
        if not relationships:
            return
        if result.family == 6:
            for el in relationships:
                self.untranslated(el, "a DHCPv6 failover relationship (Windows has none for v6)")
            return
        for extra in relationships[1:]:
            self.untranslated(extra, "a second failover relationship: one Kea server takes part "
                              "in one HA relationship (Kea 2.x)", kea="libdhcp_ha.so",
                              severity="decide", statement="<Relationship> "
                              + _safe_xml.text(extra.find("Name")))
        el = relationships[0]
        f = _fields(el)

        def get(name: str) -> str:
            return f.get(name, ("", el))[0]

        name = get("Name") or "failover"
        mode: Literal["hot-standby", "load-balancing"] = (
            "hot-standby" if get("Mode").lower() == "hotstandby" else "load-balancing")
        role: Literal["primary", "secondary"] = (
            "secondary" if get("ServerRole").lower() == "standby" else "primary")
        partner = get("PartnerServer")
        try:
            peer = str(ip_address(partner))
        except ValueError:
            peer = ""
        rel = Relationship(name, role, mode, peer_address=peer,
                           old_port="Windows' failover port 647")
        body.setdefault("hooks-libraries", []).append(ha_library(rel, self.hooks_dir))
        result.failover.append({"name": name, "role": role, "partner": partner, "mode": mode})
        todo = ha_todo(rel)
        if partner and not peer:
            todo.append(f"the partner {partner!r} is a name: Kea's peer URL needs its address")
        pct = get("LoadBalancePercent")
        if mode == "load-balancing" and pct not in ("", "50"):
            todo.append(f"LoadBalancePercent {pct}: Kea load balancing always splits about "
                        "evenly (by a hash of the client)")
        if mode == "hot-standby" and get("ReservePercent"):
            todo.append(f"ReservePercent {get('ReservePercent')}: a Kea standby holds every "
                        "lease, no reserve is needed")
        if get("MaxClientLeadTime"):
            todo.append(f"MaxClientLeadTime {get('MaxClientLeadTime')}: Kea HA has no MCLT (the "
                        "partner holds every lease, so no safety margin is needed)")
        covered = {_safe_xml.text(s) for s in el.iter("ScopeId")}
        all_ids = {str(sc.net.network_address) for sc in scopes}
        if covered and covered != all_ids:
            todo.append(f"the relationship covers {len(covered & all_ids)} of {len(all_ids)} "
                        "scope(s); Kea HA covers every subnet of the server")
        self.note("decide", "failover", el, f"failover relationship {name!r} ({get('Mode')}) "
                  f"became a Kea HA {mode} skeleton; the operator must: " + "; ".join(todo),
                  kea="libdhcp_ha.so high-availability", statement=f"<Relationship> {name}",
                  todo=todo)


def _subnets_of(body: Mapping[str, Any], family: int) -> dict[str, dict[str, Any]]:
    """The subnets written into ``body`` (top level and in shared networks), by prefix."""
    key = f"subnet{family}"
    subs = [*body.get(key, []), *(s for n in body.get("shared-networks", []) for s in n[key])]
    return {str(s["subnet"]): s for s in subs}


def _is_hex(text: str) -> bool:
    return bool(text) and len(text) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in text)
