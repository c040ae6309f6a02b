"""The harness itself against real servers: start, reset between tests, control agent, HA pair."""

from __future__ import annotations

import pytest

from tests.harness.kea import http_command


@pytest.mark.kea
@pytest.mark.parametrize("fixture", ["kea4", "kea6"])
def test_session_servers_start_clean(fixture: str, request: pytest.FixtureRequest) -> None:
    srv = request.getfixturevalue(fixture)
    assert srv.alive()
    assert srv.ok("version-get") is not None or srv.command("version-get")["result"] == 0
    assert srv.leases() == []
    assert srv.socket_url.startswith("unix:///")
    assert srv.lease_file.parent == srv.dir


@pytest.mark.kea3
@pytest.mark.parametrize("fixture", ["kea3_4", "kea3_6"])
def test_kea3_servers_start_with_http(fixture: str, request: pytest.FixtureRequest) -> None:
    srv = request.getfixturevalue(fixture)
    assert srv.version.startswith("3.")
    reply = http_command(srv.http_url, "version-get", auth=srv.http_credentials)
    assert reply[0]["result"] == 0 and reply[0]["text"] == srv.version
    cmds = srv.ok("list-commands")
    for c in ("reservation-add", "cache-write", "subnet4-add", "lease4-add"):
        assert c in cmds


@pytest.mark.kea
@pytest.mark.parametrize("step", [1, 2])
def test_reset_wipes_leases_and_restores_config(step: int, kea4) -> None:  # type: ignore[no-untyped-def]
    # Whichever step runs second must find the state the first one left behind undone.
    assert kea4.leases() == []
    subnets = kea4.ok("config-get")["Dhcp4"]["subnet4"]
    assert [s["id"] for s in subnets] == [1, 2]
    kea4.ok("lease4-add", {"ip-address": "192.0.2.50", "hw-address": "00:11:22:33:44:55"})
    cfg = kea4.ok("config-get")
    cfg.pop("hash", None)
    cfg["Dhcp4"]["subnet4"] = cfg["Dhcp4"]["subnet4"][:1]
    kea4.ok("config-set", cfg)
    assert len(kea4.ok("config-get")["Dhcp4"]["subnet4"]) == 1


@pytest.mark.kea
def test_ctrl_agent_forwards_to_daemon(kea4_ca) -> None:  # type: ignore[no-untyped-def]
    reply = http_command(kea4_ca.http_url, "version-get", service="dhcp4")
    assert isinstance(reply, list) and reply[0]["result"] == 0 and reply[0]["text"] == kea4_ca.version


@pytest.mark.kea
def test_factory_loads_lease_file_and_stops(kea_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    csv = tmp_path / "leases.csv"
    csv.write_text(
        "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context\n"
        "192.0.2.77,00:aa:bb:cc:dd:ee,,4000,4102444800,1,0,0,host77,0,\n")
    srv = kea_factory(family=4, lease_file=csv)
    leases = srv.leases()
    got = [(lease["ip-address"], lease["hw-address"]) for lease in leases]
    assert got == [("192.0.2.77", "00:aa:bb:cc:dd:ee")]
    assert srv.config["Dhcp4"]["sanity-checks"] == {"lease-checks": "del"}
    proc = srv.proc
    srv.stop()
    assert proc is not None and proc.poll() is not None


@pytest.mark.kea
def test_ha_pair_reaches_hot_standby(kea_ha_pair) -> None:  # type: ignore[no-untyped-def]
    assert kea_ha_pair.state(kea_ha_pair.primary) == "hot-standby"
    assert kea_ha_pair.state(kea_ha_pair.standby) in ("hot-standby", "ready")
