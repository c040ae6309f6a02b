"""The leases a Kea server *would* hold, read from files instead of asked of a live server.

Reconciliation's "Kea side" when no server runs yet (a cold cutover's ``kea-leases4.csv``, checked
before Kea starts) or should not be touched (an auditor with last night's export). Two kinds of
file are read:

* **Kea memfile CSV** (``kea-leases4.csv`` / ``kea-leases6.csv``, any Kea 2.x / 3.x header), or a
  directory holding one, read **the way Kea loads it at start-up**. Checked against Kea's source
  (isc-projects/kea ``src/lib/dhcpsrv``: ``Memfile_LeaseMgr::loadLeasesFromFiles``,
  ``LeaseFileLoader::load``, ``SanityChecker``, ``CSVLeaseFile4/6::next``) and, case by case,
  against real Kea 2.2.0 and 3.0.4 loading the same files (tests/export/test_reconcile_file.py):

  1. *Which files.* Kea loads ``NAME.completed`` if it exists, else ``NAME.2`` then ``NAME.1``
     (leftovers of an interrupted lease file cleanup, LFC), and always ``NAME`` last, all into one
     table. The same files are read here, in that order, by the one reader kea-etl has for them
     (:func:`kea_etl.extract.kea_memfile.lease_files` / ``extract``), which the migration's
     ``kea-memfile:`` source uses too.
  2. *Rows.* Every row is parsed as ``CSVLeaseFile4/6::next`` does (:mod:`kea_etl.extract.
     kea_memfile`: header upgrade, ``&#x2c`` escapes, field checks). A row Kea cannot parse is
     skipped with only a log line; it changes nothing (an earlier row for its address stays).
     With ``lease-database`` ``max-row-errors`` N > 0, a file with more than N such rows makes
     Kea refuse to load it (and start): that is an error here too.
  3. *Sanity check* (``sanity-checks`` ``lease-checks`` of the configuration, default ``warn``),
     applied to every parsed row **before** it touches the table, DHCPv4 leases and DHCPv6
     IA_NA only (``SanityChecker::checkLease`` returns early for prefixes): when the row's
     subnet id names no configured subnet containing its address, Kea looks for the subnet that
     does (a subnet guarded by ``client-class``, its own or its shared network's, is not found:
     the check selects subnets with no client classes). ``warn`` and ``none`` keep the row as
     is; ``fix`` sets the found subnet id (or keeps the row as is when none is found);
     ``fix-del`` fixes or, with no subnet found, drops the row; ``del`` drops it. A dropped row
     is skipped entirely, so a dropped *deletion* row deletes nothing. A row whose subnet id is
     0 and whose address is in no subnet passes every mode.
  4. *The log.* The memfile is append-only: Kea writes a row on every change. Each surviving row
     is looked up **by address** (for prefixes too): a row with valid lifetime 0 erases the lease
     (that is how Kea records ``lease4-del``, a released lease without lease affinity, or a
     reclaimed lease flushed after ``hold-reclaimed-time``); a lone deletion row is a no-op; any
     other row inserts or replaces. So the last surviving row per address wins, and only if its
     valid lifetime is not 0.
  5. *What is left* is exactly what ``lease4-get-page`` would page through: leases in every
     state, expired or not. A row in state 2 (expired-reclaimed) or 3 (released, 2.7+) is a lease
     Kea holds but which holds no address; reconciliation ignores it as it does for a live Kea.

  Per-subnet counts are what ``stat-lease4-get`` / ``stat-lease6-get`` would then report
  (Kea's ``MemfileLeaseStatsQuery4/6`` and stat_cmds, checked on real Kea 2.2 and 3.0):
  ``assigned-addresses`` / ``assigned-nas`` / ``assigned-pds`` count leases in state 0,
  ``declined-addresses`` / ``declined-nas`` IA_NA or v4 leases in state 1; expired leases not yet
  reclaimed count; leases with subnet id 0 are added to the lowest subnet id holding leases (a
  quirk of Kea's counting loop); every configured subnet gets a row. Totals come from the
  configuration's pools (pool sizes; for pd-pools ``2 ** (delegated-len - prefix-len)``); pools
  of 2**63 addresses or more are shown as 2**63 - 1, not checked against Kea.

  Not modelled: Kea refusing to load while an LFC process holds ``NAME.pid``; Kea 2.3+'s
  ``extended-info-checks`` (they rewrite user contexts, which are not compared).

* **A kea-etl export** (``leases-v4.parquet`` / ``leases-v4.csv`` written by ``kea-etl export``,
  or the partition directory holding it): a snapshot of ``leaseN-get-page``, so every row is a
  lease as Kea held it; no log, no sanity check. Per-subnet counts are computed from the rows the
  same way; the version is the export's ``kea_version`` column.

A memfile is read in columns (:mod:`kea_etl.extract.kea_memfile_columns`: a row in the form Kea
writes is checked and converted a column at a time, any other row by the row parser), and the
sanity check is decided a column at a time too (only the rows it does not pass are looked at one
by one). Every surviving row goes, numbered, to a :class:`~kea_etl.reconcile.columns.
SortedSpool`; sorted by address and row number, an address's last row is the lease. RAM stays
near the spool's budget whatever the file size; leases come back in address order.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kea_etl import spreadsheet
from kea_etl.errors import ConfigError, InvalidValueError, MalformedRecordError
from kea_etl.extract.base import Extracted
from kea_etl.kea_config import raw_subnets, section_subnets
from kea_etl.reconcile.columns import BUDGET, SortedSpool, dedupe_last, key_text
from kea_etl.records import (
    INFINITE_LIFETIME,
    LEASE_STATES,
    STATE_DECLINED,
    STATE_DEFAULT,
    Lease4,
    Lease6,
)

__all__ = ["LEASE_CHECKS", "KeaFileLeases", "pool_totals"]

#: ``sanity-checks`` ``lease-checks`` values Kea accepts
LEASE_CHECKS = ("none", "warn", "fix", "fix-del", "del")
#: messages kept per kind of problem for the warnings (the counts are always complete)
EXAMPLES = 3
_BATCH = 5000
_INT64_MAX = 2**63 - 1
#: columns of a kea-etl export read back (kea_etl.export.kea_api.LEASE_SCHEMA)
_EXPORT_COLUMNS = ("kea_version", "family", "address", "lease_type", "prefix_len", "subnet_id",
                   "hwaddr", "client_id", "duid", "iaid", "valid_lft", "preferred_lft", "cltt",
                   "state", "hostname", "fqdn_fwd", "fqdn_rev")

Kind = Literal["memfile", "export-parquet", "export-csv"]
Lease = Lease4 | Lease6


def _sniff(path: Path) -> tuple[Kind, int | None, list[str]]:
    """(kind, family or None, header columns) of one file, from its first bytes."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if head.startswith(b"PAR1"):
        return "export-parquet", None, []
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace")
    cols = [c.strip().strip('"') for c in first.rstrip("\r").split(",")]
    if cols[:3] == ["address", "hwaddr", "client_id"]:
        return "memfile", 4, cols
    if cols[:3] == ["address", "duid", "valid_lifetime"]:
        return "memfile", 6, cols
    if {"exported_at", "kea_version", "address", "lease_type"} <= set(cols):
        return "export-csv", None, cols
    if not head:
        raise ConfigError(f"{path} is empty: not a Kea lease file (no header line)")
    raise ConfigError(f"{path}: neither a Kea memfile (header 'address,hwaddr,...' or "
                      "'address,duid,...') nor a kea-etl export (leases-v4/-v6 .parquet / .csv)")


def _header_version(cols: list[str], family: int) -> str:
    """What a memfile header says about the Kea that wrote it (the only version it carries)."""
    from kea_etl.extract.kea_memfile import COLUMNS4, COLUMNS6

    if len(cols) > len(COLUMNS4 if family == 4 else COLUMNS6):
        return "post-3.0 memfile header"
    if "pool_id" in cols:
        return "2.4+ memfile header"
    if "user_context" in cols:
        return "<2.4 memfile header"
    return f"old memfile header ({len(cols)} columns)"


def pool_totals(section: Mapping[str, Any], family: int) -> dict[int, tuple[int, int]]:
    """``{subnet id: (addresses in pools, delegated prefixes in pd-pools)}`` of a ``Dhcp4`` /
    ``Dhcp6`` section, as Kea's ``total-addresses`` / ``total-nas`` / ``total-pds``."""
    return {sub.id: (min(sum(p.size for p in sub.pools), _INT64_MAX),
                     min(sum(p.size for p in sub.pd_pools), _INT64_MAX))
            for sub in section_subnets(section, family)}


class _Checker:
    """Kea's lease sanity check (SanityChecker::checkLeaseInternal) for one configuration."""

    def __init__(self, section: Mapping[str, Any], family: int, mode: str) -> None:
        from kea_etl.transform.subnets import SubnetMap

        self.mode = mode
        self.family = family
        self.smap = SubnetMap.from_config({f"Dhcp{family}": section})
        # subnets a class-less selectSubnet(address) cannot return
        self.guarded = {int(sub["id"]) for sub, net in raw_subnets(section, family)
                        if _classes(sub) or (net is not None and _classes(net))}
        self._arrays: tuple[Any, Any, Any] | None = None

    def check(self, lease: Lease) -> tuple[Lease | None, int | None]:
        """(lease as Kea keeps it or None when dropped, the subnet id Kea found when it differs).

        The second value is None when the lease passes (its subnet contains its address)."""
        if self.mode == "none" or (isinstance(lease, Lease6) and lease.lease_type != "IA_NA"):
            return lease, None
        sub = self.smap.subnet(self.family, lease.subnet_id)
        if sub is not None and lease.address in sub.prefix:
            return lease, None
        keep, sid, found = self.verdict(int(lease.address), lease.subnet_id)
        if found is None:
            return lease, None
        if not keep:
            return None, found
        if sid != lease.subnet_id:
            return dataclasses.replace(lease, subnet_id=sid), found
        return lease, found

    def verdict(self, address: int, subnet_id: int) -> tuple[bool, int, int | None]:
        """For a lease whose subnet id names no subnet holding its address: (kept, the subnet
        id it is kept with, the subnet id Kea found; None when the lease passes after all)."""
        found = (self.smap.subnet4_id(address) if self.family == 4
                 else self.smap.subnet6_id(address)) or 0
        if found in self.guarded:
            found = 0
        if found == subnet_id:  # both 0: in no subnet and claims none
            return True, subnet_id, None
        if self.mode == "del" or (self.mode == "fix-del" and not found):
            return False, subnet_id, found
        if self.mode in ("fix", "fix-del") and found:
            return True, found, found
        return True, subnet_id, found  # warn, or fix with nothing better: Kea logs and keeps it

    def passing(self, table: pa.Table) -> Any:
        """Per row of a column batch: True when the check leaves it alone (its subnet holds its
        address, or the check does not apply); the others go through :meth:`verdict`."""
        n = table.num_rows
        if self.mode == "none":
            return np.ones(n, dtype=bool)
        if self._arrays is None:
            subs = sorted(self.smap.subnets[self.family].items())
            ids = np.array([i for i, _ in subs], dtype=np.int64)
            width = 32 if self.family == 4 else 128
            nets = [int(s.prefix.network_address) for _, s in subs]
            masks = [((1 << width) - 1) ^ ((1 << (width - s.prefix.prefixlen)) - 1)
                     for _, s in subs]
            self._arrays = (ids, _words(nets), _words(masks))
        ids, (net_hi, net_lo), (mask_hi, mask_lo) = self._arrays
        sid = table.column("subnet_id").to_numpy()
        if not len(ids):
            ok = np.zeros(n, dtype=bool)
        else:
            at = np.clip(np.searchsorted(ids, sid), 0, len(ids) - 1)
            hi, lo = _key_words(table)
            ok = ((ids[at] == sid) & ((hi & mask_hi[at]) == net_hi[at])
                  & ((lo & mask_lo[at]) == net_lo[at]))
        if self.family == 6:
            ok |= np.asarray(table.column("lease_type").to_numpy(zero_copy_only=False)
                             != "IA_NA")
        return ok


def _words(values: list[int]) -> tuple[Any, Any]:
    """128-bit numbers as (high, low) uint64 arrays."""
    mask = (1 << 64) - 1
    return (np.array([v >> 64 for v in values], dtype=np.uint64),
            np.array([v & mask for v in values], dtype=np.uint64))


def _key_words(table: pa.Table) -> tuple[Any, Any]:
    """The key column as (high, low) uint64 words."""
    k = table.column("k")
    if isinstance(k, pa.ChunkedArray):
        k = k.combine_chunks()
    if pa.types.is_uint64(k.type):
        lo = k.to_numpy()
        return np.zeros(len(lo), dtype=np.uint64), lo
    buf = k.buffers()[1]
    assert buf is not None
    words = np.frombuffer(buf, dtype=">u8")[2 * k.offset:2 * (k.offset + len(k))]
    words = words.reshape(-1, 2).astype(np.uint64)
    return words[:, 0], words[:, 1]


def _classes(obj: Mapping[str, Any]) -> bool:
    return bool(obj.get("client-class")) or bool(obj.get("client-classes"))


class KeaFileLeases:
    """The leases Kea would hold after loading ``path`` (see the module docstring).

    ``path`` is a memfile, a kea-etl export file, or a directory holding ``kea-leasesN.csv``
    (e.g. ``kea-etl migrate --to memfile:OUT``'s OUT) or ``leases-vN.parquet`` / ``.csv``.
    ``section`` is the target configuration's ``Dhcp4`` / ``Dhcp6`` map. The constructor only
    resolves and checks the files (:class:`ConfigError` when missing, of the other family or not
    a lease file); :meth:`load` reads them, :meth:`start` reads them in a thread of their own
    (what reads the results waits for it, and raises what it raised). Use as a context manager
    (a temporary file).
    """

    def __init__(self, path: str | Path, *, family: int, section: Mapping[str, Any],
                 workdir: str | Path | None = None, budget: int = BUDGET) -> None:
        self.family = family
        self.section = section
        self.workdir = workdir
        self.warnings: list[str] = []
        self.rows = 0
        self.bad_rows = 0
        self.deletions = 0
        self.sanity: Counter[str] = Counter()
        self.budget = budget
        self._spool: SortedSpool | None = None
        self._final_table: list[tuple[pa.Table, Any]] | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        mode = "warn"
        checks = section.get("sanity-checks")
        if isinstance(checks, Mapping) and "lease-checks" in checks:
            mode = str(checks["lease-checks"])
        if mode not in LEASE_CHECKS:
            raise ConfigError(f"sanity-checks lease-checks {mode!r}: Kea accepts "
                              f"{', '.join(LEASE_CHECKS)}")
        self.lease_checks = mode
        db = section.get("lease-database")
        self.max_row_errors = int(db.get("max-row-errors", 0) or 0) if isinstance(db, Mapping) \
            else 0
        self.path, self.kind, self.files, self.version = self._resolve(Path(path))

    # ---- which files ----------------------------------------------------------------------
    def _resolve(self, p: Path) -> tuple[Path, Kind, list[Path], str]:
        from kea_etl.extract.kea_memfile import lease_files

        fam, other = self.family, 10 - self.family
        main = p / f"kea-leases{fam}.csv" if p.is_dir() else p
        files = lease_files(main)  # the one list of what Kea loads (kea_memfile)
        if p.is_dir() and not files:
            for ext in ("parquet", "csv"):
                if (p / f"leases-v{fam}.{ext}").is_file():
                    return self._resolve(p / f"leases-v{fam}.{ext}")
            if any((p / name).is_file() for name in (
                    f"kea-leases{other}.csv", f"leases-v{other}.parquet", f"leases-v{other}.csv")):
                raise ConfigError(f"{p} holds DHCPv{other} leases only (no kea-leases{fam}.csv): "
                                  f"the --kea-config is a Dhcp{fam} configuration")
            raise ConfigError(f"{p}: no kea-leases{fam}.csv (Kea memfile) or leases-v{fam}.parquet "
                              "/ .csv (kea-etl export) in this directory")
        if not files:
            raise ConfigError(f"{p}: no such file or directory")
        kind, file_family, cols = _sniff(files[-1])
        if kind != "memfile":
            if files != [p]:
                raise ConfigError(f"{p}: no such file or directory")
            return p, kind, files, "file"
        if file_family != fam:
            raise ConfigError(f"{files[-1]} holds DHCPv{file_family} leases: the --kea-config is a "
                              f"Dhcp{fam} configuration")
        if len(files) > 1:
            self.warnings.append(
                "also read, first, the files Kea loads with it (left by an interrupted lease file "
                "cleanup): " + ", ".join(str(f) for f in files if f != main)
                + ("" if main in files else f"; {main} itself does not exist"))
        return main, "memfile", files, _header_version(cols, fam)

    # ---- loading --------------------------------------------------------------------------
    def start(self, *, as_of: int | None = None, result: Any = None) -> None:
        """Read the files in a helper thread from now on, so that a caller reading its source
        meanwhile uses a second core: the reading is mostly Arrow's CSV reader and array
        arithmetic, which run without the interpreter lock. Only that thread touches this
        object until :meth:`wait` (which the results call) returns. Called as
        :meth:`~kea_etl.reconcile.kea_pages.KeaPages.start` is (its arguments are not needed
        here: the files are read whole, counted when the results are asked for)."""
        if self._thread is not None or self._spool is not None:
            return

        def read() -> None:
            try:
                self.load()
            except BaseException as exc:  # raised again by wait()
                self._error = exc

        self._thread = threading.Thread(target=read, name="kea-etl-reconcile-files", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        """Wait for :meth:`start`'s reading to end; raise what it raised."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def load(self) -> KeaFileLeases:
        """Read every file into the final lease table; returns ``self``."""
        self._spool = SortedSpool(self.family, workdir=self.workdir, budget=self.budget,
                                  extra=_EXTRA)
        if self.kind == "memfile":
            self._load_memfiles()
        else:
            self._load_export()
        return self

    def _add(self, leases: list[Lease], seq: list[int] | None = None) -> None:
        """Records into the spool (``seq``: their row numbers, else their arrival)."""
        from kea_etl.reconcile.compare import record_columns

        assert self._spool is not None
        cols = record_columns(leases, [r.line for r in leases], [r.origin for r in leases])
        cols.update(preferred_lft=[getattr(r, "preferred_lft", None) for r in leases],
                    fqdn_fwd=[r.fqdn_fwd for r in leases], fqdn_rev=[r.fqdn_rev for r in leases],
                    user_context=[None if r.user_context is None else json.dumps(r.user_context)
                                  for r in leases],
                    deleted=[self.kind == "memfile" and r.valid_lft == 0 for r in leases])
        self._spool.add_columns(cols, len(leases), seq=seq)
        leases.clear()

    def _load_memfiles(self) -> None:
        from kea_etl.extract.kea_memfile import open_files
        from kea_etl.extract.kea_memfile_columns import column_batches

        assert self._spool is not None
        checker = _Checker(self.section, self.family, self.lease_checks)
        # every row in Kea's load order goes to the spool, numbered, a deletion row flagged:
        # sorted by address and row number, an address's last row is Kea's lease unless that
        # row deletes it
        bad: list[str] = []
        sane: dict[str, list[str]] = {"dropped": [], "fixed": [], "kept": []}
        errors: Counter[str] = Counter()

        def sanity(what: str, key: str, name: str, line: int, sid: int, found: int) -> None:
            self.sanity[what] += 1
            if len(sane[what]) < EXAMPLES:
                sane[what].append(f"{key} ({name} line {line}, subnet id {sid}, "
                                  + (f"address in subnet id {found})" if found
                                     else "address in no usable subnet)"))

        first_row = 0
        # the one reader of Kea's memfile set (the migration's kea-memfile: source reads the
        # same files the same way), its rows in Kea's load order
        for reader in open_files(self.path):
            name = reader.path.name
            for part in column_batches(reader, first_row):
                table = part.table
                n = table.num_rows
                self.rows += n + len(part.parsed)
                first_row += n + len(part.parsed)
                # in row order: the rows the row parser made, and the rows in columns whose
                # subnet id names no subnet holding their address
                events: list[tuple[int, Any]] = list(part.parsed)
                keep = np.ones(n, dtype=bool)
                sids = np.zeros(n, dtype=np.int64)
                if n:
                    sids = table.column("subnet_id").to_numpy().copy()
                    failing = np.flatnonzero(~checker.passing(table))
                    events += [(int(part.rownos[i]), int(i)) for i in failing]
                    events.sort(key=lambda e: e[0])
                rows: list[Lease] = []
                seqs: list[int] = []
                for rowno, item in events:
                    if isinstance(item, int):
                        addr = table.column("k")[item].as_py()
                        sid = int(sids[item])
                        kept, new_sid, found = checker.verdict(
                            addr if isinstance(addr, int) else int.from_bytes(addr, "big"), sid)
                        if found is None:
                            continue
                        what = "dropped" if not kept else "fixed" if new_sid != sid else "kept"
                        sanity(what, key_text(addr, table.column("lease_type")[item].as_py(),
                                              table.column("prefix_len")[item].as_py()), name,
                               int(part.lines[item]), sid, found)
                        keep[item] = kept
                        sids[item] = new_sid
                        continue
                    if isinstance(item, MalformedRecordError):
                        errors[item.source] += 1
                        self.bad_rows += 1
                        if len(bad) < EXAMPLES:
                            bad.append(str(item))
                        if self.max_row_errors and errors[item.source] > self.max_row_errors:
                            raise ConfigError(
                                f"Kea would refuse to load {item.source}: more than "
                                f"max-row-errors {self.max_row_errors} rows it cannot read "
                                f"({'; '.join(bad)})")
                        continue
                    assert isinstance(item, Extracted)  # a memfile has nothing but rows
                    rec = item.record
                    assert isinstance(rec, Lease4 | Lease6)
                    lease, found = checker.check(rec)
                    if found is not None:
                        what = ("dropped" if lease is None else
                                "fixed" if lease.subnet_id != rec.subnet_id else "kept")
                        sanity(what, rec.key, Path(item.source).name, item.line or 0,
                               rec.subnet_id, found)
                    if lease is None:
                        continue
                    if lease.valid_lft == 0:
                        self.deletions += 1
                    rows.append(lease)
                    seqs.append(rowno)
                if n:
                    valid = table.column("valid_lft").to_numpy()
                    self.deletions += int(((valid == 0) & keep).sum())
                    batch = _column_batch(self._spool.schema, table, part, sids, reader.source)
                    self._spool.add(batch if keep.all() else batch.filter(pa.array(keep)))
                self._add(rows, seqs)
        if self.bad_rows:
            self.warnings.append(f"{self.bad_rows} row(s) Kea cannot read and skips with only a "
                                 f"log line: {'; '.join(bad)}"
                                 + (" ..." if self.bad_rows > len(bad) else ""))
        notes = {"dropped": f"lease-checks {self.lease_checks!r}: Kea drops",
                 "fixed": f"lease-checks {self.lease_checks!r}: Kea changes the subnet id of",
                 "kept": f"lease-checks {self.lease_checks!r}: Kea keeps (and logs "
                         "DHCPSRV_LEASE_SANITY_FAIL for)"}
        for what, text in notes.items():
            if self.sanity[what]:
                self.warnings.append(
                    f"{text} {self.sanity[what]} row(s) whose subnet id does not match the "
                    f"address: {', '.join(sane[what])}"
                    + (" ..." if self.sanity[what] > len(sane[what]) else ""))

    def _export_batches(self) -> Iterator[list[dict[str, Any]]]:
        import pyarrow as pa

        path = self.files[0]
        try:
            if self.kind == "export-parquet":
                import pyarrow.parquet as pq

                pf = pq.ParquetFile(str(path))
                missing = set(_EXPORT_COLUMNS) - set(pf.schema_arrow.names)
                if missing:
                    raise ConfigError(f"{path}: not a kea-etl lease export (no column "
                                      f"{', '.join(sorted(missing))})")
                for batch in pf.iter_batches(batch_size=_BATCH, columns=list(_EXPORT_COLUMNS)):
                    yield batch.to_pylist()
                return
            import pyarrow.csv as pacsv

            from kea_etl.export.kea_api import LEASE_SCHEMA

            types = {name: LEASE_SCHEMA.field(name).type for name in _EXPORT_COLUMNS}
            reader = pacsv.open_csv(str(path), convert_options=pacsv.ConvertOptions(
                include_columns=list(_EXPORT_COLUMNS), column_types=types,
                strings_can_be_null=True))
            for batch in reader:
                yield batch.to_pylist()
        except (OSError, pa.ArrowException) as exc:
            raise ConfigError(f"cannot read the kea-etl export {path}: {exc}") from exc

    def _load_export(self) -> None:
        path = self.files[0]
        rows: list[Lease] = []
        bad: list[str] = []
        line = 1
        for page in self._export_batches():
            for r in page:
                line += 1
                self.rows += 1
                if self.version == "file" and r.get("kea_version"):
                    self.version = str(r["kea_version"])
                if r.get("family") not in (None, self.family):
                    raise ConfigError(f"{path} holds DHCPv{r['family']} leases: the --kea-config "
                                      f"is a Dhcp{self.family} configuration")
                try:
                    lease = _export_lease(r, self.family, str(path), line)
                except (InvalidValueError, ValueError, TypeError) as exc:
                    self.bad_rows += 1
                    if len(bad) < EXAMPLES:
                        where = f"line {line}" if self.kind == "export-csv" else f"row {line - 1}"
                        bad.append(f"{where}: {exc}")
                    continue
                rows.append(lease)
                if len(rows) >= _BATCH:
                    self._add(rows)
        self._add(rows)
        if self.bad_rows:
            self.warnings.append(f"{self.bad_rows} row(s) of {path} are not leases: "
                                 f"{'; '.join(bad)}" + (" ..." if self.bad_rows > len(bad) else ""))

    # ---- results --------------------------------------------------------------------------
    def _final(self) -> Iterator[tuple[pa.Table, Any]]:
        """The final lease table in address order, in chunks: per address its last row, unless
        that row deletes it."""
        self.wait()
        assert self._spool is not None, "call load() first"
        if self._final_table is not None:
            yield from self._final_table
            return
        kept = []
        for chunk in self._spool.chunks():
            table, keys = dedupe_last(chunk)
            deleted = table.column("deleted").to_numpy(zero_copy_only=False)
            if deleted.any():
                keep = ~deleted
                table, keys = table.filter(pa.array(keep)), keys[keep]
            if table.num_rows:
                if not self._spool.spilled:  # in RAM anyway: read it once
                    kept.append((table, keys))
                yield table, keys
        if not self._spool.spilled:
            self._final_table = kept

    def __len__(self) -> int:
        return sum(t.num_rows for t, _ in self._final())

    def __iter__(self) -> Iterator[Lease]:
        """The final leases, in address order."""
        for table, _ in self._final():
            for r in table.to_pylist():
                common: dict[str, Any] = {
                    "valid_lft": r["valid_lft"], "cltt": r["cltt"], "subnet_id": r["subnet_id"],
                    "hostname": r["hostname"], "fqdn_fwd": r["fqdn_fwd"],
                    "fqdn_rev": r["fqdn_rev"], "state": r["state"],
                    "user_context": None if r["user_context"] is None
                    else json.loads(r["user_context"]),
                    "origin": r["origin"], "line": r["line"]}
                if r["lease_type"] == "V4":
                    yield Lease4(address=IPv4Address(r["k"]), hwaddr=r["hwaddr"],
                                 client_id=r["client_id"], **common)
                else:
                    yield Lease6(address=IPv6Address(r["k"]), duid=r["duid"], iaid=r["iaid"],
                                 lease_type=r["lease_type"], prefix_len=r["prefix_len"],
                                 preferred_lft=r["preferred_lft"], hwaddr=r["hwaddr"], **common)

    def live_chunks(self, *, as_of: int, result: Any,
                    progress: Callable[[], None] | None = None) -> Iterator[tuple[pa.Table, Any]]:
        """The leases that hold their address, as reconciliation's chunks (columns of
        :data:`kea_etl.reconcile.columns.COLUMNS`), no Python object per lease.

        Counts first, into ``result`` (``kea_read``, ``kea_ignored``), as reconciliation counts
        a live Kea's: a lease in a state other than default / declined is ignored under the
        state's name, one whose expiry (cltt + valid lifetime, unless infinite) is before
        ``as_of`` as "expired"."""
        for table, _ in self._final():
            result.kea_read += table.num_rows
            state = table.column("state").to_numpy()
            held = (state == STATE_DEFAULT) | (state == STATE_DECLINED)
            if not held.all():
                codes, n = np.unique(state[~held], return_counts=True)
                for code, c in zip(codes.tolist(), n.tolist(), strict=True):
                    result.kea_ignored[LEASE_STATES.get(code, str(code))] += c
            expired = held & ~_live(table, as_of)
            if expired.any():
                result.kea_ignored["expired"] += int(expired.sum())
        return self._live_chunks(as_of)

    def _live_chunks(self, as_of: int) -> Iterator[tuple[pa.Table, Any]]:
        for table, keys in self._final():
            state = table.column("state").to_numpy()
            keep = ((state == STATE_DEFAULT) | (state == STATE_DECLINED)) & _live(table, as_of)
            if not keep.all():
                table, keys = table.filter(pa.array(keep)), keys[keep]
            if table.num_rows:
                yield table, keys

    def stats(self) -> dict[int, dict[str, int]]:
        """What ``stat-leaseN-get`` would answer: one row per configured subnet, Kea's names.

        As Kea computes it (``MemfileLeaseStatsQuery4/6`` walking the leases in subnet id
        order, then stat_cmds): assigned = leases in state 0, declined = state 1 (v6: IA_NA
        only), expiry not considered. Kea's walk only resets its counters after a subnet id
        above 0, so the counts of leases with subnet id 0 land in the lowest subnet id that has
        leases; seen on Kea 2.2 and 3.0 alike, and reproduced here.
        """
        counts: Counter[tuple[int, str, int]] = Counter()
        first: int | None = None
        for table, _ in self._final():
            sid = table.column("subnet_id").to_numpy()
            positive = sid[sid > 0]
            if len(positive):
                low = int(positive.min())
                first = low if first is None else min(first, low)
            state = table.column("state").to_numpy()
            held = (state == STATE_DEFAULT) | (state == STATE_DECLINED)
            if not held.any():
                continue
            types = table.column("lease_type").to_numpy(zero_copy_only=False)[held]
            code = sid[held] * 8 + state[held]  # states 0 and 1 only here
            for ltype in set(types.tolist()):
                uniq, hits = np.unique(code[types == ltype], return_counts=True)
                for c, h in zip(uniq.tolist(), hits.tolist(), strict=True):
                    counts[(c // 8, str(ltype), c % 8)] += h
        if first is not None:
            for (sid0, lt, st), c in list(counts.items()):
                if sid0 == 0:
                    counts[(first, lt, st)] += c
        out: dict[int, dict[str, int]] = {}
        for sid, (addrs, pds) in pool_totals(self.section, self.family).items():
            if self.family == 4:
                out[sid] = {"total-addresses": addrs,
                            "assigned-addresses": counts[(sid, "V4", STATE_DEFAULT)],
                            "declined-addresses": counts[(sid, "V4", STATE_DECLINED)]}
            else:
                out[sid] = {"total-nas": addrs, "total-pds": pds,
                            "assigned-nas": counts[(sid, "IA_NA", STATE_DEFAULT)],
                            "declined-nas": counts[(sid, "IA_NA", STATE_DECLINED)],
                            "assigned-pds": counts[(sid, "IA_PD", STATE_DEFAULT)]}
        return out

    def close(self) -> None:
        if self._thread is not None:  # not while it writes to the spool
            self._thread.join()
            self._thread = None
        self._final_table = None
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def __enter__(self) -> KeaFileLeases:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _text(value: Any) -> str:
    """A kea-etl export CSV cell back to its value (``'=x`` was written for ``=x``)."""
    text = "" if value is None else str(value)
    return spreadsheet.undo(text)


def _export_lease(r: Mapping[str, Any], family: int, origin: str, line: int) -> Lease:
    common: dict[str, Any] = {
        "valid_lft": r["valid_lft"], "cltt": r["cltt"], "subnet_id": r["subnet_id"] or 0,
        "hostname": _text(r.get("hostname")), "fqdn_fwd": bool(r.get("fqdn_fwd")),
        "fqdn_rev": bool(r.get("fqdn_rev")), "state": r["state"] or 0, "origin": origin,
        "line": line}
    if family == 4:
        return Lease4(address=IPv4Address(str(r["address"])), hwaddr=r.get("hwaddr") or None,
                      client_id=r.get("client_id") or None, **common)
    ltype = str(r.get("lease_type") or "IA_NA")
    return Lease6(address=IPv6Address(str(r["address"])), duid=str(r.get("duid") or ""),
                  iaid=r["iaid"], lease_type=ltype,  # type: ignore[arg-type]
                  prefix_len=int(r.get("prefix_len") or 128) if ltype == "IA_PD" else 128,
                  preferred_lft=r.get("preferred_lft") or 0, hwaddr=r.get("hwaddr") or None,
                  **common)


#: what the final lease table holds besides reconciliation's columns: the rest of a lease (to
#: give records back) and whether the row deletes its address
_EXTRA = (pa.field("preferred_lft", pa.int64()), pa.field("fqdn_fwd", pa.bool_()),
          pa.field("fqdn_rev", pa.bool_()), pa.field("user_context", pa.string()),
          pa.field("deleted", pa.bool_()))


def _live(table: pa.Table, as_of: int) -> Any:
    """Per row: the lease has not expired before ``as_of`` (or never expires)."""
    valid = table.column("valid_lft").to_numpy()
    return (valid == INFINITE_LIFETIME) | (table.column("cltt").to_numpy() + valid >= as_of)


def _column_batch(schema: pa.Schema, table: pa.Table, part: Any, sids: Any,
                  origin: str) -> pa.RecordBatch:
    """A spool batch from the rows a memfile gave in columns."""
    n = table.num_rows
    valid = table.column("valid_lft")
    cols = {"subnet_id": pa.array(sids), "line": pa.array(part.lines),
            "origin": pa.repeat(pa.scalar(origin), n),
            "user_context": pa.nulls(n, pa.string()),
            "deleted": pc.equal(valid, 0), "seq": pa.array(part.rownos)}
    arrays = [cols[f.name] if f.name in cols else table.column(f.name) for f in schema]
    return pa.RecordBatch.from_arrays([a.combine_chunks() if isinstance(a, pa.ChunkedArray)
                                       else a for a in arrays], schema=schema)
