"""The C extension (kea_etl/_isc4.c) and the switches that choose how the parser runs.

The C functions live in module attributes that :func:`tune` may swap (None: Python does that
part), so every reader looks them up here at call time: ``_fastpath._scan4``."""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import IPv4Address, IPv6Address
from typing import Any, Literal

from kea_etl.extract.base import Extracted
from kea_etl.extract.isc_leases._build import _EXTRACTED_TAIL
from kea_etl.records import Lease4, Lease6

Parallel = Literal["auto", "off", "force"]


#: how pass 2 may use a second core: see :func:`tune`
_parallel: Parallel = "auto"


def tune(*, parallel: Parallel | None = None, accelerate: bool | None = None) -> None:
    """Set how this process parses dhcpd lease files (both default to the fastest safe choice).

    ``parallel``: ``"auto"`` forks a worker for pass 2 when that pays (see :func:`_parallel_ok`),
    ``"off"`` never does, ``"force"`` also in a process with other threads (the test suite keeps
    helper threads alive; never needed in production). ``accelerate=False`` turns the C
    extension off (the pure-Python parser gives the same results, about 5x slower).

    Library code never reads the environment: the CLI calls this with
    :func:`tuning_from_environ` (``KEA_ETL_PARALLEL``, ``KEA_ETL_NO_ACCEL``).
    """
    global _parallel, _scan4, _keys4, _scan6, _keys6, _line_starts, _last_keys
    if parallel is not None:
        if parallel not in ("auto", "off", "force"):
            raise ValueError(f"parallel must be auto, off or force, not {parallel!r}")
        _parallel = parallel
    if accelerate is not None:
        on = accelerate and _accel is not None
        _scan4 = _accel.scan4 if on else None
        _keys4 = _accel.keys4 if on else None
        _scan6 = _accel.scan6 if on and _accel6 else None
        _keys6 = _accel.keys6 if on and _accel6 else None
        _line_starts = _accel.line_starts if on else _line_starts_py
        _last_keys = _accel.last_keys if on else None


def tuning_from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    """:func:`tune`'s arguments from ``KEA_ETL_PARALLEL`` (``0`` = off, ``force``) and
    ``KEA_ETL_NO_ACCEL`` (anything but empty or ``0`` = no C extension)."""
    par = environ.get("KEA_ETL_PARALLEL", "")
    return {"parallel": "off" if par == "0" else "force" if par == "force" else "auto",
            "accelerate": environ.get("KEA_ETL_NO_ACCEL", "") in ("", "0")}


def _load_accelerator() -> Any:
    """kea_etl._isc4 when the C extension is built and agrees with the record classes
    (``tune(accelerate=False)`` turns it off)."""
    try:
        from kea_etl import _isc4
    except ImportError:
        return None
    if _EXTRACTED_TAIL is None:
        return None
    return _isc4 if _isc4.init(Extracted, Lease4, IPv4Address, _EXTRACTED_TAIL) else None


_accel = _load_accelerator()


#: the C fast paths of pass 2 and pass 1 (None when unavailable); see kea_etl/_isc4.c
_scan4: Any = _accel.scan4 if _accel is not None else None


_keys4: Any = _accel.keys4 if _accel is not None else None


#: whether the C extension for dhcpd.leases v4 blocks is built and usable
ACCELERATED = _scan4 is not None


_accel6 = _accel is not None and _accel.init6(Lease6, IPv6Address)


#: the same for dhcpd6.leases ia-na / ia-ta / ia-pd blocks
_scan6: Any = _accel.scan6 if _accel6 else None


_keys6: Any = _accel.keys6 if _accel6 else None


#: the same for dhcpd6.leases blocks
ACCELERATED6 = _scan6 is not None


def _line_starts_py(text: str) -> int:
    """What pass 1 looks for at line starts of a chunk: 1 when a line starts with host / group /
    class / subclass (pass 1 reads those blocks), | 2 when one starts with ``ia-``."""
    others = "\nhost" in text or "\ngroup" in text or "\nclass" in text or "\nsubclass" in text
    return int(others) | (2 if "\nia-" in text else 0)


_line_starts: Any = _accel.line_starts if _accel is not None else _line_starts_py


_last_keys: Any = _accel.last_keys if _accel is not None else None


#: items per scan4 call: few enough to die young (cheap garbage collection)
_SCAN_BATCH = 256


#: items per scan6 call: its ~190 new tracked objects (Extracted, Lease6, IPv6Address) stay
#: under the collector's generation-0 threshold (700), so a batch is mostly gone before a
#: collection looks at it (measured: ~10 % faster at 1M blocks than 256)
_SCAN_BATCH6 = 64
