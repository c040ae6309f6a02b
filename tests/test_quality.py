"""ruff and mypy --strict as part of the test run (issue 2: lint and types are tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff_clean() -> None:
    r = _run([str(BIN / "ruff"), "check", "kea_etl", "tests", "scripts/gen-commands-doc"])
    assert r.returncode == 0, f"ruff found problems:\n{r.stdout}{r.stderr}"


def test_mypy_strict_on_package() -> None:
    r = _run([str(BIN / "mypy"), "--strict", "kea_etl"])
    assert r.returncode == 0, f"mypy --strict kea_etl failed:\n{r.stdout}{r.stderr}"


def test_test_module_names_are_unique() -> None:
    """Test folders without __init__.py are imported by basename: two test_windows.py in two of
    them stop the whole collection ("import file mismatch") on a clean checkout."""
    seen: dict[str, Path] = {}
    clashes = []
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        if (path.parent / "__init__.py").exists():
            continue  # a package: imported by its dotted name
        if path.name in seen:
            clashes.append(f"{seen[path.name].relative_to(REPO)} and {path.relative_to(REPO)}")
        seen.setdefault(path.name, path)
    assert not clashes, "test modules with the same basename: " + "; ".join(clashes)


def test_stages_do_not_import_the_orchestrators() -> None:
    """The orchestrators (kea_etl.migration, kea_etl.pipeline) import the stages, never the other
    way round, not even inside a function: a stage that needs to build loaders by name uses
    kea_etl.load.targets, which lives in the load stage."""
    import ast

    orchestrators = ("kea_etl.migration", "kea_etl.pipeline")
    found = []
    for stage in ("extract", "transform", "load", "kea"):
        for path in sorted((REPO / "kea_etl" / stage).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                         else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
                found += [f"{path.relative_to(REPO)}:{node.lineno} imports {n}" for n in names
                          if n.startswith(orchestrators)]
    assert not found, "\n".join(found)
