"""DR plan (spec.md "DR planning"): tiers and their configuration, the plan per workload for the demo
estate, recovery runbooks, and plan.html / plan.md as their readers get them, hostile names included."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import pytest

from auditor.config import Config, load_config
from auditor.engine.run import run_rules
from auditor.errors import InputError
from auditor.inventory.snapshot import read_snapshot
from auditor.inventory.tables import build_inventory
from auditor.pipeline import load_rules, parse_as_of
from auditor.plan.command import PlanOptions, make_plan
from auditor.plan.model import build_plan
from auditor.plan.powershell import parameters, statements
from auditor.plan.tiers import DEFAULT_TIERS, parse_duration_hours
from auditor.report.findings import build_findings
from auditor.resources import demo_estate
from conftest import SUB, vm_row, write_json


@lru_cache(maxsize=4)
def _demo(config_text: str = ""):
    snapshot = read_snapshot(demo_estate())
    as_of = parse_as_of(snapshot.captured_at)
    config = Config()
    if config_text:
        import tempfile
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
            handle.write(config_text)
        config = load_config(handle.name)
    inventory = build_inventory(snapshot.rows, config, as_of)
    report = build_findings(snapshot=snapshot, inventory=inventory, results=run_rules(inventory, load_rules()),
                            as_of=as_of)
    return snapshot, inventory, report, build_plan(inventory, report, snapshot_source="demo",
                                                    captured_at=snapshot.captured_at)


def workload(plan, name):
    return next(w for w in plan["workloads"] if w["name"] == name)


# ---------------------------------------------------------------- tiers and --config

def test_tier_defaults_are_the_specs():
    tiers = {tier.name: tier for tier in DEFAULT_TIERS}
    assert [t.name for t in DEFAULT_TIERS] == ["critical", "high", "standard", "low"]
    assert (tiers["critical"].backup, tiers["critical"].cross_region_restore, tiers["critical"].rpo_hours,
            tiers["critical"].high_availability) == ("geo-redundant", True, 1.0, True)
    assert (tiers["high"].backup, tiers["high"].cross_region_restore, tiers["high"].rpo_hours,
            tiers["high"].high_availability) == ("geo-redundant", False, 24.0, True)
    assert (tiers["standard"].backup, tiers["standard"].rpo_hours, tiers["standard"].high_availability) == \
        ("geo-redundant", 24.0, False)
    assert (tiers["low"].backup, tiers["low"].rpo_hours, tiers["low"].high_availability) == ("any", 168.0, False)
    assert Config().tiers == DEFAULT_TIERS and Config().untagged_tier == "standard"


@pytest.mark.parametrize(("text", "hours"), [("15m", 0.25), ("4h", 4.0), ("7d", 168.0), ("PT1H", 1.0), ("P1D", 24.0),
                                             ("soon", None), ("0h", None)])
def test_durations(text, hours):
    assert parse_duration_hours(text) == hours


def test_tiers_section_changes_requirements_and_ranks(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("tiers:\n  gold: {backup: geo-redundant, cross_region_restore: true, rpo: 4h, "
                    "high_availability: true}\n  critical: {rpo: 15m}\n  untagged: low\n", encoding="utf-8")
    config = load_config(path)
    assert [t.name for t in config.tiers] == ["gold", "critical", "high", "standard", "low"]
    critical = next(t for t in config.tiers if t.name == "critical")
    assert critical.rpo_hours == 0.25 and critical.cross_region_restore  # other keys keep their defaults
    assert config.untagged_tier == "low"


def test_a_configured_tier_drives_the_plan(tmp_path):
    rows = vm_row("gold01", tags={"workload": "ledger", "dr-tier": "Gold"}) + vm_row("plain01", rg="rg-x")
    snapshot = read_snapshot(write_json(tmp_path / "s.json", rows))
    config_path = tmp_path / "c.yaml"
    config_path.write_text("tiers:\n  gold: {backup: any, rpo: 2d}\n  untagged: low\n", encoding="utf-8")
    outcome = make_plan(snapshot, PlanOptions(out_dir=tmp_path / "out", formats=("json",),
                                              config=load_config(config_path)))
    plan = outcome.plan
    ledger = workload(plan, "ledger")
    assert ledger["tier"]["name"] == "gold" and ledger["tier"]["rpo_hours"] == 48.0
    assert ledger["tier"]["controls"][0] == "Azure Backup (any vault)"
    assert workload(plan, "unassigned: rg-x")["tier"]["name"] == "low"


@pytest.mark.parametrize(("text", "message"), [
    ("tiers:\n  gold: {backups: any}\n", "unknown key tiers.gold.backups"),
    ("tiers:\n  gold: {backup: tape}\n", "tiers.gold.backup must be one of none, any, geo-redundant"),
    ("tiers:\n  gold: {rpo: soon}\n", "tiers.gold.rpo must be a duration"),
    ("tiers:\n  gold: {high_availability: maybe}\n", "tiers.gold.high_availability must be true or false"),
    ("tiers:\n  untagged: platinum\n", "tiers.untagged names 'platinum', which is not a tier"),
    ("tiers:\n  gold: fast\n", "tiers.gold must be a mapping"),
    ("tiers: [gold]\n", "section 'tiers' must be a mapping"),
])
def test_broken_tiers_name_file_and_key(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as error:
        load_config(path)
    assert message in str(error.value) and str(path) in str(error.value)


# ---------------------------------------------------------------- the plan for the demo estate

def test_demo_plan_covers_every_workload_and_vm():
    snapshot, inventory, report, plan = _demo()
    vms = inventory.vms
    tagged = {value.strip().lower() for value in vms["workload"].dropna()}
    planned = {w["key"] for w in plan["workloads"] if w["kind"] == "workload"}
    assert planned == tagged and len(tagged) == 21
    untagged_groups = {f"unassigned: {rg}" for rg in vms.loc[vms["workload"].isna(), "resource_group"]}
    assert {w["name"] for w in plan["workloads"] if w["kind"] == "unassigned"} == untagged_groups
    planned_vms = [vm["key"] for w in plan["workloads"] for vm in w["vms"]]
    assert sorted(planned_vms) == sorted(vms["key"])  # every VM exactly once
    for w in plan["workloads"]:
        assert w["tier"]["controls"] and w["requirements"] and w["runbook"]["regions"]
        assert {r["control"] for r in w["requirements"]} == {"backup", "geo", "crr", "rpo", "ha"}
        for region in w["regions"]:
            assert region["paired"], f"{w['name']} {region['name']} has no paired region"


def test_every_finding_is_placed_and_gap_links_point_at_real_findings():
    _, _, report, plan = _demo()
    ids = {f["id"]: f for f in report["findings"]}
    placed = {f["id"] for w in plan["workloads"] for f in w["findings"]} | {f["id"] for f in plan["other_findings"]}
    assert placed == set(ids)
    for w in plan["workloads"]:
        listed = {f["id"] for f in w["findings"]}
        for gap in w["gaps"]:
            assert set(gap["finding_ids"]) <= listed
            assert gap["rule_ids"] == sorted({ids[i]["rule_id"] for i in gap["finding_ids"]})


def test_demo_workloads_read_as_a_dr_lead_expects():
    _, _, report, plan = _demo()
    by_rule = {}
    for finding in report["findings"]:
        by_rule.setdefault((finding["rule_id"], finding["resource_name"]), finding["id"])

    payments = workload(plan, "payments")  # GeoRedundant vault in northeurope without cross-region restore
    crr = next(r for r in payments["requirements"] if r["control"] == "crr")
    assert crr["status"] == "gap"
    assert by_rule[("vault-cross-region-restore-disabled", "rsv-core-prod-neu")] in crr["finding_ids"]
    assert payments["recovery"]["regional"]["status"] == "after-declared-outage"
    assert payments["regions"] == [{"name": "northeurope", "paired": "westeurope"}]

    cassandra = workload(plan, "cassandra")  # one region, ZoneRedundant vault: lost with eastus
    assert cassandra["recovery"]["regional"]["status"] == "none"
    assert "cassandra" in plan["summary"]["not_recoverable_after_regional_loss"]
    geo_gap = next(g for g in cassandra["gaps"] if g["control"] == "geo")
    assert by_rule[("workload-single-region", "cassandra")] in geo_gap["finding_ids"]

    crm = workload(plan, "crm")  # Site Recovery replicas, no backup
    assert {vm["recovery"]["path"] for vm in crm["vms"]} == {"site-recovery"}
    assert crm["recovery"]["meets_rpo"] is True

    reporting = workload(plan, "reporting")  # rpt-app02: snapshot copies taken 3 h apart
    rpt = next(vm for vm in reporting["vms"] if vm["name"] == "rpt-app02")
    assert rpt["recovery"]["path"] == "snapshot-copies" and not rpt["snapshots"]["coordinated"]
    assert reporting["recovery"]["regional"]["status"] == "inconsistent"

    intranet = workload(plan, "intranet")  # vault redundancy missing: unknown, never "recoverable"
    assert intranet["recovery"]["regional"]["status"] == "unknown"
    assert next(r for r in intranet["requirements"] if r["control"] == "geo")["status"] == "unknown"

    erp = workload(plan, "erp")
    assert erp["tier"]["name"] == "critical"
    assert {s["id"] for s in erp["scenarios"]} >= {"Scenario 1", "Scenario 2", "Scenario 4"}
    print01 = next(vm for vm in erp["vms"] if vm["name"] == "erp-print01")
    assert print01["tier"] == "standard"  # its own tag, not the workload's critical


def test_runbook_restores_in_the_paired_region_with_names_filled_in():
    _, _, _, plan = _demo()
    erp = workload(plan, "erp")
    region = erp["runbook"]["regions"][0]
    assert (region["region"], region["paired"]) == ("westeurope", "northeurope")
    assert [step["vm"] for step in region["steps"]][:2] == ["sqlprod01", "sqlprod02"]  # data first
    step = next(s for s in region["steps"] if s["vm"] == "sqlprod01")
    assert step["path"] == "cross-region-restore"
    assert "az backup restore restore-disks" in step["az"] and "--use-secondary-region" in step["az"]
    assert "--vault-name rsv-core-prod-weu" in step["az"]
    assert "'IaasVMContainer;iaasvmcontainerv2;rg-erp-prod-weu;sqlprod01'" in step["az"]
    assert f"--target-resource-group {region['target']['resource_group']}" in step["az"]
    assert "Restore-AzRecoveryServicesBackupItem" in step["powershell"]
    assert "-RestoreToSecondaryRegion" in step["powershell"]
    assert re.fullmatch(r"st[a-z0-9]{3,22}", region["target"]["storage_account"])
    for statement in statements(step["powershell"]):  # parses, and the names are there as literals
        parameters(statement)

    reporting = workload(plan, "reporting")
    rebuild = next(s for s in reporting["runbook"]["regions"][0]["steps"] if s["vm"] == "rpt-app02")
    assert rebuild["path"] == "snapshot-copies"
    assert rebuild["az"].count("az disk create") == 2
    assert "--source /subscriptions/3f2c8a10-6b1e-4c2d-9a7f-1e5b0c9d4a21/resourceGroups/rg-reporting-dr-weu/" \
           "providers/Microsoft.Compute/snapshots/rpt-app02-os-20261122-weu" in rebuild["az"]
    assert "--attach-os-disk" in rebuild["az"] and "not one consistent restore point" in rebuild["text"]

    down = {entry["region"]: entry for entry in plan["regions"]}
    assert [w["name"] for w in down["westeurope"]["workloads"]][:2] == ["erp", "payroll"]


# ---------------------------------------------------------------- plan.html and plan.md

HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_TAG = "*shop* [click](https://evil.example) @oncall <b>x</b>"


def _hostile_snapshot(tmp_path: Path):
    rows = vm_row("vm-a", tags={"workload": HOSTILE_TAG, "dr-tier": "high", "owner": "@everyone <script>"})
    rows += vm_row("db'x’y", rg="rg-b", tags={"workload": HOSTILE_TAG})
    rows[0]["name"] = HOSTILE_NAME
    return read_snapshot(write_json(tmp_path / "hostile.json", rows))


def test_plan_html_is_self_contained_and_hostile_names_stay_text(tmp_path):
    outcome = make_plan(_hostile_snapshot(tmp_path), PlanOptions(out_dir=tmp_path / "out", formats=("html", "md")))
    html = (tmp_path / "out" / "plan.html").read_text(encoding="utf-8")
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script" not in html.lower() and "<b>x</b>" not in html
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)
    for w in outcome.plan["workloads"]:
        assert f'id="{w["anchor"]}"' in html


def test_plan_markdown_escapes_names(tmp_path):
    make_plan(_hostile_snapshot(tmp_path), PlanOptions(out_dir=tmp_path / "out", formats=("md",)))
    text = (tmp_path / "out" / "plan.md").read_text(encoding="utf-8")
    assert "[click](https://evil.example)" not in text and "\\[click\\]" in text
    assert "<img" not in text and "<script" not in text and "&lt;img" in text
    assert "@oncall" not in text and "@&#8203;oncall" in text
    assert "\\*shop\\*" in text


def test_plan_html_opens_in_a_browser_without_errors_or_requests(tmp_path):
    from browser import open_local_page

    make_plan(_demo_snapshot_file(), PlanOptions(out_dir=tmp_path, formats=("html",)))
    with open_local_page(tmp_path / "plan.html") as visit:
        assert visit.console_errors == [] and visit.page_errors == [] and visit.external_requests == []
        assert visit.page.locator("section.card h2").first.inner_text() == "Summary"
        assert visit.page.locator("#summary tbody tr").count() == 25


def _demo_snapshot_file():
    return read_snapshot(demo_estate())


def test_mask_ids_hides_subscriptions_in_the_plan_but_not_in_the_script(tmp_path):
    make_plan(_demo_snapshot_file(), PlanOptions(out_dir=tmp_path, formats=("html", "md", "json"), script="bash",
                                                 mask_ids=True))
    for name in ("plan.html", "plan.md", "plan.json"):
        assert "3f2c8a10-6b1e-4c2d-9a7f-1e5b0c9d4a21" not in (tmp_path / name).read_text(encoding="utf-8"), name
    assert json.loads((tmp_path / "plan.json").read_text())["masked_ids"] is True
    assert "3f2c8a10-6b1e-4c2d-9a7f-1e5b0c9d4a21" in (tmp_path / "remediate.sh").read_text(encoding="utf-8")


def test_as_of_moves_the_recovery_point_ages(tmp_path):
    snapshot = _demo_snapshot_file()
    later = parse_as_of("2026-11-24T06:00:00Z")
    outcome = make_plan(snapshot, PlanOptions(out_dir=tmp_path, formats=("json",), as_of=later))
    erp = workload(outcome.plan, "erp")
    assert erp["recovery"]["regional"]["age_hours"] == 52.0 + 24


def test_untagged_vms_are_grouped_by_resource_group(tmp_path):
    rows = vm_row("a1", rg="rg-one") + vm_row("a2", rg="rg-one") + vm_row("b1", rg="rg-two")
    outcome = make_plan(read_snapshot(write_json(tmp_path / "s.json", rows)),
                        PlanOptions(out_dir=tmp_path / "o", formats=("json",)))
    groups = {w["name"]: [vm["name"] for vm in w["vms"]] for w in outcome.plan["workloads"]}
    assert groups == {"unassigned: rg-one": ["a1", "a2"], "unassigned: rg-two": ["b1"]}
    assert all(w["tier"]["name"] == "standard" for w in outcome.plan["workloads"])
    assert SUB in outcome.plan["workloads"][0]["subscriptions"]
