"""Work shared with a forked copy of the process: the same results as one process makes, whatever
the copy does."""

from __future__ import annotations

import os
import time

import pytest

from auditor import forked
from auditor.engine.run import run_rules
from auditor.inventory.snapshot import read_snapshot
from auditor.inventory.tables import build_inventory
from auditor.pipeline import load_rules, parse_as_of
from auditor.report import findings as findings_module
from auditor.report.findings import build_findings

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
