"""Disk full, read-only and unwritable output directories while writing memfile CSV, Parquet
and CSV exports: a clear one-line error, exit 2 (migrate) / a failed server (export), and no
half-written file left where a reader (Kea, a warehouse loader) would pick it up.

Disk full is a real 64 KiB tmpfs mounted for the test (root needed, as everywhere in this
suite); "unwritable" is a read-only tmpfs, and chmod 0555 checked as an unprivileged user
(root ignores directory permissions).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability._common import AS_OF, KEA_ETL, write_leases

KEA_CFG = {"Dhcp4": {"subnet4": [{"id": 1, "subnet": "10.0.0.0/8"}]}}


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    mounted: list[Path] = []

    def mount(name: str, size: str = "64k", ro: bool = False) -> Path:
        d = tmp_path / name
        d.mkdir()
        opts = f"size={size}" + (",ro" if ro else "")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(d)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.fail(f"cannot mount a tmpfs (the suite runs as root): {r.stderr}")
        mounted.append(d)
        return d

    yield mount
    for d in mounted:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)


def _migrate(src: Path, out: Path, cfg: Path, *extra: str, user: list[str] | None = None
             ) -> subprocess.CompletedProcess[str]:
    argv = [*(user or []), *KEA_ETL, "migrate", str(src), "--to", f"memfile:{out}",
            "--kea-config", str(cfg), "--as-of", AS_OF, "--no-progress", *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300)


def _setup(tmp_path: Path, n: int) -> tuple[Path, Path]:
    src = tmp_path / "dhcpd.leases"
    write_leases(src, n, hostname="host-with-a-longish-name")
    cfg = tmp_path / "kea.json"
    cfg.write_text(json.dumps(KEA_CFG))
    return src, cfg


def test_memfile_disk_full_leaves_no_file_and_keeps_the_old_one(tmp_path: Path,
                                                                tmpfs: Callable[..., Path]) -> None:
    out = tmpfs("out")
    small = tmp_path / "small.leases"
    write_leases(small, 10)
    src, cfg = _setup(tmp_path, 3000)  # ~250 KB of CSV: does not fit in 64 KiB
    ok = _migrate(small, out, cfg)
    assert ok.returncode == 0, ok.stderr
    old = (out / "kea-leases4.csv").read_bytes()

    full = _migrate(src, out, cfg)
    assert full.returncode == 2, full.stdout + full.stderr
    assert "Traceback" not in full.stderr
    err = full.stderr.strip()
    assert err.startswith("Error: cannot write ") and "No space left on device" in err, err
    assert len(err.splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["kea-etl-run.json", "kea-leases4.csv"]  # no temp left
    assert (out / "kea-leases4.csv").read_bytes() == old


def test_memfile_disk_full_in_a_fresh_directory_writes_nothing(tmp_path: Path,
                                                             tmpfs: Callable[..., Path]) -> None:
    out = tmpfs("out", size="16k")
    src, cfg = _setup(tmp_path, 2000)
    r = _migrate(src, out, cfg, "--report", str(tmp_path / "r.json"))
    assert r.returncode == 2 and "No space left on device" in r.stderr, r.stderr
    assert list(out.iterdir()) == []
    assert not (tmp_path / "r.json").exists()


def test_memfile_read_only_directory(tmp_path: Path, tmpfs: Callable[..., Path]) -> None:
    out = tmpfs("ro", ro=True)
    src, cfg = _setup(tmp_path, 10)
    r = _migrate(src, out, cfg)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert str(out) in r.stderr and "not writable" in r.stderr, r.stderr


def test_memfile_unwritable_directory_as_a_normal_user() -> None:
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed to run kea-etl as an unprivileged user")
    base = Path(tempfile.mkdtemp(prefix="kea-etl-unwritable-"))  # /tmp: reachable by nobody
    try:
        base.chmod(0o755)
        src, cfg = _setup(base, 10)
        out = base / "locked"
        out.mkdir()
        out.chmod(0o555)
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        r = _migrate(src, out, cfg, user=nobody)
        assert r.returncode == 2, r.stdout + r.stderr
        assert "Traceback" not in r.stderr, r.stderr[-2000:]
        assert "not writable" in r.stderr and str(out) in r.stderr, r.stderr
        assert list(out.iterdir()) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.kea
@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_disk_full_leaves_no_partial_file(kea_factory: Any, tmp_path: Path,
                                                 tmpfs: Callable[..., Path], fmt: str) -> None:
    """A Parquet / CSV export that runs out of space reports the server as failed (exit 1)
    and leaves no file (complete or temporary) under the output directory."""
    lines = ["address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,"
             "hostname,state,user_context"]
    for i in range(6000):
        lines.append(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255 or 1},"
                     f"02:00:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x},,"
                     f"86400,{1900000000 + i},1,0,0,h{os.urandom(12).hex()},0,")
    csv = tmp_path / "leases.csv"
    csv.write_text("\n".join(lines) + "\n")
    srv = kea_factory(family=4, subnets=[{"id": 1, "subnet": "10.0.0.0/8"}], lease_file=csv)
    out = tmpfs("exp", size="64k")
    r = subprocess.run([*KEA_ETL, "export", "--kea", srv.socket_url, f"--{fmt}", str(out),
                        "--no-stats"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert "No space left on device" in r.stderr, r.stderr
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files == [], files
