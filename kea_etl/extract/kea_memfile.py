"""Kea memfile extractor: ``kea-leases4.csv`` / ``kea-leases6.csv`` -> ``Lease4`` / ``Lease6``.

For Kea -> Kea moves (between servers or versions). The records keep the file's ``subnet_id``.

The file is read the way Kea itself loads it (isc-projects/kea, ``src/lib/dhcpsrv``):

* The header names the columns (``VersionedCSVFile``). Kea 2.2 writes 11 (v4) / 17 (v6) columns,
  2.4+ appends ``pool_id``. An older header (fewer trailing columns, down to ``hostname``) is
  upgraded with defaults (state 0, no user context, hwtype 1, pool 0); columns after the ones
  Kea 3.0 knows are ignored, as a Kea that is older than the file does. A column name out of place
  fails the whole file (``ConfigError``), as it fails Kea's load.
* Fields are split on every comma: Kea writes no quoting and escapes a comma inside ``hostname``
  and ``user_context`` as ``&#x2c`` (``CSVRow::escapeCharacters``); any ``&#xHH`` is unescaped
  (``CSVRow::unescapeCharacters``).
* ``cltt = expire - valid_lifetime`` (``CSVLeaseFile4::readCltt``); ``lease_type`` 0 NA, 1 TA, 2 PD.
* A row Kea cannot parse is skipped by Kea with only a log line (``LeaseFileLoader::load``, which
  ``continue``\\ s after ``DHCPSRV_MEMFILE_LEASE_LOAD_ROW_ERROR``); here it is yielded as a
  ``MalformedRecordError`` with its line. Such a row does not touch the earlier rows for its
  address. The row checks mirror ``CSVLeaseFile4::next`` / ``CSVLeaseFile6::next``: ``fqdn_*`` 0
  or 1, ``user_context`` empty or a JSON map, numbers in range, and the identifier rules of
  :mod:`kea_etl.kea_limits` (the same the memfile writer applies): client-id / DUID lengths of the
  Kea that wrote the file (a header without ``pool_id`` is Kea 2.2's: client-id and DUID at most
  128 bytes; with it, 2.4 and later), a v4 row with a hardware address or a client-id, the empty
  DUID only in a declined lease (state 1).
* The file is log-structured: Kea appends a row on every change. ``LeaseFileLoader::load`` looks
  each good row up **by address** (the unique ``AddressIndexTag`` index of ``Lease4Storage`` /
  ``Lease6Storage``, also for prefixes) and either inserts it, replaces the earlier lease, or, when
  its ``valid_lifetime`` is 0, erases it: a deleted lease (``lease4-del``, a released lease with
  lease affinity off, an expired-reclaimed lease flushed after ``hold-reclaimed-time``) is written
  as a row with valid lifetime 0. So the last good row per address wins, and wins only if its
  valid lifetime is not 0. Rows in state 2 (expired-reclaimed) are still leases Kea loads; they
  are yielded with ``binding_state="expired"`` so the policy filters can decide; state 3
  (released, 2.7+) gets ``"released"``; states 0 and 1 (declined) are ``"active"``: a declined
  address stays declined in the target (``record.state == 1``).

Memory stays bounded and each row is parsed about once: a cheap first pass reads only the
address of every row into packed arrays, and a sort marks the addresses that occur more than
once. The second pass parses every row: a bad row is reported, a good row whose address occurs
once is yielded at once (a file Kea's LFC has compacted has only those), and a good row of a
repeated address only has its row number, address and "lifetime 0" flag noted. A sort of those
notes finds each repeated address's last good row; a third pass re-reads the file and yields
those winners. Records therefore come in file order, except that winners of repeated addresses
come after all the others.

``Extracted.extra`` carries ``pool_id`` (2.4+ files), and for v6 ``hwtype`` / ``hwaddr_source``.
"""

from __future__ import annotations

import json
import re
import socket
from array import array
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

import numpy as np

from kea_etl._fastrec import builder
from kea_etl._files import require_regular
from kea_etl.errors import ConfigError, InvalidValueError, MalformedRecordError
from kea_etl.extract.base import Extracted, ExtractItem, kea_binding_state
from kea_etl.kea_limits import CLIENT_ID_MAX, DUID_MAX, HWADDR_MAX, rules_for_header
from kea_etl.memfile_set import SET_FILES, check_set
from kea_etl.records import (
    LEASE_STATES,
    LEASE_TYPE_NAMES,
    Lease4,
    Lease6,
    canonical_hex,
)

__all__ = ["COLUMNS4", "COLUMNS6", "extract", "lease_files", "open_files", "sniff"]

#: every column Kea (up to 3.0) knows, in order; the 2.2 header stops before ``pool_id``
COLUMNS4 = ("address", "hwaddr", "client_id", "valid_lifetime", "expire", "subnet_id", "fqdn_fwd",
            "fqdn_rev", "hostname", "state", "user_context", "pool_id")
COLUMNS6 = ("address", "duid", "valid_lifetime", "expire", "subnet_id", "pref_lifetime", "lease_type",
            "iaid", "prefix_len", "fqdn_fwd", "fqdn_rev", "hostname", "hwaddr", "state",
            "user_context", "hwtype", "hwaddr_source", "pool_id")
#: defaults Kea's VersionedCSVFile fills in when upgrading an older header
_DEFAULTS = {"state": "0", "user_context": "", "pool_id": "0", "hwaddr": "", "hwtype": "1",
             "hwaddr_source": "0"}
_ESCAPE = re.compile(r"&#x([0-9a-fA-F]{2})")
_U32 = 0xFFFFFFFF


def sniff(head: bytes) -> bool:
    """True when the first line is a Kea memfile header (v4 or v6)."""
    first = head.split(b"\n", 1)[0].rstrip(b"\r")
    return first.startswith((b"address,hwaddr,client_id,valid_lifetime,expire,subnet_id,",
                             b"address,duid,valid_lifetime,expire,subnet_id,"))


def _unescape(text: str) -> str:
    if "&#x" not in text:
        return text
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def _uint(value: str, name: str, maximum: int = _U32) -> int:
    # boost::lexical_cast<uint32_t> as used by CSVRow::readAndConvertAt: digits only.
    if not value.isdigit():
        raise InvalidValueError(name, value, "expected an unsigned number")
    n = int(value)
    if n > maximum:
        raise InvalidValueError(name, value, f"larger than {maximum}")
    return n


def _flag(value: str, name: str) -> bool:
    # boost::lexical_cast<bool> accepts exactly "0" and "1".
    if value == "1":
        return True
    if value == "0":
        return False
    raise InvalidValueError(name, value, "expected 0 or 1")


def _context(value: str) -> dict[str, Any] | None:
    text = _unescape(value)
    if not text:
        return None
    try:
        ctx = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidValueError("user_context", text, f"not JSON: {exc.msg}") from exc
    if not isinstance(ctx, dict):
        raise InvalidValueError("user_context", text, "is not a JSON map")
    return ctx or None


class _Reader:
    """Parses the rows of one memfile (after its header has been validated)."""

    def __init__(self, path: Path, family: int, header: list[str]) -> None:
        self.path = path
        self.source = str(path)
        self.family = family
        known = COLUMNS4 if family == 4 else COLUMNS6
        self.ncols = len(header)
        self.index = {name: i for i, name in enumerate(header[:len(known)])}
        self.known = known
        self.rules = rules_for_header(header)

    def fields(self, parts: list[str]) -> dict[str, str]:
        values = {name: parts[i] for name, i in self.index.items()}
        for name in self.known:
            if name not in values:
                values[name] = _DEFAULTS[name]
        return values

    def parse(self, parts: list[str], line: int) -> Extracted:
        if len(parts) != self.ncols:
            raise InvalidValueError("row", ",".join(parts),
                                    f"has {len(parts)} fields, the header has {self.ncols}")
        f = self.fields(parts)
        return self._lease4(f, line) if self.family == 4 else self._lease6(f, line)

    def _common(self, f: dict[str, str]) -> dict[str, Any]:
        valid = _uint(f["valid_lifetime"], "valid_lifetime")
        expire = _uint(f["expire"], "expire", maximum=2**64 - 1)
        if expire < valid:
            raise InvalidValueError("expire", f["expire"], f"is less than valid_lifetime {valid}")
        return {
            "valid_lft": valid,
            "cltt": expire - valid,
            "subnet_id": _uint(f["subnet_id"], "subnet_id"),
            "fqdn_fwd": _flag(f["fqdn_fwd"], "fqdn_fwd"),
            "fqdn_rev": _flag(f["fqdn_rev"], "fqdn_rev"),
            "hostname": _unescape(f["hostname"]),
            "state": _uint(f["state"], "state"),
            "user_context": _context(f["user_context"]),
        }

    def _lease4(self, f: dict[str, str], line: int) -> Extracted:
        common = self._common(f)
        rec = _fast_lease4(f, common, self.source, line)
        if rec is None:  # anything unusual: the validating constructor decides (and explains)
            rec = Lease4(address=IPv4Address(f["address"]), hwaddr=f["hwaddr"] or None,
                         client_id=f["client_id"] or None, origin=self.source, line=line, **common)
        why = self.rules.lease4(rec)
        if why is not None:
            raise InvalidValueError("row", rec.key, why)
        return Extracted(rec, binding_state=kea_binding_state(rec.state), source=self.source, line=line,
                         extra={"pool_id": _uint(f["pool_id"], "pool_id")})

    def _lease6(self, f: dict[str, str], line: int) -> Extracted:
        common = self._common(f)
        duid = canonical_hex(f["duid"], "duid", max_len=DUID_MAX)
        if duid is None:
            raise InvalidValueError("duid", f["duid"], "empty")
        code = _uint(f["lease_type"], "lease_type")
        if code not in LEASE_TYPE_NAMES:
            raise InvalidValueError("lease_type", f["lease_type"], "expected 0 (NA), 1 (TA) or 2 (PD)")
        ltype = LEASE_TYPE_NAMES[code]
        plen = _uint(f["prefix_len"], "prefix_len", maximum=128)
        # Kea writes 128 for addresses; a prefix length only means something for IA_PD.
        rec = Lease6(address=IPv6Address(f["address"]), duid=duid, iaid=_uint(f["iaid"], "iaid"),
                     lease_type=ltype,  # type: ignore[arg-type]
                     prefix_len=plen if ltype == "IA_PD" else 128,
                     preferred_lft=_uint(f["pref_lifetime"], "pref_lifetime"),
                     hwaddr=f["hwaddr"] or None, origin=self.source, line=line, **common)
        why = self.rules.lease6(rec)
        if why is not None:
            raise InvalidValueError("row", rec.key, why)
        extra: dict[str, Any] = {"pool_id": _uint(f["pool_id"], "pool_id")}
        if f["hwaddr"]:
            extra["hwtype"] = _uint(f["hwtype"], "hwtype", maximum=0xFFFF)
            extra["hwaddr_source"] = _uint(f["hwaddr_source"], "hwaddr_source")
        return Extracted(rec, binding_state=kea_binding_state(rec.state), source=self.source, line=line,
                         extra=extra)


_build4 = builder(Lease4)  # unvalidated construction (kea_etl._fastrec)
_canonical = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2})*").fullmatch  # records.canonical_hex's
_AF_INET = socket.AF_INET


def _fast_lease4(f: dict[str, str], common: dict[str, Any], source: str,
                 line: int) -> Lease4 | None:
    """The ``Lease4`` the validating constructor would build, when every value is already in
    the canonical form Kea writes (lowercase colon hex, a plain dotted quad, a known state);
    None for anything else, which then goes through ``Lease4(...)`` itself. ``_common`` has
    checked the numbers' ranges; ``tests/extract/test_kea_memfile.py`` pins both paths equal.
    At 300k rows the constructor's checks and :mod:`ipaddress`'s pure-Python parsing were
    most of ``reconcile --against``."""
    hw, cid = f["hwaddr"], f["client_id"]
    if hw and (len(hw) > 3 * HWADDR_MAX - 1 or not _canonical(hw)):
        return None
    if cid and (len(cid) > 3 * CLIENT_ID_MAX - 1 or not _canonical(cid)):
        return None
    cltt, state = common["cltt"], common["state"]
    if cltt > _U32 or state not in LEASE_STATES:
        return None
    try:  # inet_pton accepts exactly the dotted quads IPv4Address does (no leading zeros)
        addr = IPv4Address(int.from_bytes(socket.inet_pton(_AF_INET, f["address"]), "big"))
    except (OSError, ValueError):
        return None
    hostname = common["hostname"]
    fwd, rev = (common["fqdn_fwd"], common["fqdn_rev"]) if hostname else (False, False)
    return _build4(addr, hw or None, common["valid_lft"], cltt, cid or None,
                   common["subnet_id"], hostname, fwd, rev, state, common["user_context"],
                   source, line)


def _read_header(path: Path) -> tuple[int, list[str]]:
    try:
        with path.open("r", encoding="utf-8", errors="replace", newline="") as fh:
            first = fh.readline()
    except OSError as exc:
        raise ConfigError(f"cannot read Kea lease file {path}: {exc.strerror or exc}") from exc
    if not first:
        raise ConfigError(f"Kea lease file {path} is empty (no header line)")
    if first.endswith("\r\n"):
        raise ConfigError(f"Kea lease file {path}: the header ends in CRLF; Kea rejects such a file "
                          "(\"invalid column\"). Convert it with: sed -i 's/\\r$//'")
    header = first.rstrip("\n").split(",")
    family = 4 if header[1:2] == ["hwaddr"] else 6 if header[1:2] == ["duid"] else 0
    if family == 0:
        raise ConfigError(f"{path} line 1: not a Kea lease file header (expected it to start with "
                          "'address,hwaddr,' or 'address,duid,')")
    known = COLUMNS4 if family == 4 else COLUMNS6
    for i, name in enumerate(header[:len(known)]):
        if name != known[i]:
            raise ConfigError(f"{path} line 1: column {i + 1} is {name!r}, Kea expects {known[i]!r} "
                              "there; Kea would refuse to load this file")
    if len(header) < known.index("hostname") + 1:
        raise ConfigError(f"{path} line 1: the header stops at {header[-1]!r}; Kea needs at least "
                          "the columns up to 'hostname'")
    return family, header


def _packed_key(text: str, family: int) -> int | None:
    """The address of a row as an int (cheap: no validation of the other fields)."""
    addr = text.split(",", 1)[0]
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET if family == 4 else socket.AF_INET6, addr),
                              "big")
    except (OSError, ValueError):
        return None


class _Notes:
    """(address, row number, lifetime-0) triples in packed arrays; finds the last row per address."""

    def __init__(self) -> None:
        self.hi = array("Q")
        self.lo = array("Q")
        self.rows = array("Q")
        self.zero = bytearray()

    def add(self, key: int, rowno: int, zero: bool = False) -> None:
        self.hi.append(key >> 64)
        self.lo.append(key & 0xFFFFFFFFFFFFFFFF)
        self.rows.append(rowno)
        self.zero.append(1 if zero else 0)

    def __len__(self) -> int:
        return len(self.rows)

    def _sorted(self) -> tuple[Any, Any, Any]:
        hi = np.frombuffer(self.hi, dtype=np.uint64)
        lo = np.frombuffer(self.lo, dtype=np.uint64)
        rows = np.frombuffer(self.rows, dtype=np.uint64)
        order = np.lexsort((rows, lo, hi))
        h, low = hi[order], lo[order]
        same_as_next = np.zeros(len(order), dtype=bool)
        same_as_next[:-1] = (h[1:] == h[:-1]) & (low[1:] == low[:-1])
        return order, same_as_next, rows

    def repeated_rows(self, nrows: int) -> Any:
        """Bool mask over row numbers: True where the row's address occurs more than once."""
        mask = np.zeros(nrows, dtype=bool)
        if not len(self):
            return mask
        order, same_as_next, rows = self._sorted()
        repeated = same_as_next.copy()
        repeated[1:] |= same_as_next[:-1]
        mask[rows[order[repeated]].astype(np.int64)] = True
        return mask

    def winner_rows(self, nrows: int) -> Any:
        """Bool mask over row numbers: the last row per address, unless its lifetime is 0."""
        mask = np.zeros(nrows, dtype=bool)
        if not len(self):
            return mask
        order, same_as_next, rows = self._sorted()
        last = order[~same_as_next]
        zero = np.frombuffer(bytes(self.zero), dtype=np.uint8)
        last = last[zero[last] == 0]
        mask[rows[last].astype(np.int64)] = True
        return mask


def lease_files(path: str | Path) -> list[Path]:
    """The files Kea loads for the lease file ``path``, in its order.

    ``Memfile_LeaseMgr::loadLeasesFromFiles``: ``NAME.completed`` if it exists, else ``NAME.2``
    then ``NAME.1`` (what an interrupted lease file cleanup, LFC, leaves behind), and always
    ``NAME`` last, all into one table. Empty when none of them exists.
    """
    main = Path(path)
    completed = Path(f"{main}.completed")
    before = [completed] if completed.is_file() else [
        q for q in (Path(f"{main}.2"), Path(f"{main}.1")) if q.is_file()]
    return [*before, main] if main.is_file() else before


def extract(path: str | Path, *, keep_history: bool = False,
            leftovers: bool = True) -> Iterator[ExtractItem]:
    """Stream the leases Kea would hold after loading the memfile at ``path``.

    With ``leftovers`` (the default) the files an interrupted lease file cleanup left next to it
    are read first, as Kea loads them (:func:`lease_files`): one log across the files, so a lease
    only in ``NAME.2`` is kept and a later row in ``NAME`` replaces or deletes it. Each item names
    the file and line it came from. ``keep_history=True`` yields every good row in that order
    instead (the raw log, for audits and :mod:`kea_etl.reconcile.kea_files`); rows with valid
    lifetime 0 (deletions) are then yielded too. A file of a kea-etl output set whose manifest
    says a killed run left it torn is refused (:func:`kea_etl.memfile_set.check_set`).
    """
    readers = open_files(path, leftovers=leftovers)
    family = readers[0].family
    files = [r.path for r in readers]
    if keep_history:
        for _, item in _rows(readers):
            yield item
        return
    # Pass 1 (cheap): which addresses occur in more than one row (of all the files)?
    seen = _Notes()
    nrows = 0
    for rowno, text in _lines(files):
        nrows = rowno + 1
        key = _packed_key(text, family)
        if key is not None:
            seen.add(key, rowno)
    repeated = seen.repeated_rows(nrows)
    del seen
    # Pass 2: parse everything; yield errors and the rows of addresses that occur once.
    notes = _Notes()
    for rowno, item in _rows(readers):
        if isinstance(item, MalformedRecordError):
            yield item
            continue
        rec = item.record
        assert isinstance(rec, Lease4 | Lease6)
        if repeated[rowno]:
            notes.add(int(rec.address), rowno, rec.valid_lft == 0)
        elif rec.valid_lft != 0:  # a lone deletion row deletes nothing
            yield item
    if not len(notes):
        return
    # Pass 3: the last good row of each repeated address wins (LeaseFileLoader::load).
    winners = notes.winner_rows(nrows)
    del notes, repeated
    for _rowno, item in _rows(readers, only=winners):
        yield item


def open_files(path: str | Path, *, leftovers: bool = True) -> list[_Reader]:
    """The files Kea loads for ``path`` (:func:`lease_files`), headers checked, as readers."""
    p = Path(path)
    if p.exists():
        require_regular(p, what="Kea lease file")  # a FIFO or a device: say what it is
    if p.name in SET_FILES:
        # kea-etl's output set: refuse one a killed run left half replaced (kea_etl.memfile_set)
        check_set(p.parent)
    files = lease_files(p) if leftovers else ([p] if p.is_file() else [])
    if not files:
        raise ConfigError(f"Kea lease file {p} not found")
    readers: list[_Reader] = []
    for f in files:
        family, header = _read_header(f)
        if readers and family != readers[0].family:
            raise ConfigError(f"{f} holds DHCPv{family} leases and {readers[0].path} DHCPv"
                              f"{readers[0].family} leases; Kea loads both for {p}")
        readers.append(_Reader(f, family, header))
    return readers


def _lines(paths: list[Path]) -> Iterator[tuple[int, str]]:
    """(row number, text) of the data rows of ``paths`` in turn (row numbers run on from one
    file to the next); blank lines are not rows."""
    rowno = -1
    for path in paths:
        with path.open("r", encoding="utf-8", errors="replace", newline="") as fh:
            fh.readline()
            for raw in fh:
                text = raw.rstrip("\n").rstrip("\r")
                if text:
                    rowno += 1
                    yield rowno, text


def _rows(readers: list[_Reader], only: Any = None
          ) -> Iterator[tuple[int, Extracted | MalformedRecordError]]:
    """(row number, parsed row or error) for each data row of each reader's file, numbered as
    :func:`_lines` does; ``only`` is a bool mask of rows to parse."""
    rowno = -1
    for reader in readers:
        with reader.path.open("r", encoding="utf-8", errors="replace", newline="") as fh:
            fh.readline()
            for lineno, raw in enumerate(fh, start=2):
                text = raw.rstrip("\n").rstrip("\r")
                if not text:
                    continue
                rowno += 1
                if only is not None and not only[rowno]:
                    continue
                parts = text.split(",")
                try:
                    yield rowno, reader.parse(parts, lineno)
                except (InvalidValueError, ValueError) as exc:
                    key = parts[0] if parts and parts[0] else None
                    yield rowno, MalformedRecordError(
                        reader.source, lineno, key,
                        f"cannot be read ({exc}); Kea skips such a row too")
