"""Live loading speed: kea-etl against the server's own rate, one JSON line.

    python benchmarks/load_live.py [--leases N]        (default 100000)

Starts one local Kea 2.2 (kea-dhcp4 + kea-ctrl-agent, then kea-dhcp6) with an empty memfile for
every phase, and measures, in the same run:

* ``raw_socket_per_s``: a plain loop of lease4-add over the UNIX socket, one at a time (the
  server's own rate for one client);
* ``kea_etl_socket_per_s``: ``kea-etl migrate dhcpd.leases --to kea:unix://...`` end to end
  (process start, parsing, transform, conflict scan and load: wall time of the command);
* ``naive_http_per_s``: lease4-add one request at a time over a keep-alive HTTP connection to
  kea-ctrl-agent; ``kea_etl_http_per_s``: ``kea-etl migrate --to kea:http://... --service dhcp4``;
* ``v6_single_per_s``: lease6-add one at a time over the socket; ``v6_bulk_per_s``: kea-etl's
  live loader with lease6-bulk-apply (in process, same leases).

Ratios: ``ratio_socket`` = kea_etl_socket / raw_socket (target >= 0.9), ``ratio_http`` =
kea_etl_http / naive_http (target >= 2), ``ratio_v6_bulk`` = v6_bulk / v6_single (target >= 5).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kea_etl.kea import KeaClient  # noqa: E402
from kea_etl.load.api import LiveLeaseLoader, LiveOptions  # noqa: E402
from kea_etl.records import Lease6  # noqa: E402
from kea_etl.report import RunReport  # noqa: E402
from tests.harness.kea import KeaServer, start_kea  # noqa: E402

SUBNET4 = [{"id": 1, "subnet": "10.0.0.0/8", "pools": [{"pool": "10.0.0.10-10.255.255.250"}]}]
SUBNET6 = [{"id": 1, "subnet": "2001:db8:1::/64",
            "pools": [{"pool": "2001:db8:1::1000-2001:db8:1::ffff:ffff"}]}]
CLTT = 1_795_000_000
BASE4 = int(IPv4Address("10.0.0.10"))
BASE6 = int(IPv6Address("2001:db8:1::1000"))
KEA_ETL = str(Path(sys.executable).with_name("kea-etl"))


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


def raw_socket(n: int) -> float:
    srv = start_kea(family=4, subnets=SUBNET4)
    try:
        path = str(srv.socket_path)
        t = time.perf_counter()
        for i in range(n):
            r = unix_call(path, "lease4-add", lease4_args(i))
            if r.get("result") != 0:
                raise SystemExit(f"raw lease4-add failed: {r}")
        return n / (time.perf_counter() - t)
    finally:
        srv.close()


def naive_http(n: int) -> float:
    srv = start_kea(family=4, subnets=SUBNET4, ctrl_agent=True)
    try:
        assert srv.ca_port is not None
        conn = http.client.HTTPConnection("127.0.0.1", srv.ca_port)
        t = time.perf_counter()
        for i in range(n):
            body = json.dumps({"command": "lease4-add", "service": ["dhcp4"],
                               "arguments": lease4_args(i)})
            conn.request("POST", "/", body, {"Content-Type": "application/json"})
            r = json.loads(conn.getresponse().read())
            if r[0].get("result") != 0:
                raise SystemExit(f"naive HTTP lease4-add failed: {r}")
        return n / (time.perf_counter() - t)
    finally:
        srv.close()


def kea_etl(n: int, leases: Path, tmp: Path, *, http: bool, workers: int) -> float:
    srv = start_kea(family=4, subnets=SUBNET4, ctrl_agent=http)
    try:
        cfg = tmp / "kea-dhcp4.json"
        cfg.write_text(json.dumps({"Dhcp4": {"subnet4": SUBNET4}}))
        url = f"kea:{srv.http_url}" if http else f"kea:{srv.socket_url}"
        argv = [KEA_ETL, "migrate", str(leases), "--to", url, "--kea-config", str(cfg),
                "--as-of", "2026-11-27T21:00:00Z", "--workers", str(workers), "--no-progress",
                "--report", str(tmp / f"report-{'http' if http else 'sock'}.json")]
        if http:
            argv += ["--service", "dhcp4"]
        t = time.perf_counter()
        p = subprocess.run(argv, capture_output=True, text=True)
        took = time.perf_counter() - t
        if p.returncode != 0:
            raise SystemExit(f"kea-etl failed ({p.returncode}): {p.stdout}{p.stderr}")
        got = count4(srv)
        if got != n:
            raise SystemExit(f"kea-etl loaded {got} leases, expected {n}")
        return n / took
    finally:
        srv.close()


def v6_single(n: int) -> float:
    srv = start_kea(family=6, subnets=SUBNET6)
    try:
        path = str(srv.socket_path)
        t = time.perf_counter()
        for i in range(n):
            r = unix_call(path, "lease6-add", lease6(i).to_kea_args())
            if r.get("result") != 0:
                raise SystemExit(f"raw lease6-add failed: {r}")
        return n / (time.perf_counter() - t)
    finally:
        srv.close()


def v6_bulk(n: int, workers: int) -> float:
    srv = start_kea(family=6, subnets=SUBNET6)
    try:
        leases = [lease6(i) for i in range(n)]
        client = KeaClient.from_url(srv.socket_url)
        report = RunReport()
        t = time.perf_counter()
        LiveLeaseLoader(client, options=LiveOptions(workers=workers, batch_size6=200)).load(
            leases, report)
        took = time.perf_counter() - t
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
    ap.add_argument("--rounds", type=int, default=2,
                    help="interleave the phases in this many rounds of leases/rounds each, so a "
                         "busy machine slows all of them alike")
    opts = ap.parse_args()
    n = opts.leases
    part = n // opts.rounds
    took: dict[str, float] = {}

    def timed(name: str, rate: float) -> None:
        took[name] = took.get(name, 0.0) + part / rate

    with tempfile.TemporaryDirectory(prefix="kea-etl-bench-") as d:
        tmp = Path(d)
        leases = tmp / "dhcpd.leases"
        write_leases(leases, part)
        for _ in range(opts.rounds):
            timed("raw", raw_socket(part))
            timed("ours", kea_etl(part, leases, tmp, http=False, workers=opts.workers))
            timed("naive", naive_http(part))
            timed("ours_http", kea_etl(part, leases, tmp, http=True, workers=opts.http_workers))
            timed("single6", v6_single(part))
            timed("bulk6", v6_bulk(part, workers=2))
    total = part * opts.rounds
    rate = {k: total / v for k, v in took.items()}
    print(json.dumps({
        "leases": total, "rounds": opts.rounds, "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 1),
        "raw_socket_per_s": round(rate["raw"]), "kea_etl_socket_per_s": round(rate["ours"]),
        "ratio_socket": round(rate["ours"] / rate["raw"], 2),
        "naive_http_per_s": round(rate["naive"]), "kea_etl_http_per_s": round(rate["ours_http"]),
        "ratio_http": round(rate["ours_http"] / rate["naive"], 2),
        "v6_single_per_s": round(rate["single6"]), "v6_bulk_per_s": round(rate["bulk6"]),
        "ratio_v6_bulk": round(rate["bulk6"] / rate["single6"], 2),
    }))


if __name__ == "__main__":
    main()
