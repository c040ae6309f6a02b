"""``--pause-service`` / ``--reclaim`` against a real Kea 2.2 answering relayed DHCPv4 on loopback.

A DHCP client (the harness's relay client) asks during the load and gets no answer, asks after
and gets an ACK; the same after a failed load and after Ctrl-C / SIGTERM of the CLI process.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kea_etl.load.api import make_kea_loader
from kea_etl.load.pause import ServiceWindow
from kea_etl.records import Lease4
from kea_etl.report import RunReport
from tests.harness import clock
from tests.harness.dhcp_client import RelayClient
from tests.harness.kea import KeaServer

pytestmark = pytest.mark.kea

REPO = Path(__file__).resolve().parents[2]
NOW = clock.now()


def relay_address() -> str:
    return f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"


@pytest.fixture
def dhcp_kea(kea_factory: Callable[..., KeaServer]) -> tuple[KeaServer, str]:
    """Kea answering relayed DHCPv4 on lo; subnet 10.0.0.0/8 (room for big lease files)."""
    relay = relay_address()
    subnets = [{"id": 1, "subnet": "10.0.0.0/8", "pools": [{"pool": "10.0.0.10 - 10.0.0.250"}],
                "relay": {"ip-addresses": [relay]}}]
    srv = kea_factory(family=4, subnets=subnets,
                      extra={"interfaces-config": {"interfaces": ["lo"],
                                                   "dhcp-socket-type": "udp"}})
    return srv, relay


def leases(n: int, *, expired: int = 0) -> Iterator[Lease4]:
    for i in range(n):
        valid = 3600
        cltt = NOW - 7200 if i < expired else NOW
        yield Lease4(address=f"10.1.{i // 250}.{i % 250 + 1}", hwaddr=f"02:01:00:00:{i >> 8:02x}:"
                     f"{i & 255:02x}", valid_lft=valid, cltt=cltt, subnet_id=1)


def dora(relay: str, mac: str, *, quick: bool = False) -> str | None:
    with RelayClient(relay, "127.0.0.1", timeout=0.5 if quick else 1.0,
                     retries=0 if quick else 2) as c:
        reply: str | None = c.dora(mac)["reply"]
        return reply


def test_no_answer_during_the_load_and_answers_after(dhcp_kea: tuple[KeaServer, str],
                                                     tmp_path: Path) -> None:
    srv, relay = dhcp_kea
    assert dora(relay, "02:00:00:00:00:01") == "ACK", "Kea does not answer before the load"
    loader = make_kea_loader(srv.socket_url, report_path=str(tmp_path / "r.json"), workers=2)
    window = ServiceWindow(loader, pause=True, max_period=60, reclaim=True)
    during: list[str | None] = []

    def stream() -> Iterator[Lease4]:
        for i, lease in enumerate(leases(200, expired=20)):
            if i == 120:
                during.append(dora(relay, "02:00:00:00:00:02", quick=True))
            yield lease

    report = RunReport()
    report.read = 200
    try:
        window.load(stream(), report)
        window.commit()
    except BaseException:
        window.abort()
        raise
    assert during == [None], "Kea answered a client while paused"
    assert dora(relay, "02:00:00:00:00:03") == "ACK", "Kea does not answer after the load"
    pause = report.extra["pause"]
    assert pause["enabled_again"] is True and pause["targets"] == [srv.socket_url]
    assert isinstance(pause["seconds"], float) and pause["seconds"] > 0
    # --reclaim: the 20 leases that had expired before the load are reclaimed (state 2) now
    states = [lease["state"] for lease in srv.leases() if lease["ip-address"].startswith("10.1.")]
    assert len(states) == 200
    assert states.count(2) == 20
    assert list(report.extra["reclaim"]) == [srv.socket_url]


def test_service_comes_back_after_a_failed_load(dhcp_kea: tuple[KeaServer, str],
                                                tmp_path: Path) -> None:
    srv, relay = dhcp_kea
    loader = make_kea_loader(srv.socket_url, report_path=str(tmp_path / "r.json"))
    window = ServiceWindow(loader, pause=True, max_period=60)

    def stream() -> Iterator[Lease4]:
        yield from leases(60)
        raise RuntimeError("source broke mid-way")

    with pytest.raises(RuntimeError, match="mid-way"):
        try:
            window.load(stream(), RunReport())
        except BaseException:
            window.abort()  # what the orchestrator does for any exception
            raise
    assert dora(relay, "02:00:00:00:00:04") == "ACK"


def test_max_period_is_renewed_while_the_load_runs(dhcp_kea: tuple[KeaServer, str],
                                                   tmp_path: Path) -> None:
    srv, relay = dhcp_kea

    def run(refresh: bool) -> str | None:
        loader = make_kea_loader(srv.socket_url, report_path=str(tmp_path / f"{refresh}.json"))
        window = ServiceWindow(loader, pause=True, max_period=2, refresh=refresh)
        seen: list[str | None] = []

        def stream() -> Iterator[Lease4]:
            yield from leases(5)
            time.sleep(3.5)  # a load longer than max-period
            seen.append(dora(relay, f"02:00:00:00:01:0{int(refresh)}", quick=True))
        try:
            window.load(stream(), RunReport())
            window.commit()
        finally:
            window.abort()
        return seen[0]

    # without renewal Kea turns service back on by itself after max-period (the safety net) ...
    assert run(refresh=False) == "ACK"
    srv.command("lease4-wipe")
    # ... with renewal the window stays closed for the whole load
    assert run(refresh=True) is None


def write_leases(path: Path, n: int) -> None:
    with path.open("w") as fh:
        fh.write("authoring-byte-order little-endian;\n")
        for i in range(n):
            fh.write(f"lease 10.2.{i // 250}.{i % 250 + 1} {{\n  starts 5 2026/11/27 20:00:00;\n"
                     f"  ends 6 2036/11/28 20:00:00;\n  cltt 5 2026/11/27 20:00:00;\n"
                     f"  binding state active;\n"
                     f"  hardware ethernet 02:02:00:{i >> 16:02x}:{(i >> 8) & 255:02x}:"
                     f"{i & 255:02x};\n}}\n")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_service_comes_back_after_ctrl_c(dhcp_kea: tuple[KeaServer, str], tmp_path: Path,
                                        sig: int) -> None:
    srv, relay = dhcp_kea
    src = tmp_path / "dhcpd.leases"
    write_leases(src, 15_000)  # far more than can be loaded before the signal arrives
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "kea_etl.cli", "migrate", str(src), "--to",
         f"kea:{srv.socket_url}", "--pause-service", "--workers", "1", "--no-progress",
         "--report", str(tmp_path / "r.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            page = srv.command("lease4-get-page", {"from": "start", "limit": 1})
            if page.get("result") == 0:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        assert dora(relay, "02:00:00:00:00:05", quick=True) is None, "answered while paused"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (out, err)
    assert b"Interrupted" in err and b"--resume" in err
    assert dora(relay, "02:00:00:00:00:06") == "ACK", "service not enabled again after the signal"
    # interrupted mid-load: some leases are in, the rest is left for --resume
    stats = srv.command("stat-lease4-get", {"subnet-id": 1})["arguments"]["result-set"]
    row = dict(zip(stats["columns"], stats["rows"][0], strict=True))
    assert 0 < row["assigned-addresses"] < 15_000
    assert not (tmp_path / "r.json").exists()
    assert (tmp_path / "r.json.state.sqlite").exists()
