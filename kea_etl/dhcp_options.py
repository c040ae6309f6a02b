"""DHCP options: dhcpd.conf ``option NAME VALUE;`` -> Kea ``option-data`` entries, and back to one
canonical form.

The table lists the standard options kea-etl translates, each with dhcpd's name (dhcp-options(5);
DHCPv6 ones as ``dhcp6.NAME``), Kea's name, code and space (Kea's ``std_option_defs.h``) and the
kind of value. Names mostly agree; where they do not, the table says so (dhcpd's
``ien116-name-servers`` is Kea's ``name-servers``, ``bootfile-name`` is ``boot-file-name``,
``nis-domain`` is ``nis-domain-name``, ``dhcp6.name-servers`` is ``dns-servers``,
``dhcp6.sip-servers-addresses`` is ``sip-server-addr``, ``dhcp6.info-refresh-time`` is
``information-refresh-time``, ``dhcp6.bcms-server-a`` is ``bcmcs-server-addr`` ...).

Left out on purpose: options the server computes itself (lease time, T1/T2, server identifier,
message type, parameter list...), options that identify the client (``dhcp-client-identifier``,
handled as the reservation's identifier) or carry binary, record or encapsulated data
(``vendor-encapsulated-options``, ``static-routes``, ``policy-filter``, ``user-class``...), and every
user-defined option space. Those stay untranslated with a warning; so does a value that does not
parse for its kind (a name where dhcpd wants an address: dhcpd resolves it, kea-etl does not).

A translated entry is ``{"name", "code", "space", "data"}`` with ``data`` in Kea's CSV form and in
one canonical spelling: list items joined by ``", "``, addresses as :mod:`ipaddress` prints them,
numbers in decimal, booleans ``true`` / ``false``, domain names without a trailing dot. Kea hands
back the text it was given (reservation-get, the ``formatted_value`` column), and
:func:`canonical_option` maps such an entry (with Kea's defaults ``always-send: false``,
``csv-format: true`` ...) to the same form, so a reservation read from Kea compares equal to the
one read from dhcpd.conf.

Text values with a comma or a backslash, surrounding blanks or control characters are refused:
Kea splits CSV data at every comma (its SQL host backends do so even for a single string, without
honouring escapes) and trims each piece, so such a value would not reach the client unchanged.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any, Literal

__all__ = ["OPTIONS", "OptionDef", "OptionValueError", "by_dhcpd_name", "by_kea", "canonical_option",
           "canonical_option_data", "translate"]

Kind = Literal["ip4", "ip4-list", "ip6-list", "text", "fqdn", "fqdn-list", "uint8", "uint16",
               "uint32", "int32", "uint16-list", "bool"]
Space = Literal["dhcp4", "dhcp6"]


@dataclass(frozen=True, slots=True)
class OptionDef:
    dhcpd: str      # dhcpd's name as written in dhcpd.conf (lower case)
    kea: str        # Kea's name
    code: int
    space: Space
    kind: Kind


def _v4(dhcpd: str, code: int, kind: Kind, kea: str | None = None) -> OptionDef:
    return OptionDef(dhcpd, kea or dhcpd, code, "dhcp4", kind)


def _v6(dhcpd: str, code: int, kind: Kind, kea: str | None = None) -> OptionDef:
    return OptionDef(f"dhcp6.{dhcpd}", kea or dhcpd, code, "dhcp6", kind)


#: every option kea-etl translates; checked against real dhcpd (``dhcpd -t``) and real Kea
#: (``kea-dhcp4 -t`` / ``kea-dhcp6 -t``) by tests/extract/test_isc_conf.py
OPTIONS: tuple[OptionDef, ...] = (
    _v4("subnet-mask", 1, "ip4"),
    _v4("time-offset", 2, "int32"),
    _v4("routers", 3, "ip4-list"),
    _v4("time-servers", 4, "ip4-list"),
    _v4("ien116-name-servers", 5, "ip4-list", "name-servers"),
    _v4("domain-name-servers", 6, "ip4-list"),
    _v4("log-servers", 7, "ip4-list"),
    _v4("cookie-servers", 8, "ip4-list"),
    _v4("lpr-servers", 9, "ip4-list"),
    _v4("impress-servers", 10, "ip4-list"),
    _v4("resource-location-servers", 11, "ip4-list"),
    _v4("boot-size", 13, "uint16"),
    _v4("merit-dump", 14, "text"),
    _v4("domain-name", 15, "text"),
    _v4("swap-server", 16, "ip4"),
    _v4("root-path", 17, "text"),
    _v4("extensions-path", 18, "text"),
    _v4("ip-forwarding", 19, "bool"),
    _v4("non-local-source-routing", 20, "bool"),
    _v4("max-dgram-reassembly", 22, "uint16"),
    _v4("default-ip-ttl", 23, "uint8"),
    _v4("path-mtu-aging-timeout", 24, "uint32"),
    _v4("path-mtu-plateau-table", 25, "uint16-list"),
    _v4("interface-mtu", 26, "uint16"),
    _v4("all-subnets-local", 27, "bool"),
    _v4("broadcast-address", 28, "ip4"),
    _v4("perform-mask-discovery", 29, "bool"),
    _v4("mask-supplier", 30, "bool"),
    _v4("router-discovery", 31, "bool"),
    _v4("router-solicitation-address", 32, "ip4"),
    _v4("trailer-encapsulation", 34, "bool"),
    _v4("arp-cache-timeout", 35, "uint32"),
    _v4("ieee802-3-encapsulation", 36, "bool"),
    _v4("default-tcp-ttl", 37, "uint8"),
    _v4("tcp-keepalive-interval", 38, "uint32"),
    _v4("tcp-keepalive-garbage", 39, "bool"),
    _v4("nis-domain", 40, "text"),
    _v4("nis-servers", 41, "ip4-list"),
    _v4("ntp-servers", 42, "ip4-list"),
    _v4("netbios-name-servers", 44, "ip4-list"),
    _v4("netbios-dd-server", 45, "ip4-list"),
    _v4("netbios-node-type", 46, "uint8"),
    _v4("netbios-scope", 47, "text"),
    _v4("font-servers", 48, "ip4-list"),
    _v4("x-display-manager", 49, "ip4-list"),
    _v4("vendor-class-identifier", 60, "text"),
    _v4("nwip-domain", 62, "text", "nwip-domain-name"),
    _v4("nisplus-domain", 64, "text", "nisplus-domain-name"),
    _v4("nisplus-servers", 65, "ip4-list"),
    _v4("tftp-server-name", 66, "text"),
    _v4("bootfile-name", 67, "text", "boot-file-name"),
    _v4("mobile-ip-home-agent", 68, "ip4-list"),
    _v4("smtp-server", 69, "ip4-list"),
    _v4("pop-server", 70, "ip4-list"),
    _v4("nntp-server", 71, "ip4-list"),
    _v4("www-server", 72, "ip4-list"),
    _v4("finger-server", 73, "ip4-list"),
    _v4("irc-server", 74, "ip4-list"),
    _v4("streettalk-server", 75, "ip4-list"),
    _v4("streettalk-directory-assistance-server", 76, "ip4-list"),
    _v4("nds-servers", 85, "ip4-list"),
    _v4("nds-tree-name", 86, "text"),
    _v4("nds-context", 87, "text"),
    _v4("uap-servers", 98, "text"),
    _v4("pcode", 100, "text"),
    _v4("tcode", 101, "text"),
    _v4("netinfo-server-address", 112, "ip4-list"),
    _v4("netinfo-server-tag", 113, "text"),
    # code 114: dhcpd still calls it default-url, Kea (RFC 8910) v4-captive-portal; same bytes
    _v4("default-url", 114, "text", "v4-captive-portal"),
    _v4("domain-search", 119, "fqdn-list"),
    # DHCPv6 (dhcpd: "option dhcp6.NAME")
    _v6("preference", 7, "uint8"),
    _v6("sip-servers-names", 21, "fqdn-list", "sip-server-dns"),
    _v6("sip-servers-addresses", 22, "ip6-list", "sip-server-addr"),
    _v6("name-servers", 23, "ip6-list", "dns-servers"),
    _v6("domain-search", 24, "fqdn-list"),
    _v6("nis-servers", 27, "ip6-list"),
    _v6("nisp-servers", 28, "ip6-list"),
    _v6("nis-domain-name", 29, "fqdn-list"),
    _v6("nisp-domain-name", 30, "fqdn-list"),
    _v6("sntp-servers", 31, "ip6-list"),
    _v6("info-refresh-time", 32, "uint32", "information-refresh-time"),
    _v6("bcms-server-d", 33, "fqdn-list", "bcmcs-server-dns"),
    _v6("bcms-server-a", 34, "ip6-list", "bcmcs-server-addr"),
    _v6("new-posix-timezone", 41, "text"),
    _v6("new-tzdb-timezone", 42, "text"),
    _v6("bootfile-url", 59, "text"),
    _v6("aftr-name", 64, "fqdn"),
)

_BY_DHCPD: dict[str, OptionDef] = {o.dhcpd: o for o in OPTIONS}
_BY_KEA: dict[tuple[str, str], OptionDef] = {(o.space, o.kea): o for o in OPTIONS}
_BY_CODE: dict[tuple[str, int], OptionDef] = {(o.space, o.code): o for o in OPTIONS}


def by_dhcpd_name(name: str) -> OptionDef | None:
    """The table entry for dhcpd's option ``name`` (``routers``, ``dhcp6.name-servers``)."""
    return _BY_DHCPD.get(name.lower())


def by_kea(space: str, *, name: str | None = None, code: int | None = None) -> OptionDef | None:
    """The table entry for Kea's option ``name`` or ``code`` in ``space`` (dhcp4 / dhcp6)."""
    if name is not None:
        return _BY_KEA.get((space, name))
    if code is not None:
        return _BY_CODE.get((space, code))
    return None


class OptionValueError(ValueError):
    """A value that does not parse for its option's kind; the text says why."""


# ---- values ------------------------------------------------------------------------------------

_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)\Z")
_UINT = {"uint8": 2**8, "uint16": 2**16, "uint32": 2**32}


def _number(text: str) -> int:
    """An integer as dhcpd's convert_num reads it: ``0x`` hex, a leading ``0`` octal, else decimal."""
    t = text.strip()
    neg = t.startswith("-")
    if neg:
        t = t[1:]
    try:
        if t[:2].lower() == "0x":
            value = int(t[2:], 16)
        elif len(t) > 1 and t[0] == "0":
            value = int(t[1:], 8)
        else:
            if not t.isdigit():
                raise ValueError
            value = int(t, 10)
    except (ValueError, IndexError):
        raise OptionValueError(f"{text!r} is not a number") from None
    return -value if neg else value


def _int_value(text: str, kind: str) -> str:
    value = _number(text)
    if kind == "int32":
        if not -(2**31) <= value < 2**31:
            raise OptionValueError(f"{value} is out of range for a signed 32-bit number")
    elif not 0 <= value < _UINT[kind]:
        raise OptionValueError(f"{value} is out of range for {kind}")
    return str(value)


def _ip4(text: str) -> str:
    try:
        return str(IPv4Address(text.strip()))
    except ValueError:
        raise OptionValueError(f"{text.strip()!r} is not an IPv4 address (dhcpd resolves host names "
                               "here; kea-etl does not: write the address)") from None


def _ip6(text: str) -> str:
    try:
        return str(IPv6Address(text.strip()))
    except ValueError:
        raise OptionValueError(f"{text.strip()!r} is not an IPv6 address (kea-etl does not resolve "
                               "names)") from None


def _text(text: str) -> str:
    if not text:
        raise OptionValueError("empty text (Kea refuses an empty string option)")
    if text != text.strip():
        raise OptionValueError("leading or trailing blanks (Kea trims them)")
    if "," in text or "\\" in text:
        raise OptionValueError("a ',' or '\\' in the text (Kea splits option data at commas; its "
                               "SQL host backends do not honour escapes)")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise OptionValueError("control characters in the text")
    if len(text.encode("utf-8")) > 255:
        raise OptionValueError("longer than 255 bytes")
    return text


def _fqdn(text: str) -> str:
    name = text.strip()
    name = name[:-1] if name.endswith(".") and len(name) > 1 else name
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise OptionValueError(f"{text!r} is not a domain name")
    return name


def _bool(text: str) -> str:
    t = text.strip().lower()
    if t in ("true", "on", "1"):
        return "true"
    if t in ("false", "off", "0"):
        return "false"
    raise OptionValueError(f"{text!r} is not a flag (on / off / true / false)")


def _format(kind: Kind, items: Sequence[str]) -> str:
    """``items`` (one per comma-separated value) as canonical Kea CSV data for ``kind``."""
    many = kind.endswith("-list")
    if not items or (not many and len(items) != 1):
        raise OptionValueError("expected one value" if not many else "expected at least one value")
    if kind in ("ip4", "ip4-list"):
        return ", ".join(_ip4(i) for i in items)
    if kind == "ip6-list":
        return ", ".join(_ip6(i) for i in items)
    if kind in ("fqdn", "fqdn-list"):
        return ", ".join(_fqdn(i) for i in items)
    if kind == "uint16-list":
        return ", ".join(_int_value(i, "uint16") for i in items)
    if kind == "bool":
        return _bool(items[0])
    if kind == "text":
        return _text(items[0])
    return _int_value(items[0], kind)


def translate(odef: OptionDef, tokens: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Kea option-data for dhcpd's ``option NAME <tokens>;``.

    ``tokens`` are the value's tokens as ``(kind, text)``: kind ``word``, ``string`` (text already
    unescaped and decoded) or ``punct``. Raises :class:`OptionValueError` when they do not spell
    a value of the option's kind.
    """
    items: list[str] = []
    expect_value = True
    for kind, text in tokens:
        if kind == "punct":
            if text != "," or expect_value:
                raise OptionValueError(f"unexpected {text!r}")
            expect_value = True
            continue
        if not expect_value:
            raise OptionValueError("values must be separated by commas")
        # dhcpd: text and domain lists are quoted strings, a single domain name ("d") is not
        quoted = odef.kind in ("text", "fqdn-list")
        if quoted and kind != "string":
            raise OptionValueError(f"expected a quoted string, not {text!r}")
        if not quoted and kind != "word":
            raise OptionValueError(f"expected a plain value, not the string {text!r}")
        items.append(text)
        expect_value = False
    if expect_value and items:
        raise OptionValueError("a trailing comma")
    return {"name": odef.kea, "code": odef.code, "space": odef.space,
            "data": _format(odef.kind, items)}


# ---- canonical form of any option-data entry ---------------------------------------------------

#: Kea's defaults in an option-data map: left out of the canonical form
_DEFAULTS: dict[str, Any] = {"always-send": False, "never-send": False, "csv-format": True}


def canonical_option(entry: Mapping[str, Any], family: int) -> dict[str, Any]:
    """``entry`` (an option-data map from anywhere: dhcpd.conf, a Kea config, reservation-get, a
    hosts database row) in the canonical form: ``space`` filled in, ``name`` and ``code`` both
    present for options of the table, Kea's default flags dropped, and for a known option in CSV
    form the data respelled canonically (``"10.0.0.1,10.0.0.2"`` -> ``"10.0.0.1, 10.0.0.2"``).
    Data that does not parse is kept as it is.
    """
    out = {k: v for k, v in entry.items() if not (k in _DEFAULTS and v == _DEFAULTS[k])}
    space = str(out.setdefault("space", "dhcp4" if family == 4 else "dhcp6"))
    odef = None
    if out.get("name") is not None:
        odef = by_kea(space, name=str(out["name"]))
    elif out.get("code") is not None:
        odef = by_kea(space, code=int(out["code"]))
    if odef is not None and out.get("code") not in (None, odef.code):
        odef = None  # a name and a code that disagree: leave it for Kea to judge
    if odef is None:
        return out
    out["name"], out["code"] = odef.kea, odef.code
    data = out.get("data")
    if isinstance(data, str) and out.get("csv-format", True):
        pieces = [p.strip() for p in data.split(",")]
        with contextlib.suppress(OptionValueError):  # not ours to judge: kept as it is
            out["data"] = _format(odef.kind, pieces)
    return out


def _sort_key(entry: Mapping[str, Any]) -> tuple[str, int, str, str]:
    code = entry.get("code")
    return (str(entry.get("space", "")), int(code) if isinstance(code, int) else -1,
            str(entry.get("name", "")), str(entry.get("data", "")))


def canonical_option_data(entries: Iterable[Mapping[str, Any]], family: int
                          ) -> tuple[dict[str, Any], ...]:
    """All of ``entries`` in canonical form, ordered by space and code (Kea's order varies)."""
    return tuple(sorted((canonical_option(e, family) for e in entries), key=_sort_key))
