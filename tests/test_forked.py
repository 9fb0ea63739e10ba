"""Work shared with a forked copy of the process (the findings, a large findings.json): the same results
and files as one process makes, whatever the copy does."""

from __future__ import annotations

import os
import time

import pytest

from auditor import forked, pipeline
from auditor.engine.run import run_rules
from auditor.errors import InputError
from auditor.inventory.snapshot import read_snapshot
from auditor.inventory.tables import build_inventory
from auditor.pipeline import (
    AuditOptions,
    audit,
    load_rules,
    parse_as_of,
    write_atomically,
)
from auditor.report import findings as findings_module
from auditor.report.findings import build_findings
from auditor.report.json_writer import render_json

pytestmark = pytest.mark.skipif(not forked.can_fork(), reason="forking is only used on Linux with two cores")


def _square_with_pid(item: int) -> tuple[int, int]:
    time.sleep(0.001)  # long enough for the copy to start before this process has done them all
    return item * item, os.getpid()


def test_both_processes_take_part_and_results_come_in_order():
    results = forked.shared_work(200, _square_with_pid)
    assert [value for value, _ in results] == [item * item for item in range(200)]
    assert {pid for _, pid in results} - {os.getpid()}  # the copy answered some of them


def test_what_the_copy_fails_to_do_is_done_here():
    parent = os.getpid()

    def fails_in_the_copy(item: int) -> int:
        time.sleep(0.001)
        if os.getpid() != parent and item < 150:
            raise RuntimeError("the copy fails")
        return item

    assert forked.shared_work(200, fails_in_the_copy) == list(range(200))


def test_an_error_here_stops_the_copy_and_is_raised():
    def fails_here(item: int) -> int:
        time.sleep(0.001)
        if item == 3:
            raise ValueError("bad template")
        return item

    with pytest.raises(ValueError, match="bad template"):
        forked.shared_work(200, fails_here)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no copy left behind


def test_findings_made_by_two_processes_are_the_findings_of_one(monkeypatch):
    snapshot = read_snapshot(os.fspath(_demo()))
    as_of = parse_as_of(snapshot.captured_at)
    inventory = build_inventory(snapshot.rows, as_of=as_of)
    results = run_rules(inventory, load_rules())
    moment = parse_as_of("2026-11-25T00:00:00Z")

    def findings(share: bool) -> dict:
        monkeypatch.setattr(findings_module, "SHARE_FINDINGS", 0 if share else 1 << 62)
        monkeypatch.setattr(findings_module, "PIECE_ROWS", 1)  # a piece per finding: both processes get many
        return build_findings(snapshot=snapshot, inventory=inventory, results=results, as_of=as_of,
                              generated_at=moment)

    made_here = []
    finding = findings_module._finding
    monkeypatch.setattr(findings_module, "_finding", lambda *args: made_here.append(1) or finding(*args))
    shared = findings(share=True)
    assert 0 < len(made_here) < len(shared["findings"])  # the copy made the others
    assert shared == findings(share=False)


def _demo():
    from auditor.resources import demo_estate
    return demo_estate()


class _Separate:
    """A report file's writer that asks for a copy of its own, as a large findings.json does."""

    separately = True

    def __init__(self, fails_in_copy: bool = False, fails: bool = False):
        self.parent = os.getpid()
        self.fails_in_copy = fails_in_copy
        self.fails = fails

    def __call__(self, handle) -> None:
        if self.fails or (self.fails_in_copy and os.getpid() != self.parent):
            handle.write(b"half a fi")
            raise OSError(28, "No space left on device")
        handle.write(f"written by {'the copy' if os.getpid() != self.parent else 'this process'}\n".encode())


def test_a_file_marked_separately_is_written_by_a_copy_beside_the_others(tmp_path):
    written = write_atomically(tmp_path, {"findings.json": _Separate(), "report.html": "<p>report</p>\n"})
    assert (tmp_path / "findings.json").read_text() == "written by the copy\n"
    assert (tmp_path / "report.html").read_text() == "<p>report</p>\n"
    assert sorted(written) == ["findings.json", "report.html"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["findings.json", "report.html"]
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no copy left behind


def test_what_the_copy_fails_to_write_is_written_here(tmp_path):
    write_atomically(tmp_path, {"findings.json": _Separate(fails_in_copy=True), "report.html": "<p>r</p>\n"})
    assert (tmp_path / "findings.json").read_text() == "written by this process\n"


def test_a_file_no_process_can_write_fails_the_command_and_leaves_the_old_reports(tmp_path):
    write_atomically(tmp_path, {"findings.json": "old\n", "report.html": "old\n"})
    with pytest.raises(InputError, match="cannot be written: No space left on device"):
        write_atomically(tmp_path, {"findings.json": _Separate(fails=True), "report.html": "<p>new</p>\n"})
    assert sorted(path.name for path in tmp_path.iterdir()) == ["findings.json", "report.html"]
    assert (tmp_path / "findings.json").read_text() == "old\n"
    assert (tmp_path / "report.html").read_text() == "old\n"


def test_findings_json_written_by_a_copy_is_the_file_this_process_writes(tmp_path, monkeypatch):
    snapshot = read_snapshot(os.fspath(_demo()))
    monkeypatch.setattr(pipeline, "SEPARATE_FINDINGS", 0)  # the demo's few findings get a copy too
    copies = []
    start = forked.Forked.start
    monkeypatch.setattr(pipeline.Forked, "start", lambda work: copies.append(start(work)) or copies[-1])
    outcome = audit(snapshot, AuditOptions(out_dir=tmp_path, formats=("html", "json"), fail_on="never"))
    assert len(copies) == 1 and copies[0] is not None  # findings.json was the copy's
    assert (tmp_path / "findings.json").read_bytes() == render_json(outcome.report).encode("utf-8")
    assert "<html" in (tmp_path / "report.html").read_text()
