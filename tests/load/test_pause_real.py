"""``--pause-service`` / ``--reclaim`` against a real Kea 2.2 answering relayed DHCPv4 in a network
namespace (its control socket stays on the host's filesystem).

A DHCP client (the harness's relay client, in the client namespace) asks during the load and gets
no answer, asks after and gets an ACK; the same after a failed load and after Ctrl-C / SIGTERM of
the CLI process.
"""

from __future__ import annotations

import os
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
from tests.harness.dhcp_client import run_client_ops
from tests.harness.kea import KeaServer
from tests.harness.leasefile import lease_block
from tests.harness.netns import NetnsPair, netns_available

pytestmark = [pytest.mark.kea, pytest.mark.netns]

REPO = Path(__file__).resolve().parents[2]
NOW = clock.now()


@pytest.fixture
def dhcp_kea(kea_factory: Callable[..., KeaServer]) -> Iterator[tuple[KeaServer, NetnsPair]]:
    """Kea answering relayed DHCPv4 in the server namespace; subnet 10.0.0.0/8 (room for big
    lease files), whose relay is the client namespace's address."""
    if (why := netns_available()) is not None:
        pytest.skip(why)
    with NetnsPair(tag="pause") as net:
        subnets = [{"id": 1, "subnet": "10.0.0.0/8", "pools": [{"pool": "10.0.0.10 - 10.0.0.250"}],
                    "relay": {"ip-addresses": [net.cli_addr4]}}]
        srv = kea_factory(family=4, subnets=subnets, argv_prefix=net.argv("srv", []),
                          extra={"interfaces-config": {"interfaces": [net.srv_if],
                                                       "dhcp-socket-type": "udp"}})
        yield srv, net


def leases(n: int, *, expired: int = 0) -> Iterator[Lease4]:
    for i in range(n):
        valid = 3600
        cltt = NOW - 7200 if i < expired else NOW
        yield Lease4(address=f"10.1.{i // 250}.{i % 250 + 1}", hwaddr=f"02:01:00:00:{i >> 8:02x}:"
                     f"{i & 255:02x}", valid_lft=valid, cltt=cltt, subnet_id=1)


def dora(net: NetnsPair, mac: str, *, quick: bool = False) -> str | None:
    [result] = run_client_ops(net, [{"op": "dora", "mac": mac}], timeout=0.5 if quick else 1.0,
                              retries=0 if quick else 2)
    reply: str | None = result["reply"]
    return reply


def test_no_answer_during_the_load_and_answers_after(dhcp_kea: tuple[KeaServer, NetnsPair],
                                                     tmp_path: Path) -> None:
    srv, net = dhcp_kea
    assert dora(net, "02:00:00:00:00:01") == "ACK", "Kea does not answer before the load"
    loader = make_kea_loader(srv.socket_url, report_path=str(tmp_path / "r.json"), workers=2)
    window = ServiceWindow(loader, pause=True, max_period=60, reclaim=True)
    during: list[str | None] = []

    def stream() -> Iterator[Lease4]:
        for i, lease in enumerate(leases(200, expired=20)):
            if i == 120:
                during.append(dora(net, "02:00:00:00:00:02", quick=True))
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
    assert dora(net, "02:00:00:00:00:03") == "ACK", "Kea does not answer after the load"
    pause = report.pause
    assert pause["enabled_again"] is True and pause["targets"] == [srv.socket_url]
    assert isinstance(pause["seconds"], float) and pause["seconds"] > 0
    # --reclaim: the 20 leases that had expired before the load are reclaimed (state 2) now
    states = [lease["state"] for lease in srv.leases() if lease["ip-address"].startswith("10.1.")]
    assert len(states) == 200
    assert states.count(2) == 20
    assert list(report.reclaim) == [srv.socket_url]


def test_service_comes_back_after_a_failed_load(dhcp_kea: tuple[KeaServer, NetnsPair],
                                                tmp_path: Path) -> None:
    srv, net = dhcp_kea
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
    assert dora(net, "02:00:00:00:00:04") == "ACK"


def test_max_period_is_renewed_while_the_load_runs(dhcp_kea: tuple[KeaServer, NetnsPair],
                                                   tmp_path: Path) -> None:
    srv, net = dhcp_kea

    def run(refresh: bool) -> list[str | None]:
        """The answers to a client asking during a load that lasts past max-period: without
        renewal, until Kea answers; with it, once the window has been renewed three times."""
        loader = make_kea_loader(srv.socket_url, report_path=str(tmp_path / f"{refresh}.json"))
        window = ServiceWindow(loader, pause=True, max_period=2, refresh=refresh)
        seen: list[str | None] = []
        mac = f"02:00:00:00:01:0{int(refresh)}"

        def stream() -> Iterator[Lease4]:
            yield from leases(5)
            deadline = time.monotonic() + 60  # not a timing assertion: a stuck run must end
            if refresh:
                # renewals come at least a second apart, so three of them outlast max-period
                while window.refreshes < 3 and time.monotonic() < deadline:
                    time.sleep(0.05)
                seen.append(dora(net, mac, quick=True))
                return
            while (not seen or seen[-1] is None) and time.monotonic() < deadline:
                seen.append(dora(net, mac, quick=True))
        try:
            window.load(stream(), RunReport())
            window.commit()
        finally:
            window.abort()
        return seen

    # without renewal Kea turns service back on by itself after max-period (the safety net) ...
    answers = run(refresh=False)
    assert answers[0] is None and answers[-1] == "ACK", answers
    srv.command("lease4-wipe")
    # ... with renewal the window stays closed past max-period, for the whole load
    assert run(refresh=True) == [None]


def write_leases(path: Path, n: int) -> None:
    granted = clock.now() - 3600
    ten_years = 10 * 365 * 86400
    with path.open("w") as fh:
        fh.write("authoring-byte-order little-endian;\n")
        for i in range(n):
            fh.write(lease_block(f"10.2.{i // 250}.{i % 250 + 1}", starts=granted,
                                 ends=granted + ten_years, cltt=granted,
                                 mac=f"02:02:00:{i >> 16:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}"))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_service_comes_back_after_ctrl_c(dhcp_kea: tuple[KeaServer, NetnsPair], tmp_path: Path,
                                        sig: int) -> None:
    srv, net = dhcp_kea
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
        assert dora(net, "02:00:00:00:00:05", quick=True) is None, "answered while paused"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (out, err)
    assert b"Interrupted" in err and b"--resume" in err
    assert dora(net, "02:00:00:00:00:06") == "ACK", "service not enabled again after the signal"
    # interrupted mid-load: some leases are in, the rest is left for --resume
    stats = srv.command("stat-lease4-get", {"subnet-id": 1})["arguments"]["result-set"]
    row = dict(zip(stats["columns"], stats["rows"][0], strict=True))
    assert 0 < row["assigned-addresses"] < 15_000
    assert not (tmp_path / "r.json").exists()
    assert (tmp_path / "r.json.state.sqlite").exists()
