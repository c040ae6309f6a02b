"""kea-sql: leases and hosts written into a real Kea 2.2 schema (PostgreSQL and MariaDB),
read back by a real Kea 2.2 running with that database as lease-database and hosts-database."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from ipaddress import IPv4Address
from typing import Any

import pytest

from kea_etl.load.kea_sql import KeaSqlLoader, connect, parse_sql_target
from kea_etl.records import Lease4, Lease6, Reservation
from kea_etl.report import RunReport

pytestmark = pytest.mark.kea

NOW = 1_795_000_000  # 2026-11-18: in the future relative to none of the asserts (times are exact)

ENGINES = ["postgresql", "mysql"]


def _admin(engine: str, sql: str) -> None:
    if engine == "postgresql":
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-q", "-c", sql],
                       check=True, capture_output=True)
    else:
        subprocess.run(["mysql", "-h", "127.0.0.1", "-u", "root", "-e", sql], check=True,
                       capture_output=True)


@pytest.fixture(scope="module", params=ENGINES)
def kea_db(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """A fresh database with Kea's schema (kea-admin db-init); dropped afterwards."""
    engine: str = request.param
    name = f"kea_etl_test_{os.getpid()}_{engine[:2]}"
    _admin(engine, f"DROP DATABASE IF EXISTS {name}")
    _admin(engine, f"CREATE DATABASE {name}")
    env = dict(os.environ, KEA_ADMIN_DB_PASSWORD="")
    user = "postgres" if engine == "postgresql" else "root"
    r = subprocess.run(["kea-admin", "db-init", "pgsql" if engine == "postgresql" else "mysql",
                        "-u", user, "-n", name, "-h", "127.0.0.1"], env=env, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    url = f"kea-sql:{engine}://{user}@127.0.0.1/{name}"
    try:
        yield engine, url
    finally:
        _admin(engine, f"DROP DATABASE IF EXISTS {name}")


def _db_cfg(engine: str, url: str) -> dict[str, Any]:
    t = parse_sql_target(url)
    cfg: dict[str, Any] = {"type": "postgresql" if engine == "postgresql" else "mysql",
                           "name": t.database, "host": "127.0.0.1", "user": t.user,
                           "port": t.port}
    if engine == "mysql":
        cfg["password"] = ""
    return cfg


def _wipe(url: str) -> None:
    conn = connect(parse_sql_target(url))
    with conn.cursor() as cur:
        for table in ("ipv6_reservations", "dhcp4_options", "dhcp6_options", "hosts",
                      "lease4", "lease6"):
            cur.execute(f"DELETE FROM {table}")
    conn.commit()
    conn.close()


def _items(records: list[Any]) -> list[Any]:
    return [replace(r, origin="t.leases", line=i + 1) for i, r in enumerate(records)]


LEASES4 = [
    Lease4(address="192.0.2.10", hwaddr="00:11:22:33:44:01", client_id="01:00:11:22:33:44:01",
           valid_lft=3600, cltt=NOW, subnet_id=1, hostname="alpha,one"),
    Lease4(address="192.0.2.11", hwaddr="00:11:22:33:44:02", valid_lft=7200, cltt=NOW + 5,
           subnet_id=1, state=1, user_context={"origin": "dhcpd"}),
    Lease4(address="198.51.100.20", hwaddr="00:11:22:33:44:03", valid_lft=600, cltt=NOW - 100,
           subnet_id=2, hostname="gamma", fqdn_fwd=True),
]


def test_leases4_read_back_by_real_kea(kea_db: tuple[str, str], kea_factory: Any) -> None:
    engine, url = kea_db
    _wipe(url)
    report = RunReport()
    KeaSqlLoader(url, batch_size=2).load(_items(LEASES4), report)
    assert (report.loaded, report.failed, report.already_present) == (3, 0, 0)
    srv = kea_factory(family=4, extra={"lease-database": _db_cfg(engine, url)})
    got = srv.command("lease4-get-all")
    assert got["result"] == 0, got
    by_ip = {x["ip-address"]: Lease4.from_kea(x) for x in got["arguments"]["leases"]}
    assert set(by_ip) == {str(x.address) for x in LEASES4}
    for lease in LEASES4:
        assert by_ip[str(lease.address)] == lease, lease.key

    # a second run changes nothing and says so
    again = RunReport()
    KeaSqlLoader(url).load(_items(LEASES4), again)
    assert (again.loaded, again.already_present, again.failed) == (3, 3, 0)


def test_leases4_conflict_skip_then_overwrite(kea_db: tuple[str, str]) -> None:
    engine, url = kea_db
    _wipe(url)
    KeaSqlLoader(url).load(_items(LEASES4[:1]), RunReport())
    other = Lease4(address="192.0.2.10", hwaddr="aa:bb:cc:dd:ee:ff", valid_lft=3600, cltt=NOW,
                   subnet_id=1)
    skip = RunReport()
    KeaSqlLoader(url).load(_items([other]), skip)
    assert (skip.loaded, skip.failed, skip.conflicts) == (0, 1, 1)
    assert "00:11:22:33:44:01" in (skip.problems[0].detail or "")
    over = RunReport()
    KeaSqlLoader(url, on_conflict="overwrite").load(_items([other]), over)
    assert (over.loaded, over.failed) == (1, 0)
    conn = connect(parse_sql_target(url))
    with conn.cursor() as cur:
        cur.execute("SELECT hwaddr FROM lease4 WHERE address = %s",
                    (int(IPv4Address("192.0.2.10")),))
        assert bytes(cur.fetchone()[0]).hex(":") == "aa:bb:cc:dd:ee:ff"
    conn.close()


LEASES6 = [
    Lease6(address="2001:db8:1::1001", duid="00:03:00:01:00:11:22:33:44:55", iaid=1,
           valid_lft=4000, preferred_lft=3000, cltt=NOW, subnet_id=1, hostname="v6a"),
    Lease6(address="2001:db8:1::1002", duid="00:03:00:01:00:11:22:33:44:66", iaid=0xFFFFFFF0,
           valid_lft=4000, preferred_lft=3000, cltt=NOW, subnet_id=1),
    Lease6(address="2001:db8:8000:100::", duid="00:03:00:01:00:11:22:33:44:55", iaid=2,
           lease_type="IA_PD", prefix_len=56, valid_lft=4000, preferred_lft=3000, cltt=NOW,
           subnet_id=1),
]


def test_leases6_and_pd_read_back_by_real_kea(kea_db: tuple[str, str], kea_factory: Any) -> None:
    engine, url = kea_db
    _wipe(url)
    report = RunReport()
    KeaSqlLoader(url).load(_items(LEASES6), report)
    assert (report.loaded, report.failed) == (3, 0)
    srv = kea_factory(family=6, extra={"lease-database": _db_cfg(engine, url)})
    got = srv.command("lease6-get-all")
    assert got["result"] == 0, got
    back = {Lease6.from_kea(x).key: Lease6.from_kea(x) for x in got["arguments"]["leases"]}
    assert set(back) == {x.key for x in LEASES6}
    for lease in LEASES6:
        assert back[lease.key] == lease, lease.key


def test_hosts_written_and_kea_starts_with_them(kea_db: tuple[str, str],
                                                kea_factory: Any) -> None:
    engine, url = kea_db
    _wipe(url)
    hosts = [
        Reservation(family=4, identifier_type="hw-address", identifier="00:aa:bb:cc:dd:01",
                    subnet_id=1, ipv4_address=IPv4Address("192.0.2.200"), hostname="printer"),
        Reservation(family=6, identifier_type="duid", identifier="00:01:02:03:04:05",
                    subnet_id=1, ip_addresses=("2001:db8:1::cafe",),  # type: ignore[arg-type]
                    prefixes=("2001:db8:8000:ff00::/56",)),  # type: ignore[arg-type]
    ]
    report = RunReport()
    KeaSqlLoader(url).load(_items(hosts), report)
    assert (report.loaded, report.failed) == (2, 0)
    again = RunReport()
    KeaSqlLoader(url).load(_items(hosts), again)
    assert again.already_present == 2
    conflict = Reservation(family=4, identifier_type="hw-address", identifier="00:aa:bb:cc:dd:01",
                           subnet_id=1, ipv4_address=IPv4Address("192.0.2.201"))
    c = RunReport()
    KeaSqlLoader(url).load(_items([conflict]), c)
    assert c.conflicts == 1
    conn = connect(parse_sql_target(url))
    with conn.cursor() as cur:
        cur.execute("SELECT address, prefix_len, type FROM ipv6_reservations ORDER BY address")
        assert [tuple(r) for r in cur.fetchall()] == [("2001:db8:1::cafe", 128, 0),
                                                      ("2001:db8:8000:ff00::", 56, 2)]
        cur.execute("SELECT ipv4_address FROM hosts WHERE dhcp4_subnet_id = 1")
        assert [int(r[0]) for r in cur.fetchall()] == [int(IPv4Address("192.0.2.200"))]
    conn.close()
    # Kea 2.2 accepts the database as hosts-database (it checks the schema version at start);
    # without host_cmds it cannot list hosts, so the read-back of hosts is the DHCP exchange
    # in the cutover test.
    srv = kea_factory(family=4, extra={"lease-database": _db_cfg(engine, url),
                                       "hosts-database": _db_cfg(engine, url)})
    assert srv.command("config-get")["result"] == 0


def test_password_in_url_refused() -> None:
    from kea_etl.errors import InvalidURLError
    with pytest.raises(InvalidURLError, match="do not put the database password in the URL"):
        parse_sql_target("kea-sql:postgresql://kea:secret@127.0.0.1/kea")


def test_cli_migrate_to_kea_sql_then_kea_serves_them(kea_db: tuple[str, str], kea_factory: Any,
                                                     tmp_path: Any) -> None:
    import json
    import sys
    from pathlib import Path

    engine, url = kea_db
    _wipe(url)
    src = tmp_path / "dhcpd.leases"
    src.write_text("".join(
        f"lease 192.0.2.{20 + i} {{\n  starts 5 2026/11/27 20:00:00;\n"
        f"  ends 6 2026/11/28 20:00:00;\n  cltt 5 2026/11/27 20:00:00;\n"
        f"  binding state active;\n  hardware ethernet 02:00:00:00:01:{i:02x};\n}}\n"
        for i in range(25)))
    cfg = tmp_path / "kea.json"
    cfg.write_text(json.dumps({"Dhcp4": {"subnet4": [{"id": 1, "subnet": "192.0.2.0/24"}]}}))
    exe = str(Path(sys.executable).with_name("kea-etl"))
    base = [exe, "migrate", str(src), "--to", url, "--kea-config", str(cfg),
            "--as-of", "2026-11-27T21:00:00Z", "--report", str(tmp_path / "r.json")]
    dry = subprocess.run([*base, "--dry-run"], capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    assert "lease4 upserts x25" in dry.stdout
    conn = connect(parse_sql_target(url))
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM lease4")
        assert cur.fetchone()[0] == 0  # the dry run wrote nothing
    conn.close()
    run = subprocess.run(base, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    rep = json.loads((tmp_path / "r.json").read_text())
    assert (rep["read"], rep["loaded"], rep["failed"]) == (25, 25, 0)
    srv = kea_factory(family=4, extra={"lease-database": _db_cfg(engine, url)})
    leases = srv.command("lease4-get-all")["arguments"]["leases"]
    assert sorted(x["hw-address"] for x in leases) == [f"02:00:00:00:01:{i:02x}"
                                                       for i in range(25)]
    again = subprocess.run(base, capture_output=True, text=True)
    assert again.returncode == 0 and "nothing changed" in again.stdout, again.stdout
    bad = subprocess.run([*base[:4], "kea-sql:postgresql://kea:hunter2@127.0.0.1/x",
                          *base[5:]], capture_output=True, text=True)
    assert bad.returncode == 2 and "do not put the database password in the URL" in bad.stderr
    assert "hunter2" not in bad.stderr


def test_same_client_other_expiry_kept_in_add_replaced_in_upsert(kea_db: tuple[str, str]) -> None:
    engine, url = kea_db
    _wipe(url)
    first = LEASES4[1]
    KeaSqlLoader(url).load(_items([first]), RunReport())
    later = replace(first, cltt=first.cltt + 900)
    add = RunReport()
    KeaSqlLoader(url).load(_items([later]), add)
    assert (add.already_present, add.failed) == (1, 0)
    up = RunReport()
    KeaSqlLoader(url, mode="upsert").load(_items([later]), up)
    assert (up.loaded, up.already_present) == (1, 0)
    again = RunReport()
    KeaSqlLoader(url).load(_items([later]), again)
    assert again.already_present == 1 and not again.problems  # identical now
