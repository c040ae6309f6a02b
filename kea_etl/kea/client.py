"""``KeaClient``: send commands to Kea, decode result codes in one place, retry transport trouble.

::

    c = KeaClient.from_url("unix:///run/kea/kea4.sock")
    c = KeaClient.from_url("http://127.0.0.1:8000", service="dhcp4")   # kea-ctrl-agent (2.x)
    c = KeaClient.from_url("http://127.0.0.1:8004")                     # Kea 3 daemon HTTP
    c.lease4_add(lease) ; c.lease4_get("192.0.2.10") ; list(c.iter_leases4())

Result codes: 0 success and 3 empty are returned (getters turn 3 into ``None`` / ``[]``);
1 raises :class:`KeaCommandError`, 2 :class:`KeaUnsupportedError` naming the missing hook,
4 :class:`KeaConflictError` -- as does Kea 2.2's result 1 "... already exists" -- and 5 (Kea
3.x: failed, configuration not reverted) :class:`KeaPartialConfigError`. Transport
errors (refused, timeout, reset, HTTP 5xx, the Control Agent unable to reach its daemon) are
retried ``retries`` times with exponential backoff; Kea's own answers never are. The client is
thread-safe: the HTTP transport keeps one connection per thread.
"""

from __future__ import annotations

import ipaddress
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from kea_etl.errors import (
    ConfigError,
    KeaAuthError,
    KeaCommandError,
    KeaConflictError,
    KeaEndpointError,
    KeaPartialConfigError,
    KeaTransportError,
    KeaUnsupportedError,
)
from kea_etl.kea.commands import KeaCommands, KeaResponse
from kea_etl.kea.hooks import HOOK_PROBES, hook_for
from kea_etl.kea.transports import FakeTransport, Handler, Transport, make_transport
from kea_etl.records import Lease4, Lease6

__all__ = ["DEFAULT_PASSWORD_ENV", "KeaClient", "decode_reply", "next_page_start", "read_password"]

#: environment variable the password is read from when none is named
DEFAULT_PASSWORD_ENV = "KEA_ETL_PASSWORD"

# Kea 2.2 answers a duplicate lease with result 1 "IPv4 lease already exists." (2.4+: result 4);
# Kea 3.0's reservation-add still answers result 1 "... as this host has already been added".
_CONFLICT_TEXT = re.compile(r"already (?:exists|been added)", re.IGNORECASE)
# kea-ctrl-agent could not reach the daemon behind it: transport trouble, worth a retry.
# Kea 3.0.4 answers lease4-add for an address in no subnet with result 4 although nothing conflicts
# ("subnet-id not specified and failed to find a subnet for address ..."): an error, not a conflict.
_NOT_A_CONFLICT_TEXT = re.compile(r"failed to find a subnet|no subnet|subnet-id .* does not exist",
                                  re.IGNORECASE)
_CA_FORWARD_FAILED = re.compile(r"^Unable to forward command to the \S+ service", re.IGNORECASE)
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def next_page_start(command: str, start: str, page: list[dict[str, Any]], server: str) -> str:
    """The ``from`` of the page after ``page`` (``lease4-get-page`` / ``lease6-get-page``).

    Kea answers leases whose address is greater than ``from``, so the page's last address must
    lie beyond ``start``. A server whose paging does not advance (broken, or hostile) would
    otherwise be walked forever, writing the same page again and again: that is an error
    naming the server.
    """
    try:
        last = ipaddress.ip_address(str(page[-1]["ip-address"]))
        first = None if start == "start" else ipaddress.ip_address(start)
        # (version, integer): an address of the other family is "not after" as well
        behind = first is not None and (last.version, int(last)) <= (first.version, int(first))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise KeaEndpointError(f"{server} answered {command} with a lease without a usable "
                               "ip-address: not a Kea reply", url=server) from None
    if behind:
        raise KeaEndpointError(f"{server}: {command} from {start} answered a page ending at "
                               f"{last}, which is not after {start}: the server's paging does "
                               "not advance; stopped", url=server)
    return str(last)


def decode_reply(command: str, reply: dict[str, Any], server: str | None = None) -> KeaResponse:
    """Turn one Kea reply map into a :class:`KeaResponse` or the matching exception.

    The only place in kea-etl that interprets Kea result codes.
    """
    result = reply.get("result")
    text = reply.get("text") or ""
    if not isinstance(text, str):
        text = str(text)
    arguments = reply.get("arguments")
    if result == 0 or result == 3:
        return KeaResponse(command, result, text, arguments)
    if result == 2:
        raise KeaUnsupportedError(command, hook=hook_for(command), server=server, text=text)
    if (result == 4 and not _NOT_A_CONFLICT_TEXT.search(text)) or (
            result == 1 and _CONFLICT_TEXT.search(text)):
        raise KeaConflictError(command, text, result=result, arguments=arguments, server=server)
    if result == 5:
        raise KeaPartialConfigError(command, text, result=result, arguments=arguments, server=server)
    if result == 1 and _CA_FORWARD_FAILED.search(text):
        raise KeaTransportError(f"{server}: {text}", url=server)
    if not isinstance(result, int) or isinstance(result, bool):
        raise KeaEndpointError(f"{server} answered {command} with result {result!r}: not a "
                               "Kea reply", url=server)
    raise KeaCommandError(command, text, result=result, arguments=arguments, server=server)


def read_password(*, env: str | None = None, file: str | os.PathLike[str] | None = None,
                  environ: Mapping[str, str] | None = None) -> str | None:
    """The basic-auth password from a file (first line) or a variable of ``environ``.

    Never take a password from a command-line argument: argv is visible to every user.
    ``env=None`` and ``file=None`` read :data:`DEFAULT_PASSWORD_ENV` if it is set. Library code
    never reads the process environment: a caller that wants a variable passes the environment
    it means (the CLI the process's, a pipeline step the one it was loaded with).
    """
    if file is not None:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read password file {file}: {exc.strerror or exc}") from None
        return text.splitlines()[0] if text else ""
    if environ is None:
        # a programming error, not a user's: without this a missing environ would look like
        # an unset variable
        raise TypeError("read_password needs file= or environ= (the environment to read "
                        f"{env or DEFAULT_PASSWORD_ENV} from)")
    name = env or DEFAULT_PASSWORD_ENV
    value = environ.get(name)
    if value is None and env is not None:
        raise ConfigError(f"environment variable {env} (the password) is not set")
    return value


class KeaClient(KeaCommands):
    """A Kea control-channel client over one transport, with a typed method per command."""

    def __init__(self, transport: Transport, *, retries: int = 3, backoff: float = 0.2,
                 max_backoff: float = 5.0, sleep: Callable[[float], None] = time.sleep) -> None:
        if retries < 0:
            raise ConfigError("retries cannot be negative")
        self.transport = transport
        self.url = transport.url
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._commands: frozenset[str] | None = None
        self._version: tuple[int, int, int] | None = None

    @classmethod
    def from_url(cls, url: str, *, service: str | None = None, username: str | None = None,
                 password: str | None = None, ca_file: str | None = None,
                 cert_file: str | None = None, key_file: str | None = None,
                 insecure: bool = False, timeout: float = 30.0, retries: int = 3,
                 backoff: float = 0.2) -> KeaClient:
        """A client for ``unix:///path``, ``http://host:port`` (+ ``service`` for the Control
        Agent) or ``https://host:port``."""
        transport = make_transport(url, service=service, username=username, password=password,
                                   ca_file=ca_file, cert_file=cert_file, key_file=key_file,
                                   insecure=insecure, timeout=timeout)
        return cls(transport, retries=retries, backoff=backoff)

    @classmethod
    def fake(cls, handler: Handler, *, retries: int = 3,
             sleep: Callable[[float], None] = lambda _s: None) -> KeaClient:
        """A client whose "server" is ``handler(command, arguments) -> reply`` (unit tests)."""
        return cls(FakeTransport(handler), retries=retries, sleep=sleep)

    def __repr__(self) -> str:
        return f"KeaClient({self.transport!r})"

    def __enter__(self) -> KeaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close kept connections."""
        self.transport.close()

    # ------------------------------------------------------------------ the one call path
    def call(self, command: str, arguments: Any = None) -> KeaResponse:
        """Send ``command`` and decode the answer (see :func:`decode_reply`).

        Transport errors are retried with backoff; auth and endpoint errors and every Kea
        result are not. Beware: a command that timed out may still have been applied, so a
        retried ``lease4-add`` can come back as :class:`KeaConflictError`.
        """
        attempt = 0
        while True:
            try:
                reply = self.transport.request(command, arguments)
                return decode_reply(command, reply, self.url)
            except (KeaAuthError, KeaEndpointError):
                raise
            except KeaTransportError:
                if attempt >= self.retries:
                    raise
                self._sleep(min(self.backoff * (2 ** attempt), self.max_backoff))
                attempt += 1

    # ------------------------------------------------------------------ capabilities
    def commands(self, *, refresh: bool = False) -> frozenset[str]:
        """The set of commands the server supports (``list-commands``, cached)."""
        if self._commands is None or refresh:
            self._commands = frozenset(self.list_commands())
        return self._commands

    def has_command(self, command: str) -> bool:
        """Whether the server lists ``command`` (i.e. the hook providing it is loaded)."""
        return command in self.commands()

    def has_hook(self, hook: str) -> bool:
        """Whether ``hook`` (``lease_cmds``, ``host_cmds``, ``host_cache`` ...) is loaded."""
        probes = HOOK_PROBES.get(hook)
        if probes is None:
            raise ValueError(f"no probe command known for hook {hook!r}")
        cmds = self.commands()
        return any(p in cmds for p in probes)

    def require(self, *commands: str) -> None:
        """Raise :class:`KeaUnsupportedError` naming the hook if any of ``commands`` is missing."""
        have = self.commands()
        for command in commands:
            if command not in have:
                raise KeaUnsupportedError(command, hook=hook_for(command), server=self.url)

    def version(self) -> tuple[int, int, int]:
        """The server's version as ``(major, minor, patch)`` (``version-get``, cached)."""
        if self._version is None:
            text = self.version_get()
            m = _VERSION.search(text)
            if not m:
                raise KeaEndpointError(f"{self.url}: cannot read a version in {text!r}",
                                       url=self.url)
            self._version = (int(m[1]), int(m[2]), int(m[3]))
        return self._version

    # ------------------------------------------------------------------ paging helpers
    def iter_lease4_pages(self, *, page_size: int = 1000) -> Iterator[list[dict[str, Any]]]:
        """Every v4 lease as Kea's JSON, one ``lease4-get-page`` page at a time."""
        start = "start"
        while True:
            page = self.lease4_get_page(start, page_size)
            if page:
                yield page
            if len(page) < page_size:
                return
            start = next_page_start("lease4-get-page", start, page, self.url)

    def iter_lease6_pages(self, *, page_size: int = 1000) -> Iterator[list[dict[str, Any]]]:
        """Every v6 lease (NA and PD) as Kea's JSON, one ``lease6-get-page`` page at a time."""
        start = "start"
        while True:
            page = self.lease6_get_page(start, page_size)
            if page:
                yield page
            if len(page) < page_size:
                return
            start = next_page_start("lease6-get-page", start, page, self.url)

    def iter_leases4(self, *, page_size: int = 1000,
                     subnets: Iterable[int] | None = None) -> Iterator[Lease4]:
        """Every v4 lease on the server as :class:`Lease4`, paged (never get-all), optionally
        only those in ``subnets`` (filtered here: lease4-get-page has no subnet filter)."""
        wanted = None if subnets is None else frozenset(subnets)
        for page in self.iter_lease4_pages(page_size=page_size):
            for data in page:
                if wanted is None or data.get("subnet-id") in wanted:
                    yield Lease4.from_kea(data, origin=self.url)

    def iter_leases6(self, *, page_size: int = 1000,
                     subnets: Iterable[int] | None = None) -> Iterator[Lease6]:
        """Every v6 lease on the server as :class:`Lease6`, paged, optionally by subnet."""
        wanted = None if subnets is None else frozenset(subnets)
        for page in self.iter_lease6_pages(page_size=page_size):
            for data in page:
                if wanted is None or data.get("subnet-id") in wanted:
                    yield Lease6.from_kea(data, origin=self.url)

    def iter_reservations(self, subnet_id: int, *, page_size: int = 100,
                          operation_target: str | None = None) -> Iterator[dict[str, Any]]:
        """Every host map of one subnet via ``reservation-get-page``."""
        source_index: int | None = None
        from_id: int | None = None
        while True:
            page = self.reservation_get_page(subnet_id, limit=page_size,
                                             source_index=source_index, from_host_id=from_id,
                                             operation_target=operation_target)
            hosts = page.get("hosts") or []
            yield from hosts
            nxt = page.get("next")
            if not hosts or not nxt:
                return
            here = (source_index, from_id)
            source_index, from_id = nxt.get("source-index"), nxt.get("from")
            try:  # (source, host id) must move forward, else the walk never ends
                ahead = (source_index or 0, from_id or 0) > (here[0] or 0, here[1] or 0)
            except TypeError:
                ahead = False
            if not ahead:
                raise KeaEndpointError(f"{self.url}: reservation-get-page for subnet {subnet_id} "
                                       f"answered next {nxt!r}, which is not after {here}: the "
                                       "server's paging does not advance; stopped", url=self.url)
