"""pytest plugin: the Kea version matrix (``KEA_ETL_KEA=2.2,2.6,3.0,3.2``, default all).

A test that takes the ``kea_install`` fixture runs once per selected version (ids ``kea2.2``,
``kea2.6``, ...; ``keapath`` for ``KEA_ETL_KEA_PATH``). A version this machine cannot have (no
rootfs, no 3.2 build, a Debian 13 host without 2.2) skips only its own tests, and the reason is
reported once, in the terminal summary; the deep tests keep running on the host's Kea.

``kea_v4`` / ``kea_v6``: one session-long server per version and family, handed to each test
clean (no leases, original config), like the ``kea4`` / ``kea6`` fixtures.

Tests marked ``kea3`` (the Kea 3.0 rootfs, or ``KEA_ETL_KEA3``) are skipped with the reason when
that version is not selected or not available.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.harness.kea import (
    KeaInstall,
    KeaServer,
    KeaStartError,
    default_label,
    find_install,
    selected_labels,
    start_kea,
)

# label -> why it is not available (filled when a test first asks for it)
UNAVAILABLE: dict[str, str] = {}


def install_or_skip(label: str) -> KeaInstall:
    """The installation for ``label``, or skip the calling test with the reason."""
    found = find_install(label)
    if isinstance(found, str):
        UNAVAILABLE[label] = found
        pytest.skip(f"Kea {label} not available: {found}")
    return found


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "kea_install" in metafunc.fixturenames:
        labels = selected_labels()
        metafunc.parametrize("kea_install", labels, indirect=True, ids=[f"kea{x}" for x in labels])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kea3 = default_label(True) or "3.0"
    if kea3 not in selected_labels():
        why = f"Kea {kea3} not selected (KEA_ETL_KEA={os.environ.get('KEA_ETL_KEA', '')})"
    else:
        found = find_install(kea3) if any(i.get_closest_marker("kea3") for i in items) else None
        why = found if isinstance(found, str) else ""
        if why:
            UNAVAILABLE[kea3] = why
    if why:
        for item in items:
            if item.get_closest_marker("kea3"):
                item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture
def kea_install(request: pytest.FixtureRequest) -> KeaInstall:
    """One selected Kea installation (parametrised over ``KEA_ETL_KEA``)."""
    return install_or_skip(str(request.param))


class _VersionServers:
    def __init__(self) -> None:
        self.servers: dict[tuple[str, int], KeaServer] = {}
        self.errors: dict[tuple[str, int], str] = {}

    def get(self, install: KeaInstall, family: int) -> KeaServer:
        key = (install.label, family)
        if key in self.errors:
            pytest.fail(self.errors[key], pytrace=False)
        srv = self.servers.get(key)
        if srv is None:
            try:
                srv = start_kea(family=family, kea=install, name=f"session-kea{install.label}-dhcp{family}")
            except KeaStartError as exc:
                self.errors[key] = f"real Kea {install.version} could not start: {exc}"
                pytest.fail(self.errors[key], pytrace=False)
            self.servers[key] = srv
        return srv.reset()

    def close(self) -> None:
        for srv in self.servers.values():
            srv.close()


@pytest.fixture(scope="session")
def _kea_version_servers() -> Iterator[_VersionServers]:
    pool = _VersionServers()
    yield pool
    pool.close()


@pytest.fixture
def kea_v4(kea_install: KeaInstall, _kea_version_servers: _VersionServers) -> KeaServer:
    """kea-dhcp4 of the selected version (UNIX socket; HTTP on 3.x), clean state."""
    return _kea_version_servers.get(kea_install, 4)


@pytest.fixture
def kea_v6(kea_install: KeaInstall, _kea_version_servers: _VersionServers) -> KeaServer:
    """kea-dhcp6 of the selected version, clean state."""
    return _kea_version_servers.get(kea_install, 6)


def pytest_report_header(config: pytest.Config) -> str:
    return f"Kea versions selected (KEA_ETL_KEA): {', '.join(selected_labels())}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not UNAVAILABLE:
        return
    terminalreporter.section("Kea versions not available (their tests were skipped)")
    for label, why in sorted(UNAVAILABLE.items()):
        terminalreporter.write_line(f"Kea {label}: {why}")
