"""Load host reservations into a running Kea, by whatever the server can do.

The strategy is chosen from ``list-commands`` (or forced with ``strategy=``):

1. ``reservation-add`` (host_cmds). Each host is first looked up with reservation-get: the same
   identifier with the same addresses is ``already_present``; the same identifier with other
   addresses is a conflict (left alone, or replaced with reservation-del + reservation-add under
   ``on_conflict="overwrite"``). On Kea >= 2.4 the command takes ``operation-target``: with a
   hosts database configured kea-etl writes to the ``database`` (that is where the operator keeps
   hosts, and it persists); without one (common on Kea 3.0) it must use ``memory``, which lives
   only in the running configuration, so kea-etl then runs ``config-write`` to persist it in the
   file the server was started with: an operator expects reservations to survive a restart.
   Kea < 2.4 has no ``operation-target`` and host_cmds needs a hosts database there.
2. host_cache (``cache-load``): the hosts go into a JSON file in a directory the *server* can read
   (its data directory from config-get, or ``server_dir``; ``local_dir`` is where kea-etl writes
   it when the server runs in a chroot or container), ``cache-load`` reads it, and ``cache-write``
   dumps the cache to a second file that kea-etl reads back to verify every host arrived. Hosts
   already in the cache are compared first (``cache-get``). The host cache is memory only: it is
   gone after a restart, so this is for warming a server backed by a hosts database, and the
   report says so.
3. ``config-set`` (any Kea): config-get, merge the hosts into each subnet's ``reservations``
   (existing reservations are kept; identical ones are ``already_present``; the same identifier
   or address held by another host is a conflict), ``config-test``, ``config-set``, then
   ``config-write`` to the server's configuration file (``config_file`` or the file it was
   started with). Nothing is sent if nothing changes. Beware: Kea writes the file from its
   running configuration, so comments and ``<?include?>`` lines of a hand-written file are not
   kept (Kea's own behaviour; keep the original under version control).

Reservations are few compared to leases, so this loader holds them in memory.
"""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from kea_etl.errors import ConfigError, InvalidValueError, KeaCommandError, KeaUnsupportedError
from kea_etl.load.checkpoint import Checkpoint, Outcome, count_outcome, record_key
from kea_etl.records import Reservation, canonical_hex
from kea_etl.report import RunReport

if TYPE_CHECKING:
    from kea_etl.kea import KeaClient

__all__ = ["STRATEGIES", "ReservationLoader", "choose_strategy"]

Strategy = Literal["reservation-add", "cache-load", "config-set"]
STRATEGIES: tuple[str, ...] = ("reservation-add", "cache-load", "config-set")


def choose_strategy(commands: Iterable[str]) -> Strategy:
    have = set(commands)
    if "reservation-add" in have:
        return "reservation-add"
    if {"cache-load", "cache-write"} <= have:
        return "cache-load"
    return "config-set"


def _addresses(host: Mapping[str, Any]) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    ip4 = host.get("ip-address")
    if ip4 in ("", "0.0.0.0"):
        ip4 = None
    return ip4, tuple(sorted(host.get("ip-addresses", ()))), tuple(sorted(host.get("prefixes", ())))


def _same_addresses(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return _addresses(a) == _addresses(b)


def _identifier(host: Mapping[str, Any]) -> tuple[str, str] | None:
    # Kea spells identifiers its own way (host_cache: client-id "0102AA00000002"): compare
    # them canonically
    for t in ("hw-address", "client-id", "duid", "circuit-id", "flex-id"):
        if host.get(t):
            try:
                return t, canonical_hex(str(host[t]), t) or ""
            except InvalidValueError:
                return t, str(host[t]).lower()
    return None


class ReservationLoader:
    """Loads :class:`~kea_etl.records.Reservation` records into a live Kea."""

    def __init__(self, client: KeaClient, *, on_conflict: Literal["skip", "overwrite"] = "skip",
                 dry_run: bool = False, checkpoint: Checkpoint | None = None,
                 strategy: Strategy | None = None, server_dir: str | None = None,
                 local_dir: str | None = None, config_file: str | None = None) -> None:
        self.client = client
        self.on_conflict = on_conflict
        self.dry_run = dry_run
        self.checkpoint = checkpoint
        self.strategy: Strategy | None = strategy
        self.server_dir = server_dir
        self.local_dir = local_dir
        self.config_file = config_file
        self.sent: Counter[str] = Counter()

    @property
    def server(self) -> str:
        return str(getattr(self.client, "url", "the Kea server"))

    def load(self, hosts: Sequence[Reservation], report: RunReport) -> None:
        done: dict[str, Outcome] = {}
        if self.checkpoint is not None:
            done = self.checkpoint.lookup(record_key(h) for h in hosts)
        todo = []
        for h in hosts:
            if (o := done.get(record_key(h))) is not None:
                count_outcome(report, o)
            else:
                todo.append(h)
        if not todo:
            return
        if self.strategy is None:
            self.strategy = choose_strategy(self.client.commands())
        report.extra["reservations_via"] = self.strategy
        if self.strategy == "reservation-add":
            outcomes = self._via_host_cmds(todo)
        elif self.strategy == "cache-load":
            outcomes = self._via_cache(todo)
            report.warn("host cache is memory only",
                        detail=f"reservations loaded into {self.server}'s host cache are lost "
                        "when it restarts; keep them in a hosts database or the config too")
        else:
            outcomes = self._via_config(todo)
        for o in outcomes:
            count_outcome(report, o)
        if self.checkpoint is not None and not self.dry_run:
            self.checkpoint.record(outcomes)

    def _send(self, command: str, args: Any) -> None:
        self.sent[command] += 1
        if not self.dry_run:
            self.client.call(command, args)

    # -- 1. host_cmds ------------------------------------------------------------------------
    def _operation_target(self) -> str | None:
        if self.client.version() < (2, 4, 0):
            return None
        cfg = self.client.config_get()
        body: dict[str, Any] = next((v for k, v in cfg.items() if k in ("Dhcp4", "Dhcp6")), {})
        if body.get("hosts-database") or body.get("hosts-databases"):
            return "database"
        return "memory"

    def _via_host_cmds(self, hosts: Sequence[Reservation]) -> list[Outcome]:
        target = self._operation_target()
        extra = {"operation-target": target} if target else {}
        out: list[Outcome] = []
        changed = False
        for res in hosts:
            try:
                held = self.client.reservation_get(
                    res.subnet_id, identifier_type=res.identifier_type,
                    identifier=res.identifier, operation_target=target)
                host = res.to_kea_host()
                if held is not None:
                    if _same_addresses(held, host):
                        out.append(_out(res, "already_present"))
                        continue
                    detail = (f"Kea reserves {_addresses(held)} for {res.identifier_type} "
                              f"{res.identifier} in subnet {res.subnet_id}")
                    if self.on_conflict != "overwrite":
                        out.append(_out(res, "conflict", "conflict",
                                        detail + "; left alone (use --on-conflict overwrite)"))
                        continue
                    self._send("reservation-del", {
                        "subnet-id": res.subnet_id, "identifier-type": res.identifier_type,
                        "identifier": res.identifier, **extra})
                    self._send("reservation-add", {**res.to_kea_args(), **extra})
                    out.append(_out(res, "loaded", "conflict overwritten", detail))
                else:
                    self._send("reservation-add", {**res.to_kea_args(), **extra})
                    out.append(_out(res, "loaded"))
                changed = True
            except KeaCommandError as exc:
                out.append(_out(res, "failed", f"Kea refused {exc.command}", exc.text))
        if changed and target == "memory":
            # memory-only hosts vanish at restart: save them in the server's config file
            self._send("config-write", {"filename": self.config_file} if self.config_file
                       else None)
        return out

    # -- 2. host_cache -----------------------------------------------------------------------
    def _dirs(self) -> tuple[str, Path]:
        server = self.server_dir
        if server is None:
            cfg = self.client.config_get()
            body: dict[str, Any] = next((v for k, v in cfg.items() if k in ("Dhcp4", "Dhcp6")), {})
            name = (body.get("lease-database") or {}).get("name")
            if not name:
                raise ConfigError(f"cannot tell which directory {self.server} can read for "
                                  "cache-load: give the server's data directory")
            server = str(Path(name).parent)
        local = Path(self.local_dir) if self.local_dir else Path(server)
        return server, local

    def _via_cache(self, hosts: Sequence[Reservation]) -> list[Outcome]:
        cached: dict[tuple[Any, ...], dict[str, Any]] = {}
        for h in self.client.cache_get():
            ident = _identifier(h)
            if ident:
                cached[(*ident, h.get("subnet-id4", 0), h.get("subnet-id6", 0))] = h
        out: list[Outcome] = []
        send: list[tuple[Reservation, dict[str, Any]]] = []
        for res in hosts:
            host = res.to_kea_host()
            sub4, sub6 = (res.subnet_id, 0) if res.family == 4 else (0, res.subnet_id)
            held = cached.get((res.identifier_type, res.identifier, sub4, sub6))
            if held is not None and _same_addresses(held, host):
                out.append(_out(res, "already_present"))
                continue
            if held is not None and self.on_conflict != "overwrite":
                out.append(_out(res, "conflict", "conflict",
                                f"the host cache holds {res.identifier_type} {res.identifier} "
                                f"with {_addresses(held)}; left alone"))
                continue
            if held is not None:
                self._send("cache-remove", {res.identifier_type: res.identifier,
                                            ("subnet-id4" if res.family == 4 else "subnet-id6"):
                                            res.subnet_id})
            host["subnet-id4"], host["subnet-id6"] = sub4, sub6
            if "option-data" in host:  # host_cache's file names it per family ("unknown
                host[f"option-data{res.family}"] = host.pop("option-data")  # parameter" else)
            send.append((res, host))
        if not send:
            return out
        server, local = self._dirs()
        name = f"kea-etl-hosts-{uuid.uuid4().hex[:8]}.json"
        if self.dry_run:
            self.sent["cache-load"] += 1
            return out + [_out(r, "loaded") for r, _ in send]
        local_file = local / name
        _write_private(local_file, json.dumps([h for _, h in send]))
        try:
            self._send("cache-load", f"{server}/{name}")
        except KeaCommandError as exc:
            local_file.unlink(missing_ok=True)
            return out + [_out(r, "failed", "Kea refused cache-load", exc.text) for r, _ in send]
        local_file.unlink(missing_ok=True)
        # read back: cache-write dumps the cache where we can read it; every host must be there
        check = f"kea-etl-verify-{uuid.uuid4().hex[:8]}.json"
        self._send("cache-write", f"{server}/{check}")
        try:
            dumped = json.loads((local / check).read_text())
        finally:
            (local / check).unlink(missing_ok=True)
        present = {(*(_identifier(h) or ("", "")), h.get("subnet-id4", 0), h.get("subnet-id6", 0)):
                   h for h in dumped}
        for res, host in send:
            got = present.get((res.identifier_type, res.identifier, host["subnet-id4"],
                               host["subnet-id6"]))
            if got is not None and _same_addresses(got, host):
                out.append(_out(res, "loaded"))
            else:
                out.append(_out(res, "failed", "not in the host cache after cache-load",
                                f"cache-write of {self.server} does not show it"))
        return out

    # -- 3. config-set -----------------------------------------------------------------------
    def _via_config(self, hosts: Sequence[Reservation]) -> list[Outcome]:
        cfg = self.client.config_get()
        fam_key = next((k for k in ("Dhcp4", "Dhcp6") if k in cfg), None)
        if fam_key is None:
            raise ConfigError(f"config-get of {self.server} has no Dhcp4 or Dhcp6 section")
        new_cfg = {fam_key: copy.deepcopy(cfg[fam_key])}
        body = new_cfg[fam_key]
        skey = "subnet4" if fam_key == "Dhcp4" else "subnet6"
        subnets: dict[int, dict[str, Any]] = {}
        for s in body.get(skey, []):
            subnets[int(s["id"])] = s
        for net in body.get("shared-networks", []):
            for s in net.get(skey, []):
                subnets[int(s["id"])] = s
        out: list[Outcome] = []
        changed = False
        for res in hosts:
            if (res.family == 4) != (fam_key == "Dhcp4"):
                out.append(_out(res, "failed", "wrong family",
                                f"a v{res.family} reservation for a {fam_key} server"))
                continue
            if res.subnet_id == 0:
                container: dict[str, Any] = body
            elif res.subnet_id in subnets:
                container = subnets[res.subnet_id]
            else:
                out.append(_out(res, "failed", "no such subnet",
                                f"subnet {res.subnet_id} does not exist on {self.server}"))
                continue
            listed: list[dict[str, Any]] = container.setdefault("reservations", [])
            host = res.to_kea_host()
            mine = (res.identifier_type, res.identifier)
            same_id = next((i for i, h in enumerate(listed) if _identifier(h) == mine), None)
            if same_id is not None and _same_addresses(listed[same_id], host):
                out.append(_out(res, "already_present"))
                continue
            ip4, ip6, pfx = _addresses(host)
            taken = next((h for h in listed if _identifier(h) != mine and (
                (ip4 and _addresses(h)[0] == ip4)
                or set(ip6) & set(_addresses(h)[1]) or set(pfx) & set(_addresses(h)[2]))), None)
            if taken is not None:
                out.append(_out(res, "conflict", "conflict",
                                f"address reserved for {_identifier(taken)} in subnet "
                                f"{res.subnet_id}; left alone"))
                continue
            if same_id is not None:
                detail = (f"Kea reserves {_addresses(listed[same_id])} for {res.identifier_type} "
                          f"{res.identifier}")
                if self.on_conflict != "overwrite":
                    out.append(_out(res, "conflict", "conflict",
                                    detail + "; left alone (use --on-conflict overwrite)"))
                    continue
                listed[same_id] = host
                out.append(_out(res, "loaded", "conflict overwritten", detail))
            else:
                listed.append(host)
                out.append(_out(res, "loaded"))
            changed = True
        if not changed:
            return out
        try:
            self._send("config-test", new_cfg)
            self._send("config-set", new_cfg)
        except (KeaCommandError, KeaUnsupportedError) as exc:
            text = exc.text if isinstance(exc, KeaCommandError) else str(exc)
            return [o if o.status != "loaded" else
                    Outcome(o.key, "failed", "Kea refused the merged configuration", text,
                            o.source, o.line) for o in out]
        self._send("config-write", {"filename": self.config_file} if self.config_file else None)
        return out


def _out(res: Reservation, status: str, reason: str | None = None,
         detail: str | None = None) -> Outcome:
    return Outcome(record_key(res), status, reason, detail,  # type: ignore[arg-type]
                   res.origin, res.line)


# --- restrictive permissions (issue 6): the host-cache file names clients and addresses
def _write_private(path: Path, text: str) -> None:
    """Create ``path`` readable only by its owner (0600); when kea-etl runs as root, the owner
    becomes the owner of Kea's data directory (the Kea user), so Kea can still read it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        if os.geteuid() == 0:
            st = path.parent.stat()
            os.fchown(fd, st.st_uid, st.st_gid)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fd = -1
            fh.write(text)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        path.unlink(missing_ok=True)
        raise
# --- end restrictive permissions
