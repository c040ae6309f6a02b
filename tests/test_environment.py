"""Environment variables are read at the edge (kea_etl/cli/), not by library code (issue 14)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kea_etl.load.credentials import ENVIRONMENT, LiveCredentials

PACKAGE = Path(__file__).resolve().parent.parent / "kea_etl"

#: library modules still reading the environment, each with its reason
KNOWN = {
    # the kill -9 tests' fault injection: test-only, read in this one place
    "_faults.py",
}


def test_only_known_library_modules_read_the_environment() -> None:
    readers = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
               if p.relative_to(PACKAGE).parts[0] != "cli"
               and re.search(r"os\.environ|getenv\(", p.read_text(encoding="utf-8"))}
    assert readers == KNOWN


def test_credentials_from_the_environment_the_cli_passes() -> None:
    env = {name: f"v-{field}" for field, name in ENVIRONMENT.items()}
    creds = LiveCredentials.from_environ(env)
    assert creds == LiveCredentials(**{field: f"v-{field}" for field in ENVIRONMENT})
    assert LiveCredentials.from_environ({}) == LiveCredentials()


def test_password_files(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("s3cret\nignored\n")
    assert LiveCredentials(password="env", password_file=str(pw)).kea_password() == "s3cret"
    assert LiveCredentials(db_password_file=str(pw)).database_password() == "s3cret\nignored"
    assert LiveCredentials(db_password="x", db_password_file=str(pw)).database_password() == "x"
    with pytest.raises(Exception, match="cannot read the database password file"):
        LiveCredentials(db_password_file=str(tmp_path / "nope")).database_password()


def test_the_kea_loader_does_not_read_the_process_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from kea_etl.load.api import make_kea_loader

    monkeypatch.setenv("KEA_ETL_USERNAME", "from-env")
    monkeypatch.setenv("KEA_ETL_PASSWORD", "from-env")
    loader = make_kea_loader("http://127.0.0.1:9/", dry_run=True)
    assert loader.client.transport.username is None  # type: ignore[attr-defined]
    given = make_kea_loader("http://127.0.0.1:9/", dry_run=True,
                            credentials=LiveCredentials(username="admin", password="pw"))
    assert given.client.transport.username == "admin"  # type: ignore[attr-defined]
