"""Which Kea hook library provides which command, and the list of commands kea-etl covers.

Kea answers result 2 ("command not supported") when the hook that provides a command is not
loaded; the useful message names that hook. The map follows the ``hook`` field of Kea's own
command reference (``src/share/api/*.json`` in isc-projects/kea). Commands that are not in it
are built into the daemons (or the Control Agent).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection

__all__ = ["COMMAND_HOOKS", "EXTRA_COMMANDS", "HOOK_PROBES", "SEED_COMMANDS", "hook_for",
           "unknown_command"]

#: The 66 commands of Kea's command reference that kea-etl must cover (the seed document).
#: tests/harness generates docs/commands.md from this list.
SEED_COMMANDS: tuple[str, ...] = (
    "build-report", "cache-clear", "cache-get", "cache-insert", "cache-load", "cache-remove",
    "cache-write", "config-get", "config-reload", "config-set", "config-test", "config-write",
    "dhcp-disable", "dhcp-enable", "ha-continue", "ha-heartbeat", "ha-scopes", "ha-sync",
    "lease4-add", "lease4-del", "lease4-get", "lease4-get-all", "lease4-update", "lease4-wipe",
    "lease6-add", "lease6-del", "lease6-get", "lease6-get-all", "lease6-update", "lease6-wipe",
    "leases-reclaim", "libreload", "list-commands",
    "network4-add", "network4-del", "network4-get", "network4-list", "network4-subnet-add",
    "network4-subnet-del",
    "network6-add", "network6-del", "network6-get", "network6-list", "network6-subnet-add",
    "network6-subnet-del",
    "reservation-add", "reservation-del", "reservation-get", "shutdown",
    "stat-lease4-get", "stat-lease6-get", "statistic-get", "statistic-get-all",
    "statistic-remove", "statistic-remove-all", "statistic-reset", "statistic-reset-all",
    "subnet4-add", "subnet4-del", "subnet4-get", "subnet4-list",
    "subnet6-add", "subnet6-del", "subnet6-get", "subnet6-list", "version-get",
)

#: Further commands with a typed method, needed for bulk work.
EXTRA_COMMANDS: tuple[str, ...] = (
    "lease4-get-page", "lease6-get-page", "lease6-bulk-apply", "lease4-get-by-hw-address",
    "lease4-get-by-client-id", "lease6-get-by-duid", "reservation-get-all",
    "reservation-get-page", "lease4-get-by-hostname", "lease6-get-by-hostname",
    # newer Kea, used where list-commands shows them
    "lease4-write", "lease6-write", "reservation-get-by-address", "statistic-global-get-all",
)

_BY_PREFIX: tuple[tuple[str, str], ...] = (
    ("stat-lease", "stat_cmds"),
    ("lease4-", "lease_cmds"),
    ("lease6-", "lease_cmds"),
    ("reservation-", "host_cmds"),
    ("cache-", "host_cache"),
    ("subnet4-", "subnet_cmds"),
    ("subnet6-", "subnet_cmds"),
    ("network4-", "subnet_cmds"),
    ("network6-", "subnet_cmds"),
    ("ha-", "ha"),
    ("class-", "class_cmds"),
    ("remote-", "cb_cmds"),
    ("server-tag-", "cb_cmds"),
    ("gss-tsig-", "gss_tsig"),
    ("perfmon-", "perfmon"),
    ("lease-query", "lease_query"),
)

#: explicit entries where a prefix would be wrong
_EXPLICIT: dict[str, str | None] = {
    "leases-reclaim": None,          # built into the daemons
    "lease4-write": "lease_cmds",
    "lease6-write": "lease_cmds",
    "config-backend-pull": None,
    "server-tag-get": None,          # a daemon built-in, despite its config-backend flavour
    "kea-lfc-start": "lease_cmds",
    "subnet4-select-test": None,     # daemon built-ins (Kea 2.6+)
    "subnet4o6-select-test": None,
    "subnet6-select-test": None,
}


def hook_for(command: str) -> str | None:
    """The hook library that provides ``command`` (``lease_cmds``, ``host_cmds`` ...), or
    ``None`` for a command built into the daemon."""
    if command in _EXPLICIT:
        return _EXPLICIT[command]
    for prefix, hook in _BY_PREFIX:
        if command.startswith(prefix):
            return hook
    return None


#: command -> hook for every command kea-etl has a method for (built-ins map to None)
COMMAND_HOOKS: dict[str, str | None] = {c: hook_for(c) for c in SEED_COMMANDS + EXTRA_COMMANDS}

#: one command per hook whose presence in list-commands proves the hook is loaded
HOOK_PROBES: dict[str, tuple[str, ...]] = {
    "lease_cmds": ("lease4-get", "lease6-get"),
    "stat_cmds": ("stat-lease4-get", "stat-lease6-get"),
    "host_cmds": ("reservation-get",),
    "host_cache": ("cache-get",),
    "subnet_cmds": ("subnet4-list", "subnet6-list"),
    "ha": ("ha-heartbeat",),
    "class_cmds": ("class-list",),
    "cb_cmds": ("remote-server4-get-all", "remote-server6-get-all"),
}


def unknown_command(command: str, available: Collection[str]) -> list[str] | None:
    """Whether ``command`` is a typo rather than a command of a hook the server lacks.

    Kea answers result 2 for both. ``available`` is the server's ``list-commands``. Returns
    ``None`` when the command may be real: the server lists it, kea-etl knows it, or the hook
    that would provide it is not loaded on the server. Otherwise the closest commands the server
    or kea-etl knows (best first; empty when none is close), e.g. ``lease4-get-all`` for
    ``lease4-get-al``.
    """
    if command in available or command in COMMAND_HOOKS:
        return None
    hook = hook_for(command)
    probes = HOOK_PROBES.get(hook or "", ())
    if hook is not None and probes and not any(p in available for p in probes):
        close = difflib.get_close_matches(command, list(COMMAND_HOOKS), n=1, cutoff=0.8)
        return close or None  # maybe a command of that missing hook kea-etl has no method for
    known = sorted(set(available) | set(COMMAND_HOOKS))
    scored = sorted(((difflib.SequenceMatcher(None, command, c).ratio(), c) for c in known),
                    key=lambda sc: (-sc[0], sc[1]))
    best = scored[0][0] if scored else 0.0
    return [c for r, c in scored if r >= 0.75 and r == best]
