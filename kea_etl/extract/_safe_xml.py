"""Safe XML for configuration exports (pfSense/OPNsense config.xml, Windows Export-DhcpServer).

:func:`parse` builds an :mod:`xml.etree.ElementTree` tree with expat directly, so that:

* a document type declaration, an entity declaration or an external entity reference is refused
  before any element is built (``<!DOCTYPE`` is where entities are declared: "billion laughs"
  and external-entity reads start there); the appliances and Windows never write one;
* each element carries the line of its start tag (``line(el)``), for messages and warnings;
* namespace prefixes are dropped from tag names (Windows writes a default ``xmlns``), so callers
  match plain names.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
import xml.parsers.expat
from pathlib import Path

from kea_etl._files import open_regular
from kea_etl.errors import ConfigError

__all__ = ["line", "parse", "text"]

_LINE = "{kea-etl}line"


class _Refused(Exception):
    pass


def _refuse_dtd(*_args: object) -> None:
    raise _Refused("a document type declaration (<!DOCTYPE ...>) is refused: it can declare "
                   "entities that expand without bound or read other files")


def _refuse_external(*_args: object) -> int:
    raise _Refused("an external entity reference is refused")


def parse(path: str | Path, *, roots: tuple[str, ...], what: str) -> ET.Element:
    """The root element of ``path`` (one of ``roots``). Raises :class:`ConfigError` for a file
    that is not such XML, naming ``what`` it should be."""
    p = Path(path)
    expat = xml.parsers.expat.ParserCreate()
    builder = ET.TreeBuilder()
    expat.StartDoctypeDeclHandler = _refuse_dtd
    expat.EntityDeclHandler = _refuse_dtd
    expat.ExternalEntityRefHandler = _refuse_external

    def start(tag: str, attrs: dict[str, str]) -> None:
        builder.start(tag.rpartition(":")[2], {**attrs, _LINE: str(expat.CurrentLineNumber)})

    def end(tag: str) -> None:
        builder.end(tag.rpartition(":")[2])

    expat.StartElementHandler = start
    expat.EndElementHandler = end
    expat.CharacterDataHandler = builder.data
    try:
        with open_regular(p, what=what) as fh:
            while chunk := fh.read(1 << 16):
                expat.Parse(chunk, False)
            expat.Parse(b"", True)
        root = builder.close()
    except _Refused as exc:
        raise ConfigError(f"{p}: {exc}") from None
    except xml.parsers.expat.ExpatError as exc:
        raise ConfigError(f"{p} is not well-formed XML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {p}: {exc.strerror or exc}") from exc
    if root.tag not in roots:
        raise ConfigError(f"{p}: root element <{root.tag}>, not "
                          + " or ".join(f"<{r}>" for r in roots) + f" ({what})")
    return root


def line(el: ET.Element) -> int:
    """The line of ``el``'s start tag."""
    return int(el.get(_LINE, "0"))


def text(el: ET.Element | None) -> str:
    """``el``'s text, stripped ("" for a missing element)."""
    return (el.text or "").strip() if el is not None else ""
