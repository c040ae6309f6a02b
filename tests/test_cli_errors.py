"""What the CLI says when things go wrong (issue 13, Messages and Security): input text is
escaped before it reaches the terminal, a crash is exit 3 with one line (never 1, which means
"some records failed"), a refused password or a missing database is named as such."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kea_etl.cli import EXIT_INTERNAL, main
from kea_etl.terminal import printable

KEA_ETL = [sys.executable, "-m", "kea_etl.cli"]

ESC = "\x1b]0;owned\x07\x1b[2J\x1b[1;31m"


def test_printable_escapes_controls_and_keeps_text() -> None:
    assert printable("plain host-1 é ü 名前") == "plain host-1 é ü 名前"
    assert printable(f"a{ESC}b") == "a\\x1b]0;owned\\x07\\x1b[2J\\x1b[1;31mb"
    assert printable("x\u202ey\x9bz\x7f\r\n") == "x\\u202ey\\x9bz\\x7f\\x0d\\x0a"
    assert printable("l1\nl2\x1b", keep_newlines=True) == "l1\nl2\\x1b"


def test_migrate_first_problems_do_not_pass_terminal_escapes(tmp_path: Path) -> None:
    """Was: a ``lease <text> {`` header with escape bytes was printed raw in "first problems"."""
    (tmp_path / "d.leases").write_text(
        f"lease 192.0.2.10{ESC} {{\n  binding state active;\n"
        "  hardware ethernet 02:00:00:00:00:01;\n}\n", encoding="latin-1")
    (tmp_path / "k.json").write_text(json.dumps({"Dhcp4": {"subnet4": [
        {"id": 1, "subnet": "192.0.2.0/24"}]}}))
    r = subprocess.run([*KEA_ETL, "migrate", "isc-leases:d.leases", "--to", "memfile:out",
                        "--kea-config", "k.json", "--no-progress"],
                       capture_output=True, timeout=120, cwd=tmp_path)
    out = r.stdout.decode() + r.stderr.decode()
    assert r.returncode == 1, out
    assert "first problems:" in out
    assert "\x1b" not in out and "\x07" not in out
    assert "192.0.2.10\\x1b]0;owned\\x07\\x1b[2J" in out


def test_an_unexpected_error_is_exit_3_with_one_line(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    """Was: a traceback and exit 1, which the README defines as "some records failed"."""
    import kea_etl.migration as migration

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"unexpected state{ESC}\nsecond line")

    monkeypatch.setattr(migration, "migrate", boom)
    monkeypatch.delenv("KEA_ETL_TRACEBACK", raising=False)
    (tmp_path / "d.leases").write_text("lease 192.0.2.10 {\n  binding state active;\n"
                                       "  hardware ethernet 02:00:00:00:00:01;\n}\n")
    (tmp_path / "k.json").write_text(json.dumps({"Dhcp4": {"subnet4": [
        {"id": 1, "subnet": "192.0.2.0/24"}]}}))
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["migrate", "d.leases", "--to", "memfile:out", "--kea-config",
                                  "k.json", "--no-progress"])
    assert r.exit_code == EXIT_INTERNAL == 3, r.output
    assert r.stderr == ("Error: internal error (RuntimeError: unexpected state"
                        "\\x1b]0;owned\\x07\\x1b[2J\\x1b[1;31m); this is a bug in kea-etl, "
                        "nothing more was done (exit 3; set KEA_ETL_TRACEBACK=1 to see where)\n")
    monkeypatch.setenv("KEA_ETL_TRACEBACK", "1")
    r = CliRunner().invoke(main, ["migrate", "d.leases", "--to", "memfile:out", "--kea-config",
                                  "k.json", "--no-progress"])
    assert r.exit_code == 3 and "Traceback (most recent call last)" in r.stderr


def _mysql_available() -> None:
    try:
        import pymysql  # type: ignore[import-untyped]

        pymysql.connect(host="127.0.0.1", user="root", password="", database="test").close()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"MariaDB at 127.0.0.1 not available: {exc}")


def _pg_available() -> None:
    try:
        import psycopg2  # type: ignore[import-untyped]

        psycopg2.connect(host="127.0.0.1", user="postgres", dbname="test").close()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"PostgreSQL at 127.0.0.1 not available: {exc}")


@pytest.mark.parametrize(("db", "url", "said"), [
    ("pg", "postgresql://postgres@127.0.0.1/kea_etl_no_such_db",
     'FATAL:  database "kea_etl_no_such_db" does not exist'),
    ("mysql", "mysql+pymysql://root@127.0.0.1/kea_etl_no_such_db",
     "(1049, \"Unknown database 'kea_etl_no_such_db'\")"),
    ("mysql", "mysql+pymysql://root@127.0.0.1/test?read_default_file={cnf}",
     "(1045, \"Access denied for user 'root'@'127.0.0.1' (using password: YES)\")"),
])
def test_warehouse_wrong_password_or_missing_database_is_named(tmp_path: Path, db: str, url: str,
                                                               said: str) -> None:
    """Was: "cannot create or evolve the schema" for both."""
    _pg_available() if db == "pg" else _mysql_available()
    cnf = tmp_path / "my.cnf"
    cnf.write_text("[client]\npassword=certainly-wrong\n")  # the option file is read: refused
    cnf.chmod(0o600)
    url = url.format(cnf=cnf)
    r = subprocess.run([*KEA_ETL, "export", "--kea", "unix:///nonexistent.sock", "--to", url],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    [line] = r.stderr.splitlines()
    assert line.startswith("Error: cannot connect to the warehouse ") and line.endswith(said), line
    assert "schema" not in line and "certainly-wrong" not in line


def test_usage_errors_quote_typed_values_escaped() -> None:
    r = CliRunner().invoke(main, ["migrate", "x", "--service", f"dh{ESC}cp4"])
    assert r.exit_code == 2
    assert "\x1b" not in r.output and "\\x1b]0;owned\\x07" in r.output
