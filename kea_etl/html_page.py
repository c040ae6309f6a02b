"""The frame every kea-etl HTML report shares: one self-contained page (no scripts, fonts,
stylesheets or images fetched, so it opens offline and can be mailed as-is), its stylesheet, and
the escaped table helper. Every value from the data goes through :func:`escape` (hostnames,
file names and statements are attacker-controlled in the worst case). Used by the
reconciliation report (:mod:`kea_etl.reconcile.html_report`) and ``kea-etl check --html``
(:mod:`kea_etl.convert.check_html`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape as _escape
from typing import Any

__all__ = ["CSS", "escape", "page", "table"]

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px;
color:#1b1b1b;background:#fff;max-width:1150px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;
padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}.meta{color:#555;font-size:13px;margin-bottom:14px}
.verdict{padding:12px 16px;border-radius:6px;font-size:17px;font-weight:600;margin:10px 0 16px}
.ok{background:#e8f5e9;color:#1b5e20;border:1px solid #a5d6a7}
.bad{background:#ffebee;color:#b71c1c;border:1px solid #ef9a9a}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;
padding:10px 14px;min-width:140px}.card .n{font-size:26px;font-weight:700}
.card .l{font-size:13px;color:#555}
table{border-collapse:collapse;font-size:13px;margin:6px 0 10px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.warn td{background:#fff8e1}code{font-size:12px}.note{color:#555;font-size:13px}
.charts{display:flex;gap:24px;flex-wrap:wrap}
"""


def escape(value: Any) -> str:
    """``value`` as HTML text (None as empty), quotes included."""
    return _escape("" if value is None else str(value), quote=True)


def page(title: str, parts: Iterable[str]) -> str:
    """A whole HTML document: ``title``, the shared stylesheet, and ``parts`` as its body."""
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
            + "".join(parts) + "</body></html>\n")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *,
          numeric: set[int] | None = None, warn_rows: set[int] | None = None) -> str:
    """An escaped table; ``numeric`` columns right-aligned, ``warn_rows`` shaded."""
    numeric = numeric or set()
    warn_rows = warn_rows or set()
    out = ["<table><thead><tr>", *(f"<th>{escape(h)}</th>" for h in headers),
           "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        out.append('<tr class="warn">' if i in warn_rows else "<tr>")
        for j, cell in enumerate(row):
            cls = ' class="num"' if j in numeric else ""
            out.append(f"<td{cls}>{escape(cell)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)
