"""One typed method per Kea command, mixed into :class:`~kea_etl.kea.KeaClient`.

Each method is named after its command (``lease4-get-page`` -> ``lease4_get_page``), builds the
arguments in Kea's wire format (hyphenated names, as documented in Kea's command reference) and
returns the parsed ``arguments``: a getter returns ``None`` or ``[]`` when Kea answers result 3
("empty"); an action returns the whole :class:`KeaResponse` (its ``text`` is often all Kea says).
Errors are raised by :meth:`KeaClient.call`, which decodes result codes in one place.

Argument formats follow Kea's ARM (hooks-lease-cmds, hooks-host-cmds, hooks-host-cache,
hooks-subnet-cmds, hooks-stat-cmds, hooks-ha, ctrl-channel) and were checked against Kea 2.2.0
and 3.0.4 where the tests say so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from kea_etl.records import Lease4, Lease6, Reservation

__all__ = ["KeaCommands", "KeaResponse"]

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class KeaResponse:
    """One decoded Kea answer. ``result`` is 0 (success) or 3 (empty); errors were raised."""

    command: str
    result: int
    text: str
    arguments: Any = None

    @property
    def empty(self) -> bool:
        """Kea answered result 3: nothing matched (a normal answer for a get)."""
        return self.result == 3


def _drop_none(**kw: Any) -> Json:
    return {k.replace("_", "-"): v for k, v in kw.items() if v is not None}


def _lease4_args(lease: Lease4 | Mapping[str, Any]) -> Json:
    return lease.to_kea_args() if isinstance(lease, Lease4) else dict(lease)


def _lease6_args(lease: Lease6 | Mapping[str, Any]) -> Json:
    return lease.to_kea_args() if isinstance(lease, Lease6) else dict(lease)


def _list_of(value: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[Json]:
    if isinstance(value, Mapping):
        return [dict(value)]
    return [dict(v) for v in value]


def _ip(value: str | IPv4Address | IPv6Address | None) -> str | None:
    return None if value is None else str(value)


def _lookup(ip_address: str | IPv4Address | IPv6Address | None, identifier_type: str | None,
            identifier: str | None, subnet_id: int | None, command: str) -> Json:
    """Arguments of a get/del that finds an object by address or by identifier + subnet."""
    if ip_address is not None:
        if identifier is not None:
            raise ValueError(f"{command}: give an address or an identifier, not both")
        return {"ip-address": str(ip_address)}
    if identifier is None or identifier_type is None:
        raise ValueError(f"{command}: give an address, or identifier_type and identifier")
    args: Json = {"identifier-type": identifier_type, "identifier": identifier}
    if subnet_id is not None:
        args["subnet-id"] = subnet_id
    return args


class KeaCommands:
    """The typed command methods. Subclasses provide :meth:`call`."""

    def call(self, command: str, arguments: Any = None) -> KeaResponse:  # pragma: no cover
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers
    def _args_or_none(self, command: str, arguments: Any = None) -> Any:
        """The reply's arguments, or ``None`` on result 3."""
        resp = self.call(command, arguments)
        return None if resp.result == 3 else resp.arguments

    def _list(self, command: str, arguments: Any, key: str) -> list[Json]:
        resp = self.call(command, arguments)
        if resp.result == 3 or not isinstance(resp.arguments, dict):
            return []
        return list(resp.arguments.get(key) or [])

    def _found(self, command: str, arguments: Any) -> bool:
        return self.call(command, arguments).result == 0

    # ------------------------------------------------------------------ daemon built-ins
    def build_report(self) -> str:
        """``build-report``: how this Kea was built (the report is the reply's text)."""
        return self.call("build-report").text

    def config_get(self) -> Json:
        """``config-get``: the running configuration, ``{"Dhcp4": {...}, "hash": ...}``."""
        return dict(self.call("config-get").arguments or {})

    def config_reload(self) -> KeaResponse:
        """``config-reload``: re-read the configuration file the daemon was started with."""
        return self.call("config-reload")

    def config_set(self, config: Mapping[str, Any]) -> KeaResponse:
        """``config-set``: replace the running configuration (``{"Dhcp4": {...}}``)."""
        return self.call("config-set", dict(config))

    def config_test(self, config: Mapping[str, Any]) -> KeaResponse:
        """``config-test``: check a configuration without applying it (raises if invalid)."""
        return self.call("config-test", dict(config))

    def config_write(self, filename: str | None = None) -> KeaResponse:
        """``config-write``: save the running configuration. Without ``filename`` Kea
        overwrites the file it was started with; Kea 2.2 writes anywhere it is told (as root)."""
        return self.call("config-write", _drop_none(filename=filename) or None)

    def dhcp_disable(self, max_period: int | None = None, *, origin: str | None = None) -> KeaResponse:
        """``dhcp-disable``: stop answering clients, optionally for ``max_period`` seconds."""
        return self.call("dhcp-disable", _drop_none(max_period=max_period, origin=origin) or None)

    def dhcp_enable(self, *, origin: str | None = None) -> KeaResponse:
        """``dhcp-enable``: answer clients again."""
        return self.call("dhcp-enable", _drop_none(origin=origin) or None)

    def leases_reclaim(self, *, remove: bool = False) -> KeaResponse:
        """``leases-reclaim``: reclaim expired leases now (``remove`` deletes them)."""
        return self.call("leases-reclaim", {"remove": remove})

    def libreload(self) -> KeaResponse:
        """``libreload``: reload the hook libraries (Kea 2.x; removed in 2.5)."""
        return self.call("libreload")

    def list_commands(self) -> list[str]:
        """``list-commands``: every command this server (with its hooks) supports."""
        return [str(c) for c in (self.call("list-commands").arguments or [])]

    def shutdown(self, *, exit_value: int | None = None) -> KeaResponse:
        """``shutdown``: stop the daemon (it exits within milliseconds)."""
        return self.call("shutdown", _drop_none(exit_value=exit_value) or None)

    def version_get(self) -> str:
        """``version-get``: the version string, e.g. ``"2.2.0"``."""
        return self.call("version-get").text

    # ------------------------------------------------------------------ statistics (built-in)
    def statistic_get(self, name: str) -> list[list[Any]]:
        """``statistic-get``: the samples ``[[value, "timestamp"], ...]`` of one statistic
        (``[]`` when there is no such statistic)."""
        args = self.call("statistic-get", {"name": name}).arguments or {}
        return list(args.get(name) or [])

    def statistic_get_all(self) -> Json:
        """``statistic-get-all``: ``{name: [[value, "timestamp"], ...], ...}``."""
        return dict(self.call("statistic-get-all").arguments or {})

    def statistic_global_get_all(self) -> Json:
        """``statistic-global-get-all`` (Kea 3.1.2+): as statistic-get-all without any subnet
        (or pool) counter."""
        return dict(self.call("statistic-global-get-all").arguments or {})

    def statistic_remove(self, name: str) -> KeaResponse:
        """``statistic-remove``: forget one statistic."""
        return self.call("statistic-remove", {"name": name})

    def statistic_remove_all(self) -> KeaResponse:
        """``statistic-remove-all``: forget every statistic."""
        return self.call("statistic-remove-all")

    def statistic_reset(self, name: str) -> KeaResponse:
        """``statistic-reset``: set one statistic back to zero."""
        return self.call("statistic-reset", {"name": name})

    def statistic_reset_all(self) -> KeaResponse:
        """``statistic-reset-all``: set every statistic back to zero."""
        return self.call("statistic-reset-all")

    # ------------------------------------------------------------------ stat_cmds
    def _stat_lease(self, command: str, subnet_id: int | None, first_subnet_id: int | None,
                    last_subnet_id: int | None) -> list[Json]:
        args: Json | None = None
        if subnet_id is not None:
            args = {"subnet-id": subnet_id}
        elif first_subnet_id is not None or last_subnet_id is not None:
            args = {"subnet-range": _drop_none(first_subnet_id=first_subnet_id,
                                               last_subnet_id=last_subnet_id)}
        resp = self.call(command, args)
        if resp.result == 3 or not isinstance(resp.arguments, dict):
            return []
        rs = resp.arguments.get("result-set") or {}
        columns = list(rs.get("columns") or [])
        return [dict(zip(columns, row, strict=False)) for row in rs.get("rows") or []]

    def stat_lease4_get(self, subnet_id: int | None = None, *, first_subnet_id: int | None = None,
                        last_subnet_id: int | None = None) -> list[Json]:
        """``stat-lease4-get``: one dict per subnet, keyed by Kea's column names
        (``subnet-id``, ``total-addresses``, ``assigned-addresses`` ...). Unknown subnet: ``[]``."""
        return self._stat_lease("stat-lease4-get", subnet_id, first_subnet_id, last_subnet_id)

    def stat_lease6_get(self, subnet_id: int | None = None, *, first_subnet_id: int | None = None,
                        last_subnet_id: int | None = None) -> list[Json]:
        """``stat-lease6-get``: one dict per subnet (``total-nas``, ``assigned-pds`` ...)."""
        return self._stat_lease("stat-lease6-get", subnet_id, first_subnet_id, last_subnet_id)

    # ------------------------------------------------------------------ lease_cmds, v4
    def lease4_add(self, lease: Lease4 | Mapping[str, Any]) -> KeaResponse:
        """``lease4-add``: add one lease (KeaConflictError if the address is taken)."""
        return self.call("lease4-add", _lease4_args(lease))

    def lease4_update(self, lease: Lease4 | Mapping[str, Any], *,
                      force_create: bool = False) -> KeaResponse:
        """``lease4-update``; ``force_create=True`` inserts or replaces (the idempotent form)."""
        args = _lease4_args(lease)
        if force_create:
            args["force-create"] = True
        return self.call("lease4-update", args)

    def lease4_del(self, ip_address: str | IPv4Address | None = None, *,
                   identifier_type: str | None = None, identifier: str | None = None,
                   subnet_id: int | None = None) -> bool:
        """``lease4-del`` by address, or by ``identifier_type`` (hw-address / client-id) +
        ``identifier`` + ``subnet_id``. ``False`` when there was no such lease."""
        return self._found("lease4-del", _lookup(ip_address, identifier_type, identifier,
                                                 subnet_id, "lease4-del"))

    def lease4_get(self, ip_address: str | IPv4Address | None = None, *,
                   identifier_type: str | None = None, identifier: str | None = None,
                   subnet_id: int | None = None) -> Json | None:
        """``lease4-get`` by address or identifier: the lease map, or ``None``."""
        result: Json | None = self._args_or_none(
            "lease4-get", _lookup(ip_address, identifier_type, identifier, subnet_id, "lease4-get"))
        return result

    def lease4_get_all(self, subnets: Iterable[int] | None = None) -> list[Json]:
        """``lease4-get-all``, optionally only in ``subnets``. Use :meth:`iter_leases4` for
        big servers: get-all builds the whole answer in Kea's memory."""
        args = None if subnets is None else {"subnets": list(subnets)}
        return self._list("lease4-get-all", args, "leases")

    def lease4_get_page(self, start: str | IPv4Address = "start", limit: int = 1000) -> list[Json]:
        """``lease4-get-page``: up to ``limit`` leases after address ``start`` (``"start"``
        for the first page). The last page is shorter than ``limit`` (or empty)."""
        return self._list("lease4-get-page", {"from": str(start), "limit": limit}, "leases")

    def lease4_get_by_hw_address(self, hw_address: str) -> list[Json]:
        """``lease4-get-by-hw-address``: every lease of one MAC."""
        return self._list("lease4-get-by-hw-address", {"hw-address": hw_address}, "leases")

    def lease4_get_by_client_id(self, client_id: str) -> list[Json]:
        """``lease4-get-by-client-id``: every lease of one client-id."""
        return self._list("lease4-get-by-client-id", {"client-id": client_id}, "leases")

    def lease4_get_by_hostname(self, hostname: str) -> list[Json]:
        """``lease4-get-by-hostname``: every lease with this hostname."""
        return self._list("lease4-get-by-hostname", {"hostname": hostname}, "leases")

    def lease4_write(self, filename: str) -> KeaResponse:
        """``lease4-write`` (Kea 2.3.1+): the memfile lease database into a CSV file on the
        server (Kea 2.6.3+/3.x: only in its data directory; a bare name is written there)."""
        return self.call("lease4-write", {"filename": filename})

    def lease4_wipe(self, subnet_id: int | None = None) -> KeaResponse:
        """``lease4-wipe``: delete all leases of one subnet (or all). Deprecated in Kea."""
        return self.call("lease4-wipe", _drop_none(subnet_id=subnet_id) or None)

    # ------------------------------------------------------------------ lease_cmds, v6
    def lease6_add(self, lease: Lease6 | Mapping[str, Any]) -> KeaResponse:
        """``lease6-add``: add one IA_NA or IA_PD lease (PD needs ``subnet-id``)."""
        return self.call("lease6-add", _lease6_args(lease))

    def lease6_update(self, lease: Lease6 | Mapping[str, Any], *,
                      force_create: bool = False) -> KeaResponse:
        """``lease6-update``; ``force_create=True`` inserts or replaces."""
        args = _lease6_args(lease)
        if force_create:
            args["force-create"] = True
        return self.call("lease6-update", args)

    @staticmethod
    def _lookup6(command: str, ip_address: str | IPv6Address | None, lease_type: str | None,
                 duid: str | None, iaid: int | None, subnet_id: int | None) -> Json:
        if ip_address is not None:
            args: Json = {"ip-address": str(ip_address)}
        elif duid is not None and iaid is not None and subnet_id is not None:
            args = {"identifier-type": "duid", "identifier": duid, "iaid": iaid,
                    "subnet-id": subnet_id}
        else:
            raise ValueError(f"{command}: give an address, or duid + iaid + subnet_id")
        if lease_type is not None:
            args["type"] = lease_type
        return args

    def lease6_del(self, ip_address: str | IPv6Address | None = None, *,
                   lease_type: str | None = None, duid: str | None = None,
                   iaid: int | None = None, subnet_id: int | None = None) -> bool:
        """``lease6-del`` by address (``lease_type="IA_PD"`` for a prefix) or by DUID + IAID +
        subnet. ``False`` when there was no such lease."""
        return self._found("lease6-del",
                           self._lookup6("lease6-del", ip_address, lease_type, duid, iaid, subnet_id))

    def lease6_get(self, ip_address: str | IPv6Address | None = None, *,
                   lease_type: str | None = None, duid: str | None = None,
                   iaid: int | None = None, subnet_id: int | None = None) -> Json | None:
        """``lease6-get`` by address (``lease_type="IA_PD"`` for a prefix) or by DUID + IAID +
        subnet: the lease map, or ``None``."""
        result: Json | None = self._args_or_none(
            "lease6-get", self._lookup6("lease6-get", ip_address, lease_type, duid, iaid, subnet_id))
        return result

    def lease6_get_all(self, subnets: Iterable[int] | None = None) -> list[Json]:
        """``lease6-get-all``, optionally only in ``subnets``."""
        args = None if subnets is None else {"subnets": list(subnets)}
        return self._list("lease6-get-all", args, "leases")

    def lease6_get_page(self, start: str | IPv6Address = "start", limit: int = 1000) -> list[Json]:
        """``lease6-get-page``: up to ``limit`` leases after address ``start``."""
        return self._list("lease6-get-page", {"from": str(start), "limit": limit}, "leases")

    def lease6_get_by_duid(self, duid: str) -> list[Json]:
        """``lease6-get-by-duid``: every lease of one DUID."""
        return self._list("lease6-get-by-duid", {"duid": duid}, "leases")

    def lease6_get_by_hostname(self, hostname: str) -> list[Json]:
        """``lease6-get-by-hostname``: every lease with this hostname."""
        return self._list("lease6-get-by-hostname", {"hostname": hostname}, "leases")

    def lease6_write(self, filename: str) -> KeaResponse:
        """``lease6-write`` (Kea 2.3.1+): as :meth:`lease4_write` for IPv6 leases."""
        return self.call("lease6-write", {"filename": filename})

    def lease6_wipe(self, subnet_id: int | None = None) -> KeaResponse:
        """``lease6-wipe``: delete all leases of one subnet (or all). Deprecated in Kea."""
        return self.call("lease6-wipe", _drop_none(subnet_id=subnet_id) or None)

    def lease6_bulk_apply(self, leases: Iterable[Lease6 | Mapping[str, Any]] = (),
                          deleted_leases: Iterable[Lease6 | Mapping[str, Any] | str] = ()
                          ) -> list[Json]:
        """``lease6-bulk-apply``: upsert ``leases`` and delete ``deleted_leases`` in one round
        trip. Returns Kea's failed entries (``ip-address``, ``type``, ``result``,
        ``error-message``), each with ``"operation"`` set to ``"update"`` or ``"delete"``.

        Kea treats this as an **upsert** (it overwrites a lease held by another DUID), and one
        lease that fits no subnet fails the whole call with result 1 (KeaCommandError).
        """
        deleted: list[Json] = []
        for d in deleted_leases:
            if isinstance(d, Lease6):
                deleted.append({"ip-address": str(d.address), "type": d.lease_type})
            elif isinstance(d, str):
                deleted.append({"ip-address": d})
            else:
                deleted.append(dict(d))
        args = {"leases": [_lease6_args(lease) for lease in leases], "deleted-leases": deleted}
        reply = self.call("lease6-bulk-apply", args).arguments or {}
        failed: list[Json] = []
        for key, op in (("failed-leases", "update"), ("failed-deleted-leases", "delete")):
            for entry in reply.get(key) or []:
                failed.append({**entry, "operation": op})
        return failed

    # ------------------------------------------------------------------ host_cmds
    def reservation_add(self, reservation: Reservation | Mapping[str, Any], *,
                        operation_target: str | None = None) -> KeaResponse:
        """``reservation-add``. ``operation_target`` (Kea 2.4+): memory | database | all |
        default; Kea 3.0 without a hosts database needs ``"memory"``."""
        if isinstance(reservation, Reservation):
            args = reservation.to_kea_args()
        elif "reservation" in reservation:
            args = dict(reservation)
        else:
            args = {"reservation": dict(reservation)}
        if operation_target is not None:
            args["operation-target"] = operation_target
        return self.call("reservation-add", args)

    @staticmethod
    def _host_lookup(subnet_id: int, ip_address: str | IPv4Address | IPv6Address | None,
                     identifier_type: str | None, identifier: str | None,
                     operation_target: str | None, command: str) -> Json:
        if ip_address is not None:
            args: Json = {"subnet-id": subnet_id, "ip-address": str(ip_address)}
        elif identifier_type is not None and identifier is not None:
            args = {"subnet-id": subnet_id, "identifier-type": identifier_type,
                    "identifier": identifier}
        else:
            raise ValueError(f"{command}: give ip_address, or identifier_type and identifier")
        if operation_target is not None:
            args["operation-target"] = operation_target
        return args

    def reservation_del(self, subnet_id: int, *,
                        ip_address: str | IPv4Address | IPv6Address | None = None,
                        identifier_type: str | None = None, identifier: str | None = None,
                        operation_target: str | None = None) -> bool:
        """``reservation-del`` by address or identifier; ``False`` when there was none."""
        return self._found("reservation-del", self._host_lookup(
            subnet_id, ip_address, identifier_type, identifier, operation_target,
            "reservation-del"))

    def reservation_get(self, subnet_id: int, *,
                        ip_address: str | IPv4Address | IPv6Address | None = None,
                        identifier_type: str | None = None, identifier: str | None = None,
                        operation_target: str | None = None) -> Json | None:
        """``reservation-get``: the host map, or ``None``."""
        result: Json | None = self._args_or_none("reservation-get", self._host_lookup(
            subnet_id, ip_address, identifier_type, identifier, operation_target,
            "reservation-get"))
        return result

    def reservation_get_by_address(self, ip_address: str | IPv4Address | IPv6Address, *,
                                   subnet_id: int | None = None,
                                   operation_target: str | None = None) -> list[Json]:
        """``reservation-get-by-address`` (host_cmds, Kea 2.4+): *every* host reserving the
        address (several where ``ip-reservations-unique`` is false), in ``subnet_id`` or in any
        subnet; each carries its ``subnet-id``. Empty list when none."""
        return self._list("reservation-get-by-address",
                          _drop_none(ip_address=str(ip_address), subnet_id=subnet_id,
                                     operation_target=operation_target), "hosts")

    def reservation_get_all(self, subnet_id: int, *,
                            operation_target: str | None = None) -> list[Json]:
        """``reservation-get-all``: every host of one subnet (0 = global)."""
        return self._list("reservation-get-all",
                          _drop_none(subnet_id=subnet_id, operation_target=operation_target),
                          "hosts")

    def reservation_get_page(self, subnet_id: int, *, limit: int = 100,
                             source_index: int | None = None, from_host_id: int | None = None,
                             operation_target: str | None = None) -> Json:
        """``reservation-get-page``: ``{"count": n, "hosts": [...], "next": {"from": id,
        "source-index": i}}``; pass ``next`` back as ``from_host_id`` / ``source_index``.
        ``count`` 0 (result 3) ends the walk."""
        args = _drop_none(subnet_id=subnet_id, limit=limit, source_index=source_index,
                          operation_target=operation_target)
        if from_host_id is not None:
            args["from"] = from_host_id
        resp = self.call("reservation-get-page", args)
        if resp.result == 3 or not isinstance(resp.arguments, dict):
            return {"count": 0, "hosts": [], "next": None}
        return dict(resp.arguments)

    # ------------------------------------------------------------------ host_cache
    def cache_clear(self) -> KeaResponse:
        """``cache-clear``: empty the host cache."""
        return self.call("cache-clear")

    def cache_get(self) -> list[Json]:
        """``cache-get``: every host in the cache (a list of host maps)."""
        args = self.call("cache-get").arguments
        return list(args) if isinstance(args, list) else []

    def cache_insert(self, hosts: Reservation | Mapping[str, Any] | Sequence[Mapping[str, Any]]
                     ) -> KeaResponse:
        """``cache-insert``: put host maps (``subnet-id4`` / ``subnet-id6`` keyed) into the cache."""
        if isinstance(hosts, Reservation):
            host = hosts.to_kea_host()
            host["subnet-id4" if hosts.family == 4 else "subnet-id6"] = hosts.subnet_id
            args: Any = host
        elif isinstance(hosts, Mapping):
            args = dict(hosts)
        else:
            args = [dict(h) for h in hosts]
        return self.call("cache-insert", args)

    def cache_load(self, path: str) -> KeaResponse:
        """``cache-load``: load a JSON file **on the server** into the cache (plain string arg)."""
        return self.call("cache-load", path)

    def cache_remove(self, subnet_id: int, *,
                     ip_address: str | IPv4Address | IPv6Address | None = None,
                     identifier_type: str | None = None, identifier: str | None = None,
                     family: int | None = None) -> KeaResponse:
        """``cache-remove``: drop one host from the cache, found by address or identifier in
        ``subnet_id``. Unlike reservation-get, host_cache names the identifier by its type and
        the subnet by family (``{"hw-address": "aa:..", "subnet-id4": 1}``; Kea 3.0 refuses
        ``identifier`` and, with an identifier, plain ``subnet-id``). ``family`` defaults to the
        address's, else 4."""
        if ip_address is not None:
            addr = str(ip_address)
            args: Json = {"ip-address": addr}
            family = family or (6 if ":" in addr else 4)
        elif identifier_type is not None and identifier is not None:
            args = {identifier_type: identifier}
        else:
            raise ValueError("cache-remove: give ip_address, or identifier_type and identifier")
        args["subnet-id6" if family == 6 else "subnet-id4"] = subnet_id
        return self.call("cache-remove", args)

    def cache_write(self, path: str) -> KeaResponse:
        """``cache-write``: dump the cache to a file **on the server** (Kea 3.0: under its data
        directory only)."""
        return self.call("cache-write", path)

    # ------------------------------------------------------------------ subnet_cmds
    def _subnet_add(self, family: int, subnets: Mapping[str, Any] | Sequence[Mapping[str, Any]]
                    ) -> list[Json]:
        key = f"subnet{family}"
        return self._list(f"subnet{family}-add", {key: _list_of(subnets)}, "subnets")

    def _subnet_get(self, family: int, subnet_id: int | None, prefix: str | None) -> Json | None:
        if (subnet_id is None) == (prefix is None):
            raise ValueError(f"subnet{family}-get: give subnet_id or prefix")
        args = {"id": subnet_id} if subnet_id is not None else {"subnet": prefix}
        got = self._args_or_none(f"subnet{family}-get", args)
        if not got:
            return None
        subnets = got.get(f"subnet{family}") or []
        return dict(subnets[0]) if subnets else None

    def subnet4_add(self, subnets: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[Json]:
        """``subnet4-add``: add subnets (full subnet maps); returns ``[{"id", "subnet"}]``."""
        return self._subnet_add(4, subnets)

    def subnet4_del(self, subnet_id: int) -> KeaResponse:
        """``subnet4-del``: remove a subnet (its leases stay in the lease database)."""
        return self.call("subnet4-del", {"id": subnet_id})

    def subnet4_get(self, subnet_id: int | None = None, *, prefix: str | None = None) -> Json | None:
        """``subnet4-get`` by id or prefix: the subnet map, or ``None``."""
        return self._subnet_get(4, subnet_id, prefix)

    def subnet4_list(self) -> list[Json]:
        """``subnet4-list``: ``[{"id": 1, "subnet": "192.0.2.0/24"}, ...]``."""
        return self._list("subnet4-list", None, "subnets")

    def subnet6_add(self, subnets: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[Json]:
        """``subnet6-add``: add subnets; returns ``[{"id", "subnet"}]``."""
        return self._subnet_add(6, subnets)

    def subnet6_del(self, subnet_id: int) -> KeaResponse:
        """``subnet6-del``: remove a subnet."""
        return self.call("subnet6-del", {"id": subnet_id})

    def subnet6_get(self, subnet_id: int | None = None, *, prefix: str | None = None) -> Json | None:
        """``subnet6-get`` by id or prefix: the subnet map, or ``None``."""
        return self._subnet_get(6, subnet_id, prefix)

    def subnet6_list(self) -> list[Json]:
        """``subnet6-list``: ``[{"id": 1, "subnet": "2001:db8:1::/64"}, ...]``."""
        return self._list("subnet6-list", None, "subnets")

    def _network_get(self, family: int, name: str) -> Json | None:
        got = self._args_or_none(f"network{family}-get", {"name": name})
        if not got:
            return None
        nets = got.get("shared-networks") or []
        return dict(nets[0]) if nets else None

    def _network_del(self, family: int, name: str, subnets_action: str | None) -> KeaResponse:
        return self.call(f"network{family}-del",
                         _drop_none(name=name, subnets_action=subnets_action))

    def network4_add(self, networks: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[Json]:
        """``network4-add``: add shared networks; returns ``[{"name": ...}]``."""
        return self._list("network4-add", {"shared-networks": _list_of(networks)},
                          "shared-networks")

    def network4_del(self, name: str, *, subnets_action: str | None = None) -> KeaResponse:
        """``network4-del``; ``subnets_action`` "keep" (default) or "delete"."""
        return self._network_del(4, name, subnets_action)

    def network4_get(self, name: str) -> Json | None:
        """``network4-get``: the shared network map, or ``None``."""
        return self._network_get(4, name)

    def network4_list(self) -> list[Json]:
        """``network4-list``: ``[{"name": ...}, ...]``."""
        return self._list("network4-list", None, "shared-networks")

    def network4_subnet_add(self, name: str, subnet_id: int) -> KeaResponse:
        """``network4-subnet-add``: move an existing subnet into a shared network."""
        return self.call("network4-subnet-add", {"name": name, "id": subnet_id})

    def network4_subnet_del(self, name: str, subnet_id: int) -> KeaResponse:
        """``network4-subnet-del``: take a subnet out of a shared network (it stays global)."""
        return self.call("network4-subnet-del", {"name": name, "id": subnet_id})

    def network6_add(self, networks: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[Json]:
        """``network6-add``: add shared networks; returns ``[{"name": ...}]``."""
        return self._list("network6-add", {"shared-networks": _list_of(networks)},
                          "shared-networks")

    def network6_del(self, name: str, *, subnets_action: str | None = None) -> KeaResponse:
        """``network6-del``; ``subnets_action`` "keep" (default) or "delete"."""
        return self._network_del(6, name, subnets_action)

    def network6_get(self, name: str) -> Json | None:
        """``network6-get``: the shared network map, or ``None``."""
        return self._network_get(6, name)

    def network6_list(self) -> list[Json]:
        """``network6-list``: ``[{"name": ...}, ...]``."""
        return self._list("network6-list", None, "shared-networks")

    def network6_subnet_add(self, name: str, subnet_id: int) -> KeaResponse:
        """``network6-subnet-add``: move an existing subnet into a shared network."""
        return self.call("network6-subnet-add", {"name": name, "id": subnet_id})

    def network6_subnet_del(self, name: str, subnet_id: int) -> KeaResponse:
        """``network6-subnet-del``: take a subnet out of a shared network."""
        return self.call("network6-subnet-del", {"name": name, "id": subnet_id})

    # ------------------------------------------------------------------ ha
    def ha_continue(self, *, server_name: str | None = None) -> KeaResponse:
        """``ha-continue``: resume the HA state machine after a pause."""
        return self.call("ha-continue", _drop_none(server_name=server_name) or None)

    def ha_heartbeat(self, *, server_name: str | None = None) -> Json:
        """``ha-heartbeat``: ``{"state": "hot-standby", "date-time": ..., ...}``."""
        return dict(self.call("ha-heartbeat", _drop_none(server_name=server_name) or None)
                    .arguments or {})

    def ha_scopes(self, scopes: Sequence[str], *, server_name: str | None = None) -> KeaResponse:
        """``ha-scopes``: which HA scopes this server serves (``[]`` for none)."""
        return self.call("ha-scopes", {"scopes": list(scopes),
                                       **_drop_none(server_name=server_name)})

    def ha_sync(self, *, server_name: str | None = None, max_period: int | None = None
                ) -> KeaResponse:
        """``ha-sync``: pull all leases from the partner ``server_name``."""
        return self.call("ha-sync", _drop_none(server_name=server_name, max_period=max_period)
                         or None)
