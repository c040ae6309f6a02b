"""Two real Kea 2.x servers (kea-dhcp4 or kea-dhcp6) in an HA pair on loopback.

No control agent is needed: the HA hook runs multi-threaded with its own HTTP listener
(``http-dedicated-listener``), so the peers talk to each other directly on 127.0.0.1
(see the HA section of shared/KEA-NOTES.md). The pair is ready when the primary's
``ha-heartbeat`` reports ``hot-standby`` (both peers ``load-balancing`` for a load-balancing
pair). ``start_ha_pair(family=6)`` starts the same pair with kea-dhcp6 (the HA hook and its
configuration are the same for both families; each server keeps its memfile in its own temp dir).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tests.harness.kea import KeaServer, KeaStartError, free_port, start_kea

HA_READY_TIMEOUT = 60.0


@dataclass
class HAPair:
    primary: KeaServer
    standby: KeaServer
    primary_name: str = "server1"
    standby_name: str = "server2"
    primary_url: str = ""
    standby_url: str = ""
    #: "hot-standby" (primary + standby) or "load-balancing" (primary + secondary)
    mode: str = "hot-standby"
    #: 4 (kea-dhcp4) or 6 (kea-dhcp6)
    family: int = 4

    @property
    def servers(self) -> tuple[KeaServer, KeaServer]:
        return (self.primary, self.standby)

    def wipe(self) -> None:
        """Remove every lease from both peers (lease4-wipe / lease6-wipe; not replicated)."""
        for s in self.servers:
            s.command(f"lease{self.family}-wipe")

    def state(self, srv: KeaServer) -> str:
        r = srv.command("ha-heartbeat")
        return str((r.get("arguments") or {}).get("state", f"? ({r.get('text')})"))

    def wait_ready(self, timeout: float = HA_READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        states = ("?", "?")
        while time.monotonic() < deadline:
            for s in self.servers:
                if not s.alive():
                    raise KeaStartError(f"HA peer {s.label} exited; log tail:\n{_tail(s)}")
            states = (self.state(self.primary), self.state(self.standby))
            if self.mode == "load-balancing":
                if states == ("load-balancing", "load-balancing"):
                    return
            elif states[0] == "hot-standby" and states[1] in ("hot-standby", "ready"):
                return
            time.sleep(0.1)
        raise KeaStartError(
            f"HA pair not ready within {timeout:.0f}s: primary state {states[0]!r}, standby {states[1]!r}.\n"
            f"--- primary log ---\n{_tail(self.primary)}\n--- standby log ---\n{_tail(self.standby)}")

    def close(self) -> None:
        for s in self.servers:
            s.close()


def _tail(srv: KeaServer) -> str:
    try:
        return "\n".join(srv.log_file.read_text(errors="replace").splitlines()[-20:])
    except OSError:
        return f"(no log at {srv.log_file})"


def _ha_hook(this: str, p1: int, p2: int, pause: str | None = None,
             mode: str = "hot-standby") -> dict[str, Any]:
    second_role = "secondary" if mode == "load-balancing" else "standby"
    hook: dict[str, Any] = {
        "library": "ha",
        "parameters": {"high-availability": [{
            "this-server-name": this,
            "mode": mode,
            "heartbeat-delay": 1000,
            "max-response-delay": 5000,
            "max-ack-delay": 5000,
            "max-unacked-clients": 0,
            "sync-timeout": 10000,
            "multi-threading": {"enable-multi-threading": True, "http-dedicated-listener": True,
                                "http-listener-threads": 1, "http-client-threads": 1},
            "peers": [
                {"name": "server1", "url": f"http://127.0.0.1:{p1}/", "role": "primary",
                 "auto-failover": True},
                {"name": "server2", "url": f"http://127.0.0.1:{p2}/", "role": second_role,
                 "auto-failover": True},
            ],
        }]},
    }
    if pause:
        # The primary's state machine stops once in this state until ha-continue.
        hook["parameters"]["high-availability"][0]["state-machine"] = {
            "states": [{"state": pause, "pause": "once"}]}
    return hook


def start_ha_pair(*, pause_primary_in: str | None = None, mode: str = "hot-standby",
                  family: int = 4,
                  subnets: Sequence[Mapping[str, Any]] | None = None,
                  primary_extra: Mapping[str, Any] | None = None) -> HAPair:
    """Start primary and standby (Kea 2.x from the host) and wait for hot-standby.

    ``family=6`` starts two kea-dhcp6 servers instead of kea-dhcp4 (same hooks, same HA
    parameters); ``subnets`` replaces the harness's default subnet4 / subnet6 list on both peers
    (an HA pair must share its subnets and subnet ids). ``primary_extra`` is merged into the
    primary's top-level config only (e.g. ``interfaces-config`` so that it answers DHCP on a
    loopback address while the standby, which does not serve in hot-standby, listens nowhere).

    ``mode="load-balancing"`` starts a load-balancing pair instead (primary + secondary, each
    serving its scope); it is ready when both peers report ``load-balancing``.

    ``pause_primary_in="waiting"`` pauses the primary's HA state machine in that state (for
    ha-continue); the pair is then returned without waiting for hot-standby.
    """
    p1, p2 = free_port(), free_port()
    while p2 == p1:
        p2 = free_port()
    extra: dict[str, Any] = {"multi-threading": {"enable-multi-threading": True,
                                                 "thread-pool-size": 2, "packet-queue-size": 16}}
    servers: list[KeaServer] = []
    try:
        for name in ("server1", "server2"):
            pause = pause_primary_in if name == "server1" else None
            own = dict(extra)
            if name == "server1" and primary_extra:
                own.update(primary_extra)
            servers.append(start_kea(
                family=family, hooks=("lease_cmds", "stat_cmds", _ha_hook(name, p1, p2, pause, mode)),
                extra=own, subnets=subnets, name=f"ha{'6' if family == 6 else ''}-{name}"))
        pair = HAPair(servers[0], servers[1], primary_url=f"http://127.0.0.1:{p1}/",
                      standby_url=f"http://127.0.0.1:{p2}/", mode=mode, family=family)
        if pause_primary_in is None:
            pair.wait_ready()
        return pair
    except BaseException:
        for s in servers:
            s.close()
        raise


def shared_pair(holder: list[HAPair | str], start: Callable[[], HAPair], what: str) -> HAPair:
    """The pair a fixture shares across tests: started on first use with ``start()`` and kept
    in ``holder``; a failed start is kept too, so every later test fails at once with the same
    message instead of retrying. Fails the test if a peer has stopped (a test stopped it?)."""
    import pytest

    if holder and isinstance(holder[0], str):
        pytest.fail(holder[0], pytrace=False)
    if not holder:
        try:
            holder.append(start())
        except KeaStartError as exc:
            holder.append(f"{what} could not start: {exc}")
            pytest.fail(str(holder[0]), pytrace=False)
    pair = holder[0]
    assert isinstance(pair, HAPair)
    for s in pair.servers:
        if not s.alive():
            pytest.fail(f"HA peer {s.label} is no longer running (a test stopped it?)",
                        pytrace=False)
    return pair
