"""Subnet ids for converted configurations: derived from the prefix, or kept from a Kea config.

Kea files every lease under a subnet id; a lease whose id the configuration does not have is
dropped at start-up ("failed subnet-id checks"). So ids must not change when the dhcpd.conf is
edited and converted again. :func:`stable_id` derives an id from the prefix alone:

* IPv4: the network address as a 32-bit number (``10.100.0.0/22`` -> 174325760). Two subnets
  get the same id only when they share a network address (``10.0.0.0/8`` and ``10.0.0.0/24``).
* IPv6: the first 4 bytes of BLAKE2b-64 over the 16 address bytes and the prefix length.

Kea reserves 0 (global) and 4294967295 (unused), so an id is in ``1 .. 4294967294``; a derived
value outside that range counts as a collision. :func:`assign_ids` resolves collisions
deterministically: the subnets are taken in (network address, prefix length) order, the first
keeps its id, a later one tries ``stable_id(prefix, attempt=1, 2, ...)`` (the hash of the prefix
and the attempt number) until a free id comes up; each resolved collision is returned so the
report can say which subnet moved and why.

With ``keep`` (the subnets of an existing Kea config, prefix -> id) a prefix found there keeps its
id, and new prefixes get derived ids that avoid the kept ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from ipaddress import IPv4Network, IPv6Network

__all__ = ["ID_MAX", "assign_ids", "stable_id"]

#: Kea's largest usable subnet id (SUBNET_ID_MAX; 0 is global, 2**32 - 1 means "unused")
ID_MAX = 2**32 - 2

Network = IPv4Network | IPv6Network


def stable_id(net: Network, attempt: int = 0) -> int:
    """The id ``net`` derives (see the module docstring); ``attempt`` > 0 gives the fallbacks
    used after a collision. May return 0 or 2**32 - 1 for attempt 0 (never for attempt > 0)."""
    if attempt == 0 and isinstance(net, IPv4Network):
        return int(net.network_address)
    h = hashlib.blake2b(net.network_address.packed + bytes([net.prefixlen])
                        + (attempt.to_bytes(4, "big") if attempt else b""), digest_size=8)
    value = int.from_bytes(h.digest()[:4], "big")
    if attempt:
        return value % ID_MAX + 1
    return value


def assign_ids(nets: Iterable[Network], *, keep: Mapping[str, int] | None = None
               ) -> tuple[dict[str, int], list[tuple[str, int, str]]]:
    """Ids for ``nets``: ``({str(net): id}, notes)``; each note is ``(prefix, id, why)`` for a
    subnet that did not get its plain derived id (a collision, or kept from ``keep``)."""
    keep = dict(keep or {})
    out: dict[str, int] = {}
    notes: list[tuple[str, int, str]] = []
    unique = sorted({n for n in nets}, key=lambda n: (n.version, int(n.network_address), n.prefixlen))
    used: dict[int, str] = {}
    for n in unique:
        if str(n) in keep:
            out[str(n)] = keep[str(n)]
            used[keep[str(n)]] = str(n)
    for n in unique:
        key = str(n)
        if key in out:
            continue
        attempt = 0
        first = cand = stable_id(n)
        while not (1 <= cand <= ID_MAX) or cand in used:
            attempt += 1
            cand = stable_id(n, attempt)
        out[key] = cand
        used[cand] = key
        if attempt:
            why = (f"derived id {first} is outside 1..{ID_MAX}" if not 1 <= first <= ID_MAX
                   else f"derived id {first} is already {used[first]}'s")
            notes.append((key, cand, f"{why}; took fallback {attempt}"))
    return out, notes
