"""kea_etl.urls: one redact_url, and a password in any URL is refused with what to use instead
(issue 13, Security)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kea_etl import urls
from kea_etl.errors import InvalidURLError
from kea_etl.export import server_label
from kea_etl.kea import transports
from kea_etl.load import checkpoint

KEA_ETL = [sys.executable, "-m", "kea_etl.cli"]


@pytest.mark.parametrize(("url", "shown"), [
    ("kea:http://admin:s3cret@127.0.0.1:8000/", "kea:http://127.0.0.1:8000/"),
    ("kea-sql:postgresql://kea:pw@db/kea?sslpassword=x", "kea-sql:postgresql://db/kea"),
    ("https://u:p@kea.example:8443/", "https://kea.example:8443/"),
    ("postgresql://u:p@[2001:db8::1]:5433/w?password=p#frag", "postgresql://[2001:db8::1]:5433/w"),
    ("mysql+pymysql://root@127.0.0.1/test", "mysql+pymysql://127.0.0.1/test"),
    ("unix:///run/kea/kea4.sock", "unix:///run/kea/kea4.sock"),
    ("kea:unix:///run/kea/kea4.sock", "kea:unix:///run/kea/kea4.sock"),
    ("out/dir", "out/dir"),
])
def test_one_redact_url_everywhere(url: str, shown: str) -> None:
    """Was three: transports kept the query, checkpoint knew only two prefixes, export kept
    everything but userinfo."""
    assert urls.redact_url(url) == shown
    assert transports.redact_url is urls.redact_url
    assert checkpoint.redact_url is urls.redact_url
    assert server_label(url) == shown


@pytest.mark.parametrize("url", [
    "postgresql://u:PW@127.0.0.1/test", "postgresql://u:@127.0.0.1/test",
    "postgresql://u@127.0.0.1/test?password=PW", "mysql://u@h/db?PASSWD=PW",
    "kea:http://u:PW@127.0.0.1:8000/", "https://u:PW@kea:8443/",
    "kea-sql:mysql://u:PW@127.0.0.1/test",
])
def test_a_password_in_a_url_is_refused(url: str) -> None:
    with pytest.raises(InvalidURLError) as exc:
        urls.refuse_password(url)
    assert "PW" not in str(exc.value) and "do not put" in str(exc.value)


@pytest.mark.parametrize("url", ["postgresql://u@127.0.0.1/test", "http://admin@kea:8000/",
                                 "mysql+pymysql://root@h/db?read_default_file=~/.my.cnf",
                                 "unix:///run/kea.sock", "out/dir"])
def test_urls_without_a_password_pass(url: str) -> None:
    urls.refuse_password(url)


HINT_PG = "set PGPASSWORD, or put it in ~/.pgpass (PGPASSFILE)"
HINT_KEA_OPT = ("use --password-env VAR / --password-file FILE (default variable "
                "KEA_ETL_PASSWORD; pipelines: password_env / password_file)")
TAIL = "in the URL (it would show in ps, logs and reports); "


@pytest.mark.parametrize(("args", "line"), [
    (["export", "--kea", "unix:///nonexistent", "--to", "postgresql://u:PW@127.0.0.1/test"],
     f"postgresql://127.0.0.1/test: do not put a password {TAIL}{HINT_PG}"),
    (["export", "--kea", "http://u:PW@127.0.0.1:1/", "--to", "sqlite:///x.db"],
     f"http://127.0.0.1:1/: do not put a password {TAIL}{HINT_KEA_OPT}"),
    (["migrate", "postgresql://u:PW@127.0.0.1/test", "--query", "leases", "--to", "memfile:out",
      "--kea-config", "k.json"],
     f"postgresql://127.0.0.1/test: do not put a password {TAIL}{HINT_PG}"),
    (["migrate", "mysql+pymysql://root:PW@127.0.0.1/test", "--query", "leases", "--to",
      "memfile:out", "--kea-config", "k.json"],
     f"mysql+pymysql://127.0.0.1/test: do not put a password {TAIL}put it in a MariaDB/MySQL "
     "option file ([client] password=...) and add ?read_default_file=PATH to the URL"),
    (["migrate", "d.leases", "--to", "kea:http://u:PW@127.0.0.1:1/", "--kea-config", "k.json"],
     f"kea:http://127.0.0.1:1/: do not put a password {TAIL}{HINT_KEA_OPT}"),
    (["migrate", "d.leases", "--to", "kea-sql:postgresql://u:PW@127.0.0.1/test", "--kea-config",
      "k.json"],
     f"kea-sql:postgresql://127.0.0.1/test: do not put the database password {TAIL}set "
     "KEA_ETL_DB_PASSWORD / KEA_ETL_DB_PASSWORD_FILE, PGPASSWORD, or put it in ~/.pgpass "
     "(PGPASSFILE)"),
    (["kea", "version-get", "--url", "http://u:PW@127.0.0.1:1/"],
     f"http://127.0.0.1:1/: do not put a password {TAIL}{HINT_KEA_OPT}"),
])
def test_cli_refuses_passwords_in_urls_everywhere(tmp_path: Path, args: list[str],
                                                  line: str) -> None:
    """Was: ``export --to postgresql://u:PW@...`` and SQL-source URLs were accepted."""
    (tmp_path / "d.leases").write_text("lease 192.0.2.10 {\n  binding state active;\n}\n")
    (tmp_path / "k.json").write_text(json.dumps({"Dhcp4": {"subnet4": [
        {"id": 1, "subnet": "192.0.2.0/24"}]}}))
    r = subprocess.run([*KEA_ETL, *args], capture_output=True, text=True, timeout=120,
                       cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.splitlines()[-1] == f"Error: {line}"
    assert "PW" not in r.stdout + r.stderr
