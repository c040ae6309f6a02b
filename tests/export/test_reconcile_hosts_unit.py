"""Reservations in reconcile, with an in-process Kea (KeaClient.fake): reservation-get-page
paging, the config-get fallback (global, subnet and shared-network hosts), a hosts database Kea
cannot show, the migration's subnet assignment and duplicate rule, canonical option-data, which
kinds are compared, and ``--against`` files (the --kea-config plus migrate's reservationsN.json).
The same paths on real Kea 2.x and 3.x: test_reconcile_hosts_real.py."""

from __future__ import annotations

import json
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kea_etl.cli import main
from kea_etl.errors import ConfigError
from kea_etl.extract.base import Extracted
from kea_etl.kea import KeaClient
from kea_etl.reconcile import kinds_for_formats, reconcile_file, reconcile_kea
from kea_etl.records import Lease4, Reservation
from tests.harness import clock

SUBNETS = [{"id": 1, "subnet": "192.0.2.0/24"}, {"id": 2, "subnet": "198.51.100.0/24"}]
CONFIG = {"Dhcp4": {"subnet4": SUBNETS,
                    "shared-networks": [{"name": "net", "subnet4": [
                        {"id": 3, "subnet": "203.0.113.0/24"}]}]}}


def _host(i: int, **kw: Any) -> Reservation:
    """A source host; subnet id 0 as dhcpd.conf gives it (the policy finds the subnet)."""
    args: dict[str, Any] = {"family": 4, "identifier_type": "hw-address",
                            "identifier": f"02:00:00:00:00:{i:02x}",
                            "ipv4_address": IPv4Address(f"192.0.2.{i}"), "hostname": f"h{i}",
                            "origin": "dhcpd.conf", "line": 10 * i}
    args.update(kw)
    return Reservation(**args)


def _kea_host(i: int, subnet: int = 1, **kw: Any) -> dict[str, Any]:
    host = {"hw-address": f"02:00:00:00:00:{i:02X}", "ip-address": f"192.0.2.{i}",
            "hostname": f"h{i}", "subnet-id": subnet, "client-classes": [], "option-data": [],
            "next-server": "0.0.0.0", "server-hostname": "", "boot-file-name": ""}
    host.update(kw)
    return host


def _items(*hosts: Reservation) -> list[Extracted]:
    return [Extracted(h, source="dhcpd.conf", line=h.line) for h in hosts]


class HostKea:
    """A Kea 3 with host_cmds (``pages=True``) or a Kea 2 without (config-get only)."""

    def __init__(self, hosts: list[dict[str, Any]], *, pages: bool = True,
                 config: dict[str, Any] | None = None) -> None:
        self.hosts, self.pages, self.config = hosts, pages, config or CONFIG

    def __call__(self, command: str, args: Any) -> dict[str, Any]:
        if command == "list-commands":
            names = ["list-commands", "config-get", "lease4-get-page"]
            return {"result": 0, "arguments": names + (["reservation-get-page"] if self.pages
                                                       else [])}
        if command == "reservation-get-page" and self.pages:
            # Kea's paging: "from" is the last host id seen, "source-index" the host source
            start = int(args.get("from", 0))
            page = [h for i, h in enumerate(self.hosts, 1) if i > start][:args["limit"]]
            if not page:
                return {"result": 3, "text": "0 IPv4 host(s) found."}
            last = start + len(page)
            return {"result": 0, "arguments": {"count": len(page), "hosts": page,
                                               "next": {"from": last, "source-index": 0}}}
        if command == "config-get":
            return {"result": 0, "arguments": self.config}
        if command == "lease4-get-page":
            return {"result": 3, "text": "0 IPv4 lease(s) found."}
        return {"result": 2, "text": f"'{command}' command not supported."}


def _run(kea: HostKea, items: list[Any], **kw: Any) -> tuple[Any, list[str]]:
    client = KeaClient.fake(kea)
    res = reconcile_kea(items, client, kea_config=CONFIG, as_of=clock.now(), **kw)
    return res, [c for c, _ in client.transport.sent]  # type: ignore[attr-defined]


def test_reservation_get_page_walks_every_page_and_categorises() -> None:
    kea = HostKea([_kea_host(i) for i in (1, 2, 3, 4)] + [_kea_host(9, hostname="other")])
    src = _items(_host(1), _host(2), _host(3, hostname="renamed"), _host(5))
    res, sent = _run(kea, src, page_size=2)
    h = res.reservations
    assert h.compared and h.kea_source == "reservation-get-page"
    assert sent.count("reservation-get-page") == 4  # 2 + 2 + 1 hosts, then an empty page
    assert "config-get" not in sent and "lease4-get-page" not in sent  # no source lease
    assert (h.matched, h.missing, h.extra, h.mismatched) == (2, 1, 2, 1)
    assert not res.leases_compared and res.exit_code() == 1
    by = {(d.category, d.identifier): d for d in h.items}
    miss = by[("missing", "02:00:00:00:00:05")]
    assert miss.subnet_id == 1 and miss.addresses == ("192.0.2.5",) and miss.source_line == 50
    diff = by[("mismatched", "02:00:00:00:00:03")]
    assert dict(diff.fields) == {"hostname": {"kea": "h3", "source": "renamed"}}
    assert {d.identifier for d in h.items if d.category == "extra"} == {
        "02:00:00:00:00:04", "02:00:00:00:00:09"}
    assert h.fields_mismatched == {"hostname": 1}
    summary = res.summary()
    assert summary["differences_total"] == 4 and not summary["ok"]
    assert summary["reservations"]["mismatched"] == 1


def test_config_get_fallback_global_subnet_and_shared_network_hosts() -> None:
    config = json.loads(json.dumps(CONFIG))
    d4 = config["Dhcp4"]
    d4["reservations"] = [{"hw-address": "02:00:00:00:00:aa", "hostname": "global"}]
    d4["subnet4"][0]["reservations"] = [_kea_host(1)]
    d4["shared-networks"][0]["subnet4"][0]["reservations"] = [
        {"client-id": "01:02:00:00:00:00:07", "ip-address": "203.0.113.7"}]
    for h in d4["subnet4"][0]["reservations"]:
        h.pop("subnet-id")
    src = _items(_host(1),
                 _host(0xaa, ipv4_address=None, hostname="global"),  # no address: stays global
                 _host(7, identifier_type="client-id", identifier="01:02:00:00:00:00:07",
                       ipv4_address=IPv4Address("203.0.113.7"), hostname=""))
    res, sent = _run(HostKea([], pages=False, config=config), src)
    h = res.reservations
    assert h.kea_source == "config-get" and "reservation-get-page" not in sent
    assert (h.matched, h.missing, h.extra, h.mismatched) == (3, 0, 0, 0), h.items
    assert res.exit_code() == 0 and res.summary()["ok"]


def test_hosts_database_without_host_cmds_is_an_error() -> None:
    config = {"Dhcp4": {**CONFIG["Dhcp4"], "hosts-database": {"type": "postgresql"}}}
    with pytest.raises(ConfigError, match="hosts database and has no host_cmds"):
        _run(HostKea([], pages=False, config=config), _items(_host(1)))


def test_migration_policy_subnet_duplicates_and_no_subnet() -> None:
    kea = HostKea([_kea_host(1), _kea_host(5, subnet=2, **{"ip-address": "198.51.100.5"})])
    src = _items(_host(1),
                 _host(5, ipv4_address=IPv4Address("198.51.100.5")),   # subnet 2 by its address
                 _host(1, hostname="again"),            # same identifier in subnet 1: migrate fails it
                 _host(6, ipv4_address=IPv4Address("10.9.9.9")))       # no subnet: skipped
    res, _ = _run(kea, src)
    h = res.reservations
    assert (h.matched, h.missing, h.extra, h.mismatched) == (2, 0, 0, 0), h.items
    assert h.source_read == 4 and h.source_compared == 2
    assert h.source_failed == {"duplicate-reservation": 1}
    assert h.source_skipped == {"no-subnet": 1}
    assert res.exit_code() == 0


def test_options_compared_canonically_and_differences_named() -> None:
    ours = ({"name": "domain-name-servers", "data": "10.0.0.1, 10.0.0.2"},
            {"name": "routers", "data": "192.0.2.1"})
    theirs = [{"name": "domain-name-servers", "code": 6, "space": "dhcp4", "csv-format": True,
               "always-send": False, "data": "10.0.0.1,10.0.0.2"},
              {"name": "routers", "code": 3, "space": "dhcp4", "data": "192.0.2.254"}]
    kea = HostKea([_kea_host(1, **{"option-data": theirs})])
    res, _ = _run(kea, _items(_host(1, option_data=ours)))
    d = res.reservations.items[0]
    assert d.category == "mismatched"
    assert dict(d.fields) == {"option-data": {"kea": {"routers": "192.0.2.254"},
                                              "source": {"routers": "192.0.2.1"}}}


def test_which_kinds_are_compared() -> None:
    assert kinds_for_formats(["isc-leases", "isc-conf"]) == {"leases", "reservations"}
    assert kinds_for_formats(["pfsense"]) == {"reservations"}
    assert kinds_for_formats(["csv", "dnsmasq", "windows", "kea"]) == set()
    now = clock.now()
    lease = Lease4("192.0.2.50", hwaddr="02:00:00:00:01:01", cltt=now - 60, valid_lft=3600,
                   subnet_id=0)
    # a lease source alone: Kea's hosts are not read (not "every host extra")
    res, sent = _run(HostKea([_kea_host(1)]), [Extracted(lease, source="dhcpd.leases")])
    assert res.leases_compared and not res.reservations.compared
    assert "reservation-get-page" not in sent and res.missing == 1
    # a dhcpd.conf with no host at all still compares reservations: Kea's are extra
    res, sent = _run(HostKea([_kea_host(1)]), [], compare={"reservations"})
    assert not res.leases_compared and res.reservations.extra == 1
    assert "lease4-get-page" not in sent
    # nothing read and nothing forced: leases, as before reservations were compared
    res, _ = _run(HostKea([_kea_host(1)]), [])
    assert res.leases_compared and not res.reservations.compared
    with pytest.raises(Exception, match="cannot compare hosts"):
        _run(HostKea([]), [], compare={"hosts"})


def _against_dir(tmp_path: Path) -> tuple[Path, Path]:
    """A memfile set as migrate --to memfile: leaves it (no leases, a reservations4.json) and a
    --kea-config with one reservation of its own."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "kea-leases4.csv").write_text(
        "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,"
        "state,user_context,pool_id\n")
    frag = {"Dhcp4": {"subnet4": [{"id": 1, "subnet": "192.0.2.0/24",
                                   "reservations": [{"hw-address": "02:00:00:00:00:01",
                                                     "ip-address": "192.0.2.1",
                                                     "hostname": "h1"}]}]}}
    (out / "reservations4.json").write_text(json.dumps(frag))
    cfg = json.loads(json.dumps(CONFIG))
    cfg["Dhcp4"]["subnet4"][1]["reservations"] = [
        {"hw-address": "02:00:00:00:00:05", "ip-address": "198.51.100.5", "hostname": "h5"}]
    path = tmp_path / "kea.json"
    path.write_text(json.dumps(cfg))
    return out, path


def test_against_files_config_plus_fragment(tmp_path: Path) -> None:
    out, cfg = _against_dir(tmp_path)
    src = _items(_host(1), _host(5, ipv4_address=IPv4Address("198.51.100.5")))
    with reconcile_file(src, out, kea_config=json.loads(cfg.read_text()),
                        as_of=clock.now(), compare={"reservations"}) as res:
        h = res.reservations
        assert (h.matched, h.missing, h.extra) == (2, 0, 0), h.items
        assert h.kea_source.startswith("--kea-config + ") and "reservations4.json" in h.kea_source
        assert not res.leases_compared and res.exit_code() == 0


def test_cli_several_sources_against_files(tmp_path: Path) -> None:
    """leases from one file, hosts from a dhcpd.conf, in one run; JSON and CSV carry both."""
    out, cfg = _against_dir(tmp_path)
    now = clock.now()
    leases = tmp_path / "dhcpd.leases"
    leases.write_text("")  # no lease: every Kea lease would be extra (there are none)
    conf = tmp_path / "dhcpd.conf"
    conf.write_text("subnet 192.0.2.0 netmask 255.255.255.0 {\n"
                    "  host h1 { hardware ethernet 02:00:00:00:00:01; fixed-address 192.0.2.1;"
                    " option host-name \"h1\"; }\n"
                    "  host h2 { hardware ethernet 02:00:00:00:00:02; fixed-address 192.0.2.2; }\n"
                    "}\n")
    js, cs, html = tmp_path / "r.json", tmp_path / "r.csv", tmp_path / "r.html"
    r = CliRunner().invoke(main, ["reconcile", f"isc-leases:{leases}", str(conf), "--against",
                                  str(out), "--kea-config", str(cfg), "--as-of", clock.iso(now),
                                  "--json", str(js), "--csv", str(cs), "--html", str(html)])
    assert r.exit_code == 1, r.output
    assert "leases: matched 0  missing 0  extra 0  mismatched 0" in r.output
    assert "reservations: matched 1  missing 1  extra 1  mismatched 0" in r.output
    assert "missing    hw-address 02:00:00:00:00:02  subnet 1 192.0.2.2" in r.output
    assert r.output.rstrip().endswith("DIFFERENCES: 2 (leases 0, reservations 2)")
    data = json.loads(js.read_text())
    assert data["source"]["name"] == f"isc-leases:{leases} + {conf}"
    assert data["reservations"]["missing"] == 1 and data["differences_total"] == 2
    assert {d["reservation"] for d in data["reservations"]["differences"]} == {
        "hw-address 02:00:00:00:00:02", "hw-address 02:00:00:00:00:05"}
    rows = cs.read_text().splitlines()
    assert rows[0].endswith(",record,identifier")
    assert "192.0.2.2,missing,1,,,,3,reservation,hw-address 02:00:00:00:00:02" in rows
    page = html.read_text()
    assert "2 differences. leases: 0 missing in Kea" in page
    assert "<h2>Reservations</h2>" in page and "<td>hw-address 02:00:00:00:00:02</td>" in page
