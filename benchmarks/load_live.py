"""Live loading speed: kea-etl against the server's own rate, one JSON line.

    python benchmarks/load_live.py [--leases N] [--cpu]        (default 100000)

Every phase starts its own local Kea with an empty memfile, and the phases run interleaved in
``--rounds`` rounds so a busy machine slows all of them alike. Measured in the same run:

* ``raw_socket_per_s``: a plain loop of lease4-add over Kea 2.2's UNIX socket, one at a time
  (the server's own rate for one client); ``kea_etl_socket_per_s``: ``kea-etl migrate
  dhcpd.leases --to kea:unix://...`` end to end (process start, parsing, transform, conflict
  scan and load: wall time of the command).
* HTTP, against two servers, each time a naive loop and kea-etl on the same kind of server with
  the same leases. The naive peer sends one lease4-add at a time over one keep-alive connection
  with ``http.client`` (``service`` added for the Control Agent); kea-etl runs ``kea-etl migrate
  --to kea:http://...`` end to end, as above.

  - ``naive_http_per_s`` / ``kea_etl_http_per_s`` / ``ratio_http``: Kea 3.0's daemon HTTP
    listener (``control-sockets`` of type ``http``, no Control Agent). This is the HTTP path Kea
    supports from now on (the Control Agent is deprecated in 3.0 and removed in 3.2), so the
    target is measured here. Kea 3.0 comes from the rootfs built by ``scripts/kea3-rootfs``
    (tests/harness/kea.py starts it).
  - ``naive_http_ca22_per_s`` / ``kea_etl_http_ca22_per_s`` / ``ratio_http_ca22``:
    kea-ctrl-agent 2.2 in front of kea-dhcp4 2.2 (Debian 12), measured the same way.
  - ``http_ceiling_per_s`` / ``http_ceiling_ca22_per_s``: the most *any* client on this machine
    gets from that server. The lease4-add requests are encoded before the clock starts and sent
    by ``--ceiling-conns`` forked processes (default: as many as kea-etl's ``--http-workers``),
    each over one keep-alive connection; answers are checked by a byte scan.
    ``max_ratio_http`` / ``max_ratio_http_ca22`` = ceiling / naive: no client can beat that
    ratio here. Both servers run commands on one thread. Kea 3.0 spends about 120 us per
    lease4-add, hence a ceiling near 8,000/s. The Control Agent 2.2 is worse: it serves one
    command at a time, since ``CtrlAgentCommandMgr::forwardCommand`` runs a private IOService
    until the daemon has answered and so blocks the agent's only thread. Concurrent requests
    queue in the agent whatever the client does, and the ratio is bounded near 1.4.

  kea-etl's figures include its fixed cost: about 0.23 s per run for interpreter start, imports
  and setup commands. With ``--leases 20000`` (10,000 per kea-etl run) that is a sixth of the run.

* ``v6_single_per_s``: lease6-add one at a time over Kea 2.2's UNIX socket; ``v6_bulk_per_s``:
  kea-etl's live loader with lease6-bulk-apply (in process, same leases, default batch size,
  ownership and subnet checks included). Both send the same arguments per lease (the loader's
  compact form, :func:`kea_etl.load.api.wire_args`), so the ratio measures batching alone.

Ratios: ``ratio_socket`` = kea_etl_socket / raw_socket (target >= 0.9), ``ratio_http`` =
kea_etl_http / naive_http (target >= 2), ``ratio_v6_bulk`` = v6_bulk / v6_single (target >= 5).
``--cpu`` adds ``cpu_s``: CPU seconds per phase of the client (the naive loop or the kea-etl
process), kea-dhcp4/6 and kea-ctrl-agent (``/proc/PID/stat`` and ``getrusage``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.bytecode import compile_kea_etl  # noqa: E402
from kea_etl.extract.isc_leases import ACCELERATED  # noqa: E402
from kea_etl.kea import KeaClient  # noqa: E402
from kea_etl.load.api import LiveLeaseLoader, LiveOptions, wire_args  # noqa: E402
from kea_etl.records import Lease6  # noqa: E402
from kea_etl.report import RunReport  # noqa: E402
from tests.harness.kea import KeaServer, kea3_root, kea3_version, start_kea  # noqa: E402

SUBNET4 = [{"id": 1, "subnet": "10.0.0.0/8", "pools": [{"pool": "10.0.0.10-10.255.255.250"}]}]
SUBNET6 = [{"id": 1, "subnet": "2001:db8:1::/64",
            "pools": [{"pool": "2001:db8:1::1000-2001:db8:1::ffff:ffff"}]}]
CLTT = 1_795_000_000
BASE4 = int(IPv4Address("10.0.0.10"))
BASE6 = int(IPv6Address("2001:db8:1::1000"))
KEA_ETL = str(Path(sys.executable).with_name("kea-etl"))
_TICK = os.sysconf("SC_CLK_TCK")

#: CPU seconds by phase and process, filled when --cpu is given
CPU: dict[str, dict[str, float]] = {}


def lease4_args(i: int) -> dict[str, Any]:
    return {"ip-address": str(IPv4Address(BASE4 + i)),
            "hw-address": f"02:00:{(i >> 24) & 255:02x}:{(i >> 16) & 255:02x}:"
                          f"{(i >> 8) & 255:02x}:{i & 255:02x}",
            "valid-lft": 86400, "expire": CLTT + 86400, "subnet-id": 1}


def lease6(i: int) -> Lease6:
    return Lease6(address=IPv6Address(BASE6 + i), duid=f"00:03:00:01:02:00:{i.to_bytes(4).hex(':')}",
                  iaid=1, valid_lft=86400, preferred_lft=43200, cltt=CLTT, subnet_id=1)


def write_leases(path: Path, n: int) -> None:
    with path.open("w") as fh:
        for i in range(n):
            a = lease4_args(i)
            fh.write(f"lease {a['ip-address']} {{\n  starts 5 2026/11/27 20:00:00;\n"
                     f"  ends 6 2026/11/28 20:00:00;\n  cltt 5 2026/11/27 20:00:00;\n"
                     f"  binding state active;\n  hardware ethernet {a['hw-address']};\n}}\n")


def unix_call(path: str, command: str, args: Any) -> dict[str, Any]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(json.dumps({"command": command, "arguments": args}).encode())
    chunks = []
    while True:
        data = s.recv(65536)
        if not data:
            break
        chunks.append(data)
    s.close()
    reply: dict[str, Any] = json.loads(b"".join(chunks))
    return reply


def count4(srv: KeaServer) -> int:
    r = srv.command("stat-lease4-get")
    rows = r.get("arguments", {}).get("result-set", {}).get("rows", [])
    return sum(int(row[3]) for row in rows)


# -- CPU accounting (--cpu) ------------------------------------------------------------------
def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


class _Meter:
    """CPU seconds of this process (or of its waited-for children) and of the servers, from
    construction to :meth:`stop`."""

    def __init__(self, srv: KeaServer, *, children: bool = False) -> None:
        self.pids = {"dhcp": srv.pid}
        if srv.ca_proc is not None:
            self.pids["ca"] = srv.ca_proc.pid
        self.children = children
        self.start = {k: _proc_cpu(p) for k, p in self.pids.items() if p is not None}
        self.client0 = self._client()

    def _client(self) -> float:
        if self.children:
            ru = resource.getrusage(resource.RUSAGE_CHILDREN)
            return ru.ru_utime + ru.ru_stime
        t = os.times()
        return t.user + t.system

    def stop(self, phase: str) -> None:
        got = {"client": self._client() - self.client0}
        for k, p in self.pids.items():
            if p is not None:
                got[k] = _proc_cpu(p) - self.start[k]
        into = CPU.setdefault(phase, {})
        for k, v in got.items():
            into[k] = into.get(k, 0.0) + v


# -- phases ----------------------------------------------------------------------------------
def _http_server(kea3: bool) -> KeaServer:
    """Kea 3.0's kea-dhcp4 with its own HTTP listener, or kea-dhcp4 2.2 behind kea-ctrl-agent."""
    if kea3:
        return start_kea(family=4, subnets=SUBNET4, kea3=True)
    return start_kea(family=4, subnets=SUBNET4, ctrl_agent=True)


def raw_socket(n: int) -> float:
    srv = start_kea(family=4, subnets=SUBNET4)
    try:
        path = str(srv.socket_path)
        m = _Meter(srv)
        t = time.perf_counter()
        for i in range(n):
            r = unix_call(path, "lease4-add", lease4_args(i))
            if r.get("result") != 0:
                raise SystemExit(f"raw lease4-add failed: {r}")
        took = time.perf_counter() - t
        m.stop("raw_socket")
        return n / took
    finally:
        srv.close()


def naive_http(n: int, *, kea3: bool) -> float:
    """One lease4-add at a time over one keep-alive connection (http.client)."""
    srv = _http_server(kea3)
    try:
        port = srv.http_port if kea3 else srv.ca_port
        assert port is not None
        conn = http.client.HTTPConnection("127.0.0.1", port)
        m = _Meter(srv)
        t = time.perf_counter()
        for i in range(n):
            msg: dict[str, Any] = {"command": "lease4-add", "arguments": lease4_args(i)}
            if not kea3:
                msg["service"] = ["dhcp4"]
            conn.request("POST", "/", json.dumps(msg), {"Content-Type": "application/json"})
            r = json.loads(conn.getresponse().read())
            if r[0].get("result") != 0:
                raise SystemExit(f"naive HTTP lease4-add failed: {r}")
        took = time.perf_counter() - t
        m.stop("naive_http" if kea3 else "naive_http_ca22")
        conn.close()
        return n / took
    finally:
        srv.close()


def kea_etl(n: int, leases: Path, tmp: Path, *, via: str, workers: int) -> float:
    """``kea-etl migrate`` end to end; ``via`` is socket, http (Kea 3) or ca22."""
    srv = start_kea(family=4, subnets=SUBNET4) if via == "socket" else _http_server(via == "http")
    try:
        cfg = tmp / "kea-dhcp4.json"
        cfg.write_text(json.dumps({"Dhcp4": {"subnet4": SUBNET4}}))
        url = f"kea:{srv.socket_url}" if via == "socket" else f"kea:{srv.http_url}"
        argv = [KEA_ETL, "migrate", str(leases), "--to", url, "--kea-config", str(cfg),
                "--as-of", "2026-11-27T21:00:00Z", "--workers", str(workers), "--no-progress",
                "--report", str(tmp / f"report-{via}.json")]
        if via == "ca22":
            argv += ["--service", "dhcp4"]
        m = _Meter(srv, children=True)
        t = time.perf_counter()
        p = subprocess.run(argv, capture_output=True, text=True)
        took = time.perf_counter() - t
        m.stop(f"kea_etl_{via}")
        if p.returncode != 0:
            raise SystemExit(f"kea-etl failed ({p.returncode}): {p.stdout}{p.stderr}")
        got = count4(srv)
        if got != n:
            raise SystemExit(f"kea-etl loaded {got} leases, expected {n}")
        return n / took
    finally:
        srv.close()


def _ceiling_client(port: int, requests: list[bytes], go: int) -> None:
    """Forked child: wait for the start signal, send each request, scan each answer."""
    bad = 0
    try:
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = s.makefile("rb")
        os.read(go, 1)
        for req in requests:
            s.sendall(req)
            length = -1
            while (h := f.readline()) not in (b"\r\n", b""):
                if h[:15].lower() == b"content-length:":
                    length = int(h[15:])
            if b'"result": 0' not in f.read(length):
                bad += 1
    except BaseException:
        os._exit(2)
    os._exit(1 if bad else 0)


def ceiling_http(n: int, *, kea3: bool, conns: int) -> float:
    """The server's rate when the client costs (almost) nothing: see the module docstring."""
    srv = _http_server(kea3)
    try:
        port = srv.http_port if kea3 else srv.ca_port
        assert port is not None
        requests = []
        for i in range(n):
            msg: dict[str, Any] = {"command": "lease4-add", "arguments": lease4_args(i)}
            if not kea3:
                msg["service"] = ["dhcp4"]
            body = json.dumps(msg, separators=(",", ":")).encode()
            requests.append(b"POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: "
                            b"application/json\r\nContent-Length: %d\r\n\r\n%s"
                            % (port, len(body), body))
        go_r, go_w = os.pipe()
        pids = []
        for j in range(conns):
            pid = os.fork()
            if pid == 0:
                _ceiling_client(port, requests[j::conns], go_r)
            pids.append(pid)
        time.sleep(0.2)  # every child connected and waiting
        m = _Meter(srv, children=True)
        t = time.perf_counter()
        os.write(go_w, b"x" * conns)
        status = [os.waitpid(pid, 0)[1] for pid in pids]
        took = time.perf_counter() - t
        m.stop("http_ceiling" if kea3 else "http_ceiling_ca22")
        os.close(go_r)
        os.close(go_w)
        if any(status) or count4(srv) != n:
            raise SystemExit(f"ceiling run failed: child status {status}, {count4(srv)} leases")
        return n / took
    finally:
        srv.close()


def v6_single(n: int) -> float:
    srv = start_kea(family=6, subnets=SUBNET6)
    try:
        path = str(srv.socket_path)
        m = _Meter(srv)
        t = time.perf_counter()
        for i in range(n):
            r = unix_call(path, "lease6-add", wire_args(lease6(i)))
            if r.get("result") != 0:
                raise SystemExit(f"raw lease6-add failed: {r}")
        took = time.perf_counter() - t
        m.stop("v6_single")
        return n / took
    finally:
        srv.close()


def v6_bulk(n: int, workers: int) -> float:
    srv = start_kea(family=6, subnets=SUBNET6)
    try:
        leases = [lease6(i) for i in range(n)]
        client = KeaClient.from_url(srv.socket_url)
        report = RunReport()
        m = _Meter(srv)
        t = time.perf_counter()
        LiveLeaseLoader(client, options=LiveOptions(workers=workers)).load(leases, report)
        took = time.perf_counter() - t
        m.stop("v6_bulk")
        if report.loaded != n or report.failed:
            raise SystemExit(f"bulk load: loaded {report.loaded}, failed {report.failed}")
        return n / took
    finally:
        srv.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--leases", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--http-workers", type=int, default=8)
    ap.add_argument("--ceiling-conns", type=int, default=None,
                    help="connections of the ceiling runs [default: --http-workers]")
    ap.add_argument("--rounds", type=int, default=2,
                    help="interleave the phases in this many rounds of leases/rounds each, so a "
                         "busy machine slows all of them alike")
    ap.add_argument("--cpu", action="store_true",
                    help="add CPU seconds per phase and process (cpu_s) to the JSON line")
    opts = ap.parse_args()
    compile_kea_etl()
    kea3 = kea3_version(str(kea3_root()))
    if kea3 is None:
        raise SystemExit(f"Kea 3.0 rootfs missing at {kea3_root()}: build it with "
                         "scripts/kea3-rootfs (the HTTP phases run against Kea 3.0's daemon)")
    n = opts.leases
    part = n // opts.rounds
    took: dict[str, float] = {}

    def timed(name: str, run: Callable[[], float]) -> None:
        took[name] = took.get(name, 0.0) + part / run()

    with tempfile.TemporaryDirectory(prefix="kea-etl-bench-") as d:
        tmp = Path(d)
        leases = tmp / "dhcpd.leases"
        write_leases(leases, part)
        hw, w = opts.http_workers, opts.workers
        cc = opts.ceiling_conns or hw
        for _ in range(opts.rounds):
            timed("raw", lambda: raw_socket(part))
            timed("ours", lambda: kea_etl(part, leases, tmp, via="socket", workers=w))
            timed("naive", lambda: naive_http(part, kea3=True))
            timed("ours_http", lambda: kea_etl(part, leases, tmp, via="http", workers=hw))
            timed("ceiling", lambda: ceiling_http(part, kea3=True, conns=cc))
            timed("naive_ca", lambda: naive_http(part, kea3=False))
            timed("ours_ca", lambda: kea_etl(part, leases, tmp, via="ca22", workers=hw))
            timed("ceiling_ca", lambda: ceiling_http(part, kea3=False, conns=cc))
            timed("single6", lambda: v6_single(part))
            timed("bulk6", lambda: v6_bulk(part, workers=2))
    total = part * opts.rounds
    rate = {k: total / v for k, v in took.items()}
    out: dict[str, Any] = {
        "leases": total, "rounds": opts.rounds, "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 1), "parser_accelerated": ACCELERATED,
        "kea_socket": "2.2", "kea_http": kea3.split()[0], "kea_http_ca22": "2.2 (kea-ctrl-agent)",
        "raw_socket_per_s": round(rate["raw"]), "kea_etl_socket_per_s": round(rate["ours"]),
        "ratio_socket": round(rate["ours"] / rate["raw"], 2),
        "naive_http_per_s": round(rate["naive"]), "kea_etl_http_per_s": round(rate["ours_http"]),
        "ratio_http": round(rate["ours_http"] / rate["naive"], 2),
        "http_ceiling_per_s": round(rate["ceiling"]),
        "max_ratio_http": round(rate["ceiling"] / rate["naive"], 2),
        "naive_http_ca22_per_s": round(rate["naive_ca"]),
        "kea_etl_http_ca22_per_s": round(rate["ours_ca"]),
        "ratio_http_ca22": round(rate["ours_ca"] / rate["naive_ca"], 2),
        "http_ceiling_ca22_per_s": round(rate["ceiling_ca"]),
        "max_ratio_http_ca22": round(rate["ceiling_ca"] / rate["naive_ca"], 2),
        "v6_single_per_s": round(rate["single6"]), "v6_bulk_per_s": round(rate["bulk6"]),
        "ratio_v6_bulk": round(rate["bulk6"] / rate["single6"], 2),
    }
    if opts.cpu:
        out["cpu_s"] = {ph: {k: round(v, 2) for k, v in c.items()} for ph, c in CPU.items()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
