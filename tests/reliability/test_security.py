"""Credentials, TLS and SQL safety.

* A known password given through the environment / a password file never appears in argv (ps),
  stdout / stderr, reports, checkpoints, exported files, exceptions or tracebacks; neither does
  its basic-auth token. (kea-etl has no --debug / --verbose switch: stderr is everything it says.)
* TLS certificate verification is on by default; ``--insecure`` works and is named loudly.
* Basic auth over plain http to a non-loopback address warns.
* Hostile strings reach SQL only as parameters (kea-sql loader and the warehouse).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import threading
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import pytest

from kea_etl.errors import KeaAuthError, KeaEndpointError
from kea_etl.kea import KeaClient
from kea_etl.kea.transports import HttpTransport, SecurityWarning
from tests.harness.clock import ANCHOR
from tests.harness.leasefile import lease_block
from tests.kea.test_client_real import SECRET, AuthAgent, make_pki
from tests.reliability._common import AS_OF, KEA_ETL
from tests.reliability.conftest import _sql

WRONG = "Wr0ng-Pw-7c1d"
NEEDLES = [SECRET, WRONG, base64.b64encode(f"u:{SECRET}".encode()).decode(),
           base64.b64encode(f"u:{WRONG}".encode()).decode()]


def _leaks(blob: bytes | str, where: str) -> list[str]:
    data = blob if isinstance(blob, bytes) else blob.encode("utf-8", "replace")
    return [f"{where}: {n!r}" for n in NEEDLES if n.encode() in data]


class _PsWatch:
    """Samples every process' argv (as ps shows it) while a command runs."""

    def __init__(self) -> None:
        self.seen: set[bytes] = set()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for d in Path("/proc").iterdir():
                if d.name.isdigit():
                    with contextlib.suppress(OSError):
                        self.seen.add((d / "cmdline").read_bytes())
            time.sleep(0.02)

    def __enter__(self) -> _PsWatch:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def _leases(path: Path) -> None:
    with path.open("w") as fh:
        for i in range(120):
            fh.write(lease_block(f"192.0.2.{10 + i}", starts=ANCHOR - 3600, ends=ANCHOR + 82800,
                                 mac=f"02:00:00:00:00:{i:02x}"))
        fh.write(lease_block("203.0.113.5", starts=ANCHOR - 3600, ends=ANCHOR + 82800,
                             mac="02:00:00:00:01:01"))
        fh.write("lease 192.0.2.250 {\n  starts 5 2026/11/27")  # truncated: a problem entry


@pytest.mark.kea
def test_secret_never_leaks(kea4: Any, tmp_path: Path) -> None:
    (tmp_path / "ca").mkdir()
    agent = AuthAgent(kea4, tmp_path / "ca")
    try:
        src = tmp_path / "dhcpd.leases"
        _leases(src)
        pwfile = tmp_path / "pw"
        pwfile.write_text(SECRET + "\n")
        pwfile.chmod(0o600)
        port = agent.url.rsplit(":", 1)[1]
        env = dict(os.environ, KEA_ETL_PASSWORD=SECRET)
        runs: list[tuple[str, list[str], dict[str, str]]] = []
        rep = tmp_path / "report.json"
        mig = [*KEA_ETL, "migrate", str(src), "--to", f"kea:http://u@127.0.0.1:{port}",
               "--service", "dhcp4", "--as-of", AS_OF, "--report", str(rep), "--no-progress",
               "--keep-state"]
        runs.append(("migrate (env)", mig, env))
        runs.append(("migrate --resume (file)", [*mig, "--resume"],
                     {**{k: v for k, v in os.environ.items() if k != "KEA_ETL_PASSWORD"},
                      "KEA_ETL_PASSWORD_FILE": str(pwfile)}))
        runs.append(("migrate (wrong password)", mig, dict(os.environ, KEA_ETL_PASSWORD=WRONG)))
        runs.append(("kea version-get", [*KEA_ETL, "kea", "config-get", "--url", agent.url,
                                         "--service", "dhcp4", "--user", "u"], env))
        runs.append(("kea wrong password", [*KEA_ETL, "kea", "version-get", "--url", agent.url,
                                            "--service", "dhcp4", "--user", "u"],
                     dict(os.environ, KEA_ETL_PASSWORD=WRONG)))
        runs.append(("kea --password-file", [*KEA_ETL, "kea", "version-get", "--url",
                                             agent.url, "--service", "dhcp4", "--user", "u",
                                             "--password-file", str(pwfile)], dict(os.environ)))
        out_dir = tmp_path / "export"
        exp_rep = tmp_path / "export-report.json"
        runs.append(("export", [*KEA_ETL, "export", "--kea", agent.url, "--service", "dhcp4",
                                "--user", "u", "--csv", str(out_dir), "--to",
                                f"sqlite:///{tmp_path}/wh.db", "--report", str(exp_rep)], env))
        runs.append(("export wrong password", [*KEA_ETL, "export", "--kea", agent.url,
                                               "--service", "dhcp4", "--user", "u", "--csv",
                                               str(out_dir)],
                     dict(os.environ, KEA_ETL_PASSWORD=WRONG)))
        leaks: list[str] = []
        codes = {}
        with _PsWatch() as ps:
            for name, argv, e in runs:
                r = subprocess.run(argv, capture_output=True, env=e, timeout=120)
                codes[name] = r.returncode
                leaks += _leaks(r.stdout, f"{name} stdout") + _leaks(r.stderr, f"{name} stderr")
        assert codes["migrate (env)"] == 1 and codes["migrate --resume (file)"] == 1, codes
        assert codes["kea version-get"] == 0 and codes["kea --password-file"] == 0, codes
        assert codes["migrate (wrong password)"] == 2 and codes["kea wrong password"] == 2, codes
        assert codes["export"] == 0, codes
        assert any(b"kea-etl" in a and b"migrate" in a for a in ps.seen)  # ps saw the runs
        for argv in ps.seen:
            leaks += _leaks(argv, "argv")
        files = [p for p in tmp_path.rglob("*") if p.is_file() and p.parent.name != "ca"
                 and p != pwfile]
        assert any(p.name.endswith(".state.sqlite") for p in files)
        assert rep.exists() and exp_rep.exists() and any(out_dir.rglob("*.csv"))
        for p in files:  # reports, checkpoint (+ WAL), exported CSV, warehouse
            leaks += _leaks(p.read_bytes(), str(p.relative_to(tmp_path)))
        assert leaks == []
    finally:
        agent.close()


@pytest.mark.kea
def test_auth_exception_and_traceback_do_not_carry_the_password(kea4: Any,
                                                                tmp_path: Path) -> None:
    agent = AuthAgent(kea4, tmp_path)
    try:
        with pytest.raises(KeaAuthError) as info:
            KeaClient.from_url(agent.url, service="dhcp4", username="u",
                               password=WRONG).version_get()
        text = "".join(traceback.format_exception(info.value)) + repr(info.value)
        assert _leaks(text, "exception") == []
        ok = KeaClient.from_url(agent.url, service="dhcp4", username="u", password=SECRET)
        assert _leaks(repr(ok) + repr(ok.transport) + str(vars(ok.transport).get("url")),
                      "repr") == []
    finally:
        agent.close()


@pytest.mark.kea
def test_tls_verified_by_default_and_insecure_is_loud(kea4: Any, tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    agent = AuthAgent(kea4, tmp_path, auth=False, tls={
        "trust-anchor": pki["ca.pem"], "cert-file": pki["server.pem"],
        "key-file": pki["server.key"], "cert-required": False})
    try:
        # default: the self-signed CA is not trusted -> refused, with the way out named
        with pytest.raises(KeaEndpointError, match="--ca-file"):
            KeaClient.from_url(agent.url, service="dhcp4", retries=0).version_get()
        r = subprocess.run([*KEA_ETL, "kea", "version-get", "--url", agent.url, "--service",
                            "dhcp4", "--retries", "0"], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 2 and "Warning" not in r.stderr, r.stderr
        # --insecure works and says so on stderr, as one clear line
        r = subprocess.run([*KEA_ETL, "kea", "version-get", "--url", agent.url, "--service",
                            "dhcp4", "--insecure"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        warned = [ln for ln in r.stderr.splitlines() if ln.startswith("Warning: --insecure")]
        assert warned and "NOT verified" in warned[0], r.stderr
        # the CA file makes it verified and quiet
        r = subprocess.run([*KEA_ETL, "kea", "version-get", "--url", agent.url, "--service",
                            "dhcp4", "--ca-file", pki["ca.pem"]], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0 and "Warning" not in r.stderr, r.stderr
    finally:
        agent.close()


@pytest.mark.parametrize("host,warns", [("127.0.0.1", False), ("[::1]", False),
                                        ("localhost", False), ("192.0.2.7", True),
                                        ("[2001:db8::7]", True), ("kea.example.net", True)])
def test_basic_auth_over_plain_http_warns_off_loopback(host: str, warns: bool) -> None:
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        HttpTransport(f"http://{host}:8000", username="u", password="p")  # no traffic sent
        HttpTransport(f"http://{host}:8000")  # no credentials: nothing to warn about
    sec = [w for w in got if issubclass(w.category, SecurityWarning)]
    assert len(sec) == (1 if warns else 0), [str(w.message) for w in got]
    if warns:
        assert "plain http" in str(sec[0].message) and "p" not in str(sec[0].message).split()


def test_basic_auth_warning_on_the_command_line() -> None:
    """In an empty network namespace (no route: nothing leaves the machine)."""
    r = subprocess.run(["unshare", "-n", *KEA_ETL, "kea", "version-get", "--url",
                        "http://192.0.2.7:8000", "--service", "dhcp4", "--user", "u",
                        "--retries", "0", "--timeout", "2"], capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, KEA_ETL_PASSWORD=SECRET))
    assert r.returncode == 2
    first = r.stderr.splitlines()[0]
    assert first.startswith("Warning: basic auth over plain http to http://192.0.2.7:8000"), r.stderr
    assert SECRET not in r.stderr


def test_state_and_memfile_permissions(tmp_path: Path) -> None:
    """The checkpoint (0600) and the memfile Kea will read (0640: no world access)."""
    src = tmp_path / "dhcpd.leases"
    _leases(src)
    conf = tmp_path / "dhcpd.conf"
    conf.write_text("host h { hardware ethernet 02:00:00:00:09:09; fixed-address 192.0.2.99; }\n")
    cfg = tmp_path / "kea.json"
    cfg.write_text(json.dumps({"Dhcp4": {"subnet4": [{"id": 1, "subnet": "192.0.2.0/24"}]}}))
    r = subprocess.run([*KEA_ETL, "migrate", str(src), f"isc-conf:{conf}", "--to",
                        f"memfile:{tmp_path / 'out'}",
                        "--kea-config", str(cfg), "--as-of", AS_OF, "--no-progress"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr  # the truncated record fails
    for name in ("kea-leases4.csv", "reservations4.json"):  # client MACs and names
        mode = (tmp_path / "out" / name).stat().st_mode & 0o777
        assert mode & 0o007 == 0 and mode & 0o020 == 0, (name, oct(mode))
    from kea_etl.load.checkpoint import Checkpoint
    cp = Checkpoint(tmp_path / "s.sqlite", "fp", resume=False)
    cp.close()
    assert (tmp_path / "s.sqlite").stat().st_mode & 0o077 == 0


EVIL = "x'); DROP TABLE lease4; --"


@pytest.mark.kea
def test_hostile_hostname_through_kea_sql_and_the_warehouse(kea4: Any, tmp_path: Path,
                                                            kea_pg_db: str) -> None:
    """SQL is parameterised: the hostname arrives verbatim and every table survives."""
    src = tmp_path / "dhcpd.leases"
    src.write_text("lease 192.0.2.10 {\n  starts 5 2026/11/27 20:00:00;\n  ends 6 2026/11/28 "
                   "20:00:00;\n  binding state active;\n  hardware ethernet 02:00:00:00:00:01;\n"
                   f'  client-hostname "{EVIL}";\n}}\n')
    cfg = tmp_path / "kea.json"
    cfg.write_text(json.dumps({"Dhcp4": {"subnet4": [{"id": 1, "subnet": "192.0.2.0/24"}]}}))
    r = subprocess.run([*KEA_ETL, "migrate", str(src), "--to",
                        f"kea-sql:postgresql://postgres@127.0.0.1/{kea_pg_db}", "--kea-config",
                        str(cfg), "--as-of", AS_OF, "--no-progress", "--report",
                        str(tmp_path / "r.json")], capture_output=True, text=True, timeout=120,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _sql(kea_pg_db, "SELECT hostname FROM lease4") == EVIL
    # the same value from a live Kea into the warehouse (SQLite and PostgreSQL)
    assert kea4.command("lease4-add", {"ip-address": "192.0.2.10",
                                       "hw-address": "02:00:00:00:00:01", "valid-lft": 86400,
                                       "hostname": EVIL})["result"] == 0
    for url in (f"sqlite:///{tmp_path}/wh.db",
                f"postgresql+psycopg2://postgres@127.0.0.1/{kea_pg_db}"):
        r = subprocess.run([*KEA_ETL, "export", "--kea", kea4.socket_url, "--to", url],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
    import sqlite3
    with sqlite3.connect(tmp_path / "wh.db") as db:
        assert db.execute("SELECT hostname FROM leases_current").fetchall() == [(EVIL.lower(),)]
    assert _sql(kea_pg_db, "SELECT hostname FROM leases_current") == EVIL.lower()
    assert _sql(kea_pg_db, "SELECT count(*) FROM lease4") == "1"  # Kea's table is still there


@pytest.mark.kea
@pytest.mark.kea3
def test_cache_load_file_is_private_and_removed(kea_factory: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The host-cache file Kea must read is 0600 (owned by Kea's data dir owner) and is gone
    once Kea has loaded it."""
    from kea_etl.load import reservations
    from tests.load.test_reservations_real import SUBNETS4, _hosts, _load

    srv = kea_factory(family=4, kea3=True, subnets=SUBNETS4, hooks=("lease_cmds", "host_cache"))
    seen: list[tuple[int, int]] = []
    orig = reservations._write_private

    def spy(path: Path, text: str) -> None:
        orig(path, text)
        st = path.stat()
        seen.append((st.st_mode & 0o777, st.st_uid))

    monkeypatch.setattr(reservations, "_write_private", spy)
    report, loader = _load(srv, _hosts(), server_dir=srv.kea_dir, local_dir=str(srv.dir))
    assert loader.strategy == "cache-load" and report.loaded == 2
    assert seen == [(0o600, srv.dir.stat().st_uid)]
    assert not list(srv.dir.glob("kea-etl-*.json"))
