"""`dr-audit demo` end to end, and every rule against the demo estate's ground truth
(auditor/demo/expected.json, written from the estate generator's intent per resource)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from auditor.engine.run import run_rules
from auditor.inventory.snapshot import read_snapshot
from auditor.inventory.tables import build_inventory
from auditor.pipeline import load_rules, parse_as_of
from auditor.resources import demo_estate
from browser import open_local_page

EXPECTED = json.loads((demo_estate().parent / "expected.json").read_text())
RULES = load_rules()


@pytest.fixture(scope="module")
def results():
    snapshot = read_snapshot(demo_estate())
    # Staleness is measured from the estate's capture time, as `dr-audit demo` does.
    inventory = build_inventory(snapshot.rows, as_of=parse_as_of(snapshot.captured_at))
    return {result.rule.id: result for result in run_rules(inventory, RULES)}


@pytest.mark.parametrize("rule_id", [rule.id for rule in RULES])
def test_rule_flags_exactly_the_demo_resources_it_should(results, rule_id):
    expected = EXPECTED[rule_id]
    result = results[rule_id]
    assert sorted(result.failing["key"]) == sorted(key.lower() for key in expected["fail"])
    assert sorted(result.unknown["key"]) == sorted(key.lower() for key in expected.get("unknown", []))
    flagged = set(result.failing["key"]) | set(result.unknown["key"])
    assert not flagged & {key.lower() for key in expected["pass"]}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    from conftest import run_cli

    workdir = tmp_path_factory.mktemp("demo")
    return workdir, run_cli("demo", cwd=workdir, env=None)


def test_demo_writes_reports_and_prints_a_summary(demo_run):
    workdir, run = demo_run
    assert run.code == 0, run.stderr
    out = workdir / "dr-audit-report"
    report = json.loads((out / "findings.json").read_text())
    assert report["as_of"] == "2026-11-23T06:00:00Z"  # the demo snapshot's capture time
    assert len(report["scopes"]) == 3
    assert report["summary"]["resources"]["microsoft.compute/virtualmachines"] >= 40
    assert {f["rule_id"] for f in report["findings"]} >= {rule.id for rule in RULES}
    assert "Findings:" in run.stdout and "Top gaps:" in run.stdout
    top_five = [line for line in run.stdout.splitlines() if re.match(r"\s+\d+\. \[", line)]
    assert [line.split(".")[0].strip() for line in top_five] == ["1", "2", "3", "4", "5"]
    assert report["findings"][0]["resource_name"] in top_five[0]
    assert str(out / "report.html").endswith("report.html") and "report.html" in run.stdout


def test_demo_report_opens_in_a_browser_with_the_network_off(demo_run, tmp_path):
    workdir, run = demo_run
    report = json.loads((workdir / "dr-audit-report" / "findings.json").read_text())
    artifacts = Path(__file__).parent / "artifacts"
    with open_local_page(workdir / "dr-audit-report" / "report.html", screenshot_path=artifacts / "demo.png") as visit:
        assert visit.console_errors == [] and visit.page_errors == []
        assert visit.external_requests == []
        text = visit.page.inner_text("body")
        top = report["findings"][0]
        assert top["resource_name"] in text and top["rank_reason"] in text
        assert f"{report['summary']['score']:g}" in text
