"""Load host reservations into a running Kea, by whatever the server can do.

The strategy is chosen from ``list-commands`` (or forced with ``strategy=``). Whatever it is, each
host is compared *whole* with what Kea holds for its identifier in its subnet: addresses,
prefixes, hostname, option-data (in :func:`~kea_etl.dhcp_options.canonical_option_data`
form, so Kea's spelling and defaults do not count as a difference), client-classes, next-server,
boot-file-name and user-context. ``server-hostname`` is not modelled by kea-etl: it is not
compared, and a value Kea holds is kept when the host is replaced. As for leases:

* nothing held for the identifier -> the host is added (``loaded``);
* the same host -> nothing is sent (``already_present``);
* the same identifier with other details -> in ``mode="add"`` Kea's host is kept (counted
  ``already_present`` with a warning naming the fields that differ); in ``mode="upsert"`` it is
  replaced. Other *addresses* for the same identifier are more than a detail (the client would
  get another address than the source says): in ``add`` mode that is a conflict, replaced only
  under ``mode="upsert"`` or ``on_conflict="overwrite"``;
* an address or prefix Kea reserves for *another* identifier in the subnet -> a conflict, left
  alone unless ``on_conflict="overwrite"``, which removes that other host first (and says so).

No other reservation is ever dropped.

**The server's configuration is never changed unasked.** Strategy 3, and strategy 1 without a
hosts database (``operation-target`` memory + ``config-write``), change Kea's configuration:
the running one and the file it was started with, which Kea rewrites from memory (a hand-written
file loses its comments and includes). kea-etl does that only with ``allow_config_write``
(``--allow-config-write``); without it every host that would have been written is *failed* with
:data:`NEEDS_CONFIG_WRITE` (hosts already there, conflicts and the like are decided as usual) and
nothing is sent. With it, the configuration as ``config-get`` returns it is saved to a new file
(:func:`config_backup_path`: next to the report, else in the working directory) before the first
command that changes it; :attr:`ReservationLoader.backup` says where.

``dry_run`` reads what it needs (list-commands,
version-get, config-get, reservation-get, reservation-get-by-address, cache-get) and sends
nothing else; it reports the same
decisions, and counts in :attr:`ReservationLoader.sent` what it would have sent.

1. ``reservation-add`` (host_cmds). Each host is looked up with reservation-get by identifier,
   and, when it would be written, by each address it does not already hold (who else holds it:
   ``reservation-get-by-address`` where the server lists it, which names every holder, else
   reservation-get by address).
   A replacement is one ``reservation-update`` where the server has it (Kea 3.0), else
   reservation-del + reservation-add; if that add is refused, the deleted hosts are put back.
   On Kea >= 2.4 the commands take ``operation-target``: with a hosts database configured
   kea-etl writes to the ``database`` (that is where the operator keeps hosts, and it persists);
   without one (common on Kea 3.0) it must use ``memory``, which lives only in the running
   configuration, so kea-etl then runs ``config-write`` to persist it in the file the server was
   started with (an operator expects reservations to survive a restart): a configuration change,
   so only with ``allow_config_write``. Kea < 2.4 has no
   ``operation-target`` and host_cmds needs a hosts database there.
2. host_cache (``cache-load``): the cache is read once (``cache-get``) and every host judged
   against it. The hosts to write go into a JSON file in a directory the *server* can read (its
   data directory from config-get, or ``server_dir``; ``local_dir`` is where kea-etl writes it
   when the server runs in a chroot or container), ``cache-load`` reads it, and ``cache-write``
   dumps the cache to a second file that kea-etl reads back to verify every host arrived as
   sent. A host being replaced, and under ``overwrite`` another host holding its address, is
   first taken out with ``cache-remove``. Beware: host_cache itself silently drops a cached host
   when another one with the same address is inserted (checked on Kea 3.0.4), which is why the
   addresses are checked here first. The host cache is memory only: it is gone after a restart,
   so this is for warming a server backed by a hosts database, and the report says so.
3. ``config-set`` (any Kea; only with ``allow_config_write``): config-get, merge the hosts into
   each subnet's ``reservations`` (other reservations are kept; a replaced one is swapped in
   place), ``config-test``, ``config-set``, then ``config-write`` to the server's configuration
   file (``config_file`` or the file it was started with). Nothing is sent if nothing changes.
   Beware: Kea writes the file from its running configuration, so comments and ``<?include?>``
   lines of a hand-written file are not kept (Kea's own behaviour; keep the original under version
   control).

Reservations are few compared to leases, so this loader holds them in memory.
"""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from ipaddress import IPv4Address, IPv6Address, IPv6Network
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from kea_etl.dhcp_options import canonical_option_data
from kea_etl.errors import ConfigError, InvalidValueError, KeaCommandError, KeaUnsupportedError
from kea_etl.kea_config import raw_subnets
from kea_etl.load.checkpoint import Checkpoint, Outcome, count_outcome, record_key
from kea_etl.records import Reservation, canonical_hex, kea_text
from kea_etl.report import RunReport

if TYPE_CHECKING:
    from kea_etl.kea import KeaClient

__all__ = ["NEEDS_CONFIG_WRITE", "STRATEGIES", "ReservationLoader", "choose_strategy",
           "config_backup_path", "differences", "host_field_values", "host_identifier"]

Strategy = Literal["reservation-add", "cache-load", "config-set"]
STRATEGIES: tuple[str, ...] = ("reservation-add", "cache-load", "config-set")
Mode = Literal["add", "upsert"]

#: the reason of a host whose details differ and that ``mode="add"`` leaves as Kea has it
KEPT = "Kea holds this client's reservation with other details; kept Kea's"
#: the reason of a host that only a configuration change could store, not allowed
NEEDS_CONFIG_WRITE = "needs --allow-config-write"
#: host fields kea-etl does not model: never compared, and carried over when a host is replaced
_KEPT_FROM_KEA = ("server-hostname",)
_ADDRESS_FIELDS = frozenset({"ip-address", "ip-addresses", "prefixes"})
_IDENTIFIERS = ("hw-address", "client-id", "duid", "circuit-id", "flex-id")


def config_backup_path(report_path: str | None, *, stamp: str) -> Path:
    """Where the configuration is saved before kea-etl changes it: ``REPORT.json.kea-config-
    before-STAMP.json`` next to the report, else ``./kea-etl.kea-config-before-STAMP.json``
    (STAMP: UTC time; a new name every run, so an earlier backup is never overwritten)."""
    base = Path(report_path) if report_path else Path("kea-etl")
    return base.with_name(f"{base.name}.kea-config-before-{stamp}.json")


def choose_strategy(commands: Iterable[str]) -> Strategy:
    have = set(commands)
    if "reservation-add" in have:
        return "reservation-add"
    if {"cache-load", "cache-write"} <= have:
        return "cache-load"
    return "config-set"


def _ip(text: Any, kind: type[IPv4Address] | type[IPv6Address] | type[IPv6Network]) -> str:
    try:
        return str(kind(text))
    except (TypeError, ValueError):
        return str(text)


def _addresses(host: Mapping[str, Any]) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    """(v4 address, v6 addresses, prefixes) of a host map, spelled as :mod:`ipaddress` does."""
    ip4 = host.get("ip-address")
    ip4 = None if ip4 in (None, "", "0.0.0.0") else _ip(ip4, IPv4Address)
    return (ip4, tuple(sorted(_ip(a, IPv6Address) for a in host.get("ip-addresses") or ())),
            tuple(sorted(_ip(p, IPv6Network) for p in host.get("prefixes") or ())))


def _address_list(host: Mapping[str, Any]) -> list[str]:
    ip4, ip6, pfx = _addresses(host)
    return ([ip4] if ip4 else []) + list(ip6) + list(pfx)


def host_identifier(host: Mapping[str, Any]) -> tuple[str, str] | None:
    """(identifier type, identifier in canonical colon hex) of a host map, None without one."""
    # Kea spells identifiers its own way (host_cache: client-id "0102AA00000002"): compare
    # them canonically
    for t in _IDENTIFIERS:
        if host.get(t):
            try:
                return t, canonical_hex(str(host[t]), t) or ""
            except InvalidValueError:
                return t, str(host[t]).lower()
    return None


def _per_family(host: Mapping[str, Any], key: str, family: int) -> Any:
    # a host-cache entry names option-data and client-classes per family (option-data4 ...)
    return host[key] if key in host else host.get(f"{key}{family}")


def _canonical(host: Mapping[str, Any], family: int) -> dict[str, Any]:
    """What kea-etl compares of a host map (reservation-get's answer, a config ``reservations``
    entry, a host-cache entry or :meth:`Reservation.to_kea_host`), in one spelling: Kea's
    defaults ("0.0.0.0", "", [], {}) are absent values, option-data is in canonical form."""
    ip4, ip6, pfx = _addresses(host)
    nxt = host.get("next-server")
    return {
        "ip-address": ip4, "ip-addresses": ip6, "prefixes": pfx,
        "hostname": kea_text(host.get("hostname") or ""),
        "client-classes": tuple(_per_family(host, "client-classes", family) or ()),
        "option-data": canonical_option_data(_per_family(host, "option-data", family) or (),
                                             family),
        "next-server": None if nxt in (None, "", "0.0.0.0") else _ip(nxt, IPv4Address),
        "boot-file-name": host.get("boot-file-name") or "",
        "user-context": host.get("user-context") or None,
    }


def differences(held: Mapping[str, Any], ours: Mapping[str, Any], family: int, *,
                same_options: bool | None = None) -> list[str]:
    """The fields in which host map ``held`` (what Kea has) differs from ``ours``, by Kea's
    names (``hostname``, ``option-data`` ...); empty when they are the same reservation.

    The one reservation comparison of every target. ``same_options`` decides ``option-data``
    when the caller compared the options in its own storage form (kea-sql's option rows)."""
    a, b = _canonical(held, family), _canonical(ours, family)
    if same_options is not None:
        a["option-data"] = b["option-data"] if same_options else None
    return [k for k in a if a[k] != b[k]]


def moved(fields: Iterable[str]) -> bool:
    """Whether differing ``fields`` (of :func:`differences`) include the reserved addresses."""
    return not _ADDRESS_FIELDS.isdisjoint(fields)


def _option_label(entry: Mapping[str, Any]) -> str:
    return str(entry.get("name") or f"{entry.get('space')}/{entry.get('code')}")


def _option_text(entry: Mapping[str, Any]) -> str:
    """An option's data and any non-default flag (a flag alone can be the difference)."""
    flags = [f"{k}={json.dumps(v)}" for k, v in sorted(entry.items())
             if k not in ("name", "code", "space", "data")]
    return " ".join([str(entry.get("data", "")), *flags]).strip()


def host_field_values(held: Mapping[str, Any], ours: Mapping[str, Any], family: int,
                      fields: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{field: {"kea": .., "source": ..}}`` for ``fields`` (of :func:`differences`), in the
    canonical form compared, as JSON values: addresses and classes as lists, ``option-data`` as
    ``{option name: data}`` of the options that differ (absent on one side: not there)."""
    a, b = _canonical(held, family), _canonical(ours, family)
    out: dict[str, dict[str, Any]] = {}
    for f in fields:
        if f == "option-data":
            theirs = {_option_label(o): _option_text(o) for o in a[f]}
            mine = {_option_label(o): _option_text(o) for o in b[f]}
            names = sorted(n for n in mine.keys() | theirs.keys() if mine.get(n) != theirs.get(n))
            out[f] = {"kea": {n: theirs[n] for n in names if n in theirs},
                      "source": {n: mine[n] for n in names if n in mine}}
        else:
            out[f] = {"kea": list(a[f]) if isinstance(a[f], tuple) else a[f],
                      "source": list(b[f]) if isinstance(b[f], tuple) else b[f]}
    return out


def _describe(held: Mapping[str, Any], ours: Mapping[str, Any], family: int,
              fields: Sequence[str]) -> str:
    """``fields`` with Kea's and the source's values (option-data: the options that differ)."""
    parts = []
    for f, v in host_field_values(held, ours, family, fields).items():
        if f == "option-data":
            parts.append(f"option-data ({', '.join(sorted(v['kea'].keys() | v['source'].keys()))})")
        elif f == "user-context":
            parts.append("user-context")
        else:
            parts.append(f"{f} {_show(v['kea'])} in Kea, {_show(v['source'])} in the source")
    return "; ".join(parts)


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return "none" if value in (None, "") else repr(value)


def _who(host: Mapping[str, Any]) -> str:
    ident = host_identifier(host)
    return f"{ident[0]} {ident[1]}" if ident else "a host without identifier"


def _replacement(res: Reservation, held: Mapping[str, Any] | None) -> dict[str, Any]:
    """``res`` as a host map, with what kea-etl does not model carried over from Kea's host."""
    host = res.to_kea_host()
    if held is not None:
        host.update((k, held[k]) for k in _KEPT_FROM_KEA if held.get(k))
    return host


class ReservationLoader:
    """Loads :class:`~kea_etl.records.Reservation` records into a live Kea.

    ``mode`` and ``on_conflict`` mean what they mean for leases (see the module docstring):
    ``add`` keeps a host Kea holds with other details, ``upsert`` replaces it; ``overwrite``
    also takes an address from another identifier.
    """

    def __init__(self, client: KeaClient, *, mode: Mode = "add",
                 on_conflict: Literal["skip", "overwrite"] = "skip",
                 dry_run: bool = False, checkpoint: Checkpoint | None = None,
                 strategy: Strategy | None = None, server_dir: str | None = None,
                 local_dir: str | None = None, config_file: str | None = None,
                 allow_config_write: bool = False, report_path: str | None = None) -> None:
        if mode not in ("add", "upsert"):
            raise ConfigError(f"mode must be 'add' or 'upsert', not {mode!r}")
        self.client = client
        self.mode: Mode = mode
        self.on_conflict = on_conflict
        self.dry_run = dry_run
        self.checkpoint = checkpoint
        self.strategy: Strategy | None = strategy
        self.server_dir = server_dir
        self.local_dir = local_dir
        self.config_file = config_file
        self.allow_config_write = allow_config_write
        self.report_path = report_path
        #: where the configuration was (dry run: would be) saved before it was changed
        self.backup: Path | None = None
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
        report.reservations_via = self.strategy
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
        if self.backup is not None:
            report.config_backups.append(
                {"server": self.server, "path": str(self.backup), "saved": not self.dry_run})
        if self.checkpoint is not None and not self.dry_run:
            self.checkpoint.record(outcomes)

    def _refused(self, res: Reservation, how: str) -> Outcome:
        """The outcome of a host that only a configuration change could store (not allowed)."""
        return _out(res, "failed", NEEDS_CONFIG_WRITE,
                    f"{self.server} can store this reservation only by changing its "
                    f"configuration ({how}), which rewrites the file it was started with (comments "
                    "and includes are lost); kea-etl changes a Kea configuration only when asked: "
                    "re-run with --allow-config-write (the current configuration is saved first)")

    def _save_config(self) -> None:
        """Save config-get's answer before the first command that changes the configuration."""
        if self.backup is not None:
            return
        from kea_etl import clock

        stamp = clock.now_datetime().strftime("%Y%m%dT%H%M%SZ")
        path = config_backup_path(self.report_path, stamp=stamp)
        n = 1
        while path.exists():  # never overwrite an earlier backup
            n += 1
            path = config_backup_path(self.report_path, stamp=f"{stamp}-{n}")
        if not self.dry_run:
            text = json.dumps(self.client.config_get(), indent=2, sort_keys=True) + "\n"
            try:
                _write_private(path, text)  # may hold passwords: owner only
            except OSError as exc:
                raise ConfigError(f"cannot save the configuration of {self.server} to {path} "
                                  f"before changing it: {exc.strerror or exc}; nothing was "
                                  "changed") from exc
        self.backup = path

    def _send(self, command: str, args: Any) -> None:
        self.sent[command] += 1
        if not self.dry_run:
            self.client.call(command, args)

    # -- what to do with one host, whatever the strategy -------------------------------------
    def _judge_held(self, res: Reservation, ours: Mapping[str, Any],
                    held: Mapping[str, Any] | None) -> tuple[Outcome | None, str | None]:
        """Against Kea's host of the same identifier: (the final outcome, or None to write it;
        a note for the report when writing it overwrites a conflict)."""
        if held is None:
            return None, None
        diffs = differences(held, ours, res.family)
        if not diffs:
            return _out(res, "already_present"), None
        what = (f"Kea's reservation for {res.identifier_type} {res.identifier} in subnet "
                f"{res.subnet_id} differs: {_describe(held, ours, res.family, diffs)}")
        addresses_differ = moved(diffs)
        if self.mode == "upsert":
            return None, None
        if not addresses_differ:
            return _out(res, "already_present", KEPT,
                        what + "; use --mode upsert to replace it"), None
        if self.on_conflict == "overwrite":
            return None, what
        return _out(res, "conflict", "conflict", what + "; left alone (use --mode upsert or "
                    "--on-conflict overwrite to replace it)"), None

    def _judge_takers(self, res: Reservation, takers: Sequence[tuple[str, Mapping[str, Any]]]
                      ) -> tuple[Outcome | None, str | None]:
        """Against the hosts of *other* identifiers holding one of its addresses."""
        if not takers:
            return None, None
        detail = "Kea reserves " + ", ".join(f"{addr} for {_who(h)}" for addr, h in takers) + \
            f" in subnet {res.subnet_id}"
        if self.on_conflict != "overwrite":
            return _out(res, "conflict", "conflict",
                        detail + "; left alone (use --on-conflict overwrite to replace it)"), None
        return None, detail + "; removed that reservation"

    @staticmethod
    def _written(res: Reservation, *notes: str | None) -> Outcome:
        said = [n for n in notes if n]
        return _out(res, "loaded", "conflict overwritten" if said else None,
                    "; ".join(said) if said else None)

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
                ours = _replacement(res, held)
                final, note = self._judge_held(res, ours, held)
                if final is not None:
                    out.append(final)
                    continue
                mine = (res.identifier_type, res.identifier)
                have = set(_address_list(held)) if held is not None else set()
                takers: list[tuple[str, Mapping[str, Any]]] = []
                for addr in _address_list(ours):
                    if addr in have:
                        continue
                    takers.extend((addr, other) for other in self._holders(res, addr, target)
                                  if host_identifier(other) != mine)
                final, note2 = self._judge_takers(res, takers)
                if final is not None:
                    out.append(final)
                    continue
                if target == "memory":  # no hosts database: the configuration is the store
                    if not self.allow_config_write:
                        out.append(self._refused(res, "reservation-add into its running "
                                                      "configuration + config-write"))
                        continue
                    self._save_config()
                out.append(self._write_host_cmds(res, ours, held, [h for _, h in takers],
                                                 extra, note, note2))
                changed = changed or out[-1].status == "loaded"
            except KeaCommandError as exc:
                out.append(_out(res, "failed", f"Kea refused {exc.command}", exc.text))
        if changed and target == "memory":
            # memory-only hosts vanish at restart: save them in the server's config file
            self._send("config-write", {"filename": self.config_file} if self.config_file
                       else None)
        return out

    def _holders(self, res: Reservation, addr: str, target: str | None
                 ) -> Sequence[Mapping[str, Any]]:
        """The hosts of ``res``'s subnet that reserve ``addr`` (a prefix is found by its first
        address: Kea indexes it so). ``reservation-get-by-address`` (host_cmds, Kea 2.4+), where
        the server lists it, answers *every* holder in one command -- with
        ``ip-reservations-unique: false`` several hosts may hold one address, while
        reservation-get by address names one host); else reservation-get by address."""
        ip = addr.partition("/")[0]
        if "reservation-get-by-address" in self.client.commands():
            return self.client.reservation_get_by_address(
                ip, subnet_id=res.subnet_id, operation_target=target)
        other = self.client.reservation_get(res.subnet_id, ip_address=ip,
                                            operation_target=target)
        return [other] if other is not None else []

    def _write_host_cmds(self, res: Reservation, ours: dict[str, Any],
                         held: Mapping[str, Any] | None, takers: Sequence[Mapping[str, Any]],
                         extra: Mapping[str, Any], *notes: str | None) -> Outcome:
        args = {"reservation": {**ours, "subnet-id": res.subnet_id}, **extra}
        deleted: list[Mapping[str, Any]] = []
        seen: set[tuple[str, str] | None] = set()
        try:
            for other in takers:
                ident = host_identifier(other)
                if ident is None or ident in seen:
                    continue
                seen.add(ident)
                self._send("reservation-del", {"subnet-id": res.subnet_id,
                                               "identifier-type": ident[0],
                                               "identifier": ident[1], **extra})
                deleted.append(other)
            if held is None:
                self._send("reservation-add", args)
            elif "reservation-update" in self.client.commands():
                self._send("reservation-update", args)  # one command: Kea replaces the host
            else:
                self._send("reservation-del", {"subnet-id": res.subnet_id,
                                               "identifier-type": res.identifier_type,
                                               "identifier": res.identifier, **extra})
                deleted.append(held)
                self._send("reservation-add", args)
        except KeaCommandError as exc:
            restored = self._restore(res.subnet_id, deleted, extra)
            return _out(res, "failed", f"Kea refused {exc.command}", exc.text + restored)
        return self._written(res, *notes)

    def _restore(self, subnet_id: int, deleted: Sequence[Mapping[str, Any]],
                 extra: Mapping[str, Any]) -> str:
        """Put back the hosts deleted for a replacement that Kea then refused."""
        if not deleted:
            return ""
        lost = []
        for host in reversed(deleted):
            try:
                self._send("reservation-add", {"reservation": {**host, "subnet-id": subnet_id},
                                               **extra})
            except KeaCommandError:
                lost.append(_who(host))
        if lost:
            return f"; could NOT put back the deleted reservation of {', '.join(lost)}"
        return "; the reservations deleted for it were put back"

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
        # the cache as it is, by identity and by address; updated as hosts are judged, so the
        # file never holds two hosts host_cache would let overwrite each other
        by_id: dict[tuple[Any, ...], dict[str, Any]] = {}
        by_addr: dict[tuple[Any, ...], dict[str, Any]] = {}

        def where(h: Mapping[str, Any]) -> tuple[int, int]:
            return int(h.get("subnet-id4") or 0), int(h.get("subnet-id6") or 0)

        def index(h: dict[str, Any]) -> None:
            if (ident := host_identifier(h)) is not None:
                by_id[(*ident, *where(h))] = h
            for addr in _address_list(h):
                by_addr[(*where(h), addr)] = h

        def unindex(h: Mapping[str, Any]) -> None:
            by_id.pop((*(host_identifier(h) or ("", "")), *where(h)), None)
            for addr in _address_list(h):
                if by_addr.get((*where(h), addr)) is h:
                    del by_addr[(*where(h), addr)]

        for h in self.client.cache_get():
            index(h)
        out: list[Outcome] = []
        send: list[tuple[Reservation, dict[str, Any]]] = []
        slot: dict[int, int] = {}  # id(record) -> its place in out
        for res in hosts:
            sub = (res.subnet_id, 0) if res.family == 4 else (0, res.subnet_id)
            mine = (res.identifier_type, res.identifier)
            held = by_id.get((*mine, *sub))
            ours = _replacement(res, held)
            final, note = self._judge_held(res, ours, held)
            if final is not None:
                out.append(final)
                continue
            takers = [(addr, other) for addr in _address_list(ours)
                      if (other := by_addr.get((*sub, addr))) is not None
                      and host_identifier(other) != mine]
            final, note2 = self._judge_takers(res, takers)
            if final is not None:
                out.append(final)
                continue
            sub_key = "subnet-id4" if res.family == 4 else "subnet-id6"
            olds = ([held] if held is not None else []) + [h for _, h in takers]
            for old in olds:
                if (ident := host_identifier(old)) is None or by_id.get((*ident, *sub)) is not old:
                    continue  # gone already (one host holding two of its addresses)
                self._send("cache-remove", {ident[0]: ident[1], sub_key: res.subnet_id})
                unindex(old)
            ours["subnet-id4"], ours["subnet-id6"] = sub
            if "option-data" in ours:  # host_cache's file names it per family ("unknown
                ours[f"option-data{res.family}"] = ours.pop("option-data")  # parameter" else)
            if "client-classes" in ours:
                ours[f"client-classes{res.family}"] = ours.pop("client-classes")
            index(ours)
            send.append((res, ours))
            slot[id(res)] = len(out)
            out.append(self._written(res, note, note2))  # until cache-write says otherwise
        if not send:
            return out
        server, local = self._dirs()
        name = f"kea-etl-hosts-{uuid.uuid4().hex[:8]}.json"
        if self.dry_run:
            self.sent["cache-load"] += 1
            return out
        local_file = local / name
        _write_private(local_file, json.dumps([h for _, h in send]))
        try:
            self._send("cache-load", f"{server}/{name}")
        except KeaCommandError as exc:
            local_file.unlink(missing_ok=True)
            for r, _ in send:
                out[slot[id(r)]] = _out(r, "failed", "Kea refused cache-load", exc.text)
            return out
        local_file.unlink(missing_ok=True)
        # read back: cache-write dumps the cache where we can read it; every host must be there
        # as it was sent
        check = f"kea-etl-verify-{uuid.uuid4().hex[:8]}.json"
        self._send("cache-write", f"{server}/{check}")
        try:
            dumped = json.loads((local / check).read_text())
        finally:
            (local / check).unlink(missing_ok=True)
        present = {(*(host_identifier(h) or ("", "")), *where(h)): h for h in dumped}
        for res, host in send:
            got = present.get((res.identifier_type, res.identifier, *where(host)))
            if got is None:
                out[slot[id(res)]] = _out(res, "failed", "not in the host cache after cache-load",
                                          f"cache-write of {self.server} does not show it")
            elif diffs := differences(got, host, res.family):
                out[slot[id(res)]] = _out(res, "failed", "not in the host cache as sent",
                                          f"cache-write of {self.server} shows it with other "
                                          f"{_describe(got, host, res.family, diffs)}")
        return out

    # -- 3. config-set -----------------------------------------------------------------------
    def _via_config(self, hosts: Sequence[Reservation]) -> list[Outcome]:
        cfg = self.client.config_get()
        fam_key = next((k for k in ("Dhcp4", "Dhcp6") if k in cfg), None)
        if fam_key is None:
            raise ConfigError(f"config-get of {self.server} has no Dhcp4 or Dhcp6 section")
        new_cfg = {fam_key: copy.deepcopy(cfg[fam_key])}
        body = new_cfg[fam_key]
        # the copy's own subnet objects: reservations are added to them in place
        subnets: dict[int, dict[str, Any]] = {
            int(s["id"]): cast("dict[str, Any]", s)
            for s, _ in raw_subnets(body, 4 if fam_key == "Dhcp4" else 6,
                                    origin=f"config-get of {self.server}")}
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
            mine = (res.identifier_type, res.identifier)
            held = next((h for h in listed if host_identifier(h) == mine), None)
            ours = _replacement(res, held)
            final, note = self._judge_held(res, ours, held)
            if final is not None:
                out.append(final)
                continue
            wanted = set(_address_list(ours))
            takers = [(addr, h) for h in listed if host_identifier(h) != mine
                      for addr in _address_list(h) if addr in wanted]
            final, note2 = self._judge_takers(res, takers)
            if final is not None:
                out.append(final)
                continue
            gone = {id(h) for _, h in takers}
            if held is not None:  # replaced where it stood
                listed[next(i for i, h in enumerate(listed) if h is held)] = ours
            else:
                listed.append(ours)
            listed[:] = [h for h in listed if id(h) not in gone]
            out.append(self._written(res, note, note2))
            changed = True
        if not changed:
            return out
        if not self.allow_config_write:
            by_key = {record_key(h): h for h in hosts}
            return [o if o.status != "loaded" else
                    self._refused(by_key[o.key], "config-set + config-write") for o in out]
        self._save_config()
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


# The host-cache file names clients and addresses: private to its owner.
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
