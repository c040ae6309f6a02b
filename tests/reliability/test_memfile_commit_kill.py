"""Issue 13 item 6: kill -9 of ``kea-etl migrate --to memfile:`` in its commit window.

A memfile run replaces up to four files; a kill -9 between two renames used to leave the new
``kea-leases4.csv`` next to the old ``kea-leases6.csv`` and reservations, silently. Now the set
has a manifest (``kea-etl-run.json``, :mod:`kea_etl.memfile_set`) written before the renames and
marked complete after them. Each trial kills a real ``kea-etl migrate`` subprocess (the
self-inflicted SIGKILL of ``KEA_ETL_CRASH_IN_MEMFILE_COMMIT``, as the resume tests do with
``KEA_ETL_CRASH_AFTER_BATCHES``) at one commit point over a set from an earlier run, then checks
that ``reconcile --against`` and the ``kea-memfile:`` source refuse the torn set with one line,
and that the next run removes the temporary files and leaves a whole, readable set.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from kea_etl.load.memfile import CRASH_ENV
from kea_etl.memfile_set import MANIFEST, SET_FILES, file_digest
from tests.reliability._common import KEA_ETL

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample-data"
AS_OF = (SAMPLE / "README.md").read_text().split("--as-of ")[1].split("`")[0].strip()
SOURCES = [SAMPLE / "dhcpd.leases", SAMPLE / "dhcpd6.leases", SAMPLE / "dhcpd.conf",
           SAMPLE / "dhcpd6.conf"]
CONFIGS = ["--kea-config", str(SAMPLE / "kea-dhcp4.json"), "--kea-config",
           str(SAMPLE / "kea-dhcp6.json")]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KEA_ETL, *args], capture_output=True, text=True, timeout=300,
                          check=False, env={**os.environ, **(env or {})})


def _migrate(out: Path, kea_version: str, *, crash: int | None = None
             ) -> subprocess.CompletedProcess[str]:
    return _run("migrate", *map(str, SOURCES), "--to", f"memfile:{out}", *CONFIGS,
                "--as-of", AS_OF, "--kea-version", kea_version, "--no-progress",
                env={CRASH_ENV: str(crash)} if crash is not None else None)


def _reconcile(out: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    return _run("reconcile", str(SAMPLE / "dhcpd.leases"), "--against", str(out),
                "--kea-config", str(SAMPLE / "kea-dhcp4.json"), "--as-of", AS_OF,
                "--json", str(tmp / "r.json"))


def _temps(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def old_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The set of an earlier run (Kea 2.2 columns): the four files and a complete manifest."""
    out = tmp_path_factory.mktemp("old") / "out"
    r = _migrate(out, "2.2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted([*SET_FILES, MANIFEST])
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["state"] == "complete"
    # the earlier run's hosts differ too (here: the same hosts, written compactly), so that every
    # file of the new run differs from the old set's; the old manifest describes its own files
    for name in ("reservations4.json", "reservations6.json"):
        (out / name).write_text(json.dumps(json.loads((out / name).read_text())))
        manifest["files"][name].update(file_digest(out / name))
    (out / MANIFEST).write_text(json.dumps(manifest))
    return out


@pytest.mark.parametrize("crash", [0, 1, 2, 3, 4])
def test_kill9_in_commit_window_is_detected_then_repaired(tmp_path: Path, old_set: Path,
                                                          crash: int) -> None:
    out = tmp_path / "out"
    shutil.copytree(old_set, out)
    old = {n: file_digest(out / n)["sha256"] for n in SET_FILES}
    # the new run writes Kea 3.0 columns: every lease file differs from the old set's
    killed = _migrate(out, "3.0", crash=crash)
    assert killed.returncode == -9, killed.stdout + killed.stderr
    now = {n: file_digest(out / n)["sha256"] for n in SET_FILES}
    renamed = [n for n in SET_FILES if now[n] != old[n]]
    assert renamed == list(SET_FILES[:crash])  # the commit renames in SET_FILES order
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["state"] == "committing"
    if crash == 1:  # the failure of issue 13: new leases4 next to the old leases6
        assert renamed == ["kea-leases4.csv"]
        assert (out / "kea-leases4.csv").read_text().split("\n", 1)[0].endswith(",pool_id")
        assert not (out / "kea-leases6.csv").read_text().split("\n", 1)[0].endswith(",pool_id")
    if crash < len(SET_FILES):
        assert _temps(out), "the killed run's temporary files should still be there"
        # a torn set (or an untouched one under a manifest of a run that did not finish)
        recon = _reconcile(out, tmp_path)
        assert recon.returncode == 2, recon.stdout + recon.stderr
        err = recon.stderr.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert "was killed while replacing its files and left a torn set" in err, err
        assert manifest["kea_etl_run"] in err
        source = _run("migrate", f"kea-memfile:{out / 'kea-leases6.csv'}", "--to",
                      f"memfile:{tmp_path / 'again'}", "--kea-version", "2.2", "--dry-run",
                      "--kea-config", str(SAMPLE / "kea-dhcp6.json"), "--no-progress")
        assert source.returncode == 2 and "torn set" in source.stderr, source.stderr
    else:  # every file renamed, only the final mark missing: the set is whole
        assert _temps(out) == []
        assert _reconcile(out, tmp_path).returncode in (0, 1)
    # the next run: leftovers removed, a whole set, a complete manifest, readable again
    again = _migrate(out, "3.0")
    assert again.returncode == 0, again.stdout + again.stderr
    assert _temps(out) == []
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["state"] == "complete" and sorted(manifest["files"]) == sorted(SET_FILES)
    for name, entry in manifest["files"].items():
        assert file_digest(out / name)["sha256"] == entry["sha256"], name
    recon = _reconcile(out, tmp_path)
    assert recon.returncode in (0, 1), recon.stdout + recon.stderr
    assert json.loads((tmp_path / "r.json").read_text())["matched"] > 0


def test_leftovers_of_a_running_writer_are_kept(tmp_path: Path) -> None:
    """Only a dead writer's temporary files are removed: a concurrent run's are not touched."""
    from kea_etl.memfile_set import clean_leftovers

    dead = subprocess.Popen(["true"])
    dead.wait()
    names = [f".kea-leases4.csv.{os.getpid()}.abcd1234.tmp",   # this process: running
             f".kea-leases6.csv.{dead.pid}.abcd1234.tmp",      # its writer is gone
             ".reservations4.json.k3j4h5g6",                    # an older kea-etl's temp name
             ".kea-leases4.csv.notours",                        # not a kea-etl temp name
             "kea-leases4.csv"]
    for n in names:
        (tmp_path / n).write_text("x")
    assert clean_leftovers(tmp_path) == sorted(names[1:3])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([names[0], *names[3:]])
