"""Records from parsed blocks: fast construction of values already canonical, and the v4
block reader for dhcpd's own layout."""

from __future__ import annotations

import dataclasses
import re
import socket
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from kea_etl._fastrec import builder
from kea_etl.extract.base import Extracted
from kea_etl.extract.isc_leases._syntax import (
    _CORE4_SET,
    _DATE_CACHE,
    _HEXCHARS,
    _KNOWN_STATES,
    _binding,
    _date,
    _hex_or_text,
    _id_bytes,
    _set_value,
    _text,
)
from kea_etl.records import INFINITE_LIFETIME, Lease4, Lease6, canonical_hex

_new = object.__new__


def _extracted_tail() -> tuple[Any, ...] | None:
    """The defaults of Extracted's fields after ``extra`` (a lease block sets none of them),
    or None when one has no plain default (the fast builders then stand aside)."""
    names = tuple(Extracted.__slots__)
    if names[:5] != ("record", "binding_state", "source", "line", "extra"):
        return None
    fields = {f.name: f for f in dataclasses.fields(Extracted)}
    tail = tuple(fields[name].default for name in names[5:])
    return None if any(d is dataclasses.MISSING for d in tail) else tail


_EXTRACTED_TAIL = _extracted_tail()


_build_extracted_slots = builder(Extracted)


def _build_extracted(record: Lease4 | Lease6, binding_state: str, source: str, line: int,
                     extra: dict[str, Any]) -> Extracted:
    """An Extracted of canonical values (its later fields at their defaults)."""
    if _EXTRACTED_TAIL is None:
        return Extracted(record=record, binding_state=binding_state, source=source, line=line,
                         extra=extra)
    return _build_extracted_slots(record, binding_state, source, line, extra, *_EXTRACTED_TAIL)


#: ``_build_lease4(address, hwaddr, valid_lft, cltt, client_id, subnet_id, hostname, fqdn_fwd,
#: fqdn_rev, state, user_context, origin, line)`` (slot order, see kea_etl._fastrec)
_build_lease4 = builder(Lease4)


#: ``Lease6`` in slot order: address, duid, iaid, valid_lft, cltt, lease_type, prefix_len,
#: preferred_lft, subnet_id, hostname, fqdn_fwd, fqdn_rev, hwaddr, state, user_context, origin,
#: line
_build_lease6 = builder(Lease6)


_U32 = 0xFFFFFFFF


def _ip6(text: str) -> IPv6Address | None:
    """``IPv6Address(text)``, or None where it raises; inet_pton (C) first, since
    :mod:`ipaddress` parses in pure Python (~8 % of a v6 file). What inet_pton accepts,
    IPv6Address accepts with the same value; anything else (a scope id, ...) goes to it."""
    try:
        return IPv6Address(int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big"))
    except (OSError, ValueError):
        pass
    try:
        return IPv6Address(text)
    except ValueError:
        return None


def _extracted(record: Lease4 | Lease6, binding_state: str, source: str, line: int,
               extra: dict[str, Any]) -> Extracted:
    return _build_extracted(record, binding_state, source, line, extra)


# dhcpd 4.x writes a lease's statements in this fixed order (server/db.c write_lease); one
# anchored regex reads such a block in C. Anything else (hand edits, epoch dates with comments,
# on-expiry blocks, billing classes) takes the general statement parser; both give equal results.
_FAST4_BODY = (
    r"(?:  starts ([^;\n#]*+);\n)?"
    r"(?:  ends ([^;\n#]*+);\n)?"
    r"(?:  tstp ([^;\n#]*+);\n)?"
    r"(?:  tsfp ([^;\n#]*+);\n)?"
    r"(?:  atsfp ([^;\n#]*+);\n)?"
    r"(?:  cltt ([^;\n#]*+);\n)?"
    r"  binding state ([a-z]+);\n"
    r"(?:  next binding state ([a-z]+);\n)?"
    r"(?:  rewind binding state ([a-z]+);\n)?"
    r"(?:  (reserved);\n)?"
    r"(?:  (dynamic-bootp);\n)?"
    r"(?:  hardware ([a-z0-9-]+) ([0-9a-f:]*);\n)?"
    r"(?:  uid (\"[^\"\\\n]*(?:\\.[^\"\\\n]*)*\"|[0-9a-fA-F:]+);\n)?"
    r"()"  # placeholder keeping the group numbering of _fields4 (billing is not fast-pathed)
    r"((?:  (?:set|option) [^\n]*\n)*)"
    r"(?:  client-hostname (\"[^\"\\\n]*(?:\\.[^\"\\\n]*)*\");\n)?")


_FAST4 = re.compile(_FAST4_BODY + r"\Z")


# a whole lease block in dhcpd's layout, found by finditer over a chunk; group 1 is the address
_BLOCK4 = re.compile(r"\nlease ([0-9.]+) \{\n" + _FAST4_BODY + r"\}(?=\n|\Z)")


# _FAST4 / _fields4 tuples: starts ends tstp tsfp atsfp cltt state next rewind reserved
# dynamic-bootp htype hw uid (unused) rest hostname; "rest" holds set / option lines
_F_REST = 15


def _fields4(pairs: list[tuple[str, str]]) -> tuple[tuple[Any, ...], list[tuple[str, str]]]:
    """The general parser's statements in the shape of a _FAST4 match, plus the other pairs."""
    d: dict[str, str] = {}
    rest: list[tuple[str, str]] = []
    for name, value in pairs:
        if name in _CORE4_SET:
            d[name] = value
        else:
            rest.append((name, value))
    htype = hw = None
    hv = d.get("hardware")
    if hv is not None:
        htype, _, hw = hv.strip().partition(" ")
        hw = hw.strip()
    state = d.get("binding state")
    if state is None and any(n == "abandoned" for n, _ in rest):
        state = "abandoned"  # OpenBSD dhcpd writes a bare "abandoned;"
    hostname = d.get("client-hostname")
    if hostname is None:
        hostname = d.get("hostname")
    return ((d.get("starts"), d.get("ends"), d.get("tstp"), d.get("tsfp"), d.get("atsfp"),
             d.get("cltt"), state, d.get("next binding state"), d.get("rewind binding state"),
             None, None, htype, hw, d.get("uid"), None, None, hostname), rest)


def _make4(packed: bytes, f: tuple[Any, ...], pairs: list[tuple[str, str]] | None, source: str,
           line: int) -> Extracted:
    """The Extracted item of one v4 block from its _FAST4-shaped fields.

    This is the hot path of a migration (one call per current lease), so the helpers it needs
    (date cache, lifetime rule, record construction) are written out inline.
    """
    (v_starts, v_ends, v_tstp, v_tsfp, v_atsfp, v_cltt, v_state, v_next, v_rewind, v_reserved,
     v_bootp, v_htype, v_hw, v_uid, _unused, _rest, v_host) = f
    cache = _DATE_CACHE
    extra: dict[str, Any] = {}
    starts = ends = cltt = None
    if v_starts is not None:
        starts = cache.get(v_starts)
        if starts is None:
            starts = _date(v_starts)
        extra["starts"] = starts if starts >= 0 else None
    if v_ends is not None:
        ends = cache.get(v_ends)
        if ends is None:
            ends = _date(v_ends)
        extra["ends"] = ends if ends >= 0 else None
    if v_tstp is not None:
        t = cache.get(v_tstp)
        if t is None:
            t = _date(v_tstp)
        extra["tstp"] = t if t >= 0 else None
    if v_tsfp is not None:
        t = _date(v_tsfp)
        extra["tsfp"] = t if t >= 0 else None
    if v_atsfp is not None:
        t = _date(v_atsfp)
        extra["atsfp"] = t if t >= 0 else None
    if v_cltt is not None:
        cltt = cache.get(v_cltt)
        if cltt is None:
            cltt = _date(v_cltt)
        extra["cltt"] = cltt if cltt >= 0 else None
    # OpenBSD dhcpd writes no binding state: "active", and the transform checks the expiry
    if v_state is None:
        state = "active"
    elif v_state in _KNOWN_STATES:
        state = v_state
    else:
        state = _binding(v_state)
    if v_next is not None:
        extra["next-binding-state"] = v_next.strip()
    if v_rewind is not None:
        extra["rewind-binding-state"] = v_rewind.strip()
    if v_reserved:
        extra["reserved"] = True
    if v_bootp:
        extra["dynamic-bootp"] = True
    hwaddr = None
    if v_hw is not None:
        if v_htype != "ethernet":
            extra["hardware-type"] = v_htype
        n = len(v_hw)
        if n == 17 and v_hw[2::3] == ":::::" and _HEXCHARS.issuperset(v_hw):
            hwaddr = v_hw  # already lowercase colon hex (what dhcpd writes for ethernet)
        elif v_hw:
            hwaddr = canonical_hex(v_hw, "hwaddr", max_len=20)
    client_id = None
    if v_uid is not None:
        plain = v_uid[:1] == '"' and "\\" not in v_uid
        raw = v_uid[1:-1].encode("latin-1") if plain else _id_bytes(v_uid)
        if raw:
            if len(raw) > 255:
                raise ValueError(f"uid is {len(raw)} bytes long (at most 255)")
            client_id = raw.hex(":")
    hostname = ""
    if v_host is not None:
        if v_host[:1] == '"' and "\\" not in v_host and v_host.isascii():
            hostname = v_host[1:-1]
        else:
            hostname = _text(v_host)
        extra["client-hostname"] = hostname
    if pairs:
        _options_and_sets(pairs, extra)
        if not hostname and "set" in extra:
            fwd = extra["set"].get("ddns-fwd-name")
            if isinstance(fwd, str):
                hostname = fwd
    # lifetimes: keep the expiry (ends) exactly; see the module docstring
    base = cltt if cltt is not None and cltt >= 0 else starts
    if base is not None and base < 0:
        base = None
    if ends is None:
        # no ends at all (backup leases, some free ones): already expired at base
        cltt_out, valid = (base if base is not None else 0), 0
    elif ends < 0:
        cltt_out, valid = (base if base is not None else 0), INFINITE_LIFETIME
    elif base is None or ends <= base:
        cltt_out, valid = ends, 0
    else:
        cltt_out, valid = base, ends - base
        if valid > INFINITE_LIFETIME:
            valid = INFINITE_LIFETIME
    if cltt_out > 0xFFFFFFFF:
        raise ValueError("times beyond 2106 do not fit Kea's 32-bit cltt")
    addr = _new(IPv4Address)
    addr._ip = int.from_bytes(packed, "big")  # type: ignore[attr-defined]
    return _build_extracted(
        _build_lease4(addr, hwaddr, valid, cltt_out, client_id, 0, hostname, False, False, 0,
                      None, source, line),
        state, source, line, extra)


def _options_and_sets(pairs: list[tuple[str, str]], extra: dict[str, Any]) -> None:
    sets: dict[str, Any] = {}
    for name, value in pairs:
        c = name[0]
        if c == "s" and name.startswith("set"):
            sets[name[3:].strip()] = _set_value(value)
        elif c == "o" and name.startswith("option"):
            opt = name[6:].strip()
            if not value:
                continue
            if opt == "agent.circuit-id":
                extra["circuit-id"] = _hex_or_text(value)
            elif opt == "agent.remote-id":
                extra["remote-id"] = _hex_or_text(value)
            else:
                extra.setdefault("options", {})[opt] = value.strip()
        elif c == "b" and name == "billing" and value:
            extra["billing"] = value.strip()
        elif name in ("reserved", "dynamic-bootp", "bootp"):
            extra[name] = True
    if sets:
        extra["set"] = sets
