"""A dhcpd.leases that dhcpd rewrites or appends to while kea-etl reads it (issue 13, item 1).

dhcpd changes its live lease file in two ways (server/db.c): it appends a block for every lease
change, and it rewrites the whole file at start-up and about hourly (``new_lease_file``: write
``dhcpd.leases.<n>``, link the old file to ``dhcpd.leases~``, rename the new one into place).
The two-pass reader must read one file: the same bytes in both passes (and in a migration's scan
and load). These tests make the race deterministic by changing the file *between* pass 1 and
pass 2 (or after pass 2's first chunk), with a real dhcpd where dhcpd can do it: its start-up
rewrite and its appends for real clients (perfdhcp in a network namespace).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kea_etl.errors import ConfigError
from kea_etl.extract import isc_leases, resolve_source
from kea_etl.extract.base import Extracted, SourceWarning
from kea_etl.extract.isc_leases import _parallel as _isc_parallel
from kea_etl.extract.isc_leases import extract
from tests.harness import clock
from tests.harness.dhcpd import Dhcpd, run_perfdhcp4
from tests.harness.leasefile import lease_block
from tests.harness.netns import NetnsPair

ROOT = Path(__file__).resolve().parents[2]
CHUNK = 256 << 10  # many chunks in a few MB
N = 12_000  # addresses; three blocks each (history), the last one active

CONF = """authoritative;
ping-check false;
default-lease-time 86400;
max-lease-time 86400;
subnet 10.98.0.0 netmask 255.255.0.0 {{
  range 10.98.1.0 {last};
}}
"""


def _ip(i: int) -> str:
    return f"10.98.{1 + i // 250}.{i % 250}"


def write_history(path: Path, n: int = N, rounds: tuple[int, ...] = (0, 1, 2)) -> None:
    """n addresses, each with two older blocks (another client) and a current active one
    (``rounds=(2,)``: only the current ones, as dhcpd's rewrite keeps them)."""
    now = clock.now()
    out = ["# The format of this file is documented in the dhcpd.leases(5) manual page.\n"
           "# This lease file was written by isc-dhcp-4.4.3-P1\n\nauthoring-byte-order little-endian;\n\n"]
    for rnd in rounds:
        starts, ends = now - 3000 + rnd * 1000, now + 86400 + rnd
        for i in range(n):
            mac = f"00:16:{rnd:02x}:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}"
            out.append(lease_block(_ip(i), starts=starts, ends=ends, cltt=starts,
                                   next_state="free", rewind_state="free", mac=mac,
                                   hostname=f"h{rnd}-{i}"))
    path.write_text("".join(out))


def records(items: list[Any]) -> dict[str, Any]:
    return {i.key: i.record for i in items if isinstance(i, Extracted)}


def notes(items: list[Any]) -> list[str]:
    return [str(i) for i in items if isinstance(i, SourceWarning)]


def rename_into_place(path: Path, text: str) -> None:
    """What dhcpd's new_lease_file does: write a new file, link the old one to NAME~, rename."""
    new = path.with_name(path.name + ".12345")
    new.write_text(text)
    backup = path.with_name(path.name + "~")
    backup.unlink(missing_ok=True)
    os.link(path, backup)
    new.rename(path)


def between_passes(monkeypatch: pytest.MonkeyPatch, action: Callable[[], None]) -> None:
    """Run action once, after pass 1 and before pass 2 reads anything (serial or parallel)."""
    real_run, real_par = isc_leases._Pass2.run, _isc_parallel.run_parallel
    done: list[bool] = []

    def once() -> None:
        if not done:
            done.append(True)
            action()

    def run(self: Any) -> Iterator[Any]:
        once()
        yield from real_run(self)

    def par(pass2: Any, layout: Any) -> Iterator[Any]:
        once()
        yield from real_par(pass2, layout)

    monkeypatch.setattr(isc_leases._Pass2, "run", run)
    monkeypatch.setattr(_isc_parallel, "run_parallel", par)


def after_first_chunk(monkeypatch: pytest.MonkeyPatch, action: Callable[[], None]) -> None:
    """Run action once, after pass 2 parsed its first chunk."""
    real = isc_leases._Pass2.chunk
    done: list[bool] = []

    def chunk(self: Any, *a: Any) -> Iterator[Any]:
        yield from real(self, *a)
        if not done:
            done.append(True)
            action()

    monkeypatch.setattr(isc_leases._Pass2, "chunk", chunk)


@pytest.fixture
def leases(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    path = tmp_path / "dhcpd.leases"
    write_history(path)
    expected = records(list(extract(path, chunk_size=CHUNK)))
    assert len(expected) == N
    assert all(r.hostname.startswith("h2-") for r in expected.values())
    return path, expected


# -- simulated exactly as dhcpd does it (no root needed) -------------------------------------------


@pytest.mark.parametrize("parallel", ["off", "force"])
def test_rename_into_place_between_passes_reads_the_old_file(
        leases: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, parallel: str) -> None:
    """dhcpd's rewrite (one block per address) lands between the passes: the leases are those
    of the file the read started on; before the fix pass 2 applied pass 1's winners to the new
    file and lost leases."""
    path, expected = leases
    monkeypatch.setattr(isc_leases._fastpath, "_parallel", parallel)
    monkeypatch.setattr(isc_leases, "PARALLEL_MIN_BYTES", 0)
    rewritten = path.with_name("compact.leases")
    write_history(rewritten, rounds=(2,))
    between_passes(monkeypatch, lambda: rename_into_place(path, rewritten.read_text()))
    items = list(extract(path, chunk_size=CHUNK))
    assert records(items) == expected
    assert any("replaced while it was read" in n for n in notes(items)), notes(items)


def test_rename_into_place_during_pass2(leases: tuple[Path, dict[str, Any]],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path, expected = leases
    monkeypatch.setattr(isc_leases._fastpath, "_parallel", "off")
    after_first_chunk(monkeypatch, lambda: rename_into_place(path, "authoring-byte-order little-endian;\n"))
    items = list(extract(path, chunk_size=CHUNK))
    assert records(items) == expected
    assert path.stat().st_size < 100  # the path names the new, empty file now


def test_append_between_passes_reads_the_snapshot(leases: tuple[Path, dict[str, Any]],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """dhcpd appends blocks while the file is read: before the fix pass 2 met more blocks than
    pass 1 had keys for (IndexError, a traceback)."""
    path, expected = leases
    monkeypatch.setattr(isc_leases._fastpath, "_parallel", "off")
    now = clock.now()
    more = "".join(lease_block(_ip(i), starts=now, ends=now + 9, state="free") for i in range(50))

    def append() -> None:
        with path.open("a") as fh:
            fh.write(more + "lease 10.98.1.1 {\n  starts ")  # and a block being written
    between_passes(monkeypatch, append)
    items = list(extract(path, chunk_size=CHUNK))
    assert records(items) == expected
    assert any("grew while it was read" in n for n in notes(items)), notes(items)


def test_block_being_written_at_open_is_read_whole(tmp_path: Path) -> None:
    """The file ends mid-block when it is opened; dhcpd completes the block before pass 1 gets
    there: the snapshot takes the block whole instead of reporting it torn."""
    path = tmp_path / "dhcpd.leases"
    write_history(path, n=100)
    whole = path.read_text()
    cut = len(whole) - 40
    path.write_text(whole[:cut])
    snap = isc_leases.Snapshot(path)
    with path.open("a") as fh:
        fh.write(whole[cut:])
    items = list(extract(path, snapshot=snap))
    snap.close()
    assert len(records(items)) == 100
    assert not [i for i in items if not isinstance(i, Extracted | SourceWarning)]


@pytest.mark.parametrize("how", ["overwrite", "truncate"])
def test_file_changed_in_place_is_refused_before_pass2(
        leases: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """Not dhcpd's doing (an editor, a cp onto the live file): one clear line, nothing yielded."""
    path, _ = leases
    monkeypatch.setattr(isc_leases._fastpath, "_parallel", "off")

    def change() -> None:
        with path.open("r+b") as fh:
            if how == "truncate":
                fh.truncate(path.stat().st_size // 2)
            else:
                fh.seek(1000)
                fh.write(b"X")
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    between_passes(monkeypatch, change)
    got: list[Any] = []
    with pytest.raises(ConfigError, match="changed in place while it was read") as err:
        got.extend(extract(path, chunk_size=CHUNK))
    assert got == []
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_overwrite_during_pass2_is_refused(leases: tuple[Path, dict[str, Any]],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = leases
    monkeypatch.setattr(isc_leases._fastpath, "_parallel", "off")

    def change() -> None:
        with path.open("r+b") as fh:
            fh.seek(path.stat().st_size - 100)
            fh.write(b"Y")
    after_first_chunk(monkeypatch, change)
    with pytest.raises(ConfigError, match="differ between the two passes"):
        list(extract(path, chunk_size=CHUNK))


def test_cli_refuses_a_file_changed_in_place_with_one_line(tmp_path: Path) -> None:
    """Through the command line: exit 2, one line on stderr, no traceback."""
    path = tmp_path / "dhcpd.leases"
    write_history(path, n=2000)
    kea = tmp_path / "kea.json"
    kea.write_text('{"Dhcp4": {"subnet4": [{"id": 1, "subnet": "10.98.0.0/16"}]}}')
    script = f"""
import os, sys
from kea_etl.extract import isc_leases
real = isc_leases._Pass2.run
def run(self):
    with open({str(path)!r}, "r+b") as fh:
        fh.seek(500); fh.write(b"Z")
    st = os.stat({str(path)!r})
    os.utime({str(path)!r}, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    yield from real(self)
isc_leases._Pass2.run = run
os.environ["KEA_ETL_PARALLEL"] = "0"
from kea_etl.cli import main
sys.argv = ["kea-etl", "migrate", "isc-leases:{path}", "--to", "memfile:{tmp_path / 'out'}",
            "--kea-config", "{kea}", "--kea-version", "2.2", "--as-of", "{clock.iso()}"]
main()
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "changed in place while it was read" in lines[0], proc.stderr
    assert not (tmp_path / "out" / "kea-leases4.csv").exists()


def test_source_scan_and_load_read_the_same_file(leases: tuple[Path, dict[str, Any]]) -> None:
    """A live / SQL migration reads its source twice (conflict scan, then load): both reads are
    of the file as it was at the first; a rewrite in between does not renumber the records."""
    path, expected = leases
    source = resolve_source(str(path))
    first = list(source.open())
    rename_into_place(path, "authoring-byte-order little-endian;\n")
    second = list(source.open())
    assert records(first) == records(second) == expected


def test_second_read_reuses_pass1_while_the_file_is_unchanged(
        leases: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    """The load pass does not index the file again when nothing wrote it since the scan."""
    path, expected = leases
    calls: list[int] = []
    real = isc_leases._pass1
    monkeypatch.setattr(isc_leases, "_pass1", lambda *a: calls.append(1) or real(*a))
    source = resolve_source(str(path))
    first = list(source.open())
    second = list(source.open())
    assert calls == [1]
    assert records(first) == records(second) == expected


def test_second_read_after_a_change_in_place_is_refused_before_a_record(
        leases: tuple[Path, dict[str, Any]]) -> None:
    """Written between the scan and the load: the load's own pass 1 runs (the kept one is not
    trusted) and refuses the file before it yields anything, not half-way through the load."""
    path, expected = leases
    source = resolve_source(str(path))
    assert records(list(source.open())) == expected
    with path.open("r+b") as fh:
        fh.seek(path.stat().st_size - 100)
        fh.write(b"Y")
    st = path.stat()  # a later mtime, whatever the file system's timestamp granularity
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    got: list[Any] = []
    with pytest.raises(ConfigError, match="bytes read differ from those of the first read"):
        got.extend(source.open())
    assert got == []


# -- a real dhcpd ------------------------------------------------------------------------------------


def _dhcpd(net: NetnsPair, path: Path, n: int) -> Dhcpd:
    return Dhcpd(net, path, conf_text=CONF.format(last=_ip(n + 200)), workdir=path.parent)


@pytest.mark.netns
def test_real_dhcpd_rewrite_between_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """dhcpd starts on the file kea-etl is reading and rewrites it (its start-up rewrite: one
    block per address, free addresses of the range included), between pass 1 and pass 2."""
    path = tmp_path / "dhcpd.leases"
    write_history(path)
    expected = records(list(extract(path, chunk_size=CHUNK)))
    monkeypatch.setattr(isc_leases._fastpath, "_parallel", "off")
    inode = path.stat().st_ino
    with NetnsPair(srv_v4="10.98.0.1/16", cli_v4="10.98.0.2/16", srv_v6=None, cli_v6=None,
                   tag="live") as net:
        dhcpd = _dhcpd(net, path, N)

        def rewrite() -> None:
            dhcpd.start(timeout=60)
            dhcpd.stop()
        between_passes(monkeypatch, rewrite)
        items = list(extract(path, chunk_size=CHUNK))
    assert path.stat().st_ino != inode, "dhcpd did not rewrite the file"
    assert (tmp_path / "dhcpd.leases~").stat().st_ino == inode  # dhcpd kept the old one as ~
    assert records(items) == expected
    assert any("replaced while it was read" in n for n in notes(items)), notes(items)
    # and dhcpd's rewrite itself holds the same current leases (what a re-run reads)
    again = {k: r for k, r in records(list(extract(path))).items() if r.hostname}
    assert {k: r.hwaddr for k, r in again.items()} == {k: r.hwaddr for k, r in expected.items()}


@pytest.mark.netns
def test_real_dhcpd_appends_while_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A running dhcpd hands out leases to real clients (perfdhcp) between the passes, appending
    to the file kea-etl reads: the read is exactly the file as it was when it started."""
    path = tmp_path / "dhcpd.leases"
    write_history(path, n=3000)
    monkeypatch.setattr(isc_leases._fastpath, "_parallel", "off")
    with NetnsPair(srv_v4="10.98.0.1/16", cli_v4="10.98.0.2/16", srv_v6=None, cli_v6=None,
                   tag="app") as net:
        dhcpd = _dhcpd(net, path, 3000).start(timeout=60)
        try:
            snap = isc_leases.Snapshot(path)
            copy = tmp_path / "copy.leases"
            state: dict[str, int] = {}

            def clients() -> None:
                assert snap.end is not None
                with path.open("rb") as fh:
                    copy.write_bytes(fh.read(snap.end))
                state["inode"], state["size"] = path.stat().st_ino, path.stat().st_size
                run_perfdhcp4(net, clients=40, base_mac="00:0c:02:00:00:00", rate=200)
            between_passes(monkeypatch, clients)
            items = list(extract(path, chunk_size=64 << 10, snapshot=snap))
            snap.close()
        finally:
            dhcpd.stop()
    assert path.stat().st_ino == state["inode"]
    grown = path.stat().st_size - state["size"]
    assert grown > 40 * 100, "dhcpd did not append"
    assert records(items) == records(list(extract(copy)))
    assert any("grew while it was read" in n for n in notes(items)), notes(items)


def test_failover_pair_reads_each_file_once(tmp_path: Path) -> None:
    """A failover source reads the first peer's file twice (its key pass and its yield pass):
    dhcpd rewriting it in between must not change what the second read sees."""
    from kea_etl.extract.failover import FailoverSource

    first, second = tmp_path / "a.leases", tmp_path / "b.leases"
    write_history(first, n=300)
    now = clock.now()
    second.write_text("".join(
        lease_block(f"10.97.0.{i}", starts=now - 60, ends=now + 600, mac=f"00:17:00:00:00:{i:02x}")
        for i in range(1, 40)))
    expected = records(list(FailoverSource(first, second).open()))
    assert len(expected) == 300 + 39
    got: list[Any] = []
    for item in FailoverSource(first, second).open():
        if not got:  # the second peer's first record: the first file was read once already
            rename_into_place(first, "authoring-byte-order little-endian;\n")
        got.append(item)
    assert records(got) == expected
