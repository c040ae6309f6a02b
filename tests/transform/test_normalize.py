"""Normalizer: the migration policy, one reason per record not loaded."""

from __future__ import annotations

import random
from ipaddress import IPv4Address, IPv6Network

import pytest

from kea_etl.extract.base import Extracted
from kea_etl.records import INFINITE_LIFETIME, Lease4, Lease6, Reservation
from kea_etl.transform.normalize import Normalizer, Rejected, WrongFamilyError
from kea_etl.transform.subnets import SubnetMap

AS_OF = 1_800_000_000
SUBNETS = SubnetMap.from_config({
    "Dhcp4": {"subnet4": [{"id": 5, "subnet": "192.0.2.0/24"}]},
    "Dhcp6": {"subnet6": [{"id": 9, "subnet": "2001:db8:1::/64", "pd-pools": [
        {"prefix": "2001:db8:8000::", "prefix-len": 40, "delegated-len": 56}]}]},
})


def lease4(addr: str = "192.0.2.20", *, cltt: int = AS_OF - 100, valid: int = 3600,
           hwaddr: str | None = "aa:bb:cc:dd:ee:01", **kw: object) -> Lease4:
    return Lease4(address=addr, hwaddr=hwaddr, valid_lft=valid, cltt=cltt, **kw)  # type: ignore[arg-type]


def lease6(addr: str = "2001:db8:1::100", **kw: object) -> Lease6:
    base: dict[str, object] = {"duid": "00:01:02:03", "iaid": 7, "valid_lft": 3600,
                               "cltt": AS_OF - 100, "preferred_lft": 1800}
    base.update(kw)
    return Lease6(address=addr, **base)  # type: ignore[arg-type]


def norm(rec: Lease4 | Lease6 | Reservation, state: str = "active", **kw: object
         ) -> Lease4 | Lease6 | Reservation | Rejected:
    n = Normalizer(SUBNETS, as_of=AS_OF, **kw)  # type: ignore[arg-type]
    return n(Extracted(rec, binding_state=state, source="f", line=1))


def test_active_lease_gets_target_subnet_and_keeps_lifetimes() -> None:
    src = lease4(subnet_id=99, hostname="pc", client_id="01:aa:bb:cc:dd:ee:01")
    out = norm(src)
    assert isinstance(out, Lease4)
    assert out.subnet_id == 5
    assert (out.valid_lft, out.cltt, out.hostname, out.client_id, out.hwaddr) == \
        (src.valid_lft, src.cltt, "pc", src.client_id, src.hwaddr)
    assert out.expire == src.expire
    assert src.subnet_id == 99  # the source record is not modified


@pytest.mark.parametrize(("state", "reason"), [
    ("free", "free"), ("backup", "backup"), ("released", "released"),
    ("expired", "expired-state"), ("reset", "reset"), ("abandoned", "abandoned"),
    ("weird", "unknown-state"),
])
def test_binding_states_skipped(state: str, reason: str) -> None:
    out = norm(lease4(), state)
    assert isinstance(out, Rejected) and out.reason == reason and not out.failed


def test_bootp_binding_loaded() -> None:
    assert isinstance(norm(lease4(), "bootp"), Lease4)


def test_abandoned_as_declined() -> None:
    out = norm(lease4(), "abandoned", abandoned="declined")
    assert isinstance(out, Lease4) and out.state == 1


def test_expiry_as_of() -> None:
    out = norm(lease4(cltt=AS_OF - 3601, valid=3600))
    assert isinstance(out, Rejected) and out.reason == "expired"
    assert isinstance(norm(lease4(cltt=AS_OF - 3600, valid=3600)), Lease4)  # expires right now
    inf = norm(lease4(cltt=1000, valid=INFINITE_LIFETIME))
    assert isinstance(inf, Lease4) and inf.valid_lft == INFINITE_LIFETIME


def test_kea_states_on_record() -> None:
    out = norm(lease4(state=2))
    assert isinstance(out, Rejected) and out.reason == "expired-reclaimed"
    out = norm(lease4(state=3))
    assert isinstance(out, Rejected) and out.reason == "released"
    declined = norm(lease4(state=1, hwaddr=None))
    assert isinstance(declined, Lease4) and declined.state == 1


def test_no_subnet_and_no_hwaddr() -> None:
    out = norm(lease4("203.0.113.5"))
    assert isinstance(out, Rejected) and out.reason == "no-subnet" and "203.0.113.5" in str(out.detail)
    out = norm(lease4(hwaddr=None))
    assert isinstance(out, Rejected) and out.reason == "no-hwaddr" and out.failed


def test_v6_na_pd_ta() -> None:
    na = norm(lease6())
    assert isinstance(na, Lease6) and na.subnet_id == 9
    pd = norm(lease6("2001:db8:80ab:cd00::", lease_type="IA_PD", prefix_len=56))
    assert isinstance(pd, Lease6) and pd.subnet_id == 9 and pd.prefix_len == 56
    out = norm(lease6("2001:db8:1::", lease_type="IA_PD", prefix_len=64))
    assert isinstance(out, Rejected) and out.reason == "no-subnet"  # not in a pd-pool
    out = norm(lease6("2001:db8:1::5", lease_type="IA_TA"))
    assert isinstance(out, Rejected) and out.reason == "ia-ta"


def test_missing_family_section_is_a_usage_error() -> None:
    only4 = SubnetMap.from_config({"Dhcp4": {"subnet4": [{"id": 1, "subnet": "192.0.2.0/24"}]}},
                                  origin="kea4.json")
    with pytest.raises(WrongFamilyError, match=r"^dhcpd6.leases line 7: a DHCPv6 lease "
                       r"\(2001:db8:1::100\), but the target has no DHCPv6 configuration \(only a "
                       r"DHCPv4 one \(kea4.json\)\)"):
        Normalizer(only4, as_of=AS_OF)(Extracted(lease6(), source="dhcpd6.leases", line=7))


def test_no_subnet_lease_carries_the_unmapped_record() -> None:
    out = norm(lease4("203.0.113.5"))
    assert isinstance(out, Rejected) and isinstance(out.unmapped, Lease4)
    assert out.unmapped.subnet_id == 0 and str(out.unmapped.address) == "203.0.113.5"


def test_reservations_placed_by_address() -> None:
    host = Reservation(family=4, identifier_type="hw-address", identifier="aa:bb:cc:dd:ee:ff",
                       ipv4_address="192.0.2.9", hostname="printer")  # type: ignore[arg-type]
    out = norm(host)
    assert isinstance(out, Reservation) and out.subnet_id == 5
    nowhere = Reservation(family=4, identifier_type="hw-address", identifier="aa:bb:cc:dd:ee:ff")
    out = norm(nowhere)
    assert isinstance(out, Rejected) and out.reason == "empty-reservation" and out.failed
    named = Reservation(family=4, identifier_type="hw-address", identifier="aa:bb:cc:dd:ee:ff",
                        hostname="printer")  # no address: a global reservation
    out = norm(named)
    assert isinstance(out, Reservation) and out.subnet_id == 0
    out = norm(Reservation(family=4, identifier_type="hw-address", identifier="aa:bb:cc:dd:ee:ff",
                           ipv4_address="203.0.113.9"))  # type: ignore[arg-type]
    assert isinstance(out, Rejected) and out.reason == "no-subnet"
    pd_host = Reservation(family=6, identifier_type="duid", identifier="00:01:02",
                          prefixes=(IPv6Network("2001:db8:8001:100::/56"),))
    out = norm(pd_host)
    assert isinstance(out, Reservation) and out.subnet_id == 9


def test_a_v4_lease_key_is_its_address_text() -> None:
    """Lease4.key formats the address itself (the checkpoint keys every record by it): the
    same text as str(IPv4Address), for the edges and a sample of the whole space."""
    rng = random.Random(4)
    for n in [0, 1, 255, 256, 0x0A000001, 0x7F000001, 0xFFFFFFFF,
              *(rng.randrange(1 << 32) for _ in range(2000))]:
        lease = Lease4(address=IPv4Address(n), hwaddr="02:00:00:00:00:01", valid_lft=3600,
                       cltt=1_795_000_000)
        assert lease.key == str(IPv4Address(n))
