"""Benchmark: ``kea-etl reconcile dhcpd.leases --against MEMFILE`` against its floor, one JSON line.

    python benchmarks/reconcile_against.py [--leases N] [--keep DIR]      (default 300000)

Generates a dhcpd.leases of N blocks (the file of ``benchmarks/migrate_offline.py``: about 10 %
history, 10 % of the winners free), migrates it to a Kea memfile with ``kea-etl migrate`` (set-up,
not timed), then runs, each in its own child process:

* ``kea_etl``: the real command line, ``kea-etl reconcile dhcpd.leases --against OUT
  --kea-config kea.json --as-of ... --json r.json`` (process start, policy, reading the memfile
  as Kea loads it, the comparison and the JSON report);
* ``floor``: the least any reconciliation must do, ``kea_etl.extract.isc_leases.extract`` over
  the source (every item consumed) plus ``csv.reader`` over the memfile (every row).

Prints one JSON line: ``kea_etl_seconds`` / ``floor_seconds`` (wall; ``*_cpu_seconds`` alongside),
``floor_extract_seconds`` and ``floor_csv_seconds`` (the floor's parts), ``ratio`` (floor over
kea-etl, wall; ``ratio_cpu`` on CPU time; 1.0 would be the floor itself), ``matched`` (must be
every lease the migration wrote), ``kea_etl_peak_rss_mb``, the load average and cores.
Target (issue 15): ratio >= 0.5.
"""

from __future__ import annotations

import argparse
import contextlib
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
sys.path.insert(0, str(REPO / "benchmarks"))

from migrate_offline import AS_OF, generate  # noqa: E402

_AS_OF_ISO = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(AS_OF))


def _floor_child(leases: str, memfile: str) -> None:
    import csv

    from kea_etl.extract.isc_leases import extract

    t0, c0 = time.perf_counter(), time.process_time()
    n = sum(1 for _ in extract(leases))
    t1, c1 = time.perf_counter(), time.process_time()
    with Path(memfile).open(newline="") as fh:
        rows = sum(1 for _ in csv.reader(fh))
    t2, c2 = time.perf_counter(), time.process_time()
    print(json.dumps({"extract": t1 - t0, "extract_cpu": c1 - c0, "csv": t2 - t1,
                      "csv_cpu": c2 - c1, "items": n, "rows": rows}))


def _timed(cmd: list[str]) -> tuple[subprocess.CompletedProcess[str], float, float, float]:
    """Run cmd; (result, wall s, CPU s, peak RSS MB) of that child alone (os.wait4)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - t0
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        proc = subprocess.CompletedProcess(cmd, child.returncode, out.read(), err.read())
    return proc, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--leases", type=int, default=300_000)
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep the files")
    ap.add_argument("--floor-child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.floor_child:
        _floor_child(*args.floor_child)
        return
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="kea-etl-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        leases = work / "dhcpd.leases"
        generate(leases, args.leases)
        kea = work / "kea-dhcp4.json"
        kea.write_text(json.dumps({"Dhcp4": {"subnet4": [
            {"id": 1, "subnet": "10.0.0.0/8", "pools": [{"pool": "10.0.0.2 - 10.255.255.250"}]}]}}))
        out = work / "out"
        cli = str(Path(sys.executable).parent / "kea-etl")
        mig = subprocess.run([cli, "migrate", str(leases), "--to", f"memfile:{out}",
                              "--kea-config", str(kea), "--as-of", _AS_OF_ISO,
                              "--report", str(work / "migrate.json"), "--no-progress"],
                             capture_output=True, text=True, check=False)
        if mig.returncode not in (0, 1):
            sys.exit(f"kea-etl migrate failed ({mig.returncode}): {mig.stderr.strip()}")
        loaded = json.loads((work / "migrate.json").read_text())["loaded"]
        memfile = out / "kea-leases4.csv"

        floor_proc, floor_wall, floor_cpu, _ = _timed(
            [sys.executable, __file__, "--floor-child", str(leases), str(memfile)])
        if floor_proc.returncode != 0:
            sys.exit(f"floor child failed: {floor_proc.stderr[-2000:]}")
        floor = json.loads(floor_proc.stdout.strip().splitlines()[-1])

        report = work / "reconcile.json"
        proc, wall, cpu, rss = _timed(
            [cli, "reconcile", str(leases), "--against", str(out), "--kea-config", str(kea),
             "--as-of", _AS_OF_ISO, "--json", str(report), "--no-progress", "--quiet"])
        if proc.returncode not in (0, 1):
            sys.exit(f"kea-etl reconcile failed ({proc.returncode}): {proc.stderr.strip()}")
        summary = json.loads(report.read_text())
        floor_s = floor["extract"] + floor["csv"]
        floor_c = floor["extract_cpu"] + floor["csv_cpu"]
        print(json.dumps({
            "leases": args.leases,
            "memfile_rows": floor["rows"] - 1,
            "matched": summary["matched"],
            "differences": summary["differences_total"],
            "migrated": loaded,
            "kea_etl_seconds": round(wall, 2),
            "kea_etl_cpu_seconds": round(cpu, 2),
            "floor_seconds": round(floor_s, 2),
            "floor_cpu_seconds": round(floor_c, 2),
            "floor_extract_seconds": round(floor["extract"], 2),
            "floor_csv_seconds": round(floor["csv"], 2),
            "ratio": round(floor_s / wall, 3),
            "ratio_cpu": round(floor_c / cpu, 3),
            "kea_etl_peak_rss_mb": round(rss, 1),
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "cores": os.cpu_count(),
        }))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                (work / "reconcile.json").unlink()


if __name__ == "__main__":
    main()
