"""Record every Kea command the test suite sends to a real server.

The harness (``KeaServer.command``) and the wrapped ``KeaClient`` call :func:`note` for each
command they send; the conftest plugin installs a :class:`CommandRecorder` that writes one JSON
line per distinct (command, version, result, test, phase), with a count, to
``build/kea-commands.jsonl`` at the end of the session (override with ``KEA_ETL_COMMAND_LOG``).
``scripts/gen-commands-doc`` turns that log into ``docs/commands.md``: the proof that every
seed command ran against a real Kea.

Only the *call* phase of a test counts as "exercised" in the document; fixture setup and
teardown (lease wipes, shutdowns) are logged with their phase so they can be told apart.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

DEFAULT_LOG = Path("build") / "kea-commands.jsonl"

# url (socket_url / http_url) -> {"version": ..., "server": label}; filled by the harness so a
# KeaClient call can be attributed to the real server (and Kea version) it talked to.
SERVERS: dict[str, dict[str, str]] = {}


class CommandRecorder:
    """Counts (command, Kea version, result, via, server, test, phase) in memory; :meth:`flush`
    writes them as JSON lines, atomically, at the end of the session (so concurrent pytest runs
    never interleave lines, and bulk loads of many leases cost one row per distinct key)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.nodeid: str | None = None
        self.phase: str | None = None
        self._lock = threading.Lock()
        self._counts: dict[tuple[Any, ...], int] = {}

    def record(self, command: str, *, version: str, result: int | None, via: str, server: str) -> None:
        key = (command, version, result, via, server, self.nodeid, self.phase)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1

    def rows(self) -> list[dict[str, Any]]:
        with self._lock:
            items = list(self._counts.items())
        names = ("command", "version", "result", "via", "server", "test", "phase")
        return [{**dict(zip(names, key, strict=True)), "count": n} for key, n in items]

    def flush(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in self.rows()))
        tmp.replace(self.path)


RECORDER: CommandRecorder | None = None


def note(command: str, *, version: str, result: int | None, via: str, server: str) -> None:
    """Log one command if a recorder is installed (no-op outside pytest)."""
    if RECORDER is not None:
        RECORDER.record(command, version=version, result=result, via=via, server=server)


def server_for_url(url: str) -> dict[str, str] | None:
    """The harness server behind ``url`` (exact, or ignoring a trailing slash)."""
    return SERVERS.get(url) or SERVERS.get(url.rstrip("/"))


class SentCommands:
    """A transport that notes every command before passing it on (what did kea-etl send?):
    wrap a real one, ``KeaClient(SentCommands(client.transport))``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.url = inner.url
        self.commands: list[str] = []

    def request(self, command: str, arguments: Any = None) -> dict[str, Any]:
        self.commands.append(command)
        return dict(self.inner.request(command, arguments))

    def close(self) -> None:
        self.inner.close()
