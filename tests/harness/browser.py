"""Looking at kea-etl's HTML reports as a reader would: Debian's headless Chromium renders a page
to a PNG (non-empty, in colour), and a strict parser checks the markup is well formed (every
element closed, in order; one html, head and body)."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

__all__ = ["assert_well_formed", "chromium", "screenshot"]

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
         "track", "wbr"}


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(html: Path, dest: Path, *, size: str = "1200,1600") -> Path:
    """``html`` rendered by headless Chromium into ``dest``/shot.png (asserted a real PNG)."""
    exe = chromium()
    assert exe, "Debian's chromium is not installed: run scripts/install-deps"
    png = dest / "shot.png"
    proc = subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={dest / 'chromium-profile'}",
         f"--screenshot={png}", f"--window-size={size}", f"file://{html}"],
        capture_output=True, text=True, timeout=120)
    assert png.exists() and png.stat().st_size > 1000, proc.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return png


class _Strict(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.seen: dict[str, int] = {}
        self.doctype = False
        self.errors: list[str] = []

    def handle_decl(self, decl: str) -> None:
        self.doctype = self.doctype or decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen[tag] = self.seen.get(tag, 0) + 1
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'} "
                               f"at {self.getpos()}")
            return
        self.stack.pop()


def assert_well_formed(text: str) -> None:
    parser = _Strict()
    parser.feed(text)
    parser.close()
    assert parser.doctype, "no <!DOCTYPE html>"
    assert not parser.errors, parser.errors[:5]
    assert not parser.stack, f"never closed: {parser.stack}"
    assert [parser.seen.get(t) for t in ("html", "head", "body", "title")] == [1, 1, 1, 1]
