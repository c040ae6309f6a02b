"""The compatibility layer: the same checks on every supported Kea (2.2, 2.6, 3.0, 3.2).

Each test takes ``kea_install`` and so runs once per version picked by ``KEA_ETL_KEA`` (default
all; tests/harness/matrix.py). The deep behaviour tests elsewhere run once, on the host's Kea;
these stay lean: the control channels, result codes, a live migrate of the sample data with its
re-run, reconcile and export, a memfile written for the version and loaded by it, and kea-sql
(leases and hosts) into that version's own PostgreSQL and MariaDB schemas read back by that Kea
(reservation-get-all where it has host_cmds).

Sample leases keep their own dates: ``--as-of`` is pinned to the moment the sample was made
(tests.harness.clock.SAMPLE_ANCHOR), as scripts/demo does, so the same leases count as active on
any date.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from kea_etl.cli import main
from kea_etl.errors import (
    KeaAuthError,
    KeaCommandError,
    KeaConflictError,
    KeaPartialConfigError,
    KeaUnsupportedError,
)
from kea_etl.kea import KeaClient
from kea_etl.load.kea_sql import parse_sql_target
from kea_etl.load.memfile import KEA_VERSIONS
from tests.harness import clock
from tests.harness.databases import ENGINES, kea_database
from tests.harness.kea import KeaInstall, KeaServer

pytestmark = pytest.mark.kea

SAMPLE = clock.SAMPLE_DIR
AS_OF = dt.datetime.fromtimestamp(clock.SAMPLE_ANCHOR, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
LEASES = {4: SAMPLE / "dhcpd.leases", 6: SAMPLE / "dhcpd6.leases"}
KEA_CONFIG = {4: SAMPLE / "kea-dhcp4.json", 6: SAMPLE / "kea-dhcp6.json"}


def _subnets(family: int) -> Any:
    return json.loads(KEA_CONFIG[family].read_text())[f"Dhcp{family}"][f"subnet{family}"]


def _cli(*args: str, code: int | None = 0) -> Any:
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    if code is not None:
        assert r.exit_code == code, f"kea-etl {' '.join(args)} -> {r.exit_code}\n{r.output}"
    return r


def _memfile_format(version: str) -> str:
    """The newest memfile format kea-etl can write that is not newer than ``version``
    (kea_etl.load.memfile.KEA_VERSIONS; Kea 3.2 reads 3.0's columns unchanged)."""
    def key(v: str) -> tuple[int, ...]:
        return tuple(int(x) for x in v.split(".")[:2])
    return max((v for v in KEA_VERSIONS if key(v) <= key(version)), key=key)


# ---- control channel ---------------------------------------------------------------------------
def test_unix_socket_version_and_commands(kea_install: KeaInstall, kea_v4: KeaServer,
                                          kea_v6: KeaServer) -> None:
    """kea_etl's client over each daemon's UNIX socket: version-get names the version, and
    list-commands shows lease_cmds (what every migration needs) on both daemons."""
    for srv in (kea_v4, kea_v6):
        client = KeaClient.from_url(srv.socket_url)
        assert client.version_get() == kea_install.version
        fam = srv.family
        assert {f"lease{fam}-add", f"lease{fam}-get-page", f"lease{fam}-update",
                "config-get", "list-commands"} <= client.commands()


def test_http_through_kea_ctrl_agent(kea_install: KeaInstall, kea_factory: Callable[..., KeaServer]) -> None:
    """kea-ctrl-agent (Kea 2.x and 3.0, deprecated there; removed in 3.2) forwards to the daemon
    named by ``service``."""
    if not kea_install.has("kea-ctrl-agent"):
        pytest.skip(f"{kea_install.describe()} has no kea-ctrl-agent (removed in Kea 3.2)")
    srv = kea_factory(family=4, kea=kea_install, ctrl_agent=True)
    client = KeaClient.from_url(srv.http_url, service="dhcp4")
    assert client.version_get() == kea_install.version
    assert "lease4-add" in client.commands()


def test_http_on_the_daemon_with_basic_auth(kea_install: KeaInstall,
                                            kea_factory: Callable[..., KeaServer]) -> None:
    """Kea 3.x daemons serve HTTP themselves; basic auth from user/password files (3.2 refuses an
    unsecured HTTP socket and clear-text credentials). Wrong password: KeaAuthError."""
    if kea_install.version_tuple < (3,):
        pytest.skip(f"Kea {kea_install.version}: no HTTP control socket on the daemon before 3.0")
    srv = kea_factory(family=4, kea=kea_install, http_auth=True)
    assert srv.http_url and srv.http_credentials
    user, password = srv.http_credentials
    client = KeaClient.from_url(srv.http_url, username=user, password=password)
    assert client.version_get() == kea_install.version
    assert "lease4-add" in client.commands()
    with pytest.raises(KeaAuthError):
        KeaClient.from_url(srv.http_url, username=user, password="wrong", retries=0).version_get()
    # ``service`` naming the daemon itself is accepted; Kea 3.2 validates it (another daemon's
    # name is refused), 3.0 ignores it.
    own = KeaClient.from_url(srv.http_url, service="dhcp4", username=user, password=password)
    assert own.version_get() == kea_install.version
    other = KeaClient.from_url(srv.http_url, service="dhcp6", username=user, password=password)
    if kea_install.version_tuple >= (3, 2):
        with pytest.raises(KeaCommandError):
            other.version_get()
    else:
        assert other.version_get() == kea_install.version


def test_result_codes_decoded(kea_install: KeaInstall, kea_factory: Callable[..., KeaServer]) -> None:
    """0, 1, 2, 3, 4 on every version; a hook library that fails to load in config-set is result 1
    on 2.x and result 5 (KeaPartialConfigError: configuration not reverted) on 3.x -- seen on
    3.0.4 already, although ISC's notes list result 5 as new in 3.2."""
    srv = kea_factory(family=4, kea=kea_install)
    client = KeaClient.from_url(srv.socket_url, retries=0)
    assert client.lease4_get("192.0.2.99") is None                        # 3: empty
    lease = {"ip-address": "192.0.2.20", "hw-address": "02:00:00:00:00:20", "valid-lft": 3600,
             "expire": clock.now() + 3000}
    client.call("lease4-add", lease)                                      # 0
    with pytest.raises(KeaConflictError):                                 # 4 (2.2: 1 "exists")
        client.call("lease4-add", {**lease, "hw-address": "02:00:00:00:00:21"})
    with pytest.raises(KeaUnsupportedError):                              # 2
        client.call("reservation-get-by-nothing")
    with pytest.raises(KeaCommandError) as ei:                            # 1
        client.call("lease4-add", {"hw-address": "02:00:00:00:00:22"})
    assert ei.value.result == 1
    # a hooks library whose load() fails (HA without its parameters), applied with config-set
    cfg = client.call("config-get").arguments
    cfg.pop("hash", None)
    cfg["Dhcp4"]["hooks-libraries"].append({"library": f"{kea_install.hooks_dir}/libdhcp_ha.so"})
    with pytest.raises(KeaCommandError) as ei:
        client.call("config-set", cfg)
    if kea_install.version_tuple >= (3,):
        assert isinstance(ei.value, KeaPartialConfigError) and ei.value.result == 5, ei.value
    else:
        assert not isinstance(ei.value, KeaPartialConfigError) and ei.value.result == 1, ei.value


# ---- live migrate, re-run, reconcile, export ---------------------------------------------------
@pytest.mark.parametrize("family", [4, 6])
def test_live_migrate_rerun_reconcile_export(kea_install: KeaInstall,
                                             kea_factory: Callable[..., KeaServer],
                                             family: int, tmp_path: Path) -> None:
    """The sample's dhcpd lease file into a live Kea of this version over its UNIX socket: every
    active lease lands, a second run sends nothing new, reconcile finds no difference (exit 0) and
    an export to SQLite holds the same leases."""
    srv = kea_factory(family=family, kea=kea_install, subnets=_subnets(family))
    base = ["--kea-config", str(KEA_CONFIG[family]), "--as-of", AS_OF]
    _cli("migrate", str(LEASES[family]), "--to", f"kea:{srv.socket_url}", *base,
         "--report", str(tmp_path / "r1.json"), "--no-progress")
    first = json.loads((tmp_path / "r1.json").read_text())
    held = srv.leases()
    assert first["loaded"] == len(held) > 100, first
    _cli("migrate", str(LEASES[family]), "--to", f"kea:{srv.socket_url}", *base,
         "--report", str(tmp_path / "r2.json"), "--no-progress")
    second = json.loads((tmp_path / "r2.json").read_text())
    assert second["already_present"] == len(held), second
    assert len(srv.leases()) == len(held)
    _cli("reconcile", str(LEASES[family]), "--kea", srv.socket_url, *base,
         "--json", str(tmp_path / "recon.json"))
    url = f"sqlite:///{tmp_path}/wh.db"
    _cli("export", "--kea", srv.socket_url, "--family", str(family), "--to", url, "--no-stats")
    with sa.create_engine(url).connect() as conn:
        n = conn.execute(sa.text("select count(*) from leases_current")).scalar_one()
    assert n == len(held)


# ---- memfile written for this version, loaded by it ------------------------------------------------
@pytest.mark.parametrize("family", [4, 6])
def test_memfile_for_this_version_survives_restart(kea_install: KeaInstall,
                                                   kea_factory: Callable[..., KeaServer],
                                                   family: int, tmp_path: Path) -> None:
    """``--kea-version`` picks the memfile columns this Kea writes itself (pool_id from 2.4), so
    the first start finds nothing to convert: the server holds exactly the migrated leases, before
    and after a restart, and leaves no ``.1`` / ``.2`` file behind (Kea 2.6.3 does, given 2.2's
    format, and reads it back on the next start)."""
    fmt = _memfile_format(kea_install.version)
    out = tmp_path / "out"
    _cli("migrate", str(LEASES[family]), "--to", f"memfile:{out}", "--kea-config",
         str(KEA_CONFIG[family]), "--as-of", AS_OF, "--kea-version", fmt,
         "--report", str(tmp_path / "r.json"), "--no-progress")
    report = json.loads((tmp_path / "r.json").read_text())
    csv = out / f"kea-leases{family}.csv"
    srv = kea_factory(family=family, kea=kea_install, subnets=_subnets(family), lease_file=csv)
    first = {x["ip-address"] for x in srv.leases()}
    assert len(first) == report["loaded"] > 100, report
    srv.restart()
    assert {x["ip-address"] for x in srv.leases()} == first
    # the wrong format shows here as kea-leases4.csv.1 after the first start, .2 after the next
    assert sorted(p.name for p in srv.dir.glob(f"kea-leases{family}.csv.*")) == []


# ---- kea-sql into this version's own schema, PostgreSQL and MariaDB --------------------------------
CONFS = {4: SAMPLE / "dhcpd.conf", 6: SAMPLE / "dhcpd6.conf"}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("family", [4, 6])
def test_kea_sql_into_this_versions_schema(kea_install: KeaInstall, engine: str,
                                           kea_factory: Callable[..., KeaServer], family: int,
                                           tmp_path: Path) -> None:
    """kea-sql writes the sample leases and hosts into the schema this version makes (its own
    kea-admin or create script), on PostgreSQL and MariaDB; that Kea, with the database as its
    lease and hosts database (the libdhcp_pgsql / libdhcp_mysql hook from 3.0, built in
    before), starts on it, returns every lease through lease*-get-all and, where it has
    host_cmds (3.x), every reservation through reservation-get-all; a second run writes
    nothing."""
    with kea_database(engine, kea_install, tag="kea_etl_v") as url:
        base = ["--kea-config", str(KEA_CONFIG[family]), "--as-of", AS_OF, "--no-progress"]
        sources = [str(LEASES[family]), str(CONFS[family])]
        _cli("migrate", *sources, "--to", url, *base, "--report", str(tmp_path / "r1.json"))
        first = json.loads((tmp_path / "r1.json").read_text())
        t = parse_sql_target(url)
        db: dict[str, Any] = {"type": "postgresql" if engine == "postgresql" else "mysql",
                              "name": t.database, "host": "127.0.0.1", "user": t.user}
        if engine == "mysql":
            db["password"] = ""
        three = kea_install.version_tuple >= (3,)
        hooks = ["lease_cmds"] + (["pgsql" if engine == "postgresql" else "mysql", "host_cmds"]
                                  if three else [])
        srv = kea_factory(family=family, kea=kea_install, subnets=_subnets(family), hooks=hooks,
                          extra={"lease-database": db, "hosts-database": db})
        held = srv.leases()
        assert len(held) > 100 and first["loaded"] > len(held), first  # leases, then hosts
        if three:
            hosts = 0
            for sub in [{"id": 0}, *_subnets(family)]:  # 0: the global reservations
                got = srv.command("reservation-get-all", {"subnet-id": sub["id"]})
                assert got["result"] in (0, 3), got  # 3: none in that subnet
                hosts += len((got.get("arguments") or {}).get("hosts", []))
            assert hosts == first["loaded"] - len(held), (hosts, first)
        _cli("migrate", *sources, "--to", url, *base, "--report", str(tmp_path / "r2.json"))
        second = json.loads((tmp_path / "r2.json").read_text())
        assert second["already_present"] == first["loaded"], second
