"""ConflictTracker: duplicate addresses, one client on two addresses, reserved addresses."""

from __future__ import annotations

import pytest

from kea_etl.records import Lease4, Lease6, Reservation
from kea_etl.transform.conflicts import ConflictTracker, Numbering


def l4(addr: str, mac: str, cltt: int, *, subnet: int = 1, cid: str | None = None,
       state: int = 0) -> Lease4:
    return Lease4(address=addr, hwaddr=mac, valid_lft=3600, cltt=cltt, subnet_id=subnet,
                  client_id=cid, state=state)


def test_no_conflicts_for_distinct_clients() -> None:
    t = ConflictTracker()
    for i in range(100):
        t.observe(l4(f"192.0.2.{i}", f"aa:00:00:00:00:{i:02x}", 1000 + i))
    assert t.resolve() == []


def test_same_client_two_addresses_newest_wins() -> None:
    t = ConflictTracker()
    assert t.observe(l4("192.0.2.1", "aa:00:00:00:00:01", 2000), source="a", line=3) == 0
    t.observe(l4("192.0.2.2", "aa:00:00:00:00:02", 1000))
    t.observe(l4("192.0.2.3", "aa:00:00:00:00:01", 1500), source="a", line=9)  # older: loses
    # same MAC in another subnet is not a conflict
    t.observe(l4("198.51.100.3", "aa:00:00:00:00:01", 1500, subnet=2))
    out = t.resolve()
    assert [(c.reason, c.ordinal, c.key, c.line, c.fails) for c in out] == \
        [("conflict", 2, "192.0.2.3", 9, True)]
    assert "192.0.2.1 (a line 3)" in out[0].detail


def test_client_id_is_the_identity_when_present() -> None:
    t = ConflictTracker()
    # same MAC, different client-ids: two clients for Kea (e.g. dual boot); no conflict
    t.observe(l4("192.0.2.1", "aa:00:00:00:00:01", 1000, cid="01:01"))
    t.observe(l4("192.0.2.2", "aa:00:00:00:00:01", 1000, cid="01:02"))
    # same client-id on two MACs: one client
    t.observe(l4("192.0.2.3", "aa:00:00:00:00:03", 1000, cid="01:09"))
    t.observe(l4("192.0.2.4", "aa:00:00:00:00:04", 1001, cid="01:09"))
    assert [(c.reason, c.key) for c in t.resolve()] == [("conflict", "192.0.2.3")]


def test_declined_leases_not_compared_and_tie_goes_to_last() -> None:
    t = ConflictTracker()
    t.observe(l4("192.0.2.1", "aa:00:00:00:00:01", 1000, state=1))
    t.observe(l4("192.0.2.2", "aa:00:00:00:00:01", 1000))
    t.observe(l4("192.0.2.5", "aa:00:00:00:00:05", 1000))
    t.observe(l4("192.0.2.6", "aa:00:00:00:00:05", 1000))  # same cltt: the one read last wins
    assert [(c.ordinal, c.key) for c in t.resolve()] == [(2, "192.0.2.5")]


def test_duplicate_address_across_sources() -> None:
    t = ConflictTracker()
    t.observe(l4("192.0.2.1", "aa:00:00:00:00:01", 2000), source="peer1")
    t.observe(l4("192.0.2.1", "aa:00:00:00:00:02", 1000), source="peer2")
    t.observe(Lease6(address="2001:db8::1", duid="01:02", iaid=1, valid_lft=10, cltt=5))
    t.observe(Lease6(address="2001:db8::1", duid="01:03", iaid=1, valid_lft=10, cltt=9))
    # same address as a prefix is another lease type for Kea: no conflict
    t.observe(Lease6(address="2001:db8::", duid="01:03", iaid=1, valid_lft=10, cltt=9,
                     lease_type="IA_PD", prefix_len=64))
    out = t.resolve()
    assert [(c.reason, c.family, c.ordinal, c.source) for c in out] == \
        [("duplicate-address", 4, 1, "peer2"), ("duplicate-address", 6, 0, None)]


def test_reserved_for_other_is_a_warning() -> None:
    t = ConflictTracker()
    mine = Reservation(family=4, identifier_type="hw-address", identifier="aa:00:00:00:00:01",
                       subnet_id=1, ipv4_address="192.0.2.1")  # type: ignore[arg-type]
    assert t.check_reservation(mine) is None
    t.observe(l4("192.0.2.1", "aa:00:00:00:00:99", 1000))  # someone else holds it
    t.observe(l4("192.0.2.2", "aa:00:00:00:00:01", 1000))
    v6host = Reservation(family=6, identifier_type="duid", identifier="01:02", subnet_id=1,
                         ip_addresses=("2001:db8::5",))  # type: ignore[arg-type]
    assert t.check_reservation(v6host) is None
    t.observe(Lease6(address="2001:db8::5", duid="01:02", iaid=1, valid_lft=10, cltt=5))  # owner
    out = t.resolve()
    assert [(c.reason, c.key, c.fails) for c in out] == [("reserved-for-other", "192.0.2.1", False)]


def test_duplicate_reservations_rejected() -> None:
    t = ConflictTracker()
    a = Reservation(family=4, identifier_type="hw-address", identifier="aa:00:00:00:00:01",
                    subnet_id=1, ipv4_address="192.0.2.1")  # type: ignore[arg-type]
    same_id = Reservation(family=4, identifier_type="hw-address", identifier="aa:00:00:00:00:01",
                          subnet_id=1, ipv4_address="192.0.2.7")  # type: ignore[arg-type]
    same_ip = Reservation(family=4, identifier_type="hw-address", identifier="aa:00:00:00:00:02",
                          subnet_id=1, ipv4_address="192.0.2.1")  # type: ignore[arg-type]
    other_subnet = Reservation(family=4, identifier_type="hw-address",
                               identifier="aa:00:00:00:00:01", subnet_id=2)
    assert t.check_reservation(a) is None
    r1 = t.check_reservation(same_id)
    r2 = t.check_reservation(same_ip)
    assert r1 is not None and r1.reason == "duplicate-reservation" and r1.failed
    assert r2 is not None and "192.0.2.1 is already reserved" in str(r2.detail)
    assert t.check_reservation(other_subnet) is None


def _mixed_run(t: ConflictTracker, seed: int) -> None:
    """Reservations and ~3,000 leases with every conflict kind, from a fixed random seed:
    repeated v4 addresses (across sources), one client on two addresses (by MAC and by
    client-id), declined leases, equal cltt ties, leases on reserved addresses (holder and
    other client, v4 by hw-address and client-id, v6 by duid and hw-address), repeated v6
    addresses and prefixes."""
    import random

    rng = random.Random(seed)
    for k in range(20):
        ident = ("hw-address", f"aa:00:00:00:{k:02x}:01") if k % 2 else ("client-id", f"01:{k:02x}")
        t.check_reservation(Reservation(
            family=4, identifier_type=ident[0], identifier=ident[1], subnet_id=1 + k % 2,
            ipv4_address=f"10.0.{k % 2}.{k}"))  # type: ignore[arg-type]
        ident6 = ("duid", f"00:03:{k:02x}") if k % 2 else ("hw-address", f"bb:00:00:00:{k:02x}:01")
        t.check_reservation(Reservation(
            family=6, identifier_type=ident6[0], identifier=ident6[1], subnet_id=1,
            ip_addresses=(f"2001:db8::{k:x}",)))  # type: ignore[arg-type]
    for i in range(3000):
        source = ("peer1.leases", "peer2.leases", None)[i % 3]
        if i % 4:
            subnet = rng.randrange(2)
            mac = f"aa:00:00:00:{rng.randrange(40):02x}:{rng.randrange(2):02x}"
            cid = f"01:{rng.randrange(60):02x}" if rng.random() < 0.3 else None
            t.observe(l4(f"10.0.{subnet}.{rng.randrange(200)}", mac, 1000 + rng.randrange(30),
                         subnet=1 + subnet, cid=cid, state=1 if rng.random() < 0.05 else 0),
                      source=source, line=i + 1)
        else:
            pd = rng.random() < 0.2
            duid = f"00:03:{rng.randrange(30):02x}"
            hw = f"bb:00:00:00:{rng.randrange(30):02x}:01" if rng.random() < 0.5 else None
            t.observe(Lease6(address=f"2001:db8::{0 if pd else rng.randrange(300):x}", duid=duid,
                             iaid=1, valid_lft=10, cltt=1000 + rng.randrange(30), hwaddr=hw,
                             lease_type="IA_PD" if pd else "IA_NA", prefix_len=64 if pd else 128),
                      source=source, line=i + 1)


def test_spilled_to_disk_decides_as_in_memory() -> None:
    """A budget of 2 KiB spills the columns every ~60 leases and resolves in many hash
    partitions: the decisions (losers, winners named in the details, warnings) are the same."""
    for seed in range(3):
        memory, spilled = ConflictTracker(), ConflictTracker(memory_budget=2048)
        _mixed_run(memory, seed)
        _mixed_run(spilled, seed)
        assert not memory.spilled and spilled.spilled
        expected = memory.resolve()
        assert spilled.resolve() == expected
        kinds = {(c.family, c.reason) for c in expected}
        assert kinds == {(4, "duplicate-address"), (4, "conflict"), (4, "reserved-for-other"),
                         (6, "duplicate-address"), (6, "reserved-for-other")}


def test_numbering_gives_the_trackers_ordinals_and_checks_reservations() -> None:
    """The load pass after a pre-pass numbers leases as the pre-pass's tracker did."""
    leases: list[Lease4 | Lease6] = []
    for i in range(50):
        leases.append(l4(f"192.0.2.{i}", f"aa:00:00:00:00:{i % 7:02x}", 1000 + i))
        if i % 3 == 0:
            leases.append(Lease6(address=f"2001:db8::{i:x}", duid=f"00:01:{i:02x}", iaid=i,
                                 valid_lft=3600, cltt=1000, subnet_id=1))  # type: ignore[arg-type]
    tracker, numbering = ConflictTracker(), Numbering()
    assert [numbering.observe(x, line=1) for x in leases] == \
        [tracker.observe(x, line=1) for x in leases]
    host = Reservation(family=4, identifier_type="hw-address", identifier="aa:00:00:00:00:01",
                       subnet_id=1, ipv4_address="192.0.2.1")  # type: ignore[arg-type]
    assert numbering.check_reservation(host) is None
    bad = numbering.check_reservation(host)
    assert bad is not None and bad.reason == "duplicate-reservation"
    with pytest.raises(TypeError, match="keeps no leases"):
        numbering.resolve()
