"""The memfile target writes the format of the Kea that will read it (issue 11 part 4).

The version comes from --kea-version or the local ``kea-dhcp4 -V`` / ``kea-dhcp6 -V``; with
neither the run stops (exit 2) instead of guessing. Proven on real servers: Kea 2.2 (host
packages, found by ``kea-dhcp4 -V``) and Kea 3.0 (the rootfs; its own ``kea-dhcp4 -V`` through
chroot, and --kea-version 3.0) load exactly the migrated leases, hold exactly them after a
restart, and leave no ``.2`` / ``.1`` / ``.completed`` file (what a Kea converting a file of
another version's format leaves behind, and reads first on its next start).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kea_etl.cli import main
from kea_etl.load import memfile
from kea_etl.records import from_epoch
from tests.harness import clock
from tests.harness.leasefile import ia_block, lease_block

V4 = [f"192.0.2.{i}" for i in range(10, 22)]
V6 = [f"2001:db8:1::{0x1000 + i:x}" for i in range(1, 7)]


def _sources(tmp: Path, now: int) -> tuple[Path, Path]:
    starts, ends = now - 600, now + 7 * 86400
    v4 = "".join(lease_block(ip, starts=starts, ends=ends, cltt=starts,
                             mac=f"02:00:00:00:01:{i:02x}")
                 for i, ip in enumerate(V4))
    v6 = "authoring-byte-order little-endian;\n"
    for i, ip in enumerate(V6):
        v6 += ia_block("ia-na", i + 1, bytes.fromhex(f"00030001020000000a{i:02x}"), ip,
                       cltt=starts, ends=ends, preferred=1800, max_life=604800)
    (tmp / "dhcpd.leases").write_text(v4)
    (tmp / "dhcpd6.leases").write_text(v6)
    (tmp / "kea4.json").write_text('{"Dhcp4": {"subnet4": [{"id": 1, "subnet": "192.0.2.0/24", '
                                   '"pools": [{"pool": "192.0.2.10-192.0.2.250"}]}]}}')
    (tmp / "kea6.json").write_text('{"Dhcp6": {"subnet6": [{"id": 1, "subnet": '
                                   '"2001:db8:1::/64", "pools": [{"pool": '
                                   '"2001:db8:1::1000 - 2001:db8:1::ffff"}]}]}}')
    return tmp / "dhcpd.leases", tmp / "dhcpd6.leases"


def _migrate(tmp: Path, *extra: str) -> tuple[int, str]:
    now = clock.now()
    p4, p6 = _sources(tmp, now)
    res = CliRunner().invoke(main, ["migrate", str(p4), str(p6), "--to", f"memfile:{tmp / 'out'}",
                                    "--kea-config", str(tmp / "kea4.json"), "--kea-config",
                                    str(tmp / "kea6.json"), "--no-progress", "--as-of",
                                    from_epoch(now).strftime("%Y-%m-%dT%H:%M:%SZ"), *extra])
    return res.exit_code, res.output


def _fake_daemons(tmp: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    names = []
    for d in ("kea-dhcp4", "kea-dhcp6"):
        script = tmp / f"fake-{d}"
        script.write_text(f"#!/bin/sh\n{body.replace('DAEMON', d)}\n")
        script.chmod(0o755)
        names.append(str(script))
    monkeypatch.setattr(memfile, "LOCAL_DAEMONS", tuple(names))


def test_no_version_and_no_local_kea_is_a_usage_error(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """No silent default: before, the 2.2 format was written whatever would read it."""
    monkeypatch.setattr(memfile, "LOCAL_DAEMONS", (str(tmp_path / "no-kea-dhcp4"),
                                                   str(tmp_path / "no-kea-dhcp6")))
    code, out = _migrate(tmp_path)
    assert code == 2, out
    assert "cannot tell which Kea will read the memfile" in out and "--kea-version X.Y" in out
    assert not (tmp_path / "out" / "kea-leases4.csv").exists()
    code, out = _migrate(tmp_path, "--kea-version", "4.1")
    assert code == 2 and "kea-etl writes memfiles for Kea 2.2 to 3.x" in out


def test_local_daemons_that_disagree_are_refused(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_daemons(tmp_path, monkeypatch,
                  'case DAEMON in kea-dhcp4) echo 2.2.0;; *) echo 3.0.4;; esac')
    code, out = _migrate(tmp_path)
    assert code == 2 and "disagree on the memfile format" in out, out


def _check_real(srv: Any, family: int, want: list[str]) -> None:
    """Kea holds exactly ``want`` now and after a restart, with no leftover of a conversion."""
    for _ in range(2):
        got = sorted(lease["ip-address"] for lease in srv.leases())
        assert got == sorted(want), f"Kea {srv.version} v{family}: {got}"
        leftovers = sorted(p.name for p in Path(srv.dir).glob(f"kea-leases{family}.csv.*"))
        assert leftovers == [], f"Kea {srv.version} left {leftovers}"
        srv.restart()


@pytest.mark.kea
def test_kea22_found_by_its_own_version_and_restart_holds_exactly_the_leases(
        tmp_path: Path, kea_factory: Any) -> None:
    code, out = _migrate(tmp_path)  # no --kea-version: the host's kea-dhcp4 -V
    assert code == 0, out
    srv4 = kea_factory(family=4, lease_file=tmp_path / "out/kea-leases4.csv")
    if srv4.version_tuple >= (2, 4):
        if os.environ.get("KEA_ETL_KEA2"):  # the 2.x servers were pointed at another version
            pytest.skip(f"about Kea 2.2's format; KEA_ETL_KEA2 runs Kea {srv4.version}")
        pytest.fail(f"this test is about Kea 2.2's format; the host has {srv4.version}")
    assert "memfile format: Kea 2.2.0 (from /usr/sbin/kea-dhcp4 -V)" in out \
        or "memfile format: Kea 2.2" in out, out
    header = (tmp_path / "out/kea-leases4.csv").read_text().splitlines()[0]
    assert header == ",".join(memfile.HEADER4_22)
    _check_real(srv4, 4, V4)
    srv6 = kea_factory(family=6, lease_file=tmp_path / "out/kea-leases6.csv")
    _check_real(srv6, 6, V6)


@pytest.mark.kea
@pytest.mark.kea3
@pytest.mark.parametrize("how", ["chroot kea-dhcp4 -V", "--kea-version 3.0"])
def test_kea30_format_and_restart_holds_exactly_the_leases(
        tmp_path: Path, kea_factory: Any, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    from tests.harness.kea import kea3_root

    if how.startswith("chroot"):  # the Kea that will read the files is the rootfs's
        _fake_daemons(tmp_path, monkeypatch, f'exec chroot {kea3_root()} /usr/sbin/DAEMON "$@"')
        code, out = _migrate(tmp_path)
        assert "memfile format: Kea 3.0." in out, out
    else:
        code, out = _migrate(tmp_path, "--kea-version", "3.0")
        assert "memfile format: Kea 3.0 (from --kea-version)" in out, out
    assert code == 0, out
    for fam in (4, 6):
        header = (tmp_path / f"out/kea-leases{fam}.csv").read_text().splitlines()[0]
        assert header.endswith(",pool_id"), header
    srv4 = kea_factory(family=4, kea3=True, lease_file=tmp_path / "out/kea-leases4.csv")
    _check_real(srv4, 4, V4)
    srv6 = kea_factory(family=6, kea3=True, lease_file=tmp_path / "out/kea-leases6.csv")
    _check_real(srv6, 6, V6)
