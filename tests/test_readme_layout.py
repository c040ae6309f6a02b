"""README's Layout section names every module of the package, so a reader finds it (issue 14)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "kea_etl"


def _entries() -> dict[str, str]:
    """Layout entry ("records.py", "extract", ...) -> its description, continuation lines joined."""
    block = (ROOT / "README.md").read_text(encoding="utf-8").split("## Layout", 1)[1]
    block = block.split("```", 2)[1]
    entries: dict[str, str] = {}
    current = None
    for line in block.splitlines():
        head = re.match(r"  (\S+)\s{2,}(.*)", line)
        if head and not line.startswith("   "):
            current = head.group(1).rstrip("/")
            entries[current] = head.group(2)
        elif current and line.startswith("   "):
            entries[current] += " " + line.strip()
    return entries


def _missing() -> list[str]:
    entries = _entries()
    missing = []
    for path in sorted(PACKAGE.iterdir()):
        name = path.name
        if name.startswith("__") or name.endswith((".so", ".pyi")):
            continue
        if name not in {n.rstrip("/") for n in entries}:
            missing.append(name)
            continue
        if not path.is_dir():
            continue
        text = entries[name]
        for module in sorted(path.rglob("*.py")):
            if module.stem.startswith("__"):
                continue
            if module.stem.endswith("_cmd") and "per command" in text:
                continue
            if not re.search(r"(?<![A-Za-z0-9])_?" + re.escape(module.stem.lstrip("_")) + r"\b", text):
                missing.append(f"{name}/{module.name}")
    return missing


def test_readme_layout_names_every_module() -> None:
    assert _missing() == [], "add these to README's Layout section"


def test_readme_layout_names_nothing_that_is_gone() -> None:
    gone = [name for name in _entries() if not (PACKAGE / name).exists()]
    assert gone == []
