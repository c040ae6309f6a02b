"""Fault injection for the kill -9 tests: test-only environment variables, read here only.

The reliability tests SIGKILL a real kea-etl process at a chosen point to prove that what it
leaves behind is safe to resume or refuse. They name the point with an environment variable,
because the process under test is started the way an operator starts it. Nobody else sets
these variables; an unset or non-numeric value turns the hook off.
"""

from __future__ import annotations

import os

__all__ = ["CHECKPOINT_CRASH_ENV", "MEMFILE_CRASH_ENV", "crash_after"]

#: SIGKILL after this many checkpointed batches of a live load (kea_etl.load.checkpoint)
CHECKPOINT_CRASH_ENV = "KEA_ETL_CRASH_AFTER_BATCHES"
#: SIGKILL after this many renames of a memfile output set's commit (kea_etl.load.memfile)
MEMFILE_CRASH_ENV = "KEA_ETL_CRASH_IN_MEMFILE_COMMIT"


def crash_after(variable: str) -> int | None:
    """The count the test set in ``variable`` (one of the names above), else None."""
    value = os.environ.get(variable, "")
    return int(value) if value.isdigit() else None
