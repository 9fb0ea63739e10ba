"""Resource Graph rows → one flat record per resource (or per VM disk, image source, set member).

Extraction only: type-tolerant field access (a sku that is a string, tags that are a list or
properties that are null never crash), normalised keys and regions. Joins are made in tables.py.
"""

from __future__ import annotations

import re
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
# Written by `--deep` beside the Resource Graph rows (auditor/inventory/enrich.py).
T_INSTANCE_VIEW = "microsoft.compute/virtualmachines/instanceview"
T_VAULT_DETAILS = "microsoft.recoveryservices/vaults/dr-audit-details"
KNOWN_TYPES = (
    T_VM, T_DISK, T_SNAPSHOT, T_IMAGE, T_GALLERY_IMAGE_VERSION, T_AVSET, T_STORAGE,
    T_VAULT, T_PROTECTED_ITEM, T_POLICY, T_REPLICATED_ITEM, T_INSTANCE_VIEW, T_VAULT_DETAILS,
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


def frame(records: list[dict[str, Any]], columns: Iterable[str]) -> pd.DataFrame:
    columns = list(columns)
    frame = pd.DataFrame.from_records(records, columns=columns) if records else pd.DataFrame(columns=columns)
    return frame


# ---------------------------------------------------------------- per-type extraction

def vm_records(rows, config):
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
            os_type=_lower(os_disk.get("osType")),
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


def disk_records(rows, config):
    out = []
    for row in rows:
        base = _base(row, config)
        props = _obj(row.get("properties"))
        base.update(
            sku=_lower(_at(row, "sku", "name")),
            sku_name=_str(_at(row, "sku", "name")),
            size_gb=_number(props.get("diskSizeGB")),
            managed_by_key=_key(row.get("managedBy")),
            disk_state=_str(props.get("diskState")),
            source_key=_key(_at(props, "creationData", "sourceResourceId")),
        )
        out.append(base)
    return out


def storage_records(rows, config):
    out = []
    for row in rows:
        base = _base(row, config)
        base.update(sku=_lower(_at(row, "sku", "name")), sku_name=_str(_at(row, "sku", "name")),
                    account_name=base["name"].lower())
        out.append(base)
    return out


def vault_records(rows, config):
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


def _segment_after(arm_id: str, name: str) -> str | None:
    parts = arm_id.split("/")
    lowered = [part.lower() for part in parts]
    try:
        return parts[lowered.index(name.lower()) + 1] or None
    except (ValueError, IndexError):
        return None


def _last_segment(value: Any) -> str | None:
    text = _str(value)
    return text.rstrip("/").rsplit("/", 1)[-1] if text else None


def _child_of_vault(child_key: str | None) -> str | None:
    match = _VAULT_OF_CHILD.match(child_key or "")
    return match.group(1) if match else None


def protected_item_records(rows, config):
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
            policy_name=_str(props.get("policyName")) or _last_segment(props.get("policyId")),
            container_name=_segment_after(base["id"], "protectionContainers"),
            item_name=_segment_after(base["id"], "protectedItems"),
        )
        out.append(base)
    return out


def policy_records(rows, config):
    out = []
    for row in rows:
        base = _base(row, config)
        props = _obj(row.get("properties"))
        schedule = _obj(props.get("schedulePolicy"))
        hourly = _obj(schedule.get("hourlySchedule"))
        base.update(
            vault_key=_child_of_vault(base["key"]),
            backup_management_type=_lower(props.get("backupManagementType")),
            schedule_frequency=_lower(schedule.get("scheduleRunFrequency")),
            hourly_interval=_number(hourly.get("interval")),
            hourly_window_hours=_number(hourly.get("scheduleWindowDuration")),
            policy_type=_str(props.get("policyType")),  # V1 standard, V2 enhanced
        )
        out.append(base)
    return out


def replicated_item_records(rows, config):
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


def avset_records(rows, config):
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


def image_records(rows, config):
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


def gallery_version_records(rows, config):
    out = []
    for row in rows:
        base = _base(row, config)
        targets = _at(row, "properties", "publishingProfile", "targetRegions")
        regions = sorted({region(_at(target, "name")) for target in _list(targets) if region(_at(target, "name"))})
        base.update(target_regions=", ".join(regions), target_region_count=len(regions),
                    target_regions_known=bool(regions),
                    gallery_name=_segment_after(base["id"], "galleries"),
                    image_definition=_segment_after(base["id"], "images"),
                    version_name=_segment_after(base["id"], "versions"))
        out.append(base)
    return out


def snapshot_records(rows, config):
    out = []
    for row in rows:
        base = _base(row, config)
        props = _obj(row.get("properties"))
        base.update(
            source_key=_key(_at(props, "creationData", "sourceResourceId")),
            time_created=_str(props.get("timeCreated")),
            incremental=_bool(props.get("incremental")),
            size_gb=_number(props.get("diskSizeGB")),
        )
        out.append(base)
    return out


def instance_view_records(rows, config):
    out = []
    for row in rows:
        key = _key(row["id"]) or ""
        statuses = _list(_at(row, "properties", "vmAgent", "statuses"))
        shown = [_str(_at(status, "displayStatus")) for status in statuses if _str(_at(status, "displayStatus"))]
        out.append({
            "vm_key": key.rsplit("/", 1)[0] if key.endswith("/instanceview") else key,
            "agent_status": ", ".join(shown) or "no VM agent reported",
            "agent_ready": any(status.lower() == "ready" for status in shown),
        })
    return out


def vault_details_records(rows, config):
    out = []
    for row in rows:
        key = _key(row["id"]) or ""
        redundancy = _obj(_at(row, "properties", "redundancySettings"))
        out.append({
            "vault_key": key.rsplit("/", 1)[0],
            "details_storage_redundancy": _str(redundancy.get("standardTierStorageRedundancy")),
            "details_cross_region_restore": _str(redundancy.get("crossRegionRestore")),
        })
    return out
