"""``kea-etl kea``: send any command to a Kea server and print the answer (a kea-shell that also
speaks UNIX sockets and Kea 3's HTTP), or list what the server supports."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from kea_etl.cli import main
from kea_etl.cli.export_cmd import connection, connection_options
from kea_etl.errors import ConfigError, KeaCommandError, KeaEtlError, KeaUnsupportedError
from kea_etl.kea import DEFAULT_PASSWORD_ENV, KeaClient, hook_for
from kea_etl.kea.hooks import unknown_command
from kea_etl.terminal import echo, printable

EXIT_KEA_ERROR = 1
EXIT_USAGE = 2


def _fail(message: str | tuple[str, int], code: int = EXIT_USAGE) -> None:
    if isinstance(message, tuple):
        message, code = message
    echo(f"Error: {message}", err=True)
    sys.exit(code)


def _unsupported(exc: KeaUnsupportedError, connect: Callable[[], KeaClient],
                 url: str | None) -> tuple[str, int]:
    """Result 2: a typo (exit 2, with the closest commands) or a hook not loaded (exit 1)."""
    try:
        with connect() as client:
            available = client.list_commands()
    except KeaEtlError:
        return str(exc), EXIT_KEA_ERROR
    close = unknown_command(exc.command, available)
    if close is None:
        return str(exc), EXIT_KEA_ERROR
    hint = (f"did you mean {' or '.join(close)}?" if close else
            f"'kea-etl kea --list --url {url}' shows the commands it has")
    return (f"unknown command '{exc.command}': {url} does not list it (list-commands) and it is "
            f"no Kea command kea-etl knows; {hint}", EXIT_USAGE)


def _load_args(args_json: str | None, args_file: str | None) -> Any:
    if args_json is not None and args_file is not None:
        raise click.UsageError("give --args or --args-file, not both")
    if args_file is not None:
        try:
            text = sys.stdin.read() if args_file == "-" else Path(args_file).read_text("utf-8")
        except OSError as exc:
            raise click.UsageError(f"cannot read --args-file {args_file}: "
                                   f"{exc.strerror or exc}") from None
        where = f"--args-file {args_file}"
    elif args_json is not None:
        text, where = args_json, "--args"
    else:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise click.UsageError(f"{where} is not valid JSON: {exc}") from None


def _render_list(client: KeaClient) -> str:
    commands = sorted(client.list_commands())
    groups: dict[str, list[str]] = {}
    for cmd in commands:
        groups.setdefault(hook_for(cmd) or "built-in", []).append(cmd)
    version = client.version_get()
    lines = [f"Kea {version} at {client.url}: {len(commands)} commands"]
    width = max(len(g) for g in groups) if groups else 0
    for hook in sorted(groups, key=lambda g: (g != "built-in", g)):
        lines.append(f"{hook:<{width}}  {' '.join(groups[hook])}")
    return "\n".join(lines)


@main.command("kea")
@click.argument("command", required=False)
@click.option("--args", "args_json", metavar="JSON", help="Command arguments as JSON.")
@click.option("--args-file", metavar="FILE", help="Read the arguments (JSON) from FILE ('-' = stdin).")
@click.option("--list", "list_commands", is_flag=True,
              help="Show the commands the server supports, grouped by hook library.")
@click.option("--url", envvar="KEA_ETL_URL", metavar="URL",
              help="unix:///path/kea4.sock, http://HOST:PORT or https://HOST:PORT "
                   "[env KEA_ETL_URL].")
@click.option("--service", metavar="NAME",
              help="Daemon behind kea-ctrl-agent: dhcp4, dhcp6, d2 (Kea 2.x Control Agent only).")
@connection_options
@click.option("--retries", type=click.IntRange(0, 20), default=3, show_default=True,
              help="Retries on transport errors (refused, timeout, reset, HTTP 5xx).")
def kea(command: str | None, args_json: str | None, args_file: str | None, list_commands: bool,
        url: str | None, service: str | None, retries: int, **params: Any) -> None:
    """Send COMMAND to a Kea server and print its answer as JSON.

    Works over the daemon's UNIX socket, through kea-ctrl-agent (Kea 2.x, give --service) and
    straight to a Kea 3 daemon's HTTP socket. Passwords never go on the command line: they come
    from an environment variable or a file.

    Exit status: 0 when Kea answers success or "empty" (result 0 or 3); 1 when Kea refuses the
    command (result 1, 4, or 2 = not supported: the message names the missing hook); 2 on a
    usage error, an unknown command (the server's list-commands and kea-etl's command list do
    not have it; the closest ones are named) or when no Kea answer arrives (bad URL, refused,
    401, timeout).

    \b
    Example:
      kea-etl kea version-get --url unix:///run/kea/kea4.sock
      kea-etl kea lease4-get --args '{"ip-address": "192.0.2.10"}' --url http://127.0.0.1:8000 --service dhcp4
      KEA_ETL_PASSWORD=secret kea-etl kea --list --url https://kea:8004 --user admin --ca-file ca.pem
    """
    if list_commands == (command is not None):
        raise click.UsageError("give a COMMAND (e.g. version-get) or --list")
    arguments = _load_args(args_json, args_file)
    if list_commands and arguments is not None:
        raise click.UsageError("--list takes no --args")
    conn = connection(params)
    try:
        creds = conn.credentials(os.environ)
        if creds.username is not None and creds.kea_password() is None:
            raise ConfigError(f"--user {creds.username} given but no password: set "
                              f"{DEFAULT_PASSWORD_ENV}, or use --password-env VAR or "
                              "--password-file FILE")
        if not url:
            raise ConfigError("no Kea URL: use --url or set KEA_ETL_URL (e.g. "
                              "unix:///run/kea/kea4.sock or http://127.0.0.1:8000)")
        with creds.kea_client(url, service=service, timeout=conn.timeout,
                              retries=retries) as client:
            if list_commands:
                echo(_render_list(client))
                return
            assert command is not None
            resp = client.call(command, arguments)
    except KeaUnsupportedError as exc:
        _fail(_unsupported(exc, lambda: creds.kea_client(str(url), service=service,
                                                         timeout=conn.timeout, retries=retries), url))
        return
    except KeaCommandError as exc:
        _fail(str(exc), EXIT_KEA_ERROR)
        return
    except KeaEtlError as exc:
        _fail(str(exc), EXIT_USAGE)
        return
    reply: dict[str, Any] = {"result": resp.result, "text": resp.text}
    if resp.arguments is not None:
        reply["arguments"] = resp.arguments
    text = json.dumps(reply, indent=2, ensure_ascii=False)
    if text != printable(text, keep_newlines=True):
        # JSON escapes C0 controls itself but not C1 / bidi controls: stay valid JSON, in ASCII
        text = json.dumps(reply, indent=2)
    echo(text)
