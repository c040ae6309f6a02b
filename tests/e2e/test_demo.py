"""The README's first command (`make demo` -> scripts/demo) works: the sample data migrates,
a real Kea loads every lease, and the reconcile finds no difference."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.kea
def test_demo_runs_end_to_end() -> None:
    proc = subprocess.run([sys.executable, "scripts/demo"], cwd=REPO, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Demo OK" in proc.stdout
    report = json.loads((REPO / "out/demo/migrate-report.json").read_text())
    assert report["failed"] == 0
    assert report["read"] == report["loaded"] + sum(report["skipped"].values())
    for family in (4, 6):
        recon = json.loads((REPO / f"out/demo/reconcile{family}.json").read_text())
        assert recon["missing"] == recon["extra"] == recon["mismatched"] == 0
        assert recon["matched"] > 200
