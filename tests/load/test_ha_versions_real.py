"""An HA pair of every supported Kea version (2.2, 2.6, 3.0, 3.2) loaded over the URLs its users have.

The deep HA tests (tests/load/test_ha_real.py, test_ha6_real.py) run on the host's Kea 2.x;
this one stays lean and runs once per version picked by ``KEA_ETL_KEA`` (``kea_install``,
tests/harness/matrix.py): the sample's dhcpd leases into both peers with ``--to kea:URL1
--to kea:URL2``, a re-run that changes nothing, and reconcile against each peer.

The URLs are what a user of that version gives kea-etl: the kea-ctrl-agent in front of each
daemon on 2.x (with ``--service dhcp4``), the daemons' own HTTP control sockets with basic auth
on 3.x (kea-ctrl-agent is deprecated in 3.0 and gone in 3.2; the 3.x peers talk HA over those
same sockets, see tests/harness/ha.py).

One pair per version for the module. It is hot-standby, except on 2.6 and 3.0 where it is
load-balancing, so each HA mode runs over both ways the peers talk (2.x's dedicated HA
listener, 3.x's control socket) without a second pair per version.

Sample leases keep their own dates: ``--as-of`` is pinned to the moment the sample was made
(tests.harness.clock.SAMPLE_ANCHOR), as in tests/kea/test_versions_real.py.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kea_etl.cli import main
from tests.harness import clock
from tests.harness.ha import HAPair, PairPool, start_ha_pair
from tests.harness.kea import KeaInstall, KeaServer

pytestmark = pytest.mark.kea

SAMPLE = clock.SAMPLE_DIR
AS_OF = dt.datetime.fromtimestamp(clock.SAMPLE_ANCHOR, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
LEASES = SAMPLE / "dhcpd.leases"
KEA_CONFIG = SAMPLE / "kea-dhcp4.json"
#: the pair's HA mode per version (default hot-standby); see the module docstring
MODES = {"2.6": "load-balancing", "3.0": "load-balancing"}


@pytest.fixture(scope="module")
def _version_pairs() -> Iterator[PairPool]:
    pool = PairPool()
    yield pool
    pool.close()


@pytest.fixture
def version_pair(kea_install: KeaInstall, _version_pairs: PairPool) -> HAPair:
    """The module's HA pair of this Kea version (kea-dhcp4, the sample's subnets), no leases."""
    subnets = json.loads(KEA_CONFIG.read_text())["Dhcp4"]["subnet4"]
    mode = MODES.get(kea_install.label, "hot-standby")
    return _version_pairs.get(
        kea_install.label,
        lambda: start_ha_pair(kea=kea_install, ctrl_agent=True, mode=mode, subnets=subnets),
        f"Kea {kea_install.version} {mode} HA pair")


def _cli(pair: HAPair, *args: str, code: int = 0, service: bool = True) -> Any:
    """kea-etl with the pair's connection options: ``--service`` for 2.x's control agents, the
    basic-auth login (password in the environment) for 3.x's daemons."""
    extra: list[str] = []
    env: dict[str, str] = {}
    if pair.service and service:
        extra += ["--service", pair.service]
    if pair.credentials:
        extra += ["--user", pair.credentials[0]]
        env["KEA_ETL_PASSWORD"] = pair.credentials[1]
    argv = [*args, *extra]
    r = CliRunner().invoke(main, argv, env=env, catch_exceptions=False)
    assert r.exit_code == code, f"kea-etl {' '.join(argv)} -> {r.exit_code}\n{r.output}"
    return r


def _held(srv: KeaServer) -> dict[str, tuple[Any, ...]]:
    """What the server holds, read by the harness over its UNIX socket (not by kea-etl)."""
    return {x["ip-address"]: (x["hw-address"], x.get("client-id"), x["cltt"], x["valid-lft"],
                              x["subnet-id"], x.get("hostname"), x["state"])
            for x in srv.leases()}


def test_migrate_into_this_versions_ha_pair_rerun_and_reconcile(
        kea_install: KeaInstall, version_pair: HAPair, tmp_path: Path) -> None:
    """Both peers hold every active lease of the sample (reconcile against each peer finds no
    difference), the same leases on both; the report shows both peers' HA states and the
    comparison; a re-run sends nothing new and changes nothing."""
    pair = version_pair
    assert len(pair.urls) == 2, "the pair has no user-facing URLs"
    targets = [a for url in pair.urls for a in ("--to", f"kea:{url}")]
    base = ["--kea-config", str(KEA_CONFIG), "--as-of", AS_OF, "--no-progress"]
    if pair.service:
        # a control agent without --service answers for itself: refused before anything is sent
        r = _cli(pair, "migrate", str(LEASES), *targets, *base, code=2, service=False)
        assert r.output == (
            f"Error: config-get of {pair.urls[0]}: no Dhcp4 or Dhcp6 section: this is "
            "kea-ctrl-agent's own configuration; name the DHCP daemon behind it with "
            "--service dhcp4\n")
    _cli(pair, "migrate", str(LEASES), *targets, *base, "--report", str(tmp_path / "r1.json"))
    first = json.loads((tmp_path / "r1.json").read_text())
    primary, standby = _held(pair.primary), _held(pair.standby)
    assert first["loaded"] == len(primary) > 100, first
    assert first["failed"] == 0, first
    assert standby == primary
    ha = first["ha"]
    assert [p["ha_state"] for p in ha["peers"]][0] == (
        "load-balancing" if pair.mode == "load-balancing" else "hot-standby")
    assert [p["loaded"] for p in ha["peers"]] == [len(primary)] * 2
    assert ha["compare"]["identical"] is True, ha["compare"]

    _cli(pair, "migrate", str(LEASES), *targets, *base, "--report", str(tmp_path / "r2.json"))
    second = json.loads((tmp_path / "r2.json").read_text())
    assert second["already_present"] == len(primary), second
    assert [p["already_present"] for p in second["ha"]["peers"]] == [len(primary)] * 2
    assert _held(pair.primary) == primary
    assert _held(pair.standby) == primary

    for i, url in enumerate(pair.urls):
        out = tmp_path / f"recon{i}.json"
        _cli(pair, "reconcile", str(LEASES), "--kea", url, "--kea-config", str(KEA_CONFIG),
             "--as-of", AS_OF, "--json", str(out))
        recon = json.loads(out.read_text())
        assert (recon["ok"], recon["matched"], recon["missing"]) == (True, len(primary), 0), url
