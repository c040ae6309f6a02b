"""Issue 13 item 4: memfile rows Kea would skip are failed, not counted loaded.

Kea skips a memfile row it cannot build a lease from (a client-id or DUID outside its version's
limits, no identifier at all) with only a log line. The writer applies the same rules
(:mod:`kea_etl.kea_limits`) and fails such a lease; the reader (``reconcile --against``) reads a
file as Kea does. Proven against a REAL Kea 2.2 and 3.0 with rows at each limit and one past it:
Kea loads exactly the rows kea-etl counted loaded, and the reader's good rows are exactly Kea's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kea_etl.cli import main
from kea_etl.errors import InvalidValueError
from kea_etl.extract import kea_memfile
from kea_etl.kea_limits import KEA_2_2, KEA_2_4
from kea_etl.load.memfile import MemfileLoader, format_lease4, format_lease6, headers_for
from kea_etl.records import Lease4, Lease6
from kea_etl.report import RunReport
from tests.harness import clock
from tests.harness.leasefile import lease_block

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample-data"
NOW = clock.now()
KEA = [False, pytest.param(True, marks=pytest.mark.kea3)]


def _hex(n: int, first: int = 1) -> str:
    return ":".join(f"{(first + i) % 256:02x}" for i in range(n))


def _subnets(family: int) -> list[dict[str, Any]]:
    from kea_etl.transform.subnets import load_kea_config

    return list(load_kea_config(SAMPLE / f"kea-dhcp{family}.json")[f"Dhcp{family}"]
                [f"subnet{family}"])


def _leases4() -> list[Lease4]:
    """Client-ids at and past both versions' limits, and the hwaddr / client-id combinations."""
    out = []
    for i, n in enumerate((1, 2, 3, 128, 129, 130, 254, 255)):
        out.append(Lease4(address=f"10.100.1.{10 + i}", hwaddr=f"00:11:22:33:44:{i:02x}",
                          client_id=_hex(n), valid_lft=86400, cltt=NOW - 100, subnet_id=2))
    out += [
        Lease4(address="10.100.1.40", hwaddr=_hex(20), valid_lft=86400, cltt=NOW - 100,
               subnet_id=2),                                         # hwaddr at its limit
        Lease4(address="10.100.1.41", hwaddr=None, client_id=_hex(7), valid_lft=86400,
               cltt=NOW - 100, subnet_id=2),                         # client-id only: loaded
        Lease4(address="10.100.1.42", hwaddr=None, valid_lft=86400, cltt=NOW - 100,
               subnet_id=2),                                         # neither: skipped
        Lease4(address="10.100.1.43", hwaddr=None, valid_lft=86400, cltt=NOW - 100,
               subnet_id=2, state=1),                                # neither, declined: loaded
    ]
    return out


def _leases6() -> list[Lease6]:
    out = []
    for i, duid in enumerate([_hex(1), _hex(2), _hex(3), _hex(128), _hex(129), _hex(130)]):
        out.append(Lease6(address=f"2001:db8:100::{0x1100 + i:x}", duid=duid, iaid=i,
                          valid_lft=86400, preferred_lft=43200, cltt=NOW - 100, subnet_id=1))
    for j, (duid, state) in enumerate((("00", 0), ("00", 1), ("00:00:00", 0), ("00:00:00", 1))):
        out.append(Lease6(address=f"2001:db8:100::{0x1200 + j:x}", duid=duid, iaid=50 + j,
                          valid_lft=86400, preferred_lft=43200, cltt=NOW - 100, subnet_id=1,
                          state=state))
    return out


def test_records_refuse_what_no_kea_accepts() -> None:
    with pytest.raises(InvalidValueError, match="outside 1..255"):
        Lease4(address="10.100.1.9", hwaddr=None, client_id=_hex(256), valid_lft=1, cltt=1)
    with pytest.raises(InvalidValueError, match="outside 1..130"):
        Lease6(address="2001:db8:1::9", duid=_hex(131), iaid=1, valid_lft=1, cltt=1)
    with pytest.raises(InvalidValueError, match="outside 1..20"):
        Lease4(address="10.100.1.9", hwaddr=_hex(21), valid_lft=1, cltt=1)


@pytest.mark.parametrize(("version", "rules", "bad4", "bad6"), [
    ("2.2", KEA_2_2, {1, 129, 130, 254, 255}, {129, 130}),
    ("3.0", KEA_2_4, {1}, {1, 2}),
])
def test_writer_fails_what_kea_skips(tmp_path: Path, version: str, rules: Any, bad4: set[int],
                                     bad6: set[int]) -> None:
    leases4 = _leases4()
    loader = MemfileLoader(tmp_path, kea_version=version)
    report = RunReport(read=len(leases4))
    loader.load(leases4, report)
    loader.commit()
    failed = {p.key for p in report.problems}
    want = {str(r.address) for r in leases4[:8] if (len(r.client_id or "") + 1) // 3 in bad4}
    assert failed == want | {"10.100.1.42"}
    assert report.balanced() and report.failed_reasons == {
        "Kea would skip the memfile row": len(failed)}
    p = next(p for p in report.problems if p.key == "10.100.1.10")
    assert p.detail is not None and f"client-id is 1 bytes; {rules.label} accepts 2.." in p.detail
    rows = (tmp_path / "kea-leases4.csv").read_text().splitlines()[1:]
    assert len(rows) == report.loaded


def _raw_file(path: Path, family: int, version: str, leases: list[Any]) -> Path:
    """Every lease as a row, unchecked: what a converter without the rules would write."""
    h4, h6 = headers_for(version)
    pool = version != "2.2"
    fmt = format_lease4 if family == 4 else format_lease6
    path.write_text(",".join(h4 if family == 4 else h6) + "\n"
                    + "".join(fmt(r, pool_id=pool) for r in leases))
    return path


def _kea_addresses(srv: Any) -> set[str]:
    r = srv.command(f"lease{srv.family}-get-all")
    if r["result"] == 3:
        return set()
    assert r["result"] == 0, r
    return {d["ip-address"] for d in r["arguments"]["leases"]}


@pytest.mark.kea
@pytest.mark.parametrize("kea3", KEA, ids=["kea2", "kea3"])
@pytest.mark.parametrize("family", [4, 6])
def test_real_kea_loads_exactly_what_was_counted(tmp_path: Path, kea_factory: Callable[..., Any],
                                                 family: int, kea3: bool) -> None:
    version = "3.0" if kea3 else "2.2"
    leases: list[Any] = _leases4() if family == 4 else _leases6()
    # the writer: Kea holds exactly the leases counted loaded
    out = tmp_path / "out"
    loader = MemfileLoader(out, kea_version=version)
    report = RunReport(read=len(leases))
    loader.load(leases, report)
    loader.commit()
    assert report.balanced() and report.failed, "the limits are not exercised"
    loaded = {str(r.address) for r in leases} - {p.key for p in report.problems}
    assert len(loaded) == report.loaded
    srv = kea_factory(family=family, kea3=kea3, lease_file=out / f"kea-leases{family}.csv",
                      subnets=_subnets(family))
    assert _kea_addresses(srv) == loaded, f"Kea {srv.version} and kea-etl disagree"
    srv.close()
    # the reader: on a file with every row, its good rows are exactly what Kea loads
    raw = _raw_file(tmp_path / f"raw{family}.csv", family, version, leases)
    items = list(kea_memfile.extract(raw))
    good = {str(i.record.address) for i in items if not isinstance(i, Exception)}
    assert good == loaded
    srv = kea_factory(family=family, kea3=kea3, lease_file=raw, subnets=_subnets(family))
    assert _kea_addresses(srv) == good, f"Kea {srv.version} read the raw file differently"


def _dhcpd_leases(path: Path, leases: list[Lease4]) -> Path:
    path.write_text("".join(
        lease_block(str(r.address), starts=NOW - 100, ends=NOW + 86300, cltt=NOW - 100,
                    mac=r.hwaddr or None, uid=r.client_id or None)
        for r in leases))
    return path


@pytest.mark.kea
@pytest.mark.parametrize("kea3", KEA, ids=["kea2", "kea3"])
def test_cli_migrate_and_reconcile_against_agree_with_kea(
        tmp_path: Path, kea_factory: Callable[..., Any], kea3: bool) -> None:
    """dhcpd.leases with uids at and past the limits -> migrate --to memfile -> real Kea, and
    reconcile --against the memfile: the failed leases are missing, never matched."""
    version = "3.0" if kea3 else "2.2"
    source = _dhcpd_leases(tmp_path / "dhcpd.leases",
                           [r for r in _leases4() if r.hwaddr is not None])
    out, rep = tmp_path / "out", tmp_path / "migrate.json"
    conf = SAMPLE / "kea-dhcp4.json"
    res = CliRunner().invoke(main, ["migrate", str(source), "--to", f"memfile:{out}",
                                    "--kea-config", str(conf), "--kea-version", version,
                                    "--as-of", clock.iso(), "--report", str(rep),
                                    "--no-progress"])
    assert res.exit_code == 1, res.output  # some records failed
    report = json.loads(rep.read_text())
    assert report["failed"] >= 1 and report["balanced"]
    srv = kea_factory(family=4, kea3=kea3, lease_file=out / "kea-leases4.csv",
                      subnets=_subnets(4))
    held = _kea_addresses(srv)
    assert len(held) == report["loaded"]
    recon = tmp_path / "r.json"
    res = CliRunner().invoke(main, ["reconcile", str(source), "--against", str(out),
                                    "--kea-config", str(conf), "--as-of", clock.iso(),
                                    "--json", str(recon)])
    assert res.exit_code in (0, 1), res.output
    data = json.loads(recon.read_text())
    assert data["matched"] == len(held) and data["kea"]["read"] == len(held), data
