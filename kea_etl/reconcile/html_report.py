"""The reconciliation report as one self-contained HTML file.

Summary first (verdict, counts), then inline SVG charts drawn by hand here (match categories;
per-subnet utilisation from Kea's own statistics, and per pool where Kea keeps pool statistics),
the per-subnet and per-pool tables, the tables of differences, then the host reservations (counts
and every difference: they are few). For DHCPv6, addresses (IA_NA)
and delegated prefixes (IA_PD) are shown apart everywhere: added together, a subnet's huge
address pool hides a pd-pool that is nearly full. No scripts, fonts, stylesheets or images are
fetched: the file opens offline and can be mailed as-is. Every value from the data is
HTML-escaped (hostnames and file names are attacker-controlled in the worst case). Tables show at
most
:data:`~kea_etl.reconcile.compare.SAMPLE_LIMIT` differences; the JSON and CSV outputs hold all.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kea_etl._files import atomic_write
from kea_etl.html_page import escape as _e
from kea_etl.html_page import page
from kea_etl.html_page import table as _table
from kea_etl.reconcile.compare import SAMPLE_LIMIT, PoolCounts, ReconcileResult, SubnetCounts
from kea_etl.reconcile.hosts import CategoryCounts, field_text

__all__ = ["render_html", "write_html"]

_COLOURS = {"matched": "#2e7d32", "missing": "#c62828", "extra": "#ef6c00",
            "mismatched": "#6a1b9a"}

def _bar_chart(title: str, items: Sequence[tuple[str, float, str, str]], *, width: int = 520,
               max_value: float | None = None) -> str:
    """Horizontal bars: items are (label, value, value text, colour)."""
    longest = max([len(label) for label, _, _, _ in items] or [8])
    bar_h, gap, right, top = 22, 8, 100, 30
    left = int(min(220, max(90, 16 + 7.5 * longest)))
    height = top + max(1, len(items)) * (bar_h + gap) + 10
    top_value = max_value if max_value is not None else max([v for _, v, _, _ in items] or [1])
    top_value = top_value or 1
    plot_w = width - left - right
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">',
             f'<rect width="{width}" height="{height}" fill="#fafafa" stroke="#ddd"/>',
             f'<text x="10" y="20" font-size="14" font-weight="600" fill="#222">{_e(title)}</text>']
    for i, (label, value, text, colour) in enumerate(items):
        y = top + i * (bar_h + gap)
        w = max(0.0, min(1.0, value / top_value)) * plot_w
        if value > 0:
            w = max(w, 2.0)
        parts.append(f'<text x="{left - 8}" y="{y + 16}" font-size="13" text-anchor="end" '
                     f'fill="#333">{_e(label)}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{plot_w}" height="{bar_h}" fill="#eee"/>')
        parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                     f'fill="{_e(colour)}"/>')
        parts.append(f'<text x="{left + plot_w + 6}" y="{y + 16}" font-size="13" '
                     f'fill="#333">{_e(text)}</text>')
    if not items:
        parts.append(f'<text x="{left}" y="{top + 16}" font-size="13" fill="#777">no data</text>')
    parts.append("</svg>")
    return "".join(parts)


def _fmt_pct(v: float | None) -> str:
    return "" if v is None else f"{v * 100:.1f}%"


def _subnet_label(s: SubnetCounts) -> str:
    return f"{s.subnet_id} {s.prefix}".strip()


_NA_COLOUR, _PD_COLOUR = "#1565c0", "#00838f"
_KIND = {"pool": "addresses", "pd-pool": "delegated prefixes"}


def _pool_label(pool: PoolCounts) -> str:
    return f"{pool.subnet_id} {pool.kind} {pool.pool_id}"


def _subnet_bars(subnets: Sequence[SubnetCounts], family: int
                 ) -> list[tuple[str, float, str, str]]:
    """Bars of the per-subnet chart: v4 one per subnet; v6 addresses and prefixes apart."""
    def bar(label: str, used: float | None, total: int | None, colour: str
            ) -> tuple[str, float, str, str]:
        return (label, (used or 0.0) * 100,
                f"{_fmt_pct(used) or 'n/a'} of {total if total is not None else '?'}", colour)

    if family == 4:
        return [bar(_subnet_label(s)[:26], s.utilisation, s.stat_total, _NA_COLOUR)
                for s in subnets]
    out = []
    for s in subnets:
        if s.stat_total_nas is None and s.stat_total_pds is None:
            out.append(bar(_subnet_label(s)[:26], None, None, _NA_COLOUR))
            continue
        if s.stat_total_nas:
            out.append(bar(f"{_subnet_label(s)[:22]} NA", s.utilisation_nas, s.stat_total_nas,
                           _NA_COLOUR))
        if s.stat_total_pds:
            out.append(bar(f"{_subnet_label(s)[:22]} PD", s.utilisation_pds, s.stat_total_pds,
                           _PD_COLOUR))
    return out


def render_html(result: ReconcileResult, *, title: str | None = None) -> str:
    """The whole report as a string (see the module docstring)."""
    summ = result.summary()
    ok = result.differences == 0
    head_title = title or f"Reconciliation: {result.source_name or 'source'} vs " \
                          f"{result.server or 'Kea'}"
    p: list[str] = [f"<h1>{_e(head_title)}</h1>",
                    f'<div class="meta">DHCPv{_e(result.family)} · Kea {_e(result.kea_version)} '
                    f"· as of {_e(summ['as_of'])} · expiry tolerance {_e(result.tolerance)} s "
                    f"· generated {_e(summ['generated_at'])}</div>"]
    hosts = result.reservations
    if ok:
        said = ([f"{result.matched} leases"] if result.leases_compared else []) + (
            [f"{hosts.matched} reservations"] if hosts.compared else [])
        p.append(f'<div class="verdict ok">All {" and ".join(said)} match.</div>')
    else:
        parts = [f"{kind}: {n.missing} missing in Kea, {n.extra} extra in Kea, "
                 f"{n.mismatched} mismatched"
                 for kind, n, on in (("leases", result, result.leases_compared),
                                     ("reservations", hosts, hosts.compared)) if on]
        p.append(f'<div class="verdict bad">{result.differences} differences. '
                 f"{_e('; '.join(parts))}.</div>")
    if not result.leases_compared:
        p.append('<p class="note">Leases not compared: no source holds leases (Kea\'s leases '
                 "were not read).</p>")
        p.append(_hosts_html(result))
        p.append(_warnings_html(result))
        return page(head_title, p)
    p.append(_cards(result))

    src, kea = summ["source"], summ["kea"]
    p.append("<h2>Inputs</h2>")
    p.append(_table(["", "read", "compared", "set aside", "why"], [
        ["source " + str(src["name"]), src["read"], src["compared"],
         sum(src["skipped"].values()) + src["failed"] + src["duplicates"],
         "; ".join([f"{k}: {v}" for k, v in src["skipped"].items()]
                   + ([f"failed: {src['failed']}"] if src["failed"] else [])
                   + ([f"duplicate keys: {src['duplicates']}"] if src["duplicates"] else []))],
        ["Kea " + str(kea["server"]), kea["read"], kea["compared"], sum(kea["ignored"].values()),
         "; ".join(f"{k}: {v}" for k, v in kea["ignored"].items())],
    ], numeric={1, 2, 3}))
    p.append('<p class="note">Source records go through the migration policy first (free, '
             "expired, backup ... are set aside, not reported missing); Kea leases that no longer "
             "hold their address (expired, reclaimed, released) are set aside too.</p>")

    p.append("<h2>Charts</h2><div class=\"charts\">")
    total = max(1, result.matched + result.lease_differences)
    p.append(_bar_chart("Match categories", [
        (name, float(summ[name]), f"{summ[name]} ({summ[name] * 100 / total:.1f}%)",
         _COLOURS[name]) for name in ("matched", "missing", "extra", "mismatched")]))
    subnets = sorted(result.subnets.values(), key=lambda s: s.subnet_id)
    p.append(_bar_chart(f"Per-subnet utilisation (stat-lease{result.family}-get)",
                        _subnet_bars(subnets, result.family), max_value=100.0))
    pools = [pool for s in subnets for pool in s.pools]
    if pools:
        p.append(_bar_chart("Per-pool utilisation (statistic-get-all)",
                            [(_pool_label(pool)[:26], (pool.utilisation or 0.0) * 100,
                              f"{_fmt_pct(pool.utilisation) or 'n/a'} of {pool.total}",
                              _PD_COLOUR if pool.kind == "pd-pool" else _NA_COLOUR)
                             for pool in pools], max_value=100.0))
    p.append("</div>")

    p.append("<h2>Per subnet</h2>")
    rows, warn = [], set()
    v6 = result.family == 6
    for i, s in enumerate(subnets):
        if not s.counts_match:
            warn.add(i)
        if v6:
            rows.append([s.subnet_id, s.prefix, s.source, s.kea,
                         s.stat_assigned_nas, s.stat_total_nas, _fmt_pct(s.utilisation_nas),
                         s.stat_assigned_pds, s.stat_total_pds, _fmt_pct(s.utilisation_pds),
                         s.stat_declined, "yes" if s.counts_match else "NO"])
        else:
            rows.append([s.subnet_id, s.prefix, s.source, s.kea, s.stat_assigned,
                         s.stat_declined, s.stat_total, _fmt_pct(s.utilisation),
                         "yes" if s.counts_match else "NO"])
    if v6:
        p.append(_table(["subnet", "prefix", "source", "Kea leases", "addresses assigned (stat)",
                         "addresses total (stat)", "addresses used", "prefixes assigned (stat)",
                         "prefixes total (stat)", "prefixes used", "declined (stat)",
                         "counts agree"], rows, numeric={0, 2, 3, 4, 5, 6, 7, 8, 9, 10},
                        warn_rows=warn))
    else:
        p.append(_table(["subnet", "prefix", "source", "Kea leases", "Kea assigned (stat)",
                         "declined (stat)", "total (stat)", "utilisation", "counts agree"], rows,
                        numeric={0, 2, 3, 4, 5, 6, 7}, warn_rows=warn))
    if pools:
        p.append("<h2>Per pool</h2>")
        p.append('<p class="note">Kea\'s own pool statistics (statistic-get-all), kept per '
                 "pool-id: pools without a pool-id in Kea's configuration count together under "
                 "id 0.</p>")
        p.append(_table(["subnet", "kind", "pool-id", "pools", "assigned", "total",
                         "utilisation"],
                        [[pool.subnet_id, _KIND[pool.kind] if v6 else "addresses", pool.pool_id,
                          pool.pools, pool.assigned, pool.total, _fmt_pct(pool.utilisation)]
                         for pool in pools], numeric={0, 2, 4, 5, 6}))
    elif v6:
        p.append('<p class="note">This Kea keeps no per-pool statistics (they start with Kea '
                 "2.4): addresses and delegated prefixes are shown apart per subnet.</p>")

    if summ["fields_mismatched"]:
        p.append("<h2>Mismatched fields</h2>")
        p.append(_table(["field", "records"], summ["fields_mismatched"].items(), numeric={1}))

    sample = result.sample
    shown = len(sample)
    p.append("<h2>Differences</h2>")
    if not sample:
        p.append('<p class="note">None.</p>')
    else:
        if shown < result.lease_differences:
            p.append(f'<p class="note">Showing the first {shown} of {result.lease_differences} '
                     f"differences (at most {SAMPLE_LIMIT}); the JSON and CSV outputs list all."
                     "</p>")
        mism = [d for d in sample if d["category"] == "mismatched"]
        if mism:
            p.append("<h3>Mismatched</h3>")
            rows2 = []
            for d in mism:
                for name, vals in d["fields"].items():
                    rows2.append([d["address"], d.get("subnet_id"), name, vals.get("source"),
                                  vals.get("kea"), d.get("source_line")])
            p.append(_table(["address", "subnet", "field", "source", "Kea", "source line"],
                            rows2))
        for cat, side, label in (("missing", "source", "Missing in Kea (in the source)"),
                                 ("extra", "kea", "Extra in Kea (not in the source)")):
            items = [d for d in sample if d["category"] == cat]
            if not items:
                continue
            keys: list[str] = []
            for d in items:
                for k in d.get(side, {}):
                    if k not in keys and k != "subnet_id":
                        keys.append(k)
            p.append(f"<h3>{_e(label)}</h3>")
            p.append(_table(["address", "subnet", *keys, *(["source line"] if cat == "missing"
                                                          else [])],
                            [[d["address"], d.get("subnet_id"),
                              *[d.get(side, {}).get(k) for k in keys],
                              *([d.get("source_line")] if cat == "missing" else [])]
                             for d in items]))
    p.append(_hosts_html(result))
    p.append(_warnings_html(result))
    return page(head_title, p)


def _warnings_html(result: ReconcileResult) -> str:
    if not result.warnings:
        return ""
    return ("<h2>Warnings</h2><ul>" + "".join(f"<li>{_e(w)}</li>" for w in result.warnings)
            + "</ul>")


def _cards(counts: CategoryCounts) -> str:
    """One card per category (leases or reservations), coloured as in the charts."""
    return ('<div class="cards">' + "".join(
        f'<div class="card" style="border-left:6px solid {_COLOURS[name]}">'
        f'<div class="n">{_e(n)}</div><div class="l">{_e(name)}</div></div>'
        for name, n in counts.category_counts().items()) + "</div>")


def _hosts_html(result: ReconcileResult) -> str:
    """The reservations section: counts, where Kea's came from, every difference."""
    h = result.reservations
    if not h.compared:
        return ('<h2>Reservations</h2><p class="note">Not compared: no source holds host '
                "reservations.</p>")
    p = ["<h2>Reservations</h2>",
         f'<p class="note">Keyed by subnet, identifier type and identifier. Kea\'s reservations '
         f"read with {_e(h.kea_source)}.</p>", _cards(h)]
    p.append(_table(["", "read", "compared", "set aside", "why"], [
        ["source", h.source_read, h.source_compared,
         sum(h.source_failed.values()) + sum(h.source_skipped.values()),
         "; ".join(f"{k}: {v}" for k, v in [*h.source_failed.items(),
                                             *h.source_skipped.items()])],
        ["Kea", h.kea_read, h.kea_read - sum(h.kea_ignored.values()),
         sum(h.kea_ignored.values()), "; ".join(f"{k}: {v}" for k, v in h.kea_ignored.items())],
    ], numeric={1, 2, 3}))
    if not h.items:
        return "".join(p)
    rows = []
    for d in h.items:
        base = [d.key, d.subnet_id, d.category, " ".join(d.addresses), d.hostname]
        for name, vals in d.fields.items():
            rows.append([*base, name, field_text(vals.get("source")), field_text(vals.get("kea")),
                         d.source_line])
        if not d.fields:
            rows.append([*base, "", "", "", d.source_line])
    p.append(_table(["reservation", "subnet", "category", "addresses", "hostname", "field",
                     "source", "Kea", "source line"], rows, numeric={1}))
    return "".join(p)


def write_html(result: ReconcileResult, path: str | Path, *, title: str | None = None) -> None:
    """Write :func:`render_html` to ``path`` atomically (temp file + rename)."""
    text = render_html(result, title=title)
    with atomic_write(path) as fh:  # private: it names clients (kea_etl._files)
        fh.write(text)
