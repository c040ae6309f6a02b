"""Kea's own verdict on converted configurations: ``kea-dhcp4 -t`` / ``kea-dhcp6 -t`` of every
selected Kea version accept the sample sites, dhcpd itself accepts site2, and a real Kea started
on the converted sample takes the migrated leases with reconcile finding no difference."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kea_etl.cli import main
from kea_etl.convert import convert, write
from tests.convert.test_fuzz import body as fuzz_body
from tests.convert.test_fuzz import realistic
from tests.harness import clock
from tests.harness.kea import KeaInstall, KeaServer, host_install

pytestmark = pytest.mark.kea

SAMPLE = clock.SAMPLE_DIR
SITE2 = SAMPLE / "site2" / "dhcpd.conf"
AS_OF = dt.datetime.fromtimestamp(clock.SAMPLE_ANCHOR, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def kea_test(install: KeaInstall, family: int | str, config: Path
             ) -> subprocess.CompletedProcess[str]:
    """``kea-dhcpN -t CONFIG`` of this installation (inside its rootfs for a chroot one);
    ``family`` "-ddns" runs kea-dhcp-ddns."""
    argv = [install.binary(f"kea-dhcp{family}"), "-t"]
    if install.root is not None:
        inside = f"/tmp/kea-etl-convert-{uuid.uuid4().hex[:8]}.json"
        shutil.copyfile(config, install.host_file(inside))
        argv = ["chroot", str(install.root), *argv, inside]
    else:
        argv.append(str(config))
    env = None
    if install.prefix is not None:
        # A --prefix build allows sockets, leases and logs only under its prefix unless told
        # otherwise; the converted config uses the paths of a packaged Kea (/run/kea, ...), which
        # is what an operator's Kea 3.x from ISC's or a distribution's packages allows.
        env = dict(os.environ, KEA_CONTROL_SOCKET_DIR="/run/kea", KEA_DHCP_DATA_DIR="/var/lib/kea",
                   KEA_LOG_FILE_DIR="/var/log/kea")
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False,
                              env=env)
    finally:
        if install.root is not None:
            install.host_file(inside).unlink(missing_ok=True)


@pytest.mark.parametrize("site", ["sample", "site2"])
def test_kea_accepts_converted_config(kea_install: KeaInstall, site: str, tmp_path: Path) -> None:
    if site == "sample":
        result = convert(SAMPLE / "dhcpd.conf", conf6=SAMPLE / "dhcpd6.conf",
                         hooks_dir=kea_install.hooks_dir)
    else:
        result = convert(SITE2, hooks_dir=kea_install.hooks_dir)
    for path in write(result, tmp_path):
        if path.name not in ("kea-dhcp4.conf", "kea-dhcp6.conf"):
            continue  # the D2 configuration: test_d2_accepts_converted_ddns_setup
        family = int(path.name[len("kea-dhcp")])
        done = kea_test(kea_install, family, path)
        assert done.returncode == 0, (f"Kea {kea_install.version} refused {path.name}:\n"
                                      f"{done.stdout[-3000:]}{done.stderr[-3000:]}")


def test_d2_accepts_converted_ddns_setup(kea_install: KeaInstall, tmp_path: Path) -> None:
    """site2's key and zone become kea-dhcp-ddns.conf (secret in its own 0600 file, never in
    the configuration), which this version's kea-dhcp-ddns -t accepts once the secret file is
    where the configuration says (Kea 3.x refuses a clear-text secret; 2.2/2.4 have no
    secret-file: the finding says so, and the test gives them the secret inline)."""
    if not kea_install.has("kea-dhcp-ddns"):
        pytest.skip(f"{kea_install.describe()} has no kea-dhcp-ddns (Debian ships it apart, "
                    "in kea-dhcp-ddns-server, which the root filesystems leave out)")
    written = write(convert(SITE2, hooks_dir=kea_install.hooks_dir), tmp_path)
    d2conf = tmp_path / "kea-dhcp-ddns.conf"
    secret = tmp_path / "tsig-ddns-key.secret"
    assert d2conf in written and secret in written
    assert oct(secret.stat().st_mode & 0o777) == "0o600"
    cfg = json.loads(d2conf.read_text())
    assert secret.read_text() not in d2conf.read_text()
    body = cfg["DhcpDdns"]
    assert [d["name"] for d in body["forward-ddns"]["ddns-domains"]] == ["site2.example."]
    assert body["forward-ddns"]["ddns-domains"][0]["key-name"] == "ddns-key"
    key = body["tsig-keys"][0]
    if kea_install.version_tuple >= (2, 5, 8):
        inside = f"/tmp/kea-etl-tsig-{uuid.uuid4().hex[:8]}.secret"
        shutil.copyfile(secret, install_path := kea_install.host_file(inside))
        key["secret-file"] = inside
    else:
        install_path = None
        key["secret"] = secret.read_text()
        del key["secret-file"]
    d2conf.write_text(json.dumps(cfg))
    try:
        done = kea_test(kea_install, "-ddns", d2conf)
    finally:
        if install_path is not None:
            install_path.unlink(missing_ok=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.mark.skipif(shutil.which("dhcpd") is None, reason="ISC dhcpd is not installed")
def test_dhcpd_accepts_site2() -> None:
    done = subprocess.run(["dhcpd", "-t", "-cf", str(SITE2)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def start_converted(kea_factory: Callable[..., KeaServer], install: KeaInstall, converted: Path,
                    family: int) -> KeaServer:
    """A real Kea on a converted configuration's subnets, shared networks, reservations, classes
    and globals; the fixture brings its own sockets and hooks (the HA hook would wait for its
    peer)."""
    body = json.loads(converted.read_text())[f"Dhcp{family}"]
    subnets = body.pop(f"subnet{family}", [])
    for key in ("interfaces-config", "hooks-libraries", "control-socket"):
        body.pop(key, None)
    return kea_factory(family=family, kea=install, subnets=subnets, extra=body)


def _cli(*args: str, code: int = 0) -> Any:
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert r.exit_code == code, f"kea-etl {' '.join(args)} -> {r.exit_code}\n{r.output}"
    return r


@pytest.mark.parametrize("family", [4, 6])
def test_convert_migrate_reconcile_on_real_kea(kea_install: KeaInstall,
                                               kea_factory: Callable[..., KeaServer],
                                               family: int, tmp_path: Path) -> None:
    """convert -> a real Kea started on the converted subnets, shared networks, reservations and
    globals -> migrate the sample leases with the converted config as --kea-config -> every
    active lease lands and reconcile exits 0."""
    conf = {4: ["sample-data/dhcpd.conf"], 6: ["--v6", "sample-data/dhcpd6.conf"]}[family]
    out = tmp_path / "kea"
    _cli("convert", *[str(SAMPLE.parent / c) if c.startswith("sample") else c for c in conf],
         "--out", str(out), "--hooks-dir", kea_install.hooks_dir)
    converted = out / f"kea-dhcp{family}.conf"
    srv = start_converted(kea_factory, kea_install, converted, family)
    got = srv.ok("config-get")[f"Dhcp{family}"]
    running = {s["id"] for s in got.get(f"subnet{family}", [])} | {
        s["id"] for n in got.get("shared-networks", []) for s in n[f"subnet{family}"]}
    assert running == _ids(converted, family)
    leases = SAMPLE / ("dhcpd.leases" if family == 4 else "dhcpd6.leases")
    base = ["--kea-config", str(converted), "--as-of", AS_OF]
    _cli("migrate", str(leases), "--to", f"kea:{srv.socket_url}", *base,
         "--report", str(tmp_path / "r.json"), "--no-progress")
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["loaded"] == len(srv.leases()) > 100, report
    _cli("reconcile", str(leases), "--kea", srv.socket_url, *base,
         "--json", str(tmp_path / "recon.json"))


def _ids(path: Path, family: int) -> set[int]:
    body = json.loads(path.read_text())[f"Dhcp{family}"]
    subs = list(body.get(f"subnet{family}", []))
    for n in body.get("shared-networks", []):
        subs.extend(n[f"subnet{family}"])
    return {int(s["id"]) for s in subs}


def test_site2_convert_migrate_reconcile_on_real_kea(kea_install: KeaInstall,
                                                     kea_factory: Callable[..., KeaServer],
                                                     tmp_path: Path) -> None:
    """The second sample site (classes, shared network, DDNS, failover, groups) to a running Kea:
    its active leases land (the one in 10.9.9.0/24, outside every subnet, is skipped as unmapped
    and said so) and reconcile agrees. The HA hook is left out: it would wait for its peer."""
    out = tmp_path / "kea"
    _cli("convert", str(SITE2), "--out", str(out), "--hooks-dir", kea_install.hooks_dir)
    converted = out / "kea-dhcp4.conf"
    body = json.loads(converted.read_text())["Dhcp4"]
    subnets = body.pop("subnet4", [])
    for key in ("interfaces-config", "hooks-libraries", "control-socket", "dhcp-ddns"):
        body.pop(key, None)
    # no host_cache: with ip-reservations-unique false (one address, two laptops) Kea 3.0 refuses
    # to start ("some host backends in use do not support this setting"); the report says so
    srv = kea_factory(family=4, kea=kea_install, subnets=subnets, extra=body,
                      hooks=("lease_cmds", "stat_cmds"))
    got = srv.ok("config-get")["Dhcp4"]
    assert {c["name"] for c in got["client-classes"]} >= {"pxe", "uefi", "lab-macs", "vendors"}
    leases = SITE2.parent / "dhcpd.leases"
    base = ["--kea-config", str(converted), "--as-of", "2026-11-27T21:00:00Z", "--allow-unmapped"]
    _cli("migrate", str(leases), "--to", f"kea:{srv.socket_url}", *base,
         "--report", str(tmp_path / "r.json"), "--no-progress")
    report = json.loads((tmp_path / "r.json").read_text())
    held = {lease["ip-address"] for lease in srv.leases()}
    assert held == {"198.51.100.30", "198.51.100.31", "198.51.100.32", "203.0.113.70",
                    "192.0.2.77"}, report
    _cli("reconcile", str(leases), "--kea", srv.socket_url, *base)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=st.one_of(fuzz_body, realistic), v6=st.booleans())
def test_kea_accepts_any_conversion_without_error_findings(text: str, v6: bool,
                                                           tmp_path_factory: Any) -> None:
    """Random dhcpd.conf-like input (tests/convert/test_fuzz.py): whenever convert reports no
    error, the host's real kea-dhcp4 -t / kea-dhcp6 -t accepts what it wrote. (This found a
    second ``class`` of the same name, overlapping ranges and a subnet max-lease-time below the
    inherited default, all of which Kea refuses.)"""
    install = host_install()
    d = tmp_path_factory.mktemp("fzk")
    (d / "d.conf").write_text(text + "\n")
    result = convert(None, conf6=d / "d.conf") if v6 else convert(d / "d.conf")
    if result.counts()["error"]:
        return
    for path in write(result, d / "out"):
        done = kea_test(install, 6 if v6 else 4, path)
        assert done.returncode == 0, f"{text}\n---\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
