"""Regression inputs found by fuzzing (tests/fuzz/corpus/): each must now end in records,
MalformedRecordError items or one of kea-etl's own errors, never a crash or a hang.

Layout: ``corpus/<kind>/<file>`` with kind one of isc-leases, isc-leases6, isc-conf, csv,
kea-memfile (the file is the input), and ``corpus/kea-reply/*.json`` =
``{"parse": "lease4" | "lease6" | "host4" | "host6" | "reply", "data": ...}``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kea_etl.errors import KeaEtlError
from kea_etl.kea.client import decode_reply
from kea_etl.kea.transports import unwrap_reply
from kea_etl.records import Lease4, Lease6, Reservation
from tests.fuzz._harness import CORPUS, KINDS, deadline, run_file

FILES = sorted(p for k in KINDS for p in (CORPUS / k).glob("*") if p.is_file())
REPLIES = sorted((CORPUS / "kea-reply").glob("*.json"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_file(path: Path) -> None:
    run_file(path.parent.name, path.read_bytes())


@pytest.mark.parametrize("path", REPLIES, ids=lambda p: p.name)
def test_corpus_kea_reply(path: Path) -> None:
    case = json.loads(path.read_text())
    data, parse = case["data"], case["parse"]
    try:
        with deadline():
            if parse == "lease4":
                Lease4.from_kea(data)
            elif parse == "lease6":
                Lease6.from_kea(data)
            elif parse in ("host4", "host6"):
                Reservation.from_kea(data, family=4 if parse == "host4" else 6)
            else:
                decode_reply("lease4-get", unwrap_reply(data, "unix:///x", "lease4-get"))
    except KeaEtlError as exc:
        assert str(exc)


def test_corpus_is_not_empty() -> None:
    assert REPLIES, "the corpus lost its regression inputs"
