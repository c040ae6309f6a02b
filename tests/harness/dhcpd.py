"""Real ISC dhcpd in a server namespace, perfdhcp clients in the client namespace.

``Dhcpd`` runs ``dhcpd -4|-6 -f -cf CONF -lf LEASES -pf PIDFILE IFACE`` inside ``net.srv_ns``
(foreground, so the process we start is the daemon) and stops it with SIGTERM. ``run_perfdhcp4`` /
``run_perfdhcp6`` run perfdhcp in ``net.cli_ns`` with deterministic client identities, so the same
clients can be brought back later (after a cutover to Kea, say):

- perfdhcp numbers its clients 0..R-1 (``-R``) and derives client k's MAC by adding k to the base
  MAC (``-b mac=...``), walking the clients in order, one new exchange per client; with ``-n`` it
  stops after that many exchanges. ``client_macs(base, n)`` gives the same list.
- v4: perfdhcp also sends a client identifier, ``01`` + the MAC (dhcpd writes it as ``uid``).
- v6: the DUID is a DUID-LLT whose first 8 bytes (type 1, hw type 1, time) come from
  ``-b duid=...`` and whose link-layer part is client k's MAC. Without ``-b duid`` the time field is
  "now" and every run brings *new* clients; we always pass it (time 0 by default).
  ``client_duids(base_mac, n)`` gives the list. perfdhcp's IAID is 1 for IA_NA and IA_PD.
- perfdhcp -4 with ``-l IFACE`` (or ``-l ADDRESS``) acts as a relay: giaddr = that address, the
  server answers to it on port 67. dhcpd needs a subnet for that address; to serve addresses from
  another subnet put both into one ``shared-network`` (see ``sample_dhcpd4_conf``).
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tests.harness import clock
from tests.harness.netns import NetnsPair

DHCPD = "dhcpd"
PERFDHCP = "perfdhcp"

DEFAULT_BASE_MAC = "00:0c:01:00:00:00"
# DUID-LLT header perfdhcp copies from -b duid=: type 1 (LLT), hardware type 1, time 0.
DUID_LLT_HEADER = "00:01:00:01:00:00:00:00"


class DhcpdError(RuntimeError):
    """dhcpd did not start, died, or would not stop."""


class PerfdhcpError(RuntimeError):
    """perfdhcp could not run (bad arguments, no interface), not: some packets were dropped."""


# -- deterministic identities ----------------------------------------------------------------------
def mac_add(mac: str, k: int) -> str:
    """``mac`` + ``k`` as a 48-bit number, colon hex (the way perfdhcp derives client k's MAC)."""
    value = (int(mac.replace(":", ""), 16) + k) % (1 << 48)
    raw = f"{value:012x}"
    return ":".join(raw[i:i + 2] for i in range(0, 12, 2))


def client_macs(base_mac: str = DEFAULT_BASE_MAC, clients: int = 1) -> list[str]:
    """The MACs of perfdhcp's clients 0..clients-1 for ``-b mac=base_mac -R clients``."""
    return [mac_add(base_mac, k) for k in range(clients)]


def client_id4(mac: str) -> str:
    """The DHCPv4 client identifier perfdhcp sends for ``mac``: hardware type 1 + MAC."""
    return "01:" + mac.lower()


def client_duids(base_mac: str = DEFAULT_BASE_MAC, clients: int = 1,
                 duid_header: str = DUID_LLT_HEADER) -> list[str]:
    """The DUIDs of perfdhcp -6's clients for ``-b duid=<header+mac> -b mac=base_mac -R clients``."""
    return [f"{duid_header}:{m}" for m in client_macs(base_mac, clients)]


# -- dhcpd -------------------------------------------------------------------------------------------
@dataclass
class Dhcpd:
    """One dhcpd process in ``net``'s server namespace.

    ``conf_text`` is written to ``workdir/dhcpd{4,6}.conf`` (or pass ``conf_path`` for an existing
    file; relative ``include`` paths resolve against ``cwd``, which defaults to the conf file's
    directory). ``lease_path`` is created empty when missing (dhcpd refuses to start without it).
    """

    net: NetnsPair
    lease_path: Path
    conf_text: str | None = None
    family: Literal[4, 6] = 4
    conf_path: Path | None = None
    workdir: Path | None = None
    cwd: Path | None = None
    extra_args: Sequence[str] = ()
    pid: int | None = field(init=False, default=None)
    _proc: subprocess.Popen[str] | None = field(init=False, default=None)
    _log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.lease_path = Path(self.lease_path).resolve()
        if self.workdir is None:
            self.workdir = self.lease_path.parent
        self.workdir = Path(self.workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.conf_path is None:
            if self.conf_text is None:
                raise ValueError("Dhcpd needs conf_text or conf_path")
            self.conf_path = self.workdir / f"dhcpd{self.family}.conf"
        self.conf_path = Path(self.conf_path).resolve()
        if self.cwd is None:
            self.cwd = self.conf_path.parent
        self.pid_path = self.workdir / f"dhcpd{self.family}-{self.net.srv_ns}.pid"
        self._log_path = self.workdir / f"dhcpd{self.family}-{self.net.srv_ns}.log"

    @property
    def argv(self) -> list[str]:
        assert self.conf_path is not None
        return clock.server_argv([DHCPD, f"-{self.family}", "-f", "-cf", str(self.conf_path),
                                  "-lf", str(self.lease_path), "-pf", str(self.pid_path),
                                  *self.extra_args, self.net.srv_if])

    def log(self) -> str:
        """Everything dhcpd wrote to stdout/stderr so far (it logs there with -f)."""
        try:
            return self._log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def check_config(self) -> None:
        """``dhcpd -t``: raise DhcpdError with dhcpd's own message when the config is bad."""
        assert self.conf_path is not None
        if self.conf_text is not None:
            self.conf_path.write_text(self.conf_text)
        proc = self.net.run("srv", [DHCPD, f"-{self.family}", "-t", "-cf", str(self.conf_path)],
                            cwd=self.cwd)
        if proc.returncode != 0:
            raise DhcpdError(f"dhcpd -{self.family} rejects {self.conf_path}:\n{_tail(proc.stderr)}")

    def start(self, *, timeout: float = 10.0) -> Dhcpd:
        """Start dhcpd and wait until it listens; raise DhcpdError with its output if it does not."""
        if self.running():
            raise DhcpdError(f"dhcpd -{self.family} in {self.net.srv_ns} is already running (pid {self.pid})")
        assert self.conf_path is not None
        if self.conf_text is not None:
            self.conf_path.write_text(self.conf_text)
        if not self.lease_path.exists():
            self.lease_path.parent.mkdir(parents=True, exist_ok=True)
            self.lease_path.touch()
        self.pid_path.unlink(missing_ok=True)
        log = self._log_path.open("w")
        try:
            self._proc = self.net.popen("srv", self.argv, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, cwd=self.cwd)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                output = self.log()
                hint = ""
                if "Permission denied" in output or "Can't open" in output:
                    hint = ("\n(if AppArmor confines dhcpd to /etc/dhcp and /var/lib/dhcp: "
                            "aa-complain /usr/sbin/dhcpd)")
                raise DhcpdError(
                    f"dhcpd -{self.family} exited at start (code {self._proc.returncode}) in "
                    f"{self.net.srv_ns} on {self.net.srv_if} with {self.conf_path}:\n{_tail(output)}{hint}")
            if "Sending on" in self.log() and self.pid_path.exists():
                text = self.pid_path.read_text().strip()
                if text.isdigit():
                    self.pid = int(text)
                    return self
            time.sleep(0.05)
        self._kill()
        raise DhcpdError(f"dhcpd -{self.family} did not start listening on {self.net.srv_if} within "
                         f"{timeout} s:\n{_tail(self.log())}")

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, *, timeout: float = 10.0) -> None:
        """SIGTERM dhcpd and wait for it to exit (the lease file is complete afterwards)."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            os.kill(self.pid or self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill()
                raise DhcpdError(f"dhcpd -{self.family} (pid {self._proc.pid}) ignored SIGTERM for "
                                 f"{timeout} s; killed") from None
        self._proc = None
        self.pid = None
        self.pid_path.unlink(missing_ok=True)

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            if self.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
            self._proc.kill()
            self._proc.wait(5)

    def __enter__(self) -> Dhcpd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def Dhcpd4(net: NetnsPair, conf_text: str | None, lease_path: Path, **kwargs: object) -> Dhcpd:  # noqa: N802
    """A dhcpd -4 (see ``Dhcpd``)."""
    return Dhcpd(net, Path(lease_path), conf_text, 4, **kwargs)  # type: ignore[arg-type]


def Dhcpd6(net: NetnsPair, conf_text: str | None, lease_path: Path, **kwargs: object) -> Dhcpd:  # noqa: N802
    """A dhcpd -6 (see ``Dhcpd``)."""
    return Dhcpd(net, Path(lease_path), conf_text, 6, **kwargs)  # type: ignore[arg-type]


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


# -- perfdhcp ------------------------------------------------------------------------------------------
@dataclass
class PerfdhcpResult:
    """What perfdhcp did. ``stats[exchange]`` (e.g. 'DISCOVER-OFFER', 'SOLICIT-ADVERTISE', 'RELEASE')
    holds its 'sent packets', 'received packets', 'drops' counters."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    stats: dict[str, dict[str, int]]

    def received(self, exchange: str) -> int:
        return self.stats.get(exchange, {}).get("received packets", 0)

    def sent(self, exchange: str) -> int:
        return self.stats.get(exchange, {}).get("sent packets", 0)


_STATS_HEADER = re.compile(r"^\*+Statistics for: ([A-Z0-9-]+)\*+")
_STATS_LINE = re.compile(r"^(sent packets|received packets|drops|orphans|rejected leases): (\d+)")


def parse_perfdhcp_stats(text: str) -> dict[str, dict[str, int]]:
    stats: dict[str, dict[str, int]] = {}
    current: dict[str, int] | None = None
    for line in text.splitlines():
        m = _STATS_HEADER.match(line.strip())
        if m:
            current = stats.setdefault(m.group(1), {})
            continue
        m = _STATS_LINE.match(line.strip())
        if m and current is not None:
            current[m.group(1)] = int(m.group(2))
    return stats


def _run_perfdhcp(net: NetnsPair, argv: list[str], timeout: float) -> PerfdhcpResult:
    proc = net.run("cli", argv, timeout=timeout)
    text = proc.stdout + "\n" + proc.stderr
    stats = parse_perfdhcp_stats(text)
    # perfdhcp exits 3 when packets were dropped: that is a measurement, not an error. Anything
    # else without statistics means it never ran (bad option, interface missing).
    if proc.returncode not in (0, 3) or not stats:
        raise PerfdhcpError(f"perfdhcp failed (exit {proc.returncode}) in {net.cli_ns}: "
                            f"{' '.join(argv)}\n{_tail(text)}")
    return PerfdhcpResult(argv, proc.returncode, proc.stdout, proc.stderr, stats)


def perfdhcp4_argv(net: NetnsPair, *, clients: int, base_mac: str = DEFAULT_BASE_MAC, rate: int = 100,
                   exchanges: int | None = None, release_rate: int | None = None,
                   renew_rate: int | None = None, local: str | None = None,
                   exit_wait_us: int = 300_000, extra: Sequence[str] = ()) -> list[str]:
    """perfdhcp -4 arguments: ``clients`` distinct clients from ``base_mac`` on, one DORA each.

    perfdhcp -n counts every exchange it starts (DORAs, and renews / releases with -f / -F);
    with ``-n clients`` and no -f / -F, clients 0..clients-1 each start one DORA. ``-W`` (exit
    wait, microseconds) lets the last exchanges finish (REQUEST/ACK included) before it exits.
    """
    n = exchanges if exchanges is not None else clients
    argv = [PERFDHCP, "-4", "-r", str(rate), "-R", str(clients), "-n", str(n),
            "-b", f"mac={base_mac}", "-W", str(exit_wait_us), "-l", local or net.cli_if]
    if release_rate:
        argv += ["-F", str(release_rate)]
    if renew_rate:
        argv += ["-f", str(renew_rate)]
    argv += list(extra)
    if local:
        # perfdhcp -l ADDRESS (not an interface) needs the server address as last argument.
        argv.append(net.srv_addr4)
    return argv


def run_perfdhcp4(net: NetnsPair, *, clients: int, base_mac: str = DEFAULT_BASE_MAC, rate: int = 100,
                  exchanges: int | None = None, release_rate: int | None = None,
                  renew_rate: int | None = None, local: str | None = None, exit_wait_us: int = 300_000,
                  extra: Sequence[str] = (), timeout: float = 120.0) -> PerfdhcpResult:
    """Run perfdhcp -4 in the client namespace (see ``perfdhcp4_argv``)."""
    argv = perfdhcp4_argv(net, clients=clients, base_mac=base_mac, rate=rate, exchanges=exchanges,
                          release_rate=release_rate, renew_rate=renew_rate, local=local,
                          exit_wait_us=exit_wait_us, extra=extra)
    return _run_perfdhcp(net, argv, timeout)


def perfdhcp6_argv(net: NetnsPair, *, clients: int, base_mac: str = DEFAULT_BASE_MAC, rate: int = 100,
                   exchanges: int | None = None, lease_type: str = "address-and-prefix",
                   release_rate: int | None = None, renew_rate: int | None = None,
                   duid_header: str = DUID_LLT_HEADER, exit_wait_us: int = 300_000,
                   extra: Sequence[str] = ()) -> list[str]:
    """perfdhcp -6 arguments: ``clients`` DUIDs (see ``client_duids``), one SARR each."""
    n = exchanges if exchanges is not None else clients
    duid = (duid_header + ":" + base_mac).replace(":", "")
    argv = [PERFDHCP, "-6", "-r", str(rate), "-R", str(clients), "-n", str(n),
            "-b", f"duid={duid}", "-b", f"mac={base_mac}", "-e", lease_type,
            "-W", str(exit_wait_us), "-l", net.cli_if]
    if release_rate:
        argv += ["-F", str(release_rate)]
    if renew_rate:
        argv += ["-f", str(renew_rate)]
    return [*argv, *extra]


def run_perfdhcp6(net: NetnsPair, *, clients: int, base_mac: str = DEFAULT_BASE_MAC, rate: int = 100,
                  exchanges: int | None = None, lease_type: str = "address-and-prefix",
                  release_rate: int | None = None, renew_rate: int | None = None,
                  duid_header: str = DUID_LLT_HEADER, exit_wait_us: int = 300_000,
                  extra: Sequence[str] = (), timeout: float = 120.0) -> PerfdhcpResult:
    """Run perfdhcp -6 in the client namespace (see ``perfdhcp6_argv``)."""
    argv = perfdhcp6_argv(net, clients=clients, base_mac=base_mac, rate=rate, exchanges=exchanges,
                          lease_type=lease_type, release_rate=release_rate, renew_rate=renew_rate,
                          duid_header=duid_header, exit_wait_us=exit_wait_us, extra=extra)
    return _run_perfdhcp(net, argv, timeout)


def kea_config_on_link(config: dict[str, Any], net: NetnsPair) -> dict[str, Any]:
    """A copy of a Kea Dhcp4/Dhcp6 config that serves ``net``'s link from the server namespace.

    Sets ``interfaces-config.interfaces`` to the server's veth and, for Dhcp6, gives every subnet
    without a relay or interface ``"interface": <veth>``: perfdhcp -6 talks to the server directly
    from a link-local address, and Kea selects the subnet of a direct v6 client by interface.
    """
    cfg = copy.deepcopy(config)
    for key in ("Dhcp4", "Dhcp6"):
        section = cfg.get(key)
        if section is None:
            continue
        section.setdefault("interfaces-config", {})["interfaces"] = [net.srv_if]
        if key == "Dhcp6":
            subnets = list(section.get("subnet6", []))
            for shared in section.get("shared-networks", []):
                subnets += shared.get("subnet6", [])
            for subnet in subnets:
                if "interface" not in subnet and "relay" not in subnet:
                    subnet["interface"] = net.srv_if
    return cfg
