"""Randomized kill -9 of a live ``kea-etl migrate --to kea:unix://...``, then ``--resume``.

tests/load/test_resume_real.py covers the basic resume (self-inflicted kill after batch N, Kea
killed once). This is the randomized trial loop of issue 6: an outside ``SIGKILL`` at a random
moment of the load (sometimes twice, the second one during the resumed run), then resumes until
the run completes. After every trial Kea must hold every lease of the source exactly once
(lease4-get-page over the harness' own socket client, compared address by address) and the
final report must balance: read == loaded + skipped + failed, loaded == N, failed == 0.

CI: 3 trials of 5,000 leases. ``KEA_ETL_SOAK=1`` (``make soak``): 20 trials of 100,000.
``KEA_ETL_SOAK_SEED`` replays a given trial sequence; the seed is printed on failure.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.reliability._common import SOAK, SUBNETS8, done_rows, held4, migrate_cmd, write_leases

pytestmark = pytest.mark.kea

TRIALS = int(os.environ.get("KEA_ETL_SOAK_TRIALS", 20 if SOAK else 3))
N = int(os.environ.get("KEA_ETL_SOAK_LEASES", 100_000 if SOAK else 5_000))


def _kill_at(proc: subprocess.Popen[str], state: Path, target_rows: int, timeout: float) -> bool:
    """SIGKILL ``proc`` once the checkpoint holds ``target_rows`` outcomes. False if it ended."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if state.exists() and done_rows(state) >= target_rows:
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=60)
            return True
        time.sleep(0.02)
    if proc.poll() is None:
        proc.kill()
        proc.communicate(timeout=60)
        pytest.fail(f"kea-etl did not reach {target_rows} checkpointed rows in {timeout} s")
    proc.communicate(timeout=60)
    return False


def test_random_sigkill_then_resume_every_lease_exactly_once(kea_factory: Any,
                                                             tmp_path: Path) -> None:
    seed = int(os.environ.get("KEA_ETL_SOAK_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    srv = kea_factory(family=4, subnets=SUBNETS8)
    src = tmp_path / "dhcpd.leases"
    want = write_leases(src, N)
    log: list[dict[str, Any]] = []
    for trial in range(TRIALS):
        srv.command("lease4-wipe")
        report = tmp_path / f"report-{trial}.json"
        state = report.with_name(report.name + ".state.sqlite")
        workers = rng.choice(["1", "2", "4"])
        cmd = migrate_cmd(f"kea:{srv.socket_url}", src, report, "--workers", workers)
        kills: list[int] = []
        resumed = finished = False
        for _ in range(rng.choice([1, 1, 2])):  # one or two kills, then a resume to the end
            already = done_rows(state) if resumed else 0
            at = rng.randrange(already, max(already + 1, int(N * 0.95)))
            proc = subprocess.Popen(cmd + (["--resume"] if resumed else []),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if not _kill_at(proc, state, at, timeout=900):
                assert proc.returncode == 0, f"seed {seed} trial {trial}: exit {proc.returncode}"
                finished = True
                break
            kills.append(at)
            if report.exists():
                # The SIGKILL landed after the run had finished: the report is written last,
                # atomically, so it is whole (checked below) and the load is complete.
                finished = True
                break
            resumed = True
        if not finished:
            final = subprocess.run(cmd + ["--resume"], capture_output=True, text=True,
                                   timeout=900)
            assert final.returncode == 0, f"seed {seed} trial {trial}: {final.stdout}{final.stderr}"
        ctx = f"seed {seed} trial {trial} workers {workers} killed at {kills}"
        rep = json.loads(report.read_text())
        assert rep["balanced"] is True, ctx
        assert (rep["read"], rep["loaded"], rep["failed"]) == (N, N, 0), ctx
        assert rep["read"] == rep["loaded"] + sum(rep["skipped"].values()) + rep["failed"], ctx
        got, rows = held4(srv)
        assert rows == N, f"{ctx}: Kea returned {rows} rows for {N} leases"
        assert got == want, f"{ctx}: {len(set(want) - set(got))} missing, " \
                            f"{sum(got.get(k) != v for k, v in want.items())} differ"
        log.append({"trial": trial, "kills": kills, "sent": rep["outputs"].get("sent")})
    print(json.dumps({"seed": seed, "trials": log}))
