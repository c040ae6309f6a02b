"""migrate(): the whole offline pipeline (real extractors, policy, conflicts, memfile) and its CLI."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kea_etl.cli import main
from kea_etl.errors import ConfigError
from kea_etl.extract import Source, resolve_source
from kea_etl.extract.base import ExtractItem
from kea_etl.load.memfile import MemfileLoader
from kea_etl.load.targets import make_loader, register_target
from kea_etl.migration import migrate
from kea_etl.progress import Progress
from kea_etl.records import Lease4, Lease6, Reservation
from kea_etl.report import RunReport
from kea_etl.transform.conflicts import Conflict
from kea_etl.transform.subnets import SubnetMap
from tests.harness.clock import ANCHOR, iso
from tests.harness.leasefile import lease_block

# the blocks below are dated around ANCHOR, the moment the runs take as now
AS_OF = iso(ANCHOR)
KEA4 = {"Dhcp4": {"subnet4": [{"id": 1, "subnet": "192.0.2.0/24"},
                              {"id": 2, "subnet": "198.51.100.0/24"}]}}


def block(addr: str, *, state: str = "active", mac: str = "00:11:22:33:44:55",
          ends: int = ANCHOR + 7200, cltt: int = ANCHOR - 3600, hostname: str | None = None) -> str:
    return lease_block(addr, starts=cltt, ends=ends, cltt=cltt, state=state, next_state="free",
                       mac=mac, hostname=hostname)


def write_leases(path: Path, *blocks: str, tail: str = "") -> Path:
    path.write_text("# The format of this file is documented in the dhcpd.leases(5) manual page.\n"
                    "# This lease file was written by isc-dhcp-4.4.3-P1\n\n"
                    "authoring-byte-order little-endian;\n\n" + "".join(blocks) + tail)
    return path


@pytest.fixture
def kea4(tmp_path: Path) -> Path:
    p = tmp_path / "kea-dhcp4.json"
    p.write_text("// target\n" + json.dumps(KEA4))
    return p


@pytest.fixture
def leases(tmp_path: Path) -> Path:
    return write_leases(
        tmp_path / "dhcpd.leases",
        block("192.0.2.10", mac="00:00:00:00:00:01", hostname="a,b"),
        block("192.0.2.11", state="free", mac="00:00:00:00:00:02"),
        block("192.0.2.12", mac="00:00:00:00:00:03", ends=ANCHOR - 1800),  # expired
        block("192.0.2.13", state="abandoned", mac="00:00:00:00:00:04"),
        block("203.0.113.9", mac="00:00:00:00:00:05"),  # no subnet
        block("198.51.100.20", mac="00:00:00:00:00:06"),
        tail="lease 192.0.2.99 {\n  starts 5 2026/11/27 20:00:00;\n",  # copy cut mid-block
    )


def test_migrate_counts_every_record(tmp_path: Path, kea4: Path, leases: Path) -> None:
    subnets = SubnetMap.from_files([kea4])
    out = tmp_path / "out"
    ticks: list[Progress] = []
    report = migrate([str(leases)], MemfileLoader(out, subnets=subnets), subnets=subnets,
                     as_of=AS_OF, progress=ticks.append, progress_every=2)
    assert (report.read, report.loaded, report.failed) == (7, 2, 2), report.problems
    assert dict(report.skipped) == {"free": 1, "expired": 1, "abandoned": 1}
    assert report.balanced()
    bad = [p for p in report.problems if p.kind == "failed"]
    # an active lease the target has no subnet for is a failure, not a policy skip (issue 11)
    assert [(p.reason, p.key, p.source) for p in bad] == [
        ("no-subnet", "203.0.113.9", str(leases)), ("malformed", "192.0.2.99", str(leases))]
    assert bad[1].line is not None
    assert dict(report.unmapped) == {"203.0.113.0/24": 1}
    rows = (out / "kea-leases4.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["192.0.2.10", "198.51.100.20"]
    assert rows[1].split(",")[5] == "1" and rows[2].split(",")[5] == "2"  # subnet ids from Kea
    assert "a&#x2cb" in rows[1]
    # typed events: bytes of the file, done/total, counts (tests/test_progress_pty.py draws them)
    size = leases.stat().st_size
    assert ticks[-1] == Progress(task="migrate", phase="done", done=size, total=size, unit="B",
                                 counts=(("read", 7), ("loaded", 2), ("already present", 0),
                                         ("skipped", 3), ("failed", 2)))
    assert ticks[0].phase == "loading" and ticks[0].done == 0
    assert any(t.phase == "loading" and dict(t.counts)["read"] == 2 for t in ticks)
    done = [t.done for t in ticks if t.phase == "loading"]
    assert done == sorted(done) and 0 < done[2] < size
    assert report.as_of == AS_OF and report.target == f"memfile:{out}"


def test_abandoned_declined_and_as_of(tmp_path: Path, kea4: Path, leases: Path) -> None:
    subnets = SubnetMap.from_files([kea4])
    report = migrate([str(leases)], MemfileLoader(tmp_path / "o", subnets=subnets),
                     subnets=subnets, as_of="2026-11-27T20:10:00Z", abandoned="declined")
    assert report.loaded == 4 and "expired" not in report.skipped
    rows = (tmp_path / "o" / "kea-leases4.csv").read_text().splitlines()
    states = {r.split(",")[0]: r.split(",")[9] for r in rows[1:]}
    assert states["192.0.2.13"] == "1"


def test_conflict_newest_loaded_other_failed(tmp_path: Path, kea4: Path) -> None:
    src = write_leases(
        tmp_path / "dhcpd.leases",
        block("192.0.2.20", mac="00:00:00:00:00:0a", cltt=ANCHOR - 600),
        block("192.0.2.21", mac="00:00:00:00:00:0a", cltt=ANCHOR - 3000),
        block("192.0.2.22", mac="00:00:00:00:00:0b"),
    )
    subnets = SubnetMap.from_files([kea4])
    report = migrate([str(src)], MemfileLoader(tmp_path / "o"), subnets=subnets, as_of=AS_OF)
    assert (report.loaded, report.failed, report.conflicts) == (2, 1, 1)
    [problem] = [p for p in report.problems if p.kind == "conflict"]
    assert problem.reason == "conflict" and problem.key == "192.0.2.21"
    assert "192.0.2.20" in str(problem.detail)
    rows = (tmp_path / "o" / "kea-leases4.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["192.0.2.20", "192.0.2.22"]


@dataclass
class RecordingLoader:
    """A loader that cannot take records back (like a live API loader)."""

    name: str = "recording"
    can_retract: bool = False
    got: list[Any] = field(default_factory=list)
    committed: bool = False
    aborted: bool = False

    def load(self, records: Iterable[Lease4 | Lease6 | Reservation], report: RunReport) -> None:
        for r in records:
            self.got.append(r)
            report.count_loaded()

    def retract(self, conflicts: Sequence[Conflict], report: RunReport) -> None:
        assert not conflicts

    def commit(self) -> dict[str, Any]:
        self.committed = True
        return {"files": {}}

    def abort(self) -> None:
        self.aborted = True


def test_non_retracting_loader_gets_a_prepass(tmp_path: Path, kea4: Path) -> None:
    src = write_leases(
        tmp_path / "dhcpd.leases",
        block("192.0.2.20", mac="00:00:00:00:00:0a", cltt=ANCHOR - 3000),  # loses
        block("192.0.2.21", mac="00:00:00:00:00:0a", cltt=ANCHOR - 600),
    )
    loader = RecordingLoader()
    report = migrate([str(src)], loader, subnets=SubnetMap.from_files([kea4]), as_of=AS_OF)
    assert [str(r.address) for r in loader.got] == ["192.0.2.21"]
    assert (report.read, report.loaded, report.failed, report.conflicts) == (2, 1, 1, 1)
    assert loader.committed and not loader.aborted


def test_the_conflict_prepass_reports_progress_as_it_reads(tmp_path: Path, kea4: Path) -> None:
    """A big file's pre-pass (decided a batch at a time, in columns) moves the bar as it reads,
    not only at its start and end."""
    addrs = ([f"192.0.2.{i}" for i in range(1, 251)] + [f"198.51.100.{i}" for i in range(1, 251)]
             + [f"10.0.{i >> 8}.{i & 255}" for i in range(1500)])  # the last ones: no subnet
    src = write_leases(tmp_path / "dhcpd.leases", *(
        block(a, mac=f"00:00:00:00:{i >> 8:02x}:{i & 255:02x}") for i, a in enumerate(addrs)))
    ticks: list[Progress] = []
    report = migrate([str(src)], RecordingLoader(), subnets=SubnetMap.from_files([kea4]),
                     as_of=AS_OF, progress=ticks.append, progress_every=100, allow_unmapped=True)
    assert (report.read, report.loaded) == (2000, 500)
    scan = [t for t in ticks if t.phase == "checking conflicts"]
    read = [dict(t.counts)["read"] for t in scan]
    assert read == sorted(read) and any(0 < r < 2000 for r in read), read
    done = [t.done for t in scan]
    assert done == sorted(done) and any(0 < d < src.stat().st_size for d in done), done


class ExplodingSource(Source):
    def open(self) -> Iterator[ExtractItem]:
        for i, item in enumerate(Source.open(self)):
            if i == 2:
                raise OSError("source vanished")
            yield item


def test_failure_mid_run_leaves_no_file(tmp_path: Path, kea4: Path) -> None:
    src = write_leases(tmp_path / "dhcpd.leases",
                       *(block(f"192.0.2.{i}", mac=f"00:00:00:00:00:{i:02x}") for i in range(1, 6)))
    out = tmp_path / "out"
    out.mkdir()
    source = ExplodingSource(str(src), "isc-leases", str(src))
    before = gc.get_threshold()
    with pytest.raises(OSError, match="source vanished"):
        migrate([source], MemfileLoader(out), subnets=SubnetMap.from_files([kea4]), as_of=AS_OF)
    assert list(out.iterdir()) == []
    assert gc.get_threshold() == before  # the run's own collector setting is undone


def test_the_collector_setting_is_the_callers_again_after_a_run(tmp_path: Path, kea4: Path,
                                                                 leases: Path) -> None:
    """migrate() collects young objects less often while it runs (records by the hundred
    thousand, no cycles) and gives the process its own setting back."""
    seen: list[tuple[int, ...]] = []

    class Watching(RecordingLoader):
        def load(self, items: Iterable[Any], report: RunReport) -> None:
            seen.append(gc.get_threshold())
            super().load(items, report)

    before = gc.get_threshold()
    migrate([str(leases)], Watching(), subnets=SubnetMap.from_files([kea4]), as_of=AS_OF)
    assert seen and seen[0][0] >= 10_000 and seen[0][1:] == before[1:]
    assert gc.get_threshold() == before


def test_source_resolution(tmp_path: Path, leases: Path, kea4: Path) -> None:
    assert resolve_source(str(leases)).format == "isc-leases"
    assert resolve_source(f"isc-leases:{leases}").location == str(leases)
    assert resolve_source("postgresql://u@h/db", query="select 1").format == "sql"
    memfile = tmp_path / "kea-leases4.csv"
    memfile.write_text("address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,"
                       "fqdn_rev,hostname,state,user_context\n")
    assert resolve_source(str(memfile)).format == "kea-memfile"
    with pytest.raises(ConfigError, match="file not found"):
        resolve_source(str(tmp_path / "nope"))
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01binary")
    with pytest.raises(ConfigError, match="cannot tell its format"):
        resolve_source(str(junk))
    with pytest.raises(ConfigError, match="needs --query"):
        resolve_source("sqlite:///x.db").open()


def test_targets() -> None:
    with pytest.raises(ConfigError, match="unknown target; use one of .*memfile:"):
        make_loader("ftp:x", subnets=None)
    with pytest.raises(ConfigError, match="do not apply"):
        make_loader("memfile:/tmp/x", subnets=None, workers=4)
    register_target("test-recording", lambda location, *, subnets, **o: RecordingLoader(location))
    loader = make_loader("test-recording:abc", subnets=None, dry_run=None)
    assert isinstance(loader, RecordingLoader) and loader.name == "abc"


# ---- the command line -----------------------------------------------------------------------

def run(*args: str) -> Any:
    return CliRunner().invoke(main, ["migrate", *args], catch_exceptions=False)


def test_cli_migrate_report_and_exit_1(tmp_path: Path, kea4: Path, leases: Path) -> None:
    out, rep = tmp_path / "out", tmp_path / "report.json"
    res = run(str(leases), "--to", f"memfile:{out}", "--kea-config", str(kea4),
              "--as-of", AS_OF, "--report", str(rep))
    assert res.exit_code == 1, res.output  # the truncated block and 203.0.113.9 failed
    assert "7 read, 2 loaded, 3 skipped, 2 failed" in res.output
    assert "failed: malformed 1, no-subnet 1" in res.output and str(rep) in res.output
    assert "    203.0.113.0/24: 1\n" in res.output
    data = json.loads(rep.read_text())
    assert (data["read"], data["loaded"], data["failed"]) == (7, 2, 2)
    assert data["skipped"] == {"abandoned": 1, "expired": 1, "free": 1}
    assert data["unmapped"] == {"203.0.113.0/24": 1}
    assert {"source", "line", "key", "reason"} <= set(data["problems"][0])
    assert (out / "kea-leases4.csv").exists()


def test_cli_exit_0_and_dry_run(tmp_path: Path, kea4: Path) -> None:
    src = write_leases(tmp_path / "dhcpd.leases", block("192.0.2.10"))
    out, rep = tmp_path / "out", tmp_path / "r.json"
    res = run(str(src), "--to", f"memfile:{out}", "--kea-config", str(kea4), "--as-of", AS_OF,
              "--report", str(rep), "--dry-run")
    assert res.exit_code == 0, res.output
    assert "DRY RUN: nothing was written except the report." in res.output
    assert "would write" in res.output
    assert not out.exists() and json.loads(rep.read_text())["loaded"] == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--to", "memfile:OUT"], "--kea-config is required for --to memfile:"),
    (["--to", "nope:x", "--kea-config", "KEA"], "unknown target"),
    (["--to", "memfile:OUT", "--kea-config", "KEA", "--as-of", "2026-11-27 21:00"],
     "no UTC offset"),
    (["--to", "memfile:OUT", "--kea-config", "MISSING"], "cannot read Kea config"),
])
def test_cli_usage_errors_exit_2(tmp_path: Path, kea4: Path, leases: Path, args: list[str],
                                 message: str) -> None:
    subst = {"OUT": str(tmp_path / "o"), "KEA": str(kea4), "MISSING": str(tmp_path / "x.json")}
    real = [a.replace("OUT", subst["OUT"]) if "OUT" in a else subst.get(a, a) for a in args]
    res = CliRunner().invoke(main, ["migrate", str(leases), *real])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output


def test_cli_unknown_source_format(tmp_path: Path, kea4: Path) -> None:
    junk = tmp_path / "junk.txt"
    junk.write_text("hello\n")
    res = CliRunner().invoke(main, ["migrate", str(junk), "--to", f"memfile:{tmp_path}/o",
                                    "--kea-config", str(kea4)])
    assert res.exit_code == 2
    assert f"Error: source {junk}: cannot tell its format from its content" in res.output


def test_hosts_and_reserved_for_other(tmp_path: Path, kea4: Path) -> None:
    conf = tmp_path / "dhcpd.conf"
    conf.write_text("subnet 192.0.2.0 netmask 255.255.255.0 {\n"
                    "  host printer { hardware ethernet 00:00:00:00:00:aa; "
                    "fixed-address 192.0.2.50; option host-name \"printer\"; }\n}\n")
    src = write_leases(tmp_path / "dhcpd.leases",
                       block("192.0.2.50", mac="00:00:00:00:00:bb"))  # someone else holds it
    out = tmp_path / "out"
    res = run(f"isc-conf:{conf}", str(src), "--to", f"memfile:{out}", "--kea-config", str(kea4),
              "--as-of", AS_OF, "--report", str(tmp_path / "r.json"))
    assert res.exit_code == 0, res.output
    assert "2 read, 2 loaded" in res.output
    assert "warnings (loaded anyway): reserved-for-other 1" in res.output
    data = json.loads((tmp_path / "r.json").read_text())
    [warning] = [p for p in data["problems"] if p["kind"] == "warning"]
    assert warning["key"] == "192.0.2.50" and "hw-address 00:00:00:00:00:aa" in warning["detail"]
    fragment = json.loads((out / "reservations4.json").read_text())
    hosts = fragment["Dhcp4"]["subnet4"][0]["reservations"]
    assert hosts == [{"hw-address": "00:00:00:00:00:aa", "ip-address": "192.0.2.50",
                      "hostname": "printer"}]


def test_cli_progress_bar_forced(tmp_path: Path, kea4: Path) -> None:
    src = write_leases(tmp_path / "dhcpd.leases",
                       *(block(f"192.0.2.{i}", mac=f"00:00:00:00:01:{i:02x}") for i in range(1, 40)))
    res = run(str(src), "--to", f"memfile:{tmp_path}/o", "--kea-config", str(kea4), "--as-of", AS_OF,
              "--progress")
    assert res.exit_code == 0, res.output
    assert "39 read, 39 loaded, 0 skipped, 0 failed" in res.output


def test_family_moves_one_family_of_a_dual_stack_source(tmp_path: Path) -> None:
    """A source holding both families (dnsmasq.leases here; a Windows export, a Control Agent's
    kea:URL) into a DHCPv4-only target: without --family the run stops before anything is
    written and names the option; with --family 4 the v6 lease is counted skipped
    (other-family) and the v4 one loaded."""
    from tests.harness import clock

    end = clock.now() + 3600
    src = tmp_path / "dnsmasq.leases"
    src.write_text(f"{end} 00:0c:0e:00:01:04 10.99.0.53 laptop *\n"
                   "duid 00:01:00:01:32:a5:b1:6c:12:46:0c:fb:61:20\n"
                   f"{end} 1 2001:db8:100::50 v6-host 00:01:00:01:00:00:00:00:00:0c:0e:06:00:09\n")
    conf = str(Path(__file__).resolve().parents[1] / "sample-data" / "kea-dnsmasq4.json")
    args = ["migrate", f"dnsmasq:{src}", "--kea-config", conf, "--kea-version", "2.2",
            "--no-progress"]
    r = CliRunner().invoke(main, [*args, "--to", f"memfile:{tmp_path / 'a'}"])
    assert r.exit_code == 2 and "--family 4" in r.output, r.output
    assert not (tmp_path / "a" / "kea-leases4.csv").exists()
    r = CliRunner().invoke(main, [*args, "--to", f"memfile:{tmp_path / 'b'}", "--family", "4",
                                  "--report", str(tmp_path / "r.json")])
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["read"], report["loaded"], report["skipped"]) == (2, 1, {"other-family": 1})
    assert "10.99.0.53" in (tmp_path / "b" / "kea-leases4.csv").read_text()
