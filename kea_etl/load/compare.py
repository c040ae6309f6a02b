"""Who holds an address: the same client (already present) or another one (a conflict).

Every live target (``kea:`` over the API, ``kea-sql:`` straight into Kea's database) asks the
same two questions about a lease the target already holds at the address being loaded:

* :func:`same_client` -- is it the same client? v4: every identifier both sides carry must match
  (client-id and MAC) and at least one must be shared, which is how Kea itself recognises a
  client; v6: DUID, IAID and lease type.
* :func:`identical` -- same client *and* the same expiry, lifetime, subnet and state: loading it
  would change nothing, so the record counts as ``already_present`` and nothing is sent.

:func:`decide` turns the two answers, the run's ``mode`` and ``on_conflict`` into what the
target does with the record; each target only words the outcome its own way ("Kea holds ...",
"the database holds ..."). Reservations are compared by
:func:`kea_etl.load.reservations.differences`, for every target.
"""

from __future__ import annotations

from typing import Literal

from kea_etl.records import Lease4, Lease6

__all__ = ["Verdict", "decide", "describe_holder", "identical", "same_client"]

#: what a target does with a lease when it may already hold its address (see :func:`decide`)
Verdict = Literal["write", "same", "kept", "overwrite", "conflict"]


def decide(held: Lease4 | Lease6 | None, ours: Lease4 | Lease6, mode: str,
           on_conflict: str) -> Verdict:
    """What to do with ``ours`` when the target holds ``held`` at its address (None: nothing).

    * ``write``: nothing held, or the same client with other details and ``mode="upsert"``;
    * ``same``: :func:`identical`, nothing to send (``already_present``);
    * ``kept``: the same client with other details and ``mode="add"``: the target's is kept;
    * ``overwrite``: another client and ``on_conflict="overwrite"``: written over it, reported;
    * ``conflict``: another client: left alone, reported.
    """
    if held is None:
        return "write"
    if identical(held, ours):
        return "same"
    if same_client(held, ours):
        return "kept" if mode == "add" else "write"
    return "overwrite" if on_conflict == "overwrite" else "conflict"


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
