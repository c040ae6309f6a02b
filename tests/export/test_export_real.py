"""``kea-etl export`` against a real Kea 2.x, into SQLite, the machine's PostgreSQL, Parquet, CSV."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.dataset as pads
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from kea_etl.cli import main
from kea_etl.export import KeaTarget, run_export, server_label
from kea_etl.kea import KeaClient
from tests.harness import clock

pytestmark = pytest.mark.kea

NIGHT = date(2026, 11, 27)


def _fill(srv: Any, n: int = 50) -> None:
    now = clock.now()
    for i in range(n):
        srv.ok("lease4-add", {"ip-address": f"192.0.2.{10 + i}",
                              "hw-address": f"02:00:00:00:00:{i:02x}", "valid-lft": 3600,
                              "expire": now + 3000, "hostname": f"h{i},x"})
    for i in range(3):
        srv.ok("lease4-add", {"ip-address": f"198.51.100.{20 + i}",
                              "hw-address": f"02:00:00:00:01:{i:02x}", "client-id": "01:02:03",
                              "valid-lft": 7200, "expire": now + 7000,
                              "user-context": {"note": f"n{i}"}})


def _count(engine: sa.Engine, sql: str, **params: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql), params).scalar_one())


def test_export_twice_same_night_no_duplicates_sqlite(kea4: Any, tmp_path: Path) -> None:
    _fill(kea4)
    url = f"sqlite:///{tmp_path}/wh.db"
    target = [KeaTarget(kea4.socket_url)]
    r1 = run_export(target, families=(4,), warehouse=url, page_size=7, export_date=NIGHT)
    r2 = run_export(target, families=(4,), warehouse=url, page_size=7, export_date=NIGHT)
    assert r1.exit_code() == 0 and r2.exit_code() == 0, r2.to_json()
    assert r1.leases == r2.leases == 53
    eng = sa.create_engine(url)
    assert _count(eng, "select count(*) from lease_snapshots") == 53
    assert _count(eng, "select count(distinct address) from lease_snapshots") == 53
    assert _count(eng, "select count(*) from leases_current") == 53
    n_stats = _count(eng, "select count(*) from lease_stats")
    assert n_stats == r2.results[0].stats > 0
    with eng.connect() as conn:
        runs = sorted(conn.execute(sa.text("select status from export_runs")).scalars())
    assert runs == ["complete", "superseded"]
    # a lease goes, another comes: same night again -> the snapshot and current follow Kea
    kea4.ok("lease4-del", {"ip-address": "192.0.2.10"})
    kea4.ok("lease4-add", {"ip-address": "192.0.2.250", "hw-address": "02:00:00:00:02:00",
                           "valid-lft": 3600})
    run_export(target, families=(4,), warehouse=url, page_size=7, export_date=NIGHT)
    assert _count(eng, "select count(*) from lease_snapshots") == 53
    assert _count(eng, "select count(*) from leases_current where address='192.0.2.10'") == 0
    assert _count(eng, "select count(*) from leases_current where address='192.0.2.250'") == 1
    # the next night is history next to this one
    run_export(target, families=(4,), warehouse=url, page_size=1000,
               export_date=date(2026, 11, 28))
    assert _count(eng, "select count(*) from lease_snapshots") == 106
    assert _count(eng, "select count(*) from leases_current") == 53
    with eng.connect() as conn:
        row = conn.execute(sa.text(
            "select hwaddr, client_id, valid_lft, hostname, user_context, kea_version, server "
            "from leases_current where address='198.51.100.21'")).one()
    assert row == ("02:00:00:00:01:01", "01:02:03", 7200, "", '{"note":"n1"}', kea4.version,
                   kea4.socket_url)



def test_export_postgres_idempotent_and_stats_match_kea(kea4: Any, pg_url: str) -> None:
    _fill(kea4)
    target = [KeaTarget(kea4.socket_url, label="dhcp-a")]
    # the plain postgresql:// form of --help must work (SQLAlchemy 2.1 defaults it to psycopg 3)
    plain = pg_url.replace("postgresql+psycopg2://", "postgresql://")
    for _ in range(2):
        rep = run_export(target, families=(4,), warehouse=plain, page_size=10,
                         export_date=NIGHT)
        assert rep.exit_code() == 0, rep.to_json()
    eng = sa.create_engine(pg_url)
    try:
        assert _count(eng, "select count(*) from lease_snapshots") == 53
        assert _count(eng, "select count(*) from leases_current") == 53
        # every stat-lease4-get cell is a tidy row with the same value
        stat = kea4.ok("stat-lease4-get")["result-set"]
        with eng.connect() as conn:
            got = {(r.subnet_id, r.name): r.value for r in conn.execute(sa.text(
                "select subnet_id, name, value from lease_stats "
                "where source='stat-lease4-get' and server='dhcp-a'"))}
        want = {}
        for row in stat["rows"]:
            cells = dict(zip(stat["columns"], row, strict=True))
            sid = cells.pop("subnet-id")
            want.update({(sid, k): float(v) for k, v in cells.items()})
        assert got == want
        assert got[(1, "assigned-addresses")] == 50 and got[(2, "assigned-addresses")] == 3
        # statistic-get-all: per-subnet counters are split into subnet_id + name
        with eng.connect() as conn:
            v = conn.execute(sa.text(
                "select value from lease_stats where source='statistic-get-all' "
                "and subnet_id=1 and pool_kind is null and name='total-addresses'")).scalar_one()
        assert v == 241
    finally:
        eng.dispose()


def test_schema_evolves_additively(kea4: Any, tmp_path: Path) -> None:
    """An older warehouse (fewer columns, existing rows) gains the new columns, keeps its rows."""
    _fill(kea4, 5)
    url = f"sqlite:///{tmp_path}/old.db"
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        conn.execute(sa.text(
            "create table lease_snapshots (run_id varchar(36) not null, server varchar(255) "
            "not null, export_date date not null, family smallint not null, address varchar(45) "
            "not null, exported_at datetime not null, lease_type varchar(8) not null, "
            "hwaddr varchar(64), expire bigint)"))
        conn.execute(sa.text(
            "insert into lease_snapshots values ('old-run', 'old-server', '2026-01-01', 4, "
            "'10.0.0.1', '2026-01-01 00:00:00', 'V4', 'aa:bb:cc:dd:ee:ff', 1767225600)"))
    rep = run_export([KeaTarget(kea4.socket_url)], families=(4,), warehouse=url,
                     export_date=NIGHT)
    assert rep.exit_code() == 0, rep.to_json()
    assert "lease_snapshots.kea_version" in rep.added_columns
    assert "lease_snapshots.user_context" in rep.added_columns
    cols = {c["name"] for c in sa.inspect(eng).get_columns("lease_snapshots")}
    assert {"kea_version", "user_context", "client_id", "subnet_id"} <= cols
    assert _count(eng, "select count(*) from lease_snapshots where server='old-server'") == 1
    assert _count(eng, "select count(*) from lease_snapshots where export_date='2026-11-27' "
                       f"and kea_version='{kea4.version}'") == 8
    # a second run finds nothing to add
    rep2 = run_export([KeaTarget(kea4.socket_url)], families=(4,), warehouse=url,
                      export_date=NIGHT)
    assert rep2.added_columns == []


def test_parquet_and_csv_partitions(kea4: Any, tmp_path: Path) -> None:
    _fill(kea4)
    pq_dir, csv_dir = tmp_path / "pq", tmp_path / "csv"
    for _ in range(2):  # same night twice: the partition file is replaced, not duplicated
        rep = run_export([KeaTarget(kea4.socket_url)], families=(4,), parquet_dir=pq_dir,
                         csv_dir=csv_dir, page_size=9, export_date=NIGHT)
        assert rep.exit_code() == 0
    ds = pads.dataset(pq_dir / "leases", format="parquet", partitioning="hive")
    table = ds.to_table()
    assert table.num_rows == 53
    assert {"export_date", "server", "address", "hwaddr", "expire"} <= set(table.schema.names)
    assert set(table.column("server").to_pylist()) == {kea4.socket_url}
    assert {str(d) for d in table.column("export_date").to_pylist()} == {"2026-11-27"}
    sel = ds.to_table(filter=(pads.field("server") == kea4.socket_url)
                      & (pads.field("address") == "198.51.100.20")).to_pylist()
    kea = kea4.ok("lease4-get", {"ip-address": "198.51.100.20"})
    assert len(sel) == 1
    assert sel[0]["hwaddr"] == kea["hw-address"] and sel[0]["cltt"] == kea["cltt"]
    assert sel[0]["expire"] == kea["cltt"] + kea["valid-lft"]
    assert sel[0]["subnet_id"] == kea["subnet-id"] == 2
    stats = pads.dataset(pq_dir / "stats", format="parquet", partitioning="hive").to_table()
    assert stats.num_rows == rep.results[0].stats
    # no temporary files left behind; CSV has the same rows
    assert not [p for p in pq_dir.rglob(".*")]
    csv_files = list((csv_dir / "leases").rglob("*.csv"))
    assert len(csv_files) == 1
    assert pacsv.read_csv(csv_files[0]).num_rows == 53


def test_v6_addresses_and_prefixes(kea6: Any, tmp_path: Path) -> None:
    now = clock.now()
    for i in range(5):
        kea6.ok("lease6-add", {"ip-address": f"2001:db8:1::{0x1000 + i:x}",
                               "duid": f"00:03:00:01:02:00:00:00:00:{i:02x}", "iaid": i + 1,
                               "valid-lft": 4000, "preferred-lft": 3000, "expire": now + 3000})
    kea6.ok("lease6-add", {"ip-address": "2001:db8:8000:100::", "type": "IA_PD",
                           "prefix-len": 56, "subnet-id": 1, "duid": "00:03:00:01:02:00:00:00:00:09",
                           "iaid": 9, "valid-lft": 4000, "preferred-lft": 3000})
    url = f"sqlite:///{tmp_path}/wh.db"
    rep = run_export([KeaTarget(kea6.socket_url)], warehouse=url, page_size=4,
                     parquet_dir=tmp_path / "pq", export_date=NIGHT)
    assert rep.exit_code() == 0, rep.to_json()
    assert [r.family for r in rep.results] == [6] and rep.leases == 6
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        pd = conn.execute(sa.text("select lease_type, prefix_len, iaid, duid, preferred_lft "
                                  "from leases_current where lease_type='IA_PD'")).one()
    assert tuple(pd) == ("IA_PD", 56, 9, "00:03:00:01:02:00:00:00:00:09", 3000)
    assert _count(eng, "select count(*) from lease_stats where source='stat-lease6-get' "
                       "and name='assigned-pds' and value=1") == 1


def test_one_failing_server_keeps_the_others(kea4: Any, tmp_path: Path) -> None:
    _fill(kea4, 10)
    url = f"sqlite:///{tmp_path}/wh.db"
    bad = f"unix://{tmp_path}/nobody.sock"
    res = CliRunner().invoke(main, ["export", "--kea", kea4.socket_url, "--kea", bad,
                                    "--to", url, "--parquet", str(tmp_path / "pq"),
                                    "--export-date", "2026-11-27"])
    assert res.exit_code == 1, res.output
    assert "FAILED" in res.stdout and "13 leases" in res.stdout
    assert f"Error: {bad}" in res.stderr and "nobody.sock" in res.stderr
    eng = sa.create_engine(url)
    assert _count(eng, "select count(*) from leases_current where server=:s",
                  s=kea4.socket_url) == 13
    ok = CliRunner().invoke(main, ["export", "--kea", kea4.socket_url, "--to", url,
                                   "--subnet", "2", "--export-date", "2026-11-27"])
    assert ok.exit_code == 0, ok.output
    # a subnet-filtered run replaces that subnet only
    assert _count(eng, "select count(*) from lease_snapshots") == 13
    assert _count(eng, "select count(*) from export_runs where status='complete'") == 2


def test_password_in_url_refused(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["export", "--kea", "http://admin:secret@127.0.0.1:8000",
                                    "--to", f"sqlite:///{tmp_path}/x.db"])
    assert res.exit_code == 2
    assert "secret" not in res.output and "do not put a password in the URL" in res.output


def test_server_label_strips_credentials() -> None:
    assert server_label("https://u:p@kea.example:8443/", "dhcp4") == "https://kea.example:8443/#dhcp4"
    assert server_label("unix:///run/kea/kea4.sock") == "unix:///run/kea/kea4.sock"


def test_export_through_control_agent_with_service(kea4_ca: Any, tmp_path: Path) -> None:
    """Kea 2.x over HTTP via kea-ctrl-agent: --service picks the daemon behind it."""
    assert kea4_ca.http_url
    _fill(kea4_ca, 4)
    url = f"sqlite:///{tmp_path}/wh.db"
    res = CliRunner().invoke(main, ["export", "--kea", kea4_ca.http_url, "--service", "dhcp4",
                                    "--to", url, "--csv", str(tmp_path / "csv")])
    assert res.exit_code == 0, res.output
    label = f"{kea4_ca.http_url}#dhcp4"
    assert label in res.stdout and "7 leases" in res.stdout
    eng = sa.create_engine(url)
    assert _count(eng, "select count(*) from leases_current where server=:s", s=label) == 7
    # without --service the URL is the agent itself, which has no leases: a clear error
    res2 = CliRunner().invoke(main, ["export", "--kea", kea4_ca.http_url, "--to", url])
    assert res2.exit_code == 1
    assert "pass --service dhcp4 or dhcp6" in res2.stderr


@pytest.mark.kea3
def test_export_kea3_daemon_http(kea3_4: Any, tmp_path: Path) -> None:
    """Kea 3.0 serves HTTP itself: no --service; the family comes from config-get."""
    assert kea3_4.http_url
    _fill(kea3_4, 3)
    user, password = kea3_4.http_credentials or (None, None)  # Kea 3.2 requires basic auth

    def factory(url: str, service: str | None) -> Any:
        return KeaClient.from_url(url, service=service, username=user, password=password)
    rep = run_export([KeaTarget(kea3_4.http_url)], warehouse=f"sqlite:///{tmp_path}/wh.db",
                     parquet_dir=tmp_path / "pq", export_date=NIGHT, client_factory=factory)
    assert rep.exit_code() == 0, rep.to_json()
    assert [(r.family, r.leases, r.kea_version) for r in rep.results] == [
        (4, 6, kea3_4.version)]
    stats = pads.dataset(tmp_path / "pq" / "stats", partitioning="hive").to_table().to_pylist()
    assert any(r["source"] == "stat-lease4-get" and r["name"] == "assigned-addresses"
               and r["subnet_id"] == 1 and r["value"] == 3 for r in stats)
    # Kea 2.4+ keeps per-pool counters: subnet[1].pool[0].assigned-addresses
    pool = [r for r in stats if r["source"] == "statistic-get-all" and r["pool_kind"] == "pool"
            and r["subnet_id"] == 1 and r["pool_id"] == 0 and r["name"] == "total-addresses"]
    assert len(pool) == 1 and pool[0]["value"] == 241 and pool[0]["sampled_at"] is not None
