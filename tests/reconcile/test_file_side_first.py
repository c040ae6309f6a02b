"""``reconcile_file`` checks Kea's files before the source and reads them in a thread of their
own while the source is read; still, a problem with the files is the error raised whatever the
source holds (or raises), and the files' warnings come before the source's, as if the files had
been read first. (The thread: 1.25 s instead of 1.45 s for 300k leases on a quiet 2-core
machine, no slower when both cores are busy.)"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

import pytest

from kea_etl.errors import ConfigError
from kea_etl.extract.base import Extracted, ExtractItem
from kea_etl.reconcile import reconcile_file
from kea_etl.records import Lease4, Lease6
from kea_etl.report import SourceWarning
from kea_etl.transform.normalize import WrongFamilyError

AS_OF = 1_795_000_000
H4 = ("address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,"
      "state,user_context")


def _config(max_row_errors: int = 0) -> dict[str, Any]:
    return {"Dhcp4": {"subnet4": [{"id": 1, "subnet": "10.0.0.0/16"}],
                      "lease-database": {"type": "memfile",
                                         "max-row-errors": max_row_errors}}}


def _memfile(path: Path, *, bad_rows: int) -> Path:
    rows = [f"10.0.{i // 250}.{i % 250 + 1},02:00:00:00:{i >> 8 & 255:02x}:{i & 255:02x},,3600,"
            f"{AS_OF + 1800},1,0,0,,0," for i in range(3000)]
    rows += ["10.0.99.1,zz,,3600,1,1,0,0,,0,"] * bad_rows
    path.write_text(H4 + "\n" + "\n".join(rows) + "\n")
    return path


def _source(*, v6: bool) -> Iterator[ExtractItem]:
    yield SourceWarning("dhcpd.leases", 1, "class", "not translated")
    for i in range(3000):
        yield Extracted(Lease4(address=IPv4Address(f"10.0.{i // 250}.{i % 250 + 1}"),
                               hwaddr=f"02:00:00:00:{i >> 8 & 255:02x}:{i & 255:02x}",
                               valid_lft=3600, cltt=AS_OF - 1800),
                        source="dhcpd.leases", line=10 + i)
    if v6:
        yield Extracted(Lease6(address=IPv6Address("2001:db8::1"), duid="00:01:02", iaid=1,
                               valid_lft=3600, cltt=AS_OF), source="dhcpd6.leases", line=1)


def test_an_error_in_the_files_comes_first(tmp_path: Path) -> None:
    bad = _memfile(tmp_path / "kea-leases4.csv", bad_rows=3)
    with pytest.raises(ConfigError, match="Kea would refuse to load"):
        reconcile_file(_source(v6=True), bad, kea_config=_config(max_row_errors=1), as_of=AS_OF)
    with pytest.raises(ConfigError, match="Kea would refuse to load"):
        reconcile_file(_source(v6=False), bad, kea_config=_config(max_row_errors=1),
                       as_of=AS_OF)
    good = _memfile(tmp_path / "good.csv", bad_rows=0)
    with pytest.raises(WrongFamilyError):
        reconcile_file(_source(v6=True), good, kea_config=_config(), as_of=AS_OF)


def test_the_files_warnings_come_first(tmp_path: Path) -> None:
    path = _memfile(tmp_path / "kea-leases4.csv", bad_rows=2)
    with reconcile_file(_source(v6=False), path, kea_config=_config(), as_of=AS_OF) as res:
        assert res.matched == 3000 and res.kea_read == 3000
        assert res.server == str(path) and res.kea_version == "<2.4 memfile header"
        assert len(res.warnings) == 2
        assert "2 row(s) Kea cannot read" in res.warnings[0]
        assert res.warnings[1].startswith("not compared: ")


def test_a_source_that_fails_while_the_files_are_read_leaves_nothing_behind(
        tmp_path: Path) -> None:
    """The source raises at once; the files' thread is still reading: the run waits for it
    (no spool closed under it), raises the source's error and removes its temporary files."""
    path = _memfile(tmp_path / "kea-leases4.csv", bad_rows=0)

    def failing() -> Iterator[ExtractItem]:
        raise OSError("the source went away")
        yield  # pragma: no cover

    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(OSError, match="went away"):
        reconcile_file(failing(), path, kea_config=_config(), as_of=AS_OF, workdir=work)
    assert not any(work.iterdir())
    assert not [t for t in threading.enumerate() if t.name == "kea-etl-reconcile-files"]
