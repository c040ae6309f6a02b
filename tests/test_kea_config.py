"""kea_etl.kea_config: the one reader of a Kea configuration's subnets, pools and pd-pools."""

from __future__ import annotations

from ipaddress import IPv6Network, ip_network
from typing import Any

import pytest

from kea_etl.errors import ConfigError
from kea_etl.kea_config import PdPool, raw_subnets, sections, subnets

CONFIG: dict[str, Any] = {
    "Dhcp4": {"subnet4": [{"id": 1, "subnet": "192.0.2.0/24",
                           "pools": [{"pool": "192.0.2.10 - 192.0.2.19"},
                                     {"pool": "192.0.2.128/26", "pool-id": 7}]}],
              "shared-networks": [{"name": "lan", "subnet4": [
                  {"id": 2, "subnet": "198.51.100.0/24"}]}]},
    "Dhcp6": {"shared-networks": [{"name": "v6", "subnet6": [
        {"id": 3, "subnet": "2001:db8:1::/64",
         "pd-pools": [{"prefix": "2001:db8:8::", "prefix-len": 56, "delegated-len": 64}]}]}]},
}


def test_subnets_of_both_families_shared_networks_flattened() -> None:
    got = subnets(CONFIG)
    assert [(s.family, s.id, s.prefix, s.shared_network) for s in got] == [
        (4, 1, ip_network("192.0.2.0/24"), None), (4, 2, ip_network("198.51.100.0/24"), "lan"),
        (6, 3, ip_network("2001:db8:1::/64"), "v6")]
    pools = got[0].pools
    assert [(p.text, p.size, p.pool_id) for p in pools] == [
        ("192.0.2.10 - 192.0.2.19", 10, 0), ("192.0.2.128/26", 64, 7)]
    assert got[2].pd_pools == (PdPool(IPv6Network("2001:db8:8::/56"), 64),)
    assert got[2].pd_pools[0].size == 256


def test_a_config_get_answer_reads_like_a_file() -> None:
    assert subnets({"result": 0, "arguments": CONFIG}) == subnets(CONFIG)
    assert set(sections({"arguments": CONFIG})) == {4, 6}


def test_raw_subnets_are_the_sections_own_objects() -> None:
    section = CONFIG["Dhcp4"]
    pairs = list(raw_subnets(section, 4))
    assert pairs[0] == (section["subnet4"][0], None)
    assert pairs[1][1] is section["shared-networks"][0]


@pytest.mark.parametrize(("subnet", "message"), [
    ({"id": 1, "subnet": "192.0.2.0/24", "pools": [{"pool": "192.0.2.9 - 192.0.2.1"}]},
     r"subnet '192.0.2.0/24': pool .* is not 'FIRST - LAST'"),
    ({"id": 1, "subnet": "192.0.2.0/24", "pools": [{"pool": "2001:db8::/64"}]},
     "a prefix of IPv4 addresses"),
    ({"subnet": "192.0.2.0/24"}, "no valid 'id' \\(no 'id'"),
    ({"id": 0, "subnet": "192.0.2.0/24"}, "'id' 0 is not 1..4294967294"),
    ({"id": 1, "subnet": "2001:db8::/64"}, "an IPv6 prefix in the Dhcp4 section"),
    ({"id": 1, "subnet": "192.0.2.0/24", "pools": "x"}, "'pools' must be a list of objects"),
])
def test_errors_name_the_subnet(subnet: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        subnets({"Dhcp4": {"subnet4": [subnet]}}, origin="kea.json")


def test_pd_pool_needs_its_lengths() -> None:
    with pytest.raises(ConfigError, match="pd-pool .* needs prefix, prefix-len and delegated-len"):
        subnets({"Dhcp6": {"subnet6": [{"id": 1, "subnet": "2001:db8::/48", "pd-pools": [
            {"prefix": "2001:db8:8::", "prefix-len": 56}]}]}})


def test_required_section() -> None:
    assert subnets({"Control-agent": {}}) == []
    with pytest.raises(ConfigError, match="no Dhcp4 or Dhcp6 section"):
        subnets({"Control-agent": {}}, required=True)
    with pytest.raises(ConfigError, match="no Dhcp4 or Dhcp6 section .is this"):
        subnets({"Dhcp-ddns": {}}, required=True)


def test_a_control_agents_config_asks_for_service() -> None:
    """config-get sent to kea-ctrl-agent without a service gets the agent's own configuration."""
    agent = {"Control-agent": {"control-sockets": {"dhcp4": {}, "d2": {}}}}
    with pytest.raises(ConfigError) as ei:
        subnets(agent, origin="config-get of http://127.0.0.1:8000", required=True)
    assert str(ei.value) == (
        "config-get of http://127.0.0.1:8000: no Dhcp4 or Dhcp6 section: this is "
        "kea-ctrl-agent's own configuration; name the DHCP daemon behind it with --service "
        "dhcp4")
