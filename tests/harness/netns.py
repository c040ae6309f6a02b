"""Two network namespaces joined by a veth pair, for real DHCP traffic in tests.

``NetnsPair`` creates a server namespace and a client namespace (names unique per process and
instance: ``ketl-<pid>-<n>-srv`` / ``ketl-<pid>-<n>-cli``), one veth pair between them, the
addresses below (only inside the namespaces, never in the host's), loopback up and IPv6 DAD off
(so link-local addresses are usable at once: perfdhcp -6 and dhcpd -6 need them). Leaving the
``with`` block kills every process still running in either namespace and deletes both; entering
one first deletes stale ``ketl-<pid>-*`` namespaces whose creating process is gone (a test run
that was killed with -9 cannot clean up after itself).

Layout (defaults)::

    [srv ns]  veth-srv 10.99.0.1/24  2001:db8:100::1/64   <-- veth -->
    [cli ns]  veth-cli 10.99.0.2/24  2001:db8:100::2/64  (+ extra_cli_v4 addresses, e.g. 10.101.0.1/24)

perfdhcp -4 in the client namespace acts as a relay: it puts its own address (10.99.0.2 or an
address given with ``-l``) into giaddr and dhcpd answers to that address, port 67. Extra relay
addresses in other subnets get a route in the server namespace via the client's link address.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import itertools
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Side = Literal["srv", "cli"]
SIDES: tuple[Side, Side] = ("srv", "cli")

NETNS_PREFIX = "ketl-"
_counter = itertools.count(1)
_live: dict[str, NetnsPair] = {}


@atexit.register
def _destroy_leftovers() -> None:
    """Last resort for pairs never closed (a test forgot ``with``): delete them at exit."""
    for pair in list(_live.values()):
        with contextlib.suppress(Exception):
            pair.destroy()


class NetnsError(RuntimeError):
    """A namespace could not be created, used or removed."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise NetnsError(f"'ip {' '.join(args)}' failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc


def netns_available() -> str | None:
    """None when this machine can run namespace tests, else the reason why not (for pytest.skip)."""
    if os.geteuid() != 0:
        return "network namespace tests need root"
    for tool in ("ip", "dhcpd", "perfdhcp"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode != 0:
            return f"'{tool}' is not installed"
    return None


def list_netns() -> list[str]:
    """Names of all network namespaces (``ip netns list`` prints 'name (id: N)')."""
    out = _ip("netns", "list").stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_netns_processes(ns: str, *, timeout: float = 5.0) -> None:
    """SIGTERM every process in namespace ``ns``, then SIGKILL what is left after ``timeout``."""
    def pids() -> list[int]:
        proc = _ip("netns", "pids", ns, check=False)
        return [int(p) for p in proc.stdout.split() if p.isdigit()]

    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 2.0)):
        live = pids()
        if not live:
            return
        for pid in live:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and pids():
            time.sleep(0.05)


def delete_netns(ns: str) -> None:
    """Kill what runs in ``ns`` and delete it (its veth end, and so the peer, go with it)."""
    kill_netns_processes(ns)
    proc = _ip("netns", "del", ns, check=False)
    if proc.returncode != 0 and ns in list_netns():
        raise NetnsError(f"cannot delete network namespace {ns}: {proc.stderr.strip()}")


def cleanup_stale_netns() -> list[str]:
    """Delete ``ketl-<pid>-*`` namespaces whose creating process no longer exists.

    Namespaces of live processes (another test session running right now) are left alone.
    Returns the names deleted.
    """
    removed = []
    for ns in list_netns():
        if not ns.startswith(NETNS_PREFIX):
            continue
        pid_part = ns[len(NETNS_PREFIX):].split("-", 1)[0]
        if not pid_part.isdigit():
            continue
        pid = int(pid_part)
        if pid == os.getpid() or _pid_alive(pid):
            continue
        with contextlib.suppress(NetnsError):
            delete_netns(ns)
            removed.append(ns)
    return removed


@dataclass
class NetnsPair:
    """A server and a client namespace joined by a veth pair; a context manager.

    ``with NetnsPair() as net: net.run("cli", ["perfdhcp", ...])``.
    """

    srv_if: str = "veth-srv"
    cli_if: str = "veth-cli"
    srv_v4: str = "10.99.0.1/24"
    cli_v4: str = "10.99.0.2/24"
    srv_v6: str | None = "2001:db8:100::1/64"
    cli_v6: str | None = "2001:db8:100::2/64"
    extra_cli_v4: Sequence[str] = ()
    tag: str = ""
    srv_ns: str = field(init=False)
    cli_ns: str = field(init=False)
    _up: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        n = next(_counter)
        base = f"{NETNS_PREFIX}{os.getpid()}-{n}{('-' + self.tag) if self.tag else ''}"
        self.srv_ns = f"{base}-srv"
        self.cli_ns = f"{base}-cli"

    # -- addresses ------------------------------------------------------------------------------
    @property
    def srv_addr4(self) -> str:
        """The server's IPv4 address on the link, without prefix length."""
        return self.srv_v4.split("/")[0]

    @property
    def cli_addr4(self) -> str:
        """The client side's (relay's) IPv4 address, without prefix length."""
        return self.cli_v4.split("/")[0]

    def ns(self, side: Side) -> str:
        if side not in ("srv", "cli"):
            raise ValueError(f"side must be 'srv' or 'cli', not {side!r}")
        return self.srv_ns if side == "srv" else self.cli_ns

    def iface(self, side: Side) -> str:
        return self.srv_if if side == "srv" else self.cli_if

    # -- lifecycle ------------------------------------------------------------------------------
    def create(self) -> NetnsPair:
        cleanup_stale_netns()
        try:
            self._create()
        except BaseException:
            self.destroy()
            raise
        return self

    def _create(self) -> None:
        self._up = True
        _live[self.srv_ns] = self
        for side in SIDES:
            ns = self.ns(side)
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            # DAD off: otherwise link-local addresses stay 'tentative' for ~2 s and dhcpd -6 /
            # perfdhcp -6 cannot bind to them.
            for conf in ("all", "default"):
                self.run(side, ["sysctl", "-q", "-w", f"net.ipv6.conf.{conf}.accept_dad=0"], check=True)
        _ip("-n", self.srv_ns, "link", "add", self.srv_if, "type", "veth",
            "peer", "name", self.cli_if, "netns", self.cli_ns)
        for side in SIDES:
            ns, ifname = self.ns(side), self.iface(side)
            v4, v6 = (self.srv_v4, self.srv_v6) if side == "srv" else (self.cli_v4, self.cli_v6)
            self.run(side, ["sysctl", "-q", "-w", f"net.ipv6.conf.{ifname}.accept_dad=0"], check=True)
            _ip("-n", ns, "addr", "add", v4, "dev", ifname)
            if v6:
                _ip("-n", ns, "-6", "addr", "add", v6, "dev", ifname, "nodad")
            _ip("-n", ns, "link", "set", ifname, "up")
        for extra in self.extra_cli_v4:
            _ip("-n", self.cli_ns, "addr", "add", extra, "dev", self.cli_if)
            net = ipaddress.ip_interface(extra).network
            _ip("-n", self.srv_ns, "route", "add", str(net), "via", self.cli_addr4)
        self._wait_link_local()

    def _wait_link_local(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            pending = []
            for side in SIDES:
                out = _ip("-n", self.ns(side), "-6", "addr", "show", "dev", self.iface(side)).stdout
                if "tentative" in out or "fe80::" not in out:
                    pending.append(self.ns(side))
            if not pending:
                return
            if time.monotonic() > deadline:
                raise NetnsError(f"IPv6 link-local address on {pending} still not usable after {timeout} s")
            time.sleep(0.05)

    def destroy(self) -> None:
        """Kill every process in both namespaces and delete them. Safe to call twice."""
        errors = []
        for ns in (self.srv_ns, self.cli_ns):
            if ns in list_netns():
                try:
                    delete_netns(ns)
                except NetnsError as exc:
                    errors.append(str(exc))
        self._up = False
        _live.pop(self.srv_ns, None)
        if errors:
            raise NetnsError("; ".join(errors))

    def __enter__(self) -> NetnsPair:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    # -- running things -------------------------------------------------------------------------
    def argv(self, side: Side, argv: Sequence[str]) -> list[str]:
        """``argv`` prefixed so that it runs inside the namespace of ``side``."""
        return ["ip", "netns", "exec", self.ns(side), *argv]

    def run(self, side: Side, argv: Sequence[str], *, check: bool = False, timeout: float = 120.0,
            **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run a command to completion inside a namespace; text output captured."""
        kwargs.setdefault("capture_output", True)
        proc = subprocess.run(self.argv(side, argv), text=True, timeout=timeout, **kwargs)
        if check and proc.returncode != 0:
            raise NetnsError(
                f"{' '.join(argv)} in namespace {self.ns(side)} failed (exit {proc.returncode}): "
                f"{(proc.stderr or '').strip()[-2000:]}"
            )
        return proc

    def popen(self, side: Side, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[str]:
        """Start a command inside a namespace. ``ip netns exec`` execs it: the Popen pid is the command's."""
        return subprocess.Popen(self.argv(side, argv), text=True, **kwargs)

    def pids(self, side: Side) -> list[int]:
        proc = _ip("netns", "pids", self.ns(side), check=False)
        return [int(p) for p in proc.stdout.split() if p.isdigit()]

    def mac(self, side: Side) -> str:
        out = _ip("-n", self.ns(side), "link", "show", "dev", self.iface(side)).stdout
        for line in out.splitlines():
            parts = line.split()
            if parts and parts[0] == "link/ether":
                return parts[1]
        raise NetnsError(f"no MAC address on {self.iface(side)} in {self.ns(side)}")

    def __repr__(self) -> str:
        return f"NetnsPair({self.srv_ns}:{self.srv_if} <-> {self.cli_ns}:{self.cli_if})"
