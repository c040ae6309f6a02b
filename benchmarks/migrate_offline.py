"""Benchmark: dhcpd.leases -> Kea memfile CSV, end to end through ``kea-etl migrate``.

    python benchmarks/migrate_offline.py [--leases N] [--family 4|6] [--keep DIR]

Generates a dhcpd.leases with N lease blocks (default 1,000,000; about 10 % are history blocks
rewriting an earlier address, 10 % of the winners are free, the rest active with a hardware
address, most with a uid and half with a client-hostname) and a matching Kea configuration, then
runs the real command line in a child process::

    kea-etl migrate dhcpd.leases --to memfile:OUT --kea-config kea.json --as-of ... --report r.json

and prints one JSON line: ``leases`` (blocks in the file), ``records`` (distinct leases read),
``loaded``, ``seconds`` (wall time of the command), ``leases_per_s`` (blocks per second),
``peak_rss_mb`` (the command's peak resident memory), ``cpu_seconds`` (the command's CPU time),
the machine's core count and load average (other work on the machine inflates ``seconds``).
Target: 1M leases in <= 20 s on 2 cores.

``--family 6`` migrates a dhcpd6.leases instead (written by ``benchmarks/parse.py``'s
``generate6``: two thirds ia-na, one third ia-pd /64, 10 % history, 10 % expired) into a Kea
with one /32 subnet holding an address pool and a pd-pool; the JSON then says ``"family": 6``.
The same run then migrates a v4 file of as many leases and adds its figures (``v4_seconds``,
``v4_cpu_seconds``) and the ratios (``ratio_to_v4``, wall; ``ratio_to_v4_cpu``). Target: at most
twice the v4 time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.bytecode import compile_kea_etl  # noqa: E402
from tests.harness.leasefile import dhcpd_date, quote  # noqa: E402

_HTYPE_ETHER = b"\x01"  # a uid is the hardware type and the MAC (RFC 2132 client identifier)
AS_OF = 1_795_000_000  # 2026-11-18T08:26:40Z
LEASE_TIME = 86400


def _accelerated(family: int) -> bool:
    """Whether the command's lease file parser uses the C extension (kea_etl/_isc4.c)."""
    name = "ACCELERATED6" if family == 6 else "ACCELERATED"
    code = f"from kea_etl.extract.isc_leases import {name}; print({name})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    return out.stdout.strip() == "True"


def generate(path: Path, n: int, *, seed: int = 11) -> int:
    """Write ``n`` lease blocks in 10.0.0.0/8; returns the number of distinct addresses."""
    rng = random.Random(seed)
    unique = max(1, n - n // 10)
    times = {}
    with path.open("w", encoding="ascii", newline="\n") as fh:
        fh.write("# The format of this file is documented in the dhcpd.leases(5) manual page.\n"
                 "# This lease file was written by isc-dhcp-4.4.3-P1\n\n"
                 "# authoring-byte-order entry is generated, DO NOT DELETE\n"
                 "authoring-byte-order little-endian;\n\n")
        buf: list[str] = []
        for i in range(n):
            idx = i if i < unique else rng.randrange(unique)
            ip = (10 << 24) + 2 + idx
            start = AS_OF - rng.randrange(LEASE_TIME // 2) - (LEASE_TIME // 4 if i < unique else 0)
            end = start + LEASE_TIME
            s = times.get(start) or times.setdefault(start, dhcpd_date(start))
            e = times.get(end) or times.setdefault(end, dhcpd_date(end))
            mac = ((0x020000000000 + idx * 7919) & 0xFFFFFFFFFFFF).to_bytes(6, "big").hex(":")
            state = "free" if idx % 10 == 9 else "active"
            block = [f"lease {ip >> 24}.{(ip >> 16) & 255}.{(ip >> 8) & 255}.{ip & 255} {{",
                     f"  starts {s};", f"  ends {e};", f"  tstp {e};", f"  cltt {s};",
                     f"  binding state {state};", "  next binding state free;",
                     "  rewind binding state free;", f"  hardware ethernet {mac};"]
            if idx % 3:
                uid = quote(_HTYPE_ETHER + bytes.fromhex(mac.replace(":", "")))
                block.append(f"  uid {uid};")
            if idx % 2:
                block.append(f'  client-hostname "host-{idx}";')
            block.append("}\n")
            buf.append("\n".join(block))
            if len(buf) >= 20_000:
                fh.write("".join(buf))
                buf.clear()
                if len(times) > 200_000:
                    times.clear()
        fh.write("".join(buf))
    return unique


@dataclass(frozen=True)
class Run:
    """One ``kea-etl migrate`` command: its report's counts and its resource use."""

    records: int
    loaded: int
    skipped: int
    failed: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float


def _migrate(family: int, n: int, work: Path, keep: bool) -> Run:
    """Write a lease file of ``n`` blocks and its Kea configuration into work, run ``kea-etl
    migrate`` on them; the command's figures (wall and CPU seconds, peak RSS, the report)."""
    if family == 6:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from parse import generate6  # one generator of dhcpd6.leases for both benchmarks

        leases = work / "dhcpd6.leases"
        generate6(leases, n)
        kea = work / "kea-dhcp6.json"
        kea.write_text(json.dumps({"Dhcp6": {"subnet6": [
            {"id": 1, "subnet": "2001:db8::/32", "pools": [{"pool": "2001:db8::/96"}],
             "pd-pools": [{"prefix": "2001:db8::", "prefix-len": 44, "delegated-len": 64}]}]}}))
    else:
        leases = work / "dhcpd.leases"
        generate(leases, n)
        kea = work / "kea-dhcp4.json"
        kea.write_text(json.dumps({"Dhcp4": {"subnet4": [
            {"id": 1, "subnet": "10.0.0.0/8", "pools": [{"pool": "10.0.0.2 - 10.255.255.250"}]}]}}))
    out, report = work / f"out{family}", work / f"report{family}.json"
    cli = Path(sys.executable).parent / "kea-etl"
    cmd = [str(cli), "migrate", str(leases), "--to", f"memfile:{out}", "--kea-config", str(kea),
           "--as-of", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(AS_OF)),
           "--report", str(report), "--no-progress"]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr = proc.stderr.read() if proc.stderr is not None else ""
    # this child's own resource usage (RUSAGE_CHILDREN would add up both runs)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        sys.exit(f"kea-etl migrate failed ({proc.returncode}): {stderr.strip()}")
    data = json.loads(report.read_text())
    if not keep:
        for p in (out / f"kea-leases{family}.csv", out / "kea-etl-run.json", leases, kea, report):
            p.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            out.rmdir()
    return Run(data["read"], data["loaded"], sum(data["skipped"].values()), data["failed"],
               seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--leases", type=int, default=1_000_000)
    ap.add_argument("--family", type=int, choices=(4, 6), default=4,
                    help="4: dhcpd.leases; 6: dhcpd6.leases (ia-na and ia-pd blocks), compared "
                         "with a v4 migration of as many leases in the same run")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep the files")
    args = ap.parse_args()
    compile_kea_etl()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="kea-etl-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    keep = bool(args.keep)
    run = _migrate(args.family, args.leases, work, keep)
    line: dict[str, object] = {
        "leases": args.leases,
        "family": args.family,
        "records": run.records,
        "loaded": run.loaded,
        "skipped": run.skipped,
        "failed": run.failed,
        "seconds": round(run.seconds, 2),
        "leases_per_s": round(args.leases / run.seconds),
        "peak_rss_mb": round(run.peak_rss_mb, 1),
        # CPU time of the command: on a shared machine wall time also counts waiting for a core
        "cpu_seconds": round(run.cpu_seconds, 2),
    }
    if args.family == 6:
        # the floor: the same command on a v4 file of as many leases, in the same run
        v4 = _migrate(4, args.leases, work, keep)
        line.update({
            "v4_seconds": round(v4.seconds, 2),
            "v4_cpu_seconds": round(v4.cpu_seconds, 2),
            "v4_peak_rss_mb": round(v4.peak_rss_mb, 1),
            "ratio_to_v4": round(run.seconds / v4.seconds, 2),
            "ratio_to_v4_cpu": round(run.cpu_seconds / v4.cpu_seconds, 2),
        })
    line.update({"load_avg_1m": round(os.getloadavg()[0], 2), "cores": os.cpu_count(),
                 "accelerated": _accelerated(args.family)})
    print(json.dumps(line))
    if not keep:
        with contextlib.suppress(OSError):
            work.rmdir()


if __name__ == "__main__":
    main()
