"""findings.sarif: SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.

- One reportingDescriptor per rule in the catalog (short description = title, full = rationale, help =
  rationale, the guidance it implements and, when the run found something, the fix for one resource).
- One result per finding: level from severity (critical/high error, medium warning, low note), located
  by the Azure resource id as a logical location (kind "resource"), fingerprinted by the finding id
  (stable across runs, unaffected by --mask-ids). Waived findings carry an accepted external
  suppression. Unknowns are results of kind "open" (the tool could not decide), level "none".
- Code scanning accepts only results with a repository-relative file location, so each result also
  names a pseudo-path built from the resource id (`subscriptions/<id>/resourceGroups/...`,
  `workloads/<tag value>`). No such file exists; the path only groups and names the alert.
- Incomplete scopes are tool execution notifications, and the invocation is marked unsuccessful.
- Weekly runs: a finding's status against the history or baseline is its baselineState (new and
  reopened: "new", open: "unchanged") with status, days_open and in_baseline in its properties; the
  invocation carries the gate's exit code, and the run's properties the gate per subscription, the
  changes since the previous run and the waivers that expired or match nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping
from urllib.parse import quote

from auditor.report.findings import finding_id
from auditor.report.markdown import md_block, md_inline

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
# GitHub shows a security severity (Critical >= 9.0, High >= 7.0, Medium >= 4.0, Low > 0).
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}
FINGERPRINT_KEY = "drAuditFindingId/v1"
# Status against the history or baseline (findings.json `status`) as SARIF's baselineState.
BASELINE_STATES = {"new": "new", "reopened": "new", "open": "unchanged"}


def message_text(text: Any) -> str:
    """SARIF plain-text messages treat [text](target) as a link and {0} as a placeholder: escape the
    brackets so Azure-sourced text stays literal."""
    return re.sub(r"([\\\[\]])", r"\\\1", "" if text is None else str(text))


def artifact_uri(resource_id: str) -> str:
    text = str(resource_id or "unknown")
    if text.lower().startswith("workload:"):
        text = "workloads/" + text.split(":", 1)[1]
    return quote(text.lstrip("/"), safe="/-._~")


def _rule_name(rule_id: str) -> str:
    return "".join(part.capitalize() for part in rule_id.split("-"))


def _descriptor(rule: Mapping[str, Any], example: Mapping[str, Any] | None) -> dict[str, Any]:
    rule_id = rule["id"]
    severity = rule.get("severity") or "medium"
    rationale = " ".join(str(rule.get("rationale") or rule.get("title") or rule_id).split())
    section = rule.get("guidance") or ""
    quote_text = " ".join(str(rule.get("guidance_quote") or "").split())
    text = [rationale]
    markdown = [md_inline(rationale)]
    if section or quote_text:
        text.append(f'Guidance, "{section}": "{quote_text}"' if quote_text else f'Guidance: "{section}"')
        markdown.append(f"**Guidance**, _{md_inline(section)}_:" + (f"\n\n> {md_inline(quote_text)}" if quote_text else ""))
    fix = example.get("fix") if example and isinstance(example.get("fix"), dict) else None
    if fix:
        name = example.get("resource_name") or example.get("resource_id")
        text.append(f"Fix (for {name}; each alert names its own): {fix.get('summary') or ''}")
        markdown.append(f"**Fix** (for {md_inline(name)}; each alert names its own resource): "
                        f"{md_inline(fix.get('summary'))}")
        for label, part in (("Azure CLI", "az_cli"), ("PowerShell", "powershell"), ("Azure portal", "portal")):
            if fix.get(part):
                text.append(f"{label}:\n{fix[part]}")
                markdown.append(f"{label}:\n\n" + md_block(fix[part], {"az_cli": "bash", "powershell": "powershell"}
                                                            .get(part, "")))
    text.append(f"`dr-audit rules show {rule_id}` prints the rule, its fix templates and examples.")
    markdown.append(f"`dr-audit rules show {rule_id}` prints the rule, its fix templates and examples.")
    return {
        "id": rule_id,
        "name": _rule_name(rule_id),
        "shortDescription": {"text": str(rule.get("title") or rule_id)},
        "fullDescription": {"text": rationale},
        "help": {"text": "\n\n".join(text), "markdown": "\n\n".join(markdown)},
        "defaultConfiguration": {"level": LEVELS.get(severity, "warning")},
        "properties": {
            "severity": severity,
            "resource_type": rule.get("resource") or rule.get("resource_type"),
            "guidance_section": section,
            "security-severity": SECURITY_SEVERITY.get(severity, "5.5"),
            "tags": ["azure", "disaster-recovery", "backup"],
        },
    }


def _location(item: Mapping[str, Any]) -> dict[str, Any]:
    resource_id = str(item.get("resource_id") or "")
    logical = {"fullyQualifiedName": resource_id, "kind": "resource"}
    if item.get("resource_name"):
        logical["name"] = str(item["resource_name"])
    return {
        "physicalLocation": {"artifactLocation": {"uri": artifact_uri(resource_id)}},
        "logicalLocations": [logical],
    }


def _result(finding: Mapping[str, Any], rule_index: dict[str, int]) -> dict[str, Any]:
    severity = finding.get("severity") or "medium"
    fix = finding.get("fix") if isinstance(finding.get("fix"), dict) else {}
    text = str(finding.get("message") or finding.get("title") or finding.get("rule_id"))
    if fix.get("summary"):
        text += f" Fix: {fix['summary']}"
    result: dict[str, Any] = {
        "ruleId": finding.get("rule_id"),
        "kind": "fail",
        "level": LEVELS.get(severity, "warning"),
        "message": {"text": message_text(text)},
        "locations": [_location(finding)],
        "partialFingerprints": {FINGERPRINT_KEY: str(finding.get("id") or "")},
        "properties": {key: finding.get(key) for key in (
            "rank", "rank_score", "rank_reason", "severity", "resource_type", "resource_name", "subscription_id",
            "resource_group", "location", "status", "days_open", "open_since", "in_baseline")
            if finding.get(key) is not None},
    }
    if finding.get("status") in BASELINE_STATES:
        result["baselineState"] = BASELINE_STATES[finding["status"]]
    if not finding.get("waived") and isinstance(finding.get("waiver"), dict):
        result["properties"]["waiver_expired"] = finding["waiver"]
    if finding.get("rule_id") in rule_index:
        result["ruleIndex"] = rule_index[finding["rule_id"]]
    context = finding.get("context")
    if isinstance(context, dict) and any(context.values()):
        result["properties"]["context"] = {key: value for key, value in context.items() if value is not None}
    if finding.get("waived"):
        waiver = finding.get("waiver") if isinstance(finding.get("waiver"), dict) else {}
        justification = "; ".join(part for part in (
            str(waiver.get("reason") or ""), f"owner {waiver['owner']}" if waiver.get("owner") else "",
            f"expires {waiver['expires']}" if waiver.get("expires") else "") if part)
        suppression: dict[str, Any] = {"kind": "external", "status": "accepted"}
        if justification:
            suppression["justification"] = justification
        result["suppressions"] = [suppression]
    return result


def _unknown_result(unknown: Mapping[str, Any], rule_index: dict[str, int]) -> dict[str, Any]:
    rule_id = str(unknown.get("rule_id") or "")
    name = unknown.get("resource_name") or unknown.get("resource_id")
    result: dict[str, Any] = {
        "ruleId": rule_id,
        "kind": "open",
        "level": "none",
        "message": {"text": message_text(f"Not enough data to decide for {name}: {unknown.get('reason') or ''}")},
        "locations": [_location(unknown)],
        "partialFingerprints": {FINGERPRINT_KEY: "unknown:" + finding_id(rule_id, str(unknown.get("resource_id") or ""))},
        "properties": {"unknown": True, "reason": unknown.get("reason")},
    }
    if rule_id in rule_index:
        result["ruleIndex"] = rule_index[rule_id]
    return result


def build_sarif(report: Mapping[str, Any], rules: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    findings = [f for f in report.get("findings") or [] if isinstance(f, dict)]
    unknown = [u for u in report.get("unknown") or [] if isinstance(u, dict)]
    catalog = dict(rules or {})
    for item in findings + unknown:  # a finding of a rule missing from the catalog still gets a descriptor
        rule_id = item.get("rule_id")
        if rule_id and rule_id not in catalog:
            catalog[rule_id] = {"id": rule_id, "title": item.get("title") or rule_id, "severity": item.get("severity")}
    examples: dict[str, Mapping[str, Any]] = {}
    for finding in sorted(findings, key=lambda f: (bool(f.get("waived")), f.get("rank") or 0)):
        examples.setdefault(finding.get("rule_id"), finding)
    rule_ids = sorted(catalog)
    rule_index = {rule_id: index for index, rule_id in enumerate(rule_ids)}
    tool = report.get("tool") or {}
    incomplete = [s for s in report.get("scopes") or [] if isinstance(s, dict) and s.get("status") != "complete"]
    invocation: dict[str, Any] = {"executionSuccessful": not incomplete}
    summary_gate = (report.get("summary") or {}).get("gate")
    if isinstance(summary_gate, dict) and isinstance(summary_gate.get("exit_code"), int):
        invocation["exitCode"] = summary_gate["exit_code"]
        invocation["exitCodeDescription"] = f"gate {summary_gate.get('verdict') or ''}".strip()
    if report.get("generated_at"):
        invocation["endTimeUtc"] = report["generated_at"]
    if incomplete:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": message_text(
                f"Scope {s.get('subscription_id') or '(unnamed)'} could not be fully read: "
                f"{s.get('reason') or s.get('status') or 'status not recorded'}. Missing data never counts as compliant.")}}
            for s in incomplete]
    summary = report.get("summary") or {}
    run = {
        "tool": {"driver": {
            "name": tool.get("name") or "dr-audit",
            "version": str(tool.get("version") or "unknown"),
            "rules": [_descriptor({**catalog[rule_id], "id": rule_id}, examples.get(rule_id)) for rule_id in rule_ids],
        }},
        "automationDetails": {"id": "dr-audit/"},
        "invocations": [invocation],
        "results": [_result(f, rule_index) for f in findings] + [_unknown_result(u, rule_index) for u in unknown],
        "properties": {
            "as_of": report.get("as_of"),
            "score": summary.get("score"),
            "findings_by_severity": summary.get("findings_by_severity"),
            "scopes": report.get("scopes") or [],
            "masked_ids": bool(report.get("masked_ids")),
            # Weekly runs: which subscriptions fail the gate and why; changes since the previous run or
            # baseline; waivers that expired or match nothing.
            **{key: value for key, value in (("gate", summary_gate), ("changes", summary.get("changes")),
                                             ("waivers", summary.get("waivers")), ("baseline", summary.get("baseline")))
               if value is not None},
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def render_sarif(report: Mapping[str, Any], rules: Mapping[str, Mapping[str, Any]]) -> str:
    # Compact: SARIF is read by tools, and json's C encoder only runs without indent (10x faster at scale).
    return json.dumps(build_sarif(report, rules), ensure_ascii=False, separators=(",", ":")) + "\n"
