"""Load leases into a running Kea through its control channel (``kea:URL`` targets).

v4 leases go one command each (lease4-add, or lease4-update with ``force-create`` in upsert
mode); v6 leases go in batches with lease6-bulk-apply. Several batches are in flight at once
(``workers`` threads sharing one thread-safe :class:`~kea_etl.kea.KeaClient`); at most
``2 * workers`` batches are queued, so memory stays bounded whatever the input size.

Who holds an address decides what is sent (see :mod:`kea_etl.load.compare`):

* nobody -> the lease is added (``loaded``);
* the same client with the same expiry -> nothing is sent (``already_present``, counts as loaded);
* the same client with another expiry -> in ``add`` mode Kea's lease is kept (the client may
  have renewed it on Kea since; counted ``already_present`` with a warning); in ``upsert`` mode it
  is replaced with lease4-update / lease6-update;
* another client -> a conflict, reported and left alone, unless ``on_conflict="overwrite"``.

For v4, lease4-add itself answers "already exists" (result 4, or result 1 with that text on Kea
2.2); only then does the loader ask lease4-get who holds it, which is cheaper than a get before
every add. lease6-bulk-apply is an **upsert** (it silently replaces another DUID's lease) and one
lease matching no subnet fails the **whole** call, so before each batch the loader checks every
lease against a snapshot of Kea's v6 leases taken at the start (paged with lease6-get-page into
a temporary SQLite file, not memory) and against the server's subnets; leases that fail the
checks never enter the batch. If Kea still refuses a whole batch, that batch is sent again one
lease6-add at a time, so one bad lease never stops the others. Per-lease failures come back in
``failed-leases``. A client that gets an address from Kea *during* the load, after the snapshot,
is not seen by the v6 check: load before Kea starts serving, as a cutover does.

Transport errors are retried by the client; when its retry budget is spent the loader finishes
the batches already answered, saves them in the checkpoint and raises
:class:`~kea_etl.errors.KeaTransportError` naming the server and ``--resume``.
"""

from __future__ import annotations

import socket
import sqlite3
import sys
import tempfile
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from ipaddress import IPv6Address
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from kea_etl import kea_config
from kea_etl._batching import chunks
from kea_etl._fastrec import builder
from kea_etl.errors import (
    ConfigError,
    KeaCommandError,
    KeaConflictError,
    KeaTransportError,
    RecordError,
)
from kea_etl.kea_config import Subnet
from kea_etl.kea_limits import DUID_MAX
from kea_etl.load.base import LoadOutcome, LoadRecord
from kea_etl.load.checkpoint import Checkpoint, Outcome, count_outcome, record_key
from kea_etl.load.compare import Verdict, decide, describe_holder, same_client
from kea_etl.load.credentials import LiveCredentials
from kea_etl.records import Lease4, Lease6, Reservation, canonical_hex
from kea_etl.report import RunReport
from kea_etl.urls import refuse_password

if TYPE_CHECKING:
    from kea_etl.kea import KeaClient
    from kea_etl.load.ha import PeerState
    from kea_etl.transform.subnets import SubnetMap

__all__ = ["LiveLeaseLoader", "LiveOptions", "ServerSubnet", "make_kea_loader", "open_checkpoint",
           "server_subnets", "wire_args"]

#: GIL switch interval while loading (see LiveLeaseLoader.load)
SWITCH_INTERVAL = 0.0002
Mode = Literal["add", "upsert"]
OnConflict = Literal["skip", "overwrite"]


@dataclass(frozen=True, slots=True)
class LiveOptions:
    """What the live loader does; every field is part of the checkpoint fingerprint."""

    mode: Mode = "add"
    on_conflict: OnConflict = "skip"
    workers: int = 4
    #: v4: leases per worker task; v6: leases per lease6-bulk-apply
    batch_size4: int = 50
    batch_size6: int = 100
    bulk_v6: bool = True
    dry_run: bool = False
    #: reservations that only a configuration change can store (config-set, or reservation-add
    #: into memory + config-write) are failed unless this is set (kea_etl.load.reservations)
    allow_config_write: bool = False
    #: the run's --report: the configuration is saved next to it before it is changed
    report_path: str | None = None

    def fingerprint_options(self) -> dict[str, Any]:
        return {"mode": self.mode, "on_conflict": self.on_conflict}


#: a subnet of the live server (the name older callers and tests use)
ServerSubnet = Subnet


def server_subnets(config: Mapping[str, Any]) -> list[ServerSubnet]:
    """Subnets (with pd-pools) of a config-get answer or a config file, shared networks too."""
    return kea_config.subnets(config)


@dataclass
class _Task:
    outcomes: list[Outcome] = field(default_factory=list)
    error: KeaTransportError | None = None
    sent: Counter[str] = field(default_factory=Counter)


class _V6Snapshot:
    """Kea's v6 leases at the start of the load, in a temporary SQLite file (bounded memory).

    Rows are taken straight from Kea's lease JSON (address respelled as the loader spells it,
    DUID through :func:`canonical_hex`'s fast path) rather than through :meth:`Lease6.from_kea`,
    whose validation costs ~11 us a lease against ~2.5 us here: with a million leases held, that
    was 11 s in the main thread before the first batch. A lease whose JSON is not as expected
    goes through ``from_kea`` and its errors.
    Matches are rebuilt as :class:`Lease6` without revalidation (the values were checked on the
    way in); tests/load/test_api_unit.py pins both steps to ``from_kea``.
    """

    def __init__(self, client: KeaClient, page: int = 1000) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="kea-etl-v6-")
        self._db = sqlite3.connect(str(Path(self._dir.name, "held.sqlite")),
                                   check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute("CREATE TABLE held (key TEXT PRIMARY KEY, duid TEXT, iaid INTEGER, "
                         "type TEXT, plen INTEGER, valid INTEGER, cltt INTEGER, subnet INTEGER, "
                         "state INTEGER)")
        # what this run wrote with lease6-bulk-apply (an upsert): re-checked at the end
        self._db.execute("CREATE TABLE ours (key TEXT PRIMARY KEY, duid TEXT, iaid INTEGER, "
                         "source TEXT, line INTEGER, seen INTEGER DEFAULT 0)")
        self.ours = 0
        self.count = 0
        start: str = "start"
        while True:
            r = client.call("lease6-get-page", {"from": start, "limit": page})
            leases = (r.arguments or {}).get("leases", []) if r.result == 0 else []
            rows = [_held_row(raw) for raw in leases]
            self._db.executemany("INSERT OR REPLACE INTO held VALUES (?,?,?,?,?,?,?,?,?)", rows)
            self.count += len(rows)
            if len(leases) < page:
                break
            start = leases[-1]["ip-address"]
        self._db.commit()

    def lookup(self, keys: Sequence[str]) -> dict[str, Lease6]:
        out: dict[str, Lease6] = {}
        if not self.count or not keys:
            return out
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM held WHERE key IN (" + ",".join("?" * len(keys)) + ")",
                list(keys)).fetchall()
        for row in rows:
            out[row[0]] = _held_lease(*row)
        return out

    def remember(self, leases: Sequence[Lease6]) -> None:
        """Leases Kea took from this run's lease6-bulk-apply (see :meth:`recheck`)."""
        rows = [(lease.key, lease.duid, lease.iaid, lease.origin, lease.line) for lease in leases]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO ours (key, duid, iaid, source, line) "
                                 "VALUES (?,?,?,?,?)", rows)
            self.ours += len(rows)

    def recheck(self, client: KeaClient, page: int = 1000
                ) -> Iterator[tuple[str, str | None, int | None, Lease6 | None]]:
        """(key, source, line, holder) of every lease this run bulk-applied that Kea no longer
        holds for this run's client (holder None: Kea holds nothing there now).

        lease6-bulk-apply overwrites whatever Kea holds, so a second run loading other clients
        for the same addresses at the same time overwrites this run's leases (and this run
        theirs) after the start-of-load snapshot said the address was free. One pass over
        Kea's leases at the end of the load finds them, so the report is true when it ends.
        """
        if not self.ours:
            return
        start = "start"
        while True:
            r = client.call("lease6-get-page", {"from": start, "limit": page})
            leases = (r.arguments or {}).get("leases", []) if r.result == 0 else []
            rows = {}
            for raw in leases:
                row = _held_row(raw)
                rows[row[0]] = (row, raw)
            if rows:
                with self._lock:
                    mine = self._db.execute(
                        "SELECT key, duid, iaid, source, line FROM ours WHERE key IN ("
                        + ",".join("?" * len(rows)) + ")", list(rows)).fetchall()
                    self._db.executemany("UPDATE ours SET seen = 1 WHERE key = ?",
                                         [(m[0],) for m in mine])
                for key, duid, iaid, source, line in mine:
                    row, raw = rows[key]
                    if (row[1], row[2]) != (duid, iaid):
                        yield key, source, line, _held_lease(*row)
            if len(leases) < page:
                break
            start = leases[-1]["ip-address"]
        with self._lock:
            gone = self._db.execute("SELECT key, source, line FROM ours WHERE seen = 0").fetchall()
        for key, source, line in gone:
            yield key, source, line, None

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()


HeldRow = tuple[str, str, int, str, int, int, int, int, int]


def _held_row(raw: Mapping[str, Any]) -> HeldRow:
    """(key, duid, iaid, type, prefix_len, valid_lft, cltt, subnet_id, state) of Kea's JSON."""
    try:
        ltype = raw.get("type", "IA_NA")
        text = socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6,
                                                                  raw["ip-address"]))
        if "." in text:  # IPv4-mapped: spelled as ipaddress does, like Lease6.to_kea_args
            text = str(IPv6Address(text))
        plen = int(raw.get("prefix-len", 128)) if ltype == "IA_PD" else 128
        valid = raw["valid-lft"]
        cltt = raw["cltt"] if "cltt" in raw else int(raw["expire"]) - int(valid)
        duid = canonical_hex(raw["duid"], "duid", max_len=DUID_MAX)
        numbers = (raw["iaid"], plen, valid, cltt, raw.get("subnet-id", 0), raw.get("state", 0))
        if duid is not None and ltype in ("IA_NA", "IA_TA", "IA_PD") and all(
                type(v) is int and 0 <= v <= 0xFFFFFFFF for v in numbers):
            iaid, plen, valid, cltt, subnet, state = numbers
            return (f"{text}/{plen}" if ltype == "IA_PD" else text, duid, iaid, ltype, plen,
                    valid, cltt, subnet, state)
    except (KeyError, TypeError, ValueError, AttributeError, OSError, RecordError):
        pass
    lease = Lease6.from_kea(raw)  # the slow, validating path: its error names what is wrong
    return (lease.key, lease.duid, lease.iaid, lease.lease_type, lease.prefix_len,
            lease.valid_lft, lease.cltt, lease.subnet_id, lease.state)


_build6 = builder(Lease6)
_DEFAULTS6 = {f.name: f.default for f in fields(Lease6)}


def _held_lease(key: str, duid: str, iaid: int, ltype: str, plen: int, valid: int, cltt: int,
                subnet: int, state: int) -> Lease6:
    """A snapshot row as a Lease6, unvalidated (its values came through :func:`_held_row`)."""
    values = dict(_DEFAULTS6, address=IPv6Address(socket.inet_pton(
        socket.AF_INET6, key.partition("/")[0])), duid=duid, iaid=iaid, lease_type=ltype,
        prefix_len=plen, valid_lft=valid, cltt=cltt, subnet_id=subnet, state=state)
    return _build6(*(values[s] for s in Lease6.__slots__))


class LiveLeaseLoader:
    """Sends leases to a running Kea; one instance per run."""

    def __init__(self, client: KeaClient, *, options: LiveOptions | None = None,
                 checkpoint: Checkpoint | None = None,
                 subnets: Sequence[ServerSubnet] | None = None) -> None:
        self.client = client
        self.options = options or LiveOptions()
        self.checkpoint = checkpoint
        self._subnets = list(subnets) if subnets is not None else None
        self._subnet_by_id: dict[int, ServerSubnet] | None = None
        self._snapshot: _V6Snapshot | None = None
        self._hosts: list[Reservation] = []
        self._checked: set[int] = set()
        self._wrong_family: set[int] = set()
        self._family: int | None = None
        self.sent: Counter[str] = Counter()
        self.name = f"kea:{self.server}"
        self.can_retract = False
        self.host_strategy: str | None = None
        self.report_state: str | None = None
        #: the server's HA state, when it was checked before the load (informative only)
        self.ha_states: list[PeerState] = []

    @property
    def server(self) -> str:
        return str(getattr(self.client, "url", "the Kea server"))

    def _save_leases(self, report: RunReport) -> None:
        """``lease4-write`` / ``lease6-write`` where listed, before the first change
        (:mod:`kea_etl.load.lease_backup`); the report's ``lease_backups`` says where, or why not."""
        from kea_etl.load.lease_backup import save_leases

        family = self._server_family()
        if family is None:
            return
        saved = save_leases(self.client, family, report_path=self.options.report_path)
        report.lease_backups.append(saved)

    def _server_family(self) -> int | None:
        if self._family is None:
            cfg = self.client.config_get()
            self._family = 4 if "Dhcp4" in cfg else 6 if "Dhcp6" in cfg else 0
            if self._subnets is None:
                self._subnets = server_subnets(cfg)
        return self._family or None

    def subnets(self) -> list[ServerSubnet]:
        """The server's subnets (config-get), fetched once."""
        if self._subnets is None:
            self._subnets = server_subnets(self.client.config_get())
        return self._subnets

    # -- driver ------------------------------------------------------------------------------
    def load(self, items: Iterable[LoadRecord], report: RunReport, *,
             progress: Callable[[int], None] | None = None) -> None:
        """Load every item (Lease4 / Lease6); count each one in ``report``."""
        opts = self.options
        if self.checkpoint is not None and self.checkpoint.resumed and not opts.dry_run:
            self._verify_resume(report)
        if not opts.dry_run:
            self._save_leases(report)
        # The thread calling load() parses and transforms (pure Python, holds the GIL) while the
        # workers wait on Kea. With the default 5 ms switch interval a worker whose answer has
        # arrived waits up to 5 ms for the GIL, which caps throughput far below Kea's rate;
        # a short interval lets the workers turn requests around at once.
        old_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(old_interval, SWITCH_INTERVAL))
        pending: deque[Future[_Task]] = deque()
        error: KeaTransportError | None = None
        pool = ThreadPoolExecutor(max_workers=max(1, opts.workers),
                                  thread_name_prefix="kea-etl-load")
        try:
            for batch in self._batches(items):
                if error is not None:
                    break
                done: dict[str, Outcome] = {}
                if self.checkpoint is not None and self.checkpoint.resumed:
                    done = self.checkpoint.lookup(record_key(i) for i in batch)
                todo = batch
                if done:
                    todo = []
                    for item in batch:
                        if (o := done.get(record_key(item))) is not None:
                            count_outcome(report, o)
                        else:
                            todo.append(item)
                if progress is not None and len(todo) < len(batch):
                    progress(len(batch) - len(todo))
                if not todo:
                    continue
                fam = 4 if isinstance(todo[0], Lease4) else 6
                if fam not in self._checked:  # fail fast, naming the hook, if lease_cmds is absent
                    # lease_cmds lists both families' commands; config-get tells the daemon's
                    if self._server_family() not in (None, fam):
                        self._wrong_family.add(fam)
                    else:
                        self.client.require(f"lease{fam}-add", f"lease{fam}-get")
                    self._checked.add(fam)
                if fam in self._wrong_family:
                    for item in todo:
                        count_outcome(report, _out(item, "failed", "wrong address family",
                                                   f"a v{fam} lease, and {self.server} is a "
                                                   f"DHCPv{10 - fam} server"))
                    continue
                if isinstance(todo[0], Lease6) and opts.bulk_v6 and self._snapshot is None:
                    self._snapshot = _V6Snapshot(self.client)
                pending.append(pool.submit(self._run_batch, todo))
                while len(pending) >= 2 * max(1, opts.workers):
                    error = self._settle(pending.popleft(), report, progress) or error
            while pending:
                error = self._settle(pending.popleft(), report, progress) or error
            if error is None and self._snapshot is not None and not opts.dry_run:
                self._recheck_bulk(report)
        finally:
            for f in pending:
                f.cancel()
            pool.shutdown(wait=True)
            if self._snapshot is not None:
                self._snapshot.close()
                self._snapshot = None
            sys.setswitchinterval(old_interval)
        if self._hosts:
            self._load_hosts(report)
        if opts.dry_run:
            report.dry_run = True
        report.sent = dict(sorted(self.sent.items()))
        if error is not None:
            where = f"; progress saved in {self.checkpoint.path}" if self.checkpoint else ""
            raise KeaTransportError(
                f"Kea at {self.server} stopped answering ({error}){where}; "
                "fix the server and re-run with --resume", url=self.server) from error

    def _recheck_bulk(self, report: RunReport) -> None:
        """What lease6-bulk-apply wrote that Kea no longer holds for the same client (another
        load overwrote it, or deleted it) is a conflict / failure, not loaded."""
        assert self._snapshot is not None
        lost: list[Outcome] = []
        for key, source, line, holder in self._snapshot.recheck(self.client):
            if holder is not None:
                o = Outcome(f"6:{key}", "conflict", "conflict", (
                    f"Kea now holds {key} for {describe_holder(holder)}: another client took it "
                    "while this run loaded it (a concurrent load?); this run's lease was "
                    "overwritten"), source, line)
            else:
                o = Outcome(f"6:{key}", "failed", "gone from Kea",
                            f"Kea no longer holds {key}: it was deleted while this run loaded it",
                            source, line)
            lost.append(o)
        report.bulk_recheck = {"checked": self._snapshot.ours, "lost": len(lost)}
        for o in lost:
            report.loaded -= 1
            count_outcome(report, o)
        if lost and self.checkpoint is not None:
            self.checkpoint.record(lost)

    def _verify_resume(self, report: RunReport) -> None:
        """Check the leases the checkpoint says Kea took; the missing ones are sent again
        (kea_etl.load.resume_check)."""
        from kea_etl.load.resume_check import verify_resume

        assert self.checkpoint is not None
        fam = self._server_family()
        check = verify_resume(self.client, self.checkpoint, self.subnets(),
                              (4, 6) if fam is None else (fam,))
        report.resume_check = check
        if check["missing"]:
            report.warn("resume-missing", key=self.server, detail=(
                f"{check['missing']} of the {check['checked']} leases the saved progress "
                f"recorded as loaded were no longer in Kea (restarted on an older or emptied "
                f"lease store?); they were sent again"))

    def _load_hosts(self, report: RunReport) -> None:
        """Reservations (few; held until the leases are done) via the best strategy the server
        offers: reservation-add, host cache, or a config-set merge."""
        from kea_etl.load.reservations import ReservationLoader

        loader = ReservationLoader(self.client, mode=self.options.mode,
                                   on_conflict=self.options.on_conflict,
                                   dry_run=self.options.dry_run, checkpoint=self.checkpoint,
                                   allow_config_write=self.options.allow_config_write,
                                   report_path=self.options.report_path)
        hosts, self._hosts = self._hosts, []
        loader.load(hosts, report)
        self.host_strategy = loader.strategy
        self.sent.update(loader.sent)

    # -- Loader protocol (kea_etl.load.base) -------------------------------------------------
    def retract(self, conflicts: Sequence[Any], report: RunReport) -> None:
        """Live loads cannot take a lease back: the orchestrator removes losers beforehand."""
        if conflicts:
            raise NotImplementedError("the live loader cannot retract leases already sent")

    @property
    def clients(self) -> list[KeaClient]:
        return [self.client]

    def state_paths(self) -> list[Path]:
        return [self.checkpoint.path] if self.checkpoint is not None else []

    def fetch_subnets(self) -> SubnetMap:
        """The target's subnet map from the live server's config-get (no --kea-config given)."""
        from kea_etl.transform.subnets import SubnetMap

        return SubnetMap.from_config(self.client.config_get(), origin=f"config-get of {self.server}")

    def commit(self) -> LoadOutcome:
        kept = False
        if self.checkpoint is not None and not self.options.dry_run:
            self.report_state = str(self.checkpoint.path)
            kept = self.checkpoint.finish()
        self.client.close()
        return LoadOutcome(target=self.name, dry_run=self.options.dry_run, sent=dict(self.sent),
                           reservations_via=self.host_strategy or None,
                           state=self.report_state or None, state_kept=kept,
                           resumed=bool(self.checkpoint and self.checkpoint.resumed))

    def abort(self) -> None:
        """Nothing to undo: every command Kea accepted is already recorded in the checkpoint."""
        if self.checkpoint is not None:
            self.checkpoint.close()
        self.client.close()

    def _batches(self, items: Iterable[LoadRecord]) -> Iterator[list[Lease4 | Lease6]]:
        """Batches of one family each; reservations are set aside for :meth:`_load_hosts`."""
        size = max(self.options.batch_size4, self.options.batch_size6)
        for chunk in chunks(items, size):
            v4: list[Lease4 | Lease6] = [i for i in chunk if isinstance(i, Lease4)]
            v6: list[Lease4 | Lease6] = [i for i in chunk if isinstance(i, Lease6)]
            self._hosts += [i for i in chunk if isinstance(i, Reservation)]
            yield from chunks(v4, self.options.batch_size4)
            yield from chunks(v6, self.options.batch_size6)

    def _settle(self, fut: Future[_Task], report: RunReport,
                progress: Callable[[int], None] | None) -> KeaTransportError | None:
        task = fut.result()
        for o in task.outcomes:
            count_outcome(report, o)
        self.sent.update(task.sent)
        if self.checkpoint is not None and not self.options.dry_run:
            self.checkpoint.record(task.outcomes)
        if progress is not None and task.outcomes:
            progress(len(task.outcomes))
        return task.error

    def _run_batch(self, batch: list[Lease4 | Lease6]) -> _Task:
        task = _Task()
        _local.cache = {id(i): _prepare(i) for i in batch}
        try:
            if isinstance(batch[0], Lease6) and self.options.bulk_v6:
                self._bulk6(batch, task)
            else:
                for item in batch:
                    task.outcomes.append(self._one(item, task))
        except KeaTransportError as exc:
            task.error = exc
        finally:
            _local.cache = None
        return task

    # -- one lease at a time -----------------------------------------------------------------
    def _call(self, task: _Task, command: str, args: dict[str, Any]) -> None:
        """Send a write; count it only when Kea took it (a refused add changed nothing)."""
        if not self.options.dry_run:
            self.client.call(command, args)
        task.sent[command] += 1

    def _get(self, lease: Lease4 | Lease6) -> Lease4 | Lease6 | None:
        if isinstance(lease, Lease4):
            r = self.client.call("lease4-get", {"ip-address": str(lease.address)})
            return Lease4.from_kea(r.arguments) if r.result == 0 and r.arguments else None
        r = self.client.call("lease6-get", {"ip-address": str(lease.address),
                                            "type": lease.lease_type})
        return Lease6.from_kea(r.arguments) if r.result == 0 and r.arguments else None

    def _one(self, item: LoadRecord, task: _Task) -> Outcome:
        lease = item
        if not isinstance(lease, Lease4 | Lease6):
            return _out(item, "failed", "not a lease", "reservations go through the "
                        "reservation loader")
        fam = "4" if isinstance(lease, Lease4) else "6"
        args = _args(lease)
        opts = self.options
        try:
            if opts.mode == "upsert" and opts.on_conflict == "overwrite":
                # the operator asked for the source to win everywhere: one idempotent command
                self._call(task, f"lease{fam}-update", {**args, "force-create": True})
                return _out(item, "loaded")
            if opts.dry_run:
                held = self._get(lease)
                if held is None:
                    task.sent[f"lease{fam}-add"] += 1
                    return _out(item, "loaded")
                return self._resolve(item, lease, held, task)
            try:
                self._call(task, f"lease{fam}-add", args)
                return _out(item, "loaded")
            except KeaConflictError:
                held = self._get(lease)
                if held is None:  # released in between: try once more
                    self._call(task, f"lease{fam}-add", args)
                    return _out(item, "loaded")
                return self._resolve(item, lease, held, task)
        except KeaConflictError as exc:
            return _out(item, "failed", f"Kea refused lease{fam}-add", exc.text)
        except KeaCommandError as exc:
            return _out(item, "failed", f"Kea refused {exc.command}", exc.text)
        except RecordError as exc:
            return _out(item, "failed", "Kea returned a lease kea-etl cannot read", str(exc))

    def _resolve(self, item: LoadRecord, lease: Lease4 | Lease6, held: Lease4 | Lease6,
                 task: _Task) -> Outcome:
        verdict = decide(held, lease, self.options.mode, self.options.on_conflict)
        if verdict not in ("write", "overwrite"):
            return self._judged(item, verdict, lease, held)
        fam = "4" if isinstance(lease, Lease4) else "6"
        self._call(task, f"lease{fam}-update", lease.to_kea_args())
        if verdict == "overwrite":
            return _out(item, "loaded", "conflict overwritten",
                        f"Kea holds {lease.key} for {describe_holder(held)}")
        return _out(item, "loaded")

    @staticmethod
    def _judged(item: LoadRecord, verdict: Verdict, lease: Lease4 | Lease6,
                held: Lease4 | Lease6) -> Outcome:
        """The outcome of a lease decided without sending it (same, kept, conflict)."""
        if verdict == "same":
            return _out(item, "already_present")
        if verdict == "kept":
            return _out(item, "already_present",
                        "Kea holds this client's lease with another expiry; kept Kea's",
                        f"Kea expires {held.expire}, source {lease.expire}; "
                        "use --mode upsert to replace it")
        return _out(item, "conflict", "conflict",
                    f"Kea holds {lease.key} for {describe_holder(held)}; left alone "
                    "(use --on-conflict overwrite to replace it)")

    # -- v6 in bulk --------------------------------------------------------------------------
    def _subnet_problem(self, lease: Lease6) -> str | None:
        by_id = self._subnet_by_id
        if by_id is None:  # built once: a server with thousands of subnets is not rare
            by_id = self._subnet_by_id = {s.id: s for s in self.subnets()}
        sub = by_id.get(lease.subnet_id)
        if lease.subnet_id == 0:
            return "no subnet id (assign subnets from the target Kea configuration)"
        if sub is None:
            return f"subnet {lease.subnet_id} does not exist on {self.server}"
        if lease.lease_type == "IA_NA" and lease.address not in sub.prefix:
            return f"{lease.address} is outside subnet {lease.subnet_id} ({sub.prefix})"
        return None

    def _bulk6(self, batch: Sequence[LoadRecord], task: _Task) -> None:
        snap = self._snapshot
        held = snap.lookup([_key(i)[2:] for i in batch]) if snap is not None and snap.count \
            else {}
        send: list[LoadRecord] = []
        notes: dict[str, str] = {}
        for item in batch:
            lease = item
            assert isinstance(lease, Lease6)
            if (why := self._subnet_problem(lease)) is not None:
                task.outcomes.append(_out(item, "failed", "no matching subnet on the server", why))
                continue
            h = held.get(_key(lease)[2:]) if held else None
            if h is None:
                send.append(item)
                continue
            o = self._judge_bulk(item, lease, h)
            if o is None:
                send.append(item)
                if not same_client(h, lease):
                    notes[_key(lease)] = f"Kea held {lease.key} for {describe_holder(h)}"
            else:
                task.outcomes.append(o)
        if not send:
            return
        if self.options.dry_run:
            task.sent["lease6-bulk-apply"] += 1
            task.outcomes += [_out(i, "loaded") for i in send]
            return
        try:
            r = self.client.call("lease6-bulk-apply",
                                 {"leases": [_args(i) for i in send]})
            task.sent["lease6-bulk-apply"] += 1
            failed = {(f.get("ip-address"), f.get("type", "IA_NA")): f
                      for f in (r.arguments or {}).get("failed-leases", [])}
        except KeaCommandError:
            # the whole call failed (one lease Kea could not place): one at a time instead
            task.sent["lease6-bulk-apply refused"] += 1
            for item in send:
                task.outcomes.append(self._one(item, task))
            return
        taken: list[Lease6] = []
        for item in send:
            lease = item
            assert isinstance(lease, Lease6)
            f = failed.get((str(lease.address), lease.lease_type)) if failed else None
            if f is None:
                taken.append(lease)
                note = notes.get(_key(lease)) if notes else None
                task.outcomes.append(_out(item, "loaded", "conflict overwritten" if note else None,
                                          note))
            else:
                task.outcomes.append(_out(item, "failed", "Kea refused lease6-bulk-apply",
                                          str(f.get("error-message", f))))
        if snap is not None:
            snap.remember(taken)

    def _judge_bulk(self, item: LoadRecord, lease: Lease6, held: Lease6) -> Outcome | None:
        """None: send it in the batch; else the outcome decided without sending."""
        verdict = decide(held, lease, self.options.mode, self.options.on_conflict)
        if verdict in ("write", "overwrite"):
            return None
        return self._judged(item, verdict, lease, held)


def wire_args(item: Lease4 | Lease6) -> dict[str, Any]:
    """The arguments the loader sends for ``item``: ``to_kea_args()`` in its shortest form.

    Fields holding the value Kea's lease parser gives them when absent (``fqdn-fwd`` and
    ``fqdn-rev`` false, ``hostname`` empty, ``state`` 0, v6 ``type`` IA_NA: lease_cmds'
    ``lease_parser.cc``, checked against Kea 2.2 and 3.0) are left out, and a v6 DUID goes as
    plain hex, which Kea's ``DUID::fromText`` reads like the colon form (a hardware address keeps
    its colons: Kea 2.2's ``HWAddr::fromText`` refuses plain hex).
    What Kea stores is identical (tests/load/test_api_real.py reads it back); what changes is
    Kea's cost: its UNIX-socket command reader takes about 110 ns per byte, so for
    lease6-bulk-apply the request size *is* most of the server's work per lease (measured on Kea
    2.2: 229 -> 147 bytes a lease, about 46 -> 32 us of Kea CPU). ``preferred-lft`` stays even
    when 0: Kea's default for it is the subnet's valid lifetime, not 0.
    """
    args = item.to_kea_args()
    if args.get("fqdn-fwd") is False:
        del args["fqdn-fwd"]
    if args.get("fqdn-rev") is False:
        del args["fqdn-rev"]
    if args.get("hostname") == "":
        del args["hostname"]
    if args.get("state") == 0:
        del args["state"]
    if type(item) is Lease6:
        if args.get("type") == "IA_NA":
            del args["type"]
        args["duid"] = args["duid"].replace(":", "")
    return args


# Per-batch cache of each lease's Kea arguments and checkpoint key, kept per worker thread.
# Turning an IPv6 address into text costs tens of microseconds in pure Python; without the
# cache every lease paid for it three times (key, snapshot lookup, arguments).
_local = threading.local()


def _prepare(item: Lease4 | Lease6) -> tuple[str, dict[str, Any]]:
    args = wire_args(item)
    ip = args["ip-address"]
    if isinstance(item, Lease4):
        return f"4:{ip}", args
    return (f"6:{ip}/{item.prefix_len}" if item.lease_type == "IA_PD" else f"6:{ip}"), args


def _cached(item: LoadRecord) -> tuple[str, dict[str, Any]] | None:
    cache: dict[int, tuple[str, dict[str, Any]]] | None = getattr(_local, "cache", None)
    return cache.get(id(item)) if cache is not None else None


def _key(item: LoadRecord) -> str:
    hit = _cached(item)
    return hit[0] if hit is not None else record_key(item)


def _args(item: LoadRecord) -> dict[str, Any]:
    hit = _cached(item)
    return hit[1] if hit is not None else wire_args(item)  # type: ignore[arg-type]


def _out(item: LoadRecord, status: str, reason: str | None = None,
         detail: str | None = None) -> Outcome:
    return Outcome(_key(item), status, reason, detail,  # type: ignore[arg-type]
                   item.origin, item.line)



def open_checkpoint(target: str, *, sources: Sequence[str] | None, report_path: str | None,
                    resume: bool, options: Mapping[str, Any], dry_run: bool,
                    keep_state: bool = False, state_home: str | None = None) -> Checkpoint | None:
    """The run's checkpoint (``None`` for a dry run, which writes nothing but checks that the
    state could be kept: an unwritable location is one line before anything is sent).
    ``state_home``: ``$XDG_STATE_HOME`` as the caller read it (:func:`~kea_etl.load.checkpoint.
    state_dir`)."""
    from kea_etl.load.checkpoint import check_state_location, default_state_path, fingerprint

    if dry_run and resume:
        raise ConfigError("--dry-run with --resume: a dry run neither reads nor writes "
                          "progress; drop one of them")
    fp = fingerprint(list(sources or ()), target, options)
    path = default_state_path(report_path, fp, state_home=state_home)
    check_state_location(path, state_home=state_home)
    if dry_run:
        return None
    checkpoint = Checkpoint(path, fp, resume=resume, target=target)
    checkpoint.keep = keep_state
    return checkpoint


def make_kea_loader(location: str, *, subnets: Any = None, sources: Sequence[str] | None = None,
                    report_path: str | None = None, resume: bool = False, workers: int = 4,
                    mode: Mode = "add", on_conflict: OnConflict = "skip",
                    service: str | None = None, dry_run: bool = False,
                    kea_version: str | None = None, timeout: float = 30.0,
                    retries: int = 3, allow_config_write: bool = False,
                    keep_state: bool = False, credentials: LiveCredentials | None = None,
                    state_home: str | None = None) -> LiveLeaseLoader:
    """The loader for ``--to kea:URL`` (``location`` is the URL after ``kea:``).

    Basic-auth credentials: the user name may be in the URL (``http://admin@host:8000``), else
    ``credentials.username``; the password comes from ``credentials`` (the CLI reads them from
    the environment: :mod:`kea_etl.load.credentials`), never from the URL or argv. For
    ``https://``: ``credentials.ca_file`` / ``cert_file`` / ``key_file``.
    ``kea_version`` (a memfile option) is accepted and ignored.
    ``allow_config_write``: reservations may be stored by changing the server's configuration
    (see :mod:`kea_etl.load.reservations`); the old one is saved next to ``report_path`` first.
    ``keep_state``: keep the checkpoint after a completed load (it is removed otherwise).
    """
    del kea_version
    if workers < 1:
        raise ConfigError(f"--workers {workers}: need at least 1")
    refuse_password(f"kea:{location}")  # named as the operator wrote the target
    client = (credentials or LiveCredentials()).kea_client(location, service=service,
                                                           timeout=timeout, retries=retries)
    url = client.url
    options = LiveOptions(mode=mode, on_conflict=on_conflict, workers=workers, dry_run=dry_run,
                          allow_config_write=allow_config_write, report_path=report_path)
    checkpoint = open_checkpoint(f"kea:{url}", sources=sources, report_path=report_path,
                                 resume=resume, options=options.fingerprint_options(),
                                 dry_run=dry_run, keep_state=keep_state,
                                 state_home=state_home)
    return LiveLeaseLoader(client, options=options, checkpoint=checkpoint)
