"""Resource Graph rows → one flat record per resource (or per VM disk, image source, set member).

Extraction only: type-tolerant field access (a sku that is a string, tags that are a list or
properties that are null never crash), normalised keys and regions. Joins are made in tables.py.

`Extractor` takes rows one at a time and keeps only the fields the inventory reads, as tuples, so
the snapshot reader can feed it while parsing and a large snapshot's full rows are never all held at
once. This is the one per-row Python pass of a check (a million rows: a few seconds); everything
after it works on whole columns. Values that depend on the configuration (tier, workload, owner and
RPO tags) are read from the kept tags when the tables are built, so one extraction serves any config.
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
    if value.__class__ is str or isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _key(value: Any) -> str | None:
    """Join key of an ARM id: lower-cased, without a trailing slash."""
    if value.__class__ is str:  # nearly always: _str's own first case, without its call
        text = value.strip()
        return text.rstrip("/").lower() if text else None
    if value is None:
        return None
    text = _str(value)
    return text.rstrip("/").lower() if text else None


def _lower(value: Any) -> str | None:
    if value.__class__ is str:
        text = value.strip()
        return text.lower() if text else None
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
    if uri is None:
        return None
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


def _subscription_of(arm_id: str) -> str | None:
    match = re.match(r"^/subscriptions/([^/]+)", arm_id.strip(), re.IGNORECASE)
    return match.group(1) if match else None


def _resource_group_of(arm_id: str) -> str | None:
    match = re.match(r"^/subscriptions/[^/]+/resourcegroups/([^/]+)", arm_id.strip(), re.IGNORECASE)
    return match.group(1) if match else None


def frame(records: list[Any], columns: Iterable[str]) -> pd.DataFrame:
    """A table from records (dicts, or tuples in column order)."""
    columns = list(columns)
    frame = pd.DataFrame.from_records(records, columns=columns) if records else pd.DataFrame(columns=columns)
    return frame


def _segment_after(arm_id: str, name: str) -> str | None:
    parts = arm_id.split("/")
    lowered = arm_id.lower().split("/")  # lower() maps characters one to one around "/": same positions
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


# ---------------------------------------------------------------- per-type extraction
#
# Each extractor returns the row's record as a tuple: the base values (BASE_FIELDS), then the type's
# own (its *_FIELDS). tier/workload/owner and the VM's rpo_tag come from the tags later (tag_values).

BASE_FIELDS = ("id", "key", "name", "type", "subscription_id", "resource_group", "location", "tags")


_REGIONS: dict[str, str | None] = {}  # location as written → region(location)
_UNSEEN = object()


def _base(row: dict[str, Any], ident: str, key: str | None, kind: str) -> tuple[Any, ...]:
    rid = row["id"]
    name = row.get("name")
    name = (name.strip() or None) if name.__class__ is str else _str(name)
    subscription = row.get("subscriptionId")
    subscription = (subscription.strip() or None) if subscription.__class__ is str else _str(subscription)
    group = row.get("resourceGroup")
    group = (group.strip() or None) if group.__class__ is str else _str(group)
    location = row.get("location")
    if location.__class__ is str:
        # One string per region for the whole estate (not one per row): less memory, faster joins.
        known = _REGIONS.get(location, _UNSEEN)
        if known is _UNSEEN:
            known = location.strip()
            known = known.replace(" ", "").lower() if known else None
            if len(_REGIONS) < 4096:
                _REGIONS[location] = known
        location = known
    else:
        location = region(location)
    tags = row.get("tags")
    return (
        ident,
        key,
        name or rid.rstrip("/").rsplit("/", 1)[-1],
        kind,
        subscription or _subscription_of(rid),
        group or _resource_group_of(rid),
        location,
        tags if tags.__class__ is dict else _obj(tags),
    )


VM_FIELDS = ("availability_set_key", "scale_set_key", "zones", "has_os_profile", "agent_provisioning_disabled",
             "os_type")
VM_DISK_COLUMNS = ["vm_key", "role", "lun", "disk_name", "managed_disk_id", "managed_disk_key", "vhd_uri",
                   "vhd_account", "ephemeral", "vm_disk_size_gb"]


def _vm(ex: Extractor, row: dict[str, Any], base: tuple[Any, ...]) -> tuple[Any, ...]:
    props = _obj(row.get("properties"))
    storage = _obj(props.get("storageProfile"))
    os_disk = _obj(storage.get("osDisk"))
    os_profile = props.get("osProfile")
    if isinstance(os_profile, dict):
        has_os_profile = bool(os_profile)
        disabled = (_bool(_at(os_profile, "windowsConfiguration", "provisionVMAgent")) is False
                    or _bool(_at(os_profile, "linuxConfiguration", "provisionVMAgent")) is False)
    else:
        has_os_profile = disabled = False
    vm_key = base[1]
    append = ex.vm_disks.append
    data_disks = storage.get("dataDisks")
    disks = [("os", None, os_disk)]
    if isinstance(data_disks, list):
        disks += [("data", disk.get("lun"), disk) for disk in data_disks if isinstance(disk, dict)]
    for role, lun, disk in disks:
        if not disk:
            continue
        managed = disk.get("managedDisk")
        managed_id = managed.get("id") if isinstance(managed, dict) else None
        vhd = disk.get("vhd")
        vhd_uri = vhd.get("uri") if isinstance(vhd, dict) else None
        ephemeral = role == "os" and "diffDiskSettings" in disk and (
            _lower(_at(disk, "diffDiskSettings", "option")) == "local")
        if managed_id is None and vhd_uri is None and not ephemeral:
            continue
        append((vm_key, role, lun, _str(disk.get("name")), _str(managed_id), _key(managed_id), _str(vhd_uri),
                blob_account_name(vhd_uri), bool(ephemeral), _number(disk.get("diskSizeGB"))))
    availability_set = props.get("availabilitySet")
    scale_set = props.get("virtualMachineScaleSet")
    zones = row.get("zones")
    return base + (
        _key(availability_set.get("id")) if isinstance(availability_set, dict) else None,
        _key(scale_set.get("id")) if isinstance(scale_set, dict) else None,
        None if zones is None else _zones(zones),
        has_os_profile,
        disabled,
        _lower(os_disk.get("osType")),
    )


DISK_FIELDS = ("sku", "sku_name", "size_gb", "managed_by_key", "disk_state", "source_key")


def _disk(ex: Extractor, row: dict[str, Any], base: tuple[Any, ...]) -> tuple[Any, ...]:
    props = _obj(row.get("properties"))
    sku = row.get("sku")
    sku = sku.get("name") if isinstance(sku, dict) else None
    creation = props.get("creationData")
    return base + (
        _lower(sku),
        _str(sku),
        _number(props.get("diskSizeGB")),
        _key(row.get("managedBy")),
        _str(props.get("diskState")),
        _key(creation.get("sourceResourceId")) if isinstance(creation, dict) else None,
    )


STORAGE_FIELDS = ("sku", "sku_name", "account_name")


def _storage(ex: Extractor, row: dict[str, Any], base: tuple[Any, ...]) -> tuple[Any, ...]:
    sku = row.get("sku")
    sku = sku.get("name") if isinstance(sku, dict) else None
    return base + (_lower(sku), _str(sku), base[2].lower())


VAULT_FIELDS = ("storage_redundancy", "cross_region_restore", "soft_delete_state")


def _vault(ex: Extractor, row: dict[str, Any], base: tuple[Any, ...]) -> tuple[Any, ...]:
    props = _obj(row.get("properties"))
    redundancy = _obj(props.get("redundancySettings"))
    return base + (
        _str(redundancy.get("standardTierStorageRedundancy")),
        _str(redundancy.get("crossRegionRestore")),
        _str(_at(props, "securitySettings", "softDeleteSettings", "softDeleteState")),
    )


PROTECTED_ITEM_FIELDS = ("vault_key", "source_key", "backup_management_type", "protection_state",
                         "last_backup_status", "last_recovery_point", "policy_key", "policy_name", "container_name",
                         "item_name")


def _protected_item(ex: Extractor, row: dict[str, Any], base: tuple[Any, ...]) -> tuple[Any, ...]:
    props = _obj(row.get("properties"))
    source = props.get("sourceResourceId")
    if not _str(source):
        source = _at(props, "dataSourceInfo", "resourceID") or _at(props, "dataSourceInfo", "resourceId")
    policy_id = props.get("policyId")
    parts = base[0].split("/")
    # The row's key is its id lower-cased (less a trailing slash, which only ends the list): the same
    # segments at the same positions, without lower-casing 250 characters again.
    lowered = base[1].split("/") if base[1] is not None else base[0].lower().split("/")
    return base + (
        _child_of_vault(base[1]),
        _key(source),
        _lower(props.get("backupManagementType")),
        _str(props.get("protectionState")),
        _str(props.get("lastBackupStatus")),
        _str(props.get("lastRecoveryPoint")),
        _key(policy_id),
        _str(props.get("policyName")) or _last_segment(policy_id),
        _after(parts, lowered, "protectioncontainers"),
        _after(parts, lowered, "protecteditems"),
    )


def _after(parts: list[str], lowered: list[str], name: str) -> str | None:
    """_segment_after on an id split once."""
    try:
        return parts[lowered.index(name) + 1] or None
    except (ValueError, IndexError):
        return None


POLICY_FIELDS = ("vault_key", "backup_management_type", "schedule_frequency", "hourly_interval",
                 "hourly_window_hours", "policy_type")


def _policy(ex: Extractor, row: dict[str, Any], base: tuple[Any, ...]) -> tuple[Any, ...]:
    props = _obj(row.get("properties"))
    schedule = _obj(props.get("schedulePolicy"))
    hourly = _obj(schedule.get("hourlySchedule"))
    return base + (
        _child_of_vault(base[1]),
        _lower(props.get("backupManagementType")),
        _lower(schedule.get("scheduleRunFrequency")),
        _number(hourly.get("interval")),
        _number(hourly.get("scheduleWindowDuration")),
        _str(props.get("policyType")),  # V1 standard, V2 enhanced
    )


REPLICATED_ITEM_FIELDS = ("vault_key", "source_key", "protection_state")


def _replicated_item(ex: Extractor, row: dict[str, Any], base: tuple[Any, ...]) -> tuple[Any, ...]:
    props = _obj(row.get("properties"))
    return base + (
        _child_of_vault(base[1]),
        _key(_at(props, "providerSpecificDetails", "dataSourceInfo", "resourceId")
             or _at(props, "providerSpecificDetails", "dataSourceInfo", "resourceID")),
        _str(props.get("protectionState")),
    )


AVSET_MEMBER_COLUMNS = ["availability_set_key", "vm_key"]


def _avset(ex: Extractor, row: dict[str, Any], base: tuple[Any, ...]) -> tuple[Any, ...]:
    for member in _list(_obj(row.get("properties")).get("virtualMachines")):
        member_key = _key(_at(member, "id"))
        if member_key:
            ex.avset_members.append((base[1], member_key))
    return base


IMAGE_SOURCE_COLUMNS = ["image_key", "role", "source_kind", "source", "vhd_account"]


def _image(ex: Extractor, row: dict[str, Any], base: tuple[Any, ...]) -> tuple[Any, ...]:
    storage = _obj(_at(row, "properties", "storageProfile"))
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
                ex.image_sources.append((base[1], role, kind, _str(value),
                                         blob_account_name(value) if kind == "vhd" else None))
    return base


GALLERY_VERSION_FIELDS = ("target_regions", "target_region_count", "target_regions_known", "gallery_name",
                          "image_definition", "version_name")


def _gallery_version(ex: Extractor, row: dict[str, Any], base: tuple[Any, ...]) -> tuple[Any, ...]:
    targets = _at(row, "properties", "publishingProfile", "targetRegions")
    regions = sorted({region(_at(target, "name")) for target in _list(targets) if region(_at(target, "name"))})
    return base + (", ".join(regions), len(regions), bool(regions), _segment_after(base[0], "galleries"),
                   _segment_after(base[0], "images"), _segment_after(base[0], "versions"))


SNAPSHOT_FIELDS = ("source_key", "time_created", "size_gb", "incremental")


def _snapshot(ex: Extractor, row: dict[str, Any], base: tuple[Any, ...]) -> tuple[Any, ...]:
    props = _obj(row.get("properties"))
    creation = props.get("creationData")
    return base + (
        _key(creation.get("sourceResourceId")) if isinstance(creation, dict) else None,
        _str(props.get("timeCreated")),
        _number(props.get("diskSizeGB")),
        _bool(props.get("incremental")),
    )


INSTANCE_VIEW_COLUMNS = ["vm_key", "agent_status", "agent_ready"]


def _instance_view(ex: Extractor, row: dict[str, Any], base: tuple[Any, ...]) -> None:
    key = base[1] or ""
    statuses = _list(_at(row, "properties", "vmAgent", "statuses"))
    shown = [_str(_at(status, "displayStatus")) for status in statuses if _str(_at(status, "displayStatus"))]
    ex.instance_views.append((
        key.rsplit("/", 1)[0] if key.endswith("/instanceview") else key,
        ", ".join(shown) or "no VM agent reported",
        any(status.lower() == "ready" for status in shown),
    ))


VAULT_DETAILS_COLUMNS = ["vault_key", "details_storage_redundancy", "details_cross_region_restore"]


def _vault_details(ex: Extractor, row: dict[str, Any], base: tuple[Any, ...]) -> None:
    key = base[1] or ""
    redundancy = _obj(_at(row, "properties", "redundancySettings"))
    ex.vault_details.append((
        key.rsplit("/", 1)[0],
        _str(redundancy.get("standardTierStorageRedundancy")),
        _str(redundancy.get("crossRegionRestore")),
    ))


# Resource tables: name, type, its own fields, and the tag-derived fields it carries.
RESOURCE_TABLES = (
    ("vms", T_VM, VM_FIELDS),
    ("disks", T_DISK, DISK_FIELDS),
    ("storage_accounts", T_STORAGE, STORAGE_FIELDS),
    ("vaults", T_VAULT, VAULT_FIELDS),
    ("protected_items", T_PROTECTED_ITEM, PROTECTED_ITEM_FIELDS),
    ("policies", T_POLICY, POLICY_FIELDS),
    ("replicated_items", T_REPLICATED_ITEM, REPLICATED_ITEM_FIELDS),
    ("availability_sets", T_AVSET, ()),
    ("images", T_IMAGE, ()),
    ("gallery_image_versions", T_GALLERY_IMAGE_VERSION, GALLERY_VERSION_FIELDS),
    ("snapshots", T_SNAPSHOT, SNAPSHOT_FIELDS),
)
_EXTRACTORS = {
    T_VM: _vm, T_DISK: _disk, T_SNAPSHOT: _snapshot, T_IMAGE: _image, T_GALLERY_IMAGE_VERSION: _gallery_version,
    T_AVSET: _avset, T_STORAGE: _storage, T_VAULT: _vault, T_PROTECTED_ITEM: _protected_item, T_POLICY: _policy,
    T_REPLICATED_ITEM: _replicated_item, T_INSTANCE_VIEW: _instance_view, T_VAULT_DETAILS: _vault_details,
}
_KINDS = {kind: kind for kind in _EXTRACTORS}
# A row's type as written → (its kind, its extractor), or _IGNORED: the same few spellings on every row.
_TYPES: dict[str, tuple[str, Any]] = {}
_IGNORED = ("", None)
_FACTS = (T_INSTANCE_VIEW, T_VAULT_DETAILS)  # enrichment rows are facts, not resources


class Extractor:
    """Rows in, one at a time; per-type records out. Unknown types are ignored and the same resource
    twice (overlapping scopes) keeps its first row."""

    def __init__(self) -> None:
        self.records: dict[str, list[tuple[Any, ...]]] = {kind: [] for kind in _EXTRACTORS}
        self.counts: dict[str, int] = {}
        self.vm_disks: list[tuple[Any, ...]] = []
        self.avset_members: list[tuple[str, str]] = []
        self.image_sources: list[tuple[Any, ...]] = []
        self.instance_views: list[tuple[Any, ...]] = []
        self.vault_details: list[tuple[Any, ...]] = []
        self._seen: set[str] = set()

    def add(self, row: dict[str, Any]) -> None:
        written = row["type"]
        known = _TYPES.get(written) if written.__class__ is str else None
        if known is None:
            kind = written.strip().lower()
            extract = _EXTRACTORS.get(kind)
            known = (_KINDS[kind], extract) if extract is not None else _IGNORED
            if written.__class__ is str and len(_TYPES) < 4096:
                _TYPES[written] = known
        if known is _IGNORED:
            return
        kind, extract = known  # kind: the one string per type, not a copy per row
        ident = row["id"].strip()
        row_key = ident.rstrip("/").lower()
        if row_key in self._seen:
            return
        self._seen.add(row_key)
        if kind not in _FACTS:
            self.counts[kind] = self.counts.get(kind, 0) + 1
        record = extract(self, row, _base(row, ident, row_key if ident else None, kind))
        if record is not None:
            self.records[kind].append(record)

    def extend(self, rows: Iterable[dict[str, Any]]) -> Extractor:
        add = self.add
        for row in rows:
            add(row)
        return self

    _PARTS = ("records", "counts", "vm_disks", "avset_members", "image_sources", "instance_views", "vault_details",
              "_seen")

    def parts(self) -> tuple[Any, ...]:
        """What was extracted, as plain containers (marshal takes them, at half pickle's cost)."""
        return tuple(getattr(self, name) for name in self._PARTS)

    @classmethod
    def from_parts(cls, parts: tuple[Any, ...]) -> Extractor:
        extractor = cls.__new__(cls)
        for name, value in zip(cls._PARTS, parts, strict=True):
            setattr(extractor, name, value)
        return extractor

    def disjoint(self, later: Extractor) -> bool:
        """Whether `later` (the rows after this one's, extracted apart) saw none of this one's resources."""
        return self._seen.isdisjoint(later._seen)

    def absorb(self, later: Extractor) -> None:
        """Append what `later` extracted from the rows after this one's (see disjoint): the same result
        as adding those rows here."""
        for kind, records in later.records.items():
            self.records[kind].extend(records)
        for kind, number in later.counts.items():
            self.counts[kind] = self.counts.get(kind, 0) + number
        for name in ("vm_disks", "avset_members", "image_sources", "instance_views", "vault_details"):
            getattr(self, name).extend(getattr(later, name))
        self._seen |= later._seen

    def frames(self, config: Config) -> dict[str, pd.DataFrame]:
        """The inventory's starting tables, in a fixed order (see tables.build_inventory)."""
        tables: dict[str, pd.DataFrame] = {}
        for name, kind, fields in RESOURCE_TABLES:
            tables[name] = _resource_frame(self.records[kind], fields, config, rpo=kind == T_VM)
        order = ["vms", "vm_disks", "disks", "storage_accounts", "vaults", "protected_items", "policies",
                 "replicated_items", "availability_sets", "availability_set_members", "images", "image_sources",
                 "gallery_image_versions", "snapshots", "instance_views", "vault_details"]
        tables["vm_disks"] = frame(self.vm_disks, VM_DISK_COLUMNS)
        tables["availability_set_members"] = frame(self.avset_members, AVSET_MEMBER_COLUMNS)
        tables["image_sources"] = frame(self.image_sources, IMAGE_SOURCE_COLUMNS)
        tables["instance_views"] = frame(self.instance_views, INSTANCE_VIEW_COLUMNS)
        tables["vault_details"] = frame(self.vault_details, VAULT_DETAILS_COLUMNS)
        return {name: tables[name] for name in order}


def tag_values(tags_column: Iterable[dict[str, Any]], keys: list[str]) -> list[list[str | None]]:
    """Per row, the trimmed value of each tag key (keys compare case-insensitively; "" when the tag is
    set without a value, None when it is absent), one list per key."""
    wanted = [key.lower() for key in keys]
    tags_column = list(tags_column)
    columns: list[list[str | None]] = [[None] * len(tags_column) for _ in wanted]
    # Which wanted keys each tag key as written is (normalise_tags for the wanted keys only): the
    # same few spellings recur on every row, so each is normalised once.
    slots: dict[Any, tuple[list[str | None], ...]] = {}
    for row, tags in enumerate(tags_column):
        if tags:
            for key, value in tags.items():
                targets = slots.get(key)
                if targets is None:
                    normal = key.strip().lower() if isinstance(key, str) else None
                    targets = slots[key] = tuple(column for column, name in zip(columns, wanted) if name == normal)
                if targets:
                    value = "" if value is None else str(value).strip()
                    for column in targets:
                        column[row] = value
    return columns


def _resource_frame(records: list[tuple[Any, ...]], fields: tuple[str, ...], config: Config, *,
                    rpo: bool) -> pd.DataFrame:
    """Base columns (BASE_COLUMNS), then the type's own; for VMs, rpo_tag before os_type."""
    columns = list(BASE_FIELDS) + list(fields)
    if not records:
        final = BASE_COLUMNS + list(fields)
        if rpo:
            final.insert(final.index("os_type"), "rpo_tag")
        return pd.DataFrame(columns=final)
    table = pd.DataFrame.from_records(records, columns=columns)
    keys = [config.tier_tag, config.workload_tag, config.owner_tag] + ([config.rpo_tag] if rpo else [])
    values = tag_values(table["tags"], keys)
    tier = [value.lower() or None if value is not None else None for value in values[0]]
    table.insert(8, "tier", tier)
    table.insert(9, "workload", [value or None for value in values[1]])
    table.insert(10, "owner", [value or None for value in values[2]])
    if rpo:
        table.insert(table.columns.get_loc("os_type"), "rpo_tag", [value or None for value in values[3]])
    return table
