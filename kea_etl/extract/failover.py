"""Merge the lease files of the two peers of an ISC dhcpd failover pair into one truth per address.

Each dhcpd failover peer keeps its own ``dhcpd.leases``. They mostly agree (every binding update
is sent to the partner), but not always: a client renewed on one peer while the pair was out of
touch, a lease expired and was freed on one side only, the secondary holds the pool's ``backup``
addresses. :class:`FailoverSource` reads both files (each through :mod:`kea_etl.extract.isc_leases`,
so within one file the last block of an address already won) and yields one record per address:

1. the two peers hold the same lease (same record, same binding state): **agreed**; the first
   peer's record is yielded;
2. one peer says ``active`` and the other ``free`` or ``backup``: the **active** lease wins,
   whatever the times. A ``free`` / ``backup`` block only says the address is in a pool; it must
   never shadow a client's binding held by the partner (the pool-balancing ``backup`` state in
   particular is written with fresh times by the secondary);
3. otherwise the **newest state** wins, comparing in turn ``cltt`` (the last time a client talked
   to a server about this address), then ``tstp`` (the expiry this peer last told its partner),
   ``tsfp`` (the expiry the partner last told this peer) and ``atsfp`` (the partner's
   acknowledgement); a missing time is older than any time;
4. equal on all four: the more committed state wins (``active`` over any other), then the first
   peer given.

Every yielded record keeps ``Extracted.source`` = the file it came from, and carries
``extra["failover"]`` saying how it was chosen. :attr:`FailoverSource.stats` holds the
statistics for the run report (``RunReport.failover``): per peer how many records it had and
contributed, how many addresses only it knew, how many the peers disagreed on and by which
rule each was resolved.

Memory: one small tuple per address of the first peer's file (three passes over the files, each
streamed); the records themselves are never held.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kea_etl.errors import ConfigError, MalformedRecordError
from kea_etl.extract.base import Extracted, ExtractItem

__all__ = ["FailoverSource", "decide", "failover_sources"]

#: binding states that are only pool bookkeeping, never a client's lease
SHADOW_STATES = frozenset(("free", "backup"))
_TIME_FIELDS = ("cltt", "tstp", "tsfp", "atsfp")
_MISSING = -1
_LOST = "\0lost"


@dataclass(slots=True)
class _Seen:
    """What pass 1 keeps about one address of the first peer (no record data)."""

    times: tuple[int, int, int, int]
    state: str
    fingerprint: int
    #: after pass 2: None (only the first peer has it), the rule that kept it, or _LOST
    outcome: str | None = None


def _times(item: Extracted) -> tuple[int, int, int, int]:
    extra = item.extra
    out = []
    for name in _TIME_FIELDS:
        value = extra.get(name)  # absent or ``never``: older than any time
        out.append(int(value) if isinstance(value, int) else _MISSING)
    return (out[0], out[1], out[2], out[3])


def _fingerprint(item: Extracted) -> int:
    return hash((item.record, item.binding_state))


def _seen(item: Extracted) -> _Seen:
    return _Seen(_times(item), item.binding_state, _fingerprint(item))


def decide(first: _Seen | Extracted, second: _Seen | Extracted) -> tuple[str, str]:
    """Which peer's record wins for one address: ``("agreed" | "first" | "second", rule)``.

    Accepts :class:`Extracted` items (or the compact form the merge keeps); the rules are those
    of the module docstring.
    """
    a = first if isinstance(first, _Seen) else _seen(first)
    b = second if isinstance(second, _Seen) else _seen(second)
    if a.fingerprint == b.fingerprint and a.state == b.state:
        return "agreed", "agreed"
    if a.state == "active" and b.state in SHADOW_STATES:
        return "first", f"active beats {b.state}"
    if b.state == "active" and a.state in SHADOW_STATES:
        return "second", f"active beats {a.state}"
    for i, name in enumerate(_TIME_FIELDS):
        if a.times[i] != b.times[i]:
            return ("first" if a.times[i] > b.times[i] else "second"), f"newer {name}"
    if a.state != b.state and "active" in (a.state, b.state):
        return ("first" if a.state == "active" else "second"), "same times, active kept"
    return "first", "same times, first peer kept"


@dataclass
class PeerStats:
    """Per-peer counts for the report."""

    file: str
    records: int = 0
    malformed: int = 0
    contributed: int = 0
    only_here: int = 0
    won: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "records": self.records, "malformed": self.malformed,
                "contributed": self.contributed, "only_here": self.only_here,
                "won_disagreements": self.won}


@dataclass
class FailoverStats:
    peers: tuple[PeerStats, PeerStats]
    addresses: int = 0
    agreed: int = 0
    disagreed: int = 0
    resolutions: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {"peers": [p.to_json() for p in self.peers], "addresses": self.addresses,
                "agreed": self.agreed, "disagreed": self.disagreed,
                "resolved_by": dict(sorted(self.resolutions.items()))}


class FailoverSource:
    """Both failover peers' lease files as one source (usable wherever a ``Source`` is).

    ``open()`` may be called more than once (the orchestrator's conflict pre-pass); the
    statistics describe the last complete pass. Each file is opened once, by the first
    ``open()``, and every pass over it reads the same bytes
    (:class:`kea_etl.extract.isc_leases.Snapshot`), even when its dhcpd rewrites or appends to
    it in between.
    """

    format = "isc-failover"

    def __init__(self, first: str | os.PathLike[str], second: str | os.PathLike[str]) -> None:
        self.first = os.fspath(first)
        self.second = os.fspath(second)
        if os.path.realpath(self.first) == os.path.realpath(self.second):
            raise ConfigError(f"failover pair: {self.first} is given twice; name the lease files "
                              "of both peers")
        for path in (self.first, self.second):
            if not Path(path).is_file():
                raise ConfigError(f"failover pair: lease file {path} not found")
        self.stats = FailoverStats((PeerStats(self.first), PeerStats(self.second)))
        self._snapshots: dict[str, Any] = {}

    def _read(self, path: str) -> Iterator[ExtractItem]:
        from kea_etl.extract import isc_leases  # numpy; only when a failover source is read

        if path not in self._snapshots:
            self._snapshots[path] = isc_leases.Snapshot(path)
        return isc_leases.extract(path, snapshot=self._snapshots[path])

    @property
    def spec(self) -> str:
        return str(self)

    def __str__(self) -> str:
        return f"isc-failover:{self.first}+{self.second}"

    def open(self) -> Iterator[ExtractItem]:
        stats = FailoverStats((PeerStats(self.first), PeerStats(self.second)))
        self.stats = stats
        pa, pb = stats.peers
        # pass 1: what the first peer holds, compactly
        held: dict[str, _Seen] = {}
        for item in self._read(self.first):
            if isinstance(item, Extracted):
                held[item.key] = _seen(item)
        # pass 2: the second peer; yield where it wins or is alone; note the verdict otherwise
        for item in self._read(self.second):
            if not isinstance(item, Extracted):
                if isinstance(item, MalformedRecordError):
                    pb.malformed += 1
                yield item
                continue
            pb.records += 1
            mine = held.get(item.key)
            if mine is None:
                pb.only_here += 1
                pb.contributed += 1
                stats.addresses += 1
                item.extra["failover"] = {"peer": self.second, "chosen": "only this peer"}
                yield item
                continue
            verdict, rule = decide(mine, item)
            if verdict == "agreed":
                stats.agreed += 1
                mine.outcome = "agreed"
                continue
            stats.disagreed += 1
            stats.resolutions[rule] += 1
            if verdict == "first":
                pa.won += 1
                mine.outcome = rule
                continue
            mine.outcome = _LOST
            pb.won += 1
            pb.contributed += 1
            stats.addresses += 1
            item.extra["failover"] = {"peer": self.second, "chosen": rule,
                                      "partner": self.first}
            yield item
        # pass 3: the first peer's records that were not beaten
        for item in self._read(self.first):
            if not isinstance(item, Extracted):
                if isinstance(item, MalformedRecordError):
                    pa.malformed += 1
                yield item
                continue
            pa.records += 1
            mine = held.get(item.key)
            if mine is None or mine.outcome == _LOST:
                continue
            pa.contributed += 1
            stats.addresses += 1
            if mine.outcome is None:
                pa.only_here += 1
                item.extra["failover"] = {"peer": self.first, "chosen": "only this peer"}
            else:
                item.extra["failover"] = {"peer": self.first, "chosen": mine.outcome,
                                          "partner": self.second}
            yield item


_V6_BLOCK = re.compile(rb"^ia-(?:na|ta|pd)[ \t]", re.M)


def failover_sources(specs: Sequence[str]) -> list[str | FailoverSource]:
    """``specs`` with its two v4 ISC lease files replaced by one :class:`FailoverSource`.

    For ``kea-etl migrate --failover-pair``: the other sources (dhcpd.conf, a dhcpd6.leases --
    dhcpd has no DHCPv6 failover) stay as they are. Raises :class:`ConfigError` unless exactly
    two v4 lease files are named.
    """
    from kea_etl.extract import resolve_source

    peers: list[int] = []
    for i, spec in enumerate(specs):
        src = resolve_source(spec)
        if src.format != "isc-leases":
            continue
        with Path(src.location).open("rb") as fh:
            head = fh.read(64 * 1024)
        if not _V6_BLOCK.search(head):
            peers.append(i)
    if len(peers) != 2:
        raise ConfigError(f"--failover-pair needs the lease files of both peers (2 ISC lease "
                          f"files), got {len(peers)}: "
                          + (", ".join(specs[i] for i in peers) or "none"))
    first, second = (resolve_source(specs[i]).location for i in peers)
    out: list[str | FailoverSource] = []
    for i, spec in enumerate(specs):
        if i == peers[0]:
            out.append(FailoverSource(first, second))
        elif i != peers[1]:
            out.append(spec)
    return out
