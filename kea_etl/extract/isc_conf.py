"""ISC dhcpd.conf extractor: ``host`` declarations -> Kea ``Reservation`` records.

``extract(path)`` streams the configuration (and its ``include`` files) token by token, keeps only
the scope stack and the host being read, and yields one ``Extracted`` per reservation:

* family 4 for each address of ``fixed-address`` (one reservation per address: dhcpd picks the one
  valid on the client's network, Kea keeps reservations per subnet);
* family 6 for ``fixed-address6`` / ``fixed-prefix6`` (one reservation holding all of them).

The identifier follows how dhcpd matches hosts (dhcpd.conf(5), "The host statement"):

* v4: ``option dhcp-client-identifier`` (or the old ``uid`` statement) -> ``client-id``, else
  ``hardware ethernet`` -> ``hw-address``. The client-id is the option's raw bytes: colon hex as
  written, or a quoted string's bytes. A client that derives its client-id from its MAC sends
  ``01:<mac>``, and that is what Kea compares. Kea tries the identifiers in the order of
  ``host-reservation-identifiers`` (default ``hw-address, duid, circuit-id, client-id``): a
  client-id reservation matches only while ``client-id`` stays in that list, and only after no
  hw-address reservation matched. A host with both a client-id and a MAC keeps only the client-id
  (Kea holds one identifier per reservation); a warning says so and ``extra["alt_identifiers"]``
  keeps the MAC.
* v6: ``host-identifier option dhcp6.client-id <hex>`` -> ``duid``, else
  ``option dhcp-client-identifier`` / ``uid`` (dhcpd -6 matches it against the client's DUID) ->
  ``duid``, else ``hardware ethernet`` -> ``hw-address``.

Hostname: the host's ``option host-name``, else ``ddns-hostname``, else the declaration's own name
when ``use-host-decl-names`` is on in the host or an enclosing scope (dhcpd only falls back to
the declaration name then). ``filename`` / ``next-server`` become ``boot-file-name`` /
``next-server`` (v4), also when set on an enclosing ``group`` (Kea has no groups).

Options: the host's own ``option NAME VALUE;`` statements become the reservation's option-data
when ``kea_etl.dhcp_options`` knows the option (the standard DHCPv4 options and the common
``dhcp6.*`` ones, under Kea's names: ``dhcp6.name-servers`` -> ``dns-servers``) and the value
parses for its kind; entries are ``{"name", "code", "space", "data"}`` in one canonical spelling,
ordered by code. v4 options go into the v4 reservations, ``dhcp6.*`` ones into the v6 one.

``subnet_id`` is 0: the transform assigns it from the target Kea config by address. The enclosing
dhcpd scope is kept in ``Extracted.extra``: ``dhcpd_subnet`` (``192.0.2.0/24``),
``dhcpd_shared_network``, ``dhcpd_host`` (the declaration name).

What cannot be translated is reported by line, never dropped silently:

* **warnings** for statements inside an otherwise good host (an ``option`` that is not in the
  table, is an expression, belongs to another option space or has a value that does not parse
  for its kind: dhcpd resolves host names in address options, kea-etl does not; lease times,
  ``ddns-domainname``, nested blocks, unknown statements, a second identifier, group-level options
  the host inherits, an identifier Kea cannot hold next to the one it keeps):
  ``Extracted.warnings`` holds :class:`~kea_etl.report.SourceWarning` (file, line,
  statement, reason, ``host NAME``), which the migration copies into the run report;
* **MalformedRecordError** for what makes a host unusable or is not a host at all: no identifier
  (or only ``hardware token-ring`` / another ``host-identifier`` option), a hostname in
  ``fixed-address`` (kea-etl does not resolve names), a malformed address or id, ``deny booting``,
  a missing or cyclic ``include``, a block that never closes.

``class`` / ``subclass`` declarations are yielded as :class:`~kea_etl.report.SourceWarning` items
(not translated, with file and line): they are no reservation, and they do not fail the run.
A host without any address (only options, a boot file, a hostname) is a reservation too: Kea
takes it globally or in a subnet. It gets subnet id 0 (global: dhcpd matches a host declaration
on whatever subnet the client is on) and a warning that Kea consults global reservations only
where ``reservations-global`` is true. Its family: v6 when it has a ``host-identifier option
dhcp6.client-id``, a ``dhcp6.*`` option or stands in a ``subnet6``; v4 otherwise (and also when
it carries v4 options, ``filename`` or ``next-server``).

``include "file";`` is resolved relative to the including file's directory (absolute paths as
they are) unless ``include_dir`` is given; note that dhcpd itself resolves a relative include
against its working directory. An include cycle is reported and not followed.
"""

from __future__ import annotations

import io
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from pathlib import Path
from typing import IO, Any, Literal

from kea_etl import dhcp_options
from kea_etl._files import file_kind, open_regular, require_regular
from kea_etl.errors import ConfigError, InvalidValueError, MalformedRecordError
from kea_etl.extract.base import Extracted, ExtractItem, SourceWarning
from kea_etl.records import Reservation, canonical_hex

__all__ = ["extract", "hosts_from_text", "sniff"]

_CONF_MARKERS = re.compile(
    rb"^\s*(host\s+\S+\s*\{|subnet6?\s|shared-network\s|group\s*\{|ddns-update-style\s|authoritative\s*;|"
    rb"default-lease-time\s|max-lease-time\s|include\s+\"|option\s+domain-name|log-facility\s|"
    rb"ping-check\s|fixed-address6?\s|hardware\s+ethernet\s.*;\s*$)", re.MULTILINE)
_LEASE_MARKERS = re.compile(rb"^\s*(lease\s+\d|ia-na\s|ia-ta\s|ia-pd\s|authoring-byte-order\s|"
                            rb"server-duid\s|binding\s+state\s)", re.MULTILINE)


def sniff(head: bytes) -> bool:
    """True for text that looks like a dhcpd.conf (and not like a dhcpd.leases file)."""
    if b"\x00" in head or _LEASE_MARKERS.search(head):
        return False
    return bool(_CONF_MARKERS.search(head))


# ---- tokens ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Tok:
    kind: Literal["word", "string", "punct"]
    text: str          # for strings: the value after escape processing (one char per byte)
    path: str
    line: int


class _ParseError(Exception):
    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


#: whitespace | comment | (punctuation) | "(string body)" | (word) | (a quote never closed)
_TOKEN = re.compile(r"""[ \t\r\n\f\v]+|\#.*|([{};,=()])|"((?:[^"\\\n]|\\.)*)"|"""
                    r"""([^ \t\r\n\f\v{};,=()"\#]+)|(")""")
_ESCAPE = re.compile(r"\\([0-7]{1,3}|x[0-9a-fA-F]{1,2}|.)")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b"}


def _unescape(body: str) -> str:
    """dhcpd's string escapes: \\ooo octal, \\xHH hex, \\n \\t \\r \\b, else the char itself."""
    def repl(m: re.Match[str]) -> str:
        e = m.group(1)
        if e[0] in "01234567":
            return chr(int(e, 8) & 0xFF)
        if e[0] == "x" and len(e) > 1:
            return chr(int(e[1:], 16))
        return _SIMPLE_ESCAPES.get(e, e)
    return _ESCAPE.sub(repl, body)


#: the longest line read whole; a longer one (a file of NUL bytes, a dump with no newlines) is
#: reported and skipped, so memory stays bounded whatever the file holds
MAX_LINE = 1 << 20
#: include files nested deeper than this, or more of them in one run, are not followed
MAX_INCLUDE_DEPTH = 16
MAX_INCLUDES = 1000


def _lines(fh: IO[str], path: str, first_line: int) -> Iterator[tuple[int, str] | _ParseError]:
    """(line number, line) of ``fh``, each at most MAX_LINE characters (longer ones skipped)."""
    lineno = first_line - 1
    while line := fh.readline(MAX_LINE):
        lineno += 1
        if len(line) < MAX_LINE or line.endswith("\n"):
            yield lineno, line
            continue
        while (more := fh.readline(MAX_LINE)) and not more.endswith("\n"):
            pass  # the rest of the over-long line, read and dropped piece by piece
        yield _ParseError(path, lineno, f"line longer than {MAX_LINE >> 20} MiB "
                          "(not dhcpd.conf text?); skipped")


def _tokenize(fh: IO[str], path: str, first_line: int = 1) -> Iterator[_Tok | _ParseError]:
    """Tokens of one file. The file is decoded as latin-1 so each char is one byte of the file."""
    match = _TOKEN.match
    for got in _lines(fh, path, first_line):
        if isinstance(got, _ParseError):
            yield got
            continue
        lineno, line = got
        pos, n = 0, len(line)
        while pos < n:
            m = match(line, pos)
            if m is None:  # cannot happen: every char starts some alternative
                yield _ParseError(path, lineno, f"unexpected character {line[pos]!r}")
                pos += 1
                continue
            pos = m.end()
            punct, body, word, lone_quote = m.groups()
            if word is not None:
                yield _Tok("word", word, path, lineno)
            elif punct is not None:
                yield _Tok("punct", punct, path, lineno)
            elif body is not None:
                yield _Tok("string", _unescape(body) if "\\" in body else body, path, lineno)
            elif lone_quote is not None:
                # No closing quote on this line. Recover like a reader would: the string probably
                # ended before the first ';'.
                rest = line[pos:]
                cut = rest.find(";")
                text = rest[:cut] if cut >= 0 else rest.rstrip("\r\n")
                pos = pos + cut if cut >= 0 else n
                yield _ParseError(path, lineno, "unterminated quoted string (no closing '\"' on "
                                  "this line)")
                yield _Tok("string", _unescape(text), path, lineno)


class _Stream:
    """Tokens of the main file with included files spliced in where their ``include`` stood."""

    def __init__(self, path: Path, encoding: str, include_dir: Path | None = None, *,
                 text: tuple[str, int] | None = None) -> None:
        self.encoding = encoding
        self.include_dir = include_dir
        self.stack: list[tuple[str, IO[str], Iterator[_Tok | _ParseError]]] = []
        self.errors: list[MalformedRecordError] = []
        self.included = 0
        if text is None:
            self._open(path)
        else:  # a piece of another file (a host block of a dhcpd.leases), from its line
            fh = io.StringIO(text[0])
            self.stack.append((os.path.realpath(path), fh, _tokenize(fh, str(path), text[1])))

    def _open(self, path: Path) -> None:
        # only regular files: /dev/zero, /dev/urandom or a FIFO would never end (or never start)
        fh = io.TextIOWrapper(open_regular(path, what="included file" if self.stack
                                           else "dhcpd.conf"), encoding=self.encoding,
                              newline="")
        real = os.path.realpath(path)
        self.stack.append((real, fh, _tokenize(fh, str(path))))

    def include(self, tok: _Tok, name: str) -> None:
        base = self.include_dir if self.include_dir is not None else Path(tok.path).parent
        target = base / name  # an absolute name replaces the base
        real = os.path.realpath(target)
        if any(real == r for r, _, _ in self.stack):
            chain = " -> ".join(Path(r).name for r, _, _ in self.stack) + f" -> {Path(real).name}"
            self.errors.append(MalformedRecordError(tok.path, tok.line, f"include {name}",
                                                    f"include cycle ({chain}); not followed"))
            return
        if len(self.stack) > MAX_INCLUDE_DEPTH or self.included >= MAX_INCLUDES:
            why = (f"includes nested more than {MAX_INCLUDE_DEPTH} deep"
                   if len(self.stack) > MAX_INCLUDE_DEPTH
                   else f"more than {MAX_INCLUDES} included files")
            self.errors.append(MalformedRecordError(tok.path, tok.line, f"include {name}",
                                                    f"{why}; not followed"))
            return
        self.included += 1
        try:
            mode = target.stat().st_mode
            if not stat.S_ISREG(mode):  # /dev/zero, a FIFO: say what it is, never "not found"
                raise ConfigError(f"included file {target} is {file_kind(mode)}, not a regular "
                                  "file; not read, its hosts are missing")
            self._open(target)
        except ConfigError as exc:
            self.errors.append(MalformedRecordError(tok.path, tok.line, f"include {name}",
                                                    str(exc)))
        except OSError as exc:
            self.errors.append(MalformedRecordError(tok.path, tok.line, f"include {name}",
                                                    f"cannot open included file {target}: "
                                                    f"{exc.strerror or exc}; its hosts are missing"))

    def next(self) -> _Tok | None:
        while self.stack:
            _, fh, it = self.stack[-1]
            for item in it:
                if isinstance(item, _ParseError):
                    self.errors.append(MalformedRecordError(item.path, item.line, None, str(item)))
                    continue
                return item
            fh.close()
            self.stack.pop()
        return None

    def close(self) -> None:
        for _, fh, _ in self.stack:
            fh.close()
        self.stack.clear()


# ---- scopes and hosts ------------------------------------------------------------------------

@dataclass
class _Scope:
    kind: str                                 # global, group, subnet, subnet6, shared-network, pool ...
    path: str
    line: int
    subnet: str | None = None
    shared_network: str | None = None
    use_host_decl_names: bool | None = None
    filename: tuple[str, str, int] | None = None       # value, path, line (group scopes only)
    next_server: tuple[str, str, int] | None = None
    options: list[tuple[str, str, int]] = field(default_factory=list)  # text, path, line
    #: a group's ``option`` / ``supersede`` statements, translated as a host's would be (a
    #: _Host standing for the group): carried into the option-data of the group's hosts
    group_options: _Host | None = None


@dataclass
class _Host:
    name: str
    path: str
    line: int
    hardware: list[tuple[str, str, int]] = field(default_factory=list)   # type, value, line
    client_id: tuple[str, int] | None = None                           # canonical hex, line
    duid: tuple[str, int] | None = None
    other_identifiers: list[tuple[str, int]] = field(default_factory=list)
    fixed4: list[tuple[str, int]] = field(default_factory=list)
    fixed6: list[tuple[str, int]] = field(default_factory=list)
    prefixes6: list[tuple[str, int]] = field(default_factory=list)
    host_name: str | None = None
    ddns_hostname: str | None = None
    filename: str | None = None
    next_server: tuple[str, int] | None = None
    use_host_decl_names: bool | None = None
    deny_booting: int | None = None
    #: translated ``option`` statements: table entry, Kea option-data, line, statement text
    options: list[tuple[dhcp_options.OptionDef, dict[str, Any], int, str]] = field(
        default_factory=list)
    warnings: list[SourceWarning] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)

    def warn(self, line: int, statement: str, reason: str) -> None:
        """A statement of this host that is not translated (it reaches the run report)."""
        self.warnings.append(SourceWarning(self.path, line, statement, f"not translated: {reason}",
                                           f"host {self.name}"))


#: deepest subnet / group / pool nesting followed (real files nest a handful of levels; each
#: level is a Python generator frame, so hostile input must not reach the recursion limit)
_MAX_DEPTH = 100


def _stmt_text(toks: list[_Tok]) -> str:
    parts = []
    for t in toks:
        parts.append(f'"{t.text}"' if t.kind == "string" else t.text)
    text = " ".join(parts).replace(" ,", ",")
    return text if len(text) <= 100 else text[:97] + "..."


def _flag(toks: list[_Tok]) -> bool | None:
    if len(toks) == 1 and toks[0].text.lower() in ("on", "true"):
        return True
    if len(toks) == 1 and toks[0].text.lower() in ("off", "false"):
        return False
    return None


def _utf8(text: str) -> str:
    """A latin-1 decoded string (one char per byte) back to the UTF-8 text it was."""
    try:
        return text.encode("latin-1").decode("utf-8", errors="replace")
    except UnicodeEncodeError:
        return text


def _strict_utf8(text: str) -> str:
    """Like :func:`_utf8`, but bytes that are not UTF-8 are refused, not replaced: option text
    goes to clients byte for byte, and Kea's option data is UTF-8 text."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeEncodeError:
        return text
    except UnicodeDecodeError:
        raise dhcp_options.OptionValueError("the text is not valid UTF-8") from None


def _id_value(toks: list[_Tok], name: str) -> str:
    """The colon-hex bytes of an identifier given as colon hex or as a quoted string."""
    if len(toks) == 1 and toks[0].kind == "string":
        raw = toks[0].text.encode("latin-1", errors="replace")
        value = canonical_hex(raw, name)
    elif len(toks) == 1 and toks[0].kind == "word":
        value = canonical_hex(toks[0].text, name)
    else:
        raise InvalidValueError(name, _stmt_text(toks), "expected colon hex or a quoted string")
    if value is None:
        raise InvalidValueError(name, _stmt_text(toks), "empty")
    return value


class _Parser:
    def __init__(self, path: Path, *, encoding: str, family: int | None,
                 include_dir: Path | None, text: tuple[str, int] | None = None) -> None:
        self.stream = _Stream(path, encoding, include_dir, text=text)
        self.family = family
        self.root = str(path)

    # -- generic statement reading --
    def _statement(self) -> tuple[list[_Tok], str | None, _Tok | None]:
        """Tokens up to ``;`` or ``{``. Returns (tokens, terminator, first token)."""
        toks: list[_Tok] = []
        while True:
            tok = self.stream.next()
            if tok is None:
                return toks, None, toks[0] if toks else None
            if tok.kind == "punct" and tok.text in ";{}":
                if tok.text == "}" and toks:
                    # dhcpd tolerates a missing ';' before '}' in a few places; treat as end.
                    self._pushback = tok
                    return toks, ";", toks[0]
                return toks, tok.text, toks[0] if toks else tok
            toks.append(tok)

    _pushback: _Tok | None = None

    def _next_stmt(self) -> tuple[list[_Tok], str | None, _Tok | None]:
        if self._pushback is not None:
            tok = self._pushback
            self._pushback = None
            return [], tok.text, tok
        return self._statement()

    def _skip_block(self) -> bool:
        """Skip to the ``}`` closing the block just opened. False at end of input."""
        depth = 1
        while True:
            tok = self.stream.next()
            if tok is None:
                return False
            if tok.kind == "punct" and tok.text == "{":
                depth += 1
            elif tok.kind == "punct" and tok.text == "}":
                depth -= 1
                if depth == 0:
                    return True

    def _drain_errors(self) -> Iterator[ExtractItem]:
        while self.stream.errors:
            yield self.stream.errors.pop(0)

    # -- scopes --
    def run(self) -> Iterator[ExtractItem]:
        try:
            glob = _Scope("global", self.root, 0)
            yield from self._block([glob], top=True)
            yield from self._drain_errors()
        finally:
            self.stream.close()

    def _block(self, scopes: list[_Scope], *, top: bool = False) -> Iterator[ExtractItem]:
        """Statements until the closing ``}`` (or the end of input at top level)."""
        scope = scopes[-1]
        while True:
            yield from self._drain_errors()
            toks, term, first = self._next_stmt()
            if term is None:
                if toks:
                    yield MalformedRecordError(toks[0].path, toks[0].line, None,
                                               f"statement '{_stmt_text(toks)}' is cut off at the "
                                               "end of the file (no ';')")
                if not top:
                    yield MalformedRecordError(scope.path, scope.line, scope.kind,
                                               f"{scope.kind} block opened here is never closed "
                                               "(missing '}' at the end of the file)")
                return
            if term == "}":
                if top:
                    assert first is not None
                    yield MalformedRecordError(first.path, first.line, None,
                                               "unexpected '}' (no block is open here); ignored")
                    continue
                return
            if not toks:
                if term == "{":
                    assert first is not None
                    yield MalformedRecordError(first.path, first.line, None,
                                               "a block with no statement before '{'; skipped")
                    self._skip_block()
                continue
            kw = toks[0].text.lower() if toks[0].kind == "word" else ""
            if term == "{":
                if kw == "host":
                    yield from self._host(toks, scopes)
                elif (kw in ("subnet", "subnet6", "shared-network", "group", "pool", "pool6")
                      and len(scopes) > _MAX_DEPTH):  # hostile nesting: no RecursionError
                    yield MalformedRecordError(toks[0].path, toks[0].line, kw,
                                               f"blocks nested more than {_MAX_DEPTH} deep; "
                                               "this block is skipped")
                    if not self._skip_block():
                        return
                elif kw in ("subnet", "subnet6", "shared-network", "group", "pool", "pool6"):
                    new = self._new_scope(kw, toks, scope)
                    yield from self._block([*scopes, new])
                elif kw in ("class", "subclass"):
                    yield self._class_warning(toks, block=True)
                    if not self._skip_block():
                        return
                elif not self._skip_block():
                    yield MalformedRecordError(toks[0].path, toks[0].line, kw or None,
                                               f"'{_stmt_text(toks)}' block is never closed "
                                               "(missing '}' at the end of the file)")
                    return
                continue
            # a statement ending in ';'
            if kw == "include":
                if len(toks) == 2 and toks[1].kind == "string":
                    self.stream.include(toks[0], toks[1].text)
                else:
                    yield MalformedRecordError(toks[0].path, toks[0].line, "include",
                                               f"'{_stmt_text(toks)}': expected include \"file\";")
            elif kw == "subclass":
                yield self._class_warning(toks, block=False)
            elif kw == "use-host-decl-names":
                scope.use_host_decl_names = _flag(toks[1:])
            elif scope.kind == "group":
                self._group_param(kw, toks, scope)

    def _new_scope(self, kw: str, toks: list[_Tok], parent: _Scope) -> _Scope:
        new = _Scope(kw, toks[0].path, toks[0].line, subnet=parent.subnet,
                     shared_network=parent.shared_network)
        if kw == "subnet" and len(toks) >= 4 and toks[2].text.lower() == "netmask":
            try:
                new.subnet = str(IPv4Network(f"{toks[1].text}/{toks[3].text}", strict=False))
            except ValueError:
                new.subnet = f"{toks[1].text} netmask {toks[3].text}"
        elif kw == "subnet6" and len(toks) >= 2:
            text = "".join(t.text for t in toks[1:])
            try:
                new.subnet = str(IPv6Network(text, strict=False))
            except ValueError:
                new.subnet = text
        elif kw == "shared-network" and len(toks) >= 2:
            new.shared_network = toks[1].text
        return new

    def _group_param(self, kw: str, toks: list[_Tok], scope: _Scope) -> None:
        t0 = toks[0]
        if kw == "filename" and len(toks) == 2 and toks[1].kind == "string":
            scope.filename = (_utf8(toks[1].text), t0.path, t0.line)
        elif kw == "next-server" and len(toks) == 2:
            scope.next_server = (toks[1].text, t0.path, t0.line)
        elif kw in ("option", "supersede") and len(toks) > 1 and not (
                kw == "supersede" and (toks[1].text.lower().startswith("server.")
                                       or toks[1].text.lower() == "host-name")):
            # translated as in a host (dhcpd hands a group's options to its hosts); what does
            # not translate stays a warning on each host of the group
            if scope.group_options is None:
                scope.group_options = _Host("(group)", t0.path, t0.line)
            text = _stmt_text(toks)
            if kw == "option":
                self._host_option(scope.group_options, toks[1:], t0.line, text)
            else:
                self._host_supersede(scope.group_options, toks[1:], t0.line, text)
        else:
            # anything else a group sets (lease times, DDNS, default / prepend / append of an
            # option, server parameters) applies to its hosts in dhcpd and has no place in a
            # Kea reservation: a warning on each host of the group, never dropped
            scope.options.append((_stmt_text(toks), t0.path, t0.line))

    def _class_warning(self, toks: list[_Tok], *, block: bool) -> SourceWarning:
        """``class`` / ``subclass``: not translated, and said so; not a failure of the run (the
        hosts are fine; the classes are the operator's to rewrite as Kea client classes)."""
        kw = toks[0].text.lower()
        statement = _stmt_text(toks) + (" { ... }" if block else ";")
        if kw == "subclass":
            reason = ("not translated: dhcpd subclass membership has no Kea reservation "
                      "equivalent (write a Kea client class, or a host reservation with "
                      "client-classes, by hand)")
        else:
            reason = ("not translated: Kea client classes are configured by hand "
                      "(kea-etl moves hosts, not classes)")
        return SourceWarning(toks[0].path, toks[0].line, statement, reason)

    # -- hosts --
    def _host(self, head: list[_Tok], scopes: list[_Scope]) -> Iterator[ExtractItem]:
        t0 = head[0]
        name = _utf8(head[1].text) if len(head) > 1 else ""
        host = _Host(name, t0.path, t0.line)
        seen_errors = len(self.stream.errors)
        if len(head) != 2:
            host.errors.append((t0.line, f"'{_stmt_text(head)}': expected 'host NAME {{'"))
        closed = False
        while True:
            toks, term, first = self._next_stmt()
            if term is None:
                break
            if term == "}":
                closed = True
                break
            if not toks:
                if term == "{":
                    self._skip_block()
                continue
            if term == "{":
                host.warn(toks[0].line, f"{_stmt_text(toks)} {{ ... }}",
                          "a block inside a host has no Kea reservation equivalent")
                if not self._skip_block():
                    break
                continue
            self._host_statement(host, toks)
        for e in self.stream.errors[seen_errors:]:
            host.errors.append((e.line or host.line, f"syntax error inside the host: {e.reason}"))
        del self.stream.errors[seen_errors:]  # reported once, as the host's error
        yield from self._drain_errors()
        if not closed:
            yield MalformedRecordError(host.path, host.line, f"host {name}",
                                       "is truncated: its block never closes (missing '}' at the end "
                                       "of the file)")
            return
        yield from self._host_records(host, scopes)

    def _host_statement(self, host: _Host, toks: list[_Tok]) -> None:
        kw = toks[0].text.lower() if toks[0].kind == "word" else ""
        line = toks[0].line
        args = toks[1:]
        text = _stmt_text(toks)
        try:
            if kw == "hardware":
                if len(args) != 2:
                    raise InvalidValueError("hardware", text, "expected 'hardware ethernet XX:XX:...;'")
                htype = args[0].text.lower()
                value = canonical_hex(args[1].text, "hardware address", max_len=20)
                if value is None:
                    raise InvalidValueError("hardware", text, "empty address")
                host.hardware.append((htype, value, line))
            elif kw == "fixed-address":
                for t in args:
                    if t.kind == "punct" and t.text == ",":
                        continue
                    host.fixed4.append((t.text, t.line))
            elif kw == "fixed-address6":
                if len(args) != 1:
                    raise InvalidValueError("fixed-address6", text, "expected one IPv6 address")
                host.fixed6.append((args[0].text, line))
            elif kw == "fixed-prefix6":
                host.prefixes6.append(("".join(t.text for t in args), line))
            elif kw == "uid":
                host.client_id = (_id_value(args, "uid"), line)
            elif kw == "host-identifier":
                if (len(args) == 3 and args[0].text.lower() == "option"
                        and args[1].text.lower() == "dhcp6.client-id"):
                    host.duid = (_id_value(args[2:], "dhcp6.client-id"), line)
                else:
                    host.other_identifiers.append((text, line))
            elif kw == "option" and args and args[0].text.lower() == "dhcp-client-identifier":
                host.client_id = (_id_value(args[1:], "dhcp-client-identifier"), line)
            elif kw == "option" and args and args[0].text.lower() == "host-name":
                if len(args) == 2 and args[1].kind == "string":
                    host.host_name = _utf8(args[1].text)
                elif len(args) == 2 and args[1].kind == "word":
                    host.host_name = args[1].text
                else:
                    host.warn(line, text, "only a literal host-name can go into a reservation")
            elif kw == "ddns-hostname":
                if len(args) == 1 and args[0].kind in ("string", "word"):
                    host.ddns_hostname = _utf8(args[0].text)
                else:
                    host.warn(line, text, "an expression, not a name")
            elif kw == "filename":
                if len(args) == 1 and args[0].kind == "string":
                    host.filename = _utf8(args[0].text)
                else:
                    host.warn(line, text, 'expected filename "...";')
            elif kw == "next-server":
                if len(args) == 1:
                    host.next_server = (args[0].text, line)
                else:
                    host.warn(line, text, "expected next-server ADDRESS;")
            elif kw == "use-host-decl-names":
                host.use_host_decl_names = _flag(args)
            elif kw in ("deny", "ignore") and args and args[0].text.lower() == "booting":
                host.deny_booting = line
            elif kw == "allow" and args and args[0].text.lower() == "booting":
                pass  # the default
            elif kw == "option":
                self._host_option(host, args, line, text)
            elif kw == "supersede" and args and args[0].kind == "word":
                self._host_supersede(host, args, line, text)
            elif kw in ("dynamic", "static") and not args:
                pass  # how an OMAPI host was made (dhcpd.leases): nothing to carry
            elif kw in ("default-lease-time", "max-lease-time", "min-lease-time"):
                host.warn(line, text, "a Kea reservation has no lease time (use a client class)")
            else:
                host.warn(line, text, "no Kea reservation equivalent")
        except InvalidValueError as exc:
            host.errors.append((line, f"'{text}': {exc}"))

    def _host_supersede(self, host: _Host, args: list[_Tok], line: int, text: str) -> None:
        """``supersede NAME VALUE;`` (dhcpd.conf: the same as ``option`` in a host) or
        ``supersede NAME = VALUE;`` (how dhcpd.leases writes the statements of an OMAPI host,
        e.g. Foreman's ``server.filename``, ``server.next-server``, ``host-name``)."""
        name = args[0].text.lower()
        value = args[1:]
        if value and value[0].kind == "punct" and value[0].text == "=":
            value = value[1:]
        if name == "server.filename" and len(value) == 1 and value[0].kind == "string":
            host.filename = _utf8(value[0].text)
        elif name == "server.next-server" and len(value) == 1:
            v = value[0].text
            if value[0].kind == "word" and re.fullmatch(_HEX4, v) and v.count(":") == 3:
                v = str(IPv4Address(bytes(int(x, 16) for x in v.split(":"))))  # dhcpd's hex
            host.next_server = (v, line)
        elif name == "host-name" and len(value) == 1 and value[0].kind == "string":
            host.host_name = _utf8(value[0].text)
        elif name.startswith("server."):
            host.warn(line, text, "a server parameter with no Kea reservation equivalent")
        else:
            odef = dhcp_options.by_dhcpd_name(name)
            if (odef is not None and odef.kind in ("ip4", "ip4-list") and len(value) == 1
                    and value[0].kind == "word" and re.fullmatch(_HEX4, value[0].text)):
                # dhcpd.leases writes an address option's bytes as colon hex
                packed = bytes(int(x, 16) for x in value[0].text.split(":"))
                t = value[0]
                value = []
                for k in range(0, len(packed), 4):
                    if value:
                        value.append(_Tok("punct", ",", t.path, t.line))
                    value.append(_Tok("word", str(IPv4Address(packed[k:k + 4])), t.path, t.line))
            self._host_option(host, [args[0], *value], line, text)

    def _host_option(self, host: _Host, args: list[_Tok], line: int, text: str) -> None:
        """``option NAME VALUE;`` inside a host: Kea option-data, or a warning saying why not."""
        by_hand = "add it to the reservation's option-data by hand if the host needs it"
        name = args[0].text.lower() if args and args[0].kind == "word" else ""
        odef = dhcp_options.by_dhcpd_name(name)
        if odef is None:
            if "." in name and not name.startswith("dhcp6."):
                why = f"option space '{name.split('.', 1)[0]}' is not a standard one"
            else:
                why = "kea-etl does not translate this option"
            host.warn(line, text, f"{why}; {by_hand}")
            return
        value = args[1:]
        if any(t.kind == "punct" and t.text in "=()" for t in value):
            host.warn(line, text, f"an expression, not a value; {by_hand}")
            return
        try:
            entry = dhcp_options.translate(odef, [(t.kind, _strict_utf8(t.text)
                                                    if t.kind == "string" else t.text)
                                                   for t in value])
        except dhcp_options.OptionValueError as exc:
            host.warn(line, text, f"{exc}; {by_hand}")
            return
        for i, (old, _entry, old_line, old_text) in enumerate(host.options):
            if old is odef:
                # dhcpd keeps the last statement for an option in a scope
                host.warn(old_line, old_text, f"line {line} sets {name} again and dhcpd uses "
                          "the last one")
                del host.options[i]
                break
        host.options.append((odef, entry, line, text))

    def _host_records(self, host: _Host, scopes: list[_Scope]) -> Iterator[ExtractItem]:
        """The host's v4 and / or v6 reservation, or why it has none: what it inherits from its
        enclosing scopes (:func:`_inherit`), then the parts both families share, then each
        family's own identifier and addresses (:func:`_v4_records`, :func:`_v6_records`)."""
        ctx = _HostContext(host, f"host {host.name}", list(host.warnings))
        if host.errors:
            for line, reason in host.errors:
                yield ctx.err(line, reason)
            return
        if host.deny_booting is not None:
            yield ctx.err(host.deny_booting, "denies booting; Kea has no per-host deny (use a "
                          "DROP client class); not translated, so the host is not handed an "
                          "address")
            return
        inherited, use_names = _inherit(ctx, scopes)
        warnings = ctx.warnings
        hostname = host.host_name or host.ddns_hostname or ""
        if host.host_name and host.ddns_hostname and host.host_name != host.ddns_hostname:
            warnings.append(ctx.note(host.line, f"ddns-hostname {host.ddns_hostname!r}",
                                     f"not translated: differs from host-name {host.host_name!r}; "
                                     "the reservation uses the host-name"))
        if not hostname and use_names:
            hostname = host.name
        ctx.hostname = hostname
        ctx.ethernet = [(v, ln) for t, v, ln in host.hardware if t == "ethernet"]
        for t, _v, ln in host.hardware:
            if t != "ethernet":
                warnings.append(ctx.note(ln, f"hardware {t}", "not translated: Kea reservations "
                                         "match ethernet addresses only"))
        for text, ln in host.other_identifiers:
            warnings.append(ctx.note(ln, text, "not translated: Kea matches DUID, hw-address, "
                                     "client-id, circuit-id or flex-id"))
        # option-data per family, in code order (one canonical order whatever the file's order)
        has4, has6 = bool(host.fixed4), bool(host.fixed6 or host.prefixes6)
        addressless = not (has4 or has6)
        if addressless:
            # Only options, a boot file, a hostname: Kea takes such a reservation too (global,
            # or in a subnet). Its family follows what it carries and where it stands.
            has6 = (host.duid is not None or any(d.space == "dhcp6" for d, _, _, _ in host.options)
                    or any(sc.kind in ("subnet6", "pool6") for sc in scopes))
            has4 = (not has6 or any(d.space == "dhcp4" for d, _, _, _ in host.options)
                    or host.filename is not None or host.next_server is not None)
        every = [*host.options, *inherited]
        ctx.options4 = tuple(e for d, e, _, _ in sorted(every, key=lambda o: o[0].code)
                             if d.space == "dhcp4")
        ctx.options6 = tuple(e for d, e, _, _ in sorted(every, key=lambda o: o[0].code)
                             if d.space == "dhcp6")
        for d, _e, ln, text in every:
            if d.space == "dhcp4" and not has4 and has6:
                warnings.append(ctx.note(ln, text, "not translated: a DHCPv4 option, and the "
                                         "host has no fixed-address (only a v6 reservation)"))
            elif d.space == "dhcp6" and not has6 and has4:
                warnings.append(ctx.note(ln, text, "not translated: a DHCPv6 option, and the "
                                         "host has no fixed-address6 / fixed-prefix6 (only a v4 "
                                         "reservation)"))
        scope = scopes[-1]
        if scope.subnet:
            ctx.extra_base["dhcpd_subnet"] = scope.subnet
        if scope.shared_network:
            ctx.extra_base["dhcpd_shared_network"] = scope.shared_network
        if addressless:
            warnings.append(ctx.note(host.line, f"host {host.name}", "has no fixed address: "
                                     "loaded as a global reservation (subnet id 0, options / boot "
                                     "file / hostname only); Kea consults global reservations "
                                     "only where reservations-global is true"))
        if has4 and self.family in (None, 4):
            yield from _v4_records(ctx)
        if has6 and self.family in (None, 6):
            yield from _v6_records(ctx)


#: a translated ``option`` statement: table entry, Kea option-data, line, statement text
_HostOption = tuple[dhcp_options.OptionDef, dict[str, Any], int, str]


@dataclass
class _HostContext:
    """One host on its way to reservations: what its v4 and v6 records share once the enclosing
    scopes are applied (:meth:`_Parser._host_records` fills it, family by family reads it)."""

    host: _Host
    key: str
    #: warnings every record of the host carries (a family adds its own to a copy)
    warnings: list[SourceWarning]
    hostname: str = ""
    ethernet: list[tuple[str, int]] = field(default_factory=list)     # value, line
    #: from the host, else the innermost enclosing group that sets it
    filename: str | None = None
    next_server: tuple[str, int] | None = None                        # value, line
    options4: tuple[dict[str, Any], ...] = ()
    options6: tuple[dict[str, Any], ...] = ()
    extra_base: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.filename = self.host.filename
        self.next_server = self.host.next_server
        self.extra_base = {"dhcpd_host": self.host.name}

    def err(self, line: int, reason: str) -> MalformedRecordError:
        return MalformedRecordError(self.host.path, line, self.key, reason)

    def note(self, line: int, statement: str, reason: str, path: str | None = None
             ) -> SourceWarning:
        return SourceWarning(path or self.host.path, line, statement, reason, self.key)

    def extracted(self, rec: Reservation, warnings: list[SourceWarning], alt: list[str]
                  ) -> Extracted:
        extra = dict(self.extra_base)
        if alt:
            extra["alt_identifiers"] = alt
        return Extracted(rec, source=self.host.path, line=self.host.line, extra=extra,
                         warnings=tuple(warnings))


def _inherit(ctx: _HostContext, scopes: list[_Scope]) -> tuple[list[_HostOption], bool | None]:
    """Apply the enclosing scopes, innermost first, as dhcpd does: ``use-host-decl-names`` from
    any scope; a group's filename, next-server and options (the host's own statement wins, then
    the innermost group's). Sets ``ctx.filename`` / ``ctx.next_server``, adds warnings for what
    a group sets that Kea cannot take, and returns the inherited options and use-host-decl-names.
    """
    host = ctx.host
    inherited: list[_HostOption] = []
    use_names = host.use_host_decl_names
    for sc in reversed(scopes):
        if use_names is None and sc.use_host_decl_names is not None:
            use_names = sc.use_host_decl_names
        if sc.kind != "group":
            continue
        if ctx.filename is None and sc.filename is not None:
            ctx.filename = sc.filename[0]
        if ctx.next_server is None and sc.next_server is not None:
            ctx.next_server = (sc.next_server[0], sc.next_server[2])
        for text, path, line in sc.options:
            ctx.warnings.append(ctx.note(line, text, f"not translated: set on the group enclosing "
                                         f"host {host.name} (line {host.line} of {host.path}); "
                                         "Kea has no groups: add it to the reservation or a "
                                         "client class by hand", path))
        grp = sc.group_options
        if grp is None:
            continue
        for odef, entry, line, text in grp.options:
            if all(o[0] is not odef for o in inherited) and \
                    all(o[0] is not odef for o in host.options):
                inherited.append((odef, entry, line, text))
        for w in grp.warnings:
            ctx.warnings.append(ctx.note(w.line or sc.line, w.statement,
                                         f"{w.reason} (set on the group enclosing host "
                                         f"{host.name}, line {host.line} of {host.path})",
                                         grp.path))
    return inherited, use_names


def _v4_records(ctx: _HostContext) -> Iterator[ExtractItem]:
    """The host's v4 reservations, one per fixed-address (or one without an address), keyed by
    its client-id, else its ethernet address."""
    host = ctx.host
    ident: tuple[str, str] | None = None
    alt: list[str] = []
    warnings4: list[SourceWarning] = []
    if host.client_id is not None:
        ident = ("client-id", host.client_id[0])
        if ctx.ethernet:
            alt.append(f"hw-address={ctx.ethernet[0][0]}")
            warnings4.append(ctx.note(ctx.ethernet[0][1], f"hardware ethernet {ctx.ethernet[0][0]}",
                                      "not carried: the reservation is keyed by the client-id "
                                      "(Kea holds one identifier per reservation), so a client "
                                      "that sends no client-id no longer matches it"))
    elif ctx.ethernet:
        ident = ("hw-address", ctx.ethernet[0][0])
    if ident is None:
        yield ctx.err(host.line, "has no identifier Kea can use for a v4 reservation (needs "
                      "'hardware ethernet' or 'option dhcp-client-identifier')" + _unusable(host))
        return
    ns: IPv4Address | None = None
    if ctx.next_server is not None:
        try:
            ns = IPv4Address(ctx.next_server[0])
        except ValueError:
            warnings4.append(ctx.note(ctx.next_server[1], f"next-server {ctx.next_server[0]}",
                                      "not translated: kea-etl does not resolve names; write the "
                                      "address"))
    for text, line in host.fixed4 or [("", host.line)]:
        addr: IPv4Address | IPv6Address | None = None
        try:
            addr = ip_address(text) if text else None
        except ValueError:
            yield ctx.err(line, f"fixed-address {text} is a name, not an address; kea-etl does "
                          "not resolve names (DNS may differ at migration time): write the "
                          "address in dhcpd.conf or add the reservation by hand")
            continue
        if addr is not None and not isinstance(addr, IPv4Address):
            yield ctx.err(line, f"fixed-address {text} is IPv6; use fixed-address6")
            continue
        if addr is None and not (ctx.hostname or ctx.options4 or ns or ctx.filename):
            yield ctx.err(host.line, _EMPTY)
            continue
        try:
            rec = Reservation(family=4, identifier_type=ident[0],  # type: ignore[arg-type]
                              identifier=ident[1], ipv4_address=addr, hostname=ctx.hostname,
                              next_server=ns, boot_file_name=ctx.filename or "",
                              option_data=tuple(dict(e) for e in ctx.options4),
                              origin=host.path, line=host.line)
        except InvalidValueError as exc:
            yield ctx.err(line, str(exc))
            continue
        yield ctx.extracted(rec, ctx.warnings + warnings4, alt)


def _v6_records(ctx: _HostContext) -> Iterator[ExtractItem]:
    """The host's v6 reservation (all its fixed-address6 and fixed-prefix6 in one), keyed by its
    host-identifier DUID, else its client-id taken as a DUID, else its ethernet address."""
    host = ctx.host
    alt6: list[str] = []
    warnings6 = list(ctx.warnings)
    ident6: tuple[str, str] | None
    if host.duid is not None:
        ident6 = ("duid", host.duid[0])
    elif host.client_id is not None:
        ident6 = ("duid", host.client_id[0])
    elif ctx.ethernet:
        ident6 = ("hw-address", ctx.ethernet[0][0])
    else:
        yield ctx.err(host.line, "has no identifier Kea can use for a v6 reservation (needs "
                      "'host-identifier option dhcp6.client-id', 'option dhcp-client-identifier' "
                      "or 'hardware ethernet')" + _unusable(host))
        return
    if ident6[0] == "duid":
        if host.duid is not None and host.client_id is not None and host.client_id[0] != host.duid[0]:
            alt6.append(f"duid={host.client_id[0]}")
            warnings6.append(ctx.note(host.client_id[1], "option dhcp-client-identifier",
                                      "not carried: the reservation is keyed by the "
                                      "host-identifier DUID"))
        if ctx.ethernet:
            alt6.append(f"hw-address={ctx.ethernet[0][0]}")
            warnings6.append(ctx.note(ctx.ethernet[0][1], f"hardware ethernet {ctx.ethernet[0][0]}",
                                      "not carried: the reservation is keyed by the DUID (Kea "
                                      "holds one identifier per reservation)"))
    addrs: list[IPv6Address] = []
    prefixes: list[IPv6Network] = []
    bad = False
    for text, line in host.fixed6:
        try:
            a = ip_address(text)
            if not isinstance(a, IPv6Address):
                raise ValueError
            addrs.append(a)
        except ValueError:
            yield ctx.err(line, f"fixed-address6 {text} is not an IPv6 address (kea-etl does not "
                          "resolve names)")
            bad = True
    for text, line in host.prefixes6:
        try:
            prefixes.append(IPv6Network(text))
        except ValueError as exc:
            yield ctx.err(line, f"fixed-prefix6 {text}: {exc}")
            bad = True
    if bad and not (addrs or prefixes):
        return
    if not (addrs or prefixes or ctx.hostname or ctx.options6):
        yield ctx.err(host.line, _EMPTY)
        return
    if ctx.filename is not None or ctx.next_server is not None:
        warnings6.append(ctx.note(host.line, "filename / next-server", "not carried into the v6 "
                                  "reservation (DHCPv6 boots via option bootfile-url)"))
    try:
        rec6 = Reservation(family=6, identifier_type=ident6[0],  # type: ignore[arg-type]
                           identifier=ident6[1], ip_addresses=tuple(addrs),
                           prefixes=tuple(prefixes), hostname=ctx.hostname,
                           option_data=tuple(dict(e) for e in ctx.options6),
                           origin=host.path, line=host.line)
    except InvalidValueError as exc:
        yield ctx.err(host.line, str(exc))
        return
    yield ctx.extracted(rec6, warnings6, alt6)


#: one or more IPv4 addresses as colon hex (4 bytes each), how dhcpd.leases writes them
_HEX4 = r"[0-9a-fA-F]{1,2}(?::[0-9a-fA-F]{1,2}){3}(?::[0-9a-fA-F]{1,2}(?::[0-9a-fA-F]{1,2}){3})*"

#: a host with an identifier and nothing else (Kea refuses such a reservation: "must include at
#: at least one resource"; dhcpd uses it to make the client "known", or for group settings)
_EMPTY = ("has no fixed address, hostname, option, boot file or next-server: nothing a Kea "
          "reservation can hold (Kea refuses an empty one); dhcpd uses such a host to make the "
          "client known (allow known-clients) or for its group's settings: write a Kea client "
          "class by hand")


def _unusable(host: _Host) -> str:
    found = [f"hardware {t}" for t, _, _ in host.hardware if t != "ethernet"]
    found += [text for text, _ in host.other_identifiers]
    return f"; found only: {', '.join(found)}" if found else ""


def hosts_from_text(text: str, source: str, first_line: int, *, family: int | None = None
                    ) -> Iterator[ExtractItem]:
    """The reservations of dhcpd.conf-syntax ``host`` blocks held in ``text``, which starts at
    line ``first_line`` of ``source``: how :mod:`kea_etl.extract.isc_leases` reads the OMAPI host
    declarations of a dhcpd.leases (their statements are dhcpd.conf syntax). ``include`` is not
    followed."""
    parser = _Parser(Path(source), encoding="latin-1", family=family, include_dir=None,
                     text=(text, first_line))
    yield from parser.run()


def extract(path: str | Path, *, family: int | None = None, include_dir: str | Path | None = None,
            encoding: str = "latin-1") -> Iterator[ExtractItem]:
    """Stream reservations from the dhcpd.conf at ``path`` (following its includes).

    ``family``: 4 or 6 to keep only that family's reservations (default both).
    ``include_dir``: resolve relative ``include`` names against this directory instead of the
    including file's; dhcpd itself resolves them against its working directory, so pass the
    directory dhcpd ran in when the includes were written for that.
    ``encoding``: how the file is decoded; latin-1 keeps every byte, and quoted strings are re-read
    as UTF-8.
    """
    p = Path(path)
    require_regular(p, what="dhcpd.conf")
    if family not in (None, 4, 6):
        raise ConfigError(f"family must be 4 or 6, not {family!r}")
    inc = Path(include_dir) if include_dir is not None else None
    _refuse_lease_file(p)
    yield from _Parser(p, encoding=encoding, family=family, include_dir=inc).run()


def _refuse_lease_file(path: Path) -> None:
    """A dhcpd.leases given as ``isc-conf:`` would read as nothing at all (its lease blocks are
    no dhcpd.conf statements): say what the content is instead of "0 read" and exit 0."""
    from kea_etl.extract import isc_leases

    with open_regular(path, what="dhcpd.conf") as fh:
        head = fh.read(4096)
    if isc_leases.sniff(head):  # column-0 lease blocks: no dhcpd.conf has them
        raise ConfigError(f"{path}: the content is a dhcpd lease file (lease / ia-na blocks), "
                          f"not a dhcpd.conf; give it as isc-leases:{path} (or without a prefix)")
