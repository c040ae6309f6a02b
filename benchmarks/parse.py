"""Benchmark: kea-etl's dhcpd.leases extractor against isc_dhcp_leases on the same file.

    python benchmarks/parse.py [--leases N] [--family 4|6] [--peer-leases M] [--history 0.1]
                               [--keep DIR]

Generates a dhcpd.leases the way dhcpd 4.4 writes it (header, authoring-byte-order, blocks with
starts / ends / tstp / cltt / binding state / next binding state / rewind binding state /
hardware ethernet / uid / client-hostname, plus renewals of earlier addresses as history), then
runs each parser in its own child process and prints ONE JSON line. ``--family 6`` writes a
dhcpd6.leases instead (:func:`generate6`: ia-na and ia-pd blocks with octal-escaped ids, a
server-duid, renewals as history); the JSON then says ``"family": 6``.

* ``leases`` is the number of lease blocks in the file (history included); both rates are blocks
  parsed per second. kea-etl is measured through ``kea_etl.extract.isc_leases.extract`` -- the
  function ``kea-etl migrate`` uses -- consuming every item it yields (both passes included).
  isc_dhcp_leases is measured with ``IscDhcpLeases(path).get()``.
* Rates (``*_leases_per_s``, ``ratio``) use each child's CPU time, so that other work on a
  shared machine does not skew the ratio; for kea-etl that is its own CPU time *plus* that of
  any worker process (``kea_etl_cpu_self_seconds`` + ``kea_etl_cpu_worker_seconds`` =
  ``kea_etl_seconds``): with the C accelerator (``kea_etl_accelerated``: kea_etl/_isc4.c, built
  by ``pip install``) the parser runs in one process; without it, pass 2 forks a worker on
  large v4 files, and using two cores does not improve the CPU rate. Wall-clock seconds and
  rates are reported alongside (``*_wall_seconds``, ``kea_etl_wall_leases_per_s``,
  ``ratio_wall``); they depend on the machine's other load. ``KEA_ETL_NO_ACCEL=1`` measures
  the pure-Python parser.
* ``*_peak_rss_mb`` is the child's peak resident set size (``ru_maxrss``), interpreter included;
  ``kea_etl_worker_peak_rss_mb`` is the forked worker's (it shares most pages with its parent).
* ``--peer-leases M`` measures isc_dhcp_leases on a file holding only the first M blocks (it
  needs ~2.5 GB at 1M); the JSON then says ``isc_dhcp_leases_file_leases`` = M. By default the
  peer reads the very same file.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.bytecode import compile_kea_etl  # noqa: E402
from tests.harness.leasefile import dhcpd_date, quote  # noqa: E402

_HEADER = ("# The format of this file is documented in the dhcpd.leases(5) manual page.\n"
           "# This lease file was written by isc-dhcp-4.4.3-P1\n\n"
           "# authoring-byte-order entry is generated, DO NOT DELETE\n"
           "authoring-byte-order little-endian;\n\n")
_LEASE_TIME = 86400
_HTYPE_ETHER = bytes([1])



def _date_writer() -> Callable[[int], str]:
    """dhcpd_date with a bounded cache (the generators write many leases per second of time)."""
    cache: dict[int, str] = {}

    def when(t: int) -> str:
        text = cache.get(t)
        if text is None:
            if len(cache) > 500_000:
                cache.clear()
            text = cache[t] = dhcpd_date(t)
        return text

    return when

def generate(path: Path, n: int, *, history: float = 0.1, seed: int = 7) -> int:
    """Write n lease blocks (a fraction ``history`` re-write earlier addresses); return #unique."""
    rng = random.Random(seed)
    now = 1_795_000_000
    unique = max(1, int(n * (1 - history)))
    base_ip = (10 << 24)
    when = _date_writer()

    with path.open("w", encoding="latin-1", newline="\n") as fh:
        fh.write(_HEADER)
        buf: list[str] = []
        for i in range(n):
            idx = i if i < unique else rng.randrange(unique)
            ip = base_ip + 2 + idx
            addr = f"{ip >> 24}.{(ip >> 16) & 255}.{(ip >> 8) & 255}.{ip & 255}"
            mac = (0x020000000000 + idx * 7919) & 0xFFFFFFFFFFFF
            macb = mac.to_bytes(6, "big")
            start = now - rng.randrange(_LEASE_TIME) - (0 if i < unique else 0)
            if i >= unique:
                start = now - rng.randrange(_LEASE_TIME // 4)
            end = start + _LEASE_TIME
            state = "active" if rng.random() < 0.9 else "free"
            lines = [f"lease {addr} {{",
                     f"  starts {when(start)};",
                     f"  ends {when(end)};",
                     f"  tstp {when(end)};",
                     f"  cltt {when(start)};",
                     f"  binding state {state};"]
            if state == "active":
                lines.append("  next binding state free;")
                lines.append("  rewind binding state free;")
            else:
                lines.append("  rewind binding state active;")
            lines.append(f"  hardware ethernet {macb.hex(':')};")
            if idx % 3:
                lines.append(f"  uid {quote(_HTYPE_ETHER + macb)};")
            if idx % 2:
                lines.append(f'  client-hostname "host-{idx}";')
            lines.append("}\n")
            buf.append("\n".join(lines))
            if len(buf) >= 10_000:
                fh.write("".join(buf))
                buf.clear()
        fh.write("".join(buf))
    return unique


def generate6(path: Path, n: int, *, history: float = 0.1, seed: int = 7) -> int:
    """Write n dhcpd6.leases blocks as dhcpd 4.4 does (two thirds ia-na, one third ia-pd, each
    with its cltt and one iaaddr / iaprefix; a fraction ``history`` renew an earlier IA);
    return #unique."""
    rng = random.Random(seed)
    now = 1_795_000_000
    unique = max(1, int(n * (1 - history)))
    when = _date_writer()

    with path.open("w", encoding="latin-1", newline="\n") as fh:
        fh.write(_HEADER)
        fh.write(f"server-duid {quote(bytes.fromhex('000100012f0c4a1b525400aabbcc'))};\n\n")
        buf: list[str] = []
        for i in range(n):
            idx = i if i < unique else rng.randrange(unique)
            pd = idx % 3 == 2
            duid = b"\x00\x03\x00\x01" + ((0x020000000000 + idx * 7919) & 0xFFFFFFFFFFFF
                                              ).to_bytes(6, "big")
            iaid = (idx & 0xFFFF).to_bytes(4, "little")
            start = now - rng.randrange(_LEASE_TIME // (4 if i >= unique else 1))
            state = "active" if rng.random() < 0.9 else "expired"
            if pd:
                head, sub = "ia-pd", f"iaprefix 2001:db8:{idx >> 16 & 0xFFFF:x}:{idx & 0xFFFF:x}::/64"
            else:
                head, sub = "ia-na", f"iaaddr 2001:db8::{idx >> 16 & 0xFFFF:x}:{idx & 0xFFFF:x}"
            buf.append(f"{head} {quote(iaid + duid)} {{\n"
                       f"  cltt {when(start)};\n"
                       f"  {sub} {{\n"
                       f"    binding state {state};\n"
                       f"    preferred-life {_LEASE_TIME // 2};\n"
                       f"    max-life {_LEASE_TIME};\n"
                       f"    ends {when(start + _LEASE_TIME)};\n"
                       "  }\n}\n\n")
            if len(buf) >= 10_000:
                fh.write("".join(buf))
                buf.clear()
        fh.write("".join(buf))
    return unique


def _prefix_copy(src: Path, dst: Path, m: int) -> None:
    """The first m lease blocks of src."""
    seen = 0
    with src.open("rb") as fin, dst.open("wb") as fout:
        for line in fin:
            fout.write(line)
            if line == b"}\n":
                seen += 1
                if seen >= m:
                    break


def _child(kind: str, path: str) -> None:
    sys.path.insert(0, str(REPO))
    if kind == "kea":
        from kea_etl.extract import isc_leases
        from kea_etl.extract.isc_leases import extract

        isc_leases.tune(**isc_leases.tuning_from_environ(os.environ))  # KEA_ETL_NO_ACCEL=1
        t0, c0 = time.perf_counter(), time.process_time()
        count = errors = 0
        for item in extract(path):
            if isinstance(item, Exception):
                errors += 1
            count += 1
        cpu_self = time.process_time() - c0
        wall = time.perf_counter() - t0
        # pass 2 may run partly in a forked worker process (kea_etl.extract.isc_leases._parallel):
        # its CPU time counts too, so the CPU rate stays the cost of the work on any core
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_workers = kids.ru_utime + kids.ru_stime
        out = {"seconds": cpu_self + cpu_workers, "wall": wall, "cpu_self": cpu_self,
               "cpu_workers": cpu_workers, "worker_peak_rss_mb": kids.ru_maxrss / 1024,
               "yielded": count, "errors": errors,
               "accelerated": isc_leases._fastpath._scan4 is not None,
               "accelerated6": isc_leases._fastpath._scan6 is not None}
    else:
        from isc_dhcp_leases import IscDhcpLeases
        t0, c0 = time.perf_counter(), time.process_time()
        leases = IscDhcpLeases(path).get(include_backups=True)
        out = {"seconds": time.process_time() - c0, "wall": time.perf_counter() - t0,
               "yielded": len(leases), "errors": 0}
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def _run_child(kind: str, path: Path) -> dict[str, float]:
    res = subprocess.run([sys.executable, __file__, "--child", kind, str(path)],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"{kind} child failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--leases", type=int, default=1_000_000)
    ap.add_argument("--family", type=int, choices=(4, 6), default=4,
                    help="4: dhcpd.leases lease blocks; 6: dhcpd6.leases ia-na / ia-pd blocks")
    ap.add_argument("--peer-leases", type=int, default=None,
                    help="run isc_dhcp_leases on the first M blocks only")
    ap.add_argument("--history", type=float, default=0.1,
                    help="fraction of blocks that renew an earlier address")
    ap.add_argument("--keep", type=Path, default=None, help="write the file here and keep it")
    ap.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    compile_kea_etl()
    if args.child:
        _child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="kea-etl-bench-") as tmp:
        path = (args.keep or Path(tmp)) / "dhcpd.leases"
        path.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        unique = (generate6 if args.family == 6 else generate)(path, args.leases,
                                                                 history=args.history)
        gen_s = time.perf_counter() - t0
        kea = _run_child("kea", path)
        peer_path, peer_n = path, args.leases
        if args.peer_leases is not None and args.peer_leases < args.leases:
            peer_path, peer_n = Path(tmp) / "dhcpd-prefix.leases", args.peer_leases
            _prefix_copy(path, peer_path, peer_n)
        isc = _run_child("isc", peer_path)
        kea_rate = args.leases / kea["seconds"]
        isc_rate = peer_n / isc["seconds"]
        print(json.dumps({
            "leases": args.leases,
            "family": args.family,
            "unique_addresses": unique,
            "file_mb": round(path.stat().st_size / 1e6, 1),
            "generate_seconds": round(gen_s, 1),
            "timing": "rates on CPU time of each child (kea-etl: incl. any worker process); wall alongside",
            "kea_etl_seconds": round(kea["seconds"], 2),
            "kea_etl_cpu_self_seconds": round(kea["cpu_self"], 2),
            "kea_etl_cpu_worker_seconds": round(kea["cpu_workers"], 2),
            "kea_etl_wall_seconds": round(kea["wall"], 2),
            "kea_etl_leases_per_s": round(kea_rate),
            "kea_etl_wall_leases_per_s": round(args.leases / kea["wall"]),
            # the C fast path of the family read (v4: scan4 / keys4, v6: scan6 / keys6)
            "kea_etl_accelerated": kea["accelerated6" if args.family == 6 else "accelerated"],
            "kea_etl_yielded": kea["yielded"],
            "kea_etl_errors": kea["errors"],
            "kea_etl_peak_rss_mb": round(kea["peak_rss_mb"], 1),
            "kea_etl_worker_peak_rss_mb": round(kea["worker_peak_rss_mb"], 1),
            "isc_dhcp_leases_file_leases": peer_n,
            "isc_dhcp_leases_seconds": round(isc["seconds"], 2),
            "isc_dhcp_leases_wall_seconds": round(isc["wall"], 2),
            "isc_dhcp_leases_leases_per_s": round(isc_rate),
            "isc_dhcp_leases_yielded": isc["yielded"],
            "isc_dhcp_leases_peak_rss_mb": round(isc["peak_rss_mb"], 1),
            "ratio": round(kea_rate / isc_rate, 2),
            "ratio_wall": round((args.leases / kea["wall"]) / (peer_n / isc["wall"]), 2),
        }))


if __name__ == "__main__":
    main()
