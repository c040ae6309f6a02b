"""The migration policy decided in columns (kea_etl.reconcile.policy) vs the Normalizer one record
at a time, the reference it replaced for batches of DHCPv4 leases.

Generated sources hold every case the policy tells apart: each binding state (and one dhcpd
does not have), Kea states 0-3, expiry before / at / after ``as_of`` and infinite lifetimes,
addresses in nested subnets, in none (unmapped: missing, or skipped with ``allow_unmapped``),
leases without a hardware address (failed, or kept when declined), ``--abandoned`` both ways,
``--family 4``, the same address twice, and, between the leases, reservations, statements that
are no record, malformed records, and batches holding only some of them. Both paths must give
the same rows to compare, in the same order, the same counts, and the same reconciliation.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import pytest

from kea_etl.errors import MalformedRecordError
from kea_etl.extract.base import Extracted, ExtractItem
from kea_etl.reconcile import compare
from kea_etl.reconcile.columns import SortedSpool
from kea_etl.records import INFINITE_LIFETIME, Lease4, Lease6, Reservation
from kea_etl.report import SourceWarning
from kea_etl.transform.normalize import WrongFamilyError

AS_OF = 1_795_000_000
CONFIG = {"Dhcp4": {"subnet4": [{"id": 1, "subnet": "10.0.0.0/16"},
                                {"id": 2, "subnet": "10.0.5.0/24"},  # nested: longest wins
                                {"id": 7, "subnet": "10.0.5.128/25"},
                                {"id": 3, "subnet": "192.0.2.0/24"}]}}
BINDINGS = ("active", "active", "active", "bootp", "free", "backup", "released", "expired",
            "reset", "abandoned", "bogus")


def _lease(rng: random.Random, i: int) -> Lease4:
    net = rng.choice((0x0A000000, 0x0A000500, 0x0A000580, 0xC0000200, 0xC6336400))  # last: none
    valid = rng.choice((3600, 86400, INFINITE_LIFETIME))
    cltt = AS_OF - rng.choice((0, 1, 3599, 3600, 3601, 50_000, 90_000)) + rng.choice((0, 0, 5))
    if valid == INFINITE_LIFETIME:
        cltt = AS_OF - 10**6
    return Lease4(address=IPv4Address(net + rng.randrange(1, 120)),
                  hwaddr=None if rng.random() < 0.05 else f"02:00:00:00:{i >> 8 & 255:02x}:"
                                                          f"{i & 255:02x}",
                  valid_lft=valid, cltt=cltt,
                  client_id=rng.choice((None, f"01:02:03:{i & 255:02x}")),
                  subnet_id=rng.choice((0, 0, 1, 9)), hostname=rng.choice(("", f"h{i}")),
                  state=rng.choice((0, 0, 0, 0, 1, 2, 3)), origin=rng.choice((None, "dhcpd")),
                  line=rng.choice((None, 10 * i + 1)))


def _items(seed: int, n: int, *, mixed: bool) -> list[ExtractItem]:
    rng = random.Random(seed)
    out: list[ExtractItem] = []
    for i in range(n):
        roll = rng.random()
        if mixed and roll < 0.01:
            out.append(SourceWarning("dhcpd.leases", i, "class", "not translated"))
        elif mixed and roll < 0.02:
            out.append(MalformedRecordError("dhcpd.leases", i, "lease 10.0.0.1", "truncated"))
        elif mixed and roll < 0.03:
            out.append(Extracted(Reservation(4, "hw-address", f"02:00:00:00:00:{i & 255:02x}",
                                             ipv4_address=IPv4Address(0x0A000000 + i % 250)),
                                 source="dhcpd.conf", line=i))
        else:
            out.append(Extracted(_lease(rng, i), binding_state=rng.choice(BINDINGS),
                                 source="dhcpd.leases", line=rng.choice((None, i))))
    return out


def _rows(prep: Any) -> list[dict[str, Any]]:
    """What the policy hands to the comparison, as the spool's rows in order."""
    spool = SortedSpool(4)
    out: list[dict[str, Any]] = []
    buf: list[Lease4 | Lease6] = []
    lines: list[int | None] = []

    def flush() -> None:
        if buf:
            cols = compare.record_columns(buf, lines, [r.origin for r in buf])
            out.extend(_table(spool, cols, len(buf)))
            buf.clear()
            lines.clear()

    for item in prep.leases:
        if isinstance(item, compare.SourceColumns):
            flush()
            out.extend(_table(spool, item.columns, item.rows))
        else:
            rec, line = item
            buf.append(rec)
            lines.append(line)
    flush()
    return out


def _table(spool: SortedSpool, cols: dict[str, Any], n: int) -> list[dict[str, Any]]:
    import pyarrow as pa

    arrays = spool.arrays(cols, n)
    return pa.table(arrays).to_pylist()


def _counts(prep: Any) -> dict[str, Any]:
    res = prep.result
    return {"read": res.source_read, "failed": res.source_failed,
            "skipped": dict(res.source_skipped), "unmapped": dict(res.unmapped),
            "warnings": res.source_warnings, "notes": list(res.warnings),
            "leases_seen": prep.leases_seen, "hosts": len(prep.hosts.hosts),
            "hosts_read": prep.hosts.result.source_read}


def _both(items: list[ExtractItem], **options: Any) -> tuple[Any, Any]:
    """The policy in columns, then the reference (every record through the Normalizer)."""
    fast, slow = (compare._prepare(iter(items), CONFIG, as_of=AS_OF, tolerance=2,
                                   source_name="s", columns=columns, **options)
                  for columns in (True, False))
    return fast, slow


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("options", [
    {"abandoned": "skip"}, {"abandoned": "declined"},
    {"abandoned": "skip", "allow_unmapped": True},
    {"abandoned": "declined", "allow_unmapped": True, "only_family": 4}])
def test_columns_policy_agrees_with_the_normalizer(seed: int, options: dict[str, Any]) -> None:
    items = _items(seed, 3000, mixed=seed % 2 == 1)
    fast, slow = _both(items, **options)
    assert _rows(fast) == _rows(slow)
    assert _counts(fast) == _counts(slow)


def test_the_columns_path_is_taken() -> None:
    """A plain DHCPv4 source goes through the columns, not record by record."""
    fast, _ = _both(_items(1, 2000, mixed=False), abandoned="skip")
    kinds = {type(x) for x in fast.leases}
    assert compare.SourceColumns in kinds


@pytest.mark.parametrize("seed", range(3))
def test_reconciliation_agrees(seed: int) -> None:
    """Whole reconciliations (Kea's side some of the same leases, some changed, some extra)."""
    items = _items(seed, 2500, mixed=True)
    rng = random.Random(seed)
    kea: list[Lease4] = []
    for it in items:
        rec = getattr(it, "record", None)
        if isinstance(rec, Lease4) and rng.random() < 0.8:
            kea.append(Lease4(address=rec.address, hwaddr=rec.hwaddr or "02:ff:ff:ff:ff:ff",
                              valid_lft=rec.valid_lft, cltt=rec.cltt + rng.choice((0, 0, 9)),
                              client_id=rec.client_id, subnet_id=rng.choice((1, 2, 7, 3)),
                              state=rng.choice((0, 0, 1, 2))))
    kea.append(Lease4(address=IPv4Address("10.0.200.1"), hwaddr="02:00:00:00:00:01",
                      valid_lft=INFINITE_LIFETIME, cltt=0, subnet_id=1))
    got = []
    for prep in _both(items, abandoned="skip"):
        res = compare.reconcile(prep.leases, list(kea), family=4, as_of=AS_OF, tolerance=2,
                                result=prep.result, subnet_prefixes=prep.prefixes)
        with res:
            summary = res.summary()
            summary.pop("generated_at")
            got.append((summary, list(res.iter_differences())))
    assert got[0] == got[1]
    assert got[0][0]["mismatched"] and got[0][0]["missing"] and got[0][0]["extra"]


def _then_v6(items: list[ExtractItem]) -> Iterator[ExtractItem]:
    yield from items
    yield Extracted(Lease6(address=IPv6Address("2001:db8::1"), duid="00:01:02", iaid=1,
                           valid_lft=3600, cltt=AS_OF), source="dhcpd6.leases", line=99)
    yield from items


def test_a_lease_of_the_other_family_still_stops_the_run() -> None:
    items = _items(4, 700, mixed=False)
    for columns in (True, False):
        prep = compare._prepare(_then_v6(items), CONFIG, as_of=AS_OF, tolerance=2,
                                abandoned="skip", source_name="s", columns=columns)
        with pytest.raises(WrongFamilyError, match="DHCPv6 lease"):
            for _ in prep.leases:
                pass
