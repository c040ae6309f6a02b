"""Fuzzing the input parsers (hypothesis): dhcpd.leases, dhcpd6.leases, dhcpd.conf, CSV and
Kea memfile CSV. Inputs are mutations of real-looking files (tokens spliced, cut, duplicated,
bytes flipped) plus raw random bytes. See _harness.py for what counts as a failure.

CI: ``EXAMPLES`` (60) per target; ``make soak`` runs 2000. Crashes found are kept in
tests/fuzz/corpus/ and replayed by test_corpus.py.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz._harness import EXAMPLES, run_file

DATA = Path(__file__).resolve().parent.parent / "extract" / "data"
CONF = Path(__file__).resolve().parent.parent / "extract" / "data_conf"


def _seed(*paths: Path) -> list[bytes]:
    return [p.read_bytes() for p in paths if p.is_file()]


SEEDS = {
    "isc-leases": _seed(*sorted(DATA.glob("v4-*.leases"))),
    "isc-leases6": _seed(*sorted(DATA.glob("v6-*.leases"))),
    "isc-conf": _seed(CONF / "dhcpd.conf", CONF / "dhcpd6.conf", CONF / "broken.conf"),
    "csv": _seed(*sorted((CONF / "csv").glob("*.csv"))),
    "kea-memfile": [
        b"address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,"
        b"state,user_context\n192.0.2.10,02:00:00:00:00:01,01:02,3600,1900000000,1,0,0,"
        b"host&#x2cname,0,{ \"a\": 1 }\n192.0.2.11,02:00:00:00:00:02,,0,1900000000,1,1,1,h,1,\n",
        b"address,duid,valid_lifetime,expire,subnet_id,pref_lifetime,lease_type,iaid,prefix_len,"
        b"fqdn_fwd,fqdn_rev,hostname,hwaddr,state,user_context,hwtype,hwaddr_source\n"
        b"2001:db8:1::1000,00:01:02:03,3600,1900000000,1,3000,0,7,128,0,0,,,0,,,\n"
        b"2001:db8:8000::,00:01:02:03,3600,1900000000,1,3000,2,8,56,0,0,,,0,,,\n",
    ],
}

_TOKENS = [b"{", b"}", b";", b"\"", b"\\", b"\n", b"lease ", b"ia-na ", b"ia-pd ", b"iaaddr ",
           b"iaprefix ", b"host ", b"subnet ", b"group {", b"include \"x\";", b"ends never;",
           b"epoch 99999999999999999999;", b"binding state active;", b"hardware ethernet ",
           b"uid \"\\377\\000\";", b"/129", b"/-1", b"::", b"999.1.1.1", b",", b"&#x", b"\r\n",
           b"\x00", b"\xff\xfe", b"# ", b"on expiry {", b"set x = \"", b"fixed-address6 ",
           b"2001:db8::/200", b"1 2026/13/45 25:61:61;", b"option agent.circuit-id ", b"0x",
           b"18446744073709551616", b"-1", b"NaN", b"\"\"\"", b"}}}}", b"{{{{"]


@st.composite
def mutated(draw: st.DrawFn, kind: str) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS[kind])))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.integers(0, 4))
        pos = draw(st.integers(0, len(data)))
        if op == 0:  # splice a token
            data[pos:pos] = draw(st.sampled_from(_TOKENS))
        elif op == 1:  # cut a span
            data[pos:pos + draw(st.integers(1, 200))] = b""
        elif op == 2:  # flip a byte
            if data:
                data[min(pos, len(data) - 1)] = draw(st.integers(0, 255))
        elif op == 3:  # duplicate a span
            data[pos:pos] = data[pos:pos + draw(st.integers(1, 300))]
        else:  # random bytes
            data[pos:pos] = draw(st.binary(max_size=20))
    if draw(st.integers(0, 9)) == 0:
        data = data[: draw(st.integers(0, len(data)))]  # truncated copy
    return bytes(data)


FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(mutated("isc-leases"))
def test_fuzz_dhcpd_leases(data: bytes) -> None:
    run_file("isc-leases", data)


@FUZZ
@given(mutated("isc-leases6"))
def test_fuzz_dhcpd6_leases(data: bytes) -> None:
    run_file("isc-leases6", data)


@FUZZ
@given(mutated("isc-conf"))
def test_fuzz_dhcpd_conf(data: bytes) -> None:
    run_file("isc-conf", data)


@FUZZ
@given(mutated("csv"))
def test_fuzz_csv(data: bytes) -> None:
    run_file("csv", data)


@FUZZ
@given(mutated("kea-memfile"))
def test_fuzz_kea_memfile(data: bytes) -> None:
    run_file("kea-memfile", data)


@FUZZ
@given(st.sampled_from(["isc-leases", "isc-conf", "csv", "kea-memfile"]), st.binary(max_size=600))
def test_fuzz_raw_bytes(kind: str, data: bytes) -> None:
    run_file(kind, data)
