"""What Kea accepts in a memfile lease row, per Kea version: the one place these limits live.

Kea loads ``kea-leases4.csv`` / ``kea-leases6.csv`` row by row (``CSVLeaseFile4::next`` /
``CSVLeaseFile6::next`` in isc-projects/kea ``src/lib/dhcpsrv``) and **skips a row it cannot
build a lease from with only a log line**. The memfile writer (:mod:`kea_etl.load.memfile`) fails
such a record instead of counting it loaded (the live path, ``lease4-add``, fails it too), and
the memfile reader (:mod:`kea_etl.extract.kea_memfile`, which ``reconcile --against`` uses)
reports it as a row Kea skips. The records (:mod:`kea_etl.records`) take the widest limits any
version accepts (:data:`CLIENT_ID_MAX`, :data:`DUID_MAX`, :data:`HWADDR_MAX`).

The limits, from Kea's ``src/lib/dhcp/duid.h`` / ``duid.cc`` and ``hwaddr.h``:

============  ======================  ======================  ==============
Kea           client-id (v4)          DUID (v6)               empty DUID
============  ======================  ======================  ==============
2.2           2..128 bytes            1..128 bytes            ``00``
2.4 .. 3.x    2..255 bytes            3..130 bytes            ``00:00:00``
============  ======================  ======================  ==============

Kea 2.2's ``ClientId`` is a ``DUID`` underneath, so a 129-byte client-id is refused with
"DUID size is 129 bytes, exceeds maximum of 128"; 2.4 made both an ``IdentifierType<min, max>``.
A hardware address is at most 20 bytes (``HWAddr::MAX_HWADDR_LEN``) in every version: a longer
one drops a v4 row, and only the address (not the lease) of a v6 row. A v4 row needs a hardware
address or a client-id, a v6 row a DUID other than the empty one, unless the lease is declined.
Lifetimes and ``expire`` are unsigned numbers (``valid_lifetime`` 32-bit), states any 32-bit
number; hostnames have no length limit when loading (Kea only lowercases them). The change in
the identifier limits came with 2.4, as did the ``pool_id`` column: a file's header tells which
rules the Kea that wrote it applies (:func:`rules_for_header`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from kea_etl.records import Lease4, Lease6

__all__ = ["CLIENT_ID_MAX", "DUID_MAX", "HWADDR_MAX", "KEA_2_2", "KEA_2_4", "RowRules",
           "rules_for", "rules_for_header"]

#: ``HWAddr::MAX_HWADDR_LEN`` (every version)
HWADDR_MAX = 20
#: the longest client-id any supported Kea accepts (2.4+; 2.2 takes 128)
CLIENT_ID_MAX = 255
#: the longest DUID any supported Kea accepts (2.4+; 2.2 takes 128)
DUID_MAX = 130
_STATE_DECLINED = 1  # kea_etl.records.STATE_DECLINED (not imported: records imports this module)


def _nbytes(colon_hex: str) -> int:
    return (len(colon_hex) + 1) // 3


@dataclass(frozen=True, slots=True)
class RowRules:
    """The row checks of one Kea version's memfile loader. ``lease4`` / ``lease6`` return why
    Kea would skip the row (None when it loads it)."""

    label: str
    client_id_min: int
    client_id_max: int
    duid_min: int
    duid_max: int
    #: the DUID Kea writes for a declined lease (``DUID::EMPTY()``)
    empty_duid: str

    def lease4(self, lease: Lease4) -> str | None:
        cid = lease.client_id
        if cid is not None:
            n = _nbytes(cid)
            if not self.client_id_min <= n <= self.client_id_max:
                return (f"client-id is {n} bytes; {self.label} accepts {self.client_id_min}.."
                        f"{self.client_id_max} and skips this memfile row when it loads")
        hw = lease.hwaddr
        if hw is not None and _nbytes(hw) > HWADDR_MAX:
            return (f"hardware address is {_nbytes(hw)} bytes; Kea accepts at most {HWADDR_MAX} "
                    "and skips this memfile row when it loads")
        if hw is None and cid is None and lease.state != _STATE_DECLINED:
            return ("neither a hardware address nor a client-id; Kea skips such a memfile row "
                    "unless the lease is declined")
        return None

    def lease6(self, lease: Lease6) -> str | None:
        duid = lease.duid
        n = _nbytes(duid)
        if not self.duid_min <= n <= self.duid_max:
            return (f"DUID is {n} bytes; {self.label} accepts {self.duid_min}..{self.duid_max} "
                    "and skips this memfile row when it loads")
        if duid == self.empty_duid and lease.state != _STATE_DECLINED:
            return (f"the empty DUID {duid} is valid only for a declined lease; {self.label} skips "
                    "this memfile row when it loads")
        return None


KEA_2_2 = RowRules("Kea 2.2", client_id_min=2, client_id_max=128, duid_min=1, duid_max=128,
                   empty_duid="00")
KEA_2_4 = RowRules("Kea 2.4 and later", client_id_min=2, client_id_max=CLIENT_ID_MAX, duid_min=3,
                   duid_max=DUID_MAX, empty_duid="00:00:00")


def rules_for(kea_version: str) -> RowRules:
    """The rules of a Kea version such as ``2.2``, ``2.6.3`` or ``3.0`` (validated by the caller,
    :func:`kea_etl.load.memfile.headers_for`)."""
    parts = kea_version.strip().split(".")
    major, minor = int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    return KEA_2_2 if (major, minor) < (2, 4) else KEA_2_4


def rules_for_header(header: Sequence[str]) -> RowRules:
    """The rules of the Kea that wrote a lease file with this header: ``pool_id`` and the wider
    identifier limits both came with Kea 2.4."""
    return KEA_2_4 if "pool_id" in header else KEA_2_2
