"""kea-etl: move DHCP leases and reservations into, out of and around ISC Kea.

The library comes first (``kea_etl.extract``, ``transform``, ``load``, ``export`` and the Kea
client in ``kea_etl.kea``); the ``kea-etl`` command line is a thin layer on top.
"""

from __future__ import annotations

from kea_etl.errors import KeaEtlError
from kea_etl.records import Lease4, Lease6, Reservation
from kea_etl.report import RunReport

__version__ = "0.1.0"
__all__ = ["KeaEtlError", "Lease4", "Lease6", "Reservation", "RunReport", "__version__"]
