"""Reconciliation in columns vs the record-by-record algorithm it replaced, on generated data.

The reference below is that algorithm written plainly: Kea's side read row by row by the
memfile record reader with the sanity check applied to each record, a dict by address (the
last row wins, a lifetime-0 row erases), states and expiry filtered, then every address
compared with :func:`kea_etl.reconcile.compare_records`. The columnar path must give the same
differences, in the same order, and the same counts: in RAM, spilled to disk in many small
sorted runs, and with Kea's side given as records (a live Kea).

The data holds every kind of difference: missing, extra, another client (MAC, client-id,
DUID, IAID), another subnet, expiry beyond the tolerance and within it, declined, expired,
expired-reclaimed, deleted and replaced rows, infinite lifetimes, rows only the row parser
reads (an uppercase MAC, a user context, an escaped hostname), an unreadable row, a source
address given twice, IPv6 addresses and delegated prefixes.
"""

from __future__ import annotations

import functools
import json
import random
from collections import Counter
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

import pytest

from kea_etl.errors import MalformedRecordError
from kea_etl.extract import kea_memfile
from kea_etl.reconcile import KeaFileLeases, compare_records, reconcile
from kea_etl.reconcile import columns as columns_module
from kea_etl.reconcile.compare import _snapshot
from kea_etl.reconcile.kea_files import _Checker
from kea_etl.reconcile.kea_pages import KeaPages
from kea_etl.records import (
    INFINITE_LIFETIME,
    LEASE_STATES,
    STATE_DECLINED,
    STATE_DEFAULT,
    Lease4,
    Lease6,
)
from tests.harness import clock

H4 = ("address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,"
      "state,user_context,pool_id")
H6 = ("address,duid,valid_lifetime,expire,subnet_id,pref_lifetime,lease_type,iaid,prefix_len,"
      "fqdn_fwd,fqdn_rev,hostname,hwaddr,state,user_context,hwtype,hwaddr_source,pool_id")
SECTION4 = {"subnet4": [{"id": 1, "subnet": "10.0.0.0/16"}, {"id": 2, "subnet": "10.9.0.0/16"}]}
SECTION6 = {"subnet6": [{"id": 1, "subnet": "2001:db8::/48",
                         "pd-pools": [{"prefix": "2001:db8:8000::", "prefix-len": 40,
                                       "delegated-len": 56}]},
                        {"id": 2, "subnet": "2001:db8:9::/48"}]}
TOLERANCE = 2
KINDS = 16


def _mac(i: int, salt: int = 0) -> str:
    return ":".join(f"{b:02x}" for b in (i + salt * 7919).to_bytes(6, "big"))


def _duid(i: int, salt: int = 0) -> str:
    return "00:01:" + _mac(i, salt)


def _row4(addr: str, mac: str, valid: int, expire: int, sid: int, *, cid: str = "",
          host: str = "", state: int = 0, ctx: str = "") -> str:
    return f"{addr},{mac},{cid},{valid},{expire},{sid},0,0,{host},{state},{ctx},0"


def _row6(addr: str, duid: str, valid: int, expire: int, sid: int, *, iaid: int, pd: int = 0,
          host: str = "", state: int = 0, hw: str = "", ctx: str = "") -> str:
    kind, plen = (2, pd) if pd else (0, 128)
    return (f"{addr},{duid},{valid},{expire},{sid},{valid // 2 if valid else 0},{kind},{iaid},"
            f"{plen},0,0,{host},{hw},{state},{ctx},1,0,0")


def _kea_row(family: int, i: int, addr: str, src: Lease4 | Lease6, pd: int, host: str,
             valid: int, exp: int, *, ident: str | None = None, v: int | None = None,
             e: int | None = None, sid: int = 1, state: int = 0, hostname: str | None = None,
             ctx: str = "", iaid: int | None = None, cid: str | None = None) -> str:
    """Kea's row for source lease ``i``, as the source has it unless told otherwise."""
    v = valid if v is None else v
    e = exp if e is None else e
    hostname = host if hostname is None else hostname
    if isinstance(src, Lease4):
        return _row4(addr, ident if ident is not None else _mac(i), v, e, sid,
                     cid=cid if cid is not None else (src.client_id or ""),
                     host=hostname, state=state, ctx=ctx)
    return _row6(addr, ident if ident is not None else _duid(i), v, e, sid,
                 iaid=i if iaid is None else iaid, pd=pd, host=hostname, state=state, ctx=ctx,
                 hw=_mac(i) if i % 6 == 0 else "")


def _generate(family: int, now: int, n: int, seed: int
              ) -> tuple[list[tuple[Lease4 | Lease6, int]], list[str]]:
    """(source records with their lines, memfile rows): lease i is of kind i % KINDS."""
    rng = random.Random(seed)
    source: list[tuple[Lease4 | Lease6, int]] = []
    rows: list[str] = []
    for i in range(n):
        kind = i % KINDS
        valid = rng.choice((600, 3600, 86400))
        cltt = now - rng.randrange(0, 500)
        inf = kind == 13
        if inf:
            valid = INFINITE_LIFETIME
        exp = cltt + valid
        host = f"h{i}" if i % 3 else ""
        pd = 56 if family == 6 and i % 4 == 1 else 0
        if family == 4:
            addr = str(IPv4Address(int(IPv4Address("10.0.0.0")) + 1 + i * 3))
            src: Lease4 | Lease6 = Lease4(address=IPv4Address(addr), hwaddr=_mac(i),
                                          client_id=("01:" + _mac(i)) if i % 5 == 0 else None,
                                          valid_lft=valid, cltt=cltt, subnet_id=1,
                                          hostname=host, origin="src.leases", line=i + 1)
        else:
            if pd:
                net = int(IPv6Address("2001:db8:8000::")) + (i << 72)
                addr = str(IPv6Address(net))
            else:
                addr = str(IPv6Address(int(IPv6Address("2001:db8::")) + 1 + i))
            src = Lease6(address=IPv6Address(addr), duid=_duid(i), iaid=i,
                         lease_type="IA_PD" if pd else "IA_NA", prefix_len=pd or 128,
                         valid_lft=valid, cltt=cltt, subnet_id=1, hostname=host,
                         hwaddr=_mac(i) if i % 6 == 0 else None,
                         origin="src.leases", line=i + 1)
        if kind != 1:  # 1: missing in Kea
            source.append((src, i + 1))

        row = functools.partial(_kea_row, family, i, addr, src, pd, host, valid, exp)
        if kind in (0, 13):
            rows.append(row())
        elif kind == 2:  # another client
            rows.append(row(ident=_mac(i, 1) if family == 4 else _duid(i, 1)))
        elif kind == 3:  # expiry beyond the tolerance
            rows.append(row(e=exp + TOLERANCE + 1 + rng.randrange(0, 500)))
        elif kind == 4:  # within it
            rows.append(row(e=exp + rng.choice((-TOLERANCE, TOLERANCE, 1))))
        elif kind == 5:  # declined in Kea
            rows.append(row(state=STATE_DECLINED))
        elif kind == 6:  # expired in Kea
            rows.append(row(e=now - 5, v=min(valid, now - 10)))
        elif kind == 7:  # expired-reclaimed
            rows.append(row(state=2))
        elif kind == 8:  # deleted after it was written
            rows += [row(), row(v=0)]
        elif kind == 9:  # replaced by the right row
            rows += [row(ident=_mac(i, 2) if family == 4 else _duid(i, 2)), row()]
        elif kind == 10:  # another subnet: the sanity check keeps it (warn) or fixes it (fix)
            rows.append(row(sid=2))
        elif kind == 11:  # only the row parser reads it: an uppercase id, an escaped hostname
            rows.append(row(ident=(_mac(i) if family == 4 else _duid(i)).upper(),
                            hostname=f"a&#x2cb{i}" if host else ""))
        elif kind == 12:  # a user context
            rows.append(row(ctx='{"k": 1}'))
        elif kind == 14:  # another IAID (v6) / client-id (v4)
            rows.append(row(iaid=i + 1) if family == 6 else row(cid="01:" + _mac(i, 3)))
        elif kind == 15:  # the source gives the address twice: the later record wins
            rows.append(row())
            source.append((src, i + 1))
    for j in range(n // 10):  # extra: only in Kea
        if family == 4:
            addr = str(IPv4Address(int(IPv4Address("10.0.0.0")) + 2 + j * 3))
            rows.append(_row4(addr, _mac(j, 5), 3600, now + 3000, 1))
        else:
            addr = str(IPv6Address(int(IPv6Address("2001:db8:0:1::")) + j))
            rows.append(_row6(addr, _duid(j, 5), 3600, now + 3000, 1, iaid=j))
    rows.append("10.0.0.2,zz,,3600,1,1,0,0,,0,,0" if family == 4
                else "2001:db8::2,zz,3600,1,1,1,0,1,128,0,0,,,0,,1,0,0")  # unreadable
    return source, _interleave(rows, rng)


def _interleave(rows: list[str], rng: random.Random) -> list[str]:
    """The rows in a random order (Kea's log is in no address order), but the rows of one
    address in the order they were made (a deletion after its lease, a replacement after the
    row it replaces)."""
    def addr(r: str) -> str:
        return r.split(",", 1)[0]

    positions = sorted(range(len(rows)), key=lambda _: rng.random())
    slots: dict[str, list[int]] = {}
    for pos, idx in enumerate(positions):
        slots.setdefault(addr(rows[idx]), []).append(pos)
    out = [""] * len(rows)
    taken: Counter[str] = Counter()
    for r in rows:
        a = addr(r)
        out[slots[a][taken[a]]] = r
        taken[a] += 1
    return out


def _write(path: Path, family: int, rows: list[str]) -> Path:
    path.write_text((H4 if family == 4 else H6) + "\n" + "\n".join(rows) + "\n")
    return path


def _row_dict(rec: Lease4 | Lease6, line: int | None, origin: str | None) -> dict[str, Any]:
    v4 = isinstance(rec, Lease4)
    return {"key": rec.key, "lease_type": "V4" if v4 else rec.lease_type,  # type: ignore[union-attr]
            "prefix_len": 32 if v4 else rec.prefix_len,  # type: ignore[union-attr]
            "subnet_id": rec.subnet_id, "hwaddr": rec.hwaddr,
            "client_id": rec.client_id if v4 else None,  # type: ignore[union-attr]
            "duid": None if v4 else rec.duid,  # type: ignore[union-attr]
            "iaid": None if v4 else rec.iaid,  # type: ignore[union-attr]
            "valid_lft": rec.valid_lft, "cltt": rec.cltt, "state": rec.state,
            "hostname": rec.hostname, "line": line, "origin": origin}


def _reference_kea(path: Path, section: dict[str, Any], family: int
                   ) -> list[Lease4 | Lease6]:
    """Kea's table after loading ``path``, one record per row, in address order."""
    checker = _Checker(section, family, str(section.get("sanity-checks", {}).get(
        "lease-checks", "warn")))
    table: dict[bytes, Lease4 | Lease6] = {}
    for item in kea_memfile.extract(path, keep_history=True):
        if isinstance(item, MalformedRecordError):
            continue
        lease, _ = checker.check(item.record)  # type: ignore[arg-type]
        if lease is None:
            continue
        if lease.valid_lft == 0:
            table.pop(lease.address.packed, None)
        else:
            table[lease.address.packed] = lease
    return [table[k] for k in sorted(table)]


def _reference(source: list[tuple[Lease4 | Lease6, int]], kea: list[Lease4 | Lease6],
               family: int, as_of: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    src: dict[bytes, tuple[Lease4 | Lease6, int]] = {}
    for rec, line in source:
        src[rec.address.packed] = (rec, line)
    live: dict[bytes, Lease4 | Lease6] = {}
    ignored: Counter[str] = Counter()
    for lease in kea:
        if lease.state not in (STATE_DEFAULT, STATE_DECLINED):
            ignored[LEASE_STATES[lease.state]] += 1
        elif lease.valid_lft != INFINITE_LIFETIME and lease.expire < as_of:
            ignored["expired"] += 1
        else:
            live[lease.address.packed] = lease
    diffs: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    for key in sorted(set(src) | set(live)):
        if key not in live:
            rec, line = src[key]
            s = _row_dict(rec, line, rec.origin)
            counts["missing"] += 1
            diffs.append({"address": s["key"], "category": "missing",
                          "subnet_id": s["subnet_id"], "fields": {},
                          "source": _snapshot(s, family), "source_line": line,
                          "source_origin": rec.origin})
        elif key not in src:
            k = _row_dict(live[key], None, None)
            counts["extra"] += 1
            diffs.append({"address": k["key"], "category": "extra", "subnet_id": k["subnet_id"],
                          "fields": {}, "kea": _snapshot(k, family)})
        else:
            rec, line = src[key]
            s = _row_dict(rec, line, rec.origin)
            d = compare_records(s, _row_dict(live[key], None, None), family=family,
                                tolerance=TOLERANCE)
            if d:
                counts["mismatched"] += 1
                diffs.append({"address": s["key"], "category": "mismatched",
                              "subnet_id": s["subnet_id"], "fields": d,
                              "source_line": line, "source_origin": rec.origin})
            else:
                counts["matched"] += 1
    summary = {**counts, "kea_read": len(kea), "ignored": dict(ignored),
               "source_compared": len(src), "duplicates": len(source) - len(src)}
    return json.loads(json.dumps(diffs, default=str)), summary


def _pages(kea: list[Lease4 | Lease6], size: int) -> list[list[dict[str, Any]]]:
    """Kea's leases as ``leaseN-get-page`` answers them (every 7th in a form only the record
    constructor reads: an uppercase hardware address, or a user context)."""
    out: list[dict[str, Any]] = []
    for i, lease in enumerate(kea):
        d: dict[str, Any] = {"ip-address": str(lease.address), "valid-lft": lease.valid_lft,
                             "cltt": lease.cltt, "subnet-id": lease.subnet_id,
                             "hostname": lease.hostname, "state": lease.state,
                             "fqdn-fwd": False, "fqdn-rev": False,
                             "hw-address": lease.hwaddr or ""}
        if isinstance(lease, Lease4):
            if lease.client_id:
                d["client-id"] = lease.client_id
        else:
            d.update({"duid": lease.duid, "iaid": lease.iaid, "type": lease.lease_type,
                      "preferred-lft": lease.preferred_lft})
            if lease.lease_type == "IA_PD":
                d["prefix-len"] = lease.prefix_len
        if i % 7 == 0:
            if lease.hwaddr:
                d["hw-address"] = lease.hwaddr.upper()
            else:
                d["user-context"] = {"k": i}
        out.append(d)
    return [out[i:i + size] for i in range(0, len(out), size)]


def _summary(res: Any) -> dict[str, Any]:
    return {"matched": res.matched, "missing": res.missing, "extra": res.extra,
            "mismatched": res.mismatched, "kea_read": res.kea_read,
            "ignored": dict(res.kea_ignored), "source_compared": res.source_compared,
            "duplicates": res.source_duplicates}


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("mode", ["warn", "fix"])
def test_columns_agree_with_the_record_algorithm(tmp_path: Path, family: int, mode: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    now = clock.now()
    source, rows = _generate(family, now, 1600, seed=family * 10 + len(mode))
    path = _write(tmp_path / f"kea-leases{family}.csv", family, rows)
    section: dict[str, Any] = {**(SECTION4 if family == 4 else SECTION6),
                               "sanity-checks": {"lease-checks": mode}}
    kea_records = _reference_kea(path, section, family)
    want, want_counts = _reference(source, kea_records, family, now)
    # every kind is there
    cats = Counter(d["category"] for d in want)
    assert cats["missing"] and cats["extra"] and cats["mismatched"] and want_counts["matched"]
    fields = Counter(f for d in want for f in d["fields"])
    assert {"expire", "state", "subnet_id"} <= set(fields) or mode == "fix"
    assert (fields["hwaddr"] if family == 4 else fields["duid"] and fields["iaid"])
    assert want_counts["ignored"]["expired"] and want_counts["ignored"]["expired-reclaimed"]
    assert want_counts["duplicates"]

    def run(kea: Any, **kw: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        with reconcile(iter(source), kea, family=family, as_of=now, tolerance=TOLERANCE,
                       **kw) as res:
            return list(res.iter_differences()), _summary(res)

    with KeaFileLeases(path, family=family, section=section) as files:
        files.load()
        assert files.bad_rows == 1
        assert sorted(files, key=lambda r: r.address.packed) == kea_records
        in_ram = run(files)
    assert in_ram == (want, want_counts)
    assert run(iter(kea_records)) == (want, want_counts)  # Kea's side as records
    # Kea's side as a live Kea's pages
    assert run(KeaPages(iter(_pages(kea_records, 100)), family)) == (want, want_counts)
    # past the memory budget: every batch spills a sorted run, runs are read 50 rows at a time
    monkeypatch.setattr(columns_module, "_RUN_BATCH", 50)
    with KeaFileLeases(path, family=family, section=section, budget=1) as files:
        files.load()
        assert files._spool is not None and files._spool.spilled
        assert sorted(files, key=lambda r: r.address.packed) == kea_records
        spilled = run(files, memory_budget=1, batch=97)
    assert spilled == (want, want_counts)


@pytest.mark.parametrize("bad", ["short", "cr", "latin1"])
def test_rows_arrow_cannot_split_go_to_the_row_parser(tmp_path: Path, bad: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A row with a wrong field count after the first blocks, a CR, bytes that are not UTF-8:
    the file side still holds exactly what the row-by-row reading gives."""
    from kea_etl.extract import kea_memfile_columns

    monkeypatch.setattr(kea_memfile_columns, "_BLOCK", 4096)
    now = clock.now()
    _, rows = _generate(4, now, 800, seed=3)
    at = len(rows) * 3 // 4
    if bad == "short":
        rows.insert(at, "10.0.0.1,00:00:00:00:00:01,,3600")
    elif bad == "cr":
        rows[at] += "\r"
    path = _write(tmp_path / "kea-leases4.csv", 4, rows)
    if bad == "latin1":
        data = path.read_bytes()
        cut = data.index(b"\n", len(data) * 3 // 4) + 1
        path.write_bytes(data[:cut] + b"10.0.0.4,00:00:00:00:00:04,,3600,1,1,0,0,h\xe9,0,,0\n"
                         + data[cut:])
    section = {**SECTION4, "sanity-checks": {"lease-checks": "warn"}}
    want = _reference_kea(path, section, 4)
    with KeaFileLeases(path, family=4, section=section) as files:
        files.load()
        got = sorted(files, key=lambda r: r.address.packed)
        assert [(r.hostname, r.origin, r.line) for r in got] == [
            (r.hostname, r.origin, r.line) for r in want]
    assert got == want
