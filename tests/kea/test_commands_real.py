"""Each of the 66 seed commands, sent by kea-etl's KeaClient to a real Kea that supports it.

Every test checks the command's effect on the server (usually through the harness's own raw
socket, ``srv.command``, so the check does not trust the client under test). The conftest plugin
records each command sent; ``scripts/gen-commands-doc`` turns the record into docs/commands.md.

Which Kea runs what: Debian's Kea 2.x (host) has lease_cmds, stat_cmds and ha; Kea 3.0 (rootfs)
adds host_cmds, host_cache and subnet_cmds and no longer has libreload. Commands both have run on
both.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from typing import Any

import pytest

from kea_etl.errors import KeaCommandError, KeaConflictError, KeaUnsupportedError
from kea_etl.kea import KeaClient
from tests.harness import clock
from tests.harness.dhcp_client import run_client_ops
from tests.harness.ha import HAPair, start_ha_pair
from tests.harness.kea import KeaServer
from tests.harness.netns import NetnsPair, netns_available

pytestmark = pytest.mark.kea


def _p(name: str) -> Any:
    marks = [pytest.mark.kea3] if name.startswith("kea3") else []
    return pytest.param(name, marks=marks, id=name)


@pytest.fixture(params=[_p("kea4"), _p("kea3_4")])
def srv4(request: pytest.FixtureRequest) -> KeaServer:
    srv: KeaServer = request.getfixturevalue(request.param)
    return srv


@pytest.fixture(params=[_p("kea6"), _p("kea3_6")])
def srv6(request: pytest.FixtureRequest) -> KeaServer:
    srv: KeaServer = request.getfixturevalue(request.param)
    return srv


@pytest.fixture(params=[_p("kea4"), _p("kea6"), _p("kea3_4"), _p("kea3_6")])
def srv(request: pytest.FixtureRequest) -> KeaServer:
    server: KeaServer = request.getfixturevalue(request.param)
    return server


@pytest.fixture(params=[pytest.param(False, id="kea2"),
                        pytest.param(True, id="kea3", marks=pytest.mark.kea3)])
def kea3(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def client(srv: KeaServer) -> KeaClient:
    return KeaClient.from_url(srv.socket_url)


def raw_get(srv: KeaServer, ip: str, **extra: Any) -> dict[str, Any] | None:
    """The lease as the server holds it, fetched by the harness (not by kea-etl)."""
    r = srv.command(f"lease{srv.family}-get", {"ip-address": ip, **extra})
    if r["result"] == 3:
        return None
    assert r["result"] == 0, r
    return dict(r["arguments"])


def running_config(srv: KeaServer) -> dict[str, Any]:
    cfg = srv.ok("config-get")
    return dict(cfg[f"Dhcp{srv.family}"])


# ---- daemon built-ins --------------------------------------------------------------------------
def test_version_get_and_build_report(srv: KeaServer) -> None:
    c = client(srv)
    assert c.version_get() == srv.version
    report = c.build_report()
    assert srv.version in report
    assert "Kea source configure results" in report


@pytest.mark.parametrize("fixture", ["kea4_ca", _p("kea3_4")])
def test_version_get_over_http(fixture: str, request: pytest.FixtureRequest) -> None:
    srv: KeaServer = request.getfixturevalue(fixture)
    assert srv.http_url
    # The Control Agent (2.x) needs the service; a Kea 3 daemon answers by itself (3.2 only with
    # the basic auth the harness configured: it refuses an unsecured HTTP socket).
    user, password = srv.http_credentials or (None, None)
    c = KeaClient.from_url(srv.http_url, service=None if srv.kea3 else srv.service, username=user,
                           password=password)
    assert c.version_get() == srv.version
    assert f"lease{srv.family}-add" in c.list_commands()


def test_list_commands(srv: KeaServer) -> None:
    cmds = client(srv).list_commands()
    fam = srv.family
    for c in ("list-commands", "version-get", "config-get", f"lease{fam}-add", f"stat-lease{fam}-get"):
        assert c in cmds
    assert ("libreload" in cmds) == srv.has_libreload
    if srv.kea3:
        assert {"reservation-add", "cache-insert", f"subnet{fam}-add", f"network{fam}-add"} <= set(cmds)
    else:
        # Debian's Kea 2.x ships neither host_cmds nor subnet_cmds
        assert "reservation-add" not in cmds and f"subnet{fam}-add" not in cmds


def test_config_get(srv: KeaServer) -> None:
    cfg = client(srv).config_get()
    body = cfg[f"Dhcp{srv.family}"]
    want = [s["id"] for s in srv.config[f"Dhcp{srv.family}"][f"subnet{srv.family}"]]
    assert [s["id"] for s in body[f"subnet{srv.family}"]] == want
    assert body["lease-database"]["name"] == srv.kea_path(srv.lease_file)


def test_config_test_accepts_good_and_rejects_bad(srv4: KeaServer) -> None:
    c = client(srv4)
    assert c.config_test(srv4.config).result == 0
    bad = copy.deepcopy(srv4.config)
    bad["Dhcp4"]["subnet4"].append({"id": 7, "subnet": "203.0.113.0/33"})
    with pytest.raises(KeaCommandError):
        c.config_test(bad)
    # config-test never applies anything.
    assert [s["id"] for s in running_config(srv4)["subnet4"]] == [1, 2]


def test_config_set(srv4: KeaServer) -> None:
    cfg = copy.deepcopy(srv4.config)
    cfg["Dhcp4"]["subnet4"].append({"id": 7, "subnet": "203.0.113.0/24",
                                    "pools": [{"pool": "203.0.113.10 - 203.0.113.20"}]})
    cfg["Dhcp4"]["valid-lifetime"] = 1234
    assert client(srv4).config_set(cfg).result == 0
    running = running_config(srv4)
    assert [s["id"] for s in running["subnet4"]] == [1, 2, 7]
    assert running["valid-lifetime"] == 1234
    # the new subnet is live: a lease in it is accepted
    srv4.ok("lease4-add", {"ip-address": "203.0.113.15", "hw-address": "0a:00:00:00:00:07"})


def test_config_write_only_where_told(srv4: KeaServer, tmp_path: Any) -> None:
    c = client(srv4)
    config_file_before = srv4.config_path.read_bytes()
    before = set(srv4.dir.iterdir())
    if srv4.path_restricted:
        # Kea 2.6.3+/3.0 write only next to the config file; anywhere else is refused.
        with pytest.raises(KeaCommandError):
            c.config_write(str(tmp_path / "refused.json"))
        assert not (tmp_path / "refused.json").exists()
        name = f"written-{uuid.uuid4().hex[:8]}.json"
        target, kea_name = srv4.dir / name, f"{srv4.kea_dir}/{name}"
    else:
        target = tmp_path / "written.json"
        kea_name = str(target)
    try:
        assert c.config_write(kea_name).result == 0
        written = json.loads(target.read_text())
        assert [s["id"] for s in written["Dhcp4"]["subnet4"]] == [1, 2]
        after = set(srv4.dir.iterdir())
        assert after - before == ({target} if srv4.path_restricted else set())
        assert srv4.config_path.read_bytes() == config_file_before
        if not srv4.path_restricted:
            assert list(tmp_path.iterdir()) == [target]
    finally:
        if srv4.path_restricted:
            target.unlink(missing_ok=True)


def test_config_reload_reads_the_file(kea_factory: Any, kea3: bool) -> None:
    srv = kea_factory(family=4, kea3=kea3)
    on_disk = json.loads(srv.config_path.read_text())
    on_disk["Dhcp4"]["subnet4"].append({"id": 9, "subnet": "203.0.113.0/24"})
    srv.config_path.write_text(json.dumps(on_disk))
    assert [s["id"] for s in running_config(srv)["subnet4"]] == [1, 2]
    assert client(srv).config_reload().result == 0
    assert [s["id"] for s in running_config(srv)["subnet4"]] == [1, 2, 9]


@pytest.mark.netns
def test_dhcp_disable_and_enable_with_real_dhcp_traffic(kea_factory: Any, kea3: bool) -> None:
    # Kea answers relayed DHCPv4 in the server namespace (its control socket stays on the host's
    # filesystem); the relay client sits in the client namespace, named by the subnet as its relay.
    if (why := netns_available()) is not None:
        pytest.skip(why)
    with NetnsPair(tag="dis") as net:
        subnets = [{"id": 1, "subnet": "192.0.2.0/24",
                    "pools": [{"pool": "192.0.2.10 - 192.0.2.250"}],
                    "relay": {"ip-addresses": [net.cli_addr4]}}]
        # http=False: a Kea 3 HTTP socket would listen on the namespace's loopback, out of reach
        srv = kea_factory(family=4, kea3=kea3, subnets=subnets, http=False,
                          extra={"interfaces-config": {"interfaces": [net.srv_if],
                                                       "dhcp-socket-type": "udp"}},
                          argv_prefix=net.argv("srv", []))
        c = client(srv)

        def dora(mac: str, **kw: Any) -> dict[str, Any]:
            [reply] = run_client_ops(net, [{"op": "dora", "mac": mac}], **kw)
            return reply

        first = dora("02:00:00:00:00:01")
        assert first["reply"] == "ACK", f"Kea did not answer before dhcp-disable: {first}"
        assert c.dhcp_disable().result == 0
        silent = dora("02:00:00:00:00:02", timeout=0.5, retries=0)
        assert silent["reply"] is None, f"Kea answered while disabled: {silent}"
        assert raw_get(srv, "192.0.2.11") is None
        assert c.dhcp_enable().result == 0
        again = dora("02:00:00:00:00:03")
        assert again["reply"] == "ACK", f"Kea did not answer after dhcp-enable: {again}"
        held = {lease["hw-address"] for lease in srv.leases()}
    assert held == {"02:00:00:00:00:01", "02:00:00:00:00:03"}


def test_libreload_on_kea2(kea4: KeaServer) -> None:
    if not kea4.has_libreload:
        # Debian 13's Kea 2.6: libreload was removed in 2.5, so no Kea on this machine has it.
        with pytest.raises(KeaUnsupportedError):
            client(kea4).libreload()
        return

    def loads() -> int:
        return kea4.log_file.read_text().count("HOOKS_LIBRARY_LOADED")

    before = loads()
    assert client(kea4).libreload().result == 0
    deadline = time.monotonic() + 5
    while loads() < before + 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert loads() >= before + 2  # lease_cmds and stat_cmds loaded again
    kea4.ok("lease4-add", {"ip-address": "192.0.2.33", "hw-address": "0a:00:00:00:00:33"})


@pytest.mark.kea3
def test_libreload_is_gone_in_kea3(kea3_4: KeaServer) -> None:
    assert not kea3_4.has_libreload
    with pytest.raises(KeaUnsupportedError):
        client(kea3_4).libreload()


def test_shutdown_stops_the_process(kea_factory: Any, kea3: bool) -> None:
    srv = kea_factory(family=4, kea3=kea3)
    proc = srv.proc
    assert proc is not None and proc.poll() is None
    assert client(srv).shutdown().result == 0
    assert proc.wait(timeout=15) == 0
    with pytest.raises(OSError):
        srv.command("version-get", timeout=2)


# ---- statistics (built-in) -------------------------------------------------------------------
def _latest(c: KeaClient, name: str) -> Any:
    samples = c.statistic_get(name)
    return samples[0][0] if samples else None


def test_statistic_get_and_get_all(srv4: KeaServer) -> None:
    c = client(srv4)
    srv4.ok("lease4-add", {"ip-address": "192.0.2.20", "hw-address": "0a:00:00:00:00:20"})
    assert _latest(c, "subnet[1].total-addresses") == 241
    assert _latest(c, "subnet[1].assigned-addresses") == 1
    everything = c.statistic_get_all()
    assert everything["subnet[1].total-addresses"][0][0] == 241
    assert everything["subnet[1].assigned-addresses"][0][0] == 1


def _fresh_with_one_lease(kea_factory: Any, kea3: bool) -> tuple[KeaServer, KeaClient]:
    srv = kea_factory(family=4, kea3=kea3)
    srv.ok("lease4-add", {"ip-address": "192.0.2.21", "hw-address": "0a:00:00:00:00:21"})
    c = client(srv)
    assert _latest(c, "subnet[1].total-addresses") == 241
    assert _latest(c, "subnet[1].assigned-addresses") == 1
    return srv, c


def test_statistic_reset(kea_factory: Any, kea3: bool) -> None:
    _srv, c = _fresh_with_one_lease(kea_factory, kea3)
    assert c.statistic_reset("subnet[1].total-addresses").result == 0
    assert _latest(c, "subnet[1].total-addresses") == 0
    assert _latest(c, "subnet[1].assigned-addresses") == 1


def test_statistic_reset_all(kea_factory: Any, kea3: bool) -> None:
    _srv, c = _fresh_with_one_lease(kea_factory, kea3)
    assert c.statistic_reset_all().result == 0
    after = c.statistic_get_all()
    assert after["subnet[1].total-addresses"][0][0] == 0
    assert after["subnet[1].assigned-addresses"][0][0] == 0


def test_statistic_remove(kea_factory: Any, kea3: bool) -> None:
    _srv, c = _fresh_with_one_lease(kea_factory, kea3)
    assert c.statistic_remove("subnet[1].total-addresses").result == 0
    assert c.statistic_get("subnet[1].total-addresses") == []
    assert "subnet[1].total-addresses" not in c.statistic_get_all()
    assert _latest(c, "subnet[1].assigned-addresses") == 1


def test_statistic_remove_all(kea_factory: Any, kea3: bool) -> None:
    srv = kea_factory(family=4, kea3=kea3)
    c = client(srv)
    assert "subnet[1].total-addresses" in c.statistic_get_all()
    assert c.statistic_remove_all().result == 0
    left = c.statistic_get_all()
    assert not any(name.startswith("subnet[") for name in left), sorted(left)


# ---- lease_cmds v4 ---------------------------------------------------------------------------
def test_lease4_add_get_del(srv4: KeaServer) -> None:
    c = client(srv4)
    lease = {"ip-address": "192.0.2.40", "hw-address": "0a:00:00:00:00:40",
             "client-id": "01:0a:00:00:00:00:40", "valid-lft": 3600, "hostname": "host40.example.org",
             "subnet-id": 1}
    assert c.lease4_add(lease).result == 0
    held = raw_get(srv4, "192.0.2.40")
    assert held is not None
    assert (held["hw-address"], held["client-id"], held["hostname"], held["subnet-id"]) == (
        "0a:00:00:00:00:40", "01:0a:00:00:00:00:40", "host40.example.org", 1)
    got = c.lease4_get("192.0.2.40")
    assert got is not None and got["hw-address"] == "0a:00:00:00:00:40"
    by_id = c.lease4_get(identifier_type="hw-address", identifier="0a:00:00:00:00:40", subnet_id=1)
    assert by_id is not None and by_id["ip-address"] == "192.0.2.40"
    with pytest.raises(KeaConflictError):
        c.lease4_add(lease)
    assert c.lease4_del("192.0.2.40") is True
    assert raw_get(srv4, "192.0.2.40") is None
    assert c.lease4_get("192.0.2.40") is None
    assert c.lease4_del("192.0.2.40") is False


def test_lease4_get_all(srv4: KeaServer) -> None:
    c = client(srv4)
    assert c.lease4_get_all() == []
    for ip, mac in (("192.0.2.50", "0a:00:00:00:00:50"), ("192.0.2.51", "0a:00:00:00:00:51"),
                    ("198.51.100.5", "0a:00:00:00:01:05")):
        srv4.ok("lease4-add", {"ip-address": ip, "hw-address": mac})
    assert sorted(lease["ip-address"] for lease in c.lease4_get_all()) == [
        "192.0.2.50", "192.0.2.51", "198.51.100.5"]
    assert [lease["ip-address"] for lease in c.lease4_get_all([2])] == ["198.51.100.5"]


def test_lease4_update(srv4: KeaServer) -> None:
    c = client(srv4)
    srv4.ok("lease4-add", {"ip-address": "192.0.2.60", "hw-address": "0a:00:00:00:00:60", "hostname": "old"})
    assert c.lease4_update({"ip-address": "192.0.2.60", "hw-address": "0a:00:00:00:00:61",
                            "hostname": "new", "valid-lft": 777}).result == 0
    held = raw_get(srv4, "192.0.2.60")
    assert held is not None
    assert (held["hw-address"], held["hostname"], held["valid-lft"]) == ("0a:00:00:00:00:61", "new", 777)
    # without force-create an unknown address is an error; with it the lease is created
    with pytest.raises(KeaCommandError):
        c.lease4_update({"ip-address": "192.0.2.61", "hw-address": "0a:00:00:00:00:62"})
    assert c.lease4_update({"ip-address": "192.0.2.61", "hw-address": "0a:00:00:00:00:62"},
                           force_create=True).result == 0
    assert raw_get(srv4, "192.0.2.61") is not None


def test_lease4_wipe(srv4: KeaServer) -> None:
    c = client(srv4)
    for ip, mac in (("192.0.2.70", "0a:00:00:00:00:70"), ("192.0.2.71", "0a:00:00:00:00:71"),
                    ("198.51.100.7", "0a:00:00:00:01:07")):
        srv4.ok("lease4-add", {"ip-address": ip, "hw-address": mac})
    assert c.lease4_wipe(1).result == 0
    assert [lease["ip-address"] for lease in srv4.leases()] == ["198.51.100.7"]


def test_leases_reclaim(srv4: KeaServer) -> None:
    c = client(srv4)
    past = clock.now() - 100
    srv4.ok("lease4-add", {"ip-address": "192.0.2.80", "hw-address": "0a:00:00:00:00:80",
                           "valid-lft": 50, "expire": past})
    srv4.ok("lease4-add", {"ip-address": "192.0.2.81", "hw-address": "0a:00:00:00:00:81"})
    assert c.leases_reclaim(remove=False).result == 0
    expired, live = raw_get(srv4, "192.0.2.80"), raw_get(srv4, "192.0.2.81")
    assert expired is not None and expired["state"] == 2  # expired-reclaimed
    assert live is not None and live["state"] == 0
    srv4.ok("lease4-add", {"ip-address": "192.0.2.82", "hw-address": "0a:00:00:00:00:82",
                           "valid-lft": 50, "expire": past})
    assert c.leases_reclaim(remove=True).result == 0
    assert raw_get(srv4, "192.0.2.82") is None
    assert raw_get(srv4, "192.0.2.81") is not None


def test_stat_lease4_get(srv4: KeaServer) -> None:
    c = client(srv4)
    for ip, mac in (("192.0.2.90", "0a:00:00:00:00:90"), ("192.0.2.91", "0a:00:00:00:00:91")):
        srv4.ok("lease4-add", {"ip-address": ip, "hw-address": mac})
    rows = {r["subnet-id"]: r for r in c.stat_lease4_get()}
    assert rows[1]["total-addresses"] == 241 and rows[1]["assigned-addresses"] == 2
    assert rows[2]["assigned-addresses"] == 0
    one = c.stat_lease4_get(1)
    assert len(one) == 1 and one[0]["assigned-addresses"] == 2
    assert c.stat_lease4_get(99) == []  # unknown subnet: result 3, a normal "empty"


# ---- lease_cmds v6 ---------------------------------------------------------------------------
DUID = "00:03:00:01:0a:00:00:00:00:01"


def test_lease6_add_get_del(srv6: KeaServer) -> None:
    c = client(srv6)
    na = {"ip-address": "2001:db8:1::1001", "duid": DUID, "iaid": 42, "valid-lft": 3600,
          "preferred-lft": 1800, "hostname": "h6.example.org"}
    pd = {"ip-address": "2001:db8:8000:100::", "type": "IA_PD", "prefix-len": 56, "duid": DUID,
          "iaid": 43, "subnet-id": 1}
    assert c.lease6_add(na).result == 0
    assert c.lease6_add(pd).result == 0
    held = raw_get(srv6, "2001:db8:1::1001")
    assert held is not None and (held["duid"], held["iaid"], held["hostname"]) == (DUID, 42, "h6.example.org")
    held_pd = raw_get(srv6, "2001:db8:8000:100::", type="IA_PD")
    assert held_pd is not None and held_pd["prefix-len"] == 56 and held_pd["type"] == "IA_PD"
    got = c.lease6_get("2001:db8:1::1001")
    assert got is not None and got["duid"] == DUID
    by_duid = c.lease6_get(duid=DUID, iaid=42, subnet_id=1)
    assert by_duid is not None and by_duid["ip-address"] == "2001:db8:1::1001"
    with pytest.raises(KeaConflictError):
        c.lease6_add(na)
    assert c.lease6_del("2001:db8:1::1001") is True
    assert c.lease6_del("2001:db8:8000:100::", lease_type="IA_PD") is True
    assert raw_get(srv6, "2001:db8:1::1001") is None
    assert raw_get(srv6, "2001:db8:8000:100::", type="IA_PD") is None
    assert c.lease6_get("2001:db8:1::1001") is None
    assert c.lease6_del("2001:db8:1::1001") is False


def test_lease6_get_all(srv6: KeaServer) -> None:
    c = client(srv6)
    assert c.lease6_get_all() == []
    for i in (1, 2, 3):
        srv6.ok("lease6-add", {"ip-address": f"2001:db8:1::20{i}", "duid": DUID, "iaid": i})
    got = sorted(lease["ip-address"] for lease in c.lease6_get_all())
    assert got == ["2001:db8:1::201", "2001:db8:1::202", "2001:db8:1::203"]
    assert len(c.lease6_get_all([1])) == 3


def test_lease6_update(srv6: KeaServer) -> None:
    c = client(srv6)
    srv6.ok("lease6-add", {"ip-address": "2001:db8:1::301", "duid": DUID, "iaid": 1, "hostname": "old"})
    assert c.lease6_update({"ip-address": "2001:db8:1::301", "duid": "00:03:00:01:0a:00:00:00:00:02",
                            "iaid": 7, "hostname": "new"}).result == 0
    held = raw_get(srv6, "2001:db8:1::301")
    assert held is not None
    assert (held["duid"], held["iaid"], held["hostname"]) == ("00:03:00:01:0a:00:00:00:00:02", 7, "new")
    assert c.lease6_update({"ip-address": "2001:db8:1::302", "duid": DUID, "iaid": 2},
                           force_create=True).result == 0
    assert raw_get(srv6, "2001:db8:1::302") is not None


def test_lease6_wipe(srv6: KeaServer) -> None:
    c = client(srv6)
    for i in (1, 2):
        srv6.ok("lease6-add", {"ip-address": f"2001:db8:1::40{i}", "duid": DUID, "iaid": i})
    assert c.lease6_wipe(1).result == 0
    assert srv6.leases() == []


def test_stat_lease6_get(srv6: KeaServer) -> None:
    c = client(srv6)
    srv6.ok("lease6-add", {"ip-address": "2001:db8:1::501", "duid": DUID, "iaid": 1})
    srv6.ok("lease6-add", {"ip-address": "2001:db8:8000:200::", "type": "IA_PD", "prefix-len": 56,
                           "duid": DUID, "iaid": 2, "subnet-id": 1})
    rows = c.stat_lease6_get(1)
    assert len(rows) == 1
    row = rows[0]
    assert (row["subnet-id"], row["assigned-nas"], row["assigned-pds"]) == (1, 1, 1)
    assert row["total-nas"] == 0xffff - 0x1000 + 1
    assert row["total-pds"] == 2 ** (56 - 40)
    assert c.stat_lease6_get(99) == []


# ---- HA (a Kea 2.x pair; a 3.x pair on the daemons' own HTTP) --------------------------------
@pytest.fixture(params=[_p("kea_ha_pair"), _p("kea3_ha_pair")])
def ha_pair(request: pytest.FixtureRequest) -> HAPair:
    pair: HAPair = request.getfixturevalue(request.param)
    return pair


def ha_client(pair: HAPair, srv: KeaServer) -> KeaClient:
    """kea-etl's client to one peer: the UNIX socket on 2.x, the daemon's HTTP control socket
    with the pair's basic-auth login on 3.x (the URL the partner's HA hook uses too)."""
    if pair.credentials and srv.http_url:
        user, password = pair.credentials
        return KeaClient.from_url(srv.http_url, username=user, password=password)
    return client(srv)


def test_ha_heartbeat(ha_pair: HAPair) -> None:
    primary = ha_client(ha_pair, ha_pair.primary).ha_heartbeat()
    standby = ha_client(ha_pair, ha_pair.standby).ha_heartbeat()
    assert primary["state"] == "hot-standby"
    assert primary["scopes"] == ["server1"]
    assert standby["state"] in ("hot-standby", "ready")
    assert standby["scopes"] == []


def test_ha_scopes(ha_pair: HAPair) -> None:
    c = ha_client(ha_pair, ha_pair.standby)
    try:
        assert c.ha_scopes(["server1"]).result == 0
        assert ha_pair.standby.ok("ha-heartbeat")["scopes"] == ["server1"]
    finally:
        assert c.ha_scopes([]).result == 0
    assert ha_pair.standby.ok("ha-heartbeat")["scopes"] == []


def test_ha_sync_pulls_leases_from_partner(ha_pair: HAPair) -> None:
    """On 3.x the standby pulls over the primary's HTTP control socket, with the login that
    the HA config names in files (Kea 3.2 refuses the socket without one)."""
    p, s = ha_pair.primary, ha_pair.standby
    # lease_cmds changes are not replicated to the partner: the standby does not have this lease
    p.ok("lease4-add", {"ip-address": "192.0.2.120", "hw-address": "0a:00:00:00:01:20"})
    assert raw_get(s, "192.0.2.120") is None
    assert ha_client(ha_pair, s).ha_sync(server_name=ha_pair.primary_name,
                                         max_period=10).result == 0
    synced = raw_get(s, "192.0.2.120")
    assert synced is not None and synced["hw-address"] == "0a:00:00:00:01:20"


def test_ha_continue_resumes_a_paused_state_machine(kea3: bool) -> None:
    pair = start_ha_pair(kea3=kea3, pause_primary_in="waiting")
    try:
        deadline = time.monotonic() + 30
        while pair.state(pair.primary) != "waiting" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pair.state(pair.primary) == "waiting"
        resp = ha_client(pair, pair.primary).ha_continue()
        assert resp.result == 0 and resp.text == "HA state machine continues."
        pair.wait_ready()
        assert pair.state(pair.primary) == "hot-standby"
        # nothing is paused any more
        assert ha_client(pair, pair.primary).ha_continue().text == "HA state machine is not paused."
    finally:
        pair.close()


# ---- host_cmds (Kea 3.0) ---------------------------------------------------------------------
@pytest.mark.kea3
def test_reservation_add_get_del_v4(kea3_4: KeaServer) -> None:
    c = client(kea3_4)
    mac = "0a:00:00:00:02:00"
    res = {"subnet-id": 1, "hw-address": mac, "ip-address": "192.0.2.200", "hostname": "res200"}
    assert c.reservation_add(res, operation_target="memory").result == 0
    got = c.reservation_get(1, identifier_type="hw-address", identifier=mac)
    assert got is not None and (got["ip-address"], got["hostname"]) == ("192.0.2.200", "res200")
    by_ip = c.reservation_get(1, ip_address="192.0.2.200", operation_target="memory")
    assert by_ip is not None and by_ip["hw-address"] == mac
    # "memory" lands in the running configuration
    sub1 = next(s for s in running_config(kea3_4)["subnet4"] if s["id"] == 1)
    in_config = [(r["hw-address"], r["ip-address"]) for r in sub1.get("reservations", [])]
    assert in_config == [(mac, "192.0.2.200")]
    assert c.reservation_del(1, identifier_type="hw-address", identifier=mac,
                             operation_target="memory") is True
    assert c.reservation_get(1, identifier_type="hw-address", identifier=mac,
                             operation_target="memory") is None
    sub1 = next(s for s in running_config(kea3_4)["subnet4"] if s["id"] == 1)
    assert sub1.get("reservations", []) == []


@pytest.mark.kea3
def test_reservation_add_get_del_v6(kea3_6: KeaServer) -> None:
    c = client(kea3_6)
    duid = "00:03:00:01:0a:00:00:00:06:00"
    res = {"subnet-id": 1, "duid": duid, "ip-addresses": ["2001:db8:1::600"],
           "prefixes": ["2001:db8:8000:600::/56"], "hostname": "res600"}
    assert c.reservation_add(res, operation_target="memory").result == 0
    got = c.reservation_get(1, identifier_type="duid", identifier=duid, operation_target="memory")
    assert got is not None
    assert (got["ip-addresses"], got["prefixes"], got["hostname"]) == (
        ["2001:db8:1::600"], ["2001:db8:8000:600::/56"], "res600")
    assert c.reservation_del(1, identifier_type="duid", identifier=duid, operation_target="memory") is True
    assert c.reservation_get(1, identifier_type="duid", identifier=duid, operation_target="memory") is None


# ---- host_cache (Kea 3.0) --------------------------------------------------------------------
@pytest.mark.kea3
def test_cache_insert_get_write_remove_load_clear(kea3_4: KeaServer) -> None:
    c = client(kea3_4)
    host = {"hw-address": "0a:00:00:00:03:00", "ip-address": "192.0.2.230", "hostname": "cached230",
            "subnet-id4": 1, "subnet-id6": 0}
    assert c.cache_get() == []
    assert c.cache_insert(host).result == 0
    cached = c.cache_get()
    assert [(h["hw-address"], h["ip-address"], h["hostname"]) for h in cached] == [
        ("0a:00:00:00:03:00", "192.0.2.230", "cached230")]

    name = f"cache-{uuid.uuid4().hex[:8]}.json"
    on_host = kea3_4.dir / name
    try:
        assert c.cache_write(f"{kea3_4.kea_dir}/{name}").result == 0
        dumped = json.loads(on_host.read_text())
        assert [(h["hw-address"], h["ip-address"], h["subnet-id4"]) for h in dumped] == [
            ("0a:00:00:00:03:00", "192.0.2.230", 1)]

        assert c.cache_remove(1, identifier_type="hw-address", identifier="0a:00:00:00:03:00").result == 0
        assert c.cache_get() == []

        assert c.cache_load(f"{kea3_4.kea_dir}/{name}").result == 0
        assert [h["hostname"] for h in c.cache_get()] == ["cached230"]

        assert c.cache_clear().result == 0
        assert c.cache_get() == []
    finally:
        on_host.unlink(missing_ok=True)


# ---- subnet_cmds (Kea 3.0) -------------------------------------------------------------------
@pytest.mark.kea3
def test_subnet4_add_get_list_del(kea3_4: KeaServer) -> None:
    c = client(kea3_4)
    added = c.subnet4_add({"id": 10, "subnet": "203.0.113.0/24",
                           "pools": [{"pool": "203.0.113.10 - 203.0.113.20"}]})
    assert [(s["id"], s["subnet"]) for s in added] == [(10, "203.0.113.0/24")]
    got = c.subnet4_get(10)
    assert got is not None and got["subnet"] == "203.0.113.0/24"
    assert got["pools"][0]["pool"] == "203.0.113.10-203.0.113.20"
    by_prefix = c.subnet4_get(prefix="203.0.113.0/24")
    assert by_prefix is not None and by_prefix["id"] == 10
    assert sorted(s["id"] for s in c.subnet4_list()) == [1, 2, 10]
    # the subnet is live: Kea now accepts a lease in it
    kea3_4.ok("lease4-add", {"ip-address": "203.0.113.15", "hw-address": "0a:00:00:00:04:00"})
    kea3_4.ok("lease4-del", {"ip-address": "203.0.113.15"})
    assert c.subnet4_del(10).result == 0
    assert c.subnet4_get(10) is None
    assert sorted(s["id"] for s in c.subnet4_list()) == [1, 2]
    r = kea3_4.command("lease4-add", {"ip-address": "203.0.113.16", "hw-address": "0a:00:00:00:04:01"})
    # Kea 3.0.4 answers result 4 here (not 1): "failed to find a subnet for address ..."
    assert r["result"] != 0 and "failed to find a subnet" in r["text"]


@pytest.mark.kea3
def test_subnet6_add_get_list_del(kea3_6: KeaServer) -> None:
    c = client(kea3_6)
    added = c.subnet6_add({"id": 10, "subnet": "2001:db8:2::/64",
                           "pools": [{"pool": "2001:db8:2::100 - 2001:db8:2::1ff"}]})
    assert [(s["id"], s["subnet"]) for s in added] == [(10, "2001:db8:2::/64")]
    got = c.subnet6_get(10)
    assert got is not None and got["subnet"] == "2001:db8:2::/64"
    assert sorted(s["id"] for s in c.subnet6_list()) == [1, 10]
    kea3_6.ok("lease6-add", {"ip-address": "2001:db8:2::150", "duid": DUID, "iaid": 1})
    kea3_6.ok("lease6-del", {"ip-address": "2001:db8:2::150"})
    assert c.subnet6_del(10).result == 0
    assert c.subnet6_get(10) is None
    assert [s["id"] for s in c.subnet6_list()] == [1]


@pytest.mark.kea3
@pytest.mark.parametrize("fixture", ["kea3_4", "kea3_6"])
def test_shared_network_commands(fixture: str, request: pytest.FixtureRequest) -> None:
    srv: KeaServer = request.getfixturevalue(fixture)
    fam = srv.family
    c = client(srv)
    add, get, lst = (getattr(c, f"network{fam}_{op}") for op in ("add", "get", "list"))
    sub_add, sub_del, delete = (getattr(c, f"network{fam}_{op}")
                                for op in ("subnet_add", "subnet_del", "del"))
    assert lst() == []
    assert [n["name"] for n in add({"name": "net-a", f"subnet{fam}": []})] == ["net-a"]
    assert [n["name"] for n in lst()] == ["net-a"]
    got = get("net-a")
    assert got is not None and got["name"] == "net-a" and got[f"subnet{fam}"] == []

    assert sub_add("net-a", 1).result == 0
    got = get("net-a")
    assert got is not None and [s["id"] for s in got[f"subnet{fam}"]] == [1]
    # the running config agrees: subnet 1 moved into the shared network
    running = running_config(srv)
    assert [s["id"] for s in running["shared-networks"][0][f"subnet{fam}"]] == [1]
    assert 1 not in [s["id"] for s in running[f"subnet{fam}"]]

    assert sub_del("net-a", 1).result == 0
    got = get("net-a")
    assert got is not None and got[f"subnet{fam}"] == []
    assert 1 in [s["id"] for s in running_config(srv)[f"subnet{fam}"]]

    assert delete("net-a").result == 0
    assert get("net-a") is None
    assert lst() == []
