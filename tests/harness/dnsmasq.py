"""Real dnsmasq (Debian's package) serving DHCP in a test's network namespace.

``Dnsmasq(net, conf_text, lease_path)`` is a context manager: it writes the configuration, runs
``dnsmasq --keep-in-foreground`` in the server namespace on the server's veth (DNS off:
``port=0`` is added), in the suite's time (:func:`tests.harness.clock.server_argv`, faketime under
``make test-later``), and stops it on exit. dnsmasq rewrites its lease file after every change,
so the file is complete once the clients have their ACKs.

Seen with dnsmasq 2.90 (Debian 12): the suite's raw relay client (giaddr 10.99.0.2) is served
from the ``dhcp-range`` of 10.99.0.0/24, and perfdhcp -6 ``-e address-only`` gets IA_NA leases
from a v6 ``dhcp-range`` on the server's /64 (perfdhcp counts the REPLYs as drops, but dnsmasq
logs them sent and writes the leases).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

from tests.harness import clock
from tests.harness.netns import NetnsPair


def dnsmasq_available() -> str | None:
    """None when dnsmasq can run here, else why not (for pytest.skip)."""
    if shutil.which("dnsmasq") is None:
        return "'dnsmasq' is not installed (scripts/install-deps installs Debian's package)"
    return None


@dataclass
class Dnsmasq:
    net: NetnsPair
    conf_text: str
    lease_path: Path
    workdir: Path | None = None
    proc: Popen[str] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.workdir = self.workdir or self.lease_path.parent
        self.conf_path = self.workdir / "dnsmasq.conf"
        self.pid_path = self.workdir / "dnsmasq.pid"
        self.log_path = self.workdir / "dnsmasq.log"

    def argv(self) -> list[str]:
        return clock.server_argv([
            "dnsmasq", "--keep-in-foreground", f"--conf-file={self.conf_path}",
            f"--dhcp-leasefile={self.lease_path}", f"--pid-file={self.pid_path}",
            "--user=root", "--group=root", f"--interface={self.net.srv_if}", "--bind-interfaces",
            f"--log-facility={self.log_path}", "--log-dhcp"])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, *, timeout: float = 10.0) -> Dnsmasq:
        text = self.conf_text if "port=" in self.conf_text else "port=0\n" + self.conf_text
        self.conf_path.write_text(text)
        self.pid_path.unlink(missing_ok=True)
        check = self.net.run("srv", ["dnsmasq", "--test", f"--conf-file={self.conf_path}"])
        if check.returncode != 0:
            raise RuntimeError(f"dnsmasq --test refused the configuration: {check.stderr}")
        self.proc = self.net.popen("srv", self.argv())
        deadline = time.monotonic() + timeout
        while not (self.pid_path.exists() and self.pid_path.read_text().strip()):
            if self.proc.poll() is not None:
                raise RuntimeError(f"dnsmasq exited {self.proc.returncode}:\n{self.log()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"dnsmasq wrote no pid file in {timeout} s")
            time.sleep(0.05)
        time.sleep(0.2)  # sockets bound after the pid file is written
        return self

    def stop(self, *, timeout: float = 10.0) -> None:
        if self.proc is None:
            return
        pid = int(self.pid_path.read_text().strip()) if self.pid_path.exists() else self.proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except Exception:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> Dnsmasq:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def read_leases(text: str) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """dnsmasq.leases read with plain ``split()``, independently of kea_etl: v4 MAC ->
    {"address", "expiry", "client_id", "hostname"} and v6 DUID -> address."""
    v4: dict[str, dict[str, str]] = {}
    v6: dict[str, str] = {}
    after_duid = False
    for line in text.splitlines():
        f = line.split()
        if not f:
            continue
        if f[0] == "duid":
            after_duid = True
            continue
        if after_duid:
            v6[f[4]] = f[2]
        else:
            v4[f[1]] = {"address": f[2], "expiry": f[0], "hostname": f[3], "client_id": f[4]}
    return v4, v6
