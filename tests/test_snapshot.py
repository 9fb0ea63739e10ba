"""Every snapshot format spec.md accepts reads to the same rows; broken input names file and place."""

from __future__ import annotations

import gzip
import json

import pytest

from auditor.errors import InputError
from auditor.inventory.snapshot import read_snapshot
from conftest import vm_row

ROWS = vm_row("app01") + vm_row("app02", disk_sku="Standard_LRS")


def _formats(tmp_path):
    array = json.dumps(ROWS)
    rest_response = json.dumps({"totalRecords": len(ROWS), "count": len(ROWS), "data": ROWS, "facets": []})
    az_output = json.dumps({"count": len(ROWS), "data": ROWS, "skip_token": None, "total_records": len(ROWS)})
    lines = "\n".join(json.dumps(row) for row in ROWS) + "\n"
    columns = sorted({key for row in ROWS for key in row})
    table = json.dumps({"data": {"columns": [{"name": c, "type": "string"} for c in columns],
                                 "rows": [[row.get(c) for c in columns] for row in ROWS]}})
    own = json.dumps({"dr_audit_snapshot": {"version": 1, "captured_at": "2026-11-20T06:00:00Z",
                                            "scopes": [{"subscription_id": "s", "status": "complete"}]},
                      "data": ROWS})
    texts = {"array.json": array, "rest.json": rest_response, "az.json": az_output, "rows.jsonl": lines,
             "table.json": table, "own.json": own}
    paths = {}
    for name, text in texts.items():
        plain = tmp_path / name
        plain.write_text(text, encoding="utf-8")
        packed = tmp_path / (name + ".gz")
        packed.write_bytes(gzip.compress(text.encode()))
        paths[name] = plain
        paths[name + ".gz"] = packed
    return paths


def test_every_accepted_format_reads_the_same_rows(tmp_path):
    for name, path in _formats(tmp_path).items():
        snapshot = read_snapshot(path)
        assert [row["id"] for row in snapshot.rows] == [row["id"] for row in ROWS], name


def test_own_snapshot_keeps_capture_time_and_scopes(tmp_path):
    snapshot = read_snapshot(_formats(tmp_path)["own.json.gz"])
    assert snapshot.captured_at == "2026-11-20T06:00:00Z"
    assert snapshot.scopes == [{"subscription_id": "s", "status": "complete"}]


def test_json_lines_metadata_line_is_not_a_row(tmp_path):
    path = tmp_path / "snap.jsonl"
    path.write_text(json.dumps({"dr_audit_snapshot": {"captured_at": "2026-11-20T06:00:00Z"}}) + "\n"
                    + "\n".join(json.dumps(row) for row in ROWS), encoding="utf-8")
    snapshot = read_snapshot(path)
    assert len(snapshot.rows) == len(ROWS) and snapshot.captured_at == "2026-11-20T06:00:00Z"


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "is empty"),
    (b"   \n", "is empty"),
    (b"\x00\x01\x02binary", "is not JSON"),
    (b"\xff\xfe\x00garbage", "is not UTF-8"),
    (b'[{"id": "/x", "type": "t"},', "is not valid JSON at line 1"),
    (b"\x1f\x8b\x08\x00broken", "is not a valid gzip file"),
    (b'{"data": 5}', "'data' that is not a list"),
    (b'[{"id": "/a", "type": "t"}, {"type": "t"}]', "row 2 has no 'id'"),
    (b'[{"id": "/a", "type": "t"}, 7]', "row 2 is not a JSON object"),
    (b'{"id": "/a", "type": "t"}\n{"id": "/b"}\n', "line 2 has no 'type'"),
    (b'{"id": "/a", "type": "t"}\n\n{"id": "/b", "type": "t"\n', "line 3 is not valid JSON"),
])
def test_broken_input_names_file_and_place(tmp_path, content, expected):
    path = tmp_path / "snap.json"
    path.write_bytes(content)
    with pytest.raises(InputError) as error:
        read_snapshot(path)
    assert expected in str(error.value)
    assert str(path) in str(error.value)


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_snapshot(tmp_path / "nope.json")
