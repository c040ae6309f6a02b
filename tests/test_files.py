"""kea_etl._files: every writer of client data is private and follows the umask; only regular
files are read (issue 13, Security and Hostile files)."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from kea_etl import _files
from kea_etl.errors import ConfigError
from kea_etl.export.parquet import PartitionedFileSink
from kea_etl.load.memfile import _TempCSV
from kea_etl.reconcile import ReconcileResult, reconcile, write_html
from kea_etl.records import Lease4
from kea_etl.report import write_json_atomic
from tests.harness import clock


@pytest.fixture(params=[0o022, 0o077, 0o002])
def mask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _result() -> ReconcileResult:
    now = clock.now()
    a = Lease4("192.0.2.10", hwaddr="00:11:22:33:44:55", valid_lft=3600, cltt=now, subnet_id=1,
               hostname="alice-laptop")
    res = ReconcileResult(family=4, as_of=now, tolerance=2, source_name="dhcpd.leases",
                          server="unix:///run/kea.sock")
    with reconcile([a], [], family=4, as_of=now, result=res) as r:
        return r


def _sink(root: Path, fmt: str) -> Path:
    schema = pa.schema([("hostname", pa.string())])
    sink = PartitionedFileSink(root, dataset="leases", name="leases4", export_date=date(2026, 1, 1),
                               server="kea", schema=schema, fmt=fmt)  # type: ignore[arg-type]
    sink.write(pa.record_batch([pa.array(["alice-laptop"])], schema=schema))
    return sink.commit()


def _memfile(path: Path) -> Path:
    t = _TempCSV(path, ["address", "hwaddr"])
    t.fh.write("192.0.2.10,00:11:22:33:44:55\n")
    t.commit()
    return path


#: writer name -> (write to this directory, return the file written; the most open mode allowed)
WRITERS: dict[str, tuple[Callable[[Path], Path], int]] = {
    "report json": (lambda d: (write_json_atomic(d / "r.json", {"mac": "00:11"}), d / "r.json")[1],
                    0o600),
    "reconcile json": (lambda d: (_result().write_json(d / "rec.json"), d / "rec.json")[1], 0o600),
    "reconcile csv": (lambda d: (_result().write_csv(d / "rec.csv"), d / "rec.csv")[1], 0o600),
    "reconcile html": (lambda d: (write_html(_result(), d / "rec.html"), d / "rec.html")[1], 0o600),
    "parquet export": (lambda d: _sink(d, "parquet"), 0o600),
    "csv export": (lambda d: _sink(d, "csv"), 0o600),
    "memfile csv": (lambda d: _memfile(d / "kea-leases4.csv"), 0o640),
}


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_client_data_files_are_private_and_never_wider_than_the_umask(
        tmp_path: Path, mask: int, writer: str) -> None:
    """Was: forced to 0644 whatever the umask. Now: at most 0600 (memfile 0640 for Kea's
    group), and never more than the umask allows."""
    write, most = WRITERS[writer]
    path = write(tmp_path)
    mode = path.stat().st_mode & 0o777
    assert mode == most & ~mask, (writer, oct(mode), oct(mask))
    assert mode & 0o007 == 0
    assert not [p.name for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_umask_is_read_without_changing_it(mask: int) -> None:
    assert _files.umask() == mask
    assert _files.umask() == mask


def test_atomic_write_failure_leaves_the_earlier_file(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), _files.atomic_write(target) as fh:
        fh.write("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


# ---- reading: only regular files

def _fifo(tmp_path: Path) -> Path:
    p = tmp_path / "pipe"
    os.mkfifo(p)
    return p


def _unix_socket(tmp_path: Path) -> Path:
    p = tmp_path / "sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(p))
    s.close()
    return p


@pytest.mark.parametrize(("make", "kind"), [
    (_fifo, "is a FIFO (named pipe), not a regular file"),
    (lambda d: Path("/dev/zero"), "is a character device, not a regular file"),
    (lambda d: Path("/dev/urandom"), "is a character device, not a regular file"),
    (lambda d: d, "is a directory, not a regular file"),
    (_unix_socket, "is a socket, not a regular file"),
])
def test_only_regular_files_are_read(tmp_path: Path, make: Callable[[Path], Path],
                                     kind: str) -> None:
    """A FIFO is opened without blocking (no writer: this would hang) and refused by what it is,
    never reported as "not found"."""
    path = make(tmp_path)
    with pytest.raises(ConfigError) as exc:
        _files.open_regular(path, what="source")
    assert str(exc.value).startswith(f"source {path} {kind}")
    with pytest.raises(ConfigError) as exc:
        _files.require_regular(path, what="source")
    assert str(exc.value).startswith(f"source {path} {kind}")


def test_missing_file_is_not_found_and_a_regular_file_opens(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^source .*/nope: file not found$"):
        _files.open_regular(tmp_path / "nope", what="source")
    f = tmp_path / "ok"
    f.write_bytes(b"data")
    with _files.open_regular(f) as fh:
        assert fh.read() == b"data"
        assert os.get_blocking(fh.fileno())
    assert stat.S_ISREG(f.stat().st_mode)


def test_a_new_sqlite_warehouse_and_its_wal_are_private(tmp_path: Path, mask: int) -> None:
    """Was: SQLite created the warehouse (lease rows: MACs, hostnames) with the umask's mode,
    0644 by default, and its -wal/-shm alike."""
    from kea_etl.export.warehouse import Warehouse

    db = tmp_path / "wh.db"
    wh = Warehouse(f"sqlite:///{db}")
    try:
        wh.ensure_schema()
        files = [p for p in tmp_path.iterdir() if p.name.startswith("wh.db")]
        assert db in files and any(p.name.endswith("-wal") for p in files)
        for p in files:
            if p.name.endswith(".kea-etl-lock"):
                continue  # holds no data
            mode = p.stat().st_mode & 0o777
            assert mode == 0o600 & ~mask, (p.name, oct(mode))
    finally:
        wh.dispose()
