"""dhcpd.conf model -> a Kea ``Dhcp4`` / ``Dhcp6`` configuration, plus the report of every statement
that was not translated (or was, with a difference the operator must know).

One :class:`Converter` per family walks the tree of :mod:`kea_etl.convert.model`:

* scope parameters (global, shared-network, subnet, pool, group, class) -> Kea parameters of the
  same scope (see ``_param``); ``group`` blocks have no Kea equivalent, so a group's parameters
  are copied into the subnets and shared networks inside it;
* ``subnet`` / ``subnet6`` -> ``subnet4`` / ``subnet6`` with ids from :mod:`kea_etl.convert.ids`;
  ``range`` / ``range6`` -> pools, ``prefix6`` -> pd-pools (the delegated range split into the
  fewest CIDR blocks); ``pool`` permits -> the pool's ``client-class``;
* hosts -> reservations through :func:`kea_etl.extract.isc_conf.extract` (the one code path that
  ``migrate`` also uses), placed into the subnet holding the address;
* ``class`` / ``subclass`` -> ``client-classes`` (:mod:`kea_etl.convert.expr`);
* ``option NAME code N = TYPE`` -> ``option-def``; ``failover peer`` -> an HA hook skeleton.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    summarize_address_range,
)
from pathlib import Path
from typing import Any, Literal

from kea_etl import dhcp_options
from kea_etl.convert import d2
from kea_etl.convert import expr as kexpr
from kea_etl.convert.d2 import DdnsSetup
from kea_etl.convert.findings import Finding, Severity
from kea_etl.convert.ha import Relationship, ha_library, ha_todo
from kea_etl.convert.ids import assign_ids
from kea_etl.convert.model import Block, Stmt, parse
from kea_etl.errors import MalformedRecordError
from kea_etl.extract import isc_conf
from kea_etl.extract.base import Extracted, SourceWarning
from kea_etl.extract.isc_conf import _strict_utf8, _Tok, _utf8
from kea_etl.records import Reservation

__all__ = ["DEFAULT_HOOKS_DIR", "Converter", "FamilyResult", "finish_config",
           "host_error", "host_finding"]

DEFAULT_HOOKS_DIR = "/usr/lib/x86_64-linux-gnu/kea/hooks"

#: dhcpd's defaults where Kea's differ (dhcpd.conf(5)): written out so Kea hands out the same
DHCPD_DEFAULT_LEASE = 43200
DHCPD_MAX_LEASE = 86400
#: dhcpd's DEFAULT_MIN_LEASE_TIME (includes/dhcpd.h): a client asking for less gets 300 s; Kea
#: without min-valid-lifetime gives it the default lease time instead
DHCPD_MIN_LEASE = 300

_SCOPES = ("subnet", "subnet6", "shared-network", "group", "pool", "pool6", "host", "class",
           "subclass")
_OPTION_TYPES = {
    "ip-address": "ipv4-address", "ip6-address": "ipv6-address", "boolean": "boolean",
    "text": "string", "string": "binary", "domain-name": "fqdn", "domain-list": "fqdn",
    "unsigned integer 8": "uint8", "unsigned integer 16": "uint16",
    "unsigned integer 32": "uint32", "signed integer 8": "int8", "signed integer 16": "int16",
    "signed integer 32": "int32", "integer 8": "int8", "integer 16": "int16",
    "integer 32": "int32", "zerolen": "empty",
}
#: option codes Kea defines itself in the dhcp4 space (std_option_defs.h): Kea refuses an
#: option-def that redefines one, so a dhcpd definition of these codes maps to Kea's own option
KEA_STD4 = frozenset([*range(1, 80), 81, 82, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 97, 98, 99,
                      100, 101, 108, 112, 113, 114, 116, 117, 118, 119, 121, 124, 125, 136, 137,
                      138, 141, 146, 159, 160, 212, 213])
#: the parameters a Kea client class holds (of those a dhcpd class or subclass may set)
_CLASS_KEYS = ("option-data", "next-server", "server-hostname", "boot-file-name",
               "valid-lifetime", "min-valid-lifetime", "max-valid-lifetime", "preferred-lifetime")
KEA_STD6 = frozenset([*range(1, 100), 103, 112, 134, 135, 136, 143])


@dataclass
class FamilyResult:
    """One family's converted configuration and what the conversion learned on the way."""

    family: int
    config: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)
    subnet_ids: dict[str, int] = field(default_factory=dict)
    #: reservations as placed (subnet id 0 = global), for the pre-flight checks
    reservations: list[Reservation] = field(default_factory=list)
    #: (pool start, pool end, subnet prefix) of dynamic pools
    pools: list[tuple[Any, Any, str]] = field(default_factory=list)
    ddns_style: tuple[str, str, int] | None = None
    failover: list[dict[str, Any]] = field(default_factory=list)
    ignore_client_uids: bool | None = None
    #: TSIG keys and DNS zones, for kea-dhcp-ddns.conf (kea_etl.convert.d2)
    ddns: DdnsSetup = field(default_factory=DdnsSetup)


@dataclass
class _SubnetDraft:
    net: IPv4Network | IPv6Network
    body: dict[str, Any]
    shared: str | None
    block: Block


def _num(tok: _Tok) -> int:
    """A count of seconds as Kea takes it (unsigned 32-bit): dhcpd would wrap a negative
    ``default-lease-time -5`` to 4294967291, so it is refused here rather than carried."""
    value = int(tok.text, 0)
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"{tok.text} is not a number of seconds from 0 to 4294967295")
    return value


class Converter:
    """Translate one dhcpd.conf (``family`` 4 or 6) into a Kea configuration."""

    def __init__(self, conf: str | Path, family: int, *, keep_ids: Mapping[str, int] | None = None,
                 hooks_dir: str = DEFAULT_HOOKS_DIR, include_dir: str | Path | None = None) -> None:
        self.path = Path(conf)
        self.family = family
        self.keep_ids = dict(keep_ids or {})
        self.hooks_dir = hooks_dir.rstrip("/")
        self.include_dir = include_dir
        self.findings: list[Finding] = []
        self.user_options: dict[str, tuple[str, int]] = {}
        self.option_defs: list[dict[str, Any]] = []
        self.option_def_types: dict[str, tuple[str, bool]] = {}
        self.classes: list[dict[str, Any]] = []
        self.class_names: set[str] = set()
        self.permit_classes: dict[str, dict[str, Any]] = {}
        self.subclasses: dict[str, list[tuple[_Tok, Stmt | Block]]] = defaultdict(list)
        self.class_match: dict[str, tuple[str, bool]] = {}
        self.failover: dict[str, Block] = {}
        self.failover_used: set[str] = set()
        self.result = FamilyResult(family, {})
        self.sp = "dhcp4" if family == 4 else "dhcp6"
        self._class_blocks: list[Block] = []
        self._pending_sub: list[dict[str, Any]] = []
        self._subnet_dicts: dict[str, dict[str, Any]] = {}
        self._opt_cache: dict[int, dict[str, Any] | None] = {}
        #: (file, line) of a host -> option-data of its enclosing groups (inner ones win)
        self._group_opts: dict[tuple[str, int], list[dict[str, Any]]] = {}
        #: (file, line) of group option statements carried into reservations
        self._group_opt_lines: set[tuple[str, int]] = set()
        self._reported: set[tuple[str | None, int | None]] = set()
        self._group_opt_stmts: dict[tuple[str, int], Stmt] = {}
        self._host_blocks: dict[tuple[str, int], Block] = {}
        #: ids of scopes whose preferred-lifetime kea-etl derived (dhcpd had none there)
        self._derived_pref: set[int] = set()

    # ---- reporting ---------------------------------------------------------------------------
    def note(self, severity: Severity, topic: str, where: Stmt | Block | None, message: str, *,
             kea: str = "", **details: Any) -> None:
        self.findings.append(Finding(
            severity, topic, message, file=where.path if where is not None else None,
            line=where.line if where is not None else None,
            statement=where.text if where is not None else "", kea=kea, details=details))

    def untranslated(self, where: Stmt | Block, why: str, *, kea: str = "",
                     severity: Severity = "warning") -> None:
        self.note(severity, "untranslated", where, f"not translated: {why}", kea=kea)

    # ---- entry point ---------------------------------------------------------------------------
    def run(self) -> FamilyResult:
        root = parse(self.path, include_dir=self.include_dir)
        for err in root.errors:
            self.findings.append(Finding("error", "syntax", err.reason, file=err.source,
                                         line=err.line, statement=err.key or ""))
        body: dict[str, Any] = {}
        # pass 1: definitions that later statements use
        for st in root.stmts():
            if st.kw == "option" and self._option_def(st):
                continue
        for blk in root.walk():
            if blk.kind == "class":
                self._class_head(blk)
                self._class_blocks.append(blk)
            elif blk.kind == "failover" and len(blk.args) >= 2:
                self.failover[_utf8(blk.args[1].text)] = blk
        for blk in root.walk():
            for st in blk.stmts():
                if st.kw == "subclass":
                    self._subclass(st, st)
            if blk.kind == "subclass":
                self._subclass(blk, blk)
        # pass 2: global parameters and the scopes
        self._params(root, body, "global")
        self._defaults(body)
        if self.family == 6 and "preferred-lifetime" not in body:
            body["preferred-lifetime"] = _dhcpd_preferred(body["valid-lifetime"])
            self._derived_pref.add(id(body))
            self.note("info", "lease-times", None, "no global preferred-lifetime: dhcpd's "
                      "default (5/8 of default-lease-time) written out", kea="preferred-lifetime")
        drafts: list[_SubnetDraft] = []
        shared: dict[str, dict[str, Any]] = {}
        self._scopes(root, drafts, shared, inherited={}, shared_name=None)
        kinds = {b.kind for b in root.walk()}
        other = "subnet" if self.family == 6 else "subnet6"
        if not drafts and other in kinds:
            self.findings.append(Finding(
                "error", "family", f"this looks like a DHCPv{10 - self.family} configuration "
                f"(only {other} blocks): give it as " + ("--v6 FILE" if self.family == 4
                                                         else "the DHCPD.conf argument"),
                file=str(self.path)))
        self._classes_out()
        self._subnets_out(body, drafts, shared)
        self._collect_group_options(root, [], [])
        self._reservations(body, drafts)
        for key in sorted(self._group_opt_lines):
            self.note("info", "hosts", self._group_opt_stmts[key], "set on a group: carried into "
                      "the option-data of the reservations of the group's hosts (Kea has no "
                      "groups)", kea="reservations.option-data")
        self._failover_out(body)
        if self.option_defs:
            body["option-def"] = self.option_defs
        if self.classes:
            body["client-classes"] = self.classes
        self.result.config = finish_config(body, self.family, self.hooks_dir)
        self.note("decide", "interfaces", None, "dhcpd takes its interfaces from its command line "
                  "(or /etc/default/isc-dhcp-server); the converted config listens on none",
                  kea="interfaces-config.interfaces")
        self.result.findings = self.findings
        return self.result

    # ---- defaults ------------------------------------------------------------------------------
    def _defaults(self, body: dict[str, Any]) -> None:
        """dhcpd's defaults where Kea's differ, for what the global scope did not set (or set
        with a value that did not parse: reported already)."""
        if "valid-lifetime" not in body:
            body["valid-lifetime"] = DHCPD_DEFAULT_LEASE
            self.note("info", "lease-times", None, f"no global default-lease-time: dhcpd's "
                      f"default {DHCPD_DEFAULT_LEASE} s written out (Kea's own is 7200 s)",
                      kea="valid-lifetime")
        if "cache-threshold" not in body and "cache-max-age" not in body:
            body["cache-threshold"] = 0.25
            self.note("info", "lease-times", None, "no global dhcp-cache-threshold: dhcpd's "
                      "default (25 %: a lease younger than a quarter of its time is handed out "
                      "again with its remaining time) written out; Kea 2.x would not cache",
                      kea="cache-threshold")
        if "max-valid-lifetime" not in body:
            body["max-valid-lifetime"] = max(DHCPD_MAX_LEASE, body.get("valid-lifetime", 0))
            self.note("info", "lease-times", None, f"no global max-lease-time: dhcpd's default "
                      f"{DHCPD_MAX_LEASE} s written out", kea="max-valid-lifetime")
        if "min-valid-lifetime" not in body:
            # dhcpd caps its built-in minimum at the maximum (server/dhcp.c, ack_lease)
            body["min-valid-lifetime"] = min(DHCPD_MIN_LEASE, body["max-valid-lifetime"])
            self.note("info", "lease-times", None, f"no global min-lease-time: dhcpd's built-in "
                      f"{body['min-valid-lifetime']} s written out (a client asking for a shorter "
                      "lease gets that much; Kea's own minimum is the default lease time)",
                      kea="min-valid-lifetime")

    # ---- definitions ----------------------------------------------------------------------------
    def _option_def(self, st: Stmt) -> bool:
        """``option NAME code N = TYPE;`` / ``option space NAME ...;``. True when handled."""
        a = st.args
        if len(a) >= 2 and a[0].text.lower() == "space":
            self.note("info", "option-space", st, "option space noted; its options are defined "
                      "with option-def entries in that space", kea="option-def.space")
            return True
        if not (len(a) >= 5 and a[1].text.lower() == "code" and a[3].text == "="):
            return False
        name = a[0].text.lower()
        try:
            code = int(a[2].text)
        except ValueError:
            self.untranslated(st, "the option code is not a number")
            return True
        space, short = (name.split(".", 1) if "." in name else (self.sp, name))
        if space == "dhcp6" and self.family == 6:
            space = "dhcp6"
        if space == "agent":
            self.untranslated(st, "agent options are relay options; Kea has them built in")
            return True
        if space == ("vendor" if self.family == 4 else "vsio"):
            # dhcpd's vendor.NAME code ENTERPRISE (option 125 / 17): Kea keeps a vendor's
            # options in space vendor-ENTERPRISE; an option-def in space 'vendor' with that code
            # would make Kea refuse the whole configuration
            self.untranslated(st, f"a vendor-identifying (enterprise {a[2].text}) option space: "
                              f"define its options in Kea's space vendor-{a[2].text} and send "
                              f"option {125 if self.family == 4 else 17} with that enterprise "
                              "number", kea=f"option-def space vendor-{a[2].text}")
            return True
        type_toks = [t.text.lower() for t in a[4:]]
        array = False
        if type_toks[:2] == ["array", "of"]:
            array, type_toks = True, type_toks[2:]
        tname = " ".join(type_toks)
        std = KEA_STD4 if self.family == 4 else KEA_STD6
        self.user_options[name] = (space, code)
        if space == self.sp and code in std:
            self.note("info", "option-def", st, f"Kea defines option code {code} itself; values "
                      f"of '{name}' are written as Kea's option {code} and classes test "
                      f"option[{code}]", kea=f"option-data code {code}")
            self.option_def_types[name] = ("std", array)
            return True
        if tname.startswith("encapsulate"):
            entry = {"name": short, "code": code, "space": space, "type": "empty",
                     "encapsulate": type_toks[1] if len(type_toks) > 1 else ""}
        elif tname.startswith("{"):
            parts = [p.strip() for p in " ".join(type_toks[1:-1]).split(",")]
            if parts[-1].startswith("array of "):
                # Kea's "array" on a record repeats its last field: dhcpd's trailing array
                parts[-1], array = parts[-1][len("array of "):], True
            types = _record_types(", ".join(parts)) if tname.endswith("}") else None
            if types is None:
                self.untranslated(st, f"record type {tname} has a field Kea cannot hold (Kea "
                                  "records take an array only as their last field)",
                                  kea="option-def")
                return True
            entry = {"name": short, "code": code, "space": space, "type": "record",
                     "record-types": ", ".join(types)}
        elif tname in _OPTION_TYPES:
            kind = _OPTION_TYPES[tname]
            entry = {"name": short, "code": code, "space": space, "type": kind}
            if tname == "domain-list":
                array = True
        else:
            self.untranslated(st, f"dhcpd type '{tname}' has no Kea option type")
            return True
        if array:
            entry["array"] = True
        self.option_defs.append(entry)
        self.option_def_types[name] = (str(entry["type"]), array)
        return True

    # ---- options --------------------------------------------------------------------------------
    def _option_data(self, st: Stmt) -> dict[str, Any] | None:
        """``option NAME VALUE;`` -> an option-data entry, or None (reported once)."""
        if id(st) not in self._opt_cache:
            self._opt_cache[id(st)] = self._option_data_uncached(st)
        entry = self._opt_cache[id(st)]
        return dict(entry) if entry is not None else None

    def _option_data_uncached(self, st: Stmt) -> dict[str, Any] | None:
        if not st.args or st.args[0].kind != "word":
            self.untranslated(st, "expected option NAME VALUE")
            return None
        name = st.args[0].text.lower()
        value = st.args[1:]
        if any(t.kind == "punct" and t.text in "=()" for t in value):
            self.untranslated(st, "an expression, not a value (Kea option values are constant; "
                              "a client class with option-data may do)")
            return None
        odef = dhcp_options.by_dhcpd_name(name)
        if odef is not None:
            if odef.space != self.sp:
                self.untranslated(st, f"a {odef.space} option in a DHCPv{self.family} "
                                  "configuration")
                return None
            try:
                return dhcp_options.translate(odef, [(t.kind, _strict_utf8(t.text)
                                                       if t.kind == "string" else t.text)
                                                      for t in value])
            except dhcp_options.OptionValueError as exc:
                self.untranslated(st, f"{exc} (kea-etl does not resolve names)")
                return None
        if name in self.user_options:
            space, code = self.user_options[name]
            short = name.split(".", 1)[1] if "." in name else name
            kind, _array = self.option_def_types.get(name, ("binary", False))
            items = [t for t in value if not (t.kind == "punct" and t.text == ",")]
            entry: dict[str, Any] = {"code": code, "space": space}
            if kind != "std":
                entry["name"] = short
            if kind == "binary" or (kind == "std" and len(items) == 1 and items[0].kind == "word"
                                    and ":" in items[0].text):
                raw = (items[0].text.encode("latin-1") if items and items[0].kind == "string"
                       else bytes(int(x, 16) for t in items for x in t.text.split(":")))
                entry.update({"csv-format": False, "data": raw.hex().upper()})
                return entry
            texts = [_utf8(t.text) for t in items]
            if any("," in x for x in texts):
                self.untranslated(st, "a text value with a comma (Kea splits CSV data at commas)")
                return None
            entry["data"] = ", ".join(texts)
            return entry
        if name in kexpr.EXTRA_CODES:
            self.untranslated(st, "the server computes this option itself, or it identifies the "
                              "client; Kea does the same")
            return None
        if "." in name and not name.startswith("dhcp6."):
            self.untranslated(st, f"option space '{name.split('.', 1)[0]}' has no definition "
                              "here; define it with option-def by hand", kea="option-def")
            return None
        self.untranslated(st, "kea-etl does not translate this option (no entry in its option "
                          "table); add it by hand if the clients need it", kea="option-data")
        return None

    # ---- parameters -----------------------------------------------------------------------------
    def _params(self, blk: Block, out: dict[str, Any], scope: str) -> None:
        """Translate ``blk``'s own statements into ``out`` (Kea parameters of that scope)."""
        options: list[dict[str, Any]] = []
        for st in blk.stmts():
            kw = st.kw
            if kw == "subclass":
                continue  # collected by the class pass (_subclass)
            if kw == "option":
                if self._is_def(st):
                    if scope != "global":
                        self.untranslated(st, "an option definition inside a scope")
                    continue
                entry = self._option_data(st)
                if entry is not None:
                    options = [o for o in options if (o.get("code"), o.get("space"))
                               != (entry.get("code"), entry.get("space"))]
                    options.append(entry)
            elif (kw in ("range", "range6", "prefix6", "failover", "match", "spawn", "lease")
                  and scope in ("pool", "subnet", "class")) or (
                      kw in ("allow", "deny", "ignore") and scope == "pool"):
                continue  # handled by the scope itself
            else:
                self._param(st, out, scope)
        if options:
            # inherited ones (a group's, copied into its subnets) stay unless set again here
            mine = {(o.get("space"), o.get("code")) for o in options}
            options += [o for o in out.get("option-data", ())
                        if (o.get("space"), o.get("code")) not in mine]
            out["option-data"] = sorted(options, key=lambda o: (o.get("space", ""),
                                                                int(o.get("code", 0))))

    @staticmethod
    def _is_def(st: Stmt) -> bool:
        a = st.args
        return (len(a) >= 2 and a[0].text.lower() == "space") or (
            len(a) >= 4 and a[1].text.lower() == "code" and a[3].text == "=")

    def _param(self, st: Stmt, out: dict[str, Any], scope: str) -> None:  # noqa: C901
        kw, a, w = st.kw, st.args, st.words()
        v4 = self.family == 4
        in_pool = scope == "pool"

        def flag() -> bool | None:
            if not w:
                return True
            return {"on": True, "true": True, "off": False, "false": False}.get(w[0])

        def put(key: str, value: Any, note: str = "") -> None:
            if in_pool:
                self.untranslated(st, f"Kea pools have no {key}; set it on the subnet or a client "
                                  "class", kea=key)
                return
            out[key] = value
            if note:
                self.note("info", "translated", st, note, kea=key)

        try:
            if kw in ("default-lease-time", "max-lease-time", "min-lease-time"):
                key = {"default-lease-time": "valid-lifetime",
                       "max-lease-time": "max-valid-lifetime",
                       "min-lease-time": "min-valid-lifetime"}[kw]
                put(key, _num(a[0]))
            elif kw == "preferred-lifetime" and not v4:
                put("preferred-lifetime", _num(a[0]))
            elif kw == "authoritative" and v4:
                put("authoritative", True)
            elif kw == "not" and w[:1] == ["authoritative"] and v4:
                put("authoritative", False)
            elif kw in ("authoritative", "not") and not v4:
                self.note("info", "translated", st, "Kea's DHCPv6 server always answers (and "
                          "replies NoBinding to unknown leases); no setting")
            elif kw == "next-server" and v4:
                try:
                    put("next-server", str(IPv4Address(a[0].text)))
                except ValueError:
                    self.untranslated(st, "a name, not an address (kea-etl does not resolve "
                                      "names)", kea="next-server")
            elif kw == "filename" and v4 and a and a[0].kind == "string":
                put("boot-file-name", _utf8(a[0].text))
            elif kw == "server-name" and v4 and a and a[0].kind == "string":
                put("server-hostname", _utf8(a[0].text))
            elif kw == "ignore-client-uids" and v4:
                value = flag()
                put("match-client-id", not value)
                if scope == "global":
                    self.result.ignore_client_uids = value
                if value:
                    self.note("info", "translated", st, "Kea identifies clients by MAC only "
                              "(match-client-id false)", kea="match-client-id")
            elif kw == "interface" and a and scope in ("subnet", "shared-network"):
                # dhcpd: the subnet / shared network is on that interface (server/confpars.c);
                # Kea's "interface" says the same. dhcpd listens on the interfaces of its
                # command line, so interfaces-config stays the operator's choice
                put("interface", _utf8(a[0].text))
            elif kw == "one-lease-per-client":
                self.note("info", "translated", st, "Kea keeps one lease per client in a subnet "
                          "in any case (a client's old lease is reused or released)")
            elif kw == "get-lease-hostnames":
                if flag():
                    self.untranslated(st, "Kea does not look up host names of addresses in DNS; "
                                      "put hostnames into reservations", kea="reservations")
            elif kw == "use-host-decl-names":
                self.note("info", "translated", st, "applied to the reservations (their hostname "
                          "is the host declaration's name)", kea="reservations.hostname")
            elif kw == "ping-check":
                if flag():
                    self.untranslated(st, "Kea 2.x does not ping before offering; Kea 3.0 has the "
                                      "ping_check hook", kea="libdhcp_ping_check.so")
                else:
                    self.note("info", "translated", st, "Kea does not ping either")
            elif kw == "ping-timeout":
                self.untranslated(st, "no ping check in Kea 2.x", kea="libdhcp_ping_check.so")
            elif kw == "ddns-update-style":
                style = w[0] if w else ""
                if scope == "global":
                    self.result.ddns_style = (style, st.path, st.line)
                if style == "none":
                    put("ddns-send-updates", False)
                elif style in ("interim", "standard"):
                    put("ddns-send-updates", True)
                    if scope == "global":
                        out["dhcp-ddns"] = {"enable-updates": True}
                    self._ddns_note(st, style)
                else:
                    self.untranslated(st, f"ddns-update-style {style} has no Kea equivalent",
                                      kea="ddns-send-updates")
            elif kw == "ddns-updates":
                put("ddns-send-updates", bool(flag()))
            elif kw == "ddns-domainname" and a:
                name = _utf8(a[0].text).rstrip(".")
                put("ddns-qualifying-suffix", name + ".")
                self.note("info", "ddns", st, f"Kea's D2 needs a forward-ddns zone for '{name}.' "
                          "(with the DNS server and TSIG key dhcpd used)",
                          kea="kea-dhcp-ddns forward-ddns.ddns-domains")
            elif kw == "ddns-rev-domainname" and a:
                self.note("decide", "ddns", st, "Kea's D2 needs a reverse-ddns zone per reverse "
                          "domain (e.g. 0.100.10.in-addr.arpa.): dhcpd's ddns-rev-domainname has "
                          "no kea-dhcp4 equivalent",
                          kea="kea-dhcp-ddns reverse-ddns.ddns-domains")
            elif kw == "update-static-leases":
                self.note("decide", "ddns", st, "Kea sends DNS updates for reserved addresses like "
                          "for any lease (when the client's FQDN/hostname asks for it); there is "
                          "no per-static switch", kea="ddns-send-updates")
            elif kw in ("update-optimization", "update-conflict-detection"):
                self.note("decide", "ddns", st, "maps to Kea's conflict resolution (2.2: "
                          "ddns-use-conflict-resolution; 2.6+: ddns-conflict-resolution-mode)",
                          kea="ddns-conflict-resolution-mode")
            elif kw == "ddns-ttl":
                self.untranslated(st, "Kea 2.x computes the TTL from the lease time (Kea 3.0 has "
                                  "ddns-ttl)", kea="ddns-ttl (3.0+)")
            elif kw == "dhcp-cache-threshold":
                # Both reuse a young lease and answer with its remaining time. Kea 3.0 caches by
                # default (threshold 0.25), Kea 2.x does not: written out either way.
                pct = _num(a[0])
                if not 0 <= pct < 100:
                    raise ValueError(pct)
                if pct == 0:
                    put("cache-max-age", 0)  # disables caching on 2.x and 3.x alike
                else:
                    put("cache-threshold", round(pct / 100, 2))
            elif kw in ("allow", "deny", "ignore") and w[:1] == ["client-updates"]:
                put("ddns-override-client-update", kw != "allow")
            elif kw in ("allow", "deny", "ignore") and w[:1] in (["unknown-clients"],
                                                                 ["known-clients"]):
                self.untranslated(st, "outside a pool, dhcpd applies it to the scope's pools; "
                                  "put it into each pool block", kea="pools.client-class")
            elif kw in ("allow", "deny", "ignore") and w[:1] in (["bootp"], ["booting"]):
                if kw == "allow":
                    self.note("info", "translated", st, "Kea answers BOOTP only with the bootp "
                              "hook loaded", kea="libdhcp_bootp.so")
                else:
                    self.note("info", "translated", st, "Kea does not answer BOOTP without the "
                              "bootp hook")
            elif kw in ("allow", "deny", "ignore") and w[:1] == ["declines"]:
                self.untranslated(st, "Kea always honours DHCPDECLINE", kea="decline-probation-period")
            elif kw in ("log-facility", "lease-file-name", "pid-file-name", "omapi-port",
                        "omapi-key", "db-time-format", "local-port", "local-address",
                        "lease-id-format", "dhcpv6-lease-file-name", "server-duid",
                        "local-address6", "server-id-check", "leasequery"):
                self.untranslated(st, "a dhcpd daemon setting; Kea's counterpart is configured "
                                  "separately (loggers, lease-database, control-socket, "
                                  "server-id)", severity="info")
            elif kw == "failover":
                self.untranslated(st, "a failover peer reference outside a pool")
            elif kw in ("dynamic-bootp-lease-length", "dynamic-bootp-lease-cutoff",
                        "boot-unknown-clients", "stash-agent-options", "always-broadcast",
                        "always-reply-rfc1048", "limited-broadcast-address"):
                self.untranslated(st, "no Kea equivalent")
            else:
                self.untranslated(st, "no Kea equivalent known to kea-etl")
        except (IndexError, ValueError):
            self.untranslated(st, "the value does not parse", severity="error")

    def _ddns_note(self, st: Stmt, style: str) -> None:
        guard = "TXT" if style == "interim" else "DHCID"
        self.note("decide", "ddns", st, f"dhcpd's {style} style guards its DNS names with {guard} "
                  "records; Kea's D2 uses DHCID records and, with conflict resolution on, refuses "
                  "to touch names guarded otherwise"
                  + (": the names dhcpd registered will not be updated" if style == "interim"
                     else "") + ". Configure and run kea-dhcp-ddns (D2) with the forward and "
                  "reverse zones, DNS servers and TSIG keys dhcpd used",
                  kea="ddns-conflict-resolution-mode (2.6+: no-check-with-dhcid during cutover; "
                  "2.2: ddns-use-conflict-resolution false)")

    # ---- scopes ----------------------------------------------------------------------------------
    def _scopes(self, blk: Block, drafts: list[_SubnetDraft], shared: dict[str, dict[str, Any]], *,
                inherited: dict[str, Any], shared_name: str | None) -> None:
        want_subnet = "subnet" if self.family == 4 else "subnet6"
        other_subnet = "subnet6" if self.family == 4 else "subnet"
        for child in blk.blocks():
            kind = child.kind
            if kind == want_subnet:
                draft = self._subnet(child, shared_name, inherited)
                if draft is not None:
                    drafts.append(draft)
            elif kind == other_subnet:
                self.untranslated(child, f"a {kind} in a DHCPv{self.family} configuration")
            elif kind == "shared-network":
                if shared_name is not None:
                    self.untranslated(child, "a shared-network inside a shared-network")
                    continue
                name = child.name
                params: dict[str, Any] = dict(inherited)
                self._params(child, params, "shared-network")
                shared[name] = {"name": name, **params, "_block": child}
                self._scopes(child, drafts, shared, inherited={}, shared_name=name)
                for pool in child.blocks("pool", "pool6"):
                    self._shared_pool(pool, [d for d in drafts if d.shared == name])
            elif kind == "group":
                params = dict(inherited)
                if any(b.kind in ("subnet", "subnet6", "shared-network")
                       for b in child.walk() if b is not child):
                    self._params(child, params, "group")
                else:
                    self._host_group(child)
                self._scopes(child, drafts, shared, inherited=params, shared_name=shared_name)
            elif kind in ("pool", "pool6"):
                if blk.kind != "shared-network":  # a shared network's are placed by the caller
                    self.untranslated(child, "a pool outside a subnet or shared-network",
                                      severity="error")
            elif kind in ("host", "class", "subclass", "failover"):
                continue  # hosts: reservations; class / failover: their own passes
            elif kind in ("key", "zone"):
                self._ddns_block(child)
            else:
                self.untranslated(child, "no Kea equivalent known to kea-etl")

    def _ddns_block(self, blk: Block) -> None:
        """``key`` / ``zone``: into the D2 configuration (kea_etl.convert.d2), or an error
        finding saying why not."""
        stmts = [(st.kw, [_utf8(t.text) for t in st.args], st.path, st.line)
                 for st in blk.stmts()]
        name = _utf8(blk.args[0].text) if blk.args else ""
        if blk.kind == "key":
            key = d2.parse_key(name, stmts, blk.path, blk.line)
            if isinstance(key, str):
                self.untranslated(blk, key, kea="kea-dhcp-ddns tsig-keys", severity="error")
                return
            self.result.ddns.keys[key.name] = key
            self.note("decide", "ddns", blk, f"TSIG key written to kea-dhcp-ddns.conf "
                      f"(tsig-keys), its secret to {key.secret_file} beside it: install that file "
                      f"as {d2.SECRET_DIR}/{key.secret_file} (mode 0640, Kea's group), or for Kea "
                      "2.2 / 2.4 (no secret-file) replace secret-file by the secret itself",
                      kea="kea-dhcp-ddns tsig-keys")
            return
        zone = d2.parse_zone(name, stmts, blk.path, blk.line)
        if isinstance(zone, str):
            self.untranslated(blk, zone, kea="kea-dhcp-ddns forward-ddns / reverse-ddns",
                              severity="error")
            return
        self.result.ddns.zones[zone.name] = zone
        side = "reverse-ddns" if zone.reverse else "forward-ddns"
        self.note("info", "ddns", blk, f"DNS zone written to kea-dhcp-ddns.conf ({side}, "
                  f"servers {', '.join(zone.servers)}); run kea-dhcp-ddns beside Kea",
                  kea=f"kea-dhcp-ddns {side}")

    def _shared_pool(self, pool: Block, drafts: list[_SubnetDraft]) -> None:
        """A pool directly in a shared-network: dhcpd files its ranges under the subnet that
        holds them; Kea pools live in subnets, so it goes there (by its first range)."""
        first = next((st for st in pool.stmts() if st.kw in ("range", "range6", "prefix6")), None)
        target = None
        if first is not None and first.kw != "prefix6":
            words = [t.text for t in first.args if t.text.lower() != "dynamic-bootp"]
            try:
                start = ip_address(words[0].split("/")[0])
                target = next((d for d in drafts if start in d.net), None)
            except (IndexError, ValueError):
                target = None
        elif first is not None:
            target = drafts[0] if len(drafts) == 1 else None
        if target is None:
            self.untranslated(pool, "a pool in a shared-network whose range lies in none of its "
                              "subnets", severity="error")
            return
        pools = target.body.setdefault("pools", [])
        pd_pools = target.body.setdefault("pd-pools", [])
        before = len(pools)
        self._pool(pool, target.net, pools, pd_pools)
        for p in pools[before:]:
            lo, _, hi = str(p["pool"]).partition(" - ")
            if hi:
                self.result.pools.append((ip_address(lo), ip_address(hi), str(target.net)))
            else:
                pn = IPv6Network(lo)
                self.result.pools.append((pn.network_address, pn.broadcast_address,
                                          str(target.net)))
        for key in ("pools", "pd-pools"):
            if not target.body[key]:
                del target.body[key]
        self.note("info", "pools", pool, f"a pool directly in the shared-network: placed in "
                  f"subnet {target.net}, which holds its range", kea="pools")

    def _host_group(self, blk: Block) -> None:
        """A group of hosts only: its options go into the hosts' reservations
        (:meth:`_collect_group_options`); what a reservation cannot hold is reported."""
        subclasses = any(b.kind == "subclass" or any(st.kw == "subclass" for st in b.stmts())
                         for b in blk.walk())
        for st in blk.stmts():
            if st.kw == "subclass":
                continue  # translated by the class pass (_subclass)
            if subclasses:
                # dhcpd applies a group's statements to the subclasses declared in it too
                self.untranslated(st, "set on a group holding subclasses: dhcpd applies it to "
                                  "them, kea-etl does not carry it into their client classes "
                                  "(set it in each subclass)", kea="client-classes")
                continue
            if st.kw == "option" or st.kw in ("filename", "next-server", "use-host-decl-names"):
                continue  # options: below; the others: isc_conf carries them into reservations
            self.untranslated(st, "set on a group of hosts: Kea has no groups and a reservation "
                              "cannot hold it (a client class listed in the reservations' "
                              "client-classes can)", kea="client-classes")

    def _collect_group_options(self, blk: Block, inherited: list[dict[str, Any]],
                               lines: list[tuple[str, int]]) -> None:
        for child in blk.blocks():
            if child.kind == "group":
                opts = list(inherited)
                mine = list(lines)
                for st in child.stmts():
                    if st.kw != "option" or self._is_def(st):
                        continue
                    entry = self._option_data(st)
                    if entry is None:
                        continue
                    opts = [o for o in opts if (o.get("space"), o.get("code"))
                            != (entry.get("space"), entry.get("code"))]
                    opts.append(entry)
                    mine.append((st.path, st.line))
                    self._group_opt_stmts[(st.path, st.line)] = st
                self._collect_group_options(child, opts, mine)
            elif child.kind == "host":
                self._host_blocks[(child.path, child.line)] = child
                if inherited:
                    self._group_opts[(child.path, child.line)] = inherited
                    self._group_opt_lines.update(lines)
            elif child.kind in ("subnet", "subnet6", "shared-network"):
                self._collect_group_options(child, inherited, lines)

    def _subnet(self, blk: Block, shared_name: str | None, inherited: dict[str, Any]
                ) -> _SubnetDraft | None:
        a = blk.args
        try:
            if self.family == 4:
                if len(a) != 3 or a[1].text.lower() != "netmask":
                    raise ValueError("expected subnet ADDRESS netmask MASK")
                net: IPv4Network | IPv6Network = IPv4Network(f"{a[0].text}/{a[2].text}")
            else:
                net = IPv6Network("".join(t.text for t in a))
        except ValueError as exc:
            self.untranslated(blk, f"the subnet does not parse ({exc})", severity="error")
            return None
        body: dict[str, Any] = dict(inherited)
        self._params(blk, body, "subnet")
        pools: list[dict[str, Any]] = []
        pd_pools: list[dict[str, Any]] = []
        for st in blk.stmts():
            if st.kw in ("range", "range6", "prefix6"):
                self._range(st, net, pools, pd_pools, extra={})
            elif st.kw in ("failover", "match", "spawn", "lease"):
                self.untranslated(st, f"'{st.kw}' is not meaningful in a subnet")
        for pool in blk.blocks("pool", "pool6"):
            self._pool(pool, net, pools, pd_pools)
        for child in blk.blocks():
            if child.kind not in ("pool", "pool6", "host", "group"):
                self.untranslated(child, f"a {child.kind} block inside a subnet")
            elif child.kind == "group":
                self.untranslated(child, "a group inside a subnet: its hosts become reservations, "
                                  "its other statements are not translated")
        if pools:
            body["pools"] = pools
        if pd_pools:
            body["pd-pools"] = pd_pools
        for p in pools:
            first, _, last = str(p["pool"]).partition(" - ")
            if last:
                self.result.pools.append((ip_address(first), ip_address(last), str(net)))
            else:
                pn = IPv6Network(first) if ":" in first else IPv4Network(first)
                self.result.pools.append((pn.network_address, pn.broadcast_address, str(net)))
        return _SubnetDraft(net, body, shared_name, blk)

    def _range(self, st: Stmt, net: IPv4Network | IPv6Network, pools: list[dict[str, Any]],
               pd_pools: list[dict[str, Any]], extra: dict[str, Any]) -> None:
        w = [t.text for t in st.args]
        try:
            if st.kw == "range":
                if w and w[0].lower() == "dynamic-bootp":
                    w = w[1:]
                    self.note("warning", "pools", st, "dynamic-bootp: Kea answers BOOTP clients "
                              "only with the bootp hook", kea="libdhcp_bootp.so")
                lo = IPv4Address(w[0])
                hi = IPv4Address(w[1]) if len(w) > 1 else lo
                if lo not in net or hi not in net:
                    raise ValueError(f"range {lo} - {hi} is not inside subnet {net}")
                lo, hi = min(lo, hi), max(lo, hi)
                if self._overlaps(st, pools, int(lo), int(hi)):
                    return
                pools.append({"pool": f"{lo} - {hi}", **extra})
            elif st.kw == "range6":
                if len(w) == 2 and w[1].lower() == "temporary":
                    self.untranslated(st, "temporary addresses (IA_TA): Kea does not hand them out")
                    return
                if len(w) == 1 and "/" in w[0]:
                    pn = IPv6Network(w[0])
                    if self._overlaps(st, pools, int(pn.network_address),
                                      int(pn.broadcast_address)):
                        return
                    pools.append({"pool": str(pn), **extra})
                else:
                    lo6, hi6 = IPv6Address(w[0]), IPv6Address(w[1])
                    if lo6 not in net or hi6 not in net:
                        raise ValueError(f"range6 {lo6} - {hi6} is not inside subnet {net}")
                    lo6, hi6 = min(lo6, hi6), max(lo6, hi6)
                    if self._overlaps(st, pools, int(lo6), int(hi6)):
                        return
                    pools.append({"pool": f"{lo6} - {hi6}", **extra})
            elif st.kw == "prefix6":
                lo6, hi6 = IPv6Address(w[0]), IPv6Address(w[1])
                dlen = int(w[2].lstrip("/")) if not w[2].startswith("/") or len(w[2]) > 1 else 0
                if len(w) > 3:
                    dlen = int(w[3])
                size = 2 ** (128 - dlen)
                last = IPv6Address(int(hi6) + size - 1)
                for block in summarize_address_range(lo6, last):
                    if any(block.overlaps(IPv6Network(f"{pp['prefix']}/{pp['prefix-len']}"))
                           for pp in pd_pools):
                        self.untranslated(st, f"{block} overlaps an earlier prefix6 of the "
                                          "subnet; Kea refuses overlapping pd-pools",
                                          severity="error")
                        continue
                    pd_pools.append({"prefix": str(block.network_address),
                                     "prefix-len": block.prefixlen, "delegated-len": dlen, **extra})
                    self.result.pools.append((block.network_address, block.broadcast_address,
                                              str(net)))
        except (IndexError, ValueError) as exc:
            self.untranslated(st, f"does not parse ({exc})", severity="error")

    def _overlaps(self, st: Stmt, pools: list[dict[str, Any]], lo: int, hi: int) -> bool:
        """True (and an error finding) when [lo, hi] overlaps a pool already in ``pools``:
        Kea refuses the whole configuration then (dhcpd refuses overlapping ranges too)."""
        for p in pools:
            text = str(p["pool"])
            a, _, b = text.partition(" - ")
            if b:
                plo, phi = int(ip_address(a)), int(ip_address(b))
            else:
                pn = IPv6Network(a) if ":" in a else IPv4Network(a)
                plo, phi = int(pn.network_address), int(pn.broadcast_address)
            if lo <= phi and plo <= hi:
                self.untranslated(st, f"overlaps pool {text} (already translated); Kea refuses "
                                  "overlapping pools", severity="error")
                return True
        return False

    def _pool(self, blk: Block, net: IPv4Network | IPv6Network, pools: list[dict[str, Any]],
              pd_pools: list[dict[str, Any]]) -> None:
        extra: dict[str, Any] = {}
        opts: dict[str, Any] = {}
        self._params(blk, opts, "pool")
        if "option-data" in opts:
            extra["option-data"] = opts["option-data"]
        cls = self._permits(blk)
        if cls:
            extra["client-class"] = cls
        for st in blk.stmts():
            if st.kw in ("range", "range6", "prefix6"):
                self._range(st, net, pools, pd_pools, extra)
            elif st.kw == "failover":
                w = [t.text for t in st.args]
                if len(w) >= 2 and w[0].lower() == "peer":
                    self.failover_used.add(_utf8(w[1]))
            elif st.kw in ("match", "spawn", "lease", "subclass"):
                self.untranslated(st, "not meaningful in a pool")
        for child in blk.blocks():
            self.untranslated(child, f"a {child.kind} block inside a pool")

    def _permits(self, blk: Block) -> str | None:
        """A pool's allow / deny list -> one Kea client class name (a built-in, a dhcpd class,
        or a generated class whose test combines them)."""
        allows: list[str] = []
        denies: list[str] = []
        never = False
        for st in blk.stmts():
            if st.kw not in ("allow", "deny", "ignore"):
                continue
            w = st.words()
            target: str | None = None
            if w == ["unknown-clients"] or w == ["unknown", "clients"]:
                target = "UNKNOWN"
            elif w == ["known-clients"] or w == ["known", "clients"]:
                target = "KNOWN"
            elif w[:2] == ["members", "of"] and len(w) == 3:
                target = _utf8(st.args[2].text)
                if target not in self.class_names:
                    self.untranslated(st, f"class {target!r} is not defined (or not translated)")
                    continue
            elif w == ["all", "clients"] or w == ["unauthenticated", "clients"]:
                # dhcpd never sets packet->authenticated (server/dhcp.c, permitted()): every
                # client is unauthenticated, none authenticated
                target = "ALL"
            elif w == ["authenticated", "clients"]:
                if st.kw == "allow":
                    never = True  # an allow list entry no client matches
                continue
            elif w[:1] in (["client-updates"], ["declines"], ["bootp"], ["booting"]):
                self.untranslated(st, "not a pool permit Kea has")
                continue
            else:
                self.untranslated(st, "a permit Kea has no class for (dynamic bootp clients, "
                                  "after DATE, authenticated clients ...)", kea="pools.client-class")
                continue
            (allows if st.kw == "allow" else denies).append(target)
        if never and not allows:
            # the pool's only allow entry matches no client: dhcpd serves no one from it
            denies = ["ALL"]
            self.note("warning", "pools", blk, "dhcpd never treats a client as authenticated, "
                      "so it hands out no address of this pool; neither does the Kea config "
                      "(a class no client is in)", kea="pools.client-class")
        if not allows and not denies:
            return None
        # KNOWN/UNKNOWN and their negations fold into one built-in class
        if "ALL" in allows:
            allows = []
            if not denies:
                return None  # every client is allowed
        if denies == ["UNKNOWN"] and allows in ([], ["KNOWN"]):
            return "KNOWN"
        if denies == ["KNOWN"] and allows in ([], ["UNKNOWN"]):
            return "UNKNOWN"
        if not denies and len(allows) == 1:
            return allows[0]
        if not denies and set(allows) >= {"KNOWN", "UNKNOWN"}:
            return None
        parts = []
        if allows:
            parts.append(" or ".join(f"member('{c}')" for c in allows))
        if denies:
            parts.append(" and ".join(f"not member('{c}')" for c in denies))
        test = " and ".join(f"({p})" if len(parts) > 1 else p for p in parts)
        if test in self.permit_classes:
            return str(self.permit_classes[test]["name"])
        name = "pool-permit-" + hashlib.blake2b(test.encode(), digest_size=4).hexdigest()
        self.permit_classes[test] = {"name": name, "test": test}
        self.note("info", "classes", blk, f"the pool's permit list became client class {name} "
                  f"({test})", kea="client-classes")
        return name

    # ---- classes ---------------------------------------------------------------------------------
    def _class_head(self, blk: Block) -> None:
        name = blk.name
        self.class_names.add(name)
        for st in blk.stmts():
            if st.kw == "match" and st.args and st.args[0].text.lower() != "if":
                try:
                    self.class_match[name] = kexpr.data_expression(
                        st.args, family=self.family, user_options=self.user_options)
                except kexpr.Untranslatable as exc:
                    self.untranslated(st, f"the match expression: {exc}", kea="client-classes.test")

    def _subclass(self, where: Stmt | Block, item: Stmt | Block) -> None:
        toks = item.toks if isinstance(item, Stmt) else item.head
        if len(toks) < 3:
            self.untranslated(where, "expected subclass \"CLASS\" KEY")
            return
        self.subclasses[_utf8(toks[1].text)].append((toks[2], item))

    def _classes_out(self) -> None:
        first: dict[str, Block] = {}
        for blk in self._class_blocks:
            if blk.name in first:
                self.untranslated(blk, f"class {blk.name!r} is declared again (first at "
                                  f"{first[blk.name].path}:{first[blk.name].line}); Kea refuses "
                                  "a second definition", severity="error")
                continue
            first[blk.name] = blk
            self._class(blk)
        names = {c["name"] for c in self.classes}
        for sub in self._pending_sub:
            if sub["name"] in names:
                self.findings.append(Finding(
                    "error", "classes", f"subclass {sub['name']!r} is declared twice (or clashes "
                    "with a class of that name); the first is kept", kea="client-classes"))
                continue
            names.add(sub["name"])
            self.classes.append(sub)
        for test, entry in self.permit_classes.items():
            self.classes.append({"name": entry["name"], "test": test})

    def _class(self, blk: Block) -> None:
        name = blk.name
        entry: dict[str, Any] = {"name": name}
        tests: list[str] = []
        broken = False
        for st in blk.stmts():
            if st.kw == "match" and st.args and st.args[0].text.lower() == "if":
                try:
                    tests.append(kexpr.translate(st.args[1:], family=self.family,
                                                 user_options=self.user_options))
                except kexpr.Untranslatable as exc:
                    broken = True
                    self.untranslated(st, f"the match expression: {exc}; the class has no test "
                                      "(no client matches it)", kea="client-classes.test")
            elif st.kw == "match":
                continue  # subclass selector, below
            elif st.kw in ("spawn", "lease"):
                self.untranslated(st, "Kea classes neither spawn nor limit leases (Kea 2.x: the "
                                  "limits hook is a premium one)")
        members = self.subclasses.get(name, [])
        if name in self.class_match:
            # with a subclass selector, dhcpd's 'match if' is a guard (server/class.c,
            # check_collection): a client whose guard fails is not looked up among the
            # subclasses, one whose key matches no subclass is not a member
            guard = " or ".join(f"({t})" if len(tests) > 1 else t for t in tests)
            tests = []
            sub = self._members(blk, name, members, guard=guard) if members else None
            if sub and not broken:
                tests.append(f"({guard}) and ({sub})" if guard else sub)
            if not members:
                self.note("warning", "classes", blk, "the class matches on an expression but has "
                          "no subclass: no client is a member", kea="client-classes.test")
        elif members:
            sub = self._members(blk, name, members, guard="")
            if sub:
                tests.append(sub)
        if tests:
            entry["test"] = " or ".join(f"({t})" if len(tests) > 1 else t for t in tests)
        params: dict[str, Any] = {}
        self._params(blk, params, "class")
        for key in _CLASS_KEYS:
            if key in params:
                entry[key] = params.pop(key)
        for key in params:
            self.note("warning", "classes", blk, f"'{key}' set in a class: Kea classes cannot "
                      "hold it; not translated", kea=key)
        for child in blk.blocks():
            self.untranslated(child, "a block inside a class")
        self.classes.append(entry)

    def _members(self, blk: Block, name: str, members: list[tuple[_Tok, Stmt | Block]], *,
                 guard: str) -> str | None:
        if name not in self.class_match:
            self.untranslated(blk, f"{len(members)} subclass(es) of a class without a "
                              "translatable 'match' selector")
            return None
        data, is_hw = self.class_match[name]
        keys: list[str] = []
        for key_tok, item in members:
            if is_hw:
                mac = kexpr.hardware_key(key_tok.text)
                if mac is None:
                    self.untranslated(item, "a hardware key that is not ethernet (1:MAC)")
                    continue
                cond = f"pkt4.mac == 0x{mac.hex().upper()}"
            else:
                raw = (key_tok.text.encode("latin-1") if key_tok.kind == "string"
                       else bytes(int(x, 16) for x in key_tok.text.split(":"))
                       if ":" in key_tok.text else key_tok.text.encode("latin-1"))
                cond = f"{data} == {kexpr.literal(raw)}"
            keys.append(cond)
            if isinstance(item, Block) and item.items:
                sub: dict[str, Any] = {"name": f"{name}/{_utf8(key_tok.text)}",
                                       "test": f"({guard}) and ({cond})" if guard else cond}
                params: dict[str, Any] = {}
                self._params(item, params, "class")
                # what a Kea class holds (as for a class, _class)
                for key in _CLASS_KEYS:
                    if key in params:
                        sub[key] = params.pop(key)
                for key in params:
                    self.note("warning", "classes", item, f"'{key}' in a subclass: not "
                              "translated", kea=key)
                self._pending_sub.append(sub)
        self.note("info", "classes", blk, f"{len(keys)} subclass key(s) became the test of class "
                  f"{name!r}", kea="client-classes.test", count=len(keys))
        return " or ".join(keys) if keys else None

    # ---- subnets, ids, shared networks ---------------------------------------------------------
    def _subnets_out(self, body: dict[str, Any], drafts: list[_SubnetDraft],
                     shared: dict[str, dict[str, Any]]) -> None:
        ids, notes = assign_ids([d.net for d in drafts], keep=self.keep_ids)
        self.result.subnet_ids = ids
        for prefix, sid, why in notes:
            self.note("warning", "subnet-ids", None, f"subnet {prefix} gets id {sid}: {why}",
                      kea="subnet id")
        if self.keep_ids:
            kept = [d for d in drafts if str(d.net) in self.keep_ids]
            for d in drafts:
                if str(d.net) not in self.keep_ids:
                    self.note("info", "subnet-ids", d.block, f"subnet {d.net} is not in the "
                              f"previous Kea config: new id {ids[str(d.net)]}", kea="subnet id")
            gone = set(self.keep_ids) - {str(d.net) for d in drafts}
            for prefix in sorted(gone):
                self.note("decide", "subnet-ids", None, f"subnet {prefix} (id "
                          f"{self.keep_ids[prefix]}) of the previous Kea config is not in the "
                          "dhcpd.conf: its leases have no subnet after cutover")
            del kept
        seen: dict[str, _SubnetDraft] = {}
        key = "subnet4" if self.family == 4 else "subnet6"
        # outer scopes first: an inner one is judged with what it inherits
        self._check_lifetimes(body, None, [])
        for params in shared.values():
            self._check_lifetimes(params, params["_block"], [body])
        top: list[dict[str, Any]] = []
        by_shared: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for d in drafts:
            if str(d.net) in seen:
                self.untranslated(d.block, f"subnet {d.net} is declared twice (first at "
                                  f"{seen[str(d.net)].block.path}:{seen[str(d.net)].block.line})",
                                  severity="error")
                continue
            seen[str(d.net)] = d
            sub = {"id": ids[str(d.net)], "subnet": str(d.net), **d.body}
            parents = [shared[d.shared], body] if d.shared and d.shared in shared else [body]
            self._check_lifetimes(sub, d.block, parents)
            (by_shared[d.shared] if d.shared else top).append(sub)
        self._subnet_dicts = {s["subnet"]: s for s in [*top, *(x for v in by_shared.values()
                                                               for x in v)]}
        if top:
            body[key] = top
        nets = []
        for name, params in shared.items():
            blk = params.pop("_block")
            subs = by_shared.get(name, [])
            if not subs:
                self.untranslated(blk, "a shared-network without a subnet of this family")
                continue
            nets.append({**params, key: subs})
            if len(subs) == 1:
                self.note("info", "shared-networks", blk, "a shared network of one subnet",
                          kea="shared-networks")
        if nets:
            body["shared-networks"] = nets

    def _check_lifetimes(self, scope: dict[str, Any], blk: Block | None,
                         parents: list[dict[str, Any]]) -> None:
        """Kea refuses a scope whose valid-lifetime (its own or inherited from ``parents``) lies
        outside its [min, max] (dhcpd clamps quietly): clamp in this scope and say so."""
        def eff(key: str) -> Any:
            for sc in (scope, *parents):
                if key in sc:
                    return sc[key]
            return None

        lo, dv, hi = eff("min-valid-lifetime"), eff("valid-lifetime"), eff("max-valid-lifetime")
        if dv is not None and hi is not None and dv > hi:
            scope["valid-lifetime"] = dv = hi
            self.note("warning", "lease-times", blk, f"the default lease time exceeds "
                      f"max-lease-time {hi} here: dhcpd hands out {hi}; so does the Kea config",
                      kea="valid-lifetime")
        if dv is not None and lo is not None and lo > dv:
            scope["min-valid-lifetime"] = dv
            self.note("warning", "lease-times", blk, f"min-lease-time {lo} exceeds the default "
                      f"lease time {dv} here; Kea refuses that, lowered to {dv}",
                      kea="min-valid-lifetime")
        if self.family != 6 or dv is None:
            return
        # dhcpd computes a missing preferred lifetime per reply from the valid lifetime of the
        # client's scope, and so a preferred lifetime >= the valid one (server/dhcpv6.c,
        # reply_process_is_addressed): a scope with its own valid lifetime needs its own
        explicit = "preferred-lifetime" in scope and id(scope) not in self._derived_pref or any(
            "preferred-lifetime" in p and id(p) not in self._derived_pref for p in parents)
        pref = eff("preferred-lifetime")
        if not explicit:
            if pref != _dhcpd_preferred(dv):
                scope["preferred-lifetime"] = _dhcpd_preferred(dv)
                self._derived_pref.add(id(scope))
        elif pref is not None and pref > dv:
            scope["preferred-lifetime"] = dv  # Kea refuses a preferred above the valid lifetime

    # ---- reservations ---------------------------------------------------------------------------
    def _reservations(self, body: dict[str, Any], drafts: list[_SubnetDraft]) -> None:
        # statements this converter reported already (a group's lease time, once for the group):
        # isc_conf's warning of the same statement on each host of the group is not repeated
        self._reported = {(f.file, f.line) for f in self.findings if f.line is not None}
        # longest-prefix lookup: one dict per prefix length (a handful), not a scan per host
        by_len: dict[int, dict[int, dict[str, Any]]] = defaultdict(dict)
        for d in drafts:
            sub_dict = self._subnet_dicts.get(str(d.net))
            if sub_dict is not None:
                by_len[d.net.prefixlen][int(d.net.network_address)] = sub_dict
        lengths = sorted(by_len, reverse=True)
        width = 32 if self.family == 4 else 128

        def lookup(addr: int) -> dict[str, Any] | None:
            for plen in lengths:
                found = by_len[plen].get(addr >> (width - plen) << (width - plen))
                if found is not None:
                    return found
            return None

        pd_subnets = [(IPv6Network(f"{pp['prefix']}/{pp['prefix-len']}"), sub)
                      for sub in self._subnet_dicts.values() for pp in sub.get("pd-pools", ())]
        by_addr: dict[str, list[tuple[str, Reservation]]] = defaultdict(list)
        idents: set[tuple[int, str, str]] = set()
        global_res: list[dict[str, Any]] = []
        for item in isc_conf.extract(self.path, family=self.family, include_dir=self.include_dir):
            if isinstance(item, MalformedRecordError):
                self.findings.append(host_error(item))
                continue
            if isinstance(item, SourceWarning):
                if item.statement.split(" ", 1)[0] in ("class", "subclass"):
                    continue  # translated by this converter (see _class)
                self._source_warning(item)
                continue
            assert isinstance(item, Extracted)
            rec = item.record
            assert isinstance(rec, Reservation)
            group_opts = list(self._group_opts.get((item.source, item.line or 0), []))
            # the host's own options of user-defined types (isc_conf knows the standard ones)
            user_lines: set[tuple[str, int]] = set()
            blk = self._host_blocks.get((item.source, item.line or 0))
            for st in blk.stmts() if blk is not None else ():
                if (st.kw == "option" and st.args
                        and st.args[0].text.lower() in self.user_options):
                    space = self.user_options[st.args[0].text.lower()][0]
                    if space != self.sp or rec.family != self.family:
                        continue
                    entry = self._option_data(st)
                    if entry is not None:
                        group_opts = [o for o in group_opts
                                      if (o.get("space"), o.get("code"))
                                      != (entry["space"], entry["code"])]
                        group_opts.insert(0, entry)
                        user_lines.add((st.path, st.line))
            for sw in item.warnings:
                if "has no fixed address" in sw.reason:
                    continue  # said below, with what convert does
                if (sw.source, sw.line) in user_lines:
                    continue  # a user-defined option: carried below
                if group_opts and (sw.source, sw.line) in self._group_opt_lines:
                    continue  # carried into the reservation below
                self._source_warning(sw)
            if group_opts:
                own = {(o.get("space"), o.get("code")) for o in rec.option_data}
                merged = [*rec.option_data, *(o for o in group_opts
                                              if (o.get("space"), o.get("code")) not in own)]
                merged.sort(key=lambda o: int(o.get("code", 0)))
                rec = Reservation(**{**_res_fields(rec), "subnet_id": rec.subnet_id,
                                     "option_data": tuple(merged)})
            addrs: list[IPv4Address | IPv6Address] = (
                [rec.ipv4_address] if rec.ipv4_address is not None else list(rec.ip_addresses))
            target: dict[str, Any] | None = None
            if addrs:
                found = {id(t): t for t in (lookup(int(a)) for a in addrs)}
                if len(found) == 1:
                    target = next(iter(found.values()))
            elif rec.prefixes:
                target = next((sub for pnet, sub in pd_subnets for p in rec.prefixes
                               if p.subnet_of(pnet)), None)
            host = rec.to_kea_host()
            where = Finding("info", "", "", file=item.source, line=item.line)
            name = item.extra.get("dhcpd_host", "")
            if target is None and (addrs or rec.prefixes):
                self.findings.append(Finding(
                    "warning", "hosts", "its address is in no subnet of the converted config: "
                    "Kea has nowhere to keep it (dhcpd never hands it out either)",
                    file=where.file, line=where.line, statement=f"host {name}",
                    kea="reservations"))
                continue
            if target is None:
                global_res.append(host)
                self.findings.append(Finding(
                    "info", "hosts", "no fixed address: a global reservation (reservations-global "
                    "is switched on so Kea consults it, as dhcpd does on every subnet)",
                    file=where.file, line=where.line, statement=f"host {name}",
                    kea="reservations-global"))
                self.result.reservations.append(rec)
                continue
            ident = (id(target), rec.identifier_type, rec.identifier)
            if ident in idents:
                self.findings.append(Finding(
                    "warning", "hosts", "a second host with the same identifier in subnet "
                    f"{target['subnet']}: Kea holds one reservation per identifier and subnet; "
                    "the first is kept", file=where.file, line=where.line,
                    statement=f"host {name}", kea="reservations"))
                continue
            idents.add(ident)
            target.setdefault("reservations", []).append(host)
            self.result.reservations.append(
                Reservation(**{**_res_fields(rec), "subnet_id": int(target["id"])}))
            for a in addrs:
                by_addr[str(a)].append((name, rec))
            if rec.prefixes and not addrs:
                self.note("info", "hosts", None, f"host {name}: prefix reservation placed in "
                          f"subnet {target['subnet']} (its pd-pool holds the prefix)")
        shared_addr = {a: hs for a, hs in by_addr.items() if len(hs) > 1}
        if shared_addr:
            body["ip-reservations-unique"] = False
            for addr, hosts in sorted(shared_addr.items()):
                rec0 = hosts[0][1]
                self.findings.append(Finding(
                    "decide", "hosts", f"address {addr} is reserved for {len(hosts)} hosts "
                    f"({', '.join(h for h, _ in hosts)}): ip-reservations-unique is false, so "
                    "Kea accepts it and gives the address to whichever client asks first "
                    "(dhcpd does the same). Kea refuses this setting with a host backend that cannot "
                    "hold it: the host_cache hook (seen on Kea 3.0) and SQL host databases",
                    file=rec0.origin, line=rec0.line, statement=f"fixed-address {addr}",
                    kea="ip-reservations-unique", count=len(hosts)))
        if global_res:
            body["reservations"] = global_res
            body["reservations-global"] = True
            body["reservations-in-subnet"] = True

    def _source_warning(self, sw: SourceWarning) -> None:
        if (sw.source, sw.line) in self._reported:
            return
        self.findings.append(host_finding(sw))

    # ---- failover -> HA ------------------------------------------------------------------------
    def _failover_out(self, body: dict[str, Any]) -> None:
        if not self.failover:
            return
        names = list(self.failover)
        for extra in names[1:]:
            self.untranslated(self.failover[extra], "a second failover relationship: one Kea "
                              "server takes part in one HA relationship (Kea 2.x)",
                              kea="libdhcp_ha.so", severity="decide")
        name = names[0]
        blk = self.failover[name]
        role, addr, peer_addr = "primary", "", ""
        values: dict[str, str] = {}
        for st in blk.stmts():
            w = st.words()
            if st.kw in ("primary", "secondary"):
                role = st.kw
            elif st.kw == "address" and w:
                addr = w[0]
            elif st.kw == "peer" and w[:1] == ["address"] and len(w) > 1:
                peer_addr = w[1]
            elif st.kw in ("port", "peer", "max-response-delay", "max-unacked-updates", "mclt",
                           "split", "hba", "load", "auto-partner-down", "max-lease-misbalance",
                           "max-lease-ownership", "min-balance", "max-balance"):
                values[" ".join([st.kw, *w[:-1]]) if st.kw in ("peer", "load") else st.kw] = (
                    w[-1] if w else "")
        split = values.get("split")
        mode: Literal["hot-standby", "load-balancing"] = (
            "hot-standby" if split in ("0", "255") else "load-balancing")

        def number(key: str, default: int) -> int:
            text = values.get(key, "")
            if not text:
                return default
            try:
                return int(text)
            except ValueError:
                self.note("error", "failover", blk, f"{key} {text!r} is not a number; Kea's "
                          f"default-like {default} used", kea="libdhcp_ha.so")
                return default

        rel = Relationship(name, "primary" if role == "primary" else "secondary", mode,
                           address=addr, peer_address=peer_addr,
                           max_response_delay=number("max-response-delay", 60),
                           max_unacked=number("max-unacked-updates", 5),
                           old_port="dhcpd's failover port " + values.get("port", "647"))
        body.setdefault("hooks-libraries", []).append(ha_library(rel, self.hooks_dir))
        self.result.failover.append({"name": name, "role": role, "address": addr,
                                     "peer-address": peer_addr, "mode": mode, **values})
        todo = ha_todo(rel)
        if mode == "load-balancing" and split not in (None, "128"):
            todo.append(f"dhcpd split {split} of 256: Kea load balancing always splits about "
                        "evenly (by a hash of the client)")
        if "mclt" in values:
            todo.append(f"mclt {values['mclt']}: Kea HA has no MCLT (the partner holds every "
                        "lease, so no safety margin is needed)")
        pools_without = not self.failover_used
        if pools_without:
            todo.append("no pool references the failover peer: dhcpd does not run failover "
                        "for any pool; check that HA is wanted")
        self.note("decide", "failover", blk, f"failover peer {name!r} ({role}, split "
                  f"{split or 'none'}) became a Kea HA {mode} skeleton; the operator must: "
                  + "; ".join(todo), kea="libdhcp_ha.so high-availability", todo=todo)


def _dhcpd_preferred(valid: int) -> int:
    """dhcpd's preferred lifetime where none is configured: 5/8 of the valid one."""
    return valid // 2 + valid // 8


def _record_types(text: str) -> list[str] | None:
    out = []
    items = [t.strip() for t in text.replace("{", "").replace("}", "").split(" ")]
    words = " ".join(i for i in items if i)
    parts = [p.strip() for p in words.split(",")] if "," in words else _split_types(words)
    for p in parts:
        if p not in _OPTION_TYPES:
            return None
        out.append(_OPTION_TYPES[p])
    return out


def _split_types(words: str) -> list[str]:
    toks = words.split()
    out: list[str] = []
    i = 0
    while i < len(toks):
        if toks[i] in ("unsigned", "signed"):
            out.append(" ".join(toks[i:i + 3]))
            i += 3
        elif toks[i] == "integer":
            out.append(" ".join(toks[i:i + 2]))
            i += 2
        else:
            out.append(toks[i])
            i += 1
    return out


def _res_fields(rec: Reservation) -> dict[str, Any]:
    return {f: getattr(rec, f) for f in ("family", "identifier_type", "identifier",
                                         "ipv4_address", "ip_addresses", "prefixes", "hostname",
                                         "client_classes", "option_data", "next_server",
                                         "boot_file_name", "origin", "line")}


_ORDER = ["interfaces-config", "control-socket", "lease-database", "authoritative",
          "match-client-id", "valid-lifetime", "min-valid-lifetime", "max-valid-lifetime",
          "preferred-lifetime", "next-server", "server-hostname", "boot-file-name",
          "cache-threshold", "cache-max-age", "ddns-send-updates", "ddns-qualifying-suffix",
          "ddns-override-client-update",
          "dhcp-ddns", "ip-reservations-unique", "reservations-global", "reservations-in-subnet",
          "option-def", "option-data", "client-classes", "hooks-libraries", "reservations",
          "shared-networks", "subnet4", "subnet6"]


def _key_order(key: str) -> tuple[int, str]:
    return (_ORDER.index(key) if key in _ORDER else len(_ORDER) - 4, key)


def host_error(err: MalformedRecordError) -> Finding:
    """A host (dhcpd) or reservation (Windows) the extractor could not read, as a finding."""
    return Finding("error", "hosts", err.reason, file=err.source, line=err.line,
                   statement=err.key or "", kea="reservations")


def host_finding(sw: SourceWarning) -> Finding:
    """A warning of the reservation extractor (dhcpd host, Windows reservation) as a finding."""
    return Finding("warning", "hosts", sw.reason, file=sw.source, line=sw.line,
                   statement=(f"{sw.key}: " if sw.key else "") + sw.statement, kea="reservations")


def finish_config(body: dict[str, Any], family: int, hooks_dir: str) -> dict[str, Any]:
    """``{"DhcpN": body}`` with what every converted configuration has, in a readable key order:
    no interfaces (the operator chooses them), the control socket and the lease_cmds hook."""
    body.setdefault("interfaces-config", {"interfaces": []})
    # what kea-etl migrate / reconcile talk to: Debian's socket path (inside /run/kea, as
    # Kea 2.6.3+ demands) and the lease_cmds hook (HA needs it too, loaded before HA)
    body["control-socket"] = {"socket-type": "unix",
                              "socket-name": f"/run/kea/kea{family}-ctrl-socket"}
    body["hooks-libraries"] = [{"library": f"{hooks_dir}/libdhcp_lease_cmds.so"},
                               *body.get("hooks-libraries", [])]
    return {f"Dhcp{family}": {k: body[k] for k in sorted(body, key=_key_order)}}


def iter_blocks(root: Block, kind: str) -> Iterator[Block]:
    for b in root.walk():
        if b.kind == kind:
            yield b
