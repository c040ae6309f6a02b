"""Every exception kea-etl raises, grouped by what the caller should do about it.

::

    KeaEtlError                      base class; the CLI turns it into one clear line and exit 2
    ├── FatalError                   stop the run: nothing will get better by retrying
    │   ├── ConfigError              bad option, bad pipeline/mapping file, bad Kea config file
    │   ├── InvalidURLError          a --url / --to / --kea that kea-etl cannot parse
    │   └── KeaUnsupportedError      result 2: the server lacks the command (names the hook)
    ├── RetriableError               transport trouble: retry with backoff, then stop cleanly
    │   └── KeaTransportError        refused, timeout, reset, TLS failure, HTTP 5xx
    │       ├── KeaAuthError         HTTP 401/403 (not retried: wrong credentials stay wrong)
    │       └── KeaEndpointError     no such socket, permission, TLS trust, not Kea (not retried)
    ├── KeaCommandError              result 1: Kea understood the command and refused it
    │   ├── KeaConflictError         result 4, or Kea 2.2's "lease already exists" (result 1)
    │   └── KeaPartialConfigError    result 5 (Kea 3.x): failed, config left partly changed
    └── RecordError                  skippable: one record is bad; it goes into the report
        ├── InvalidValueError        a field value that cannot be canonicalised
        └── MalformedRecordError     a record in an input file that cannot be parsed

A *record* error never stops a run: loaders catch it, record it in the report with the source
file, line and key, and carry on. ``KeaCommandError`` is per-command: a loader sending one
lease treats it as that record's failure; a caller sending ``config-set`` treats it as fatal.
"Empty" (result 3) is not an exception at all: getters return ``None`` or an empty list.
"""

from __future__ import annotations

from typing import Any

from kea_etl.report import quote_key

__all__ = [
    "ConfigError",
    "FatalError",
    "InvalidURLError",
    "InvalidValueError",
    "KeaAuthError",
    "KeaCommandError",
    "KeaConflictError",
    "KeaEndpointError",
    "KeaPartialConfigError",
    "KeaEtlError",
    "KeaTransportError",
    "KeaUnsupportedError",
    "MalformedRecordError",
    "RecordError",
    "RetriableError",
]


class KeaEtlError(Exception):
    """Base class of every error kea-etl raises on purpose."""


class FatalError(KeaEtlError):
    """The run cannot continue; retrying will not help."""


class ConfigError(FatalError):
    """A configuration, option, mapping or pipeline file is wrong."""


class InvalidURLError(FatalError):
    """A server URL kea-etl cannot use."""


class RetriableError(KeaEtlError):
    """A transient failure: retry with backoff, then stop cleanly with state saved."""


class KeaTransportError(RetriableError):
    """The request did not get a Kea answer (refused, timeout, reset, TLS, HTTP error)."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class KeaAuthError(KeaTransportError):
    """HTTP 401/403: the credentials were refused. Never retried."""


class KeaEndpointError(KeaTransportError):
    """The URL leads nowhere useful (no such socket, permission denied, TLS not trusted,
    not a Kea endpoint). Never retried: the same URL will fail the same way."""


class KeaCommandError(KeaEtlError):
    """Kea answered a command with an error result (1, or 4 via the subclass)."""

    def __init__(
        self,
        command: str,
        text: str,
        *,
        result: int = 1,
        arguments: Any = None,
        server: str | None = None,
    ) -> None:
        where = f" on {server}" if server else ""
        super().__init__(f"Kea refused {command}{where}: {text} (result {result})")
        self.command = command
        self.text = text
        self.result = result
        self.arguments = arguments
        self.server = server


class KeaConflictError(KeaCommandError):
    """The object already exists (result 4 on Kea 2.4+, result 1 "already exists" on 2.2)."""


class KeaPartialConfigError(KeaCommandError):
    """Result 5: the command failed and Kea could not revert the configuration to a working
    state (e.g. a hook library failed to load during ``config-set``; seen on Kea 3.0.4 and 3.2.0,
    2.x answers 1). Unlike result 1, the server may now run a partial configuration: stop and
    look at it before sending more."""


class KeaUnsupportedError(FatalError):
    """Result 2, or a command missing from list-commands: the server lacks a hook."""

    def __init__(self, command: str, *, hook: str | None = None, server: str | None = None,
                 text: str | None = None) -> None:
        where = f" {server}" if server else ""
        msg = f"the Kea server{where} does not support '{command}'"
        if hook:
            msg += f": load the {hook} hook library (libdhcp_{hook}.so)"
        if text:
            msg += f" [Kea said: {text}]"
        super().__init__(msg)
        self.command = command
        self.hook = hook
        self.server = server


class RecordError(KeaEtlError):
    """One record is wrong. It is reported and skipped; the run carries on."""


class InvalidValueError(RecordError, ValueError):
    """A field value that cannot be canonicalised. Names the field and the value."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"invalid {field} {shown}: {reason}")
        self.field = field
        self.value = value
        self.reason = reason


class MalformedRecordError(RecordError):
    """A record in an input file that cannot be parsed.

    The message reads ``dhcpd.leases line 151: lease 192.0.2.30 is truncated (no closing brace)``.
    """

    def __init__(self, source: str, line: int | None, key: str | None, reason: str) -> None:
        # a bad block can be megabytes long: its key quotes at most MAX_QUOTE characters of it
        # (and so does the reason, where it names the key), and no reason exceeds MAX_MESSAGE
        key, reason = quote_key(key, reason)
        where = f"{source} line {line}" if line is not None else source
        what = f"{key} " if key else ""
        super().__init__(f"{where}: {what}{reason}".replace(": ", ": ", 1))
        self.source = source
        self.line = line
        self.key = key
        self.reason = reason
