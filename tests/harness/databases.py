"""The machine's PostgreSQL and MariaDB as the tests reach them (127.0.0.1, trust / root
without password), through their own command-line clients."""

from __future__ import annotations

import subprocess

__all__ = ["admin_sql"]


def admin_sql(engine: str, sql: str) -> None:
    """Run ``sql`` as the administrator: ``postgresql`` (database test) or ``mysql``."""
    if engine == "postgresql":
        argv = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-q", "-c", sql]
    else:
        argv = ["mysql", "-h", "127.0.0.1", "-u", "root", "-e", sql]
    subprocess.run(argv, check=True, capture_output=True)
