"""Case files (tests/cases/*.yaml): small estates with the traps real estates contain, run through every
rule at once. Each lists, per rule, the resources that must fail, be unknown, or pass."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from auditor.engine.run import run_rules
from auditor.inventory.tables import build_inventory
from auditor.pipeline import load_rules, parse_as_of

CASES = sorted((Path(__file__).parent / "cases").glob("*.yaml"))
RULES = {rule.id: rule for rule in load_rules()}


@pytest.mark.parametrize("path", CASES, ids=[path.stem for path in CASES])
def test_case(path):
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    inventory = build_inventory(case["rows"], as_of=parse_as_of(case["as_of"]))
    results = {r.rule.id: r for r in run_rules(inventory, [RULES[rule_id] for rule_id in case["expect"]])}
    for rule_id, expected in case["expect"].items():
        result = results[rule_id]
        failing, unknown = set(result.failing["key"]), set(result.unknown["key"])
        judged = set(inventory.table(result.rule.table)["key"])
        for key in expected.get("fail", []):
            assert key.lower() in failing, f"{rule_id}: {key} should fail"
        for key in expected.get("unknown", []):
            assert key.lower() in unknown, f"{rule_id}: {key} should be unknown"
        for key in expected.get("pass", []):
            assert key.lower() in judged and key.lower() not in failing | unknown, f"{rule_id}: {key} should pass"
        listed = {key.lower() for key in expected.get("fail", []) + expected.get("unknown", [])}
        assert failing | unknown <= listed, f"{rule_id}: unexpected results {sorted((failing | unknown) - listed)}"
