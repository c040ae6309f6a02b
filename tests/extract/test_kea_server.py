"""The ``kea:URL`` source without a server: paging, the Control Agent, the fragment, the
hosts-database refusal, host fields it cannot carry and the one-read snapshot (fake transport).
What a real Kea answers is pinned in tests/extract/test_kea_to_kea_real.py."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from kea_etl.errors import ConfigError, FatalError, KeaEtlError, MalformedRecordError
from kea_etl.extract import kea_server as ks
from kea_etl.extract import resolve_source
from kea_etl.extract.base import Extracted
from kea_etl.kea import KeaClient
from kea_etl.records import Lease4, Reservation
from kea_etl.report import SourceWarning
from tests.harness import clock

NOW = clock.now()


def _lease(i: int, **kw: Any) -> dict[str, Any]:
    return {"ip-address": f"10.0.0.{i}", "hw-address": f"00:00:00:00:00:{i:02x}",
            "valid-lft": 3600, "cltt": NOW - 60, "subnet-id": 1, "state": 0, **kw}


class FakeKea:
    """A Kea dhcp4 daemon's answers: leases, hosts (host_cmds or config), counted calls."""

    def __init__(self, leases: list[dict[str, Any]], hosts: list[dict[str, Any]], *,
                 host_cmds: bool = True, config_extra: dict[str, Any] | None = None) -> None:
        self.leases = sorted(leases, key=lambda x: tuple(map(int, x["ip-address"].split("."))))
        self.hosts = hosts
        self.host_cmds = host_cmds
        self.config_extra = config_extra or {}
        self.calls: list[str] = []

    def __call__(self, command: str, args: Any) -> dict[str, Any]:
        self.calls.append(command)
        if command == "list-commands":
            cmds = ["lease4-get-page", "config-get", "list-commands"]
            return {"result": 0, "arguments": cmds + (["reservation-get-page"] if self.host_cmds
                                                      else [])}
        if command == "config-get":
            subnet = {"id": 1, "subnet": "10.0.0.0/24",
                      "reservations": [] if self.host_cmds else self.hosts}
            return {"result": 0, "arguments": {"Dhcp4": {"subnet4": [subnet],
                                                         **self.config_extra}}}
        if command == "lease4-get-page":
            start = args["from"]
            rest = [x for x in self.leases if start == "start" or
                    tuple(map(int, x["ip-address"].split("."))) >
                    tuple(map(int, start.split(".")))]
            page = rest[:args["limit"]]
            if not page:
                return {"result": 3, "text": "0 IPv4 lease(s) found."}
            return {"result": 0, "arguments": {"leases": page, "count": len(page)}}
        if command == "reservation-get-page":
            assert "subnet-id" not in args  # every subnet's hosts, in one walk
            start = args.get("from", 0)
            page = [h for h in self.hosts if h["host-id"] > start][:args["limit"]]
            if not page:
                return {"result": 3, "text": "0 IPv4 host(s) found.",
                        "arguments": {"count": 0, "hosts": []}}
            return {"result": 0, "arguments": {
                "count": len(page), "hosts": page,
                "next": {"from": page[-1]["host-id"], "source-index": 0}}}
        return {"result": 2, "text": f"'{command}' command not supported."}


class _Creds:
    """Credentials whose every client is the fake server's."""

    def __init__(self, fake: FakeKea) -> None:
        self.client = KeaClient.fake(fake)

    def kea_client(self, url: str, **_kw: Any) -> KeaClient:
        return self.client


def _snapshot(fake: FakeKea, location: str = "unix:///x.sock", page_size: int = 2
              ) -> ks.Snapshot:
    return ks.Snapshot(location, page_size=page_size, credentials=_Creds(fake))  # type: ignore[arg-type]


def _items(fake: FakeKea, location: str = "unix:///x.sock", page_size: int = 2) -> list[Any]:
    return list(_snapshot(fake, location, page_size).items())


def _host(i: int, **kw: Any) -> dict[str, Any]:
    return {"host-id": i, "hw-address": f"aa:00:00:00:00:{i:02x}", "ip-address": f"10.0.0.{200 + i}",
            "hostname": f"h{i}", "subnet-id": 1, "boot-file-name": "", "next-server": "0.0.0.0",
            "server-hostname": "", "client-classes": [], "option-data": [], **kw}


def test_every_lease_and_host_over_pages() -> None:
    leases = [_lease(i) for i in range(1, 8)]
    leases[2]["state"] = 1  # declined: stays declined
    leases[3]["state"] = 2  # expired-reclaimed: the policy skips it, as from a memfile
    leases[4]["user-context"] = {"ISC": {"relay-agent-info": {"sub-options": "0104AABBCCDD"}}}
    fake = FakeKea(leases, [_host(i) for i in range(1, 6)])
    items = _items(fake)
    got = [i.record for i in items if isinstance(i, Extracted)]
    assert [str(r.address) for r in got if isinstance(r, Lease4)] == [f"10.0.0.{i}"
                                                                      for i in range(1, 8)]
    by = {i.record.key: i for i in items if isinstance(i, Extracted)}
    assert by["10.0.0.3"].record.state == 1 and by["10.0.0.3"].binding_state == "active"
    assert by["10.0.0.4"].binding_state == "expired"
    assert by["10.0.0.5"].record.user_context == leases[4]["user-context"]
    hosts = [r for r in got if isinstance(r, Reservation)]
    assert [(h.hostname, h.subnet_id) for h in hosts] == [(f"h{i}", 1) for i in range(1, 6)]
    # 2 + 2 + 1 + 0: a short page is not the end (the next host source may follow), only an
    # empty one is
    assert fake.calls.count("reservation-get-page") == 4


def test_config_reservations_without_host_cmds() -> None:
    fake = FakeKea([_lease(1)], [_host(1), _host(2)], host_cmds=False,
                   config_extra={"reservations": [{"hw-address": "bb:00:00:00:00:01",
                                                   "hostname": "global"}]})
    hosts = [i.record for i in _items(fake) if isinstance(i, Extracted)
             and isinstance(i.record, Reservation)]
    assert sorted((h.hostname, h.subnet_id) for h in hosts) == [("global", 0), ("h1", 1),
                                                                ("h2", 1)]


def test_hosts_database_without_host_cmds_is_refused_not_skipped() -> None:
    fake = FakeKea([_lease(1)], [], host_cmds=False,
                   config_extra={"hosts-database": {"type": "postgresql", "name": "kea"}})
    with pytest.raises(ConfigError, match=r"hosts database.*kea-sql:.*#leases"):
        _items(fake)
    # with #leases the hosts are not asked for, and the leases are read
    got = _items(fake, "unix:///x.sock#leases")
    assert [i.record.key for i in got] == ["10.0.0.1"]


def test_fragment_selects_parts_and_rejects_unknown() -> None:
    fake = FakeKea([_lease(1)], [_host(1)])
    assert [type(i.record).__name__ for i in _items(fake, "unix:///x.sock#reservations")] == \
        ["Reservation"]
    assert _items(fake, "unix:///x.sock#dhcp6") == []  # a dhcp4 daemon has no v6 to give
    with pytest.raises(ConfigError, match="unknown part.*hosts"):
        ks.parse_location("unix:///x.sock#hosts")


def test_host_fields_not_carried_are_listed() -> None:
    fake = FakeKea([], [_host(1, **{"server-hostname": "tftp1"})])
    items = _items(fake)
    (item,) = items
    (warning,) = item.warnings
    assert isinstance(warning, SourceWarning)
    assert warning.statement.startswith("server-hostname") and warning.key == item.record.key


def test_bad_lease_is_a_failed_record_not_a_crash() -> None:
    fake = FakeKea([_lease(1), _lease(2, **{"hw-address": "zz"})], [])
    items = _items(fake, "unix:///x.sock#leases")
    assert isinstance(items[1], MalformedRecordError) and items[1].key == "10.0.0.2"
    assert isinstance(items[0], Extracted)


def test_server_read_once_for_every_pass() -> None:
    """A migration reads a source twice (conflict pre-pass, load): both passes see the spool,
    the server is asked once, even if it changed in between."""
    fake = FakeKea([_lease(i) for i in range(1, 4)], [])
    snap = _snapshot(fake, "unix:///x.sock#leases", page_size=10)
    first = [i.record.key for i in snap.items()]
    pages = fake.calls.count("lease4-get-page")
    fake.leases.append(_lease(9))
    assert [i.record.key for i in snap.items()] == first
    assert fake.calls.count("lease4-get-page") == pages
    path = snap._path
    assert path is not None
    del snap
    gc.collect()
    assert not Path(path).exists()  # the spool goes with the snapshot


def test_paging_that_does_not_advance_is_an_error() -> None:
    def stuck(command: str, args: Any) -> dict[str, Any]:
        if command == "list-commands":
            return {"result": 0, "arguments": ["reservation-get-page"]}
        return {"result": 0, "arguments": {"count": 1, "hosts": [_host(1)],
                                           "next": {"from": 1, "source-index": 0}}}

    with pytest.raises(KeaEtlError, match="does not advance"):
        list(ks.iter_held_hosts(KeaClient.fake(stuck), 4, page_size=1))


def test_resolve_names_the_source_without_credentials() -> None:
    src = resolve_source("kea:http://admin@127.0.0.1:8000#dhcp4")
    assert src.format == "kea" and str(src) == "kea:http://127.0.0.1:8000"
    with pytest.raises(FatalError, match="KEA_ETL_SOURCE_PASSWORD") as ei:
        resolve_source("kea:http://admin:secret@127.0.0.1:8000")
    assert "secret" not in str(ei.value)
