#!/usr/bin/env python3
"""Convert throughput: a generated dhcpd.conf with many subnets and hosts -> a Kea config.

    python benchmarks/convert.py [--subnets 5000] [--hosts 50000] [--keep DIR]

Writes a dhcpd.conf of N /24 subnets (10.x.y.0, each with a range and a routers option) and M
hosts spread over them, runs :func:`kea_etl.convert.convert` on it and writes the result.
Prints one JSON line: subnets, hosts, reservations, seconds, peak_rss_mb (this process).
Targets (issue 17): a few seconds, bounded memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.bytecode import compile_kea_etl  # noqa: E402
from kea_etl.convert import convert, write  # noqa: E402


def make_conf(path: Path, subnets: int, hosts: int) -> None:
    with path.open("w") as fh:
        fh.write("authoritative;\ndefault-lease-time 3600;\nmax-lease-time 7200;\n")
        for i in range(subnets):
            a, b = 10 + i // 65536, (i // 256) % 256
            c = i % 256
            fh.write(f"subnet {a}.{b}.{c}.0 netmask 255.255.255.0 {{\n"
                     f"  option routers {a}.{b}.{c}.1;\n  range {a}.{b}.{c}.100 {a}.{b}.{c}.200;\n}}\n")
        for h in range(hosts):
            i = h % subnets
            a, b, c = 10 + i // 65536, (i // 256) % 256, i % 256
            mac = ":".join(f"{x:02x}" for x in (0x52, 0x54, h >> 24 & 255, h >> 16 & 255,
                                                 h >> 8 & 255, h & 255))
            fh.write(f"host h{h} {{ hardware ethernet {mac}; fixed-address {a}.{b}.{c}."
                     f"{2 + (h // subnets) % 90}; option host-name \"h{h}\"; }}\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subnets", type=int, default=5000)
    ap.add_argument("--hosts", type=int, default=50000)
    ap.add_argument("--keep", type=Path)
    args = ap.parse_args()
    compile_kea_etl()
    with tempfile.TemporaryDirectory() as tmp:
        d = args.keep or Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        conf = d / "dhcpd.conf"
        make_conf(conf, args.subnets, args.hosts)
        t0 = time.perf_counter()
        result = convert(conf)
        write(result, d / "kea")
        secs = time.perf_counter() - t0
        assert result.v4 is not None
    print(json.dumps({"subnets": len(result.v4.subnet_ids), "hosts": args.hosts,
                      "reservations": len(result.v4.reservations), "seconds": round(secs, 2),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                           / 1024, 1)}))


if __name__ == "__main__":
    main()
