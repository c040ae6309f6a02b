"""Start and stop real ISC Kea servers for the test suite, on every Kea version it supports.

A :class:`KeaInstall` is one Kea installation: a label ("2.2", "2.6", "3.0", "3.2", or "path"
for ``$KEA_ETL_KEA_PATH``), its version, and how to run it:

* ``host``: the host's Debian packages (2.2 on Debian 12, 2.6 on Debian 13). Each server gets
  its own temporary directory for config, memfile, log, pid/lock files and the UNIX control
  socket; the ``KEA_*`` environment variables point Kea there (2.6's path restrictions demand it,
  2.2 needs the pid/lock dirs). Optionally a kea-ctrl-agent on a free loopback port.
* ``chroot``: a throwaway Debian root filesystem (trixie's 2.6.3 from ``scripts/kea26-rootfs``,
  sid's 3.0.4 from ``scripts/kea3-rootfs``, bookworm's 2.2.0 from ``scripts/kea22-rootfs`` where
  the host is not Debian 12), run with ``chroot``. Path restrictions are satisfied
  with per-server directories ``/var/lib/kea/<id>`` and ``/run/kea/<id>`` inside the rootfs, named
  in the ``KEA_*`` variables. The chroot shares the host's network, so HTTP on 127.0.0.1 works.
* ``prefix``: a source build (Kea 3.2 from ``scripts/kea32-build``) run from its prefix with the
  ``KEA_*`` directory variables pointing at a temporary directory (sockets in a mode-750 dir).

Kea 3.x daemons serve an HTTP control socket themselves (3.2 only with authentication: the
harness writes basic-auth user and password files); kea-ctrl-agent exists up to 3.0.
:func:`selected_installs` reads ``KEA_ETL_KEA`` (default: every version) for the compatibility
tests that run on each version.

``KeaServer.command`` speaks the UNIX socket directly (independent of ``kea_etl``), so the
harness can check what the toolkit did without trusting the toolkit.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import ctypes
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness import clock, recording

KEA3_ROOT_DEFAULT = "/var/cache/kea-etl/kea3-rootfs"
KEA22_ROOT_DEFAULT = "/var/cache/kea-etl/kea22-rootfs"   # only where the host is not Debian 12
KEA26_ROOT_DEFAULT = "/var/cache/kea-etl/kea26-rootfs"
KEA32_PREFIX_DEFAULT = "/var/cache/kea-etl/kea-3.2.0"
KEA32_SRC_DEFAULT = "/work/shared/kea-src/kea-3.2.0.tar.xz"
#: every version the suite supports, in ``KEA_ETL_KEA`` order
ALL_VERSIONS = ("2.2", "2.6", "3.0", "3.2")
START_TIMEOUT = 20.0

DEFAULT_SUBNETS4: list[dict[str, Any]] = [
    {"id": 1, "subnet": "192.0.2.0/24", "pools": [{"pool": "192.0.2.10 - 192.0.2.250"}]},
    {"id": 2, "subnet": "198.51.100.0/24"},
]
DEFAULT_SUBNETS6: list[dict[str, Any]] = [
    {
        "id": 1,
        "subnet": "2001:db8:1::/64",
        "pools": [{"pool": "2001:db8:1::1000 - 2001:db8:1::ffff"}],
        "pd-pools": [{"prefix": "2001:db8:8000::", "prefix-len": 40, "delegated-len": 56}],
    },
]

DEFAULT_HOOKS_2 = ("lease_cmds", "stat_cmds")
DEFAULT_HOOKS_3 = ("lease_cmds", "stat_cmds", "host_cmds", "host_cache", "subnet_cmds")


class KeaStartError(RuntimeError):
    """A Kea server (or its control agent) did not come up; the message carries its log tail."""


def kea3_root() -> Path:
    return Path(os.environ.get("KEA_ETL_KEA3_ROOT", KEA3_ROOT_DEFAULT))


@dataclass(frozen=True)
class KeaInstall:
    """One Kea installation the harness can run: ``kind`` is ``host`` (binaries on PATH),
    ``chroot`` (``root`` is a rootfs) or ``prefix`` (``prefix`` is a ``--prefix`` build)."""

    label: str
    version: str
    kind: str
    root: Path | None = None
    prefix: Path | None = None

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return _version_tuple(self.version)

    def binary(self, name: str) -> str:
        """argv[0] for one of its programs, as seen where it runs (inside the chroot)."""
        return str(self.prefix / "sbin" / name) if self.prefix is not None else name

    def host_file(self, path: str) -> Path:
        """Host path of an absolute path inside the installation's root ("/" for host/prefix)."""
        return (self.root or Path("/")) / path.lstrip("/")

    def has(self, program: str) -> bool:
        if self.prefix is not None:
            return (self.prefix / "sbin" / program).exists()
        if self.root is not None:
            return any((self.root / d / program).exists() for d in ("usr/sbin", "usr/bin"))
        return shutil.which(program) is not None

    @property
    def hooks_dir(self) -> str:
        """Kea's hooks directory as the daemon sees it."""
        if self.prefix is not None:
            found = sorted(self.prefix.glob("lib/*/kea/hooks")) + sorted(self.prefix.glob("lib/kea/hooks"))
            if not found:
                raise KeaStartError(f"no Kea hooks directory under {self.prefix / 'lib'}")
            return str(found[0])
        return _hooks_dir(self.root)

    @property
    def scripts_dir(self) -> Path:
        """Host path of its SQL create/upgrade scripts (``share/kea/scripts``)."""
        return (self.prefix or self.host_file("/usr")) / "share/kea/scripts"

    def describe(self) -> str:
        where = {"host": "host packages", "chroot": f"rootfs {self.root}",
                 "prefix": f"build {self.prefix}"}[self.kind]
        return f"Kea {self.version} ({where})"


def _first_line(argv: list[str]) -> str | None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    text = out.stdout.strip()
    return text.splitlines()[0] if out.returncode == 0 and text else None


def install_at(path: str | Path, label: str = "path") -> KeaInstall | str:
    """The Kea installation at ``path``: a prefix (``sbin/kea-dhcp4``) or a root filesystem
    (``usr/sbin/kea-dhcp4``, run with chroot); a reason string when there is none."""
    p = Path(path)
    if (p / "sbin/kea-dhcp4").exists() and not (p / "usr/sbin/kea-dhcp4").exists():
        version = _first_line([str(p / "sbin/kea-dhcp4"), "-v"])
        if version:
            return KeaInstall(label, version, "prefix", prefix=p)
        return f"{p / 'sbin/kea-dhcp4'} -v failed (broken build?)"
    if (p / "usr/sbin/kea-dhcp4").exists():
        version = kea3_version(str(p))
        if version:
            return KeaInstall(label, version, "chroot", root=p)
        return f"chroot {p} kea-dhcp4 -v failed (broken root filesystem?)"
    return f"no Kea at {p} (neither sbin/kea-dhcp4 nor usr/sbin/kea-dhcp4)"


@functools.cache
def find_install(label: str) -> KeaInstall | str:
    """The installation for a version label, or why this machine cannot have it (cached)."""
    host = host_kea_version()
    if label == "path":
        path = os.environ.get("KEA_ETL_KEA_PATH")
        return install_at(path) if path else "KEA_ETL_KEA_PATH is not set"
    if host is not None and host.startswith(label + "."):
        return KeaInstall(label, host, "host")
    if label in ("2.2", "2.6", "3.0"):
        root = {"2.2": Path(os.environ.get("KEA_ETL_KEA22_ROOT", KEA22_ROOT_DEFAULT)),
                "2.6": Path(os.environ.get("KEA_ETL_KEA26_ROOT", KEA26_ROOT_DEFAULT)),
                "3.0": kea3_root()}[label]
        script = {"2.2": "scripts/kea22-rootfs", "2.6": "scripts/kea26-rootfs",
                  "3.0": "scripts/kea3-rootfs"}[label]
        if not (root / "usr/sbin/kea-dhcp4").exists():
            return f"no Kea {label} root filesystem at {root}: build it with {script}"
        found = install_at(root, label)
        if isinstance(found, KeaInstall) and not found.version.startswith(label + "."):
            return f"{root} holds Kea {found.version}, not {label}: rebuild it with {script} --force"
        return found
    if label == "3.2":
        prefix = Path(os.environ.get("KEA_ETL_KEA32_PREFIX", KEA32_PREFIX_DEFAULT))
        if (prefix / "sbin/kea-dhcp4").exists():
            return install_at(prefix, label)
        src = Path(os.environ.get("KEA_ETL_KEA32_SRC", KEA32_SRC_DEFAULT))
        if not src.exists():
            return f"no Kea 3.2 source tarball at {src}, so no Kea 3.2 build at {prefix}"
        return f"Kea 3.2 not built at {prefix}: run scripts/kea32-build (20-40 min)"
    return f"unknown Kea version {label!r} (known: {', '.join(ALL_VERSIONS)}, path)"


def selected_labels() -> list[str]:
    """Versions picked by ``KEA_ETL_KEA`` (comma-separated; default all), plus "path" when
    ``KEA_ETL_KEA_PATH`` names an installation."""
    raw = os.environ.get("KEA_ETL_KEA", "").strip()
    labels = [x.strip() for x in raw.split(",") if x.strip()] if raw else list(ALL_VERSIONS)
    if os.environ.get("KEA_ETL_KEA_PATH") and "path" not in labels:
        labels.append("path")
    return labels


def host_install() -> KeaInstall:
    """The host's Kea packages (what ``KeaServer()`` runs by default)."""
    version = host_kea_version()
    if version is None:
        raise KeaStartError("kea-dhcp4 is not installed on this machine: run scripts/install-deps "
                            "(apt-get install kea-dhcp4-server kea-dhcp6-server kea-ctrl-agent)")
    return KeaInstall(".".join(version.split(".")[:2]), version, "host")


def default_label(kea3: bool) -> str | None:
    """The version the ``kea3=False`` / ``kea3=True`` servers run: ``KEA_ETL_KEA2`` (default: the
    host's Kea, None) and ``KEA_ETL_KEA3`` (default 3.0). ``make commands-doc`` runs the command
    tests a second time with 2.6 and 3.2 in these places."""
    if kea3:
        return os.environ.get("KEA_ETL_KEA3") or "3.0"
    return os.environ.get("KEA_ETL_KEA2") or None


def resolve_install(kea: str | KeaInstall | None, kea3: bool = False) -> KeaInstall:
    """``kea`` as a KeaInstall: None is :func:`default_label` (the host's Kea, or 3.0 when
    ``kea3``); a label is looked up with :func:`find_install`; a KeaStartError says why it is not
    available."""
    if isinstance(kea, KeaInstall):
        return kea
    label = kea or default_label(kea3)
    if label is None:
        return host_install()
    found = find_install(label)
    if isinstance(found, str):
        raise KeaStartError(found)
    return found


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _version_tuple(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for p in version.split(".")[:3]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


@functools.cache
def host_kea_version(binary: str = "kea-dhcp4") -> str | None:
    """Version of the host's Kea daemon (``kea-dhcp4 -v``), or None if it is not installed."""
    if shutil.which(binary) is None:
        return None
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else None


@functools.cache
def kea3_version(root: str) -> str | None:
    """Version of kea-dhcp4 inside the Kea 3 rootfs, or None if the rootfs is missing/broken."""
    if not Path(root, "usr/sbin/kea-dhcp4").exists():
        return None
    out = subprocess.run(["chroot", root, "kea-dhcp4", "-v"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def _hooks_dir(root: Path | None) -> str:
    """Kea's hooks directory as the daemon sees it (inside the rootfs for Kea 3)."""
    base = root or Path("/")
    found = sorted(base.glob("usr/lib/*/kea/hooks")) + sorted(base.glob("usr/lib/kea/hooks"))
    if not found:
        raise KeaStartError(f"Kea hooks directory not found under {base / 'usr/lib'}: is Kea installed?")
    return "/" + str(found[0].relative_to(base))


def unix_command(path: str | Path, command: str, arguments: Any = None, *,
                 timeout: float = 30.0) -> dict[str, Any]:
    """Send one command over a Kea UNIX control socket; the reply is one JSON object, read to EOF."""
    req: dict[str, Any] = {"command": command}
    if arguments is not None:
        req["arguments"] = arguments
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        s.sendall(json.dumps(req).encode())
        chunks: list[bytes] = []
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            # Kea closes the connection after the reply; stop early once the JSON is complete.
            try:
                reply = json.loads(b"".join(chunks))
            except ValueError:
                continue
            if isinstance(reply, dict):
                return reply
    data = b"".join(chunks)
    if not data:
        raise ConnectionError(f"Kea socket {path}: no reply to {command!r}")
    parsed = json.loads(data)
    if not isinstance(parsed, dict):
        raise ValueError(f"Kea socket {path}: reply to {command!r} is not a JSON object: {parsed!r}")
    return parsed


def http_command(url: str, command: str, arguments: Any = None, *, service: str | None = None,
                 timeout: float = 30.0, auth: tuple[str, str] | None = None) -> Any:
    """POST one command to a control agent (with ``service``) or a Kea 3 daemon; raw JSON reply.
    ``auth``: (user, password) for HTTP basic authentication."""
    req: dict[str, Any] = {"command": command}
    if arguments is not None:
        req["arguments"] = arguments
    if service:
        req["service"] = [service]
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    r = urllib.request.Request(url, data=json.dumps(req).encode(), method="POST", headers=headers)
    with urllib.request.urlopen(r, timeout=timeout) as resp:
        return json.loads(resp.read())


def _die_with_parent() -> None:
    """preexec_fn: SIGTERM the daemon when the test process dies (no orphaned Kea after a
    killed CI run). PR_SET_PDEATHSIG survives the exec of chroot and of Kea itself."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG


def _clean_stale_kea3_dirs(root: Path) -> None:
    """Remove per-server dirs left in the rootfs by test processes that no longer exist."""
    for base in (root / "var/lib/kea", root / "run/kea"):
        if not base.is_dir():
            continue
        for d in base.glob("t*-*"):
            pid = d.name[1:].split("-", 1)[0]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                shutil.rmtree(d, ignore_errors=True)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or f"(log {path} is empty)"


def _resolve_hooks(hooks: Iterable[str | Mapping[str, Any]], hooks_dir: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for h in hooks:
        entry: dict[str, Any] = {"library": h} if isinstance(h, str) else dict(h)
        lib = str(entry["library"])
        if "/" not in lib:
            # "lease_cmds" -> <hooks dir>/libdhcp_lease_cmds.so (2.6+/3.0 accept only that dir)
            entry["library"] = f"{hooks_dir}/libdhcp_{lib.removeprefix('libdhcp_').removesuffix('.so')}.so"
        out.append(entry)
    return out


class KeaServer:
    """One real kea-dhcp4 / kea-dhcp6 process (plus optional kea-ctrl-agent).

    ``kea``: which installation (a :class:`KeaInstall` or a label such as "2.6"; default the
    host's Kea, or 3.0 when ``kea3``). ``http``: the daemon's own HTTP control socket (Kea 3.x;
    default on); ``http_auth``: protect it with basic auth read from files (always on 3.2, which
    refuses an unsecured one; the credentials are in ``http_credentials``, their files in
    ``http_auth_files``). ``http_port`` / ``http_credentials``: chosen by the caller (an HA pair
    names both peers' URLs in each config and shares one login) instead of picked here.

    Attributes other tests rely on: ``socket_url``, ``socket_path`` (host path), ``http_url``,
    ``service``, ``version``, ``family``, ``kea3`` (Kea 3.x), ``install``, ``lease_file`` (host
    path), ``config``, ``dir`` (host path of Kea's data dir: config, memfile, log; config-write /
    cache-write may target it), ``kea_dir`` (same dir as Kea sees it), ``log_file``, ``pid``.
    """

    def __init__(self, *, family: int = 4, kea3: bool = False, kea: str | KeaInstall | None = None,
                 subnets: Sequence[Mapping[str, Any]] | None = None,
                 lease_file: str | Path | None = None,
                 hooks: Iterable[str | Mapping[str, Any]] | None = None,
                 extra: Mapping[str, Any] | None = None, ctrl_agent: bool = False,
                 http: bool | None = None, http_auth: bool | None = None, name: str | None = None,
                 argv_prefix: Sequence[str] = (), http_port: int | None = None,
                 http_credentials: tuple[str, str] | None = None) -> None:
        # argv_prefix (cutover test): run the daemon under e.g. ["ip", "netns", "exec", NS], which
        # execs it, so the Popen pid is still Kea's. The UNIX socket stays reachable from the host.
        self.argv_prefix = list(argv_prefix)
        if family not in (4, 6):
            raise ValueError(f"family must be 4 or 6, not {family!r}")
        self.family = family
        self.service = f"dhcp{family}"
        self.daemon = f"kea-dhcp{family}"
        if kea3 and kea is None and ctrl_agent:
            raise ValueError("ctrl_agent=True with kea3: Kea 3 serves HTTP itself (http=True); "
                             "pass kea='3.0' for its deprecated kea-ctrl-agent")
        if kea is None and default_label(kea3) is None and host_kea_version(self.daemon) is None:
            raise KeaStartError(
                f"{self.daemon} is not installed on this machine: run scripts/install-deps "
                "(apt-get install kea-dhcp4-server kea-dhcp6-server kea-ctrl-agent)")
        self.install = resolve_install(kea, kea3)
        self.version = self.install.version
        self.kea3 = self.install.version_tuple >= (3,)
        tag = "kea3" if kea3 and kea is None else f"kea{self.install.label}"
        self.label = name or f"{tag}-{self.service}-{uuid.uuid4().hex[:6]}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.ca_proc: subprocess.Popen[bytes] | None = None
        self.http_url: str | None = None
        self.http_port: int | None = http_port
        self.ca_port: int | None = None
        self._given_credentials = http_credentials
        self.http_credentials: tuple[str, str] | None = None
        #: the basic-auth user and password files as Kea names them (HTTP socket with auth)
        self.http_auth_files: tuple[str, str] | None = None
        if ctrl_agent and not self.install.has("kea-ctrl-agent"):
            raise KeaStartError(f"{self.install.describe()} has no kea-ctrl-agent (removed in Kea 3.2)")
        self.root: Path | None = self.install.root
        if self.root is not None:
            _clean_stale_kea3_dirs(self.root)
            ident = f"t{os.getpid()}-{uuid.uuid4().hex[:8]}"
            self.kea_dir = f"/var/lib/kea/{ident}"
            self.kea_run_dir = f"/run/kea/{ident}"
            for d in ("/var/lib/kea", "/run/kea"):
                Path(self.root, d.lstrip("/")).mkdir(parents=True, exist_ok=True)
                Path(self.root, d.lstrip("/")).chmod(0o750)
        else:
            tmp = tempfile.mkdtemp(prefix=f"kea-etl-{self.service}-")
            self.kea_dir = tmp
            self.kea_run_dir = f"{tmp}/run"
        # Kea 3.x daemons serve HTTP themselves (on by default); 2.x only through the CA.
        self.want_http = (http is not False) if self.kea3 and not ctrl_agent else (bool(http) or ctrl_agent)
        # Kea 3.2 refuses an HTTP control socket without authentication (or TLS).
        self.want_http_auth = (bool(http_auth) or http_credentials is not None
                               or self.install.version_tuple >= (3, 2))
        self.dir = self.host_path(self.kea_dir)
        self.run_dir = self.host_path(self.kea_run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o750)
        self.run_dir.chmod(0o750)
        self.ctrl_agent = self.want_http and (ctrl_agent or not self.kea3)
        self.config_path = self.dir / f"{self.daemon}.json"
        self.log_file = self.dir / f"{self.daemon}.log"
        self.stdout_file = self.dir / f"{self.daemon}.stdout"
        self.lease_file = self.dir / f"kea-leases{family}.csv"
        self.socket_path = self.run_dir / f"kea{family}.sock"
        self.socket_url = f"unix://{self.socket_path}"
        if lease_file is not None:
            shutil.copyfile(lease_file, self.lease_file)
        if hooks is None:
            hooks = DEFAULT_HOOKS_3 if self.kea3 else DEFAULT_HOOKS_2
        self.hooks = list(hooks)
        self.config = self._build_config(subnets, extra, lease_file is not None)
        self._baseline: Any = None

    # ---- paths -------------------------------------------------------------------------------
    def host_path(self, kea_path: str | Path) -> Path:
        """Host path of a file as Kea names it (identity for Kea 2.x)."""
        p = Path(kea_path)
        if self.root is None:
            return p
        return self.root / str(p).lstrip("/")

    def kea_path(self, host_path: str | Path) -> str:
        """The path Kea uses for a host path inside its rootfs (identity for Kea 2.x)."""
        p = Path(host_path)
        if self.root is None:
            return str(p)
        return "/" + str(p.relative_to(self.root))

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return _version_tuple(self.version)

    @property
    def at_least_2_5(self) -> bool:
        return self.version_tuple >= (2, 5)

    @property
    def has_libreload(self) -> bool:
        """``libreload`` was removed in Kea 2.5."""
        return not self.at_least_2_5

    @property
    def path_restricted(self) -> bool:
        """Kea 2.6.3+ / 3.0 write files (config-write, cache-write) only in their own dirs."""
        return self.version_tuple >= (2, 6, 3)

    # ---- config ------------------------------------------------------------------------------
    def _build_config(self, subnets: Sequence[Mapping[str, Any]] | None, extra: Mapping[str, Any] | None,
                      with_lease_file: bool) -> dict[str, Any]:
        fam = self.family
        k = self.kea_path
        out_key = "output-options" if self.at_least_2_5 else "output_options"
        unix_sock = {"socket-type": "unix", "socket-name": k(self.socket_path)}
        body: dict[str, Any] = {
            "interfaces-config": {"interfaces": []},
            "lease-database": {"type": "memfile", "persist": True, "name": k(self.lease_file),
                               "lfc-interval": 0},
            # No background reclamation: tests decide when leases are reclaimed (leases-reclaim).
            "expired-leases-processing": {"reclaim-timer-wait-time": 0,
                                          "flush-reclaimed-timer-wait-time": 0,
                                          "hold-reclaimed-time": 3600},
            "valid-lifetime": 4000,
            "renew-timer": 1000,
            "rebind-timer": 2000,
            "hooks-libraries": _resolve_hooks(self.hooks, self.install.hooks_dir),
            "loggers": [{"name": self.daemon, "severity": "INFO",
                         out_key: [{"output": k(self.log_file)}]}],
        }
        if self.kea3:
            socks: list[dict[str, Any]] = [unix_sock]
            if self.want_http and not self.ctrl_agent:
                self.http_port = self.http_port or free_port()
                http_sock: dict[str, Any] = {"socket-type": "http", "socket-address": "127.0.0.1",
                                             "socket-port": self.http_port}
                if self.want_http_auth:
                    http_sock["authentication"] = self._basic_auth_files()
                socks.append(http_sock)
                self.http_url = f"http://127.0.0.1:{self.http_port}"
            body["control-sockets"] = socks
        else:
            body["control-socket"] = unix_sock
        if fam == 4:
            body["subnet4"] = copy.deepcopy(list(subnets) if subnets is not None else DEFAULT_SUBNETS4)
        else:
            body["subnet6"] = copy.deepcopy(list(subnets) if subnets is not None else DEFAULT_SUBNETS6)
            body["preferred-lifetime"] = 3000
            body["server-id"] = {"type": "LLT", "persist": False}
        if with_lease_file:
            body["sanity-checks"] = {"lease-checks": "del"}
        if extra:
            body.update(copy.deepcopy(dict(extra)))
        return {f"Dhcp{fam}": body}

    def _basic_auth_files(self) -> dict[str, Any]:
        """Kea's basic-auth block with the user and password in files beside the config (Kea 3.2
        refuses clear-text credentials in the config itself)."""
        user, password = self._given_credentials or ("kea-etl", uuid.uuid4().hex)
        user_file, password_file = self.dir / "http-user", self.dir / "http-password"
        user_file.write_text(user)
        password_file.write_text(password)
        for f in (user_file, password_file):
            f.chmod(0o640)
        self.http_credentials = (user, password)
        self.http_auth_files = (self.kea_path(user_file), self.kea_path(password_file))
        return {"type": "basic", "realm": "kea-etl",
                "clients": [{"user-file": self.kea_path(user_file),
                             "password-file": self.kea_path(password_file)}]}

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "KEA_PIDFILE_DIR": self.kea_run_dir,
            "KEA_LOCKFILE_DIR": self.kea_run_dir,
            "KEA_DHCP_DATA_DIR": self.kea_dir,
            "KEA_CONTROL_SOCKET_DIR": self.kea_run_dir,
            "KEA_LOG_FILE_DIR": self.kea_dir,
        })
        env.pop("KEA_LOGGER_DESTINATION", None)
        return env

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self) -> KeaServer:
        self.config_path.write_text(json.dumps(self.config, indent=2))
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        argv = [*self.argv_prefix, *self._argv(self.daemon, self.config_path)]
        with self.stdout_file.open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=self._env(),
                                         cwd=self.dir, start_new_session=True,
                                         preexec_fn=_die_with_parent)
        self._wait_ready()
        if self.ctrl_agent:
            self._start_ca()
        recording.SERVERS[self.socket_url] = {"version": self.version, "server": self.label}
        if self.http_url:
            recording.SERVERS[self.http_url] = {"version": self.version, "server": self.label}
        self._baseline = self._config_snapshot()
        return self

    def _argv(self, program: str, config_path: Path) -> list[str]:
        """argv for one of the installation's programs, in the suite's time (faketime)."""
        argv = [self.install.binary(program), "-c", self.kea_path(config_path)]
        if self.root is not None:
            argv = ["chroot", str(self.root), *argv]
        return clock.server_argv(argv, root=self.root)

    def _failure(self, what: str, log: Path) -> KeaStartError:
        return KeaStartError(
            f"{what} (Kea {self.version}, dir {self.dir}).\n--- {self.stdout_file.name} ---\n"
            f"{_tail(self.stdout_file, 10)}\n--- tail of {log} ---\n{_tail(log)}")

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise self._failure(f"{self.daemon} exited with status {self.proc.returncode} at startup",
                                    self.log_file)
            if self.socket_path.exists():
                try:
                    r = unix_command(self.socket_path, "version-get", timeout=2)
                    if r.get("result") == 0:
                        if self.kea3 and self.http_url and not self.ctrl_agent:
                            self._wait_http(self.http_url, None, self.log_file, deadline)
                        return
                except (OSError, ValueError) as exc:
                    last = exc
            time.sleep(0.02)
        self.kill()
        raise self._failure(f"{self.daemon} did not answer version-get on {self.socket_path} within "
                            f"{START_TIMEOUT:.0f}s (last error: {last})", self.log_file)

    def _wait_http(self, url: str, service: str | None, log: Path, deadline: float) -> None:
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                http_command(url, "version-get", service=service, timeout=2,
                             auth=self.http_credentials)
                return
            except (OSError, ValueError) as exc:
                last = exc
            time.sleep(0.02)
        raise self._failure(f"HTTP control channel {url} did not answer version-get (last error: {last})",
                            log)

    def _start_ca(self) -> None:
        self.ca_port = free_port()
        ca_log = self.dir / "kea-ctrl-agent.log"
        out_key = "output-options" if self.at_least_2_5 else "output_options"
        sock = self.kea_path(self.socket_path)
        ca_cfg = {"Control-agent": {
            "http-host": "127.0.0.1", "http-port": self.ca_port,
            "control-sockets": {self.service: {"socket-type": "unix", "socket-name": sock}},
            "loggers": [{"name": "kea-ctrl-agent", "severity": "INFO",
                         out_key: [{"output": self.kea_path(ca_log)}]}],
        }}
        ca_path = self.dir / "kea-ctrl-agent.json"
        ca_path.write_text(json.dumps(ca_cfg, indent=2))
        with (self.dir / "kea-ctrl-agent.stdout").open("ab") as out:
            self.ca_proc = subprocess.Popen(self._argv("kea-ctrl-agent", ca_path), stdout=out,
                                            stderr=subprocess.STDOUT, env=self._env(), cwd=self.dir,
                                            start_new_session=True, preexec_fn=_die_with_parent)
        self.http_url = f"http://127.0.0.1:{self.ca_port}"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.ca_proc.poll() is not None:
                raise self._failure(f"kea-ctrl-agent exited with status {self.ca_proc.returncode}", ca_log)
            try:
                http_command(self.http_url, "version-get", service=self.service, timeout=2)
                return
            except (OSError, ValueError):
                time.sleep(0.02)
        raise self._failure(f"kea-ctrl-agent on {self.http_url} did not answer version-get", ca_log)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Stop with the ``shutdown`` command (milliseconds), falling back to SIGTERM, SIGKILL."""
        self._stop_ca()
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                unix_command(self.socket_path, "shutdown", timeout=2)
            _wait_or_escalate(self.proc)
        self.proc = None
        self._unregister()

    def kill(self) -> None:
        """SIGKILL the daemon (simulates a crash; the memfile stays as it was)."""
        self._stop_ca(hard=True)
        if self.proc is not None:
            if self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            self.proc = None
        self._unregister()

    def restart(self) -> KeaServer:
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop and remove the server's directories."""
        self.stop()
        if self.root is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            shutil.rmtree(self.run_dir, ignore_errors=True)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _stop_ca(self, hard: bool = False) -> None:
        if self.ca_proc is not None:
            if self.ca_proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.ca_proc.pid, signal.SIGKILL if hard else signal.SIGTERM)
                _wait_or_escalate(self.ca_proc)
            self.ca_proc = None

    def _unregister(self) -> None:
        recording.SERVERS.pop(self.socket_url, None)
        if self.http_url:
            recording.SERVERS.pop(self.http_url, None)

    # ---- commands ----------------------------------------------------------------------------
    def command(self, name: str, args: Any = None, *, timeout: float = 30.0) -> dict[str, Any]:
        """Raw command over the UNIX socket; returns Kea's reply map (result, text, arguments)."""
        reply = unix_command(self.socket_path, name, args, timeout=timeout)
        result = reply.get("result")
        recording.note(name, version=self.version, result=result if isinstance(result, int) else None,
                       via="harness", server=self.label)
        return reply

    def ok(self, name: str, args: Any = None) -> Any:
        """Command that must succeed (result 0); returns its ``arguments``."""
        r = self.command(name, args)
        if r.get("result") != 0:
            raise AssertionError(f"{name} on Kea {self.version} failed: {r}")
        return r.get("arguments")

    def leases(self) -> list[dict[str, Any]]:
        """All leases held by the server right now (lease4-get-all / lease6-get-all)."""
        r = unix_command(self.socket_path, f"lease{self.family}-get-all")
        if r.get("result") == 3:
            return []
        if r.get("result") != 0:
            raise AssertionError(f"lease{self.family}-get-all failed: {r}")
        return list(r["arguments"]["leases"])

    def _config_snapshot(self) -> Any:
        r = unix_command(self.socket_path, "config-get")
        cfg = r.get("arguments", {})
        cfg.pop("hash", None)
        return cfg

    def reset(self) -> KeaServer:
        """Clean state for the next test: running, original config, no leases, DHCP enabled."""
        if not self.alive():
            self.start()
        self._stop_ca_if_dead()
        self._wipe_leases()
        if self._config_snapshot() != self._baseline:
            r = unix_command(self.socket_path, "config-set", self.config)
            if r.get("result") != 0:
                raise AssertionError(f"restoring the original config of {self.label} failed: {r}")
            self._baseline = self._config_snapshot()
            self._wipe_leases()
        unix_command(self.socket_path, "dhcp-enable")
        if "host_cache" in self.hooks:
            unix_command(self.socket_path, "cache-clear")
        return self

    def _wipe_leases(self) -> None:
        fam = self.family
        # lease-wipe only reaches subnets in the running config; delete stragglers one by one
        # (a test may have added a subnet, leased from it, and the subnet is gone again).
        unix_command(self.socket_path, f"lease{fam}-wipe")
        for lease in self.leases():
            args = {"ip-address": lease["ip-address"]}
            if fam == 6:
                args["type"] = lease.get("type", "IA_NA")
            unix_command(self.socket_path, f"lease{fam}-del", args)
        left = self.leases()
        if left:
            raise AssertionError(f"{self.label}: {len(left)} leases left after lease{fam}-wipe and -del: "
                                 f"{[lease['ip-address'] for lease in left][:5]}")

    def _stop_ca_if_dead(self) -> None:
        if self.ctrl_agent and (self.ca_proc is None or self.ca_proc.poll() is not None):
            self._start_ca()


def _wait_or_escalate(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(5)
        return
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(5)
        return
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def start_kea(**kwargs: Any) -> KeaServer:
    """Create and start a server; on failure its directories are removed and KeaStartError raised."""
    return start_built(KeaServer(**kwargs))


def start_built(srv: KeaServer) -> KeaServer:
    """Start a server the caller built (and perhaps configured further through ``srv.config``);
    on failure its directories are removed and KeaStartError raised."""
    try:
        return srv.start()
    except BaseException:
        srv.kill()
        if srv.root is not None:
            shutil.rmtree(srv.dir, ignore_errors=True)
            shutil.rmtree(srv.run_dir, ignore_errors=True)
        # Keep a 2.x tmp dir for post-mortem only if asked.
        elif not os.environ.get("KEA_ETL_KEEP_FAILED"):
            shutil.rmtree(srv.dir, ignore_errors=True)
        raise
