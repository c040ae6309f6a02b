#!/usr/bin/env python3
"""A fleet export: N real Kea dhcp4 servers on loopback, one failing, one ``kea-etl export``.

    python benchmarks/fleet.py [--servers 50] [--leases 300] [--no-delta] [--keep DIR]

Starts N ``kea-dhcp4`` (tests/harness/fleet.py: memfile, lease_cmds + stat_cmds, a UNIX control
socket each, ``--leases`` leases loaded with lease4-add), kills one (SIGKILL: its socket stays,
connections are refused), then runs one ``kea-etl export`` over all N (``--kea sNN=unix://...``)
into SQLite + Parquet + Delta, as a child process. As the peer measured in the same run, a plain
sequential ``lease4-get-page`` loop (kea_etl's KeaClient, one server after the other, leases
counted and thrown away) fetches the same leases from the live servers.

Prints one JSON line: servers, servers_ok, servers_failed (their names), exit_code, leases
(exported), seconds (the export, wall clock), peak_rss_mb (the export process's peak resident
memory), peer_leases and peer_seconds (the sequential get-page loop), start_seconds (starting and
loading the fleet), load_before / load_after (the machine's 1-minute load average), cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.bytecode import compile_kea_etl  # noqa: E402
from benchmarks.export import raw_loop  # noqa: E402
from tests.harness.fleet import break_server, start_fleet, stop_fleet  # noqa: E402


def sequential_get_page(urls: list[str], page_size: int) -> tuple[int, float]:
    """Every lease of every server by lease4-get-page, one server after the other."""
    runs = [raw_loop(url, page_size) for url in urls]
    return sum(n for n, _ in runs), sum(t for _, t in runs)


def run_export(argv: list[str]) -> tuple[int, float, float, str]:
    """Run ``argv``; (exit code, seconds, peak RSS in MB of that process, stderr)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, seconds, usage.ru_maxrss / 1024, err


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--servers", type=int, default=50)
    ap.add_argument("--leases", type=int, default=300, help="leases per server")
    ap.add_argument("--page-size", type=int, default=100)
    ap.add_argument("--no-delta", action="store_true", help="SQLite + Parquet only")
    ap.add_argument("--keep", metavar="DIR", help="write the export under DIR and keep it")
    args = ap.parse_args()
    compile_kea_etl()

    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="kea-etl-fleet-"))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    servers = start_fleet(args.servers, args.leases)
    start_seconds = time.perf_counter() - t0
    try:
        failing = servers[len(servers) // 2]
        break_server(failing)
        names = {srv.socket_url: f"s{k:02d}" for k, srv in enumerate(servers)}
        report = out / "report.json"
        argv = [sys.executable, "-m", "kea_etl.cli", "export", "--family", "4",
                "--to", f"sqlite:///{out}/warehouse.db", "--parquet", str(out / "parquet"),
                "--page-size", str(args.page_size), "--report", str(report), "-q",
                "--timeout", "10"]
        if not args.no_delta:
            argv += ["--delta", str(out / "delta")]
        for url, name in names.items():
            argv += ["--kea", f"{name}={url}"]
        load_before = os.getloadavg()[0]
        code, seconds, rss, err = run_export(argv)
        load_after = os.getloadavg()[0]
        data = json.loads(report.read_text())
        failed = sorted({r["server"] for r in data["results"] if r["error"]})
        live = [srv.socket_url for srv in servers if srv is not failing]
        peer_leases, peer_seconds = sequential_get_page(live, args.page_size)
        print(json.dumps({
            "servers": len(servers), "leases_per_server": args.leases,
            "servers_ok": len(servers) - len(failed), "servers_failed": failed,
            "failing_server": names[failing.socket_url], "exit_code": code,
            "sinks": ["sqlite", "parquet"] + ([] if args.no_delta else ["delta"]),
            "leases": data["leases"], "seconds": round(seconds, 2),
            "leases_per_s": round(data["leases"] / seconds),
            "peak_rss_mb": round(rss, 1),
            "peer_leases": peer_leases, "peer_seconds": round(peer_seconds, 2),
            "start_seconds": round(start_seconds, 1),
            "load_before": round(load_before, 2), "load_after": round(load_after, 2),
            "cores": os.cpu_count(),
            "errors": [r["error"] for r in data["results"] if r["error"]],
            "stderr_lines": len(err.splitlines())}))
    finally:
        stop_fleet(servers)
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
