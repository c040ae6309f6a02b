"""The ``kea-etl`` command line: a thin click layer over the library.

Each sub-command lives in its own module in this package and is registered here. Commands parse
options, build library objects, call one library function and render the result; a
:class:`~kea_etl.errors.KeaEtlError` becomes one clear line on stderr and exit code 2.
"""

from __future__ import annotations

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


def _register() -> None:
    # Sub-command modules register themselves on import; keep this list sorted.
    from kea_etl.cli import export_cmd, kea_cmd, migrate_cmd, reconcile_cmd, run_cmd  # noqa: F401


_register()
