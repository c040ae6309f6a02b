"""The dhcpd.conf tree (kea_etl.convert.model): a property test renders random trees of blocks and
statements with random layout and comments, and parsing gives the same tree with the right lines;
plus the syntax errors it reports with file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kea_etl.convert.model import Block, Stmt, parse

word = st.from_regex(r"[a-z][a-z0-9.:/-]{0,8}", fullmatch=True)
text = st.from_regex(r"[A-Za-z0-9 .,;{}#-]{0,10}", fullmatch=True)
token = st.one_of(word, text.map(lambda t: f'"{t}"'))
stmt = st.lists(token, min_size=1, max_size=4).filter(lambda ts: not ts[0].startswith('"')
                                                      and ts[0] != "include")
tree: Any = st.recursive(
    stmt.map(lambda ts: ("stmt", ts)),
    lambda children: st.tuples(st.just("block"), stmt, st.lists(children, max_size=4)),
    max_leaves=25)


def render(node: Any, out: list[str], lines: list[int], sep: str) -> None:
    if node[0] == "stmt":
        lines.append(len(out) + 1)
        out.append(" ".join(node[1]) + ";" + sep)
    else:
        lines.append(len(out) + 1)
        out.append(" ".join(node[1]) + " {")
        for child in node[2]:
            render(child, out, lines, sep)
        out.append("}")


def shape(item: Stmt | Block) -> Any:
    if isinstance(item, Stmt):
        return ("stmt", [f'"{t.text}"' if t.kind == "string" else t.text for t in item.toks])
    return ("block", [f'"{t.text}"' if t.kind == "string" else t.text for t in item.head],
            [shape(i) for i in item.items])


def all_lines(item: Stmt | Block, out: list[int]) -> None:
    out.append(item.line)
    if isinstance(item, Block):
        for i in item.items:
            all_lines(i, out)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(nodes=st.lists(tree, max_size=5), sep=st.sampled_from(["", "  # a comment { ; }", "\t"]))
def test_round_trip(nodes: list[Any], sep: str, tmp_path_factory: Any) -> None:
    out: list[str] = []
    lines: list[int] = []
    for n in nodes:
        render(n, out, lines, sep)
    path = tmp_path_factory.mktemp("m") / "d.conf"
    path.write_text("\n".join(out) + "\n")
    root = parse(path)
    assert root.errors == []
    assert [shape(i) for i in root.items] == [
        (n[0], n[1]) if n[0] == "stmt" else (n[0], n[1], _norm(n[2])) for n in nodes]
    got: list[int] = []
    for i in root.items:
        all_lines(i, got)
    assert got == lines


def _norm(children: list[Any]) -> list[Any]:
    return [(c[0], c[1]) if c[0] == "stmt" else (c[0], c[1], _norm(c[2])) for c in children]


def test_includes_and_errors_carry_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "inc.conf").write_text('option domain-name "x";\nhost h {\n')
    main = tmp_path / "d.conf"
    main.write_text('include "inc.conf";\ninclude "missing.conf";\n}\noption routers "a;\n')
    root = parse(main)
    host = next(root.blocks("host"))
    assert (host.path, host.line) == (str(tmp_path / "inc.conf"), 2)
    # the included file leaves the host open; the main file's '}' closes it (the token stream
    # runs on, as dhcpd reads it)
    assert [(st.kw, st.line) for st in root.stmts()] == [("option", 1), ("option", 4)]
    msgs = [(Path(e.source).name, e.line, e.reason) for e in root.errors]
    assert any(s == "d.conf" and ln == 2 and "missing.conf" in r for s, ln, r in msgs), msgs
    assert any(s == "d.conf" and ln == 4 and "unterminated" in r for s, ln, r in msgs), msgs
