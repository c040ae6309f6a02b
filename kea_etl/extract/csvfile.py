"""CSV extractor: any CSV of leases or reservations, read in chunks with pandas and a column mapping.

``extract(path, mapping=None, kind=None, chunksize=50_000)`` yields one ``Extracted`` per good row
and one ``MalformedRecordError`` per bad row, naming the file, the CSV line (header = line 1) and
the row's key (its address, else its identifier). The mapping (see :mod:`kea_etl.extract.mapping`)
is a YAML/JSON file, a dict, a ``ColumnMapping``, or ``None`` for the default one, which
recognises Kea memfile / SQL column names and obvious ones (``ip``, ``mac``, ``lease_time`` ...).

pandas reads every value as text (``dtype=str, keep_default_na=False``: an empty cell is ``""``,
never NaN, and ``"NA"`` stays a hostname). A row with the wrong number of fields is reported with
its line (pandas' C parser warns about it; the warning is captured, never printed).

Line numbers are exact for files whose records are one line each, including blank lines. A
quoted field spanning several lines shifts the numbers of the rows after it (pandas does not say
where a row started); such files are rare for lease data.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from kea_etl._files import require_regular
from kea_etl.errors import ConfigError, MalformedRecordError
from kea_etl.extract.base import ExtractItem
from kea_etl.extract.mapping import (
    ALIASES,
    ColumnMapping,
    RowConverter,
    load_mapping,
    mapping_from_dict,
    normalise_column,
    resolve_mapping,
)

__all__ = ["extract", "sniff"]

_SKIPPED = re.compile(r"Skipping line (\d+): (.*)")
_KEA_MEMFILE_HEADS = (b"address,hwaddr,client_id,valid_lifetime,expire,subnet_id",
                      b"address,duid,valid_lifetime,expire,subnet_id")


def sniff(head: bytes) -> bool:
    """True for a delimited text file whose header names an address column.

    Kea memfile CSVs are left to :mod:`kea_etl.extract.kea_memfile` (it knows the log structure).
    """
    if head.startswith(_KEA_MEMFILE_HEADS) or b"\x00" in head:
        return False
    first = head.split(b"\n", 1)[0].strip().decode("utf-8", errors="replace").lstrip("\ufeff")
    for delim in (",", ";", "\t", "|"):
        if delim in first:
            cols = {normalise_column(c.strip().strip('"')) for c in first.split(delim)}
            if cols & set(ALIASES["address"]) or cols & set(ALIASES["addresses"]):
                return True
    return False


def _guess_delimiter(path: Path, encoding: str) -> str:
    """The most frequent of , ; TAB | in the header line (',' when none occurs)."""
    try:
        with path.open("r", encoding=encoding, errors="replace") as fh:
            header = fh.readline()
    except OSError as exc:
        raise ConfigError(f"cannot read CSV file {path}: {exc.strerror or exc}") from exc
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def extract(path: str | Path, *, mapping: ColumnMapping | Mapping[str, Any] | str | Path | None = None,
            kind: str | None = None, chunksize: int = 50_000, delimiter: str | None = None,
            encoding: str | None = None) -> Iterator[ExtractItem]:
    """Stream records from the CSV at ``path``.

    ``mapping``: a mapping file path, a dict, a ``ColumnMapping`` or ``None`` (default mapping).
    ``kind``: lease4 / lease6 / reservation4 / reservation6 when the mapping does not say.
    ``delimiter`` / ``encoding`` override the mapping's; without either, the delimiter is the most
    frequent of ``, ; TAB |`` in the header line. Raises ``ConfigError`` for a missing
    file, an empty file or a mapping that does not fit the header.
    """
    p = Path(path)
    source = str(p)
    if p.exists() or p.is_symlink():
        require_regular(p, what="CSV file")  # a FIFO or a device: say what it is
    if not p.is_file():
        raise ConfigError(f"CSV file {p} not found")
    pre: ColumnMapping | None = None
    if isinstance(mapping, str | Path):
        pre = load_mapping(mapping)
    elif isinstance(mapping, ColumnMapping):
        pre = mapping
    elif mapping is not None:
        pre = mapping_from_dict(mapping)
    given = pre.given if pre is not None else frozenset()
    enc = encoding or (pre.encoding if pre is not None and "encoding" in given else "utf-8-sig")
    sep = delimiter or (pre.delimiter if pre is not None and "delimiter" in given else None)
    sep = sep or _guess_delimiter(p, enc)
    try:
        reader = pd.read_csv(p, sep=sep, encoding=enc, dtype=str, keep_default_na=False,
                             na_filter=False, skip_blank_lines=False, chunksize=chunksize,
                             on_bad_lines="warn", engine="c")
    except pd.errors.EmptyDataError as exc:
        raise ConfigError(f"CSV file {p} is empty (no header line)") from exc
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ConfigError(f"CSV file {p} cannot be read: {exc}") from exc
    converter: RowConverter | None = None
    next_line = 2  # header is line 1
    with reader:
        while True:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    chunk = next(reader)
                except StopIteration:
                    chunk = None
                except (UnicodeDecodeError, pd.errors.ParserError) as exc:
                    yield MalformedRecordError(source, None, None, f"CSV cannot be parsed any "
                                               f"further after line {next_line - 1}: {exc}")
                    return
            skipped: dict[int, str] = {}
            for w in caught:
                m = _SKIPPED.match(str(w.message).strip())
                if m:
                    skipped[int(m.group(1))] = m.group(2)
            if chunk is None:
                for ln in sorted(skipped):
                    yield MalformedRecordError(source, ln, None, f"bad CSV row: {skipped[ln]}")
                return
            columns = [str(c) for c in chunk.columns]
            if converter is None:
                first = dict(zip(columns, chunk.iloc[0].tolist(), strict=True)) if len(chunk) else None
                resolved = resolve_mapping(pre, columns,
                                           first_row=first, kind=kind, where=source)
                converter = RowConverter(resolved, source=source)
            pending = sorted(skipped)
            for row in chunk.itertuples(index=False, name=None):
                while next_line in skipped:
                    yield MalformedRecordError(source, next_line, None,
                                               f"bad CSV row: {skipped[next_line]}")
                    pending.remove(next_line)
                    next_line += 1
                line = next_line
                next_line += 1
                if all(v == "" for v in row):
                    continue  # blank line
                yield converter.convert(dict(zip(columns, row, strict=True)), line)
            for ln in pending:
                yield MalformedRecordError(source, ln, None, f"bad CSV row: {skipped[ln]}")
                if ln == next_line:
                    next_line += 1
