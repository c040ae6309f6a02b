"""The Kea client against real servers started by the harness: Kea 2.x over the UNIX socket and
through kea-ctrl-agent, Kea 3.0 over its UNIX socket and its own HTTP control socket."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kea_etl.errors import (
    KeaAuthError,
    KeaCommandError,
    KeaConflictError,
    KeaEndpointError,
    KeaTransportError,
    KeaUnsupportedError,
)
from kea_etl.kea import KeaClient
from kea_etl.records import Lease4
from tests.harness import clock
from tests.harness.kea import KeaServer, free_port

SECRET = "kea-etl-test-Pa55"


def _lease4(i: int, subnet: int = 1) -> dict[str, Any]:
    base = "192.0.2" if subnet == 1 else "198.51.100"
    return {"ip-address": f"{base}.{10 + i}", "hw-address": f"02:00:00:00:{subnet:02x}:{i:02x}",
            "valid-lft": 3600, "subnet-id": subnet}


class AuthAgent:
    """A kea-ctrl-agent with basic auth (and optionally TLS) in front of a running Kea 2.x."""

    def __init__(self, srv: KeaServer, tmp: Path, *, auth: bool = True,
                 tls: dict[str, Any] | None = None) -> None:
        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        agent: dict[str, Any] = {
            "http-host": "127.0.0.1", "http-port": self.port,
            "control-sockets": {srv.service: {"socket-type": "unix",
                                              "socket-name": str(srv.socket_path)}},
            "loggers": [{"name": "kea-ctrl-agent", "severity": "WARN",
                         "output_options": [{"output": str(tmp / "ca.log")}]}],
        }
        if auth:
            agent["authentication"] = {"type": "basic", "realm": "kea",
                                       "clients": [{"user": "u", "password": SECRET}]}
        if tls:
            agent.update(tls)
        (tmp / "ca.json").write_text(json.dumps({"Control-agent": agent}))
        env = dict(os.environ, KEA_PIDFILE_DIR=str(tmp), KEA_LOCKFILE_DIR=str(tmp),
                   KEA_LOG_FILE_DIR=str(tmp), KEA_CONTROL_SOCKET_DIR=str(srv.run_dir))
        self.proc = subprocess.Popen(["kea-ctrl-agent", "-c", str(tmp / "ca.json")], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log = (tmp / "ca.log").read_text() if (tmp / "ca.log").exists() else ""
                    self.close()
                    pytest.fail(f"kea-ctrl-agent did not start: {log[-2000:]}")
                time.sleep(0.05)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def auth_agent(kea4: KeaServer, tmp_path: Path) -> Iterator[AuthAgent]:
    agent = AuthAgent(kea4, tmp_path)
    yield agent
    agent.close()


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_pki(d: Path) -> dict[str, str]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (openssl CLI)."""
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-days", "2", "-subj", "/CN=test-ca",
             "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"))
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1"),
                      ("client", "extendedKeyUsage=clientAuth")):
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-subj", f"/CN={name}",
                 "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"))
        (d / f"{name}.ext").write_text(ext + "\n")
        _openssl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.pem"),
                 "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "2",
                 "-extfile", str(d / f"{name}.ext"), "-out", str(d / f"{name}.pem"))
    return {n: str(d / n) for n in ("ca.pem", "server.pem", "server.key", "client.pem",
                                    "client.key")}


# ---------------------------------------------------------------------- version-get everywhere
@pytest.mark.kea
def test_version_get_over_unix_socket(kea4: KeaServer) -> None:
    c = KeaClient.from_url(kea4.socket_url)
    assert c.version_get() == kea4.version
    assert c.version() == tuple(int(p) for p in kea4.version.split("."))


@pytest.mark.kea
def test_version_get_through_ctrl_agent(kea4_ca: KeaServer) -> None:
    assert kea4_ca.http_url
    with KeaClient.from_url(kea4_ca.http_url, service="dhcp4") as c:
        assert c.version_get() == kea4_ca.version
        # the list reply of the CA is unwrapped, and the daemon (not the CA) answers
        assert c.has_hook("lease_cmds")


def _http_client(srv: KeaServer) -> KeaClient:
    """kea-etl's client on a Kea 3 daemon's own HTTP socket, with the basic-auth credentials the
    harness wrote (always there on 3.2, which refuses an unsecured HTTP socket)."""
    user, password = srv.http_credentials or (None, None)
    return KeaClient.from_url(srv.http_url or "", username=user, password=password)


@pytest.mark.kea3
def test_version_get_kea3_http_and_unix(kea3_4: KeaServer) -> None:
    assert kea3_4.http_url
    with _http_client(kea3_4) as c:
        assert c.version_get() == kea3_4.version
        assert c.version()[0] == 3
    assert KeaClient.from_url(kea3_4.socket_url).version_get() == kea3_4.version


# ---------------------------------------------------------------------- result codes for real
@pytest.mark.kea
@pytest.mark.parametrize("via", ["unix", "ca"])
def test_lease_roundtrip_and_conflict_kea2(kea4_ca: KeaServer, via: str) -> None:
    url, svc = (kea4_ca.socket_url, None) if via == "unix" else (kea4_ca.http_url, "dhcp4")
    assert url
    c = KeaClient.from_url(url, service=svc)
    lease = Lease4("192.0.2.20", "02:00:00:00:00:20", 3600, clock.now(), subnet_id=1,
                   hostname="h20")
    assert c.lease4_add(lease).result == 0
    got = c.lease4_get("192.0.2.20")
    assert got is not None and Lease4.from_kea(got) == lease
    with pytest.raises(KeaConflictError) as ei:        # Kea 2.2: result 1 "already exists"
        c.lease4_add(lease)
    assert ei.value.command == "lease4-add" and "already exists" in ei.value.text
    assert c.lease4_get("192.0.2.21") is None          # result 3 -> None
    assert c.lease4_del("192.0.2.20") is True
    assert c.lease4_del("192.0.2.20") is False
    with pytest.raises(KeaCommandError) as e2:
        c.lease4_add({"ip-address": "192.0.2.22"})    # no hw-address
    assert e2.value.result == 1 and not isinstance(e2.value, KeaConflictError)
    assert url in str(e2.value)


@pytest.mark.kea3
def test_conflict_is_result_4_on_kea3(kea3_4: KeaServer) -> None:
    c = _http_client(kea3_4)
    c.lease4_add(_lease4(1))
    with pytest.raises(KeaConflictError) as ei:
        c.lease4_add(_lease4(1))
    assert ei.value.result == 4


@pytest.mark.kea3
def test_address_in_no_subnet_is_an_error_not_a_conflict_on_kea3(kea3_4: KeaServer) -> None:
    # Kea 3.0.4 answers this with result 4 too; it must not be mistaken for "address taken".
    c = KeaClient.from_url(kea3_4.socket_url)
    with pytest.raises(KeaCommandError) as ei:
        c.lease4_add({"ip-address": "203.0.113.9", "hw-address": "02:00:00:00:00:09"})
    assert not isinstance(ei.value, KeaConflictError)
    assert "subnet" in ei.value.text


@pytest.mark.kea
def test_unsupported_command_names_the_hook_kea2(kea4: KeaServer) -> None:
    c = KeaClient.from_url(kea4.socket_url)
    with pytest.raises(KeaUnsupportedError) as ei:
        c.reservation_add({"subnet-id": 1, "hw-address": "02:00:00:00:00:01",
                           "ip-address": "192.0.2.30"})
    assert ei.value.hook == "host_cmds"
    assert "host_cmds" in str(ei.value) and kea4.socket_url in str(ei.value)
    assert not c.has_hook("host_cmds") and c.has_hook("lease_cmds") and c.has_hook("stat_cmds")
    with pytest.raises(KeaUnsupportedError, match="host_cache"):
        c.require("lease4-get-page", "cache-get")


# ---------------------------------------------------------------------- failures that are not Kea's
@pytest.mark.kea
def test_refused_connection() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    delays: list[float] = []
    c = KeaClient(KeaClient.from_url(url).transport, retries=2, sleep=delays.append)
    with pytest.raises(KeaTransportError, match="connection refused by"):
        c.version_get()
    assert len(delays) == 2


@pytest.mark.kea
def test_basic_auth_on_the_control_agent(auth_agent: AuthAgent, kea4: KeaServer) -> None:
    with pytest.raises(KeaAuthError) as ei:
        KeaClient.from_url(auth_agent.url, service="dhcp4", username="u",
                           password="wrong-" + SECRET).version_get()
    assert "HTTP 401" in str(ei.value) and SECRET not in str(ei.value)
    with pytest.raises(KeaAuthError):
        KeaClient.from_url(auth_agent.url, service="dhcp4").version_get()
    ok = KeaClient.from_url(auth_agent.url, service="dhcp4", username="u", password=SECRET)
    assert ok.version_get() == kea4.version
    assert SECRET not in repr(ok)


@pytest.mark.kea
def test_ca_without_its_daemon_is_a_transport_error(kea_factory: Callable[..., KeaServer]) -> None:
    srv = kea_factory(ctrl_agent=True)     # its own server: this test stops the daemon
    assert srv.http_url
    c = KeaClient.from_url(srv.http_url, service="dhcp4", retries=0)
    c.shutdown()
    deadline = time.monotonic() + 10
    while srv.alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    with pytest.raises(KeaTransportError, match="unable to forward command to the dhcp4"):
        c.version_get()
    with pytest.raises(KeaEndpointError, match="cannot connect to Kea at .*: no such file"):
        KeaClient.from_url(srv.socket_url, retries=0).version_get()


# ---------------------------------------------------------------------- paging, stats, bulk
@pytest.mark.kea
def test_iter_leases4_pages_through_every_lease(kea4: KeaServer) -> None:
    c = KeaClient.from_url(kea4.socket_url)
    for i in range(23):
        c.lease4_add(_lease4(i, 1 if i % 3 else 2))
    expected = sorted(lease["ip-address"] for lease in kea4.leases())
    assert len(expected) == 23
    got = [lease.key for lease in c.iter_leases4(page_size=5)]
    assert sorted(got) == expected and len(got) == 23
    assert all(lease.subnet_id == 2 for lease in c.iter_leases4(page_size=4, subnets=[2]))
    assert len(list(c.iter_leases4(page_size=4, subnets=[2]))) == 8
    # exactly page_size leases: the walk ends on the empty (result 3) page
    assert len(list(c.iter_leases4(page_size=23))) == 23


@pytest.mark.kea
def test_stat_lease4_get_rows(kea4: KeaServer) -> None:
    c = KeaClient.from_url(kea4.socket_url)
    c.lease4_add(_lease4(1))
    rows = c.stat_lease4_get()
    by_id = {r["subnet-id"]: r for r in rows}
    assert by_id[1]["assigned-addresses"] == 1 and by_id[1]["total-addresses"] == 241
    assert c.stat_lease4_get(1)[0]["subnet-id"] == 1
    assert c.stat_lease4_get(99) == []


@pytest.mark.kea
def test_lease6_bulk_apply(kea6: KeaServer) -> None:
    c = KeaClient.from_url(kea6.socket_url)

    def lease(ip: str, **kw: Any) -> dict[str, Any]:
        return {"ip-address": ip, "duid": "01:02:03:04", "iaid": 1, "valid-lft": 100, **kw}

    failed = c.lease6_bulk_apply([lease("2001:db8:1::1000"), lease("2001:db8:1::1001")],
                                 ["2001:db8:1::5"])
    assert failed == [{"ip-address": "2001:db8:1::5", "type": "IA_NA", "result": 3,
                       "error-message": "lease not found", "operation": "delete"}]
    assert {x["ip-address"] for x in kea6.leases()} == {"2001:db8:1::1000", "2001:db8:1::1001"}
    # one lease outside every subnet fails the whole call
    with pytest.raises(KeaCommandError, match="3000::1"):
        c.lease6_bulk_apply([lease("2001:db8:1::1002"), lease("3000::1")])
    assert len(kea6.leases()) == 2


@pytest.mark.kea
def test_threads_share_one_client_through_the_ca(kea4_ca: KeaServer) -> None:
    assert kea4_ca.http_url
    c = KeaClient.from_url(kea4_ca.http_url, service="dhcp4")
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(k * 40, k * 40 + 40):
                c.lease4_add({"ip-address": f"192.0.2.{10 + i}",
                              "hw-address": f"02:00:00:00:01:{i:02x}", "subnet-id": 1})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    c.close()
    assert not errors
    assert len(kea4_ca.leases()) == 160


# ---------------------------------------------------------------------- Kea 3 hooks
@pytest.mark.kea3
def test_kea3_host_cmds_and_host_cache_argument_forms(kea3_4: KeaServer) -> None:
    c = _http_client(kea3_4)
    host = {"subnet-id": 1, "hw-address": "02:00:00:00:00:40", "ip-address": "192.0.2.40",
            "hostname": "h40"}
    c.reservation_add(host, operation_target="memory")
    with pytest.raises(KeaConflictError):             # 3.0: result 1 "already been added"
        c.reservation_add(host, operation_target="memory")
    got = c.reservation_get(1, identifier_type="hw-address", identifier="02:00:00:00:00:40")
    assert got is not None and got["hostname"] == "h40"
    assert [h["ip-address"] for h in c.iter_reservations(1, page_size=1)] == ["192.0.2.40"]
    assert c.reservation_del(1, ip_address="192.0.2.40", operation_target="memory") is True
    assert c.reservation_get(1, ip_address="192.0.2.40", operation_target="memory") is None

    c.cache_clear()
    c.cache_insert({"hw-address": "02:00:00:00:00:41", "ip-address": "192.0.2.41",
                    "subnet-id4": 1, "subnet-id6": 0})
    c.cache_insert({"hw-address": "02:00:00:00:00:42", "ip-address": "192.0.2.42",
                    "subnet-id4": 1, "subnet-id6": 0})
    assert len(c.cache_get()) == 2
    c.cache_remove(1, identifier_type="hw-address", identifier="02:00:00:00:00:41")
    c.cache_remove(1, ip_address="192.0.2.42")
    assert c.cache_get() == []


@pytest.mark.kea3
def test_kea3_subnet_and_network_commands(kea3_4: KeaServer) -> None:
    c = KeaClient.from_url(kea3_4.socket_url)
    assert c.subnet4_add({"id": 50, "subnet": "10.50.0.0/24"}) == [{"id": 50, "subnet": "10.50.0.0/24"}]
    sub = c.subnet4_get(50)
    assert sub is not None and sub["subnet"] == "10.50.0.0/24"
    assert c.subnet4_get(prefix="10.50.0.0/24") == sub
    assert c.network4_add({"name": "net50"}) == [{"name": "net50"}]
    c.network4_subnet_add("net50", 50)
    net = c.network4_get("net50")
    assert net is not None and [s["id"] for s in net["subnet4"]] == [50]
    c.network4_subnet_del("net50", 50)
    c.network4_del("net50")
    assert c.network4_get("net50") is None
    c.subnet4_del(50)
    assert c.subnet4_get(50) is None
    assert {s["id"] for s in c.subnet4_list()} == {1, 2}


# ---------------------------------------------------------------------- TLS through the CA
@pytest.mark.kea
def test_https_with_client_certificate(kea4: KeaServer, tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    agent = AuthAgent(kea4, tmp_path, auth=False, tls={
        "trust-anchor": pki["ca.pem"], "cert-file": pki["server.pem"],
        "key-file": pki["server.key"], "cert-required": True})
    try:
        ok = KeaClient.from_url(agent.url, service="dhcp4", ca_file=pki["ca.pem"],
                                cert_file=pki["client.pem"], key_file=pki["client.key"])
        assert ok.version_get() == kea4.version
        # verification is on by default: the test CA is not in the system store
        with pytest.raises(KeaEndpointError, match="TLS certificate of .* not trusted"):
            KeaClient.from_url(agent.url, service="dhcp4", cert_file=pki["client.pem"],
                               key_file=pki["client.key"], retries=3).version_get()
        # --insecure skips verification, but this CA also requires a client certificate
        insecure = KeaClient.from_url(agent.url, service="dhcp4", insecure=True,
                                      cert_file=pki["client.pem"], key_file=pki["client.key"])
        assert insecure.version_get() == kea4.version
        with pytest.raises(KeaEndpointError, match="client certificate"):
            KeaClient.from_url(agent.url, service="dhcp4", ca_file=pki["ca.pem"],
                               retries=3).version_get()
    finally:
        agent.close()
