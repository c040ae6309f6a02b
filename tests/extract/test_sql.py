"""SQL extractor against SQLite, a real PostgreSQL and a real MariaDB (tables made and dropped here).

The PostgreSQL and MariaDB tables copy the shape of Kea's own lease4 schema (integer address,
binary hwaddr / client_id, timestamp expire), so the default mapping is checked on the layout
operators meet most.
"""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kea_etl.errors import ConfigError, InvalidURLError, MalformedRecordError
from kea_etl.extract import sql
from kea_etl.extract.base import Extracted
from kea_etl.records import Lease4, Lease6, Reservation
from tests.harness.databases import kea_schema

PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
MY_URL = "mysql+pymysql://root@127.0.0.1:3306/test"
EXP = 2_000_000_000


def split(items: Iterable[Any]) -> tuple[list[Extracted], list[MalformedRecordError]]:
    good: list[Extracted] = []
    bad: list[MalformedRecordError] = []
    for it in items:
        (bad if isinstance(it, MalformedRecordError) else good).append(it)
    return good, bad


@pytest.fixture
def sqlite_db(tmp_path: Path) -> str:
    db = tmp_path / "leases.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE leases (ip TEXT, mac TEXT, valid_lifetime INTEGER, expire INTEGER, "
                "hostname TEXT, subnet_id INTEGER)")
    rows = [(f"192.0.2.{i}", f"aa:bb:cc:dd:ee:{i:02x}", 3600, EXP + i, f"h{i}", 1) for i in range(1, 8)]
    rows.insert(3, ("192.0.2.300", "aa:bb:cc:dd:ee:ff", 3600, EXP, "bad", 1))
    con.executemany("INSERT INTO leases VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.execute("CREATE TABLE hosts (mac TEXT, ip TEXT, name TEXT)")
    con.execute("INSERT INTO hosts VALUES ('aa:bb:cc:dd:ee:01', '192.0.2.99', 'printer')")
    con.commit()
    con.close()
    return f"sqlite:///{db}"


@pytest.mark.parametrize("chunksize", [1, 3, 10_000])
def test_sqlite_table_default_mapping(sqlite_db: str, chunksize: int) -> None:
    good, bad = split(sql.extract(sqlite_db, table="leases", chunksize=chunksize))
    assert [g.record for g in good] == [
        Lease4(address=f"192.0.2.{i}", hwaddr=f"aa:bb:cc:dd:ee:{i:02x}", valid_lft=3600, cltt=EXP + i - 3600,
               hostname=f"h{i}", subnet_id=1) for i in range(1, 8)]
    assert [g.line for g in good] == [1, 2, 3, 5, 6, 7, 8]
    assert [(b.line, b.key) for b in bad] == [(4, "192.0.2.300")]
    assert bad[0].source.endswith("leases.db leases")


def test_sqlite_query_with_params_and_reservations(sqlite_db: str) -> None:
    good, _ = split(sql.extract(sqlite_db, query="SELECT * FROM leases WHERE subnet_id = :s AND hostname "
                                "LIKE :h", params={"s": 1, "h": "h%"}))
    assert len(good) == 7
    # what `kea-etl migrate URL --query leases` passes: a bare table name as the query
    assert len(split(sql.extract(sqlite_db, query="leases"))[0]) == 7
    (res,) = sql.extract(sqlite_db, table="hosts", mapping={"kind": "reservation4", "columns": {
        "hwaddr": "mac", "address": "ip", "hostname": "name"}})
    assert isinstance(res, Extracted)
    assert res.record == Reservation(family=4, identifier_type="hw-address", identifier="aa:bb:cc:dd:ee:01",
                                     ipv4_address="192.0.2.99", hostname="printer")


def test_errors(sqlite_db: str) -> None:
    with pytest.raises(ConfigError, match="exactly one of table= or query="):
        list(sql.extract(sqlite_db))
    with pytest.raises(ConfigError, match="the query failed"):
        list(sql.extract(sqlite_db, query="SELECT * FROM nope"))
    with pytest.raises(ConfigError, match="not a plain identifier"):
        list(sql.extract(sqlite_db, table="leases; DROP TABLE leases"))
    with pytest.raises(ConfigError, match="mapped column 'nope'"):
        list(sql.extract(sqlite_db, query="SELECT * FROM leases WHERE 0",
                         mapping={"kind": "lease4", "columns": {"address": "nope"}}))
    with pytest.raises(InvalidURLError, match="not a SQLAlchemy URL"):
        list(sql.extract("::nope::", table="x"))
    with pytest.raises(ConfigError, match="cannot connect to postgresql"):
        list(sql.extract("postgresql+psycopg2://postgres@127.0.0.1:1/test", table="x"))
    # a password in the URL is refused before any connection (issue 13), and never shown
    with pytest.raises(InvalidURLError, match="do not put a password in the URL") as exc:
        list(sql.extract("postgresql+psycopg2://postgres:secret@127.0.0.1:1/test", table="x"))
    assert "secret" not in str(exc.value)


def test_is_url() -> None:
    assert sql.is_url("postgresql://u@h/db") and sql.is_url("mysql+pymysql://root@h/test")
    assert sql.is_url("sqlite:///x.db")
    assert not sql.is_url("/var/lib/dhcp/dhcpd.leases") and not sql.is_url("http://127.0.0.1:8000")
    assert not sql.sniff(b"anything")


def _server(url: str) -> sa.Engine:
    engine = sa.create_engine(url)
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        pytest.skip(f"database not reachable: {exc.orig}")
    return engine


@pytest.fixture
def pg_table() -> Iterator[str]:
    engine = _server(PG_URL)
    name = f"kea_etl_test_{uuid.uuid4().hex[:10]}"
    with engine.begin() as c:
        c.execute(sa.text(f"CREATE TABLE {name} (address BIGINT, hwaddr BYTEA, client_id BYTEA, "
                          "valid_lifetime BIGINT, expire TIMESTAMPTZ, subnet_id BIGINT, fqdn_fwd BOOLEAN, "
                          "fqdn_rev BOOLEAN, hostname VARCHAR(255), state BIGINT, user_context TEXT)"))
        for i in range(1, 6):
            c.execute(sa.text(f"INSERT INTO {name} VALUES (:a, :hw, :cid, 3600, :e, 1, :f, :f, :h, 0, :u)"),
                      {"a": int(IPv4Address(f"192.0.2.{i}")), "hw": bytes([0xAA, 0xBB, 0xCC, 0, 0, i]),
                       "cid": bytes([1, 0xAA, 0xBB, 0xCC, 0, 0, i]) if i % 2 else None,
                       "e": datetime.fromtimestamp(EXP + i, tz=UTC), "f": i == 1,
                       "h": f"h{i}.example.org" if i == 1 else "", "u": '{"n": 1}' if i == 2 else None})
        c.execute(sa.text(f"INSERT INTO {name} VALUES (3232235777, NULL, NULL, 3600, NULL, 1, false, false, "
                          "'', 0, NULL)"))
    try:
        yield name
    finally:
        with engine.begin() as c:
            c.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
        engine.dispose()


def _kea_like_expected() -> list[Lease4]:
    return [Lease4(address=f"192.0.2.{i}", hwaddr=f"aa:bb:cc:00:00:{i:02x}",
                   client_id=f"01:aa:bb:cc:00:00:{i:02x}" if i % 2 else None, valid_lft=3600,
                   cltt=EXP + i - 3600, subnet_id=1, fqdn_fwd=i == 1, fqdn_rev=i == 1,
                   hostname=f"h{i}.example.org" if i == 1 else "", user_context={"n": 1} if i == 2 else None)
            for i in range(1, 6)]


def test_postgresql_kea_shaped_table_streamed(pg_table: str) -> None:
    good, bad = split(sql.extract(PG_URL, query=f"SELECT * FROM {pg_table} ORDER BY address", chunksize=2))
    assert [g.record for g in good] == _kea_like_expected()
    # 192.168.1.1 with no hwaddr and no expire: reported, with the address decoded from the integer
    assert [(b.line, b.key) for b in bad] == [(6, "192.168.1.1")]
    assert "expire" in str(bad[0])


def test_postgresql_plain_url_falls_back_to_installed_driver(pg_table: str) -> None:
    good, _ = split(sql.extract("postgresql://postgres@127.0.0.1:5432/test", table=pg_table))
    assert len(good) == 5


@pytest.fixture
def mysql_table() -> Iterator[str]:
    engine = _server(MY_URL)
    name = f"kea_etl_test_{uuid.uuid4().hex[:10]}"
    with engine.begin() as c:
        c.execute(sa.text(f"CREATE TABLE {name} (address INT UNSIGNED, hwaddr VARBINARY(20), "
                          "client_id VARBINARY(255), valid_lifetime INT UNSIGNED, expire DATETIME, "
                          "subnet_id INT UNSIGNED, fqdn_fwd TINYINT, fqdn_rev TINYINT, "
                          "hostname VARCHAR(255), state INT UNSIGNED, user_context TEXT)"))
        for i in range(1, 6):
            c.execute(sa.text(f"INSERT INTO {name} VALUES (:a, :hw, :cid, 3600, :e, 1, :f, :f, :h, 0, :u)"),
                      {"a": int(IPv4Address(f"192.0.2.{i}")), "hw": bytes([0xAA, 0xBB, 0xCC, 0, 0, i]),
                       "cid": bytes([1, 0xAA, 0xBB, 0xCC, 0, 0, i]) if i % 2 else None,
                       "e": datetime.fromtimestamp(EXP + i, tz=UTC).replace(tzinfo=None), "f": int(i == 1),
                       "h": f"h{i}.example.org" if i == 1 else "", "u": '{"n": 1}' if i == 2 else None})
    try:
        yield name
    finally:
        with engine.begin() as c:
            c.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
        engine.dispose()


def test_mariadb_naive_datetime_needs_a_timezone(mysql_table: str) -> None:
    good, bad = split(sql.extract(MY_URL, table=mysql_table))
    assert good == [] and len(bad) == 5
    assert "no UTC offset" in str(bad[0])
    mapping: dict[str, Any] = {"kind": "lease4", "timezone": "UTC", "columns": {
        "address": "address", "hwaddr": "hwaddr", "client_id": "client_id", "valid_lft": "valid_lifetime",
        "expire": "expire", "subnet_id": "subnet_id", "fqdn_fwd": "fqdn_fwd", "fqdn_rev": "fqdn_rev",
        "hostname": "hostname", "state": "state", "user_context": "user_context"}}
    good, bad = split(sql.extract(MY_URL, query=f"SELECT * FROM {mysql_table} ORDER BY address",
                                  mapping=mapping, chunksize=2))
    assert bad == []
    assert [g.record for g in good] == _kea_like_expected()


# ---- Kea's own PostgreSQL lease backend, filled by a real Kea ---------------------------------

def _kea_schema(backend: str, name: str) -> None:
    """Kea's schema in database ``name``, made for the Kea the 2.x fixtures run (``KEA_ETL_KEA2``)."""
    from tests.harness.kea import resolve_install

    kea_schema("postgresql" if backend == "pgsql" else "mysql", name,
               resolve_install(None, kea3=False))


@pytest.fixture
def kea_pg_db() -> Iterator[str]:
    """A fresh database with Kea's schema (kea-admin db-init pgsql); dropped afterwards."""
    if shutil.which("kea-admin") is None:
        pytest.skip("kea-admin is not installed")
    admin = _server(PG_URL).execution_options(isolation_level="AUTOCOMMIT")
    name = f"kea_etl_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        c.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        _kea_schema("pgsql", name)
        yield name
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def _pg_lease_db(name: str) -> dict[str, Any]:
    return {"lease-database": {"type": "postgresql", "name": name, "host": "127.0.0.1", "user": "postgres",
                               "password": ""}}


@pytest.mark.kea
def test_kea_pgsql_lease4_table_written_by_real_kea(kea_pg_db: str, kea_factory: Any) -> None:
    srv = kea_factory(family=4, extra=_pg_lease_db(kea_pg_db))
    srv.ok("lease4-add", {"ip-address": "192.0.2.40", "hw-address": "aa:bb:cc:00:00:01"})
    srv.ok("lease4-add", {"ip-address": "192.0.2.41", "hw-address": "aa:bb:cc:00:00:02",
                          "client-id": "01:aa:bb:cc:00:00:02", "hostname": "a,b.example.org",
                          "fqdn-fwd": True, "user-context": {"k": [1, 2]}, "valid-lft": 7200})
    srv.ok("lease4-add", {"ip-address": "198.51.100.7", "hw-address": "aa:bb:cc:00:00:03", "state": 1})
    kea = sorted((Lease4.from_kea(d) for d in srv.leases()), key=lambda r: int(r.address))
    url = PG_URL.rsplit("/", 1)[0] + f"/{kea_pg_db}"
    good, bad = split(sql.extract(url, table="lease4", chunksize=2))
    assert bad == []
    assert sorted((g.record for g in good), key=lambda r: int(r.address)) == kea  # type: ignore[union-attr]
    assert len(kea) == 3


@pytest.mark.kea
def test_kea_pgsql_lease6_table_written_by_real_kea(kea_pg_db: str, kea_factory: Any) -> None:
    srv = kea_factory(family=6, extra=_pg_lease_db(kea_pg_db))
    duid = "00:03:00:01:aa:bb:cc:dd:ee:01"
    srv.ok("lease6-add", {"ip-address": "2001:db8:1::1001", "duid": duid, "iaid": 0xFFFFFFF0,
                          "hostname": "h6"})
    srv.ok("lease6-add", {"ip-address": "2001:db8:8000:100::", "duid": duid, "iaid": 12, "type": "IA_PD",
                          "prefix-len": 56, "subnet-id": 1})
    kea = sorted((Lease6.from_kea(d) for d in srv.leases()), key=lambda r: int(r.address))
    url = PG_URL.rsplit("/", 1)[0] + f"/{kea_pg_db}"
    good, bad = split(sql.extract(url, table="lease6"))
    assert bad == []
    got = sorted((g.record for g in good), key=lambda r: int(r.address))  # type: ignore[union-attr]
    assert got == kea
    assert got[0].iaid == 0xFFFFFFF0  # type: ignore[union-attr]


@pytest.fixture
def kea_mysql_db() -> Iterator[str]:
    """A fresh MariaDB database with Kea's schema (kea-admin db-init mysql); dropped afterwards."""
    if shutil.which("kea-admin") is None:
        pytest.skip("kea-admin is not installed")
    admin = _server(MY_URL)
    name = f"kea_etl_{uuid.uuid4().hex[:10]}"
    with admin.begin() as c:
        c.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        _kea_schema("mysql", name)
        yield name
    finally:
        with admin.begin() as c:
            c.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@pytest.mark.kea
def test_kea_mysql_lease4_table_written_by_real_kea(kea_mysql_db: str, kea_factory: Any) -> None:
    """Kea's MySQL schema keeps expire as a TIMESTAMP (session time zone): UNIX_TIMESTAMP() in the
    query gives epoch seconds whatever the zone, so no 'timezone' guess is needed."""
    srv = kea_factory(family=4, extra={"lease-database": {
        "type": "mysql", "name": kea_mysql_db, "host": "127.0.0.1", "user": "root", "password": ""}})
    srv.ok("lease4-add", {"ip-address": "192.0.2.40", "hw-address": "aa:bb:cc:00:00:01"})
    srv.ok("lease4-add", {"ip-address": "192.0.2.41", "hw-address": "aa:bb:cc:00:00:02",
                          "client-id": "01:aa:bb:cc:00:00:02", "hostname": "x.example.org",
                          "valid-lft": 7200})
    kea = sorted((Lease4.from_kea(d) for d in srv.leases()), key=lambda r: int(r.address))
    url = MY_URL.rsplit("/", 1)[0] + f"/{kea_mysql_db}"
    query = ("SELECT address, hwaddr, client_id, valid_lifetime, "
             "UNIX_TIMESTAMP(expire) AS expire, subnet_id, fqdn_fwd, fqdn_rev, hostname, state, "
             "user_context FROM lease4")
    good, bad = split(sql.extract(url, query=query))
    assert bad == []
    assert sorted((g.record for g in good), key=lambda r: int(r.address)) == kea  # type: ignore[union-attr]
