"""Fixtures of the reliability tests: a PostgreSQL database with Kea's schema."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qAt"]


def _sql(db: str, sql: str) -> str:
    r = subprocess.run([*PSQL, "-d", db, "-c", sql], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def _terminate(db: str) -> int:
    """Kill every other backend connected to ``db``; returns how many were terminated."""
    out = _sql("postgres", "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM "
               f"pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()")
    return int(out or 0)


@pytest.fixture
def kea_pg_db() -> Iterator[str]:
    name = f"kea_etl_rel_{os.getpid()}"
    _sql("test", f"DROP DATABASE IF EXISTS {name}")
    _sql("test", f"CREATE DATABASE {name}")
    r = subprocess.run(["kea-admin", "db-init", "pgsql", "-u", "postgres", "-n", name, "-h",
                        "127.0.0.1"], env=dict(os.environ, KEA_ADMIN_DB_PASSWORD=""),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        yield name
    finally:
        _terminate(name)
        _sql("test", f"DROP DATABASE IF EXISTS {name}")


