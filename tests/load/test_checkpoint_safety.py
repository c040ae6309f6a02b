"""The checkpoint at a predictable path is opened safely (issue 13, Security): no symlink is
followed, the -wal / -shm are as private as the database, a file that is not a checkpoint is one
clear line and exit 2."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from kea_etl.errors import ConfigError
from kea_etl.load.checkpoint import Checkpoint, Outcome

KEA_ETL = [sys.executable, "-m", "kea_etl.cli"]


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_a_symlink_at_the_state_path_is_refused_and_not_followed(tmp_path: Path,
                                                                  suffix: str) -> None:
    """Was: root created the file the attacker's symlink named."""
    victim = tmp_path / "victim"
    state = tmp_path / ".kea-etl-state.sqlite"
    Path(f"{state}{suffix}").symlink_to(victim)
    with pytest.raises(ConfigError) as exc:
        Checkpoint(state, "fp", resume=False)
    assert str(exc.value) == (f"the progress file {state}{suffix} is a symbolic link; kea-etl "
                              "does not follow links for its state (remove it, or give --report "
                              "in a directory only you can write)")
    assert not victim.exists()


def test_wal_and_shm_are_as_private_as_the_checkpoint(tmp_path: Path) -> None:
    """Was: the checkpoint 0600 but its -wal / -shm 0644 (SQLite copies the database's mode,
    which was chmod-ed only after SQLite had created them)."""
    old = os.umask(0o022)
    try:
        cp = Checkpoint(tmp_path / "s.sqlite", "fp", resume=False)
        cp.record([Outcome("4:192.0.2.1", "loaded")])
        cp.flush()
        modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
        cp.close()
    finally:
        os.umask(old)
    assert modes == {"s.sqlite": 0o600, "s.sqlite-wal": 0o600, "s.sqlite-shm": 0o600}


def _truncated(path: Path) -> None:
    cp = Checkpoint(path, "fp", resume=False)
    cp.record([Outcome(f"4:192.0.2.{i}", "loaded", reason="x" * 500) for i in range(200)])
    cp.close()
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 3])  # a full disk cut it


@pytest.mark.parametrize("resume", [False, True])
@pytest.mark.parametrize("kind", ["stray", "truncated"])
def test_a_file_that_is_not_a_checkpoint_is_one_clear_error(tmp_path: Path, kind: str,
                                                            resume: bool) -> None:
    path = tmp_path / "r.json.state.sqlite"
    if kind == "stray":
        path.write_text("these are my notes, not a database\n" * 10)
    else:
        _truncated(path)
    with pytest.raises(ConfigError) as exc:
        Checkpoint(path, "fp", resume=resume)
    assert str(exc.value).startswith(f"the progress file {path} is not a kea-etl checkpoint "
                                     "(SQLite: ")
    assert str(exc.value).endswith("move it away or remove it, then run without --resume")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json.state.sqlite"]


def test_cli_stray_checkpoint_is_exit_2_with_one_line(tmp_path: Path, pg_url: str) -> None:
    """Was: a sqlite3.DatabaseError traceback (exit 1), also on a fresh run."""
    (tmp_path / "d.leases").write_text("lease 192.0.2.10 {\n  binding state active;\n"
                                       "  hardware ethernet 02:00:00:00:00:01;\n}\n")
    (tmp_path / "k.json").write_text(json.dumps({"Dhcp4": {"subnet4": [
        {"id": 1, "subnet": "192.0.2.0/24"}]}}))
    (tmp_path / "r.json.state.sqlite").write_text("not a database\n" * 20)
    r = subprocess.run([*KEA_ETL, "migrate", "d.leases", "--to", f"kea-sql:{pg_url}",
                        "--kea-config", "k.json", "--report", "r.json", "--no-progress"],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr == ("Error: the progress file r.json.state.sqlite is not a kea-etl "
                        "checkpoint (SQLite: file is not a database); move it away or remove it, "
                        "then run without --resume\n")


@pytest.fixture
def pg_url() -> str:
    try:
        import psycopg2  # type: ignore[import-untyped]

        psycopg2.connect(host="127.0.0.1", user="postgres", dbname="test").close()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"PostgreSQL at 127.0.0.1 not available: {exc}")
    return "postgresql://postgres@127.0.0.1/test"


def test_sqlite_really_refuses_the_stray_file(tmp_path: Path) -> None:
    """The premise of the test above: SQLite itself calls it "not a database"."""
    p = tmp_path / "x"
    p.write_text("not a database\n" * 20)
    with pytest.raises(sqlite3.DatabaseError, match="file is not a database"):
        sqlite3.connect(p).execute("PRAGMA journal_mode=WAL")
