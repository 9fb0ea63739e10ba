"""findings.json holds, whatever the document holds, the values json.dumps(document, indent=2,
ensure_ascii=False) writes, as valid JSON (NaN and infinities as null); byte for byte the same text
where every float is one json spells as orjson does (zero, or between 1e-4 and 1e16 in magnitude), as
in every findings document this tool makes; and its file is written whole or not at all."""

from __future__ import annotations

import io
import json
import math
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.pipeline import AuditOptions, audit, write_atomically
from auditor.report import json_writer
from auditor.report.json_writer import render_json, write_json
from auditor.resources import demo_estate


def reference(document) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def finite(value):
    """The document as JSON can hold it: NaN and infinities as None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite(item) for item in value]
    return value


def strict(text: bytes):
    """The values of a JSON text, refusing NaN and Infinity (not JSON)."""
    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")
    return json.loads(text, parse_constant=refuse)


def written(document) -> bytes:
    buffer = io.BytesIO()
    write_json(document, buffer)
    return buffer.getvalue()


SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63 - 5, max_value=2**64 + 5)
           | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1e-05, 1e16, 1e-4, 0.1, -0.0, 1.5e300])
           | st.text())
VALUES = st.recursive(SCALARS, lambda children: st.lists(children, max_size=6)
                      | st.dictionaries(st.text(max_size=5), children, max_size=6), max_leaves=40)


@settings(max_examples=400, deadline=None)
@given(document=st.dictionaries(st.text(max_size=8), VALUES | st.lists(VALUES, max_size=12), max_size=6) | VALUES)
def test_any_document_is_written_as_valid_json_with_the_values_json_dumps_writes(document):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(json_writer, "BATCH", 3)  # top-level lists longer than this go in pieces
        try:
            expected = reference(finite(document))
        except UnicodeEncodeError:  # a lone surrogate: no file either way
            with pytest.raises(UnicodeEncodeError):
                written(document)
            return
        assert strict(written(document)) == strict(expected)


PLAIN = (st.none() | st.booleans() | st.integers(min_value=-2**63, max_value=2**64 - 1) | st.just(0.0)
         | st.floats(min_value=1e-4, max_value=9.9e15) | st.floats(min_value=-9.9e15, max_value=-1e-4)
         | st.text(st.characters(blacklist_categories=("Cs",))))
PLAIN_VALUES = st.recursive(PLAIN, lambda children: st.lists(children, max_size=6)
                            | st.dictionaries(st.text(max_size=5), children, max_size=6), max_leaves=40)


@settings(max_examples=300, deadline=None)
@given(document=st.dictionaries(st.text(max_size=8), PLAIN_VALUES | st.lists(PLAIN_VALUES, max_size=12), max_size=6))
def test_documents_of_plain_values_are_written_byte_for_byte_as_json_dumps_writes_them(document):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(json_writer, "BATCH", 3)
        assert written(document) == reference(document)


@pytest.fixture
def monkeypatch_batch(monkeypatch):
    monkeypatch.setattr(json_writer, "BATCH", 3)  # top-level lists longer than this go in pieces


@pytest.mark.parametrize("document", [
    {}, [], {"findings": []}, {"findings": [{}] * 7, "unknown": [[]] * 4, "x": {"y": []}},
    {"a": {1: "int key"}}, {2: "top-level int key"}, {"a": [2**70] * 5}, {"a": ["\u2028 \x00 \x7f \"é\""] * 5},
    "just a string", 3.5, {"a": [1e-4, -0.0, 9.5e15, 0.1]},
])
def test_edge_documents(document, monkeypatch_batch):
    assert written(document) == reference(document)
    assert render_json(document) == reference(document).decode("utf-8")


@pytest.mark.parametrize("document, expected", [
    ({"a": float("nan")}, b'{\n  "a": null\n}\n'),
    ({"a": [1, float("inf")] * 3}, None),
    ({"a": 1e-05, "b": [{"c": 1e16}] * 5}, None),
    ({1: float("-inf"), "b": 1e-05}, b'{\n  "1": null,\n  "b": 1e-05\n}\n'),  # json.dumps writes it (int key)
])
def test_floats_json_has_no_value_or_spells_apart_keep_their_values(document, expected, monkeypatch_batch):
    text = written(document)
    assert strict(text) == strict(reference(finite(document)))
    if expected is not None:
        assert text == expected


def test_a_lone_surrogate_fails_as_it_always_did():
    with pytest.raises(UnicodeEncodeError):
        written({"name": "bad \ud800"})


def test_deep_and_circular_documents_behave_as_with_json():
    deep: list = []
    node = deep
    for _ in range(400):
        node.append([])
        node = node[0]
    assert written({"deep": deep}) == reference({"deep": deep})
    circular: dict = {"findings": []}
    circular["findings"].append(circular)
    with pytest.raises(ValueError, match="Circular reference"):
        written(circular)


def test_a_nan_late_in_a_long_list_is_null_in_valid_json(monkeypatch_batch):
    document = {"findings": [{"rank_score": 10.5}] * 10 + [{"rank_score": float("nan")}], "unknown": []}
    assert strict(written(document)) == {"findings": [{"rank_score": 10.5}] * 10 + [{"rank_score": None}],
                                         "unknown": []}


def test_a_document_json_cannot_hold_fails_as_with_json():
    import datetime
    with pytest.raises(TypeError, match="not JSON serializable"):
        written({"findings": [{"when": datetime.date(2026, 11, 25)}]})


def test_an_error_while_streaming_leaves_no_file_behind(tmp_path):
    out = tmp_path / "out"
    write_atomically(out, {"findings.json": "old\n"})

    def breaks_halfway(handle):
        handle.write(b"{\n  \"partial\": ")
        raise RuntimeError("disk went away")

    with pytest.raises(RuntimeError):
        write_atomically(out, {"report.html": "<p>new</p>\n", "findings.json": breaks_halfway})
    assert sorted(path.name for path in out.iterdir()) == ["findings.json"]
    assert (out / "findings.json").read_text() == "old\n"


def test_a_failing_write_is_raised_and_nothing_more_is_written(monkeypatch_batch):
    class FullDisk(io.BytesIO):
        def write(self, data):
            if self.tell() + len(data) > 200:
                raise OSError(28, "No space left on device")
            return super().write(data)

    handle = FullDisk()
    with pytest.raises(OSError, match="No space left"):
        write_json({"findings": [{"message": "x" * 40, "rank": rank} for rank in range(50)]}, handle)
    assert len(handle.getvalue()) <= 200
    assert threading.active_count() == 1  # the writer's thread is gone


def test_the_demo_report_is_written_as_json_dumps_writes_it(tmp_path):
    from auditor.inventory.snapshot import read_snapshot

    outcome = audit(read_snapshot(demo_estate()), AuditOptions(out_dir=tmp_path, formats=("json",), fail_on="never"))
    assert (tmp_path / "findings.json").read_bytes() == reference(outcome.report)
