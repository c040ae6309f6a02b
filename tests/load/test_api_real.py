"""The live lease loader against real Kea servers (lease_cmds over the UNIX socket and the CA)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from kea_etl.kea import KeaClient
from kea_etl.load.api import LiveLeaseLoader, LiveOptions
from kea_etl.records import Lease4, Lease6
from kea_etl.report import RunReport

pytestmark = pytest.mark.kea

NOW = 1_795_000_000


def _v4(n: int, *, mac_base: int = 0x10, subnet: int = 1, start: int = 10) -> list[Lease4]:
    return [Lease4(address=f"192.0.2.{start + i}", hwaddr=f"02:00:00:00:{mac_base:02x}:{i:02x}",
                   valid_lft=3600, cltt=NOW + i, subnet_id=subnet, hostname=f"h{i}")
            for i in range(n)]


def _items(records: list[Any]) -> list[Any]:
    return [replace(r, origin="src", line=i + 1) for i, r in enumerate(records)]


def _load(url: str, records: list[Any], *, auth: tuple[str, str] | None = None,
          **opts: Any) -> RunReport:
    """``auth``: the server's basic-auth credentials (Kea 3.2's HTTP socket requires them)."""
    report = RunReport()
    user, password = auth or (None, None)
    client = KeaClient.from_url(url, service=opts.pop("service", None), username=user,
                                password=password)
    try:
        LiveLeaseLoader(client, options=LiveOptions(**opts)).load(_items(records), report)
    finally:
        client.close()
    return report


def _kea4(srv: Any) -> dict[str, Lease4]:
    r = srv.command("lease4-get-all")
    return {x["ip-address"]: Lease4.from_kea(x) for x in r.get("arguments", {}).get("leases", [])}


def _kea6(srv: Any) -> dict[str, Lease6]:
    r = srv.command("lease6-get-all")
    out = {}
    for x in r.get("arguments", {}).get("leases", []):
        lease = Lease6.from_kea(x)
        out[lease.key] = lease
    return out


def test_v4_add_then_rerun_is_already_present(kea4: Any) -> None:
    leases = _v4(30)
    report = _load(kea4.socket_url, leases, workers=3, batch_size4=7)
    assert (report.loaded, report.failed, report.already_present) == (30, 0, 0)
    held = _kea4(kea4)
    assert [held[str(x.address)] for x in leases] == leases
    again = _load(kea4.socket_url, leases, workers=3)
    assert (again.loaded, again.already_present, again.failed) == (30, 30, 0)
    assert _kea4(kea4) == held


def test_v4_conflict_skip_then_overwrite(kea4: Any) -> None:
    mine = _v4(3)
    _load(kea4.socket_url, mine)
    theirs = _v4(3, mac_base=0x99)  # same addresses, other clients
    skip = _load(kea4.socket_url, theirs)
    assert (skip.loaded, skip.failed, skip.conflicts) == (0, 3, 3)
    assert all("02:00:00:00:10:" in (p.detail or "") for p in skip.problems)
    assert _kea4(kea4)["192.0.2.10"].hwaddr == "02:00:00:00:10:00"
    over = _load(kea4.socket_url, theirs, on_conflict="overwrite")
    assert (over.loaded, over.failed, over.conflicts) == (3, 0, 0)
    assert [p.reason for p in over.problems] == ["conflict overwritten"] * 3
    assert _kea4(kea4)["192.0.2.10"].hwaddr == "02:00:00:00:99:00"


def test_v4_upsert_replaces_same_client_expiry(kea4: Any) -> None:
    leases = _v4(2)
    _load(kea4.socket_url, leases)
    renewed = [Lease4(address=x.address, hwaddr=x.hwaddr, valid_lft=x.valid_lft, cltt=x.cltt + 500,
                      subnet_id=1, hostname=x.hostname) for x in leases]
    add = _load(kea4.socket_url, renewed)  # add mode keeps Kea's lease and says so
    assert (add.loaded, add.already_present) == (2, 2)
    assert _kea4(kea4)["192.0.2.10"].cltt == NOW
    up = _load(kea4.socket_url, renewed, mode="upsert")
    assert (up.loaded, up.already_present, up.failed) == (2, 0, 0)
    assert _kea4(kea4)["192.0.2.10"].cltt == NOW + 500
    blind = _load(kea4.socket_url, _v4(2, mac_base=0x77), mode="upsert", on_conflict="overwrite")
    assert blind.loaded == 2 and blind.sent == {"lease4-update": 2}
    assert _kea4(kea4)["192.0.2.11"].hwaddr == "02:00:00:00:77:01"


def test_v4_refused_record_does_not_stop_others(kea4: Any) -> None:
    leases = _v4(3)
    bad = Lease4(address="203.0.113.5", hwaddr="02:00:00:00:00:ff", valid_lft=60, cltt=NOW,
                 subnet_id=77)  # no subnet 77 on the server
    report = _load(kea4.socket_url, [leases[0], bad, *leases[1:]], workers=1)
    assert (report.loaded, report.failed) == (3, 1)
    assert report.problems[0].key == "4:203.0.113.5" and report.problems[0].line == 2
    assert set(_kea4(kea4)) == {str(x.address) for x in leases}


def test_v4_dry_run_sends_nothing_but_reports(kea4: Any) -> None:
    _load(kea4.socket_url, _v4(1))
    plan = _v4(1, mac_base=0x55) + _v4(2, start=100)
    report = _load(kea4.socket_url, plan, dry_run=True)
    assert report.sent == {"lease4-add": 2}
    assert (report.loaded, report.conflicts) == (2, 1)
    assert set(_kea4(kea4)) == {"192.0.2.10"}


def test_v4_over_control_agent_http(kea_factory: Any) -> None:
    srv = kea_factory(family=4, ctrl_agent=True)
    leases = _v4(20)
    report = _load(srv.http_url, leases, service="dhcp4", workers=4, batch_size4=5)
    assert (report.loaded, report.failed) == (20, 0)
    assert len(_kea4(srv)) == 20


DUID = "00:03:00:01:02:00:00:00:00:{:02x}"


def _v6(n: int, *, duid_base: int = 0) -> list[Lease6]:
    return [Lease6(address=f"2001:db8:1::{0x1000 + i:x}", duid=DUID.format(duid_base + i), iaid=i,
                   valid_lft=4000, preferred_lft=3000, cltt=NOW, subnet_id=1) for i in range(n)]


def test_v6_bulk_one_bad_lease_in_batch_and_pd(kea6: Any) -> None:
    leases = _v6(10)
    pd = Lease6(address="2001:db8:8000:100::", prefix_len=56, lease_type="IA_PD",
                duid=DUID.format(0xee), iaid=9, valid_lft=4000, preferred_lft=3000, cltt=NOW,
                subnet_id=1)
    outside = Lease6(address="2001:db8:99::1", duid=DUID.format(0xf0), iaid=1, valid_lft=4000,
                     preferred_lft=3000, cltt=NOW, subnet_id=1)
    nosubnet = Lease6(address="2001:db8:1::5", duid=DUID.format(0xf1), iaid=1, valid_lft=4000,
                      preferred_lft=3000, cltt=NOW, subnet_id=42)
    batch = [*leases[:5], outside, nosubnet, pd, *leases[5:]]
    report = _load(kea6.socket_url, batch, batch_size6=50, workers=2)
    assert (report.loaded, report.failed) == (11, 2)
    assert report.sent == {"lease6-bulk-apply": 1}
    assert {p.key for p in report.problems} == {"6:2001:db8:99::1", "6:2001:db8:1::5"}
    held = _kea6(kea6)
    assert set(held) == {x.key for x in [*leases, pd]}
    assert held[pd.key] == pd
    again = _load(kea6.socket_url, [*leases, pd])
    assert (again.already_present, again.failed) == (11, 0)
    assert "lease6-bulk-apply" not in (again.sent or {})


def test_v6_conflict_is_checked_before_bulk_upsert(kea6: Any) -> None:
    mine = _v6(4)
    _load(kea6.socket_url, mine)
    theirs = _v6(4, duid_base=0x40)
    skip = _load(kea6.socket_url, theirs)
    assert (skip.conflicts, skip.loaded) == (4, 0)
    assert {x.duid for x in _kea6(kea6).values()} == {x.duid for x in mine}
    over = _load(kea6.socket_url, theirs, on_conflict="overwrite")
    assert (over.loaded, over.conflicts) == (4, 0)
    assert {x.duid for x in _kea6(kea6).values()} == {x.duid for x in theirs}


def test_v6_whole_batch_failure_falls_back_to_single_adds(kea6: Any) -> None:
    # bulk off the server-side check: give the loader a subnet map that wrongly claims subnet 42
    # exists, so the batch reaches Kea and Kea fails the whole call
    from ipaddress import IPv6Network

    from kea_etl.load.api import ServerSubnet
    leases = _v6(3)
    bad = Lease6(address="2001:db8:1::5", duid=DUID.format(0xf1), iaid=1, valid_lft=4000,
                 preferred_lft=3000, cltt=NOW, subnet_id=42)
    client = KeaClient.from_url(kea6.socket_url)
    report = RunReport()
    subnets = [ServerSubnet(1, IPv6Network("2001:db8:1::/64")),
               ServerSubnet(42, IPv6Network("2001:db8:1::/64"))]
    LiveLeaseLoader(client, subnets=subnets).load(_items([*leases, bad]), report)
    assert (report.loaded, report.failed) == (3, 1)
    assert report.sent == {"lease6-bulk-apply refused": 1, "lease6-add": 3}
    assert set(_kea6(kea6)) == {x.key for x in leases}


def test_missing_lease_cmds_is_one_clear_error(kea_factory: Any) -> None:
    from kea_etl.errors import KeaUnsupportedError
    srv = kea_factory(family=4, hooks=())
    with pytest.raises(KeaUnsupportedError, match="lease_cmds"):
        _load(srv.socket_url, _v4(2))


@pytest.mark.kea3
def test_v4_kea3_daemon_http_and_rerun(kea3_4: Any) -> None:
    leases = _v4(12)
    report = _load(kea3_4.http_url, leases, auth=kea3_4.http_credentials, workers=3,
                   batch_size4=4)
    assert (report.loaded, report.failed) == (12, 0)
    # Kea 3 answers a duplicate with result 4
    again = _load(kea3_4.http_url, leases, auth=kea3_4.http_credentials)
    assert (again.already_present, again.failed) == (12, 0)
    assert len(_kea4(kea3_4)) == 12


def test_v6_leases_sent_to_a_dhcp4_server_fail_one_by_one(kea4: Any) -> None:
    report = _load(kea4.socket_url, [*_v4(2), *_v6(3)])
    assert (report.loaded, report.failed) == (2, 3)
    assert {p.reason for p in report.problems} == {"wrong address family"}


def test_password_in_kea_url_is_refused_and_never_echoed() -> None:
    from kea_etl.errors import InvalidURLError
    from kea_etl.load.api import make_kea_loader
    with pytest.raises(InvalidURLError) as info:
        make_kea_loader("http://admin:hunter2@127.0.0.1:8000", service="dhcp4", dry_run=True)
    assert "hunter2" not in str(info.value) and "KEA_ETL_PASSWORD" in str(info.value)


# -- the compact wire form (kea_etl.load.api.wire_args) stores exactly the source lease -------
def _varied_v4() -> list[Lease4]:
    """Fields at Kea's defaults (left out of the request) and away from them (sent)."""
    base = {"valid_lft": 3600, "cltt": NOW, "subnet_id": 1}
    return [
        Lease4(address="192.0.2.40", hwaddr="0a:00:00:00:00:40", **base),
        Lease4(address="192.0.2.41", hwaddr="0a:00:00:00:00:41", client_id="01:0a:00:00:00:00:41",
               hostname="h41.example.org", fqdn_fwd=True, fqdn_rev=True, **base),
        Lease4(address="192.0.2.42", hwaddr="0a:00:00:00:00:42", hostname="h42", fqdn_rev=True,
               user_context={"from": "isc"}, **base),
        Lease4(address="192.0.2.43", hwaddr="0a:00:00:00:00:43", state=1, **base),
    ]


def _varied_v6() -> list[Lease6]:
    base = {"valid_lft": 4000, "cltt": NOW, "subnet_id": 1}
    return [
        Lease6(address="2001:db8:1::2000", duid="00:03:00:01:0a:00:00:00:20:00", iaid=0,
               preferred_lft=3000, **base),
        Lease6(address="2001:db8:1::2001", duid="00:01:00:01:2a:bb:cc:dd:0a:00:00:00:20:01",
               iaid=7, preferred_lft=0, hostname="h1.example.org", fqdn_fwd=True, fqdn_rev=True,
               hwaddr="0a:00:00:00:20:01", **base),
        Lease6(address="2001:db8:1::2002", duid="00:03:00:01:0a:00:00:00:20:02", iaid=2**32 - 1,
               preferred_lft=3000, state=1, user_context={"from": "isc"}, **base),
        Lease6(address="2001:db8:8000:200::", lease_type="IA_PD", prefix_len=56, iaid=3,
               duid="00:03:00:01:0a:00:00:00:20:03", preferred_lft=3000, hostname="pd", **base),
    ]


@pytest.mark.parametrize("server", ["kea6", pytest.param("kea3_6", marks=pytest.mark.kea3)])
@pytest.mark.parametrize("bulk", [True, False], ids=["bulk-apply", "lease6-add"])
def test_v6_compact_wire_form_stores_the_source_lease(server: str, bulk: bool,
                                                      request: pytest.FixtureRequest) -> None:
    srv = request.getfixturevalue(server)
    url = srv.http_url if srv.kea3 else srv.socket_url
    auth = srv.http_credentials if srv.kea3 else None
    leases = _varied_v6()
    report = _load(url, leases, auth=auth, bulk_v6=bulk, workers=2)
    assert (report.loaded, report.failed) == (4, 0)
    assert report.sent == ({"lease6-bulk-apply": 1} if bulk else {"lease6-add": 4})
    assert _kea6(srv) == {x.key: x for x in leases}
    # upsert of a changed expiry goes through the same compact form (bulk: lease6-bulk-apply)
    later = [replace(x, cltt=x.cltt + 100) for x in leases]
    up = _load(url, later, auth=auth, bulk_v6=bulk, mode="upsert")
    assert (up.loaded, up.failed, up.already_present) == (4, 0, 0)
    assert _kea6(srv) == {x.key: x for x in later}


@pytest.mark.parametrize("server", ["kea4", pytest.param("kea3_4", marks=pytest.mark.kea3)])
def test_v4_compact_wire_form_stores_the_source_lease(server: str,
                                                      request: pytest.FixtureRequest) -> None:
    srv = request.getfixturevalue(server)
    url = srv.http_url if srv.kea3 else srv.socket_url
    auth = srv.http_credentials if srv.kea3 else None
    leases = _varied_v4()
    report = _load(url, leases, auth=auth, workers=2)
    assert (report.loaded, report.failed) == (4, 0)
    assert _kea4(srv) == {str(x.address): x for x in leases}
    again = _load(url, leases, auth=auth)
    assert (again.already_present, again.failed) == (4, 0)


@pytest.mark.parametrize("server", ["kea4", "kea6", pytest.param("kea3_4", marks=pytest.mark.kea3)])
def test_upsert_to_default_values_clears_what_kea_held(server: str,
                                                       request: pytest.FixtureRequest) -> None:
    """The compact form leaves default-valued fields out; an update must still *set* them: a
    lease Kea holds with a hostname, FQDN flags and declined state, updated from a source lease
    with none of these, ends exactly as the source (Kea's lease parser defaults absent fields,
    it does not keep the old ones)."""
    srv = request.getfixturevalue(server)
    url = srv.http_url if srv.kea3 else srv.socket_url
    auth = srv.http_credentials if srv.kea3 else None
    if server.endswith("6"):
        rich6 = [replace(x, hostname="was.example.org", fqdn_fwd=True, fqdn_rev=True, state=1)
                 for x in _varied_v6()[:1]]
        plain6 = [replace(x, hostname="", fqdn_fwd=False, fqdn_rev=False, state=0, cltt=x.cltt + 5)
                  for x in rich6]
        for bulk in (True, False):
            assert _load(url, rich6, auth=auth, bulk_v6=bulk, mode="upsert").failed == 0
            assert _kea6(srv) == {x.key: x for x in rich6}
            assert _load(url, plain6, auth=auth, bulk_v6=bulk, mode="upsert").failed == 0
            assert _kea6(srv) == {x.key: x for x in plain6}
        return
    rich4 = [replace(x, hostname="was.example.org", fqdn_fwd=True, fqdn_rev=True, state=1)
             for x in _varied_v4()[:1]]
    plain4 = [replace(x, hostname="", fqdn_fwd=False, fqdn_rev=False, state=0, cltt=x.cltt + 5)
              for x in rich4]
    assert _load(url, rich4, auth=auth, mode="upsert").failed == 0
    assert _kea4(srv) == {str(x.address): x for x in rich4}
    assert _load(url, plain4, auth=auth, mode="upsert").failed == 0
    assert _kea4(srv) == {str(x.address): x for x in plain4}
