"""report.html: the management report, one self-contained file (templates/report.html.j2).

This module turns the findings document into plain numbers and lists for the template (headline,
chart geometry, per-subscription and per-rule views, the capped findings table) so that the template
only lays them out. Everything is derived from findings.json; any field may be missing.

The page's only script is templates/report.js, inlined; its sha256 goes into the page's
Content-Security-Policy at render time, so the policy always matches the script it allows.
"""

from __future__ import annotations

import base64
import hashlib
import pathlib
import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

import jinja2

TEMPLATE_NAME = "report.html.j2"
SCRIPT_NAME = "report.js"
DEFAULT_TOP_N = 10          # ranked gaps shown with business context and fix commands
TABLE_LIMIT = 3000          # rows in the filterable findings table; the rest are in findings.csv
UNKNOWN_LIMIT = 500
FIXED_LIMIT = 500           # findings fixed since the previous run listed in the page
RULE_RESOURCE_LIMIT = 100   # resources whose fix commands are combined per rule
CHART_ROWS = 10             # bars per chart before the rest are grouped as "others"
RULE_CHART_ROWS = 20        # the whole catalog (18 rules) fits
SEVERITIES = ("critical", "high", "medium", "low")
PRINT_TABLE_LIMIT = 200     # a longer findings table is left out of print (the CSV has it)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def _environment(templates_dir: pathlib.Path) -> jinja2.Environment:
    # Resource names, tags and messages are user input: autoescape every template this
    # environment loads, whatever its extension.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = _number
    return env


def render_html(
    report: Mapping[str, Any],
    rules: Mapping[str, Mapping[str, Any]] | None,
    templates_dir: pathlib.Path,
    *,
    top_n: int = DEFAULT_TOP_N,
    table_limit: int = TABLE_LIMIT,
) -> str:
    """Render the report as one HTML document (inline CSS, SVG and script; no network requests).

    `report` is the findings.json dict; `rules` maps rule id to its catalog metadata (id, title,
    severity, resource, rationale, guidance, guidance_quote); `top_n` ranked gaps are shown in full,
    `table_limit` findings in the filterable table.
    """
    env = _environment(pathlib.Path(templates_dir))
    script = env.loader.get_source(env, SCRIPT_NAME)[0]
    if "</script" in script.lower():
        raise ValueError(f"{SCRIPT_NAME} must not contain '</script'")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    view = report_view(report or {}, rules or {}, top_n=int(top_n), table_limit=int(table_limit))
    return env.get_template(TEMPLATE_NAME).render(view=view, report=view["report"], script=script,
                                                  script_hash=f"sha256-{digest}")


# ------------------------------------------------------------------------------------------ view


def _number(value: Any, digits: int = 0) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "n/a"
    if digits or (isinstance(value, float) and value % 1):
        return f"{value:,.{digits or 1}f}"
    return f"{int(value):,}"


def _list(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, (list, tuple)):
        return [item for item in value if isinstance(item, Mapping)]
    return []


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _rank_key(finding: Mapping[str, Any]) -> tuple[int, float]:
    rank = finding.get("rank")
    return (0, rank) if isinstance(rank, (int, float)) and not isinstance(rank, bool) else (1, 0)


def _name(item: Mapping[str, Any]) -> str:
    tail = str(item.get("resource_id") or "").rstrip("/").split("/")[-1]
    return str(item.get("resource_name") or tail or "(unnamed resource)")


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _severity(value: Any) -> str:
    text = str(value or "").lower()
    return text if text in SEVERITIES else "other"


def _bars(items: list[tuple[str, str, int, str]]) -> dict[str, Any]:
    """Horizontal bars: (label, full label, value, css class) -> rows with width fractions."""
    peak = max((value for *_, value, _ in items), default=0)
    return {"rows": [{"label": label, "full": full, "value": value, "cls": cls,
                      "frac": (value / peak) if peak else 0.0} for label, full, value, cls in items],
            "total": sum(value for *_, value, _ in items)}


def _stacked(items: list[tuple[str, str, list[tuple[str, int]]]]) -> dict[str, Any]:
    """Stacked bars: (label, full label, [(class, value)]) -> rows with segment offsets as fractions."""
    peak = max((sum(value for _, value in segments) for *_, segments in items), default=0)
    rows = []
    for label, full, segments in items:
        offset = 0.0
        placed = []
        for cls, value in segments:
            width = value / peak if peak else 0.0
            placed.append({"cls": cls, "value": value, "x": offset, "w": width})
            offset += width
        rows.append({"label": label, "full": full, "segments": placed, "total": sum(v for _, v in segments),
                     "frac": offset})
    return {"rows": rows}


def _top_with_others(counter: Mapping[str, int], limit: int) -> list[tuple[str, int]]:
    ordered = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
    if len(ordered) <= limit:
        return ordered
    return ordered[: limit - 1] + [("__others__", sum(value for _, value in ordered[limit - 1:]))]


def _one_line(text: Any) -> str:
    return _CONTROL.sub(" ", str(text or "")).strip()


def report_view(report: Mapping[str, Any], rules: Mapping[str, Mapping[str, Any]], *, top_n: int = DEFAULT_TOP_N,
                table_limit: int = TABLE_LIMIT) -> dict[str, Any]:
    report = dict(report)
    rules = {str(key): value for key, value in rules.items() if isinstance(value, Mapping)}
    summary = _mapping(report.get("summary"))
    findings = _list(report.get("findings"))
    unknown = _list(report.get("unknown"))
    scopes = _list(report.get("scopes"))
    incomplete = [scope for scope in scopes if scope.get("status") != "complete"]
    open_findings = sorted((f for f in findings if not f.get("waived")), key=_rank_key)
    waived = sorted((f for f in findings if f.get("waived")), key=_rank_key)
    expired = [f for f in open_findings if isinstance(f.get("waiver"), Mapping)]

    counts = {severity: 0 for severity in SEVERITIES}
    for finding in open_findings:
        if finding.get("severity") in counts:
            counts[finding["severity"]] += 1
    recorded = summary.get("findings_by_severity")
    if isinstance(recorded, Mapping):
        counts = {severity: int(recorded.get(severity) or 0) for severity in SEVERITIES}

    resources = _mapping(summary.get("resources"))
    vms = _mapping(summary.get("vms"))
    vm_total = int(vms.get("total") or 0)
    vm_view = None
    if vm_total:
        geo = int(vms.get("geo_protected") or 0)
        backed_up = int(vms.get("backed_up") or 0)
        vm_view = {"total": vm_total, "geo": geo, "backed_up": backed_up, "local_only": max(backed_up - geo, 0),
                   "none": max(vm_total - max(backed_up, geo), 0), "geo_pct": 100.0 * geo / vm_total,
                   "backed_pct": 100.0 * backed_up / vm_total}

    # Charts -------------------------------------------------------------------------------------
    severity_chart = _bars([(s.capitalize(), s.capitalize(), counts[s], f"f-{s}") for s in SEVERITIES])

    by_subscription: dict[str, Counter] = defaultdict(Counter)
    for finding in open_findings:
        key = str(finding.get("subscription_id") or "") or "(workloads, several subscriptions)"
        by_subscription[key][_severity(finding.get("severity"))] += 1
    sub_totals = Counter({key: sum(value.values()) for key, value in by_subscription.items()})
    sub_rows = []
    for key, _ in _top_with_others(sub_totals, CHART_ROWS):
        if key == "__others__":
            merged: Counter = Counter()
            for other in set(sub_totals) - {k for k, _ in _top_with_others(sub_totals, CHART_ROWS)}:
                merged.update(by_subscription[other])
            label = full = f"{len(sub_totals) - CHART_ROWS + 1} other subscriptions"
            segments = merged
        else:
            label, full, segments = _short(key, 24), key, by_subscription[key]
        sub_rows.append((label, full, [(f"f-{s}", segments.get(s, 0)) for s in SEVERITIES]))
    subscription_chart = _stacked(sub_rows)

    by_rule = Counter(str(f.get("rule_id") or "(no rule)") for f in open_findings)
    rule_severity = {str(f.get("rule_id") or "(no rule)"): _severity(f.get("severity")) for f in open_findings}
    rule_items = []
    for key, value in _top_with_others(by_rule, RULE_CHART_ROWS):
        if key == "__others__":
            rule_items.append((f"{len(by_rule) - RULE_CHART_ROWS + 1} other rules", "other rules", value, "f-other"))
        else:
            rule_items.append((_short(key, 27), str(_mapping(rules.get(key)).get("title") or key), value,
                               f"f-{rule_severity.get(key, 'other')}"))
    rule_chart = _bars(rule_items)

    region_rows = []
    regions = {str(k): _mapping(v) for k, v in _mapping(vms.get("by_region")).items()}
    region_totals = Counter({name: int(data.get("total") or 0) for name, data in regions.items()})
    shown_regions = [name for name, _ in _top_with_others(region_totals, CHART_ROWS)]
    for name in shown_regions:
        if name == "__others__":
            others = [r for r in regions if r not in shown_regions]
            data = {key: sum(int(regions[r].get(key) or 0) for r in others) for key in ("total", "backed_up", "geo_protected")}
            label = full = f"{len(others)} other regions"
        else:
            data, label, full = regions[name], _short(name, 24), name
        total, backed, geo = (int(data.get(k) or 0) for k in ("total", "backed_up", "geo_protected"))
        region_rows.append((label, full, [("f-geo", geo), ("f-local", max(backed - geo, 0)),
                                          ("f-none", max(total - max(backed, geo), 0))]))
    region_chart = _stacked(region_rows)

    # Per subscription ----------------------------------------------------------------------------
    unknown_by_sub = Counter(str(u.get("subscription_id") or "") for u in unknown)
    waived_by_sub = Counter(str(f.get("subscription_id") or "") for f in waived)
    sub_ids = [str(scope.get("subscription_id") or scope.get("id") or "") for scope in scopes]
    extra_subs = sorted((set(by_subscription) | set(waived_by_sub) | set(unknown_by_sub)) - set(sub_ids)
                        - {"", "(workloads, several subscriptions)"})
    scope_by_id = {str(scope.get("subscription_id") or scope.get("id") or ""): scope for scope in scopes}
    subscription_rows = []
    for sub in sub_ids + extra_subs:
        scope = scope_by_id.get(sub, {})
        sev_counts = by_subscription.get(sub, Counter())
        subscription_rows.append({
            "id": sub or "(unnamed scope)", "status": scope.get("status") or ("not listed" if not scope else "not recorded"),
            "complete": scope.get("status") == "complete", "reason": scope.get("reason"),
            "counts": {s: sev_counts.get(s, 0) for s in SEVERITIES}, "open": sum(sev_counts.values()),
            "waived": waived_by_sub.get(sub, 0), "unknown": unknown_by_sub.get(sub, 0)})
    subscription_rows.sort(key=lambda row: (row["complete"], -sum(row["counts"][s] * 10 ** (3 - i) for i, s in
                                                                   enumerate(SEVERITIES)), row["id"]))
    workload_row = None
    if "(workloads, several subscriptions)" in by_subscription or "" in waived_by_sub or "" in unknown_by_sub:
        sev_counts = by_subscription.get("(workloads, several subscriptions)", Counter())
        workload_row = {"counts": {s: sev_counts.get(s, 0) for s in SEVERITIES}, "open": sum(sev_counts.values()),
                        "waived": waived_by_sub.get("", 0), "unknown": unknown_by_sub.get("", 0)}

    # Per rule -------------------------------------------------------------------------------------
    findings_by_rule: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for finding in open_findings:
        findings_by_rule[str(finding.get("rule_id") or "")].append(finding)
    waived_by_rule = Counter(str(f.get("rule_id") or "") for f in waived)
    unknown_by_rule = Counter(str(u.get("rule_id") or "") for u in unknown)
    rule_sections = []
    def rule_order(rule_id: str) -> tuple[int, int, int, str]:
        affected = findings_by_rule.get(rule_id, [])
        severity = _severity(_mapping(rules.get(rule_id)).get("severity") or (affected[0].get("severity")
                                                                                if affected else None))
        return (0 if affected else 1, SEVERITIES.index(severity) if severity in SEVERITIES else 9, -len(affected),
                rule_id)

    for rule_id in sorted(set(findings_by_rule) | set(waived_by_rule) | set(unknown_by_rule), key=rule_order):
        meta = _mapping(rules.get(rule_id))
        affected = findings_by_rule.get(rule_id, [])
        fixed = [f for f in affected[:RULE_RESOURCE_LIMIT] if isinstance(f.get("fix"), Mapping)]
        scripts = {}
        for part in ("az_cli", "powershell"):
            blocks = [f"# {index}. {_one_line(_name(f))}" + (f" ({_one_line(f.get('resource_group'))})"
                                                              if f.get("resource_group") else "")
                      + "\n" + str(f["fix"][part]).rstrip()
                      for index, f in enumerate(fixed, start=1) if f["fix"].get(part)]
            scripts[part] = "\n\n".join(blocks)
        example = fixed[0] if fixed else None
        rule_sections.append({
            "id": rule_id, "anchor": "rule-" + re.sub(r"[^a-z0-9-]", "-", rule_id.lower()),
            "title": meta.get("title") or (affected[0].get("title") if affected else None) or rule_id,
            "severity": _severity(meta.get("severity") or (affected[0].get("severity") if affected else None)),
            "rationale": meta.get("rationale"), "guidance": meta.get("guidance"), "quote": meta.get("guidance_quote"),
            "open": len(affected), "waived": waived_by_rule.get(rule_id, 0), "unknown": unknown_by_rule.get(rule_id, 0),
            "resources": affected[:12], "more_resources": max(len(affected) - 12, 0),
            "scripts": scripts, "scripted": len(fixed), "not_scripted": max(len(affected) - RULE_RESOURCE_LIMIT, 0),
            "example": example,
            "example_fix": _mapping(example.get("fix")) if example else {},
        })
    passed_rules = [meta for rule_id, meta in sorted(rules.items()) if rule_id not in
                    {section["id"] for section in rule_sections}]

    # Weekly runs: gate per subscription, changes since the previous run, waiver problems ------------
    gate = _mapping(summary.get("gate"))
    gate_subs = {str(key).lower(): _mapping(value) for key, value in _mapping(gate.get("subscriptions")).items()}
    for row in subscription_rows:
        row["gate"] = gate_subs.get(str(row["id"]).lower())
    if workload_row is not None:
        workload_row["gate"] = _mapping(gate.get("workloads")) or None
    changes = _mapping(summary.get("changes"))
    fixed = _list(report.get("fixed"))
    waivers = _mapping(summary.get("waivers"))

    table_rows = open_findings[:table_limit]
    return {
        "report": report,
        "tool": _mapping(report.get("tool")),
        "masked": bool(report.get("masked_ids")),
        "rules": rules,
        "rule_anchors": {section["id"]: section["anchor"] for section in rule_sections},
        "severities": SEVERITIES,
        "scopes": scopes,
        "incomplete": incomplete,
        "score": summary.get("score") if isinstance(summary.get("score"), (int, float)) else None,
        "counts": counts,
        "open_total": len(open_findings),
        "crit_high": counts["critical"] + counts["high"],
        "resources_total": sum(int(v or 0) for v in resources.values() if isinstance(v, (int, float))),
        "resource_types": len(resources),
        "vms": vm_view,
        "charts": {"severity": severity_chart, "subscription": subscription_chart, "rule": rule_chart,
                   "region": region_chart},
        "trend": _trend(report.get("history")),
        "trend_runs": _list(report.get("history"))[-12:],
        "top": open_findings[:top_n],
        "subscriptions": subscription_rows,
        "workload_row": workload_row,
        "rule_sections": rule_sections,
        "passed_rules": passed_rules,
        "table": table_rows,
        "table_total": len(open_findings),
        "table_hidden": len(open_findings) - len(table_rows),
        "table_printable": len(table_rows) <= PRINT_TABLE_LIMIT,
        "waived": waived,
        "expired": expired,
        "gate": gate or None,
        "gate_failing": sum(1 for item in gate_subs.values() if item.get("failed"))
                        + (1 if _mapping(gate.get("workloads")).get("failed") else 0),
        "changes": changes or None,
        "fixed": fixed[:FIXED_LIMIT],
        "fixed_total": len(fixed),
        "waivers": waivers or None,
        "expired_waivers": _list(waivers.get("expired")),
        "unmatched_waivers": _list(waivers.get("unmatched")),
        "expiring_waivers": [w for w in _list(waivers.get("expiring_soon"))],
        "unknown": unknown[:UNKNOWN_LIMIT],
        "unknown_total": len(unknown),
    }


def _trend(history: Any) -> dict[str, Any] | None:
    """The trend chart, drawn when the findings document carries `history` (--history): the recent runs,
    oldest first, each {"as_of": ISO time, "findings_by_severity": {...}, ...} (auditor/report/history.py)."""
    runs = _list(history)
    if not runs:
        return None
    items = []
    for run in runs[-12:]:
        counts = _mapping(run.get("findings_by_severity") or run.get("open_by_severity"))
        label = str(run.get("as_of") or run.get("generated_at") or run.get("run_at") or "")[:10] or "run"
        items.append((label, label, [(f"f-{s}", int(counts.get(s) or 0)) for s in SEVERITIES]))
    return _stacked(items)
