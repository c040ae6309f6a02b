"""The conflict pre-pass in columns (kea_etl.migration._scan4: policy4_batch + ConflictTracker.observe4)
vs the same pass one record at a time (the Normalizer, then ConflictTracker.observe), the reference.

A target that cannot take a record back (kea:, kea-sql:) loads while excluding the losers the
pre-pass found, by ordinal: the pre-pass must observe exactly the leases the load pass hands to
the loader, in the same order, with the same fields, or the wrong lease is excluded. Generated
sources hold every case the policy tells apart (tests/reconcile/test_policy_differential.py's
items: binding states, Kea states, expiry, nested and missing subnets, leases without a hardware
address, reservations, statements, malformed records) with many addresses and clients repeated,
two source names (a failover pair), declined leases, and a tracker small enough to spill.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from ipaddress import IPv6Address
from typing import Any

import pytest

from kea_etl import migration
from kea_etl.extract.base import Extracted, ExtractItem
from kea_etl.records import Lease4, Lease6
from kea_etl.report import RunReport
from kea_etl.transform.conflicts import Conflict, ConflictTracker
from kea_etl.transform.normalize import Normalizer, WrongFamilyError
from kea_etl.transform.subnets import SubnetMap
from tests.reconcile.test_policy_differential import AS_OF, CONFIG, _items


class _Items:
    """A source whose ``open()`` gives the same items every time (as a Snapshot does)."""

    def __init__(self, items: list[ExtractItem]) -> None:
        self.items = items

    def open(self) -> Iterator[ExtractItem]:
        return iter(self.items)


def _generated(seed: int, n: int, *, mixed: bool) -> list[ExtractItem]:
    rng = random.Random(seed)
    out = []
    for item in _items(seed, n, mixed=mixed):
        if isinstance(item, Extracted) and type(item.record) is Lease4:
            rec: Any = item.record
            if rng.random() < 0.1:  # declined: no client, still an address
                rec = Lease4(address=rec.address, hwaddr=rec.hwaddr, valid_lft=rec.valid_lft,
                             cltt=rec.cltt, client_id=rec.client_id, subnet_id=rec.subnet_id,
                             state=1, hostname=rec.hostname)
            item = Extracted(rec, binding_state=item.binding_state, line=item.line,
                             source=rng.choice(("a/dhcpd.leases", "b/dhcpd.leases")))
        out.append(item)
    return out


def _pass(items: list[ExtractItem], phase: str, *, budget: int, **options: Any
          ) -> tuple[list[Conflict], int, int]:
    """Conflicts, v4 and v6 leases observed, by the pre-pass ("scan": in columns where it can)
    or the per-record reference (the load pass's loop, with a tracker)."""
    normalizer = Normalizer(SubnetMap.from_config(CONFIG), as_of=AS_OF, **options)
    tracker = ConflictTracker(memory_budget=budget)
    for _ in migration._stream([_Items(items)], normalizer, tracker,  # type: ignore[list-item]
                               RunReport(), {}, None, 1000, phase):
        pass
    n4, n6 = len(tracker._c4), len(tracker._c6)
    return tracker.resolve(), n4, n6


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("options", [{"abandoned": "skip"}, {"abandoned": "declined"},
                                     {"abandoned": "declined", "family": 4}])
@pytest.mark.parametrize("budget", [32 << 20, 4096])
def test_prepass_in_columns_finds_the_same_conflicts(seed: int, options: dict[str, Any],
                                                     budget: int) -> None:
    items = _generated(seed, 3000, mixed=seed % 2 == 1)
    fast = _pass(items, "scan", budget=budget, **options)
    slow = _pass(items, "load", budget=budget, **options)
    assert fast == slow
    conflicts, n4, _ = fast
    assert n4 > 300  # leases were observed, and the generated data has every kind of conflict
    assert {c.reason for c in conflicts} >= {"duplicate-address", "conflict"}


def test_the_columns_path_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path runs (else the comparison above compares the reference with itself)."""
    seen: list[int] = []
    real = ConflictTracker.observe4

    def spy(self: ConflictTracker, leases: Any, *args: Any) -> None:
        seen.append(len(leases))
        real(self, leases, *args)

    monkeypatch.setattr(ConflictTracker, "observe4", spy)
    _pass(_generated(3, 3000, mixed=False), "scan", budget=32 << 20, abandoned="skip")
    assert sum(seen) > 300 and len(seen) >= 5


def test_values_outside_the_columns_range_are_observed_one_by_one() -> None:
    """A line number past 32 bits (a huge file) makes observe raise as it always did, not wrap."""
    items: list[ExtractItem] = [e if not isinstance(e, Extracted) else
                                Extracted(e.record, binding_state="active", line=1 << 33,
                                          source=e.source)
                                for e in _generated(1, 50, mixed=False)]
    for phase in ("scan", "load"):
        with pytest.raises(OverflowError):
            _pass(items, phase, budget=32 << 20, abandoned="skip")


def test_a_v6_lease_into_a_v4_target_still_stops_the_prepass() -> None:
    items = _generated(2, 1500, mixed=False)
    items.append(Extracted(Lease6(address=IPv6Address("2001:db8::1"), duid="00:01", iaid=1,
                                  valid_lft=3600, cltt=AS_OF), binding_state="active",
                           source="dhcpd6.leases", line=1))
    with pytest.raises(WrongFamilyError):
        _pass(items, "scan", budget=32 << 20, abandoned="skip")

