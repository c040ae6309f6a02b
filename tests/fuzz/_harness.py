"""What every fuzz test checks for one input: the extractor (or decoder) either yields records
and :class:`MalformedRecordError` items, or raises one of kea-etl's own errors
(:class:`KeaEtlError`). Any other exception is a crash; a run longer than ``TIMEOUT`` seconds is
a hang (SIGALRM); memory is bounded by streaming (checked on big inputs in test_adversarial).

``run_file(kind, data)`` is shared with the corpus test, so a crash saved under
``tests/fuzz/corpus/<kind>/`` replays exactly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kea_etl.errors import KeaEtlError, MalformedRecordError
from kea_etl.extract import csvfile, isc_conf, isc_leases, kea_memfile
from kea_etl.extract.base import Extracted, SourceWarning

SOAK = os.environ.get("KEA_ETL_SOAK", "") not in ("", "0")
#: hypothesis examples per fuzz target (CI / soak)
EXAMPLES = int(os.environ.get("KEA_ETL_FUZZ_EXAMPLES", 2000 if SOAK else 60))
TIMEOUT = 10
CORPUS = Path(__file__).resolve().parent / "corpus"
KINDS = ("isc-leases", "isc-leases6", "isc-conf", "csv", "kea-memfile")


class Hang(Exception):
    pass


@contextlib.contextmanager
def deadline(seconds: int = TIMEOUT) -> Iterator[None]:
    def alarm(_sig: int, _frame: Any) -> None:
        raise Hang(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _extract(kind: str, path: Path) -> Iterator[Any]:
    if kind in ("isc-leases", "isc-leases6"):
        return isc_leases.extract(path)
    if kind == "isc-conf":
        return isc_conf.extract(path, include_dir=path.parent)
    if kind == "csv":
        return csvfile.extract(path)
    if kind == "kea-memfile":
        return kea_memfile.extract(path)
    raise ValueError(kind)


def run_file(kind: str, data: bytes) -> tuple[int, int, str | None]:
    """Extract ``data`` as ``kind``; returns (records, malformed, own error text or None).

    Raises AssertionError (with the input's repr) for anything but kea-etl's own errors.
    """
    with tempfile.TemporaryDirectory(prefix="kea-etl-fuzz-") as d:
        path = Path(d) / "input"
        path.write_bytes(data)
        good = bad = 0
        try:
            with deadline():
                for item in _extract(kind, path):
                    if isinstance(item, MalformedRecordError):
                        assert item.line is None or item.line >= 1
                        assert str(item)
                        bad += 1
                    elif isinstance(item, SourceWarning):  # not translated: no record
                        assert item.line is None or item.line >= 1
                        assert item.statement and item.reason and str(item)
                    else:
                        assert type(item) is Extracted, type(item)
                        good += 1
        except KeaEtlError as exc:
            assert str(exc), "an error without a message"
            return good, bad, str(exc)
        except Hang as exc:
            raise AssertionError(f"{kind}: hang on {data[:300]!r}") from exc
        except Exception as exc:
            raise AssertionError(f"{kind}: {type(exc).__name__}: {exc} on input "
                                 f"{data[:300]!r}") from exc
        return good, bad, None


def save_crash(kind: str, data: bytes, name: str) -> Path:
    """Keep a crashing input as a regression case (used by hand while fuzzing)."""
    d = CORPUS / kind
    d.mkdir(parents=True, exist_ok=True)
    p = d / name
    p.write_bytes(data)
    return p
