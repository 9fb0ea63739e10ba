"""Read snapshots in every format spec.md accepts.

Accepted: a JSON array of Resource Graph rows; an object with a `data` array (a Resource Graph REST
response or `az graph query` output, also the older table format with columns/rows); JSON Lines, one
row per line; any of these gzip-compressed; and the tool's own snapshot (the same rows plus a
`dr_audit_snapshot` metadata object: capture time, scopes, incomplete scopes).

JSON Lines (what `dr-audit crawl` writes) is read as a stream, a line at a time, with orjson: the
inventory's fields are extracted from each row as it is parsed (rows.Extractor), so a snapshot of a
million rows never holds its full rows in memory at once. Up to KEEP_ROWS rows, `Snapshot.rows` is
a plain list; above, it is a StreamedRows that reads the file again when iterated. Whatever the stream
cannot take as it comes (a whole-document format, a line only the standard json module parses, any
error) goes through the whole-document reader below, which also words every error message.
"""

from __future__ import annotations

import gc
import gzip
import json
import os
import queue
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from auditor.errors import InputError
from auditor.inventory.rows import Extractor

METADATA_KEY = "dr_audit_snapshot"
KEEP_ROWS = 20_000  # JSON Lines rows kept as a list; above, rows are streamed again when iterated
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 22


@dataclass
class Snapshot:
    rows: Sequence[dict[str, Any]]  # a list, or StreamedRows for a large JSON Lines file
    source: str
    captured_at: str | None = None
    scopes: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


def read_snapshot(path: str | Path) -> Snapshot:
    path = Path(path)
    name = str(path)
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"snapshot file {name} does not exist.") from None
    except IsADirectoryError:
        raise InputError(f"snapshot path {name} is a directory, not a file.") from None
    except OSError as exc:
        raise InputError(f"snapshot file {name} cannot be read: {exc.strerror}.") from None
    with handle:
        try:
            snapshot = _read_json_lines(handle, path, name)
        except (_NotStreamable, OSError, EOFError, zlib.error):
            snapshot = None
    return snapshot if snapshot is not None else _read_whole(path, name)


class _NotStreamable(Exception):
    """The file is not JSON Lines the stream can take; the whole-document reader decides."""


def _open_stream(handle: BinaryIO) -> BinaryIO:
    head = handle.read(2)
    handle.seek(0)
    return gzip.GzipFile(fileobj=handle, mode="rb") if head == _GZIP_MAGIC else handle


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    """The stream's bytes in large chunks. A gzip stream is decompressed in a second thread, ahead of
    the parse: zlib and the CRC release the GIL, so on two cores decompression costs almost no wall
    time (a quarter of a bare parse of a snapshot)."""
    if not isinstance(stream, gzip.GzipFile):
        while chunk := stream.read(_CHUNK):
            yield chunk
        return
    ready: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=4)
    stop = threading.Event()

    def put(item: bytes | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def decompress() -> None:
        try:
            while chunk := stream.read(_CHUNK):
                if not put(chunk):
                    return
            put(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the reading thread, which raises it
            put(exc)

    worker = threading.Thread(target=decompress, name="dr-audit-gunzip", daemon=True)
    worker.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def _numbered_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """Lines split at b"\\n" only (as the whole-document reader splits them), numbered from 1."""
    number = 0
    rest = b""
    first = True
    for chunk in _chunks(stream):
        if first:
            chunk = chunk[3:] if chunk.startswith(_BOM) else chunk
            first = False
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            number += 1
            yield number, line
    if rest:
        yield number + 1, rest


def _parse_line(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        pass
    try:  # NaN, Infinity, lone surrogates...: what the standard module accepts, it accepts here too
        return json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _NotStreamable() from None


def _valid_row(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    for key in ("id", "type"):
        item = value.get(key)
        if not isinstance(item, str) or not item.strip():
            return False
    return True


def _read_json_lines(handle: BinaryIO, path: Path, name: str) -> Snapshot | None:
    """JSON Lines, streamed. None when the file is empty or holds one JSON document (the whole file on
    one line), which the whole-document rules read."""
    rows: list[dict[str, Any]] | None = []  # until KEEP_ROWS; then the extractor takes the rows as they come
    extractor: Extractor | None = None
    add: Callable[[dict[str, Any]], None] | None = None
    count = 0
    metadata: dict[str, Any] = {}
    values = 0
    first: Any = None
    loads = orjson.loads
    collecting = gc.isenabled()
    gc.disable()  # millions of parsed objects that all survive: generational collection only costs time
    try:
        # The loop below runs once per row of a snapshot of millions: it is written for that.
        for _, line in _numbered_lines(_open_stream(handle)):
            try:
                value = loads(line)
            except orjson.JSONDecodeError:
                if not line or line.isspace():
                    continue
                value = _parse_line(line)
            values += 1
            if values <= 2:
                if values == 1:
                    first = value  # JSON Lines only once a second value follows
                    continue
                items = (first, value)
            elif value.__class__ is dict and METADATA_KEY not in value:
                ident, kind = value.get("id"), value.get("type")
                if (ident.__class__ is not str or kind.__class__ is not str or not ident or not kind
                        or ident.isspace() or kind.isspace()):
                    raise _NotStreamable()
                count += 1
                if add is not None:
                    try:
                        add(value)
                    except Exception:  # noqa: BLE001 - build_inventory meets the row again and reports it
                        extractor = add = None
                elif rows is not None:
                    rows.append(value)
                    if len(rows) > KEEP_ROWS:
                        extractor = _extract(Extractor(), rows)
                        add = extractor.add if extractor is not None else None
                        rows = None
                continue
            else:
                items = (value,)
            for item in items:
                if not isinstance(item, dict):
                    raise _NotStreamable()
                if METADATA_KEY in item:
                    entry = item[METADATA_KEY]
                    if not isinstance(entry, dict):
                        raise _NotStreamable()
                    metadata.update(entry)  # later metadata lines (e.g. a trailer with incomplete scopes) win
                    continue
                if not _valid_row(item):
                    raise _NotStreamable()
                count += 1
                if rows is not None:
                    rows.append(item)
    finally:
        if collecting:
            gc.enable()
    if values == 0:
        return None
    if values == 1:
        if isinstance(first, list):
            return _snapshot_from_rows(first, name, metadata={}, unit="row")
        if isinstance(first, dict):
            return _snapshot_from_object(first, name)
        return None
    if rows is not None:
        return _snapshot_from_rows(rows, name, metadata=metadata, unit="line")
    scopes, captured_at = _metadata_fields(metadata, name)
    return Snapshot(rows=StreamedRows(path, count, extractor), source=name, captured_at=captured_at,
                    scopes=scopes, metadata=metadata)


def _extract(extractor: Extractor, rows: Any) -> Extractor | None:
    """Feed rows to the extractor; None if it fails on one (build_inventory then meets the same row
    again when it iterates the rows, and fails as it always would)."""
    try:
        extractor.extend(rows)
    except Exception:  # noqa: BLE001 - reported, unchanged, by build_inventory
        return None
    return extractor


class StreamedRows(Sequence):
    """The rows of a large JSON Lines snapshot, not held in memory: already extracted for the
    inventory (handed over once, to the first tables.build_inventory, which then frees it), and read
    from the file again, a line at a time, by whatever iterates them."""

    def __init__(self, path: Path, count: int, extractor: Extractor | None):
        self.path = path
        self.extractor = extractor
        self._count = count
        self._signature = _signature(path)

    def __len__(self) -> int:
        return self._count

    def take_extractor(self) -> Extractor | None:
        """The extraction made while parsing, once; later callers iterate the rows instead."""
        extractor, self.extractor = self.extractor, None
        return extractor

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if _signature(self.path) != self._signature:
            raise InputError(f"snapshot file {self.path} changed while it was being audited.")
        with open(self.path, "rb") as handle:
            for _, line in _numbered_lines(_open_stream(handle)):
                if not line.strip():
                    continue
                try:
                    value = _parse_line(line)
                except _NotStreamable:
                    raise InputError(f"snapshot file {self.path} changed while it was being audited.") from None
                if METADATA_KEY not in value:
                    yield value

    def __getitem__(self, index: Any) -> Any:  # a pass over the file: for completeness, not speed
        if isinstance(index, slice):
            return list(self)[index]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError("snapshot row index out of range")
        for position, row in enumerate(self):
            if position == index:
                return row
        raise IndexError("snapshot row index out of range")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, StreamedRows)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"StreamedRows({str(self.path)!r}, {self._count} rows)"


def _signature(path: Path) -> tuple[int, int]:
    status = os.stat(path)
    return status.st_size, status.st_mtime_ns


def _read_whole(path: Path, name: str) -> Snapshot:
    """The whole file at once: JSON documents (an array, an object with 'data'), and every error."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"snapshot file {name} does not exist.") from None
    except IsADirectoryError:
        raise InputError(f"snapshot path {name} is a directory, not a file.") from None
    except OSError as exc:
        raise InputError(f"snapshot file {name} cannot be read: {exc.strerror}.") from None
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error):
            raise InputError(f"snapshot file {name} is not a valid gzip file (truncated or corrupt).") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"snapshot file {name} is not UTF-8 JSON text (bad byte at offset {exc.start}).") from None
    return parse_snapshot_text(text, name)


def parse_snapshot_text(text: str, name: str) -> Snapshot:
    stripped = text.lstrip()
    if not stripped:
        raise InputError(f"snapshot file {name} is empty; expected Azure Resource Graph rows as JSON.")
    if stripped[0] == "[":
        document = _load_json(text, name)
        return _snapshot_from_rows(document, name, metadata={}, unit="row")
    if stripped[0] != "{":
        raise InputError(f"snapshot file {name} is not JSON: it must start with '[' or '{{' (a JSON array, an object with 'data', or JSON Lines).")
    try:
        document = _loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # several top-level values: JSON Lines
            return _parse_json_lines(text, name)
        raise InputError(f"snapshot file {name} is not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.") from None
    return _snapshot_from_object(document, name)


def _loads(text: str) -> Any:
    """orjson when it can; the standard module for what only it accepts and for its error messages."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _load_json(text: str, name: str) -> Any:
    try:
        return _loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"snapshot file {name} is not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.") from None


def _snapshot_from_object(document: dict[str, Any], name: str) -> Snapshot:
    metadata = document.get(METADATA_KEY)
    if metadata is not None and not isinstance(metadata, dict):
        raise InputError(f"snapshot file {name} has a '{METADATA_KEY}' entry that is not an object.")
    if "data" in document:
        data = document["data"]
        if isinstance(data, dict) and "columns" in data and "rows" in data:
            data = _table_to_rows(data, name)
        return _snapshot_from_rows(data, name, metadata=metadata or {}, unit="row")
    if metadata is not None:
        return _snapshot_from_rows([], name, metadata=metadata, unit="row")
    # A single object that is itself a row: JSON Lines with one line.
    return _snapshot_from_rows([document], name, metadata={}, unit="line")


def _table_to_rows(table: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """Resource Graph's older `table` result format: columns [{name, type}] and rows of values."""
    try:
        columns = [column["name"] for column in table["columns"]]
        return [dict(zip(columns, values)) for values in table["rows"]]
    except (TypeError, KeyError):
        raise InputError(f"snapshot file {name} has a 'data' table whose columns/rows are malformed.") from None


def _parse_json_lines(text: str, name: str) -> Snapshot:
    rows: list[Any] = []
    line_numbers: list[int] = []
    metadata: dict[str, Any] = {}
    # Only "\n" ends a JSON Lines record: str.splitlines() would also split inside strings at U+0085,
    # U+2028 and other Unicode line breaks that JSON writers leave unescaped.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = _loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"snapshot file {name} line {number} is not valid JSON: {exc.msg} at column {exc.colno}.") from None
        if isinstance(value, dict) and METADATA_KEY in value:
            entry = value[METADATA_KEY]
            if not isinstance(entry, dict):
                raise InputError(f"snapshot file {name} line {number} has a '{METADATA_KEY}' entry that is not an object.")
            metadata.update(entry)  # later metadata lines (e.g. a trailer with incomplete scopes) win
            continue
        rows.append(value)
        line_numbers.append(number)
    return _snapshot_from_rows(rows, name, metadata=metadata, unit="line", positions=line_numbers)


def _snapshot_from_rows(
    rows: Any,
    name: str,
    *,
    metadata: dict[str, Any],
    unit: str,
    positions: list[int] | None = None,
) -> Snapshot:
    if not isinstance(rows, list):
        raise InputError(f"snapshot file {name} has 'data' that is not a list of rows.")
    for index, row in enumerate(rows):
        where = f"{unit} {positions[index] if positions else index + 1}"
        if not isinstance(row, dict):
            raise InputError(f"snapshot file {name} {where} is not a JSON object.")
        for key in ("id", "type"):
            value = row.get(key)
            if not isinstance(value, str) or not value.strip():
                raise InputError(f"snapshot file {name} {where} has no '{key}'; every Resource Graph row needs 'id' and 'type'.")
    scopes, captured_at = _metadata_fields(metadata, name)
    return Snapshot(rows=rows, source=name, captured_at=captured_at, scopes=scopes, metadata=metadata)


def _metadata_fields(metadata: dict[str, Any], name: str) -> tuple[list[dict[str, Any]], str | None]:
    scopes = metadata.get("scopes") or []
    if not isinstance(scopes, list) or not all(isinstance(scope, dict) for scope in scopes):
        raise InputError(f"snapshot file {name} has '{METADATA_KEY}.scopes' that is not a list of objects.")
    captured_at = metadata.get("captured_at")
    if captured_at is not None and not isinstance(captured_at, str):
        raise InputError(f"snapshot file {name} has '{METADATA_KEY}.captured_at' that is not an ISO-8601 string.")
    return scopes, captured_at
