"""What the reservation loader counts as "the same host" (no server; the real-Kea spellings are
pinned by tests/load/test_reservations_real.py)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, IPv6Network
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kea_etl.load.reservations import differences
from kea_etl.records import Reservation

V4 = Reservation(family=4, identifier_type="hw-address", identifier="02:aa:00:00:00:01",
                 subnet_id=1, ipv4_address=IPv4Address("192.0.2.201"), hostname="printer",
                 client_classes=("printers",), next_server=IPv4Address("192.0.2.9"),
                 boot_file_name="pxelinux.0", user_context={"site": "b2"},
                 option_data=({"name": "routers", "data": "192.0.2.1"},
                              {"name": "domain-name-servers", "data": "192.0.2.53,192.0.2.54"}))

#: V4 as Kea 3.0's reservation-get answers it: every default filled in, options in its order
#: and with its flags, server-hostname (which kea-etl does not model)
V4_FROM_KEA: dict[str, Any] = {
    "boot-file-name": "pxelinux.0", "client-classes": ["printers"], "hostname": "printer",
    "hw-address": "02:aa:00:00:00:01", "ip-address": "192.0.2.201", "next-server": "192.0.2.9",
    "option-data": [
        {"always-send": False, "code": 6, "csv-format": True, "data": "192.0.2.53, 192.0.2.54",
         "name": "domain-name-servers", "never-send": False, "space": "dhcp4"},
        {"always-send": False, "code": 3, "csv-format": True, "data": "192.0.2.1",
         "name": "routers", "never-send": False, "space": "dhcp4"}],
    "server-hostname": "tftp", "subnet-id": 1, "user-context": {"site": "b2"}}


def test_kea_spelling_is_the_same_host() -> None:
    assert differences(V4_FROM_KEA, V4.to_kea_host(), 4) == []
    # the host cache names per-family fields with the family and spells ids its own way
    cached = {**V4_FROM_KEA, "option-data4": V4_FROM_KEA["option-data"], "option-data6": [],
              "client-classes4": ["printers"], "client-classes6": [], "host-id": 0,
              "subnet-id4": 1, "subnet-id6": 0}
    del cached["option-data"], cached["client-classes"]
    assert differences(cached, V4.to_kea_host(), 4) == []


def test_each_field_counts() -> None:
    changes: dict[str, Any] = {
        "ip-address": "192.0.2.202", "hostname": "printer-2", "client-classes": [],
        "option-data": V4_FROM_KEA["option-data"][:1], "next-server": "0.0.0.0",
        "boot-file-name": "", "user-context": {"site": "b3"}}
    for field, value in changes.items():
        assert differences({**V4_FROM_KEA, field: value}, V4.to_kea_host(), 4) == [field]
    # what kea-etl does not model is not a difference
    assert differences({**V4_FROM_KEA, "server-hostname": "other"}, V4.to_kea_host(), 4) == []


def test_v6_spellings() -> None:
    res = Reservation(family=6, identifier_type="duid", identifier="00:03:00:01:02:aa:00:00:00:01",
                      subnet_id=1, ip_addresses=(IPv6Address("2001:db8:1::20"),
                                                 IPv6Address("2001:db8:1::21")),
                      prefixes=(IPv6Network("2001:db8:8000:100::/56"),))
    held = {"duid": "0003000102AA00000001", "ip-addresses": ["2001:DB8:1:0::21", "2001:db8:1::20"],
            "prefixes": ["2001:db8:8000:0100::/56"], "hostname": "", "option-data6": [],
            "client-classes6": [], "next-server": "0.0.0.0", "subnet-id6": 1}
    assert differences(held, res.to_kea_host(), 6) == []
    assert differences({**held, "prefixes": []}, res.to_kea_host(), 6) == ["prefixes"]


names = st.text("abcdefghijklmnopqrstuvwxyz-", min_size=0, max_size=12)


@given(hostname=names, other=names, boot=names, ctx=st.none() | st.just({"a": 1}))
def test_the_same_record_never_differs(hostname: str, other: str, boot: str, ctx: Any) -> None:
    res = Reservation(family=4, identifier_type="client-id", identifier="01:02:03",
                      subnet_id=3, hostname=hostname, boot_file_name=boot, user_context=ctx)
    assert differences(res.to_kea_host(), res.to_kea_host(), 4) == []
    renamed = Reservation(family=4, identifier_type="client-id", identifier="01:02:03",
                          subnet_id=3, hostname=other, boot_file_name=boot, user_context=ctx)
    assert differences(res.to_kea_host(), renamed.to_kea_host(), 4) == (
        [] if hostname == other else ["hostname"])
