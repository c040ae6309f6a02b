"""dhcpd ``match`` expressions -> Kea test expressions (kea_etl.convert.expr). What Kea makes of the
translations is checked by tests/convert/test_convert_real.py (kea-dhcp4 -t on site2)."""

from __future__ import annotations

import io

import pytest

from kea_etl.convert import expr
from kea_etl.extract.isc_conf import _tokenize


def toks(text: str) -> list:  # type: ignore[type-arg]
    return [t for t in _tokenize(io.StringIO(text), "t.conf") if not isinstance(t, Exception)]


@pytest.mark.parametrize(("dhcpd", "kea"), [
    ('substring(option vendor-class-identifier, 0, 9) = "PXEClient"',
     "substring(option[60].hex, 0, 9) == 'PXEClient'"),
    ("option arch = 00:07 or option arch = 00:09",
     "option[93].hex == 0x0007 or option[93].hex == 0x0009"),
    ('exists user-class and not option user-class = "x"',
     "option[77].exists and not option[77].hex == 'x'"),
    ("not (substring(hardware, 1, 3) = 00:1b:54)", "not (substring(pkt4.mac, 0, 3) == 0x001B54)"),
    ("hardware = 1:52:54:00:00:00:01", "pkt4.mac == 0x525400000001"),
    ('option agent.circuit-id = "eth0"', "relay4[1].hex == 'eth0'"),
    ('suffix(option host-name, 4) != ".lab"', "not (substring(option[12].hex, -4, all) == '.lab')"),
    ('known or option dhcp-client-identifier = "it\'s"',
     "member('KNOWN') or option[61].hex == 0x69742773"),
    ('concat(option host-name, "x") = "hx"', "concat(option[12].hex, 'x') == 'hx'"),
])
def test_translates(dhcpd: str, kea: str) -> None:
    assert expr.translate(toks(dhcpd), user_options={"arch": ("dhcp4", 93)}) == kea


@pytest.mark.parametrize(("dhcpd", "why"), [
    ('binary-to-ascii(16, 8, ":", hardware) = "1"', "binary-to-ascii"),
    ("substring(hardware, 0, 1) = 01", "type byte"),
    ('option no-such-option = "x"', "unknown to kea-etl"),
    ('option dhcp6.client-id = 00:01', "space dhcp6"),
    ('option host-name ~= "x"', "unsupported operator"),
    ("hardware = 6:00:11:22:33:44:55", "ethernet"),
])
def test_untranslatable_says_why(dhcpd: str, why: str) -> None:
    with pytest.raises(expr.Untranslatable, match=why):
        expr.translate(toks(dhcpd))


def test_literal_falls_back_to_hex() -> None:
    assert expr.literal(b"abc") == "'abc'"
    assert expr.literal(b"a'b") == "0x612762"
    assert expr.literal(b"\x00\x01") == "0x0001"
    assert expr.hardware_key("1:52:54:00:aa:00:01") == bytes.fromhex("525400aa0001")
    assert expr.hardware_key("6:52:54") is None
