"""The memfile reader's fast ``Lease4`` path equals the validating constructor, field by field.

``kea_memfile._fast_lease4`` builds a record without ``Lease4.__post_init__`` when every value is
already canonical and hands anything else back (None). Whenever it builds one, the result must be
exactly what ``Lease4(...)`` makes of the same values; whenever the constructor would refuse the
values, the fast path must hand over (so the error message stays the constructor's).
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kea_etl.errors import InvalidValueError
from kea_etl.extract.kea_memfile import _fast_lease4
from kea_etl.records import Lease4

_hex = st.one_of(
    st.just(""), st.just(" "), st.just("0x0102"), st.just("AA:BB"), st.just("1:2:3"),
    st.binary(min_size=1, max_size=260).map(lambda b: b.hex(":")),
    st.binary(min_size=1, max_size=4).map(lambda b: b.hex("-")),
    st.text(alphabet="0123456789abcdef: ", max_size=12))
_addr = st.one_of(
    st.integers(0, 2**32 - 1).map(lambda n: ".".join(str(n >> s & 255) for s in (24, 16, 8, 0))),
    st.sampled_from(["01.2.3.4", "1.2.3", "1.2.3.256", "::1", "1.2.3.4 ", "", "a.b.c.d",
                     "1.2.3.4\x00", "\u0661.2.3.4"]))


@settings(max_examples=600, deadline=None)
@given(addr=_addr, hw=_hex, cid=_hex, valid=st.integers(0, 2**32 - 1),
       cltt=st.integers(0, 2**33), sid=st.integers(0, 2**32 - 1), state=st.integers(0, 6),
       host=st.sampled_from(["", "h", "a,b"]), fwd=st.booleans(), rev=st.booleans(),
       ctx=st.sampled_from([None, {"a": 1}]))
def test_fast_lease4_equals_constructor(addr: str, hw: str, cid: str, valid: int, cltt: int,
                                        sid: int, state: int, host: str, fwd: bool, rev: bool,
                                        ctx: Any) -> None:
    common = {"valid_lft": valid, "cltt": cltt, "subnet_id": sid, "fqdn_fwd": fwd,
              "fqdn_rev": rev, "hostname": host, "state": state, "user_context": ctx}
    fast = _fast_lease4({"address": addr, "hwaddr": hw, "client_id": cid}, common, "f.csv", 7)
    try:
        slow = Lease4(address=addr, hwaddr=hw or None, client_id=cid or None, origin="f.csv",
                      line=7, **common)
    except InvalidValueError:
        assert fast is None
        return
    if fast is not None:
        assert type(fast) is Lease4
        for name in Lease4.__slots__:
            assert getattr(fast, name) == getattr(slow, name), name
            assert type(getattr(fast, name)) is type(getattr(slow, name)), name
