"""Save a live Kea's lease database with ``lease4-write`` / ``lease6-write`` before a run changes it.

A live ``migrate`` (``kea:URL``) adds and replaces leases in a running Kea. Where the server
lists ``leaseN-write`` (lease_cmds, Kea 2.3.1+; detected by ``list-commands``, never by version),
kea-etl first has Kea write its current leases to a CSV file in memfile format -- the file Kea
itself would load -- so the state before the run can be put back by hand. **Kea writes the
file, on the server**: the name kea-etl asks for is ``REPORT.json.kea-leasesN-before-STAMP.csv``
next to the report (:func:`lease_backup_path`; ``./kea-etl.kea-leasesN-before-STAMP.csv``
without one).

Kea 2.6.3+ and 3.x restrict the path (CVE-2025-32801): ``leaseWriteHandler`` passes the
filename through ``CfgMgr::validatePath``, which accepts a bare name or a path in Kea's data
directory (``/var/lib/kea``, ``KEA_DHCP_DATA_DIR``) and refuses any other directory with
"invalid path specified: '...', supported path is '...'". kea-etl then asks again with the bare
name, so the file lands in Kea's data directory, and reports the path Kea's answer names
("IPv4 lease database into 'PATH'."). Without the command (Kea 2.2) nothing is saved and
:class:`LeaseBackup` says so; a non-memfile lease database (Kea's SQL backends answer "not
implemented") is not a file to save either, and is reported likewise. Any other refusal stops
the run before anything is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kea_etl.errors import ConfigError, KeaCommandError

if TYPE_CHECKING:
    from kea_etl.kea import KeaClient

__all__ = ["LeaseBackup", "lease_backup_path", "save_leases"]

_PATH_REFUSED = re.compile(r"invalid path specified|supported path is", re.IGNORECASE)
_NOT_IMPLEMENTED = re.compile(r"not implemented", re.IGNORECASE)
_WRITTEN_TO = re.compile(r"lease database into '(.*)'\.?\s*$")


@dataclass(frozen=True, slots=True)
class LeaseBackup:
    """What happened to one server's lease database before the run: ``path`` (on the Kea
    server) when saved, else ``reason`` why not."""

    server: str
    family: int
    path: str | None = None
    reason: str | None = None
    #: the path was refused and Kea wrote the file into its data directory instead
    in_data_dir: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"server": self.server, "family": self.family, "path": self.path,
                "reason": self.reason, "in_data_dir": self.in_data_dir}

    def summary(self) -> str:
        """One line for the CLI summary."""
        if self.path is None:
            return f"  leases of {self.server} NOT saved before the run: {self.reason}"
        where = " (Kea's data directory: its path restrictions allow no other)" \
            if self.in_data_dir else ""
        return (f"  leases{self.family} of {self.server} before kea-etl changed them: saved by "
                f"Kea on the server in {self.path}{where}")


def lease_backup_path(report_path: str | None, family: int, *, stamp: str) -> Path:
    """``REPORT.json.kea-leasesN-before-STAMP.csv`` next to the report (absolute), else
    ``./kea-etl.kea-leasesN-before-STAMP.csv`` (STAMP: UTC time, a new name every run)."""
    base = Path(report_path) if report_path else Path("kea-etl")
    return base.absolute().with_name(f"{base.name}.kea-leases{family}-before-{stamp}.csv")


def save_leases(client: KeaClient, family: int, *, report_path: str | None) -> LeaseBackup:
    """Have the server write its lease database (``lease{family}-write``) before a change.

    Raises :class:`~kea_etl.errors.ConfigError` (nothing was sent) when the server lists the
    command but refuses it for another reason than its path restrictions or a non-memfile
    lease database.
    """
    from kea_etl import clock

    server = str(getattr(client, "url", "the Kea server"))
    command = f"lease{family}-write"
    if command not in client.commands():
        return LeaseBackup(server, family, reason=f"the server has no {command} (Kea 2.2 "
                           "and older lack it); keep your own copy of its lease database")
    stamp = clock.now_datetime().strftime("%Y%m%dT%H%M%SZ")
    path = lease_backup_path(report_path, family, stamp=stamp)
    in_data_dir = False
    try:
        try:
            text = client.call(command, {"filename": str(path)}).text
        except KeaCommandError as exc:
            if not _PATH_REFUSED.search(exc.text):
                raise
            # Kea 2.6.3+/3.x: only its data directory; a bare name is written there
            in_data_dir = True
            text = client.call(command, {"filename": path.name}).text
    except KeaCommandError as exc:
        if _NOT_IMPLEMENTED.search(exc.text):
            return LeaseBackup(server, family, reason=f"{command}: {exc.text} (the lease "
                               "database is not a memfile: back it up with the database's tools)")
        raise ConfigError(f"cannot save the leases of {server} with {command} before changing "
                          f"them: {exc.text}; nothing was sent") from exc
    m = _WRITTEN_TO.search(text or "")
    written = m.group(1) if m else (path.name if in_data_dir else str(path))
    return LeaseBackup(server, family, path=written, in_data_dir=in_data_dir)
