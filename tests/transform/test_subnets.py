"""SubnetMap: subnet ids from a Kea configuration (containment, pd-pools, shared networks)."""

from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest

from kea_etl.errors import ConfigError
from kea_etl.transform.subnets import SubnetMap, load_kea_config, strip_json_comments

CONFIG4 = {
    "Dhcp4": {
        "subnet4": [
            {"id": 1, "subnet": "192.0.2.0/24", "pools": [{"pool": "192.0.2.10 - 192.0.2.250"}]},
            {"id": 7, "subnet": "10.0.0.0/8"},
            {"id": 8, "subnet": "10.1.0.0/16"},
        ],
        "shared-networks": [
            {"name": "link", "subnet4": [{"id": 20, "subnet": "198.51.100.0/25"},
                                         {"id": 21, "subnet": "198.51.100.128/25"}]},
        ],
    }
}
CONFIG6 = {
    "Dhcp6": {
        "subnet6": [
            {"id": 1, "subnet": "2001:db8:1::/64",
             "pd-pools": [{"prefix": "2001:db8:8000::", "prefix-len": 40, "delegated-len": 56}]},
        ],
        "shared-networks": [
            {"name": "net6", "subnet6": [
                {"id": 2, "subnet": "2001:db8:2::/64",
                 "pd-pools": [{"prefix": "2001:db8:9000::", "prefix-len": 36,
                               "delegated-len": 60}]}]},
        ],
    }
}


def test_v4_containment_outside_pools_and_longest_prefix() -> None:
    m = SubnetMap.from_config(CONFIG4)
    assert m.subnet4_id(IPv4Address("192.0.2.10")) == 1
    assert m.subnet4_id(IPv4Address("192.0.2.3")) == 1  # outside the pool, inside the subnet
    assert m.subnet4_id(IPv4Address("10.1.2.3")) == 8  # nested subnet: the longest prefix
    assert m.subnet4_id(IPv4Address("10.2.2.3")) == 7
    assert m.subnet4_id(IPv4Address("203.0.113.1")) is None


def test_shared_network_subnets_count() -> None:
    m = SubnetMap.from_config(CONFIG4)
    assert m.subnet4_id(IPv4Address("198.51.100.5")) == 20
    assert m.subnet4_id(IPv4Address("198.51.100.200")) == 21
    assert m.subnet(4, 21) is not None and m.subnet(4, 21).shared_network == "link"


def test_v6_addresses_and_pd_pools() -> None:
    m = SubnetMap.from_config(CONFIG6)
    assert m.subnet6_id(IPv6Address("2001:db8:1::1234")) == 1
    assert m.subnet6_id(IPv6Address("2001:db8:3::1")) is None
    # delegated prefixes: by pd-pool, not by subnet prefix
    assert m.pd_subnet_id(IPv6Address("2001:db8:80ab:cd00::"), 56) == 1
    assert m.pd_subnet_id(IPv6Address("2001:db8:9abc:de00::"), 60) == 2  # in a shared network
    assert m.pd_subnet_id(IPv6Address("2001:db8:1::"), 64) is None  # subnet prefix, no pd-pool
    # a prefix shorter than the pool itself is not inside the pool
    assert m.pd_subnet_id(IPv6Address("2001:db8:8000::"), 32) is None


def test_config_get_answer_and_both_families() -> None:
    m = SubnetMap.from_config({"result": 0, "arguments": {**CONFIG4, "hash": "x"}})
    m.add_config(CONFIG6, origin="six.json")
    assert m.has_family(4) and m.has_family(6)
    assert len(m) == 7


def test_errors_are_clear() -> None:
    with pytest.raises(ConfigError, match="no Dhcp4 or Dhcp6 section"):
        SubnetMap.from_config({"Control-agent": {}})
    with pytest.raises(ConfigError, match="no valid 'id'"):
        SubnetMap.from_config({"Dhcp4": {"subnet4": [{"subnet": "192.0.2.0/24"}]}})
    with pytest.raises(ConfigError, match="id 1 is used by subnet 192.0.2.0/24"):
        SubnetMap.from_config({"Dhcp4": {"subnet4": [{"id": 1, "subnet": "192.0.2.0/24"},
                                                     {"id": 1, "subnet": "192.0.3.0/24"}]}})
    with pytest.raises(ConfigError, match="same prefix as subnet id 1"):
        SubnetMap.from_config({"Dhcp4": {"subnet4": [{"id": 1, "subnet": "192.0.2.0/24"},
                                                     {"id": 2, "subnet": "192.0.2.0/24"}]}})
    with pytest.raises(ConfigError, match="IPv6 prefix in the Dhcp4 section"):
        SubnetMap.from_config({"Dhcp4": {"subnet4": [{"id": 1, "subnet": "2001:db8::/64"}]}})
    m = SubnetMap.from_config(CONFIG4)
    with pytest.raises(ConfigError, match="Dhcp4 section was already given"):
        m.add_config(CONFIG4, origin="again.json")


def test_strip_comments_not_inside_strings() -> None:
    text = """{
  // line comment
  "a": "http://x/#not-a-comment", # hash comment
  /* block
     comment */ "b": "/* kept */ // kept",
  "c": "esc \\" # still string"
}"""
    cleaned = strip_json_comments(text)
    assert json.loads(cleaned) == {"a": "http://x/#not-a-comment", "b": "/* kept */ // kept",
                                   "c": 'esc " # still string'}
    assert cleaned.count("\n") == text.count("\n")  # error positions keep their lines


def test_load_kea_config_file_with_comments(tmp_path: Path) -> None:
    p = tmp_path / "kea.json"
    p.write_text('# Kea config\n{"Dhcp4": {"subnet4": [ // ids matter\n'
                 '{"id": 3, "subnet": "192.0.2.0/24"}]}}\n')
    m = SubnetMap.from_files([p])
    assert m.subnet4_id(IPv4Address("192.0.2.1")) == 3
    bad = tmp_path / "bad.json"
    bad.write_text('{"Dhcp4": {\n"subnet4": [,]}}')
    with pytest.raises(ConfigError, match=r"bad.json line 2 column \d+: not valid JSON"):
        load_kea_config(bad)
    with pytest.raises(ConfigError, match="cannot read Kea config"):
        load_kea_config(tmp_path / "missing.json")


def test_sample_data_configs() -> None:
    root = Path(__file__).resolve().parents[2] / "sample-data"
    m = SubnetMap.from_files([root / "kea-dhcp4.json", root / "kea-dhcp6.json"])
    assert m.subnet4_id(IPv4Address("10.100.1.1")) == 2
    assert m.subnet4_id(IPv4Address("10.99.0.7")) == 1
    assert m.pd_subnet_id(IPv6Address("2001:db8:200:f700::"), 56) == 1


def test_subnet4_ids_of_an_array_equal_one_by_one() -> None:
    """The vectorised lookup (reconcile's policy in columns) is the same longest-prefix match."""
    import numpy as np

    smap = SubnetMap.from_config({"Dhcp4": {"subnet4": [
        {"id": 1, "subnet": "10.0.0.0/8"}, {"id": 2, "subnet": "10.1.0.0/16"},
        {"id": 3, "subnet": "10.1.2.0/24"}, {"id": 4, "subnet": "192.0.2.0/24"}]}})
    addrs = ["10.0.0.1", "10.1.0.1", "10.1.2.3", "10.1.3.255", "192.0.2.9", "192.0.3.1",
             "0.0.0.0", "255.255.255.255", "11.0.0.0"]
    ids, found = smap.subnet4_ids(np.array([int(IPv4Address(a)) for a in addrs], dtype=np.uint64))
    one_by_one = [smap.subnet4_id(IPv4Address(a)) for a in addrs]
    assert [int(i) if f else None for i, f in zip(ids, found, strict=True)] == one_by_one
    assert one_by_one == [1, 2, 3, 2, 4, None, None, None, None]
