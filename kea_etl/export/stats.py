"""Kea lease statistics flattened to tidy rows: one row per (server, subnet, pool, name).

Two sources, both kept:

* ``stat-lease4-get`` / ``stat-lease6-get`` (stat_cmds hook): Kea recounts leases per subnet from
  the lease database and answers a result set (columns ``subnet-id``, ``total-addresses``,
  ``assigned-addresses``, ``declined-addresses`` ... and a ``timestamp``). Each cell becomes a row
  with ``source='stat-lease4-get'``; ``subnet-id`` becomes the ``subnet_id`` column.
* ``statistic-get-all`` (built in): every counter Kea keeps, ``{"name": [[value, "time"], ...]}``,
  newest sample first. Only the newest sample of each counter is kept (with its own timestamp);
  names are split so ``subnet[1].pool[0].assigned-addresses`` (per-pool statistics, Kea 2.4+)
  gives ``subnet_id=1, pool_kind='pool', pool_id=0, name='assigned-addresses'`` and a global
  counter such as ``pkt4-received`` has no subnet.
* ``statistic-global-get-all`` (Kea 3.2, built in): the same answer without any subnet counter.
  An export limited to some subnets (``subnets=``) needs the global counters and those
  subnets' lease counts: where the server lists the command, the globals come from it (one
  answer of a few dozen counters, where statistic-get-all carries every counter of every
  subnet only for most to be dropped) and the subnets' rows from stat-leaseN-get; the chosen
  subnets' per-pool counters are then not exported. Elsewhere statistic-get-all, as before.

Values go into ``value`` as a float (IPv6 totals can exceed 64 bits) and, exactly, into
``value_text``. Kea prints statistic timestamps without a zone, in the server's clock; they are
read as UTC (the servers this toolkit targets run on UTC; a shifted clock shows up as a shifted
``sampled_at``, never as lost data).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import pyarrow as pa

from kea_etl.export.schema import nullable_int_metadata

__all__ = [
    "STATS_SCHEMA",
    "StatRow",
    "StatsClient",
    "collect_stats",
    "parse_stat_name",
    "stat_lease_rows",
    "statistic_rows",
    "stats_to_batch",
]


class StatsClient(Protocol):
    """What this module needs from :class:`kea_etl.kea.KeaClient`."""

    def call(self, command: str, arguments: dict[str, Any] | None = None) -> Any: ...


def _lists(client: StatsClient, command: str) -> bool:
    """Whether the server lists ``command`` (a client without ``commands()``: no)."""
    commands = getattr(client, "commands", None)
    return callable(commands) and command in commands()


@dataclass(frozen=True, slots=True)
class StatRow:
    """One tidy statistics value."""

    source: str              # "stat-lease4-get" | "stat-lease6-get" | "statistic-get-all" | ...
    family: int
    subnet_id: int | None
    pool_kind: str | None    # "pool" | "pd-pool" | None
    pool_id: int | None
    name: str
    value: float | None
    value_text: str
    sampled_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: nullable integers (subnet_id, pool_id) read as such by pandas, as the lease files
STATS_SCHEMA = nullable_int_metadata(pa.schema([
    ("exported_at", pa.timestamp("us", tz="UTC")),
    ("kea_version", pa.string()),
    ("source", pa.string()),
    ("family", pa.int8()),
    ("subnet_id", pa.int64()),
    ("pool_kind", pa.string()),
    ("pool_id", pa.int64()),
    ("name", pa.string()),
    ("value", pa.float64()),
    ("value_text", pa.string()),
    ("sampled_at", pa.timestamp("us", tz="UTC")),
]))

_NAME = re.compile(r"subnet\[(\d+)\]\.(?:(pool|pd-pool)\[(\d+)\]\.)?(.+)")


def parse_stat_name(full: str) -> tuple[int | None, str | None, int | None, str]:
    """``subnet[1].pd-pool[0].assigned-pds`` -> ``(1, 'pd-pool', 0, 'assigned-pds')``."""
    m = _NAME.fullmatch(full)
    if not m:
        return None, None, None, full
    pool_id = int(m.group(3)) if m.group(3) is not None else None
    return int(m.group(1)), m.group(2), pool_id, m.group(4)


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        when = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _arguments(response: Any) -> Any:
    # KeaResponse(result, text, arguments) or a raw dict answer: accept both.
    if isinstance(response, Mapping):
        if int(response.get("result", 0)) == 3:
            return None
        return response.get("arguments")
    if getattr(response, "result", 0) == 3:
        return None
    return getattr(response, "arguments", None)


def stat_lease_rows(arguments: Any, family: int) -> list[StatRow]:
    """Tidy rows from the ``arguments`` of a stat-lease4-get / stat-lease6-get answer."""
    if not isinstance(arguments, Mapping):
        return []
    rs = arguments.get("result-set") or {}
    columns = list(rs.get("columns") or [])
    sampled = _parse_time(rs.get("timestamp"))
    source = f"stat-lease{family}-get"
    out: list[StatRow] = []
    for raw in rs.get("rows") or []:
        row = dict(zip(columns, raw, strict=False))
        sid = row.pop("subnet-id", None)
        subnet_id = int(sid) if sid is not None else None
        for name, value in row.items():
            out.append(StatRow(source, family, subnet_id, None, None, name, _number(value),
                               str(value), sampled))
    return out


def statistic_rows(arguments: Any, family: int, *,
                   source: str = "statistic-get-all") -> list[StatRow]:
    """Tidy rows (newest sample of each counter) from the ``arguments`` of statistic-get-all
    (or statistic-global-get-all: ``source``)."""
    if not isinstance(arguments, Mapping):
        return []
    out: list[StatRow] = []
    for full, samples in sorted(arguments.items()):
        if not samples or not isinstance(samples, list):
            continue
        sample = samples[0]
        if isinstance(sample, list) and sample:
            value = sample[0]
            when = _parse_time(sample[1]) if len(sample) > 1 else None
        else:
            value, when = sample, None
        subnet_id, pool_kind, pool_id, name = parse_stat_name(str(full))
        out.append(StatRow(source, family, subnet_id, pool_kind, pool_id, name,
                           _number(value), str(value), when))
    return out


def collect_stats(client: StatsClient, family: int, *, subnets: Collection[int] | None = None,
                  lease_stats: bool = True, all_statistics: bool = True) -> list[StatRow]:
    """Ask one server for its statistics and return tidy rows.

    ``subnets`` limits stat-leaseN-get to those subnets and drops per-subnet
    counters of other subnets from statistic-get-all (global counters are kept); with
    ``subnets`` and ``lease_stats``, a server listing ``statistic-global-get-all`` (Kea 3.2) is
    asked that instead, for the global counters only (see the module docstring).
    A server without stat_cmds raises :class:`~kea_etl.errors.KeaUnsupportedError` from the
    client; callers that can live without lease statistics pass ``lease_stats=False``.
    """
    rows: list[StatRow] = []
    if lease_stats:
        # stat-leaseN-get takes one "subnet-id" or a "subnet-range" (stat_cmds.cc); a list is
        # ignored and every subnet answered, so other subnets are dropped here
        one = sorted(subnets) if subnets else []
        args: dict[str, Any] | None = {"subnet-id": one[0]} if len(one) == 1 else None
        got_lease = stat_lease_rows(_arguments(client.call(f"stat-lease{family}-get", args)),
                                    family)
        rows.extend(r for r in got_lease if not subnets or r.subnet_id in set(subnets))
    if all_statistics and subnets and lease_stats and _lists(client, "statistic-global-get-all"):
        rows.extend(statistic_rows(_arguments(client.call("statistic-global-get-all", None)),
                                   family, source="statistic-global-get-all"))
    elif all_statistics:
        got = statistic_rows(_arguments(client.call("statistic-get-all", None)), family)
        if subnets:
            wanted = set(subnets)
            got = [r for r in got if r.subnet_id is None or r.subnet_id in wanted]
        rows.extend(got)
    return rows


def stats_to_batch(rows: list[StatRow], *, exported_at: datetime,
                   kea_version: str) -> pa.RecordBatch:
    """One Arrow record batch (:data:`STATS_SCHEMA`) from tidy rows."""
    n = len(rows)
    return pa.RecordBatch.from_arrays([
        pa.repeat(pa.scalar(exported_at, type=pa.timestamp("us", tz="UTC")), n),
        pa.repeat(pa.scalar(kea_version, type=pa.string()), n),
        pa.array([r.source for r in rows], type=pa.string()),
        pa.array([r.family for r in rows], type=pa.int8()),
        pa.array([r.subnet_id for r in rows], type=pa.int64()),
        pa.array([r.pool_kind for r in rows], type=pa.string()),
        pa.array([r.pool_id for r in rows], type=pa.int64()),
        pa.array([r.name for r in rows], type=pa.string()),
        pa.array([r.value for r in rows], type=pa.float64()),
        pa.array([r.value_text for r in rows], type=pa.string()),
        pa.array([r.sampled_at for r in rows], type=pa.timestamp("us", tz="UTC")),
    ], schema=STATS_SCHEMA)
