"""The bundled demo estate: the facts `dr-audit demo` users and the rule tests rely on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "auditor" / "demo"
ESTATE = DEMO / "estate.json"
EXPECTED = DEMO / "expected.json"

# The rule ids of spec.md's catalog table: stable, users write them in waivers and pipelines.
CATALOG = (
    "vm-lrs-disk-no-backup", "vm-zrs-disk-no-backup", "vm-unmanaged-lrs-disk-no-backup",
    "vm-unmanaged-geo-disk-no-backup", "vm-unmanaged-disks", "backup-not-healthy", "vm-backup-policy-below-rpo",
    "vm-agent-not-provisioned", "vault-not-geo-redundant", "vault-cross-region-restore-disabled",
    "vault-soft-delete-disabled", "availability-set-single-vm", "vm-not-highly-available",
    "image-not-geo-redundant", "gallery-image-single-region", "snapshot-not-copied-to-other-region",
    "vm-snapshots-not-coordinated", "workload-single-region",
)
VM_TYPE = "microsoft.compute/virtualmachines"


@pytest.fixture(scope="module")
def estate() -> dict:
    return json.loads(ESTATE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads(EXPECTED.read_text(encoding="utf-8"))


def _vms(estate: dict) -> list[dict]:
    return [row for row in estate["data"] if row["type"].lower() == VM_TYPE]


def test_estate_is_a_dr_audit_snapshot(estate):
    meta = estate["dr_audit_snapshot"]
    assert meta["version"] == 1
    assert meta["captured_at"] == "2026-11-23T06:00:00Z"
    assert [scope["status"] for scope in meta["scopes"]] == ["complete"] * 3
    assert {scope["subscription_id"] for scope in meta["scopes"]} == {row["subscriptionId"] for row in estate["data"]}


def test_every_row_has_id_and_type(estate):
    missing = [n for n, row in enumerate(estate["data"], 1) if not row.get("id") or not row.get("type")]
    assert missing == []
    ids = [row["id"].lower() for row in estate["data"]]
    assert len(ids) == len(set(ids)), "row ids must be unique (compared case-insensitively)"


def test_estate_is_realistically_sized(estate):
    vms = _vms(estate)
    assert len(vms) >= 40
    assert len({vm["subscriptionId"] for vm in vms}) == 3
    assert len({vm["location"] for vm in vms}) >= 3
    assert 300 <= len(estate["data"]) <= 600


def test_same_named_vms_are_different_resources(estate):
    web01 = [vm for vm in _vms(estate) if vm["name"] == "web01"]
    assert len(web01) == 2
    assert web01[0]["resourceGroup"] != web01[1]["resourceGroup"]


def test_every_disk_sku_of_the_spec_is_present(estate):
    skus = {row["sku"]["name"] for row in estate["data"] if row["type"] == "microsoft.compute/disks"}
    assert skus >= {"Standard_LRS", "StandardSSD_LRS", "Premium_LRS", "PremiumV2_LRS", "UltraSSD_LRS",
                    "Premium_ZRS", "StandardSSD_ZRS"}


def test_expected_covers_the_whole_catalog(expected):
    assert list(expected) == list(CATALOG)
    for rule_id, outcome in expected.items():
        assert set(outcome) == {"fail", "unknown", "pass"}, rule_id
        assert outcome["fail"], f"{rule_id}: the demo must show at least one failing resource"
        assert outcome["pass"], f"{rule_id}: the demo must show at least one passing resource"
        lowered = [[i.lower() for i in outcome[k]] for k in ("fail", "unknown", "pass")]
        flat = [i for ids in lowered for i in ids]
        assert len(flat) == len(set(flat)), f"{rule_id}: a resource is listed twice or under two outcomes"
        for ids in lowered:
            assert ids == sorted(ids), f"{rule_id}: lists are sorted case-insensitively"


def test_expected_names_only_resources_of_the_estate(estate, expected):
    row_ids = {row["id"] for row in estate["data"]}
    workloads = set()
    for vm in _vms(estate):
        for key, value in (vm.get("tags") or {}).items():
            if key.lower() == "workload":
                workloads.add(value.strip().lower())
    for rule_id, outcome in expected.items():
        for ids in outcome.values():
            for resource_id in ids:
                if resource_id.startswith("workload:"):
                    assert rule_id == "workload-single-region"
                    assert resource_id[len("workload:"):] in workloads, resource_id
                else:
                    assert resource_id in row_ids, f"{rule_id}: {resource_id} is not a row id"


def test_spec_unknown_cases_are_demonstrated(expected):
    assert expected["vm-lrs-disk-no-backup"]["unknown"]  # a disk not in the inventory
    assert expected["vm-unmanaged-lrs-disk-no-backup"]["unknown"]  # a VHD in an account not in the inventory
    assert expected["vault-not-geo-redundant"]["unknown"]  # a vault row without redundancySettings
    assert expected["vault-cross-region-restore-disabled"]["unknown"]
    assert expected["vm-agent-not-provisioned"]["unknown"]  # no osProfile, no instance view
    for rule_id in ("vm-lrs-disk-no-backup", "vault-not-geo-redundant", "image-not-geo-redundant",
                    "availability-set-single-vm", "vm-not-highly-available"):
        assert len(expected[rule_id]["fail"]) >= 3 and len(expected[rule_id]["pass"]) >= 3, rule_id


def test_generator_reproduces_the_committed_files(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "auditor.demo.generate", "--out-dir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for name in ("estate.json", "expected.json"):
        assert (tmp_path / name).read_bytes() == (DEMO / name).read_bytes(), (
            f"{name} differs from a fresh generation: run `python -m auditor.demo.generate` and commit the result")
