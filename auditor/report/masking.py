"""--mask-ids: hide subscription and tenant ids in reports that leave the team (spec.md, Common options).

A masked id keeps its first four characters ("3f2c…"), enough to tell subscriptions apart in a report
without naming them. It is a pure function of the id, so the same subscription masks the same way in
every file and every run. When two ids in one report share their first four characters, both get a
short hash suffix ("3f2c…~9a1e") so they stay distinguishable.

Masking is applied to a copy of the findings document before any format is rendered: every string in
it (ids, messages, evidence, fix commands, tags) has each known id replaced, case-insensitively.
Finding ids are hashes computed before masking, so fingerprints and baselines still match.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from typing import Any, Iterable

# Explicit character classes: more than twice as fast as re.IGNORECASE over a large document.
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_SUBSCRIPTION_IN_ID = re.compile(r"/subscriptions/([^/\s'\"]+)", re.IGNORECASE)
# Fields whose values are subscription or tenant ids wherever they appear in the document.
ID_FIELDS = {"subscription_id", "subscriptionid", "tenant_id", "tenantid"}
MASK = "…"


def masked_form(identifier: str, colliding: bool = False) -> str:
    text = identifier.strip()
    head = text[:4].lower()
    if not colliding:
        return head + MASK
    return f"{head}{MASK}~{hashlib.sha256(text.lower().encode()).hexdigest()[:4]}"


def collect_ids(report: Any, extra: Iterable[str] = ()) -> set[str]:
    """Subscription and tenant ids named anywhere in the document: id fields, and the subscription
    segment of every ARM id in any string."""
    found: set[str] = {value.strip() for value in extra if isinstance(value, str) and value.strip()}

    def visit(value: Any, key: str | None) -> None:
        if isinstance(value, str):
            if key in ID_FIELDS and value.strip():
                found.add(value.strip())
            if "/subscriptions/" in value.lower():
                found.update(_SUBSCRIPTION_IN_ID.findall(value))
        elif isinstance(value, dict):
            for child_key, child in value.items():
                visit(child, str(child_key).lower())
        elif isinstance(value, (list, tuple)):
            for child in value:
                visit(child, key)

    visit(report, None)
    return {value for value in found if len(value) > 4}


def mask_report(report: dict[str, Any], extra_ids: Iterable[str] = ()) -> dict[str, Any]:
    """A copy of the findings document with every subscription and tenant id masked; the document
    records that it was masked (`masked_ids: true`)."""
    ids = collect_ids(report, extra_ids)
    if not ids:
        return dict(report, masked_ids=True)
    by_head: dict[str, set[str]] = defaultdict(set)
    for value in ids:
        by_head[value[:4].lower()].add(value.lower())
    replacements = {value.lower(): masked_form(value, len(by_head[value[:4].lower()]) > 1) for value in ids}
    if all(GUID.fullmatch(value) for value in replacements):
        pattern = GUID  # one pass over each string, whatever the number of subscriptions
    else:  # longest first, so that an id that contains another is replaced whole
        pattern = re.compile("|".join(re.escape(value) for value in sorted(replacements, key=len, reverse=True)),
                             re.IGNORECASE)

    shortest = min(len(value) for value in replacements)

    def substitute(match: re.Match) -> str:
        return replacements.get(match.group(0).lower(), match.group(0))

    def replace(text: str) -> str:
        # Most strings (names, regions, severities) are shorter than any id: skip the regex for them.
        return pattern.sub(substitute, text) if len(text) >= shortest else text

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return replace(value)
        if isinstance(value, dict):
            return {replace(key) if isinstance(key, str) else key: walk(child) for key, child in value.items()}
        if isinstance(value, list):
            return [walk(child) for child in value]
        if isinstance(value, tuple):
            return tuple(walk(child) for child in value)
        return value

    masked = walk(report)
    masked["masked_ids"] = True
    return masked


def tenant_ids(rows: Iterable[dict[str, Any]]) -> set[str]:
    """Tenant ids of snapshot rows: the findings document does not carry them today, but a message or
    evidence field might, so they are masked too."""
    return {row["tenantId"] for row in rows if isinstance(row, dict) and isinstance(row.get("tenantId"), str)}
