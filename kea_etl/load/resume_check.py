"""``--resume`` checks what its checkpoint says Kea already holds.

A checkpoint records the leases Kea accepted. Kea can lose them before the resume: it may be
restarted on an emptied or restored lease file, or a database restored from backup. A resume
that trusted the checkpoint would report every lease loaded while Kea held fewer. Before a
resumed live load sends anything, :func:`verify_resume` checks those leases:

1. **per-subnet counts** (``stat-lease4-get`` / ``stat-lease6-get``: assigned addresses, plus
   delegated prefixes for v6) against the number of leases the checkpoint has done in each
   subnet of the server's configuration. A subnet where Kea holds at least as many is taken as
   intact. That costs one command;
2. for every subnet whose count falls short (or all of them when the server has no stat_cmds,
   or leases that no configured subnet holds), Kea's leases are paged (``lease*-get-page``).
   Every done lease Kea does not hold is **forgotten** in the checkpoint, so the resumed run
   sends it again through the normal path (counted, checked for conflicts, recorded).

The result goes into the run report as ``resume_check``: ``checked`` (leases the checkpoint
said were done), ``subnets_recounted`` and ``missing`` (sent again).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from ipaddress import IPv6Network, ip_address, ip_network
from typing import TYPE_CHECKING, Any

from kea_etl.errors import KeaEtlError

if TYPE_CHECKING:
    from kea_etl.kea import KeaClient
    from kea_etl.load.api import ServerSubnet
    from kea_etl.load.checkpoint import Checkpoint

__all__ = ["verify_resume"]


class _SubnetIndex:
    """Which configured subnet (by id) holds an address or delegated prefix (Kea's subnets do
    not overlap: a sorted list and bisect)."""

    def __init__(self, subnets: Sequence[ServerSubnet], family: int) -> None:
        spans = sorted((int(s.prefix.network_address), int(s.prefix.broadcast_address), s.id)
                       for s in subnets if s.prefix.version == family)
        self.starts = [a for a, _, _ in spans]
        self.spans = spans
        self.pd = [(p.prefix, s.id) for s in subnets for p in s.pd_pools]

    def of(self, key: str) -> int | None:
        if "/" in key:  # a delegated prefix: the subnet of the pd-pool it comes from
            net = ip_network(key, strict=False)
            for pool, sid in self.pd:
                if isinstance(net, IPv6Network) and net.subnet_of(pool):
                    return sid
            return None
        value = int(ip_address(key))
        i = bisect.bisect_right(self.starts, value) - 1
        if i >= 0 and value <= self.spans[i][1]:
            return self.spans[i][2]
        return None


def _held_counts(client: KeaClient, family: int) -> dict[int, int] | None:
    """Leases Kea holds per subnet id (stat_cmds), or None when it cannot say."""
    try:
        resp = client.call(f"stat-lease{family}-get")
    except KeaEtlError:
        return None
    if resp.empty:
        return {}
    try:
        rs = resp.arguments["result-set"]
        cols = list(rs["columns"])
        out: dict[int, int] = {}
        for row in rs["rows"]:
            cells = dict(zip(cols, row, strict=True))
            n = (int(cells["assigned-addresses"]) if family == 4
                 else int(cells.get("assigned-nas", 0)) + int(cells.get("assigned-pds", 0)))
            out[int(cells["subnet-id"])] = n
        return out
    except (KeyError, TypeError, ValueError):
        return None


def _held_key(family: int, data: dict[str, Any]) -> str:
    if family == 6 and data.get("type") == "IA_PD":
        return f"6:{data['ip-address']}/{data.get('prefix-len')}"
    return f"{family}:{data['ip-address']}"


def verify_resume(client: KeaClient, checkpoint: Checkpoint, subnets: Sequence[ServerSubnet],
                  families: Sequence[int]) -> dict[str, int]:
    """Check the checkpoint's done leases against Kea; forget the missing ones (see above)."""
    checked = recounted = missing_total = 0
    for fam in families:
        keys = checkpoint.done_keys(f"{fam}:")
        if not keys:
            continue
        checked += len(keys)
        index = _SubnetIndex(subnets, fam)
        by_subnet: dict[int | None, list[str]] = defaultdict(list)
        for key in keys:
            by_subnet[index.of(key[2:])].append(key)
        counts = _held_counts(client, fam)
        suspect = {sid for sid, ks in by_subnet.items()
                   if sid is None or counts is None or counts.get(sid, 0) < len(ks)}
        if not suspect:
            continue
        recounted += len(suspect)
        every = None in suspect
        held: set[str] = set()
        pages = client.iter_lease4_pages() if fam == 4 else client.iter_lease6_pages()
        for page in pages:
            for data in page:
                if every or data.get("subnet-id") in suspect:
                    held.add(_held_key(fam, data))
        missing = [k for sid in suspect for k in by_subnet[sid] if k not in held]
        missing_total += checkpoint.forget(missing)
    return {"checked": checked, "subnets_recounted": recounted, "missing": missing_total}
