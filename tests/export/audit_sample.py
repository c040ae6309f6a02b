"""Build the audit notebook's input from the sample data and REAL Kea servers.

Used by ``tests/export/test_audit_notebook.py`` and ``scripts/make-notebook-outputs`` (one code
path, so the committed notebook shows what the test checks):

1. ``kea-etl migrate`` sample-data/dhcpd.leases + dhcpd6.leases to memfile CSVs (as of the time
   the sample data was made, abandoned leases loaded as declined);
2. a real kea-dhcp4 and kea-dhcp6 (``start(family=..., subnets=..., lease_file=...)``: the harness's
   ``kea_factory`` or ``start_kea``) load them;
3. night 1: ``run_export`` both servers to a SQLite warehouse and Parquet;
4. a day of "activity" on the live servers with lease_cmds (new short leases, a lease outside
   any pool, a second lease for one client, some leases deleted);
5. night 2: export again (another export_date);
6. ``kea-etl reconcile`` the dhcpd files against the servers -> reconcile-v4.json / -v6.json.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from kea_etl.cli import main
from kea_etl.export import KeaTarget, run_export
from kea_etl.extract.isc_leases import extract

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample-data"

#: what the day between the two nights does (checked by the test)
NEW_SHORT_V4 = [f"10.101.0.{i}" for i in range(150, 162)]       # subnet 3, in its pool
OUTSIDE_POOL_V4 = ["10.100.3.252", "10.99.0.50"]                  # subnet 2 fixed range, subnet 1
SECOND_LEASE_MAC = "00:0c:01:00:00:05"                             # already holds a subnet 2 lease
SECOND_LEASE_ADDR = "10.101.0.170"
NEW_SHORT_V6 = [f"2001:db8:100::{0x2000 + i:x}" for i in range(6)]
DELETE_V4_COUNT = 8


@dataclass
class SampleExport:
    """Paths of what was produced, and the two export times."""

    out: Path
    warehouse_url: str
    warehouse_path: Path
    parquet: Path
    reconcile: list[Path]
    kea_configs: list[Path]
    nights: list[datetime]
    as_of: datetime
    deleted_v4: list[str] = field(default_factory=list)
    servers: dict[int, Any] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """The notebook's environment variables."""
        import os
        return {
            "KEA_ETL_WAREHOUSE": self.warehouse_url,
            "KEA_ETL_PARQUET": str(self.parquet),
            "KEA_ETL_RECONCILE": os.pathsep.join(str(p) for p in self.reconcile),
            "KEA_ETL_KEA_CONFIG": os.pathsep.join(str(p) for p in self.kea_configs),
        }


def sample_time() -> datetime:
    """When the sample data was made: the newest cltt in sample-data/dhcpd.leases."""
    newest = max(int(item.record.cltt) for item in extract(SAMPLE / "dhcpd.leases")
                 if not isinstance(item, Exception) and getattr(item.record, "cltt", None))
    return datetime.fromtimestamp(newest, UTC)


def _cli(args: list[str], ok_codes: tuple[int, ...] = (0,)) -> str:
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    if res.exit_code not in ok_codes:
        raise AssertionError(f"kea-etl {' '.join(args)} exited {res.exit_code}:\n{res.output}")
    return res.output


def _subnets(config: Path, key: str) -> list[dict[str, Any]]:
    data = json.loads(config.read_text(encoding="utf-8"))
    return list(data["Dhcp4" if key == "subnet4" else "Dhcp6"][key])


def build_sample_export(out: Path, start: Callable[..., Any],
                        after_export: Callable[[int, Any, Any], None] | None = None
                        ) -> SampleExport:
    """Run steps 1-6 of the module docstring into ``out``; ``start`` starts a real Kea.

    ``after_export(night_index, kea4, kea6)`` is called right after each night's export (the
    test snapshots what Kea held then).
    """
    out.mkdir(parents=True, exist_ok=True)
    t0 = sample_time()
    as_of = t0 + timedelta(seconds=1)
    as_of_text = as_of.strftime("%Y-%m-%dT%H:%M:%SZ")
    mem = out / "memfile"
    _cli(["migrate", str(SAMPLE / "dhcpd.leases"), str(SAMPLE / "dhcpd6.leases"),
          "--to", f"memfile:{mem}", "--kea-config", str(SAMPLE / "kea-dhcp4.json"),
          "--kea-config", str(SAMPLE / "kea-dhcp6.json"), "--as-of", as_of_text,
          "--abandoned", "declined", "--no-progress"])
    kea4 = start(family=4, subnets=_subnets(SAMPLE / "kea-dhcp4.json", "subnet4"),
                 lease_file=mem / "kea-leases4.csv")
    kea6 = start(family=6, subnets=_subnets(SAMPLE / "kea-dhcp6.json", "subnet6"),
                 lease_file=mem / "kea-leases6.csv")
    wh_path = out / "warehouse.db"
    parquet = out / "parquet"
    for stale in (wh_path, wh_path.with_name(wh_path.name + "-wal"),
                  wh_path.with_name(wh_path.name + "-shm")):
        stale.unlink(missing_ok=True)
    if parquet.exists():
        import shutil
        shutil.rmtree(parquet)
    wh_url = f"sqlite:///{wh_path}"
    targets = [KeaTarget(kea4.socket_url, label="kea4-sample"),
               KeaTarget(kea6.socket_url, label="kea6-sample")]
    nights = [t0 + timedelta(hours=1), t0 + timedelta(days=1, hours=1)]

    def export(at: datetime) -> None:
        report = run_export(targets, warehouse=wh_url, parquet_dir=parquet, exported_at=at)
        if not report.ok:
            raise AssertionError(f"export failed: {report.to_json()}")

    export(nights[0])
    if after_export is not None:
        after_export(0, kea4, kea6)

    # -- a day of activity on the live servers (real lease_cmds) -----------------------------
    night2 = int(nights[1].timestamp())
    # clients that left: the last few perfdhcp clients (00:0c:01:...) of subnet 2
    subnet2 = sorted((lease for lease in kea4.leases() if lease["subnet-id"] == 2
                      and lease["hw-address"].startswith("00:0c:01:")
                      and lease["hw-address"] != SECOND_LEASE_MAC and lease["state"] == 0),
                     key=lambda lease: tuple(int(x) for x in lease["ip-address"].split(".")))
    deleted = [lease["ip-address"] for lease in subnet2[-DELETE_V4_COUNT:]]
    for addr in deleted:
        kea4.ok("lease4-del", {"ip-address": addr})
    for i, addr in enumerate(NEW_SHORT_V4):
        # granted an hour before night 2, expiring 2 h .. 11 days after it
        left = 7200 + i * 86400
        kea4.ok("lease4-add", {"ip-address": addr, "hw-address": f"00:0c:03:00:00:{i:02x}",
                               "valid-lft": 3600 + left, "expire": night2 + left,
                               "hostname": f"guest-{i}"})
    for i, addr in enumerate(OUTSIDE_POOL_V4):
        kea4.ok("lease4-add", {"ip-address": addr, "hw-address": f"00:0c:04:00:00:{i:02x}",
                               "valid-lft": 8640000, "expire": night2 + 8640000 - 3600})
    kea4.ok("lease4-add", {"ip-address": SECOND_LEASE_ADDR, "hw-address": SECOND_LEASE_MAC,
                           "valid-lft": 86400, "expire": night2 + 82800})
    for i, addr in enumerate(NEW_SHORT_V6):
        kea6.ok("lease6-add", {"ip-address": addr, "duid": f"00:03:00:01:00:0c:09:00:00:{i:02x}",
                               "iaid": 1, "subnet-id": 1, "valid-lft": 3600 * (i + 2),
                               "preferred-lft": 1800 * (i + 2), "expire": night2 + 3600 * (i + 1)})
    export(nights[1])
    if after_export is not None:
        after_export(1, kea4, kea6)

    # -- reconcile the dhcpd files against what the servers hold now -------------------------
    recon = []
    for fam, src, srv in ((4, "dhcpd.leases", kea4), (6, "dhcpd6.leases", kea6)):
        path = out / f"reconcile-v{fam}.json"
        _cli(["reconcile", str(SAMPLE / src), "--kea", srv.socket_url,
              "--kea-config", str(SAMPLE / f"kea-dhcp{fam}.json"), "--as-of", as_of_text,
              "--abandoned", "declined", "--json", str(path)], ok_codes=(0, 1))
        recon.append(path)
    return SampleExport(out=out, warehouse_url=wh_url, warehouse_path=wh_path, parquet=parquet,
                        reconcile=recon,
                        kea_configs=[SAMPLE / "kea-dhcp4.json", SAMPLE / "kea-dhcp6.json"],
                        nights=nights, as_of=as_of, deleted_v4=deleted,
                        servers={4: kea4, 6: kea6})


NOTEBOOK = REPO / "notebooks" / "audit.ipynb"


def run_notebook(env: dict[str, str], *, path: Path = NOTEBOOK, timeout: int = 300,
                 extra_cells: list[str] | None = None) -> Any:
    """Execute the notebook top to bottom in a python3 kernel on THIS interpreter.

    The kernel runs in ``notebooks/`` (as in Jupyter) with ``env`` added to the environment.
    The venv's python3 kernelspec says ``python``, which jupyter_client replaces by
    ``sys.executable``, so the kernel imports the same kea_etl. ``extra_cells`` are appended
    and run after the notebook in the same kernel (the test's probes). Raises nbclient's
    ``CellExecutionError`` naming the failing cell.
    """
    import os

    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    for src in extra_cells or []:
        nb.cells.append(nbformat.v4.new_code_cell(src))
    client = NotebookClient(nb, kernel_name="python3", timeout=timeout, record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(env={**os.environ, **env})
    return nb
