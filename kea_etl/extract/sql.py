"""SQL extractor: leases or reservations from any database SQLAlchemy reaches, read in chunks.

``extract(url, table=... | query=..., mapping=None, chunksize=10_000)`` runs one ``SELECT`` with a
server-side cursor (``stream_results`` + ``yield_per``: PostgreSQL uses a named cursor, MySQL /
MariaDB an unbuffered one), so only one chunk of rows is in memory. Each row goes through the same
column mapping as the CSV extractor (:mod:`kea_etl.extract.mapping`); the "line" of a bad row is
its 1-based row number in the result.

Values keep their database types: an integer address is an IPv4 address (Kea's own ``lease4``
table stores it so), ``bytea`` / ``VARBINARY`` ids are raw bytes, ``timestamptz`` is an aware
datetime. A naive ``TIMESTAMP`` (MySQL, or PostgreSQL without time zone) needs ``timezone`` in
the mapping, because kea-etl never guesses local time.

For Kea's own MySQL schema select ``UNIX_TIMESTAMP(expire) AS expire``: the column is a
``TIMESTAMP`` in the session time zone, and the server converts it exactly.

The source name in reports is the URL with its password hidden, plus the table or ``query``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from kea_etl.errors import ConfigError, InvalidURLError, MalformedRecordError
from kea_etl.extract.base import ExtractItem
from kea_etl.extract.mapping import ColumnMapping, RowConverter, resolve_mapping
from kea_etl.urls import redact_url, refuse_password

__all__ = ["extract", "sniff"]

_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?")


def sniff(head: bytes) -> bool:
    """SQL sources are URLs, not files: never detected from file content."""
    return False


def is_url(source: str) -> bool:
    """True when ``source`` looks like a SQLAlchemy URL (``dialect[+driver]://...``)."""
    return bool(re.match(r"^[a-z][a-z0-9]*(\+[a-z0-9_]+)?://", source)) and not source.startswith(
        ("http://", "https://", "unix://", "file://"))


def _quote_table(engine: Engine, table: str) -> str:
    if not _TABLE.fullmatch(table):
        raise ConfigError(f"table name {table!r} is not a plain identifier (schema.table); "
                          "use query= for anything else")
    prep = engine.dialect.identifier_preparer
    return ".".join(prep.quote(part) for part in table.split("."))


def extract(url: str, *, table: str | None = None, query: str | None = None,
            params: Mapping[str, Any] | None = None,
            mapping: ColumnMapping | Mapping[str, Any] | str | Path | None = None,
            kind: str | None = None, chunksize: int = 10_000,
            engine: Engine | None = None) -> Iterator[ExtractItem]:
    """Stream records from a table or a query.

    ``url``: SQLAlchemy URL (``postgresql://user@host/db``, ``mysql+pymysql://root@host/db``,
    ``sqlite:///path.db``). ``table`` or ``query`` (exactly one; a ``query`` that is a bare
    ``[schema.]table`` name is taken as the table); ``params`` binds ``:name`` placeholders.
    ``mapping`` / ``kind`` as for the CSV extractor. ``engine``: reuse an existing engine instead
    of creating one from ``url``.
    """
    if table is None and query is not None and _TABLE.fullmatch(query.strip()):
        table, query = query.strip(), None  # `--query leases`: a bare table name
    if (table is None) == (query is None):
        raise ConfigError("give exactly one of table= or query= for a SQL source")
    if chunksize < 1:
        raise ConfigError(f"chunksize must be at least 1, got {chunksize}")
    own_engine = engine is None
    try:
        safe_url = make_url(url).render_as_string(hide_password=True)
    except ArgumentError as exc:
        raise InvalidURLError(f"{redact_url(url)!r} is not a SQLAlchemy URL "
                              f"(dialect://user@host/db): {exc}") from exc
    if engine is None:
        engine = engine_for(url, safe_url)
    sql = query if query is not None else f"SELECT * FROM {_quote_table(engine, table or '')}"
    source = f"{safe_url} {table}" if table is not None else f"{safe_url} query"
    try:
        try:
            conn = engine.connect()
        except SQLAlchemyError as exc:
            raise ConfigError(f"cannot connect to {safe_url}: {_short(exc)}") from exc
        with conn:
            conn = conn.execution_options(stream_results=True, yield_per=chunksize)
            try:
                result = conn.execute(text(sql), dict(params or {}))
            except SQLAlchemyError as exc:
                raise ConfigError(f"{source}: the query failed: {_short(exc)}") from exc
            keys = result.keys()
            columns = [str(c) for c in keys]
            converter: RowConverter | None = None
            rowno = 0
            try:
                for partition in result.mappings().partitions(chunksize):
                    for mrow in partition:
                        row: dict[str, Any] = dict(mrow)
                        rowno += 1
                        if converter is None:
                            resolved = resolve_mapping(mapping, columns, first_row=row, kind=kind,
                                                       where=source)
                            converter = RowConverter(resolved, source=source)
                        yield converter.convert(row, rowno)
            except SQLAlchemyError as exc:
                yield MalformedRecordError(source, rowno + 1, None,
                                           f"reading stopped after row {rowno}: {_short(exc)}")
                return
            if converter is None:
                # No rows: still check the mapping against the columns, so a typo is not silent.
                resolve_mapping(mapping, columns, kind=kind, where=source)
    finally:
        if own_engine:
            engine.dispose()


#: installed drivers tried when a URL names no driver and SQLAlchemy's default is missing
#: (SQLAlchemy 2.1 defaults postgresql:// to psycopg 3 and mysql:// to mysqlclient)
_FALLBACK_DRIVERS = {"postgresql": "psycopg2", "mysql": "pymysql", "mariadb": "pymysql"}


def engine_for(url: str, safe_url: str, **kwargs: Any) -> Engine:
    """``create_engine`` that falls back to an installed driver for a driver-less URL.

    Shared by every SQLAlchemy user in kea-etl (SQL sources, the warehouse), so this is where a
    password in the URL is refused (kea_etl.urls).
    """
    refuse_password(url)
    try:
        return create_engine(url, **kwargs)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise InvalidURLError(f"cannot use database URL {safe_url}: {exc}") from exc
    except ImportError as exc:
        u = make_url(url)
        fallback = _FALLBACK_DRIVERS.get(u.drivername)
        if fallback is not None:
            try:
                return create_engine(u.set(drivername=f"{u.drivername}+{fallback}"), **kwargs)
            except ImportError:
                pass
        raise InvalidURLError(f"cannot use database URL {safe_url}: the database driver is not "
                              f"installed ({exc}); install it or name one in the URL, e.g. "
                              "postgresql+psycopg2:// or mysql+pymysql://") from exc


def _short(exc: Exception) -> str:
    msg = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return msg[0] if msg else type(exc).__name__
