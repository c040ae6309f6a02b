"""``kea-etl export --kea NAME=URL`` and ``name:`` in a pipeline, against a real Kea: the name is
the server column of every warehouse table and the ``server=`` partition; a bare URL keeps the URL
label; unusable or repeated names are refused before anything is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.dataset as pads
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from kea_etl.cli import main
from kea_etl.pipeline import load_pipeline, run_pipeline
from tests.harness import clock

pytestmark = pytest.mark.kea

TABLES = ("export_runs", "lease_snapshots", "leases_current", "lease_stats")


def _leases(kea4: Any) -> None:
    for i in range(3):
        kea4.ok("lease4-add", {"ip-address": f"192.0.2.{20 + i}",
                               "hw-address": f"02:00:00:00:0c:{i:02x}", "valid-lft": 3600,
                               "expire": clock.now() + 3000})


def _servers(url: str) -> dict[str, set[str]]:
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            return {t: set(conn.execute(sa.text(f"select distinct server from {t}")).scalars())
                    for t in TABLES}
    finally:
        eng.dispose()


def test_named_server_in_tables_and_partitions(kea4: Any, tmp_path: Path) -> None:
    _leases(kea4)
    url, pq = f"sqlite:///{tmp_path}/wh.db", tmp_path / "pq"
    res = CliRunner().invoke(main, ["export", "--kea", f"dhcp-a={kea4.socket_url}", "--family",
                                    "4", "--to", url, "--parquet", str(pq), "--no-progress"])
    assert res.exit_code == 0, res.output
    server, family, leases, _stats, version, status = res.output.splitlines()[2].split()
    assert (server, family, leases, version, status) == ("dhcp-a", "v4", "3", kea4.version, "ok")
    assert _servers(url) == {t: {"dhcp-a"} for t in TABLES}
    for dataset in ("leases", "stats"):
        assert [p.name for p in (pq / dataset).glob("export_date=*/*")] == ["server=dhcp-a"]
    table = pads.dataset(pq / "leases", format="parquet", partitioning="hive").to_table()
    assert set(table.column("server").to_pylist()) == {"dhcp-a"} and table.num_rows == 3

    # the same server by its URL alone: today's label, next to the named rows
    res = CliRunner().invoke(main, ["export", "--kea", kea4.socket_url, "--family", "4",
                                    "--to", url, "--no-stats", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert _servers(url)["lease_snapshots"] == {"dhcp-a", kea4.socket_url}


@pytest.mark.parametrize(("args", "message"), [
    (["--kea", "a/b=unix:///run/kea/kea4.sock"],
     "server name 'a/b' is not usable: it contains '/' (a partition directory name cannot)"),
    (["--kea", "dhcp a=unix:///run/kea/kea4.sock"],
     "server name 'dhcp a' is not usable: it contains a space or a control character"),
    (["--kea", "=unix:///run/kea/kea4.sock"], "server name '' is not usable: it is empty"),
    (["--kea", "dhcp-a="], "server dhcp-a=: no URL after the name (write NAME=URL, e.g. "
                          "dhcp-a=unix:///run/kea/kea4.sock)"),
    (["--kea", "dhcp-a=unix:///a.sock", "--kea", "dhcp-a=unix:///b.sock"],
     "the server name 'dhcp-a' is given twice (to unix:///a.sock and unix:///b.sock): each "
     "server needs its own name"),
    (["--kea", "unix:///a.sock", "--kea", "unix:///a.sock"],
     "the server unix:///a.sock is given twice: give each server once, under its own name"),
])
def test_unusable_names_refused(tmp_path: Path, args: list[str], message: str) -> None:
    url = f"sqlite:///{tmp_path}/wh.db"
    res = CliRunner().invoke(main, ["export", *args, "--to", url])
    assert res.exit_code == 2, res.output
    assert f"Error: Invalid value for --kea: {message}" in " ".join(res.output.split()), \
        res.output
    assert not (tmp_path / "wh.db").exists()


def test_pipeline_names(kea4: Any, tmp_path: Path) -> None:
    _leases(kea4)
    p = tmp_path / "p.yaml"
    p.write_text("name: named\nsteps:\n  - export:\n      kea:\n"
                 "        - name: dhcp-a\n          url: ${KEA4_URL}\n"
                 "        - dhcp-b=${KEA4_URL}\n"
                 "      family: '4'\n      warehouse: sqlite:///${OUT}/wh.db\n"
                 "      parquet: ${OUT}/pq\n")
    env = {"KEA4_URL": kea4.socket_url, "OUT": str(tmp_path)}
    [result] = run_pipeline(load_pipeline(p, env=env))
    assert result.exit_code == 0, result.summary
    assert _servers(f"sqlite:///{tmp_path}/wh.db")["lease_snapshots"] == {"dhcp-a", "dhcp-b"}
    assert sorted(p.name for p in (tmp_path / "pq/leases").glob("*/*")) == [
        "server=dhcp-a", "server=dhcp-b"]

    p.write_text("name: named\nsteps:\n  - export:\n      kea:\n"
                 "        - {name: dhcp-a, url: unix:///a.sock}\n"
                 "        - {name: dhcp-a, url: unix:///b.sock}\n"
                 "      warehouse: sqlite:///${OUT}/wh2.db\n")
    [result] = run_pipeline(load_pipeline(p, env=env))
    assert result.exit_code == 2
    assert result.summary["error"] == (
        "step export (line 4): kea: the server name 'dhcp-a' is given twice (to "
        "unix:///a.sock and unix:///b.sock): each server needs its own name")
