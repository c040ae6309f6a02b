"""HAPairLoader and ServiceWindow with in-process fake Kea servers: failure paths that are hard
to provoke on real servers (a peer dying mid-load, a peer refusing dhcp-disable)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kea_etl.errors import ConfigError, KeaTransportError
from kea_etl.kea import KeaClient
from kea_etl.kea.transports import FakeTransport
from kea_etl.load.api import LiveLeaseLoader, LiveOptions
from kea_etl.load.ha import HAPairLoader, check_targets
from kea_etl.load.pause import ServiceWindow
from kea_etl.records import Lease4
from kea_etl.report import RunReport


class FakeKea:
    """Just enough of Kea for lease4-add, ha-heartbeat, dhcp-disable/enable."""

    def __init__(self, name: str, *, die_after: int | None = None, state: str | None = None,
                 refuse_disable: bool = False) -> None:
        self.name = name
        self.leases: dict[str, dict[str, Any]] = {}
        self.die_after = die_after
        self.state = state
        self.refuse_disable = refuse_disable
        self.commands: list[str] = []
        self.disabled = False

    def __call__(self, command: str, args: Any) -> dict[str, Any]:
        self.commands.append(command)
        if command == "lease4-add":
            if self.die_after is not None and len(self.leases) >= self.die_after:
                raise KeaTransportError(f"{self.name}: connection refused", url=self.name)
            self.leases[args["ip-address"]] = args
            return {"result": 0, "text": "added"}
        if command == "ha-heartbeat":
            if self.state is None:
                return {"result": 2, "text": "'ha-heartbeat' command not supported."}
            return {"result": 0, "arguments": {"state": self.state, "scopes": []}}
        if command == "dhcp-disable":
            if self.refuse_disable:
                return {"result": 1, "text": "not allowed"}
            self.disabled = True
            return {"result": 0}
        if command == "list-commands":
            return {"result": 0, "arguments": ["lease4-add", "lease4-get", "config-get",
                                               "list-commands", "dhcp-disable", "dhcp-enable"]}
        if command == "config-get":
            return {"result": 0, "arguments": {"Dhcp4": {"subnet4": [
                {"id": 1, "subnet": "10.0.0.0/8"}]}}}
        if command == "dhcp-enable":
            self.disabled = False
            return {"result": 0}
        return {"result": 2, "text": f"'{command}' command not supported."}


def client(kea: FakeKea) -> KeaClient:
    return KeaClient(FakeTransport(kea, url=f"fake://{kea.name}"), retries=0)


def loader(kea: FakeKea) -> LiveLeaseLoader:
    return LiveLeaseLoader(client(kea), options=LiveOptions(workers=2, batch_size4=10))


def leases(n: int) -> Iterator[Lease4]:
    for i in range(n):
        yield Lease4(address=f"10.0.{i // 250}.{i % 250 + 1}", hwaddr=f"02:00:00:00:{i >> 8:02x}:"
                     f"{i & 255:02x}", valid_lft=3600, cltt=1_800_000_000, subnet_id=1)


def test_both_peers_get_every_record_with_a_small_queue() -> None:
    a, b = FakeKea("a"), FakeKea("b")
    pair = HAPairLoader([loader(a), loader(b)], queue_size=3)
    report = RunReport(read=700)
    pair.load(leases(700), report)
    assert len(a.leases) == len(b.leases) == 700
    assert report.loaded == 700 and report.balanced()


def test_a_peer_dying_mid_load_stops_the_run_without_hanging() -> None:
    a, b = FakeKea("a"), FakeKea("b", die_after=120)
    pair = HAPairLoader([loader(a), loader(b)], queue_size=5)
    with pytest.raises(KeaTransportError, match="stopped answering"):
        pair.load(leases(2000), RunReport(read=2000))
    assert len(b.leases) == 120


def test_the_first_peer_dying_stops_the_others() -> None:
    a, b = FakeKea("a", die_after=50), FakeKea("b")
    pair = HAPairLoader([loader(a), loader(b)], queue_size=5)
    with pytest.raises(KeaTransportError):
        pair.load(leases(2000), RunReport(read=2000))
    assert len(b.leases) < 2000


def test_unsafe_and_lone_peers_are_refused_with_the_reason() -> None:
    with pytest.raises(ConfigError, match=r"fake://b is in HA state 'terminated': HA is "
                                          r"terminated \(clock skew"):
        check_targets([client(FakeKea("a", state="hot-standby")),
                       client(FakeKea("b", state="terminated"))])
    with pytest.raises(ConfigError, match="is one peer of an HA pair"):
        check_targets([client(FakeKea("a", state="hot-standby"))])
    states = check_targets([client(FakeKea("a", state="partner-down"))], force=True)
    assert states[0].state == "partner-down"
    assert check_targets([client(FakeKea("plain"))])[0].is_ha is False


def test_a_refused_dhcp_disable_enables_the_others_and_loads_nothing() -> None:
    a, b = FakeKea("a"), FakeKea("b", refuse_disable=True)
    window = ServiceWindow(HAPairLoader([loader(a), loader(b)]), pause=True, max_period=60)
    with pytest.raises(ConfigError, match="fake://b refused dhcp-disable"):
        window.load(leases(10), RunReport(read=10))
    window.abort()
    assert not a.disabled and a.commands[-1] == "dhcp-enable"
    assert a.leases == {} and b.leases == {}


def test_enable_runs_on_abort_after_a_failed_load() -> None:
    a = FakeKea("a", die_after=5)
    window = ServiceWindow(loader(a), pause=True, max_period=60)
    report = RunReport(read=50)
    with pytest.raises(KeaTransportError):
        window.load(leases(50), report)
    assert a.disabled
    window.abort()
    assert not a.disabled
    assert report.pause["enabled_again"] is True
