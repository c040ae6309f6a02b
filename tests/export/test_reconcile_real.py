"""Reconciliation against a real Kea 2.x loaded by a deliberately broken migration.

The source is a dhcpd.leases file; the "migration" is done here by hand with lease4-add /
lease6-add over the harness socket (independent of kea_etl's loaders), dropping some leases and
altering others, so the exact counts and fields in the reconcile outputs are known.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kea_etl.cli import main
from kea_etl.extract.isc_leases import extract
from kea_etl.reconcile import ReconcileResult, reconcile, render_html
from kea_etl.records import Lease4
from kea_etl.transform.normalize import Normalizer, Rejected
from kea_etl.transform.subnets import SubnetMap
from tests.export.helpers import png_colours, write_leases
from tests.harness import clock
from tests.harness.browser import screenshot
from tests.harness.leasefile import lease_block

pytestmark = pytest.mark.kea


def _block(ip: str, *, granted: int, ends: int, **kw: Any) -> str:
    return lease_block(ip, starts=granted, cltt=granted, ends=ends, next_state="free", **kw)


def _source_file(tmp_path: Path, now: int) -> Path:
    blocks = []
    for i in range(10, 30):  # 20 active leases in subnet 1
        blocks.append(_block(f"192.0.2.{i}", mac=f"00:11:22:33:44:{i:02x}",
                             granted=now - 600, ends=now + 3000,
                             uid=f"01:00:11:22:33:44:{i:02x}" if i % 2 else None,
                             hostname=f"host{i}"))
    blocks.append(_block("198.51.100.7", mac="00:11:22:33:55:07", granted=now - 600,
                         ends=now + 3000))                             # subnet 2
    blocks.append(_block("192.0.2.100", mac="00:11:22:33:66:00", granted=now - 9000,
                         ends=now - 5000, state="free"))               # policy: free
    blocks.append(_block("192.0.2.101", mac="00:11:22:33:66:01", granted=now - 9000,
                         ends=now - 5000))                             # policy: expired
    blocks.append(_block("192.0.2.102", granted=now - 600, ends=now + 3000,
                         state="backup"))                              # policy: backup
    return write_leases(tmp_path / "dhcpd.leases", blocks)


def _policy_records(path: Path, config: dict[str, Any], now: int) -> list[Lease4]:
    norm = Normalizer(SubnetMap.from_config(config), as_of=now)
    out = []
    for item in extract(path):
        rec = norm(item)  # type: ignore[arg-type]
        if not isinstance(rec, Rejected):
            assert isinstance(rec, Lease4)
            out.append(rec)
    return out


MISSING = {"192.0.2.12", "192.0.2.13", "198.51.100.7"}
ALTERED_HW = {"192.0.2.14": "de:ad:be:ef:00:14", "192.0.2.15": "de:ad:be:ef:00:15"}
ALTERED_EXPIRY = {"192.0.2.16": 3600}


def _broken_migration(srv: Any, records: list[Lease4]) -> None:
    for rec in records:
        key = str(rec.address)
        if key in MISSING:
            continue
        args = rec.to_kea_args()
        if key in ALTERED_HW:
            args["hw-address"] = ALTERED_HW[key]
        if key in ALTERED_EXPIRY:
            args["expire"] += ALTERED_EXPIRY[key]
        srv.ok("lease4-add", args)
    now = clock.now()
    # an extra lease Kea has and the source does not
    srv.ok("lease4-add", {"ip-address": "192.0.2.200", "hw-address": "0a:0b:0c:0d:0e:0f",
                          "valid-lft": 3600, "expire": now + 3000})
    # an expired-reclaimed lease: holds nothing, must not count as extra
    srv.ok("lease4-add", {"ip-address": "192.0.2.201", "hw-address": "0a:0b:0c:0d:0e:10",
                          "valid-lft": 3600, "expire": now + 3000, "state": 2})


def test_reconcile_cli_exact_counts_and_fields(kea4: Any, tmp_path: Path) -> None:
    now = clock.now()
    src = _source_file(tmp_path, now)
    records = _policy_records(src, kea4.config, now)
    assert len(records) == 21
    _broken_migration(kea4, records)
    cfg = tmp_path / "kea.json"
    cfg.write_text(json.dumps(kea4.config))
    out_json, out_html, out_csv = tmp_path / "r.json", tmp_path / "r.html", tmp_path / "r.csv"
    as_of = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    res = CliRunner().invoke(main, [
        "reconcile", str(src), "--kea", kea4.socket_url, "--kea-config", str(cfg),
        "--as-of", as_of, "--json", str(out_json), "--html", str(out_html),
        "--csv", str(out_csv)])
    assert res.exit_code == 1, res.output
    assert "DIFFERENCES: 7" in res.output
    data = json.loads(out_json.read_text())
    assert (data["matched"], data["missing"], data["extra"], data["mismatched"]) == (15, 3, 1, 3)
    assert data["source"]["skipped"] == {"backup": 1, "expired": 1, "free": 1}
    assert data["kea"]["ignored"] == {"expired-reclaimed": 1}
    by_addr = {d["address"]: d for d in data["differences"]}
    assert len(by_addr) == len(data["differences"]) == 7
    assert {a for a, d in by_addr.items() if d["category"] == "missing"} == MISSING
    assert {a for a, d in by_addr.items() if d["category"] == "extra"} == {"192.0.2.200"}
    for addr, hw in ALTERED_HW.items():
        d = by_addr[addr]
        assert d["category"] == "mismatched"
        last = int(addr.rsplit(".", 1)[1])
        assert d["fields"] == {"hwaddr": {"source": f"00:11:22:33:44:{last:02x}", "kea": hw}}
    exp = by_addr["192.0.2.16"]["fields"]
    assert list(exp) == ["expire"] and exp["expire"]["delta_s"] == 3600
    assert by_addr["192.0.2.12"]["source_line"] is not None
    assert data["fields_mismatched"] == {"expire": 1, "hwaddr": 2}
    # per-subnet counts, and Kea's own statistics as stat-lease4-get reports them
    stat = kea4.ok("stat-lease4-get")["result-set"]
    stat_rows = {r[0]: dict(zip(stat["columns"], r, strict=True)) for r in stat["rows"]}
    subnets = {s["subnet_id"]: s for s in data["subnets"]}
    assert subnets[1]["source"] == 20 and subnets[1]["kea"] == 19
    assert subnets[2]["source"] == 1 and subnets[2]["kea"] == 0
    for sid in (1, 2):
        assert subnets[sid]["stat_assigned"] == stat_rows[sid]["assigned-addresses"]
        assert subnets[sid]["stat_total"] == stat_rows[sid]["total-addresses"]
    assert subnets[1]["stat_total"] == 241 and subnets[1]["counts_match"] is False
    # CSV: one row per differing field, one per missing / extra record
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 7
    assert {(r["address"], r["field"]) for r in rows if r["category"] == "mismatched"} == {
        ("192.0.2.14", "hwaddr"), ("192.0.2.15", "hwaddr"), ("192.0.2.16", "expire")}
    html = out_html.read_text()
    assert "7 differences" in html and "de:ad:be:ef:00:14" in html
    assert "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")


def test_reconcile_all_match_exits_0(kea4: Any, tmp_path: Path) -> None:
    now = clock.now()
    src = _source_file(tmp_path, now)
    for rec in _policy_records(src, kea4.config, now):
        kea4.ok("lease4-add", rec.to_kea_args())
    res = CliRunner().invoke(main, ["reconcile", str(src), "--kea", kea4.socket_url,
                                    "--json", str(tmp_path / "r.json")])  # config from config-get
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert (data["matched"], data["missing"], data["extra"], data["mismatched"]) == (21, 0, 0, 0)
    assert data["differences"] == []
    assert all(s["counts_match"] for s in data["subnets"]), data["subnets"]


def test_reconcile_error_exit_2(tmp_path: Path) -> None:
    src = write_leases(tmp_path / "dhcpd.leases", [])
    res = CliRunner().invoke(main, ["reconcile", str(src), "--kea",
                                    f"unix://{tmp_path}/no.sock"])
    assert res.exit_code == 2
    assert res.output.startswith("Error: ") and "no.sock" in res.output


def test_reconcile_v6_prefix_and_iaid(kea6: Any, tmp_path: Path) -> None:
    """v6: an IA_NA with another IAID, a delegated prefix with another length, one missing."""
    from kea_etl.records import Lease6
    now = clock.now()
    src = [
        Lease6("2001:db8:1::1001", duid="00:03:00:01:aa:bb:cc:00:00:01", iaid=1, valid_lft=4000,
               cltt=now - 100, subnet_id=1, preferred_lft=3000),
        Lease6("2001:db8:1::1002", duid="00:03:00:01:aa:bb:cc:00:00:02", iaid=2, valid_lft=4000,
               cltt=now - 100, subnet_id=1, preferred_lft=3000),
        Lease6("2001:db8:1::1003", duid="00:03:00:01:aa:bb:cc:00:00:03", iaid=3, valid_lft=4000,
               cltt=now - 100, subnet_id=1, preferred_lft=3000),
        Lease6("2001:db8:8000:100::", duid="00:03:00:01:aa:bb:cc:00:00:04", iaid=4,
               valid_lft=4000, cltt=now - 100, subnet_id=1, lease_type="IA_PD", prefix_len=56,
               preferred_lft=3000),
    ]
    kea6.ok("lease6-add", src[0].to_kea_args())
    args = src[1].to_kea_args()
    args["iaid"] = 99
    kea6.ok("lease6-add", args)
    args = src[3].to_kea_args()
    args["prefix-len"] = 64
    kea6.ok("lease6-add", args)
    from kea_etl.kea import KeaClient
    client = KeaClient.from_url(kea6.socket_url)
    from kea_etl.export.kea_api import iter_leases
    with reconcile(iter(src), iter_leases(client, 6), family=6, as_of=now) as r:
        assert (r.matched, r.missing, r.extra, r.mismatched) == (1, 1, 0, 2)
        diffs = {d["address"]: d for d in r.iter_differences()}
        assert diffs["2001:db8:1::1002"]["fields"] == {"iaid": {"source": 2, "kea": 99}}
        assert diffs["2001:db8:8000:100::/56"]["fields"] == {
            "prefix_len": {"source": 56, "kea": 64}}
        assert diffs["2001:db8:1::1003"]["category"] == "missing"


def test_html_renders_in_headless_chromium(kea4: Any, tmp_path: Path) -> None:
    now = clock.now()
    src = _source_file(tmp_path, now)
    records = _policy_records(src, kea4.config, now)
    _broken_migration(kea4, records)
    html = tmp_path / "report.html"
    res = CliRunner().invoke(main, ["reconcile", str(src), "--kea", kea4.socket_url,
                                    "--html", str(html)])
    assert res.exit_code == 1, res.output
    png = screenshot(html, tmp_path)
    assert png_colours(png) > 10  # text, bars in four category colours, table shading


def test_html_escapes_every_value(tmp_path: Path) -> None:
    """A hostile hostname / source name cannot inject markup."""
    now = clock.now()
    evil = '<img src=x onerror="alert(1)">'
    a = Lease4("192.0.2.10", hwaddr="00:11:22:33:44:55", valid_lft=3600, cltt=now,
               subnet_id=1, hostname=evil)
    b = Lease4("192.0.2.11", hwaddr="00:11:22:33:44:56", valid_lft=3600, cltt=now, subnet_id=1)
    res = ReconcileResult(family=4, as_of=now, tolerance=2, source_name=evil, server=evil)
    with reconcile([a], [b], family=4, as_of=now, result=res) as r:
        html = render_html(r)
    assert "<img" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
