"""The click layer as a whole: rules every kea-etl command follows."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from kea_etl.cli import COMMANDS, main


def _single_valued() -> list[tuple[str, str, bool]]:
    """(command, option, is_flag) for every option of every command that takes one value."""
    ctx = click.Context(main)
    out = []
    for name in COMMANDS:
        cmd = main.get_command(ctx, name)
        assert cmd is not None
        for p in cmd.params:
            if isinstance(p, click.Option) and not (p.multiple or p.count or p.is_eager):
                out.append((name, p.opts[0], p.is_flag))
    return out


def test_repeated_service_is_a_usage_error(tmp_path: object) -> None:
    """``--service dhcp4 --service dhcp6`` kept dhcp6 silently; every v4 lease then failed."""
    res = CliRunner().invoke(main, ["migrate", "dhcpd.leases", "--to", "kea:http://127.0.0.1:1",
                                    "--service", "dhcp4", "--service", "dhcp6"])
    assert res.exit_code == 2
    assert "Error: option --service given more than once; it takes one value" in res.output


@pytest.mark.parametrize(("command", "option", "flag"), _single_valued(),
                         ids=lambda v: str(v))
def test_every_single_valued_option_refuses_a_repeat(command: str, option: str,
                                                     flag: bool) -> None:
    twice = [option, option] if flag else [option, "1", option, "2"]
    res = CliRunner().invoke(main, [command, *twice])
    assert res.exit_code == 2, res.output
    assert f"option {option}" in res.output and "given more than once" in res.output


def test_multiple_options_still_repeat() -> None:
    res = CliRunner().invoke(main, ["migrate", "--help"])
    assert res.exit_code == 0
    # --to and --kea-config are multiple: giving them twice is not refused by the parser
    res = CliRunner().invoke(main, ["migrate", "nonexistent.leases", "--to", "memfile:/nonexistent/x",
                                    "--kea-config", "a.json", "--kea-config", "b.json"])
    assert "given more than once" not in res.output
