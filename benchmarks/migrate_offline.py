"""Benchmark: dhcpd.leases -> Kea memfile CSV, end to end through ``kea-etl migrate``.

    python benchmarks/migrate_offline.py [--leases N] [--keep DIR]

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
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.harness.leasefile import dhcpd_date, quote  # noqa: E402

_HTYPE_ETHER = b"\x01"  # a uid is the hardware type and the MAC (RFC 2132 client identifier)
AS_OF = 1_795_000_000  # 2026-11-18T08:26:40Z
LEASE_TIME = 86400


def _accelerated() -> bool:
    """Whether the command's dhcpd.leases parser uses the C extension (kea_etl/_isc4.c)."""
    code = "from kea_etl.extract.isc_leases import ACCELERATED; print(ACCELERATED)"
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--leases", type=int, default=1_000_000)
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep the files")
    args = ap.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="kea-etl-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    leases = work / "dhcpd.leases"
    generate(leases, args.leases)
    kea = work / "kea-dhcp4.json"
    kea.write_text(json.dumps({"Dhcp4": {"subnet4": [
        {"id": 1, "subnet": "10.0.0.0/8", "pools": [{"pool": "10.0.0.2 - 10.255.255.250"}]}]}}))
    out, report = work / "out", work / "report.json"
    cli = Path(sys.executable).parent / "kea-etl"
    cmd = [str(cli), "migrate", str(leases), "--to", f"memfile:{out}", "--kea-config", str(kea),
           "--as-of", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(AS_OF)),
           "--report", str(report), "--no-progress"]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        sys.exit(f"kea-etl migrate failed ({proc.returncode}): {proc.stderr.strip()}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_kb = usage.ru_maxrss
    data = json.loads(report.read_text())
    print(json.dumps({
        "leases": args.leases,
        "records": data["read"],
        "loaded": data["loaded"],
        "skipped": sum(data["skipped"].values()),
        "failed": data["failed"],
        "seconds": round(seconds, 2),
        "leases_per_s": round(args.leases / seconds),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        # CPU time of the command: on a shared machine wall time also counts waiting for a core
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "cores": os.cpu_count(),
        "accelerated": _accelerated(),
    }))
    if not args.keep:
        for p in (out / "kea-leases4.csv", leases, kea, report):
            p.unlink(missing_ok=True)
        for d in (out, work):
            with contextlib.suppress(OSError):
                d.rmdir()


if __name__ == "__main__":
    main()
