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
past the first KEEP_ROWS rows each chunk is parsed and extracted apart, by a forked helper process
(_Helper) while it has fewer than two chunks to do and by the main process otherwise; the extractions
join in file order. Chunks and answers cross a socket pair, a message per system call (_Channel).
A chunk the helper could not parse, or one that repeats a resource seen earlier, is parsed by the
main process again as it joins.
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
import socket
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

try:  # ISA-L's gzip: the same format and checks (CRC, length) in a quarter of zlib's time (1.7 GB at 1M rows)
    from isal.igzip import IGzipFile as _GzipFile
    from isal.isal_zlib import error as _InflateError
except ImportError:  # pragma: no cover - a platform without its wheels
    _GzipFile, _InflateError = gzip.GzipFile, zlib.error

from auditor.errors import InputError
from auditor.forked import LENGTH, can_fork
from auditor.heap import long_lived
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
        except (_NotStreamable, OSError, EOFError, zlib.error, _InflateError):
            snapshot = None  # the whole-document reader reads it again and words the error
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
    return _GzipFile(fileobj=handle, mode="rb") if head == _GZIP_MAGIC else handle


class _Chunks:
    """A JSON Lines stream in large chunks cut at line ends (b"\\n" only, as the whole-document reader
    splits), read and gunzipped in a thread ahead of the parse (zlib and the CRC release the GIL).

    With a helper process, once `share()` is called, a chunk goes to the helper while it has fewer than
    two to do (one in hand, one queued: it never waits), and to this process otherwise: those come out as (True, chunk), the others as (False, chunk),
    in file order. At most AHEAD chunks wait for this process; when that many do, the first of the two
    to be free takes the next one."""

    AHEAD = 4

    def __init__(self, stream: BinaryIO, helper: _Helper | None = None):
        self._stream = stream
        self._helper = helper
        self._shared = threading.Event()
        self._stop = threading.Event()
        self._ready: queue.SimpleQueue[tuple[bool, bytes] | BaseException | None] = queue.SimpleQueue()
        self._slots = threading.Semaphore(self.AHEAD)
        self._thread = threading.Thread(target=self._read, name="dr-audit-read", daemon=True)
        self._thread.start()

    def share(self) -> None:
        self._shared.set()

    def _place(self, chunk: bytes) -> bool | None:
        """True when the helper took the chunk, False when a place here did, None when stopping."""
        sharing = self._helper is not None and self._shared.is_set()
        while not self._stop.is_set():
            if sharing and self._helper.backlog() < 2 and self._helper.send(chunk):
                return True
            if self._slots.acquire(timeout=0.002 if sharing else 0.1):
                return False
        return None

    def _hand_over(self, chunk: bytes) -> bool:
        shared = self._place(chunk)
        if shared is not None:
            self._ready.put((shared, chunk))
        return shared is not None

    def _read(self) -> None:
        try:
            rest = b""
            first = True
            while data := self._stream.read(_CHUNK):
                if first:
                    data = data[3:] if data.startswith(_BOM) else data
                    first = False
                cut = data.rfind(b"\n")
                if cut < 0:
                    rest += data
                    continue
                chunk, rest = rest + data[:cut + 1], data[cut + 1:]
                if not self._hand_over(chunk):
                    return
            if rest and not self._hand_over(rest):
                return
            self._ready.put(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the parsing thread, which raises it
            self._ready.put(exc)
        finally:
            if self._helper is not None:
                self._helper.send(b"")  # no more chunks

    def __iter__(self) -> Iterator[tuple[bool, bytes]]:
        while (item := self._ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            if not item[0]:
                self._slots.release()
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
    each with its result (marshal), in order: the second core parses part of a large snapshot. Anything
    it cannot do (a bad line, any error, its death) it leaves to the main process, which then parses
    that chunk itself and words every error as always."""

    MIN_BYTES = 4 << 20  # smaller files are parsed in less time than the helper takes to pay off

    @classmethod
    def start(cls, handle: BinaryIO) -> _Helper | None:
        try:
            if os.fstat(handle.fileno()).st_size < cls.MIN_BYTES:
                return None
        except (OSError, ValueError, io.UnsupportedOperation):
            return None
        return cls() if can_fork() else None  # the same rule as every other fork of a check

    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")
        chunks_in, self._chunks = _channels()
        self._results, results_out = _channels()
        self._sent = 0
        self._done = context.RawValue("q", 0)  # chunks the helper has finished, counted by the helper
        self._process = context.Process(target=_helper_main,
                                        args=(chunks_in, results_out, self._done, self._chunks, self._results),
                                        name="dr-audit-parse", daemon=True)
        self._process.start()
        chunks_in.close()
        results_out.close()
        self._alive = True
        # Answers are read as soon as they come, so that the helper never waits for this process to be
        # free before it takes its next chunk; None marks the end (the helper is gone).
        self._answers: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._receiver = threading.Thread(target=self._receive, name="dr-audit-answers", daemon=True)
        self._receiver.start()
        # Chunks are written to the helper by a thread of their own: a 4 MB write waits until the helper
        # reads it, and the reader must not wait with it.
        self._outbox: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._sender = threading.Thread(target=self._send, name="dr-audit-chunks", daemon=True)
        self._sender.start()

    def _receive(self) -> None:
        try:
            while True:
                self._answers.put(self._results.recv_bytes())
        except (OSError, EOFError, ValueError):
            self._alive = False
            self._answers.put(None)

    def _send(self) -> None:
        try:
            while chunk := self._outbox.get():
                self._chunks.send_bytes(chunk)
        except (OSError, ValueError):
            self._alive = False
        finally:
            self._chunks.close()  # the helper ends at the end of its input, which ends the receiver

    def send(self, chunk: bytes) -> bool:
        """Queue a chunk for the helper (b"": no more chunks); False when the helper is gone."""
        if not self._alive:
            return False
        self._outbox.put(chunk)
        self._sent += 1 if chunk else 0
        return True

    def backlog(self) -> int:
        """Chunks sent that the helper has not finished yet."""
        return self._sent - self._done.value

    def ready(self) -> bool:
        """Whether result() has an answer without waiting."""
        return not self._answers.empty()

    def result(self) -> bytes:
        """The helper's answer for the oldest chunk sent and not yet answered here; b"" when it could not
        parse it (or is gone)."""
        answer = self._answers.get()
        if answer is None:
            self._answers.put(None)  # and for every later call
            return b""
        return answer

    def close(self) -> None:
        self._alive = False
        self._outbox.put(b"")
        self._sender.join()
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._receiver.join()
        self._results.close()


class _Channel:
    """One end of a socket pair carrying length-prefixed messages one way, with the interface of a
    multiprocessing Connection (send_bytes, recv_bytes, close). Each message crosses in one system
    call on each side, which waits in the kernel for the whole of it (a blocking send, a receive with
    MSG_WAITALL): a 4 MB chunk or a 2 MB answer no longer crosses in pieces, each of which waited for
    a thread here to get the GIL back while the helper sat blocked (2.3 s of its 7.5 s at a million
    rows, through pipes)."""

    def __init__(self, end: socket.socket):
        self._end = end

    def send_bytes(self, data: bytes) -> None:
        message = [LENGTH.pack(len(data)), data]
        sent = self._end.sendmsg(message)
        if sent < LENGTH.size + len(data):  # interrupted by a signal: the rest, in order
            self._end.sendall(memoryview(b"".join(message))[sent:])

    def recv_bytes(self) -> bytes:
        (length,) = LENGTH.unpack(self._receive(LENGTH.size))
        return self._receive(length) if length else b""

    def _receive(self, size: int) -> bytes:
        data = self._end.recv(size, socket.MSG_WAITALL)
        while 0 < len(data) < size:  # interrupted by a signal
            more = self._end.recv(size - len(data), socket.MSG_WAITALL)
            if not more:
                break
            data += more
        if len(data) < size:
            raise EOFError("the other process closed its end")
        return data

    def close(self) -> None:
        self._end.close()


def _channels() -> tuple[_Channel, _Channel]:
    """(receiving end, sending end) of a new socket pair, with buffers of up to 4 MB where the system
    allows them (a message then rarely waits for the reader at all)."""
    receiving, sending = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    for end, option in ((receiving, socket.SO_RCVBUF), (sending, socket.SO_SNDBUF)):
        try:
            end.setsockopt(socket.SOL_SOCKET, option, _CHUNK)
        except OSError:
            pass
    return _Channel(receiving), _Channel(sending)


def _helper_main(chunks: Any, results: Any, done: Any, *inherited: Any) -> None:
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
            done.value += 1
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


_PENDING = 8  # chunks extracted apart and not yet merged, at most (the oldest waits for the helper)


def _extracted_apart(chunk: bytes) -> tuple[Any, ...]:
    """A chunk's rows extracted into an Extractor of their own: (rows, metadata entries, failed, Extractor)."""
    extractor = Extractor()
    return (*_extract_lines(chunk.split(b"\n"), extractor.add), extractor)


def _settled(entry: tuple[bytes, tuple[Any, ...] | None], helper: _Helper | None) -> tuple[bytes, tuple[Any, ...] | None]:
    """A pending chunk with its extraction: the helper's answer for a chunk it took (None when it had none)."""
    chunk, part = entry
    if part is None and helper is not None:
        answer = helper.result()
        if answer:
            added, entries, failed, parts = marshal.loads(answer)
            part = (added, entries, failed, Extractor.from_parts(parts))
    return chunk, part


class _Merged:
    """What the chunks read so far add up to: the extractor (None once a row failed it: build_inventory
    meets that row again and reports it), the row count and the metadata."""

    def __init__(self) -> None:
        self.extractor: Extractor | None = None
        self.count = 0
        self.metadata: dict[str, Any] = {}

    def take(self, added: int, entries: list[Any], failed: bool) -> None:
        self.count += added
        for entry in entries:
            self.metadata.update(entry)  # later metadata lines (e.g. a trailer with incomplete scopes) win
        if failed:
            self.extractor = None

    def merge(self, chunk: bytes, part: tuple[Any, ...] | None) -> None:
        """The next chunk in file order, with its rows extracted apart (None: not extracted). A chunk that
        repeats a resource seen earlier is extracted here again, so that the first copy wins."""
        if part is not None:
            added, entries, failed, later = part
            if self.extractor is None or self.extractor.disjoint(later):
                if self.extractor is not None and not failed:
                    self.extractor.absorb(later)
                self.take(added, entries, failed)
                return
        extractor = self.extractor
        self.take(*_extract_lines(chunk.split(b"\n"), extractor.add if extractor is not None else None))


def _read_json_lines(handle: BinaryIO, path: Path, name: str) -> Snapshot | None:
    """JSON Lines, streamed. None when the file is empty or holds one JSON document (the whole file on
    one line), which the whole-document rules read."""
    rows: list[dict[str, Any]] | None = []  # until KEEP_ROWS; then the extractor takes the rows as they come
    merged = _Merged()
    first_line: bytes | None = None  # the file's first value: JSON Lines only once a second one follows
    first: Any = None
    second = False
    # Once the extractor takes over, each chunk is extracted apart (here or by the helper) and merged in
    # file order: this process never waits for the helper's chunk before it parses its own.
    pending: deque[tuple[bytes, tuple[Any, ...] | None]] = deque()
    # Millions of parsed objects that all survive: generational collection would only cost time.
    with long_lived():
        helper = _Helper.start(handle)  # forked before any thread starts
        chunks = _Chunks(_open_stream(handle), helper)
        try:
            for shared, chunk in chunks:
                if rows is None:
                    pending.append((chunk, None) if shared else (chunk, _extracted_apart(chunk)))
                    while pending and (pending[0][1] is not None or helper is None or helper.ready()
                                       or len(pending) > _PENDING):
                        merged.merge(*_settled(pending.popleft(), helper))
                    continue
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
                merged.take(*_extract_lines(lines, rows.append))
                if len(rows) > KEEP_ROWS:
                    merged.extractor = _extract(Extractor(), rows)
                    rows = None
                    chunks.share()
            while pending:
                merged.merge(*_settled(pending.popleft(), helper))
        finally:
            chunks.close()
            if helper is not None:
                helper.close()
    extractor, count, metadata = merged.extractor, merged.count, merged.metadata
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
