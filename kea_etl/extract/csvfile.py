"""CSV extractor: any CSV of leases or reservations, read with the ``csv`` module and a column mapping.

``extract(path, mapping=None, kind=None)`` yields one ``Extracted`` per good row and one
``MalformedRecordError`` per bad row, naming the file, the CSV line (header = line 1) and the
row's key (its address, else its identifier). The mapping (see :mod:`kea_etl.extract.mapping`)
is a YAML/JSON file, a dict, a ``ColumnMapping``, or ``None`` for the default one, which
recognises Kea memfile / SQL column names and obvious ones (``ip``, ``mac``, ``lease_time`` ...).

Every value is text: an empty cell is ``""``, and ``"NA"`` stays a hostname. Line numbers are
exact, also after a quoted field that spans lines (a row's number is the line it starts on). A
row with the wrong number of fields, a NUL byte or a field over :data:`MAX_FIELD` characters is
reported with its line and the rows after it are read on; text that does not decode stops the
file there, said with the last good line. Blank lines and rows of empty cells are skipped.
Memory holds one row at a time.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

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


#: the longest field read (characters): a longer one is a bad row, not unbounded memory
MAX_FIELD = 1 << 20
#: the longest line read (bytes): a longer one is a bad row, skipped to its end unread
MAX_LINE = 4 << 20


class _Lines:
    """The file's lines, decoded one at a time (so a byte that does not decode is found on its
    own line, after every earlier row was read), each at most :data:`MAX_LINE` bytes: a longer
    one is given to the CSV reader as a blank line and its number kept in :attr:`too_long`."""

    def __init__(self, fh: Any, encoding: str) -> None:
        self.fh = fh
        self.decoder = codecs.getincrementaldecoder(encoding)()
        self.too_long: set[int] = set()
        self.count = 0

    def __iter__(self) -> Iterator[str]:
        while True:
            raw = self.fh.readline(MAX_LINE + 1)
            if not raw:
                return
            self.count += 1
            if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):
                    raw = self.fh.readline(MAX_LINE + 1)
                self.too_long.add(self.count)
                yield "\n"
                continue
            yield self.decoder.decode(raw)


def _dedupe(columns: list[str]) -> list[str]:
    """Repeated header names get ``.1``, ``.2`` ... (as pandas names them), so no column hides
    another."""
    seen: dict[str, int] = {}
    out = []
    for c in columns:
        n = seen.get(c, 0)
        seen[c] = n + 1
        out.append(c if n == 0 else f"{c}.{n}")
    return out


def extract(path: str | Path, *, mapping: ColumnMapping | Mapping[str, Any] | str | Path | None = None,
            kind: str | None = None, chunksize: int | None = None, delimiter: str | None = None,
            encoding: str | None = None) -> Iterator[ExtractItem]:
    """Stream records from the CSV at ``path``.

    ``mapping``: a mapping file path, a dict, a ``ColumnMapping`` or ``None`` (default mapping).
    ``kind``: lease4 / lease6 / reservation4 / reservation6 when the mapping does not say.
    ``delimiter`` / ``encoding`` override the mapping's; without either, the delimiter is the most
    frequent of ``, ; TAB |`` in the header line. Raises ``ConfigError`` for a missing
    file, an empty file or a mapping that does not fit the header. (``chunksize`` is accepted
    for callers of the pandas reader this replaced; rows are streamed one at a time.)
    """
    del chunksize
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
        codecs.lookup(enc)
    except LookupError as exc:
        raise ConfigError(f"CSV file {p}: unknown encoding {enc!r}") from exc
    limit = csv.field_size_limit()
    csv.field_size_limit(MAX_FIELD)
    try:
        with p.open("rb") as fh:
            lines = _Lines(fh, enc)
            yield from _rows(csv.reader(lines, delimiter=sep), lines, p, source, pre, kind)
    finally:
        csv.field_size_limit(limit)


def _rows(reader: Any, lines: _Lines, p: Path, source: str, pre: ColumnMapping | None,
          kind: str | None) -> Iterator[ExtractItem]:
    try:
        header = next(reader, None)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"CSV file {p} cannot be read: {exc}") from exc
    if not header or all(c.strip() == "" for c in header):
        raise ConfigError(f"CSV file {p} is empty (no header line)")
    columns = _dedupe([c.strip() for c in header])
    width = len(columns)
    converter: RowConverter | None = None
    end = reader.line_num  # the last physical line read
    while True:
        start = end + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except UnicodeDecodeError as exc:
            yield MalformedRecordError(source, None, None, f"CSV cannot be parsed any further "
                                       f"after line {end}: {exc}")
            return
        except csv.Error as exc:
            end = max(reader.line_num, start)
            yield MalformedRecordError(source, start, None, f"bad CSV row: {exc}")
            continue
        end = reader.line_num
        if start in lines.too_long:
            yield MalformedRecordError(source, start, None, f"bad CSV row: the line is longer "
                                       f"than {MAX_LINE} bytes; not read")
            continue
        if not row or all(v == "" for v in row):
            continue  # a blank line
        if len(row) != width:
            yield MalformedRecordError(source, start, None, f"bad CSV row: expected {width} "
                                       f"fields, saw {len(row)}")
            continue
        values = dict(zip(columns, row, strict=True))
        if converter is None:
            resolved = resolve_mapping(pre, columns, first_row=values, kind=kind, where=source)
            converter = RowConverter(resolved, source=source)
        yield converter.convert(values, start)
    if converter is None:  # a header and no rows: the mapping must still fit the header
        resolve_mapping(pre, columns, first_row=None, kind=kind, where=source)
