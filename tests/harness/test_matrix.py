"""The version selector itself: KEA_ETL_KEA / KEA_ETL_KEA_PATH parsing and the reasons a version
is not available (no servers started)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import kea


def test_default_selects_every_supported_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEA_ETL_KEA", raising=False)
    monkeypatch.delenv("KEA_ETL_KEA_PATH", raising=False)
    assert kea.selected_labels() == ["2.2", "2.6", "3.0", "3.2"]


def test_selection_and_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KEA_ETL_KEA", " 3.2, 2.6 ")
    monkeypatch.setenv("KEA_ETL_KEA_PATH", str(tmp_path))
    assert kea.selected_labels() == ["3.2", "2.6", "path"]
    assert kea.install_at(tmp_path) == (f"no Kea at {tmp_path} (neither sbin/kea-dhcp4 nor "
                                        "usr/sbin/kea-dhcp4)")


def test_missing_versions_say_why(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KEA_ETL_KEA32_PREFIX", str(tmp_path / "none"))
    monkeypatch.setenv("KEA_ETL_KEA32_SRC", str(tmp_path / "kea-3.2.0.tar.xz"))
    monkeypatch.setenv("KEA_ETL_KEA26_ROOT", str(tmp_path / "no-rootfs"))
    kea.find_install.cache_clear()
    try:
        host = kea.host_kea_version() or ""
        why32 = kea.find_install("3.2")
        assert why32 == (f"no Kea 3.2 source tarball at {tmp_path / 'kea-3.2.0.tar.xz'}, so no "
                         f"Kea 3.2 build at {tmp_path / 'none'}")
        if not host.startswith("2.6."):
            assert kea.find_install("2.6") == (f"no Kea 2.6 root filesystem at {tmp_path / 'no-rootfs'}: "
                                               "build it with scripts/kea26-rootfs")
        assert kea.find_install("9.9") == "unknown Kea version '9.9' (known: 2.2, 2.6, 3.0, 3.2, path)"
        with pytest.raises(kea.KeaStartError, match="no Kea 3.2 source tarball"):
            kea.resolve_install("3.2")
    finally:
        kea.find_install.cache_clear()
