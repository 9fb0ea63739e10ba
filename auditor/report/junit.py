"""junit.xml: the findings as test results for the Azure DevOps, GitLab and Jenkins test views.

- One <testsuite> per subscription (name = "subscription <id>"); a workload finding goes to its
  subscription's suite when all its VMs share one, else to a suite named "workloads".
- One <testcase> per (rule, resource): classname = the rule id, name = resource group/resource name
  (two same-named VMs in different resource groups stay apart).
  A finding is a <failure> (message = what is wrong; body = the fix and the resource id); a waived
  finding is <skipped> with the waiver; an unknown is <skipped> too (not enough data: never a pass).
- One passing <testcase> per rule that has no finding, waived finding or unknown in a subscription
  whose scope was read completely, so a clean subscription still shows what was checked. Workload
  rules pass once, in "workloads", when they found nothing anywhere.
- An incomplete scope is an <error> testcase in its suite: missing data never counts as passed.
- The gate per subscription (summary.gate): suite <properties> `gate.failed`, `gate.blocking` and
  `gate.reason`, and, unless --fail-on is never, one "dr-audit.gate" testcase per completely read suite
  that fails when that subscription fails the gate, saying why.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from typing import Any, Mapping

WORKLOADS_SUITE = "workloads"
# XML 1.0 forbids most control characters even when escaped; Azure names should never contain them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(value: Any) -> str:
    return _NOT_XML.sub("?", "" if value is None else str(value))


def _suite_of(item: Mapping[str, Any]) -> str:
    return str(item["subscription_id"]) if item.get("subscription_id") else WORKLOADS_SUITE


def _case_name(item: Mapping[str, Any]) -> str:
    name = item.get("resource_name") or str(item.get("resource_id") or "").rstrip("/").split("/")[-1] or "(unnamed)"
    return f"{item['resource_group']}/{name}" if item.get("resource_group") else str(name)


def _fix_text(finding: Mapping[str, Any]) -> str:
    fix = finding.get("fix") if isinstance(finding.get("fix"), dict) else {}
    lines = [str(finding.get("message") or ""), "", f"Resource: {finding.get('resource_id')}",
             f"Severity: {finding.get('severity')}; rank {finding.get('rank')}: {finding.get('rank_reason') or ''}"]
    if finding.get("status"):
        days = finding.get("days_open")
        lines.append(f"Status: {finding['status']}" + (f" for {days} day{'s' if days != 1 else ''}"
                                                         if isinstance(days, int) and finding["status"] == "open" else ""))
    waiver = finding.get("waiver")
    if isinstance(waiver, dict) and waiver.get("expired"):
        lines.append(f"Waiver expired on {waiver.get('expires')} (owner {waiver.get('owner')}): it no longer applies.")
    if fix.get("summary"):
        lines += ["", f"Fix: {fix['summary']}"]
    for precondition in fix.get("preconditions") or []:
        lines.append(f"Precondition: {precondition}")
    if fix.get("az_cli"):
        lines += ["", "Azure CLI:", str(fix["az_cli"])]
    return "\n".join(lines)


def build_junit(report: Mapping[str, Any], rules: Mapping[str, Mapping[str, Any]]) -> ET.Element:
    findings = [f for f in report.get("findings") or [] if isinstance(f, dict)]
    unknown = [u for u in report.get("unknown") or [] if isinstance(u, dict)]
    scopes = {str(s.get("subscription_id")): s for s in report.get("scopes") or []
              if isinstance(s, dict) and s.get("subscription_id")}
    cases: dict[str, list[ET.Element]] = defaultdict(list)
    touched: dict[str, set[str]] = defaultdict(set)  # suite -> rules with any finding or unknown there
    touched_anywhere: set[str] = set()
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"tests": 0, "failures": 0, "skipped": 0, "errors": 0})

    def add(suite: str, case: ET.Element, outcome: str | None) -> None:
        cases[suite].append(case)
        counts[suite]["tests"] += 1
        if outcome:
            counts[suite][outcome] += 1

    for finding in sorted(findings, key=lambda f: (f.get("rank") or 0)):
        suite = _suite_of(finding)
        touched[suite].add(str(finding.get("rule_id")))
        touched_anywhere.add(str(finding.get("rule_id")))
        case = ET.Element("testcase", classname=xml_text(finding.get("rule_id")), name=xml_text(_case_name(finding)))
        if finding.get("waived"):
            waiver = finding.get("waiver") if isinstance(finding.get("waiver"), dict) else {}
            ET.SubElement(case, "skipped", message=xml_text(
                f"waived: {waiver.get('reason') or 'no reason given'} (owner {waiver.get('owner') or 'unknown'}, "
                f"expires {waiver.get('expires') or 'never'})"))
            add(suite, case, "skipped")
        else:
            failure = ET.SubElement(case, "failure", message=xml_text(finding.get("message") or finding.get("title")),
                                    type=xml_text(finding.get("severity")))
            failure.text = xml_text(_fix_text(finding))
            add(suite, case, "failures")
    for item in unknown:
        suite = _suite_of(item)
        touched[suite].add(str(item.get("rule_id")))
        touched_anywhere.add(str(item.get("rule_id")))
        case = ET.Element("testcase", classname=xml_text(item.get("rule_id")), name=xml_text(_case_name(item)))
        ET.SubElement(case, "skipped", message=xml_text(f"unknown, not enough data to decide: {item.get('reason') or ''}"))
        add(suite, case, "skipped")

    gate = (report.get("summary") or {}).get("gate")
    gate = gate if isinstance(gate, dict) else {}
    gate_entries = {str(key).lower(): value for key, value in (gate.get("subscriptions") or {}).items()
                    if isinstance(value, dict)}
    if isinstance(gate.get("workloads"), dict):
        gate_entries[WORKLOADS_SUITE] = gate["workloads"]
    for suite, entry in gate_entries.items():
        if gate.get("fail_on") in (None, "never") or not entry.get("complete", True):
            continue  # not gated, or the suite's error case already says the scope was not read
        suite_name = next((name for name in sorted(set(scopes) | set(cases)) if name.lower() == suite), suite)
        case = ET.Element("testcase", classname="dr-audit.gate", name=xml_text(f"gate: fail on {gate['fail_on']}"))
        if entry.get("failed"):
            ET.SubElement(case, "failure", message=xml_text(entry.get("reason")), type="gate")
            add(suite_name, case, "failures")
        else:
            ET.SubElement(case, "system-out").text = xml_text(entry.get("reason"))
            add(suite_name, case, None)

    suites = sorted(set(scopes) | (set(cases) - {WORKLOADS_SUITE})) + (
        [WORKLOADS_SUITE] if WORKLOADS_SUITE in cases or any(
            (rule.get("resource") or rule.get("resource_type")) == "workload" for rule in (rules or {}).values()) else [])
    for suite in suites:
        scope = scopes.get(suite)
        if scope is not None and scope.get("status") != "complete":
            case = ET.Element("testcase", classname="dr-audit.scope", name=xml_text(f"read subscription {suite}"))
            ET.SubElement(case, "error", message=xml_text(
                f"scope could not be fully read: {scope.get('reason') or scope.get('status') or 'status not recorded'}"),
                type="incomplete")
            add(suite, case, "errors")
            continue
        read_completely = scope is not None or (suite == WORKLOADS_SUITE and all(
            s.get("status") == "complete" for s in scopes.values()))
        if not read_completely:  # a subscription named only by a finding: nothing says what else was read
            continue
        for rule_id, rule in sorted((rules or {}).items()):
            workload_rule = (rule.get("resource") or rule.get("resource_type")) == "workload"
            if workload_rule != (suite == WORKLOADS_SUITE) or rule_id in touched[suite]:
                continue
            if workload_rule and rule_id in touched_anywhere:  # its findings sit in subscription suites
                continue
            add(suite, ET.Element("testcase", classname=xml_text(rule_id),
                                  name=xml_text(f"{rule.get('title') or rule_id}: no finding")), None)

    root = ET.Element("testsuites", name="dr-audit")
    totals = {"tests": 0, "failures": 0, "skipped": 0, "errors": 0}
    for suite in suites:
        suite_counts = counts[suite]
        element = ET.SubElement(root, "testsuite", name=xml_text(suite if suite == WORKLOADS_SUITE else f"subscription {suite}"),
                                **{key: str(value) for key, value in suite_counts.items()}, time="0")
        if report.get("as_of"):
            element.set("timestamp", str(report["as_of"]).rstrip("Z"))
        entry = gate_entries.get(suite.lower())
        if entry is not None:
            properties = ET.SubElement(element, "properties")
            for key in ("failed", "blocking", "reason"):
                value = entry.get(key)
                ET.SubElement(properties, "property", name=f"gate.{key}",
                              value=xml_text(str(value).lower() if isinstance(value, bool) else value))
        element.extend(cases[suite])
        for key in totals:
            totals[key] += suite_counts[key]
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", "0")
    return root


def render_junit(report: Mapping[str, Any], rules: Mapping[str, Mapping[str, Any]]) -> str:
    root = build_junit(report, rules)
    ET.indent(root, space=" ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
