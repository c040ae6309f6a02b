"""Unit checks of the live loader's fast paths (no server)."""

from __future__ import annotations

from ipaddress import IPv6Address
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kea_etl.errors import RecordError
from kea_etl.load.api import LiveLeaseLoader, ServerSubnet, _held_lease, _held_row, _prepare, wire_args
from kea_etl.load.checkpoint import record_key
from kea_etl.load.compare import identical, same_client
from kea_etl.records import Lease4, Lease6


@given(addr=st.integers(0, 2**128 - 1), pd=st.booleans(), plen=st.integers(1, 128),
       hw=st.booleans(), ctx=st.booleans(), subnet=st.integers(0, 5))
@example(addr=int(IPv6Address("::ffff:1.2.3.4")), pd=False, plen=128, hw=False, ctx=False,
         subnet=0)
@example(addr=int(IPv6Address("2001:db8::1")), pd=False, plen=128, hw=True, ctx=True, subnet=1)
def test_v6_args_spell_the_address_canonically(addr: int, pd: bool, plen: int, hw: bool, ctx: bool,
                                        subnet: int) -> None:
    if pd:
        addr &= ~((1 << (128 - plen)) - 1) & (2**128 - 1)
    lease = Lease6(address=IPv6Address(addr), duid="00:01:02", iaid=7, valid_lft=100, cltt=5,
                   lease_type="IA_PD" if pd else "IA_NA", prefix_len=plen if pd else 128,
                   hwaddr="aa:bb:cc:dd:ee:ff" if hw else None, subnet_id=subnet,
                   user_context={"a": 1} if ctx else None, hostname="h")
    # to_kea_args formats with inet_ntop for speed; it must spell addresses as ipaddress does
    assert lease.to_kea_args()["ip-address"] == str(lease.address)
    key, args = _prepare(lease)
    assert key == record_key(lease) and args == wire_args(lease)


# What Kea's lease parser (lease_cmds lease_parser.cc) assumes for a field that is absent.
KEA_DEFAULTS = {"fqdn-fwd": False, "fqdn-rev": False, "hostname": "", "state": 0}


def _colons(hexstr: str) -> str:
    return ":".join(hexstr[i:i + 2] for i in range(0, len(hexstr), 2))


hexids = st.binary(min_size=3, max_size=20).map(lambda b: b.hex(":"))


@given(duid=hexids, iaid=st.integers(0, 2**32 - 1), pd=st.booleans(), host=st.sampled_from(["", "h1"]),
       fwd=st.booleans(), state=st.sampled_from([0, 1, 2]), hw=st.none() | hexids,
       ctx=st.sampled_from([None, {"a": 1}]), subnet=st.integers(0, 3))
def test_wire_args_v6_mean_what_to_kea_args_means(duid: str, iaid: int, pd: bool, host: str,
                                                  fwd: bool, state: int, hw: str | None,
                                                  ctx: Any, subnet: int) -> None:
    lease = Lease6(address="2001:db8:8000:100::" if pd else "2001:db8::1", duid=duid, iaid=iaid,
                   lease_type="IA_PD" if pd else "IA_NA", prefix_len=56 if pd else 128,
                   valid_lft=100, preferred_lft=0, cltt=5, hostname=host, fqdn_fwd=fwd,
                   fqdn_rev=fwd, state=state, hwaddr=hw, user_context=ctx, subnet_id=subnet)
    wire = wire_args(lease)
    assert ":" not in wire["duid"] and (hw is None or wire["hw-address"] == hw)
    # filled in as Kea fills in an absent field, the compact form is the full one
    full = {**KEA_DEFAULTS, "type": "IA_NA", **wire, "duid": _colons(wire["duid"])}
    assert full == lease.to_kea_args()
    assert "preferred-lft" in wire  # Kea's default for it is the valid lifetime, not 0
    assert all(wire.get(k, v) != v for k, v in KEA_DEFAULTS.items() if k in wire)


@given(host=st.sampled_from(["", "h1"]), fwd=st.booleans(), state=st.sampled_from([0, 1]),
       cid=st.none() | hexids)
def test_wire_args_v4_leave_out_only_kea_defaults(host: str, fwd: bool, state: int,
                                                  cid: str | None) -> None:
    lease = Lease4(address="192.0.2.10", hwaddr="0a:00:00:00:00:01", client_id=cid, valid_lft=60,
                   cltt=5, hostname=host, fqdn_fwd=fwd, fqdn_rev=fwd, state=state, subnet_id=1)
    wire = wire_args(lease)
    assert wire["hw-address"] == "0a:00:00:00:00:01"  # v4 ids stay as they are
    assert {**KEA_DEFAULTS, **wire} == lease.to_kea_args()
    assert all(k not in wire for k, v in KEA_DEFAULTS.items() if lease.to_kea_args()[k] == v)


def _kea_json(lease: Lease6) -> dict[str, Any]:
    """A lease as Kea's lease6-get-page prints it."""
    out: dict[str, Any] = {"ip-address": str(lease.address), "duid": lease.duid,
                           "iaid": lease.iaid, "type": lease.lease_type,
                           "valid-lft": lease.valid_lft, "preferred-lft": lease.preferred_lft,
                           "cltt": lease.cltt, "subnet-id": lease.subnet_id,
                           "state": lease.state, "hostname": "", "fqdn-fwd": False,
                           "fqdn-rev": False}
    if lease.lease_type == "IA_PD":
        out["prefix-len"] = lease.prefix_len
    return out


SNAPSHOT_FIELDS = ("address", "duid", "iaid", "lease_type", "prefix_len", "valid_lft", "cltt",
                   "subnet_id", "state")


@given(addr=st.integers(0, 2**128 - 1), pd=st.booleans(), plen=st.integers(1, 128),
       duid=hexids, iaid=st.integers(0, 2**32 - 1), valid=st.integers(0, 2**32 - 1),
       cltt=st.integers(0, 2**32 - 1), subnet=st.integers(0, 9), state=st.sampled_from([0, 1, 2]))
@example(addr=int(IPv6Address("::ffff:1.2.3.4")), pd=False, plen=128, duid="00:01:02", iaid=1,
         valid=1, cltt=1, subnet=1, state=0)
def test_snapshot_rows_agree_with_from_kea(addr: int, pd: bool, plen: int, duid: str, iaid: int,
                                           valid: int, cltt: int, subnet: int,
                                           state: int) -> None:
    if pd:
        addr &= ~((1 << (128 - plen)) - 1) & (2**128 - 1)
    lease = Lease6(address=IPv6Address(addr), duid=duid, iaid=iaid, valid_lft=valid, cltt=cltt,
                   lease_type="IA_PD" if pd else "IA_NA", prefix_len=plen if pd else 128,
                   subnet_id=subnet, state=state)
    raw = _kea_json(lease)
    ref = Lease6.from_kea(raw)
    row = _held_row(raw)
    held = _held_lease(*row)
    # the snapshot's key is the key the loader looks it up by (_prepare), i.e. record_key
    assert row[0] == ref.key == _prepare(lease)[0][2:]
    assert all(getattr(held, f) == getattr(ref, f) for f in SNAPSHOT_FIELDS)
    assert same_client(held, ref) and identical(held, ref)


@pytest.mark.parametrize("raw", [
    {"ip-address": "2001:db8::1", "iaid": 1, "valid-lft": 1, "cltt": 1},           # no duid
    {"ip-address": "2001:db8::1", "duid": "zz", "iaid": 1, "valid-lft": 1, "cltt": 1},
    {"ip-address": "not an address", "duid": "00:01:02", "iaid": 1, "valid-lft": 1,
     "cltt": 1},
    {"ip-address": "2001:db8::1", "duid": "00:01:02", "iaid": -1, "valid-lft": 1, "cltt": 1},
    ["not", "a", "lease", "map"],
])
def test_snapshot_row_of_odd_kea_json_fails_as_from_kea_does(raw: Any) -> None:
    with pytest.raises(RecordError) as fast:
        _held_row(raw)
    with pytest.raises(RecordError) as slow:
        Lease6.from_kea(raw)
    assert str(fast.value) == str(slow.value)


def test_subnet_check_uses_the_server_subnets() -> None:
    from ipaddress import IPv6Network

    subnets = [ServerSubnet(i, IPv6Network(f"2001:db8:{i:x}::/64")) for i in range(1, 3000)]
    loader = LiveLeaseLoader(None, subnets=subnets)  # type: ignore[arg-type]

    def problem(address: str, subnet: int) -> str | None:
        return loader._subnet_problem(Lease6(address=address, duid="00:01:02", iaid=1,
                                             valid_lft=1, cltt=1, subnet_id=subnet))

    assert problem("2001:db8:7::1", 7) is None
    assert problem("2001:db8:7::1", 8) == "2001:db8:7::1 is outside subnet 8 (2001:db8:8::/64)"
    assert problem("2001:db8:7::1", 5000) == "subnet 5000 does not exist on the Kea server"
    assert problem("2001:db8:7::1", 0) == ("no subnet id (assign subnets from the target Kea "
                                           "configuration)")
