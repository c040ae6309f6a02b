"""Where a live load keeps its state (issue 16, part 2), against a real Kea.

Was: a 23 MB ``.kea-etl-state.sqlite`` left in the working directory after a successful run,
and a run in a read-only working directory (the usual cron case) ended in a traceback
(``sqlite3.OperationalError``). Now: beside ``--report``, else ``$XDG_STATE_HOME/kea-etl/``
(``~/.local/state/kea-etl/``); removed after a completed load unless ``--keep-state``; an
unwritable location is one line, also for ``--dry-run``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import clock
from tests.harness.kea import KeaServer
from tests.harness.leasefile import lease_block

KEA_ETL = [sys.executable, "-m", "kea_etl.cli"]
#: a directory nobody can write, not even root: the cron job's read-only working directory
READ_ONLY = "/proc"


def _leases(path: Path, n: int = 5) -> Path:
    now = clock.now()
    path.write_text("".join(
        lease_block(f"192.0.2.{20 + i}", starts=now - 60, ends=now + 86_400, cltt=now - 60,
                    mac=f"02:00:00:00:00:{i:02x}")
        for i in range(n)))
    return path


def _run(args: list[str], state_home: Path | str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_STATE_HOME": str(state_home)}
    return subprocess.run([*KEA_ETL, "migrate", *args], capture_output=True, text=True, env=env,
                          cwd=READ_ONLY, timeout=120)


@pytest.mark.kea
def test_a_run_in_a_read_only_cwd_keeps_its_state_in_the_xdg_dir(kea4: KeaServer,
                                                                   tmp_path: Path) -> None:
    src = _leases(tmp_path / "dhcpd.leases")
    state_home = tmp_path / "state"
    args = [str(src), "--to", f"kea:{kea4.socket_url}", "--no-progress"]
    r = _run(args, state_home)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("kea-etl migrate: 5 read, 5 loaded, 0 skipped, 0 failed")
    assert list((state_home / "kea-etl").iterdir()) == []  # removed after a completed load
    # a dry run and a re-run say what was already there, each record counted once
    r = _run([*args, "--dry-run"], state_home)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("kea-etl migrate: 5 read, 0 to load, 5 already present, "
                               "0 skipped, 0 failed")
    assert ("  would send: nothing; already in the target (nothing sent): 5\n"
            "  nothing would change: the target already holds every record\n") in r.stdout
    r = _run([*args, "--keep-state"], state_home)
    assert r.returncode == 0, r.stderr
    kept = list((state_home / "kea-etl").glob("run-*.state.sqlite"))
    assert len(kept) == 1
    assert f"  state kept (--keep-state): {kept[0]}\n" in r.stdout


@pytest.mark.kea
def test_an_unwritable_state_location_is_one_line_also_for_a_dry_run(kea4: KeaServer,
                                                                     tmp_path: Path) -> None:
    src = _leases(tmp_path / "dhcpd.leases")
    args = [str(src), "--to", f"kea:{kea4.socket_url}", "--no-progress"]
    for extra in ([], ["--dry-run"]):
        r = _run([*args, *extra], f"{READ_ONLY}/no-such-dir")
        assert r.returncode == 2, r.stdout + r.stderr
        assert r.stderr == (f"Error: cannot keep the run's state in {READ_ONLY}/no-such-dir/"
                            "kea-etl: No such file or directory (set XDG_STATE_HOME to a writable "
                            "directory, or give --report in one: the state is kept beside the "
                            "report)\n")
        assert r.stdout == ""
    held = kea4.command("lease4-get-all").get("arguments", {}).get("leases", [])
    assert held == []  # nothing was sent
