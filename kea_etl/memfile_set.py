"""The memfile target's output set: the manifest ``kea-etl-run.json`` and leftover cleaning.

A memfile run replaces up to four files in its output directory (``kea-leases4.csv``,
``kea-leases6.csv``, ``reservations4.json``, ``reservations6.json``). One rename is atomic, four
are not: a kill -9 between them left the new leases4 next to the old leases6 and reservations,
and nothing said so. So :class:`~kea_etl.load.memfile.MemfileLoader` commits in three steps:

1. every new file is written whole to a temporary name (``.NAME.PID.XXXX.tmp``) and fsynced;
2. the manifest is written (atomically) with ``"state": "committing"``, naming the run and the
   size and sha256 of every file the set will hold, and then the files are renamed into place;
3. the manifest is rewritten with ``"state": "complete"``.

Readers (:func:`check_set`: the ``kea-memfile:`` source and ``reconcile --against``, both through
:func:`kea_etl.extract.kea_memfile.extract`) refuse, with one line, a set whose manifest still
says ``committing`` and whose files do not all match it: the run was killed halfway and the
directory mixes two runs. A ``complete`` manifest is trusted without hashing: the set was
replaced whole, and Kea appends to (and its lease file cleanup rewrites) its lease files once it
runs. A directory without a manifest (Kea's own, or written by hand) is not checked.

The next run into the directory removes the temporary files a killed run left
(:func:`clean_leftovers`): its own names carry the writer's pid and are removed only when that
process is gone, so a concurrent run's files are never touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kea_etl import clock
from kea_etl._files import publish
from kea_etl.errors import ConfigError

__all__ = ["LEASES4_FILE", "LEASES6_FILE", "MANIFEST", "RESERVATIONS4_FILE", "RESERVATIONS6_FILE",
           "SET_FILES", "check_set", "clean_leftovers", "file_digest", "fsync_dir", "mkstemp",
           "read_manifest", "write_manifest"]

LEASES4_FILE = "kea-leases4.csv"
LEASES6_FILE = "kea-leases6.csv"
RESERVATIONS4_FILE = "reservations4.json"
RESERVATIONS6_FILE = "reservations6.json"
SET_FILES = (LEASES4_FILE, LEASES6_FILE, RESERVATIONS4_FILE, RESERVATIONS6_FILE)
MANIFEST = "kea-etl-run.json"

_NAMES = "|".join(re.escape(n) for n in (*SET_FILES, MANIFEST))
#: ours: ``.NAME.PID.XXXXXXXX.tmp``; older kea-etl: ``.NAME.XXXXXXXX.tmp`` (CSV) or
#: ``.NAME.XXXXXXXX`` (JSON via kea_etl._files.atomic_write)
_TEMP = re.compile(rf"\.(?:{_NAMES})\.(?:(?P<pid>\d+)\.)?[A-Za-z0-9_]{{8}}(?:\.tmp)?")


def mkstemp(directory: Path, name: str) -> tuple[int, Path]:
    """A temporary file for ``name`` in ``directory``, named so :func:`clean_leftovers` can tell
    whether its writer still runs."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.{os.getpid()}.", suffix=".tmp", dir=directory)
    return fd, Path(tmp)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_leftovers(directory: Path) -> list[str]:
    """Remove the temporary files killed runs left in ``directory``; returns their names."""
    removed: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP.fullmatch(entry.name)
        if m is None or not entry.is_file(follow_symlinks=False):
            continue
        pid = m.group("pid")
        if pid is not None and _alive(int(pid)):
            continue  # a run writing here right now
        try:
            Path(entry.path).unlink()
        except FileNotFoundError:
            continue
        removed.append(entry.name)
    return sorted(removed)


def file_digest(path: Path) -> dict[str, Any]:
    """``{"size": bytes, "sha256": hex}`` of ``path``."""
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return {"size": size, "sha256": h.hexdigest()}


def write_manifest(directory: Path, *, run: str, state: str, files: Mapping[str, Any],
                   extra: Mapping[str, Any] | None = None) -> None:
    """Write ``kea-etl-run.json`` atomically (fsynced, then renamed)."""
    data = {"kea_etl_run": run, "state": state, "written_at": clock.now_datetime().isoformat(),
            **(extra or {}), "files": dict(files)}
    fd, tmp = mkstemp(directory, MANIFEST)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        publish(tmp, directory / MANIFEST, mode=0o640)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(directory)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_manifest(directory: Path) -> dict[str, Any] | None:
    path = directory / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
            raise ValueError("no files")
    except ValueError as exc:
        raise ConfigError(f"{path} is not a kea-etl run manifest ({exc}); the output set cannot "
                          "be trusted: re-run kea-etl into that directory") from exc
    return data


def check_set(directory: Path, names: Iterable[str] = SET_FILES) -> None:
    """Refuse (:class:`ConfigError`, one line) an output set a killed run left half replaced."""
    data = read_manifest(directory)
    if data is None or data.get("state") == "complete":
        return
    run = data.get("kea_etl_run", "?")
    listed: Mapping[str, Any] = data["files"]
    for name in names:
        path = directory / name
        want = listed.get(name)
        if want is None:
            if path.exists():
                raise _torn(directory, run, f"{name} is not part of it")
            continue
        if not path.is_file():
            raise _torn(directory, run, f"{name} is missing")
        st = path.stat()
        if st.st_size != want.get("size") or file_digest(path)["sha256"] != want.get("sha256"):
            raise _torn(directory, run, f"{name} is not the file it wrote")


def _torn(directory: Path, run: str, what: str) -> ConfigError:
    return ConfigError(f"{directory}: kea-etl run {run} was killed while replacing its files and "
                       f"left a torn set ({what}, see {MANIFEST}); re-run kea-etl into "
                       f"{directory} before Kea or reconcile reads it")
