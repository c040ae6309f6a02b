"""Subnet ids derived from prefixes (kea_etl.convert.ids): in Kea's range, unique, deterministic,
independent of the order subnets are written in, and kept from a previous config when asked."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network

from hypothesis import given, settings
from hypothesis import strategies as st

from kea_etl.convert.ids import ID_MAX, assign_ids, stable_id


def test_v4_id_is_the_network_address() -> None:
    assert stable_id(IPv4Network("10.100.0.0/22")) == 174325760
    ids, notes = assign_ids([IPv4Network("10.100.0.0/22"), IPv4Network("10.101.0.0/24")])
    assert ids == {"10.100.0.0/22": 174325760, "10.101.0.0/24": 174391296} and notes == []


def test_v6_id_is_a_fixed_hash() -> None:
    # pinned: a change here renumbers every converted v6 subnet (Kea drops their leases)
    assert stable_id(IPv6Network("2001:db8:100::/64")) == 3817985029


def test_collisions_are_resolved_deterministically_and_reported() -> None:
    nets = [IPv4Network("10.0.0.0/24"), IPv4Network("10.0.0.0/8"), IPv4Network("0.0.0.0/1")]
    ids, notes = assign_ids(nets)
    again, _ = assign_ids(list(reversed(nets)))
    assert ids == again
    assert len(set(ids.values())) == 3 and all(1 <= v <= ID_MAX for v in ids.values())
    assert ids["10.0.0.0/8"] == int(IPv4Network("10.0.0.0/8").network_address)  # sorts first
    moved = {p for p, _, _ in notes}
    assert moved == {"10.0.0.0/24", "0.0.0.0/1"}
    assert any("outside 1.." in why for _, _, why in notes)
    assert any("already 10.0.0.0/8's" in why for _, _, why in notes)


def test_keep_ids_wins_and_new_subnets_avoid_them() -> None:
    n1, n2 = IPv4Network("10.1.0.0/24"), IPv4Network("10.2.0.0/24")
    ids, notes = assign_ids([n1, n2], keep={"10.1.0.0/24": int(n2.network_address)})
    assert ids["10.1.0.0/24"] == int(n2.network_address)
    assert ids["10.2.0.0/24"] != ids["10.1.0.0/24"]
    assert [p for p, _, _ in notes] == ["10.2.0.0/24"]


nets4 = st.builds(lambda a, p: IPv4Network((a, p), strict=False),
                  st.integers(0, 2**32 - 1), st.integers(0, 32))
nets6 = st.builds(lambda a, p: IPv6Network((a, p), strict=False),
                  st.integers(0, 2**128 - 1), st.integers(0, 128))


@settings(max_examples=200)
@given(st.lists(nets4, max_size=40) | st.lists(nets6, max_size=40), st.randoms())
def test_ids_unique_in_range_and_order_independent(nets: list[IPv4Network | IPv6Network],
                                                   rnd: object) -> None:
    ids, _ = assign_ids(nets)
    shuffled = list(nets)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert assign_ids(shuffled)[0] == ids
    assert len(set(ids.values())) == len(ids) == len({str(n) for n in nets})
    assert all(1 <= v <= ID_MAX for v in ids.values())
