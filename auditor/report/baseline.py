"""--baseline FILE: a previous findings.json. Only findings that are not in it count for the gate, so a
pull request fails on what it makes worse, not on the estate's known debt.

Findings match on their stable id (rule id + lower-cased resource id, computed before --mask-ids), so a
masked baseline matches an unmasked run. Without --history, the baseline also gives each finding its
status (`new` when not in the baseline, `open` when it is) and lists the baseline's findings that are
gone as fixed, for subscriptions this run read completely.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.errors import InputError


@dataclass(frozen=True)
class Baseline:
    source: str
    generated_at: str | None
    as_of: str | None
    findings: dict[str, dict[str, Any]]  # finding id -> the baseline's finding


def load_baseline(path: str | Path) -> Baseline:
    path = Path(path)
    name = str(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise InputError(f"baseline file {name} does not exist.") from None
    except IsADirectoryError:
        raise InputError(f"baseline path {name} is a directory; give the findings.json inside it.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"baseline file {name} cannot be read: {getattr(exc, 'strerror', None) or exc}.") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"baseline file {name} is not JSON ({exc.msg} at line {exc.lineno}); give a findings.json "
                         "written by dr-audit.") from None
    if not isinstance(document, dict) or not isinstance(document.get("findings"), list):
        raise InputError(f"baseline file {name} is not a dr-audit findings.json (no 'findings' list).")
    findings: dict[str, dict[str, Any]] = {}
    for number, finding in enumerate(document["findings"], start=1):
        if not isinstance(finding, dict) or not isinstance(finding.get("id"), str) or not finding["id"]:
            raise InputError(f"baseline file {name} finding {number} has no 'id'; give a findings.json written by "
                             "dr-audit.")
        findings[finding["id"]] = finding
    return Baseline(source=name, generated_at=_text(document.get("generated_at")), as_of=_text(document.get("as_of")),
                    findings=findings)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def apply_baseline(report: dict[str, Any], baseline: Baseline, covered: set[str]) -> None:
    """Mark each finding `in_baseline`; give statuses and the fixed list (overwritten by --history when
    both are given). `covered`: lower-cased subscription ids this run read completely."""
    current = set()
    new = known = 0
    for finding in report["findings"]:
        current.add(finding["id"])
        in_baseline = finding["id"] in baseline.findings
        finding["in_baseline"] = in_baseline
        finding["status"] = "open" if in_baseline else "new"
        known += in_baseline
        new += not in_baseline
    fixed = [_fixed(finding) for finding_id, finding in baseline.findings.items()
             if finding_id not in current and _covered(finding, covered)]
    fixed.sort(key=lambda f: (f.get("rule_id") or "", str(f.get("resource_id") or "").lower()))
    report["summary"]["baseline"] = {"source": Path(baseline.source).name, "as_of": baseline.as_of,
                                     "generated_at": baseline.generated_at, "findings": len(baseline.findings),
                                     "known": known, "new": new}
    report["summary"]["changes"] = {"against": "baseline", "previous_as_of": baseline.as_of, "new": new, "open": known,
                                    "reopened": 0, "fixed": len(fixed)}
    report["fixed"] = fixed


def coverage(finding: dict[str, Any]) -> list[str]:
    """The subscriptions whose complete read decides whether a finding is gone: its own, or for a
    workload all the subscriptions its VMs are in."""
    evidence = finding.get("evidence") if isinstance(finding.get("evidence"), dict) else {}
    subscriptions = evidence.get("subscriptions") if finding.get("resource_type") == "workload" else None
    if isinstance(subscriptions, list) and subscriptions:
        return sorted({str(s).lower() for s in subscriptions})
    return [str(finding["subscription_id"]).lower()] if finding.get("subscription_id") else []


def _covered(finding: dict[str, Any], covered: set[str]) -> bool:
    subscriptions = coverage(finding)
    return bool(subscriptions) and all(s in covered for s in subscriptions)


FIXED_FIELDS = ("id", "rule_id", "severity", "title", "resource_id", "resource_type", "resource_name",
                "subscription_id", "resource_group", "location")


def _fixed(finding: dict[str, Any]) -> dict[str, Any]:
    return {key: finding.get(key) for key in FIXED_FIELDS}
