"""A fleet of small real kea-dhcp4 servers on loopback UNIX sockets, for the fleet export test and
``benchmarks/fleet.py``.

Each server is the harness's :class:`~tests.harness.kea.KeaServer` (memfile, lease_cmds +
stat_cmds, no interfaces) with one /16 subnet, loaded with ``lease4-add``; servers are started and
loaded a few at a time (the machine has two cores). :func:`break_server` makes one fail the way a
crashed daemon does: SIGKILL, its socket file left behind, so a connection is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.harness import clock
from tests.harness.kea import KeaServer, start_kea

__all__ = ["FLEET_SUBNETS", "break_server", "fill", "start_fleet", "stop_fleet"]

FLEET_SUBNETS: list[dict[str, Any]] = [
    {"id": 1, "subnet": "10.0.0.0/16", "pools": [{"pool": "10.0.0.10 - 10.0.255.250"}]}]


def lease_args(i: int, *, server: int, now: int) -> dict[str, Any]:
    """The i-th lease of a fleet server: 10.0.(i // 200).(10 + i % 200), its own MAC."""
    return {"ip-address": f"10.0.{i // 200}.{10 + i % 200}",
            "hw-address": f"02:{server >> 8:02x}:{server & 255:02x}:00:{i >> 8:02x}:{i & 255:02x}",
            "valid-lft": 3600, "expire": now + 3000, "hostname": f"s{server}-h{i}"}


def fill(srv: KeaServer, n: int, *, server: int) -> None:
    now = clock.now()
    for i in range(n):
        srv.ok("lease4-add", lease_args(i, server=server, now=now))


def start_fleet(n: int, leases: int, *, workers: int = 4,
                start: Callable[..., KeaServer] = start_kea) -> list[KeaServer]:
    """``n`` started kea-dhcp4 servers holding ``leases`` leases each (stopped again if one
    fails to start). ``start``: the harness's ``start_kea`` or a test's ``kea_factory``.

    The servers are started from this thread: the harness asks the kernel to kill a server
    when the thread that started it ends (PR_SET_PDEATHSIG), so a pool thread must not start
    them. Only the loading runs in a pool."""
    servers: list[KeaServer] = []
    try:
        for k in range(n):
            servers.append(start(family=4, subnets=FLEET_SUBNETS, name=f"fleet-{k:02d}"))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda ks: fill(ks[1], leases, server=ks[0]), enumerate(servers)))
    except BaseException:
        if start is start_kea:
            stop_fleet(servers)
        raise
    return servers


def break_server(srv: KeaServer) -> None:
    """Kill the daemon (SIGKILL): its socket file stays, connections are refused."""
    srv.kill()


def stop_fleet(servers: Sequence[KeaServer]) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda s: s.close(), servers))
