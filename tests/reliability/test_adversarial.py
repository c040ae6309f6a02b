"""Oversized and adversarial values: a 10 MB hostname, a uid with every byte value, deeply
nested braces, IPv6 prefix lengths out of range, non-UTF-8 bytes, CSV injection and HTML in
values a DHCP client controls. Each ends in a record, a reported problem or kea-etl's own
error; never a crash, a hang or unbounded memory.
"""

from __future__ import annotations

import csv
import json
import subprocess
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from kea_etl.errors import InvalidValueError, MalformedRecordError
from kea_etl.extract import isc_conf, isc_leases
from kea_etl.records import Lease6
from tests.fuzz._harness import deadline, run_file
from tests.reliability._common import AS_OF, KEA_ETL

HEAD = "  starts 5 2026/11/27 20:00:00;\n  ends 6 2026/11/28 20:00:00;\n  binding state active;\n"


def _items(path: Path, **kw: Any) -> list[Any]:
    with deadline(60):
        return list(isc_leases.extract(path, **kw))


def test_ten_megabyte_hostname_is_streamed_and_reported(tmp_path: Path) -> None:
    big = "h" * (10 * 1024 * 1024)
    p = tmp_path / "big.leases"
    p.write_text(f'lease 192.0.2.10 {{\n{HEAD}  hardware ethernet 02:00:00:00:00:01;\n'
                 f'  client-hostname "{big}";\n}}\n'
                 f"lease 192.0.2.11 {{\n{HEAD}  hardware ethernet 02:00:00:00:00:02;\n}}\n")
    tracemalloc.start()
    try:
        items = _items(p)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200 * 1024 * 1024, f"peak {peak >> 20} MB for a 10 MB value"
    assert len(items) == 2
    ok = [i for i in items if not isinstance(i, MalformedRecordError)]
    assert any(str(i.record.address) == "192.0.2.11" for i in ok)  # the neighbour survives
    # end to end: the CLI reports it (hostname too long for Kea, or loaded), no traceback
    cfg = tmp_path / "kea.json"
    cfg.write_text(json.dumps({"Dhcp4": {"subnet4": [{"id": 1, "subnet": "192.0.2.0/24"}]}}))
    r = subprocess.run([*KEA_ETL, "migrate", str(p), "--to", f"memfile:{tmp_path / 'out'}",
                        "--kea-config", str(cfg), "--as-of", AS_OF, "--no-progress",
                        "--report", str(tmp_path / "r.json")], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stderr[-2000:]
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["read"] == 2 and rep["balanced"]
    assert len(r.stdout) < 20_000  # the summary does not echo a 10 MB value


def test_uid_with_every_byte_value(tmp_path: Path) -> None:
    every = bytes(range(256))
    octal = "".join(f"\\{b:03o}" for b in every)
    p = tmp_path / "uid.leases"
    p.write_text(f'lease 192.0.2.10 {{\n{HEAD}  hardware ethernet 02:00:00:00:00:01;\n'
                 f'  uid "{octal}";\n}}\n'
                 f'lease 192.0.2.11 {{\n{HEAD}  hardware ethernet 02:00:00:00:00:02;\n'
                 f'  uid "{octal[4:]}";\n}}\n', encoding="latin-1")
    items = _items(p)
    assert len(items) == 2
    by = {i.key if isinstance(i, MalformedRecordError) else str(i.record.address): i
          for i in items}
    # 255 bytes is Kea's limit for a client-id: the 255-byte uid loads byte for byte...
    good = by["192.0.2.11"]
    assert not isinstance(good, MalformedRecordError), good
    assert good.record.client_id == every[1:].hex(":")
    # ...and the 256-byte one is reported (naming the field), not truncated or crashed on
    bad = by["192.0.2.10"]
    if isinstance(bad, MalformedRecordError):
        assert "uid" in str(bad) or "client" in str(bad), bad
    else:
        assert bad.record.client_id == every.hex(":")


@pytest.mark.parametrize("kind,make", [
    pytest.param("isc-leases", lambda n: f"lease 192.0.2.10 {{\n{HEAD}" + "on expiry {\n" * n
                 + "}\n" * n + "}\n"),
    ("isc-leases", lambda n: "{" * n),
    ("isc-leases", lambda n: f"lease 192.0.2.10 {{\n{HEAD}" + "on expiry {\n" * n),
    ("isc-conf", lambda n: "group {\n" * n + "host h { hardware ethernet 02:00:00:00:00:01; "
     "fixed-address 192.0.2.9; }\n" + "}\n" * n),
    ("isc-conf", lambda n: "{" * n),
    ("isc-conf", lambda n: "host h {\n" + "group {\n" * n),
])
def test_deeply_nested_braces(kind: str, make: Any) -> None:
    good, bad, err = run_file(kind, make(100_000).encode())
    assert good + bad + (err is not None) >= 1 or kind == "isc-leases"


@pytest.mark.parametrize("plen", ["200", "129", "-1", "x", "99999999999999999999"])
def test_ipv6_prefix_length_out_of_range(tmp_path: Path, plen: str) -> None:
    p = tmp_path / "v6.leases"
    p.write_text('ia-pd "\\001\\000\\000\\000\\000\\001\\000\\001\\002\\003" {\n'
                 "  cltt 5 2026/11/27 20:00:00;\n"
                 f"  iaprefix 2001:db8:8000::/{plen} {{\n    binding state active;\n"
                 "    preferred-life 3000;\n    max-life 4000;\n"
                 "    ends 6 2026/11/28 20:00:00;\n  }\n}\n"
                 'ia-pd "\\002\\000\\000\\000\\000\\001\\000\\001\\002\\003" {\n'
                 "  cltt 5 2026/11/27 20:00:00;\n"
                 "  iaprefix 2001:db8:8100::/56 {\n    binding state active;\n"
                 "    preferred-life 3000;\n    max-life 4000;\n"
                 "    ends 6 2026/11/28 20:00:00;\n  }\n}\n")
    items = _items(p)
    good = [i for i in items if not isinstance(i, MalformedRecordError)]
    bad = [i for i in items if isinstance(i, MalformedRecordError)]
    assert [str(i.record.address) for i in good] == ["2001:db8:8100::"]
    assert len(bad) == 1 and bad[0].line is not None
    with pytest.raises(InvalidValueError, match="prefix"):
        Lease6(address="2001:db8:8000::", duid="00:01", iaid=1, valid_lft=1, cltt=1,
               lease_type="IA_PD", prefix_len=int(plen) if plen.lstrip("-").isdigit() else 129)


def test_non_utf8_bytes_in_hostnames(tmp_path: Path) -> None:
    p = tmp_path / "bin.leases"
    p.write_bytes(f"lease 192.0.2.10 {{\n{HEAD}  hardware ethernet 02:00:00:00:00:01;\n"
                  .encode() + b'  client-hostname "caf\xe9-\xff\xfe\x80,&x";\n}\n')
    items = _items(p)
    assert len(items) == 1
    conf = tmp_path / "dhcpd.conf"
    conf.write_bytes(b'host h\xff { hardware ethernet 02:00:00:00:00:02; fixed-address 192.0.2.9;'
                     b' option host-name "n\xe9\xff"; }\n')
    with deadline(30):
        list(isc_conf.extract(conf))
    cfg = tmp_path / "kea.json"
    cfg.write_text(json.dumps({"Dhcp4": {"subnet4": [{"id": 1, "subnet": "192.0.2.0/24"}]}}))
    out = tmp_path / "out"
    r = subprocess.run([*KEA_ETL, "migrate", str(p), str(conf), "--to", f"memfile:{out}",
                        "--kea-config", str(cfg), "--as-of", AS_OF, "--no-progress"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stderr
    if (out / "kea-leases4.csv").exists():
        text = (out / "kea-leases4.csv").read_bytes().decode("utf-8")  # valid UTF-8
        assert all(len(line.split(",")) == 11 for line in text.splitlines())  # comma escaped


HOSTILE = "=cmd|' /C calc'!A0"
SCRIPT = "<script>alert(1)</script>"


@pytest.mark.kea
def test_export_csv_defuses_formulas_and_reconcile_html_escapes(kea4: Any,
                                                                 tmp_path: Path) -> None:
    for i, host in enumerate([HOSTILE, SCRIPT, "+SUM(A1)", "@x", "plain"]):
        r = kea4.command("lease4-add", {"ip-address": f"192.0.2.{20 + i}",
                                        "hw-address": f"02:00:00:00:00:{i:02x}",
                                        "valid-lft": 86400, "hostname": host})
        assert r["result"] == 0, r
    out = tmp_path / "csv"
    r = subprocess.run([*KEA_ETL, "export", "--kea", kea4.socket_url, "--csv", str(out),
                        "--no-stats", "--parquet", str(tmp_path / "pq")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    [path] = list(out.rglob("leases-v4.csv"))
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    hosts = {row["hostname"] for row in rows}  # (Kea stores hostnames in lower case)
    assert hosts == {"'" + HOSTILE.lower(), SCRIPT, "'+sum(a1)", "'@x", "plain"}
    for row in rows:
        assert not any(v.startswith(("=", "+", "@", "-")) for v in row.values()), row
    # Parquet (machine hand-off) keeps the value exactly
    import pyarrow.parquet as pq
    [pqf] = list((tmp_path / "pq").rglob("leases-v4.parquet"))
    assert HOSTILE.lower() in pq.read_table(pqf).column("hostname").to_pylist()

    # reconcile: an empty source makes every Kea lease "extra", with its hostname in the HTML
    src = tmp_path / "empty.leases"
    src.write_text("# nothing\n")
    html, rcsv = tmp_path / "r.html", tmp_path / "r.csv"
    r = subprocess.run([*KEA_ETL, "reconcile", f"isc-leases:{src}", "--kea", kea4.socket_url,
                        "--as-of", AS_OF, "--html", str(html), "--csv", str(rcsv)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    page = html.read_text()
    assert SCRIPT not in page and "<script>alert" not in page
    with rcsv.open(newline="") as fh:
        for row in csv.reader(fh):
            assert not any(c.startswith(("=", "+", "@")) for c in row), row
