"""Load into a Kea HA pair (``--to kea:PEER1 --to kea:PEER2``): state check, both peers, compare.

Leases added with lease_cmds are **not** replicated to the HA partner (seen with Kea 2.2: a
lease4-add on the primary was absent on the standby), so an HA pair is loaded peer by peer, the
same records into each, and the peers' lease databases are compared afterwards.

1. **State check** (:func:`check_targets`): every target is asked ``ha-heartbeat`` first. A
   server without the HA hook is a plain target. A peer in ``partner-down``, ``terminated``,
   ``in-maintenance``, ``syncing``, ``waiting`` or any state not in :data:`SAFE_STATES` makes the
   run stop before anything is written, with the reason, unless ``force``. A single ``--to``
   naming one peer of an HA pair is refused too (its partner would miss every lease).
2. **Load** (:class:`HAPairLoader`): the first peer is loaded by the calling thread with the
   run's report; each further peer by its own thread, fed the same records through a bounded
   queue (memory stays bounded; the slower peer sets the pace), counting into its own report.
   A record counts as loaded only when every peer took it: a failure on a later peer moves it
   from loaded to failed in the run's report, with the peer named.
3. **Compare** (:func:`compare_peers`): both peers' leases are paged (lease4-get-page /
   lease6-get-page, address order) and merge-joined; the report's ``ha`` gets each
   peer's state and counts, both lease counts and every difference (first examples listed).
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kea_etl.errors import (
    ConfigError,
    KeaTransportError,
    KeaUnsupportedError,
)
from kea_etl.kea.transports import CONNECT_FAILED
from kea_etl.load.base import Loader, LoadOutcome, LoadRecord
from kea_etl.load.targets import make_loader
from kea_etl.records import Lease4, Lease6
from kea_etl.report import RunReport

if TYPE_CHECKING:
    from kea_etl.kea import KeaClient
    from kea_etl.load.api import LiveLeaseLoader
    from kea_etl.transform.subnets import SubnetMap

__all__ = ["SAFE_STATES", "HAPairLoader", "PeerState", "check_targets", "compare_peers",
           "make_targets_loader", "read_ha_state", "window_summary"]

#: HA states in which a peer holds a complete, current lease database and serves normally
SAFE_STATES = frozenset(("hot-standby", "load-balancing", "passive-backup", "backup", "ready"))

#: why a state is unsafe, in words for the error message
UNSAFE_REASONS = {
    "partner-down": "it serves alone because it believes its partner is down; the partner's "
                    "lease database is stale",
    "terminated": "HA is terminated (clock skew or a fatal error); the peers no longer exchange "
                  "lease updates",
    "in-maintenance": "it is in maintenance (ha-maintenance-start); its partner serves alone",
    "partner-in-maintenance": "its partner is in maintenance (ha-maintenance-start); it serves "
                              "alone",
    "syncing": "it is copying leases from its partner right now (ha-sync)",
    "waiting": "it is waiting for its partner (starting up, not yet synchronised)",
    "communication-recovery": "it has lost contact with its partner",
    "unavailable": "its HA service is unavailable",
}

COMPARE_EXAMPLES = 10
_END = object()


@dataclass(frozen=True, slots=True)
class PeerState:
    """One target's answer to ha-heartbeat (``state`` None: no HA hook loaded)."""

    url: str
    state: str | None
    scopes: tuple[str, ...] = ()
    unsent_updates: int = 0

    @property
    def is_ha(self) -> bool:
        return self.state is not None

    @property
    def safe(self) -> bool:
        return self.state is None or self.state in SAFE_STATES

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "ha_state": self.state, "scopes": list(self.scopes),
                "unsent_updates": self.unsent_updates}


def read_ha_state(client: KeaClient) -> PeerState:
    """``ha-heartbeat`` of one server; ``state`` None when the HA hook is not loaded."""
    url = str(getattr(client, "url", "?"))
    try:
        beat = client.ha_heartbeat()
    except KeaUnsupportedError:
        return PeerState(url, None)
    state = beat.get("state")
    return PeerState(url, str(state) if state is not None else "unknown",
                     tuple(str(s) for s in beat.get("scopes") or ()),
                     int(beat.get("unsent-update-count") or 0))


def check_targets(clients: Sequence[KeaClient], *, force: bool = False) -> list[PeerState]:
    """Read every target's HA state; raise :class:`ConfigError` saying why loading is unsafe.

    With ``force`` the states are only returned (and recorded in the report).
    """
    states = []
    for c in clients:
        try:
            states.append(read_ha_state(c))
        except KeaTransportError as exc:
            if str(exc).startswith(CONNECT_FAILED) or "connection refused" in str(exc):
                raise ConfigError(str(exc)) from exc  # says what, to what and why already
            raise ConfigError(f"cannot read the HA state of {getattr(c, 'url', '?')} "
                              f"(ha-heartbeat): {exc}") from exc
    if force:
        return states
    problems = []
    for s in states:
        if not s.safe:
            why = UNSAFE_REASONS.get(str(s.state), "it is not in a normal serving state")
            problems.append(f"{s.url} is in HA state '{s.state}': {why}")
    if problems:
        raise ConfigError("refusing to load into this HA pair: " + "; ".join(problems)
                          + ". Bring the pair back to hot-standby / load-balancing first, or "
                          "re-run with --force to load anyway")
    if len(states) == 1 and states[0].is_ha:
        raise ConfigError(
            f"{states[0].url} is one peer of an HA pair (it answers ha-heartbeat, state "
            f"'{states[0].state}'), and Kea does not copy leases added with lease_cmds to the "
            "partner: name both peers (--to kea:PEER1 --to kea:PEER2), or re-run with --force "
            "to load this server only")
    return states


# ---------------------------------------------------------------------------------------------
# comparing the peers


def _lease_pages(client: KeaClient, family: int, page_size: int) -> Iterator[Lease4 | Lease6]:
    pages = client.iter_lease4_pages if family == 4 else client.iter_lease6_pages
    for page in pages(page_size=page_size):
        for data in page:
            yield Lease4.from_kea(data) if family == 4 else Lease6.from_kea(data)


def _sort_key(lease: Lease4 | Lease6) -> tuple[int, str]:
    return int(lease.address), lease.key


def family_of(client: KeaClient) -> int:
    """4 or 6: which lease family the server answers for (the top key of ``config-get``).

    Not from ``list-commands``: lease_cmds registers every lease4-* and lease6-* command in
    both daemons (a Kea 2.2 kea-dhcp6 lists lease4-get-page and answers it "0 IPv4 lease(s)
    found."), so a v6 pair would be compared as two empty v4 lease databases.
    """
    cfg = client.config_get()
    if "Dhcp6" in cfg:
        return 6
    if "Dhcp4" in cfg:
        return 4
    raise ConfigError(f"{getattr(client, 'url', '?')}: config-get names neither Dhcp4 nor "
                      f"Dhcp6 ({', '.join(sorted(cfg)) or 'empty'}); cannot compare the HA peers")


def compare_peers(clients: Sequence[KeaClient], *, family: int | None = None,
                  page_size: int = 1000) -> dict[str, Any]:
    """Page every peer's leases and compare them with the first peer's (merge join, bounded
    memory). Returns counts per peer and, per further peer, what differs."""
    fam = family if family is not None else family_of(clients[0])
    base_url = str(getattr(clients[0], "url", "peer 1"))
    counts: dict[str, int] = {}
    differences: list[dict[str, Any]] = []
    for other in clients[1:]:
        url = str(getattr(other, "url", "peer 2"))
        only_base = only_other = different = n_base = n_other = 0
        examples: list[str] = []
        a_iter = _lease_pages(clients[0], fam, page_size)
        b_iter = _lease_pages(other, fam, page_size)
        a = next(a_iter, None)
        b = next(b_iter, None)
        while a is not None or b is not None:
            ka = _sort_key(a) if a is not None else None
            kb = _sort_key(b) if b is not None else None
            if kb is None or (ka is not None and ka < kb):
                assert a is not None
                only_base += 1
                n_base += 1
                if len(examples) < COMPARE_EXAMPLES:
                    examples.append(f"{a.key}: only on {base_url}")
                a = next(a_iter, None)
            elif ka is None or kb < ka:
                assert b is not None
                only_other += 1
                n_other += 1
                if len(examples) < COMPARE_EXAMPLES:
                    examples.append(f"{b.key}: only on {url}")
                b = next(b_iter, None)
            else:
                assert a is not None and b is not None
                n_base += 1
                n_other += 1
                if a != b:
                    different += 1
                    if len(examples) < COMPARE_EXAMPLES:
                        examples.append(f"{a.key}: differs ({_diff(a, b)})")
                a = next(a_iter, None)
                b = next(b_iter, None)
        counts[base_url] = n_base
        counts[url] = n_other
        differences.append({"peers": [base_url, url], "only_on_first": only_base,
                            "only_on_other": only_other, "different": different,
                            "identical": not (only_base or only_other or different),
                            "examples": examples})
    return {"family": fam, "lease_counts": counts, "comparisons": differences,
            "identical": all(d["identical"] for d in differences)}


def _diff(a: Lease4 | Lease6, b: Lease4 | Lease6) -> str:
    names = [f.name for f in fields(a) if f.compare and getattr(a, f.name) != getattr(b, f.name)]
    return ", ".join(f"{n} {getattr(a, n)!r} vs {getattr(b, n)!r}" for n in names[:3])


# ---------------------------------------------------------------------------------------------
# the loader


class HAPairLoader:
    """Loads the same records into every peer (see the module docstring); a :class:`Loader`."""

    can_retract = False

    def __init__(self, peers: Sequence[LiveLeaseLoader], *, states: Sequence[PeerState] = (),
                 queue_size: int = 2000, compare: bool = True, dry_run: bool = False) -> None:
        if len(peers) < 2:
            raise ConfigError("an HA target needs at least two peers")
        self.peers = list(peers)
        self.states = list(states)
        self.queue_size = queue_size
        self.compare = compare
        self.dry_run = dry_run
        self.name = " + ".join(p.name for p in self.peers)
        self.peer_reports: list[RunReport] = []
        self._report: RunReport | None = None
        self._first_counts: dict[str, int] = {}

    @property
    def clients(self) -> list[KeaClient]:
        return [p.client for p in self.peers]

    def state_paths(self) -> list[Path]:
        return [path for p in self.peers for path in p.state_paths()]

    def fetch_subnets(self) -> SubnetMap:
        """The first peer's subnets; refuses peers whose subnets (id and prefix) differ."""
        first = self.peers[0].subnets()
        want = sorted((s.id, str(s.prefix)) for s in first)
        for p in self.peers[1:]:
            got = sorted((s.id, str(s.prefix)) for s in p.subnets())
            if got != want:
                raise ConfigError(
                    f"the HA peers {self.peers[0].server} and {p.server} have different subnets "
                    f"({_short(want)} vs {_short(got)}); an HA pair must share its subnet ids")
        subnets: SubnetMap = self.peers[0].fetch_subnets()
        return subnets

    def load(self, records: Iterable[LoadRecord], report: RunReport) -> None:
        self._report = report
        others = self.peers[1:]
        side = [RunReport() for _ in others]
        queues: list[queue.Queue[object]] = [queue.Queue(maxsize=self.queue_size)
                                             for _ in others]
        stop = threading.Event()
        errors: list[BaseException | None] = [None] * len(others)

        def consume(i: int) -> None:
            try:
                others[i].load(_drain(queues[i], stop), side[i])
            except BaseException as exc:  # reported by the calling thread
                errors[i] = exc

        threads = [threading.Thread(target=consume, args=(i,), name=f"kea-etl-peer{i + 2}",
                                    daemon=True) for i in range(len(others))]
        for t in threads:
            t.start()

        def put(i: int, item: object) -> None:
            while errors[i] is None and threads[i].is_alive() and not stop.is_set():
                try:
                    queues[i].put(item, timeout=0.2)
                    return
                except queue.Full:
                    continue

        def feed() -> Iterator[LoadRecord]:
            for rec in records:
                for i in range(len(others)):
                    put(i, rec)
                yield rec

        ok = False
        try:
            self.peers[0].load(feed(), report)
            ok = True
        finally:
            if ok:
                for i in range(len(others)):
                    put(i, _END)
            else:
                stop.set()
            for t in threads:
                t.join()
        self.peer_reports = side
        self._first_counts = {"loaded": report.loaded, "already_present": report.already_present,
                              "failed": report.failed, "conflicts": report.conflicts}
        for err in errors:
            if err is not None:
                raise err
        for peer, r in zip(others, side, strict=True):
            _fold(report, r, peer.server)

    def retract(self, conflicts: Sequence[Any], report: RunReport) -> None:
        if conflicts:
            raise NotImplementedError("the HA loader cannot retract leases already sent")

    def commit(self) -> LoadOutcome:
        comparison: dict[str, Any] | None = None
        if self.compare and not self.dry_run:
            comparison = compare_peers(self.clients)
        outcomes = [p.commit() for p in self.peers]
        key = "would_send" if self.dry_run else "sent"
        total: Counter[str] = Counter()
        for o in outcomes:
            total.update(o.sent or {})
        ha: dict[str, Any] = {"peers": []}
        for i, (p, o) in enumerate(zip(self.peers, outcomes, strict=True)):
            entry: dict[str, Any] = {"url": p.server, key: dict(o.sent or {})}
            if i < len(self.states):
                entry.update({k: v for k, v in self.states[i].to_json().items() if k != "url"})
            if i == 0:
                entry.update(self._first_counts)
            elif i - 1 < len(self.peer_reports):
                own = self.peer_reports[i - 1]
                entry.update({"loaded": own.loaded, "already_present": own.already_present,
                              "failed": own.failed, "conflicts": own.conflicts})
            ha["peers"].append(entry)
        if comparison is not None:
            ha["compare"] = comparison
            if self._report is not None and not comparison["identical"]:
                for d in comparison["comparisons"]:
                    if not d["identical"]:
                        self._report.warn(
                            "HA peers differ after the load", key=" vs ".join(d["peers"]),
                            detail=f"only on first {d['only_on_first']}, only on other "
                                   f"{d['only_on_other']}, different {d['different']}")
        elif self.dry_run:
            ha["compare"] = "skipped (dry run)"
        if self._report is not None:
            self._report.ha = ha
        return LoadOutcome(target=self.name, dry_run=self.dry_run, sent=dict(total),
                           peers=outcomes)

    def abort(self) -> None:
        for p in self.peers:
            p.abort()


def _drain(q: queue.Queue[object], stop: threading.Event) -> Iterator[LoadRecord]:
    while not stop.is_set():
        try:
            item = q.get(timeout=0.2)
        except queue.Empty:
            continue
        if item is _END:
            return
        yield item  # type: ignore[misc]


def _fold(report: RunReport, peer: RunReport, server: str) -> None:
    """A record counts as loaded only if every peer took it: move the later peer's failures."""
    failed_here = {p.key for p in report.problems if p.kind in ("failed", "conflict")}
    for p in peer.problems:
        if p.kind in ("failed", "conflict"):
            if p.key in failed_here:
                continue
            failed_here.add(p.key)
            if report.loaded > 0:
                report.loaded -= 1
                report.already_present = min(report.already_present, report.loaded)
                report.fail(p.reason, source=p.source, line=p.line, key=p.key,
                            detail=f"on {server}: {p.detail or p.reason}",
                            conflict=p.kind == "conflict")
        elif p.kind == "warning":
            report.warn(p.reason, source=p.source, line=p.line, key=p.key,
                        detail=f"on {server}: {p.detail or ''}".rstrip(": "))


def _short(subnets: list[tuple[int, str]]) -> str:
    shown = ", ".join(f"{i} {p}" for i, p in subnets[:4])
    return shown + (", ..." if len(subnets) > 4 else "")


# ---------------------------------------------------------------------------------------------
# building the target(s) of a run


def _peer_report_path(report_path: str | None, index: int) -> str | None:
    """Each peer keeps its own checkpoint: REPORT.json.peer2.state.sqlite, ...; without a
    report each peer's state is in the XDG state directory under its own fingerprint."""
    return f"{report_path}.peer{index + 1}" if report_path else None


def make_targets_loader(targets: Sequence[str], *, subnets: SubnetMap | None, force: bool = False,
                        **options: Any) -> Loader:
    """The loader for one or more ``--to`` targets.

    One target: :func:`kea_etl.load.targets.make_loader`; for ``kea:`` its HA state is checked (a
    lone HA peer is refused without ``force``). Several targets: all must be ``kea:URL``; they
    are loaded as an HA pair by :class:`HAPairLoader` after :func:`check_targets`.
    """
    from kea_etl.load.api import LiveLeaseLoader

    if not targets:
        raise ConfigError("no --to target given")
    if len(set(targets)) != len(targets):
        raise ConfigError("the same --to target is named twice")
    if len(targets) == 1:
        loader = make_loader(targets[0], subnets=subnets, **options)
        if isinstance(loader, LiveLeaseLoader):
            try:
                loader.ha_states = check_targets([loader.client], force=force)
            except BaseException:
                loader.abort()
                raise
        return loader
    bad = [t for t in targets if not t.startswith("kea:")]
    if bad:
        raise ConfigError(f"--to {bad[0]}: several --to targets are an HA pair and must all be "
                          "kea:URL (a running Kea)")
    peers: list[Any] = []
    try:
        for i, t in enumerate(targets):
            opts = dict(options)
            if i:
                opts["report_path"] = _peer_report_path(options.get("report_path"), i)
            peers.append(make_loader(t, subnets=subnets, **opts))
        states = check_targets([p.client for p in peers], force=force)
    except BaseException:
        for p in peers:
            p.abort()
        raise
    return HAPairLoader(peers, states=states, dry_run=bool(options.get("dry_run")))



def window_summary(report: RunReport) -> list[str]:
    """Summary lines for the CLI about a failover merge, an HA pair, the pause and reclaim."""
    lines: list[str] = []
    fo = report.failover
    if fo is not None:
        peers = ", ".join(f"{p['file']} {p['contributed']} ({p['only_here']} only there)"
                          for p in fo.get("peers", []))
        how = ", ".join(f"{k} {v}" for k, v in sorted(fo.get("resolved_by", {}).items()))
        lines.append(f"  failover merge: {fo.get('addresses', 0)} addresses; contributed: {peers}")
        lines.append(f"  failover peers agreed on {fo.get('agreed', 0)}, disagreed on "
                     f"{fo.get('disagreed', 0)}" + (f" ({how})" if how else ""))
    ha = report.ha
    if ha is not None:
        for p in ha.get("peers", []):
            state = p.get("ha_state") or "no HA hook"
            lines.append(f"  peer {p['url']} (HA state {state}): loaded {p.get('loaded', '?')}, "
                         f"failed {p.get('failed', '?')}")
        cmp_ = ha.get("compare")
        if isinstance(cmp_, dict):
            counts = ", ".join(f"{u} {n}" for u, n in cmp_.get("lease_counts", {}).items())
            if cmp_.get("identical"):
                lines.append(f"  HA peers hold identical leases ({counts})")
            else:
                for d in cmp_.get("comparisons", []):
                    lines.append(f"  HA PEERS DIFFER ({counts}): only on first "
                                 f"{d['only_on_first']}, only on other {d['only_on_other']}, "
                                 f"different {d['different']}")
                    lines.extend(f"    {e}" for e in d.get("examples", [])[:5])
    pause = report.pause
    if pause is not None:
        if "would_pause" in pause:
            lines.append(f"  would pause DHCP on {len(pause['would_pause'])} server(s)")
        else:
            again = "enabled again" if pause.get("enabled_again") else \
                "NOT ENABLED AGAIN (see the report)"
            lines.append(f"  DHCP service paused {pause.get('seconds')} s on "
                         f"{len(pause.get('targets', []))} server(s), {again}")
    reclaim = report.reclaim
    if reclaim is not None:
        lines.extend(f"  leases-reclaim on {u}: {t}" for u, t in reclaim.items())
    return lines
