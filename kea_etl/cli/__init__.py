"""The ``kea-etl`` command line: a thin click layer over the library.

Each sub-command lives in its own module in this package and is registered here. Commands parse
options, build library objects, call one library function and render the result; a
:class:`~kea_etl.errors.KeaEtlError` becomes one clear line on stderr and exit code 2. Anything
else that escapes a command is a bug: one line and exit 3 (never 1, which means "some records
failed"). Everything printed goes through :func:`kea_etl.terminal.echo` (input text escaped).
"""

from __future__ import annotations

import functools
import importlib
import os
import traceback
import warnings
from collections.abc import Callable
from typing import Any, TextIO

import click

from kea_etl import __version__
from kea_etl.errors import KeaEtlError
from kea_etl.report import quote
from kea_etl.terminal import echo, printable

#: exit codes shared by every command (README "Exit codes"): 1 is for record-level failures only
EXIT_OK, EXIT_RECORDS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
#: set to 1 to print the traceback of an internal error
TRACEBACK_ENV = "KEA_ETL_TRACEBACK"

#: sub-command name -> the module that defines it (imported only when the command runs, so
#: ``kea-etl migrate`` does not pay for importing export, reconcile, ...); keep sorted
COMMANDS = {
    "check": "kea_etl.cli.check_cmd",
    "convert": "kea_etl.cli.convert_cmd",
    "export": "kea_etl.cli.export_cmd",
    "history": "kea_etl.cli.history_cmd",
    "kea": "kea_etl.cli.kea_cmd",
    "migrate": "kea_etl.cli.migrate_cmd",
    "reconcile": "kea_etl.cli.reconcile_cmd",
    "run": "kea_etl.cli.run_cmd",
}


class StrictCommand(click.Command):
    """A click command that refuses a single-valued option given more than once.

    click itself keeps the last value (``--service dhcp4 --service dhcp6`` silently became
    dhcp6 and every v4 lease then failed as "wrong address family"). The parser records every
    option occurrence in order, so one check here covers every option of every command:
    an option that is not ``multiple`` and not a counter may appear once (a ``--x/--no-x`` pair
    counts as one option). Usage error, exit 2.
    """

    def make_parser(self, ctx: click.Context) -> Any:
        parser = super().make_parser(ctx)
        parse = parser.parse_args

        def parse_once(args: list[str]) -> Any:
            opts, largs, order = parse(args=args)
            if not ctx.resilient_parsing:
                _refuse_repeats(ctx, order)
            return opts, largs, order

        setattr(parser, "parse_args", parse_once)  # noqa: B010 - wraps this parser only
        return parser


def _refuse_repeats(ctx: click.Context, order: list[click.Parameter]) -> None:
    seen: set[int] = set()
    for param in order:
        if not isinstance(param, click.Option) or param.multiple or param.count:
            continue
        if id(param) in seen:
            names = "/".join(param.opts + param.secondary_opts)
            raise click.UsageError(f"option {names} given more than once; it takes one value "
                                   "(give it once)", ctx=ctx)
        seen.add(id(param))


def _internal_error(exc: BaseException) -> None:
    """One line for a crash; the traceback only when asked (it may quote input data)."""
    what = str(exc).strip().splitlines()
    detail = f": {quote(what[0])}" if what else ""
    echo(f"Error: internal error ({type(exc).__name__}{detail}); this is a bug in kea-etl, "
         f"nothing more was done (exit {EXIT_INTERNAL}; set {TRACEBACK_ENV}=1 to see where)",
         err=True)
    if os.environ.get(TRACEBACK_ENV) == "1":
        echo("".join(traceback.format_exception(exc)), err=True)


class _LazyGroup(click.Group):
    """A click group whose sub-command modules are imported on first use (they register
    themselves on ``main`` with ``@main.command`` when imported). Its commands are
    :class:`StrictCommand` s."""

    command_class = StrictCommand

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def invoke(self, ctx: click.Context) -> Any:
        # Only while a command runs: importing kea_etl.cli (a test, a notebook) leaves the
        # process's warning display alone.
        with warnings.catch_warnings():
            warnings.showwarning = functools.partial(_show_warning, warnings.showwarning)
            try:
                return super().invoke(ctx)
            except click.ClickException as exc:  # a usage error quotes what was typed
                setattr(exc, "message", printable(exc.message))  # noqa: B010 - Final in click
                raise
            except (click.exceptions.Exit, click.Abort):
                raise
            except KeaEtlError as exc:  # a command that did not catch its own
                echo(f"Error: {exc}", err=True)
                ctx.exit(EXIT_USAGE)
            except Exception as exc:  # noqa: BLE001 - a bug: never exit 1 ("records failed")
                _internal_error(exc)
                ctx.exit(EXIT_INTERNAL)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(COMMANDS[cmd_name])
        return self.commands.get(cmd_name)


@click.group(cls=_LazyGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="kea-etl")
def main() -> None:
    """Move DHCP leases and reservations into, out of and around ISC Kea.

    \b
    Examples:
      kea-etl kea version-get --url unix:///run/kea/kea4.sock
      kea-etl migrate sample-data/dhcpd.leases --to memfile:out --kea-config sample-data/kea-dhcp4.json
    """
    from kea_etl.extract import isc_leases

    # the one place the parser's switches are read from the environment (docs/isc-leases.md)
    isc_leases.tune(**isc_leases.tuning_from_environ(os.environ))


def _show_warning(previous: Callable[..., None], message: Warning | str, category: type[Warning],
                  filename: str, lineno: int, file: TextIO | None = None,
                  line: str | None = None) -> None:
    """kea_etl's SecurityWarning (e.g. --insecure) as one clear line; others as Python shows them."""
    from kea_etl.kea.transports import SecurityWarning

    if issubclass(category, SecurityWarning):
        echo(f"Warning: {message}", err=True)
        return
    previous(message, category, filename, lineno, file, line)
