"""The LiveLoader / Resumable protocols: what the CLI and the orchestrator ask of a target."""

from __future__ import annotations

from pathlib import Path

from kea_etl.load.api import make_kea_loader
from kea_etl.load.base import LiveLoader, Resumable
from kea_etl.load.kea_sql import KeaSqlLoader
from kea_etl.load.memfile import MemfileLoader
from kea_etl.load.pause import ServiceWindow


def test_capabilities_are_declared_not_probed(tmp_path: Path) -> None:
    kea = make_kea_loader("http://127.0.0.1:9/", dry_run=True)
    assert isinstance(kea, LiveLoader) and kea.clients == [kea.client]
    assert kea.state_paths() == []  # a dry run keeps no state
    window = ServiceWindow(kea, dry_run=True)
    assert isinstance(window, LiveLoader) and window.clients == [kea.client]
    sql = KeaSqlLoader("postgresql://kea@127.0.0.1/kea", dry_run=True)
    assert isinstance(sql, Resumable) and not isinstance(sql, LiveLoader)
    memfile = MemfileLoader(str(tmp_path / "out"))
    assert not isinstance(memfile, Resumable)
