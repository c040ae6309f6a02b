"""Property: records -> memfile CSV (kea_etl.load.memfile) -> a REAL Kea loads the same records.

One Kea 2.x for the whole hypothesis run; each example's file replaces the server's memfile and
``config-reload`` makes Kea open it again (a fresh lease manager reads the file; no restart).
Kea skips a row it cannot read with only a log line, so the check is lease by lease:
lease4-get-all / lease6-get-all must give back exactly the generated records.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kea_etl.load.memfile import MemfileLoader
from kea_etl.records import Lease4, Lease6
from kea_etl.report import RunReport
from tests.fuzz._harness import SOAK

pytestmark = pytest.mark.kea

PROP = settings(max_examples=300 if SOAK else 30, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FUTURE = 1_900_000_000

# hostnames as DHCP clients send them, plus the characters the memfile must escape
# (non-ASCII hostnames: see test_non_ascii_hostname_reads_back_the_same)
hostnames = st.text(alphabet=st.sampled_from(list("abcxyz019-.") + [",", "&", "#", ";", "x"]),
                    max_size=30)
contexts = st.none() | st.fixed_dictionaries({"comment": st.text(
    alphabet=st.sampled_from(list("ab ,&\"{}é")), max_size=12)})


@st.composite
def leases4(draw: st.DrawFn) -> list[Lease4]:
    hosts = draw(st.lists(st.integers(1, 254), unique=True, min_size=1, max_size=25))
    out = []
    for h in hosts:
        valid = draw(st.sampled_from([1, 3600, 86400, 4294967295]))
        out.append(Lease4(
            address=f"192.0.2.{h}",
            hwaddr=draw(st.binary(min_size=6, max_size=6)).hex(":"),
            client_id=draw(st.none() | st.binary(min_size=2, max_size=32).map(lambda b: b.hex(":"))),
            valid_lft=valid, cltt=FUTURE - (0 if valid == 4294967295 else valid // 2),
            subnet_id=1, hostname=(host := draw(hostnames)),
            fqdn_fwd=bool(host) and draw(st.booleans()), fqdn_rev=bool(host) and draw(st.booleans()),
            state=draw(st.sampled_from([0, 1])), user_context=draw(contexts)))
    return out


@st.composite
def leases6(draw: st.DrawFn) -> list[Lease6]:
    n = draw(st.lists(st.integers(0x1000, 0xFFFF), unique=True, min_size=1, max_size=15))
    p = draw(st.lists(st.integers(0, 255), unique=True, max_size=8))
    out: list[Lease6] = []
    for a in n:
        out.append(Lease6(address=f"2001:db8:1::{a:x}", lease_type="IA_NA", prefix_len=128,
                          duid=draw(st.binary(min_size=3, max_size=40)).hex(":"),
                          iaid=draw(st.integers(0, 2**32 - 1)), valid_lft=7200,
                          preferred_lft=3600, cltt=FUTURE, subnet_id=1,
                          hostname=draw(hostnames), user_context=draw(contexts)))
    for i in p:
        out.append(Lease6(address=f"2001:db8:80{i:02x}::", lease_type="IA_PD", prefix_len=56,
                          duid=draw(st.binary(min_size=3, max_size=40)).hex(":"),
                          iaid=draw(st.integers(0, 2**32 - 1)), valid_lft=7200,
                          preferred_lft=3600, cltt=FUTURE, subnet_id=1))
    return out


def _load_into(srv: Any, tmp: Path, records: list[Any]) -> list[Any]:
    out = tmp / "out"
    shutil.rmtree(out, ignore_errors=True)
    loader = MemfileLoader(out)
    loader.load(iter(records), RunReport())
    loader.commit()
    name = "kea-leases4.csv" if srv.family == 4 else "kea-leases6.csv"
    shutil.copyfile(out / name, srv.lease_file)
    r = srv.command("config-reload")
    assert r["result"] == 0, r
    got = srv.command(f"lease{srv.family}-get-all")
    return list((got.get("arguments") or {}).get("leases", []))


def test_memfile_v4_round_trips_through_real_kea(kea_factory: Any, tmp_path: Path) -> None:
    srv = kea_factory(family=4)

    @PROP
    @given(leases4())
    def check(records: list[Lease4]) -> None:
        held = {Lease4.from_kea(x) for x in _load_into(srv, tmp_path, records)}
        want = set(records)
        assert held == want, (sorted(map(repr, want - held)), sorted(map(repr, held - want)))

    check()


def test_memfile_v6_round_trips_through_real_kea(kea_factory: Any, tmp_path: Path) -> None:
    srv = kea_factory(family=6)

    @PROP
    @given(leases6())
    def check(records: list[Lease6]) -> None:
        held = {Lease6.from_kea(x) for x in _load_into(srv, tmp_path, records)}
        want = set(records)
        assert held == want, (sorted(map(repr, want - held)), sorted(map(repr, held - want)))

    check()


def test_non_ascii_hostname_reads_back_the_same(kea_factory: Any, tmp_path: Path) -> None:
    srv = kea_factory(family=4)
    rec = Lease4(address="192.0.2.9", hwaddr="02:00:00:00:00:09", valid_lft=3600,
                 cltt=FUTURE, subnet_id=1, hostname="café")
    [held] = _load_into(srv, tmp_path, [rec])
    assert Lease4.from_kea(held).hostname == "café"
    # the API path stores the same bytes (the client sends UTF-8, not \u escapes)
    from kea_etl.kea import KeaClient

    with KeaClient.from_url(srv.socket_url) as c:
        c.lease4_add(Lease4(address="192.0.2.10", hwaddr="02:00:00:00:00:0a", valid_lft=3600,
                            cltt=FUTURE, subnet_id=1, hostname="café").to_kea_args())
        via_api = c.lease4_get("192.0.2.10")
    assert via_api is not None and via_api["hostname"] == held["hostname"]
    assert Lease4.from_kea(via_api).hostname == "café"
