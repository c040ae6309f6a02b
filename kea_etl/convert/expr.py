"""dhcpd's ``match if`` expressions (dhcp-eval(5)) -> Kea client-class ``test`` expressions.

What translates (everything else raises :class:`Untranslatable` with the reason, which the
converter reports with the statement's file and line):

==================================================  ===========================================
dhcpd                                               Kea
==================================================  ===========================================
``A = B`` / ``A != B``                              ``A == B`` / ``not (A == B)``
``and`` / ``or`` / ``not`` / ``( )``                the same (dhcpd and Kea both bind ``not``
                                                    tighter than ``and``, ``and`` tighter than
                                                    ``or``)
``exists NAME``                                     ``option[CODE].exists``
``known``                                           ``member('KNOWN')``
``option NAME``                                     ``option[CODE].hex`` (raw bytes, as dhcpd
                                                    compares data strings)
``option agent.circuit-id`` / ``agent.remote-id``   ``relay4[1].hex`` / ``relay4[2].hex``
``substring(D, OFF, LEN)`` / ``suffix(D, LEN)``     ``substring(D, OFF, LEN)`` /
                                                    ``substring(D, -LEN, all)``
``substring(hardware, 1, LEN)``                     ``substring(pkt4.mac, 0, LEN)``: dhcpd's
                                                    ``hardware`` is the type byte followed by the
                                                    address, Kea's ``pkt4.mac`` the address only
``hardware = 1:MAC``                                ``pkt4.mac == 0xMAC`` (ethernet only)
``concat(A, B)``                                    ``concat(A, B)``
``"text"`` / ``01:02:03``                           ``'text'`` (``0x...`` when it holds a quote,
                                                    a backslash or a non-printable byte) /
                                                    ``0x010203``
==================================================  ===========================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kea_etl import dhcp_options
from kea_etl.extract.isc_conf import _Tok

__all__ = ["EXTRA_CODES", "Untranslatable", "hardware_key", "literal", "option_code", "translate"]


class Untranslatable(ValueError):
    """The expression (or a part of it) has no Kea equivalent kea-etl writes."""


#: options that do not carry configuration (so are not in the option table) but that classes
#: match on: dhcpd name -> (space, code)
EXTRA_CODES: dict[str, tuple[str, int]] = {
    "host-name": ("dhcp4", 12),
    "dhcp-requested-address": ("dhcp4", 50),
    "dhcp-message-type": ("dhcp4", 53),
    "dhcp-parameter-request-list": ("dhcp4", 55),
    "vendor-class-identifier": ("dhcp4", 60),
    "dhcp-client-identifier": ("dhcp4", 61),
    "user-class": ("dhcp4", 77),
    "fqdn": ("dhcp4", 81),
    "client-fqdn": ("dhcp4", 81),
    "pxe-system-type": ("dhcp4", 93),
    "dhcp6.client-id": ("dhcp6", 1),
    "dhcp6.server-id": ("dhcp6", 2),
    "dhcp6.user-class": ("dhcp6", 15),
    "dhcp6.vendor-class": ("dhcp6", 16),
    "dhcp6.client-arch-type": ("dhcp6", 61),
}
_RELAY4 = {"agent.circuit-id": 1, "agent.remote-id": 2}


def option_code(name: str, user: Mapping[str, tuple[str, int]]) -> tuple[str, int] | None:
    """(space, code) of a dhcpd option name: user definitions first, then the table."""
    name = name.lower()
    if name in user:
        return user[name]
    odef = dhcp_options.by_dhcpd_name(name)
    if odef is not None:
        return odef.space, odef.code
    return EXTRA_CODES.get(name)


def _is_hex(text: str) -> bool:
    parts = text.split(":")
    return len(parts) > 1 and all(1 <= len(p) <= 2 and all(c in "0123456789abcdefABCDEF" for c in p)
                                  for p in parts)


def _hex_bytes(text: str) -> bytes:
    return bytes(int(p, 16) for p in text.split(":"))


def literal(data: bytes) -> str:
    """A Kea string constant for ``data``: ``'text'`` when that is safe, else ``0xHEX``."""
    if data and all(32 <= b < 127 for b in data) and b"'" not in data and b"\\" not in data:
        return "'" + data.decode("ascii") + "'"
    if not data:
        return "''"
    return "0x" + data.hex().upper()


def hardware_key(text: str) -> bytes | None:
    """A subclass key for ``match hardware``: ``1:52:54:...`` -> the MAC bytes (ethernet only)."""
    if not _is_hex(text):
        return None
    raw = _hex_bytes(text)
    if len(raw) < 2 or raw[0] != 1:
        return None
    return raw[1:]


class _P:
    def __init__(self, toks: Sequence[_Tok], family: int, user: Mapping[str, tuple[str, int]]):
        self.toks = list(toks)
        self.i = 0
        self.family = family
        self.user = user

    def peek(self, k: int = 0) -> _Tok | None:
        return self.toks[self.i + k] if self.i + k < len(self.toks) else None

    def word(self, k: int = 0) -> str:
        t = self.peek(k)
        return t.text.lower() if t is not None and t.kind == "word" else ""

    def punct(self, text: str, k: int = 0) -> bool:
        t = self.peek(k)
        return t is not None and t.kind == "punct" and t.text == text

    def take(self) -> _Tok:
        t = self.peek()
        if t is None:
            raise Untranslatable("the expression ends too early")
        self.i += 1
        return t

    def expect(self, text: str) -> None:
        t = self.take()
        if t.text != text:
            raise Untranslatable(f"expected {text!r}, found {t.text!r}")

    # boolean expressions
    def bool_or(self) -> str:
        left = self.bool_and()
        while self.word() == "or":
            self.i += 1
            left = f"{left} or {self.bool_and()}"
        return left

    def bool_and(self) -> str:
        left = self.bool_not()
        while self.word() == "and":
            self.i += 1
            left = f"{left} and {self.bool_not()}"
        return left

    def bool_not(self) -> str:
        if self.word() == "not":
            self.i += 1
            return f"not {self.bool_not()}"
        if self.punct("("):
            save = self.i
            self.i += 1
            try:
                inner = self.bool_or()
                self.expect(")")
                return f"({inner})"
            except Untranslatable:
                self.i = save  # a parenthesised data expression: ( D ) = ...
        if self.word() == "exists":
            self.i += 1
            name = self.take().text
            return self.option_ref(name, exists=True)
        if self.word() == "known":
            self.i += 1
            return "member('KNOWN')"
        return self.comparison()

    def comparison(self) -> str:
        left, left_hw = self.data()
        if self.punct("="):
            self.i += 1
            negate = False
        elif self.word() == "!" and self.punct("=", 1):
            self.i += 2
            negate = True
        else:
            t = self.peek()
            raise Untranslatable(f"unsupported operator {t.text!r}" if t else
                                 "a data expression where a condition is needed")
        right, right_hw = self.data()
        if left_hw or right_hw:
            left, right = self.hardware_compare(left, left_hw, right, right_hw)
        out = f"{left} == {right}"
        return f"not ({out})" if negate else out

    @staticmethod
    def hardware_compare(left: str, left_hw: bool, right: str, right_hw: bool) -> tuple[str, str]:
        if left_hw and right_hw:
            return "pkt4.mac", "pkt4.mac"
        other = right if left_hw else left
        if not other.startswith("0x") or len(other) < 4 or other[2:4] != "01":
            raise Untranslatable("'hardware' compared with something other than an ethernet "
                                 "address (1:MAC): Kea's pkt4.mac has no type byte")
        mac = "0x" + other[4:]
        return ("pkt4.mac", mac) if left_hw else (mac, "pkt4.mac")

    def number(self) -> int:
        t = self.take()
        try:
            return int(t.text, 0)
        except ValueError:
            raise Untranslatable(f"expected a number, found {t.text!r}") from None

    def data(self) -> tuple[str, bool]:
        """A data expression in Kea syntax, and whether it is dhcpd's bare ``hardware``."""
        t = self.take()
        w = t.text.lower() if t.kind == "word" else ""
        if t.kind == "string":
            return literal(t.text.encode("latin-1", errors="replace")), False
        if t.kind == "punct" and t.text == "(":
            inner, hw = self.data()
            self.expect(")")
            return inner, hw
        if w == "option":
            return self.option_ref(self.take().text, exists=False), False
        if w == "hardware":
            if self.family != 4:
                raise Untranslatable("'hardware' in a DHCPv6 class")
            return "hardware", True
        if w in ("substring", "suffix"):
            self.expect("(")
            inner, hw = self.data()
            self.expect(",")
            first = self.number()
            second: int | None = None
            if w == "substring":
                self.expect(",")
                second = self.number()
            self.expect(")")
            if hw:
                if w == "suffix":
                    assert first is not None
                    return f"substring(pkt4.mac, -{first}, all)", False
                if first < 1:
                    raise Untranslatable("substring(hardware, 0, ...) includes dhcpd's hardware "
                                         "type byte, which Kea's pkt4.mac does not have")
                return f"substring(pkt4.mac, {first - 1}, {second})", False
            if w == "suffix":
                return f"substring({inner}, -{first}, all)", False
            return f"substring({inner}, {first}, {second})", False
        if w == "concat":
            self.expect("(")
            a, ahw = self.data()
            self.expect(",")
            b, bhw = self.data()
            self.expect(")")
            if ahw or bhw:
                raise Untranslatable("concat() of dhcpd's 'hardware'")
            return f"concat({a}, {b})", False
        if t.kind == "word" and _is_hex(t.text):
            return "0x" + _hex_bytes(t.text).hex().upper(), False
        raise Untranslatable(f"'{t.text}' is not an expression kea-etl translates")

    def option_ref(self, name: str, *, exists: bool) -> str:
        low = name.lower()
        suffix = "exists" if exists else "hex"
        if low in _RELAY4 and self.family == 4:
            return f"relay4[{_RELAY4[low]}].{suffix}"
        found = option_code(low, self.user)
        if found is None:
            raise Untranslatable(f"option {name} is unknown to kea-etl (define it with "
                                 "'option NAME code N = TYPE;' or write the test by hand)")
        space, code = found
        want = "dhcp4" if self.family == 4 else "dhcp6"
        if space != want:
            raise Untranslatable(f"option {name} belongs to option space {space}, not {want}")
        return f"option[{code}].{suffix}"


def translate(toks: Sequence[_Tok], *, family: int = 4,
              user_options: Mapping[str, tuple[str, int]] | None = None) -> str:
    """The Kea ``test`` for the tokens after ``match if`` (raises :class:`Untranslatable`)."""
    p = _P(toks, family, user_options or {})
    out = p.bool_or()
    if p.peek() is not None:
        raise Untranslatable(f"unexpected {p.peek().text!r} after the expression")  # type: ignore[union-attr]
    return out


def data_expression(toks: Sequence[_Tok], *, family: int = 4,
                    user_options: Mapping[str, tuple[str, int]] | None = None) -> tuple[str, bool]:
    """A data expression (``match option vendor-class-identifier;``) in Kea syntax, and whether
    it is dhcpd's bare ``hardware`` (whose subclass keys start with the type byte)."""
    p = _P(toks, family, user_options or {})
    out = p.data()
    if p.peek() is not None:
        raise Untranslatable(f"unexpected {p.peek().text!r} after the expression")  # type: ignore[union-attr]
    return out
