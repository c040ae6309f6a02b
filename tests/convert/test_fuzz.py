"""convert and check never crash on odd input: random dhcpd.conf-like files built from the
keywords the converter handles, with values of the wrong kind, missing or extra; every problem
must come back as a finding (file and line), not as an exception."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kea_etl.convert import convert
from kea_etl.convert.check import check

KEYWORDS = ["default-lease-time", "max-lease-time", "min-lease-time", "preferred-lifetime",
            "authoritative", "not", "next-server", "filename", "server-name", "ignore-client-uids",
            "one-lease-per-client", "get-lease-hostnames", "ping-check", "ddns-update-style",
            "ddns-updates", "ddns-domainname", "ddns-rev-domainname", "dhcp-cache-threshold",
            "allow", "deny", "ignore", "option", "range", "range6", "prefix6", "failover",
            "subclass", "match", "primary", "secondary", "address", "peer", "split", "mclt",
            "max-response-delay", "max-unacked-updates", "host-identifier", "hardware",
            "fixed-address", "fixed-address6", "fixed-prefix6", "log-facility", "use-host-decl-names"]
VALUES = ["1", "0", "-5", "99999999999", "abc", '"q"', '""', "10.0.0.5", "10.0.0.0", "::1",
          "2001:db8::/64", "/56", "on", "off", "true", "unknown-clients", "members", "of",
          '"c"', "interim", "standard", "none", "ethernet", "00:11:22:33:44:55", "1:52:54:00:00:00:01",
          "code", "=", "ip-address", "array", "text", "domain-name-servers", "routers", "arch",
          "substring", "(", ")", ",", "hardware", "exists", "and", "or", "if", "peer", "split"]
HEADS = ["subnet 10.0.0.0 netmask 255.255.255.0", "subnet 10.0.0.0 netmask 255.0.255.0",
         "subnet6 2001:db8::/64", "shared-network s", "group", "pool", "pool6", "host h",
         'class "c"', 'subclass "c" 1:52:54:00:00:00:01', 'failover peer "p"', "if exists x",
         "key k", "zone z."]

stmt = st.builds(lambda k, vs: " ".join([k, *vs]) + ";", st.sampled_from(KEYWORDS),
                 st.lists(st.sampled_from(VALUES), max_size=5))
body: Any = st.recursive(
    st.lists(stmt, max_size=4).map("\n".join),
    lambda inner: st.lists(st.one_of(stmt, st.builds(lambda h, b: f"{h} {{\n{b}\n}}",
                                                      st.sampled_from(HEADS), inner)),
                           max_size=4).map("\n".join),
    max_leaves=20)


# closer to real files: one subnet with ranges, pools, permits, hosts, classes and lease times
# that may contradict each other (overlapping ranges, a max below an inherited default ...)
_ip = st.integers(1, 60).map(lambda n: f"10.0.0.{n}")
_stmt = st.one_of(
    st.builds(lambda a, b: f"range {a} {b};", _ip, _ip),
    st.sampled_from(["deny unknown-clients;", "allow known-clients;", 'allow members of "c";',
                     'deny members of "c";', "allow unknown-clients;", "default-lease-time 600;",
                     "max-lease-time 300;", "min-lease-time 900;", "option routers 10.0.0.1;",
                     'option domain-name "x";', "authoritative;", "ignore-client-uids true;",
                     'filename "f";', "next-server 10.0.0.2;", "option tftp150 10.0.0.3;",
                     "option arch 00:07;", "ddns-update-style interim;", 'ddns-domainname "d.";']))
_pool = st.lists(_stmt, max_size=4).map(lambda ss: "pool {\n" + "\n".join(ss) + "\n}")
_host = st.builds(lambda n, a: f"host h{n} {{ hardware ethernet 52:54:00:00:00:{n:02x}; "
                  f"fixed-address {a}; }}", st.integers(1, 5), _ip)
_subnet = st.lists(st.one_of(_stmt, _pool, _host), max_size=6).map(
    lambda ss: "subnet 10.0.0.0 netmask 255.255.255.0 {\n" + "\n".join(ss) + "\n}")
realistic = st.lists(st.one_of(_stmt, _subnet, _host, st.just(
    'class "c" { match if option arch = 00:07; default-lease-time 100; }')), max_size=6).map(
    lambda ss: ("option tftp150 code 150 = array of ip-address;\n"
                "option arch code 93 = unsigned integer 16;\n" + "\n".join(ss)))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=st.one_of(body, realistic), v6=st.booleans())
def test_convert_and_check_never_crash(text: str, v6: bool, tmp_path_factory: Any) -> None:
    conf = tmp_path_factory.mktemp("fz") / "d.conf"
    conf.write_text(text + "\n")
    result = convert(None, conf6=conf) if v6 else convert(conf)
    for r in result.families():
        json.dumps(r.config)
    json.dumps(result.to_json())
    for f in result.all_findings():
        assert f.file is None or f.line is not None or f.topic in ("family", "subnet-ids")
    json.dumps(check(conf, family=6 if v6 else 4).to_json())
