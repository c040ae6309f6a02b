#!/usr/bin/env python3
"""Export throughput: a raw lease4-get-page loop vs ``kea_etl.export`` to Parquet and to SQLite.

    python benchmarks/export.py [--leases N] [--page-size 1000] [--rounds 3] [--keep DIR]

Writes a Kea 2.x memfile of N v4 leases (subnet 10.0.0.0/8), starts a real ``kea-dhcp4`` on a
UNIX control socket with lease_cmds + stat_cmds (Kea loads the file at start-up), then, in this
one process and against the same server:

1. ``raw``: ``KeaClient.lease4_get_page`` in a loop, leases counted and thrown away;
2. ``parquet``: :func:`kea_etl.export.run_export` to a Parquet directory (leases + statistics);
3. ``sqlite``: :func:`kea_etl.export.run_export` to a SQLite warehouse (leases + statistics),
   a new night each round (the nightly job: round k exports the k-th day into the warehouse
   that holds the earlier rounds' nights);
4. ``sqlite_rerun``: the same night exported again, which replaces that night's snapshot (the
   superseded run's rows are deleted when the new run completes);

repeated ``--rounds`` times (interleaved, so load drifting on a shared machine hits every phase
alike); each rate is the median over the rounds.

Prints one JSON line: leases, page_size, rounds, raw_get_page_per_s, parquet_per_s,
sqlite_per_s, sqlite_rerun_per_s, ratio_parquet (parquet_per_s / raw_get_page_per_s),
ratio_sqlite, ratio_sqlite_rerun, the seconds of every phase of every round, peak_rss_mb (this
process's peak resident memory over all phases; Kea's own memory is not included), and the
1-minute load average at the end with the core count.
Targets: ratio_parquet >= 0.8, ratio_sqlite >= 0.8 (issue 15), peak_rss_mb <= 200 whatever N.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.bytecode import compile_kea_etl  # noqa: E402
from kea_etl.export import KeaTarget, run_export  # noqa: E402
from kea_etl.kea import KeaClient  # noqa: E402

HOOKS_DIRS = ("/usr/lib/x86_64-linux-gnu/kea/hooks", "/usr/lib/kea/hooks",
              "/usr/local/lib/kea/hooks")
HEADER4 = ("address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,"
           "state,user_context\n")


def write_memfile(path: Path, n: int, now: int) -> None:
    """N leases 10.0.0.1 ... in Kea 2.2's memfile format (``\\n`` line ends, as Kea wants)."""
    base = (10 << 24) + 1
    with path.open("w", encoding="ascii", newline="\n") as fh:
        fh.write(HEADER4)
        buf = []
        for i in range(n):
            a = base + i
            addr = f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}"
            mac = f"02:{(i >> 24) & 255:02x}:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:" \
                  f"{i & 255:02x}:01"
            cid = f"01:{mac}" if i % 3 == 0 else ""
            host = f"host-{i}" if i % 2 == 0 else ""
            buf.append(f"{addr},{mac},{cid},86400,{now + 43200 + i % 3600},1,0,0,{host},0,\n")
            if len(buf) >= 10000:
                fh.write("".join(buf))
                buf.clear()
        fh.write("".join(buf))


def hooks_dir() -> str:
    for d in HOOKS_DIRS:
        if Path(d, "libdhcp_lease_cmds.so").exists():
            return d
    raise SystemExit("libdhcp_lease_cmds.so not found: install kea-dhcp4-server")


def start_kea(work: Path, lease_file: Path) -> tuple[subprocess.Popen[bytes], str]:
    sock = work / "kea4.sock"
    hooks = hooks_dir()
    config = {"Dhcp4": {
        "interfaces-config": {"interfaces": []},
        "control-socket": {"socket-type": "unix", "socket-name": str(sock)},
        "lease-database": {"type": "memfile", "persist": True, "name": str(lease_file),
                           "lfc-interval": 0},
        "sanity-checks": {"lease-checks": "fix-del"},
        "expired-leases-processing": {"reclaim-timer-wait-time": 3600,
                                      "flush-reclaimed-timer-wait-time": 0},
        "hooks-libraries": [{"library": f"{hooks}/libdhcp_lease_cmds.so"},
                            {"library": f"{hooks}/libdhcp_stat_cmds.so"}],
        "subnet4": [{"id": 1, "subnet": "10.0.0.0/8",
                     "pools": [{"pool": "10.0.0.1 - 10.255.255.254"}]}],
        "loggers": [{"name": "kea-dhcp4", "severity": "WARN",
                     "output_options": [{"output": str(work / "kea-dhcp4.log")}]}],
    }}
    cfg = work / "kea-dhcp4.json"
    cfg.write_text(json.dumps(config, indent=1))
    env = dict(os.environ, KEA_PIDFILE_DIR=str(work), KEA_LOCKFILE_DIR=str(work),
               KEA_DHCP_DATA_DIR=str(work), KEA_CONTROL_SOCKET_DIR=str(work),
               KEA_LOG_FILE_DIR=str(work))
    out = (work / "kea-dhcp4.stdout").open("wb")
    proc = subprocess.Popen(["kea-dhcp4", "-c", str(cfg)], stdout=out, stderr=subprocess.STDOUT,
                            env=env, start_new_session=True)
    url = f"unix://{sock}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (work / "kea-dhcp4.stdout").read_text(errors="replace")[-2000:]
            raise SystemExit(f"kea-dhcp4 exited with {proc.returncode} while loading:\n{tail}")
        if sock.exists():
            try:
                KeaClient.from_url(url, retries=0).version_get()
                return proc, url
            except Exception:  # noqa: BLE001 - not ready yet
                pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("kea-dhcp4 did not open its control socket within 300 s")


def stop_kea(proc: subprocess.Popen[bytes], url: str) -> None:
    try:
        KeaClient.from_url(url, retries=0).call("shutdown")
        proc.wait(20)
    except Exception:  # noqa: BLE001
        proc.kill()
        proc.wait(10)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def raw_loop(url: str, page_size: int) -> tuple[int, float]:
    client = KeaClient.from_url(url)
    n, start = 0, "start"
    t0 = time.perf_counter()
    while True:
        page = client.lease4_get_page(start, page_size)
        n += len(page)
        if len(page) < page_size:
            break
        start = page[-1]["ip-address"]
    return n, time.perf_counter() - t0


def timed_export(url: str, page_size: int, **sinks: object) -> tuple[int, float]:
    t0 = time.perf_counter()
    rep = run_export([KeaTarget(url)], families=(4,), page_size=page_size, **sinks)  # type: ignore[arg-type]
    dt = time.perf_counter() - t0
    if rep.exit_code() != 0:
        raise SystemExit(f"export failed: {rep.to_json()}")
    return rep.leases, dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--leases", type=int, default=1_000_000)
    ap.add_argument("--page-size", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3,
                    help="raw / parquet / sqlite rounds; the medians are reported (default 3)")
    ap.add_argument("--keep", metavar="DIR", help="keep the outputs in DIR (default: removed)")
    opts = ap.parse_args()
    compile_kea_etl()
    work = Path(tempfile.mkdtemp(prefix="kea-etl-bench-export-", dir=opts.keep))
    times: dict[str, list[float]] = {"raw": [], "parquet": [], "sqlite": [], "sqlite_rerun": []}
    try:
        now = int(time.time())
        lease_file = work / "kea-leases4.csv"
        write_memfile(lease_file, opts.leases, now)
        proc, url = start_kea(work, lease_file)
        rss = {"start": peak_rss_mb()}
        try:
            # Rounds interleave the three phases so that load drifting on a shared machine
            # hits all of them alike; each rate is the median over the rounds.
            first_night = date.today() - timedelta(days=max(1, opts.rounds))
            for night in range(max(1, opts.rounds)):
                counts = []
                n, t = raw_loop(url, opts.page_size)
                counts.append(n)
                times["raw"].append(t)
                rss["raw"] = peak_rss_mb()
                n, t = timed_export(url, opts.page_size, parquet_dir=work / "parquet")
                counts.append(n)
                times["parquet"].append(t)
                rss["parquet"] = peak_rss_mb()
                day = first_night + timedelta(days=night)
                for phase in ("sqlite", "sqlite_rerun"):
                    n, t = timed_export(url, opts.page_size, export_date=day,
                                        warehouse=f"sqlite:///{work}/warehouse.db")
                    counts.append(n)
                    times[phase].append(t)
                    rss[phase] = peak_rss_mb()
                if set(counts) != {opts.leases}:
                    raise SystemExit(f"lease counts differ: raw/parquet/sqlite/rerun {counts}, "
                                     f"generated {opts.leases}")
        finally:
            stop_kea(proc, url)
        rate = {k: opts.leases / statistics.median(v) for k, v in times.items()}
        print(json.dumps({
            "leases": opts.leases, "page_size": opts.page_size, "rounds": len(times["raw"]),
            "raw_get_page_per_s": round(rate["raw"]), "parquet_per_s": round(rate["parquet"]),
            "sqlite_per_s": round(rate["sqlite"]),
            "sqlite_rerun_per_s": round(rate["sqlite_rerun"]),
            "ratio_parquet": round(rate["parquet"] / rate["raw"], 3),
            "ratio_sqlite": round(rate["sqlite"] / rate["raw"], 3),
            "ratio_sqlite_rerun": round(rate["sqlite_rerun"] / rate["raw"], 3),
            "seconds": {k: [round(x, 2) for x in v] for k, v in times.items()},
            "peak_rss_mb": peak_rss_mb(), "peak_rss_mb_after": rss,
            "load_avg_1m": round(os.getloadavg()[0], 2), "cores": os.cpu_count(),
        }))
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
