"""Finding texts rendered in bulk (engine.run.TemplateSet, records of chosen columns) say exactly what
one render of a template over the whole row says."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from jinja2.exceptions import UndefinedError

from auditor.engine.run import TemplateSet, records, render, run_rules
from auditor.inventory.snapshot import read_snapshot
from auditor.inventory.tables import build_inventory
from auditor.pipeline import load_rules, parse_as_of
from auditor.report.findings import build_findings
from auditor.resources import demo_estate

ROWS = [
    {"name": "app01", "resource_group": "rg-'x'", "vms": [{"name": "a", "id": "1"}, {"name": "b", "id": "2"}],
     "count": 2, "range": "a column named like a global", "zone": None},
    {"name": "app‘02", "resource_group": "rg $(x)", "vms": [], "count": 0, "range": "r", "zone": "1"},
]
CONSTANTS = {"rule": {"id": "r1", "title": "T"}, "config": None, "tag_keys": {"tier": "dr-tier"}}


def one_by_one(sources: list[str], row: dict) -> list[str]:
    return [render(source, dict(row, **CONSTANTS)) for source in sources]


@pytest.mark.parametrize("sources", [
    ["{{ name }} in {{ resource_group | sh }}", "{{ resource_group | ps }} {{ name | ps }}", "No variables at all."],
    ["{% for vm in vms %}{{ vm.name }}={{ vm.id }};{% endfor %}", "{{ vms | map(attribute='name') | join(',') }}"],
    ["{{ range }} / {{ rule.id }} {{ tag_keys.tier }} {{ zone }}"],  # the column hides the global
    ["{% set ns = namespace(n=0) %}{% for vm in vms %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}",
     "{{ vm_count if vm_count is defined else count }}"],
])
def test_a_set_renders_what_each_template_renders_alone(sources):
    templates = TemplateSet(sources, CONSTANTS)
    for row in ROWS:
        assert templates.render(row) == one_by_one(sources, row)


def test_a_name_one_template_sets_does_not_reach_the_next():
    """A top-level `set` lands in the Jinja context: the next template must still read the row's value."""
    sources = ["{% set name = 'overwritten' %}{{ name }}", "{{ name }}", "{% macro resource_group() %}m{% endmacro %}",
               "{{ resource_group }}"]
    templates = TemplateSet(sources, CONSTANTS)
    assert templates.render(ROWS[0]) == ["overwritten", "app01", "", "rg-'x'"] == one_by_one(sources, ROWS[0])


def test_the_dict_key_named_like_a_dict_method_is_still_the_method():
    sources = ["{{ vm.items is callable }} {{ vm['items'] }} {{ vm.name }}"]
    row = {"vm": {"items": "key", "name": "n"}}
    assert TemplateSet(sources, {}).render(row) == ["True key n"] == [render(sources[0], row)]


def test_a_missing_name_is_still_an_error():
    with pytest.raises(UndefinedError):
        TemplateSet(["{{ nowhere }}"], {}).render({"name": "x"})
    with pytest.raises(UndefinedError):
        TemplateSet(["{{ vm.nowhere }}"], {}).render({"vm": {"name": "x"}})


def test_records_of_chosen_columns_are_those_of_all_columns():
    frame = pd.DataFrame({"id": ["a", "b"], "size": [1.0, np.nan], "tags": [{"k": np.int64(3)}, None],
                          "flag": [True, False], "other": [1, 2]})
    every = records(frame)
    chosen = records(frame, ["tags", "size", "missing", "id"])
    assert chosen == [{key: row[key] for key in ("id", "size", "tags")} for row in every]
    assert chosen[0]["tags"] == {"k": 3} and chosen[1]["size"] is None
    assert records(frame, ["missing"]) == [{}, {}]
    assert records(frame.iloc[:0], ["id"]) == []


def test_findings_say_what_renders_over_whole_rows_say():
    """The demo's findings (every catalog rule fails there) against each template rendered alone over
    the failing row with every column, as findings were built before only the needed columns were."""
    snapshot = read_snapshot(demo_estate())
    as_of = parse_as_of(snapshot.captured_at)
    inventory = build_inventory(snapshot.rows, as_of=as_of)
    results = run_rules(inventory, load_rules())
    report = build_findings(snapshot=snapshot, inventory=inventory, results=results, as_of=as_of)
    by_key = {(finding["rule_id"], finding["resource_id"]): finding for finding in report["findings"]}
    config = inventory.config
    checked = set()
    for result in results:
        rule = result.rule
        for row in records(result.failing):
            context = dict(row, rule={"id": rule.id, "title": rule.title}, config=config, tag_keys={
                "tier": config.tier_tag, "rpo": config.rpo_tag, "workload": config.workload_tag})
            finding = by_key[(rule.id, row["id"])]
            assert finding["message"] == render(rule.message, context)
            assert {part: finding["fix"][part] for part in rule.fix} == {
                part: render(source, context) for part, source in rule.fix.items()}
            assert finding["fix"].get("preconditions", []) == [render(text, context) for text in rule.preconditions]
            assert finding["evidence"] == {column: row.get(column) for column in rule.evidence}
            checked.add(rule.id)
    assert checked == {rule.id for rule in load_rules()}


def test_a_constant_template_is_the_same_text_for_every_row():
    templates = TemplateSet(["Fixed {{ 1 + 1 }} text.", "{{ name }}"], {})
    assert [templates.render(row) for row in ROWS] == [["Fixed 2 text.", "app01"], ["Fixed 2 text.", "app‘02"]]
