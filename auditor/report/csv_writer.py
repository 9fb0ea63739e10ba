"""findings.csv: one row per finding, every field, for spreadsheets and ad-hoc analysis.

Nested fields are flattened (`fix_az_cli`, `context_owner`, `waiver_expires`); free-form structures
(`evidence`, `tags`, the whole `waiver`) are JSON in one cell. UTF-8, comma-separated, a header row,
CRLF line ends (RFC 4180); numbers stay numbers.

Spreadsheet formula injection: names, tags and messages come from Azure, and a cell that starts with
= + - @, a tab or a carriage return is run as a formula by Excel, LibreOffice and Google Sheets. Such
text cells get a leading apostrophe (`'=HYPERLINK(...)`), which spreadsheets show as text; the
apostrophe is visible to programs reading the file, which is the accepted trade-off (OWASP).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable, Mapping

COLUMNS = (
    "rank", "severity", "rule_id", "title", "status", "waived",
    "resource_name", "resource_type", "resource_group", "location", "subscription_id", "resource_id",
    "context_workload", "context_owner", "context_tier",
    "message", "rank_score", "rank_reason",
    "fix_summary", "fix_az_cli", "fix_powershell", "fix_portal", "fix_preconditions",
    "waiver_owner", "waiver_expires", "waiver_reason", "waiver",
    "tags", "evidence", "id",
)
# Fields of a finding covered by the columns above; anything else a later version adds is appended.
_COVERED = {"rank", "severity", "rule_id", "title", "status", "waived", "resource_name", "resource_type",
            "resource_group", "location", "subscription_id", "resource_id", "context", "message", "rank_score",
            "rank_reason", "fix", "waiver", "tags", "evidence", "id"}
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """A text cell that a spreadsheet would evaluate as a formula, made literal."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, (dict, list, tuple)):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return neutralise(str(value))


def _row(finding: Mapping[str, Any], extra: list[str]) -> list[Any]:
    fix = finding.get("fix") if isinstance(finding.get("fix"), dict) else {}
    context = finding.get("context") if isinstance(finding.get("context"), dict) else {}
    waiver = finding.get("waiver") if isinstance(finding.get("waiver"), dict) else None
    preconditions = fix.get("preconditions")
    values = {
        **{key: finding.get(key) for key in _COVERED},
        "context_workload": context.get("workload"), "context_owner": context.get("owner"),
        "context_tier": context.get("tier"),
        "fix_summary": fix.get("summary"), "fix_az_cli": fix.get("az_cli"), "fix_powershell": fix.get("powershell"),
        "fix_portal": fix.get("portal"),
        "fix_preconditions": "\n".join(map(str, preconditions)) if isinstance(preconditions, list) else preconditions,
        "waiver_owner": (waiver or {}).get("owner"), "waiver_expires": (waiver or {}).get("expires"),
        "waiver_reason": (waiver or {}).get("reason"), "waiver": waiver,
        "tags": finding.get("tags") or {}, "evidence": finding.get("evidence") or {},
    }
    return [_cell(values[column]) for column in COLUMNS] + [_cell(finding.get(key)) for key in extra]


def render_csv(report: Mapping[str, Any], rules: Any = None) -> str:
    findings: Iterable[Mapping[str, Any]] = [f for f in report.get("findings") or [] if isinstance(f, dict)]
    extra = sorted({key for finding in findings for key in finding} - _COVERED)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(list(COLUMNS) + extra)
    for finding in findings:
        writer.writerow(_row(finding, extra))
    return buffer.getvalue()
