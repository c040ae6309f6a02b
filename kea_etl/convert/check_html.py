"""``kea-etl check --html``: the pre-flight findings as one self-contained page.

The verdict first (something to decide before cutover, or not), a card per severity, then one
table per severity, most severe first: each finding with its topic, its evidence (file:line,
the statement, a count), what it means and the Kea setting that addresses it; then the counts
the check gathered. The page frame and stylesheet are the reconciliation report's
(:mod:`kea_etl.html_page`); every value is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kea_etl import clock
from kea_etl._files import atomic_write
from kea_etl.convert.check import CheckResult
from kea_etl.convert.findings import SEVERITIES
from kea_etl.html_page import escape, page, table

__all__ = ["render_html", "write_html"]

_COLOURS = {"error": "#b71c1c", "decide": "#c62828", "warning": "#ef6c00", "info": "#1565c0"}
_MEANING = {"error": "the input does not parse, or a value is unusable",
            "decide": "the operator must choose before cutover",
            "warning": "not translated, or translated with a change to know",
            "info": "translated, with a remark"}


def render_html(result: CheckResult, *, sources: Sequence[str | Path] = (),
                title: str | None = None) -> str:
    """The page as a string (see the module docstring)."""
    head = title or "Pre-flight check: " + ", ".join(str(s) for s in sources[:1] or ["dhcpd"])
    summary = result.to_json()
    sev = summary["severities"]
    when = clock.now_datetime().strftime("%Y-%m-%d %H:%M:%S UTC")
    p = [f"<h1>{escape(head)}</h1>",
         f'<div class="meta">inputs: {escape(", ".join(str(s) for s in sources) or "-")} · '
         f"generated {escape(when)}</div>"]
    if result.needs_decision:
        p.append(f'<div class="verdict bad">{sev["error"] + sev["decide"]} findings to decide '
                 "before cutover.</div>")
    else:
        p.append('<div class="verdict ok">Nothing to decide before cutover.</div>')
    p.append('<div class="cards">')
    for s in SEVERITIES:
        p.append(f'<div class="card" style="border-left:6px solid {_COLOURS[s]}">'
                 f'<div class="n">{escape(sev[s])}</div><div class="l">{escape(s)}: '
                 f"{escape(_MEANING[s])}</div></div>")
    p.append("</div>")
    findings = result.sorted()
    for s in SEVERITIES:
        mine = [f for f in findings if f.severity == s]
        if not mine:
            continue
        p.append(f'<h2 id="{s}">{escape(s)} ({len(mine)})</h2>')
        p.append(table(["topic", "evidence", "statement", "finding", "Kea setting", "count"],
                       [[f.topic, f.where, f.statement, f.message, f.kea,
                         "" if f.count is None else f.count] for f in mine],
                       numeric={5}, warn_rows=set(range(len(mine))) if s in ("error", "decide")
                       else None))
    if not findings:
        p.append('<p class="note">No findings.</p>')
    if result.counts:
        p.append("<h2>Counts</h2>")
        p.append(table(["what", "count"], sorted(result.counts.items()), numeric={1}))
    return page(head, p)


def write_html(result: CheckResult, path: str | Path, *, sources: Sequence[str | Path] = ()
               ) -> None:
    """Write :func:`render_html` to ``path`` atomically (temp file + rename)."""
    text = render_html(result, sources=sources)
    with atomic_write(path) as fh:  # private: it names hosts and files (kea_etl._files)
        fh.write(text)
