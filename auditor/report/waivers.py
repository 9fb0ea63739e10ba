"""--waivers FILE: accepted risks, each with an owner, a reason and an expiry date (spec.md, "Weekly runs,
waivers, history").

```yaml
waivers:
  - rule: vm-lrs-disk-no-backup            # a rule id, or a glob over rule ids (vm-*-no-backup)
    resource: /subscriptions/*/resourceGroups/rg-build/providers/Microsoft.Compute/virtualMachines/*
    # or, instead of (or as well as) resource:  tag: env=build
    reason: build agents are rebuilt from images nightly; nothing to restore
    owner: platform-team@contoso.com
    expires: 2027-03-31                    # required; the waiver applies through this day (UTC)
```

Matching: `resource` is a glob over the finding's resource id, compared case-insensitively, where `*`
matches within one path segment (never across a `/`), `**` matches across segments and `?` one
character; a workload finding's id is `workload:<tag value>`. `tag` is `key=value`: the key compares
case-insensitively, the value case-insensitively after trimming and may use `*` and `?`; a workload
finding carries its workload tag. With both `resource` and `tag`, both must match.

A waived finding stays in every report, marked, and does not count for the gate. A waiver whose
`expires` date is before the audit's as-of date no longer applies: its findings count again, carry the
expired waiver (`waived: false`, `waiver.expired: true`) and the waiver is listed as expired. An active
waiver that matches no finding is listed as unmatched. The first active waiver in file order that
matches a finding is the one recorded on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from auditor.errors import InputError

EXPIRING_SOON_DAYS = 14
_KEYS = ("rule", "resource", "tag", "reason", "owner", "expires")
_GLOB_CHARS = re.compile(r"[*?]")


@dataclass(frozen=True)
class Waiver:
    entry: int                  # 1-based position in the file
    line: int | None
    rule: str
    resource: str | None
    tag: str | None
    reason: str
    owner: str
    expires: date
    rule_match: re.Pattern
    resource_match: re.Pattern | None
    resource_literal: str   # the longest literal part of `resource`, lower-cased: a cheap test first
    tag_key: str | None
    tag_value_match: re.Pattern | None

    def describe(self) -> dict[str, Any]:
        """The waiver as it appears in findings.json (on a finding, and in summary.waivers)."""
        return {"entry": self.entry, "rule": self.rule, "resource": self.resource, "tag": self.tag,
                "reason": self.reason, "owner": self.owner, "expires": self.expires.isoformat()}

    def matches(self, finding: dict[str, Any], workload_tag: str) -> bool:
        return bool(self.rule_match.fullmatch(str(finding.get("rule_id") or "").lower())) and self.covers(
            str(finding.get("resource_id") or "").lower(), lambda: _tags_of(finding, workload_tag))

    def covers(self, resource_id: str, tags: Callable[[], dict[str, str]]) -> bool:
        """The resource and tag conditions, for a finding whose rule already matched: `resource_id`
        lower-cased, `tags` its normalised tags (asked for only when the waiver has a tag)."""
        if self.resource_match is not None and (self.resource_literal not in resource_id
                                                or not self.resource_match.fullmatch(resource_id)):
            return False
        if self.tag_key is not None:
            value = tags().get(self.tag_key)
            if value is None or not self.tag_value_match.fullmatch(value):
                return False
        return True


@dataclass(frozen=True)
class WaiverSet:
    source: str
    waivers: tuple[Waiver, ...]


def glob_to_regex(pattern: str, *, segments: bool) -> re.Pattern:
    """A glob as a regular expression over lower-cased text. With `segments`, `*` and `?` stay within one
    path segment and `**` crosses segments (resource ids); without, `*` matches anything (rule ids, tag
    values). Every other character is literal."""
    parts = []
    for token in re.split(r"(\*\*|\*|\?)", pattern.strip().lower()):
        if token == "**":
            parts.append(".*")
        elif token == "*":
            parts.append("[^/]*" if segments else ".*")
        elif token == "?":
            parts.append("[^/]" if segments else ".")
        else:
            parts.append(re.escape(token))
    return re.compile("".join(parts), re.DOTALL)


def load_waivers(path: str | Path, rule_ids: Iterable[str] | None = None) -> WaiverSet:
    """Read and validate a waivers file; every problem is an InputError naming the file and the entry."""
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"waivers file {name} does not exist.") from None
    except IsADirectoryError:
        raise InputError(f"waivers path {name} is a directory, not a file.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"waivers file {name} cannot be read: {getattr(exc, 'strerror', None) or exc}.") from None
    try:
        document = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"waivers file {name} is not valid YAML{f' at line {mark.line + 1}' if mark else ''}.") from None
    if document is None:
        return WaiverSet(name, ())
    if not isinstance(document, dict) or set(document) - {"waivers"}:
        raise InputError(f"waivers file {name} must be a YAML mapping with one key, 'waivers:', a list of waivers.")
    entries = document.get("waivers")
    if entries is None:
        return WaiverSet(name, ())
    if not isinstance(entries, list):
        raise InputError(f"waivers file {name}: 'waivers:' must be a list of entries (each starting with '- rule:').")
    lines = _entry_lines(root)
    known = sorted({rule_id.lower() for rule_id in rule_ids}) if rule_ids is not None else None
    waivers = tuple(_waiver(name, index, lines.get(index), entry, known) for index, entry in enumerate(entries, 1))
    return WaiverSet(name, waivers)


def _entry_lines(root: Any) -> dict[int, int]:
    """1-based entry number -> line in the file, from the YAML node tree (for error messages)."""
    if not isinstance(root, yaml.MappingNode):
        return {}
    for key, value in root.value:
        if getattr(key, "value", None) == "waivers" and isinstance(value, yaml.SequenceNode):
            return {index: item.start_mark.line + 1 for index, item in enumerate(value.value, 1)}
    return {}


def _waiver(name: str, index: int, line: int | None, entry: Any, known_rules: list[str] | None) -> Waiver:
    where = f"waivers file {name} entry {index}" + (f" (line {line})" if line else "")

    def fail(problem: str) -> InputError:
        return InputError(f"{where}: {problem}")

    if not isinstance(entry, dict):
        raise fail("must be a mapping with rule, resource or tag, reason, owner and expires.")
    unknown = [str(key) for key in entry if key not in _KEYS]
    if unknown:
        raise fail(f"has unknown key {unknown[0]!r}; a waiver has {', '.join(_KEYS)}.")

    def text(key: str, required: bool = True) -> str | None:
        value = entry.get(key)
        if value is None:
            if required:
                raise fail(f"'{key}' is required.")
            return None
        if not isinstance(value, str) or not value.strip():
            raise fail(f"'{key}' must be a non-empty string.")
        return value.strip()

    rule = text("rule")
    resource = text("resource", required=False)
    tag = text("tag", required=False)
    if resource is None and tag is None:
        raise fail("needs 'resource' (a resource id glob) or 'tag' (key=value) to say what it waives.")
    reason = text("reason")
    owner = text("owner")
    expires = _expiry(entry.get("expires"), fail)

    rule_match = glob_to_regex(rule, segments=False)
    if known_rules is not None and not any(rule_match.fullmatch(rule_id) for rule_id in known_rules):
        if _GLOB_CHARS.search(rule):
            raise fail(f"rule pattern {rule!r} matches no rule id; `dr-audit rules list` shows them.")
        raise fail(f"rule {rule!r} is not a rule id; `dr-audit rules list` shows them.")
    tag_key = tag_value_match = None
    if tag is not None:
        key, separator, value = tag.partition("=")
        if not separator or not key.strip() or not value.strip():
            raise fail(f"tag {tag!r} must be key=value, e.g. env=build.")
        tag_key = key.strip().lower()
        tag_value_match = glob_to_regex(value, segments=False)
    return Waiver(
        entry=index, line=line, rule=rule, resource=resource, tag=tag, reason=reason, owner=owner, expires=expires,
        rule_match=rule_match, resource_match=glob_to_regex(resource, segments=True) if resource else None,
        resource_literal=max(re.split(r"[*?]", resource.lower()), key=len) if resource else "",
        tag_key=tag_key, tag_value_match=tag_value_match,
    )


def _expiry(value: Any, fail) -> date:
    if value is None:
        raise fail("'expires' is required: the date the waiver ends, such as 2027-03-31.")
    if isinstance(value, datetime):
        raise fail("'expires' must be a date such as 2027-03-31, not a date and time.")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise fail(f"'expires' {value!r} is not an ISO date such as 2027-03-31.")


def _tags_of(finding: dict[str, Any], workload_tag: str) -> dict[str, str]:
    tags = finding.get("tags") if isinstance(finding.get("tags"), dict) else {}
    normalised = {str(key).strip().lower(): str(value).strip().lower() for key, value in tags.items()
                  if value is not None}
    if finding.get("resource_type") == "workload" and finding.get("resource_name"):
        normalised.setdefault(workload_tag.strip().lower(), str(finding["resource_name"]).strip().lower())
    return normalised


def _cached_tags(finding: dict[str, Any], workload_tag: str) -> Callable[[], dict[str, str]]:
    cache: list[dict[str, str]] = []

    def tags() -> dict[str, str]:
        if not cache:
            cache.append(_tags_of(finding, workload_tag))
        return cache[0]
    return tags


def apply_waivers(report: dict[str, Any], waivers: WaiverSet, as_of: datetime, *, workload_tag: str = "workload") -> None:
    """Mark the findings each waiver covers and summarise the waivers in summary.waivers (in place)."""
    today = as_of.astimezone(timezone.utc).date()
    findings = report["findings"]
    by_rule: dict[str, list[tuple[dict[str, Any], str, Callable[[], dict[str, str]]]]] = {}
    for finding in findings:
        by_rule.setdefault(str(finding.get("rule_id") or "").lower(), []).append(
            (finding, str(finding.get("resource_id") or "").lower(), _cached_tags(finding, workload_tag)))
    matched: dict[int, int] = {}
    applied: dict[str, Waiver] = {}   # finding id -> first active waiver
    expired_on: dict[str, Waiver] = {}  # finding id -> first expired waiver
    for waiver in waivers.waivers:
        active = waiver.expires >= today
        count = 0
        for rule_id, candidates in by_rule.items():
            if not waiver.rule_match.fullmatch(rule_id):
                continue
            for finding, resource_id, tags in candidates:
                if waiver.covers(resource_id, tags):
                    count += 1
                    target = applied if active else expired_on
                    target.setdefault(finding["id"], waiver)
        matched[waiver.entry] = count
    for finding in findings:
        waiver = applied.get(finding["id"])
        if waiver is not None:
            finding["waived"] = True
            finding["waiver"] = dict(waiver.describe(), expired=False)
        elif finding["id"] in expired_on:
            finding["waived"] = False
            finding["waiver"] = dict(expired_on[finding["id"]].describe(), expired=True)

    def listed(waiver: Waiver) -> dict[str, Any]:
        return dict(waiver.describe(), matches=matched[waiver.entry], days_left=(waiver.expires - today).days)

    report["summary"]["waivers"] = {
        "source": Path(waivers.source).name,
        "entries": len(waivers.waivers),
        "waived_findings": sum(1 for finding in findings if finding.get("waived")),
        "expired": [listed(w) for w in waivers.waivers if w.expires < today],
        "unmatched": [listed(w) for w in waivers.waivers if w.expires >= today and not matched[w.entry]],
        "expiring_soon": [listed(w) for w in waivers.waivers
                          if today <= w.expires <= today + timedelta(days=EXPIRING_SOON_DAYS)],
    }
