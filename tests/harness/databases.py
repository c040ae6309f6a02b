"""The machine's PostgreSQL and MariaDB as the tests reach them (127.0.0.1, trust / root
without password), through their own command-line clients, and databases with Kea's own schema
made by a given Kea installation."""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.harness.kea import KeaInstall

__all__ = ["ENGINES", "admin_sql", "kea_database", "kea_schema"]

#: kea-sql's engines, as the URL scheme names them
ENGINES = ("postgresql", "mysql")


def admin_sql(engine: str, sql: str) -> None:
    """Run ``sql`` as the administrator: ``postgresql`` (database test) or ``mysql``."""
    if engine == "postgresql":
        argv = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-q", "-c", sql]
    else:
        argv = ["mysql", "-h", "127.0.0.1", "-u", "root", "-e", sql]
    subprocess.run(argv, check=True, capture_output=True)


def _user(engine: str) -> str:
    return "postgres" if engine == "postgresql" else "root"


def kea_schema(engine: str, name: str, install: KeaInstall) -> None:
    """Kea's schema in the existing database ``name``, made the way ``install`` makes it: its
    own ``kea-admin db-init`` (host packages, a prefix build), or for a root filesystem, whose
    kea-admin finds no psql / mysql inside, its own create script run with the host's clients
    (each version wants its own schema: 2.6 its 22.2, 3.2 its 35/34)."""
    backend = "pgsql" if engine == "postgresql" else "mysql"
    if install.kind != "chroot":
        r = subprocess.run([install.binary("kea-admin"), "db-init", backend, "-u", _user(engine),
                            "-n", name, "-h", "127.0.0.1"], capture_output=True, text=True,
                           env=dict(os.environ, KEA_ADMIN_DB_PASSWORD=""), timeout=180)
        assert r.returncode == 0, (r.stdout + r.stderr)[-2000:]
        return
    script = install.scripts_dir / backend / f"dhcpdb_create.{backend}"
    assert script.exists(), f"{install.describe()} has no {script}"
    argv = (["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", name, "-q", "-v", "ON_ERROR_STOP=1"]
            if engine == "postgresql" else ["mysql", "-h", "127.0.0.1", "-u", "root", name])
    with script.open() as fh:
        r = subprocess.run(argv, stdin=fh, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]


#: (engine, installation) -> its schema made once in this process: the name of a PostgreSQL
#: template database, or a MariaDB dump (bytes). kea-admin db-init runs every upgrade script
#: since Kea 1.0 (tens of seconds on MariaDB); a copy of what it made is the same schema.
_SCHEMAS: dict[tuple[str, str], str | bytes] = {}


def _drop_templates() -> None:
    for (engine, _), made in _SCHEMAS.items():
        if isinstance(made, str):
            with contextlib.suppress(subprocess.CalledProcessError):
                admin_sql(engine, f"DROP DATABASE IF EXISTS {made} WITH (FORCE)")


atexit.register(_drop_templates)


def _schema_copy(engine: str, name: str, install: KeaInstall) -> None:
    """``install``'s Kea schema in the new database ``name`` (created here), copied from the
    one :func:`kea_schema` made first in this process."""
    key = (engine, install.describe())
    if key not in _SCHEMAS:
        made = f"kea_etl_tmpl_{os.getpid()}_{hashlib.sha1(key[1].encode()).hexdigest()[:8]}"
        admin_sql(engine, f"CREATE DATABASE {made}")
        try:
            kea_schema(engine, made, install)
            if engine == "postgresql":
                _SCHEMAS[key] = made
            else:
                _SCHEMAS[key] = subprocess.run(
                    ["mysqldump", "-h", "127.0.0.1", "-u", "root", "--routines", "--triggers",
                     "--skip-comments", made], check=True, capture_output=True).stdout
        finally:
            if engine != "postgresql":
                admin_sql(engine, f"DROP DATABASE IF EXISTS {made}")
    made = _SCHEMAS[key]
    if isinstance(made, str):
        admin_sql(engine, f"CREATE DATABASE {name} TEMPLATE {made}")
        return
    admin_sql(engine, f"CREATE DATABASE {name}")
    subprocess.run(["mysql", "-h", "127.0.0.1", "-u", "root", name], input=made, check=True,
                   capture_output=True)


@contextlib.contextmanager
def kea_database(engine: str, install: KeaInstall, *, tag: str = "kea_etl") -> Iterator[str]:
    """A fresh database with ``install``'s Kea schema; yields its ``kea-sql:`` URL and drops it
    afterwards."""
    name = f"{tag}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        _schema_copy(engine, name, install)
        yield f"kea-sql:{engine}://{_user(engine)}@127.0.0.1/{name}"
    finally:
        admin_sql(engine, f"DROP DATABASE IF EXISTS {name}"
                  + (" WITH (FORCE)" if engine == "postgresql" else ""))
