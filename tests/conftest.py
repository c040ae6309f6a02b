"""Shared pytest fixtures: real Kea servers (2.x from the host, 3.0 from the rootfs, an HA pair)
and the command recorder behind docs/commands.md.

Fixtures (see tests/harness/kea.py for the server object):

* ``kea_factory(family=4, kea3=False, subnets=None, lease_file=None, hooks=None, extra=None,
  ctrl_agent=False, http=None)`` -> started ``KeaServer``, stopped and removed at teardown.
* ``kea4`` / ``kea6`` (Kea 2.x) and ``kea3_4`` / ``kea3_6`` (Kea 3.0): one server per session,
  handed to each test with no leases, its original config and DHCP enabled.
* ``kea4_ca`` / ``kea6_ca``: like kea4/kea6 but with kea-ctrl-agent (``http_url``).
* ``kea_ha_pair``: hot-standby pair of Kea 2.x dhcp4 servers (``.primary``, ``.standby``);
  ``kea3_ha_pair``: the same on Kea 3.0 (``KEA_ETL_KEA3``), peers on the daemons' HTTP.
* ``kea_install`` / ``kea_v4`` / ``kea_v6`` (tests/harness/matrix.py): once per Kea version picked by
  ``KEA_ETL_KEA`` (default 2.2, 2.6, 3.0, 3.2); a version the machine lacks is skipped, said once.

A server that cannot start FAILS the test with Kea's log tail; nothing is skipped for that.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import clock, recording
from tests.harness.ha import HAPair, PairPool, start_ha_pair
from tests.harness.kea import KeaServer, KeaStartError, start_kea

REPO = Path(__file__).resolve().parent.parent

# The Kea version matrix: KEA_ETL_KEA, the kea_install / kea_v4 / kea_v6 fixtures.
pytest_plugins = ["tests.harness.matrix"]


# ---- command recording ---------------------------------------------------------------------------
def pytest_configure(config: pytest.Config) -> None:
    _shift_kea_etl_clock()
    from kea_etl.extract import isc_leases

    # in-process runs honour KEA_ETL_NO_ACCEL / KEA_ETL_PARALLEL as the CLI does
    isc_leases.tune(**isc_leases.tuning_from_environ(os.environ))
    path = Path(os.environ.get("KEA_ETL_COMMAND_LOG", REPO / recording.DEFAULT_LOG))
    if recording.RECORDER is None and not hasattr(config, "workerinput"):
        recording.RECORDER = recording.CommandRecorder(path)
    _wrap_kea_client()


def _shift_kea_etl_clock() -> None:
    """Under ``make test-later`` move kea-etl's clock (here and in every Python child, through
    tests/harness/later/sitecustomize.py) by the shift the servers run with under faketime."""
    if not clock.SHIFT_DAYS:
        return
    import kea_etl.clock

    kea_etl.clock.OFFSET = clock.SHIFT_S
    paths = [str(clock.LATER_DIR), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))


def pytest_report_header(config: pytest.Config) -> str | None:
    if clock.SHIFT_DAYS:
        return (f"kea-etl suite clock: {clock.SHIFT_DAYS:+d} days (servers under faketime, "
                f"kea_etl.clock moved)")
    return None


def pytest_unconfigure(config: pytest.Config) -> None:
    if recording.RECORDER is not None:
        recording.RECORDER.flush()
        recording.RECORDER = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    _set_phase(item.nodeid, "setup")
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    _set_phase(item.nodeid, "call")
    yield
    _set_phase(item.nodeid, "teardown")


#: set to 1 to let tests skip when a program scripts/install-deps installs is missing (a developer
#: machine without dnsmasq, say); without it such a skip FAILS, so CI cannot go green while
#: the real-server tests it relies on quietly did not run
ALLOW_MISSING = os.environ.get("KEA_ETL_TEST_ALLOW_MISSING") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if ALLOW_MISSING or not report.skipped or not isinstance(report.longrepr, tuple):
        return
    reason = str(report.longrepr[2])
    if "not installed" in reason:
        report.outcome = "failed"
        report.longrepr = (f"{reason}\n(a program scripts/install-deps provides is missing, so this "
                           "real-server test would not run; run scripts/install-deps, or set "
                           "KEA_ETL_TEST_ALLOW_MISSING=1 to skip it knowingly)")


def _set_phase(nodeid: str, phase: str) -> None:
    if recording.RECORDER is not None:
        recording.RECORDER.nodeid = nodeid
        recording.RECORDER.phase = phase


def _wrap_kea_client() -> None:
    """Record every command kea_etl's transports send to a harness server.

    Wrapping the transports (not KeaClient) sees each command exactly as sent, with Kea's raw
    result code, whichever client method issued it. Commands to anything that is not a server
    started by the harness (fake transports, other URLs) are not recorded.
    """
    try:
        from kea_etl.kea import transports
    except ImportError:
        return
    for cls_name in ("UnixSocketTransport", "HttpTransport"):
        cls = getattr(transports, cls_name, None)
        request = getattr(cls, "request", None)
        if cls is None or request is None or getattr(request, "_kea_etl_recorded", False):
            continue
        cls.request = _recorded(request, "kea_etl-unix" if cls_name.startswith("Unix") else "kea_etl-http")


def _recorded(request: Callable[..., Any], via: str) -> Callable[..., Any]:
    def recorded_request(self: Any, command: str, arguments: Any = None) -> Any:
        info = recording.server_for_url(str(getattr(self, "url", "")))
        try:
            reply = request(self, command, arguments)
        except Exception:
            if info is not None:
                recording.note(command, version=info["version"], result=None, via=via,
                               server=info["server"])
            raise
        if info is not None:
            code = reply.get("result") if isinstance(reply, dict) else None
            recording.note(command, version=info["version"], result=code if isinstance(code, int) else None,
                           via=via, server=info["server"])
        return reply

    recorded_request._kea_etl_recorded = True  # type: ignore[attr-defined]
    return recorded_request


# ---- servers -------------------------------------------------------------------------------------
def _require_kea3_marker(request: pytest.FixtureRequest, what: str) -> None:
    """A test that starts Kea 3 must be marked ``kea3``: the marker is what skips it, with the
    reason, where Kea 3 is not selected or not installed (tests/harness/matrix.py). Unmarked, it
    would run there and fail on a server that cannot start, and ``-m "not kea3"`` would not
    leave it out."""
    if request.node.get_closest_marker("kea3") is None:
        pytest.fail(f"{request.node.nodeid} starts Kea 3 ({what}) but is not marked "
                    "@pytest.mark.kea3", pytrace=False)


def _start_or_fail(**kwargs: Any) -> KeaServer:
    try:
        return start_kea(**kwargs)
    except KeaStartError as exc:
        pytest.fail(f"real Kea could not start: {exc}", pytrace=False)


@pytest.fixture
def kea_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., KeaServer]]:
    """Start real Kea servers for one test; all are stopped and removed at teardown."""
    started: list[KeaServer] = []

    def make(family: int = 4, kea3: bool = False, subnets: Any = None, lease_file: Any = None,
             hooks: Any = None, extra: Any = None, ctrl_agent: bool = False, http: bool | None = None,
             **kw: Any) -> KeaServer:
        if kea3:
            _require_kea3_marker(request, "kea_factory(kea3=True)")
        srv = _start_or_fail(family=family, kea3=kea3, subnets=subnets, lease_file=lease_file, hooks=hooks,
                             extra=extra, ctrl_agent=ctrl_agent, http=http, **kw)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.close()


class _SessionServers:
    """Lazily started, session-long servers keyed by (family, kea3, ctrl_agent)."""

    def __init__(self) -> None:
        self.servers: dict[tuple[int, bool, bool], KeaServer] = {}
        self.errors: dict[tuple[int, bool, bool], str] = {}

    def get(self, family: int, kea3: bool, ctrl_agent: bool = False) -> KeaServer:
        key = (family, kea3, ctrl_agent)
        if key in self.errors:
            pytest.fail(self.errors[key], pytrace=False)
        srv = self.servers.get(key)
        if srv is None:
            try:
                label = f"session-{'kea3' if kea3 else 'kea'}-dhcp{family}{'-ca' if ctrl_agent else ''}"
                srv = start_kea(family=family, kea3=kea3, ctrl_agent=ctrl_agent, name=label)
            except KeaStartError as exc:
                self.errors[key] = f"real Kea could not start: {exc}"
                pytest.fail(self.errors[key], pytrace=False)
            self.servers[key] = srv
        try:
            return srv.reset()
        except KeaStartError as exc:
            pytest.fail(f"real Kea could not restart: {exc}", pytrace=False)

    def close(self) -> None:
        for srv in self.servers.values():
            srv.close()


@pytest.fixture(scope="session")
def _kea_session() -> Iterator[_SessionServers]:
    pool = _SessionServers()
    yield pool
    pool.close()


@pytest.fixture
def kea4(_kea_session: _SessionServers) -> KeaServer:
    """Kea 2.x kea-dhcp4 (host packages), clean leases and original config."""
    return _kea_session.get(4, False)


@pytest.fixture
def kea6(_kea_session: _SessionServers) -> KeaServer:
    """Kea 2.x kea-dhcp6 (host packages), clean leases and original config."""
    return _kea_session.get(6, False)


@pytest.fixture
def kea4_ca(_kea_session: _SessionServers) -> KeaServer:
    """Kea 2.x kea-dhcp4 behind kea-ctrl-agent (``http_url``; send ``service="dhcp4"``)."""
    return _kea_session.get(4, False, ctrl_agent=True)


@pytest.fixture
def kea6_ca(_kea_session: _SessionServers) -> KeaServer:
    """Kea 2.x kea-dhcp6 behind kea-ctrl-agent (``http_url``; send ``service="dhcp6"``)."""
    return _kea_session.get(6, False, ctrl_agent=True)


@pytest.fixture
def kea3_4(_kea_session: _SessionServers, request: pytest.FixtureRequest) -> KeaServer:
    """Kea 3.0 kea-dhcp4 from the rootfs (UNIX + HTTP control sockets), clean state."""
    _require_kea3_marker(request, "kea3_4")
    return _kea_session.get(4, True)


@pytest.fixture
def kea3_6(_kea_session: _SessionServers, request: pytest.FixtureRequest) -> KeaServer:
    """Kea 3.0 kea-dhcp6 from the rootfs (UNIX + HTTP control sockets), clean state."""
    _require_kea3_marker(request, "kea3_6")
    return _kea_session.get(6, True)


@pytest.fixture(scope="session")
def _ha_pairs() -> Iterator[PairPool]:
    pool = PairPool()
    yield pool
    pool.close()


@pytest.fixture
def kea_ha_pair(_ha_pairs: PairPool) -> HAPair:
    """Hot-standby pair of Kea 2.x dhcp4 servers on loopback, both without leases."""
    return _ha_pairs.get("kea2", start_ha_pair, "Kea HA pair")


@pytest.fixture
def kea3_ha_pair(_ha_pairs: PairPool, request: pytest.FixtureRequest) -> HAPair:
    """Hot-standby pair of Kea 3.x dhcp4 servers (3.0 or ``KEA_ETL_KEA3``) talking over their
    own HTTP control sockets with basic auth (``.urls``, ``.credentials``), without leases."""
    _require_kea3_marker(request, "kea3_ha_pair")
    return _ha_pairs.get("kea3", lambda: start_ha_pair(kea3=True), "Kea 3 HA pair")


@pytest.fixture(scope="session")
def sample_now(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sample-data/ as if dhcpd had written it just now (tests/harness/clock.rebased_sample_dir):
    for tests that give the sample's leases to a live server, whose clock decides what expired."""
    return clock.rebased_sample_dir(tmp_path_factory.mktemp("sample-now"))
