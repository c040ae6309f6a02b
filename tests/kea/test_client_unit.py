"""Unit tests of the Kea client with in-process fakes: a handler-backed transport and, for the
HTTP transport, a tiny stdlib HTTP server on loopback. No real Kea here (see test_client_real)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from typing import Any

import pytest

import kea_etl.kea as kea_pkg
from kea_etl.errors import (
    ConfigError,
    InvalidURLError,
    KeaAuthError,
    KeaCommandError,
    KeaConflictError,
    KeaEndpointError,
    KeaTransportError,
    KeaUnsupportedError,
)
from kea_etl.kea import (
    COMMAND_HOOKS,
    EXTRA_COMMANDS,
    SEED_COMMANDS,
    HttpTransport,
    KeaClient,
    UnixSocketTransport,
    hook_for,
    make_transport,
    read_password,
)
from kea_etl.records import Lease4, Lease6, Reservation

SECRET = "s3cr3t-Pa55word"

OK: dict[str, Any] = {"result": 0, "text": "ok"}


def _client(handler: Callable[[str, Any], Any], **kw: Any) -> tuple[KeaClient, list[float]]:
    delays: list[float] = []
    return KeaClient.fake(handler, sleep=delays.append, **kw), delays


def _ok(args: Any = None) -> Callable[[str, Any], Any]:
    return lambda c, a: {"result": 0, "text": "ok", "arguments": args}


# ---------------------------------------------------------------------- public names
def test_public_names_are_pinned() -> None:
    assert sorted(kea_pkg.__all__) == sorted([
        "COMMAND_HOOKS", "DEFAULT_PASSWORD_ENV", "EXTRA_COMMANDS", "SEED_COMMANDS",
        "FakeTransport", "HttpTransport", "KeaClient", "KeaResponse", "Transport",
        "UnixSocketTransport", "decode_reply", "hook_for", "make_transport", "read_password"])


def test_seed_commands_are_the_66_of_the_issue() -> None:
    assert len(SEED_COMMANDS) == 66
    assert len(set(SEED_COMMANDS)) == 66
    assert list(SEED_COMMANDS) == sorted(SEED_COMMANDS)
    assert not set(SEED_COMMANDS) & set(EXTRA_COMMANDS)


@pytest.mark.parametrize("command", SEED_COMMANDS + EXTRA_COMMANDS)
def test_every_command_has_a_method(command: str) -> None:
    method = getattr(KeaClient, command.replace("-", "_"), None)
    assert callable(method), f"KeaClient has no method for {command}"
    assert method.__doc__ and f"``{command}``" in method.__doc__


# Minimal invocation of every method: proves each sends its own command with Kea's arguments.
CALLS: dict[str, tuple[Callable[[KeaClient], Any], Any]] = {
    "build-report": (lambda c: c.build_report(), None),
    "cache-clear": (lambda c: c.cache_clear(), None),
    "cache-get": (lambda c: c.cache_get(), None),
    "cache-insert": (lambda c: c.cache_insert({"hw-address": "aa:bb:cc:dd:ee:ff",
                                               "subnet-id4": 1}),
                     {"hw-address": "aa:bb:cc:dd:ee:ff", "subnet-id4": 1}),
    "cache-load": (lambda c: c.cache_load("/var/lib/kea/c.json"), "/var/lib/kea/c.json"),
    "cache-remove": (lambda c: c.cache_remove(1, identifier_type="hw-address",
                                              identifier="aa:bb:cc:dd:ee:ff"),
                     {"hw-address": "aa:bb:cc:dd:ee:ff", "subnet-id4": 1}),
    "cache-write": (lambda c: c.cache_write("/var/lib/kea/c.json"), "/var/lib/kea/c.json"),
    "config-get": (lambda c: c.config_get(), None),
    "config-reload": (lambda c: c.config_reload(), None),
    "config-set": (lambda c: c.config_set({"Dhcp4": {}}), {"Dhcp4": {}}),
    "config-test": (lambda c: c.config_test({"Dhcp4": {}}), {"Dhcp4": {}}),
    "config-write": (lambda c: c.config_write("/tmp/k.json"), {"filename": "/tmp/k.json"}),
    "dhcp-disable": (lambda c: c.dhcp_disable(20, origin="user"),
                     {"max-period": 20, "origin": "user"}),
    "dhcp-enable": (lambda c: c.dhcp_enable(), None),
    "ha-continue": (lambda c: c.ha_continue(), None),
    "ha-heartbeat": (lambda c: c.ha_heartbeat(server_name="s1"), {"server-name": "s1"}),
    "ha-scopes": (lambda c: c.ha_scopes(["s1"]), {"scopes": ["s1"]}),
    "ha-sync": (lambda c: c.ha_sync(server_name="s2", max_period=30),
                {"server-name": "s2", "max-period": 30}),
    "lease4-add": (lambda c: c.lease4_add(Lease4("192.0.2.5", "aa:bb:cc:dd:ee:ff", 3600,
                                                 1000, subnet_id=1)),
                   {"ip-address": "192.0.2.5", "hw-address": "aa:bb:cc:dd:ee:ff",
                    "valid-lft": 3600, "expire": 4600, "fqdn-fwd": False, "fqdn-rev": False,
                    "hostname": "", "state": 0, "subnet-id": 1}),
    "lease4-del": (lambda c: c.lease4_del(IPv4Address("192.0.2.5")), {"ip-address": "192.0.2.5"}),
    "lease4-get": (lambda c: c.lease4_get(identifier_type="hw-address",
                                          identifier="aa:bb:cc:dd:ee:ff", subnet_id=1),
                   {"identifier-type": "hw-address", "identifier": "aa:bb:cc:dd:ee:ff",
                    "subnet-id": 1}),
    "lease4-get-all": (lambda c: c.lease4_get_all([1, 2]), {"subnets": [1, 2]}),
    "lease4-update": (lambda c: c.lease4_update({"ip-address": "192.0.2.5"}, force_create=True),
                      {"ip-address": "192.0.2.5", "force-create": True}),
    "lease4-wipe": (lambda c: c.lease4_wipe(1), {"subnet-id": 1}),
    "lease6-add": (lambda c: c.lease6_add({"ip-address": "2001:db8::1", "duid": "01:02",
                                           "iaid": 1}),
                   {"ip-address": "2001:db8::1", "duid": "01:02", "iaid": 1}),
    "lease6-del": (lambda c: c.lease6_del("2001:db8:8000::", lease_type="IA_PD"),
                   {"ip-address": "2001:db8:8000::", "type": "IA_PD"}),
    "lease6-get": (lambda c: c.lease6_get(duid="01:02", iaid=7, subnet_id=1),
                   {"identifier-type": "duid", "identifier": "01:02", "iaid": 7,
                    "subnet-id": 1}),
    "lease6-get-all": (lambda c: c.lease6_get_all(), None),
    "lease6-update": (lambda c: c.lease6_update({"ip-address": "2001:db8::1"}),
                      {"ip-address": "2001:db8::1"}),
    "lease6-wipe": (lambda c: c.lease6_wipe(), None),
    "leases-reclaim": (lambda c: c.leases_reclaim(remove=True), {"remove": True}),
    "libreload": (lambda c: c.libreload(), None),
    "list-commands": (lambda c: c.list_commands(), None),
    "network4-add": (lambda c: c.network4_add({"name": "n"}), {"shared-networks": [{"name": "n"}]}),
    "network4-del": (lambda c: c.network4_del("n", subnets_action="delete"),
                     {"name": "n", "subnets-action": "delete"}),
    "network4-get": (lambda c: c.network4_get("n"), {"name": "n"}),
    "network4-list": (lambda c: c.network4_list(), None),
    "network4-subnet-add": (lambda c: c.network4_subnet_add("n", 5), {"name": "n", "id": 5}),
    "network4-subnet-del": (lambda c: c.network4_subnet_del("n", 5), {"name": "n", "id": 5}),
    "network6-add": (lambda c: c.network6_add([{"name": "n"}]),
                     {"shared-networks": [{"name": "n"}]}),
    "network6-del": (lambda c: c.network6_del("n"), {"name": "n"}),
    "network6-get": (lambda c: c.network6_get("n"), {"name": "n"}),
    "network6-list": (lambda c: c.network6_list(), None),
    "network6-subnet-add": (lambda c: c.network6_subnet_add("n", 5), {"name": "n", "id": 5}),
    "network6-subnet-del": (lambda c: c.network6_subnet_del("n", 5), {"name": "n", "id": 5}),
    "reservation-add": (lambda c: c.reservation_add(
        Reservation(4, "hw-address", "AA-BB-CC-DD-EE-FF", subnet_id=1,
                    ipv4_address=IPv4Address("192.0.2.9")), operation_target="memory"),
        {"reservation": {"hw-address": "aa:bb:cc:dd:ee:ff", "ip-address": "192.0.2.9",
                         "subnet-id": 1}, "operation-target": "memory"}),
    "reservation-del": (lambda c: c.reservation_del(1, ip_address="192.0.2.9"),
                        {"subnet-id": 1, "ip-address": "192.0.2.9"}),
    "reservation-get": (lambda c: c.reservation_get(1, identifier_type="hw-address",
                                                    identifier="aa:bb:cc:dd:ee:ff"),
                        {"subnet-id": 1, "identifier-type": "hw-address",
                         "identifier": "aa:bb:cc:dd:ee:ff"}),
    "shutdown": (lambda c: c.shutdown(), None),
    "stat-lease4-get": (lambda c: c.stat_lease4_get(1), {"subnet-id": 1}),
    "stat-lease6-get": (lambda c: c.stat_lease6_get(first_subnet_id=1, last_subnet_id=3),
                        {"subnet-range": {"first-subnet-id": 1, "last-subnet-id": 3}}),
    "statistic-get": (lambda c: c.statistic_get("pkt4-received"), {"name": "pkt4-received"}),
    "statistic-get-all": (lambda c: c.statistic_get_all(), None),
    "statistic-remove": (lambda c: c.statistic_remove("x"), {"name": "x"}),
    "statistic-remove-all": (lambda c: c.statistic_remove_all(), None),
    "statistic-reset": (lambda c: c.statistic_reset("x"), {"name": "x"}),
    "statistic-reset-all": (lambda c: c.statistic_reset_all(), None),
    "subnet4-add": (lambda c: c.subnet4_add({"id": 5, "subnet": "10.0.0.0/24"}),
                    {"subnet4": [{"id": 5, "subnet": "10.0.0.0/24"}]}),
    "subnet4-del": (lambda c: c.subnet4_del(5), {"id": 5}),
    "subnet4-get": (lambda c: c.subnet4_get(prefix="10.0.0.0/24"), {"subnet": "10.0.0.0/24"}),
    "subnet4-list": (lambda c: c.subnet4_list(), None),
    "subnet6-add": (lambda c: c.subnet6_add([{"id": 5, "subnet": "2001:db8::/64"}]),
                    {"subnet6": [{"id": 5, "subnet": "2001:db8::/64"}]}),
    "subnet6-del": (lambda c: c.subnet6_del(5), {"id": 5}),
    "subnet6-get": (lambda c: c.subnet6_get(5), {"id": 5}),
    "subnet6-list": (lambda c: c.subnet6_list(), None),
    "version-get": (lambda c: c.version_get(), None),
    "lease4-get-page": (lambda c: c.lease4_get_page("192.0.2.5", 10),
                        {"from": "192.0.2.5", "limit": 10}),
    "lease6-get-page": (lambda c: c.lease6_get_page(), {"from": "start", "limit": 1000}),
    "lease6-bulk-apply": (lambda c: c.lease6_bulk_apply(
        [Lease6("2001:db8::1", "01:02", 3, 100, 1000, subnet_id=1)], ["2001:db8::2"]),
        {"leases": [{"ip-address": "2001:db8::1", "duid": "01:02", "iaid": 3, "type": "IA_NA",
                     "valid-lft": 100, "preferred-lft": 0, "expire": 1100, "fqdn-fwd": False,
                     "fqdn-rev": False, "hostname": "", "state": 0, "subnet-id": 1}],
         "deleted-leases": [{"ip-address": "2001:db8::2"}]}),
    "lease4-get-by-hw-address": (lambda c: c.lease4_get_by_hw_address("aa:bb:cc:dd:ee:ff"),
                                 {"hw-address": "aa:bb:cc:dd:ee:ff"}),
    "lease4-get-by-client-id": (lambda c: c.lease4_get_by_client_id("01:aa"), {"client-id": "01:aa"}),
    "lease6-get-by-duid": (lambda c: c.lease6_get_by_duid("01:02"), {"duid": "01:02"}),
    "reservation-get-all": (lambda c: c.reservation_get_all(1), {"subnet-id": 1}),
    "reservation-get-page": (lambda c: c.reservation_get_page(1, limit=10, source_index=1,
                                                              from_host_id=7),
                             {"subnet-id": 1, "limit": 10, "source-index": 1, "from": 7}),
    "lease4-get-by-hostname": (lambda c: c.lease4_get_by_hostname("h"), {"hostname": "h"}),
    "lease6-get-by-hostname": (lambda c: c.lease6_get_by_hostname("h"), {"hostname": "h"}),
    "lease4-write": (lambda c: c.lease4_write("f.csv"), {"filename": "f.csv"}),
    "lease6-write": (lambda c: c.lease6_write("f.csv"), {"filename": "f.csv"}),
    "reservation-get-by-address": (lambda c: c.reservation_get_by_address("192.0.2.9", subnet_id=1),
                                   {"ip-address": "192.0.2.9", "subnet-id": 1}),
    "statistic-global-get-all": (lambda c: c.statistic_global_get_all(), None),
}


def test_call_table_covers_every_command() -> None:
    assert set(CALLS) == set(SEED_COMMANDS + EXTRA_COMMANDS)


@pytest.mark.parametrize("command", sorted(CALLS))
def test_method_sends_its_command_with_kea_arguments(command: str) -> None:
    invoke, expected = CALLS[command]
    client, _ = _client(_ok())
    invoke(client)
    assert client.transport.sent == [(command, expected)]  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- result decoding
def test_result_0_returns_arguments() -> None:
    lease = {"ip-address": "192.0.2.5", "hw-address": "aa:bb:cc:dd:ee:ff"}
    client, _ = _client(_ok(lease))
    assert client.lease4_get("192.0.2.5") == lease
    resp = client.call("lease4-get", {"ip-address": "192.0.2.5"})
    assert (resp.result, resp.text, resp.arguments, resp.empty) == (0, "ok", lease, False)


def test_result_3_is_empty_not_an_error() -> None:
    client, _ = _client(lambda c, a: {"result": 3, "text": "Lease not found."})
    assert client.lease4_get("192.0.2.5") is None
    assert client.lease6_get("2001:db8::1") is None
    assert client.reservation_get(1, ip_address="192.0.2.5") is None
    assert client.subnet4_get(9) is None
    assert client.network6_get("x") is None
    assert client.lease4_get_page() == []
    assert client.lease4_get_all() == []
    assert client.stat_lease4_get(9) == []
    assert client.lease4_del("192.0.2.5") is False
    assert client.call("lease4-get", {}).empty


def test_result_1_raises_command_error_with_context() -> None:
    client, _ = _client(lambda c, a: {"result": 1, "text": "missing parameter 'ip-address'"})
    with pytest.raises(KeaCommandError) as ei:
        client.lease4_add({"hw-address": "aa:bb:cc:dd:ee:ff"})
    exc = ei.value
    assert not isinstance(exc, KeaConflictError)
    assert (exc.command, exc.result, exc.text, exc.server) == (
        "lease4-add", 1, "missing parameter 'ip-address'", "fake://kea")
    assert str(exc) == ("Kea refused lease4-add on fake://kea: missing parameter 'ip-address' "
                        "(result 1)")


def test_result_2_names_the_hook() -> None:
    client, _ = _client(lambda c, a: {"result": 2, "text": "'reservation-add' command not supported."})
    with pytest.raises(KeaUnsupportedError) as ei:
        client.reservation_add({"subnet-id": 1, "hw-address": "aa:bb:cc:dd:ee:ff"})
    assert ei.value.hook == "host_cmds"
    assert "load the host_cmds hook library (libdhcp_host_cmds.so)" in str(ei.value)


def test_result_5_is_a_partial_config_error() -> None:
    # Kea 3.x's CONTROL_RESULT_FATAL_ERROR (src/lib/cc/command_interpreter.h): the command failed
    # and the configuration could not be reverted. The live check is
    # tests/kea/test_versions_real.py::test_result_codes_decoded (a hook failing to load in
    # config-set); this pins the decoding for any command on any server.
    from kea_etl.errors import KeaPartialConfigError

    text = "Configuration parsing failed: loading hooks library failed"
    client, delays = _client(lambda c, a: {"result": 5, "text": text})
    with pytest.raises(KeaPartialConfigError) as ei:
        client.call("config-set", {"Dhcp4": {}})
    assert isinstance(ei.value, KeaCommandError) and not isinstance(ei.value, KeaConflictError)
    assert (ei.value.result, ei.value.text) == (5, text)
    assert delays == []                                # Kea's own answer: never retried


@pytest.mark.parametrize(("result", "text"), [
    (4, "IPv4 lease already exists."),
    (1, "IPv4 lease already exists."),                 # Kea 2.2
    (1, "IPv6 lease already exists."),                 # Kea 2.2
    (1, "Host already exists"),
    (1, "failed to add new host using the HW address 'aa:bb:cc:dd:ee:02' to the IPv4 subnet "
        "id '1' as this host has already been added"),  # Kea 3.0 reservation-add
])
def test_conflicts(result: int, text: str) -> None:
    client, _ = _client(lambda c, a: {"result": result, "text": text})
    with pytest.raises(KeaConflictError) as ei:
        client.lease4_add({"ip-address": "192.0.2.5"})
    assert ei.value.result == result and ei.value.text == text


def test_reply_that_is_not_kea_is_an_endpoint_error() -> None:
    for bad in ([], {"text": "no result"}, "hello", {"result": "0"}):
        client, _ = _client(lambda c, a, bad=bad: bad)
        with pytest.raises(KeaEndpointError):
            client.version_get()


def test_ca_list_reply_is_unwrapped() -> None:
    client, _ = _client(lambda c, a: [{"result": 0, "text": "2.2.0"}])
    assert client.version_get() == "2.2.0"


def test_ca_cannot_reach_daemon_is_a_retried_transport_error() -> None:
    text = ("Unable to forward command to the dhcp4 service: No such file or directory. "
            "The server is likely to be offline")
    calls = []
    client, delays = _client(lambda c, a: calls.append(c) or [{"result": 1, "text": text}],
                             retries=2)
    with pytest.raises(KeaTransportError) as ei:
        client.version_get()
    assert not isinstance(ei.value, KeaCommandError)
    assert len(calls) == 3 and delays == [0.2, 0.4]


# ---------------------------------------------------------------------- retries
class Flaky:
    """Fails the first ``n`` requests with ``exc``, then answers ``reply``."""

    def __init__(self, n: int, exc: Exception, reply: Any = None) -> None:
        self.n, self.exc, self.calls = n, exc, 0
        self.reply = reply or {"result": 0, "text": "2.2.0"}

    def __call__(self, command: str, args: Any) -> Any:
        self.calls += 1
        if self.calls <= self.n:
            raise self.exc
        return self.reply


def test_transport_errors_are_retried_with_exponential_backoff() -> None:
    flaky = Flaky(3, KeaTransportError("connection refused", url="fake://kea"))
    client, delays = _client(flaky, retries=3)
    assert client.version_get() == "2.2.0"
    assert flaky.calls == 4
    assert delays == [0.2, 0.4, 0.8]


def test_retries_are_bounded() -> None:
    flaky = Flaky(10, KeaTransportError("timed out", url="fake://kea"))
    client, delays = _client(flaky, retries=2)
    with pytest.raises(KeaTransportError, match="timed out"):
        client.version_get()
    assert flaky.calls == 3 and len(delays) == 2


def test_backoff_is_capped() -> None:
    flaky = Flaky(8, KeaTransportError("x"))
    delays: list[float] = []
    client = KeaClient(kea_pkg.FakeTransport(flaky), retries=8, backoff=1.0, max_backoff=3.0,
                       sleep=delays.append)
    client.version_get()
    assert delays == [1.0, 2.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]


def test_result_1_is_never_retried() -> None:
    flaky = Flaky(0, KeaTransportError("x"), {"result": 1, "text": "bad"})
    client, delays = _client(flaky, retries=5)
    with pytest.raises(KeaCommandError):
        client.lease4_add({"ip-address": "192.0.2.1"})
    assert flaky.calls == 1 and delays == []


@pytest.mark.parametrize("exc", [KeaAuthError("401", url="u"), KeaEndpointError("nope", url="u")])
def test_auth_and_endpoint_errors_are_not_retried(exc: Exception) -> None:
    flaky = Flaky(5, exc)
    client, delays = _client(flaky, retries=5)
    with pytest.raises(type(exc)):
        client.version_get()
    assert flaky.calls == 1 and delays == []


# ---------------------------------------------------------------------- helpers
def _pager(leases: list[dict[str, Any]], seen: list[Any]) -> Callable[[str, Any], Any]:
    def handler(command: str, args: Any) -> Any:
        assert command == "lease4-get-page"
        seen.append(args["from"])
        start = 0
        if args["from"] != "start":
            start = next(i for i, lease in enumerate(leases)
                         if lease["ip-address"] == args["from"]) + 1
        page = leases[start:start + args["limit"]]
        if not page:
            return {"result": 3, "text": "0 IPv4 lease(s) found."}
        return {"result": 0, "text": "", "arguments": {"leases": page, "count": len(page)}}
    return handler


def _lease(i: int) -> dict[str, Any]:
    return {"ip-address": str(IPv4Address("10.0.0.0") + i),
            "hw-address": f"aa:bb:cc:dd:{i >> 8:02x}:{i & 255:02x}", "valid-lft": 3600,
            "cltt": 1000 + i, "subnet-id": 1 + i % 2, "state": 0}


@pytest.mark.parametrize(("n", "page", "pages"), [(25, 10, 3), (20, 10, 3), (0, 10, 1), (9, 10, 1)])
def test_iter_leases4_pages_until_a_short_page(n: int, page: int, pages: int) -> None:
    data = [_lease(i) for i in range(n)]
    seen: list[Any] = []
    client, _ = _client(_pager(data, seen))
    got = list(client.iter_leases4(page_size=page))
    assert [lease.key for lease in got] == [d["ip-address"] for d in data]
    assert all(isinstance(lease, Lease4) and lease.origin == "fake://kea" for lease in got)
    assert len(seen) == pages and seen[0] == "start"
    if n > page:
        assert seen[1] == data[page - 1]["ip-address"]


def test_iter_leases4_subnet_filter() -> None:
    data = [_lease(i) for i in range(7)]
    client, _ = _client(_pager(data, []))
    assert [lease.subnet_id for lease in client.iter_leases4(page_size=3, subnets=[2])] == [2, 2, 2]


def test_iter_leases6_uses_lease6_get_page() -> None:
    leases = [{"ip-address": "2001:db8::1", "duid": "01:02", "iaid": 1, "valid-lft": 10,
               "cltt": 5, "type": "IA_NA", "subnet-id": 1},
              {"ip-address": "2001:db8:8000::", "duid": "01:02", "iaid": 2, "valid-lft": 10,
               "cltt": 5, "type": "IA_PD", "prefix-len": 56, "subnet-id": 1}]
    client, _ = _client(_ok({"leases": leases, "count": 2}))
    got = list(client.iter_leases6(page_size=5))
    assert [lease.key for lease in got] == ["2001:db8::1", "2001:db8:8000::/56"]
    assert client.transport.sent == [("lease6-get-page", {"from": "start", "limit": 5})]  # type: ignore[attr-defined]


def test_iter_reservations_follows_next() -> None:
    pages = [
        {"result": 0, "text": "", "arguments": {"count": 1, "hosts": [{"hw-address": "01"}],
                                                 "next": {"from": 4, "source-index": 0}}},
        {"result": 0, "text": "", "arguments": {"count": 1, "hosts": [{"hw-address": "02"}],
                                                 "next": {"from": 9, "source-index": 1}}},
        {"result": 3, "text": "0 IPv4 host(s) found.",
         "arguments": {"count": 0, "hosts": [], "next": {"from": 0, "source-index": 1}}},
    ]
    client, _ = _client(lambda c, a: pages.pop(0))
    assert [h["hw-address"] for h in client.iter_reservations(1, page_size=1)] == ["01", "02"]
    sent = [a for _, a in client.transport.sent]  # type: ignore[attr-defined]
    assert sent[1] == {"subnet-id": 1, "limit": 1, "source-index": 0, "from": 4}
    assert sent[2] == {"subnet-id": 1, "limit": 1, "source-index": 1, "from": 9}


def test_stat_lease4_get_rows_become_dicts() -> None:
    rs = {"result-set": {"columns": ["subnet-id", "total-addresses", "assigned-addresses"],
                         "rows": [[1, 241, 3], [2, 256, 0]], "timestamp": "2026-11-27"}}
    client, _ = _client(_ok(rs))
    assert client.stat_lease4_get() == [
        {"subnet-id": 1, "total-addresses": 241, "assigned-addresses": 3},
        {"subnet-id": 2, "total-addresses": 256, "assigned-addresses": 0}]
    assert client.transport.sent == [("stat-lease4-get", None)]  # type: ignore[attr-defined]


def test_lease6_bulk_apply_returns_failures_of_both_kinds() -> None:
    reply = {"failed-leases": [{"ip-address": "2001:db8::1", "type": "IA_NA", "result": 1,
                                "error-message": "bad"}],
             "failed-deleted-leases": [{"ip-address": "2001:db8::2", "type": "IA_NA",
                                        "result": 3, "error-message": "lease not found"}]}
    client, _ = _client(_ok(reply))
    failed = client.lease6_bulk_apply([{"ip-address": "2001:db8::1"}], ["2001:db8::2"])
    assert [(f["ip-address"], f["operation"]) for f in failed] == [
        ("2001:db8::1", "update"), ("2001:db8::2", "delete")]


def test_capabilities_are_cached_and_name_the_hook() -> None:
    answers = {"list-commands": {"result": 0, "text": "", "arguments": ["lease4-get", "version-get"]},
               "version-get": {"result": 0, "text": "2.2.0"}}
    client, _ = _client(lambda c, a: answers[c])
    assert client.has_command("lease4-get") and not client.has_command("reservation-add")
    assert client.has_hook("lease_cmds") and not client.has_hook("host_cmds")
    client.require("lease4-get")
    with pytest.raises(KeaUnsupportedError, match=r"'reservation-get'.*host_cmds"):
        client.require("lease4-get", "reservation-get")
    assert client.version() == (2, 2, 0) and client.version() == (2, 2, 0)
    sent = [c for c, _ in client.transport.sent]  # type: ignore[attr-defined]
    assert sent == ["list-commands", "version-get"]


def test_hook_map() -> None:
    assert COMMAND_HOOKS["lease4-get-page"] == "lease_cmds"
    assert COMMAND_HOOKS["stat-lease6-get"] == "stat_cmds"
    assert COMMAND_HOOKS["reservation-get-page"] == "host_cmds"
    assert COMMAND_HOOKS["cache-load"] == "host_cache"
    assert COMMAND_HOOKS["network6-subnet-del"] == "subnet_cmds"
    assert COMMAND_HOOKS["ha-sync"] == "ha"
    assert COMMAND_HOOKS["leases-reclaim"] is None and COMMAND_HOOKS["statistic-get"] is None
    assert hook_for("class-add") == "class_cmds"
    assert hook_for("subnet4-select-test") is None


def test_typed_arguments_are_validated() -> None:
    client, _ = _client(_ok())
    with pytest.raises(ValueError, match="lease4-get: give an address"):
        client.lease4_get()
    with pytest.raises(ValueError, match="not both"):
        client.lease4_del("192.0.2.1", identifier_type="hw-address", identifier="aa")
    with pytest.raises(ValueError, match="subnet4-get"):
        client.subnet4_get()


# ---------------------------------------------------------------------- URLs and secrets
def test_url_forms() -> None:
    t = make_transport("unix:///run/kea/kea4.sock")
    assert isinstance(t, UnixSocketTransport) and t.path == "/run/kea/kea4.sock"
    assert isinstance(make_transport("/run/kea/kea6.sock"), UnixSocketTransport)
    h = make_transport("http://127.0.0.1:8000", service="dhcp4")
    assert isinstance(h, HttpTransport) and (h.host, h.port, h.service) == ("127.0.0.1", 8000, "dhcp4")
    assert h.url == "http://127.0.0.1:8000"
    s = make_transport("https://kea.example", insecure=True)
    assert isinstance(s, HttpTransport) and s.port == 443 and s.https
    v6 = make_transport("http://[::1]:8004/")
    assert v6.url == "http://[::1]:8004"
    for bad in ("ftp://x", "", "unix://", "http://:80", "http://h:notaport"):
        with pytest.raises(InvalidURLError):
            make_transport(bad)
    with pytest.raises(ConfigError, match="plain http"):
        make_transport("http://127.0.0.1:1", ca_file="/etc/hostname")
    with pytest.raises(ConfigError, match="do not apply"):
        make_transport("unix:///x.sock", username="u", password="p")


def test_password_in_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(InvalidURLError) as ei:
        make_transport(f"http://admin:{SECRET}@127.0.0.1:8000")
    assert SECRET not in str(ei.value)
    assert "http://127.0.0.1:8000" in str(ei.value)


def test_read_password(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # the library reads only the environment it is given, never the process's
    monkeypatch.setenv("KEA_ETL_PASSWORD", "from-process")
    environ = {"KEA_ETL_PASSWORD": "from-default", "MY_PW": "from-named"}
    f = tmp_path / "pw"
    f.write_text("from-file\nsecond line\n")
    assert read_password(environ=environ) == "from-default"
    assert read_password(env="MY_PW", environ=environ) == "from-named"
    assert read_password(file=f) == "from-file"
    with pytest.raises(ConfigError, match="NOPE_PW"):
        read_password(env="NOPE_PW", environ=environ)
    with pytest.raises(ConfigError, match="cannot read password file"):
        read_password(file=tmp_path / "missing")
    assert read_password(environ={}) is None
    with pytest.raises(TypeError, match="environ="):
        read_password(env="MY_PW")


# ---------------------------------------------------------------------- HTTP transport (stdlib server)
class FakeKeaHTTP:
    """A loopback HTTP server answering like kea-ctrl-agent, with scripted statuses."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []          # popped per request; empty = 200
        self.connections = 0
        self.close_after_each = False          # drop kept-alive connections silently
        self.auth: str | None = None           # expected Authorization header
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def setup(self) -> None:
                outer.connections += 1
                super().setup()

            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"body": body, "auth": self.headers.get("Authorization"),
                                       "ctype": self.headers.get("Content-Type"),
                                       "headers": dict(self.headers.items())})
                status = outer.statuses.pop(0) if outer.statuses else 200
                if outer.auth is not None and self.headers.get("Authorization") != outer.auth:
                    status = 401
                if status == 200:
                    reply: Any = [{"result": 0, "text": "2.2.0", "arguments": body.get("arguments")}]
                else:
                    reply = {"result": status, "text": "Unauthorized" if status == 401 else "err"}
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                if outer.close_after_each:
                    self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_http() -> Iterator[FakeKeaHTTP]:
    srv = FakeKeaHTTP()
    yield srv
    srv.close()


def test_http_sends_service_and_keeps_the_connection(fake_http: FakeKeaHTTP) -> None:
    client = KeaClient.from_url(fake_http.url, service="dhcp4")
    for i in range(5):
        assert client.call("lease4-get", {"ip-address": f"192.0.2.{i}"}).arguments == {
            "ip-address": f"192.0.2.{i}"}
    assert fake_http.requests[0]["body"] == {"command": "lease4-get", "service": ["dhcp4"],
                                             "arguments": {"ip-address": "192.0.2.0"}}
    assert fake_http.requests[0]["ctype"] == "application/json"
    assert fake_http.requests[0]["auth"] is None
    assert fake_http.connections == 1
    client.close()


def test_http_sends_only_the_headers_kea_needs(fake_http: FakeKeaHTTP) -> None:
    # Kea parses requests a byte at a time: every header line costs it CPU on every command
    client = KeaClient.from_url(fake_http.url)
    client.version_get()
    port = fake_http.url.rsplit(":", 1)[1]
    headers = fake_http.requests[0]["headers"]
    assert headers == {"Host": f"127.0.0.1:{port}", "Content-Type": "application/json",
                       "Content-Length": str(len(b'{"command":"version-get"}'))}
    client.close()


def test_http_one_connection_per_thread(fake_http: FakeKeaHTTP) -> None:
    client = KeaClient.from_url(fake_http.url)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                client.version_get()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(fake_http.requests) == 80
    assert fake_http.connections == 4
    client.close()


def test_http_reopens_a_connection_the_server_dropped(fake_http: FakeKeaHTTP) -> None:
    fake_http.close_after_each = True
    client = KeaClient.from_url(fake_http.url, retries=0)
    for _ in range(3):
        assert client.version_get() == "2.2.0"
    assert fake_http.connections == 3 and len(fake_http.requests) == 3


def test_http_basic_auth_header(fake_http: FakeKeaHTTP) -> None:
    fake_http.auth = "Basic " + base64.b64encode(f"admin:{SECRET}".encode()).decode()
    client = KeaClient.from_url(fake_http.url, username="admin", password=SECRET)
    assert client.version_get() == "2.2.0"
    assert fake_http.requests[-1]["auth"] == fake_http.auth
    assert SECRET not in repr(client) and SECRET not in repr(client.transport)
    assert "admin" in repr(client)


def test_http_401_is_an_auth_error_not_retried_and_secret_free(fake_http: FakeKeaHTTP) -> None:
    fake_http.auth = "Basic something-else"
    client = KeaClient.from_url(fake_http.url, username="admin", password=SECRET, retries=3)
    with pytest.raises(KeaAuthError) as ei:
        client.version_get()
    assert len(fake_http.requests) == 1
    msg = str(ei.value)
    assert SECRET not in msg and base64.b64encode(SECRET.encode()).decode() not in msg
    assert msg == (f"{fake_http.url} refused the credentials: HTTP 401 unauthorized "
                   "(user 'admin'; check --user and the password)")


def test_http_403_is_an_auth_error(fake_http: FakeKeaHTTP) -> None:
    fake_http.statuses = [403]
    with pytest.raises(KeaAuthError, match="403 forbidden"):
        KeaClient.from_url(fake_http.url, retries=2).version_get()
    assert len(fake_http.requests) == 1


def test_http_5xx_is_retried(fake_http: FakeKeaHTTP) -> None:
    fake_http.statuses = [500, 503]
    delays: list[float] = []
    client = KeaClient(make_transport(fake_http.url), retries=3, sleep=delays.append)
    assert client.version_get() == "2.2.0"
    assert len(fake_http.requests) == 3 and delays == [0.2, 0.4]


def test_http_400_map_is_a_command_error(fake_http: FakeKeaHTTP) -> None:
    fake_http.statuses = [400]
    with pytest.raises(KeaCommandError) as ei:
        KeaClient.from_url(fake_http.url).version_get()
    assert ei.value.result == 400


def test_http_404_is_not_kea(fake_http: FakeKeaHTTP) -> None:
    fake_http.statuses = [404]
    with pytest.raises(KeaEndpointError, match="HTTP 404"):
        KeaClient.from_url(fake_http.url, retries=3).version_get()
    assert len(fake_http.requests) == 1


def test_refused_connection_is_retried_then_raised() -> None:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]          # bound, not listening: connect is refused
        delays: list[float] = []
        client = KeaClient(make_transport(f"http://127.0.0.1:{port}"), retries=2,
                           sleep=delays.append)
        with pytest.raises(KeaTransportError, match="connection refused by") as ei:
            client.version_get()
    assert not isinstance(ei.value, KeaEndpointError)
    assert delays == [0.2, 0.4]


def test_unix_socket_missing_is_an_endpoint_error(tmp_path: Any) -> None:
    client = KeaClient.from_url(f"unix://{tmp_path}/kea4.sock", retries=3)
    with pytest.raises(KeaEndpointError, match="cannot connect to Kea at .*: no such file"):
        client.version_get()


def test_unix_socket_reads_to_eof(tmp_path: Any) -> None:
    """Kea answers in several writes and closes: the transport must read to EOF."""
    import socket
    path = str(tmp_path / "k.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    got: list[bytes] = []
    reply = json.dumps({"result": 0, "text": "x" * 200_000}).encode()

    def serve() -> None:
        conn, _ = srv.accept()
        got.append(conn.recv(65536))
        for i in range(0, len(reply), 1000):
            conn.sendall(reply[i:i + 1000])
        conn.close()

    t = threading.Thread(target=serve)
    t.start()
    assert KeaClient.from_url(path).version_get() == "x" * 200_000
    t.join()
    srv.close()
    assert json.loads(got[0]) == {"command": "version-get"}


# ---------------------------------------------------------------------- hand-written HTTP/1.1 edges
class RawServer:
    """A loopback TCP server that answers each request with the next scripted bytes blob and
    closes the connection when the script says so."""

    def __init__(self, replies: list[tuple[bytes, bool]]) -> None:
        import socket
        self.replies = replies
        self.requests: list[bytes] = []
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.replies:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                while self.replies:
                    data = conn.recv(65536)
                    if not data:
                        break
                    self.requests.append(data)
                    reply, close = self.replies.pop(0)
                    conn.sendall(reply)
                    if close:
                        break

    def close(self) -> None:
        self.sock.close()


def _http(body: dict[str, Any] | list[Any], *, headers: str = "", length: bool = True,
          version: str = "1.1") -> bytes:
    data = json.dumps(body).encode()
    cl = f"Content-Length: {len(data)}\r\n" if length else ""
    return f"HTTP/{version} 200 OK\r\nContent-Type: application/json\r\n{cl}{headers}\r\n".encode() + data


def test_http_chunked_close_and_http10_replies() -> None:
    body = [{"result": 0, "text": "3.0.4"}]
    data = json.dumps(body).encode()
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"%x\r\n" % 5 + data[:5] + b"\r\n"
               + b"%x;ext=1\r\n" % (len(data) - 5) + data[5:] + b"\r\n0\r\n\r\n")
    srv = RawServer([
        (chunked, False),
        (_http(body, headers="Connection: close\r\n"), True),
        (_http(body, version="1.0", length=False), True),
        (b"HTTP/1.1 100 Continue\r\n\r\n" + _http(body), False),
    ])
    try:
        client = KeaClient.from_url(srv.url, retries=0)
        assert [client.version_get() for _ in range(4)] == ["3.0.4"] * 4
        assert srv.connections == 3
        first = srv.requests[0]
        head, _, sent = first.partition(b"\r\n\r\n")
        assert head.startswith(b"POST / HTTP/1.1\r\n")
        assert f"Content-Length: {len(sent)}".encode() in head
        assert json.loads(sent) == {"command": "version-get"}
    finally:
        srv.close()


def test_http_peer_that_is_not_http() -> None:
    srv = RawServer([(b"SSH-2.0-OpenSSH_9.2\r\n", True)])
    try:
        with pytest.raises(KeaEndpointError, match="does not answer like an HTTP server"):
            KeaClient.from_url(srv.url, retries=3).version_get()
    finally:
        srv.close()


def test_http_truncated_body_is_a_transport_error() -> None:
    srv = RawServer([(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n[{\"res", True)])
    try:
        with pytest.raises(KeaTransportError, match="connection lost during version-get"):
            KeaClient.from_url(srv.url, retries=0).version_get()
    finally:
        srv.close()


def test_result_4_for_an_address_in_no_subnet_is_not_a_conflict() -> None:
    text = "subnet-id not specified and failed to find a subnet for address 203.0.113.9"
    client, _ = _client(lambda c, a: {"result": 4, "text": text})
    with pytest.raises(KeaCommandError) as ei:
        client.lease4_add({"ip-address": "203.0.113.9"})
    assert not isinstance(ei.value, KeaConflictError)
