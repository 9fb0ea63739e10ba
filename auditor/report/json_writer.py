"""findings.json: the findings document as indented JSON, the text of
`json.dumps(document, indent=2, ensure_ascii=False) + "\\n"` in UTF-8, with one difference: the
document is always valid JSON (RFC 8259), so a NaN or an infinity is written as null, not as the
NaN and Infinity that json.dumps writes and JSON parsers refuse.

json.dumps with indent runs json's pure-Python encoder (11 s and a 600 MB string for 128,609
findings); orjson writes the same text in a fraction of that, a thousand list items at a time
straight to the file. Numbers keep their values but not always json's spelling: a float below 1e-4
or from 1e16 in magnitude is written as 0.00001 or 1e16 where json writes 1e-05 or 1e+16 (the same
number to every JSON parser). Checking every value for such floats cost a 1,000,000-row check 1.4 s.
A document orjson refuses (a non-string key, an integer beyond 64 bits, a lone surrogate, deep or
circular nesting, a type JSON has no value for) is rewritten from its start by json.dumps, which
writes it or raises the error it always raised.
"""

from __future__ import annotations

import io
import json
import math
import queue
import threading
from typing import Any, BinaryIO, Callable

import orjson

# List items per orjson call when a top-level list is written in pieces: big enough that the calls
# cost nothing, small enough that no piece is large.
BATCH = 1000
# Types orjson writes that json.dumps refuses (dates, dataclasses): refused here too, so that the
# document goes to json.dumps and fails as it did.
_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def render_json(document: Any) -> str:
    buffer = io.BytesIO()
    write_json(document, buffer)
    return buffer.getvalue().decode("utf-8")


def write_json(document: Any, handle: BinaryIO) -> None:
    """Write the document's JSON text to a binary file opened for writing (and seekable: a document
    that orjson refuses is rewritten from where it started)."""
    start = handle.tell()
    writer = _Writer(handle)
    try:
        _write_orjson(document, writer.write)
        return
    except (_NotAsJson, orjson.JSONEncodeError):
        writer.close()  # every piece written before the file is cut back
        handle.seek(start)
        handle.truncate()
    finally:
        writer.close()  # raises a write's error
    text = json.dumps(_finite(document), indent=2, ensure_ascii=False)
    handle.write((text + "\n").encode("utf-8"))


class _Writer:
    """Writes byte strings to the file from a thread of its own, in order: the kernel's copying of
    the text into the file (600 MB at a million rows) then overlaps with orjson making the next
    pieces, which holds the interpreter's lock where a write does not (a million-row check's reports
    took 2.5 s instead of 3.1-3.6 s). At most QUEUED pieces wait. An error in a write is raised by
    the next write() or by close()."""

    QUEUED = 8

    def __init__(self, handle: BinaryIO):
        self._handle = handle
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=self.QUEUED)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = threading.Thread(
            target=self._run, name="findings.json writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._handle.write(data)
                except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
                    self._error = exc

    def write(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(data)

    def close(self) -> None:
        """Return once every piece is written, or raise the error of the write that failed (the first
        call; later ones do nothing)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error


class _NotAsJson(Exception):
    """A document orjson would not write as json.dumps does."""


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=_OPTIONS)


def _write_orjson(document: Any, write: Callable[[bytes], Any]) -> None:
    if document.__class__ is not dict or not document:
        write(_dumps(document) + b"\n")
        return
    separator = b"{\n  "
    for key, value in document.items():
        if key.__class__ is not str:
            raise _NotAsJson()  # json.dumps writes 1 as "1"; orjson refuses it
        write(separator + orjson.dumps(key) + b": ")
        separator = b",\n  "
        if value.__class__ is list and len(value) > BATCH:
            _write_list(value, write)
        else:
            write(_dumps(value).replace(b"\n", b"\n  "))
    write(b"\n}\n")


def _write_list(items: list[Any], write: Callable[[bytes], Any]) -> None:
    """A list one level in, in batches of BATCH items, each indented by orjson at its depth."""
    write(b"[")
    for first in range(0, len(items), BATCH):
        # The batch inside a list of its own: orjson indents its items as deep as they go in the file,
        # "[\n  [\n    item,\n    item\n  ]\n]", and the outer brackets are cut off (re-indenting
        # 600 MB of text line by line cost a quarter of a second).
        text = _dumps([items[first:first + BATCH]])
        body = text[len(_OPEN):-len(_CLOSE)]
        write(body if first == 0 else b"," + body)
    write(b"\n  ]")


_OPEN, _CLOSE = b"[\n  [", b"\n  ]\n]"


def _finite(value: Any, depth: int = 0) -> Any:
    """The document with every NaN and infinity as None, as orjson writes them (json.dumps writes NaN
    and Infinity). Below a depth no document of this tool reaches, left as is for json.dumps to refuse
    (a circular document) or to write."""
    if value.__class__ is float:
        return value if math.isfinite(value) else None
    if depth > 600:
        return value
    if isinstance(value, dict):
        copy = {}
        for key, item in value.items():
            copy[key] = _finite(item, depth + 1)
        return copy
    if isinstance(value, (list, tuple)):
        items = []
        for item in value:
            items.append(_finite(item, depth + 1))
        return items
    return value
