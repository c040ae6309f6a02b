"""convert follows dhcpd's own semantics where the KeaMA comparison (test_keama.py) showed kea-etl
wrong: subclass guards, authenticated-client permits, record option definitions, dhcpd's
built-in minimum and per-scope preferred lifetimes, subclass boot settings, ``interface``, and
vendor option spaces (reported, not written as an option-def Kea refuses)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kea_etl.convert import convert


def _v4(tmp_path: Path, text: str) -> tuple[dict[str, Any], list[Any]]:
    conf = tmp_path / "dhcpd.conf"
    conf.write_text(text)
    r = convert(conf)
    assert r.v4 is not None
    return r.v4.config["Dhcp4"], r.v4.findings


def _v6(tmp_path: Path, text: str) -> dict[str, Any]:
    conf = tmp_path / "dhcpd6.conf"
    conf.write_text(text)
    r = convert(None, conf6=conf)
    assert r.v6 is not None
    return dict(r.v6.config["Dhcp6"])


def test_a_match_if_beside_a_subclass_selector_is_a_guard(tmp_path: Path) -> None:
    """server/class.c check_collection: the subclasses are looked up only when the 'match if'
    holds; a client matching the guard but no key is in no class."""
    body, _ = _v4(tmp_path, 'option mysys code 250 = text;\noption myver code 251 = unsigned '
                  'integer 16;\nclass "c" {\n  match if option myver = 0:1;\n  match option '
                  'mysys;\n}\nsubclass "c" "a";\nsubclass "c" "b" { next-server 192.0.2.1; '
                  'filename "b.efi"; }\n')
    classes = {c["name"]: c for c in body["client-classes"]}
    assert classes["c"]["test"] == ("(option[251].hex == 0x0001) and (option[250].hex == 'a' or "
                                    "option[250].hex == 'b')")
    assert classes["c/b"] == {"name": "c/b", "test": "(option[251].hex == 0x0001) and "
                              "(option[250].hex == 'b')", "next-server": "192.0.2.1",
                              "boot-file-name": "b.efi"}


def test_a_guarded_class_without_subclasses_has_no_member(tmp_path: Path) -> None:
    body, findings = _v4(tmp_path, 'class "c" {\n  match if option host-name = "x";\n'
                         '  match option host-name;\n}\n')
    assert body["client-classes"] == [{"name": "c"}]
    assert any(f.line == 1 and "no subclass" in f.message for f in findings)


def test_only_authenticated_clients_means_no_client(tmp_path: Path) -> None:
    """dhcpd never sets packet->authenticated: 'allow authenticated clients' alone and
    'deny unauthenticated clients' close the pool; kea-etl used to leave it open to all."""
    for permit in ("allow authenticated clients", "deny unauthenticated clients"):
        body, findings = _v4(tmp_path, "subnet 10.0.0.0 netmask 255.255.255.0 {\n  pool {\n"
                             f"    range 10.0.0.10 10.0.0.20;\n    {permit};\n  }}\n}}\n")
        pool = body["subnet4"][0]["pools"][0]
        classes = {c["name"]: c for c in body["client-classes"]}
        assert classes[pool["client-class"]]["test"] == "not member('ALL')", permit
    body, _ = _v4(tmp_path, "subnet 10.0.0.0 netmask 255.255.255.0 {\n  pool {\n    range "
                  "10.0.0.10 10.0.0.20;\n    allow unauthenticated clients;\n    deny "
                  "authenticated clients;\n  }\n}\n")
    assert body["subnet4"][0]["pools"] == [{"pool": "10.0.0.10 - 10.0.0.20"}]


def test_record_option_definitions_are_statements_not_blocks(tmp_path: Path) -> None:
    body, findings = _v4(tmp_path, "option space s;\n"
                         "option s.r code 1 = { boolean, unsigned integer 8 };\n"
                         "option s.a code 2 = { unsigned integer 32, array of ip-address };\n"
                         "option s.bad code 3 = { array of unsigned integer 8, text };\n"
                         "option s.r true 7;\n")
    assert body["option-def"] == [
        {"name": "r", "code": 1, "space": "s", "type": "record",
         "record-types": "boolean, uint8"},
        {"name": "a", "code": 2, "space": "s", "type": "record", "record-types": "uint32, "
         "ipv4-address", "array": True}]
    assert body["option-data"] == [{"code": 1, "space": "s", "name": "r", "data": "true, 7"}]
    bad = [f for f in findings if f.severity == "warning"]
    assert [(f.line, f.topic) for f in bad] == [(4, "untranslated")]


def test_dhcpd_builtin_minimum_lease_time_is_written(tmp_path: Path) -> None:
    body, _ = _v4(tmp_path, "default-lease-time 600;\n")
    assert (body["valid-lifetime"], body["min-valid-lifetime"], body["max-valid-lifetime"]) == (
        600, 300, 86400)
    body, findings = _v4(tmp_path, "default-lease-time 60;\n")
    assert (body["valid-lifetime"], body["min-valid-lifetime"]) == (60, 60)
    assert any(f.topic == "lease-times" and f.severity == "warning" for f in findings)


def test_v6_preferred_lifetime_is_derived_per_scope(tmp_path: Path) -> None:
    """server/dhcpv6.c: without preferred-lifetime, dhcpd sends 5/8 of the valid lifetime of
    the client's scope; the global value kea-etl wrote was inherited by subnets with their own
    default-lease-time."""
    body = _v6(tmp_path, "default-lease-time 1800;\n"
               "subnet6 2001:db8:1::/64 { default-lease-time 3600; }\n"
               "subnet6 2001:db8:2::/64 { }\n"
               "subnet6 2001:db8:3::/64 { default-lease-time 3600; preferred-lifetime 1000; }\n")
    subs = {s["subnet"]: s for s in body["subnet6"]}
    assert body["preferred-lifetime"] == 1125
    assert subs["2001:db8:1::/64"]["preferred-lifetime"] == 2250
    assert "preferred-lifetime" not in subs["2001:db8:2::/64"]
    assert subs["2001:db8:3::/64"]["preferred-lifetime"] == 1000
    body = _v6(tmp_path, "preferred-lifetime 2000;\n"
               "subnet6 2001:db8:1::/64 { default-lease-time 1800; }\n")
    assert body["subnet6"][0]["preferred-lifetime"] == 1800  # Kea refuses more than valid


def test_interface_of_a_subnet_and_a_shared_network(tmp_path: Path) -> None:
    body, findings = _v4(tmp_path, 'shared-network "n" {\n  interface "eth1";\n'
                         '  subnet 10.0.0.0 netmask 255.255.255.0 { interface "eth1"; }\n}\n')
    net = body["shared-networks"][0]
    assert net["interface"] == "eth1" and net["subnet4"][0]["interface"] == "eth1"
    assert body["interfaces-config"] == {"interfaces": []}
    assert not [f for f in findings if f.topic == "untranslated"]


def test_a_vendor_option_space_is_reported_not_written_as_a_bad_option_def(
        tmp_path: Path) -> None:
    body, findings = _v4(tmp_path, "option space foo;\n"
                         "option vendor.foo code 12345 = encapsulate foo;\n"
                         "option foo.t code 1 = text;\n")
    assert [d["space"] for d in body["option-def"]] == ["foo"]
    [f] = [f for f in findings if f.topic == "untranslated"]
    assert f.line == 2 and f.kea == "option-def space vendor-12345"


def test_statements_of_a_group_of_subclasses_are_reported(tmp_path: Path) -> None:
    """They apply to the subclasses in dhcpd; they used to vanish without a finding."""
    body, findings = _v4(tmp_path, 'class "c" { match option host-name; }\n'
                         'group {\n  next-server 192.0.2.1;\n  subclass "c" "a";\n}\n')
    assert body["client-classes"][0]["test"] == "option[12].hex == 'a'"
    assert [(f.line, f.topic) for f in findings if f.severity == "warning"] == [
        (3, "untranslated")]
