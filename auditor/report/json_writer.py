"""findings.json: the findings document as indented JSON, byte for byte what
`json.dumps(document, indent=2, ensure_ascii=False) + "\\n"` writes, in UTF-8.

json.dumps with indent runs json's pure-Python encoder (11 s and a 600 MB string for 128,609
findings); orjson writes the same text in a fraction of that, a thousand list items at a time
straight to the file. The two agree on everything a findings document holds except some floats:
orjson spells 1e-05 as 0.00001 and 1e+16 as 1e16, and writes NaN and Infinity as null. Each piece
is checked for those before orjson writes it; a document with such a float, or with anything orjson
refuses (a non-string key, an integer beyond 64 bits, a lone surrogate, deep nesting), is rewritten
from its start by json.dumps, as before.
"""

from __future__ import annotations

import io
import json
from typing import Any, BinaryIO, Callable

import orjson

# List items per orjson call when a top-level list is written in pieces: big enough that the calls
# cost nothing, small enough that no piece is large.
BATCH = 1000
# orjson's nesting limit: a deeper (or circular) document goes to json.dumps.
_MAX_DEPTH = 254
_SCALARS = frozenset((str, int, bool, type(None)))


def render_json(document: Any) -> str:
    buffer = io.BytesIO()
    write_json(document, buffer)
    return buffer.getvalue().decode("utf-8")


def write_json(document: Any, handle: BinaryIO) -> None:
    """Write the document's JSON text to a binary file opened for writing (and seekable: a document
    that orjson turns out not to write the way json does is rewritten from where it started)."""
    start = handle.tell()
    try:
        _write_orjson(document, handle.write)
        return
    except (_NotAsJson, orjson.JSONEncodeError):
        handle.seek(start)
        handle.truncate()
    handle.write((json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


class _NotAsJson(Exception):
    """A value orjson would not write as json.dumps does."""


def _dumps(value: Any) -> bytes:
    # Each piece is checked just before orjson writes it, while its objects are still in the CPU's
    # caches (checking the whole document first costs a third more).
    if not _orjson_spells_like_json(value):
        raise _NotAsJson()
    return orjson.dumps(value, option=orjson.OPT_INDENT_2)


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
    """A list one level in, in batches: each batch as orjson indents it at the top level, without its
    brackets and one level deeper."""
    write(b"[")
    for first in range(0, len(items), BATCH):
        text = _dumps(items[first:first + BATCH])
        # "[\n  item,\n  item\n]" → "\n    item,\n    item": newlines in JSON text are all indentation.
        body = text[1:-2].replace(b"\n", b"\n  ")
        write(body if first == 0 else b"," + body)
    write(b"\n  ]")


def _orjson_spells_like_json(document: Any) -> bool:
    """Whether every value is one orjson writes as json.dumps does: strings, integers, booleans,
    None, and floats that are finite and between 1e-4 and 1e16 in magnitude (or zero), in dicts and
    lists. Other types and too deep nesting are left to json.dumps too."""
    stack = [(document, 0)]
    while stack:
        node, depth = stack.pop()
        kind = node.__class__
        if kind in _SCALARS:
            continue
        if kind is float:
            if 1e-4 <= abs(node) < 1e16 or node == 0.0:
                continue
            return False
        if kind is dict:
            children = node.values()
        elif kind is list:
            children = node
        else:
            return False
        if depth >= _MAX_DEPTH:
            return False
        depth += 1
        for child in children:
            child_kind = child.__class__
            if child_kind is str or child_kind is int or child_kind is bool or child is None:
                continue
            stack.append((child, depth))
    return True
