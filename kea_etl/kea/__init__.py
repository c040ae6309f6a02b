"""The Kea control client: every Kea command over a UNIX socket, the Control Agent or Kea 3 HTTP.

::

    from kea_etl.kea import KeaClient
    c = KeaClient.from_url("unix:///run/kea/kea4.sock")
    c.version_get(); c.lease4_add(lease); for lease in c.iter_leases4(): ...

See :mod:`kea_etl.kea.client` (result codes, retries), :mod:`kea_etl.kea.transports` (the
transport seam) and :mod:`kea_etl.kea.hooks` (which hook provides which command).
"""

from __future__ import annotations

from kea_etl.kea.client import DEFAULT_PASSWORD_ENV, KeaClient, decode_reply, read_password
from kea_etl.kea.commands import KeaResponse
from kea_etl.kea.hooks import COMMAND_HOOKS, EXTRA_COMMANDS, SEED_COMMANDS, hook_for
from kea_etl.kea.transports import (
    FakeTransport,
    HttpTransport,
    Transport,
    UnixSocketTransport,
    make_transport,
)

__all__ = [
    "COMMAND_HOOKS",
    "DEFAULT_PASSWORD_ENV",
    "EXTRA_COMMANDS",
    "SEED_COMMANDS",
    "FakeTransport",
    "HttpTransport",
    "KeaClient",
    "KeaResponse",
    "Transport",
    "UnixSocketTransport",
    "decode_reply",
    "hook_for",
    "make_transport",
    "read_password",
]
