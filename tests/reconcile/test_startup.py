"""``kea-etl reconcile``'s start-up: pandas is not imported (pyarrow's first conversion would
import it only to ask whether the values are pandas objects), and pyarrow still converts to and
from pandas afterwards in that process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.harness.leasefile import lease_block

AS_OF = 1_795_000_000
CHILD = """
import json, sys
from kea_etl.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
imported = "pandas" in sys.modules
import pyarrow as pa
import pandas as pd
frame = pa.table({"a": [1, 2]}).to_pandas()
back = pa.Table.from_pandas(pd.DataFrame({"c": pd.Categorical(["x", "y"])}))
print(json.dumps({"code": code, "pandas": imported, "frame": type(frame).__name__,
                  "categorical": str(back.schema.field("c").type),
                  "series": str(pa.array(pd.Series([1.5, None])).type)}))
"""


def test_reconcile_against_files_does_not_import_pandas(tmp_path: Path) -> None:
    leases = tmp_path / "dhcpd.leases"
    leases.write_text(lease_block("10.0.0.5", starts=AS_OF - 100, ends=AS_OF + 3500,
                                  cltt=AS_OF - 100, mac="02:00:00:00:00:05"))
    memfile = tmp_path / "kea-leases4.csv"
    memfile.write_text("address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,"
                       "fqdn_rev,hostname,state,user_context\n"
                       f"10.0.0.5,02:00:00:00:00:05,,3600,{AS_OF + 3500},1,0,0,,0,\n")
    config = tmp_path / "kea.json"
    config.write_text(json.dumps({"Dhcp4": {"subnet4": [{"id": 1, "subnet": "10.0.0.0/24"}]}}))
    report = tmp_path / "r.json"
    out = subprocess.run(
        [sys.executable, "-c", CHILD, "reconcile", str(leases), "--against", str(memfile),
         "--kea-config", str(config), "--as-of", "2026-11-18T08:26:40Z", "--json", str(report),
         "--no-progress", "--quiet"], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[2])
    import pandas as pd
    import pyarrow as pa

    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"code": 0, "pandas": False, "frame": "DataFrame",
                   "categorical": str(pa.Table.from_pandas(pd.DataFrame(
                       {"c": pd.Categorical(["x", "y"])})).schema.field("c").type),
                   "series": "double"}, out.stderr
    assert json.loads(report.read_text())["matched"] == 1


def test_the_collector_and_allocator_are_as_they_were_after_the_command(tmp_path: Path) -> None:
    """The command tunes the collector for its bulk read only (frozen start-up objects, a
    larger young generation), and Arrow's allocator: a caller that runs on, here CliRunner,
    gets both back as they were, after a comparison and after an error alike."""
    import gc

    import pyarrow as pa
    from click.testing import CliRunner

    from kea_etl.cli import main

    leases = tmp_path / "dhcpd.leases"
    leases.write_text(lease_block("10.0.0.5", starts=AS_OF - 100, ends=AS_OF + 3500,
                                  cltt=AS_OF - 100, mac="02:00:00:00:00:05"))
    config = tmp_path / "kea.json"
    config.write_text(json.dumps({"Dhcp4": {"subnet4": [{"id": 1, "subnet": "10.0.0.0/24"}]}}))
    memfile = tmp_path / "kea-leases4.csv"
    before = gc.get_threshold(), gc.get_freeze_count(), pa.default_memory_pool().backend_name
    for text in ("", "not a lease file\n"):
        memfile.write_text(text or "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,"
                           "fqdn_fwd,fqdn_rev,hostname,state,user_context\n")
        res = CliRunner().invoke(main, ["reconcile", str(leases), "--against", str(memfile),
                                        "--kea-config", str(config), "--as-of",
                                        "2026-11-18T08:26:40Z", "--no-progress", "--quiet"])
        assert res.exit_code == (1 if not text else 2), res.output
        assert (gc.get_threshold(), gc.get_freeze_count(),
                pa.default_memory_pool().backend_name) == before


def test_reading_lease_pages_does_not_load_the_warehouse() -> None:
    """``reconcile --kea`` reads pages through kea_etl.export.kea_api: the export package's
    warehouse (SQLAlchemy) and file sinks (pyarrow.parquet) load only when an export uses them,
    and ``kea_etl.export.Warehouse`` still answers."""
    child = ("import sys, kea_etl.export.kea_api, kea_etl.reconcile.kea_pages\n"
             "before = sorted(m for m in ('sqlalchemy', 'pyarrow.parquet') if m in sys.modules)\n"
             "from kea_etl.export import Warehouse\n"
             "print(before, Warehouse.__module__, 'sqlalchemy' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.split() == ["[]", "kea_etl.export.warehouse", "True"], out.stderr
