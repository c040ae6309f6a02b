"""Hostile files (issue 13): only regular files are read, includes are bounded, over-long lines
cost bounded memory. The cheap cases; the GB-sized ones are in tests/reliability/
test_hostile_files.py (``make soak``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kea_etl.errors import ConfigError, MalformedRecordError
from kea_etl.extract import isc_conf, open_source
from kea_etl.extract.base import Extracted

KEA_ETL = [sys.executable, "-m", "kea_etl.cli"]
HOST = "host h1 { hardware ethernet 02:00:00:00:00:01; fixed-address 192.0.2.10; }\n"


def _items(path: Path) -> tuple[list[Extracted], list[str]]:
    good: list[Extracted] = []
    bad: list[str] = []
    for it in isc_conf.extract(path):
        if isinstance(it, Extracted):
            good.append(it)
        elif isinstance(it, MalformedRecordError):
            bad.append(str(it))
    return good, bad


@pytest.mark.parametrize(("target", "kind"), [
    ("/dev/zero", "a character device"), ("/dev/urandom", "a character device"),
    ("FIFO", "a FIFO (named pipe)"), ("DIR", "a directory")])
def test_include_of_a_device_fifo_or_directory_is_refused(tmp_path: Path, target: str,
                                                          kind: str) -> None:
    """Was: include "/dev/zero" grew to 7.5 GB in 30 s; /dev/urandom and a FIFO hung."""
    if target == "FIFO":
        target = str(tmp_path / "fifo")
        os.mkfifo(target)
    elif target == "DIR":
        target = str(tmp_path)
    conf = tmp_path / "dhcpd.conf"
    conf.write_text(f'include "{target}";\n{HOST}')
    good, bad = _items(conf)
    assert len(good) == 1
    assert bad == [f"{conf} line 1: include {target} included file {target} is {kind}, not a "
                   "regular file; not read, its hosts are missing"]


def test_include_fan_out_and_depth_are_bounded(tmp_path: Path) -> None:
    """Was: a 2^20 include fan-out ran on. Now at most MAX_INCLUDES files are opened."""
    for i in range(20):  # f0 includes f1 twice, f1 includes f2 twice, ...: 2^20 includes
        nxt = f'include "f{i + 1}.conf";\n' * 2 if i < 19 else HOST
        (tmp_path / f"f{i}.conf").write_text(nxt)
    good, bad = _items(tmp_path / "f0.conf")
    too_deep = [b for b in bad if "nested more than 16 deep" in b]
    too_many = [b for b in bad if f"more than {isc_conf.MAX_INCLUDES} included files" in b]
    assert too_deep and too_many
    # each include statement read gives at most one line; files opened <= MAX_INCLUDES, each
    # holding two statements
    assert len(bad) <= 2 * isc_conf.MAX_INCLUDES + 2
    assert len(good) == 0  # the hosts sit below the depth limit


def test_over_long_line_is_skipped_with_bounded_memory(tmp_path: Path) -> None:
    conf = tmp_path / "dhcpd.conf"
    with conf.open("wb") as fh:
        fh.write(b"\0" * (3 * isc_conf.MAX_LINE + 5) + b"\n")
        fh.write(HOST.encode())
    good, bad = _items(conf)
    assert len(good) == 1
    assert bad == [f"{conf} line 1: line longer than 1 MiB (not dhcpd.conf text?); skipped"]


@pytest.mark.parametrize("spec", ["FIFO", "/dev/zero", "isc-leases:/dev/zero",
                                  "isc-conf:/dev/urandom", "csv:FIFO", "kea-memfile:/dev/null"])
def test_a_fifo_or_device_given_as_source_is_refused(tmp_path: Path, spec: str) -> None:
    """Was: a FIFO source hung, /dev/zero was read on; an existing FIFO was "not found"."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    spec = spec.replace("FIFO", str(fifo))
    path = spec.partition(":")[2] if ":" in spec else spec
    kind = "a FIFO (named pipe)" if path == str(fifo) else "a character device"
    with pytest.raises(ConfigError) as exc:
        list(open_source(spec))
    assert str(exc.value) == (f"source {path} is {kind}, not a regular file; kea-etl reads only "
                              "regular files (copy the data to a file first)")


def test_cli_fifo_source_is_exit_2_one_line(tmp_path: Path) -> None:
    fifo = tmp_path / "dhcpd.leases"
    os.mkfifo(fifo)
    (tmp_path / "k.json").write_text(json.dumps({"Dhcp4": {"subnet4": [
        {"id": 1, "subnet": "192.0.2.0/24"}]}}))
    r = subprocess.run([*KEA_ETL, "migrate", "dhcpd.leases", "--to", "memfile:out",
                        "--kea-config", "k.json", "--no-progress"],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr == ("Error: source dhcpd.leases is a FIFO (named pipe), not a regular file; "
                        "kea-etl reads only regular files (copy the data to a file first)\n")


# ---- a lease block that never closes ----------------------------------------------------------

_CHILD = r"""
import resource, sys
from kea_etl.extract import isc_leases
isc_leases._syntax.MAX_BLOCK = 1 << 20
kinds = {}
for item in isc_leases.extract(sys.argv[1], chunk_size=1 << 20):
    kinds[type(item).__name__] = kinds.get(type(item).__name__, 0) + 1
print(kinds.get("Extracted", 0), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

LEASE = ("lease {ip} {{\n  starts 5 2026/11/27 20:00:00;\n  ends 6 2036/11/28 20:00:00;\n"
         "  binding state active;\n  hardware ethernet 02:00:00:00:00:01;\n}}\n")


def _peak_kb(path: Path) -> tuple[int, int]:
    r = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True,
                       timeout=600, check=True)
    extracted, peak = r.stdout.split()
    return int(extracted), int(peak)


def test_unclosed_block_costs_bounded_memory(tmp_path: Path) -> None:
    """A zero-filled region after a crash (no closing brace for 48 MB): memory stays bounded by
    MAX_BLOCK, not by the region (was: the whole region held about three times over, in
    quadratic time). The leases after the region are still read."""
    small, big = tmp_path / "small.leases", tmp_path / "zero.leases"
    small.write_text(LEASE.format(ip="192.0.2.1") + LEASE.format(ip="192.0.2.3"))
    with big.open("wb") as fh:
        fh.write(LEASE.format(ip="192.0.2.1").encode())
        fh.write(b"lease 192.0.2.2 {\n  starts 5 2026/11/27 20:00:00;\n")
        for _ in range(48):
            fh.write(b"\0" * (1 << 20))
        fh.write(b"\n" + LEASE.format(ip="192.0.2.3").encode())
    n_small, base = _peak_kb(small)
    n_big, peak = _peak_kb(big)
    assert n_small == n_big == 2
    assert peak - base < 24 * 1024, f"{(peak - base) >> 10} MB more for a 48 MB unclosed block"


@pytest.mark.parametrize("target", ["FIFO", "/dev/zero"])
def test_lease_file_extractor_says_what_a_non_regular_file_is(tmp_path: Path, target: str) -> None:
    """The library entry point too (not only the CLI's source check)."""
    from kea_etl.extract import isc_leases

    if target == "FIFO":
        target = str(tmp_path / "fifo")
        os.mkfifo(target)
    kind = "a FIFO (named pipe)" if target.endswith("fifo") else "a character device"
    with pytest.raises(ConfigError) as exc:
        list(isc_leases.extract(target))
    assert str(exc.value) == (f"the lease file {target} is {kind}, not a regular file; kea-etl "
                              "reads only regular files")
    with pytest.raises(ConfigError) as exc:
        isc_leases.Snapshot(target)
    assert str(exc.value) == (f"the lease file {target} is {kind}, not a regular file; kea-etl "
                              "reads only regular files")


@pytest.mark.parametrize(("module", "what"), [("csvfile", "CSV file"),
                                              ("kea_memfile", "Kea lease file")])
def test_csv_and_memfile_extractors_name_a_fifo(tmp_path: Path, module: str, what: str) -> None:
    """Was: an existing FIFO was reported as "not found"."""
    import importlib

    mod = importlib.import_module(f"kea_etl.extract.{module}")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError) as exc:
        list(mod.extract(fifo))
    assert str(exc.value) == (f"{what} {fifo} is a FIFO (named pipe), not a regular file; "
                              "kea-etl reads only regular files (copy the data to a file first)")
