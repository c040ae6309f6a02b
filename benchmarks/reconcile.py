"""Benchmark: ``kea-etl reconcile`` against its floors, Kea's files and a live Kea, one JSON line.

    python benchmarks/reconcile.py [--leases N] [--rounds 3] [--keep DIR] [--against-only]
                                                                               (default 300000)

Generates a dhcpd.leases of N blocks (the file of ``benchmarks/migrate_offline.py``: about 10 %
history, 10 % of the winners free) and migrates it to a Kea memfile with ``kea-etl migrate``
(set-up, not timed). Then, each round, every figure in its own child process:

* ``against``: the command line ``kea-etl reconcile dhcpd.leases --against OUT --kea-config
  kea.json --as-of ... --json r.json`` (process start, the policy, the memfile read as Kea loads
  it, the comparison, the JSON report); its floor is ``kea_etl.extract.isc_leases.extract``
  over the source (every item consumed) plus ``csv.reader`` over the memfile (every row);
* ``kea``: a real Kea 2.2 (``kea-dhcp4``, started here on a copy of that memfile, UNIX control
  socket, lease_cmds + stat_cmds) and ``kea-etl reconcile dhcpd.leases --kea unix://...``; its
  floor is the same extract plus a raw ``lease4-get-page`` loop (``benchmarks/export.py``'s
  ``raw_loop``: pages fetched and thrown away).

Rounds interleave the figures so load drifting on a shared machine hits all of them alike;
each figure is the median over the rounds. Prints one JSON line: ``kea_etl_against_s`` /
``floor_against_s`` and ``ratio_against`` (floor over kea-etl, wall; 1.0 would be the floor),
``kea_etl_kea_s`` / ``floor_kea_s`` and ``ratio_kea``, the floors' parts, ``matched`` (must be
every lease the migration wrote, both ways), ``ratio_against_cpu`` / ``ratio_kea_cpu`` (the
same on CPU seconds, steadier on a shared machine), each kea-etl child's peak RSS, the load
average (1, 5, 15 min) at the end and the cores. Targets: ratio_against >= 0.5, ratio_kea >=
0.8. ``--against-only`` leaves the live Kea out (its figures are null): for the memory of
``--against`` at 10M leases, where a Kea 2.2 holding them all would need gigabytes itself.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.bytecode import compile_kea_etl  # noqa: E402

sys.path.insert(0, str(REPO / "benchmarks"))

from migrate_offline import AS_OF, generate  # noqa: E402

_AS_OF_ISO = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(AS_OF))


def _floor_child(kind: str, source: str, target: str) -> None:
    """One floor in this (child) process: ``extract``, ``csv`` or ``loop``; prints seconds
    (wall and this process's CPU)."""
    t0, c0 = time.perf_counter(), time.process_time()
    if kind == "extract":
        from kea_etl.extract.isc_leases import extract

        n = sum(1 for _ in extract(source))
    elif kind == "csv":
        import csv

        with Path(target).open(newline="") as fh:
            n = sum(1 for _ in csv.reader(fh)) - 1
    else:
        from benchmarks.export import raw_loop

        n, _ = raw_loop(target, 1000)
    print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                      "items": n}))


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


def _floor(kind: str, source: Path, target: str) -> tuple[float, float, int]:
    proc, _, _, _ = _timed([sys.executable, __file__, "--floor-child", kind, str(source),
                            target])
    if proc.returncode != 0:
        sys.exit(f"floor {kind} failed: {proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return float(out["seconds"]), float(out["cpu"]), int(out["items"])


def _reconcile(cli: str, source: Path, kea_config: Path, report: Path,
               *target: str) -> tuple[float, float, float, int]:
    proc, wall, cpu, rss = _timed([cli, "reconcile", str(source), *target, "--kea-config",
                              str(kea_config), "--as-of", _AS_OF_ISO, "--json", str(report),
                              "--no-progress", "--quiet"])
    if proc.returncode not in (0, 1):
        sys.exit(f"kea-etl reconcile {' '.join(target)} failed ({proc.returncode}): "
                 f"{proc.stderr.strip()}")
    summary = json.loads(report.read_text())
    return wall, cpu, rss, int(summary["matched"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--leases", type=int, default=300_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep the files")
    ap.add_argument("--against-only", action="store_true",
                    help="only reconcile --against and its floor (no live Kea)")
    ap.add_argument("--floor-child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    compile_kea_etl()
    if args.floor_child:
        _floor_child(*args.floor_child)
        return
    from benchmarks.export import start_kea, stop_kea

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="kea-etl-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        leases = work / "dhcpd.leases"
        generate(leases, args.leases)
        kea_config = work / "kea-dhcp4.json"
        kea_config.write_text(json.dumps({"Dhcp4": {"subnet4": [
            {"id": 1, "subnet": "10.0.0.0/8", "pools": [{"pool": "10.0.0.2 - 10.255.255.250"}]}]}}))
        out = work / "out"
        cli = str(Path(sys.executable).parent / "kea-etl")
        mig = subprocess.run([cli, "migrate", str(leases), "--to", f"memfile:{out}",
                              "--kea-config", str(kea_config), "--as-of", _AS_OF_ISO,
                              "--report", str(work / "migrate.json"), "--no-progress"],
                             capture_output=True, text=True, check=False)
        if mig.returncode not in (0, 1):
            sys.exit(f"kea-etl migrate failed ({mig.returncode}): {mig.stderr.strip()}")
        loaded = json.loads((work / "migrate.json").read_text())["loaded"]
        memfile = out / "kea-leases4.csv"
        proc, url = None, ""
        if not args.against_only:
            kea_dir = work / "kea"
            kea_dir.mkdir(exist_ok=True)
            shutil.copyfile(memfile, kea_dir / "kea-leases4.csv")
            proc, url = start_kea(kea_dir, kea_dir / "kea-leases4.csv")
        times: dict[str, list[float]] = {k: [] for k in (
            "extract", "csv", "loop", "against", "kea")}
        cpu: dict[str, list[float]] = {k: [] for k in times}
        rss: dict[str, float] = {"against": 0.0, "kea": 0.0}
        matched: dict[str, set[int]] = {"against": set(), "kea": set()}
        rows = served = 0
        try:
            for _ in range(max(1, args.rounds)):
                t, c, _ = _floor("extract", leases, "")
                times["extract"].append(t)
                cpu["extract"].append(c)
                t, c, rows = _floor("csv", leases, str(memfile))
                times["csv"].append(t)
                cpu["csv"].append(c)
                wall, c, mb, m = _reconcile(cli, leases, kea_config, work / "against.json",
                                            "--against", str(out))
                times["against"].append(wall)
                cpu["against"].append(c)
                rss["against"] = max(rss["against"], mb)
                matched["against"].add(m)
                if proc is None:
                    continue
                t, c, served = _floor("loop", leases, url)
                times["loop"].append(t)
                cpu["loop"].append(c)
                wall, c, mb, m = _reconcile(cli, leases, kea_config, work / "kea.json",
                                            "--kea", url)
                times["kea"].append(wall)
                cpu["kea"].append(c)
                rss["kea"] = max(rss["kea"], mb)
                matched["kea"].add(m)
        finally:
            if proc is not None:
                stop_kea(proc, url)
        med = {k: statistics.median(v) if v else math.nan for k, v in times.items()}
        floor_against = med["extract"] + med["csv"]
        floor_kea = med["extract"] + med["loop"]
        mcpu = {k: statistics.median(v) if v else math.nan for k, v in cpu.items()}

        def num(x: float, digits: int) -> float | None:  # NaN (not measured) as JSON null
            return None if math.isnan(x) else round(x, digits)
        print(json.dumps({
            "leases": args.leases, "rounds": len(times["against"]),
            "memfile_rows": rows, "kea_served": served, "migrated": loaded,
            "matched_against": sorted(matched["against"]), "matched_kea": sorted(matched["kea"]),
            "kea_etl_against_s": round(med["against"], 2),
            "floor_against_s": round(floor_against, 2),
            "ratio_against": round(floor_against / med["against"], 3),
            "kea_etl_kea_s": num(med["kea"], 2),
            "floor_kea_s": num(floor_kea, 2),
            "ratio_kea": num(floor_kea / med["kea"], 3),
            "floor_extract_s": round(med["extract"], 2),
            "floor_csv_s": round(med["csv"], 2),
            "floor_get_page_loop_s": num(med["loop"], 2),
            "seconds": {k: [round(x, 2) for x in v] for k, v in times.items()},
            # CPU seconds of the same runs (kea-etl: its whole process; a floor: the timed
            # part); Kea's own work is in neither
            "ratio_against_cpu": round((mcpu["extract"] + mcpu["csv"]) / mcpu["against"], 3),
            "ratio_kea_cpu": num((mcpu["extract"] + mcpu["loop"]) / mcpu["kea"], 3),
            "cpu_seconds": {k: [round(x, 2) for x in v] for k, v in cpu.items()},
            "kea_etl_peak_rss_mb": {k: round(v, 1) if times[k] else None for k, v in rss.items()},
            "load_avg": [round(x, 2) for x in os.getloadavg()],
            "cores": os.cpu_count(),
        }))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
