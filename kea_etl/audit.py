"""Audit helpers behind ``notebooks/audit.ipynb``: exports and reconciliations as pandas tables.

The notebook stays a page of short cells; everything it computes lives here, tested:

* loading: :func:`load_export` reads what ``kea-etl export`` wrote, either the SQL warehouse (any
  SQLAlchemy URL; only runs whose ``export_runs.status`` is ``complete``) or the Parquet tree
  (``leases/`` and ``stats/`` partitioned ``export_date=/server=``), into one
  :class:`AuditExport` with the same columns whichever it came from.
  :func:`load_reconcile` reads ``kea-etl reconcile --json`` files; :func:`load_pools` reads the
  pools of Kea configuration files (``subnet4`` / ``subnet6``, also inside ``shared-networks``).
* analysis: :func:`pool_utilisation` (per export night and pool, from the lease snapshots, with
  the pool's reservations: what is left for a new client), :func:`shared_network_utilisation`,
  :func:`subnet_utilisation` (Kea's own stat-leaseN-get over time), :func:`leases_per_subnet`
  (the latest leases next to Kea's statistics), :func:`clients_with_several_leases`,
  :func:`leases_outside_pools`, :func:`expiring_soon`.
* plots: ``plot_*`` return a :class:`matplotlib.figure.Figure` (not registered with pyplot, so a
  notebook shows each figure exactly once, as the cell's value).

Counting follows Kea's stat_cmds: a lease in state 0 (default) is *assigned* whether or not its
expiry has passed (Kea counts it until the lease is reclaimed), state 1 is *declined* and counted
apart; reclaimed (2) and released (3) leases hold nothing. Memory: the whole selected history is
loaded, which suits a notebook over weeks of nightly exports of a site; pass ``since`` to load
fewer nights.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from kea_etl.errors import ConfigError, KeaEtlError
from kea_etl.records import INFINITE_LIFETIME, LEASE_STATES, Reservation

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "AuditExport",
    "PoolConfig",
    "Reconciliation",
    "clients_with_several_leases",
    "expiring_soon",
    "lease_history",
    "leases_outside_pools",
    "leases_per_subnet",
    "load_export",
    "load_parquet",
    "load_pools",
    "load_reconcile",
    "load_warehouse",
    "paths_from_env",
    "plot_expiry",
    "plot_leases_per_subnet",
    "plot_pool_utilisation",
    "plot_reconcile",
    "pool_utilisation",
    "shared_network_utilisation",
    "subnet_utilisation",
]

STATE_ASSIGNED = 0
STATE_DECLINED = 1

#: lease columns every loader returns (then ``expire_at`` and ``state_name`` are added)
LEASE_COLUMNS = ["server", "family", "export_date", "exported_at", "kea_version", "address",
                 "lease_type", "prefix_len", "subnet_id", "hwaddr", "client_id", "duid", "iaid",
                 "valid_lft", "preferred_lft", "cltt", "expire", "state", "hostname"]
STATS_COLUMNS = ["server", "family", "export_date", "exported_at", "kea_version", "source",
                 "subnet_id", "pool_kind", "pool_id", "name", "value", "sampled_at"]


# ---- loading ------------------------------------------------------------------------------------

@dataclass
class AuditExport:
    """One export, history included.

    ``snapshots``: every lease of every night (one row per lease, server and ``export_date``);
    ``current``: the newest state per (server, family); ``stats``: tidy statistics of every
    night; ``source``: where it was read from.
    """

    snapshots: pd.DataFrame
    current: pd.DataFrame
    stats: pd.DataFrame
    source: str

    @property
    def nights(self) -> list[date]:
        return sorted({d.date() for d in self.snapshots["export_date"]})

    @property
    def servers(self) -> list[str]:
        return sorted(set(self.snapshots["server"]))

    def reference_time(self) -> pd.Timestamp:
        """The newest export's time (UTC): the notebook's default "now".

        Taken from the lease snapshots, else from the statistics (a server with no lease still
        exports its per-subnet counts); with neither, the current time.
        """
        times = pd.concat([self.snapshots["exported_at"], self.stats["exported_at"]]).dropna()
        if times.empty:
            from kea_etl import clock

            return pd.Timestamp(clock.now_datetime()).tz_convert(UTC)
        return pd.Timestamp(times.max()).tz_convert(UTC)

    def summary(self) -> pd.DataFrame:
        """Leases per night, server and family: the first table an auditor looks at."""
        if self.snapshots.empty:
            return _empty(["export_date", "server", "family", "leases", "exported_at",
                           "kea_version"])
        g = self.snapshots.groupby(["export_date", "server", "family"], as_index=False)
        return g.agg(leases=("address", "size"), exported_at=("exported_at", "max"),
                     kea_version=("kea_version", "first"))


#: dtypes of the columns of the tables below, for an empty table of the right kind (a notebook
#: cell calls ``.dt`` on a date column whether or not it has rows)
_DTYPES = {"export_date": "datetime64[ns]", "exported_at": "datetime64[ns, UTC]",
           "expire_at": "datetime64[ns, UTC]", "family": "int64", "subnet_id": "int64",
           "leases": "int64", "assigned": "int64", "declined": "int64", "size": "object",
           "utilisation": "float64", "pd_utilisation": "float64", "hours_left": "float64"}


def _empty(cols: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=_DTYPES.get(c, "float64" if c.startswith("kea_")
                                                        else object)) for c in cols})


def paths_from_env(value: str | None) -> list[Path]:
    """Paths from an environment variable holding one or several (``os.pathsep``-separated)."""
    if not value:
        return []
    return [Path(p).expanduser() for p in value.split(os.pathsep) if p.strip()]


def _columns(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``df`` with exactly ``columns`` (a missing one all None) and the export's dates parsed."""
    for col in columns:
        if col not in df.columns:
            df[col] = None
    df = df[columns].copy()
    df["export_date"] = pd.to_datetime(df["export_date"].astype(str))
    df["exported_at"] = pd.to_datetime(df["exported_at"], utc=True, format="mixed")
    return df


def _finish_leases(df: pd.DataFrame) -> pd.DataFrame:
    df = _columns(df, LEASE_COLUMNS)
    for col in ("family", "prefix_len", "subnet_id", "valid_lft", "cltt", "expire", "state"):
        df[col] = pd.to_numeric(df[col]).astype("int64")
    for col in ("iaid", "preferred_lft"):
        df[col] = pd.to_numeric(df[col]).astype("Int64")
    for col in ("server", "address", "lease_type", "hwaddr", "client_id", "duid", "hostname",
                "kea_version"):
        df[col] = df[col].astype(object).where(df[col].notna(), None)
    finite = df["valid_lft"] != INFINITE_LIFETIME
    df["expire_at"] = pd.to_datetime(df["expire"].where(finite), unit="s", utc=True)
    df["state_name"] = df["state"].map(lambda s: LEASE_STATES.get(int(s), str(s)))
    return df.reset_index(drop=True)


def _finish_stats(df: pd.DataFrame) -> pd.DataFrame:
    df = _columns(df, STATS_COLUMNS)
    df["sampled_at"] = pd.to_datetime(df["sampled_at"], utc=True, format="mixed")
    df["family"] = pd.to_numeric(df["family"]).astype("int64")
    for col in ("subnet_id", "pool_id"):
        df[col] = pd.to_numeric(df[col]).astype("Int64")
    df["value"] = pd.to_numeric(df["value"]).astype("float64")
    return df.reset_index(drop=True)


def _latest_per_server(snapshots: pd.DataFrame) -> pd.DataFrame:
    if snapshots.empty:
        return snapshots.copy()
    newest = snapshots.groupby(["server", "family"])["export_date"].transform("max")
    return snapshots[snapshots["export_date"] == newest].reset_index(drop=True)


def load_warehouse(url: str, *, since: date | None = None) -> AuditExport:
    """Read the SQL warehouse ``kea-etl export --to URL`` wrote (complete runs only)."""
    import sqlalchemy as sa

    from kea_etl.export.warehouse import export_runs, lease_snapshots, lease_stats, leases_current

    try:
        engine = sa.create_engine(url)
    except Exception as exc:
        raise ConfigError(f"warehouse URL {url!r}: {exc}") from exc
    runs = export_runs
    done = runs.c.status == "complete"
    snap = (sa.select(lease_snapshots).join(runs, runs.c.run_id == lease_snapshots.c.run_id).where(done))
    cur = (sa.select(leases_current).join(runs, runs.c.run_id == leases_current.c.run_id).where(done))
    stats = (sa.select(lease_stats).join(runs, runs.c.run_id == lease_stats.c.run_id)
             .where(done))
    if since is not None:
        snap = snap.where(lease_snapshots.c.export_date >= since)
        stats = stats.where(lease_stats.c.export_date >= since)
    try:
        with engine.connect() as conn:
            insp = sa.inspect(conn)
            missing = [t for t in ("export_runs", "lease_snapshots", "leases_current",
                                   "lease_stats") if not insp.has_table(t)]
            if missing:
                raise KeaEtlError(f"warehouse {engine.url.render_as_string(hide_password=True)}"
                                  f" has no table {', '.join(missing)}: is this a kea-etl export "
                                  "(run `kea-etl export --to URL` first)?")
            snapshots = pd.read_sql(snap, conn)
            current = pd.read_sql(cur, conn)
            stats_df = pd.read_sql(stats, conn)
    except sa.exc.SQLAlchemyError as exc:
        raise KeaEtlError(f"warehouse {engine.url.render_as_string(hide_password=True)}: "
                          f"{str(exc).splitlines()[0]}") from exc
    finally:
        engine.dispose()
    return AuditExport(snapshots=_finish_leases(snapshots), current=_finish_leases(current),
                       stats=_finish_stats(stats_df),
                       source=engine.url.render_as_string(hide_password=True))


def _read_dataset(root: Path, since: date | None) -> pd.DataFrame | None:
    import pyarrow.dataset as ds

    if not root.is_dir():
        return None
    # export_date as a string partition: pyarrow would otherwise guess its type per dataset
    import pyarrow as pa
    part = ds.partitioning(pa.schema([("export_date", pa.string()), ("server", pa.string())]),
                           flavor="hive")
    dataset = ds.dataset(str(root), format="parquet", partitioning=part)
    flt = None
    if since is not None:
        flt = ds.field("export_date") >= since.isoformat()
    table = dataset.to_table(filter=flt)
    frame: pd.DataFrame = table.to_pandas()
    return frame


def load_parquet(root: str | Path, *, since: date | None = None) -> AuditExport:
    """Read the Parquet tree ``kea-etl export --parquet DIR`` wrote (``DIR/leases``, ``DIR/stats``)."""
    base = Path(root)
    leases = _read_dataset(base / "leases", since)
    stats = _read_dataset(base / "stats", since)
    if leases is None and stats is None:
        raise KeaEtlError(f"{base}: no leases/ or stats/ directory: is this a kea-etl Parquet "
                          "export (run `kea-etl export --parquet DIR` first)?")
    if leases is None:  # servers that held no lease: the export wrote statistics only
        leases = pd.DataFrame(columns=LEASE_COLUMNS)
    snapshots = _finish_leases(leases)
    return AuditExport(snapshots=snapshots, current=_latest_per_server(snapshots),
                       stats=_finish_stats(stats if stats is not None else pd.DataFrame()),
                       source=str(base))


def load_export(*, warehouse: str | None = None, parquet: str | Path | None = None,
                since: date | None = None) -> AuditExport:
    """The warehouse when a URL is given, else the Parquet tree."""
    if warehouse:
        return load_warehouse(warehouse, since=since)
    if parquet:
        return load_parquet(parquet, since=since)
    raise KeaEtlError("no export to audit: set KEA_ETL_WAREHOUSE (a SQLAlchemy URL) or "
                      "KEA_ETL_PARQUET (a directory)")


# ---- Kea configuration: pools ---------------------------------------------------------------------

@dataclass
class PoolConfig:
    """Subnets and pools of Kea configuration files.

    ``subnets``: family, subnet_id, subnet, shared_network, pools (how many).
    ``pools``: family, subnet_id, kind (``pool`` / ``pd-pool``), pool (as written), first, last
    (integers, as Python ints: IPv6 does not fit 64 bits) and size (addresses, or delegated
    prefixes for a pd-pool).
    ``reserved``: family, subnet_id, kind, address (int; a delegated prefix's first address),
    identifier: every address or prefix a host reservation of the configuration (its subnets'
    ``reservations``) holds for a client, plus those passed to :func:`load_pools` from a hosts
    database.
    """

    subnets: pd.DataFrame
    pools: pd.DataFrame
    reserved: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["family", "subnet_id", "kind", "address", "identifier"]))


def _reserved_rows(family: int, subnet_id: int, hosts: Iterable[Mapping[str, Any]]
                   ) -> list[dict[str, Any]]:
    """The addresses and prefixes Kea host maps reserve, as :attr:`PoolConfig.reserved` rows."""
    rows: list[dict[str, Any]] = []
    for host in hosts:
        ident = next((f"{k}={host[k]}" for k in ("hw-address", "client-id", "duid",
                                                   "circuit-id", "flex-id") if host.get(k)), "")
        addrs = [host["ip-address"]] if family == 4 and host.get("ip-address") else []
        addrs += list(host.get("ip-addresses") or ()) if family == 6 else []
        for a in addrs:
            rows.append({"family": family, "subnet_id": subnet_id, "kind": "pool",
                         "address": int(ipaddress.ip_address(a)), "identifier": ident})
        for p in host.get("prefixes") or () if family == 6 else ():
            rows.append({"family": family, "subnet_id": subnet_id, "kind": "pd-pool",
                         "address": int(ipaddress.ip_network(p).network_address),
                         "identifier": ident})
    return rows


def load_pools(paths: Iterable[str | Path],
               reservations: Iterable[Reservation] = ()) -> PoolConfig:
    """Read the pools and reservations of one or more Kea configuration files (comments
    allowed). ``reservations``: hosts kept elsewhere (a hosts database: read them with
    ``kea_etl.extract.open_source("kea-sql:...")`` or ``"kea:URL#reservations"``), counted as
    the configuration's are."""
    from kea_etl import kea_config

    subnets: list[dict[str, Any]] = []
    pools: list[dict[str, Any]] = []
    reserved: list[dict[str, Any]] = []
    for res in reservations:
        reserved += _reserved_rows(res.family, res.subnet_id, [res.to_kea_host()])
    for path in paths:
        config = kea_config.load_kea_config(path)
        for family, section in kea_config.sections(config, origin=str(path)).items():
            reserved += _reserved_rows(family, 0, section.get("reservations") or ())
            for raw, _net in kea_config.raw_subnets(section, family, origin=str(path)):
                reserved += _reserved_rows(family, int(raw.get("id", 0)),
                                           raw.get("reservations") or ())
        for sub in kea_config.subnets(config, origin=str(path), required=True):
            for pool in sub.pools:
                pools.append({"family": sub.family, "subnet_id": sub.id, "kind": "pool",
                              "pool": pool.text, "first": pool.first, "last": pool.last,
                              "delegated_len": None, "size": pool.size})
            for pd_pool in sub.pd_pools:
                pools.append({"family": 6, "subnet_id": sub.id, "kind": "pd-pool",
                              "pool": f"{pd_pool.prefix} /{pd_pool.delegated_len}",
                              "first": int(pd_pool.prefix.network_address),
                              "last": int(pd_pool.prefix.broadcast_address),
                              "delegated_len": pd_pool.delegated_len, "size": pd_pool.size})
            subnets.append({"family": sub.family, "subnet_id": sub.id,
                            "subnet": str(sub.prefix), "shared_network": sub.shared_network,
                            "pools": len(sub.pools) + len(sub.pd_pools)})
    sub_df = pd.DataFrame(subnets, columns=["family", "subnet_id", "subnet", "shared_network",
                                            "pools"])
    pool_df = pd.DataFrame(pools, columns=["family", "subnet_id", "kind", "pool", "first", "last",
                                           "delegated_len", "size"])
    for col in ("first", "last", "size"):
        pool_df[col] = pool_df[col].astype(object)
    res_df = pd.DataFrame(reserved, columns=["family", "subnet_id", "kind", "address",
                                             "identifier"])
    res_df["address"] = res_df["address"].astype(object)
    return PoolConfig(subnets=sub_df, pools=pool_df, reserved=res_df)


def _pool_of(leases: pd.DataFrame, pools: pd.DataFrame) -> pd.Series:
    """The pool (its text) each lease's address lies in, or None."""
    out = pd.Series([None] * len(leases), index=leases.index, dtype=object)
    if leases.empty or pools.empty:
        return out
    addr = pd.Series([int(ipaddress.ip_address(a)) for a in leases["address"]],
                     index=leases.index, dtype=object)
    kind = leases["lease_type"].map(lambda t: "pd-pool" if t == "IA_PD" else "pool")
    for family, pkind, first, last, text in pools[["family", "kind", "first", "last",
                                                    "pool"]].itertuples(index=False):
        lo: int = int(first)
        hi: int = int(last)
        inside = addr.map(lambda a, lo=lo, hi=hi: lo <= a <= hi).astype(bool)
        mask = (leases["family"] == family) & (kind == pkind) & inside & out.isna()
        out[mask] = text
    return out


# ---- analysis -------------------------------------------------------------------------------------

def pool_utilisation(snapshots: pd.DataFrame, pools: PoolConfig | pd.DataFrame) -> pd.DataFrame:
    """Per night, server and pool: assigned and declined leases, pool size, utilisation, and
    what is left for a new client.

    Every pool of the server's family appears every night, with 0 when it held no lease.
    ``utilisation`` = assigned / size (Kea's definition: declined addresses counted apart).
    What operators count as well (with a :class:`PoolConfig`, whose reservations are known):
    ``reserved`` addresses (or delegated prefixes) of the pool held for a client by a host
    reservation, ``reserved_idle`` those of them no lease holds that night (Kea will not hand
    them to anyone else), ``free`` = size - assigned - declined - reserved_idle (what a new
    client can still get) and ``occupied`` = 1 - free / size: a pool "75 % used" whose other
    25 % is reserved is ``occupied`` 1.0, full.
    """
    pool_df = pools.pools if isinstance(pools, PoolConfig) else pools
    res_df = pools.reserved if isinstance(pools, PoolConfig) else None
    cols = ["export_date", "server", "family", "subnet_id", "kind", "pool", "size", "assigned",
            "declined", "utilisation", "reserved", "reserved_idle", "free", "occupied"]
    if snapshots.empty or pool_df.empty:
        return _empty(cols)
    leases = snapshots[snapshots["state"].isin([STATE_ASSIGNED, STATE_DECLINED])]
    pool = _pool_of(leases, pool_df)
    counted = pd.DataFrame({
        "export_date": leases["export_date"], "server": leases["server"],
        "family": leases["family"], "pool": pool,
        "assigned": (leases["state"] == STATE_ASSIGNED).astype("int64"),
        "declined": (leases["state"] == STATE_DECLINED).astype("int64")}).dropna(subset=["pool"])
    counts = counted.groupby(["export_date", "server", "family", "pool"], as_index=False)[
        ["assigned", "declined"]].sum()
    nights = snapshots[["export_date", "server", "family"]].drop_duplicates()
    grid = nights.merge(pool_df[["family", "subnet_id", "kind", "pool", "size"]], on="family")
    out = grid.merge(counts, on=["export_date", "server", "family", "pool"], how="left")
    out[["assigned", "declined"]] = out[["assigned", "declined"]].fillna(0).astype("int64")
    out["utilisation"] = [a / s if s else float("nan")
                          for a, s in zip(out["assigned"], out["size"], strict=True)]
    out["reserved"], out["reserved_idle"] = _reserved_counts(out, leases, pool_df, res_df)
    out["free"] = [max(0, int(s) - a - d - r) for s, a, d, r in
                   zip(out["size"], out["assigned"], out["declined"], out["reserved_idle"],
                       strict=True)]
    out["occupied"] = [1 - f / int(s) if s else float("nan")
                       for f, s in zip(out["free"], out["size"], strict=True)]
    return out[cols].sort_values(["server", "family", "subnet_id", "pool", "export_date"]) \
        .reset_index(drop=True)


def _reserved_counts(grid: pd.DataFrame, leases: pd.DataFrame, pool_df: pd.DataFrame,
                     res_df: pd.DataFrame | None) -> tuple[list[int], list[int]]:
    """Per row of ``grid`` (night, server, family, pool): reserved addresses in the pool, and
    those no assigned or declined lease of that night and server holds."""
    n = len(grid)
    if res_df is None or res_df.empty or not n:
        return [0] * n, [0] * n
    in_pool: dict[tuple[int, str], set[int]] = {}
    for family, kind, first, last, text in pool_df[["family", "kind", "first", "last",
                                                    "pool"]].itertuples(index=False):
        lo, hi = int(first), int(last)
        mine = {int(a) for f, k, a in res_df[["family", "kind", "address"]]
                .itertuples(index=False) if f == family and k == kind and lo <= int(a) <= hi}
        in_pool[(int(family), str(text))] = mine
    held: dict[tuple[Any, str], set[int]] = {}
    for night, server, addr in leases[["export_date", "server", "address"]] \
            .itertuples(index=False):
        held.setdefault((night, server), set()).add(int(ipaddress.ip_address(addr)))
    total, idle = [], []
    for night, server, family, pool in grid[["export_date", "server", "family", "pool"]] \
            .itertuples(index=False):
        mine = in_pool.get((int(family), str(pool)), set())
        total.append(len(mine))
        idle.append(len(mine - held.get((night, server), set())))
    return total, idle


def shared_network_utilisation(util: pd.DataFrame, pools: PoolConfig) -> pd.DataFrame:
    """:func:`pool_utilisation` summed over each shared network (a client of the network can get
    an address from any of its subnets, so the network is full only when all of them are),
    addresses and delegated prefixes apart (``kind``). Subnets outside shared networks are left
    out: their pools are the network."""
    cols = ["export_date", "server", "family", "shared_network", "kind", "size", "assigned",
            "declined", "reserved_idle", "free", "utilisation", "occupied"]
    nets = pools.subnets.dropna(subset=["shared_network"])[["family", "subnet_id",
                                                             "shared_network"]]
    if util.empty or nets.empty:
        return _empty(cols)
    joined = util.merge(nets, on=["family", "subnet_id"])
    joined["size"] = joined["size"].astype("int64")
    out = joined.groupby(["export_date", "server", "family", "shared_network", "kind"],
                         as_index=False)[["size", "assigned", "declined", "reserved_idle",
                                          "free"]].sum()
    out["utilisation"] = out["assigned"] / out["size"].where(out["size"] > 0)
    out["occupied"] = 1 - out["free"] / out["size"].where(out["size"] > 0)
    return out[cols].sort_values(["server", "family", "shared_network", "kind", "export_date"]) \
        .reset_index(drop=True)


_STAT_NAMES = {
    # tidy column -> stat-lease4-get / stat-lease6-get names (declined-nas in 2.2,
    # declined-addresses from 2.4)
    "kea_total": ("total-addresses", "total-nas"),
    "kea_assigned": ("assigned-addresses", "assigned-nas"),
    "kea_declined": ("declined-addresses", "declined-nas"),
    "kea_total_pds": ("total-pds",),
    "kea_assigned_pds": ("assigned-pds",),
}


def _stat_table(stats: pd.DataFrame) -> pd.DataFrame:
    """stat-leaseN-get rows pivoted: one row per night, server, family, subnet."""
    keys = ["export_date", "server", "family", "subnet_id"]
    sel = stats[stats["source"].isin(["stat-lease4-get", "stat-lease6-get"])
                & stats["subnet_id"].notna()]
    out = sel[keys].drop_duplicates().reset_index(drop=True)
    for col, names in _STAT_NAMES.items():
        part = sel[sel["name"].isin(names)].groupby(keys)["value"].sum().reset_index(name=col)
        out = out.merge(part, on=keys, how="left")
    out["subnet_id"] = out["subnet_id"].astype("int64")
    return out


def subnet_utilisation(stats: pd.DataFrame) -> pd.DataFrame:
    """Kea's own per-subnet counts (stat-leaseN-get) over the nights, with utilisation."""
    cols = ["export_date", "server", "family", "subnet_id", "kea_total", "kea_assigned",
            "kea_declined", "kea_total_pds", "kea_assigned_pds", "utilisation", "pd_utilisation"]
    if stats.empty:
        return _empty(cols)
    out = _stat_table(stats)
    out["utilisation"] = (out["kea_assigned"] / out["kea_total"].where(out["kea_total"] > 0))
    out["pd_utilisation"] = (out["kea_assigned_pds"]
                             / out["kea_total_pds"].where(out["kea_total_pds"] > 0))
    return out[cols].sort_values(["server", "family", "subnet_id", "export_date"]) \
        .reset_index(drop=True)


def leases_per_subnet(current: pd.DataFrame, stats: pd.DataFrame | None = None) -> pd.DataFrame:
    """The newest leases per server, family and subnet, next to Kea's stat-leaseN-get.

    ``assigned`` / ``declined`` count addresses (v4, IA_NA) in state 0 / 1, ``pds`` delegated
    prefixes in state 0, ``other`` leases that hold nothing (reclaimed, released). With
    ``stats``, the same night's ``kea_*`` columns are added and ``matches`` says whether the
    export and Kea's statistics agree.
    """
    keys = ["server", "family", "subnet_id"]
    pd_mask = current["lease_type"] == "IA_PD"
    frame = pd.DataFrame({
        "server": current["server"], "family": current["family"],
        "subnet_id": current["subnet_id"], "export_date": current["export_date"],
        "leases": 1,
        "assigned": (~pd_mask & (current["state"] == STATE_ASSIGNED)).astype("int64"),
        "declined": (~pd_mask & (current["state"] == STATE_DECLINED)).astype("int64"),
        "pds": (pd_mask & (current["state"] == STATE_ASSIGNED)).astype("int64"),
        "other": (~current["state"].isin([STATE_ASSIGNED, STATE_DECLINED])).astype("int64")})
    out = frame.groupby(keys, as_index=False).agg(
        export_date=("export_date", "max"), leases=("leases", "sum"),
        assigned=("assigned", "sum"), declined=("declined", "sum"), pds=("pds", "sum"),
        other=("other", "sum"))
    if stats is None or stats.empty:
        return out.sort_values(keys).reset_index(drop=True)
    kea = _stat_table(stats)
    # subnets Kea reports with no lease in the export (0 leases) belong in the table too
    newest = out.groupby(["server", "family"], as_index=False)["export_date"].max()
    kea = kea.merge(newest, on=["server", "family", "export_date"])
    out = out.merge(kea, on=[*keys, "export_date"], how="outer")
    for col in ("leases", "assigned", "declined", "pds", "other"):
        out[col] = out[col].fillna(0).astype("int64")
    for col in _STAT_NAMES:
        out[col] = out[col].astype("Int64")
    same_addr = (out["assigned"] == out["kea_assigned"]) & (out["declined"] == out["kea_declined"])
    same_pd = out["kea_assigned_pds"].isna() | (out["pds"] == out["kea_assigned_pds"])
    out["matches"] = (same_addr & same_pd).fillna(False).astype(bool)
    return out.sort_values(keys).reset_index(drop=True)


def _client(current: pd.DataFrame) -> pd.Series:
    v4 = current["hwaddr"].where(current["hwaddr"].notna(), current["client_id"])
    return v4.where(current["family"] == 4, current["duid"])


def _with_client(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with a ``client`` column computed from ``rows`` themselves.

    Never ``subset.assign(client=_client(whole))``: on an EMPTY subset pandas takes the index of
    the Series it is given, and the result has one all-NaN row per lease of the whole frame
    (a healthy network's "633 leases expire soon", and int(NaN) in "outside pools").
    """
    return rows.assign(client=_client(rows).astype(object))


def clients_with_several_leases(current: pd.DataFrame, *, minimum: int = 2) -> pd.DataFrame:
    """Clients (v4: hardware address, else client-id; v6: DUID) holding ``minimum`` or more
    assigned leases of one type on one server. A v6 client with one address and one prefix is
    normal and not listed."""
    cols = ["server", "family", "lease_type", "client", "leases", "addresses", "subnets"]
    held = _with_client(current[current["state"] == STATE_ASSIGNED])
    held = held.dropna(subset=["client"])
    if held.empty:
        return held.assign(leases=pd.Series(dtype="int64"), addresses=pd.Series(dtype=object),
                           subnets=pd.Series(dtype=object))[cols]
    g = held.groupby(["server", "family", "lease_type", "client"], as_index=False).agg(
        leases=("address", "size"),
        addresses=("address", lambda s: ", ".join(sorted(s, key=_addr_key))),
        subnets=("subnet_id", lambda s: ", ".join(str(x) for x in sorted(set(s)))))
    g = g[g["leases"] >= minimum]
    return g[cols].sort_values(["leases", "server", "client"], ascending=[False, True, True]) \
        .reset_index(drop=True)


def _addr_key(text: str) -> tuple[int, int]:
    a = ipaddress.ip_address(text)
    return a.version, int(a)


HISTORY_COLUMNS = ["server", "family", "address", "client", "hostname", "first_seen",
                   "last_seen", "held_until", "nights", "current"]


def lease_history(warehouse: str, query: str, *, since: datetime | None = None,
                  until: datetime | None = None) -> pd.DataFrame:
    """``kea-etl history QUERY`` as a table, oldest first: one row per client holding one lease
    over consecutive exports (:func:`kea_etl.export.history.lease_history`). ``query``: an
    address, MAC, client-id/DUID or hostname (detected)."""
    from kea_etl.export.history import HistoryQuery
    from kea_etl.export.history import lease_history as intervals

    rows = [{"server": i.server, "family": i.family,
             "address": i.lease,
             "client": i.client, "hostname": i.hostname, "first_seen": i.first_seen,
             "last_seen": i.last_seen, "held_until": i.held_until, "nights": i.nights,
             "current": i.current}
            for i in intervals(warehouse, HistoryQuery.parse(query), since=since, until=until)]
    if not rows:  # typed columns, so that .dt works on "nothing found" too
        return _empty(HISTORY_COLUMNS).astype(
            {c: "datetime64[ns, UTC]" for c in ("first_seen", "last_seen", "held_until")})
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS).sort_values(
        ["first_seen", "server", "address"]).reset_index(drop=True)


def leases_outside_pools(current: pd.DataFrame, pools: PoolConfig) -> pd.DataFrame:
    """Assigned or declined leases whose address (prefix) lies in no pool (pd-pool).

    Kea accepts such leases (lease4-add, a migration, a changed pool): the server will renew them
    but never hand the address out again, and stat-leaseN-get's totals do not include them.
    ``reason`` says why: the subnet has no pool, the address is outside its pools, or the
    subnet id is not in the configuration at all.
    """
    cols = ["server", "family", "address", "lease_type", "prefix_len", "subnet_id", "client",
            "hostname", "state_name", "expire_at", "reason"]
    held = current[current["state"].isin([STATE_ASSIGNED, STATE_DECLINED])]
    pool = _pool_of(held, pools.pools)
    out = _with_client(held[pool.isna()])
    if out.empty:
        return out.assign(reason=pd.Series(dtype=object))[cols]
    known = {(int(f), int(s)): int(n) for f, s, n in
             pools.subnets[["family", "subnet_id", "pools"]].itertuples(index=False)}
    kinds = {(int(f), int(s), str(k)) for f, s, k in
             pools.pools[["family", "subnet_id", "kind"]].itertuples(index=False)}

    def reason(family: int, subnet_id: int, lease_type: str) -> str:
        if (family, subnet_id) not in known:
            return f"subnet id {subnet_id} is not in the Kea config"
        kind = "pd-pool" if lease_type == "IA_PD" else "pool"
        if (family, subnet_id, kind) not in kinds:
            return f"subnet {subnet_id} has no {kind}"
        return f"outside subnet {subnet_id}'s {kind}s"

    out = out.assign(reason=[reason(int(f), int(s), str(t)) for f, s, t in
                             zip(out["family"], out["subnet_id"], out["lease_type"], strict=True)])
    out = out.assign(_k=out["address"].map(_addr_key))
    return out.sort_values(["server", "family", "_k"])[cols].reset_index(drop=True)


def expiring_soon(current: pd.DataFrame, *, now: datetime,
                  within: timedelta = timedelta(days=7)) -> pd.DataFrame:
    """Assigned leases whose expiry is before ``now + within``, soonest first.

    Leases already past their expiry are listed too (``status`` "expired, not reclaimed"): Kea
    still counts them as assigned until its reclamation runs.
    """
    cols = ["server", "family", "address", "lease_type", "subnet_id", "client", "hostname",
            "expire_at", "hours_left", "status"]
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    ref = pd.Timestamp(now).tz_convert(UTC)
    held = current[(current["state"] == STATE_ASSIGNED) & current["expire_at"].notna()]
    soon = _with_client(held[held["expire_at"] <= ref + pd.Timedelta(within)])
    if soon.empty:
        return soon.assign(hours_left=pd.Series(dtype="float64"),
                           status=pd.Series(dtype=object))[cols]
    hours = (soon["expire_at"] - ref).dt.total_seconds() / 3600
    soon = soon.assign(hours_left=hours.round(1),
                       status=["expired, not reclaimed" if h < 0 else "expiring" for h in hours])
    return soon.sort_values(["expire_at", "server"])[cols].reset_index(drop=True)


# ---- reconciliation -------------------------------------------------------------------------------

@dataclass
class Reconciliation:
    """One or more ``kea-etl reconcile --json`` results.

    ``summary``: one row per file (family, server, source, as_of, matched, missing, extra,
    mismatched, ok). ``differences``: one row per differing record (family, address, category,
    subnet_id, client: the hardware address or DUID of the record, fields: ``name: source ->
    kea`` joined by ``; ``, source_line).
    ``subnets``: the per-subnet count table of each file.
    """

    summary: pd.DataFrame
    differences: pd.DataFrame
    subnets: pd.DataFrame


def _fields_text(fields: Any) -> str:
    if not isinstance(fields, dict):
        return ""
    return "; ".join(f"{name}: {v.get('source')} -> {v.get('kea')}" if isinstance(v, dict)
                     else f"{name}: {v}" for name, v in fields.items())


def load_reconcile(paths: str | Path | Sequence[str | Path]) -> Reconciliation:
    """Read reconcile JSON files (``kea-etl reconcile --json OUT.json``)."""
    if isinstance(paths, str | Path):
        paths = [paths]
    summary: list[dict[str, Any]] = []
    diffs: list[dict[str, Any]] = []
    subnets: list[dict[str, Any]] = []
    for p in paths:
        path = Path(p)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise KeaEtlError(f"cannot read reconcile result {path}: "
                              f"{exc.strerror or exc}") from exc
        except json.JSONDecodeError as exc:
            raise KeaEtlError(f"reconcile result {path} line {exc.lineno}: not valid JSON "
                              f"({exc.msg})") from exc
        need = ("matched", "missing", "extra", "mismatched", "differences")
        lacking = [k for k in need if k not in data]
        if lacking:
            raise KeaEtlError(f"reconcile result {path}: no {', '.join(lacking)}: is this the "
                              "output of `kea-etl reconcile --json`?")
        family = data.get("family")
        kea = data.get("kea") or {}
        src = data.get("source") or {}
        summary.append({"file": path.name, "family": family, "server": kea.get("server"),
                        "kea_version": kea.get("version"), "source": src.get("name"),
                        "as_of": data.get("as_of"), "matched": data["matched"],
                        "missing": data["missing"], "extra": data["extra"],
                        "mismatched": data["mismatched"],
                        "ok": not (data["missing"] or data["extra"] or data["mismatched"])})
        for d in data["differences"]:
            side = d.get("kea") or d.get("source") or {}
            client = side.get("hwaddr") or side.get("duid") or side.get("client_id")
            diffs.append({"family": family, "address": d.get("address"),
                          "category": d.get("category"), "subnet_id": d.get("subnet_id"),
                          "client": client,
                          "fields": _fields_text(d.get("fields")),
                          "source_line": d.get("source_line")})
        for s in data.get("subnets") or []:
            subnets.append({"family": family, **s})
    diff_df = pd.DataFrame(diffs, columns=["family", "address", "category", "subnet_id",
                                           "client", "fields", "source_line"])
    diff_df["subnet_id"] = pd.to_numeric(diff_df["subnet_id"]).astype("Int64")
    diff_df["source_line"] = pd.to_numeric(diff_df["source_line"]).astype("Int64")
    sum_df = pd.DataFrame(summary, columns=["file", "family", "server", "kea_version", "source",
                                            "as_of", "matched", "missing", "extra",
                                            "mismatched", "ok"])
    return Reconciliation(summary=sum_df, differences=diff_df, subnets=pd.DataFrame(subnets))


# ---- plots ----------------------------------------------------------------------------------------

def _figure(width: float = 8.0, height: float = 3.6) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=80, layout="constrained")


def plot_pool_utilisation(util: pd.DataFrame) -> Figure:
    """Utilisation (%) of each pool over the export nights, one line per server and pool."""
    fig = _figure(width=10.0)
    ax = fig.add_subplot()
    for (server, family, subnet_id, pool), part in util.groupby(
            ["server", "family", "subnet_id", "pool"], sort=True):
        part = part.sort_values("export_date")
        ax.plot(part["export_date"], 100 * part["utilisation"].astype(float), marker="o",
                label=f"{server} v{family} subnet {subnet_id}: {pool}")
    ax.set_ylabel("assigned / pool size (%)")
    ax.set_xlabel("export night")
    ax.set_title("Pool utilisation over time")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    nights = sorted(set(util["export_date"]))
    ax.set_xticks(nights, [d.strftime("%Y-%m-%d") for d in nights])
    if len(util):
        fig.legend(fontsize="small", loc="outside right upper")
    return fig


def plot_leases_per_subnet(table: pd.DataFrame) -> Figure:
    """Bars: assigned, declined and PD leases per subnet in the export, Kea's count as a mark."""
    fig = _figure()
    ax = fig.add_subplot()
    labels = [f"{s}\nv{f} subnet {i}" for s, f, i in
              zip(table["server"], table["family"], table["subnet_id"], strict=True)]
    x = list(range(len(table)))
    w = 0.27
    ax.bar([i - w for i in x], table["assigned"], w, label="assigned (export)")
    ax.bar(x, table["declined"], w, label="declined (export)")
    ax.bar([i + w for i in x], table["pds"], w, label="prefixes (export)")
    if "kea_assigned" in table:
        ax.scatter([i - w for i in x], table["kea_assigned"].astype(float), marker="_", s=400,
                   color="black", zorder=3, label="Kea stat-leaseN-get assigned")
    ax.set_xticks(x, labels, fontsize="small")
    ax.set_ylabel("leases")
    ax.set_title("Leases per subnet (newest export)")
    ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    return fig


def plot_expiry(current: pd.DataFrame, *, now: datetime, days: int = 120) -> Figure:
    """Histogram (one bar a day, log scale) of the expiry of assigned leases, in days from
    ``now``; leases expiring later than ``days`` are piled up in the last bar."""
    fig = _figure()
    ax = fig.add_subplot()
    ref = pd.Timestamp(now).tz_convert(UTC)
    held = current[(current["state"] == STATE_ASSIGNED) & current["expire_at"].notna()]
    for family, part in held.groupby("family"):
        left = ((part["expire_at"] - ref).dt.total_seconds() / 86400).clip(upper=days)
        lo = min(0.0, float(left.min()))
        ax.hist(left, bins=int(days - lo) + 1, range=(lo, days + 1), alpha=0.6, log=True,
                label=f"DHCPv{family} ({len(part)} leases)")
    ax.axvline(0, color="black", lw=1)
    ax.set_xlabel(f"days until expiry from {ref:%Y-%m-%d %H:%M} UTC (right edge: {days}+)")
    ax.set_ylabel("leases per day (log)")
    ax.set_title("Lease expiry")
    ax.legend(fontsize="small")
    return fig


def plot_reconcile(summary: pd.DataFrame) -> Figure:
    """Stacked bars of matched / missing / extra / mismatched per reconcile file."""
    fig = _figure(height=2.8)
    ax = fig.add_subplot()
    cats = [("matched", "tab:green"), ("missing", "tab:red"), ("extra", "tab:orange"),
            ("mismatched", "tab:purple")]
    labels = [f"DHCPv{f}\n{s}" for f, s in zip(summary["family"], summary["file"], strict=True)]
    left = [0.0] * len(summary)
    for cat, colour in cats:
        vals = [float(v) for v in summary[cat]]
        ax.barh(labels, vals, left=left, color=colour, label=cat)
        left = [a + b for a, b in zip(left, vals, strict=True)]
    ax.set_xlabel("records")
    ax.set_title("Reconciliation: source vs Kea")
    ax.legend(fontsize="small", ncols=4, loc="lower center", bbox_to_anchor=(0.5, 1.12))
    return fig
