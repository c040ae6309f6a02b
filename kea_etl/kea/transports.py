"""How a Kea command reaches a server: the transport seam under :class:`~kea_etl.kea.KeaClient`.

A transport sends one command and returns Kea's reply as one JSON map; it knows nothing about
result codes (the client decodes those in one place). Three real transports and one fake:

* :class:`UnixSocketTransport`: the daemon's UNIX control socket. Kea takes one command per
  connection and closes it after the answer, so the reply is read to EOF; the reply is one map.
* :class:`HttpTransport`: HTTP(S) to kea-ctrl-agent (Kea 2.x; send ``service``) or straight to a
  Kea 3 daemon's HTTP control socket. Both answer a JSON *list* (one entry per service), except
  HTTP 400/401/403, which come back as a single map. Keep-alive, one connection per thread, and
  a small HTTP/1.1 implementation on ``socket``/``ssl`` (see :class:`_Connection` for why not
  http.client).
* :class:`FakeTransport`: an in-process callable ``handler(command, arguments) -> reply`` for
  unit tests; its reply goes through the same unwrapping as HTTP.

Transport failures raise :class:`~kea_etl.errors.KeaTransportError` (retriable),
:class:`~kea_etl.errors.KeaAuthError` (401/403) or :class:`~kea_etl.errors.KeaEndpointError`
(the URL leads nowhere useful: no such socket, permission denied, TLS verification, not Kea).
Passwords live only inside the prebuilt ``Authorization`` header: never in a message or repr.

A server is not trusted to be Kea: every reply is bounded in size
(:data:`MAX_REPLY_BYTES`, a larger one is :class:`~kea_etl.errors.KeaEndpointError`), the whole
reply must arrive within ``timeout`` (a deadline for the exchange, not per ``recv``: one byte
every two seconds does not keep a command alive), and JSON nested deeper than Python's decoder
goes (about 1000 levels) is refused instead of raising ``RecursionError``.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import io
import ipaddress
import json
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from kea_etl.errors import (
    ConfigError,
    InvalidURLError,
    KeaAuthError,
    KeaEndpointError,
    KeaTransportError,
)
from kea_etl.urls import redact_url, refuse_password

__all__ = [
    "CONNECT_FAILED",
    "FakeTransport",
    "Handler",
    "HttpTransport",
    "SecurityWarning",
    "Transport",
    "UnixSocketTransport",
    "encode_request",
    "make_transport",
    "redact_url",
    "unwrap_reply",
]

#: the largest reply read from a server (a Kea config-get of a very large configuration is tens
#: of MB; a lease page of 1000 leases about 0.5 MB)
MAX_REPLY_BYTES = 256 << 20

#: how every failure to reach a UNIX control socket starts (what failed, to what, then why);
#: callers that would add a guess of their own (the HA check) pass such an error on unchanged
CONNECT_FAILED = "cannot connect to Kea at"

_JSON_SEPARATORS = (",", ":")
_dumps = json.JSONEncoder(separators=_JSON_SEPARATORS, ensure_ascii=False).encode
_loads = json.loads


class Transport(Protocol):
    """Sends one command, returns Kea's reply map (not yet decoded for its result code)."""

    #: the server URL without credentials, for messages
    url: str

    def request(self, command: str, arguments: Any = None) -> dict[str, Any]: ...

    def close(self) -> None: ...


def encode_request(command: str, arguments: Any = None, service: str | None = None) -> bytes:
    """The JSON body of one Kea command (compact separators: this runs thousands of times/s)."""
    msg: dict[str, Any] = {"command": command}
    if service:
        msg["service"] = [service]
    if arguments is not None:
        msg["arguments"] = arguments
    return _dumps(msg).encode()


def unwrap_reply(reply: Any, url: str, command: str) -> dict[str, Any]:
    """One reply map from what the server sent: the CA and Kea 3's HTTP answer a list
    (one entry per service; we always address one), the UNIX socket and HTTP 4xx a map."""
    if isinstance(reply, list):
        if not reply:
            raise KeaEndpointError(f"{url} answered {command} with an empty list", url=url)
        reply = reply[0]
    if not isinstance(reply, dict) or "result" not in reply:
        shown = repr(reply)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        raise KeaEndpointError(f"{url} answered {command} with {shown}: not a Kea reply", url=url)
    return reply


def _decode_json(data: bytes, url: str, command: str) -> Any:
    try:
        return _loads(data)
    except RecursionError:  # the C decoder stops at the interpreter's recursion limit
        raise KeaEndpointError(f"{url} answered {command} with JSON nested deeper than kea-etl "
                               "decodes: not a Kea reply", url=url) from None
    except ValueError:
        shown = data[:80].decode("utf-8", "replace")
        if not data:
            raise KeaTransportError(f"{url} closed the connection without answering {command}",
                                    url=url) from None
        raise KeaEndpointError(f"{url} answered {command} with something that is not JSON: "
                               f"{shown!r}", url=url) from None


class UnixSocketTransport:
    """A Kea daemon's UNIX control socket: one command per connection, reply read to EOF."""

    def __init__(self, path: str | Path, *, timeout: float = 30.0,
                 max_reply: int = MAX_REPLY_BYTES) -> None:
        self.path = str(path)
        self.url = f"unix://{self.path}"
        self.timeout = timeout
        self.max_reply = max_reply

    def __repr__(self) -> str:
        return f"UnixSocketTransport({self.url!r})"

    def request(self, command: str, arguments: Any = None) -> dict[str, Any]:
        body = encode_request(command, arguments)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.path)
            except FileNotFoundError:
                raise KeaEndpointError(f"{CONNECT_FAILED} {self.path}: no such file (is Kea "
                                       "running, is the path right? It is the socket-name of "
                                       "the control socket in Kea's configuration)",
                                       url=self.url) from None
            except PermissionError:
                raise KeaEndpointError(f"{CONNECT_FAILED} {self.path}: permission denied (run "
                                       "as the Kea user or root)", url=self.url) from None
            except ConnectionRefusedError:
                raise KeaTransportError(f"{CONNECT_FAILED} {self.path}: connection refused, "
                                        "nothing is listening (Kea stopped or restarting?)",
                                        url=self.url) from None
            except OSError as exc:
                if exc.errno == errno.ENOTSOCK:
                    raise KeaEndpointError(f"{CONNECT_FAILED} {self.path}: not a socket",
                                           url=self.url) from None
                raise
            deadline = time.monotonic() + self.timeout  # the whole reply, not each recv
            sock.sendall(body)
            chunks = []
            size = 0
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                sock.settimeout(left)
                chunk = sock.recv(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_reply:
                    raise _too_large(self.url, command, self.max_reply)
                chunks.append(chunk)
        except TimeoutError:
            raise KeaTransportError(f"timed out after {self.timeout:g}s waiting for {command} on "
                                    f"{self.path}", url=self.url) from None
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise KeaTransportError(f"{self.path}: connection reset during {command} ({exc})",
                                    url=self.url) from None
        except OSError as exc:
            raise KeaTransportError(f"{self.path}: {exc.strerror or exc} during {command}",
                                    url=self.url) from None
        finally:
            sock.close()
        return unwrap_reply(_decode_json(b"".join(chunks), self.url, command), self.url, command)

    def close(self) -> None:
        """Nothing to close: each command has its own connection."""


def _too_large(url: str, command: str, limit: int) -> KeaEndpointError:
    return KeaEndpointError(f"{url} sent more than {limit / 2**20:g} MB in answer to {command}; "
                            "stopped reading (not a Kea reply)", url=url)


class _TooLarge(Exception):
    """The reply passed the size cap."""


class _Bounded(io.RawIOBase):
    """The socket as the HTTP parser reads it: every read counts against the reply's size cap
    and waits at most until the exchange's deadline (a socket timeout alone is per ``recv``)."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock
        self.deadline = 0.0
        self.left = 0

    def arm(self, timeout: float, max_bytes: int) -> None:
        self.deadline = time.monotonic() + timeout
        self.left = max_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        wait = self.deadline - time.monotonic()
        if wait <= 0:
            raise TimeoutError
        if self.left <= 0:
            raise _TooLarge
        self.sock.settimeout(wait)
        with memoryview(buffer) as view:
            n = self.sock.recv_into(view[:self.left])
        self.left -= n
        return n


class _Disconnected(Exception):
    """The server closed the connection before a complete response."""


class _NotHTTP(Exception):
    """The peer answered something that is not an HTTP/1.x response."""


_MAX_LINE = 65536


class _Connection:
    """One kept-alive HTTP/1.1 connection, just enough HTTP for Kea.

    http.client spends about three times the CPU of the request itself on header objects
    (email.parser) and sends headers and body in two writes; at thousands of commands per second
    that is the bottleneck, so requests go out in one write and responses are parsed by hand:
    status line, Content-Length / chunked / read-to-close, Connection: close.
    """

    __slots__ = ("max_reply", "raw", "rfile", "sock", "timeout")

    def __init__(self, host: str, port: int, timeout: float, ctx: ssl.SSLContext | None,
                 max_reply: int = MAX_REPLY_BYTES) -> None:
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if ctx is not None:
                sock = ctx.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.timeout = timeout
        self.max_reply = max_reply
        self.raw = _Bounded(sock)
        self.rfile = io.BufferedReader(self.raw, 65536)

    def close(self) -> None:
        self.rfile.close()
        self.sock.close()

    def exchange(self, request: bytes) -> tuple[int, str, bytes, bool]:
        """Send one request; return (status, reason, body, server_will_close)."""
        self.raw.arm(self.timeout, self.max_reply)
        self.sock.settimeout(self.timeout)
        self.sock.sendall(request)
        rfile = self.rfile
        while True:
            line = rfile.readline(_MAX_LINE)
            if not line:
                raise _Disconnected
            parts = line.split(None, 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
                raise _NotHTTP(line[:60])
            status = int(parts[1])
            reason = parts[2].strip().decode("latin-1") if len(parts) > 2 else ""
            will_close = parts[0] == b"HTTP/1.0"
            length = -1
            chunked = False
            while True:
                h = rfile.readline(_MAX_LINE)
                if not h:
                    raise _Disconnected
                if h in (b"\r\n", b"\n"):
                    break
                name, _, value = h.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                    if length > self.max_reply:
                        raise _TooLarge
                elif name == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
                elif name == b"connection":
                    v = value.strip().lower()
                    will_close = v == b"close" or (will_close and v != b"keep-alive")
            if 100 <= status < 200:
                continue  # interim response (100 Continue): the real one follows
            break
        if chunked:
            body = self._read_chunked()
        elif length >= 0:
            body = rfile.read(length)
            if len(body) < length:
                raise _Disconnected
        else:
            body = rfile.read()
            will_close = True
        return status, reason, body, will_close

    def _read_chunked(self) -> bytes:
        rfile = self.rfile
        out: list[bytes] = []
        while True:
            line = rfile.readline(_MAX_LINE)
            if not line:
                raise _Disconnected
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(out)
            chunk = rfile.read(size + 2)
            if len(chunk) < size + 2:
                raise _Disconnected
            out.append(chunk[:size])


class HttpTransport:
    """HTTP(S) to kea-ctrl-agent (give ``service``) or to a Kea 3 daemon's own HTTP socket.

    One keep-alive connection per thread (``threading.local``), so several loader threads can
    share one transport. A kept connection the server has meanwhile closed is reopened once,
    transparently; other failures are raised for the client's retry loop.
    """

    def __init__(self, url: str, *, service: str | None = None, username: str | None = None,
                 password: str | None = None, ca_file: str | None = None,
                 cert_file: str | None = None, key_file: str | None = None,
                 insecure: bool = False, timeout: float = 30.0,
                 max_reply: int = MAX_REPLY_BYTES) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise InvalidURLError(f"not an http(s) URL: {redact_url(url)}")
        refuse_password(url)
        try:
            port = parts.port
        except ValueError:
            raise InvalidURLError(f"bad port in {redact_url(url)}") from None
        if not parts.hostname:
            raise InvalidURLError(f"no host in {redact_url(url)}: write http://HOST:PORT")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = port or (443 if self.https else 80)
        self.path = parts.path or "/"
        host_shown = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"{parts.scheme}://{host_shown}:{self.port}{'' if self.path == '/' else self.path}"
        self.service = service
        self.timeout = timeout
        self.max_reply = max_reply
        self.username = username or parts.username
        if password is not None and not self.username:
            raise ConfigError("a password was given without a username")
        self._headers = {"Content-Type": "application/json"}
        if self.username is not None:
            if ":" in self.username:
                raise ConfigError("a basic-auth username cannot contain ':'")
            token = base64.b64encode(f"{self.username}:{password or ''}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self._client_cert = bool(cert_file)
        self._ssl: ssl.SSLContext | None = None
        # Security warnings: loud, once per transport, through `warnings`
        if self.https and insecure:
            warnings.warn(f"--insecure: the TLS certificate of {self.url} is NOT verified; "
                          "anyone on the path can read and change this traffic, credentials "
                          "included", SecurityWarning, stacklevel=2)
        if not self.https and self.username is not None and not _is_loopback(self.host):
            warnings.warn(f"basic auth over plain http to {self.url}: the password crosses the "
                          "network readable by anyone on the path; use https://",
                          SecurityWarning, stacklevel=2)
        if self.https:
            self._ssl = _ssl_context(ca_file, cert_file, key_file, insecure)
        elif ca_file or cert_file or key_file:
            raise ConfigError(f"TLS files given but {self.url} is plain http; use https://")
        host_header = f"{host_shown}:{self.port}"
        # Only the headers Kea (or a proxy in front of it) needs. Kea parses the request a byte
        # at a time: 47 fewer header bytes took ~6% off Kea 3.0's CPU per lease4-add. Host stays
        # (HTTP/1.1 requires it, proxies route on it); Accept went (Kea always answers JSON).
        head = [f"POST {self.path} HTTP/1.1", f"Host: {host_header}",
                "Content-Type: application/json"]
        if "Authorization" in self._headers:
            head.append(f"Authorization: {self._headers['Authorization']}")
        head.append("Content-Length: ")
        self._head = "\r\n".join(head).encode("latin-1")
        self._local = threading.local()
        self._all: list[_Connection] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        auth = f", user={self.username!r}" if self.username else ""
        svc = f", service={self.service!r}" if self.service else ""
        return f"HttpTransport({self.url!r}{svc}{auth})"

    def _connection(self) -> tuple[_Connection, bool]:
        conn: _Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, True
        conn = _Connection(self.host, self.port, self.timeout, self._ssl, self.max_reply)
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn, False

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
            with self._lock, contextlib.suppress(ValueError):
                self._all.remove(conn)

    def request(self, command: str, arguments: Any = None) -> dict[str, Any]:
        body = encode_request(command, arguments, self.service)
        message = b"".join((self._head, str(len(body)).encode(), b"\r\n\r\n", body))
        for _ in range(2):
            reused = False
            try:
                conn, reused = self._connection()
                status, reason, data, will_close = conn.exchange(message)
            except (_Disconnected, BrokenPipeError, ConnectionResetError) as exc:
                self._drop()
                if reused:
                    continue  # the server closed an idle kept-alive connection: reopen once
                raise KeaTransportError(f"{self.url}: connection lost during {command} "
                                        f"({type(exc).__name__.lstrip('_')})", url=self.url) from None
            except Exception as exc:
                self._drop()
                raise self._translate(exc, command) from None
            except BaseException:
                self._drop()       # e.g. KeyboardInterrupt mid-request: never reuse this socket
                raise
            if will_close:
                self._drop()
            return self._reply(status, reason, data, command)
        raise KeaTransportError(f"{self.url}: connection lost twice during {command}",
                                url=self.url)

    def _translate(self, exc: Exception, command: str) -> Exception:
        url = self.url
        if isinstance(exc, ssl.SSLCertVerificationError):
            return KeaEndpointError(f"TLS certificate of {url} not trusted: "
                                    f"{exc.verify_message} (give --ca-file, or --insecure)",
                                    url=url)
        if isinstance(exc, ssl.SSLError):
            reason = str(exc.reason or exc)
            # With TLS 1.3 a server that requires a client certificate either sends an alert
            # or just closes the connection, depending on timing.
            hint = ""
            if not self._client_cert and ("CERTIFICATE_REQUIRED" in reason
                                          or isinstance(exc, ssl.SSLEOFError)):
                hint = " (does the server want a client certificate? give --cert-file/--key-file)"
            return KeaEndpointError(f"TLS handshake with {url} failed: {reason}{hint}", url=url)
        if isinstance(exc, ConnectionRefusedError):
            return KeaTransportError(f"connection refused by {url}: nothing is listening there "
                                     "(Kea stopped, or wrong port?)", url=url)
        if isinstance(exc, TimeoutError):
            return KeaTransportError(f"timed out after {self.timeout:g}s waiting for {command} "
                                     f"from {url}", url=url)
        if isinstance(exc, socket.gaierror):
            return KeaEndpointError(f"cannot resolve host {self.host!r} in {url}", url=url)
        if isinstance(exc, OSError):
            return KeaTransportError(f"{url}: {exc.strerror or exc} during {command}", url=url)
        if isinstance(exc, _NotHTTP | ValueError):
            return KeaEndpointError(f"{url} does not answer like an HTTP server (is this the "
                                    f"right port?) during {command}", url=url)
        if isinstance(exc, _TooLarge):
            return _too_large(url, command, self.max_reply)
        return exc

    def _reply(self, status: int, reason: str, data: bytes, command: str) -> dict[str, Any]:
        url = self.url
        if status in (401, 403):
            who = f"user {self.username!r}" if self.username else "no username given"
            what = "unauthorized" if status == 401 else "forbidden"
            raise KeaAuthError(f"{url} refused the credentials: HTTP {status} {what} ({who}; "
                               "check --user and the password)", url=url)
        if status >= 500:
            raise KeaTransportError(f"{url}: HTTP {status} {reason} for {command}", url=url)
        if status != 200 and status != 400:
            raise KeaEndpointError(f"{url}: HTTP {status} {reason} for {command}: is this a Kea "
                                   "control agent or daemon HTTP socket?", url=url)
        return unwrap_reply(_decode_json(data, url, command), url, command)

    def close(self) -> None:
        """Close every thread's kept connection."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()


class SecurityWarning(UserWarning):
    """A connection setting that exposes credentials or traffic (``--insecure``, basic auth
    over plain http to another host). The CLI prints it as one ``Warning:`` line."""


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _ssl_context(ca_file: str | None, cert_file: str | None, key_file: str | None,
                 insecure: bool) -> ssl.SSLContext:
    for what, path in (("CA file", ca_file), ("certificate file", cert_file),
                       ("key file", key_file)):
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"TLS {what} {path} does not exist")
    if key_file and not cert_file:
        raise ConfigError("a TLS key file was given without --cert-file")
    try:
        ctx = ssl.create_default_context(cafile=ca_file)
        if cert_file:
            ctx.load_cert_chain(cert_file, key_file)
    except ssl.SSLError as exc:
        raise ConfigError(f"cannot load TLS files: {exc.reason or exc}") from None
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


#: a fake server: ``handler(command, arguments)`` returns the raw reply (map or list) or raises
Handler = Callable[[str, Any], Any]


class FakeTransport:
    """In-process transport for unit tests: calls ``handler(command, arguments)``.

    The handler's return value goes through :func:`unwrap_reply`, so it may return a CA-style
    list or a UNIX-socket-style map; it may raise ``KeaTransportError`` to simulate failures.
    Every request is recorded in :attr:`sent` as ``(command, arguments)``.
    """

    def __init__(self, handler: Handler, *, url: str = "fake://kea") -> None:
        self.handler = handler
        self.url = url
        self.sent: list[tuple[str, Any]] = []

    def __repr__(self) -> str:
        return f"FakeTransport({self.url!r})"

    def request(self, command: str, arguments: Any = None) -> dict[str, Any]:
        # round-trip through JSON so a test sees exactly what would go on the wire
        if arguments is not None:
            arguments = _loads(_dumps(arguments))
        self.sent.append((command, arguments))
        return unwrap_reply(self.handler(command, arguments), self.url, command)

    def close(self) -> None:
        """Nothing to close."""


def make_transport(url: str, *, service: str | None = None, username: str | None = None,
                   password: str | None = None, ca_file: str | None = None,
                   cert_file: str | None = None, key_file: str | None = None,
                   insecure: bool = False, timeout: float = 30.0) -> Transport:
    """The transport a URL names: ``unix:///path``, ``http://host:port`` or ``https://...``.

    A bare absolute path is taken as a UNIX socket. ``service`` is sent only over HTTP (the
    daemons behind a UNIX socket do not need it).
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidURLError("no Kea URL given (use --url or KEA_ETL_URL, e.g. "
                              "unix:///run/kea/kea4.sock or http://127.0.0.1:8000)")
    url = url.strip()
    if url.startswith("/"):
        url = "unix://" + url
    scheme = url.partition(":")[0].lower()
    if scheme == "unix":
        parts = urlsplit(url)
        path = parts.netloc + parts.path
        if not path:
            raise InvalidURLError(f"no socket path in {url!r}: write unix:///run/kea/kea4.sock")
        if username or password or ca_file or cert_file or key_file:
            raise ConfigError(f"credentials and TLS files do not apply to the UNIX socket {path}")
        return UnixSocketTransport(path, timeout=timeout)
    if scheme in ("http", "https"):
        return HttpTransport(url, service=service, username=username, password=password,
                             ca_file=ca_file, cert_file=cert_file, key_file=key_file,
                             insecure=insecure, timeout=timeout)
    raise InvalidURLError(f"cannot use Kea URL {redact_url(url)!r}: write unix:///path/to/kea.sock, "
                          "http://HOST:PORT or https://HOST:PORT")
