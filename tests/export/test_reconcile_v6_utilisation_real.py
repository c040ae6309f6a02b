"""The reconcile report's v6 utilisation on real Kea: addresses and delegated prefixes apart, per
pool where Kea keeps pool statistics (issue 11: "0.6% of 61696" hid a pd-pool 71% full).

Kea 2.4+ keeps statistics per pool-id (``subnet[1].pd-pool[2].assigned-pds``); Kea 2.2 only per
subnet, so there the subnet's NA and PD figures are shown apart. The leases are migrated by
kea-etl from a generated dhcpd6.leases (dates from the suite's clock), then reconciled.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kea_etl.cli import main
from tests.harness import clock
from tests.harness.leasefile import ia_block

pytestmark = pytest.mark.kea

PD_FULL = 182  # of the 256 /56 prefixes of a /48: 71.1 %


def _subnet(kea3: bool) -> dict[str, Any]:
    na = {"pool": "2001:db8:1::1000 - 2001:db8:1::ffff"}
    small = {"prefix": "2001:db8:8000::", "prefix-len": 48, "delegated-len": 56}
    big = {"prefix": "2001:db8:9000::", "prefix-len": 40, "delegated-len": 56}
    if not kea3:  # Kea 2.2: no pool-id, no pool statistics; one pd-pool, so the subnet shows it
        return {"id": 1, "subnet": "2001:db8:1::/64", "pools": [na], "pd-pools": [small]}
    return {"id": 1, "subnet": "2001:db8:1::/64", "pools": [{**na, "pool-id": 1}],
            "pd-pools": [{**small, "pool-id": 2}, {**big, "pool-id": 3}]}


def _source(path: Path, now: int) -> Path:
    blocks = []
    for i in range(PD_FULL + 5):
        if i < PD_FULL:
            kind, addr = "ia-pd", f"2001:db8:8000:{i:x}00::/56"
        else:
            kind, addr = "ia-na", f"2001:db8:1::{0x1000 + i:x}"
        blocks.append(ia_block(kind, i + 1, bytes([0, 3, 0, 1, 2, 0, 0, 0, i // 256, i % 256]),
                               addr, cltt=now - 600, ends=now + 3400, preferred=3000,
                               max_life=4000))
    path.write_text("authoring-byte-order little-endian;\n\n" + "".join(blocks))
    return path


@pytest.mark.parametrize("kea3", [False, pytest.param(True, marks=pytest.mark.kea3)],
                         ids=["kea2", "kea3"])
def test_v6_utilisation_shows_addresses_and_prefixes_apart(kea_factory: Any, tmp_path: Path,
                                                           kea3: bool) -> None:
    srv = kea_factory(family=6, kea3=kea3, subnets=[_subnet(kea3)])
    now = clock.now()
    as_of = datetime.fromtimestamp(now, UTC).isoformat()
    src = _source(tmp_path / "dhcpd6.leases", now)
    run = CliRunner().invoke(main, ["migrate", str(src), "--to", f"kea:{srv.socket_url}",
                                    "--as-of", as_of])
    assert run.exit_code == 0, run.output
    html, js = tmp_path / "r.html", tmp_path / "r.json"
    res = CliRunner().invoke(main, ["reconcile", str(src), "--kea", srv.socket_url, "--as-of",
                                    as_of, "--html", str(html), "--json", str(js)])
    assert res.exit_code == 0, res.output
    [sub] = json.loads(js.read_text())["subnets"]
    assert (sub["stat_assigned_nas"], sub["stat_total_nas"]) == (5, 61440)
    assert sub["stat_assigned_pds"] == PD_FULL
    page = html.read_text()
    assert "addresses used" in page and "prefixes used" in page
    assert "1 2001:db8:1::/64 NA" in page and "0.0% of 61440" in page
    if not kea3:
        assert sub["stat_total_pds"] == 256
        assert "1 2001:db8:1::/64 PD" in page and "71.1% of 256" in page
        if srv.version_tuple >= (2, 4):  # per-pool statistics from 2.4 (KEA_ETL_KEA2=2.6)
            pools = {(p["kind"], p["pool_id"]): p for p in sub["pools"]}
            assert (pools[("pd-pool", 0)]["assigned"], pools[("pd-pool", 0)]["total"]) == (
                PD_FULL, 256)
            assert (pools[("pool", 0)]["assigned"], pools[("pool", 0)]["total"]) == (5, 61440)
        else:
            assert sub["pools"] == [] and "keeps no per-pool statistics" in page
        return
    # two pd-pools: the subnet's PD figure (182 of 65792) hides the small pool; the pool rows don't
    assert sub["stat_total_pds"] == 256 + 65536 and "0.3% of 65792" in page
    pools = {(p["kind"], p["pool_id"]): p for p in sub["pools"]}
    assert (pools[("pd-pool", 2)]["assigned"], pools[("pd-pool", 2)]["total"]) == (PD_FULL, 256)
    assert pools[("pd-pool", 2)]["pools"] == "2001:db8:8000::/48 delegating /56"
    assert (pools[("pd-pool", 3)]["assigned"], pools[("pd-pool", 3)]["total"]) == (0, 65536)
    assert (pools[("pool", 1)]["assigned"], pools[("pool", 1)]["total"]) == (5, 61440)
    assert "1 pd-pool 2" in page and "71.1% of 256" in page
    assert "<td>delegated prefixes</td>" in page and "2001:db8:8000::/48 delegating /56" in page
