"""MemfileLoader: Kea's CSV format per version, escaping, atomic writes, conflicts taken out."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kea_etl.errors import ConfigError
from kea_etl.load.base import Loader
from kea_etl.load.memfile import (
    HEADER4_22,
    HEADER6_22,
    MemfileLoader,
    escape,
    format_lease4,
    format_lease6,
    headers_for,
)
from kea_etl.records import INFINITE_LIFETIME, Lease4, Lease6, Reservation
from kea_etl.report import RunReport
from kea_etl.transform.conflicts import Conflict
from kea_etl.transform.subnets import SubnetMap


def kea_unescape(text: str) -> str:
    """Kea's CSVRow::unescapeCharacters: every ``&#xHH`` becomes that byte."""
    raw = re.sub(rb"&#x([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]),
                 text.encode("ascii"))
    return raw.decode("utf-8")


def L4(i: int = 1, **kw: object) -> Lease4:
    base: dict[str, object] = {"address": f"192.0.2.{i}", "hwaddr": f"aa:bb:cc:dd:ee:{i:02x}",
                               "valid_lft": 3600, "cltt": 1_800_000_000, "subnet_id": 1}
    base.update(kw)
    return Lease4(**base)  # type: ignore[arg-type]


def test_headers_per_version() -> None:
    assert headers_for("2.2") == (HEADER4_22, HEADER6_22)
    for v in ("2.4", "2.6", "3.0", "2.6.3"):
        h4, h6 = headers_for(v)
        assert h4 == HEADER4_22 + ("pool_id",) and h6 == HEADER6_22 + ("pool_id",)
    for bad in ("1.8", "4.0", "x"):
        with pytest.raises(ConfigError):
            headers_for(bad)


def test_format_lease4_columns() -> None:
    lease = L4(7, client_id="01:aa:bb:cc:dd:ee:07", hostname="pc,7", fqdn_fwd=True,
               user_context={"a": 1, "b": "x,y"})
    line = format_lease4(lease)
    assert line.endswith("\n") and "\r" not in line
    cols = line[:-1].split(",")
    assert len(cols) == len(HEADER4_22)
    row = dict(zip(HEADER4_22, cols, strict=True))
    assert row == {"address": "192.0.2.7", "hwaddr": "aa:bb:cc:dd:ee:07",
                   "client_id": "01:aa:bb:cc:dd:ee:07", "valid_lifetime": "3600",
                   "expire": str(1_800_003_600), "subnet_id": "1", "fqdn_fwd": "1",
                   "fqdn_rev": "0", "hostname": "pc&#x2c7", "state": "0",
                   "user_context": '{"a":1&#x2c"b":"x&#x2cy"}'}
    assert json.loads(kea_unescape(row["user_context"])) == {"a": 1, "b": "x,y"}
    assert format_lease4(lease, pool_id=True).endswith(",0\n")


def test_format_lease4_infinite_and_declined() -> None:
    line = format_lease4(L4(3, valid_lft=INFINITE_LIFETIME, cltt=1000, hwaddr=None, state=1))
    cols = line.rstrip("\n").split(",")
    assert cols[1] == "" and cols[3] == "4294967295" and cols[4] == str(1000 + 4294967295)
    assert cols[9] == "1"


def test_format_lease6_na_pd() -> None:
    na = Lease6(address="2001:db8:1::5", duid="00:01:02", iaid=258, valid_lft=100, cltt=50,
                preferred_lft=40, subnet_id=3, hwaddr="aa:bb:cc:dd:ee:ff", hostname="h")
    row = dict(zip(HEADER6_22, format_lease6(na).rstrip("\n").split(","), strict=True))
    assert row == {"address": "2001:db8:1::5", "duid": "00:01:02", "valid_lifetime": "100",
                   "expire": "150", "subnet_id": "3", "pref_lifetime": "40", "lease_type": "0",
                   "iaid": "258", "prefix_len": "128", "fqdn_fwd": "0", "fqdn_rev": "0",
                   "hostname": "h", "hwaddr": "aa:bb:cc:dd:ee:ff", "state": "0",
                   "user_context": "", "hwtype": "1", "hwaddr_source": "0"}
    pd = Lease6(address="2001:db8:8000:100::", duid="00:01:02", iaid=1, valid_lft=100, cltt=50,
                lease_type="IA_PD", prefix_len=56)
    row = dict(zip(HEADER6_22 + ("pool_id",),
                   format_lease6(pd, pool_id=True).rstrip("\n").split(","), strict=True))
    assert (row["lease_type"], row["prefix_len"], row["hwaddr"], row["hwtype"],
            row["pool_id"]) == ("2", "56", "", "", "0")


@given(st.text(max_size=40))
def test_escape_round_trips_and_never_leaves_a_separator(text: str) -> None:
    escaped = escape(text)
    assert "," not in escaped and "\n" not in escaped and "\r" not in escaped
    assert escaped.isascii()
    assert kea_unescape(escaped) == text


def test_escape_examples() -> None:
    assert escape("a,b") == "a&#x2cb"
    assert escape("plain-host.example") == "plain-host.example"
    assert escape("R&D") == "R&#x26D"  # '&' itself, so a literal '&#x2c' survives Kea's unescape
    assert escape("é") == "&#xc3&#xa9"


def records() -> Iterator[Lease4 | Lease6 | Reservation]:
    yield L4(1)
    yield Lease6(address="2001:db8:1::5", duid="00:01:02", iaid=1, valid_lft=100, cltt=50,
                 subnet_id=1)
    yield L4(2, hostname="a,b")
    yield Reservation(family=4, identifier_type="hw-address", identifier="aa:aa:aa:aa:aa:aa",
                      subnet_id=1, ipv4_address="192.0.2.200", hostname="printer")  # type: ignore[arg-type]
    yield L4(3)


def test_writes_files_and_reservations(tmp_path: Path) -> None:
    subnets = SubnetMap.from_config({"Dhcp4": {"subnet4": [{"id": 1, "subnet": "192.0.2.0/24"}]}})
    out = tmp_path / "new" / "dir"
    loader = MemfileLoader(out, subnets=subnets)
    assert isinstance(loader, Loader)
    report = RunReport(read=5)
    loader.load(records(), report)
    assert report.loaded == 5
    result = loader.commit()
    v4 = (out / "kea-leases4.csv").read_bytes()
    assert v4.startswith(b"address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,"
                         b"fqdn_rev,hostname,state,user_context\n")
    assert b"\r" not in v4 and v4.count(b"\n") == 4 and b"a&#x2cb" in v4
    assert (out / "kea-leases6.csv").read_text().count("\n") == 2
    frag = json.loads((out / "reservations4.json").read_text())
    assert frag == {"Dhcp4": {"subnet4": [{"id": 1, "subnet": "192.0.2.0/24", "reservations": [
        {"hw-address": "aa:aa:aa:aa:aa:aa", "ip-address": "192.0.2.200", "hostname": "printer"}]}]}}
    assert result.files == {str(out / "kea-leases4.csv"): 3, str(out / "kea-leases6.csv"): 1,
                               str(out / "reservations4.json"): 1}
    assert sorted(p.name for p in out.iterdir()) == ["kea-etl-run.json", "kea-leases4.csv",
                                                     "kea-leases6.csv", "reservations4.json"
                                                     ]  # no temp files left; the set's manifest


def test_retract_drops_exactly_the_losing_rows(tmp_path: Path) -> None:
    loader = MemfileLoader(tmp_path, kea_version="3.0")
    report = RunReport(read=5)
    loader.load(records(), report)
    loser = Conflict("conflict", 4, 1, "192.0.2.2", "f", 9, "newer lease elsewhere")
    warning = Conflict("reserved-for-other", 4, 0, "192.0.2.1", "f", 1, "x", fails=False)
    loader.retract([loser, warning], report)
    loader.commit()
    lines = (tmp_path / "kea-leases4.csv").read_text().splitlines()
    assert lines[0].endswith(",pool_id")
    assert [ln.split(",")[0] for ln in lines[1:]] == ["192.0.2.1", "192.0.2.3"]
    assert (report.loaded, report.failed, report.conflicts) == (4, 1, 1)
    assert report.problems[0].reason == "conflict" and report.problems[0].line == 9
    assert report.balanced()
    with pytest.raises(ValueError, match="no row 7"):
        loader.retract([Conflict("conflict", 4, 7, "x", None, None, "")], report)


def test_crash_mid_write_leaves_no_file(tmp_path: Path) -> None:
    (tmp_path / "kea-leases6.csv").write_text("old content\n")

    def exploding() -> Iterator[Lease4 | Lease6]:
        for i in range(1, 200):
            yield L4(i)
            yield Lease6(address=f"2001:db8::{i:x}", duid="01:02", iaid=i, valid_lft=9, cltt=1)
            if i == 150:
                raise RuntimeError("disk on fire")

    loader = MemfileLoader(tmp_path)
    with pytest.raises(RuntimeError, match="disk on fire"):
        loader.load(exploding(), RunReport())
    loader.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kea-leases6.csv"]
    assert (tmp_path / "kea-leases6.csv").read_text() == "old content\n"  # untouched
    loader.abort()  # idempotent


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    loader = MemfileLoader(out, dry_run=True)
    report = RunReport(read=5)
    loader.load(records(), report)
    result = loader.commit()
    assert not out.exists()
    assert report.loaded == 5 and result.dry_run is True
    assert result.files[str(out / "kea-leases4.csv")] == 3


def test_unwritable_outdir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot create output directory"):
        MemfileLoader(blocker / "sub")


def test_v4_then_v6_hosts_into_one_outdir_keep_both_families(tmp_path: Path) -> None:
    """Two runs into one OUT (v4 hosts, then v6 hosts): neither family's reservations are lost
    (one shared reservations.json used to be replaced by the second run)."""
    from click.testing import CliRunner

    from kea_etl.cli import main

    sample = Path(__file__).resolve().parents[2] / "sample-data"
    out = tmp_path / "out"

    def migrate(conf: str, kea: str) -> dict[str, object]:
        res = CliRunner().invoke(main, ["migrate", f"isc-conf:{sample / conf}", "--to",
                                        f"memfile:{out}", "--kea-config", str(sample / kea),
                                        "--kea-version", "2.2", "--no-progress"])
        assert res.exit_code == 0, res.output
        return {p.name: json.loads(p.read_text()) for p in out.glob("reservations*.json")}

    first = migrate("dhcpd.conf", "kea-dhcp4.json")
    assert list(first) == ["reservations4.json"] and list(first["reservations4.json"]) == ["Dhcp4"]
    second = migrate("dhcpd6.conf", "kea-dhcp6.json")
    assert sorted(second) == ["reservations4.json", "reservations6.json"]
    assert second["reservations4.json"] == first["reservations4.json"]  # untouched
    assert list(second["reservations6.json"]) == ["Dhcp6"]
    hosts = [h for s in second["reservations6.json"]["Dhcp6"]["subnet6"]  # type: ignore[index]
             for h in s["reservations"]]
    assert hosts
