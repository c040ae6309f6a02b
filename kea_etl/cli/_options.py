"""Click options derived from the typed option dataclasses of :mod:`kea_etl.options`.

:func:`click_options` turns every field of such a dataclass into a click option (flags, help,
type, default, choices, range, environment variable from the field's
:class:`~kea_etl.options.Option`); :func:`from_click` takes those parameters back out of a
command's keyword arguments as one typed instance. The pipeline reads the same fields
(:func:`kea_etl.options.from_step`), so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

import click

from kea_etl.options import Option, element_type, option_fields

__all__ = ["click_options", "from_click"]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def _click_option(name: str, opt: Option, tp: Any, default: Any) -> Callable[[F], F]:
    if opt.argument:  # SOURCE...: click arguments have no help (the docstring says it)
        return click.argument(name, nargs=-1, required=opt.required, metavar=opt.metavar)
    base, several = element_type(tp)
    flags = opt.flags or (f"--{name.replace('_', '-')}",)
    kw: dict[str, Any] = {"help": opt.help}
    if base is bool:
        kw["is_flag"] = True
        if default is True:  # --no-stats: the flag turns it off
            kw.update(flag_value=False, default=True)
    else:
        kw["default"] = () if several else default
        kw["multiple"] = several
        if opt.metavar:
            kw["metavar"] = opt.metavar
        if opt.show_default:
            kw["show_default"] = True
        if opt.choices:
            kw["type"] = click.Choice(list(opt.choices))
        elif base is int:
            kw["type"] = (click.IntRange(opt.minimum, opt.maximum)
                          if opt.minimum is not None or opt.maximum is not None else int)
        elif base is float:
            kw["type"] = float
        elif base is date:
            kw["type"] = click.DateTime(["%Y-%m-%d"])
    if opt.envvar:
        kw["envvar"] = opt.envvar
    if opt.required:
        kw["required"] = True
    return click.option(*flags, name, **kw)


def click_options(cls: type) -> Callable[[F], F]:
    """A decorator adding one click option per field of ``cls``, in field order."""
    def decorate(f: F) -> F:
        for fld, opt, tp in reversed(option_fields(cls)):
            f = _click_option(fld.name, opt, tp, fld.default)(f)
        return f
    return decorate


def from_click(cls: type[T], params: dict[str, Any]) -> T:
    """The instance of ``cls`` held by a command's parameters; its fields are removed from
    ``params`` (what is left is the command's own)."""
    values = {f.name: params.pop(f.name) for f, _, _ in option_fields(cls)}
    for f, _, tp in option_fields(cls):  # click gives a datetime for a date
        if element_type(tp)[0] is date and isinstance(values[f.name], datetime):
            values[f.name] = values[f.name].date()
    return cls(**values)
