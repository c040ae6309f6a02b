"""kea-sql: leases and hosts written into a real Kea 2.2 schema (PostgreSQL and MariaDB),
read back by a real Kea 2.2 running with that database as lease-database and hosts-database.

Host option-data: rows checked in the tables, a real DHCP exchange (network namespaces) with a
Kea 2.2 serving the hosts from the database, and Kea 3.0 reading them back through its SQL hook
and host_cmds from a database with Kea 3.0's schema."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import replace
from ipaddress import IPv4Address
from typing import Any

import pytest

from kea_etl.load.kea_sql import KeaSqlLoader, connect, parse_sql_target
from kea_etl.records import Lease4, Lease6, Reservation
from kea_etl.report import RunReport
from tests.harness.clock import ANCHOR, iso
from tests.harness.databases import ENGINES, kea_database
from tests.harness.leasefile import lease_block

pytestmark = pytest.mark.kea

NOW = 1_795_000_000  # 2026-11-18: in the future relative to none of the asserts (times are exact)



@pytest.fixture(scope="module", params=ENGINES)
def kea_db(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """A fresh database with the schema of the Kea the 2.x fixtures run (the host's, or
    ``KEA_ETL_KEA2``; Kea 2.6 wants schema 22.2, not the host 2.2's); dropped afterwards."""
    from tests.harness.kea import resolve_install

    engine: str = request.param
    with kea_database(engine, resolve_install(None, kea3=False), tag="kea_etl_test") as url:
        yield engine, url


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
    # without host_cmds it cannot list hosts, so the read-back of hosts is a DHCP exchange
    # (test_kea_serves_host_options_from_the_database) and Kea 3.0's reservation-get
    # (test_kea3_reads_host_options_back_from_the_database).
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
        lease_block(f"192.0.2.{20 + i}", starts=ANCHOR - 3600, ends=ANCHOR + 82800,
                    cltt=ANCHOR - 3600, mac=f"02:00:00:00:01:{i:02x}")
        for i in range(25)))
    cfg = tmp_path / "kea.json"
    cfg.write_text(json.dumps({"Dhcp4": {"subnet4": [{"id": 1, "subnet": "192.0.2.0/24"}]}}))
    exe = str(Path(sys.executable).with_name("kea-etl"))
    base = [exe, "migrate", str(src), "--to", url, "--kea-config", str(cfg),
            "--as-of", iso(ANCHOR), "--report", str(tmp_path / "r.json")]
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


# ---- host option-data --------------------------------------------------------------------------

def _opt(name: str, code: int, data: str, space: str = "dhcp4") -> dict[str, Any]:
    return {"name": name, "code": code, "space": space, "data": data}


#: what isc_conf makes of a PXE host's options (names and codes as in Kea's std_option_defs.h)
OPTIONS4 = (
    _opt("routers", 3, "10.99.0.1"),
    _opt("domain-name-servers", 6, "10.99.0.53, 10.99.0.54"),
    _opt("domain-name", 15, "pxe.example.org"),
    _opt("interface-mtu", 26, "9000"),
    _opt("ntp-servers", 42, "10.99.0.123"),
    _opt("tftp-server-name", 66, "tftp.example.org"),
    _opt("boot-file-name", 67, "ipxe.efi"),
    _opt("domain-search", 119, "example.org, sales.example.org"),
)
OPTIONS6 = (
    _opt("dns-servers", 23, "2001:db8::53, 2001:db8::54", "dhcp6"),
    _opt("domain-search", 24, "example.org", "dhcp6"),
    _opt("bootfile-url", 59, "http://[2001:db8::5]/boot.efi", "dhcp6"),
)
PXE_MAC = "02:00:00:00:0a:01"


def _option_hosts(subnet_v4: int = 1, ip4: str = "10.99.0.50") -> list[Reservation]:
    return [
        Reservation(family=4, identifier_type="hw-address", identifier=PXE_MAC, subnet_id=subnet_v4,
                    ipv4_address=IPv4Address(ip4), hostname="pxe-one", option_data=OPTIONS4),
        Reservation(family=6, identifier_type="duid", identifier="00:03:00:01:02:00:00:00:0b:01",
                    subnet_id=1, ip_addresses=("2001:db8:1::20",),  # type: ignore[arg-type]
                    option_data=OPTIONS6),
    ]


def _option_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    conn = connect(parse_sql_target(url))
    out: dict[str, list[tuple[Any, ...]]] = {}
    with conn.cursor() as cur:
        for table in ("dhcp4_options", "dhcp6_options"):
            cur.execute(f"SELECT h.dhcp_identifier, o.code, o.space, o.formatted_value, o.value, "
                        f"o.persistent, o.scope_id, o.dhcp_client_class "
                        f"FROM {table} o JOIN hosts h ON h.host_id = o.host_id ORDER BY o.code")
            out[table] = [(bytes(r[0]).hex(":"), int(r[1]), r[2], r[3], r[4], bool(r[5]),
                           int(r[6]), r[7]) for r in cur.fetchall()]
    conn.close()
    return out


def test_host_options_written_replaced_and_compared(kea_db: tuple[str, str],
                                                    kea_factory: Any) -> None:
    engine, url = kea_db
    _wipe(url)
    hosts = _option_hosts()
    report = RunReport()
    KeaSqlLoader(url).load(_items(hosts), report)
    assert (report.loaded, report.failed) == (2, 0)
    assert report.problems == []  # no "option-data not written" any more
    rows = _option_rows(url)
    duid = "00:03:00:01:02:00:00:00:0b:01"
    # one row per option, host scope (3), CSV text in formatted_value as Kea writes it
    assert rows["dhcp4_options"] == [(PXE_MAC, o["code"], "dhcp4", o["data"], None, False, 3, None)
                                     for o in OPTIONS4]
    assert rows["dhcp6_options"] == [(duid, o["code"], "dhcp6", o["data"], None, False, 3, None)
                                     for o in OPTIONS6]

    # a second run changes nothing, also when the options come in another order and spelling
    # (Kea's own "a,b" for "a, b")
    respelled = [replace(hosts[0], option_data=tuple(
        {**o, "data": o["data"].replace(", ", ",")} for o in reversed(OPTIONS4))), hosts[1]]
    again = RunReport()
    loader = KeaSqlLoader(url)
    loader.load(_items(respelled), again)
    assert (again.loaded, again.already_present) == (2, 2)
    assert "dhcp4_options inserts" not in loader.would_send

    # other options and hostname, same addresses: kept in add mode (the fields named), ...
    changed = replace(hosts[0], hostname="pxe-2", option_data=(
        _opt("routers", 3, "10.99.0.254"),
        {"name": "ntp-servers", "data": "10.99.0.124", "always-send": True}))
    kept = RunReport()
    KeaSqlLoader(url).load(_items([changed]), kept)
    assert (kept.loaded, kept.already_present, kept.failed) == (1, 1, 0)
    assert kept.problems[0].detail == "hostname, option-data differ; use --mode upsert to replace it"
    assert len(_option_rows(url)["dhcp4_options"]) == len(OPTIONS4)  # nothing written
    # ... and in upsert mode the host is updated and its option rows replaced
    upd = RunReport()
    KeaSqlLoader(url, mode="upsert").load(_items([changed]), upd)
    assert (upd.loaded, upd.already_present, upd.failed) == (1, 0, 0)
    assert _option_rows(url)["dhcp4_options"] == [
        (PXE_MAC, 3, "dhcp4", "10.99.0.254", None, False, 3, None),
        (PXE_MAC, 42, "dhcp4", "10.99.0.124", None, True, 3, None)]
    assert len(_option_rows(url)["dhcp6_options"]) == len(OPTIONS6)  # the v6 host untouched
    same = RunReport()
    KeaSqlLoader(url).load(_items([changed]), same)
    assert same.already_present == 1

    # an option without a code that kea-etl does not know: the host is not written at all
    unknown = Reservation(family=4, identifier_type="hw-address", identifier="02:00:00:00:0a:09",
                          subnet_id=1, ipv4_address=IPv4Address("10.99.0.59"),
                          option_data=({"name": "my-option", "data": "1"},))
    bad = RunReport()
    KeaSqlLoader(url).load(_items([unknown]), bad)
    assert (bad.loaded, bad.failed) == (0, 1)
    assert bad.problems[0].reason == "option-data not writable"
    assert "'my-option' has no code" in (bad.problems[0].detail or "")
    conn = connect(parse_sql_target(url))
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM hosts")
        assert cur.fetchone()[0] == 2
    conn.close()

    # Kea 2.2 (v4 and v6) accepts the database as its hosts-database with these rows in it
    KeaSqlLoader(url).load(_items([hosts[0]]), RunReport())  # back to the full option set
    for family in (4, 6):
        srv = kea_factory(family=family, extra={"hosts-database": _db_cfg(engine, url)})
        assert srv.command("config-get")["result"] == 0


#: run inside the client namespace: a relayed DISCOVER / REQUEST for one MAC asking for the
#: options in PRL (the harness client asks for 1, 3, 6, 51, 54 only); prints the ACK as JSON
_DORA = r"""
import json, random, socket, sys
from tests.harness.dhcp_client import build_packet, parse_packet
local, server, mac, prl = sys.argv[1], sys.argv[2], sys.argv[3], [int(c) for c in sys.argv[4:]]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind((local, 67))
sock.settimeout(2.0)

def ask(msg, want, **kw):
    xid = random.getrandbits(32)
    pkt = build_packet(msg, mac, xid, giaddr=local, params=prl, **kw)
    for _ in range(5):
        sock.sendto(pkt, (server, 67))
        try:
            while True:
                r = parse_packet(sock.recvfrom(4096)[0])
                if r is not None and r.xid == xid and r.msg_type in want:
                    return r
        except TimeoutError:
            continue
    return None

offer = ask("DISCOVER", ("OFFER",))
ack = offer and ask("REQUEST", ("ACK", "NAK"), requested_ip=offer.yiaddr, server_id=offer.server_id)
json.dump({"offer": offer and offer.yiaddr, "reply": ack and ack.msg_type,
           "address": ack and ack.yiaddr,
           "options": {str(k): v.hex() for k, v in (ack.options.items() if ack else ())}},
          sys.stdout)
"""


def _dns_names(*names: str) -> str:
    """Uncompressed DNS wire form of ``names`` (what Kea sends for an fqdn list), as hex."""
    out = b""
    for name in names:
        for label in name.split("."):
            out += bytes([len(label)]) + label.encode()
        out += b"\0"
    return out.hex()


def _db_cfg_unix(engine: str, url: str) -> dict[str, Any]:
    """The database through its UNIX socket: Kea runs in a network namespace, where 127.0.0.1 is
    the namespace's own loopback, not the host's (a socket file is reachable from any namespace)."""
    t = parse_sql_target(url)
    if engine == "postgresql":
        return {"type": "postgresql", "name": t.database, "host": "/var/run/postgresql",
                "user": t.user}
    # libmysqlclient: host "localhost" means the default socket (/run/mysqld/mysqld.sock)
    return {"type": "mysql", "name": t.database, "host": "localhost", "user": t.user,
            "password": ""}


@pytest.mark.netns
def test_kea_serves_host_options_from_the_database(kea_db: tuple[str, str], kea_factory: Any) -> None:
    """The proof that Kea *uses* the rows: a real DHCP exchange with Kea 2.2 whose hosts-database
    is the one kea-sql wrote; the ACK carries the reserved address and every reserved option."""
    import json
    import sys

    from tests.harness.dhcp_client import REPO_ROOT
    from tests.harness.netns import NetnsPair, netns_available

    if (why := netns_available()) is not None:
        pytest.skip(why)
    engine, url = kea_db
    _wipe(url)
    report = RunReport()
    KeaSqlLoader(url).load(_items(_option_hosts()[:1]), report)
    assert (report.loaded, report.failed) == (1, 0)
    with NetnsPair(tag="opt") as net:
        srv = kea_factory(
            family=4, subnets=[{"id": 1, "subnet": "10.99.0.0/24",
                                "pools": [{"pool": "10.99.0.100 - 10.99.0.200"}],
                                "option-data": [{"name": "routers", "data": "10.99.0.2"}]}],
            extra={"interfaces-config": {"interfaces": [net.srv_if]},
                   "hosts-database": _db_cfg_unix(engine, url)},
            argv_prefix=net.argv("srv", []))
        prl = ["1", "3", "6", "15", "26", "42", "51", "54", "66", "67", "119"]

        def dora(mac: str) -> dict[str, Any]:
            proc = net.run("cli", [sys.executable, "-c", _DORA, net.cli_addr4, net.srv_addr4, mac,
                                   *prl], cwd=str(REPO_ROOT), timeout=60,
                           env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"})
            assert proc.returncode == 0, proc.stderr
            result: dict[str, Any] = json.loads(proc.stdout)
            return result

        got = dora(PXE_MAC)
        assert (got["reply"], got["address"]) == ("ACK", "10.99.0.50"), got
        opts = got["options"]
        assert opts["3"] == "0a630001"  # the host's router, not the subnet's 10.99.0.2
        assert opts["6"] == "0a6300350a630036"
        assert bytes.fromhex(opts["15"]) == b"pxe.example.org"
        assert opts["26"] == f"{9000:04x}"
        assert opts["42"] == "0a63007b"
        assert bytes.fromhex(opts["66"]) == b"tftp.example.org"
        assert bytes.fromhex(opts["67"]) == b"ipxe.efi"
        assert opts["119"] == _dns_names("example.org", "sales.example.org")
        # the control: a client without a reservation gets a pool address and the subnet's router
        other = dora("02:00:00:00:0a:77")
        assert other["reply"] == "ACK" and other["address"].startswith("10.99.0.1")
        assert other["options"]["3"] == "0a630002" and "67" not in other["options"]
        srv.close()


@pytest.fixture(scope="module", params=ENGINES)
def kea3_db(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """A database with the schema of the Kea the kea3 fixtures run (3.0, or ``KEA_ETL_KEA3``)."""
    from tests.harness.kea import KeaStartError, resolve_install

    engine: str = request.param
    try:
        install = resolve_install(None, kea3=True)
    except KeaStartError as exc:
        pytest.skip(str(exc))
    with kea_database(engine, install, tag="kea_etl_test3") as url:
        yield engine, url


@pytest.mark.kea3
@pytest.mark.parametrize("family", [4, 6])
def test_kea3_reads_host_options_back_from_the_database(kea3_db: tuple[str, str],
                                                        kea_factory: Any, family: int) -> None:
    """Kea 3.0 reads hosts through its SQL hook (libdhcp_pgsql / libdhcp_mysql) and host_cmds
    lists them: reservation-get from the database returns the option-data kea-sql wrote, built by
    Kea from the formatted_value rows (v6 too, which the DHCP exchange above does not cover)."""
    from kea_etl.dhcp_options import canonical_option_data

    engine, url = kea3_db
    _wipe(url)
    res = _option_hosts()[0 if family == 4 else 1]
    report = RunReport()
    KeaSqlLoader(url).load(_items([res]), report)
    assert (report.loaded, report.failed) == (1, 0)
    subnets = ([{"id": 1, "subnet": "10.99.0.0/24"}] if family == 4
               else [{"id": 1, "subnet": "2001:db8:1::/64"}])
    srv = kea_factory(family=family, kea3=True, subnets=subnets,
                      hooks=("lease_cmds", "host_cmds", "pgsql" if engine == "postgresql" else "mysql"),
                      extra={"hosts-database": _db_cfg(engine, url)})
    got = srv.command("reservation-get", {"subnet-id": 1, "identifier-type": res.identifier_type,
                                          "identifier": res.identifier,
                                          "operation-target": "database"})
    assert got["result"] == 0, got
    host = got["arguments"]
    assert canonical_option_data(host["option-data"], family) == canonical_option_data(
        res.option_data, family)
    # Kea 3.0's MySQL schema holds ipv6_reservations.address as BINARY(16), PostgreSQL's as INET
    assert Reservation.from_kea(host, family=family).ip_addresses == res.ip_addresses
    # a second run finds the host as written (addresses read back in the column's own form)
    again = RunReport()
    KeaSqlLoader(url).load(_items([res]), again)
    assert (again.already_present, again.failed) == (1, 0), again.problems


@pytest.mark.kea3
def test_kea3_schema_leases6_read_back_by_kea3(kea3_db: tuple[str, str], kea_factory: Any) -> None:
    """Kea 3.0's schemas store lease6.address as BINARY(16) (MySQL) and INET (PostgreSQL), not
    Kea 2.2's text: kea-sql writes each in its column's form, a Kea 3.0 with that lease database
    returns every lease exactly, and a second run changes nothing."""
    engine, url = kea3_db
    _wipe(url)
    report = RunReport()
    KeaSqlLoader(url).load(_items(LEASES6), report)
    assert (report.loaded, report.failed) == (3, 0)
    srv = kea_factory(family=6, kea3=True,
                      subnets=[{"id": 1, "subnet": "2001:db8:1::/64",
                                "pd-pools": [{"prefix": "2001:db8:8000::", "prefix-len": 48,
                                              "delegated-len": 56}]}],
                      hooks=("lease_cmds", "pgsql" if engine == "postgresql" else "mysql"),
                      extra={"lease-database": _db_cfg(engine, url)})
    got = srv.command("lease6-get-all")
    assert got["result"] == 0, got
    back = {Lease6.from_kea(x).key: Lease6.from_kea(x) for x in got["arguments"]["leases"]}
    assert back == {x.key: x for x in LEASES6}
    srv.close()
    again = RunReport()
    KeaSqlLoader(url).load(_items(LEASES6), again)
    assert (again.already_present, again.loaded, again.failed) == (3, 3, 0)


def test_host_details_compared_kept_in_add_replaced_in_upsert(kea_db: tuple[str, str]) -> None:
    """Every detail kea-sql writes takes part in the re-run comparison: client classes,
    next-server, boot file name and user context round-trip as equal, and a change to each is
    kept (named) in add mode and written in upsert mode."""
    _, url = kea_db
    _wipe(url)
    host = Reservation(family=4, identifier_type="hw-address", identifier="00:aa:bb:cc:dd:07",
                       subnet_id=1, ipv4_address=IPv4Address("192.0.2.207"), hostname="pxe",
                       client_classes=("pxe", "lab"), next_server=IPv4Address("192.0.2.1"),
                       boot_file_name="pxelinux.0", user_context={"site": "a"})
    assert KeaSqlLoader(url).load(_items([host]), RunReport()) is None
    again = RunReport()
    KeaSqlLoader(url).load(_items([host]), again)
    assert (again.already_present, again.problems) == (1, [])
    changed = replace(host, client_classes=("pxe",), next_server=IPv4Address("192.0.2.2"),
                      boot_file_name="ipxe.efi", user_context={"site": "b"})
    kept = RunReport()
    KeaSqlLoader(url).load(_items([changed]), kept)
    assert kept.already_present == 1
    assert kept.problems[0].detail == ("client-classes, next-server, boot-file-name, user-context "
                                       "differ; use --mode upsert to replace it")
    up = RunReport()
    KeaSqlLoader(url, mode="upsert").load(_items([changed]), up)
    assert (up.loaded, up.already_present, up.failed) == (1, 0, 0)
    final = RunReport()
    KeaSqlLoader(url).load(_items([changed]), final)
    assert (final.already_present, final.problems) == (1, [])
