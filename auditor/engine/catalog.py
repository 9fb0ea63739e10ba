"""Load and validate the rule catalog: one YAML file per rule in rules/, id = file name."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from auditor.engine.conditions import validate_condition
from auditor.errors import InputError

SEVERITIES = ("critical", "high", "medium", "low")
TABLES = {
    "vms": "microsoft.compute/virtualmachines",
    "vaults": "microsoft.recoveryservices/vaults",
    "availability_sets": "microsoft.compute/availabilitysets",
    "images": "microsoft.compute/images",
    "gallery_image_versions": "microsoft.compute/galleries/images/versions",
    "snapshots": "microsoft.compute/snapshots",
    "workloads": "workload",
}
FIX_PARTS = ("summary", "az_cli", "powershell", "portal")
_REQUIRED = ("id", "title", "severity", "table", "guidance", "rationale", "fails", "message", "fix", "examples")
_OPTIONAL = ("unknown", "evidence", "preconditions")
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
# libyaml's safe loader where PyYAML has it: the catalog loads in 0.02 s instead of 0.2 s on every run.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: str
    table: str
    guidance_section: str
    guidance_quote: str
    rationale: str
    fails: Any
    unknown: list[dict[str, Any]]
    message: str
    evidence: list[str]
    fix: dict[str, str]
    preconditions: list[str]
    examples: list[dict[str, Any]]
    path: Path = field(compare=False)

    @property
    def resource_type(self) -> str:
        return TABLES[self.table]


def load_catalog(directory: Path) -> list[Rule]:
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise InputError(f"rules directory {directory} has no *.yaml rule files.")
    return [load_rule(path) for path in files]


def load_rule(path: Path) -> Rule:
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InputError(f"rule file {path} is not valid YAML{where}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"rule file {path} cannot be read: {exc}.") from None
    if not isinstance(document, dict):
        raise InputError(f"rule file {path} must be a YAML mapping of rule fields.")

    def fail(message: str) -> InputError:
        return InputError(f"rule file {path}: {message}.")

    missing = [key for key in _REQUIRED if key not in document]
    if missing:
        raise fail(f"missing field(s) {', '.join(missing)}")
    unexpected = sorted(set(document) - set(_REQUIRED) - set(_OPTIONAL))
    if unexpected:
        raise fail(f"unknown field(s) {', '.join(unexpected)}")
    rule_id = document["id"]
    if not isinstance(rule_id, str) or not _ID.match(rule_id):
        raise fail("'id' must be lower-case words joined by hyphens")
    if rule_id != path.stem:
        raise fail(f"'id' {rule_id!r} must equal the file name {path.stem!r}")
    if document["severity"] not in SEVERITIES:
        raise fail(f"'severity' must be one of {', '.join(SEVERITIES)}")
    if document["table"] not in TABLES:
        raise fail(f"'table' must be one of {', '.join(TABLES)}")
    guidance = document["guidance"]
    if not isinstance(guidance, dict) or not isinstance(guidance.get("section"), str) or not isinstance(
            guidance.get("quote"), str):
        raise fail("'guidance' needs 'section' and 'quote' strings")
    for key in ("title", "rationale", "message"):
        if not isinstance(document[key], str) or not document[key].strip():
            raise fail(f"'{key}' must be a non-empty string")
    try:
        validate_condition(document["fails"])
    except ValueError as exc:
        raise fail(f"'fails' {exc}") from None
    unknown = document.get("unknown") or []
    if not isinstance(unknown, list):
        raise fail("'unknown' must be a list of {when, reason}")
    for index, entry in enumerate(unknown, start=1):
        if not isinstance(entry, dict) or set(entry) != {"when", "reason"}:
            raise fail(f"'unknown' entry {index} must have exactly 'when' and 'reason'")
        try:
            validate_condition(entry["when"])
        except ValueError as exc:
            raise fail(f"'unknown' entry {index} {exc}") from None
    fix = document["fix"]
    if not isinstance(fix, dict) or set(fix) != set(FIX_PARTS) or not all(isinstance(v, str) for v in fix.values()):
        raise fail(f"'fix' must have exactly the string parts {', '.join(FIX_PARTS)}")
    evidence = document.get("evidence") or []
    if not isinstance(evidence, list) or not all(isinstance(column, str) for column in evidence):
        raise fail("'evidence' must be a list of column names")
    preconditions = document.get("preconditions") or []
    if not isinstance(preconditions, list) or not all(isinstance(item, str) for item in preconditions):
        raise fail("'preconditions' must be a list of sentences")
    examples = document["examples"]
    if not isinstance(examples, list) or not examples:
        raise fail("'examples' must be a non-empty list")
    for index, example in enumerate(examples, start=1):
        if not isinstance(example, dict) or example.get("expect") not in ("pass", "fail", "unknown") or not isinstance(
                example.get("resource"), str) or not isinstance(example.get("rows"), list) or not isinstance(
                example.get("name"), str):
            raise fail(f"example {index} needs 'name', 'expect' (pass, fail or unknown), 'resource' and 'rows'")
        if "as_of" in example and not isinstance(example["as_of"], str):
            raise fail(f"example {index} 'as_of' must be an ISO-8601 time in quotes")
    expectations = {example["expect"] for example in examples}
    if not {"pass", "fail"} <= expectations:
        raise fail("'examples' need at least one passing and one failing example")
    return Rule(
        id=rule_id, title=document["title"].strip(), severity=document["severity"], table=document["table"],
        guidance_section=guidance["section"].strip(), guidance_quote=" ".join(guidance["quote"].split()),
        rationale=" ".join(document["rationale"].split()), fails=document["fails"], unknown=unknown,
        message=" ".join(document["message"].split()), evidence=evidence,
        fix={key: value.strip() for key, value in fix.items()}, preconditions=preconditions, examples=examples,
        path=path,
    )
