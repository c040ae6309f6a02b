"""Fuzzing what comes back from a Kea server: the reply envelope (``unwrap_reply`` /
``decode_reply``), the JSON bytes (``_decode_json``) and the lease / host maps
(``Lease4.from_kea``, ``Lease6.from_kea``, ``Reservation.from_kea``). A hostile or broken server
may send anything; kea-etl must answer with its own errors (KeaEtlError), never crash.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kea_etl.errors import KeaEtlError
from kea_etl.kea.client import decode_reply
from kea_etl.kea.transports import _decode_json, unwrap_reply
from kea_etl.records import Lease4, Lease6, Reservation
from tests.fuzz._harness import EXAMPLES, deadline

FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
           | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=40) | st.sampled_from(["192.0.2.1", "2001:db8::1", "::", "0.0.0.0",
                                                    "aa:bb", "zz", "", "IA_PD", "IA_NA", "-1"]))
json_values = st.recursive(scalars, lambda c: st.lists(c, max_size=4)
                           | st.dictionaries(st.text(max_size=12), c, max_size=5), max_leaves=8)

LEASE4_KEYS = ["ip-address", "hw-address", "client-id", "valid-lft", "cltt", "expire",
               "subnet-id", "hostname", "fqdn-fwd", "fqdn-rev", "state", "user-context"]
LEASE6_KEYS = ["ip-address", "duid", "iaid", "type", "prefix-len", "valid-lft", "preferred-lft",
               "cltt", "subnet-id", "hostname", "hw-address", "state", "user-context",
               "fqdn-fwd", "fqdn-rev"]
HOST_KEYS = ["hw-address", "client-id", "duid", "circuit-id", "flex-id", "ip-address",
             "ip-addresses", "prefixes", "hostname", "subnet-id", "subnet-id4", "subnet-id6",
             "option-data", "client-classes", "next-server", "boot-file-name", "user-context"]


def _maps(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), json_values, max_size=14)


def _own_errors_only(fn: Any, *args: Any, **kw: Any) -> None:
    try:
        with deadline():
            fn(*args, **kw)
    except KeaEtlError as exc:
        assert str(exc)


@FUZZ
@given(json_values, st.sampled_from(["lease4-get", "config-get", "lease6-bulk-apply"]))
def test_fuzz_reply_envelope(reply: Any, command: str) -> None:
    def both() -> None:
        m = unwrap_reply(reply, "http://127.0.0.1:8000", command)
        decode_reply(command, m, "http://127.0.0.1:8000")

    _own_errors_only(both)


@FUZZ
@given(st.dictionaries(st.sampled_from(["result", "text", "arguments"]), json_values))
def test_fuzz_decode_reply_map(reply: dict[str, Any]) -> None:
    _own_errors_only(decode_reply, "lease4-add", reply, "unix:///x")


@FUZZ
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_fuzz_reply_bytes(data: bytes) -> None:
    _own_errors_only(_decode_json, data, "unix:///x", "lease4-get")


@FUZZ
@given(_maps(LEASE4_KEYS))
def test_fuzz_lease4_from_kea(data: dict[str, Any]) -> None:
    _own_errors_only(Lease4.from_kea, data)


@FUZZ
@given(_maps(LEASE6_KEYS))
def test_fuzz_lease6_from_kea(data: dict[str, Any]) -> None:
    _own_errors_only(Lease6.from_kea, data)


@FUZZ
@given(_maps(HOST_KEYS), st.sampled_from([4, 6]))
def test_fuzz_reservation_from_kea(data: dict[str, Any], family: int) -> None:
    _own_errors_only(Reservation.from_kea, data, family=family)  # type: ignore[arg-type]
