"""Every rule's own pass/fail/unknown examples, one parametrised case each:
`pytest -k vm-lrs-disk-no-backup` runs exactly that rule's cases."""

from __future__ import annotations

import pytest

from auditor.engine.run import run_rule
from auditor.inventory.tables import build_inventory
from auditor.pipeline import load_rules, parse_as_of

RULES = load_rules()
CASES = [
    pytest.param(rule, example, id=f"{rule.id}::{example['expect']}::{example['name']}")
    for rule in RULES
    for example in rule.examples
]


def verdict(rule, rows, resource_id: str, as_of: str | None = None) -> str:
    inventory = build_inventory(rows, as_of=parse_as_of(as_of) if as_of else None)
    result = run_rule(inventory, rule)
    key = resource_id.lower()
    failing = set(result.failing["key"])
    unknown = set(result.unknown["key"])
    assert not failing & unknown, "a resource is never both a finding and unknown"
    if key in failing:
        return "fail"
    if key in unknown:
        return "unknown"
    table = inventory.table(rule.table)
    assert key in set(table["key"]), f"example resource {resource_id} is not in the rule's table"
    return "pass"


@pytest.mark.parametrize(("rule", "example"), CASES)
def test_rule_example(rule, example):
    assert verdict(rule, example["rows"], example["resource"], example.get("as_of")) == example["expect"]
