"""The migration policy: which extracted records Kea gets, with which subnet id, and why not.

:class:`Normalizer` turns one :class:`~kea_etl.extract.base.Extracted` item into either a record
ready for a loader (``Lease4`` / ``Lease6`` / ``Reservation`` with the target's subnet id) or a
:class:`Rejected` verdict carrying the reason for the report. Nothing is dropped silently.

Policy (ISC dhcpd binding states, see dhcpd.leases(5)):

======================  ==========================================================================
``active``, ``bootp``   loaded (``bootp`` is a dynamic BOOTP lease: a live binding)
``free``                skipped ``free``: the address is in the pool, nobody holds it
``backup``              skipped ``backup``: failover's share of the pool, no client data
``released``            skipped ``released``: the client gave it back
``expired``             skipped ``expired-state``: dhcpd already expired it
``reset``               skipped ``reset``: failover reset it to free
``abandoned``           skipped ``abandoned``, or with ``abandoned="declined"`` loaded in Kea's
                        declined state (1) so the address stays quarantined
======================  ==========================================================================

Then: an IA_TA lease is skipped ``ia-ta`` (Kea has no temporary addresses); a lease whose expiry
(``cltt + valid_lft``) is before ``as_of`` is skipped ``expired`` (an infinite lifetime never
expires); a lease no subnet of the target contains is rejected ``no-subnet`` with the lease (subnet
id 0) in :attr:`Rejected.unmapped`: the target cannot hold an active client's address, so the
migration fails it (or skips it when the operator allowed that) and reconciliation counts it
missing. A reservation no subnet contains is skipped ``no-subnet``. A Kea state already
on the record (from a Kea source) is honoured: expired-reclaimed (2) and released (3) are skipped.
A v4 lease without a hardware address that is not declined *fails* with ``no-hwaddr``: Kea's
memfile drops such a row and lease4-add refuses it.

A record of a family the target has no configuration for (a DHCPv6 lease when only a Dhcp4
section was given) is not a record-level problem but a usage error: :class:`WrongFamilyError`
is raised at the first one, before the rest is read.

Lifetimes are never changed: ``valid_lft`` and ``cltt`` go to Kea as the source had them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from kea_etl._fastrec import builder
from kea_etl.errors import ConfigError
from kea_etl.extract.base import Extracted
from kea_etl.records import (
    INFINITE_LIFETIME,
    STATE_DECLINED,
    STATE_DEFAULT,
    STATE_EXPIRED_RECLAIMED,
    STATE_RELEASED,
    Lease4,
    Lease6,
    Reservation,
)
from kea_etl.transform.subnets import SubnetMap

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["POLICY4_BATCH", "SKIP_REASONS", "AbandonedPolicy", "Normalizer", "Policy4Batch",
           "Rejected", "WrongFamilyError", "lease4_records", "policy4_batch", "policy4_columns"]

AbandonedPolicy = Literal["skip", "declined"]

#: every reason this module gives for a record not being loaded
SKIP_REASONS = ("free", "backup", "released", "expired-state", "reset", "abandoned", "ia-ta",
                "expired", "expired-reclaimed", "no-subnet", "unknown-state", "other-family")

_SKIP_BINDING = {"free": "free", "backup": "backup", "released": "released",
                 "expired": "expired-state", "reset": "reset"}
_LOAD_BINDING = frozenset({"active", "bootp"})


@dataclass(frozen=True, slots=True)
class Rejected:
    """Why a record is not loaded: skipped by policy, or ``failed`` (bad data)."""

    reason: str
    detail: str | None = None
    failed: bool = False
    #: ``no-subnet`` leases: the lease as it would have been loaded, with subnet id 0
    unmapped: Lease4 | Lease6 | None = None


class WrongFamilyError(ConfigError):
    """A source record of a family the target has no configuration for (a usage error)."""


def _wrong_family(item: Extracted, family: int, subnets: SubnetMap) -> WrongFamilyError:
    what = "host reservation" if isinstance(item.record, Reservation) else "lease"
    where = item.source or "source"
    if item.line is not None:
        where += f" line {item.line}"
    other = 10 - family
    has = (f"only a DHCPv{other} one ({subnets.sources[other]})" if other in subnets.sources
           else "none")
    return WrongFamilyError(
        f"{where}: a DHCPv{family} {what} ({item.key}), but the target has no DHCPv{family} "
        f"configuration ({has}); give this source a DHCPv{family} target (a --kea-config with "
        f"a Dhcp{family} section), leave it out, or move only the DHCPv{other} records with "
        f"--family {other}")


R = TypeVar("R", Lease4, Lease6)


def _make_evolver(cls: type[R]) -> Callable[[R, int, int], R]:
    """A fast copy of a frozen record with another ``subnet_id`` and ``state``.

    ``dataclasses.replace`` re-runs the record's validation, which costs several microseconds per
    lease for values that are already canonical; at a million leases that is most of the
    budget. The fields are copied one by one instead (``__slots__`` order), unrolled once.
    """
    values = ", ".join(name if name in ("subnet_id", "state") else f"r.{name}"
                       for name in cls.__slots__)
    namespace: dict[str, Any] = {"_build": builder(cls)}  # see kea_etl._fastrec
    exec(f"def evolve(r, subnet_id, state):\n    return _build({values})\n", namespace)
    evolve: Callable[[R, int, int], R] = namespace["evolve"]
    return evolve


_evolve4 = _make_evolver(Lease4)
_evolve6 = _make_evolver(Lease6)


class Normalizer:
    """Apply the policy to extracted items: ``normalizer(item) -> record | Rejected``."""

    def __init__(self, subnets: SubnetMap, *, as_of: int,
                 abandoned: AbandonedPolicy = "skip", family: int | None = None) -> None:
        if abandoned not in ("skip", "declined"):
            raise ValueError(f"abandoned must be 'skip' or 'declined', not {abandoned!r}")
        if family not in (None, 4, 6):
            raise ValueError(f"family must be 4, 6 or None, not {family!r}")
        self.subnets = subnets
        self.as_of = as_of
        self.abandoned = abandoned
        #: only records of this family are moved; the others are skipped "other-family" (a
        #: source holding both, such as a Windows export, into one daemon)
        self.family = family
        self._has4 = subnets.has_family(4)
        self._has6 = subnets.has_family(6)

    @property
    def moves4(self) -> bool:
        """Whether DHCPv4 leases are moved (a Dhcp4 target, not ``--family 6``): only then may
        a batch of them be decided by :func:`policy4_batch`."""
        return self.family in (None, 4) and self._has4

    def __call__(self, item: Extracted) -> Lease4 | Lease6 | Reservation | Rejected:
        rec = item.record
        if self.family is not None:
            fam = rec.family if isinstance(rec, Reservation) else (4 if type(rec) is Lease4 else 6)
            if fam != self.family:
                return Rejected("other-family", f"a DHCPv{fam} record; --family {self.family} "
                                f"moves only DHCPv{self.family}")
        if isinstance(rec, Reservation):
            if not (self._has4 if rec.family == 4 else self._has6):
                raise _wrong_family(item, rec.family, self.subnets)
            return self._reservation(rec)
        if not (self._has4 if type(rec) is Lease4 else self._has6):
            raise _wrong_family(item, 4 if type(rec) is Lease4 else 6, self.subnets)
        state = rec.state
        binding = item.binding_state
        if binding not in _LOAD_BINDING:
            if binding == "abandoned":
                if self.abandoned != "declined":
                    return Rejected("abandoned", "dhcpd abandoned it; --abandoned declined loads "
                                    "it as declined")
                state = STATE_DECLINED
            elif binding in _SKIP_BINDING:
                return Rejected(_SKIP_BINDING[binding], f"binding state {binding}")
            else:
                return Rejected("unknown-state", f"binding state {binding!r}")
        if state == STATE_EXPIRED_RECLAIMED:
            return Rejected("expired-reclaimed", "Kea state 2 (expired-reclaimed)")
        if state == STATE_RELEASED:
            return Rejected("released", "Kea state 3 (released)")
        valid = rec.valid_lft
        if valid != INFINITE_LIFETIME and rec.cltt + valid < self.as_of:
            return Rejected("expired", f"expired at {rec.cltt + valid} (epoch), before --as-of "
                            f"{self.as_of}")
        if isinstance(rec, Lease4):
            sid = self.subnets.subnet4_id(rec.address)
            if sid is None:
                return Rejected("no-subnet", f"no Dhcp4 subnet of the target contains "
                                f"{rec.address}", unmapped=_evolve4(rec, 0, state))
            if not rec.hwaddr and state != STATE_DECLINED:
                return Rejected("no-hwaddr", "a v4 lease needs a hardware address (Kea drops it "
                                "otherwise)", failed=True)
            if sid == rec.subnet_id and state == rec.state:
                return rec
            return _evolve4(rec, sid, state)
        if rec.lease_type == "IA_TA":
            return Rejected("ia-ta", "Kea has no temporary addresses (IA_TA)")
        if rec.lease_type == "IA_PD":
            sid = self.subnets.pd_subnet_id(rec.address, rec.prefix_len)
            if sid is None:
                return Rejected("no-subnet", f"no pd-pool of any Dhcp6 subnet of the target "
                                f"contains {rec.address}/{rec.prefix_len}",
                                unmapped=_evolve6(rec, 0, state))
        else:
            sid = self.subnets.subnet6_id(rec.address)
            if sid is None:
                return Rejected("no-subnet", f"no Dhcp6 subnet of the target contains "
                                f"{rec.address}", unmapped=_evolve6(rec, 0, state))
        if sid == rec.subnet_id and state == rec.state:
            return rec
        return _evolve6(rec, sid, state)

    def _reservation(self, host: Reservation) -> Reservation | Rejected:
        sid: int | None = None
        if host.family == 4:
            if not self._has4:
                return Rejected("no-subnet", "no Dhcp4 section in the Kea configuration")
            if host.ipv4_address is not None:
                sid = self.subnets.subnet4_id(host.ipv4_address)
                if sid is None:
                    return Rejected("no-subnet", f"no Dhcp4 subnet contains reserved address "
                                    f"{host.ipv4_address}")
        else:
            if not self._has6:
                return Rejected("no-subnet", "no Dhcp6 section in the Kea configuration")
            if host.ip_addresses:
                sid = self.subnets.subnet6_id(host.ip_addresses[0])
                if sid is None:
                    return Rejected("no-subnet", f"no Dhcp6 subnet contains reserved address "
                                    f"{host.ip_addresses[0]}")
            elif host.prefixes:
                p = host.prefixes[0]
                sid = self.subnets.pd_subnet_id(p.network_address, p.prefixlen)
                if sid is None:
                    return Rejected("no-subnet", f"no pd-pool of any Dhcp6 subnet contains "
                                    f"reserved prefix {p}")
        if sid is None:
            if host.holds_nothing:
                return Rejected("empty-reservation", f"host {host.identifier_type} "
                                f"{host.identifier} holds nothing a Kea reservation can carry "
                                "(Kea refuses an empty one)", failed=True)
            # No address: a host that only carries options, a boot file or a hostname. Kea takes
            # such a reservation in a subnet or globally (subnet id 0). dhcpd matches a host
            # declaration whatever subnet the client is on, so a source that names no subnet
            # gives a global reservation (Kea consults those where reservations-global is true).
            if not host.subnet_id:
                return host
            if self.subnets.subnet(host.family, host.subnet_id) is not None:
                return host
            return Rejected("no-subnet", f"the target has no Dhcp{host.family} subnet with id "
                            f"{host.subnet_id}")
        if sid == host.subnet_id:
            return host
        return replace(host, subnet_id=sid)  # hosts are few: the validating path is fine


def policy4_columns(binding: Sequence[str], state: npt.NDArray[np.int64],
                    valid: npt.NDArray[np.int64], cltt: npt.NDArray[np.int64],
                    address: npt.NDArray[np.uint64], has_hw: npt.NDArray[np.bool_], *,
                    subnets: SubnetMap, as_of: int, skipped: Counter[str],
                    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_],
                               npt.NDArray[np.int64]]:
    """:meth:`Normalizer.__call__` for a batch of DHCPv4 leases in columns (one element per
    lease: dhcpd binding state, Kea state, valid lifetime, cltt, address, whether it has a
    hardware address), for the cases that need no record: ``(keep, undecided, subnet_id)``.

    ``keep``: loaded as they are, in ``subnet_id``. Skips decided here (binding states that
    are skipped, expired leases) are counted in ``skipped`` by reason. ``undecided``: the rest
    that is neither (abandoned or unknown binding states, states 2 and 3, no subnet, no
    hardware address): the caller hands each to the Normalizer, which decides and words it.
    tests/reconcile/test_policy_differential.py pins this to the per-record policy.
    """
    import numpy as np

    n = len(binding)
    undecided = np.zeros(n, dtype=bool)
    kinds = Counter(binding)
    if kinds.keys() <= _LOAD_BINDING:
        loaded = np.ones(n, dtype=bool)
    else:
        loaded = np.fromiter(map(_LOAD_BINDING.__contains__, binding), dtype=bool, count=n)
        for name, count in kinds.items():
            if name in _SKIP_BINDING:
                skipped[_SKIP_BINDING[name]] += count
        if not kinds.keys() <= _LOAD_BINDING | _SKIP_BINDING.keys():
            # abandoned, or a state the Normalizer names
            undecided |= ~(loaded | np.fromiter(map(_SKIP_BINDING.__contains__, binding),
                                                dtype=bool, count=n))
    usual = loaded & ((state == STATE_DEFAULT) | (state == STATE_DECLINED))
    undecided |= loaded & ~usual  # expired-reclaimed, released: the Normalizer says which
    expired = usual & (valid != INFINITE_LIFETIME) & (cltt + valid < as_of)
    if expired.any():
        skipped["expired"] += int(expired.sum())
    usual &= ~expired
    sid, held = subnets.subnet4_ids(address)
    keep = usual & held & has_hw
    undecided |= usual & ~keep  # no subnet (missing in Kea), or no hardware address
    return keep, undecided, sid


@dataclass
class Policy4Batch:
    """:func:`policy4_batch`'s verdict on a batch of DHCPv4 lease items, in columns."""

    #: positions (in the batch) of the leases loaded, in order
    rows: npt.NDArray[np.intp]
    #: per item of the batch (the loaded ones' values hold at ``rows``)
    address: npt.NDArray[np.uint64]
    subnet_id: npt.NDArray[np.int64]
    state: npt.NDArray[np.int64]
    valid_lft: npt.NDArray[np.int64]
    cltt: npt.NDArray[np.int64]


#: source items decided by :func:`policy4_batch` at a time: small, so that the items held
#: meanwhile are not promoted through the garbage collector's generations (that cost more than
#: the policy)
POLICY4_BATCH = 512

_RECORD = attrgetter("record")
_BINDING = attrgetter("binding_state")
_STATE = attrgetter("state")
_VALID = attrgetter("valid_lft")
_CLTT = attrgetter("cltt")
_ADDRESS = attrgetter("address")
_HWADDR = attrgetter("hwaddr")


def lease4_records(batch: Sequence[Any]) -> list[Lease4 | Lease6] | None:
    """The records of ``batch`` when it holds only :class:`Extracted` DHCPv4 leases (what
    :func:`policy4_batch` takes), else None (decide it item by item)."""
    if set(map(type, batch)) != {Extracted}:
        return None
    recs = list(map(_RECORD, batch))
    return recs if set(map(type, recs)) == {Lease4} else None


def policy4_batch(items: Sequence[Extracted], recs: list[Lease4 | Lease6], *, subnets: SubnetMap,
                  as_of: int, judge: Callable[[Extracted], Lease4 | Lease6 | None],
                  skipped: Counter[str]) -> Policy4Batch:
    """The policy over ``items`` (each an :class:`Extracted` holding a :class:`Lease4`, for a
    Normalizer that moves DHCPv4 and has a Dhcp4 section; ``recs`` their records): which are
    loaded, with which subnet id and state, without a Normalizer call for the plain cases
    (:func:`policy4_columns`).

    ``judge(item)`` is called, in order, for every item not decided here; it returns the record
    to load (the Normalizer's, which replaces ``recs[i]``) or None (it dealt with the item
    itself). Skips decided here are added to ``skipped`` by reason. A loaded plain lease keeps
    its record: only its subnet id (``subnet_id``) differs from the Normalizer's copy.
    Pinned to the Normalizer record by record by tests/reconcile/test_policy_differential.py
    and tests/transform/test_conflict_prepass.py."""
    import numpy as np

    n = len(items)
    state = np.fromiter(map(_STATE, recs), dtype=np.int64, count=n)
    valid = np.fromiter(map(_VALID, recs), dtype=np.int64, count=n)
    cltt = np.fromiter(map(_CLTT, recs), dtype=np.int64, count=n)
    address = np.fromiter(map(int, map(_ADDRESS, recs)), dtype=np.uint64, count=n)
    has_hw = np.fromiter(map(bool, map(_HWADDR, recs)), dtype=bool, count=n)
    keep, undecided, sid = policy4_columns(list(map(_BINDING, items)), state, valid, cltt,
                                           address, has_hw, subnets=subnets, as_of=as_of,
                                           skipped=skipped)
    for i in np.flatnonzero(undecided).tolist():
        rec = judge(items[i])
        if rec is not None:
            keep[i] = True
            recs[i] = rec
            sid[i] = rec.subnet_id
            state[i] = rec.state
    return Policy4Batch(np.flatnonzero(keep), address, sid, state, valid, cltt)
