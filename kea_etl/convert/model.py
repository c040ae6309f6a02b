"""A typed model of a dhcpd.conf: every statement and block, in order, with its file and line.

:func:`parse` reads a dhcpd.conf (following ``include``) with the tokenizer and include handling
of :mod:`kea_etl.extract.isc_conf` (one tokenizer for the toolkit) and returns the ``global``
:class:`Block`. A block is ``subnet`` / ``subnet6`` / ``shared-network`` / ``group`` / ``pool`` /
``pool6`` / ``host`` / ``class`` / ``subclass`` / ``failover`` / ``if`` ... ; a statement is the
tokens up to its ``;``. Nothing is interpreted here: the converter walks the tree, and whatever it
does not translate it reports with the statement's ``path`` and ``line``. Syntax errors (an
unterminated string, a block that never closes, an include that cannot be opened) are collected
in ``Block.errors`` of the global block, each with file and line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kea_etl.errors import ConfigError, MalformedRecordError
from kea_etl.extract.isc_conf import _stmt_text, _Stream, _Tok, _utf8

__all__ = ["Block", "Stmt", "parse"]

#: nesting followed at most (hostile input must not reach Python's recursion limit)
_MAX_DEPTH = 100


@dataclass(slots=True)
class Stmt:
    """One ``...;`` statement: its tokens (without the ``;``)."""

    toks: list[_Tok]
    path: str
    line: int

    @property
    def kw(self) -> str:
        return self.toks[0].text.lower() if self.toks and self.toks[0].kind == "word" else ""

    @property
    def args(self) -> list[_Tok]:
        return self.toks[1:]

    @property
    def text(self) -> str:
        return _stmt_text(self.toks) + ";"

    def words(self) -> list[str]:
        """The argument texts, lower-cased words (strings as written, commas dropped)."""
        return [t.text.lower() if t.kind == "word" else t.text for t in self.args
                if not (t.kind == "punct" and t.text == ",")]


@dataclass(slots=True)
class Block:
    """One ``HEAD { ... }`` block (or the file itself: kind ``global``)."""

    head: list[_Tok]
    path: str
    line: int
    items: list[Stmt | Block] = field(default_factory=list)
    errors: list[MalformedRecordError] = field(default_factory=list)

    @property
    def kind(self) -> str:
        if not self.head:
            return "global"
        return self.head[0].text.lower() if self.head[0].kind == "word" else ""

    @property
    def args(self) -> list[_Tok]:
        return self.head[1:]

    @property
    def text(self) -> str:
        return (_stmt_text(self.head) + " { ... }") if self.head else "(global)"

    @property
    def name(self) -> str:
        """The second token (a host's, class's or shared network's name), UTF-8."""
        return _utf8(self.head[1].text) if len(self.head) > 1 else ""

    def stmts(self) -> Iterator[Stmt]:
        for it in self.items:
            if isinstance(it, Stmt):
                yield it

    def blocks(self, *kinds: str) -> Iterator[Block]:
        for it in self.items:
            if isinstance(it, Block) and (not kinds or it.kind in kinds):
                yield it

    def walk(self) -> Iterator[Block]:
        """This block and every block inside it, depth first, in file order."""
        yield self
        for b in self.blocks():
            yield from b.walk()


def _record_def(toks: list[_Tok]) -> bool:
    """``option NAME code N =`` so far: a ``{`` here starts a record type."""
    return (len(toks) == 5 and toks[0].kind == "word" and toks[0].text.lower() == "option"
            and toks[2].text.lower() == "code" and toks[4].text == "=")


class _TreeParser:
    def __init__(self, path: Path, encoding: str, include_dir: Path | None) -> None:
        self.stream = _Stream(path, encoding, include_dir)
        self.pushback: _Tok | None = None

    def _next(self) -> _Tok | None:
        if self.pushback is not None:
            tok, self.pushback = self.pushback, None
            return tok
        return self.stream.next()

    def _statement(self) -> tuple[list[_Tok], _Tok | None]:
        """Tokens up to ``;``, ``{`` or ``}`` and that terminator (None at the end of input)."""
        toks: list[_Tok] = []
        in_record = False
        while True:
            tok = self._next()
            if tok is None:
                return toks, None
            if tok.kind == "punct" and ((tok.text == "{" and _record_def(toks))
                                        or (tok.text == "}" and in_record)):
                # ``option NAME code N = { TYPE, ... };``: the braces of a record type belong to
                # the statement, they do not open a block
                in_record = tok.text == "{"
                toks.append(tok)
                continue
            if tok.kind == "punct" and tok.text in ";{}":
                if tok.text == "}" and toks:
                    # dhcpd tolerates a missing ';' before '}': the statement ends there
                    self.pushback = tok
                    return toks, _Tok("punct", ";", tok.path, tok.line)
                return toks, tok
            toks.append(tok)

    def block(self, blk: Block, errors: list[MalformedRecordError], depth: int) -> bool:
        """Fill ``blk`` until its ``}``; False when the input ended first."""
        top = depth == 0
        while True:
            toks, term = self._statement()
            errors.extend(self.stream.errors)
            self.stream.errors.clear()
            if term is None:
                if toks:
                    errors.append(MalformedRecordError(
                        toks[0].path, toks[0].line, None,
                        f"statement '{_stmt_text(toks)}' is cut off at the end of the file"))
                if not top:
                    errors.append(MalformedRecordError(blk.path, blk.line, blk.text,
                                                       "block never closes (missing '}')"))
                return top
            if term.text == "}":
                if top:
                    errors.append(MalformedRecordError(term.path, term.line, None,
                                                       "unexpected '}'; ignored"))
                    continue
                return True
            if not toks:
                if term.text == "{":
                    errors.append(MalformedRecordError(term.path, term.line, None,
                                                       "a block with no statement before '{'"))
                    child = Block([], term.path, term.line)
                    if not self.block(child, errors, depth + 1):
                        return False
                continue
            if term.text == "{":
                child = Block(toks, toks[0].path, toks[0].line)
                if depth >= _MAX_DEPTH:
                    errors.append(MalformedRecordError(child.path, child.line, child.text,
                                                       f"blocks nested more than {_MAX_DEPTH} deep"))
                    return False
                blk.items.append(child)
                if not self.block(child, errors, depth + 1):
                    return False
                continue
            st = Stmt(toks, toks[0].path, toks[0].line)
            if st.kw == "include" and len(toks) == 2 and toks[1].kind == "string":
                self.stream.include(toks[0], toks[1].text)
                continue
            blk.items.append(st)


def parse(path: str | Path, *, include_dir: str | Path | None = None,
          encoding: str = "latin-1") -> Block:
    """The dhcpd.conf at ``path`` as a tree of blocks and statements (includes spliced in)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"dhcpd.conf {p} not found")
    parser = _TreeParser(p, encoding, Path(include_dir) if include_dir is not None else None)
    root = Block([], str(p), 0)
    try:
        parser.block(root, root.errors, 0)
        root.errors.extend(parser.stream.errors)
    finally:
        parser.stream.close()
    return root
