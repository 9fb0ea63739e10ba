"""Inventory tables + the findings document → the DR plan as plain data (one entry per workload).

Workloads are VMs grouped by the workload tag value (trimmed, case-insensitive, across
subscriptions); VMs without the tag form one "unassigned" group per resource group. For every
workload the plan states its tier and the controls that tier requires, what is in place, each gap
(linked to the findings and rules that report it), the recovery point achievable now, and a runbook
(auditor/plan/runbook.py). Every finding of the document appears once per workload it concerns, or
in `other_findings` when it concerns no workload (images, gallery versions, unused vaults).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from auditor import __version__
from auditor.engine.run import records
from auditor.inventory.tables import Inventory
from auditor.plan.runbook import build_runbook
from auditor.plan.tiers import Tier, format_hours

STATUSES = ("gap", "unknown", "met", "not required")
CONTROLS = {
    "backup": "Azure Backup",
    "geo": "Copies in the paired region (GeoRedundant vault)",
    "crr": "Cross-region restore",
    "rpo": "Backup frequency vs RPO",
    "ha": "High availability",
}
# Which rules report a gap in each control, on the VM, its vault, its availability set or its workload.
CONTROL_RULES = {
    "backup": {"vm-lrs-disk-no-backup", "vm-zrs-disk-no-backup", "vm-unmanaged-lrs-disk-no-backup",
               "vm-unmanaged-geo-disk-no-backup", "backup-not-healthy", "workload-single-region",
               "vm-snapshots-not-coordinated"},
    "geo": {"vault-not-geo-redundant", "workload-single-region", "vm-lrs-disk-no-backup", "vm-zrs-disk-no-backup",
            "vm-unmanaged-lrs-disk-no-backup", "vm-unmanaged-geo-disk-no-backup"},
    "crr": {"vault-cross-region-restore-disabled"},
    "rpo": {"vm-backup-policy-below-rpo", "backup-not-healthy"},
    "ha": {"vm-not-highly-available", "availability-set-single-vm"},
}
PATH_LABELS = {
    "cross-region-restore": "Cross-region restore from the vault",
    "site-recovery": "Site Recovery failover",
    "geo-backup": "Vault copy in the paired region, once Microsoft declares the outage (cross-region restore off)",
    "snapshot-copies": "Rebuild from snapshot copies",
    "unknown": "Unknown: the vault's redundancy is not in the inventory",
    "in-region-only": "None: its backups stay in the region",
    "none": "None: no copy outside the region",
}
CONTROL_SHORT = {"backup": "Backup", "geo": "Paired-region copy", "crr": "Cross-region restore", "rpo": "RPO",
                 "ha": "HA"}
STATUS_LABELS = {"met": "In place", "gap": "Gap", "unknown": "Unknown", "not required": "Not required"}
_DATABASE = re.compile(r"sql|db|ora|mongo|cassandra|cas\d|postgres|mysql|maria|redis|elastic", re.IGNORECASE)


def _key(value: Any) -> str:
    return str(value or "").strip().rstrip("/").lower()


def _anchor(prefix: str, key: str) -> str:
    return f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _hours_since(moment: Any, as_of: pd.Timestamp) -> float | None:
    stamp = pd.to_datetime(moment, utc=True, errors="coerce", format="ISO8601") if moment else pd.NaT
    if pd.isna(stamp):
        return None
    return round((as_of - stamp).total_seconds() / 3600, 1)


def _timestamp(value: Any) -> str | None:
    """An ISO time from Azure as `2026-11-22T14:00:00Z` (no fractions); unreadable text as is."""
    stamp = pd.to_datetime(value, utc=True, errors="coerce", format="ISO8601") if value else pd.NaT
    if pd.isna(stamp):
        return str(value) if value else None
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def build_plan(inventory: Inventory, report: dict[str, Any], *, snapshot_source: str | None = None,
               captured_at: str | None = None, generated_at: datetime | None = None) -> dict[str, Any]:
    config = inventory.config
    tiers = {tier.name: tier for tier in config.tiers}
    tier_rank = {tier.name: rank for rank, tier in enumerate(config.tiers)}
    as_of = inventory.as_of

    findings_by_resource: dict[str, list[dict[str, Any]]] = {}
    for finding in report.get("findings", []):
        findings_by_resource.setdefault(_key(finding["resource_id"]), []).append(finding)
    unknown_by_resource: dict[str, list[dict[str, Any]]] = {}
    for entry in report.get("unknown", []):
        unknown_by_resource.setdefault(_key(entry["resource_id"]), []).append(entry)

    vaults = {row["key"]: row for row in records(inventory.vaults)}
    avsets = {row["key"]: row for row in records(inventory.availability_sets)}
    disks_by_vm = _disks_by_vm(inventory)
    copies_by_disk = _snapshot_copies(inventory)
    replicated = {row["source_key"]: row for row in records(inventory.replicated_items.dropna(subset=["source_key"]))}

    vm_rows = records(inventory.vms)
    groups: dict[str, list[dict[str, Any]]] = {}
    for vm in vm_rows:
        workload = (vm.get("workload") or "").strip()
        if workload:
            group_key = workload.lower()
        else:
            group_key = f"unassigned:{_key(vm.get('subscription_id'))}/{_key(vm.get('resource_group'))}"
        groups.setdefault(group_key, []).append(vm)

    workloads = []
    used_findings: set[str] = set()
    for group_key, members in groups.items():
        workload = _workload(group_key, members, inventory, tiers, tier_rank, vaults, avsets, disks_by_vm,
                             copies_by_disk, replicated, findings_by_resource, unknown_by_resource, as_of)
        used_findings.update(f["id"] for f in workload["findings"])
        workloads.append(workload)
    # Most demanding tier first, then the workloads with gaps, then by name; unassigned groups last.
    workloads.sort(key=lambda w: (w["kind"] != "workload", tier_rank.get(w["tier"]["name"], len(tier_rank)),
                                  -len(w["gaps"]), w["name"].lower()))

    other = [_finding_ref(f) for f in report.get("findings", []) if f["id"] not in used_findings]
    tool = dict(report.get("tool") or {"name": "dr-audit", "version": __version__})
    return {
        "tool": tool,
        "generated_at": _iso(generated_at or datetime.now(timezone.utc)),
        "as_of": report.get("as_of"),
        "snapshot": {"source": snapshot_source, "captured_at": captured_at},
        "scopes": report.get("scopes", []),
        "incomplete": [scope for scope in report.get("scopes", []) if scope.get("status") != "complete"],
        "tiers": [_tier_view(tier) for tier in config.tiers],
        "untagged_tier": config.untagged_tier,
        "tag_keys": {"tier": config.tier_tag, "rpo": config.rpo_tag, "workload": config.workload_tag},
        "summary": _summary(workloads, report),
        "regions": _region_outages(workloads),
        "workloads": workloads,
        "other_findings": sorted(other, key=lambda f: f["rank"] or 0),
        "script": None,
        "labels": {"paths": PATH_LABELS, "statuses": STATUS_LABELS, "controls": CONTROLS,
                   "controls_short": CONTROL_SHORT},
    }


def _tier_view(tier: Tier) -> dict[str, Any]:
    return {"name": tier.name, "backup": tier.backup, "cross_region_restore": tier.cross_region_restore,
            "rpo_hours": tier.rpo_hours, "rpo": format_hours(tier.rpo_hours) if tier.rpo_hours else None,
            "high_availability": tier.high_availability, "controls": tier.controls()}


def _summary(workloads: list[dict[str, Any]], report: dict[str, Any]) -> dict[str, Any]:
    by_tier: dict[str, int] = {}
    for workload in workloads:
        by_tier[workload["tier"]["name"]] = by_tier.get(workload["tier"]["name"], 0) + 1
    return {
        "workloads": sum(1 for w in workloads if w["kind"] == "workload"),
        "unassigned_groups": sum(1 for w in workloads if w["kind"] == "unassigned"),
        "vms": sum(len(w["vms"]) for w in workloads),
        "workloads_with_gaps": sum(1 for w in workloads if w["gaps"]),
        "not_recoverable_after_regional_loss": [w["name"] for w in workloads
                                                if w["recovery"]["regional"]["status"] == "none"],
        "by_tier": by_tier,
        "findings": len(report.get("findings", [])),
    }


def _region_outages(workloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per region: what is lost with it and how each affected workload comes back, most demanding
    tier first (the order workloads are listed in)."""
    regions: dict[str, dict[str, Any]] = {}
    for workload in workloads:
        for region in workload["regions"]:
            vms = [vm for vm in workload["vms"] if vm["location"] == region["name"]]
            entry = regions.setdefault(region["name"], {"region": region["name"], "paired": region["paired"],
                                                        "vm_count": 0, "workloads": []})
            entry["vm_count"] += len(vms)
            paths: dict[str, list[str]] = {}
            for vm in vms:
                paths.setdefault(vm["recovery"]["path"], []).append(vm["name"])
            entry["workloads"].append({
                "name": workload["name"], "anchor": workload["anchor"], "tier": workload["tier"]["name"],
                "vms": len(vms), "paths": [{"path": path, "vms": names} for path, names in paths.items()],
                "unrecoverable": [vm["name"] for vm in vms if vm["recovery"]["status"] in ("none", "inconsistent")],
                "also_in": [r["name"] for r in workload["regions"] if r["name"] != region["name"]],
            })
    return sorted(regions.values(), key=lambda r: (-r["vm_count"], r["region"]))


def _finding_ref(finding: dict[str, Any]) -> dict[str, Any]:
    return {key: finding.get(key) for key in ("id", "rule_id", "severity", "title", "resource_name", "resource_type",
                                              "resource_id", "resource_group", "location", "rank", "message",
                                              "waived")}


# ---------------------------------------------------------------- per workload

def _workload(group_key: str, members: list[dict[str, Any]], inventory: Inventory, tiers: dict[str, Tier],
              tier_rank: dict[str, int], vaults, avsets, disks_by_vm, copies_by_disk, replicated,
              findings_by_resource, unknown_by_resource, as_of) -> dict[str, Any]:
    config = inventory.config
    members = sorted(members, key=lambda vm: (str(vm.get("name") or "").lower(), _key(vm.get("id"))))
    unassigned = group_key.startswith("unassigned:")
    spellings = sorted({(vm.get("workload") or "").strip() for vm in members} - {""})
    if unassigned:
        name = f"unassigned: {members[0].get('resource_group') or '(no resource group)'}"
    else:
        name = spellings[0] if len(spellings) == 1 else group_key
    tagged = [vm["tier"] for vm in members if vm.get("tier") in tiers]
    if tagged:
        tier_name = min(tagged, key=lambda t: tier_rank[t])
        counts = {t: tagged.count(t) for t in sorted(set(tagged), key=lambda t: tier_rank[t])}
        tier_source = (f"the most demanding {config.tier_tag} tag among its VMs ("
                       + ", ".join(f"{t}: {n}" for t, n in counts.items()) + f" of {len(members)})")
    else:
        tier_name = config.untagged_tier
        tier_source = f"no VM has a known {config.tier_tag} tag: the tier for untagged VMs"
    unknown_tags = sorted({vm["tier"] for vm in members if vm.get("tier") and vm["tier"] not in tiers})
    notes = []
    if unknown_tags:
        notes.append(f"{config.tier_tag} value(s) {', '.join(unknown_tags)} are not configured tiers; those VMs are "
                     f"held to the workload's tier {tier_name}.")
    if len(spellings) > 1:
        notes.append(f"The {config.workload_tag} tag is spelled {', '.join(spellings)}: grouped as one workload.")

    vm_views = []
    for vm in members:
        own = vm.get("tier") if vm.get("tier") in tiers else None
        tier = tiers[own or tier_name]
        vm_views.append(_vm(vm, tier, own, inventory, vaults, avsets, disks_by_vm, copies_by_disk, replicated, as_of))

    related_keys = _related_keys(group_key, members, vm_views, inventory)
    findings = []
    for key in related_keys:
        findings.extend(findings_by_resource.get(key, []))
    findings = sorted({f["id"]: f for f in findings}.values(), key=lambda f: f["rank"] or 0)
    unknown = [u for key in related_keys for u in unknown_by_resource.get(key, [])]

    requirements, gaps = _requirements(vm_views, findings, group_key)
    linked = {fid for gap in gaps for fid in gap["finding_ids"]}
    for finding in findings:  # findings that no requirement covers are gaps too
        if finding["id"] not in linked:
            gaps.append({"control": None, "control_label": "Other finding", "vm": finding["resource_name"],
                         "text": finding["message"], "finding_ids": [finding["id"]], "rule_ids": [finding["rule_id"]],
                         "severity": finding["severity"], "waived": finding.get("waived", False)})

    regions = sorted({vm["location"] for vm in vm_views if vm["location"]})
    owners = sorted({vm["owner"] for vm in members if vm.get("owner")})
    workload = {
        "key": group_key,
        "anchor": _anchor("w", group_key),
        "name": name,
        "kind": "unassigned" if unassigned else "workload",
        "owners": owners,
        "subscriptions": sorted({vm["subscription_id"] for vm in vm_views if vm["subscription_id"]}),
        "resource_groups": sorted({vm["resource_group"] for vm in vm_views if vm["resource_group"]}),
        "regions": [{"name": region, "paired": next((vm["paired_region"] for vm in vm_views
                                                     if vm["location"] == region), None)} for region in regions],
        "tier": dict(_tier_view(tiers[tier_name]), source=tier_source),
        "notes": notes,
        "vms": vm_views,
        "vaults": _vault_views(vm_views, vaults),
        "requirements": requirements,
        "gaps": gaps,
        "findings": [_finding_ref(f) for f in findings],
        "unknown": [{"rule_id": u["rule_id"], "resource_name": u.get("resource_name"), "reason": u["reason"]}
                    for u in unknown],
        "recovery": _recovery(vm_views),
        "scenarios": _scenarios(vm_views, regions, tiers[tier_name]),
    }
    workload["runbook"] = build_runbook(workload, config)
    return workload


def _related_keys(group_key: str, members, vm_views, inventory: Inventory) -> list[str]:
    """Resources whose findings concern this workload: its VMs, their vaults and availability sets,
    snapshots of their disks, and the workload itself."""
    keys = [vm["key"] for vm in members]
    keys += [vm["backup"]["vault_key"] for vm in vm_views if vm["backup"] and vm["backup"].get("vault_key")]
    keys += [_key(vm.get("availability_set_key")) for vm in members if vm.get("availability_set_key")]
    snapshots_by_vm = _snapshots_by_vm(inventory)
    keys += [key for vm in members for key in snapshots_by_vm.get(vm["key"], ())]
    if not group_key.startswith("unassigned:"):
        keys.append("workload:" + group_key)
    return list(dict.fromkeys(keys))


def _snapshots_by_vm(inventory: Inventory) -> dict[str, list[str]]:
    """Snapshot keys per VM whose disk they were taken of, computed once per inventory."""
    cached = inventory.__dict__.get("_plan_snapshots_by_vm")
    if cached is None:
        snapshots = inventory.snapshots.dropna(subset=["source_vm_key"])
        cached = snapshots.groupby("source_vm_key")["key"].agg(list).to_dict()
        inventory.__dict__["_plan_snapshots_by_vm"] = cached
    return cached


def _disks_by_vm(inventory: Inventory) -> dict[str, list[dict[str, Any]]]:
    result: dict[str, list[dict[str, Any]]] = {}
    for disk in records(inventory.vm_disks):
        if disk.get("ephemeral"):
            continue
        result.setdefault(disk["vm_key"], []).append({
            "name": disk.get("label") or disk.get("disk_name"),
            "role": disk.get("role"), "lun": disk.get("lun"),
            "id": disk.get("managed_disk_id") or disk.get("vhd_uri"),
            "key": disk.get("managed_disk_key"),
            "managed": bool(disk.get("is_managed")),
            "sku": disk.get("disk_sku_name") or disk.get("account_sku_name"),
            "size_gb": disk.get("size_gb"),
        })
    for disks in result.values():
        disks.sort(key=lambda d: (d["role"] != "os", d["lun"] if d["lun"] is not None else -1))
    return result


def _snapshot_copies(inventory: Inventory) -> dict[str, list[dict[str, Any]]]:
    """Per managed disk key: its snapshots in other regions than the disk's snapshots were taken in
    (copies of a snapshot of the disk, or snapshots of the disk itself stored elsewhere), with the
    moment the data was captured (the source snapshot's time for a copy)."""
    snaps = records(inventory.snapshots)
    by_key = {s["key"]: s for s in snaps}
    disk_locations = dict(zip(inventory.disks["key"], inventory.disks["location"]))
    result: dict[str, list[dict[str, Any]]] = {}
    for snap in snaps:
        source = snap.get("source_key")
        if not source:
            continue
        origin = by_key.get(source)
        disk_key = origin.get("source_key") if origin else source
        if not disk_key or "/providers/microsoft.compute/disks/" not in disk_key:
            continue
        home = (origin or {}).get("location") or disk_locations.get(disk_key)
        if home is None or snap.get("location") == home:
            continue
        result.setdefault(disk_key, []).append({
            "name": snap["name"], "id": snap["id"], "location": snap.get("location"),
            "resource_group": snap.get("resource_group"), "subscription_id": snap.get("subscription_id"),
            "captured_at": (origin or snap).get("time_created"),
        })
    for copies in result.values():
        copies.sort(key=lambda c: str(c["captured_at"] or ""), reverse=True)
    return result


def _vm(vm: dict[str, Any], tier: Tier, own_tier: str | None, inventory: Inventory, vaults, avsets, disks_by_vm,
        copies_by_disk, replicated, as_of) -> dict[str, Any]:
    config = inventory.config
    backup = None
    if vm.get("backup_item_count"):
        vault = vaults.get(vm.get("backup_vault_key")) or {}
        backup = {
            "vault": vm.get("backup_vault_name"), "vault_key": vm.get("backup_vault_key"),
            "vault_resource_group": vm.get("backup_vault_resource_group"),
            "vault_subscription_id": vault.get("subscription_id") or _subscription_of(vm.get("backup_vault_key")),
            "vault_location": vault.get("location"),
            "redundancy": vm.get("backup_vault_storage_redundancy"),
            "cross_region_restore": vault.get("cross_region_restore"),
            "soft_delete": vault.get("soft_delete_state"),
            "state": vm.get("backup_protection_state"),
            "policy": vm.get("backup_policy_name"),
            "policy_interval_hours": vm.get("backup_policy_interval_hours"),
            "last_recovery_point": _timestamp(vm.get("backup_last_recovery_point")),
            "age_hours": vm.get("backup_recovery_point_age_hours"),
            "active": bool(vm.get("active_backup_item_count")),
            "healthy": bool(vm.get("healthy_backup_item_count")),
            "problem": vm.get("backup_problem") or None,
            "container": vm.get("backup_container_name"), "item": vm.get("backup_item_name"),
            "geo": bool(vm.get("geo_backup_count")),
            "geo_unknown": bool(vm.get("geo_unknown_backup_count")) and not vm.get("geo_backup_count"),
        }
    site_recovery = None
    if vm.get("replicated"):
        item = replicated.get(vm["key"]) or {}
        site_recovery = {"state": item.get("protection_state"), "vault": _name_of(item.get("vault_key")),
                         "vault_resource_group": _group_of(item.get("vault_key"))}
    avset_key = vm.get("availability_set_key")
    avset = avsets.get(avset_key) if avset_key else None
    zones = vm.get("zones") or []
    ha = {
        "availability_set": _name_of(avset_key) if avset_key else None,
        "availability_set_vms": (avset or {}).get("vm_count"),
        "zones": [str(z) for z in zones] if isinstance(zones, list) else [str(zones)],
        "scale_set": _name_of(vm.get("scale_set_key")) if vm.get("scale_set_key") else None,
    }
    ha["highly_available"] = bool(ha["zones"] or ha["scale_set"] or (avset_key and (ha["availability_set_vms"] or 0) >= 2))
    disks = disks_by_vm.get(vm["key"], [])
    snapshots = _snapshot_recovery(disks, copies_by_disk, config.snapshot_coordination_minutes, as_of)
    rpo_tag_hours = vm.get("rpo_hours")
    rpo_hours, rpo_source = ((rpo_tag_hours, f"{config.rpo_tag} tag {vm.get('rpo_tag')}") if rpo_tag_hours
                             else (tier.rpo_hours, f"tier {tier.name}" if tier.rpo_hours else None))
    view = {
        "key": vm["key"], "id": vm["id"], "name": vm["name"], "anchor": _anchor("vm", vm["key"]),
        "subscription_id": vm.get("subscription_id"), "resource_group": vm.get("resource_group"),
        "location": vm.get("location"), "paired_region": vm.get("paired_region"),
        "os_type": vm.get("os_type"), "tier": tier.name,
        "tier_source": f"{config.tier_tag} tag" if own_tier else ("workload tier" if vm.get("tier") is None
                                                                   else f"{config.tier_tag} {vm['tier']!r} unknown"),
        "rpo_hours": rpo_hours, "rpo": format_hours(rpo_hours) if rpo_hours else None, "rpo_source": rpo_source,
        "rpo_tag_invalid": bool(vm.get("rpo_tag_invalid")),
        "disks": disks, "backup": backup, "site_recovery": site_recovery, "ha": ha, "snapshots": snapshots,
        "agent_disabled": bool(vm.get("agent_provisioning_disabled") or vm.get("agent_not_ready")),
    }
    view["checks"] = _checks(view, tier)
    view["recovery"] = _vm_recovery(view)
    return view


def _subscription_of(resource_key: Any) -> str | None:
    parts = _key(resource_key).split("/")
    return parts[2] if len(parts) > 2 and parts[1] == "subscriptions" else None


def _group_of(resource_key: Any) -> str | None:
    parts = str(resource_key or "").split("/")
    return parts[4] if len(parts) > 4 and parts[3].lower() == "resourcegroups" else None


def _name_of(resource_key: Any) -> str | None:
    return str(resource_key).rstrip("/").rsplit("/", 1)[-1] if resource_key else None


def _snapshot_recovery(disks, copies_by_disk, coordination_minutes: float, as_of) -> dict[str, Any] | None:
    """Copied snapshots as a restore point: every persistent managed disk needs a copy in another
    region, and the copies must have been taken together (within the coordination window)."""
    managed = [disk for disk in disks if disk["managed"] and disk["key"]]
    chosen = []
    for disk in managed:
        copies = copies_by_disk.get(disk["key"]) or []
        if copies:
            chosen.append(dict(copies[0], disk=disk["name"], disk_role=disk["role"], disk_lun=disk["lun"],
                               disk_sku=disk["sku"]))
    if not chosen:
        return None
    times = [pd.to_datetime(c["captured_at"], utc=True, errors="coerce", format="ISO8601") for c in chosen]
    known = [t for t in times if not pd.isna(t)]
    spread = round((max(known) - min(known)).total_seconds() / 60, 1) if len(known) == len(times) else None
    oldest = min(known) if known else None
    return {
        "copies": chosen,
        "missing": [disk["name"] for disk in managed if not copies_by_disk.get(disk["key"])],
        "complete": len(chosen) == len(managed) and not any(not d["managed"] for d in disks),
        "spread_minutes": spread,
        "coordinated": spread is not None and spread <= coordination_minutes,
        "age_hours": round((as_of - oldest).total_seconds() / 3600, 1) if oldest is not None else None,
        "regions": sorted({c["location"] for c in chosen if c["location"]}),
    }


def _checks(vm: dict[str, Any], tier: Tier) -> dict[str, dict[str, Any]]:
    """Each control of the VM's tier: status (met, gap, unknown, not required) and why."""
    backup = vm["backup"]
    checks: dict[str, dict[str, Any]] = {}

    def put(control: str, status: str, detail: str) -> None:
        checks[control] = {"status": status, "detail": detail}

    if tier.backup == "none":
        put("backup", "not required", f"tier {tier.name} requires no backup")
    elif backup is None:
        put("backup", "gap", "no Azure Backup item")
    elif not backup["active"]:
        put("backup", "gap", f"backup item in {backup['vault']} is {backup['state'] or 'not active'}: no new recovery points")
    elif not backup["healthy"]:
        put("backup", "gap", f"protected in {backup['vault']}, but {backup['problem'] or 'not healthy'}")
    else:
        put("backup", "met", f"protected in {backup['vault']} ({backup['policy'] or 'unknown policy'})")

    if tier.backup != "geo-redundant":
        put("geo", "not required", f"tier {tier.name} accepts a backup in any vault")
    elif backup is None or not backup["active"]:
        extra = " (Site Recovery replicates it, which covers failover but keeps no backup history)" \
            if vm["site_recovery"] else ""
        put("geo", "gap", "no active backup to copy to the paired region" + extra)
    elif backup["geo"]:
        put("geo", "met", f"vault {backup['vault']} is GeoRedundant: copies in {vm['paired_region'] or 'the paired region'}")
    elif backup["geo_unknown"]:
        put("geo", "unknown", f"the redundancy of vault {backup['vault']} is not in the inventory")
    else:
        put("geo", "gap", f"vault {backup['vault']} is {backup['redundancy'] or 'not GeoRedundant'}: its copies stay in "
                          f"{vm['location']}")

    if not tier.cross_region_restore:
        put("crr", "not required", f"tier {tier.name} does not require restoring in the paired region yourself")
    elif backup is None or not backup["geo"]:
        put("crr", "gap", "needs a backup in a GeoRedundant vault first")
    elif backup["cross_region_restore"] is None:
        put("crr", "unknown", f"the cross-region restore setting of {backup['vault']} is not in the inventory")
    elif str(backup["cross_region_restore"]).lower() == "enabled":
        put("crr", "met", f"enabled on {backup['vault']}")
    else:
        put("crr", "gap", f"disabled on {backup['vault']}: restoring in {vm['paired_region'] or 'the paired region'} "
                          "waits for Microsoft to declare a regional outage")

    rpo = vm["rpo_hours"]
    if rpo is None:
        put("rpo", "not required", "no RPO tag and the tier sets none")
    elif vm["site_recovery"]:
        put("rpo", "met", f"Site Recovery replicates continuously (RPO {vm['rpo']} from {vm['rpo_source']})")
    elif backup is None or not backup["active"]:
        put("rpo", "gap", f"no active backup for an RPO of {vm['rpo']} ({vm['rpo_source']})")
    elif backup["policy_interval_hours"] is None:
        put("rpo", "unknown", f"policy {backup['policy'] or '?'} is not in the inventory: its frequency is unknown")
    elif backup["policy_interval_hours"] > rpo:
        put("rpo", "gap", f"policy {backup['policy']} runs every {format_hours(backup['policy_interval_hours'])}; "
                          f"the RPO is {vm['rpo']} ({vm['rpo_source']})")
    else:
        put("rpo", "met", f"policy {backup['policy']} runs every {format_hours(backup['policy_interval_hours'])} "
                          f"(RPO {vm['rpo']}, {vm['rpo_source']})")

    ha = vm["ha"]
    if not tier.high_availability:
        put("ha", "not required", f"tier {tier.name} does not require high availability")
    elif ha["zones"]:
        put("ha", "met", f"in availability zone {', '.join(ha['zones'])}")
    elif ha["scale_set"]:
        put("ha", "met", f"in scale set {ha['scale_set']}")
    elif ha["availability_set"] and ha["highly_available"]:
        put("ha", "met", f"in availability set {ha['availability_set']} with {ha['availability_set_vms']} VMs")
    elif ha["availability_set"]:
        put("ha", "gap", f"availability set {ha['availability_set']} holds only this VM")
    else:
        put("ha", "gap", "in no availability set, zone or scale set")
    return checks


def _vm_recovery(vm: dict[str, Any]) -> dict[str, Any]:
    """How this VM comes back, best option first: after losing its region, and after data corruption
    (Scenario 4). Ages are hours between the newest usable point and the plan's as-of time."""
    backup, snapshots = vm["backup"], vm["snapshots"]
    in_region = backup["age_hours"] if backup and backup.get("last_recovery_point") else None
    if backup and backup["geo"] and str(backup["cross_region_restore"] or "").lower() == "enabled":
        path, age = "cross-region-restore", backup["age_hours"]
        text = (f"restore the backup of {vm['name']} from vault {backup['vault']} in {vm['paired_region']} "
                "(cross-region restore)")
    elif vm["site_recovery"]:
        path, age = "site-recovery", 0.0
        text = f"fail over with Site Recovery (vault {vm['site_recovery']['vault']}): continuous replication"
    elif backup and backup["geo"]:
        path, age = "geo-backup", backup["age_hours"]
        text = (f"vault {backup['vault']} holds copies in {vm['paired_region']}, but cross-region restore is off: "
                "restoring there waits for Microsoft to declare a regional outage")
    elif snapshots and snapshots["complete"]:
        path, age = "snapshot-copies", snapshots["age_hours"]
        text = (f"rebuild from the snapshot copies in {', '.join(snapshots['regions'])}"
                + ("" if snapshots["coordinated"] else
                   f" (taken {snapshots['spread_minutes']:g} min apart: not one consistent restore point)"))
    elif backup and backup["geo_unknown"]:
        path, age = "unknown", None
        text = (f"the redundancy of vault {backup['vault']} is not in the inventory: whether its recovery points "
                f"are copied to {vm['paired_region'] or 'the paired region'} is unknown")
    elif backup and backup.get("last_recovery_point"):
        path, age = "in-region-only", None
        text = (f"backups stay in {vm['location']} (vault {backup['vault']} is {backup['redundancy'] or 'not geo-redundant'}):"
                " no copy survives the loss of the region")
    else:
        path, age = "none", None
        text = f"no backup, replica or snapshot copy outside {vm['location']}"
    if path == "snapshot-copies" and not snapshots["coordinated"]:
        status = "inconsistent"
    elif path in ("in-region-only", "none"):
        status = "none"
    elif path == "unknown":
        status = "unknown"
    elif path == "geo-backup":
        status = "after-declared-outage"
    else:
        status = "ok"
    return {"path": path, "status": status, "regional_age_hours": age, "in_region_age_hours": in_region, "text": text,
            "meets_rpo": (age is not None and vm["rpo_hours"] is not None and age <= vm["rpo_hours"])
            if status == "ok" else (False if vm["rpo_hours"] is not None else None)}


def _requirements(vm_views, findings, group_key: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    by_resource: dict[str, list[dict[str, Any]]] = {}
    for finding in findings:
        by_resource.setdefault(_key(finding["resource_id"]), []).append(finding)
    requirements, gaps = [], []
    for control, label in CONTROLS.items():
        statuses = [vm["checks"][control]["status"] for vm in vm_views]
        status = next((s for s in STATUSES if s in statuses), "not required")
        failing = [vm for vm in vm_views if vm["checks"][control]["status"] in ("gap", "unknown")]
        linked_ids: list[str] = []
        for vm in failing:
            # A workload finding (workload-single-region) concerns every VM of the workload.
            keys = [vm["key"], "workload:" + group_key]
            if vm["backup"] and vm["backup"].get("vault_key"):
                keys.append(vm["backup"]["vault_key"])
            matching = [f for key in keys for f in by_resource.get(key, []) if f["rule_id"] in CONTROL_RULES[control]]
            if control == "ha" and vm["ha"]["availability_set"]:
                matching += [f for f in findings if f["rule_id"] == "availability-set-single-vm"
                             and f["resource_name"] == vm["ha"]["availability_set"] and f not in matching]
            if vm["checks"][control]["status"] == "gap":
                ids = list(dict.fromkeys(f["id"] for f in matching))
                gaps.append({"control": control, "control_label": label, "vm": vm["name"], "vm_anchor": vm["anchor"],
                             "text": vm["checks"][control]["detail"], "finding_ids": ids,
                             "rule_ids": sorted({f["rule_id"] for f in matching}),
                             "severity": max((f["severity"] for f in matching), key=_severity_order, default=None),
                             "waived": bool(matching) and all(f.get("waived") for f in matching)})
            linked_ids += [f["id"] for f in matching]
        required = [vm for vm in vm_views if vm["checks"][control]["status"] != "not required"]
        requirements.append({
            "control": control, "label": label, "status": status,
            "required_by": sorted({vm["tier"] for vm in required}),
            "met": sum(1 for vm in vm_views if vm["checks"][control]["status"] == "met"),
            "required": len(required),
            "failing": [{"vm": vm["name"], "status": vm["checks"][control]["status"],
                         "detail": vm["checks"][control]["detail"]} for vm in failing],
            "finding_ids": list(dict.fromkeys(linked_ids)),
        })
    return requirements, gaps


def _severity_order(severity: str | None) -> int:
    return {"low": 1, "medium": 2, "high": 3, "critical": 4}.get(severity or "", 0)


def _vault_views(vm_views, vaults) -> list[dict[str, Any]]:
    result: dict[str, dict[str, Any]] = {}
    for vm in vm_views:
        backup = vm["backup"]
        if not backup or not backup.get("vault_key"):
            continue
        entry = result.setdefault(backup["vault_key"], {
            "name": backup["vault"], "resource_group": backup["vault_resource_group"],
            "location": backup["vault_location"], "redundancy": backup["redundancy"],
            "cross_region_restore": backup["cross_region_restore"], "soft_delete": backup["soft_delete"],
            "paired_region": vm["paired_region"] if backup["vault_location"] in (None, vm["location"]) else None,
            "in_inventory": backup["vault_key"] in vaults, "vms": []})
        entry["vms"].append(vm["name"])
    return sorted(result.values(), key=lambda v: str(v["name"]).lower())


def _recovery(vm_views) -> dict[str, Any]:
    """The recovery point achievable now for the whole workload: it comes back only when every VM
    does, so the oldest newest point counts."""
    regional_status = "ok"
    for status in ("none", "inconsistent", "unknown", "after-declared-outage"):
        if any(vm["recovery"]["status"] == status for vm in vm_views):
            regional_status = status
            break
    ages = [vm["recovery"]["regional_age_hours"] for vm in vm_views]
    regional_age = max(ages) if ages and all(age is not None for age in ages) else None
    in_region = [vm["recovery"]["in_region_age_hours"] for vm in vm_views]
    rpos = [vm["rpo_hours"] for vm in vm_views if vm["rpo_hours"] is not None]
    required = min(rpos) if rpos else None
    blocked = [vm["name"] for vm in vm_views if vm["recovery"]["status"] in ("none", "inconsistent")]
    if regional_status == "none":
        text = (f"Not recoverable after losing the region: {', '.join(blocked)} "
                f"{'has' if len(blocked) == 1 else 'have'} no usable copy elsewhere.")
    elif regional_status == "inconsistent":
        text = f"Snapshot copies of {', '.join(blocked)} are not one consistent restore point."
    elif regional_status == "unknown":
        unknown = [vm["name"] for vm in vm_views if vm["recovery"]["status"] == "unknown"]
        text = (f"Unknown: the inventory does not say whether the backups of {', '.join(unknown)} are copied to "
                "the paired region (vault redundancy missing). Missing data is not counted as recoverable.")
    elif regional_age is None:
        text = "Recoverable in the paired region; the age of the newest copy is not recorded."
    else:
        text = f"Newest point recoverable in the paired region today: {format_hours(regional_age)} old."
        if regional_status == "after-declared-outage":
            text += " Cross-region restore is off for some vaults: that restore waits for Microsoft."
    return {
        "regional": {"status": regional_status, "age_hours": regional_age,
                     "age": format_hours(regional_age) if regional_age is not None else None, "text": text},
        "in_region": {"age_hours": max(in_region) if in_region and all(a is not None for a in in_region) else None,
                      "missing": [vm["name"] for vm in vm_views if vm["recovery"]["in_region_age_hours"] is None]},
        "required_rpo_hours": required, "required_rpo": format_hours(required) if required else None,
        # Every VM within its own RPO (tag, else its tier's), with a restore that needs no one's permission.
        "meets_rpo": all(vm["recovery"]["meets_rpo"] is not False for vm in vm_views) if required is not None else None,
        "behind_rpo": [vm["name"] for vm in vm_views if vm["recovery"]["meets_rpo"] is False],
    }


def _scenarios(vm_views, regions: list[str], tier: Tier) -> list[dict[str, str]]:
    """The guidance's Scenarios 1-4 as they apply to this workload."""
    names = [vm["name"] for vm in vm_views]
    paired = sorted({vm["paired_region"] for vm in vm_views if vm["paired_region"]})
    databases = [vm["name"] for vm in vm_views if _DATABASE.search(vm["name"] or "")]
    scenarios = []
    if databases:
        scenarios.append({"id": "Scenario 1", "title": "Major database solutions", "text": (
            f"{', '.join(databases)} " + ("looks like a database server" if len(databases) == 1 else
                                          "look like database servers") + " (by name). "
            "When the data must be recoverable and the server available, keep a replica in "
            f"{' or '.join(paired) or 'another region'} (SQL Server Always On availability groups, MongoDB replica "
            "sets; Active-Active or Active-Passive) in addition to backups: a backup restores data, it does not "
            "keep a server running.")})
    if len(vm_views) >= 2:
        spread = (f"already spread across {', '.join(regions)}" if len(regions) >= 2 else
                  f"all in {regions[0] if regions else 'one region'}")
        scenarios.append({"id": "Scenario 2", "title": "A cluster of redundant VMs", "text": (
            f"{len(vm_views)} VMs, {spread}. A cluster is redundant within its region; to survive a regional "
            "failure, spread it across two regions or make periodic backups to another region.")})
    else:
        scenarios.append({"id": "Scenario 3", "title": "IaaS application workload", "text": (
            f"{names[0] if names else 'The VM'} keeps its data and state on its disks: back it up regularly, as often "
            "as its data changes (hourly for an application that changes data every day; less often for output "
            "that can be regenerated, such as reports).")})
    scenarios.append({"id": "Scenario 4", "title": "Application data issues", "text": (
        "A bad release can corrupt data: the recovery is to revert the application and its data to the last "
        "known good state, which needs periodic backups that outlive the mistake (soft delete on the vault "
        "keeps deleted backups restorable).")})
    return scenarios
