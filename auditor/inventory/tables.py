"""Rows → inventory tables. Every cross-resource join of spec.md "Joins" happens here, once, on
lower-cased full ARM ids (never on names: two VMs called web01 in different resource groups are two
VMs). Rules then only read columns: resources are enriched first, checked second.

Every resource table carries the same base columns (id, key, name, type, subscription_id,
resource_group, location, tags, tier, workload, owner) and the blast-radius columns the ranking reads
(affected_vms, gib_at_risk).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from auditor.config import Config

T_VM = "microsoft.compute/virtualmachines"
T_DISK = "microsoft.compute/disks"
T_SNAPSHOT = "microsoft.compute/snapshots"
T_IMAGE = "microsoft.compute/images"
T_GALLERY_IMAGE_VERSION = "microsoft.compute/galleries/images/versions"
T_AVSET = "microsoft.compute/availabilitysets"
T_STORAGE = "microsoft.storage/storageaccounts"
T_VAULT = "microsoft.recoveryservices/vaults"
T_PROTECTED_ITEM = "microsoft.recoveryservices/vaults/backupfabrics/protectioncontainers/protecteditems"
T_POLICY = "microsoft.recoveryservices/vaults/backuppolicies"
T_REPLICATED_ITEM = (
    "microsoft.recoveryservices/vaults/replicationfabrics/replicationprotectioncontainers/replicationprotecteditems"
)
KNOWN_TYPES = (
    T_VM, T_DISK, T_SNAPSHOT, T_IMAGE, T_GALLERY_IMAGE_VERSION, T_AVSET, T_STORAGE,
    T_VAULT, T_PROTECTED_ITEM, T_POLICY, T_REPLICATED_ITEM,
)

LRS_DISK_SKUS = frozenset({"standard_lrs", "standardssd_lrs", "premium_lrs", "ultrassd_lrs", "premiumv2_lrs"})
ZRS_DISK_SKUS = frozenset({"premium_zrs", "standardssd_zrs"})
GEO_ACCOUNT_SKUS = frozenset({"standard_grs", "standard_ragrs", "standard_gzrs", "standard_ragzrs"})
READ_ACCESS_GEO_ACCOUNT_SKUS = frozenset({"standard_ragrs", "standard_ragzrs"})
ACTIVE_PROTECTION_STATES = frozenset({"protected", "irpending"})

_VAULT_OF_CHILD = re.compile(r"^(/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.recoveryservices/vaults/[^/]+)/")

BASE_COLUMNS = ["id", "key", "name", "type", "subscription_id", "resource_group", "location", "tags",
                "tier", "workload", "owner"]


# ---------------------------------------------------------------- small, type-tolerant accessors

def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _at(value: Any, *path: str) -> Any:
    for step in path:
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value


def _str(value: Any) -> str | None:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _key(value: Any) -> str | None:
    """Join key of an ARM id: lower-cased, without a trailing slash."""
    text = _str(value)
    return text.rstrip("/").lower() if text else None


def _lower(value: Any) -> str | None:
    text = _str(value)
    return text.lower() if text else None


def region(value: Any) -> str | None:
    """Regions compare case-insensitively and without spaces ("West Europe" == "westeurope")."""
    text = _str(value)
    return text.replace(" ", "").lower() if text else None


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return np.nan
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return np.nan
    return np.nan


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def normalise_tags(value: Any) -> dict[str, str]:
    """Tag keys compare case-insensitively, values after trimming; display keeps the original."""
    tags = {}
    for key, tag_value in _obj(value).items():
        if isinstance(key, str) and key.strip():
            tags[key.strip().lower()] = "" if tag_value is None else str(tag_value).strip()
    return tags


def blob_account_name(uri: Any) -> str | None:
    """The storage account of a VHD: the first label of the blob host `<account>.blob.<suffix>`."""
    text = _str(uri)
    if not text:
        return None
    try:
        host = urlsplit(text).hostname or ""
    except ValueError:
        return None
    labels = host.lower().split(".")
    if len(labels) >= 3 and labels[1] == "blob" and labels[0]:
        return labels[0]
    return None


def _zones(value: Any) -> str | None:
    if isinstance(value, list):
        zones = [str(zone).strip() for zone in value if str(zone).strip()]
        return ",".join(sorted(zones)) or None
    return _str(value)


def _base(row: dict[str, Any], config: Config) -> dict[str, Any]:
    tags = normalise_tags(row.get("tags"))
    return {
        "id": row["id"].strip(),
        "key": _key(row["id"]),
        "name": _str(row.get("name")) or row["id"].rstrip("/").rsplit("/", 1)[-1],
        "type": row["type"].strip().lower(),
        "subscription_id": _str(row.get("subscriptionId")) or _subscription_of(row["id"]),
        "resource_group": _str(row.get("resourceGroup")) or _resource_group_of(row["id"]),
        "location": region(row.get("location")),
        "tags": _obj(row.get("tags")),
        "tier": tags.get(config.tier_tag.lower(), "").lower() or None,
        "workload": tags.get(config.workload_tag.lower()) or None,
        "owner": tags.get(config.owner_tag.lower()) or None,
        "_tags_norm": tags,
    }


def _subscription_of(arm_id: str) -> str | None:
    match = re.match(r"^/subscriptions/([^/]+)", arm_id.strip(), re.IGNORECASE)
    return match.group(1) if match else None


def _resource_group_of(arm_id: str) -> str | None:
    match = re.match(r"^/subscriptions/[^/]+/resourcegroups/([^/]+)", arm_id.strip(), re.IGNORECASE)
    return match.group(1) if match else None


def _frame(records: list[dict[str, Any]], columns: Iterable[str]) -> pd.DataFrame:
    columns = list(columns)
    frame = pd.DataFrame.from_records(records, columns=columns) if records else pd.DataFrame(columns=columns)
    return frame


# ---------------------------------------------------------------- per-type extraction

def _vm_records(rows, config):
    vms, attachments = [], []
    for row in rows:
        base = _base(row, config)
        props = _obj(row.get("properties"))
        storage = _obj(props.get("storageProfile"))
        os_disk = _obj(storage.get("osDisk"))
        os_profile = props.get("osProfile")
        agent_flags = [
            _bool(_at(os_profile, "windowsConfiguration", "provisionVMAgent")),
            _bool(_at(os_profile, "linuxConfiguration", "provisionVMAgent")),
        ]
        base.update(
            availability_set_key=_key(_at(props, "availabilitySet", "id")),
            scale_set_key=_key(_at(props, "virtualMachineScaleSet", "id")),
            zones=_zones(row.get("zones")),
            has_os_profile=isinstance(os_profile, dict) and bool(os_profile),
            agent_provisioning_disabled=any(flag is False for flag in agent_flags),
            rpo_tag=base["_tags_norm"].get(config.rpo_tag.lower()) or None,
        )
        vms.append(base)
        disks = [("os", None, os_disk)] + [
            ("data", _at(disk, "lun"), disk) for disk in _list(storage.get("dataDisks")) if isinstance(disk, dict)
        ]
        for role, lun, disk in disks:
            if not disk:
                continue
            managed_id = _at(disk, "managedDisk", "id")
            vhd_uri = _at(disk, "vhd", "uri")
            ephemeral = role == "os" and (_lower(_at(disk, "diffDiskSettings", "option")) == "local")
            if managed_id is None and vhd_uri is None and not ephemeral:
                continue
            attachments.append({
                "vm_key": base["key"],
                "role": role,
                "lun": lun,
                "disk_name": _str(disk.get("name")),
                "managed_disk_id": _str(managed_id),
                "managed_disk_key": _key(managed_id),
                "vhd_uri": _str(vhd_uri),
                "vhd_account": blob_account_name(vhd_uri),
                "ephemeral": bool(ephemeral),
                "vm_disk_size_gb": _number(disk.get("diskSizeGB")),
            })
    return vms, attachments


def _disk_records(rows, config):
    out = []
    for row in rows:
        base = _base(row, config)
        props = _obj(row.get("properties"))
        base.update(
            sku=_lower(_at(row, "sku", "name")),
            size_gb=_number(props.get("diskSizeGB")),
            managed_by_key=_key(row.get("managedBy")),
            disk_state=_str(props.get("diskState")),
            source_key=_key(_at(props, "creationData", "sourceResourceId")),
        )
        out.append(base)
    return out


def _storage_records(rows, config):
    out = []
    for row in rows:
        base = _base(row, config)
        base.update(sku=_lower(_at(row, "sku", "name")), account_name=base["name"].lower())
        out.append(base)
    return out


def _vault_records(rows, config):
    out = []
    for row in rows:
        base = _base(row, config)
        props = _obj(row.get("properties"))
        redundancy = _obj(props.get("redundancySettings"))
        base.update(
            storage_redundancy=_str(redundancy.get("standardTierStorageRedundancy")),
            cross_region_restore=_str(redundancy.get("crossRegionRestore")),
            soft_delete_state=_str(_at(props, "securitySettings", "softDeleteSettings", "softDeleteState")),
        )
        out.append(base)
    return out


def _child_of_vault(child_key: str | None) -> str | None:
    match = _VAULT_OF_CHILD.match(child_key or "")
    return match.group(1) if match else None


def _protected_item_records(rows, config):
    out = []
    for row in rows:
        base = _base(row, config)
        props = _obj(row.get("properties"))
        source = props.get("sourceResourceId")
        if not _str(source):
            source = _at(props, "dataSourceInfo", "resourceID") or _at(props, "dataSourceInfo", "resourceId")
        base.update(
            vault_key=_child_of_vault(base["key"]),
            source_key=_key(source),
            backup_management_type=_lower(props.get("backupManagementType")),
            protection_state=_str(props.get("protectionState")),
            last_backup_status=_str(props.get("lastBackupStatus")),
            last_recovery_point=_str(props.get("lastRecoveryPoint")),
            policy_key=_key(props.get("policyId")),
            policy_name=_str(props.get("policyName")),
        )
        out.append(base)
    return out


def _policy_records(rows, config):
    out = []
    for row in rows:
        base = _base(row, config)
        props = _obj(row.get("properties"))
        schedule = _obj(props.get("schedulePolicy"))
        base.update(
            vault_key=_child_of_vault(base["key"]),
            backup_management_type=_lower(props.get("backupManagementType")),
            schedule_frequency=_lower(schedule.get("scheduleRunFrequency")),
        )
        out.append(base)
    return out


def _replicated_item_records(rows, config):
    out = []
    for row in rows:
        base = _base(row, config)
        props = _obj(row.get("properties"))
        base.update(
            vault_key=_child_of_vault(base["key"]),
            source_key=_key(_at(props, "providerSpecificDetails", "dataSourceInfo", "resourceId")
                            or _at(props, "providerSpecificDetails", "dataSourceInfo", "resourceID")),
            protection_state=_str(props.get("protectionState")),
        )
        out.append(base)
    return out


def _avset_records(rows, config):
    sets, members = [], []
    for row in rows:
        base = _base(row, config)
        props = _obj(row.get("properties"))
        sets.append(base)
        for member in _list(props.get("virtualMachines")):
            member_key = _key(_at(member, "id"))
            if member_key:
                members.append({"availability_set_key": base["key"], "vm_key": member_key})
    return sets, members


def _image_records(rows, config):
    images, sources = [], []
    for row in rows:
        base = _base(row, config)
        storage = _obj(_at(row, "properties", "storageProfile"))
        images.append(base)
        disks = [("os", storage.get("osDisk"))] + [("data", disk) for disk in _list(storage.get("dataDisks"))]
        for role, disk in disks:
            if not isinstance(disk, dict):
                continue
            for kind, value in (
                ("vhd", disk.get("blobUri")),
                ("managed disk", _at(disk, "managedDisk", "id")),
                ("snapshot", _at(disk, "snapshot", "id")),
            ):
                if _str(value):
                    sources.append({
                        "image_key": base["key"], "role": role, "source_kind": kind, "source": _str(value),
                        "vhd_account": blob_account_name(value) if kind == "vhd" else None,
                    })
    return images, sources


def _gallery_version_records(rows, config):
    out = []
    for row in rows:
        base = _base(row, config)
        targets = _list(_at(row, "properties", "publishingProfile", "targetRegions"))
        regions = sorted({region(_at(target, "name")) for target in targets if region(_at(target, "name"))})
        base.update(target_regions=", ".join(regions), target_region_count=len(regions))
        out.append(base)
    return out


def _snapshot_records(rows, config):
    out = []
    for row in rows:
        base = _base(row, config)
        props = _obj(row.get("properties"))
        base.update(
            source_key=_key(_at(props, "creationData", "sourceResourceId")),
            time_created=_str(props.get("timeCreated")),
            size_gb=_number(props.get("diskSizeGB")),
        )
        out.append(base)
    return out


# ---------------------------------------------------------------- the inventory

@dataclass
class Inventory:
    config: Config
    resource_counts: dict[str, int]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(name)


def build_inventory(rows: list[dict[str, Any]], config: Config | None = None) -> Inventory:
    config = config or Config()
    by_type: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KNOWN_TYPES}
    seen: set[str] = set()
    counts: dict[str, int] = {}
    for row in rows:
        kind = row["type"].strip().lower()
        bucket = by_type.get(kind)
        if bucket is None:
            continue  # unknown types are ignored
        row_key = row["id"].strip().rstrip("/").lower()
        if row_key in seen:  # the same resource twice (overlapping scopes): the first row wins
            continue
        seen.add(row_key)
        bucket.append(row)
        counts[kind] = counts.get(kind, 0) + 1

    vm_rows, attachment_rows = _vm_records(by_type[T_VM], config)
    avset_rows, avset_member_rows = _avset_records(by_type[T_AVSET], config)
    image_rows, image_source_rows = _image_records(by_type[T_IMAGE], config)
    extra = lambda *names: BASE_COLUMNS + list(names)  # noqa: E731

    tables = {
        "vms": _frame(vm_rows, extra("availability_set_key", "scale_set_key", "zones", "has_os_profile",
                                      "agent_provisioning_disabled", "rpo_tag")),
        "vm_disks": _frame(attachment_rows, ["vm_key", "role", "lun", "disk_name", "managed_disk_id",
                                              "managed_disk_key", "vhd_uri", "vhd_account", "ephemeral",
                                              "vm_disk_size_gb"]),
        "disks": _frame(_disk_records(by_type[T_DISK], config),
                        extra("sku", "size_gb", "managed_by_key", "disk_state", "source_key")),
        "storage_accounts": _frame(_storage_records(by_type[T_STORAGE], config),
                                   extra("sku", "account_name")),
        "vaults": _frame(_vault_records(by_type[T_VAULT], config),
                         extra("storage_redundancy", "cross_region_restore", "soft_delete_state")),
        "protected_items": _frame(_protected_item_records(by_type[T_PROTECTED_ITEM], config),
                                  extra("vault_key", "source_key", "backup_management_type", "protection_state",
                                        "last_backup_status", "last_recovery_point", "policy_key", "policy_name")),
        "policies": _frame(_policy_records(by_type[T_POLICY], config),
                           extra("vault_key", "backup_management_type", "schedule_frequency")),
        "replicated_items": _frame(_replicated_item_records(by_type[T_REPLICATED_ITEM], config),
                                   extra("vault_key", "source_key", "protection_state")),
        "availability_sets": _frame(avset_rows, extra()),
        "availability_set_members": _frame(avset_member_rows, ["availability_set_key", "vm_key"]),
        "images": _frame(image_rows, extra()),
        "image_sources": _frame(image_source_rows, ["image_key", "role", "source_kind", "source", "vhd_account"]),
        "gallery_image_versions": _frame(_gallery_version_records(by_type[T_GALLERY_IMAGE_VERSION], config),
                                         extra("target_regions", "target_region_count")),
        "snapshots": _frame(_snapshot_records(by_type[T_SNAPSHOT], config),
                            extra("source_key", "time_created", "size_gb")),
    }
    inventory = Inventory(config=config, resource_counts=counts, tables=tables)
    _join_disks(inventory)
    _join_backup(inventory)
    _join_vaults(inventory)
    _join_availability(inventory)
    _join_images(inventory)
    _blast_radius(inventory)
    return inventory


# ---------------------------------------------------------------- joins, each made once

def _join_disks(inv: Inventory) -> None:
    """VM → managed disks (disk sku gives redundancy) and VM → VHDs (blob host names the account)."""
    disks = inv.tables["disks"][["key", "name", "sku", "size_gb"]].rename(
        columns={"key": "managed_disk_key", "name": "managed_disk_name", "sku": "disk_sku", "size_gb": "disk_size_gb"})
    accounts = inv.tables["storage_accounts"][["account_name", "id", "name", "resource_group", "sku"]].rename(
        columns={"account_name": "vhd_account", "id": "account_id", "name": "account_display_name",
                 "resource_group": "account_resource_group", "sku": "account_sku"})
    accounts = accounts.drop_duplicates("vhd_account")
    attached = inv.tables["vm_disks"].merge(disks, on="managed_disk_key", how="left").merge(
        accounts, on="vhd_account", how="left")
    managed = attached["managed_disk_key"].notna() & ~attached["ephemeral"].astype(bool)
    vhd = attached["vhd_uri"].notna() & ~managed & ~attached["ephemeral"].astype(bool)
    attached["is_managed"] = managed
    attached["is_vhd"] = vhd
    attached["disk_known"] = managed & attached["disk_sku"].notna()
    attached["is_lrs"] = managed & attached["disk_sku"].isin(LRS_DISK_SKUS)
    attached["is_zrs"] = managed & attached["disk_sku"].isin(ZRS_DISK_SKUS)
    attached["account_known"] = vhd & attached["account_sku"].notna()
    attached["is_vhd_geo"] = vhd & attached["account_sku"].isin(GEO_ACCOUNT_SKUS)
    attached["is_vhd_local"] = attached["account_known"] & ~attached["is_vhd_geo"]
    attached["size_gb"] = attached["disk_size_gb"].fillna(attached["vm_disk_size_gb"]).fillna(0.0)
    attached["label"] = (
        attached["managed_disk_name"].fillna(attached["disk_name"]).fillna(attached["managed_disk_key"])
        .fillna(attached["vhd_uri"]).fillna("")
    )
    attached["label_with_sku"] = attached["label"] + " (" + attached["disk_sku"].fillna(attached["account_sku"]).fillna("?") + ")"
    inv.tables["vm_disks"] = attached

    def listed(mask: pd.Series, column: str) -> pd.Series:
        return attached[mask].groupby("vm_key")[column].agg(lambda values: sorted(set(values)))

    def counted(mask: pd.Series) -> pd.Series:
        return mask.groupby(attached["vm_key"]).sum()

    def gib(mask: pd.Series) -> pd.Series:
        return attached["size_gb"].where(mask, 0.0).groupby(attached["vm_key"]).sum()

    facts = pd.DataFrame({
        "managed_disk_count": counted(managed),
        "lrs_managed_disk_count": counted(attached["is_lrs"]),
        "zrs_managed_disk_count": counted(attached["is_zrs"]),
        "unknown_managed_disk_count": counted(managed & ~attached["disk_known"]),
        "vhd_count": counted(vhd),
        "vhd_local_count": counted(attached["is_vhd_local"]),
        "vhd_geo_count": counted(attached["is_vhd_geo"]),
        "unknown_vhd_count": counted(vhd & ~attached["account_known"]),
        "disk_gib": gib(managed | vhd),
        "lrs_disk_gib": gib(attached["is_lrs"]),
    })
    facts["lrs_disks"] = listed(attached["is_lrs"], "label_with_sku")
    facts["unknown_disks"] = listed(managed & ~attached["disk_known"], "label")
    facts["local_vhds"] = listed(attached["is_vhd_local"], "label_with_sku")
    facts["unknown_vhds"] = listed(vhd & ~attached["account_known"], "vhd_uri")
    facts["vhd_accounts"] = listed(vhd, "vhd_account")
    facts["ephemeral_os_disk"] = attached["ephemeral"].astype(bool).groupby(attached["vm_key"]).any()
    inv.tables["vms"] = _attach(inv.tables["vms"], facts, counts=[
        "managed_disk_count", "lrs_managed_disk_count", "zrs_managed_disk_count", "unknown_managed_disk_count",
        "vhd_count", "vhd_local_count", "vhd_geo_count", "unknown_vhd_count", "disk_gib", "lrs_disk_gib"],
        lists=["lrs_disks", "unknown_disks", "local_vhds", "unknown_vhds", "vhd_accounts"],
        flags=["ephemeral_os_disk"])


def _attach(table: pd.DataFrame, facts: pd.DataFrame, *, counts=(), lists=(), flags=(), key="key") -> pd.DataFrame:
    """Left-join per-resource facts; resources with no related rows get 0 / [] / False on purpose."""
    facts = facts.reindex(columns=list(counts) + list(lists) + list(flags))
    joined = table.merge(facts, left_on=key, right_index=True, how="left")
    for column in counts:
        joined[column] = joined[column].fillna(0).astype(float if "gib" in column else int)
    for column in lists:
        joined[column] = [value if isinstance(value, list) else [] for value in joined[column]]
    for column in flags:
        joined[column] = joined[column].astype("boolean").fillna(False).astype(bool)
    return joined


def _join_backup(inv: Inventory) -> None:
    """VM → backup items (AzureIaasVM only), their vault and policy; VM → Site Recovery replication."""
    items = inv.tables["protected_items"]
    vaults = inv.tables["vaults"][["key", "name", "resource_group", "storage_redundancy"]].rename(
        columns={"key": "vault_key", "name": "vault_name", "resource_group": "vault_resource_group",
                 "storage_redundancy": "vault_storage_redundancy"})
    items = items.merge(vaults, on="vault_key", how="left")
    # The item's id names its vault even when the vault row itself is not in the inventory.
    items["vault_name"] = items["vault_name"].astype("object").fillna(items["vault_key"].str.rsplit("/", n=1).str[-1])
    items["is_vm_backup"] = items["backup_management_type"].eq("azureiaasvm")
    items["is_active"] = items["protection_state"].str.lower().isin(ACTIVE_PROTECTION_STATES)
    inv.tables["protected_items"] = items

    vm_items = items[items["is_vm_backup"] & items["source_key"].notna()]
    # The healthiest item represents the VM: active first, then the latest recovery point.
    ordered = vm_items.sort_values(["is_active", "last_recovery_point"], ascending=[False, False], na_position="last")
    best = ordered.drop_duplicates("source_key").set_index("source_key")
    facts = pd.DataFrame({
        "backup_item_count": vm_items.groupby("source_key").size(),
        "active_backup_item_count": vm_items["is_active"].groupby(vm_items["source_key"]).sum(),
    })
    for column in ("vault_name", "vault_resource_group", "vault_storage_redundancy", "protection_state", "policy_name"):
        facts["backup_" + column] = best[column]
    replicated = inv.tables["replicated_items"]
    facts["replicated"] = replicated.groupby("source_key").size() > 0
    vms = _attach(inv.tables["vms"], facts, counts=["backup_item_count", "active_backup_item_count"],
                  flags=["replicated"])
    for column in ("vault_name", "vault_resource_group", "vault_storage_redundancy", "protection_state", "policy_name"):
        vms["backup_" + column] = vms["key"].map(best[column]) if len(best) else None
    inv.tables["vms"] = vms


def _join_vaults(inv: Inventory) -> None:
    """Vault → its protected items and policies; VM → the vault a backup fix should use.

    The suggested vault is an existing GeoRedundant vault in the VM's subscription and region,
    preferring the one that already protects the most VMs; without one, fixes create it first.
    """
    vaults = inv.tables["vaults"]
    items = inv.tables["protected_items"]
    policies = inv.tables["policies"]
    item_counts = items.groupby("vault_key").size()
    vaults = _attach(vaults, pd.DataFrame({"protected_item_count": item_counts}), counts=["protected_item_count"])
    vm_policies = policies[policies["backup_management_type"].eq("azureiaasvm")]
    vaults["vm_policy_names"] = vaults["key"].map(
        vm_policies.groupby("vault_key")["name"].agg(lambda names: sorted(set(names)))).apply(
        lambda value: value if isinstance(value, list) else [])
    vaults["is_geo"] = vaults["storage_redundancy"].str.lower().eq("georedundant")
    inv.tables["vaults"] = vaults

    candidates = vaults[vaults["is_geo"].fillna(False).astype(bool)].copy()
    candidates["subscription_lower"] = candidates["subscription_id"].str.lower()
    candidates = candidates.sort_values(["protected_item_count", "name"], ascending=[False, True])
    candidates = candidates.drop_duplicates(["subscription_lower", "location"])
    candidates["policy"] = [
        ("DefaultPolicy" if "DefaultPolicy" in names else names[0]) if names else "DefaultPolicy"
        for names in candidates["vm_policy_names"]
    ]
    pick = candidates[["subscription_lower", "location", "name", "resource_group", "policy"]].rename(columns={
        "name": "fix_vault_name", "resource_group": "fix_vault_resource_group", "policy": "fix_policy_name"})
    vms = inv.tables["vms"]
    vms["subscription_lower"] = vms["subscription_id"].str.lower()
    vms = vms.merge(pick, on=["subscription_lower", "location"], how="left").drop(columns=["subscription_lower"])
    for column in ("fix_vault_name", "fix_vault_resource_group", "fix_policy_name"):
        vms[column] = vms[column].astype("object")
    vms["fix_vault_exists"] = vms["fix_vault_name"].notna()
    vms["fix_vault_name"] = vms["fix_vault_name"].fillna("rsv-backup-" + vms["location"].fillna("region"))
    vms["fix_vault_resource_group"] = vms["fix_vault_resource_group"].fillna(
        "rg-backup-" + vms["location"].fillna("region"))
    vms["fix_policy_name"] = vms["fix_policy_name"].fillna("DefaultPolicy")
    inv.tables["vms"] = vms


def _join_availability(inv: Inventory) -> None:
    """VM → availability set / zones / scale set; availability set → its distinct VMs; HA need."""
    vms = inv.tables["vms"]
    config = inv.config
    referencing = vms.loc[vms["availability_set_key"].notna(), ["availability_set_key", "key"]].rename(
        columns={"key": "vm_key"})
    members = pd.concat([inv.tables["availability_set_members"], referencing], ignore_index=True).drop_duplicates()
    vm_names = vms.set_index("key")["name"]
    members = members.assign(vm_name=members["vm_key"].map(vm_names).fillna(
        members["vm_key"].str.rsplit("/", n=1).str[-1]))
    facts = pd.DataFrame({"vm_count": members.groupby("availability_set_key").size()})
    facts["vm_names"] = members.groupby("availability_set_key")["vm_name"].agg(lambda names: sorted(set(names)))
    inv.tables["availability_sets"] = _attach(inv.tables["availability_sets"], facts, counts=["vm_count"],
                                              lists=["vm_names"])

    workload_key = vms["workload"].str.lower()
    peers = vms.assign(workload_key=workload_key).groupby(["workload_key", "location"])["key"].transform("size")
    vms["workload_region_vm_count"] = peers.where(workload_key.notna(), 0).fillna(0).astype(int)
    vms["in_availability_set"] = vms["availability_set_key"].notna()
    vms["in_zone"] = vms["zones"].notna()
    vms["in_scale_set"] = vms["scale_set_key"].notna()
    vms["ha_required_by_tier"] = vms["tier"].isin(list(config.ha_tiers))
    vms["ha_required_by_workload"] = vms["workload_region_vm_count"] >= 2
    vms["ha_required"] = vms["ha_required_by_tier"] | vms["ha_required_by_workload"]
    vms["highly_available"] = vms["in_availability_set"] | vms["in_zone"] | vms["in_scale_set"]
    inv.tables["vms"] = vms


def _join_images(inv: Inventory) -> None:
    """Image → its sources; a VHD source is safe only in a read-access geo-redundant account."""
    sources = inv.tables["image_sources"]
    accounts = inv.tables["storage_accounts"][["account_name", "name", "resource_group", "sku"]].drop_duplicates(
        "account_name").rename(columns={"account_name": "vhd_account", "name": "account_display_name",
                                        "resource_group": "account_resource_group", "sku": "account_sku"})
    sources = sources.merge(accounts, on="vhd_account", how="left")
    is_vhd = sources["source_kind"].eq("vhd")
    sources["unknown"] = is_vhd & sources["account_sku"].isna()
    sources["unsafe"] = ~is_vhd | (sources["account_sku"].notna() & ~sources["account_sku"].isin(
        READ_ACCESS_GEO_ACCOUNT_SKUS))
    sources["label"] = sources["source_kind"] + " " + sources["source"].str.rsplit("/", n=1).str[-1] + (
        " in account " + sources["account_display_name"].fillna(sources["vhd_account"]).fillna("?") + " ("
        + sources["account_sku"].fillna("not in inventory") + ")").where(is_vhd, " (stored in-region only)")
    inv.tables["image_sources"] = sources
    group = sources.groupby("image_key")
    facts = pd.DataFrame({
        "source_count": group.size(),
        "unsafe_source_count": group["unsafe"].sum(),
        "unknown_source_count": group["unknown"].sum(),
    })
    facts["unsafe_sources"] = sources[sources["unsafe"]].groupby("image_key")["label"].agg(list)
    facts["unknown_sources"] = sources[sources["unknown"]].groupby("image_key")["label"].agg(list)
    unsafe_vhd = sources[sources["unsafe"] & is_vhd]
    facts["unsafe_accounts"] = unsafe_vhd.groupby("image_key")["account_display_name"].agg(
        lambda names: sorted(set(names.dropna())))
    refs = unsafe_vhd.assign(ref=list(zip(unsafe_vhd["account_display_name"], unsafe_vhd["account_resource_group"])))
    facts["unsafe_account_refs"] = refs.groupby("image_key")["ref"].agg(lambda pairs: [list(p) for p in sorted(set(pairs))])
    facts["managed_sources"] = (~sources["source_kind"].eq("vhd")).groupby(sources["image_key"]).any()
    inv.tables["images"] = _attach(
        inv.tables["images"], facts, counts=["source_count", "unsafe_source_count", "unknown_source_count"],
        lists=["unsafe_sources", "unknown_sources", "unsafe_accounts", "unsafe_account_refs"],
        flags=["managed_sources"])


def _blast_radius(inv: Inventory) -> None:
    """What the ranking reads on every table: VMs affected and disk GiB at risk."""
    vms = inv.tables["vms"]
    vms["affected_vms"] = 1
    vms["gib_at_risk"] = vms["disk_gib"]
    vm_gib = vms.set_index("key")["disk_gib"]

    avsets = inv.tables["availability_sets"]
    avsets["affected_vms"] = avsets["vm_count"]
    avsets["gib_at_risk"] = 0.0

    vaults = inv.tables["vaults"]
    vm_items = inv.tables["protected_items"]
    vm_items = vm_items[vm_items["is_vm_backup"]]
    vaults["affected_vms"] = vaults["key"].map(vm_items.groupby("vault_key")["source_key"].nunique()).fillna(0).astype(int)
    gib_by_vault = vm_items.assign(gib=vm_items["source_key"].map(vm_gib).fillna(0.0)).groupby("vault_key")["gib"].sum()
    vaults["gib_at_risk"] = vaults["key"].map(gib_by_vault).fillna(0.0)

    for name in ("disks", "storage_accounts", "images", "gallery_image_versions", "snapshots", "protected_items",
                 "policies", "replicated_items"):
        table = inv.tables[name]
        table["affected_vms"] = 0
        table["gib_at_risk"] = table["size_gb"].fillna(0.0) if "size_gb" in table else 0.0
