"""``kea-etl reconcile --against``: the source against Kea's lease files instead of a live Kea.

Real files throughout: ``kea-etl migrate`` writes the memfile from the real dhcpd sample data, the
tests break it the way a bad converter or a bad hand edit would, and the Kea semantics of the
file (log rows, deletions, unreadable rows, sanity checks, LFC leftovers) are checked against a
REAL Kea 2.2 / 3.0 loading the very same files: what the file side says Kea holds must be what
Kea holds, and ``--against`` must give the same report as ``--kea`` on the loaded server.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from kea_etl.cli import main
from kea_etl.reconcile import KeaFileLeases
from tests.harness import clock
from tests.harness.memfile import write_lfc_leftovers

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample-data"
#: the reference time of the sample data (sample-data/README.md), as the other sample tests use
AS_OF = (SAMPLE / "README.md").read_text().split("--as-of ")[1].split("`")[0].strip()
SOURCE = {4: SAMPLE / "dhcpd.leases", 6: SAMPLE / "dhcpd6.leases"}
CONFIG = {4: SAMPLE / "kea-dhcp4.json", 6: SAMPLE / "kea-dhcp6.json"}
KEA_VERSIONS = [False, pytest.param(True, marks=pytest.mark.kea3)]


def _cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def _migrate(tmp: Path, family: int, *extra: str) -> tuple[Path, dict[str, Any]]:
    out, rep = tmp / "out", tmp / f"migrate{family}.json"
    res = _cli("migrate", SOURCE[family], "--to", f"memfile:{out}", "--kea-config",
               CONFIG[family], "--as-of", AS_OF, "--report", rep, "--no-progress", *extra)
    assert res.exit_code == 0, res.output
    return out, json.loads(rep.read_text())


def _reconcile(tmp: Path, family: int, *target: str | Path, name: str = "r",
               config: Path | None = None) -> tuple[Result, dict[str, Any]]:
    out = tmp / f"{name}.json"
    res = _cli("reconcile", SOURCE[family], *target, "--kea-config", config or CONFIG[family],
               "--as-of", AS_OF, "--json", out, "--csv", tmp / f"{name}.csv",
               "--html", tmp / f"{name}.html")
    assert res.exit_code in (0, 1), res.output
    return res, json.loads(out.read_text())


def _rows(csv_path: Path) -> tuple[str, list[list[str]]]:
    lines = csv_path.read_text().splitlines()
    return lines[0], [line.split(",") for line in lines[1:]]


def _write(csv_path: Path, header: str, rows: list[list[str]]) -> None:
    csv_path.write_text(header + "\n" + "".join(",".join(r) + "\n" for r in rows))


def _sample_subnets(family: int) -> list[dict[str, Any]]:
    return list(json.loads(CONFIG[family].read_text())[f"Dhcp{family}"][f"subnet{family}"])


def _by_address(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    diffs = {d["address"]: d for d in data["differences"]}
    assert len(diffs) == len(data["differences"])
    return diffs


# ---- cold cutover: migrate, then check the written memfile before Kea starts ------------------

@pytest.mark.parametrize("family", [4, 6])
def test_migrated_memfile_matches_its_source(tmp_path: Path, family: int) -> None:
    out, report = _migrate(tmp_path, family)
    res, data = _reconcile(tmp_path, family, "--against", out)
    assert res.exit_code == 0, res.output
    assert report["loaded"] > 250
    assert data["matched"] == report["loaded"] == data["kea"]["read"]
    assert (data["missing"], data["extra"], data["mismatched"]) == (0, 0, 0)
    assert data["kea"]["server"] == str(out / f"kea-leases{family}.csv")
    assert data["kea"]["version"] == "<2.4 memfile header"
    assert data["warnings"] == [] and data["differences"] == []
    assert all(s["counts_match"] for s in data["subnets"]), data["subnets"]
    assert sum(s["stat_assigned"] for s in data["subnets"]) == report["loaded"]
    first = res.output.splitlines()[0]
    assert first.startswith(f"Reconcile {SOURCE[family]} vs {out}/kea-leases{family}.csv "
                            f"(Kea <2.4 memfile header, DHCPv{family}, as of ")
    assert res.output.rstrip().endswith("OK: everything matches")
    html = (tmp_path / "r.html").read_text()
    assert f"vs {out}/kea-leases{family}.csv" in html and "Kea &lt;2.4 memfile header" in html
    # the file itself instead of the directory: the same report
    _, again = _reconcile(tmp_path, family, "--against", out / f"kea-leases{family}.csv",
                          name="again")
    assert again["matched"] == data["matched"] and again["kea"] == data["kea"]


def test_both_families_in_one_directory_and_a_newer_header(tmp_path: Path) -> None:
    """OUT holds kea-leases4.csv and kea-leases6.csv: the --kea-config's family picks the file."""
    _migrate(tmp_path, 4, "--kea-version", "3.0")
    out, rep6 = _migrate(tmp_path, 6)
    assert (out / "kea-leases4.csv").is_file() and (out / "kea-leases6.csv").is_file()
    res4, d4 = _reconcile(tmp_path, 4, "--against", out, name="v4")
    res6, d6 = _reconcile(tmp_path, 6, "--against", out, name="v6")
    assert (res4.exit_code, res6.exit_code) == (0, 0)
    assert d4["kea"]["server"].endswith("kea-leases4.csv") and d4["family"] == 4
    assert d4["kea"]["version"] == "2.4+ memfile header"  # --kea-version 3.0 adds pool_id
    assert d6["kea"]["server"].endswith("kea-leases6.csv") and d6["matched"] == rep6["loaded"]


def _free_address(rows: list[list[str]], candidates: list[str]) -> str:
    used = {r[0] for r in rows}
    return next(a for a in candidates if a not in used)


@pytest.mark.parametrize("family", [4, 6])
def test_broken_memfile_exactly_those_differences(tmp_path: Path, family: int) -> None:
    """Delete one row, change one client identity, add one row: exit 1 with exactly those."""
    out, report = _migrate(tmp_path, family)
    path = out / f"kea-leases{family}.csv"
    header, rows = _rows(path)
    if family == 4:
        # v4 rows: address,hwaddr,client_id,... ; change the hwaddr
        ident, new_ident, field = 1, "02:de:ad:be:ef:01", "hwaddr"
        free = _free_address(rows, [f"10.100.3.{i}" for i in range(200, 0, -1)])
    else:
        # v6 rows: address,duid,... ; the sample's v6 leases carry no hwaddr: change the DUID
        ident, new_ident, field = 1, "00:03:00:01:de:ad:be:ef:00:01", "duid"
        free = _free_address(rows, [f"2001:db8:100::{i:x}" for i in range(0xfff0, 0x1000, -1)])
    na = [r for r in rows if family == 4 or r[6] == "0"]
    deleted, changed = na[0], na[1]
    old_ident = changed[ident]
    changed[ident] = new_ident
    extra = list(next(r for r in na[2:] if r[4 if family == 6 else 5] == ("1" if family == 6
                                                                         else "2")))
    extra[0] = free  # same subnet as the row it copies
    rows = [r for r in rows if r is not deleted] + [extra]
    _write(path, header, rows)

    res, data = _reconcile(tmp_path, family, "--against", out)
    assert res.exit_code == 1, res.output
    assert "DIFFERENCES: 3" in res.output
    assert (data["matched"], data["missing"], data["extra"], data["mismatched"]) == (
        report["loaded"] - 2, 1, 1, 1)
    diffs = _by_address(data)
    assert set(diffs) == {deleted[0], changed[0], free}
    assert diffs[deleted[0]]["category"] == "missing"
    assert diffs[deleted[0]]["source_line"] is not None
    assert diffs[free]["category"] == "extra"
    assert diffs[changed[0]]["category"] == "mismatched"
    assert diffs[changed[0]]["fields"] == {field: {"source": old_ident, "kea": new_ident}}
    assert data["fields_mismatched"] == {field: 1}
    assert data["warnings"] == []
    with (tmp_path / "r.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == 3


# ---- the memfile is a log: read it as Kea loads it --------------------------------------------

def _log_edits(path: Path) -> dict[str, str]:
    """Append history to a v4 memfile; returns {role: address}. Expected after Kea loads it:
    replaced -> the new hwaddr, deleted -> gone, readded -> as before, reclaimed -> state 2,
    unreadable -> the earlier good row, lone deletion -> nothing."""
    header, rows = _rows(path)
    roles = ("replaced", "deleted", "readded", "reclaimed", "unreadable")
    picked = dict(zip(roles, rows[:5], strict=True))
    added: list[list[str]] = []
    r = list(picked["replaced"])
    r[1] = "02:00:00:00:00:aa"
    added.append(r)
    for role in ("deleted", "readded"):
        d = list(picked[role])
        d[4] = str(int(d[4]) - int(d[3]))  # expire = cltt
        d[3] = "0"                         # valid lifetime 0: Kea's deletion record
        added.append(d)
    added.append(list(picked["readded"]))
    r = list(picked["reclaimed"])
    r[9] = "2"
    added.append(r)
    r = list(picked["unreadable"])
    r[1] = "zz:not-hex"
    added.append(r)
    lone = list(rows[5])
    lone[0], lone[3] = "10.100.3.199", "0"
    assert "10.100.3.199" not in {row[0] for row in rows}
    added.append(lone)
    _write(path, header, rows + added)
    return {role: row[0] for role, row in picked.items()}


def test_memfile_log_semantics(tmp_path: Path) -> None:
    out, report = _migrate(tmp_path, 4)
    roles = _log_edits(out / "kea-leases4.csv")
    res, data = _reconcile(tmp_path, 4, "--against", out)
    assert res.exit_code == 1, res.output
    diffs = _by_address(data)
    assert {a: d["category"] for a, d in diffs.items()} == {
        roles["replaced"]: "mismatched", roles["deleted"]: "missing",
        roles["reclaimed"]: "missing"}
    assert list(diffs[roles["replaced"]]["fields"]) == ["hwaddr"]
    assert diffs[roles["replaced"]]["fields"]["hwaddr"]["kea"] == "02:00:00:00:00:aa"
    assert data["kea"]["read"] == report["loaded"] - 1  # the deleted one
    assert data["kea"]["ignored"] == {"expired-reclaimed": 1}
    assert data["matched"] == report["loaded"] - 3
    assert len(data["warnings"]) == 1
    assert data["warnings"][0].startswith("1 row(s) Kea cannot read and skips")
    assert f"line {report['loaded'] + 7}" in data["warnings"][0]  # header + rows + 5 appended


def _same_report(file_data: dict[str, Any], live: dict[str, Any]) -> None:
    for key in ("matched", "missing", "extra", "mismatched", "differences_total",
                "fields_mismatched", "source"):
        assert file_data[key] == live[key], key
    for key in ("read", "compared", "ignored"):
        assert file_data["kea"][key] == live["kea"][key], key

    def diffs(d: dict[str, Any]) -> list[tuple[Any, ...]]:
        return sorted((x["address"], x["category"], x.get("subnet_id"), json.dumps(x["fields"]),
                       json.dumps(x.get("kea"), sort_keys=True)) for x in d["differences"])

    assert diffs(file_data) == diffs(live)
    cols = ("subnet_id", "prefix", "source", "kea", "stat_assigned", "stat_declined",
            "stat_total", "counts_match")
    assert [[s[c] for c in cols] for s in file_data["subnets"]] == \
        [[s[c] for c in cols] for s in live["subnets"]]


@pytest.mark.kea
@pytest.mark.parametrize("kea3", KEA_VERSIONS, ids=["kea2", "kea3"])
@pytest.mark.parametrize("family", [4, 6])
def test_file_and_live_reconcile_agree(tmp_path: Path, kea_factory: Callable[..., Any],
                                       family: int, kea3: bool) -> None:
    """The migrated sample (v4 with abandoned leases loaded as declined) loaded into a real Kea:
    --kea and --against give the same counts, differences and per-subnet statistics."""
    extra = ("--abandoned", "declined") if family == 4 else ()
    out, report = _migrate(tmp_path, family, *extra)
    path = out / f"kea-leases{family}.csv"
    srv = kea_factory(family=family, kea3=kea3, subnets=_sample_subnets(family), lease_file=path)
    cfg = tmp_path / "kea.json"
    cfg.write_text(json.dumps(srv.config))  # what the server runs, lease-checks included
    args = ("--abandoned", "declined") if family == 4 else ()
    res_file, d_file = _reconcile(tmp_path, family, "--against", out, *args, name="file",
                                  config=cfg)
    res_live, d_live = _reconcile(tmp_path, family, "--kea", srv.socket_url, *args, name="live",
                                  config=cfg)
    assert res_file.exit_code == res_live.exit_code == 0, res_file.output + res_live.output
    assert d_file["matched"] == report["loaded"]
    _same_report(d_file, d_live)
    if family == 4:
        assert sum(s["stat_declined"] for s in d_file["subnets"]) == 1  # the abandoned lease
    assert d_live["kea"]["version"] == srv.version


@pytest.mark.kea
@pytest.mark.parametrize("kea3", KEA_VERSIONS, ids=["kea2", "kea3"])
def test_broken_log_agrees_with_live_kea(tmp_path: Path, kea_factory: Callable[..., Any],
                                         kea3: bool) -> None:
    """History rows, deletions, a reclaimed row and an unreadable row: a real Kea loading the
    file holds exactly what --against says, and both reports agree."""
    out, _ = _migrate(tmp_path, 4)
    path = out / "kea-leases4.csv"
    _log_edits(path)
    header, rows = _rows(path)
    rows[10][1] = "02:00:00:00:00:bb"  # and a plain mismatch
    _write(path, header, rows)
    srv = kea_factory(family=4, kea3=kea3, subnets=_sample_subnets(4), lease_file=path)
    cfg = tmp_path / "kea.json"
    cfg.write_text(json.dumps(srv.config))
    res_file, d_file = _reconcile(tmp_path, 4, "--against", out, name="file", config=cfg)
    res_live, d_live = _reconcile(tmp_path, 4, "--kea", srv.socket_url, name="live", config=cfg)
    assert res_file.exit_code == res_live.exit_code == 1
    assert d_file["mismatched"] == 2 and d_file["missing"] == 2
    _same_report(d_file, d_live)


# ---- Kea's sanity checks and lease file set, differentially against a real Kea ----------------

NOW = clock.now()
H4 = ("address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,"
      "state,user_context")
H6 = ("address,duid,valid_lifetime,expire,subnet_id,pref_lifetime,lease_type,iaid,prefix_len,"
      "fqdn_fwd,fqdn_rev,hostname,hwaddr,state,user_context,hwtype,hwaddr_source")
SUBNETS4 = [{"id": 1, "subnet": "192.0.2.0/24", "pools": [{"pool": "192.0.2.10 - 192.0.2.250"}]},
            {"id": 2, "subnet": "198.51.100.0/24", "pools": [{"pool": "198.51.100.0/28"}]},
            {"id": 4, "subnet": "10.4.0.0/24", "client-class": "guarded"}]
SHARED4 = [{"name": "net", "client-class": "guarded",
            "subnet4": [{"id": 3, "subnet": "203.0.113.0/24"}]}]


def _r4(addr: str, mac: str, lft: int, sid: int, state: int = 0, exp: int | None = None) -> str:
    return f"{addr},{mac},,{lft},{NOW + lft if exp is None else exp},{sid},0,0,,{state},"


ROWS4 = [
    _r4("192.0.2.10", "00:00:00:00:00:01", 3600, 1),
    _r4("192.0.2.10", "00:00:00:00:00:02", 3600, 1),       # replaces the row above
    _r4("192.0.2.11", "00:00:00:00:00:03", 3600, 1),
    _r4("192.0.2.11", "00:00:00:00:00:03", 0, 1),          # deletes it
    _r4("192.0.2.12", "00:00:00:00:00:04", 0, 1),          # lone deletion
    _r4("192.0.2.13", "00:00:00:00:00:05", 3600, 1),
    _r4("192.0.2.13", "00:00:00:00:00:06", 3600, 2),       # wrong subnet, replacing a good row
    _r4("192.0.2.14", "00:00:00:00:00:07", 3600, 2),       # wrong subnet
    _r4("192.0.2.15", "00:00:00:00:00:0a", 3600, 7),       # unknown subnet id
    _r4("203.0.113.5", "00:00:00:00:00:08", 3600, 1),      # in a class-guarded shared network
    _r4("10.4.0.5", "00:00:00:00:00:0f", 3600, 1),         # in a class-guarded subnet
    _r4("192.168.7.6", "00:00:00:00:00:09", 3600, 0),      # in no subnet, subnet id 0
    _r4("192.168.7.7", "00:00:00:00:00:10", 3600, 2),      # in no subnet
    _r4("192.0.2.16", "00:00:00:00:00:0b", 3600, 1, 1),    # declined
    _r4("198.51.100.3", "00:00:00:00:00:11", 3600, 2, 1),  # declined
    _r4("192.0.2.17", "00:00:00:00:00:0c", 3600, 1, 2),    # expired-reclaimed
    _r4("192.0.2.18", "00:00:00:00:00:0d", 3600, 1, 0, NOW - 10),  # expired, not reclaimed
    _r4("192.0.2.19", "00:00:00:00:00:0e", 3600, 1),
    _r4("192.0.2.19", "00:00:00:00:00:0e", 0, 7),          # a deletion with a wrong subnet
    "192.0.2.20,zz,,3600,1,1,0,0,,0,",                     # unreadable
]


def _r6(addr: str, duid: str, sid: int, *, pd: int = 0, state: int = 0, lft: int = 3600) -> str:
    kind, plen = (2, pd) if pd else (0, 128)
    return (f"{addr},{duid},{lft},{NOW + lft},{sid},{lft // 2},{kind},1,{plen},0,0,,,{state},,"
            "1,0")


ROWS6 = [
    _r6("2001:db8:1::1001", "00:01:02", 1),
    _r6("2001:db8:1::1002", "00:01:03", 5),                  # IA_NA, unknown subnet
    _r6("2001:db8:1::1007", "00:01:03", 0),                  # IA_NA, subnet id 0
    _r6("2001:db8:8000:100::", "00:01:04", 5, pd=56),        # IA_PD, unknown subnet: not checked
    _r6("2001:db8:9999::", "00:01:05", 1, pd=56),            # IA_PD outside the pd-pool
    _r6("2001:db8:1::1003", "00:01:06", 1, state=1),         # declined
    _r6("2001:db8:1::1005", "00:01:06", 1, state=1),
    _r6("2001:db8:1::1004", "00:01:07", 1, state=2),
    _r6("2001:db8:8000:200::", "00:01:08", 1, pd=56),
    _r6("2001:db8:8000:300::", "00:01:09", 1, pd=56, state=1),
    _r6("2001:db8:1::1006", "00:01:0a", 1),
    _r6("2001:db8:1::1006", "00:01:0a", 9, lft=0),           # deletion with a wrong subnet
]


def _kea_leases(srv: Any) -> set[tuple[Any, ...]]:
    r = srv.command(f"lease{srv.family}-get-all")
    assert r["result"] in (0, 3), r
    ident = "hw-address" if srv.family == 4 else "duid"
    return {(x["ip-address"], x.get(ident), x["subnet-id"], x["state"], x["valid-lft"])
            for x in r.get("arguments", {}).get("leases", [])}


def _file_leases(files: KeaFileLeases) -> set[tuple[Any, ...]]:
    out = set()
    for x in files:
        ident = x.hwaddr if files.family == 4 else x.duid.replace(":", "")  # type: ignore[union-attr]
        out.add((str(x.address), ident, x.subnet_id, x.state, x.valid_lft))
    return out


def _kea_stats(srv: Any) -> dict[int, dict[str, int]]:
    rs = srv.command(f"stat-lease{srv.family}-get")["arguments"]["result-set"]
    cols = rs["columns"]
    out = {}
    for row in rs["rows"]:
        d = dict(zip(cols, row, strict=True))
        d.pop("cumulative-assigned-addresses", None)
        d.pop("cumulative-assigned-nas", None)
        d.pop("cumulative-assigned-pds", None)
        if "declined-addresses" in d and srv.family == 6:  # Kea 2.4+ renamed declined-nas
            d["declined-nas"] = d.pop("declined-addresses")
        if srv.version_tuple >= (3, 1, 2):
            # Kea 3.1.2+ counts declined leases in assigned-addresses / assigned-nas too
            # (ChangeLog 2393, stat_cmds.cc addValueRow4/6); the file side counts as earlier
            # versions did (state 0), which reconcile also makes of a 3.2 answer
            declined = "declined-addresses" if srv.family == 4 else "declined-nas"
            d["assigned-addresses" if srv.family == 4 else "assigned-nas"] -= d[declined]
        out[int(d.pop("subnet-id"))] = d
    return out


@pytest.mark.kea
@pytest.mark.parametrize("kea3", KEA_VERSIONS, ids=["kea2", "kea3"])
@pytest.mark.parametrize("family,mode", [(4, None), (4, "none"), (4, "fix"), (4, "fix-del"),
                                         (4, "del"), (6, None), (6, "del")])
def test_file_side_holds_what_kea_loads(tmp_path: Path, kea_factory: Callable[..., Any],
                                        family: int, mode: str | None, kea3: bool) -> None:
    """Every lease-checks mode: the leases (address, id, subnet, state, lifetime) and the
    stat-leaseN-get rows of the file side equal a real Kea's after loading the same file."""
    extra: dict[str, Any] = {"sanity-checks": {"lease-checks": mode}} if mode else {}
    if family == 4:
        extra |= {"shared-networks": SHARED4, "client-classes": [{"name": "guarded"}]}
    # started without a lease file (so the harness adds no sanity-checks of its own: mode None
    # is Kea's default), stopped, given the file, started again
    srv = kea_factory(family=family, kea3=kea3, subnets=SUBNETS4 if family == 4 else None,
                      extra=extra)
    srv.stop()
    srv.lease_file.write_text((H4 if family == 4 else H6) + "\n"
                              + "\n".join(ROWS4 if family == 4 else ROWS6) + "\n")
    path = tmp_path / srv.lease_file.name
    shutil.copyfile(srv.lease_file, path)
    section = srv.config[f"Dhcp{family}"]
    assert ("sanity-checks" in section) == (mode is not None)
    with KeaFileLeases(path, family=family, section=section) as files:
        files.load()
        got = _file_leases(files)
        stats = files.stats()
        assert files.bad_rows == (1 if family == 4 else 0)
    srv.start()
    held = _kea_leases(srv)
    if family == 6:
        held = {(a, d.replace(":", ""), s, st, v) for a, d, s, st, v in held}
    assert got == held
    assert stats == _kea_stats(srv)


@pytest.mark.kea
@pytest.mark.parametrize("kea3", KEA_VERSIONS, ids=["kea2", "kea3"])
@pytest.mark.parametrize("completed", [False, True], ids=["leftovers", "completed"])
def test_lfc_leftovers_are_read_as_kea_does(tmp_path: Path, kea_factory: Callable[..., Any],
                                            kea3: bool, completed: bool) -> None:
    """NAME.completed, else NAME.2 then NAME.1, then NAME: the same leases as a real Kea."""
    def rows(*spec: tuple[str, str, int]) -> str:
        return H4 + "\n" + "".join(_r4(a, m, lft, 1) + "\n" for a, m, lft in spec)

    srv = kea_factory(family=4, kea3=kea3)
    srv.stop()
    lease_file = srv.lease_file
    write_lfc_leftovers(lease_file, rows, completed=completed)
    with KeaFileLeases(lease_file.parent, family=4, section=srv.config["Dhcp4"]) as files:
        files.load()
        got = _file_leases(files)
        assert files.path == lease_file
        assert len(files.warnings) == 1 and "interrupted lease file cleanup" in files.warnings[0]
    srv.start()
    assert got == _kea_leases(srv)
    want = {"192.0.2.11", "192.0.2.13", "192.0.2.14"} if completed else {
        "192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.14"}
    assert {g[0] for g in got} == want


# ---- a kea-etl export as the Kea side ---------------------------------------------------------

@pytest.mark.kea
def test_against_a_kea_etl_export(tmp_path: Path, kea_factory: Callable[..., Any]) -> None:
    out, report = _migrate(tmp_path, 4)
    srv = kea_factory(family=4, subnets=_sample_subnets(4), lease_file=out / "kea-leases4.csv")
    exp = tmp_path / "export"
    res = _cli("export", "--kea", srv.socket_url, "--family", "4", "--parquet", exp, "--csv",
               exp / "csv", "--export-date", "2026-11-27")
    assert res.exit_code == 0, res.output
    files = sorted(exp.rglob("leases-v4.*"))
    assert [f.suffix for f in files] == [".csv", ".parquet"]
    for i, target in enumerate([*files, files[1].parent]):
        res, data = _reconcile(tmp_path, 4, "--against", target, name=f"exp{i}")
        assert res.exit_code == 0, res.output
        assert data["matched"] == report["loaded"], target
        assert data["kea"]["version"] == srv.version
        assert data["kea"]["server"] == str(target if target.is_file() else files[1])
        assert all(s["counts_match"] for s in data["subnets"])


# ---- errors and usage --------------------------------------------------------------------------

def _error_line(res: Result) -> str:
    assert res.exit_code == 2, res.output
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def test_missing_or_unreadable_files_exit_2_with_one_line(tmp_path: Path) -> None:
    def run(target: Path, config: Path = CONFIG[4]) -> str:
        return _error_line(_cli("reconcile", SOURCE[4], "--against", target,
                                "--kea-config", config))

    assert run(tmp_path / "nope.csv") == f"Error: {tmp_path}/nope.csv: no such file or directory"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no kea-leases4.csv (Kea memfile) or leases-v4.parquet" in run(empty)
    v6only = tmp_path / "v6only"
    v6only.mkdir()
    (v6only / "kea-leases6.csv").write_text(H6 + "\n")
    assert "holds DHCPv6 leases only" in run(v6only)
    assert "holds DHCPv6 leases: the --kea-config is a Dhcp4" in run(v6only / "kea-leases6.csv")
    garbage = tmp_path / "garbage.csv"
    garbage.write_text("hello,world\n1,2\n")
    assert "neither a Kea memfile" in run(garbage)
    crlf = tmp_path / "crlf.csv"
    crlf.write_bytes((H4 + "\r\n" + ROWS4[0] + "\r\n").encode())
    assert "CRLF" in run(crlf)
    blank = tmp_path / "blank.csv"
    blank.write_text("")
    assert "is empty" in run(blank)
    # max-row-errors: Kea refuses to load a file with more unreadable rows than that
    bad = tmp_path / "bad.csv"
    bad.write_text(H4 + "\n" + "\n".join(ROWS4) + "\n192.0.2.21,zz,,3600,1,1,0,0,,0,\n")
    config = json.loads(CONFIG[4].read_text())
    config["Dhcp4"]["lease-database"]["max-row-errors"] = 1
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps(config))
    assert "Kea would refuse to load" in run(bad, strict)


def test_usage_errors(tmp_path: Path) -> None:
    base = ["reconcile", str(SOURCE[4])]
    for args, text in (
            ([], "give exactly one of --kea URL"),
            (["--kea", "unix:///x.sock", "--against", str(tmp_path)], "give exactly one of"),
            (["--against", str(tmp_path)], "--against needs --kea-config"),
            (["--against", str(tmp_path), "--kea-config", str(tmp_path / "k.json"),
              "--service", "dhcp4", "--insecure"],
             "--service, --insecure only apply to --kea (a running server), not to --against")):
        res = CliRunner().invoke(main, base + args, prog_name="kea-etl")
        assert res.exit_code == 2, res.output
        assert "Usage: kea-etl reconcile" in res.stderr and text in res.stderr


def test_help_shows_against_with_an_example() -> None:
    res = CliRunner().invoke(main, ["reconcile", "--help"])
    assert res.exit_code == 0
    assert "--against PATH" in res.output
    assert "kea-etl reconcile dhcpd.leases --against out --kea-config kea-dhcp4.json" in res.output



def test_statements_that_are_not_records_are_said_not_dropped(tmp_path: Path) -> None:
    """A refused OMAPI host declaration in dhcpd.leases is a SourceWarning: migrate reports it;
    reconcile, which compares leases, says it did not compare it (was: silently skipped)."""
    from kea_etl.extract.base import SourceWarning
    from kea_etl.extract.isc_leases import extract
    from tests.harness import clock

    src = Path(__file__).resolve().parents[1] / "extract" / "data" / "v4-omapi-hosts.leases"
    said = [i for i in extract(src) if isinstance(i, SourceWarning)]
    assert said  # the fixture has statements dhcpd itself refuses
    conf = tmp_path / "kea4.json"
    conf.write_text(json.dumps({"Dhcp4": {"subnet4": [{"id": 1, "subnet": "192.0.2.0/24"}]}}))
    as_of = clock.iso(clock.ANCHOR)
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["migrate", str(src), "--to", f"memfile:{out}", "--kea-config",
                                  str(conf), "--as-of", as_of, "--kea-version", "2.2",
                                  "--no-progress"])
    assert r.exit_code == 0, r.output
    rep = tmp_path / "rec.json"
    r = CliRunner().invoke(main, ["reconcile", str(src), "--against", str(out), "--kea-config",
                                  str(conf), "--as-of", as_of, "--json", str(rep),
                                  "--no-progress"])
    assert r.exit_code == 0, r.output
    assert json.loads(rep.read_text())["source_warnings"] == len(said)
    shown = [ln for ln in r.output.splitlines() if ln.startswith("  warning: not compared: ")]
    assert [ln.removeprefix("  warning: not compared: ") for ln in shown] == [str(w) for w in said]
