"""pfSense / OPNsense extractor: ``config.xml`` static DHCP mappings -> ``Reservation`` records.

``extract(path)`` (``pfsense:PATH``, or a plain path whose root element is ``<pfsense>`` or
``<opnsense>``) reads the appliance's configuration backup and yields one reservation per
``<dhcpd><IFACE><staticmap>`` (v4) and ``<dhcpdv6><IFACE><staticmap>`` (v6). The fields and how
the appliance itself turns them into server configuration are pfSense's own code
(``src/etc/inc/services.inc``: ``services_dhcpd_configure()`` for ISC dhcpd and the Kea
backend's reservation builder; ``src/usr/local/www/services_dhcp_edit.php`` for the form and its
checks). OPNsense's legacy ISC DHCP section has the same layout.

v4 ``staticmap``:

* identifier: the ``mac`` (``hw-address``), else the ``cid`` (``client-id``) -- as pfSense's own
  Kea backend does ("only set client-id if no mac address"). A ``cid`` that is a Kea hex string
  (``01:aa:bb``, ``01 aa bb``, ``0x01aabb``) is those bytes; any other text is its own bytes
  (pfSense's ISC backend sends it as ``option dhcp-client-identifier "TEXT"``). A mapping with
  both keeps the MAC; the client-id is a warning and ``extra["alt_identifiers"]``.
* ``ipaddr`` -> ``ip-address``; none: an address-less (global) reservation, with a warning.
* ``hostname`` (spaces and dots become ``_`` as pfSense writes them) -> ``hostname``.
* ``descr`` -> ``user-context: {"comment": ...}`` (Kea's own place for a comment).
* ``gateway`` -> ``routers``, ``dnsserver`` (repeated) -> ``domain-name-servers``, ``domain`` ->
  ``domain-name``, ``domainsearchlist`` (``;``-separated) -> ``domain-search``, ``winsserver`` ->
  ``netbios-name-servers`` + ``netbios-node-type 8``, ``ntpserver`` -> ``ntp-servers``,
  ``rootpath`` -> ``root-path``; each only when it differs from the interface's own value
  (pfSense writes it only then). ``filename`` -> ``boot-file-name``.
* not carried, each a :class:`~kea_etl.report.SourceWarning` with file and line: per-mapping lease
  times, dynamic DNS settings, ``arp_table_static_entry``, ``tftp``, ``ldap``, unknown elements.

v6 ``staticmap``: ``duid`` -> ``duid``, ``ipaddrv6`` -> ``ip-addresses``, ``hostname``, ``descr``;
an address given as a suffix for a ``track6`` interface (pfSense merges it with the delegated
prefix at run time) fails: the prefix is not in the file.

Subnets: the interface's ``<interfaces><IFACE><ipaddr>/<subnet>`` (``ipaddrv6``/``subnetv6``) of
the same file is kept in ``extra["pfsense_subnet"]`` and reported; a reserved address outside it
fails (pfSense refuses such a mapping; Kea would put it in another subnet). Subnet ids come from
the target Kea configuration as for every source. Mappings of a ``<dhcpd>`` interface missing from
``<interfaces>`` are still read, with a warning.

Parsing is safe for untrusted files: a document type declaration (``<!DOCTYPE``, which is where
entities are declared) is refused before any element is built, and no external resource is
fetched; pfSense and OPNsense never write one. Line numbers come from expat.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)
from pathlib import Path
from typing import Any

from kea_etl import dhcp_options as opts
from kea_etl.errors import InvalidValueError, MalformedRecordError
from kea_etl.extract import _safe_xml
from kea_etl.extract.base import Extracted, ExtractItem
from kea_etl.records import Reservation, canonical_hex
from kea_etl.report import SourceWarning

__all__ = ["extract", "parse", "sniff"]

_ROOT = re.compile(rb"^\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*<(pfsense|opnsense)[\s>]", re.S)

#: staticmap child -> dhcpd option name (kea_etl.dhcp_options), as services.inc maps them
_OPTIONS4 = {"gateway": "routers", "dnsserver": "domain-name-servers", "domain": "domain-name",
             "domainsearchlist": "domain-search", "winsserver": "netbios-name-servers",
             "ntpserver": "ntp-servers", "rootpath": "root-path"}
_OPTIONS6 = {"dnsserver": "dhcp6.name-servers", "domainsearchlist": "dhcp6.domain-search"}
_NOT_CARRIED = {
    "defaultleasetime": "Kea sets lease lifetimes per subnet or client class, not per host",
    "maxleasetime": "Kea sets lease lifetimes per subnet or client class, not per host",
    "ddnsdomain": "dynamic DNS is configured in kea-dhcp-ddns, not per host",
    "ddnsdomainprimary": "dynamic DNS is configured in kea-dhcp-ddns, not per host",
    "ddnsdomainsecondary": "dynamic DNS is configured in kea-dhcp-ddns, not per host",
    "ddnsdomainkeyname": "dynamic DNS is configured in kea-dhcp-ddns, not per host",
    "ddnsdomainkeyalgorithm": "dynamic DNS is configured in kea-dhcp-ddns, not per host",
    "ddnsdomainkey": "dynamic DNS is configured in kea-dhcp-ddns, not per host",
    "ddnsupdate": "dynamic DNS is configured in kea-dhcp-ddns, not per host",
    "ddnsforcehostname": "dynamic DNS is configured in kea-dhcp-ddns, not per host",
    "arp_table_static_entry": "a static ARP entry is firewall configuration, not DHCP",
    "tftp": "the TFTP server option (66/150) is set per subnet in Kea",
    "ldap": "the LDAP server option is not translated",
    "nextserver": "next-server per mapping is not translated",
    "bootfilename": "OPNsense's per-mapping boot file name is not translated",
}


_FLAGS = ("ddnsupdate", "arp_table_static_entry", "ddnsforcehostname")


def sniff(head: bytes) -> bool:
    """True when the document's root element is ``<pfsense>`` or ``<opnsense>``."""
    return _ROOT.match(head) is not None


def parse(path: str | Path) -> ET.Element:
    """The root element of ``path`` (:func:`kea_etl.extract._safe_xml.parse`: no DTDs or
    entities; each element carries its start line)."""
    return _safe_xml.parse(path, roots=("pfsense", "opnsense"), what="config.xml")


_line = _safe_xml.line
_text = _safe_xml.text


def _values(parent: ET.Element, tag: str) -> list[str]:
    return [t for t in (_text(e) for e in parent.findall(tag)) if t]


def _hex_string(value: str) -> str | None:
    """Colon hex if ``value`` is what Kea takes as a hex string (services.inc kea_is_hexstring:
    ``0x`` + hex digits, or 1-2 digit hex bytes separated by ':' or ' '), else None."""
    v = value.strip()
    if v.lower().startswith("0x") and re.fullmatch(r"[0-9a-fA-F]+", v[2:]) and len(v) % 2 == 0:
        return bytes.fromhex(v[2:]).hex(":")
    for sep in (":", " "):
        if sep in v:
            parts = v.split(sep)
            if all(1 <= len(x) <= 2 and re.fullmatch(r"[0-9a-fA-F]+", x) for x in parts):
                return ":".join(f"{int(x, 16):02x}" for x in parts)
            return None
    return None


def _interfaces(root: ET.Element) -> dict[str, dict[str, Any]]:
    """IFACE -> {"v4": network or None, "v6": network or None, "v6mode": 'track6'/... }."""
    out: dict[str, dict[str, Any]] = {}
    ifaces = root.find("interfaces")
    if ifaces is None:
        return out
    for el in ifaces:
        entry: dict[str, Any] = {"v4": None, "v6": None, "v4text": _text(el.find("ipaddr")),
                                 "v6text": _text(el.find("ipaddrv6"))}
        for fam, addr_tag, len_tag in ((4, "ipaddr", "subnet"), (6, "ipaddrv6", "subnetv6")):
            addr, plen = _text(el.find(addr_tag)), _text(el.find(len_tag))
            if addr and plen.isdigit():
                try:
                    net = ip_network(f"{addr}/{plen}", strict=False)
                except ValueError:
                    continue
                if net.version == fam:
                    entry[f"v{fam}"] = net
        out[el.tag] = entry
    return out


def extract(path: str | Path) -> Iterator[ExtractItem]:
    """Stream the static mappings of a pfSense / OPNsense ``config.xml``."""
    p = Path(path)
    source = str(p)
    root = parse(p)
    ifaces = _interfaces(root)
    for family, section in ((4, "dhcpd"), (6, "dhcpdv6")):
        sec = root.find(section)
        if sec is None:
            continue
        for iface in sec:
            info = ifaces.get(iface.tag)
            net = info[f"v{family}"] if info else None
            if info is None:
                yield SourceWarning(source, _line(iface), f"<{section}><{iface.tag}>",
                                    f"no <interfaces><{iface.tag}> in the file: its subnet is "
                                    "unknown, the target's subnets decide")
            elif net is None:
                what = info["v4text" if family == 4 else "v6text"] or "none"
                yield SourceWarning(source, _line(iface), f"<{section}><{iface.tag}>",
                                    f"interface address is {what!r}, not a static address with "
                                    "a prefix length: its subnet is unknown")
            settings = [c.tag for c in iface if c.tag != "staticmap" and (_text(c) or len(c))]
            if settings:
                rng = iface.find("range")
                pool = (f", pool {_text(rng.find('from'))} - {_text(rng.find('to'))}"
                        if rng is not None and _text(rng.find("from")) else "")
                yield SourceWarning(source, _line(iface), f"<{section}><{iface.tag}> "
                                    f"{', '.join(dict.fromkeys(settings))}",
                                    "not loaded: interface-wide DHCP settings are Kea subnet "
                                    f"configuration; configure subnet {net or '(unknown)'}{pool} "
                                    "and its options in Kea")
            for sm in iface.findall("staticmap"):
                yield from _mapping(sm, family, iface, net, info, source)


def _mapping(sm: ET.Element, family: int, iface: ET.Element,
             net: IPv4Network | IPv6Network | None, info: dict[str, Any] | None,
             source: str) -> Iterator[ExtractItem]:
    line = _line(sm)
    mac = _text(sm.find("mac")).lower().replace("-", ":")
    cid = _text(sm.find("cid"))
    duid = _text(sm.find("duid"))
    hostname = _text(sm.find("hostname")).replace(" ", "_").replace(".", "_")
    descr = _text(sm.find("descr"))
    key = hostname or mac or duid or cid or None
    warnings: list[SourceWarning] = []
    extra: dict[str, Any] = {"pfsense_interface": iface.tag}
    if net is not None:
        extra["pfsense_subnet"] = str(net)

    def warn(el: ET.Element, reason: str) -> None:
        warnings.append(SourceWarning(source, _line(el), f"<{el.tag}>{_text(el)[:80]}</{el.tag}>",
                                      f"not translated: {reason}", key))

    try:
        if family == 4:
            if mac:
                ident_type, ident = "hw-address", mac
                if cid:
                    alt = _hex_string(cid) or canonical_hex(cid.encode("utf-8"), "client-id")
                    extra["alt_identifiers"] = [{"client-id": alt}]
                    warn(sm.find("cid"), "Kea keeps one identifier per reservation; the MAC "  # type: ignore[arg-type]
                         "is kept, as pfSense's own Kea backend does")
            elif cid:
                ident_type = "client-id"
                ident = _hex_string(cid) or canonical_hex(cid.encode("utf-8"), "client-id") or ""
            else:
                yield MalformedRecordError(source, line, key, "static mapping without a MAC or a "
                                           "client identifier (pfSense requires one)")
                return
            addr_text = _text(sm.find("ipaddr"))
            addr4 = IPv4Address(addr_text) if addr_text else None
            if addr4 is not None and net is not None and addr4 not in net:
                yield MalformedRecordError(source, line, key, f"address {addr4} is outside the "
                                           f"{iface.tag} subnet {net}")
                return
            options, opt_warnings = _option_data(sm, iface, 4, source, key)
            warnings += opt_warnings
            rec = Reservation(family=4, identifier_type=ident_type,  # type: ignore[arg-type]
                              identifier=ident, ipv4_address=addr4, hostname=hostname,
                              option_data=options, boot_file_name=_text(sm.find("filename")),
                              user_context={"comment": descr} if descr else None,
                              origin=source, line=line)
        else:
            if not duid:
                yield MalformedRecordError(source, line, key, "v6 static mapping without a DUID")
                return
            addr_text = _text(sm.find("ipaddrv6"))
            addrs: tuple[IPv6Address, ...] = ()
            if addr_text:
                a6 = ip_address(addr_text)
                if not isinstance(a6, IPv6Address):
                    raise InvalidValueError("ipaddrv6", addr_text, "not an IPv6 address")
                if info is not None and info.get("v6text") == "track6":
                    yield MalformedRecordError(source, line, key, f"{a6} on a track6 interface: "
                                               "pfSense merges it with the delegated prefix at "
                                               "run time; the prefix is not in config.xml")
                    return
                if net is not None and a6 not in net:
                    yield MalformedRecordError(source, line, key, f"address {a6} is outside the "
                                               f"{iface.tag} subnet {net}")
                    return
                addrs = (a6,)
            options, opt_warnings = _option_data(sm, iface, 6, source, key)
            warnings += opt_warnings
            rec = Reservation(family=6, identifier_type="duid", identifier=duid,
                              ip_addresses=addrs, hostname=hostname, option_data=options,
                              user_context={"comment": descr} if descr else None,
                              origin=source, line=line)
    except (ValueError, InvalidValueError) as exc:
        yield MalformedRecordError(source, line, key, str(exc))
        return
    known = {"mac", "cid", "duid", "ipaddr", "ipaddrv6", "hostname", "descr", "filename",
             *(_OPTIONS4 if family == 4 else _OPTIONS6)}
    for child in sm:
        tag, text = child.tag, _text(child)
        if tag in known:
            continue
        if tag in _FLAGS:  # pfSense: present = on (PHP isset); OPNsense writes "1" / "0"
            if text != "0":
                warn(child, _NOT_CARRIED[tag])
            continue
        if not text and not len(child):
            continue  # written empty: not set
        if tag == "ddnsdomainkeyalgorithm" and not _text(sm.find("ddnsdomain")):
            continue  # pfSense writes its default algorithm into every mapping
        if tag in _NOT_CARRIED:
            warn(child, _NOT_CARRIED[tag])
        elif tag not in _OPTIONS4 and tag not in _OPTIONS6:
            warn(child, "an element kea-etl does not know")
        else:
            warn(child, "no DHCPv6 equivalent")
    if rec.ipv4_address is None and not rec.ip_addresses:
        warnings.append(SourceWarning(source, line, f"staticmap {key}", "translated with a "
                                      "change: no address, so a global reservation (subnet id 0);"
                                      " Kea consults it only where reservations-global is true",
                                      key))
    yield Extracted(rec, source=source, line=line, extra=extra, warnings=tuple(warnings))


def _option_data(sm: ET.Element, iface: ET.Element, family: int, source: str, key: str | None
                 ) -> tuple[tuple[dict[str, Any], ...], list[SourceWarning]]:
    """Per-mapping option elements -> option-data (only those differing from the interface's own
    value, as services.inc writes them)."""
    table = _OPTIONS4 if family == 4 else _OPTIONS6
    out: list[dict[str, Any]] = []
    notes: list[SourceWarning] = []
    for tag, name in table.items():
        els = sm.findall(tag)
        values = [_text(e) for e in els if _text(e)]
        if tag == "domainsearchlist":  # one element, names separated by ';' (or blanks)
            values = [v for t in values for v in re.split(r"[;\s]+", t) if v]
        if not values:
            continue
        if tag == "gateway" and values == ["none"]:  # OPNsense: send no router to this host
            notes.append(SourceWarning(source, _line(els[0]), "<gateway>none</gateway>",
                                       "not translated: Kea cannot withhold a subnet's routers "
                                       "option from one reservation", key))
            continue
        own = _values(iface, tag)
        if tag == "domainsearchlist":
            own = [v for t in own for v in re.split(r"[;\s]+", t) if v]
        if values[:1] == own[:1] and tag != "domainsearchlist" or values == own:
            continue  # the interface gives the same value already
        odef = opts.by_dhcpd_name(name)
        if odef is None:  # pragma: no cover - the table names known options
            continue
        try:
            data = opts._format(odef.kind, values)  # noqa: SLF001 - the canonical spelling
        except opts.OptionValueError as exc:
            notes.append(SourceWarning(source, _line(els[0]), f"<{tag}>{_text(els[0])}</{tag}>",
                                       f"not translated: {exc}", key))
            continue
        out.append({"name": odef.kea, "code": odef.code, "space": odef.space, "data": data})
        if tag == "winsserver":
            node = opts.by_dhcpd_name("netbios-node-type")
            if node is not None:
                out.append({"name": node.kea, "code": node.code, "space": node.space,
                            "data": "8"})
    return opts.canonical_option_data(out, family), notes
