"""kea-sql loading speed against raw bulk loads into the same Kea schema, one JSON line.

    python benchmarks/load_sql.py [--leases N] [--batch 500] [--upload-sample 1000] [--rounds 3]

Generates a dhcpd.leases with N active v4 leases (times relative to now) and a matching Kea
configuration, then measures, each into a fresh database with Kea 2.2's own schema (the host's
``kea-admin db-init``, so Kea's lease statistics triggers run as they do in production):

* ``kea_etl_pg_per_s``: ``kea-etl migrate dhcpd.leases --to kea-sql:postgresql://...`` end to
  end (process start, parsing, transform, conflict checks, load; wall time of the command);
  ``copy_pg_per_s``: the peer, a raw loop that formats the same leases as COPY text and runs
  psycopg2's ``copy_expert`` straight into ``lease4``, one transaction per ``--batch`` rows (the
  loader's batch size), Kea's row triggers counting each lease as Kea's own writes do;
  ``ratio_pg_copy`` = kea-etl / COPY (target >= 0.8). kea-etl skips those triggers for new
  leases and adds their counts per batch where it may (kea_etl.load.kea_sql_stats: a superuser,
  as here, on a Kea schema it knows), so it can beat this peer. ``copy_pg_no_triggers_per_s`` /
  ``ratio_pg_copy_no_triggers``: the floor, the same COPY loop without the triggers and one
  recount of ``lease4_stat`` at the end (right only while nothing else writes the table).
* ``kea_etl_mysql_per_s`` / ``load_data_mysql_per_s`` / ``ratio_mysql``: the same into MariaDB,
  the peer a raw ``LOAD DATA LOCAL INFILE`` loop into ``lease4`` per batch (target >= 0.8).
* ``lease_upload_pg_per_s`` / ``lease_upload_mysql_per_s``: Kea's own ``kea-admin lease-upload``
  of a memfile CSV with the first ``--upload-sample`` leases (default 1,000: it spawns ``cut`` per
  field, about 85 leases/s, and on MySQL fails with "Argument list too long" at 4,000 leases).

kea-etl and each peer run ``--rounds`` times, each round's pair in the other order than the
last; the ratios are the median of the rounds' (each round's ratios in ``ratio_*_rounds``, the
seconds of every run in ``seconds_*``): on this machine one MariaDB run of the same load takes
from 17 to 26 s. Each phase starts after the server has written out what the one before left in memory
(:func:`quiesce`) and is checked: the lease count in the table and the lease4_stat total must
equal N.
``load_avg_1m`` and ``cores`` say how busy the machine was.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.bytecode import compile_kea_etl  # noqa: E402
from kea_etl.load.kea_sql import connect, parse_sql_target  # noqa: E402
from tests.harness.databases import kea_database  # noqa: E402
from tests.harness.kea import resolve_install  # noqa: E402
from tests.harness.leasefile import dhcpd_date  # noqa: E402

KEA_ETL = str(Path(sys.executable).with_name("kea-etl"))
BASE4 = int(IPv4Address("10.0.0.10"))
LEASE_TIME = 86400


def mac(i: int) -> str:
    return f"02:00:{(i >> 24) & 255:02x}:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}"


def write_inputs(work: Path, n: int, cltt: int) -> tuple[Path, Path]:
    leases = work / "dhcpd.leases"
    starts, ends = dhcpd_date(cltt), dhcpd_date(cltt + LEASE_TIME)
    with leases.open("w", encoding="ascii", newline="\n") as fh:
        for i in range(n):
            fh.write(f"lease {IPv4Address(BASE4 + i)} {{\n  starts {starts};\n  ends {ends};\n"
                     f"  cltt {starts};\n  binding state active;\n"
                     f"  hardware ethernet {mac(i)};\n}}\n")
    cfg = work / "kea.json"
    cfg.write_text(json.dumps({"Dhcp4": {"subnet4": [{
        "id": 1, "subnet": "10.0.0.0/8", "pools": [{"pool": "10.0.0.10-10.255.255.250"}]}]}}))
    return leases, cfg


def memfile_csv(path: Path, n: int, cltt: int) -> None:
    """The first ``n`` leases as Kea 2.2's memfile CSV (what kea-admin lease-upload reads)."""
    with path.open("w", encoding="ascii", newline="\n") as fh:
        fh.write("address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,"
                 "hostname,state,user_context\n")
        for i in range(n):
            fh.write(f"{IPv4Address(BASE4 + i)},{mac(i)},,{LEASE_TIME},{cltt + LEASE_TIME},1,0,0,,"
                     "0,\n")


def rows_text(start: int, stop: int, expire: str, sep: str) -> str:
    """Lines of ``lease4`` columns (address, hwaddr, valid_lifetime, expire, subnet_id, state)."""
    out = []
    for i in range(start, stop):
        hw = mac(i).replace(":", "")
        out.append(f"{BASE4 + i}{sep}\\\\x{hw}{sep}{LEASE_TIME}{sep}{expire}{sep}1{sep}0\n"
                   if sep == "\t" else
                   f"{BASE4 + i}{sep}{hw}{sep}{LEASE_TIME}{sep}{expire}{sep}1{sep}0\n")
    return "".join(out)


def copy_pg(url: str, n: int, batch: int, cltt: int, *, triggers: bool = True) -> float:
    """The COPY loop; ``triggers=False``: each COPY without Kea's triggers
    (``session_replication_role = replica``), the statistics recounted once at the end."""
    conn = connect(parse_sql_target(url))
    expire = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(cltt + LEASE_TIME))
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        for start in range(0, n, batch):
            data = rows_text(start, min(n, start + batch), expire, "\t")
            if not triggers:
                cur.execute("SET LOCAL session_replication_role = replica")
            cur.copy_expert("COPY lease4 (address, hwaddr, valid_lifetime, expire, subnet_id, "
                            "state) FROM STDIN", io.StringIO(data))
            conn.commit()
        if not triggers:
            cur.execute("DELETE FROM lease4_stat")
            cur.execute("INSERT INTO lease4_stat (subnet_id, state, leases) SELECT subnet_id, "
                        "state, count(*) FROM lease4 WHERE state IN (0, 1) "
                        "GROUP BY subnet_id, state")
            conn.commit()
    seconds = time.perf_counter() - t0
    conn.close()
    return seconds


def load_data_mysql(url: str, n: int, batch: int, cltt: int, work: Path) -> float:
    import pymysql  # type: ignore[import-untyped]

    t = parse_sql_target(url)
    conn = pymysql.connect(host=t.host, port=t.port, user=t.user, password="",
                           database=t.database, autocommit=False, local_infile=True,
                           init_command="SET time_zone = '+00:00'")
    expire = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(cltt + LEASE_TIME))
    path = work / "batch.tsv"
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        for start in range(0, n, batch):
            path.write_text(rows_text(start, min(n, start + batch), expire, ","))
            cur.execute(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE lease4 FIELDS TERMINATED "
                        "BY ',' (address, @hw, valid_lifetime, expire, subnet_id, state) "
                        "SET hwaddr = UNHEX(@hw)")
            conn.commit()
    seconds = time.perf_counter() - t0
    conn.close()
    return seconds


def kea_etl(url: str, leases: Path, cfg: Path, work: Path) -> float:
    report = work / f"r{time.monotonic_ns()}.json"
    t0 = time.perf_counter()
    r = subprocess.run([KEA_ETL, "migrate", str(leases), "--to", url, "--kea-config", str(cfg),
                        "--report", str(report)],
                       capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"kea-etl failed ({r.returncode}): {r.stderr[-2000:]}")
    return seconds


def lease_upload(engine: str, url: str, sample: Path) -> float:
    """Seconds of ``kea-admin lease-upload``. It works on ``/tmp/BASENAME.tmp*`` and will not
    overwrite those: the CSV gets a name of its own, removed afterwards."""
    t = parse_sql_target(url)
    csv = sample.with_name(f"kea-etl-bench-{os.getpid()}-{time.monotonic_ns()}.csv")
    csv.write_bytes(sample.read_bytes())
    backend = "pgsql" if engine == "postgresql" else "mysql"
    t0 = time.perf_counter()
    r = subprocess.run(["kea-admin", "lease-upload", backend, "-4", "-u", t.user, "-n", t.database,
                        "-h", "127.0.0.1", "-i", str(csv)], capture_output=True, text=True,
                       env=dict(os.environ, KEA_ADMIN_DB_PASSWORD=""))
    seconds = time.perf_counter() - t0
    for left in Path("/tmp").glob(f"{csv.name}.tmp*"):
        left.unlink()
    if r.returncode != 0:
        raise SystemExit(f"kea-admin lease-upload failed: {(r.stdout + r.stderr)[-2000:]}")
    return seconds


def counted(url: str) -> tuple[int, int]:
    """Rows in lease4 and the lease4_stat total (Kea's triggers keep it)."""
    conn = connect(parse_sql_target(url))
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM lease4")
        rows = int(cur.fetchone()[0])
        cur.execute("SELECT coalesce(sum(leases), 0) FROM lease4_stat")
        stat = int(cur.fetchone()[0])
    conn.close()
    return rows, stat


def quiesce(engine: str) -> None:
    """Let the server write out what the previous phase left in memory, so no phase pays for
    the one before it: PostgreSQL a CHECKPOINT, MariaDB its dirty pages flushed (at most 120 s)."""
    if engine == "postgresql":
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-q", "-c",
                        "CHECKPOINT"], check=True, capture_output=True)
        return

    def mysql(sql: str) -> str:
        return subprocess.run(["mysql", "-h", "127.0.0.1", "-u", "root", "-N", "-B", "-e", sql],
                              check=True, capture_output=True, text=True).stdout.strip()

    was = mysql("SELECT @@GLOBAL.innodb_max_dirty_pages_pct")
    mysql("SET GLOBAL innodb_max_dirty_pages_pct = 0")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            dirty = mysql("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'").split()
            if int(dirty[-1]) < 50:
                break
            time.sleep(0.5)
    finally:
        mysql(f"SET GLOBAL innodb_max_dirty_pages_pct = {was}")


def phase(engine: str, run: Callable[[str], float], expect: int) -> float:
    """Seconds of ``run`` against a fresh Kea 2.2 database, checked afterwards."""
    db: AbstractContextManager[str] = kea_database(engine, resolve_install(None), tag="kea_etl_bench")
    with db as url:
        quiesce(engine)
        seconds = run(url)
        got = counted(url)
        if got != (expect, expect):
            raise SystemExit(f"{engine}: expected {expect} leases and stat, got {got}")
    return seconds


def rate(n: int, seconds: float) -> int:
    return round(n / seconds) if seconds > 0 else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leases", type=int, default=300_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--upload-sample", type=int, default=1_000)
    ap.add_argument("--engines", default="postgresql,mysql")
    ap.add_argument("--rounds", type=int, default=3,
                    help="pairs of kea-etl and peer runs, alternating which goes first")
    args = ap.parse_args()
    compile_kea_etl()
    n, batch = args.leases, args.batch
    cltt = int(time.time()) - 3600
    out: dict[str, Any] = {"leases": n, "batch": batch, "kea_schema": "2.2 (kea-admin db-init)",
                           "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="kea-etl-bench-") as tmp:
        work = Path(tmp)
        leases, cfg = write_inputs(work, n, cltt)
        sample = min(args.upload_sample, n)
        csv = work / "sample.csv"
        memfile_csv(csv, sample, cltt)
        for engine in args.engines.split(","):
            tag = "pg" if engine == "postgresql" else "mysql"
            etl_run: Callable[[str], float] = lambda u: kea_etl(u, leases, cfg, work)  # noqa: E731
            if engine == "postgresql":
                peer_run: Callable[[str], float] = lambda u: copy_pg(u, n, batch, cltt)  # noqa: E731
                peer_key, ratio_key = "copy_pg_per_s", "ratio_pg_copy"
            else:
                peer_run = lambda u: load_data_mysql(u, n, batch, cltt, work)  # noqa: E731
                peer_key, ratio_key = "load_data_mysql_per_s", "ratio_mysql"
            etls, peers = [], []
            for r in range(args.rounds):  # each round's pair in the other order than the last
                pair = [(etls, etl_run), (peers, peer_run)]
                for times, run in pair if r % 2 == 0 else pair[::-1]:
                    times.append(phase(engine, run, n))
            ratios = sorted(p / e for p, e in zip(peers, etls, strict=True))
            etl, peer = statistics.median(etls), statistics.median(peers)
            if engine == "postgresql":
                bare = phase(engine, lambda u: copy_pg(u, n, batch, cltt, triggers=False), n)
                out["copy_pg_no_triggers_per_s"] = rate(n, bare)
                out["ratio_pg_copy_no_triggers"] = round(bare / etl, 3)
            upload = phase(engine, lambda u, e=engine: lease_upload(e, u, csv), sample)
            out[f"kea_etl_{tag}_per_s"] = rate(n, etl)
            out[peer_key] = rate(n, peer)
            out[ratio_key] = round(statistics.median(ratios), 3)
            out[f"{ratio_key}_rounds"] = [round(x, 3) for x in ratios]
            out[f"lease_upload_{tag}_per_s"] = rate(sample, upload)
            out[f"seconds_{tag}"] = {"kea_etl": [round(x, 2) for x in etls],
                                     "peer": [round(x, 2) for x in peers],
                                     "lease_upload": round(upload, 2)}
        out["lease_upload_sample"] = sample
    out["load_avg_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
