"""notebooks/audit.ipynb runs top to bottom on an export the suite made from REAL Kea servers.

tests/export/audit_sample.py loads sample-data/ into a real kea-dhcp4 and kea-dhcp6 (kea-etl
migrate -> memfile -> Kea), exports two nights to SQLite and Parquet with real lease_cmds activity
in between, and reconciles to JSON. The notebook is executed with nbclient in a python3 kernel on
this interpreter; a probe cell appended after it dumps the notebook's own tables, which are
compared with what Kea itself reports over the harness's socket (stat-lease4-get,
stat-lease6-get, lease4-get-all / lease6-get-all), independent of kea_etl.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.export.audit_sample import (
    DELETE_V4_COUNT,
    OUTSIDE_POOL_V4,
    SAMPLE,
    SECOND_LEASE_ADDR,
    SECOND_LEASE_MAC,
    _subnets,
    build_sample_export,
    run_notebook,
)
from tests.export.helpers import png_colours
from tests.harness import clock
from tests.harness.leasefile import ia_block, lease_block

PROBE = r'''
import json, sys
def _records(df, cols):
    return json.loads(df[cols].to_json(orient="records", date_format="iso"))
print("PROBE " + json.dumps({
    "executable": sys.executable,
    "nights": [d.isoformat() for d in export.nights],
    "per_subnet": _records(per_subnet, ["server", "family", "subnet_id", "assigned", "declined",
                                        "pds", "kea_assigned", "matches"]),
    "util": _records(util.assign(export_date=util["export_date"].dt.strftime("%Y-%m-%d")),
                     ["export_date", "server", "family", "subnet_id", "kind", "pool", "size",
                      "assigned"]),
    "several": _records(several, ["server", "client", "leases", "addresses"]),
    "outside": _records(outside, ["address", "reason"]),
    "soon": _records(soon, ["address", "status"]),
    "recon": _records(recon.summary, ["family", "matched", "missing", "extra", "mismatched"]),
    "missing": recon.differences.query("category == 'missing'")["address"].tolist(),
    "history": _records(history, ["server", "address", "client", "nights", "current"]),
}))
'''


def _pools(family: int) -> list[tuple[str, int, int, int]]:
    """(kind, first, last, size) of the sample config's pools, parsed here."""
    cfg = json.loads((SAMPLE / f"kea-dhcp{family}.json").read_text())[f"Dhcp{family}"]
    out: list[tuple[str, int, int, int]] = []
    for sub in cfg[f"subnet{family}"]:
        for p in sub.get("pools", []):
            lo, hi = (int(ipaddress.ip_address(x.strip())) for x in p["pool"].split("-"))
            out.append(("pool", lo, hi, hi - lo + 1))
        for p in sub.get("pd-pools", []):
            net = ipaddress.ip_network(f"{p['prefix']}/{p['prefix-len']}")
            out.append(("pd-pool", int(net.network_address), int(net.broadcast_address),
                        2 ** (p["delegated-len"] - p["prefix-len"])))
    return out


def _in_pool(lease: dict[str, Any], pools: list[tuple[str, int, int, int]]) -> int | None:
    kind = "pd-pool" if lease.get("type") == "IA_PD" else "pool"
    a = int(ipaddress.ip_address(lease["ip-address"]))
    for i, (k, lo, hi, _d) in enumerate(pools):
        if k == kind and lo <= a <= hi:
            return i
    return None


def _stat_rows(srv: Any) -> dict[int, dict[str, int]]:
    rs = srv.ok(f"stat-lease{srv.family}-get")["result-set"]
    return {row[0]: dict(zip(rs["columns"], row, strict=True)) for row in rs["rows"]}


@pytest.mark.kea
def test_audit_notebook_on_real_kea_export(kea_factory: Any, tmp_path: Path) -> None:
    held: dict[int, dict[int, list[dict[str, Any]]]] = {}

    def snapshot(night: int, kea4: Any, kea6: Any) -> None:
        held[night] = {4: kea4.leases(), 6: kea6.leases()}

    sample = build_sample_export(tmp_path / "export", kea_factory, after_export=snapshot)
    kea4, kea6 = sample.servers[4], sample.servers[6]
    stats = {4: _stat_rows(kea4), 6: _stat_rows(kea6)}  # Kea's own counts, nothing changed since

    nb = run_notebook(sample.env(), extra_cells=[PROBE])

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    probe = json.loads(text.split("PROBE ", 1)[1].splitlines()[0])
    assert probe["executable"] == sys.executable  # the kernel ran this venv's interpreter
    assert probe["nights"] == [n.date().isoformat() for n in sample.nights]

    # cross-check cell: warehouse and Parquet hold the same snapshots, as many as Kea had
    total = sum(len(held[n][f]) for n in (0, 1) for f in (4, 6))
    assert f"warehouse and Parquet agree on {total} lease snapshots: True" in text

    # leases per subnet == stat-lease4-get / stat-lease6-get of the live servers
    rows = {(r["family"], r["subnet_id"]): r for r in probe["per_subnet"]}
    assert {k for k in rows if k[0] == 4} == {(4, s) for s in stats[4]}
    for sid, st in stats[4].items():
        r = rows[(4, sid)]
        assert (r["assigned"], r["declined"]) == (st["assigned-addresses"],
                                                  st["declined-addresses"]), sid
        assert r["matches"] is True
    for sid, st in stats[6].items():
        r = rows[(6, sid)]
        declined = st.get("declined-nas", st.get("declined-addresses"))
        assert (r["assigned"], r["declined"], r["pds"]) == (st["assigned-nas"], declined,
                                                            st["assigned-pds"]), sid
    assert "subnets where the export and Kea's statistics disagree: 0" in text

    # pool utilisation per night == leases Kea held in each pool right after that night's export
    util = {(u["export_date"], u["family"], u["pool"]): u for u in probe["util"]}
    for night in (0, 1):
        day = sample.nights[night].date().isoformat()
        for fam in (4, 6):
            pools = _pools(fam)
            counts = Counter(_in_pool(lease, pools) for lease in held[night][fam]
                             if lease["state"] == 0)
            got = sorted((u["kind"], u["assigned"], u["size"]) for (d, f, _p), u in util.items()
                         if d == day and f == fam)
            want = sorted((k, counts.get(i, 0), size)
                          for i, (k, _lo, _hi, size) in enumerate(pools))
            assert got == want, (day, fam)
    # the day's activity is visible: subnet 2 lost DELETE_V4_COUNT leases
    s2 = [u for u in probe["util"] if u["family"] == 4 and u["subnet_id"] == 2]
    assert sorted(s2, key=lambda u: u["export_date"])[0]["assigned"] \
        - sorted(s2, key=lambda u: u["export_date"])[1]["assigned"] == DELETE_V4_COUNT

    # clients with several leases: the one the day gave a second lease, as Kea holds it
    by_mac = Counter(lease["hw-address"] for lease in held[1][4] if lease["state"] == 0)
    assert [(s["client"], s["leases"]) for s in probe["several"]] == \
        [(m, n) for m, n in by_mac.items() if n > 1] == [(SECOND_LEASE_MAC, 2)]

    # lease history of that client (the notebook's default): its first lease over both nights,
    # the second since night 2, both still held, merged from the warehouse's snapshots
    first = [lease["ip-address"] for lease in held[0][4]
             if lease["hw-address"] == SECOND_LEASE_MAC]
    assert len(first) == 1
    assert probe["history"] == [
        {"server": "kea4-sample", "address": first[0], "client": SECOND_LEASE_MAC, "nights": 2,
         "current": True},
        {"server": "kea4-sample", "address": SECOND_LEASE_ADDR, "client": SECOND_LEASE_MAC,
         "nights": 1, "current": True}]

    # leases outside pools == Kea's leases that lie in no pool
    pools4 = _pools(4)
    outside = {lease["ip-address"] for lease in held[1][4]
               if lease["state"] in (0, 1) and _in_pool(lease, pools4) is None}
    assert {o["address"] for o in probe["outside"]} == outside == set(OUTSIDE_POOL_V4)
    assert {o["reason"] for o in probe["outside"]} == {"subnet 1 has no pool",
                                                      "outside subnet 2's pools"}

    # expiring within 7 days of night 2 (the reference time) == Kea's leases by cltt + valid-lft
    ref = int(sample.nights[1].timestamp())
    soon = {lease["ip-address"] for fam in (4, 6) for lease in held[1][fam]
            if lease["state"] == 0 and lease["cltt"] + lease["valid-lft"] <= ref + 7 * 86400}
    assert {s["address"] for s in probe["soon"]} == soon
    expired = {s["address"] for s in probe["soon"] if s["status"] == "expired, not reclaimed"}
    assert expired == {lease["ip-address"] for fam in (4, 6) for lease in held[1][fam]
                       if lease["state"] == 0 and lease["cltt"] + lease["valid-lft"] < ref}
    assert expired  # the sample's two 60-second leases

    # reconciliation: the notebook shows the JSON's counts; missing = what the day deleted
    for r in probe["recon"]:
        data = json.loads(sample.reconcile[0 if r["family"] == 4 else 1].read_text())
        assert [r[k] for k in ("matched", "missing", "extra", "mismatched")] == \
            [data[k] for k in ("matched", "missing", "extra", "mismatched")]
    assert sorted(probe["missing"]) == sorted(sample.deleted_v4)

    # plots: inline PNGs with real content
    pngs = [o["data"]["image/png"] for o in outputs if "image/png" in o.get("data", {})]
    assert len(pngs) == 4
    for i, data in enumerate(pngs):
        path = tmp_path / f"plot{i}.png"
        path.write_bytes(base64.b64decode(data))
        assert png_colours(path) > 10, f"plot {i} looks empty"

    # as a reader sees it: the executed notebook as HTML (nbconvert), rendered by headless
    # Chromium into a non-empty page, with the headline numbers in it
    from nbconvert import HTMLExporter

    from tests.harness.browser import screenshot
    page, _ = HTMLExporter().from_notebook_node(nb)
    html = tmp_path / "audit.html"
    html.write_text(page)
    shot = screenshot(html, tmp_path, size="1400,3000")
    assert png_colours(shot) > 10
    assert f"warehouse and Parquet agree on {total} lease snapshots: True" in page
    assert "subnets where the export and Kea&#39;s statistics disagree: 0" in page or \
        "subnets where the export and Kea's statistics disagree: 0" in page


def test_committed_notebook_has_outputs_and_is_small() -> None:
    """The notebook in the tree reads well without running: every code cell executed, plots in."""
    import nbformat

    path = SAMPLE.parent / "notebooks" / "audit.ipynb"
    assert path.stat().st_size < 1_000_000
    nb = nbformat.read(str(path), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "re-run scripts/make-notebook-outputs"
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 4


# ---- a healthy network and an empty server --------------------------------------------------

HEALTHY_PROBE = r'''
import json
print("PROBE " + json.dumps({"outside": len(outside), "soon": len(soon), "several": len(several),
    "disagree": int((~per_subnet["matches"]).sum()) if "matches" in per_subnet else None,
    "assigned": int(per_subnet["assigned"].sum()), "pds": int(per_subnet["pds"].sum()),
    "reference": str(now)}))
'''
#: a healthy network's leases, all inside the sample config's pools, none near expiry
CLEAN_V4 = [f"10.100.0.{i}" for i in range(20, 30)] + [f"10.101.0.{i}" for i in range(120, 125)]
CLEAN_V6 = [f"2001:db8:100::{0x1000 + i:x}" for i in range(1, 5)]


def _clean_network_leases(tmp: Path, now: int) -> tuple[Path, Path]:
    """dhcpd.leases / dhcpd6.leases of a healthy network as of ``now`` (suite clock): every lease
    granted an hour ago, for 30 days, in a pool; no other state, one lease per client."""
    starts, ends = now - 3600, now + 30 * 86400
    v4 = "".join(lease_block(ip, starts=starts, ends=ends, cltt=starts, next_state="free",
                             mac=f"00:0d:00:00:00:{i:02x}", hostname=f"clean-{i}")
                 for i, ip in enumerate(CLEAN_V4))
    v6 = "".join(ia_block("ia-na", i + 1, bytes.fromhex(f"000300010000000d00{i:02x}"), ip,
                          cltt=starts, ends=ends, preferred=1800, max_life=2592000)
                 for i, ip in enumerate(CLEAN_V6))
    p4, p6 = tmp / "dhcpd.leases", tmp / "dhcpd6.leases"
    p4.write_text("authoring-byte-order little-endian;\n" + v4)
    p6.write_text("authoring-byte-order little-endian;\n" + v6)
    return p4, p6


def _export_env(tmp: Path, kea4: Any, kea6: Any, at: int, reconcile: list[Path]) -> dict[str, str]:
    import os

    from kea_etl.export import KeaTarget, run_export
    from kea_etl.records import from_epoch

    report = run_export([KeaTarget(kea4.socket_url, label="kea4"),
                         KeaTarget(kea6.socket_url, label="kea6")],
                        warehouse=f"sqlite:///{tmp / 'wh.db'}", parquet_dir=tmp / "parquet",
                        exported_at=from_epoch(at))
    assert report.ok, report.to_json()
    return {"KEA_ETL_WAREHOUSE": f"sqlite:///{tmp / 'wh.db'}", "KEA_ETL_PARQUET": str(tmp / "parquet"),
            "KEA_ETL_RECONCILE": os.pathsep.join(map(str, reconcile)), "KEA_ETL_AS_OF": "",
            "KEA_ETL_KEA_CONFIG": os.pathsep.join(str(SAMPLE / f"kea-dhcp{f}.json") for f in (4, 6))}


def _run_healthy(env: dict[str, str]) -> tuple[str, dict[str, Any]]:
    nb = run_notebook(env, extra_cells=[HEALTHY_PROBE])
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, errors
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    return text, json.loads(text.split("PROBE ", 1)[1].splitlines()[0])


@pytest.mark.kea
def test_audit_notebook_on_a_clean_network(kea_factory: Any, tmp_path: Path) -> None:
    """Nothing outside a pool, nothing expiring within 7 days: the notebook says 0 for both
    (it crashed with int(NaN) in "outside pools" and listed every lease as expiring)."""
    from click.testing import CliRunner

    from kea_etl.cli import main
    from kea_etl.records import from_epoch

    now = clock.now()
    as_of = from_epoch(now).strftime("%Y-%m-%dT%H:%M:%SZ")
    p4, p6 = _clean_network_leases(tmp_path, now)
    mem = tmp_path / "memfile"
    res = CliRunner().invoke(main, ["migrate", str(p4), str(p6), "--to", f"memfile:{mem}",
                                    "--kea-config", str(SAMPLE / "kea-dhcp4.json"),
                                    "--kea-config", str(SAMPLE / "kea-dhcp6.json"),
                                    "--as-of", as_of, "--no-progress"])
    assert res.exit_code == 0 and f"{len(CLEAN_V4) + len(CLEAN_V6)} loaded" in res.output, res.output
    kea4 = kea_factory(family=4, subnets=_subnets(SAMPLE / "kea-dhcp4.json", "subnet4"),
                       lease_file=mem / "kea-leases4.csv")
    kea6 = kea_factory(family=6, subnets=_subnets(SAMPLE / "kea-dhcp6.json", "subnet6"),
                       lease_file=mem / "kea-leases6.csv")
    assert len(kea4.leases()) == len(CLEAN_V4) and len(kea6.leases()) == len(CLEAN_V6)
    recon = []
    for fam, src, srv in ((4, p4, kea4), (6, p6, kea6)):
        recon.append(tmp_path / f"reconcile-v{fam}.json")
        res = CliRunner().invoke(main, ["reconcile", str(src), "--kea", srv.socket_url,
                                        "--kea-config", str(SAMPLE / f"kea-dhcp{fam}.json"),
                                        "--as-of", as_of, "--json", str(recon[-1])])
        assert res.exit_code == 0, res.output
    text, probe = _run_healthy(_export_env(tmp_path, kea4, kea6, now, recon))
    assert "0 lease(s) outside every pool" in text
    assert "0 lease(s) expire within 7 days" in text and "(0 already past expiry)" in text
    assert "0 client(s) with several leases" in text
    assert "subnets where the export and Kea's statistics disagree: 0" in text
    assert (probe["outside"], probe["soon"], probe["several"], probe["disagree"]) == (0, 0, 0, 0)
    assert probe["assigned"] == len(CLEAN_V4) + len(CLEAN_V6)
    assert "0 difference(s)" in text  # reconciliation: everything matched


@pytest.mark.kea
def test_audit_notebook_on_an_empty_server(kea_factory: Any, tmp_path: Path) -> None:
    """Servers with subnets and no lease at all: every section runs and says 0; the reference
    time is the export's (from its statistics, there being no lease)."""
    from kea_etl.records import from_epoch

    kea4 = kea_factory(family=4, subnets=_subnets(SAMPLE / "kea-dhcp4.json", "subnet4"))
    kea6 = kea_factory(family=6, subnets=_subnets(SAMPLE / "kea-dhcp6.json", "subnet6"))
    now = clock.now()
    text, probe = _run_healthy(_export_env(tmp_path, kea4, kea6, now, []))
    assert "0 lease(s) outside every pool" in text
    assert "0 lease(s) expire within 7 days" in text
    assert "no reconciliation result given" in text
    assert (probe["outside"], probe["soon"], probe["several"], probe["assigned"]) == (0, 0, 0, 0)
    assert probe["reference"].startswith(from_epoch(now).strftime("%Y-%m-%d %H:%M:%S"))
