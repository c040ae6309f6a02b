"""Byte-compile kea_etl before anything is timed, as ``pip install`` does.

With ``PYTHONDONTWRITEBYTECODE`` set (some shells and CI images set it) an editable checkout
never keeps its ``.pyc`` files, so every timed ``kea-etl`` process would compile about 60
modules first (0.1 s on a 2-core machine: 8 % of a 300k-lease reconcile), which an installed
kea-etl never does. Each benchmark calls :func:`compile_kea_etl` once, before its first timed
run; the floors and peers import their own code under the same conditions.
"""

from __future__ import annotations

import compileall
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent / "kea_etl"


def compile_kea_etl() -> None:
    """Write ``__pycache__`` for every kea_etl module that lacks a current one."""
    compileall.compile_dir(str(_PACKAGE), quiet=1)
