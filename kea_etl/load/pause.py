"""A quiet cutover window: ``--pause-service`` and ``--reclaim`` around a live load.

:class:`ServiceWindow` wraps any live loader (one Kea, or an :class:`~kea_etl.load.ha.HAPairLoader`)
and is itself a :class:`~kea_etl.load.base.Loader`:

* when the load starts it sends ``dhcp-disable`` with ``max-period`` to **every** target, so no
  client is handed an address while the leases are going in. ``max-period`` makes Kea turn
  service back on by itself if kea-etl dies (kill -9, power): DHCP can never stay off for good.
  While the load runs longer than that, a background thread repeats ``dhcp-disable`` every third
  of the period (Kea restarts its re-enable timer on each call), so the window does not open
  early. A target that refuses ``dhcp-disable`` stops the run before anything is loaded (and the
  targets already disabled are enabled again);
* after the load (``commit``), ``--reclaim`` sends ``leases-reclaim`` to every target, so leases
  that had already expired when loaded are reclaimed now rather than at Kea's next timer;
* ``dhcp-enable`` is sent to every disabled target on success, on failure and on Ctrl-C
  (``abort``, called by the orchestrator for any exception). SIGTERM is turned into the same
  path while the window is open. Ctrl-C and SIGTERM are held off while ``dhcp-enable`` is being
  sent, so a second Ctrl-C cannot leave a server disabled.

The report gets ``pause`` (targets, max-period, seconds paused, refreshes) and
``reclaim``. A dry run sends neither disable nor enable nor reclaim (it only says it
would).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from kea_etl.errors import ConfigError, KeaCommandError, KeaEtlError
from kea_etl.load.base import LiveLoader, Loader, LoadOutcome, LoadRecord
from kea_etl.report import RunReport

if TYPE_CHECKING:
    from kea_etl.kea import KeaClient
    from kea_etl.transform.subnets import SubnetMap

__all__ = ["DEFAULT_MAX_PERIOD", "ServiceWindow", "target_clients"]

#: seconds after which Kea re-enables service by itself if kea-etl is gone
DEFAULT_MAX_PERIOD = 300
ENABLE_ATTEMPTS = 3


def target_clients(loader: Loader) -> list[KeaClient]:
    """The Kea clients of a live loader (``clients`` of an HA loader, or its one ``client``)."""
    if not isinstance(loader, LiveLoader):
        raise ConfigError(f"--pause-service / --reclaim need a live kea:URL target, not "
                          f"{loader.name}")
    return list(loader.clients)


class ServiceWindow:
    """Wraps ``inner``: dhcp-disable before its load, leases-reclaim and dhcp-enable after."""

    def __init__(self, inner: Loader, *, pause: bool = True,
                 max_period: int = DEFAULT_MAX_PERIOD, reclaim: bool = False,
                 dry_run: bool = False, refresh: bool = True) -> None:
        if max_period < 1:
            raise ConfigError(f"--pause-max-period {max_period}: must be at least 1 second")
        self.inner = inner
        self.clients = target_clients(inner)
        self.pause = pause
        self.max_period = max_period
        self.reclaim = reclaim
        self.dry_run = dry_run
        self.refresh = refresh
        self.name = inner.name
        self.can_retract = inner.can_retract
        self.disabled: list[KeaClient] = []
        self.paused_at: float | None = None
        self.seconds: float | None = None
        self.refreshes = 0
        self.refresh_errors: list[str] = []
        self.enable_errors: list[str] = []
        self.reclaimed: dict[str, str] = {}
        self._report: RunReport | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._old_term: Any = None
        self._term_installed = False

    # a LiveLoader like the loader it wraps
    def fetch_subnets(self) -> SubnetMap:
        assert isinstance(self.inner, LiveLoader)  # target_clients checked it
        return self.inner.fetch_subnets()

    def state_paths(self) -> list[Path]:
        assert isinstance(self.inner, LiveLoader)
        return self.inner.state_paths()

    # -- Loader protocol ---------------------------------------------------------------------
    def load(self, records: Iterable[LoadRecord], report: RunReport) -> None:
        self._report = report
        if self.pause:
            if self.dry_run:
                report.pause = {"would_pause": [_url(c) for c in self.clients],
                                "max_period": self.max_period}
            else:
                self._disable_all()
        self.inner.load(records, report)

    def retract(self, conflicts: Sequence[Any], report: RunReport) -> None:
        self.inner.retract(conflicts, report)

    def commit(self) -> LoadOutcome:
        try:
            if self.reclaim:
                self._reclaim_all()
        finally:
            self._enable_all()
        out = self.inner.commit()
        self._record()
        return out

    def abort(self) -> None:
        try:
            self._enable_all()
        finally:
            self.inner.abort()
            self._record()

    # -- the window --------------------------------------------------------------------------
    def _disable_all(self) -> None:
        self.paused_at = time.monotonic()
        self._install_term_handler()
        for c in self.clients:
            try:
                c.dhcp_disable(max_period=self.max_period)
            except KeaEtlError as exc:
                self._enable_all()
                raise ConfigError(f"--pause-service: {_url(c)} refused dhcp-disable ({exc}); "
                                  "nothing was loaded") from exc
            self.disabled.append(c)
        if self.refresh:
            self._thread = threading.Thread(target=self._keep_disabled,
                                            name="kea-etl-pause", daemon=True)
            self._thread.start()

    def _keep_disabled(self) -> None:
        every = max(1.0, self.max_period / 3)
        while not self._stop.wait(every):
            for c in list(self.disabled):
                try:
                    c.dhcp_disable(max_period=self.max_period)
                    self.refreshes += 1
                except KeaEtlError as exc:  # the load itself will notice a dead server
                    self.refresh_errors.append(f"{_url(c)}: {exc}")

    def _enable_all(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if not self.disabled:
            self._restore_term_handler()
            return
        with _signals_held():
            for c in self.disabled:
                last: Exception | None = None
                for _ in range(ENABLE_ATTEMPTS):
                    try:
                        c.dhcp_enable()
                        last = None
                        break
                    except KeaEtlError as exc:
                        last = exc
                if last is not None:
                    self.enable_errors.append(
                        f"{_url(c)}: dhcp-enable failed ({last}); Kea re-enables service by "
                        f"itself at the latest {self.max_period} s after the last dhcp-disable")
            self.disabled = []
            if self.paused_at is not None:
                self.seconds = time.monotonic() - self.paused_at
        self._restore_term_handler()

    def _reclaim_all(self) -> None:
        if self.dry_run:
            self.reclaimed = {_url(c): "would run leases-reclaim" for c in self.clients}
            return
        for c in self.clients:
            try:
                r = c.leases_reclaim()
                self.reclaimed[_url(c)] = r.text or "ok"
            except (KeaCommandError, KeaEtlError) as exc:
                self.reclaimed[_url(c)] = f"failed: {exc}"
                if self._report is not None:
                    self._report.warn("leases-reclaim failed", key=_url(c), detail=str(exc))

    def _record(self) -> None:
        report = self._report
        if report is None:
            return
        if self.pause and not self.dry_run:
            pause: dict[str, Any] = {
                "targets": [_url(c) for c in self.clients],
                "max_period": self.max_period,
                "seconds": round(self.seconds, 3) if self.seconds is not None else None,
                "refreshes": self.refreshes,
                "enabled_again": not self.enable_errors,
            }
            if self.enable_errors:
                pause["enable_errors"] = self.enable_errors
                for e in self.enable_errors:
                    report.warn("dhcp-enable failed", detail=e)
            if self.refresh_errors:
                pause["refresh_errors"] = self.refresh_errors[:10]
            report.pause = pause
        if self.reclaim:
            report.reclaim = self.reclaimed

    # -- SIGTERM -> the Ctrl-C path ----------------------------------------------------------
    def _install_term_handler(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def on_term(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt(f"signal {signum}")

        self._old_term = signal.signal(signal.SIGTERM, on_term)
        self._term_installed = True

    def _restore_term_handler(self) -> None:
        if self._term_installed and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._old_term)
            self._term_installed = False


@contextmanager
def _signals_held() -> Iterator[None]:
    """Ignore Ctrl-C / SIGTERM while dhcp-enable is sent (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _url(client: KeaClient) -> str:
    return str(getattr(client, "url", "?"))
