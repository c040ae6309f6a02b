"""Unit checks of the live loader's fast paths (no server)."""

from __future__ import annotations

from ipaddress import IPv6Address

from hypothesis import example, given
from hypothesis import strategies as st

from kea_etl.load.api import _prepare
from kea_etl.load.checkpoint import record_key
from kea_etl.records import Lease6


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
    assert key == record_key(lease) and args == lease.to_kea_args()
