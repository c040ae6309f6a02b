"""Who holds an address: the same client (already present) or another one (a conflict).

Every live target (``kea:`` over the API, ``kea-sql:`` straight into Kea's database) asks the
same two questions about a lease the target already holds at the address being loaded:

* :func:`same_client` -- is it the same client? v4: every identifier both sides carry must match
  (client-id and MAC) and at least one must be shared, which is how Kea itself recognises a
  client; v6: DUID, IAID and lease type.
* :func:`identical` -- same client *and* the same expiry, lifetime, subnet and state: loading it
  would change nothing, so the record counts as ``already_present`` and nothing is sent.
"""

from __future__ import annotations

from kea_etl.records import Lease4, Lease6

__all__ = ["describe_holder", "identical", "same_client"]


def same_client(held: Lease4 | Lease6, ours: Lease4 | Lease6) -> bool:
    if isinstance(held, Lease4) and isinstance(ours, Lease4):
        shared = 0
        for a, b in ((held.hwaddr, ours.hwaddr), (held.client_id, ours.client_id)):
            if a and b:
                if a != b:
                    return False
                shared += 1
        return shared > 0
    if isinstance(held, Lease6) and isinstance(ours, Lease6):
        return (held.duid, held.iaid, held.lease_type) == (ours.duid, ours.iaid, ours.lease_type)
    return False


def identical(held: Lease4 | Lease6, ours: Lease4 | Lease6) -> bool:
    if not same_client(held, ours):
        return False
    if (held.expire, held.valid_lft, held.state) != (ours.expire, ours.valid_lft, ours.state):
        return False
    if ours.subnet_id and held.subnet_id != ours.subnet_id:
        return False
    if isinstance(held, Lease6) and isinstance(ours, Lease6):
        return held.prefix_len == ours.prefix_len
    return True


def describe_holder(held: Lease4 | Lease6) -> str:
    """``hwaddr aa:.., client-id 01:..`` / ``duid 00:.. iaid 7``: for conflict messages."""
    if isinstance(held, Lease4):
        parts = []
        if held.hwaddr:
            parts.append(f"hwaddr {held.hwaddr}")
        if held.client_id:
            parts.append(f"client-id {held.client_id}")
        return ", ".join(parts) or "an unidentified client"
    return f"duid {held.duid} iaid {held.iaid}"
