"""Nothing a source holds is dropped without a line in the run report (issue 11, part 3).

What kea-etl does not translate (a dhcpd.conf statement, a ``class``, a group's options) is a
``SourceWarning`` in the report with file, line and statement, counted on the summary line; hosts
without an address and OMAPI hosts of a dhcpd.leases are migrated as reservations; a lease block
on one line is read; a failing block is quoted, not echoed whole. Real Kea checks what Kea must
accept.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kea_etl.cli import main
from kea_etl.errors import MalformedRecordError
from kea_etl.extract import isc_leases
from kea_etl.extract.base import Extracted, SourceWarning
from kea_etl.records import Reservation, canonical_hex
from kea_etl.report import MAX_QUOTE, RunReport
from tests.harness.clock import now, rebased_copy
from tests.harness.leasefile import dhcpd_date

CONF = Path(__file__).parent / "extract" / "data_conf"
LEASES = Path(__file__).parent / "extract" / "data"
KEA4 = {"Dhcp4": {"subnet4": [{"id": 1, "subnet": "192.0.2.0/24"},
                              {"id": 2, "subnet": "198.51.100.0/24"}]}}
HEADER = ("# The format of this file is documented in the dhcpd.leases(5) manual page.\n"
          "# This lease file was written by isc-dhcp-4.4.3-P1\n\nauthoring-byte-order little-endian;\n\n")


def _kea_config(tmp_path: Path, body: dict[str, Any] | None = None) -> Path:
    p = tmp_path / "kea.json"
    p.write_text(json.dumps(body or KEA4))
    return p


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, ["migrate", *args], catch_exceptions=False)


def _summary_count(output: str) -> int:
    m = re.search(r"failed, (\d+) statement\(s\) not translated", output)
    assert m is not None, output
    return int(m.group(1))


# ---- dhcpd.conf: untranslated statements reach the report ------------------------------------

def test_conf_statements_not_translated_reach_report_and_summary(tmp_path: Path) -> None:
    """ddns-domainname, supersede of a server parameter, a group's lease time and a MAC that a
    client-id reservation cannot carry: each is in the JSON report (file, line, statement) and
    counted on the summary line. Before: they stayed in Extracted.extra and the report said
    ``problems: []``."""
    conf = tmp_path / "dhcpd.conf"
    conf.write_text(
        "subnet 192.0.2.0 netmask 255.255.255.0 {\n"                       # 1
        "  range 192.0.2.100 192.0.2.200;\n"                                # 2
        "}\n"                                                               # 3
        "group {\n"                                                         # 4
        "  default-lease-time 600;\n"                                       # 5
        "  host web {\n"                                                    # 6
        "    hardware ethernet 02:00:00:00:00:01;\n"                        # 7
        "    option dhcp-client-identifier 01:02:00:00:00:00:01;\n"         # 8
        "    fixed-address 192.0.2.10;\n"                                   # 9
        "    ddns-domainname \"web.example.org\";\n"                        # 10
        "    supersede server.ddns-updates off;\n"                          # 11
        "  }\n"                                                             # 12
        "}\n")
    out, rep = tmp_path / "out", tmp_path / "report.json"
    res = _cli(f"isc-conf:{conf}", "--to", f"memfile:{out}", "--kea-config",
               str(_kea_config(tmp_path)), "--report", str(rep))
    assert res.exit_code == 0, res.output
    data = json.loads(rep.read_text())
    got = {(w["source"], w["line"], w["statement"]) for w in data["source_warnings"]}
    assert got == {
        (str(conf), 5, "default-lease-time 600"),
        (str(conf), 7, "hardware ethernet 02:00:00:00:00:01"),
        (str(conf), 10, 'ddns-domainname "web.example.org"'),
        (str(conf), 11, "supersede server.ddns-updates off"),
    }
    assert all(w["key"] == "host web" and w["reason"] for w in data["source_warnings"])
    assert data["source_warnings_total"] == 4
    assert _summary_count(res.output) == 4
    assert f"{conf} line 10: host web: 'ddns-domainname \"web.example.org\"' not translated" \
        in res.output


def test_class_and_subclass_are_warnings_not_failures(tmp_path: Path) -> None:
    """A dhcpd.conf with good hosts and class / subclass declarations: exit 0, every host
    loaded, each class line a warning. Before: "failed: malformed", exit 1."""
    conf = tmp_path / "dhcpd.conf"
    conf.write_text(
        "class \"printers\" {\n"
        "  match if substring (option vendor-class-identifier, 0, 4) = \"HPLJ\";\n"
        "}\n"
        "subclass \"printers\" 1:aa:bb:cc:dd:ee:09;\n"
        "host lp { hardware ethernet aa:bb:cc:dd:ee:09; fixed-address 192.0.2.9; }\n")
    out, rep = tmp_path / "out", tmp_path / "report.json"
    res = _cli(f"isc-conf:{conf}", "--to", f"memfile:{out}", "--kea-config",
               str(_kea_config(tmp_path)), "--report", str(rep))
    assert res.exit_code == 0, res.output
    data = json.loads(rep.read_text())
    assert (data["read"], data["loaded"], data["failed"]) == (1, 1, 0)
    assert [(w["line"], w["statement"]) for w in data["source_warnings"]] == [
        (1, 'class "printers" { ... }'), (4, 'subclass "printers" 1:aa:bb:cc:dd:ee:09;')]
    assert _summary_count(res.output) == 2


# ---- hosts without an address ----------------------------------------------------------------

def test_addressless_hosts_become_global_reservations(tmp_path: Path) -> None:
    """Hosts with only a boot file, a hostname or options are reservations (global: dhcpd says
    "Host declarations are global"), written to the memfile target's fragment; a host with
    nothing but an identifier fails (Kea refuses an empty reservation). Before: all failed as
    malformed."""
    out, rep = tmp_path / "out", tmp_path / "report.json"
    res = _cli(f"isc-conf:{CONF / 'addressless.conf'}", "--to", f"memfile:{out}", "--kea-config",
               str(_kea_config(tmp_path)), "--report", str(rep), "--kea-version", "2.2.0")
    assert res.exit_code == 1, res.output  # known-only
    data = json.loads(rep.read_text())
    assert (data["read"], data["loaded"], data["failed"]) == (4, 3, 1)
    assert [p["key"] for p in data["problems"]] == ["host known-only"]
    frag = json.loads((out / "reservations4.json").read_text())
    assert "subnet4" not in frag["Dhcp4"]
    assert frag["Dhcp4"]["reservations"] == [
        {"hw-address": "02:00:00:00:0a:01", "next-server": "192.0.2.5",
         "boot-file-name": "pxelinux.0"},
        {"hw-address": "02:00:00:00:0a:02", "hostname": "kiosk"},
        # the enclosing group's domain-name-servers (line 23) is carried, as dhcpd hands it on
        {"client-id": "01:02:00:00:00:0a:03",
         "option-data": [{"name": "routers", "code": 3, "space": "dhcp4", "data": "192.0.2.254"},
                         {"name": "domain-name-servers", "code": 6, "space": "dhcp4",
                          "data": "192.0.2.53"},
                         {"name": "domain-name", "code": 15, "space": "dhcp4",
                          "data": "lab.example.org"}]},
    ]
    lines = {(w["line"], w["statement"]) for w in data["source_warnings"]}
    assert {(9, "host pxe-only"), (16, "host named-only"), (24, "host options-only"),
            (19, 'ddns-domainname "kiosks.example.org"')} <= lines
    assert not any(line == 23 for line, _ in lines)


@pytest.mark.kea
@pytest.mark.parametrize("family", [4, 6])
def test_real_kea_holds_addressless_reservations(kea_factory: Any, tmp_path: Path,
                                                 family: int) -> None:
    """The reservations migrate wrote for address-less hosts, given to a real Kea 2.x as its
    global reservations: Kea starts with them and config-get gives every one back."""
    conf = CONF / ("addressless.conf" if family == 4 else "addressless6.conf")
    subnets = ([{"id": 1, "subnet": "192.0.2.0/24"}] if family == 4
               else [{"id": 1, "subnet": "2001:db8:1::/64"}])
    cfg = _kea_config(tmp_path, {f"Dhcp{family}": {f"subnet{family}": subnets}})
    out = tmp_path / "out"
    _cli(f"isc-conf:{conf}", "--to", f"memfile:{out}", "--kea-config", str(cfg),
         "--kea-version", "2.2.0")
    hosts = json.loads((out / f"reservations{family}.json").read_text())[f"Dhcp{family}"][
        "reservations"]
    assert len(hosts) == (3 if family == 4 else 1)
    srv = kea_factory(family=family, subnets=subnets,
                      extra={"reservations": hosts, "reservations-global": True})
    live = srv.command("config-get")["arguments"][f"Dhcp{family}"]["reservations"]

    def ids(hs: list[dict[str, Any]]) -> list[str | None]:  # Kea spells ids as bare hex
        return sorted(canonical_hex(h.get("hw-address") or h.get("client-id") or h["duid"], "id")
                      for h in hs)

    assert ids(live) == ids(hosts)
    if family == 4:
        pxe = next(h for h in live if h.get("hw-address") == "02:00:00:00:0a:01")
        assert (pxe["boot-file-name"], pxe["next-server"]) == ("pxelinux.0", "192.0.2.5")
        assert "ip-address" not in pxe or pxe["ip-address"] == "0.0.0.0"


# ---- dhcpd.leases: OMAPI hosts, one-line blocks, huge blocks ---------------------------------

def _leases(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "dhcpd.leases"
    p.write_text(HEADER + body)
    return p


def _omapi_file(tmp_path: Path) -> Path:
    """tests/extract/data/v4-omapi-hosts.leases with its dates moved to now (its two leases are
    active); tests/extract/test_isc_leases_differential.py has dhcpd itself read it."""
    return rebased_copy(LEASES / "v4-omapi-hosts.leases", tmp_path / "dhcpd.leases")


def test_omapi_hosts_in_dhcpd_leases_are_reservations(tmp_path: Path) -> None:
    """As dhcpd reads them: ``deleted;`` removes a host, a declaration after it replaces it,
    ``supersede`` values apply, a second declaration of a live host is refused (reported).
    Before: every host block was skipped without a line."""
    path = _omapi_file(tmp_path)
    items = list(isc_leases.extract(path))
    hosts = [i for i in items if isinstance(i, Extracted) and isinstance(i.record, Reservation)]
    assert [(h.extra["dhcpd_host"], h.line) for h in hosts] == [
        ("web1.example.org", 28), ("db1.example.org", 40)]
    web = hosts[0].record
    assert web == Reservation(
        family=4, identifier_type="hw-address", identifier="00:50:56:aa:00:01",
        ipv4_address="192.0.2.21", boot_file_name="grubx64.efi", hostname="web1.example.org",
        option_data=({"name": "domain-name-servers", "code": 6, "space": "dhcp4",
                      "data": "192.0.2.53"},))
    assert hosts[1].record == Reservation(family=4, identifier_type="client-id",
                                          identifier="01:00:50:56:aa:00:03",
                                          ipv4_address="192.0.2.13")
    notes = [i for i in items if isinstance(i, SourceWarning)]
    assert [(n.line, n.statement) for n in notes] == [(45, "host db1.example.org { ... }")]
    assert not [i for i in items if isinstance(i, MalformedRecordError)]
    # the first declaration's supersede values (next-server as dhcpd's colon hex)
    first = tmp_path / "first.leases"
    first.write_text("".join(path.read_text().splitlines(keepends=True)[:17]))
    (only,) = list(isc_leases.extract(first))
    assert isinstance(only, Extracted) and isinstance(only.record, Reservation)
    assert (only.record.hostname, only.record.boot_file_name, str(only.record.next_server)) == (
        "web1.example.org", "pxelinux.0", "192.0.2.5")


def test_omapi_hosts_are_migrated_and_counted(tmp_path: Path) -> None:
    path = _omapi_file(tmp_path)
    out, rep = tmp_path / "out", tmp_path / "report.json"
    res = _cli(str(path), "--to", f"memfile:{out}", "--kea-config", str(_kea_config(tmp_path)),
               "--report", str(rep), "--kea-version", "2.2.0")
    assert res.exit_code == 0, res.output
    data = json.loads(rep.read_text())
    assert (data["read"], data["loaded"], data["failed"]) == (4, 4, 0)  # 2 leases, 2 hosts
    frag = json.loads((out / "reservations4.json").read_text())
    (sub,) = frag["Dhcp4"]["subnet4"]
    assert [h.get("hw-address") or h.get("client-id") for h in sub["reservations"]] == [
        "00:50:56:aa:00:01", "01:00:50:56:aa:00:03"]
    assert [w["line"] for w in data["source_warnings"]] == [45]
    assert _summary_count(res.output) == 1


@pytest.mark.parametrize("accel", [True, False])
def test_one_line_lease_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, accel: bool) -> None:
    """``lease A { starts ...; ends ...; binding state active; hardware ethernet ...; }`` is
    valid dhcpd syntax; read like the same block on several lines (C and Python paths), also as
    the file's last block. Before: "truncated (no closing brace)"."""
    if accel and not isc_leases.ACCELERATED:
        pytest.skip("kea_etl._isc4 is not built")
    if not accel:
        monkeypatch.setattr(isc_leases._fastpath, "_scan4", None)
        monkeypatch.setattr(isc_leases._fastpath, "_keys4", None)
    t = now()
    s, e = dhcpd_date(t - 100), dhcpd_date(t + 3600)
    multi = (f"lease 10.0.0.4 {{\n  starts {s};\n  ends {e};\n  binding state active;\n"
             "  hardware ethernet 00:00:00:00:00:04;\n}\n")
    one = (f"lease 10.0.0.5 {{ starts {s}; ends {e}; binding state active; "
           "hardware ethernet 00:00:00:00:00:05; }\n")
    same = (f"lease 10.0.0.4 {{ starts {s}; ends {e}; binding state active; "
            "hardware ethernet 00:00:00:00:00:04; }  # the same lease again\n")
    path = _leases(tmp_path, multi + one + "# between\n" + multi + same)
    items = list(isc_leases.extract(path))
    assert all(isinstance(i, Extracted) for i in items), [str(i) for i in items]
    got = {i.key: (i.line, i.record.hwaddr, i.record.valid_lft) for i in items}  # type: ignore[union-attr]
    assert got == {"10.0.0.5": (12, "00:00:00:00:00:05", 3700),
                   "10.0.0.4": (20, "00:00:00:00:00:04", 3700)}
    # a one-line block that does not close is still truncated, with its line
    bad = _leases(tmp_path, multi + f"lease 10.0.0.6 {{ starts {s}; ends {e};\n")
    errs = [i for i in isc_leases.extract(bad) if isinstance(i, MalformedRecordError)]
    assert [(e.line, e.key) for e in errs] == [(12, "10.0.0.6")]
    assert "truncated" in errs[0].reason


@pytest.mark.parametrize("block", [
    "lease 10.0.0.7 {{ {junk}\n",                 # never closes
    "lease 10.0.0.7{junk} {{\n}}\n",             # no address
    "lease 10.0.0.7 {{\n  starts {junk};\n}}\n",  # a date that is no date
    "group {junk}\n",                            # another block that never closes
])
def test_a_huge_failing_block_is_quoted_not_echoed(tmp_path: Path, block: str) -> None:
    """A 2 MB line that fails: the report and the summary quote at most MAX_QUOTE characters of
    it and say how much was cut. Before: the block was echoed whole twice (key and detail)."""
    path = _leases(tmp_path, block.format(junk="x" * 2_000_000))
    out, rep = tmp_path / "out", tmp_path / "report.json"
    res = _cli(str(path), "--to", f"memfile:{out}", "--kea-config", str(_kea_config(tmp_path)),
               "--report", str(rep), "--kea-version", "2.2.0")
    assert res.exit_code == 1
    assert len(res.output) < 3_000 and rep.stat().st_size < 3_000
    (p,) = json.loads(rep.read_text())["problems"]
    assert (p["source"], p["line"]) == (str(path), 6)
    shown = p.get("key", "") + p["detail"]
    assert "x" * (MAX_QUOTE + 1) not in shown
    if "truncated" not in shown:  # the others quote the input: cut, and said so
        assert "xxxx" in shown and "characters cut; 20000" in shown
    assert len(p["detail"]) < 2 * MAX_QUOTE + 200


def test_report_caps_what_it_is_given() -> None:
    r = RunReport()
    r.fail("malformed", source="f", line=1, key="k" * 10_000, detail="d" * 10_000)
    assert len(r.problems[0].key or "") < MAX_QUOTE + 100
    assert "10000 in all" in (r.problems[0].key or "")
    assert len(r.problems[0].detail or "") < MAX_QUOTE + 100


def test_omapi_hosts_read_as_the_other_family_are_said(tmp_path: Path) -> None:
    items = list(isc_leases.extract(_omapi_file(tmp_path), family=6))
    assert not [i for i in items if isinstance(i, Extracted)]
    notes = [(n.line, n.statement) for n in items if isinstance(n, SourceWarning)]
    assert notes == [(28, "web1.example.org"), (40, "db1.example.org"),
                     (45, "host db1.example.org { ... }")]
