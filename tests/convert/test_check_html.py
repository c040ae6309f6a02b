"""``kea-etl check --html``: the page is written, holds every finding (severity, evidence
file:line, the Kea setting), is well-formed HTML, escapes what the input says, and renders in
headless Chromium."""

from __future__ import annotations

from html import escape
from pathlib import Path

from click.testing import CliRunner

from kea_etl.cli import main
from kea_etl.convert.check import CheckResult, check
from kea_etl.convert.check_html import render_html
from kea_etl.convert.findings import SEVERITIES
from tests.export.helpers import png_colours
from tests.harness.browser import assert_well_formed, screenshot

ROOT = Path(__file__).resolve().parents[2]
SITE2 = ROOT / "sample-data" / "site2" / "dhcpd.conf"


def _conf(tmp_path: Path) -> Path:
    conf = tmp_path / "dhcpd.conf"
    conf.write_text('ddns-update-style interim;\n'
                    'option foo-bar "<script>alert(1)</script>";\n'
                    "subnet 192.0.2.0 netmask 255.255.255.0 {\n  range 192.0.2.10 192.0.2.50;\n}\n"
                    "host a { hardware ethernet 00:11:22:33:44:55; fixed-address 192.0.2.20; }\n")
    return conf


def test_check_html_holds_every_finding_by_severity(tmp_path: Path) -> None:
    out = tmp_path / "preflight.html"
    leases = SITE2.parent / "dhcpd.leases"
    for conf, extra in ((_conf(tmp_path), []), (SITE2, [str(leases)])):
        r = CliRunner().invoke(main, ["check", str(conf), *extra, "--html", str(out)])
        assert r.exit_code == 1, r.output  # both have things to decide
        text = out.read_text()
        assert_well_formed(text)
        _holds(text, check(conf, extra))


def _holds(text: str, result: CheckResult) -> None:
    findings = result.sorted()
    assert findings and {f.severity for f in findings} >= {"decide"}
    for f in findings:
        assert escape(f.message, quote=True) in text, f.render()
        if f.where:
            assert f"<td>{escape(f.where)}</td>" in text, f.render()
        if f.kea:
            assert f"<td>{escape(f.kea, quote=True)}</td>" in text, f.render()
    # by severity, most severe first, each with its count; none for an absent severity
    present = [s for s in SEVERITIES if any(f.severity == s for f in findings)]
    heads = [text.index(f'<h2 id="{s}">{s} ({sum(1 for f in findings if f.severity == s)})'
                        "</h2>") for s in present]
    assert heads == sorted(heads)
    assert text.count("<h2 id=") == len(present)
    assert "findings to decide before cutover" in text
    # self-contained: nothing fetched
    assert "<script" not in text and "src=" not in text and "<link" not in text


def test_check_html_escapes_the_input(tmp_path: Path) -> None:
    conf = _conf(tmp_path)
    text = render_html(check(conf), sources=[conf])
    assert_well_formed(text)
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_check_html_errors_name_the_path(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["check", str(SITE2), "--html", str(tmp_path)])
    assert r.exit_code == 2
    assert f"Error: cannot write --html {tmp_path}: it is a directory (give a file name)" in (
        r.output)
    missing = tmp_path / "no" / "such" / "dir" / "p.html"
    r = CliRunner().invoke(main, ["check", str(SITE2), "--html", str(missing)])
    assert r.exit_code == 2 and f"Error: cannot write --html {missing}: " in r.output


def test_check_html_renders_in_headless_chromium(tmp_path: Path) -> None:
    html = tmp_path / "preflight.html"
    r = CliRunner().invoke(main, ["check", str(SITE2), "--html", str(html)])
    assert r.exit_code == 1, r.output
    png = screenshot(html, tmp_path)
    assert png_colours(png) > 10  # text, the verdict box, severity cards, table shading
