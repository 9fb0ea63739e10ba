"""What the scale work relies on: the synthetic estate of the benchmarks (deterministic, every rule
fires), large snapshots read as a stream (StreamedRows) giving the same inventory as a list of rows,
and the emulator as a command that `dr-audit crawl` reads over HTTPS."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from auditor.engine.run import run_rules
from auditor.errors import InputError
from auditor.inventory import snapshot as snapshot_module
from auditor.inventory.snapshot import StreamedRows, read_snapshot
from auditor.inventory.tables import build_inventory
from auditor.pipeline import load_rules, parse_as_of
from auditor.resources import demo_estate
from conftest import REPO, run_cli

sys.path.insert(0, str(REPO / "benchmarks"))
import synthetic  # noqa: E402


@pytest.fixture(scope="module")
def estate(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("estate") / "estate.jsonl.gz"
    synthetic.write_estate(path, 5 * synthetic.ROWS_PER_SUBSCRIPTION)
    return path


def test_synthetic_estate_is_deterministic(tmp_path):
    first, second = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"
    synthetic.write_estate(first, synthetic.ROWS_PER_SUBSCRIPTION)
    synthetic.write_estate(second, synthetic.ROWS_PER_SUBSCRIPTION)
    assert first.read_bytes() == second.read_bytes()


def test_every_rule_fails_somewhere_in_the_synthetic_estate(estate):
    found = synthetic.check_every_rule_fires(estate)
    assert {rule.id for rule in load_rules()} <= set(found)
    assert [rule_id for rule_id, number in found.items() if number == 0] == []


def test_a_large_snapshot_streams_and_gives_the_same_inventory(estate, monkeypatch):
    as_of = parse_as_of("2026-11-23T06:00:00Z")
    listed = read_snapshot(estate)
    assert isinstance(listed.rows, list)
    monkeypatch.setattr(snapshot_module, "KEEP_ROWS", 1000)
    streamed = read_snapshot(estate)
    assert isinstance(streamed.rows, StreamedRows) and streamed.rows.extractor is not None
    assert len(streamed.rows) == len(listed.rows)
    assert streamed.rows == listed.rows and list(streamed.rows) == listed.rows
    assert streamed.rows[5] == listed.rows[5] and streamed.rows[-1] == listed.rows[-1]
    assert (streamed.captured_at, streamed.scopes) == (listed.captured_at, listed.scopes)
    a, b = build_inventory(listed.rows, as_of=as_of), build_inventory(streamed.rows, as_of=as_of)
    assert a.resource_counts == b.resource_counts
    for name, table in a.tables.items():
        pd.testing.assert_frame_equal(table, b.tables[name])
    rules = load_rules()
    assert [len(r.failing) for r in run_rules(a, rules)] == [len(r.failing) for r in run_rules(b, rules)]
    assert streamed.rows.extractor is None  # handed over once; a second inventory reads the file again
    again = build_inventory(streamed.rows, as_of=as_of)
    for name, table in a.tables.items():
        pd.testing.assert_frame_equal(table, again.tables[name])


def _read_with_helper(path, monkeypatch, helper: bool):
    """Small chunks, so that a test-sized file has hundreds; the second process parses every other one
    once the first KEEP_ROWS rows are in (or never, for the single-process reference)."""
    monkeypatch.setattr(snapshot_module, "KEEP_ROWS", 200)
    monkeypatch.setattr(snapshot_module, "_CHUNK", 1 << 14)
    monkeypatch.setattr(snapshot_module._Helper, "MIN_BYTES", 0 if helper else 1 << 62)
    return read_snapshot(path)


def _count_answers(monkeypatch) -> list[int]:
    """The chunks the second process answered, counted as the main process takes its answers."""
    answered = []
    result = snapshot_module._Helper.result

    def counted(self):
        answer = result(self)
        if answer:
            answered.append(1)
        return answer

    monkeypatch.setattr(snapshot_module._Helper, "result", counted)
    return answered


def test_a_second_process_parsing_part_of_the_chunks_changes_nothing(estate, monkeypatch):
    as_of = parse_as_of("2026-11-23T06:00:00Z")
    alone = _read_with_helper(estate, monkeypatch, helper=False)
    answered = _count_answers(monkeypatch)
    shared = _read_with_helper(estate, monkeypatch, helper=True)
    assert len(answered) > 20  # the second process did parse chunks
    assert (len(shared.rows), shared.captured_at, shared.scopes) == (len(alone.rows), alone.captured_at, alone.scopes)
    a, b = build_inventory(alone.rows, as_of=as_of), build_inventory(shared.rows, as_of=as_of)
    assert a.resource_counts == b.resource_counts
    for name, table in a.tables.items():
        pd.testing.assert_frame_equal(table, b.tables[name])


def test_a_second_process_that_dies_halfway_changes_nothing(estate, monkeypatch):
    as_of = parse_as_of("2026-11-23T06:00:00Z")
    alone = _read_with_helper(estate, monkeypatch, helper=False)
    helper_main = snapshot_module._helper_main

    def dies_after_ten(chunks, *rest):
        class Ten:
            count = 0

            def recv_bytes(self):
                Ten.count += 1
                if Ten.count > 10:
                    os._exit(1)
                return chunks.recv_bytes()
        helper_main(Ten(), *rest)

    monkeypatch.setattr(snapshot_module, "_helper_main", dies_after_ten)
    answered = _count_answers(monkeypatch)
    shared = _read_with_helper(estate, monkeypatch, helper=True)
    assert 0 < len(answered) <= 10
    assert len(shared.rows) == len(alone.rows)
    a, b = build_inventory(alone.rows, as_of=as_of), build_inventory(shared.rows, as_of=as_of)
    for name, table in a.tables.items():
        pd.testing.assert_frame_equal(table, b.tables[name])


def test_with_a_second_process_the_first_copy_of_a_resource_still_wins(tmp_path, monkeypatch):
    def disk(number, size):
        return {"id": f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d{number}",
                "name": f"d{number}", "type": "microsoft.compute/disks", "subscriptionId": "s",
                "sku": {"name": "Standard_LRS"}, "properties": {"diskSizeGB": size}}
    rows = [disk(n, 32) for n in range(3000)] + [disk(n, 999) for n in range(0, 3000, 7)]
    path = tmp_path / "snap.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    answered = _count_answers(monkeypatch)
    shared = _read_with_helper(path, monkeypatch, helper=True)
    assert answered  # chunks parsed by the second process, the duplicates' chunks parsed again here
    disks = build_inventory(shared.rows).disks
    assert len(disks) == 3000 and set(disks["size_gb"]) == {32}


def test_with_a_second_process_a_bad_line_reads_as_it_always_did(tmp_path, monkeypatch):
    lines = [json.dumps({"id": f"/subscriptions/s/x/{n}", "type": "microsoft.compute/disks"}) for n in range(3000)]
    lines[2500] = '{"id": "/subscriptions/s/x/broken", "type": '
    path = tmp_path / "snap.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as alone:
        _read_with_helper(path, monkeypatch, helper=False)
    with pytest.raises(InputError) as shared:
        _read_with_helper(path, monkeypatch, helper=True)
    assert str(shared.value) == str(alone.value) and "line 2501" in str(alone.value)


def test_streamed_rows_notice_a_file_that_changed(tmp_path, monkeypatch):
    rows = [{"id": f"/subscriptions/s/x/{n}", "type": "microsoft.compute/disks"} for n in range(20)]
    path = tmp_path / "snap.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    monkeypatch.setattr(snapshot_module, "KEEP_ROWS", 5)
    snapshot = read_snapshot(path)
    assert [row["id"] for row in snapshot.rows] == [row["id"] for row in rows]
    time.sleep(0.01)
    path.write_text(path.read_text() + json.dumps(rows[0]) + "\n")
    with pytest.raises(InputError, match="changed"):
        list(snapshot.rows)


def test_emulator_command_serves_an_estate_that_dr_audit_crawls(tmp_path):
    stats = tmp_path / "stats.json"
    emulator = subprocess.Popen([sys.executable, "-m", "auditor.emulator", "--estate", str(demo_estate()),
                                 "--latency", "0.01", "--stats", str(stats)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO)
    try:
        lines = dict(emulator.stdout.readline().strip().split("=", 1) for _ in range(2))
        assert lines["DR_AUDIT_EMULATOR_URL"].startswith("https://127.0.0.1:")
        env = dict(os.environ, DR_AUDIT_ACCESS_TOKEN="token", REQUESTS_CA_BUNDLE=lines["REQUESTS_CA_BUNDLE"])
        output = tmp_path / "snap.jsonl.gz"
        run = run_cli("crawl", "--tenant", "--arm-endpoint", lines["DR_AUDIT_EMULATOR_URL"], "--output", str(output),
                      "--quiet", env=env)
        assert run.code == 0, run.stderr
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
    with gzip.open(output, "rt") as handle:
        crawled = {json.loads(line).get("id") for line in handle} - {None}
    assert len(crawled) > 250
    assert json.loads(stats.read_text())["requests"]["resourcegraph 200"] >= 6


def test_findings_are_the_same_whichever_dtype_pandas_gives_text(estate, tmp_path, monkeypatch):
    """The pipeline has pandas keep text as Python strings in object columns (tables.python_strings);
    with pandas' own default (pandas 3's "str" dtype, the only one pandas 4 will have) every report
    holds the same findings."""
    from contextlib import nullcontext

    from auditor import pipeline
    from auditor.inventory import tables
    from auditor.pipeline import AuditOptions, audit

    def report(out, strings_as_objects: bool):
        if not strings_as_objects:
            monkeypatch.setattr(tables, "python_strings", nullcontext)
            monkeypatch.setattr(pipeline, "python_strings", nullcontext)
        outcome = audit(read_snapshot(estate), AuditOptions(out_dir=out, formats=("json", "csv", "md"),
                                                             fail_on="never", as_of=parse_as_of("2026-11-23T06:00:00Z")))
        dtype = build_inventory(read_snapshot(estate).rows).vms["name"].dtype
        return outcome.report, dtype, {path.name: path.read_bytes() for path in out.iterdir()}

    objects, object_dtype, object_files = report(tmp_path / "objects", strings_as_objects=True)
    default, default_dtype, default_files = report(tmp_path / "default", strings_as_objects=False)
    assert object_dtype == object and (default_dtype != object or pd.__version__ < "3")
    assert len(objects["findings"]) > 500
    for document in (objects, default):
        document.pop("generated_at")
    assert objects == default
    assert object_files["findings.csv"] == default_files["findings.csv"]
