"""The offline loader: Kea memfile lease files (``kea-leases4.csv`` / ``kea-leases6.csv``).

The files are written exactly as Kea's ``CSVLeaseFile4/6`` read them:

* the header of the Kea version that will read it (2.2; 2.4 and later add ``pool_id``), from
  ``kea_version`` (``--kea-version``) or else the local ``kea-dhcp4 -V`` / ``kea-dhcp6 -V``
  (:func:`resolve_kea_version`); with neither, the run stops (:class:`ConfigError`) instead of
  guessing. Neither direction of a mismatch is harmless: an older Kea drops the extra column,
  and a newer one (2.6.3 seen) converts a 2.2 file by running its lease file cleanup at start-up,
  leaving ``kea-leases4.csv.2`` behind, which it reads *first* on the next start or
  ``config-reload``: stale leases come back;
* lines end in ``\\n`` only (Kea rejects a ``\\r\\n`` header);
* no quoting: Kea splits a row on every comma. Text fields (hostname, user_context) are escaped
  the way Kea's ``CSVRow::escapeCharacters`` does: ``,`` and ``&``, control characters and every
  byte outside printable ASCII become ``&#xNN`` (lowercase hex of the UTF-8 byte); Kea's
  ``unescapeCharacters`` (every version) turns them back;
* ids in colon hex, ``expire = cltt + valid_lifetime``, ``fqdn_fwd`` / ``fqdn_rev`` as 0/1,
  ``lease_type`` 0 (IA_NA) / 1 (IA_TA) / 2 (IA_PD), Kea's lease ``state``, ``user_context`` as
  JSON, ``hwtype`` 1 (Ethernet) and ``hwaddr_source`` 0 (unknown) when a v6 lease has a MAC;
* a lease the Kea that will read the file would skip when it loads (a client-id or DUID outside
  that version's limits, no identifier at all: :mod:`kea_etl.kea_limits`) is failed with the
  reason, as the live path (``lease4-add``) fails it, and never written or counted loaded;
* every file is written to a temporary file in the output directory and renamed over the final
  name only at :meth:`MemfileLoader.commit`, after conflicts decided at the end have been taken
  out. An exception leaves no new file (and any old one untouched). The files of one run are
  one set: the manifest ``kea-etl-run.json`` (:mod:`kea_etl.memfile_set`) names the run and each
  file's size and sha256 before the renames and is marked complete after them, so a kill -9
  between two renames leaves a set readers refuse, not a silent mix of two runs; the next run
  removes the temporary files a killed run left. ``KEA_ETL_CRASH_IN_MEMFILE_COMMIT=N`` (tests
  only) makes the process SIGKILL itself after N of the renames.

Host reservations go to one file per family, ``reservations4.json`` and ``reservations6.json``,
each a Kea configuration fragment to merge into that server's configuration::

    {"Dhcp4": {"subnet4": [{"id": 1, "subnet": "192.0.2.0/24", "reservations": [...]}]}}

A run writes only the families it has hosts for, so a run with v6 hosts into the directory of an
earlier v4 run leaves ``reservations4.json`` as it was (one shared file lost the other family's
hosts).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import uuid
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from socket import inet_ntoa as _ntoa
from typing import IO, Any

from kea_etl import clock
from kea_etl._faults import MEMFILE_CRASH_ENV, crash_after
from kea_etl._files import publish
from kea_etl.errors import ConfigError, FatalError
from kea_etl.kea_limits import rules_for
from kea_etl.load.base import LoadOutcome
from kea_etl.memfile_set import (
    LEASES4_FILE,
    LEASES6_FILE,
    MANIFEST,
    RESERVATIONS4_FILE,
    RESERVATIONS6_FILE,
    SET_FILES,
    clean_leftovers,
    file_digest,
    fsync_dir,
    mkstemp,
    read_manifest,
    write_manifest,
)
from kea_etl.records import LEASE_TYPE_CODES, Lease4, Lease6, Reservation
from kea_etl.report import RunReport
from kea_etl.transform.conflicts import Conflict
from kea_etl.transform.subnets import SubnetMap

__all__ = [
    "HEADER4_22",
    "HEADER6_22",
    "CRASH_ENV",
    "KEA_VERSIONS",
    "LEASES4_FILE",
    "LEASES6_FILE",
    "MANIFEST",
    "RESERVATIONS4_FILE",
    "RESERVATIONS6_FILE",
    "MemfileLoader",
    "escape",
    "local_kea_version",
    "resolve_kea_version",
    "format_lease4",
    "format_lease6",
    "headers_for",
]

#: fault injection for the kill -9 tests: SIGKILL after this many renames of a commit
CRASH_ENV = MEMFILE_CRASH_ENV

HEADER4_22 = ("address", "hwaddr", "client_id", "valid_lifetime", "expire", "subnet_id",
              "fqdn_fwd", "fqdn_rev", "hostname", "state", "user_context")
HEADER6_22 = ("address", "duid", "valid_lifetime", "expire", "subnet_id", "pref_lifetime",
              "lease_type", "iaid", "prefix_len", "fqdn_fwd", "fqdn_rev", "hostname", "hwaddr",
              "state", "user_context", "hwtype", "hwaddr_source")
#: Kea versions whose memfile header kea-etl has checked (any X.Y from 2.2 to 3.x is accepted)
KEA_VERSIONS = ("2.2", "2.4", "2.6", "3.0", "3.2")
#: the daemons asked for their version when no ``--kea-version`` is given
LOCAL_DAEMONS = ("kea-dhcp4", "kea-dhcp6")

_PLAIN = re.compile(r"[\x20-\x25\x27-\x2b\x2d-\x7e]*")  # printable ASCII except & and ,
_HWTYPE_ETHERNET = 1
_HWADDR_SOURCE_UNKNOWN = 0


def headers_for(kea_version: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(v4 header, v6 header) for a Kea version such as ``2.2``, ``2.6.3`` or ``3.0``."""
    parts = kea_version.strip().split(".")
    try:
        major, minor = int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError as exc:
        raise ConfigError(f"--kea-version {kea_version!r}: expected a version like 2.2 or 3.0") \
            from exc
    if (major, minor) < (2, 2) or major > 3:
        raise ConfigError(f"--kea-version {kea_version}: kea-etl writes memfiles for Kea 2.2 to "
                          "3.x")
    if (major, minor) >= (2, 4):
        # pool_id came with Kea 2.3.x / 2.4.0 (lease file schema 2.2 / 5.0)
        return HEADER4_22 + ("pool_id",), HEADER6_22 + ("pool_id",)
    return HEADER4_22, HEADER6_22


def local_kea_version() -> tuple[str, str] | None:
    """(version, where) of the Kea installed here: ``kea-dhcp4 -V`` (else ``kea-dhcp6 -V``),
    first line (``2.2.0``). None when neither daemon is found or answers."""
    import shutil
    import subprocess

    found: list[tuple[str, str]] = []
    for daemon in LOCAL_DAEMONS:
        path = shutil.which(daemon) or shutil.which(daemon, path="/usr/sbin:/usr/local/sbin:/sbin")
        if path is None:
            continue
        try:
            out = subprocess.run([path, "-V"], capture_output=True, text=True, timeout=20,
                                 check=False).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        # first line: "2.2.0" (Kea 2.2), "3.0.4 (3.0.4 (tarball))" (Kea 3.0)
        m = re.match(r"\s*(\d+\.\d+(?:\.\d+)?)", out)
        if m:
            found.append((m.group(1), f"{path} -V"))
    if not found:
        return None
    formats = {headers_for(v)[0] for v, _ in found}
    if len(formats) > 1:
        raise ConfigError("the local Kea daemons disagree on the memfile format ("
                          + ", ".join(f"{w}: {v}" for v, w in found)
                          + "): give --kea-version X.Y of the Kea that will read the files")
    return found[0]


def resolve_kea_version(kea_version: str | None) -> tuple[str, str]:
    """(version, where it came from) for a memfile target: ``kea_version`` if given, else the
    local Kea's. Raises :class:`ConfigError` when neither tells: never a silent default."""
    if kea_version:
        headers_for(kea_version)  # validates
        return kea_version, "--kea-version"
    local = local_kea_version()
    if local is None:
        raise ConfigError("cannot tell which Kea will read the memfile (no "
                          f"{' / '.join(LOCAL_DAEMONS)} here to ask for its version): give "
                          "--kea-version X.Y (2.2 writes Kea 2.2's columns; 2.4 and later add "
                          "pool_id)")
    return local


def escape(text: str) -> str:
    """Escape a text field as Kea's CSVRow::escapeCharacters does (``,`` -> ``&#x2c``)."""
    if _PLAIN.fullmatch(text):
        return text
    out = []
    for byte in text.encode("utf-8"):
        if 0x20 <= byte <= 0x7E and byte not in (0x2C, 0x26):
            out.append(chr(byte))
        else:
            out.append(f"&#x{byte:02x}")
    return "".join(out)


def _context(ctx: Any) -> str:
    if ctx is None:
        return ""
    return escape(json.dumps(dict(ctx), separators=(",", ":"), sort_keys=True))


def format_lease4(lease: Lease4, *, pool_id: bool = False) -> str:
    """One kea-leases4.csv line (with its ``\\n``)."""
    hostname = lease.hostname
    if hostname and not _PLAIN.fullmatch(hostname):
        hostname = escape(hostname)
    ctx = lease.user_context
    valid = lease.valid_lft
    # inet_ntoa(packed) is the same dotted quad as str(IPv4Address), in a third of the time
    return (f"{_ntoa(lease.address.packed)},{lease.hwaddr or ''},{lease.client_id or ''},{valid},"
            f"{lease.cltt + valid},{lease.subnet_id},{1 if lease.fqdn_fwd else 0},"
            f"{1 if lease.fqdn_rev else 0},{hostname},{lease.state},"
            f"{'' if ctx is None else _context(ctx)}{',0' if pool_id else ''}\n")


def format_lease6(lease: Lease6, *, pool_id: bool = False) -> str:
    """One kea-leases6.csv line (with its ``\\n``)."""
    hostname = lease.hostname
    if hostname and not _PLAIN.fullmatch(hostname):
        hostname = escape(hostname)
    if lease.hwaddr:
        hw = f"{lease.hwaddr},{lease.state},{_context(lease.user_context)},{_HWTYPE_ETHERNET}," \
             f"{_HWADDR_SOURCE_UNKNOWN}"
    else:
        hw = f",{lease.state},{_context(lease.user_context)},,"
    plen = lease.prefix_len if lease.lease_type == "IA_PD" else 128
    line = (f"{str(lease.address)},{lease.duid},{lease.valid_lft},{lease.cltt + lease.valid_lft},"
            f"{lease.subnet_id},{lease.preferred_lft},{LEASE_TYPE_CODES[lease.lease_type]},"
            f"{lease.iaid},{plen},{int(lease.fqdn_fwd)},{int(lease.fqdn_rev)},{hostname},{hw}")
    return line + (",0\n" if pool_id else "\n")




@contextlib.contextmanager
def _io_errors(where: Path) -> Iterator[None]:
    """Turn an OSError while writing (disk full, read-only file system) into a clear error.

    The caller (:func:`kea_etl.migration.migrate`) then aborts the loader, which removes the
    temporary files: no half-written file is left and any old file stays untouched.
    """
    try:
        yield
    except OSError as exc:
        raise _write_error(where, exc) from exc


def _write_error(where: Path, exc: OSError) -> FatalError:
    return FatalError(f"cannot write {where}: {exc.strerror or exc}; nothing was written "
                      "(any earlier file there is unchanged)")


class _TempCSV:
    """A CSV being written next to its final name; renamed into place on commit."""

    def __init__(self, final: Path, header: Sequence[str]) -> None:
        self.final = final
        fd, self.tmp = mkstemp(final.parent, final.name)
        self.fh: IO[str] = os.fdopen(fd, "w", encoding="utf-8", newline="\n",
                                     buffering=1 << 20)
        self.fh.write(",".join(header) + "\n")
        self.rows = 0

    def drop_rows(self, ordinals: set[int]) -> None:
        """Rewrite the temp file without data rows ``ordinals`` (0-based, header excluded)."""
        self.fh.close()
        fd, tmp2 = mkstemp(self.final.parent, self.final.name)
        try:
            with (os.fdopen(fd, "w", encoding="utf-8", newline="\n", buffering=1 << 20) as out,
                  self.tmp.open(encoding="utf-8", newline="\n") as src):
                out.write(src.readline())
                for i, line in enumerate(src):
                    if i not in ordinals:
                        out.write(line)
        except BaseException:
            Path(tmp2).unlink(missing_ok=True)
            raise
        self.tmp.unlink()
        self.tmp = Path(tmp2)
        self.fh = self.tmp.open("a", encoding="utf-8", newline="\n")
        self.rows -= len(ordinals)

    def close(self) -> None:
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()

    def commit(self) -> None:
        """Close and rename into place on its own (MemfileLoader.commit publishes a whole set)."""
        self.close()
        # leases name clients (MACs, hostnames): owner and group only, not world-readable
        publish(self.tmp, self.final, mode=0o640)  # narrowed by the umask (kea_etl._files)

    def abort(self) -> None:
        if not self.fh.closed:
            # disk full: flushing the buffered rows fails again, but the fd is closed anyway
            with contextlib.suppress(OSError):
                self.fh.close()
        self.tmp.unlink(missing_ok=True)


class MemfileLoader:
    """Write accepted records as Kea memfile CSVs (and reservations4/6.json) into ``outdir``."""

    can_retract = True

    def __init__(self, outdir: str | Path, *, kea_version: str | None = None,
                 subnets: SubnetMap | None = None, dry_run: bool = False) -> None:
        self.outdir = Path(outdir)
        self.kea_version, self.kea_version_from = resolve_kea_version(kea_version)
        self.header4, self.header6 = headers_for(self.kea_version)
        self.pool_id = "pool_id" in self.header4
        self.rules = rules_for(self.kea_version)
        self.subnets = subnets
        self.dry_run = dry_run
        self.name = f"memfile:{self.outdir}"
        self._files: dict[int, _TempCSV] = {}
        self._counts = {4: 0, 6: 0}
        # leases handed to load per family (a Conflict's ordinal counts them) and the ordinals
        # failed by the row rules, in order: ordinal - (failed before it) = row in the file
        self._handed = {4: 0, 6: 0}
        self._rejected: dict[int, list[int]] = {4: [], 6: []}
        self._hosts: dict[int, dict[int, list[dict[str, Any]]]] = {4: {}, 6: {}}
        self._host_count = {4: 0, 6: 0}
        if not dry_run:
            try:
                self.outdir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"cannot create output directory {self.outdir}: "
                                  f"{exc.strerror or exc}") from exc
            if not os.access(self.outdir, os.W_OK):
                raise ConfigError(f"output directory {self.outdir} is not writable")
        #: names the run in the manifest (kea_etl.memfile_set)
        self.run_id = f"{clock.now_datetime():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        #: temporary files of killed runs, removed now (never a running writer's)
        self.leftovers_removed = [] if dry_run else clean_leftovers(self.outdir)

    def _file(self, family: int) -> _TempCSV:
        f = self._files.get(family)
        if f is None:
            final = self.outdir / (LEASES4_FILE if family == 4 else LEASES6_FILE)
            with _io_errors(final):
                f = self._files[family] = _TempCSV(final, self.header4 if family == 4
                                                   else self.header6)
        return f

    def load(self, records: Iterable[Lease4 | Lease6 | Reservation], report: RunReport) -> None:
        pool_id = self.pool_id
        counts = self._counts
        handed = self._handed
        # per family (index 4 or 6): the row check, the row format, the file's write (opened
        # with the first row, so a run without v6 leases leaves no v6 file)
        check: list[Any] = [None] * 4 + [self.rules.lease4, None, self.rules.lease6]
        fmt: list[Any] = [None] * 4 + [format_lease4, None, format_lease6]
        write: list[Any] = [None] * 7
        dry = self.dry_run
        for rec in records:
            t = type(rec)
            family = 4 if t is Lease4 else 6 if t is Lease6 else 0
            if family:
                handed[family] += 1
                why = check[family](rec)
                if why is not None:
                    self._reject(family, rec, why, report)  # type: ignore[arg-type]
                    continue
                if not dry:
                    try:  # only the writes: an OSError of the source is the source's
                        w = write[family]
                        if w is None:
                            w = write[family] = self._file(family).fh.write
                        w(fmt[family](rec, pool_id=pool_id))
                    except OSError as exc:
                        raise _write_error(self.outdir, exc) from exc
                counts[family] += 1
                report.loaded += 1
                continue
            if isinstance(rec, Reservation):
                self._hosts[rec.family].setdefault(rec.subnet_id, []).append(rec.to_kea_host())
                self._host_count[rec.family] += 1
            else:
                raise TypeError(f"MemfileLoader cannot load {type(rec).__name__}")
            report.loaded += 1

    def _reject(self, family: int, rec: Lease4 | Lease6, why: str, report: RunReport) -> None:
        self._rejected[family].append(self._handed[family] - 1)
        # the live path fails the same lease as "Kea refused lease4-add" with Kea's text
        report.fail("Kea would skip the memfile row", source=rec.origin, line=rec.line,
                    key=rec.key, detail=why)

    def retract(self, conflicts: Sequence[Conflict], report: RunReport) -> None:
        by_family: dict[int, set[int]] = {4: set(), 6: set()}
        for c in conflicts:
            if not c.fails:
                continue
            if c.ordinal >= self._handed[c.family]:
                raise ValueError(f"retract: no row {c.ordinal} for v{c.family} in {self.name}")
            rejected = self._rejected[c.family]
            i = bisect_left(rejected, c.ordinal)
            if i < len(rejected) and rejected[i] == c.ordinal:
                continue  # already failed: Kea would skip its row (see load)
            row = c.ordinal - i
            if row in by_family[c.family]:
                raise ValueError(f"retract: lease {c.ordinal} for v{c.family} retracted twice")
            by_family[c.family].add(row)
            report.loaded -= 1
            report.fail(c.reason, source=c.source, line=c.line, key=c.key, detail=c.detail,
                        conflict=True)
        for family, ordinals in by_family.items():
            if ordinals:
                self._counts[family] -= len(ordinals)
                if not self.dry_run:
                    self._files[family].drop_rows(ordinals)

    def commit(self) -> LoadOutcome:
        files: dict[str, int] = {}
        staged: list[tuple[Path, Path]] = []  # (temporary file, final name), all written whole
        try:
            for family, name in ((4, LEASES4_FILE), (6, LEASES6_FILE)):
                f = self._files.get(family)
                if f is not None:
                    with _io_errors(f.final):
                        f.close()
                    staged.append((f.tmp, f.final))
                if f is not None or (self.dry_run and self._counts[family]):
                    files[str(self.outdir / name)] = self._counts[family]
            for family, name in ((4, RESERVATIONS4_FILE), (6, RESERVATIONS6_FILE)):
                if not self._host_count[family]:
                    continue  # the other family's file, from an earlier run, stays as it is
                path = self.outdir / name
                if not self.dry_run:
                    with _io_errors(path):
                        staged.append((self._write_reservations(family, path), path))
                files[str(path)] = self._host_count[family]
            if staged:
                with _io_errors(self.outdir / MANIFEST):
                    self._publish(staged)
        except BaseException:
            for tmp, _ in staged:
                tmp.unlink(missing_ok=True)
            raise
        self._files.clear()
        return LoadOutcome(target=self.name, dry_run=self.dry_run, files=files,
                           kea_version=self.kea_version, kea_version_from=self.kea_version_from,
                           run=None if self.dry_run else self.run_id,
                           manifest=str(self.outdir / MANIFEST) if staged else None,
                           leftovers_removed=list(self.leftovers_removed))

    def _write_reservations(self, family: int, path: Path) -> Path:
        fd, tmp = mkstemp(self.outdir, path.name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self._reservations_fragment(family), fh, indent=2, default=str)
                fh.write("\n")
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp

    def _publish(self, staged: list[tuple[Path, Path]]) -> None:
        """Manifest (committing), renames, manifest (complete): see :mod:`kea_etl.memfile_set`."""
        run = self.run_id
        try:
            old = read_manifest(self.outdir)
        except ConfigError:
            old = None  # an unreadable manifest is replaced below
        old_files: dict[str, Any] = old["files"] if old else {}
        entries: dict[str, Any] = {}
        for tmp, final in staged:
            entries[final.name] = {**file_digest(tmp), "run": run}
        for name in SET_FILES:
            path = self.outdir / name
            if name in entries or not path.is_file():
                continue
            kept = file_digest(path)  # an earlier run's file this run does not replace
            prev = old_files.get(name)
            kept["run"] = prev.get("run") if isinstance(prev, dict) and \
                prev.get("sha256") == kept["sha256"] else None
            entries[name] = kept
        extra = {"kea_version": self.kea_version}
        write_manifest(self.outdir, run=run, state="committing", files=entries, extra=extra)
        crash_at = crash_after(CRASH_ENV)  # test-only (kea_etl._faults)
        for i, (tmp, final) in enumerate(staged):
            if crash_at == i:
                os.kill(os.getpid(), signal.SIGKILL)
            # leases name clients (MACs, hostnames): owner and group only, not world-readable
            publish(tmp, final, mode=0o640)  # narrowed by the umask (kea_etl._files)
        if crash_at is not None and crash_at >= len(staged):
            os.kill(os.getpid(), signal.SIGKILL)
        fsync_dir(self.outdir)
        write_manifest(self.outdir, run=run, state="complete", files=entries, extra=extra)

    def abort(self) -> None:
        for f in self._files.values():
            f.abort()
        self._files.clear()

    def _reservations_fragment(self, family: int) -> dict[str, Any]:
        fragment: dict[str, Any] = {}
        per_subnet = self._hosts[family]
        if per_subnet:
            section: dict[str, Any] = {}
            subnets = []
            for sid in sorted(per_subnet):
                if sid == 0:
                    section["reservations"] = per_subnet[sid]
                    continue
                entry: dict[str, Any] = {"id": sid}
                known = self.subnets.subnet(family, sid) if self.subnets else None
                if known is not None:
                    entry["subnet"] = str(known.prefix)
                entry["reservations"] = per_subnet[sid]
                subnets.append(entry)
            if subnets:
                section["subnet4" if family == 4 else "subnet6"] = subnets
            fragment[f"Dhcp{family}"] = section
        return fragment
