"""The ``kea-etl`` command line: a thin click layer over the library.

Each sub-command lives in its own module in this package and is registered here. Commands parse
options, build library objects, call one library function and render the result; a
:class:`~kea_etl.errors.KeaEtlError` becomes one clear line on stderr and exit code 2.
"""

from __future__ import annotations

import warnings
from typing import TextIO

import click

from kea_etl import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="kea-etl")
def main() -> None:
    """Move DHCP leases and reservations into, out of and around ISC Kea.

    \b
    Examples:
      kea-etl kea version-get --url unix:///run/kea/kea4.sock
      kea-etl migrate sample-data/dhcpd.leases --to memfile:out --kea-config sample-data/kea-dhcp4.json
    """


# --- security warnings (issue 6): kea_etl.kea.transports.SecurityWarning as one clear line
_default_showwarning = warnings.showwarning


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:
    from kea_etl.kea.transports import SecurityWarning

    if issubclass(category, SecurityWarning):
        click.echo(f"Warning: {message}", err=True)
        return
    _default_showwarning(message, category, filename, lineno, file, line)


warnings.showwarning = _show_warning
# --- end security warnings


def _register() -> None:
    # Sub-command modules register themselves on import; keep this list sorted.
    from kea_etl.cli import export_cmd, kea_cmd, migrate_cmd, reconcile_cmd, run_cmd  # noqa: F401


_register()
