"""The rule catalog as shipped: every file valid, ids stable, examples present, fixes that render
with the real names and quote what came from Azure."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from auditor.engine.catalog import load_catalog, load_rule
from auditor.engine.run import records, render
from auditor.errors import InputError
from auditor.inventory.tables import build_inventory
from auditor.pipeline import load_rules
from auditor.resources import rules_dir

RULES = load_rules()
SPEC_SEVERITIES = {
    "vm-lrs-disk-no-backup": "high", "vm-zrs-disk-no-backup": "medium", "vm-unmanaged-lrs-disk-no-backup": "high",
    "vm-unmanaged-geo-disk-no-backup": "medium", "vm-unmanaged-disks": "high", "backup-not-healthy": "high",
    "vm-backup-policy-below-rpo": "medium", "vm-agent-not-provisioned": "high", "vault-not-geo-redundant": "high",
    "vault-cross-region-restore-disabled": "medium", "vault-soft-delete-disabled": "medium",
    "availability-set-single-vm": "medium", "vm-not-highly-available": "medium", "image-not-geo-redundant": "medium",
    "gallery-image-single-region": "medium", "snapshot-not-copied-to-other-region": "low",
    "vm-snapshots-not-coordinated": "low", "workload-single-region": "medium",
}


def test_every_catalog_rule_has_the_spec_severity():
    catalog = {rule.id: rule.severity for rule in RULES}
    for rule_id, severity in SPEC_SEVERITIES.items():
        assert catalog.get(rule_id) == severity


@pytest.mark.parametrize("rule", RULES, ids=[rule.id for rule in RULES])
def test_rule_file_is_complete(rule):
    assert rule.path.stem == rule.id
    assert rule.guidance_quote and rule.guidance_section and rule.rationale
    assert {e["expect"] for e in rule.examples} >= {"pass", "fail"}


@pytest.mark.parametrize("rule", RULES, ids=[rule.id for rule in RULES])
def test_fix_renders_with_real_names_for_every_failing_example(rule):
    for example in [e for e in rule.examples if e["expect"] == "fail"]:
        inventory = build_inventory(example["rows"])
        table = inventory.table(rule.table)
        row = records(table[table["key"] == example["resource"].lower()])[0]
        context = dict(row, rule={"id": rule.id, "title": rule.title}, tag_keys={})
        message = render(rule.message, context)
        assert row["name"] in message
        for part, template in rule.fix.items():
            text = render(template, context)
            assert text, f"{part} fix is empty"
            assert "{{" not in text and "{%" not in text
        assert row["name"] in render(rule.fix["az_cli"], context) + render(rule.fix["powershell"], context)


def test_fix_quotes_hostile_names_for_the_shell(tmp_path):
    rule = next(rule for rule in RULES if rule.id == "vm-lrs-disk-no-backup")
    example = rule.examples[0]
    rows = [dict(row) for row in example["rows"]]
    rows[0] = dict(rows[0], resourceGroup="rg-$(touch pwned)", name="app01")
    table = build_inventory(rows).vms
    context = dict(records(table)[0], rule={}, tag_keys={})
    rendered = render(rule.fix["az_cli"], context)
    assert "'rg-$(touch pwned)'" in rendered or "$(touch" not in rendered
    powershell = render(rule.fix["powershell"], dict(context, resource_group="rg-'; Remove-Item x; '"))
    assert "'rg-''; Remove-Item x; '''" in powershell


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda text: text.replace("id: vault-not-geo-redundant", "id: other-id"), "must equal the file name"),
    (lambda text: text.replace("severity: high", "severity: urgent"), "'severity' must be one of"),
    (lambda text: text.replace("fails:", "failz:"), "missing field(s) fails"),
    (lambda text: text.replace("ne: GeoRedundant", "near: GeoRedundant"), "needs exactly one operator"),
    (lambda text: text + "\n  - bad: [", "is not valid YAML"),
    (lambda text: re.sub(r"expect: pass", "expect: fail", text), "at least one passing and one failing"),
])
def test_malformed_rule_files_are_input_errors_naming_the_file(tmp_path, mutate, message):
    source = rules_dir() / "vault-not-geo-redundant.yaml"
    broken = tmp_path / source.name
    broken.write_text(mutate(source.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(InputError) as error:
        load_rule(broken)
    assert message in str(error.value) and str(broken) in str(error.value)


def test_catalog_directory_without_rules_is_an_error(tmp_path):
    with pytest.raises(InputError, match="has no"):
        load_catalog(tmp_path)


def test_rules_ship_from_the_top_level_directory():
    assert rules_dir().name == "rules" and any(Path(rules_dir()).glob("*.yaml"))


def test_readme_lists_every_rule():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    missing = [rule.id for rule in RULES if f"`{rule.id}`" not in readme]
    assert missing == []




def test_catalog_has_exactly_the_spec_rule_ids():
    assert sorted(rule.id for rule in RULES) == sorted(SPEC_SEVERITIES)
