"""Rule results → the findings document (findings.json, spec.md), ranked. Every other format derives
from this document."""

from __future__ import annotations

import hashlib
import math
from functools import lru_cache
from datetime import datetime, timezone
from typing import Any

from auditor import __version__
from auditor.engine.catalog import SEVERITIES, Rule
from auditor.engine.run import RuleResult, TemplateSet, plain, records
from auditor.forked import shared_work
from auditor.inventory.snapshot import Snapshot
from auditor.inventory.tables import Inventory

SEVERITY_POINTS = {"critical": 100.0, "high": 60.0, "medium": 30.0, "low": 10.0}
TIER_FACTORS = {"critical": 2.0, "high": 1.5, "standard": 1.0, "low": 0.75}
# The row fields a finding and an unknown entry read besides the rule's templates and evidence: only
# these columns of the failing rows are converted to Python values (the VM table has about 90).
FINDING_FIELDS = ("id", "name", "subscription_id", "resource_group", "location", "tier", "affected_vms",
                  "gib_at_risk", "tags", "workload", "owner")
UNKNOWN_FIELDS = ("id", "name", "subscription_id", "resource_group", "location", "unknown_reason")


def finding_id(rule_id: str, resource_id: str) -> str:
    return hashlib.sha256(f"{rule_id}|{resource_id.strip().lower()}".encode()).hexdigest()[:20]


# Findings repeat the same few (severity, tier, VMs, GiB) combinations: the score and its reason are made once
# for each (a hundred thousand findings: 0.4 s of formatting otherwise). Equal arguments (1, 1.0, True)
# give the same result, as the function reads them through float().
@lru_cache(maxsize=1 << 16)
def rank_score(severity: str, tier: str | None, affected_vms: float, gib_at_risk: float) -> tuple[float, str]:
    """Deterministic priority: severity, scaled by business tier, plus blast radius (VMs, disk GiB).

    The blast terms grow logarithmically so that one huge resource cannot drown every critical gap.
    """
    base = SEVERITY_POINTS[severity]
    factor = TIER_FACTORS.get(tier or "", 1.0)
    vms = max(float(affected_vms or 0), 0.0)
    gib = max(float(gib_at_risk or 0), 0.0)
    vm_points = 5.0 * math.log2(1.0 + vms)
    gib_points = 3.0 * math.log2(1.0 + gib / 128.0)
    score = round(base * factor + vm_points + gib_points, 1)
    parts = [f"{severity} severity ({base:g})"]
    parts.append(f"x tier {tier} (x{factor:g})" if tier in TIER_FACTORS else "x no dr-tier tag (x1)")
    if vms:
        parts.append(f"+ {vms:g} VM{'s' if vms != 1 else ''} affected (+{vm_points:.1f})")
    if gib:
        parts.append(f"+ {gib:,.0f} GiB at risk (+{gib_points:.1f})")
    return score, " ".join(parts) + f" = {score:g}"


def build_findings(
    *,
    snapshot: Snapshot,
    inventory: Inventory,
    results: list[RuleResult],
    as_of: datetime,
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    generated_at = generated_at or datetime.now(timezone.utc)
    config = inventory.config
    unknown: list[dict[str, Any]] = []
    evaluated_points = passed_points = 0.0
    findings = _findings(results, config)
    for result in results:
        rule = result.rule
        points = SEVERITY_POINTS[rule.severity]
        evaluated_points += points * result.evaluated
        passed_points += points * result.passed
        for row in records(result.unknown, UNKNOWN_FIELDS):
            unknown.append({
                "rule_id": rule.id, "resource_id": row["id"], "reason": row["unknown_reason"],
                "severity": rule.severity, "resource_type": rule.resource_type, "resource_name": row["name"],
                "subscription_id": row.get("subscription_id"), "resource_group": row.get("resource_group"),
                "location": row.get("location"),
            })
    findings.sort(key=lambda f: (-f["rank_score"], SEVERITIES.index(f["severity"]), f["rule_id"],
                                 f["resource_id"].lower()))
    for rank, finding in enumerate(findings, start=1):
        finding["rank"] = rank
    unknown.sort(key=lambda u: (u["rule_id"], u["resource_id"].lower()))

    by_severity = {severity: 0 for severity in SEVERITIES}
    for finding in findings:
        if not finding["waived"]:
            by_severity[finding["severity"]] += 1
    return {
        "tool": {"name": "dr-audit", "version": __version__},
        "generated_at": _iso(generated_at),
        "as_of": _iso(as_of),
        "scopes": _scopes(snapshot, inventory),
        "summary": {
            "resources": dict(sorted(inventory.resource_counts.items())),
            "findings_by_severity": by_severity,
            # Share of (rule, resource) checks that pass, weighted by severity; unknowns do not pass.
            "score": round(100.0 * passed_points / evaluated_points, 1) if evaluated_points else None,
            "unknown": len(unknown),
            "rules_evaluated": len(results),
            "vms": _vm_protection(inventory),
        },
        "findings": findings,
        "unknown": unknown,
    }


# Findings are made in pieces of this many failing rows; from SHARE_FINDINGS findings on, a forked copy
# of this process makes the pieces from the end while this one makes them from the start.
PIECE_ROWS = 1_000
SHARE_FINDINGS = 20_000


def _findings(results: list[RuleResult], config: Any) -> list[dict[str, Any]]:
    """Every failing row's finding, in catalog and row order. Each finding's texts are a few Jinja
    templates: seconds at 100,000 findings, shared between two cores."""
    pieces = [(result, start) for result in results for start in range(0, len(result.failing), PIECE_ROWS)]
    texts: dict[str, _RuleTexts] = {}

    def piece(number: int) -> list[dict[str, Any]]:
        result, start = pieces[number]
        rule = result.rule
        rule_texts = texts.get(rule.id) or texts.setdefault(rule.id, _RuleTexts(rule, config))
        rows = records(result.failing.iloc[start:start + PIECE_ROWS], rule_texts.columns)
        return [_finding(rule, row, rule_texts) for row in rows]

    if sum(len(result.failing) for result in results) < SHARE_FINDINGS:
        made = [piece(number) for number in range(len(pieces))]
    else:
        made = shared_work(len(pieces), piece)
    return [finding for findings in made for finding in findings]


class _RuleTexts:
    """A rule's message, fix parts and preconditions, compiled once for all its findings, and the
    columns its findings read."""

    def __init__(self, rule: Rule, config: Any):
        self.parts = list(rule.fix)
        # The order the texts were always rendered in: fix parts, preconditions, then the message.
        self.templates = TemplateSet([*rule.fix.values(), *rule.preconditions, rule.message], {
            "rule": {"id": rule.id, "title": rule.title}, "config": config,
            "tag_keys": {"tier": config.tier_tag, "rpo": config.rpo_tag, "workload": config.workload_tag}})
        self.has_preconditions = bool(rule.preconditions)
        self.columns = self.templates.names | set(rule.evidence) | set(FINDING_FIELDS)

    def render(self, row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The message and the fix (with its preconditions when the rule has any)."""
        *texts, message = self.templates.render(row)
        fix: dict[str, Any] = dict(zip(self.parts, texts))
        if self.has_preconditions:
            fix["preconditions"] = texts[len(self.parts):]
        return message, fix


def _finding(rule: Rule, row: dict[str, Any], texts: _RuleTexts) -> dict[str, Any]:
    score, reason = rank_score(rule.severity, row.get("tier"), row.get("affected_vms") or 0,
                               row.get("gib_at_risk") or 0)
    message, fix = texts.render(row)
    return {
        "id": finding_id(rule.id, row["id"]),
        "rule_id": rule.id,
        "severity": rule.severity,
        "title": rule.title,
        "resource_id": row["id"],
        "resource_type": rule.resource_type,
        "resource_name": row["name"],
        "subscription_id": row.get("subscription_id"),
        "resource_group": row.get("resource_group"),
        "location": row.get("location"),
        "message": message,
        "evidence": {column: plain(row.get(column)) for column in rule.evidence},
        "fix": fix,
        "rank": 0,
        "rank_score": score,
        "rank_reason": reason,
        "tags": row.get("tags") or {},
        "context": {"workload": row.get("workload"), "owner": row.get("owner"), "tier": row.get("tier")},
        "waived": False,
        "waiver": None,
    }


def _vm_protection(inventory: Inventory) -> dict[str, Any]:
    """How protected the VMs are: any active backup, and geo-redundant protection (an active item in a
    GeoRedundant vault, or Site Recovery replication), overall and per region."""
    vms = inventory.vms
    backed_up = vms["active_backup_item_count"].gt(0)
    geo = vms["geo_protected"]
    by_region = vms.assign(backed_up=backed_up, geo=geo).groupby(vms["location"].fillna("(unknown)"))
    regions = by_region.agg(total=("key", "size"), backed_up=("backed_up", "sum"), geo_protected=("geo", "sum"))
    return {
        "total": int(len(vms)),
        "backed_up": int(backed_up.sum()),
        "geo_protected": int(geo.sum()),
        "by_region": {region: {key: int(value) for key, value in counts.items()}
                      for region, counts in regions.to_dict("index").items()},
    }


def _scopes(snapshot: Snapshot, inventory: Inventory) -> list[dict[str, Any]]:
    if snapshot.scopes:
        return [plain(scope) for scope in snapshot.scopes]
    # A plain file of rows says nothing about completeness: list the subscriptions it covers.
    subscriptions: set[str] = set()
    for table in inventory.tables.values():
        if "subscription_id" in table:
            subscriptions.update(table["subscription_id"].dropna().astype(str).str.lower())
    return [{"subscription_id": sub, "status": "complete", "source": "snapshot rows"} for sub in sorted(subscriptions)]


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
