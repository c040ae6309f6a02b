"""A server is not trusted to be Kea (issue 13, Hostile servers): bounded reply size, a deadline
for the whole reply, bounded JSON depth, paging that must advance.

The servers here are tiny in-process UNIX-socket and HTTP servers (the behaviour under test is
kea-etl's, not Kea's). Work is bounded by counting (bytes the server managed to send, pages
asked for), never by the clock; every hostile server stops on its own after a bounded amount,
so a client without the guard fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kea_etl.errors import KeaEndpointError, KeaTransportError
from kea_etl.export import KeaTarget, run_export
from kea_etl.export.kea_api import iter_lease_pages
from kea_etl.kea import KeaClient
from kea_etl.kea.transports import FakeTransport, HttpTransport, UnixSocketTransport
from kea_etl.reconcile import reconcile_kea

KEA_ETL = [sys.executable, "-m", "kea_etl.cli"]
MB = 1 << 20

#: a hostile server's behaviour: (connection, request bytes, counters) -> None
Behaviour = Callable[[socket.socket, dict[str, int]], None]


def _endless(conn: socket.socket, sent: dict[str, int], *, head: bytes = b"",
             limit: int = 64 * MB) -> None:
    """Send ``head`` then 'x' until the client hangs up or ``limit`` bytes have gone."""
    block = b"[" + b"1," * 32767
    conn.sendall(head)
    try:
        while sent["bytes"] < limit:
            conn.sendall(block)
            sent["bytes"] += len(block)
    except OSError:
        pass  # the client stopped reading and closed: what we want


def _trickle(conn: socket.socket, sent: dict[str, int], *, head: bytes = b"",
             every: float = 0.05) -> None:
    """A byte every ``every`` seconds (each gap shorter than the client's deadline) until the
    client hangs up: the server never finishes, so only a whole-reply deadline ends the call."""
    conn.sendall(head)
    try:
        while True:
            conn.sendall(b" ")
            sent["bytes"] += 1
            time.sleep(every)
    except OSError:
        pass


def _deep(conn: socket.socket, sent: dict[str, int], *, head: bytes = b"") -> None:
    conn.sendall(head + b"[" * 100_000 + b"]" * 100_000)


class _Server:
    """Accepts connections in a thread; each gets ``behaviour`` after its request is read."""

    def __init__(self, sock: socket.socket, behaviour: Callable[..., None], http: bool) -> None:
        self.sock = sock
        self.behaviour = behaviour
        self.http = http
        self.sent = {"bytes": 0, "connections": 0}
        self.done = threading.Event()  # set when a connection's behaviour has ended
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.sent["connections"] += 1
                conn.settimeout(10)
                try:
                    conn.recv(65536)  # the request (small, one read is enough here)
                except OSError:
                    continue
                self.behaviour(conn, self.sent)
            self.done.set()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def unix_server(tmp_path: Path) -> Iterator[Callable[[Callable[..., None]], tuple[str, _Server]]]:
    servers: list[_Server] = []

    def start(behaviour: Callable[..., None]) -> tuple[str, _Server]:
        path = str(tmp_path / f"kea{len(servers)}.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.listen(4)
        servers.append(_Server(s, behaviour, http=False))
        return path, servers[-1]

    yield start
    for s in servers:
        s.close()


@pytest.fixture
def http_server() -> Iterator[Callable[[Callable[..., None]], tuple[str, _Server]]]:
    servers: list[_Server] = []

    def start(behaviour: Callable[..., None]) -> tuple[str, _Server]:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        servers.append(_Server(s, behaviour, http=True))
        return f"http://127.0.0.1:{s.getsockname()[1]}/", servers[-1]

    yield start
    for s in servers:
        s.close()


HTTP_CLOSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
HTTP_CHUNKED = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")


def _chunked_endless(conn: socket.socket, sent: dict[str, int]) -> None:
    block = b"[" + b"1," * 32767
    conn.sendall(HTTP_CHUNKED)
    try:
        while sent["bytes"] < 64 * MB:
            conn.sendall(b"%x\r\n" % len(block) + block + b"\r\n")
            sent["bytes"] += len(block)
    except OSError:
        pass


# ---- reply size --------------------------------------------------------------------------

def test_unix_endless_reply_is_capped(unix_server: Any) -> None:
    """Was: read to EOF whatever came (12.4 GB of RSS in 40 s)."""
    path, server = unix_server(_endless)
    t = UnixSocketTransport(path, timeout=20, max_reply=1 * MB)
    with pytest.raises(KeaEndpointError) as exc:
        t.request("version-get")
    assert str(exc.value) == (f"unix://{path} sent more than 1 MB in answer to version-get; "
                              "stopped reading (not a Kea reply)")
    assert server.done.wait(30)
    assert server.sent["bytes"] < 16 * MB  # the client stopped reading soon after the cap


@pytest.mark.parametrize("how", ["read-to-close", "chunked", "content-length"])
def test_http_endless_reply_is_capped(http_server: Any, how: str) -> None:
    if how == "read-to-close":
        url, server = http_server(lambda c, s: _endless(c, s, head=HTTP_CLOSE))
    elif how == "chunked":
        url, server = http_server(_chunked_endless)
    else:  # announces 1 TB: must not be allocated, must not be read
        url, server = http_server(lambda c, s: _endless(
            c, s, head=b"HTTP/1.1 200 OK\r\nContent-Length: 1099511627776\r\n\r\n"))
    t = HttpTransport(url, timeout=20, max_reply=1 * MB)
    with pytest.raises(KeaEndpointError) as exc:
        t.request("version-get")
    assert str(exc.value) == (f"{url.rstrip('/')} sent more than 1 MB in answer to version-get; "
                              "stopped reading (not a Kea reply)")
    t.close()
    assert server.done.wait(30)
    assert server.sent["bytes"] < 16 * MB


# ---- whole-reply deadline ----------------------------------------------------------------

def test_unix_trickle_hits_the_whole_reply_deadline(unix_server: Any) -> None:
    """Was: the timeout was per recv, so one byte every 2 s never timed out."""
    path, server = unix_server(_trickle)
    t = UnixSocketTransport(path, timeout=0.5)
    with pytest.raises(KeaTransportError) as exc:
        t.request("version-get")
    assert str(exc.value) == f"timed out after 0.5s waiting for version-get on {path}"
    assert server.done.wait(30)  # the trickle ended: the client hung up


def test_http_trickle_hits_the_whole_reply_deadline(http_server: Any) -> None:
    url, server = http_server(lambda c, s: _trickle(c, s, head=HTTP_CLOSE))
    t = HttpTransport(url, timeout=0.5)
    with pytest.raises(KeaTransportError) as exc:
        t.request("version-get")
    assert str(exc.value) == f"timed out after 0.5s waiting for version-get from {url.rstrip('/')}"
    t.close()
    assert server.done.wait(30)  # the trickle ended: the client hung up


# ---- JSON depth ---------------------------------------------------------------------------

def test_deeply_nested_json_is_an_error_not_a_recursion_error(unix_server: Any,
                                                              http_server: Any) -> None:
    path, _ = unix_server(_deep)
    with pytest.raises(KeaEndpointError, match="JSON nested deeper than kea-etl decodes"):
        UnixSocketTransport(path, timeout=20).request("version-get")
    url, _ = http_server(lambda c, s: _deep(c, s, head=HTTP_CLOSE))
    with pytest.raises(KeaEndpointError, match="JSON nested deeper than kea-etl decodes"):
        HttpTransport(url, timeout=20).request("version-get")


def test_cli_kea_deep_json_is_exit_2_one_line(unix_server: Any) -> None:
    """Was: ``kea-etl kea`` crashed with a RecursionError traceback."""
    path, _ = unix_server(_deep)
    r = subprocess.run([*KEA_ETL, "kea", "version-get", "--url", f"unix://{path}"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr == (f"Error: unix://{path} answered version-get with JSON nested deeper "
                        "than kea-etl decodes: not a Kea reply\n")


# ---- paging must advance --------------------------------------------------------------------

def _stuck_kea(calls: dict[str, int]) -> Callable[[str, Any], Any]:
    """A Kea whose lease4-get-page always answers the same full page (gives up after 50)."""
    def lease(ip: str) -> dict[str, Any]:
        return {"ip-address": ip, "hw-address": "02:00:00:00:00:01", "valid-lft": 3600,
                "cltt": 1_700_000_000, "subnet-id": 1, "state": 0, "hostname": "",
                "fqdn-fwd": False, "fqdn-rev": False}

    def handler(command: str, arguments: Any) -> Any:
        calls[command] = calls.get(command, 0) + 1
        if command == "version-get":
            return {"result": 0, "text": "2.2.0"}
        if command == "config-get":
            return {"result": 0, "arguments": {"Dhcp4": {"subnet4": [
                {"id": 1, "subnet": "192.0.2.0/24"}]}}}
        if command == "lease4-get-page":
            if calls[command] > 50:
                return {"result": 1, "text": "the test server gave up"}
            return {"result": 0, "arguments": {"count": 2, "leases": [
                lease("192.0.2.9"), lease("192.0.2.10")]}}
        return {"result": 2, "text": f"'{command}' command not supported."}
    return handler


STUCK = ("fake://stuck: lease4-get-page from 192.0.2.10 answered a page ending at 192.0.2.10, "
         "which is not after 192.0.2.10: the server's paging does not advance; stopped")


def test_paging_that_does_not_advance_stops_the_walk() -> None:
    calls: dict[str, int] = {}
    client = KeaClient(FakeTransport(_stuck_kea(calls), url="fake://stuck"), retries=0)
    with pytest.raises(KeaEndpointError) as exc:
        list(iter_lease_pages(client, 4, page_size=2))  # type: ignore[arg-type]
    assert str(exc.value) == STUCK
    assert calls["lease4-get-page"] == 2
    with pytest.raises(KeaEndpointError) as exc:
        list(client.iter_leases4(page_size=2))
    assert str(exc.value) == STUCK


def test_export_names_the_server_whose_paging_does_not_advance(tmp_path: Path) -> None:
    """Was: export looped forever (580 MB of CSV in 40 s)."""
    calls: dict[str, int] = {}
    report = run_export([KeaTarget("fake://stuck")], families=(4,), csv_dir=tmp_path,
                        page_size=2, stats=False, export_date=date(2026, 1, 1),
                        client_factory=lambda url, service: KeaClient(
                            FakeTransport(_stuck_kea(calls), url=url), retries=0))
    assert report.exit_code() == 1
    [result] = report.results
    assert result.error is not None and STUCK in result.error, result.error
    assert calls["lease4-get-page"] == 2
    assert not list(tmp_path.rglob("*.csv"))  # nothing half-written is left


def test_reconcile_names_the_server_whose_paging_does_not_advance() -> None:
    calls: dict[str, int] = {}
    client = KeaClient(FakeTransport(_stuck_kea(calls), url="fake://stuck"), retries=0)
    config = {"Dhcp4": {"subnet4": [{"id": 1, "subnet": "192.0.2.0/24"}]}}
    with pytest.raises(KeaEndpointError) as exc:
        reconcile_kea([], client, kea_config=config, page_size=2)  # type: ignore[arg-type]
    assert str(exc.value) == STUCK
    assert calls["lease4-get-page"] == 2


def test_reservation_paging_that_does_not_advance_stops() -> None:
    def handler(command: str, arguments: Any) -> Any:
        return {"result": 0, "arguments": {
            "count": 1, "hosts": [{"hw-address": "02:00:00:00:00:01", "subnet-id": 1}],
            "next": {"from": 7, "source-index": 1}}}
    client = KeaClient(FakeTransport(handler, url="fake://stuck"), retries=0)
    with pytest.raises(KeaEndpointError, match="reservation-get-page for subnet 1 answered next"):
        for n, _ in enumerate(client.iter_reservations(1)):
            assert n < 50


def test_a_good_server_pages_to_the_end() -> None:
    leases = [{"ip-address": f"192.0.2.{i}", "subnet-id": 1} for i in range(1, 8)]

    def handler(command: str, arguments: Any) -> Any:
        start = arguments["from"]
        after = [x for x in leases if start == "start"
                 or int(x["ip-address"].rsplit(".", 1)[1]) > int(start.rsplit(".", 1)[1])]
        page = after[:arguments["limit"]]
        return {"result": 0 if page else 3, "arguments": {"count": len(page), "leases": page}}
    client = KeaClient(FakeTransport(handler, url="fake://good"), retries=0)
    assert sum(len(p) for p in client.iter_lease4_pages(page_size=3)) == 7
    assert json.dumps(leases)  # (the fixture itself is plain JSON)
