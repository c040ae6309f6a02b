"""``kea-etl check``: what will behave differently after a cutover from ISC dhcpd to Kea.

:func:`check` converts the dhcpd.conf (:mod:`kea_etl.convert.build`), reads the lease files, and
compares both with the target Kea configuration (``kea_config``; without one, the converted
configuration). Each finding carries its evidence (file:line, counts) and the Kea setting that
addresses it:

* ``client-id``: dhcpd's ``ignore-client-uids`` against the target's ``match-client-id``, with
  the number of active leases that carry a client-id, and MACs that hold leases under several
  client-ids (with ``match-client-id false`` Kea sees them as one client);
* ``hosts``: one address reserved for several hosts; a fixed address inside a dynamic pool
  (dhcpd may hand it to another client; Kea keeps it for the host);
* ``leases``: active leases outside every subnet of the target (migrate refuses them) or outside
  every pool (Kea keeps them, but will not hand the address out again);
* ``subnet-ids``: subnets whose id in the target differs from the id ``convert`` derives;
* ``ddns``: dhcpd's interim (TXT) or standard (DHCID) guard records against the target's
  ``ddns-conflict-resolution-mode`` / ``ddns-use-conflict-resolution``;
* ``failover``: failover peers (Kea HA is set up separately);
* ``lease-times``: leases longer than the target's max-valid-lifetime or shorter than its
  min-valid-lifetime (Kea shortens / extends them at the next renewal);
* ``untranslated``: options and statements with no Kea equivalent (from the conversion).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_network
from pathlib import Path
from typing import Any

from kea_etl.convert.build import Converter, FamilyResult
from kea_etl.convert.findings import SEVERITIES, Finding
from kea_etl.convert.model import parse
from kea_etl.extract import isc_leases
from kea_etl.extract.base import Extracted, ExtractItem
from kea_etl.kea_config import load_kea_config, raw_subnets, section_subnets
from kea_etl.records import Lease4, Lease6
from kea_etl.transform.subnets import SubnetMap

__all__ = ["CheckResult", "check"]


@dataclass
class CheckResult:
    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def sorted(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: SEVERITIES.index(f.severity))

    @property
    def needs_decision(self) -> bool:
        return any(f.severity in ("error", "decide") for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        by = Counter(f.severity for f in self.findings)
        return {"needs_decision": self.needs_decision,
                "severities": {s: by.get(s, 0) for s in SEVERITIES},
                "counts": self.counts, "findings": [f.to_json() for f in self.sorted()]}


def _family_of(conf: Path) -> int:
    root = parse(conf)
    kinds = {b.kind for b in root.walk()}
    return 6 if "subnet6" in kinds and "subnet" not in kinds else 4


def _section(config: Mapping[str, Any], family: int) -> dict[str, Any] | None:
    sect = config.get(f"Dhcp{family}")
    return sect if isinstance(sect, dict) else None


def _subnets(sect: Mapping[str, Any], family: int) -> list[tuple[Mapping[str, Any],
                                                               Mapping[str, Any]]]:
    """(subnet, enclosing shared network or {}) pairs."""
    return [(s, net or {}) for s, net in raw_subnets(sect, family)]


def _param(sect: Mapping[str, Any], net: Mapping[str, Any], sub: Mapping[str, Any], key: str,
           default: Any = None) -> Any:
    for scope in (sub, net, sect):
        if key in scope:
            return scope[key]
    return default


def _pool_ranges(sect: Mapping[str, Any], family: int) -> dict[int, list[tuple[int, int]]]:
    """``{subnet id: [(first, last) of each pool and pd-pool]}``."""
    return {sub.id: [(p.first, p.last) for p in sub.pools]
            + [(int(p.prefix.network_address), int(p.prefix.broadcast_address))
               for p in sub.pd_pools]
            for sub in section_subnets(sect, family)}


def check(conf: str | Path, leases: Iterable[str | Path] = (), *,
          kea_config: str | Path | None = None, as_of: int | None = None,
          family: int | None = None, derived: FamilyResult | None = None,
          source_tz: str | None = None) -> CheckResult:
    """Pre-flight findings for moving the dhcpd at ``conf`` (with its ``leases``) to Kea.

    ``conf`` may also be a Windows Export-DhcpServer XML (``windows:PATH`` or detected): it is
    converted with :class:`~kea_etl.convert.windows.WindowsConverter`, its own leases are judged
    (their times need ``source_tz``, as for ``migrate``) and ``leases`` are further Windows
    exports (the lease CSVs).

    ``derived``: the conversion of ``conf`` when the caller already has it (``convert`` puts
    these findings into its report)."""
    from kea_etl import clock
    from kea_etl.convert.windows import WindowsConverter, windows_source

    lease_paths = [str(p) for p in leases]
    read: Callable[[str, int], Iterable[ExtractItem]] = _isc_leases
    win = windows_source(conf)
    if win is not None:
        conf = win
        if derived is None:
            v4, v6 = WindowsConverter(win).run()
            derived = v6 if family == 6 or v4 is None else v4
        if source_tz is not None:
            lease_paths.insert(0, str(win))
        read = _windows_leases(source_tz)
    conf = Path(conf)
    fam = derived.family if derived is not None else (family or _family_of(conf))
    target_cfg = load_kea_config(kea_config) if kea_config is not None else None
    previous: dict[str, int] = {}
    if target_cfg is not None and (s := _section(target_cfg, fam)) is not None:
        previous = {str(ip_network(sub["subnet"], strict=False)): int(sub["id"])
                    for sub, _ in _subnets(s, fam) if "id" in sub}
    if derived is None:
        derived = Converter(conf, fam).run()
    res = CheckResult()
    # the conversion's own findings that need a decision, and untranslated options
    for f in derived.findings:
        if f.topic == "interfaces" or (f.topic == "ddns"
                                       and f.statement.startswith("ddns-update-style")):
            continue  # not a cutover question / judged below against the target
        if f.severity in ("error", "decide") or (f.topic == "untranslated"
                                                 and f.statement.startswith("option")):
            res.findings.append(f)
    target: dict[str, Any]
    if target_cfg is not None and _section(target_cfg, fam) is not None:
        target = target_cfg
        target_name = str(kea_config)
        _compare_ids(res, derived, previous, target_name)
    else:
        target = derived.config
        target_name = "the converted configuration"
    sect = _section(target, fam) or {}
    _fixed_in_pools(res, derived, fam)
    _ddns(res, derived, sect, target_name, fam)
    when = clock.now() if as_of is None else as_of
    _leases(res, derived, sect, target, target_name, fam, lease_paths, when, read)
    return res


def _isc_leases(path: str, family: int) -> Iterable[ExtractItem]:
    return isc_leases.extract(path, family=4 if family == 4 else 6)


def _windows_leases(source_tz: str | None) -> Callable[[str, int], Iterable[ExtractItem]]:
    def read(path: str, family: int) -> Iterable[ExtractItem]:
        from kea_etl.extract import windows

        return windows.extract(path, source_tz=source_tz)
    return read


def _compare_ids(res: CheckResult, derived: FamilyResult, previous: Mapping[str, int],
                 target_name: str) -> None:
    differ = {p: (previous[p], i) for p, i in derived.subnet_ids.items()
              if p in previous and previous[p] != i}
    res.counts["subnets_with_other_ids"] = len(differ)
    if differ:
        sample = ", ".join(f"{p}: {a} vs {b}" for p, (a, b) in sorted(differ.items())[:5])
        res.findings.append(Finding(
            "decide", "subnet-ids", f"{len(differ)} subnet(s) of {target_name} have other ids "
            f"than convert --ids stable derives ({sample}): leases and reservations follow the "
            "ids of the configuration Kea runs; keep them with convert --ids from:KEA.json",
            file=target_name, count=len(differ), kea="subnet id",
            details={p: {"previous": a, "derived": b} for p, (a, b) in differ.items()}))
    missing = sorted(set(previous) - set(derived.subnet_ids))
    if missing:
        res.findings.append(Finding(
            "decide", "subnet-ids", f"{len(missing)} subnet(s) of {target_name} are not in the "
            f"dhcpd configuration ({', '.join(missing[:5])})", file=target_name,
            count=len(missing), kea="subnet4 / subnet6"))


def _fixed_in_pools(res: CheckResult, derived: FamilyResult, fam: int) -> None:
    inside: list[tuple[str, Any]] = []
    for r in derived.reservations:
        addrs: list[IPv4Address | IPv6Address] = (
            [r.ipv4_address] if r.ipv4_address is not None else list(r.ip_addresses))
        for a in addrs:
            if any(lo.version == a.version and int(lo) <= int(a) <= int(hi)
                   for lo, hi, _ in derived.pools):
                inside.append((str(a), r))
    res.counts["fixed_addresses_in_pools"] = len(inside)
    for addr, r in inside:
        res.findings.append(Finding(
            "decide", "hosts", f"fixed address {addr} lies inside a dynamic pool: dhcpd may have "
            "leased it to another client (check the leases); Kea hands it only to this host and "
            "moves another holder elsewhere at renewal",
            file=r.origin, line=r.line, statement=f"{r.identifier_type} {r.identifier}",
            kea="reservations (reservations-out-of-pool stays false)"))


def _ddns(res: CheckResult, derived: FamilyResult, sect: Mapping[str, Any], target_name: str,
          fam: int) -> None:
    if derived.ddns_style is None or derived.ddns_style[0] not in ("interim", "standard"):
        return
    style, path, line = derived.ddns_style
    mode = sect.get("ddns-conflict-resolution-mode")
    legacy = sect.get("ddns-use-conflict-resolution")
    if mode is None and legacy is False:
        mode = "no-check-with-dhcid"
    effective = mode or "check-with-dhcid"
    if style == "interim" and effective in ("check-with-dhcid", "check-exists-with-dhcid"):
        res.findings.append(Finding(
            "decide", "ddns", f"dhcpd's interim style wrote TXT guard records; {target_name} "
            f"runs Kea's conflict resolution as {effective!r}, which looks for DHCID records: "
            "Kea's D2 will refuse to update or remove every name dhcpd registered",
            file=path, line=line, statement=f"ddns-update-style {style};",
            kea="ddns-conflict-resolution-mode: no-check-with-dhcid (2.6+) or "
            "ddns-use-conflict-resolution: false (2.2) until the old names expire; or replace "
            "the TXT records with DHCID ones"))
    elif style == "standard" and effective == "no-check-without-dhcid":
        res.findings.append(Finding(
            "decide", "ddns", "dhcpd's standard style guards names with DHCID records; "
            f"{target_name} uses 'no-check-without-dhcid', which leaves them stale",
            file=path, line=line, statement=f"ddns-update-style {style};",
            kea="ddns-conflict-resolution-mode: check-with-dhcid"))
    else:
        res.findings.append(Finding(
            "info", "ddns", f"dhcpd's {style} style and Kea's {effective!r} agree on guard "
            "records", file=path, line=line, statement=f"ddns-update-style {style};",
            kea="ddns-conflict-resolution-mode"))


def _leases(res: CheckResult, derived: FamilyResult, sect: Mapping[str, Any],
            target: Mapping[str, Any], target_name: str, fam: int,
            files: list[str], when: int,
            read: Callable[[str, int], Iterable[ExtractItem]]) -> None:
    smap = SubnetMap.from_config(target, origin=target_name)
    dmap = SubnetMap.from_config(derived.config, origin="dhcpd.conf")
    dsect = _section(derived.config, fam) or {}
    dsubs = {int(s["id"]): (s, net) for s, net in _subnets(dsect, fam) if "id" in s}
    mismatch: Counter[str] = Counter()
    subs = {int(s["id"]): (s, net) for s, net in _subnets(sect, fam) if "id" in s}
    pools = _pool_ranges(sect, fam)
    active = with_cid = 0
    outside_subnet: Counter[str] = Counter()
    outside_pool: Counter[int] = Counter()
    shorten: Counter[int] = Counter()
    extend: Counter[int] = Counter()
    cids_by_mac: dict[str, set[str]] = defaultdict(set)
    first_file: dict[str, tuple[str, int | None]] = {}
    for path in files:
        for item in read(path, fam):
            if not isinstance(item, Extracted) or item.binding_state != "active":
                continue
            rec = item.record
            # a Windows export holds both families
            if (not isinstance(rec, Lease4 if fam == 4 else Lease6)
                    or rec.cltt + rec.valid_lft <= when):
                continue
            active += 1
            if isinstance(rec, Lease4):
                sid = smap.subnet4_id(rec.address)
                if rec.client_id:
                    with_cid += 1
                    if rec.hwaddr:
                        cids_by_mac[rec.hwaddr].add(rec.client_id)
                    did = dmap.subnet4_id(rec.address)
                    ds, dn = dsubs.get(did, ({}, {})) if did is not None else ({}, {})
                    dhcpd_match = _param(dsect, dn, ds, "match-client-id", True)
                    if sid is not None:
                        ts, tn = subs.get(sid, ({}, {}))
                        kea_match = _param(sect, tn, ts, "match-client-id", True)
                        if dhcpd_match != kea_match:
                            mismatch["ignored-matched" if kea_match else "matched-ignored"] += 1
            elif rec.lease_type == "IA_PD":
                sid = smap.pd_subnet_id(rec.address, rec.prefix_len)
            else:
                sid = smap.subnet6_id(rec.address)
            if sid is None:
                where = str(ip_network(f"{rec.address}/{24 if fam == 4 else 64}", strict=False))
                outside_subnet[where] += 1
                first_file.setdefault(where, (path, item.line))
                continue
            in_pool = any(lo <= int(rec.address) <= hi for lo, hi in pools.get(sid, []))
            if not in_pool and not any(r.ipv4_address == rec.address
                                       or rec.address in r.ip_addresses
                                       for r in derived.reservations):
                outside_pool[sid] += 1
            sub, shared = subs.get(sid, ({}, {}))
            hi_lt = _param(sect, shared, sub, "max-valid-lifetime",
                           _param(sect, shared, sub, "valid-lifetime", 7200))
            lo_lt = _param(sect, shared, sub, "min-valid-lifetime",
                           _param(sect, shared, sub, "valid-lifetime", 7200))
            if rec.valid_lft > hi_lt:
                shorten[sid] += 1
            elif rec.valid_lft < lo_lt:
                extend[sid] += 1
    res.counts.update({"active_leases": active, "leases_with_client_id": with_cid,
                       "leases_outside_subnets": sum(outside_subnet.values()),
                       "leases_outside_pools": sum(outside_pool.values()),
                       "leases_shortened": sum(shorten.values()),
                       "leases_extended": sum(extend.values())})
    lease_files = ", ".join(files)
    if fam == 4 and files:
        _client_ids(res, sect, target_name, active, with_cid, cids_by_mac, mismatch,
                    lease_files)
    for where, n in sorted(outside_subnet.items()):
        path, line = first_file[where]
        res.findings.append(Finding(
            "decide", "leases", f"{n} active lease(s) in {where} lie in no subnet of {target_name}: "
            "Kea cannot hold them (migrate fails them unless --allow-unmapped)", file=path,
            line=line, count=n, kea=f"subnet{fam} (add the subnet) or migrate --allow-unmapped"))
    for sid, n in sorted(outside_pool.items()):
        res.findings.append(Finding(
            "warning", "leases", f"{n} active lease(s) in subnet id {sid} "
            f"({subs[sid][0]['subnet']}) lie outside its pools and are not reserved: Kea keeps "
            "and renews them, but will not hand the addresses out again once they expire",
            file=lease_files, count=n, kea="pools"))
    for sid, n in sorted(shorten.items()):
        res.findings.append(Finding(
            "warning", "lease-times", f"{n} active lease(s) in subnet {subs[sid][0]['subnet']} "
            f"are longer than {target_name}'s max-valid-lifetime: Kea shortens them at the next "
            "renewal", file=lease_files, count=n, kea="max-valid-lifetime"))
    for sid, n in sorted(extend.items()):
        res.findings.append(Finding(
            "info", "lease-times", f"{n} active lease(s) in subnet {subs[sid][0]['subnet']} are "
            f"shorter than {target_name}'s min-valid-lifetime: Kea extends them at the next "
            "renewal", file=lease_files, count=n, kea="min-valid-lifetime"))


def _client_ids(res: CheckResult, sect: Mapping[str, Any], target_name: str, active: int,
                with_cid: int, cids_by_mac: Mapping[str, set[str]], mismatch: Counter[str],
                lease_files: str) -> None:
    multi = {m: c for m, c in cids_by_mac.items() if len(c) > 1}
    res.counts["macs_with_several_client_ids"] = len(multi)
    res.counts["client_id_mismatches"] = sum(mismatch.values())
    if mismatch["ignored-matched"]:
        n = mismatch["ignored-matched"]
        res.findings.append(Finding(
            "decide", "client-id", f"{n} of {active} active leases carry a client-id in "
            f"subnets where dhcpd ignored client-ids (ignore-client-uids), yet {target_name} "
            "matches clients by client-id there: a client whose client-id differs from the "
            "migrated one is handed a new address", file=lease_files, count=n,
            kea="match-client-id: false (as dhcpd did)"))
    if mismatch["matched-ignored"]:
        n = mismatch["matched-ignored"]
        res.findings.append(Finding(
            "decide", "client-id", f"{n} of {active} active leases carry a client-id in "
            f"subnets where dhcpd identified clients by it, but {target_name} has "
            "match-client-id false there: clients sharing a MAC (docking stations, dual boot, "
            "PXE then OS) become one client in Kea", file=lease_files, count=n,
            kea="match-client-id: true (as dhcpd did)"))
    if multi and sect.get("match-client-id", True) is False:
        ex = ", ".join(sorted(multi)[:3])
        res.findings.append(Finding(
            "decide", "client-id", f"{len(multi)} MAC(s) hold leases under several client-ids "
            f"(e.g. {ex}); with match-client-id false Kea treats each as one client and keeps "
            "one lease", file=lease_files, count=len(multi), kea="match-client-id"))
    elif multi:
        res.findings.append(Finding(
            "info", "client-id", f"{len(multi)} MAC(s) hold leases under several client-ids; "
            "Kea keeps them apart as dhcpd did (match-client-id true)", file=lease_files,
            count=len(multi), kea="match-client-id"))
