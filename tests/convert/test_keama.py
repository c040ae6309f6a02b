"""kea-etl convert against ISC KeaMA's own expectations (``keama/tests`` of ISC DHCP, copied into
``tests/convert/keama/`` with their licence).

Each input is converted and compared with KeaMA's expected output, aspect by aspect, on what
decides how Kea serves clients: subnets, shared networks, pools (with their client class, read
as its test), pd-pools, reservations (scope, identifier, addresses), reservation hostnames,
option-data per scope (space, code, value), option definitions, client classes and subclasses
(test, options, boot settings), and the effective lifetimes of every subnet. Every aspect
agrees unless the case is in :data:`DISAGREEMENTS`; a listed disagreement that no longer differs
fails too (the table must stay true). Where kea-etl does not translate what KeaMA does, the row
names the input line, and convert must report a finding there. The same table, with the
dhcpd.conf(5) reasoning, is the "KeaMA comparison" section of docs/convert.md (checked below).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any

import pytest

from kea_etl.convert import convert
from kea_etl.convert.findings import Finding
from kea_etl.kea_config import strip_json_comments

ROOT = Path(__file__).resolve().parents[2]
KEAMA = Path(__file__).resolve().parent / "keama"
CASES = sorted(p.name for p in KEAMA.iterdir() if p.suffix[:3] == ".in")
ASPECTS = ("subnets", "shared-networks", "pools", "pd-pools", "reservations", "hostnames",
           "option-data", "option-def", "client-classes", "subclasses", "lifetimes")
#: Kea's defaults, for what a configuration leaves unset
KEA_DEFAULTS = {"valid-lifetime": 7200, "preferred-lifetime": 3600}
LIFETIMES = ("valid-lifetime", "min-valid-lifetime", "max-valid-lifetime", "preferred-lifetime",
             "renew-timer", "rebind-timer")

# (input, aspect): (what KeaMA does, what kea-etl does, line kea-etl reports or None, verdict)
DISAGREEMENTS: dict[tuple[str, str], tuple[str, str, int | None, str]] = {
    ("pool4.in4", "lifetimes"): (
        "a pool's default-lease-time becomes the subnet's valid-lifetime",
        "reported (Kea pools have no lifetime)", 8, "kea-etl"),
    ("pool42.in4", "lifetimes"): (
        "a pool's default-lease-time becomes the subnet's valid-lifetime",
        "reported (Kea pools have no lifetime)", 8, "kea-etl"),
    ("pool6.in6", "lifetimes"): (
        "a pool's default-lease-time becomes the subnet's valid-lifetime",
        "reported (Kea pools have no lifetime)", 8, "kea-etl"),
    ("preferred6.in6", "lifetimes"): (
        "writes renew-timer / rebind-timer (1/2 and 4/5 of the preferred lifetime); a pool's "
        "preferred-lifetime becomes the subnet's",
        "leaves T1/T2 to Kea (calculate-tee-times: the same 0.5 / 0.8); reports the pool's "
        "preferred-lifetime", 10, "equivalent / kea-etl"),
    ("hostname4.in4", "hostnames"): (
        "the host declaration's name becomes the reservation's hostname",
        "no hostname (use-host-decl-names is off)", None, "kea-etl"),
    ("hostuid4.inn", "hostnames"): (
        "the host declaration's name becomes the reservation's hostname",
        "no hostname (use-host-decl-names is off)", None, "kea-etl"),
    ("grouphost4.inn", "hostnames"): (
        "the host declaration's name becomes the reservation's hostname",
        "no hostname (use-host-decl-names is off)", None, "kea-etl"),
    ("global4.in4", "hostnames"): (
        "the host declaration's name becomes the reservation's hostname",
        "no hostname (use-host-decl-names is off)", None, "kea-etl"),
    ("global6.in6", "hostnames"): (
        "the host declaration's name becomes the reservation's hostname",
        "no hostname (use-host-decl-names is off)", None, "kea-etl"),
    ("hostname4.in4", "reservations"): (
        "global reservations (reservation-mode global)",
        "each in the subnet holding its fixed-address", None, "kea-etl"),
    ("hostuid4.inn", "reservations"): (
        "a host with two fixed addresses: one reservation, in the first subnet; a host with "
        "'hardware fddi' kept without identifier",
        "one reservation in each subnet holding one of the addresses; the fddi host reported",
        24, "kea-etl"),
    ("grouphost4.inn", "reservations"): (
        "a host with two fixed addresses: one reservation, in the first subnet; a host with "
        "'hardware fddi' kept without identifier",
        "one reservation in each subnet holding one of the addresses; the fddi host reported",
        28, "kea-etl"),
    ("hostuid4.inn", "option-data"): (
        "a host with two fixed addresses: one reservation, in the first subnet",
        "one reservation in each subnet holding one of the addresses", None, "kea-etl"),
    ("orphan6.inN", "reservations"): (
        "a host without an address is dropped (-N: reservations in subnets only)",
        "a global reservation, reservations-global on", None, "kea-etl"),
    ("orphan6.inN", "option-data"): (
        "a host without an address is dropped (-N: reservations in subnets only)",
        "a global reservation with its options", None, "kea-etl"),
    ("ipaddrhost4.in4", "reservations"): (
        "resolves fixed-address www.isc.org in DNS at conversion time",
        "reports it (a name, not an address; kea-etl does not resolve names)", 5, "kea-etl"),
    ("ipaddrhost4.in4", "hostnames"): (
        "resolves fixed-address www.isc.org in DNS at conversion time",
        "reports it (a name, not an address; kea-etl does not resolve names)", 5, "kea-etl"),
    ("shareone4.in4", "shared-networks"): (
        "a shared network of one subnet is dissolved into the subnet",
        "kept (Kea accepts it; the same parameters apply)", None, "equivalent"),
    ("shareone4.in4", "option-data"): (
        "a shared network of one subnet is dissolved: its options move into the subnet",
        "kept on the shared network (Kea applies them to its subnet alike)", None, "equivalent"),
    ("shareone6.in6", "shared-networks"): (
        "a shared network of one subnet is dissolved into the subnet",
        "kept (Kea accepts it; the same parameters apply)", None, "equivalent"),
    ("shareone6.in6", "option-data"): (
        "a shared network of one subnet is dissolved: its options move into the subnet",
        "kept on the shared network (Kea applies them to its subnet alike)", None, "equivalent"),
    ("prefix62.in6", "pd-pools"): (
        "drops a prefix6 range outside the subnet (empty pd-pools)",
        "the range cut into CIDR pd-pools (Kea, like dhcpd, does not need delegated prefixes "
        "inside the subnet)", None, "kea-etl"),
    ("optiondata4.in4", "option-data"): (
        "sends dhcp-client-identifier, dhcp-parameter-request-list, bcms-controller-names; "
        "fmt-fB from its record definition",
        "reports the two the client sends (Kea computes / ignores them) and bcms-controller-names "
        "(not in kea-etl's table); fmt-fB translated", 31, "kea-etl (reported)"),
    ("optiondata6.in6", "option-data"): (
        "sends clt-time, unicast, geoconf-civic, rapid-commit",
        "reports them (not in kea-etl's v6 option table)", 23, "KeaMA (kea-etl reports)"),
    ("optiondecl4.in4", "option-def"): (
        "dhcpd 'string' -> Kea string; 'domain-list compressed' -> fqdn array; "
        "{ uint32, array of boolean } -> binary",
        "'string' -> binary (dhcpd strings hold any bytes); 'domain-list compressed' reported; "
        "{ uint32, array of boolean } -> record with array (Kea repeats the last field)",
        20, "kea-etl"),
    ("optiondecl6.in6", "option-def"): (
        "dhcpd 'string' -> Kea string; { ..., array of boolean } -> binary",
        "'string' -> binary; the record with a trailing array -> record with array", None,
        "kea-etl"),
    ("optiondeclBat4.in4", "option-def"): (
        "a record with a non-trailing array -> binary",
        "reported (Kea records take an array only as their last field)", 4,
        "kea-etl (reported)"),
    ("optionvendor4.in4", "option-def"): (
        "vendor.foobar code 12345 -> space vendor-12345 and option 125 with 12345",
        "reported (would need the space renamed); the foobar options stay in space foobar",
        6, "KeaMA (kea-etl reports)"),
    ("optionvendor4.in4", "option-data"): (
        "vendor.foobar code 12345 -> space vendor-12345 and option 125 with 12345",
        "reported; the foobar options stay in space foobar", 6, "KeaMA (kea-etl reports)"),
    ("escapestring4.in4", "option-data"): (
        "a text value with a comma is written with the comma escaped",
        "reported (a comma splits Kea's CSV data)", 6, "KeaMA (kea-etl reports)"),
    ("denyunknown6.in6", "client-classes"): (
        "a generated class testing member('KNOWN')", "Kea's built-in class KNOWN", None,
        "equivalent"),
    ("subclass4.in4", "client-classes"): (
        "the superclass has no test; one class per subclass",
        "the superclass's test is 'any subclass key' (a subclass's members are the class's, "
        "dhcpd's permitted()); a class of its own for each subclass with statements", None,
        "kea-etl"),
    ("subclass6.in6", "client-classes"): (
        "the superclass has no test; one class per subclass",
        "the superclass's test is 'any subclass key'", None, "kea-etl"),
    ("subclass6.in6", "subclasses"): (
        "option rapid-commit in a subclass", "reported (not in kea-etl's v6 option table)", 22,
        "KeaMA (kea-etl reports)"),
    ("subclassbinsel4.in4", "client-classes"): (
        "the superclass has no test; one class per subclass",
        "the superclass's test is 'any subclass key'", None, "kea-etl"),
    ("subclassbinsel4.in4", "subclasses"): (
        "hardware key: concat(substring(pkt4.htype,-1,all), pkt4.mac) == 0x01...",
        "pkt4.mac == 0x... (ethernet keys only; others reported)", None, "equivalent"),
    ("subclassguard4.in4", "client-classes"): (
        "the superclass's test is the 'match if' guard alone",
        "guard and any subclass key (dhcpd checks the keys only after the guard, and a client "
        "with no matching key is in no class)", None, "kea-etl"),
    ("groupgroup4.in4", "client-classes"): (
        "the superclass has no test; one class per subclass",
        "the superclass's test is 'any subclass key'", None, "kea-etl"),
    ("groupgroup4.in4", "subclasses"): (
        "a group's next-server and options are copied into the subclasses declared in it",
        "reported (set them in each subclass)", 18, "KeaMA (kea-etl reports)"),
    ("notnotbx4.in4", "client-classes"): (
        "not (not X) reduced to X", "not (not (X)) kept", None, "equivalent"),
    ("groupsubnet6.in6", "option-data"): (
        "sends lq-relay-data", "reported (not in kea-etl's v6 option table)", 22,
        "KeaMA (kea-etl reports)"),
}


# ---- reading both sides ------------------------------------------------------------------------
def _family(case: str) -> int:
    return 4 if case[-1] in "4nd" else 6


def _keama(case: str) -> dict[str, Any]:
    out = KEAMA / (case.rsplit(".", 1)[0] + ".out")
    data = json.loads(strip_json_comments(out.read_text()))
    return dict(data[f"Dhcp{_family(case)}"])


def _ours(case: str) -> tuple[dict[str, Any], list[Finding]]:
    path = KEAMA / case
    fam = _family(case)
    res = convert(path if fam == 4 else None, conf6=path if fam == 6 else None)
    fr = res.v4 if fam == 4 else res.v6
    assert fr is not None
    return dict(fr.config[f"Dhcp{fam}"]), fr.findings


def _subnets(cfg: Mapping[str, Any], fam: int) -> Iterator[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    for sub in cfg.get(f"subnet{fam}", ()):
        yield sub, {}
    for net in cfg.get("shared-networks", ()):
        for sub in net.get(f"subnet{fam}", ()):
            yield sub, net


def _addr(text: str) -> str:
    return str(ip_address(text.strip()))


def _pool(text: str) -> str:
    lo, _, hi = text.partition("-")
    return f"{_addr(lo)} - {_addr(hi)}" if hi else str(ip_network(lo.strip()))


def _data(entry: Mapping[str, Any]) -> tuple[str, int, str]:
    data = str(entry.get("data", ""))
    if entry.get("csv-format") is False:
        data = re.sub(r"[\s:]", "", data).lower()
    else:
        data = re.sub(r"\s*,\s*", ", ", data.strip())
    return (str(entry.get("space", "")).lower(), int(entry["code"]), data)


def _opts(entries: Any) -> tuple[tuple[str, int, str], ...]:
    return tuple(sorted(_data(e) for e in entries or ()))


def _test(text: str | None) -> str:
    if not text:
        return ""
    text = re.sub(r"0x[0-9a-fA-F]+", lambda m: m.group(0).lower(), text)
    return re.sub(r"\s+", "", text)


def _ident(res: Mapping[str, Any]) -> tuple[str, str]:
    for key in ("hw-address", "client-id", "duid", "circuit-id", "flex-id"):
        if key in res:
            return key, str(res[key]).lower()
    return ("none", "")


def _classes(cfg: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(c["name"]): c for c in cfg.get("client-classes", ())}


def _pool_class(cfg: Mapping[str, Any], name: str | None) -> str:
    """A pool's client class, read as what it tests (generated names differ by tool)."""
    if not name:
        return ""
    if name in ("KNOWN", "UNKNOWN", "ALL"):
        return f"member('{name}')"
    cls = _classes(cfg).get(name)
    return _test(cls.get("test")) if cls and cls.get("test") else name


def _generated(name: str) -> bool:
    return name.startswith(("gen#", "pool-permit-"))


def _is_sub(name: str) -> bool:
    return name.startswith("sub#") or "/" in name


def _class_view(c: Mapping[str, Any], drop: tuple[tuple[str, int, str], ...] = ()
                ) -> tuple[Any, ...]:
    return (tuple(o for o in _opts(c.get("option-data")) if o not in drop),
            c.get("next-server"), c.get("server-hostname"), c.get("boot-file-name"))


def _effective(chain: list[Mapping[str, Any]], key: str, fam: int) -> Any:
    for scope in chain:
        if key in scope:
            return scope[key]
    if key in ("min-valid-lifetime", "max-valid-lifetime"):
        return _effective(chain, "valid-lifetime", fam)
    if key == "preferred-lifetime" and fam == 4:
        return None
    return KEA_DEFAULTS.get(key)


def aspects(cfg: Mapping[str, Any], fam: int) -> dict[str, Any]:
    """What is compared, from one Kea ``DhcpN`` map."""
    out: dict[str, Any] = {a: {} for a in ASPECTS}
    subs = list(_subnets(cfg, fam))
    out["subnets"] = sorted(str(ip_network(s["subnet"])) for s, _ in subs)
    out["shared-networks"] = {str(n["name"]): sorted(str(ip_network(s["subnet"]))
                                                     for s in n.get(f"subnet{fam}", ()))
                              for n in cfg.get("shared-networks", ())}
    opts: dict[str, Any] = {"global": _opts(cfg.get("option-data"))}
    for net in cfg.get("shared-networks", ()):
        opts[f"shared {net['name']}"] = _opts(net.get("option-data"))
    res_rows = []
    hostnames = {}
    life: dict[str, dict[str, Any]] = {}
    keama_style = {k for k in LIFETIMES}
    for sub, net in subs:
        prefix = str(ip_network(sub["subnet"]))
        out["pools"][prefix] = sorted((_pool(p["pool"]), _pool_class(cfg, p.get("client-class")))
                                      for p in sub.get("pools", ()))
        out["pd-pools"][prefix] = sorted(
            (str(ip_network(f"{pp['prefix']}/{pp['prefix-len']}")), pp["delegated-len"])
            for pp in sub.get("pd-pools", ()))
        opts[f"subnet {prefix}"] = _opts(sub.get("option-data"))
        for p in sub.get("pools", ()):
            opts[f"pool {_pool(p['pool'])}"] = _opts(p.get("option-data"))
        for r in sub.get("reservations", ()):
            res_rows.append((prefix, *_ident(r), tuple(sorted(
                [_addr(r["ip-address"])] if "ip-address" in r else
                [_addr(a) for a in r.get("ip-addresses", ())])),
                tuple(sorted(r.get("prefixes", ())))))
            opts[f"reservation {prefix} {_ident(r)[1]}"] = _opts(r.get("option-data"))
            if r.get("hostname"):
                hostnames[f"{prefix} {_ident(r)[1]}"] = r["hostname"]
        chain = [sub, net, cfg]
        life[prefix] = {k: _effective(chain, k, fam) for k in keama_style}
    for r in cfg.get("reservations", ()):
        res_rows.append(("global", *_ident(r), (_addr(r["ip-address"]),) if "ip-address" in r
                         else (), ()))
        opts[f"reservation global {_ident(r)[1]}"] = _opts(r.get("option-data"))
        if r.get("hostname"):
            hostnames[f"global {_ident(r)[1]}"] = r["hostname"]
    life["global"] = {k: _effective([cfg], k, fam) for k in keama_style}
    out["reservations"] = sorted(res_rows)
    out["hostnames"] = hostnames
    out["option-data"] = {k: v for k, v in opts.items() if v}
    out["option-def"] = sorted(
        (str(d.get("space", "")).lower(), int(d["code"]), str(d["name"]).lower(), d["type"],
         d.get("record-types", ""), bool(d.get("array")), d.get("encapsulate", ""))
        for d in cfg.get("option-def", ()))
    classes = _classes(cfg)
    tops = {n: c for n, c in classes.items() if not _generated(n) and not _is_sub(n)}
    out["client-classes"] = {n: (_test(c.get("test")), *_class_view(c)) for n, c in tops.items()}
    # pool client classes are compared as tests (above); a generated class is in "pools"
    generated = sorted(_test(c.get("test")) for n, c in classes.items() if _generated(n))
    if generated:
        out["client-classes"]["(generated)"] = generated
    subs_view = {}
    for n, c in classes.items():
        if not _is_sub(n):
            continue
        parent = tops.get(n[4:].split("#")[0] if n.startswith("sub#") else n.split("/")[0], {})
        # KeaMA copies the superclass's options into each subclass: what the subclass adds
        view = _class_view(c, _opts(parent.get("option-data")))
        if any(view):
            subs_view[_test(c.get("test"))] = view
    out["subclasses"] = subs_view
    out["lifetimes"] = life
    return out


def _lifetimes_agree(keama: dict[str, Any], ours: dict[str, Any], keama_cfg: Mapping[str, Any],
                     fam: int) -> bool:
    """KeaMA's explicit lifetimes are kea-etl's; where KeaMA leaves Kea's defaults, kea-etl has
    dhcpd's (43200 s, max 86400 s, min 300 s, preferred 5/8 of the default)."""
    set_by_keama = _explicit_keys(keama_cfg, fam)
    for scope, values in keama.items():
        if scope not in ours:
            return False
        for key, value in values.items():
            mine = ours[scope][key]
            if key in set_by_keama.get(scope, set()):
                if mine != value:
                    return False
                continue
            if not _dhcpd_default(key, mine, ours[scope]):
                return False
    return True


def _explicit_keys(cfg: Mapping[str, Any], fam: int) -> dict[str, set[str]]:
    out = {"global": {k for k in LIFETIMES if k in cfg}}
    for sub, net in _subnets(cfg, fam):
        out[str(ip_network(sub["subnet"]))] = {k for k in LIFETIMES
                                               if any(k in s for s in (sub, net, cfg))}
    return out


def _dhcpd_default(key: str, value: Any, scope: Mapping[str, Any]) -> bool:
    valid = scope["valid-lifetime"]
    if key == "valid-lifetime":
        return bool(value == 43200)
    if key == "max-valid-lifetime":
        return bool(value == max(86400, valid))
    if key == "min-valid-lifetime":
        return bool(value == min(300, valid))
    if key == "preferred-lifetime":
        return value is None or value in (valid * 5 // 8, valid)
    if key in ("renew-timer", "rebind-timer"):
        return value is None
    return False


# ---- the comparison ----------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_convert_agrees_with_keama_or_the_disagreement_is_listed(case: str) -> None:
    fam = _family(case)
    keama_cfg = _keama(case)
    ours_cfg, findings = _ours(case)
    theirs, mine = aspects(keama_cfg, fam), aspects(ours_cfg, fam)
    errors = [f for f in findings if f.severity == "error" and f.topic == "syntax"]
    assert not errors, [f.render() for f in errors]
    for aspect in ASPECTS:
        if aspect == "lifetimes":
            same = _lifetimes_agree(theirs[aspect], mine[aspect], keama_cfg, fam)
        else:
            same = theirs[aspect] == mine[aspect]
        listed = (case, aspect) in DISAGREEMENTS
        if listed:
            assert not same, f"{case} {aspect}: listed as a disagreement but both agree now: " \
                             "remove the row here and in docs/convert.md"
        else:
            assert same, (f"{case} {aspect}: KeaMA {theirs[aspect]!r}\n"
                          f"kea-etl {mine[aspect]!r}")


@pytest.mark.parametrize(("case", "aspect"), sorted(k for k, v in DISAGREEMENTS.items()
                                                    if v[2] is not None))
def test_what_convert_does_not_translate_is_a_finding_with_file_and_line(case: str,
                                                                         aspect: str) -> None:
    _ours_cfg, findings = _ours(case)
    line = DISAGREEMENTS[(case, aspect)][2]
    here = [f for f in findings if f.line == line and f.file == str(KEAMA / case)
            and f.severity in ("error", "decide", "warning")]
    assert here, f"{case}:{line}: no finding; findings: {[f.render() for f in findings]}"


@pytest.mark.parametrize("case", CASES)
def test_every_untranslated_statement_names_its_line_in_the_input(case: str) -> None:
    _ours_cfg, findings = _ours(case)
    lines = (KEAMA / case).read_text().splitlines()
    for f in findings:
        if f.topic != "untranslated":
            continue
        assert f.file == str(KEAMA / case) and f.line, f.render()
        assert f.statement.split()[0].strip('"') in lines[f.line - 1], f.render()


def test_every_row_of_the_table_is_in_docs_convert_md() -> None:
    text = (ROOT / "docs" / "convert.md").read_text()
    section = text.split("## KeaMA comparison", 1)[1].split("\n## ", 1)[0]
    rows = set()
    for line in section.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 5 and re.fullmatch(r"\w+\.in\w", cells[0]):
            rows.add((cells[0], cells[1]))
    assert rows == set(DISAGREEMENTS), (sorted(rows - set(DISAGREEMENTS)),
                                        sorted(set(DISAGREEMENTS) - rows))


def test_the_comparison_is_not_vacuous() -> None:
    """Most aspects of most cases agree, and every case has something to compare."""
    assert len(CASES) >= 50
    agreed = 0
    for case in CASES:
        fam = _family(case)
        theirs = aspects(_keama(case), fam)
        assert any(theirs[a] for a in ASPECTS if a != "lifetimes") or _explicit_keys(
            _keama(case), fam)["global"], case
        agreed += sum(1 for a in ASPECTS if (case, a) not in DISAGREEMENTS)
    assert agreed >= 0.9 * len(CASES) * len(ASPECTS)
