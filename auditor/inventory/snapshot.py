"""Read snapshots in every format spec.md accepts.

Accepted: a JSON array of Resource Graph rows; an object with a `data` array (a Resource Graph REST
response or `az graph query` output, also the older table format with columns/rows); JSON Lines, one
row per line; any of these gzip-compressed; and the tool's own snapshot (the same rows plus a
`dr_audit_snapshot` metadata object: capture time, scopes, incomplete scopes).
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.errors import InputError

METADATA_KEY = "dr_audit_snapshot"
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class Snapshot:
    rows: list[dict[str, Any]]
    source: str
    captured_at: str | None = None
    scopes: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


def read_snapshot(path: str | Path) -> Snapshot:
    path = Path(path)
    name = str(path)
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
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # several top-level values: JSON Lines
            return _parse_json_lines(text, name)
        raise InputError(f"snapshot file {name} is not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.") from None
    return _snapshot_from_object(document, name)


def _load_json(text: str, name: str) -> Any:
    try:
        return json.loads(text)
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
            value = json.loads(line)
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
    scopes = metadata.get("scopes") or []
    if not isinstance(scopes, list) or not all(isinstance(scope, dict) for scope in scopes):
        raise InputError(f"snapshot file {name} has '{METADATA_KEY}.scopes' that is not a list of objects.")
    captured_at = metadata.get("captured_at")
    if captured_at is not None and not isinstance(captured_at, str):
        raise InputError(f"snapshot file {name} has '{METADATA_KEY}.captured_at' that is not an ISO-8601 string.")
    return Snapshot(rows=rows, source=name, captured_at=captured_at, scopes=scopes, metadata=metadata)
