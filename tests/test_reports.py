"""Every report format as a user gets it: written by the CLI, read back with the tools its audience uses
(a browser, a CSV reader, a SARIF schema validator, an XML parser), and safe with hostile Azure names."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from auditor.pipeline import FILE_NAMES, FORMATS, RENDERERS, load_rules, rule_summaries, write_atomically
from auditor.report.csv_writer import FORMULA_PREFIXES
from auditor.report.markdown import MAX_BYTES, render_markdown
from auditor.report.masking import GUID
from auditor.resources import demo_estate, templates_dir
from browser import open_local_page
from conftest import SUB, run_cli, vm_row, write_json

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SARIF_SCHEMA = REPO.parent / "shared" / "schemas" / "sarif-schema-2.1.0.json"
ALL = ",".join(FORMATS)

HOSTILE = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://x")'
HOSTILE_NAME = f"app01{HOSTILE}\"' **x**"
HOSTILE_TAG = f"{FORMULA} {HOSTILE} \"quoted\" 'single' **x**"


def read_outputs(out: Path) -> dict[str, str]:
    return {fmt: (out / FILE_NAMES[fmt]).read_text(encoding="utf-8") for fmt in FORMATS}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "report"
    run = run_cli("demo", "--out", str(out), "--format", ALL)
    assert run.code == 0, run.stderr
    return out, json.loads((out / "findings.json").read_text(encoding="utf-8")), run


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A VM whose name and owner tag are an attack on every format, beside a plain one."""
    workdir = tmp_path_factory.mktemp("hostile")
    rows = vm_row(HOSTILE_NAME) + vm_row("app02")
    rows[0]["tags"] = {"owner": HOSTILE_TAG, "dr-tier": "critical"}
    snapshot = write_json(workdir / "estate.json", rows)
    out = workdir / "report"
    run = run_cli("check", "--snapshot", str(snapshot), "--out", str(out), "--format", ALL, "--fail-on", "never")
    assert run.code == 0, run.stderr
    return out, read_outputs(out)


# ------------------------------------------------------------------------------------------ demo


def test_demo_writes_every_format(demo):
    out, report, run = demo
    assert sorted(path.name for path in out.iterdir()) == sorted(FILE_NAMES.values())
    for name in FILE_NAMES.values():
        assert f"Wrote {out / name}" in run.stdout
    assert report["findings"], "the demo estate has gaps to report"


def test_unknown_format_is_a_usage_error_and_writes_nothing(tmp_path):
    run = run_cli("demo", "--out", str(tmp_path / "o"), "--format", "md,xlsx")
    assert run.code == 2 and "'xlsx' is not a report format" in run.stderr
    assert not (tmp_path / "o").exists()


def test_a_failing_renderer_leaves_no_file_behind(tmp_path, monkeypatch):
    """All or nothing: every format is rendered before the first file is written."""
    out = tmp_path / "out"
    write_atomically(out, {"findings.json": "old\n"})

    def broken(report, rules):
        raise RuntimeError("renderer failed")

    monkeypatch.setitem(RENDERERS, "junit", broken)
    from auditor.inventory.snapshot import read_snapshot
    from auditor.pipeline import AuditOptions, audit

    with pytest.raises(RuntimeError):
        audit(read_snapshot(demo_estate()), AuditOptions(out_dir=out, formats=FORMATS, fail_on="never"))
    assert sorted(path.name for path in out.iterdir()) == ["findings.json"]
    assert (out / "findings.json").read_text() == "old\n"


def test_csv_has_one_row_per_finding_with_every_field(demo):
    out, report, _ = demo
    text = (out / "findings.csv").read_bytes().decode("utf-8")
    assert text.count("\r\n") >= len(report["findings"]) + 1  # RFC 4180 line ends
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == len(report["findings"])
    by_id = {row["id"]: row for row in rows}
    for finding in report["findings"]:
        row = by_id[finding["id"]]
        assert row["rule_id"] == finding["rule_id"] and row["rank"] == str(finding["rank"])
        assert row["resource_id"] == finding["resource_id"]
        assert row["fix_az_cli"].lstrip("'") == finding["fix"]["az_cli"].lstrip("'")
        assert json.loads(row["evidence"]) == finding["evidence"]
        assert json.loads(row["tags"]) == finding["tags"]
        assert row["context_owner"] == (finding["context"]["owner"] or "")


def test_sarif_is_valid_and_maps_every_finding(demo):
    out, report, _ = demo
    sarif = json.loads((out / "findings.sarif").read_text(encoding="utf-8"))
    validate_sarif(sarif)
    run = sarif["runs"][0]
    descriptors = run["tool"]["driver"]["rules"]
    assert [d["id"] for d in descriptors] == sorted(rule.id for rule in load_rules())
    for descriptor in descriptors:
        assert descriptor["shortDescription"]["text"] and descriptor["fullDescription"]["text"]
        assert "Guidance" in descriptor["help"]["text"] and "**Guidance**" in descriptor["help"]["markdown"]
    results = [r for r in run["results"] if r["kind"] == "fail"]
    assert len(results) == len(report["findings"])
    levels = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
    by_fingerprint = {r["partialFingerprints"]["drAuditFindingId/v1"]: r for r in results}
    for finding in report["findings"]:
        result = by_fingerprint[finding["id"]]
        assert result["ruleId"] == finding["rule_id"] and result["level"] == levels[finding["severity"]]
        assert descriptors[result["ruleIndex"]]["id"] == finding["rule_id"]
        logical = result["locations"][0]["logicalLocations"][0]
        assert logical == {"fullyQualifiedName": finding["resource_id"], "kind": "resource",
                           "name": finding["resource_name"]}
        assert result["properties"]["rank"] == finding["rank"]
    assert len([r for r in run["results"] if r["kind"] == "open"]) == len(report["unknown"])


def test_junit_counts_match_the_findings(demo):
    out, report, _ = demo
    root = ET.parse(out / "junit.xml").getroot()
    assert root.tag == "testsuites"
    cases = root.findall("testsuite/testcase")
    failures = [case for case in cases if case.find("failure") is not None]
    skipped = [case for case in cases if case.find("skipped") is not None]
    open_findings = [f for f in report["findings"] if not f["waived"]]
    assert len(failures) == len(open_findings) == int(root.get("failures"))
    assert len(skipped) == len(report["findings"]) - len(open_findings) + len(report["unknown"]) == int(root.get("skipped"))
    assert int(root.get("tests")) == len(cases)
    for suite in root.findall("testsuite"):
        assert int(suite.get("tests")) == len(suite.findall("testcase"))
        assert int(suite.get("failures")) == len(suite.findall("testcase/failure"))
    # A suite per subscription (workload findings spanning subscriptions in "workloads"); each finding in its own.
    suites = {suite.get("name"): suite for suite in root.findall("testsuite")}
    assert {f"subscription {scope['subscription_id']}" for scope in report["scopes"]} <= set(suites)
    for finding in open_findings:
        suite = f"subscription {finding['subscription_id']}" if finding["subscription_id"] else "workloads"
        names = [(case.get("classname"), case.get("name")) for case in suites[suite].findall("testcase")]
        assert (finding["rule_id"], f"{finding['resource_group']}/{finding['resource_name']}"
                if finding["resource_group"] else finding["resource_name"]) in names
    # Rules with nothing to report in a subscription still show as passed tests there.
    passed = [case for case in cases if len(case) == 0]
    assert passed and all(case.get("name").endswith(": no finding") for case in passed)


def test_markdown_summary_has_headline_counts_and_top_ten(demo):
    out, report, _ = demo
    text = (out / "summary.md").read_text(encoding="utf-8")
    assert text.startswith("## dr-audit: ")
    assert f"protection score {report['summary']['score']:g}/100" in text
    counts = report["summary"]["findings_by_severity"]
    assert f"| High | {counts['high']:,} |" in text
    top = [f for f in report["findings"] if not f["waived"]][:10]
    assert "### Top 10 gaps, ranked" in text
    for finding in top:
        assert f"| {finding['rank']} | " in text
    assert "<details><summary>" in text and len(text.encode("utf-8")) <= MAX_BYTES


def test_markdown_stays_under_the_comment_limit_for_a_large_estate():
    rules = rule_summaries(load_rules())
    finding = {"rule_id": "vm-lrs-disk-no-backup", "severity": "high", "title": "VM with LRS disks has no backup",
               "resource_type": "microsoft.compute/virtualmachines", "resource_group": "rg-app", "location": "westeurope",
               "message": "x" * 200, "fix": {"summary": "y" * 200}, "waived": False, "context": {}}
    report = {"tool": {"name": "dr-audit", "version": "1"}, "scopes": [], "summary": {"score": 50.0},
              "findings": [dict(finding, rank=i, resource_name=f"vm{i:05d}") for i in range(1, 5001)], "unknown": []}
    text = render_markdown(report, rules, templates_dir())
    assert len(text.encode("utf-8")) <= MAX_BYTES
    assert "| 10 | High |" in text and "vm00011" in text
    listed = len(re.findall(r"^\| \d+ \| High \|", text, flags=re.M))
    assert f"{5000 - listed:,} more not listed here" in text and "findings.csv" in text


def test_demo_report_in_a_browser_filters_and_sorts(demo):
    out, report, _ = demo
    from playwright.sync_api import expect

    open_findings = [f for f in report["findings"] if not f["waived"]]
    with open_local_page(out / "report.html", screenshot_path=ARTIFACTS / "report-demo.png") as visit:
        page = visit.page
        assert visit.console_errors == [] and visit.page_errors == [] and visit.external_requests == []
        for name in ("At a glance", "Where the gaps are", "Top risks, ranked", "Subscriptions", "Rules and fixes",
                     "All open findings", "Waived findings", "Unknown (not enough data to decide)"):
            assert page.get_by_role("region", name=name).count() == 1, name
        assert page.locator("svg.chart").count() >= 4
        assert page.locator("table.gaps tbody tr").count() == min(10, len(open_findings))
        assert page.locator("#subscriptions tbody tr").count() >= len(report["scopes"])
        score = report["summary"]["score"]
        assert page.locator("#score").inner_text().startswith(f"{score:g}")

        rows = page.locator("#findings-table tbody tr")
        assert rows.count() == len(open_findings)
        # Filter: a resource group name shows exactly its findings.
        group = open_findings[0]["resource_group"]
        expected = [f for f in open_findings if group in " ".join(
            str(v) for v in (f["resource_group"], f["resource_name"], f["title"], f["subscription_id"], f["location"],
                             *(f["context"] or {}).values()) if v)]
        page.fill("#findings-filter", group)
        expect(page.locator("#findings-table tbody tr:visible")).to_have_count(len(expected))
        expect(page.locator("#findings-count")).to_have_text(f"Showing {len(expected)} of {len(open_findings)} findings")
        page.fill("#findings-filter", "")
        page.select_option("#findings-severity", "medium")
        medium = sum(1 for f in open_findings if f["severity"] == "medium")
        expect(page.locator("#findings-table tbody tr:visible")).to_have_count(medium)
        page.select_option("#findings-severity", "")
        expect(page.locator("#findings-table tbody tr:visible")).to_have_count(len(open_findings))
        # Sort: rank descending, then by resource name.
        page.get_by_role("button", name="Rank").click()
        assert rows.first.locator("td").first.inner_text() == str(max(f["rank"] for f in open_findings))
        assert page.locator("#findings-table th").first.get_attribute("aria-sort") == "descending"
        page.get_by_role("button", name="Resource", exact=True).click()
        names = page.eval_on_selector_all("#findings-table tbody tr td:nth-child(4)",
                                          "els => els.map(e => e.getAttribute('data-v'))")
        assert names == sorted(names) and set(names) == {f["resource_name"].lower() for f in open_findings}
        assert visit.console_errors == [] and visit.page_errors == [] and visit.dialogs == []


# ---------------------------------------------------------------------------------------- hostile


def test_hostile_html_is_inert_text(hostile):
    out, files = hostile
    page = files["html"]
    assert HOSTILE not in page and page.count("<script") == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    with open_local_page(out / "report.html") as visit:
        assert visit.dialogs == [] and visit.page_errors == [] and visit.console_errors == []
        assert visit.page.evaluate("document.querySelectorAll('script').length") == 1
        body = visit.page.locator("body").inner_text()
        assert HOSTILE_NAME in body and FORMULA in body


def test_hostile_markdown_is_escaped(hostile):
    _, files = hostile
    text = files["md"]
    assert "<script>" not in text and "**x**" not in text and "http://x" not in text
    assert "app01&lt;script&gt;alert(1)&lt;/script&gt;\"' \\*\\*x\\*\\*" in text
    assert "=HYPERLINK(\"http:&#8203;//x\")" in text  # the owner tag, not auto-linked


def test_hostile_csv_cells_cannot_run_as_formulas(hostile):
    _, files = hostile
    rows = list(csv.DictReader(io.StringIO(files["csv"], newline="")))
    hostile_row = next(row for row in rows if HOSTILE in row["resource_name"])
    assert hostile_row["resource_name"] == HOSTILE_NAME
    assert hostile_row["context_owner"] == "'" + HOSTILE_TAG
    assert json.loads(hostile_row["tags"])["owner"] == HOSTILE_TAG  # JSON cells start with {, never a formula
    for row in rows:
        for column, value in row.items():
            assert not value.startswith(FORMULA_PREFIXES), (column, value)


def test_hostile_sarif_and_junit_carry_the_literal_text(hostile):
    _, files = hostile
    sarif = json.loads(files["sarif"])
    validate_sarif(sarif)
    names = [r["locations"][0]["logicalLocations"][0].get("name") for r in sarif["runs"][0]["results"]]
    assert HOSTILE_NAME in names
    root = ET.fromstring(files["junit"].encode("utf-8"))
    assert any(HOSTILE_NAME in (case.get("name") or "") for case in root.iter("testcase"))
    assert any(HOSTILE_NAME in (failure.text or "") for failure in root.iter("failure"))
    report = json.loads(files["json"])
    assert any(f["resource_name"] == HOSTILE_NAME and f["context"]["owner"] == HOSTILE_TAG for f in report["findings"])


# -------------------------------------------------------------------------------------- mask-ids


def test_mask_ids_leaves_no_subscription_or_tenant_id_in_any_file(tmp_path):
    from auditor.inventory.snapshot import read_snapshot

    rows = read_snapshot(demo_estate()).rows
    secrets = {str(row.get(key)).lower() for row in rows if isinstance(row, dict)
               for key in ("subscriptionId", "tenantId") if row.get(key)}
    assert secrets, "the demo estate names its subscriptions and tenant"
    out = tmp_path / "masked"
    run = run_cli("demo", "--out", str(out), "--format", ALL, "--mask-ids")
    assert run.code == 0, run.stderr
    for fmt, text in read_outputs(out).items():
        lowered = text.lower()
        leaked = [secret for secret in secrets if secret in lowered]
        assert leaked == [], f"{FILE_NAMES[fmt]} still names {leaked}"
        assert not [guid for guid in GUID.findall(text) if guid.lower() in secrets]
    report = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    assert report["masked_ids"] is True
    sub = report["scopes"][0]["subscription_id"]
    assert re.fullmatch(r"[0-9a-f]{4}…(~[0-9a-f]{4})?", sub)
    assert sub in (out / "report.html").read_text(encoding="utf-8")
    assert f"/subscriptions/{sub}/resourceGroups/" in report["findings"][0]["resource_id"]
    # Finding ids are computed before masking: a masked run still matches an unmasked baseline.
    plain = run_cli("demo", "--out", str(tmp_path / "plain"), "--format", "json")
    baseline = json.loads((tmp_path / "plain" / "findings.json").read_text(encoding="utf-8"))
    assert plain.code == 0
    assert [f["id"] for f in report["findings"]] == [f["id"] for f in baseline["findings"]]


def test_mask_ids_on_check_covers_the_conftest_subscription(tmp_path):
    snapshot = write_json(tmp_path / "estate.json", vm_row("app01"))
    out = tmp_path / "o"
    run = run_cli("check", "--snapshot", str(snapshot), "--out", str(out), "--format", ALL, "--mask-ids",
                  "--fail-on", "never")
    assert run.code == 0, run.stderr
    for fmt, text in read_outputs(out).items():
        assert SUB not in text.lower(), FILE_NAMES[fmt]


# ---------------------------------------------------------------------------------------- helpers


def validate_sarif(document: dict) -> None:
    """Validate against the official SARIF 2.1.0 schema (a copy in ../shared/schemas). Without that
    copy the check is skipped locally, and fails under CI, where shared/ is always beside the repo."""
    if not SARIF_SCHEMA.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{SARIF_SCHEMA} is missing: CI must validate SARIF against the official schema")
        pytest.skip(f"{SARIF_SCHEMA} not found; SARIF schema validation runs where ../shared is present")
    import jsonschema

    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, "; ".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5])
