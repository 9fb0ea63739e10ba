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

A large file is read on both cores: a thread reads and gunzips ahead in chunks cut at line ends, and
past the first KEEP_ROWS rows every other chunk is parsed and extracted by a forked helper process
(_Helper), whose results join the main process's in file order. A chunk the helper could not parse,
or one that repeats a resource seen earlier, is parsed by the main process itself.
"""

from __future__ import annotations

import gc
import gzip
import io
import json
import marshal
import multiprocessing
import os
import queue
import sys
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
KEEP_ROWS = 20_000  # JSON Lines rows kept as a list (checked per chunk); above, rows are streamed again when iterated
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
    except OSError as exc:
        raise _unreadable(exc, name) from None
    with handle:
        try:
            snapshot = _read_json_lines(handle, path, name)
        except (_NotStreamable, OSError, EOFError, zlib.error):
            snapshot = None
    return snapshot if snapshot is not None else _read_whole(path, name)


def _unreadable(exc: OSError, name: str) -> InputError:
    if isinstance(exc, FileNotFoundError):
        return InputError(f"snapshot file {name} does not exist.")
    if isinstance(exc, IsADirectoryError):
        return InputError(f"snapshot path {name} is a directory, not a file.")
    return InputError(f"snapshot file {name} cannot be read: {exc.strerror}.")


class _NotStreamable(Exception):
    """The file is not JSON Lines the stream can take; the whole-document reader decides."""


def _open_stream(handle: BinaryIO) -> BinaryIO:
    head = handle.read(2)
    handle.seek(0)
    return gzip.GzipFile(fileobj=handle, mode="rb") if head == _GZIP_MAGIC else handle


class _Chunks:
    """A JSON Lines stream in large chunks cut at line ends (b"\\n" only, as the whole-document reader
    splits), read and gunzipped in a thread ahead of the parse (zlib and the CRC release the GIL).

    With a helper process, once `share()` is called, every other chunk is also sent to the helper to
    parse: those come out as (True, chunk), the others as (False, chunk), in file order."""

    def __init__(self, stream: BinaryIO, helper: _Helper | None = None):
        self._stream = stream
        self._helper = helper
        self._shared = threading.Event()
        self._stop = threading.Event()
        self._ready: queue.Queue[tuple[bool, bytes] | BaseException | None] = queue.Queue(maxsize=4)
        self._thread = threading.Thread(target=self._read, name="dr-audit-read", daemon=True)
        self._thread.start()

    def share(self) -> None:
        self._shared.set()

    def _put(self, item: tuple[bool, bytes] | BaseException | None) -> bool:
        while not self._stop.is_set():
            try:
                self._ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        try:
            rest = b""
            first = True
            turn = False
            while data := self._stream.read(_CHUNK):
                if first:
                    data = data[3:] if data.startswith(_BOM) else data
                    first = False
                cut = data.rfind(b"\n")
                if cut < 0:
                    rest += data
                    continue
                chunk, rest = rest + data[:cut + 1], data[cut + 1:]
                shared = False
                if self._helper is not None and self._shared.is_set():
                    turn = not turn
                    shared = turn and self._helper.send(chunk)
                if not self._put((shared, chunk)):
                    return
            if rest:
                self._put((False, rest))
            self._put(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the parsing thread, which raises it
            self._put(exc)
        finally:
            if self._helper is not None:
                self._helper.send(b"")  # no more chunks

    def __iter__(self) -> Iterator[tuple[bool, bytes]]:
        while (item := self._ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def _numbered_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """Lines split at b"\\n" only (as the whole-document reader splits them), numbered from 1."""
    number = 0
    chunks = _Chunks(stream)
    try:
        for _, chunk in chunks:
            lines = chunk.split(b"\n")
            if chunk.endswith(b"\n"):
                lines.pop()
            for line in lines:
                number += 1
                yield number, line
    finally:
        chunks.close()


class _Helper:
    """A forked process that parses and extracts the chunks it is sent (see _extract_lines) and answers
    each with its result (marshal), in order: the second core parses half of a large snapshot. Anything
    it cannot do (a bad line, any error, its death) it leaves to the main process, which then parses
    that chunk itself and words every error as always."""

    MIN_BYTES = 4 << 20  # smaller files are parsed in less time than the helper takes to pay off

    @classmethod
    def start(cls, handle: BinaryIO) -> _Helper | None:
        try:
            if os.fstat(handle.fileno()).st_size < cls.MIN_BYTES or (os.cpu_count() or 1) < 2:
                return None
        except (OSError, ValueError, io.UnsupportedOperation):
            return None
        if not sys.platform.startswith("linux"):  # fork is what makes the helper cheap; Linux only
            return None
        return cls()

    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")
        chunks_in, self._chunks = context.Pipe(duplex=False)
        self._results, results_out = context.Pipe(duplex=False)
        self._process = context.Process(target=_helper_main, args=(chunks_in, results_out, self._chunks, self._results),
                                        name="dr-audit-parse", daemon=True)
        self._process.start()
        chunks_in.close()
        results_out.close()
        self._alive = True

    def send(self, chunk: bytes) -> bool:
        if not self._alive:
            return False
        try:
            self._chunks.send_bytes(chunk)
            return True
        except (OSError, ValueError):
            self._alive = False
            return False

    def result(self) -> bytes:
        """The helper's answer for the oldest chunk sent; b"" when it could not parse it."""
        try:
            return self._results.recv_bytes()
        except (OSError, EOFError, ValueError):
            self._alive = False
            return b""

    def close(self) -> None:
        self._alive = False
        self._chunks.close()
        self._results.close()
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


def _helper_main(chunks: Any, results: Any, *inherited: Any) -> None:
    for end in inherited:  # the parent's ends: without closing them, a dead parent would never be noticed
        end.close()
    gc.disable()
    try:
        while data := chunks.recv_bytes():
            try:
                extractor = Extractor()
                answer = marshal.dumps((*_extract_lines(data.split(b"\n"), extractor.add), extractor.parts()))
            except Exception:  # noqa: BLE001 - the main process parses this chunk itself
                answer = b""
            results.send_bytes(answer)
    except (EOFError, OSError):
        pass


def _parse_line(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        pass
    try:  # NaN, Infinity, lone surrogates...: what the standard module accepts, it accepts here too
        return json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _NotStreamable() from None


def _extract_lines(lines: list[bytes], add: Callable[[dict[str, Any]], None] | None) -> tuple[int, list[Any], bool]:
    """JSON Lines rows: parsed, checked, counted and handed to `add` (the kept list's append up to
    KEEP_ROWS, then an Extractor's). (rows, metadata entries in file order, whether `add` failed on a
    row: then the rest are only checked and counted.) _NotStreamable for a line the stream cannot take. This loop runs
    once per row of snapshots of millions, in the main process and in the helper: written for that."""
    loads = orjson.loads
    count = 0
    entries: list[Any] = []
    failed = False
    for line in lines:
        try:
            value = loads(line)
        except orjson.JSONDecodeError:
            if not line or line.isspace():
                continue
            value = _parse_line(line)
        if not isinstance(value, dict):
            raise _NotStreamable()
        if METADATA_KEY in value:
            entry = value[METADATA_KEY]
            if not isinstance(entry, dict):
                raise _NotStreamable()
            entries.append(entry)
            continue
        ident, kind = value.get("id"), value.get("type")
        if (ident.__class__ is not str or kind.__class__ is not str or not ident or not kind or ident.isspace()
                or kind.isspace()):
            raise _NotStreamable()
        count += 1
        if add is not None:
            try:
                add(value)
            except Exception:  # noqa: BLE001 - build_inventory meets the row again and reports it
                add = None
                failed = True
    return count, entries, failed


def _read_json_lines(handle: BinaryIO, path: Path, name: str) -> Snapshot | None:
    """JSON Lines, streamed. None when the file is empty or holds one JSON document (the whole file on
    one line), which the whole-document rules read."""
    rows: list[dict[str, Any]] | None = []  # until KEEP_ROWS; then the extractor takes the rows as they come
    extractor: Extractor | None = None
    count = 0
    metadata: dict[str, Any] = {}
    first_line: bytes | None = None  # the file's first value: JSON Lines only once a second one follows
    first: Any = None
    second = False
    collecting = gc.isenabled()
    gc.disable()  # millions of parsed objects that all survive: generational collection only costs time
    helper = _Helper.start(handle)  # forked before any thread starts
    chunks = _Chunks(_open_stream(handle), helper)
    try:
        for shared, chunk in chunks:
            answer = helper.result() if shared and helper is not None else b""
            if answer:
                added, entries, failed, parts = marshal.loads(answer)
                later = Extractor.from_parts(parts)
                if extractor is None or extractor.disjoint(later):
                    if extractor is not None:
                        extractor.absorb(later)
                else:
                    answer = b""  # a resource seen in an earlier chunk: parse the chunk here
            if not answer:
                lines = chunk.split(b"\n")
                if first_line is None:
                    start = next((i for i, line in enumerate(lines) if line.strip()), None)
                    if start is None:
                        continue
                    first_line, lines = lines[start], lines[start + 1:]
                    first = _parse_line(first_line)
                if not second:
                    if not any(line.strip() for line in lines):
                        continue
                    second = True
                    lines.insert(0, first_line)
                add = rows.append if rows is not None else extractor.add if extractor is not None else None
                added, entries, failed = _extract_lines(lines, add)
            count += added
            for entry in entries:
                metadata.update(entry)  # later metadata lines (e.g. a trailer with incomplete scopes) win
            if failed:
                extractor = None  # build_inventory meets the failing row again and reports it
            if rows is not None and len(rows) > KEEP_ROWS:
                extractor = _extract(Extractor(), rows)
                rows = None
                chunks.share()
    finally:
        chunks.close()
        if helper is not None:
            helper.close()
        if collecting:
            gc.enable()
    if first_line is None:
        return None
    if not second:
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
    except OSError as exc:
        raise _unreadable(exc, name) from None
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
