"""Two real Kea servers (kea-dhcp4 or kea-dhcp6) in an HA pair on loopback, on any Kea version.

Kea 2.x: no control agent is needed between the peers: the HA hook runs multi-threaded with its
own HTTP listener (``http-dedicated-listener``), so the peers talk to each other directly on
127.0.0.1 (see the HA section of shared/KEA-NOTES.md). ``ctrl_agent=True`` adds a kea-ctrl-agent
per server for the URLs a 2.x user gives kea-etl (``HAPair.urls``, with ``HAPair.service``).

Kea 3.x: the peers' URLs are the daemons' own HTTP control sockets (``control-sockets`` of type
http, ``http-dedicated-listener`` off): kea-ctrl-agent is deprecated in 3.0 and gone in 3.2, and
these are the URLs a 3.x user gives kea-etl too. Kea 3.2 refuses an HTTP control socket without
authentication, so both daemons share one basic-auth login (``HAPair.credentials``) read from
files, and each peer entry of the HA config names those files (``basic-auth-user-file``, new in
3.1.3, and ``basic-auth-password-file``: the credentials HA sends to that peer). The pair runs
with auth on 3.0 as well, as a 3.x user would (the user name in clear there).

The pair is ready when the primary's ``ha-heartbeat`` reports ``hot-standby`` (both peers
``load-balancing`` for a load-balancing pair). ``start_ha_pair(family=6)`` starts the same pair
with kea-dhcp6 (the HA hook and its configuration are the same for both families; each server
keeps its memfile in its own temp dir).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tests.harness.kea import (
    KeaInstall,
    KeaServer,
    KeaStartError,
    _resolve_hooks,
    free_port,
    resolve_install,
    start_built,
)

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
    #: what a user of this version gives kea-etl: the control agents' URLs on 2.x (with
    #: ``service``; empty without ``ctrl_agent``), the daemons' own HTTP on 3.x
    urls: tuple[str, ...] = ()
    #: ``dhcp4`` / ``dhcp6`` when ``urls`` are control agents
    service: str | None = None
    #: basic-auth (user, password) of ``urls`` (Kea 3.x)
    credentials: tuple[str, str] | None = None

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


def _ha_hook(this: str, urls: tuple[str, str], pause: str | None = None,
             mode: str = "hot-standby", control: KeaServer | None = None) -> dict[str, Any]:
    """The HA hook entry of server ``this``. ``control``: the peers are the daemons' HTTP
    control sockets (Kea 3.x), not dedicated HA listeners, with this server's basic-auth login
    (both peers share it)."""
    second_role = "secondary" if mode == "load-balancing" else "standby"
    login: dict[str, str] = {}
    if control is None:
        mt = {"enable-multi-threading": True, "http-dedicated-listener": True,
              "http-listener-threads": 1, "http-client-threads": 1}
    else:
        mt = {"enable-multi-threading": True, "http-dedicated-listener": False,
              "http-client-threads": 1}
        assert control.http_auth_files and control.http_credentials
        user_file, password_file = control.http_auth_files
        login["basic-auth-password-file"] = password_file
        if control.version_tuple >= (3, 1, 3):
            login["basic-auth-user-file"] = user_file
        else:
            # basic-auth-user-file is new in Kea 3.1.3 (ChangeLog 2398); 3.0.4 ignores the key
            # and sends no Authorization header at all (HA_HEARTBEAT_FAILED ... Unauthorized).
            login["basic-auth-user"] = control.http_credentials[0]
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
            "multi-threading": mt,
            "peers": [
                {"name": "server1", "url": urls[0], "role": "primary", "auto-failover": True,
                 **login},
                {"name": "server2", "url": urls[1], "role": second_role, "auto-failover": True,
                 **login},
            ],
        }]},
    }
    if pause:
        # The primary's state machine stops once in this state until ha-continue.
        hook["parameters"]["high-availability"][0]["state-machine"] = {
            "states": [{"state": pause, "pause": "once"}]}
    return hook


def start_ha_pair(*, kea: KeaInstall | str | None = None, kea3: bool = False,
                  ctrl_agent: bool = False,
                  pause_primary_in: str | None = None, mode: str = "hot-standby",
                  family: int = 4,
                  subnets: Sequence[Mapping[str, Any]] | None = None,
                  primary_extra: Mapping[str, Any] | None = None,
                  argv_prefix: Sequence[str] = ()) -> HAPair:
    """Start primary and standby of one Kea version and wait for hot-standby.

    ``kea``: the installation (a :class:`KeaInstall` or a label; default the host's Kea or
    ``KEA_ETL_KEA2``, with ``kea3`` Kea 3.0 or ``KEA_ETL_KEA3``, as for KeaServer). On 2.x the
    peers talk over dedicated HA listeners; ``ctrl_agent`` adds a kea-ctrl-agent per server
    (``HAPair.urls``). On 3.x they talk over the daemons' HTTP control sockets with basic auth
    (``HAPair.urls``, ``HAPair.credentials``).

    ``family=6`` starts two kea-dhcp6 servers instead of kea-dhcp4 (same hooks, same HA
    parameters); ``subnets`` replaces the harness's default subnet4 / subnet6 list on both peers
    (an HA pair must share its subnets and subnet ids). ``primary_extra`` is merged into the
    primary's top-level config only (e.g. ``interfaces-config`` so that it answers DHCP on a
    loopback address while the standby, which does not serve in hot-standby, listens nowhere).
    ``argv_prefix`` runs both daemons under it, e.g. ``NetnsPair.argv("srv", [])`` so that the
    one that serves does so in a network namespace, not on the host's loopback; the peers then
    reach each other there, and the harness reaches them over their UNIX sockets.

    ``mode="load-balancing"`` starts a load-balancing pair instead (primary + secondary, each
    serving its scope); it is ready when both peers report ``load-balancing``.

    ``pause_primary_in="waiting"`` pauses the primary's HA state machine in that state (for
    ha-continue); the pair is then returned without waiting for hot-standby.
    """
    install = resolve_install(kea, kea3)
    kea3 = install.version_tuple >= (3,)
    ports = (free_port(), free_port())
    while ports[1] == ports[0]:
        ports = (ports[0], free_port())
    peer_urls = (f"http://127.0.0.1:{ports[0]}/", f"http://127.0.0.1:{ports[1]}/")
    # one login for both daemons: HA sends it to the partner, kea-etl to either peer
    login = ("kea-etl", uuid.uuid4().hex) if kea3 else None
    extra: dict[str, Any] = {"multi-threading": {"enable-multi-threading": True,
                                                 "thread-pool-size": 2, "packet-queue-size": 16}}
    servers: list[KeaServer] = []
    try:
        for i, name in enumerate(("server1", "server2")):
            own = dict(extra)
            if name == "server1" and primary_extra:
                own.update(primary_extra)
            srv = KeaServer(family=family, kea=install, hooks=("lease_cmds", "stat_cmds"),
                            extra=own, subnets=subnets,
                            name=f"ha{'6' if family == 6 else ''}-{name}-kea{install.label}",
                            ctrl_agent=ctrl_agent and not kea3, http=kea3 or ctrl_agent,
                            http_port=ports[i] if kea3 else None, http_credentials=login,
                            argv_prefix=argv_prefix)
            servers.append(srv)
            # The HA hook names the login files, which exist only once the server is built.
            hook = _ha_hook(name, peer_urls, pause_primary_in if i == 0 else None, mode,
                            control=srv if kea3 else None)
            srv.config[f"Dhcp{family}"]["hooks-libraries"].extend(
                _resolve_hooks([hook], install.hooks_dir))
            start_built(srv)
        urls = tuple(s.http_url or "" for s in servers) if kea3 or ctrl_agent else ()
        pair = HAPair(servers[0], servers[1], primary_url=peer_urls[0],
                      standby_url=peer_urls[1], mode=mode, family=family, urls=urls,
                      service=f"dhcp{family}" if urls and not kea3 else None,
                      credentials=login)
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


class PairPool:
    """The HA pairs a session- or module-scoped fixture shares, one per key (a version, a
    mode, ...), each started on first use through :func:`shared_pair`; :meth:`close` stops
    them all at the fixture's teardown."""

    def __init__(self) -> None:
        self.holders: dict[str, list[HAPair | str]] = {}

    def get(self, key: str, start: Callable[[], HAPair], what: str) -> HAPair:
        """The pair under ``key``, without leases and in its expected HA state."""
        pair = shared_pair(self.holders.setdefault(key, []), start, what)
        pair.wipe()
        pair.wait_ready()
        return pair

    def close(self) -> None:
        for holder in self.holders.values():
            for p in holder:
                if isinstance(p, HAPair):
                    p.close()
