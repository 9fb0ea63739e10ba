"""Generate the bundled Fabrikam demo estate and the ground truth the tests check it against.

    python -m auditor.demo.generate [--out-dir DIR]

Writes two files (default: next to this script):

- ``estate.json``: a dr-audit snapshot file: capture metadata plus the rows Azure Resource Graph
  returns (objectArray format) from the ``Resources`` and ``RecoveryServicesResources`` tables.
- ``expected.json``: for every rule id of the catalog, the resource ids that fail, the ones that are
  unknown (both complete), and a few that the rule evaluates and that pass.

Every resource is declared together with what it is meant to show (``expect=...``); expected.json is
assembled from those declarations. Standard library only; the output is the same byte for byte on
every run, so the committed files can be checked against a fresh generation.

The estate is fictional ("Fabrikam", three subscriptions, five regions) but keeps the shapes and
the quirks of real Resource Graph rows: lower-cased ``type`` and ``resourceGroup``; references
between resources in whatever casing Azure stores them (upper-cased resource groups in VM disk
and availability-set references, upper-cased VM ids in availability sets, fully lower-cased ids
of some Recovery Services rows); compute timestamps with ``+00:00`` and backup ones with ``Z``;
region display names ("West Europe") in gallery target regions.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

CAPTURED_AT = datetime(2026, 11, 23, 6, 0, 0, tzinfo=timezone.utc)
TENANT = "5b7e1c3a-9d24-4e6f-a8b0-2c4d6e8f0a13"
SUBS = {
    "core": "3f2c8a10-6b1e-4c2d-9a7f-1e5b0c9d4a21",  # fabrikam-prod-core
    "apps": "7a9d4e52-0c3b-4f18-b6e2-58d1a0f3c9b7",  # fabrikam-prod-apps
    "dev": "c41e7b09-2d8a-4a5f-8e3c-9b06f2d1e7a4",  # fabrikam-dev
}
_NAMESPACE = uuid.UUID("0f5d7c3e-2a61-4b8e-9c14-6e2f8a0b3d57")

# The catalog, in the order of spec.md's table; short names keep the declarations below readable.
RULES = {
    "lrs": "vm-lrs-disk-no-backup",
    "zrs": "vm-zrs-disk-no-backup",
    "ulrs": "vm-unmanaged-lrs-disk-no-backup",
    "ugeo": "vm-unmanaged-geo-disk-no-backup",
    "unmanaged": "vm-unmanaged-disks",
    "health": "backup-not-healthy",
    "rpo": "vm-backup-policy-below-rpo",
    "agent": "vm-agent-not-provisioned",
    "vault_geo": "vault-not-geo-redundant",
    "vault_crr": "vault-cross-region-restore-disabled",
    "vault_softdelete": "vault-soft-delete-disabled",
    "avset": "availability-set-single-vm",
    "ha": "vm-not-highly-available",
    "image": "image-not-geo-redundant",
    "gallery": "gallery-image-single-region",
    "snapshot": "snapshot-not-copied-to-other-region",
    "coordinated": "vm-snapshots-not-coordinated",
    "workload": "workload-single-region",
}

REGION_NAMES = {
    "westeurope": "West Europe",
    "northeurope": "North Europe",
    "eastus": "East US",
    "uksouth": "UK South",
    "westus2": "West US 2",
}

WINDOWS_IMAGE = {
    "publisher": "MicrosoftWindowsServer",
    "offer": "WindowsServer",
    "sku": "2022-datacenter-azure-edition",
    "version": "latest",
    "exactVersion": "20348.2849.241106",
}
UBUNTU_IMAGE = {
    "publisher": "Canonical",
    "offer": "0001-com-ubuntu-server-jammy",
    "sku": "22_04-lts-gen2",
    "version": "latest",
    "exactVersion": "22.04.202411040",
}
NVA_IMAGE = {
    "publisher": "paloaltonetworks",
    "offer": "vmseries-flex",
    "sku": "byol",
    "version": "latest",
    "exactVersion": "11.1.3",
}
NVA_PLAN = {"name": "byol", "publisher": "paloaltonetworks", "product": "vmseries-flex", "promotionCode": None}


# ---------------------------------------------------------------- small deterministic helpers

def guid(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


def _fraction(*parts: str) -> int:
    return int(hashlib.sha256("/".join(parts).encode()).hexdigest()[:8], 16) % 10_000_000


def ago(hours: float = 0, minutes: float = 0, days: float = 0) -> datetime:
    return CAPTURED_AT - timedelta(days=days, hours=hours, minutes=minutes)


def backup_time(moment: datetime, *salt: str) -> str:
    """Recovery Services style: 7-digit fraction, Z suffix."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{_fraction(*salt):07d}Z"


def compute_time(moment: datetime, *salt: str) -> str:
    """Compute style: 7-digit fraction, +00:00 offset."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{_fraction(*salt):07d}+00:00"


def arm_id(sub: str, rg: str, provider_type: str, name: str) -> str:
    return f"/subscriptions/{SUBS[sub]}/resourceGroups/{rg}/providers/{provider_type}/{name}"


def tags(workload: str | None, tier: str | None, rpo: str | None = None, *, owner: str,
         cost_center: str, env: str = "prod") -> dict:
    out: dict = {}
    if workload is not None:
        out["workload"] = workload
    if tier is not None:
        out["dr-tier"] = tier
    if rpo is not None:
        out["dr-rpo"] = rpo
    out["owner"] = owner
    out["cost-center"] = cost_center
    out["env"] = env
    return out


def row(*, id: str, name: str, type: str, location: str, rg: str, sub: str, kind: str = "",
        managed_by: str = "", sku=None, plan=None, properties=None, tags=None, identity=None,
        zones=None) -> dict:
    """One Resource Graph row, keys in the order Resource Graph returns them."""
    return {
        "id": id,
        "name": name,
        "type": type,
        "tenantId": TENANT,
        "kind": kind,
        "location": location,
        "resourceGroup": rg.lower(),
        "subscriptionId": SUBS[sub],
        "managedBy": managed_by,
        "sku": sku,
        "plan": plan,
        "properties": properties,
        "tags": tags,
        "identity": identity,
        "zones": zones,
        "extendedLocation": None,
    }


class VM:
    def __init__(self, sub, rg, name, region, id, disk_ids):
        self.sub, self.rg, self.name, self.region, self.id = sub, rg, name, region, id
        self.disk_ids = disk_ids  # row ids of the VM's managed disks, OS first


class Vault:
    def __init__(self, sub, rg, name, region, id, lower_children, lower_policy_refs):
        self.sub, self.rg, self.name, self.region, self.id = sub, rg, name, region, id
        self.lower_children = lower_children  # Resource Graph lower-cases some vaults' child ids
        self.lower_policy_refs = lower_policy_refs  # and some items' policyId


DISK_TIER = {
    "Standard_LRS": "Standard", "StandardSSD_LRS": "Standard", "StandardSSD_ZRS": "Standard",
    "Premium_LRS": "Premium", "Premium_ZRS": "Premium", "PremiumV2_LRS": "Premium",
    "UltraSSD_LRS": "Ultra",
}


class Estate:
    def __init__(self):
        self.rows: list[dict] = []
        self.expected = {rule: {"fail": [], "unknown": [], "pass": []} for rule in RULES.values()}
        self.policies: dict[tuple[str, str], dict] = {}
        self.policy_counts: dict[str, int] = {}

    def add(self, r: dict) -> dict:
        self.rows.append(r)
        return r

    def expect(self, resource_id: str, outcomes: dict[str, str]) -> None:
        for short, outcome in outcomes.items():
            self.expected[RULES[short]][outcome].append(resource_id)

    # ------------------------------------------------------------ storage

    def storage_account(self, sub, rg, name, region, sku, *, kind="StorageV2", secondary=None, created):
        props = {
            "keyCreationTime": {"key1": compute_time(created, name, "k1"), "key2": compute_time(created, name, "k2")},
            "allowCrossTenantReplication": False,
            "privateEndpointConnections": [],
            "minimumTlsVersion": "TLS1_2",
            "allowBlobPublicAccess": False,
            "networkAcls": {"bypass": "AzureServices", "virtualNetworkRules": [], "ipRules": [],
                            "defaultAction": "Allow"},
            "supportsHttpsTrafficOnly": True,
            "encryption": {
                "services": {"file": {"keyType": "Account", "enabled": True},
                             "blob": {"keyType": "Account", "enabled": True}},
                "keySource": "Microsoft.Storage",
            },
            "accessTier": "Hot",
            "provisioningState": "Succeeded",
            "creationTime": compute_time(created, name),
            "primaryEndpoints": {
                "dfs": f"https://{name}.dfs.core.windows.net/",
                "web": f"https://{name}.z6.web.core.windows.net/",
                "blob": f"https://{name}.blob.core.windows.net/",
                "queue": f"https://{name}.queue.core.windows.net/",
                "table": f"https://{name}.table.core.windows.net/",
                "file": f"https://{name}.file.core.windows.net/",
            },
            "primaryLocation": region,
            "statusOfPrimary": "available",
        }
        if kind != "StorageV2":
            del props["primaryEndpoints"]["dfs"], props["primaryEndpoints"]["web"]
            del props["accessTier"]
        if secondary:
            props["secondaryLocation"] = secondary
            props["statusOfSecondary"] = "available"
        if sku in ("Standard_RAGRS", "Standard_RAGZRS"):
            props["secondaryEndpoints"] = {
                "blob": f"https://{name}-secondary.blob.core.windows.net/",
                "queue": f"https://{name}-secondary.queue.core.windows.net/",
                "table": f"https://{name}-secondary.table.core.windows.net/",
            }
        tier = "Premium" if sku.startswith("Premium") else "Standard"
        return self.add(row(
            id=arm_id(sub, rg, "Microsoft.Storage/storageAccounts", name), name=name,
            type="microsoft.storage/storageaccounts", location=region, rg=rg, sub=sub, kind=kind,
            sku={"name": sku, "tier": tier}, properties=props,
            tags={"owner": "platform-team@fabrikam.com", "cost-center": "CC-1000", "env": "prod"},
        ))

    # ------------------------------------------------------------ Recovery Services

    def vault(self, sub, rg, name, region, *, redundancy, crr, soft_delete, lower_children=False,
              lower_policy_refs=False, owner="platform-team@fabrikam.com", env="prod", expect) -> Vault:
        vid = arm_id(sub, rg, "Microsoft.RecoveryServices/vaults", name)
        props = {
            "provisioningState": "Succeeded",
            "privateEndpointStateForBackup": "None",
            "privateEndpointStateForSiteRecovery": "None",
            "publicNetworkAccess": "Enabled",
            "monitoringSettings": {
                "azureMonitorAlertSettings": {"alertsForAllJobFailures": "Enabled"},
                "classicAlertSettings": {"alertsForCriticalOperations": "Disabled"},
            },
        }
        if redundancy is not None:
            settings = {"standardTierStorageRedundancy": redundancy}
            if crr is not None:
                settings["crossRegionRestore"] = crr
            props["redundancySettings"] = settings
        props["securitySettings"] = {
            "softDeleteSettings": {
                "softDeleteRetentionPeriodInDays": 14,
                "softDeleteState": soft_delete,
                "enhancedSecurityState": "Enabled" if soft_delete != "Disabled" else "Disabled",
            },
            "multiUserAuthorization": "Disabled",
        }
        props["secureScore"] = "Minimum" if soft_delete == "Disabled" else "Adequate"
        props["bcdrSecurityLevel"] = "Poor" if soft_delete == "Disabled" else "Fair"
        self.add(row(
            id=vid, name=name, type="microsoft.recoveryservices/vaults", location=region, rg=rg, sub=sub,
            sku={"name": "RS0", "tier": "Standard"}, properties=props,
            tags={"owner": owner, "cost-center": "CC-1000", "env": env},
            identity={"type": "SystemAssigned", "principalId": guid("msi", vid), "tenantId": TENANT},
        ))
        self.expect(vid, expect)
        return Vault(sub, rg, name, region, vid, lower_children, lower_policy_refs)

    def _child_id(self, vault: Vault, suffix: str) -> str:
        cid = vault.id + suffix
        return cid.lower() if vault.lower_children else cid

    def policy(self, vault: Vault, name, *, frequency, interval=None, window_start=None, window_hours=None,
               policy_type="V1", run_time="22:30"):
        pid = self._child_id(vault, f"/backupPolicies/{name}")
        run_at = f"2026-01-01T{run_time}:00Z"
        if frequency == "Hourly":
            schedule = {
                "schedulePolicyType": "SimpleSchedulePolicyV2",
                "scheduleRunFrequency": "Hourly",
                "hourlySchedule": {
                    "interval": interval,
                    "scheduleWindowStartTime": f"2026-01-01T{window_start}:00Z",
                    "scheduleWindowDuration": window_hours,
                },
            }
            retention = {"retentionPolicyType": "LongTermRetentionPolicy",
                         "dailySchedule": {"retentionTimes": [f"2026-01-01T{window_start}:00Z"],
                                           "retentionDuration": {"count": 30, "durationType": "Days"}}}
        elif frequency == "Daily" and policy_type == "V2":
            schedule = {"schedulePolicyType": "SimpleSchedulePolicyV2", "scheduleRunFrequency": "Daily",
                        "dailySchedule": {"scheduleRunTimes": [run_at]}}
            retention = {"retentionPolicyType": "LongTermRetentionPolicy",
                         "dailySchedule": {"retentionTimes": [run_at],
                                           "retentionDuration": {"count": 30, "durationType": "Days"}}}
        elif frequency == "Daily":
            schedule = {"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Daily",
                        "scheduleRunTimes": [run_at], "scheduleWeeklyFrequency": 0}
            retention = {"retentionPolicyType": "LongTermRetentionPolicy",
                         "dailySchedule": {"retentionTimes": [run_at],
                                           "retentionDuration": {"count": 30, "durationType": "Days"}}}
        else:  # Weekly
            schedule = {"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Weekly",
                        "scheduleRunDays": ["Sunday"], "scheduleRunTimes": [run_at], "scheduleWeeklyFrequency": 0}
            retention = {"retentionPolicyType": "LongTermRetentionPolicy",
                         "weeklySchedule": {"daysOfTheWeek": ["Sunday"], "retentionTimes": [run_at],
                                            "retentionDuration": {"count": 12, "durationType": "Weeks"}}}
        props = {
            "backupManagementType": "AzureIaasVM",
            "policyType": policy_type,
            "instantRPDetails": {},
            "schedulePolicy": schedule,
            "retentionPolicy": retention,
            "instantRpRetentionRangeInDays": 2 if policy_type == "V1" else 7,
            "timeZone": "UTC",
            "protectedItemsCount": 0,
        }
        if policy_type == "V2":
            props["tieringPolicy"] = {
                "ArchivedRP": {"tieringMode": "DoNotTier", "durationType": "Invalid", "duration": 0}}
        r = self.add(self._rsr_row(vault, pid, name, "microsoft.recoveryservices/vaults/backuppolicies", props))
        self.policies[(vault.name, name)] = r
        return r

    def sql_policy(self, vault: Vault, name):
        pid = self._child_id(vault, f"/backupPolicies/{name}")
        props = {
            "backupManagementType": "AzureWorkload",
            "workLoadType": "SQLDataBase",
            "settings": {"timeZone": "UTC", "issqlcompression": False, "isCompression": False},
            "subProtectionPolicy": [
                {"policyType": "Full",
                 "schedulePolicy": {"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Daily",
                                    "scheduleRunTimes": ["2026-01-01T23:00:00Z"], "scheduleWeeklyFrequency": 0},
                 "retentionPolicy": {"retentionPolicyType": "LongTermRetentionPolicy",
                                     "dailySchedule": {"retentionTimes": ["2026-01-01T23:00:00Z"],
                                                       "retentionDuration": {"count": 30, "durationType": "Days"}}}},
                {"policyType": "Log",
                 "schedulePolicy": {"schedulePolicyType": "LogSchedulePolicy", "scheduleFrequencyInMins": 60},
                 "retentionPolicy": {"retentionPolicyType": "SimpleRetentionPolicy",
                                     "retentionDuration": {"count": 15, "durationType": "Days"}}},
            ],
            "protectedItemsCount": 0,
        }
        r = self.add(self._rsr_row(vault, pid, name, "microsoft.recoveryservices/vaults/backuppolicies", props))
        self.policies[(vault.name, name)] = r
        return r

    def _rsr_row(self, vault: Vault, rid: str, name: str, type_: str, props: dict) -> dict:
        return row(id=rid, name=name, type=type_, location=vault.region, rg=vault.rg, sub=vault.sub,
                   properties=props, tags=None)

    def backup_item(self, vault: Vault, vm: VM, policy: str, *, state="Protected", last_status="Completed",
                    rp_hours: float | None, last_backup_hours: float | None = None,
                    source="sourceResourceId", source_case=None, policy_missing=False):
        """An AzureIaasVM protected item. ``rp_hours``: age of the latest recovery point (None: none yet)."""
        container = f"iaasvmcontainerv2;{vm.rg};{vm.name}"
        item_name = f"VM;{container}"
        iid = self._child_id(
            vault, f"/backupFabrics/Azure/protectionContainers/IaasVMContainer;{container}/protectedItems/{item_name}")
        policy_id = self._child_id(vault, f"/backupPolicies/{policy}")
        if not policy_missing:
            assert (vault.name, policy) in self.policies, (vault.name, policy)
            self.policy_counts[policy_id] = self.policy_counts.get(policy_id, 0) + 1
        if vault.lower_policy_refs:
            policy_id = policy_id.lower()
        vm_ref = vm.id if source_case is None else source_case(vm.id)
        props: dict = {
            "friendlyName": vm.name,
            "protectionStatus": "Healthy",
            "protectionState": state,
            "healthStatus": "Passed",
            "protectedItemType": "Microsoft.Compute/virtualMachines",
            "backupManagementType": "AzureIaasVM",
            "workloadType": "VM",
            "containerName": container,
            "policyId": policy_id,
            "policyName": policy,
            "protectedItemDataId": str(int(hashlib.sha256(iid.lower().encode()).hexdigest()[:10], 16)),
            "isScheduledForDeferredDelete": False,
            "isRehydrate": False,
            "isArchiveEnabled": False,
        }
        if source == "sourceResourceId":
            props["virtualMachineId"] = vm_ref
            props["sourceResourceId"] = vm_ref
        else:  # newer rows identify the data source only here
            props["dataSourceInfo"] = {
                "resourceID": vm_ref,
                "resourceName": vm.name,
                "resourceType": "Microsoft.Compute/virtualMachines",
                "resourceLocation": vm.region,
                "datasourceType": "Microsoft.Compute/virtualMachines",
            }
        if last_status == "Failed" or state in ("ProtectionError",):
            props["protectionStatus"] = "Unhealthy"
            props["healthStatus"] = "ActionRequired"
        if rp_hours is not None:
            rp = ago(hours=rp_hours)
            lb = ago(hours=last_backup_hours) if last_backup_hours is not None else rp - timedelta(minutes=3)
            props["lastBackupStatus"] = last_status
            props["lastBackupTime"] = backup_time(lb, iid, "lb")
            props["lastRecoveryPoint"] = backup_time(rp, iid, "rp")
            props["extendedInfo"] = {
                "oldestRecoveryPoint": backup_time(rp - timedelta(days=29), iid, "old"),
                "recoveryPointCount": 30,
                "policyInconsistent": False,
            }
        else:  # initial backup not taken yet
            props["lastBackupStatus"] = ""
            props["extendedInfo"] = {"recoveryPointCount": 0, "policyInconsistent": False}
        return self.add(self._rsr_row(
            vault, iid, item_name,
            "microsoft.recoveryservices/vaults/backupfabrics/protectioncontainers/protecteditems", props))

    def sql_item(self, vault: Vault, vm: VM, database: str, policy: str):
        container = f"VMAppContainer;Compute;{vm.rg};{vm.name}"
        item_name = f"SQLDataBase;MSSQLSERVER;{database}"
        iid = self._child_id(vault, f"/backupFabrics/Azure/protectionContainers/{container}/protectedItems/{item_name}")
        props = {
            "friendlyName": database,
            "serverName": vm.name,
            "parentName": "MSSQLSERVER",
            "parentType": "AzureVmWorkloadSQLInstance",
            "protectionStatus": "Healthy",
            "protectionState": "Protected",
            "lastBackupStatus": "Healthy",
            "lastBackupTime": backup_time(ago(hours=9), iid, "lb"),
            "protectedItemDataSourceId": str(int(hashlib.sha256(iid.lower().encode()).hexdigest()[:10], 16)),
            "protectedItemHealthStatus": "Healthy",
            "protectedItemType": "AzureVmWorkloadSQLDatabase",
            "backupManagementType": "AzureWorkload",
            "workloadType": "SQLDataBase",
            "containerName": f"vmappcontainer;compute;{vm.rg};{vm.name}",
            "sourceResourceId": vm.id,
            "policyId": self._child_id(vault, f"/backupPolicies/{policy}"),
            "policyName": policy,
            "lastRecoveryPoint": backup_time(ago(hours=1), iid, "rp"),
            "isScheduledForDeferredDelete": False,
        }
        self.policy_counts[props["policyId"]] = self.policy_counts.get(props["policyId"], 0) + 1
        return self.add(self._rsr_row(
            vault, iid, item_name,
            "microsoft.recoveryservices/vaults/backupfabrics/protectioncontainers/protecteditems", props))

    def replicated_item(self, vault: Vault, vm: VM, os_type: str):
        primary = vm.region
        fabric = f"asr-a2a-default-{primary}"
        name = guid("asr", vm.id)
        rid = self._child_id(
            vault, f"/replicationFabrics/{fabric}/replicationProtectionContainers/{fabric}-container"
                   f"/replicationProtectedItems/{name}")
        props = {
            "friendlyName": vm.name,
            "protectedItemType": "Microsoft.Compute/virtualMachines",
            "protectableItemId": None,
            "recoveryServicesProviderId": None,
            "primaryFabricFriendlyName": REGION_NAMES[primary],
            "primaryFabricProvider": "Azure",
            "recoveryFabricFriendlyName": REGION_NAMES[vault.region],
            "recoveryFabricId": vault.id + f"/replicationFabrics/asr-a2a-default-{vault.region}",
            "primaryProtectionContainerFriendlyName": f"{fabric}-container",
            "recoveryProtectionContainerFriendlyName": f"asr-a2a-default-{vault.region}-container",
            "protectionState": "Protected",
            "protectionStateDescription": "Protected",
            "activeLocation": "Primary",
            "testFailoverState": "None",
            "testFailoverStateDescription": "None",
            "allowedOperations": ["PlannedFailover", "UnplannedFailover", "DisableProtection", "TestFailover"],
            "replicationHealth": "Normal",
            "failoverHealth": "Normal",
            "healthErrors": [],
            "policyId": vault.id + "/replicationPolicies/24-hour-retention-policy",
            "policyFriendlyName": "24-hour-retention-policy",
            "failoverRecoveryPointId": None,
            "lastSuccessfulFailoverTime": None,
            "lastSuccessfulTestFailoverTime": None,
            "providerSpecificDetails": {
                "instanceType": "A2A",
                "fabricObjectId": vm.id,
                "dataSourceInfo": {"resourceId": vm.id, "resourceLocation": primary},
                "primaryFabricLocation": primary,
                "recoveryFabricLocation": vault.region,
                "osType": os_type,
                "multiVmGroupName": vm.name,
                "vmProtectionState": "Protected",
                "vmProtectionStateDescription": "Protected",
                "monitoringPercentageCompletion": None,
                "lastHeartbeat": backup_time(ago(minutes=4), rid, "hb"),
                "lastRpoCalculatedTime": backup_time(ago(minutes=6), rid, "rpo"),
                "rpoInSeconds": 42,
                "recoveryAzureResourceGroupId": f"/subscriptions/{SUBS[vault.sub]}/resourceGroups/{vm.rg}-asr",
                "recoveryAzureVMSize": "Standard_D4s_v5",
                "recoveryAvailabilityZone": "",
            },
        }
        return self.add(self._rsr_row(
            vault, rid, name,
            "microsoft.recoveryservices/vaults/replicationfabrics/replicationprotectioncontainers/"
            "replicationprotecteditems",
            props))

    # ------------------------------------------------------------ compute

    def vm(self, sub, rg, name, region, *, os, size, tags, disks=(), vhds=(), avset=None, zone=None,
           vmss=None, agent=True, ephemeral=False, image=None, plan=None, created_days=400, expect) -> VM:
        """Declare a VM, its managed disks (rows) or its VHDs, and what it is meant to show.

        disks: (sku, size_gb) pairs, OS disk first; a third element "missing" leaves the disk out of
        the inventory. vhds: (storage_account, size_gb) pairs, OS first.
        """
        vm_id = arm_id(sub, rg, "Microsoft.Compute/virtualMachines", name)
        # Azure hands back references in the casing they were created with; the core subscription's
        # templates used upper-case resource group names.
        ref_rg = rg.upper() if sub == "core" else rg
        created = ago(days=created_days)
        zones = [zone] if zone else None
        disk_ids: list[str] = []
        os_disk: dict
        data_disks: list[dict] = []
        image = image if image is not None else (WINDOWS_IMAGE if os == "Windows" else UBUNTU_IMAGE)
        specialized = agent is None

        def managed(index: int, sku: str, gb: int, missing: bool) -> dict:
            if index == 0:
                disk_name = f"{name}_OsDisk_1_{guid('osdisk', vm_id).replace('-', '')}"
            else:
                disk_name = f"{name}-data{index:02d}"
            disk_rg = rg if not missing else rg.replace("-weu", "-disks-weu")
            row_id = arm_id(sub, disk_rg, "Microsoft.Compute/disks", disk_name)
            ref_id = arm_id(sub, ref_rg if not missing else disk_rg.upper(), "Microsoft.Compute/disks", disk_name)
            ref = {"id": ref_id} if missing else {"storageAccountType": sku, "id": ref_id}
            if not missing:
                disk_ids.append(row_id)
                if index == 0:
                    creation = ({"createOption": "Attach"} if specialized else
                                {"createOption": "FromImage",
                                 "imageReference": {"id": self._image_ref(sub, region, image)}})
                else:
                    creation = {"createOption": "Empty"}
                self.disk(sub, disk_rg, disk_name, region, sku, gb, managed_by=vm_id, zone=zone,
                          os_type=os if index == 0 else None, creation=creation, created=created)
            return ref

        for index, spec in enumerate(disks):
            sku, gb = spec[0], spec[1]
            missing = len(spec) > 2 and spec[2] == "missing"
            if index == 0:
                if ephemeral:
                    disk_name = f"{name}_OsDisk_1_{guid('osdisk', vm_id).replace('-', '')}"
                    os_disk = {
                        "osType": os,
                        "diffDiskSettings": {"option": "Local", "placement": "ResourceDisk"},
                        "name": disk_name,
                        "createOption": "FromImage",
                        "caching": "ReadOnly",
                        "managedDisk": {"storageAccountType": sku,
                                        "id": arm_id(sub, ref_rg, "Microsoft.Compute/disks", disk_name)},
                        "deleteOption": "Delete",
                        "diskSizeGB": gb,
                    }
                else:
                    ref = managed(0, sku, gb, missing)
                    os_disk = {
                        "osType": os,
                        "name": ref["id"].rsplit("/", 1)[1],
                        "createOption": "Attach" if specialized else "FromImage",
                        "caching": "ReadWrite",
                        "managedDisk": ref,
                        "deleteOption": "Detach",
                        "diskSizeGB": gb,
                    }
            else:
                ref = managed(index, sku, gb, missing)
                data_disks.append({
                    "lun": index - 1,
                    "name": ref["id"].rsplit("/", 1)[1],
                    "createOption": "Attach" if specialized else "Empty",
                    "caching": "ReadOnly" if sku.startswith("Premium") and sku != "PremiumV2_LRS" else "None",
                    "writeAcceleratorEnabled": False,
                    "managedDisk": ref,
                    "deleteOption": "Detach",
                    "diskSizeGB": gb,
                    "toBeDetached": False,
                })
        for index, (account, gb) in enumerate(vhds):
            label = "os" if index == 0 else f"data{index:02d}"
            vhd = {"uri": f"https://{account}.blob.core.windows.net/vhds/{name}-{label}.vhd"}
            if index == 0:
                os_disk = {"osType": os, "name": f"{name}-os", "createOption": "FromImage", "vhd": vhd,
                           "caching": "ReadWrite", "diskSizeGB": gb}
            else:
                data_disks.append({"lun": index - 1, "name": f"{name}-{label}", "createOption": "Empty", "vhd": vhd,
                                   "caching": "None", "diskSizeGB": gb, "toBeDetached": False})

        storage_profile: dict = {}
        if not specialized:
            storage_profile["imageReference"] = image
        storage_profile["osDisk"] = os_disk
        storage_profile["dataDisks"] = data_disks
        if not vhds:
            storage_profile["diskControllerType"] = "SCSI"

        props: dict = {
            "vmId": guid("vmid", vm_id),
            "hardwareProfile": {"vmSize": size},
            "storageProfile": storage_profile,
        }
        if not specialized:
            computer = name.replace("_", "")[:15]
            if os == "Windows":
                props["osProfile"] = {
                    "computerName": computer,
                    "adminUsername": "fabadmin",
                    "windowsConfiguration": {
                        "provisionVMAgent": agent,
                        "enableAutomaticUpdates": True,
                        "patchSettings": {"patchMode": "AutomaticByOS", "assessmentMode": "ImageDefault"},
                    },
                    "secrets": [],
                    "allowExtensionOperations": agent,
                    "requireGuestProvisionSignal": True,
                }
            else:
                props["osProfile"] = {
                    "computerName": computer,
                    "adminUsername": "fabadmin",
                    "linuxConfiguration": {
                        "disablePasswordAuthentication": True,
                        "ssh": {"publicKeys": [{"path": "/home/fabadmin/.ssh/authorized_keys",
                                                "keyData": "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABDemoKeyOnly fabadmin"}]},
                        "provisionVMAgent": agent,
                        "patchSettings": {"patchMode": "ImageDefault", "assessmentMode": "ImageDefault"},
                    },
                    "secrets": [],
                    "allowExtensionOperations": agent,
                    "requireGuestProvisionSignal": True,
                }
        props["networkProfile"] = {"networkInterfaces": [
            {"id": arm_id(sub, ref_rg, "Microsoft.Network/networkInterfaces", f"{name}-nic01")}]}
        if vhds:
            props["diagnosticsProfile"] = {"bootDiagnostics": {
                "enabled": True, "storageUri": "https://stfabrikamdiagweu.blob.core.windows.net/"}}
        else:
            props["diagnosticsProfile"] = {"bootDiagnostics": {"enabled": True}}
        if avset:
            props["availabilitySet"] = {"id": arm_id(sub, ref_rg, "Microsoft.Compute/availabilitySets", avset.upper())}
        if vmss:
            props["virtualMachineScaleSet"] = {
                "id": arm_id(sub, rg.upper(), "Microsoft.Compute/virtualMachineScaleSets", vmss)}
        if os == "Windows" and not specialized:
            props["licenseType"] = "Windows_Server"
        props["provisioningState"] = "Succeeded"
        props["timeCreated"] = compute_time(created, vm_id)
        if not specialized:
            # Resource Graph's own projection of the instance view: power state only, no agent status.
            props["extended"] = {"instanceView": {
                "computerName": name.replace("_", "")[:15],
                "osName": "Windows Server 2022 Datacenter Azure Edition" if os == "Windows" else "ubuntu",
                "osVersion": "10.0.20348.2849" if os == "Windows" else "22.04",
                "hyperVGeneration": "V2",
                "powerState": {"code": "PowerState/running", "level": "Info", "displayStatus": "VM running"},
            }}
        self.add(row(id=vm_id, name=name, type="microsoft.compute/virtualmachines", location=region, rg=rg,
                     sub=sub, plan=plan, properties=props, tags=tags, zones=zones))
        self.expect(vm_id, expect)
        return VM(sub, rg, name, region, vm_id, disk_ids)

    @staticmethod
    def _image_ref(sub, region, image) -> str:
        if "id" in image:
            return image["id"]
        return (f"/Subscriptions/{SUBS[sub]}/Providers/Microsoft.Compute/Locations/{region}/Publishers/"
                f"{image['publisher']}/ArtifactTypes/VMImage/Offers/{image['offer']}/Skus/{image['sku']}/"
                f"Versions/{image['exactVersion']}")

    def disk(self, sub, rg, name, region, sku, size, *, managed_by="", zone=None, os_type=None, creation, created):
        did = arm_id(sub, rg, "Microsoft.Compute/disks", name)
        props: dict = {}
        if os_type:
            props["osType"] = os_type
            props["hyperVGeneration"] = "V2"
        props["creationData"] = creation
        props["diskSizeGB"] = size
        if sku in ("UltraSSD_LRS", "PremiumV2_LRS"):
            props["diskIOPSReadWrite"] = 5000 if sku == "UltraSSD_LRS" else 3000
            props["diskMBpsReadWrite"] = 200 if sku == "UltraSSD_LRS" else 125
        props["encryption"] = {"type": "EncryptionAtRestWithPlatformKey"}
        props["networkAccessPolicy"] = "AllowAll"
        props["publicNetworkAccess"] = "Enabled"
        props["timeCreated"] = compute_time(created, did)
        props["provisioningState"] = "Succeeded"
        props["diskState"] = "Attached" if managed_by else "Unattached"
        props["diskSizeBytes"] = size * 1024 ** 3
        props["uniqueId"] = guid("unique", did.lower())
        return self.add(row(id=did, name=name, type="microsoft.compute/disks", location=region, rg=rg, sub=sub,
                            managed_by=managed_by, sku={"name": sku, "tier": DISK_TIER[sku]}, properties=props,
                            tags=None, zones=[zone] if zone else None))

    def snapshot(self, sub, rg, name, region, source_id, *, taken: datetime, size, create_option="Copy",
                 expect=None, incremental=True, sku="Standard_LRS"):
        sid = arm_id(sub, rg, "Microsoft.Compute/snapshots", name)
        props = {
            "creationData": {"createOption": create_option, "sourceResourceId": source_id,
                             "sourceUniqueId": guid("unique", source_id.lower())},
            "diskSizeGB": size,
            "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
            "incremental": incremental,
            "networkAccessPolicy": "AllowAll",
            "publicNetworkAccess": "Enabled",
            "timeCreated": compute_time(taken, sid),
            "provisioningState": "Succeeded",
            "diskState": "Unattached",
            "diskSizeBytes": size * 1024 ** 3,
            "uniqueId": guid("unique", sid.lower()),
        }
        if create_option == "CopyStart":
            props["completionPercent"] = 100.0
            props["copyCompletionError"] = None
        self.add(row(id=sid, name=name, type="microsoft.compute/snapshots", location=region, rg=rg, sub=sub,
                     sku={"name": sku, "tier": "Standard"}, properties=props,
                     tags={"created-by": "snapshot-runbook", "owner": "infra-ops@fabrikam.com"}))
        if expect:
            self.expect(sid, expect)
        return sid

    def availability_set(self, sub, rg, name, region, members: list[str], *, sku="Aligned", expect):
        aid = arm_id(sub, rg, "Microsoft.Compute/availabilitySets", name)
        props = {
            "platformUpdateDomainCount": 5,
            "platformFaultDomainCount": 2 if sku == "Aligned" else 3,
            "virtualMachines": [{"id": m} for m in members],
        }
        self.add(row(id=aid, name=name, type="microsoft.compute/availabilitysets", location=region, rg=rg, sub=sub,
                     sku={"name": sku}, properties=props,
                     tags={"owner": "platform-team@fabrikam.com", "cost-center": "CC-1000", "env": "prod"}))
        self.expect(aid, expect)
        return aid

    def image(self, sub, rg, name, region, *, os_disk: dict, data_disks=(), os="Windows", expect):
        iid = arm_id(sub, rg, "Microsoft.Compute/images", name)
        osd = {"osType": os, "osState": "Generalized", **os_disk, "caching": "ReadWrite",
               "storageAccountType": "Standard_LRS", "diskSizeGB": 128}
        dds = [{"lun": i, **d, "caching": "None", "storageAccountType": "Standard_LRS", "diskSizeGB": 256}
               for i, d in enumerate(data_disks)]
        props = {"storageProfile": {"osDisk": osd, "dataDisks": dds, "zoneResilient": False},
                 "provisioningState": "Succeeded", "hyperVGeneration": "V1"}
        self.add(row(id=iid, name=name, type="microsoft.compute/images", location=region, rg=rg, sub=sub,
                     properties=props, tags={"owner": "platform-team@fabrikam.com", "cost-center": "CC-1000"}))
        self.expect(iid, expect)
        return iid

    def gallery_version(self, sub, rg, gallery, image, version, region, targets, *, source_id, published, expect):
        vid = arm_id(sub, rg, "Microsoft.Compute/galleries", f"{gallery}/images/{image}/versions/{version}")
        props = {
            "publishingProfile": {
                "targetRegions": [{"name": n, "regionalReplicaCount": c, "storageAccountType": s}
                                  for n, c, s in targets],
                "replicaCount": targets[0][1],
                "excludeFromLatest": False,
                "publishedDate": compute_time(published, vid),
                "storageAccountType": targets[0][2],
            },
            "storageProfile": {"source": {"id": source_id},
                               "osDiskImage": {"sizeInGB": 127, "hostCaching": "ReadWrite"}},
            "safetyProfile": {"reportedForPolicyViolation": False, "allowDeletionOfReplicatedLocations": True},
            "provisioningState": "Succeeded",
        }
        self.add(row(id=vid, name=version, type="microsoft.compute/galleries/images/versions", location=region,
                     rg=rg, sub=sub, properties=props, tags=None))
        self.expect(vid, expect)
        return vid


# ====================================================================== the estate

def build() -> Estate:
    e = Estate()
    P, F, U = "pass", "fail", "unknown"
    upper_rg = lambda vm_id: vm_id.replace("/resourceGroups/" + vm_id.split("/")[4] + "/",
                                           "/resourceGroups/" + vm_id.split("/")[4].upper() + "/")
    lower = str.lower

    # ------------------------------------------------------------------ storage accounts
    sa_created = ago(days=2900)
    e.storage_account("core", "rg-legacy-weu", "stfabrikamlegacylrs", "westeurope", "Standard_LRS", kind="Storage",
                      created=sa_created)
    e.storage_account("core", "rg-legacy-weu", "stfabrikamlegacygrs", "westeurope", "Standard_GRS", kind="Storage",
                      secondary="northeurope", created=sa_created)
    e.storage_account("core", "rg-legacy-weu", "stfabrikamlegacyragrs", "westeurope", "Standard_RAGRS", kind="Storage",
                      secondary="northeurope", created=sa_created)
    e.storage_account("core", "rg-legacy-weu", "stfabrikamlegacyprem", "westeurope", "Premium_LRS", kind="Storage",
                      created=sa_created)
    e.storage_account("core", "rg-images-weu", "stfabrikamimgragrs", "westeurope", "Standard_RAGRS",
                      secondary="northeurope", created=ago(days=2000))
    e.storage_account("core", "rg-images-weu", "stfabrikamimgragzrs", "westeurope", "Standard_RAGZRS",
                      secondary="northeurope", created=ago(days=900))
    e.storage_account("core", "rg-images-weu", "stfabrikamimggrs", "westeurope", "Standard_GRS",
                      secondary="northeurope", created=ago(days=1500))
    e.storage_account("core", "rg-mgmt-weu", "stfabrikamdiagweu", "westeurope", "Standard_LRS", created=ago(days=1400))
    e.storage_account("apps", "rg-shop-data-weu", "stfabrikamshoplogs", "westeurope", "Standard_ZRS",
                      created=ago(days=600))
    e.storage_account("apps", "rg-shop-data-weu", "stfabrikamshoparchive", "westeurope", "Standard_GZRS",
                      secondary="northeurope", created=ago(days=600))

    # ------------------------------------------------------------------ Recovery Services vaults
    v_core_weu = e.vault("core", "rg-backup-weu", "rsv-core-prod-weu", "westeurope", redundancy="GeoRedundant",
                         crr="Enabled", soft_delete="Enabled",
                         expect={"vault_geo": P, "vault_crr": P, "vault_softdelete": P})
    v_core_neu = e.vault("core", "rg-backup-neu", "rsv-core-prod-neu", "northeurope", redundancy="GeoRedundant",
                         crr="Disabled", soft_delete="Enabled", lower_children=True,
                         expect={"vault_geo": P, "vault_crr": F, "vault_softdelete": P})
    v_legacy = e.vault("core", "rg-legacy-weu", "rsv-legacy-weu", "westeurope", redundancy="LocallyRedundant",
                       crr="Disabled", soft_delete="Disabled",
                       expect={"vault_geo": F, "vault_softdelete": F})
    v_asr_core = e.vault("core", "rg-asr-neu", "rsv-asr-core-neu", "northeurope", redundancy="GeoRedundant",
                         crr="Enabled", soft_delete="Enabled",
                         expect={"vault_geo": P, "vault_crr": P, "vault_softdelete": P})
    v_apps_weu = e.vault("apps", "rg-backup-apps-weu", "rsv-apps-prod-weu", "westeurope", redundancy="GeoRedundant",
                         crr="Enabled", soft_delete="AlwaysON", lower_policy_refs=True, owner="web-team@fabrikam.com",
                         expect={"vault_geo": P, "vault_crr": P, "vault_softdelete": P})
    v_apps_neu = e.vault("apps", "rg-backup-apps-neu", "rsv-apps-prod-neu", "northeurope", redundancy="GeoRedundant",
                         crr=None, soft_delete="Enabled", owner="web-team@fabrikam.com",
                         expect={"vault_geo": P, "vault_crr": U, "vault_softdelete": P})
    v_apps_eus = e.vault("apps", "rg-backup-apps-eus", "rsv-apps-prod-eus", "eastus", redundancy="ZoneRedundant",
                         crr="Disabled", soft_delete="Enabled", owner="data-platform@fabrikam.com",
                         expect={"vault_geo": F, "vault_softdelete": P})
    v_apps_uks = e.vault("apps", "rg-backup-apps-uks", "rsv-apps-prod-uks", "uksouth", redundancy=None,
                         crr=None, soft_delete="Enabled", owner="intranet-team@fabrikam.com",
                         expect={"vault_geo": U, "vault_crr": U, "vault_softdelete": P})
    v_asr_apps = e.vault("apps", "rg-asr-wus2", "rsv-asr-apps-wus2", "westus2", redundancy="GeoRedundant",
                         crr="Disabled", soft_delete="Enabled", lower_children=True,
                         expect={"vault_geo": P, "vault_crr": F, "vault_softdelete": P})
    v_dev_weu = e.vault("dev", "rg-dev-backup-weu", "rsv-dev-weu", "westeurope", redundancy="LocallyRedundant",
                        crr="Disabled", soft_delete="Disabled", env="dev",
                        expect={"vault_geo": F, "vault_softdelete": F})
    v_dev_neu = e.vault("dev", "rg-dev-backup-neu", "rsv-dev-neu", "northeurope", redundancy="GeoRedundant",
                        crr="Enabled", soft_delete="Enabled", env="dev",
                        expect={"vault_geo": P, "vault_crr": P, "vault_softdelete": P})

    # ------------------------------------------------------------------ backup policies
    e.policy(v_core_weu, "DefaultPolicy", frequency="Daily")
    e.policy(v_core_weu, "HourlyCritical", frequency="Hourly", interval=1, window_start="00:00", window_hours=24,
             policy_type="V2")
    e.policy(v_core_weu, "WeeklyMgmt", frequency="Weekly", run_time="02:00")
    e.sql_policy(v_core_weu, "SQLHourlyLog")
    e.policy(v_core_neu, "DefaultPolicy", frequency="Daily")
    e.policy(v_legacy, "DefaultPolicy", frequency="Daily", run_time="20:00")
    e.policy(v_apps_weu, "DefaultPolicy", frequency="Daily")
    e.policy(v_apps_weu, "EnhancedPolicy-Daily", frequency="Daily", policy_type="V2", run_time="21:00")
    e.policy(v_apps_weu, "EnhancedHourly4h", frequency="Hourly", interval=4, window_start="08:00", window_hours=12,
             policy_type="V2")
    e.policy(v_apps_neu, "DefaultPolicy", frequency="Daily")
    e.policy(v_apps_eus, "DefaultPolicy", frequency="Daily", run_time="04:00")
    e.policy(v_apps_uks, "DefaultPolicy", frequency="Daily")
    e.policy(v_dev_weu, "DefaultPolicy", frequency="Daily", run_time="19:00")
    e.policy(v_dev_weu, "WeeklyDev", frequency="Weekly", run_time="03:00")
    e.policy(v_dev_neu, "DefaultPolicy", frequency="Daily", run_time="19:00")

    # ------------------------------------------------------------------ VMs: fabrikam-prod-core
    erp_tags = lambda tier, rpo=None: tags("erp", tier, rpo, owner="erp-team@fabrikam.com", cost_center="CC-2100")

    erp_app01 = e.vm("core", "rg-erp-prod-weu", "erp-app01", "westeurope", os="Windows", size="Standard_D8s_v5",
                     tags=erp_tags("critical", "24h"), disks=[("Premium_LRS", 128), ("Premium_LRS", 256)],
                     avset="as-erp-app",
                     expect={"lrs": P, "health": P, "rpo": P, "agent": P, "ha": P, "unmanaged": P})
    erp_app02 = e.vm("core", "rg-erp-prod-weu", "erp-app02", "westeurope", os="Windows", size="Standard_D8s_v5",
                     tags=erp_tags("critical", "P1D"), disks=[("Premium_LRS", 128), ("Premium_LRS", 256)],
                     avset="as-erp-app", expect={"rpo": P, "ha": P})
    erp_app03 = e.vm("core", "rg-erp-prod-weu", "erp-app03", "westeurope", os="Windows", size="Standard_D8s_v5",
                     tags=erp_tags("critical"), disks=[("Premium_LRS", 128), ("Premium_LRS", 256)],
                     avset="as-erp-app", expect={"health": F, "lrs": P})
    erp_batch01 = e.vm("core", "rg-erp-prod-weu", "erp-batch01", "westeurope", os="Windows", size="Standard_E4s_v5",
                       tags=erp_tags("high", "4h"), disks=[("Premium_LRS", 128), ("StandardSSD_LRS", 512)],
                       expect={"rpo": F, "ha": F, "health": P})
    erp_web01 = e.vm("core", "rg-erp-prod-weu", "erp-web01", "westeurope", os="Linux", size="Standard_D4s_v5",
                     tags=erp_tags("high"), disks=[("StandardSSD_ZRS", 64), ("Premium_ZRS", 256)], zone="2",
                     expect={"zrs": P, "ha": P, "health": P})
    erp_print01 = e.vm("core", "rg-erp-prod-weu", "erp-print01", "westeurope", os="Windows", size="Standard_B4ms",
                       tags=erp_tags("standard"), disks=[("StandardSSD_LRS", 128)],
                       expect={"health": F, "ha": F})
    erp_intf01 = e.vm("core", "rg-erp-prod-weu", "erp-intf01", "westeurope", os="Linux", size="Standard_D2s_v5",
                      tags={"Workload": "ERP ", "DR-Tier": "Standard", "owner": "erp-team@fabrikam.com",
                            "cost-center": "CC-2100", "env": "prod"},
                      disks=[("Premium_LRS", 64)], zone="3", expect={"health": P, "ha": P})
    sqlprod01 = e.vm("core", "rg-erp-prod-weu", "sqlprod01", "westeurope", os="Windows", size="Standard_E16s_v5",
                     tags=erp_tags("critical", "1h"),
                     disks=[("Premium_LRS", 128), ("Premium_LRS", 1024), ("Premium_LRS", 1024)],
                     avset="as-sql-erp", expect={"health": P, "rpo": P, "lrs": P})
    sqlprod02 = e.vm("core", "rg-erp-prod-weu", "sqlprod02", "westeurope", os="Windows", size="Standard_E16s_v5",
                     tags=erp_tags("critical", "PT1H"),
                     disks=[("Premium_LRS", 128), ("Premium_LRS", 1024), ("Premium_LRS", 1024)],
                     avset="as-sql-erp", expect={"health": F, "rpo": P})
    e.vm("core", "rg-erp-archive-weu", "erp-archive01", "westeurope", os="Windows",
         size="Standard_B2ms",
         tags=tags("archive", "low", owner="erp-team@fabrikam.com", cost_center="CC-2100"),
         disks=[("Standard_LRS", 256, "missing")],
         expect={"lrs": U, "zrs": U, "agent": P})
    payroll_app01 = e.vm("core", "rg-payroll-prod-weu", "payroll-app01", "westeurope", os="Windows",
                         size="Standard_D4s_v5",
                         tags=tags("payroll", "critical", "24h", owner="hr-it@fabrikam.com", cost_center="CC-3100"),
                         disks=[("StandardSSD_LRS", 128), ("Premium_LRS", 256)], avset="as-payroll",
                         expect={"lrs": P, "ha": P, "rpo": P})
    payroll_db01 = e.vm("core", "rg-payroll-prod-weu", "payroll-db01", "westeurope", os="Windows",
                        size="Standard_E8s_v5",
                        tags=tags("payroll", "critical", owner="hr-it@fabrikam.com", cost_center="CC-3100"),
                        disks=[("Premium_LRS", 128), ("Premium_LRS", 512)], avset="as-payroll",
                        expect={"lrs": F, "coordinated": P, "ha": P})
    hr_app01 = e.vm("core", "rg-hr-prod-weu", "hr-app01", "westeurope", os="Windows", size="Standard_D2s_v5",
                    tags=tags("payroll", "standard", owner="hr-it@fabrikam.com", cost_center="CC-3100"),
                    disks=[("StandardSSD_LRS", 128)], expect={"health": P, "ha": F, "lrs": P})
    dc01 = e.vm("core", "rg-identity-weu", "dc01", "westeurope", os="Windows", size="Standard_D2s_v5",
                tags=tags("ad-ds", "critical", "24h", owner="infra-ops@fabrikam.com", cost_center="CC-1000"),
                disks=[("Premium_LRS", 128), ("StandardSSD_LRS", 32)], zone="1",
                expect={"ha": P, "rpo": P, "health": P})
    dc02 = e.vm("core", "rg-identity-neu", "dc02", "northeurope", os="Windows", size="Standard_D2s_v5",
                tags={"workload": "ad-ds", "dr-tier": "Critical", "dr-rpo": "24h", "owner": "infra-ops@fabrikam.com",
                      "cost-center": "CC-1000", "env": "prod"},
                disks=[("Premium_LRS", 128), ("StandardSSD_LRS", 32)], zone="2",
                expect={"ha": P, "rpo": P, "health": P})
    fs01 = e.vm("core", "rg-fileserver-weu", "fs01", "westeurope", os="Windows", size="Standard_D4s_v5",
                tags=tags("fileshare", "standard", owner="infra-ops@fabrikam.com", cost_center="CC-1000"),
                disks=[("StandardSSD_LRS", 128), ("Standard_LRS", 4096)], expect={"lrs": F})
    legacy_tags = lambda workload, tier: tags(workload, tier, owner="legacy-apps@fabrikam.com", cost_center="CC-4100")
    legacy_ftp01 = e.vm("core", "rg-legacy-weu", "legacy-ftp01", "westeurope", os="Windows", size="Standard_DS2_v2",
                        tags=legacy_tags("edi", "low"), vhds=[("stfabrikamlegacylrs", 127)], avset="as-legacy-ftp",
                        expect={"ulrs": F, "unmanaged": F, "ha": P})
    e.vm("core", "rg-legacy-weu", "legacy-edi01", "westeurope", os="Windows", size="Standard_DS2_v2",
         tags=legacy_tags("edi", "low"),
         vhds=[("stfabrikamlegacygrs", 127), ("stfabrikamlegacyragrs", 512)],
         expect={"ugeo": F, "unmanaged": F, "ha": F, "ulrs": P})
    legacy_edi02 = e.vm("core", "rg-legacy-weu", "legacy-edi02", "westeurope", os="Windows", size="Standard_DS2_v2",
                        tags=legacy_tags("edi", "low"), vhds=[("stfabrikamlegacygrs", 127)],
                        expect={"ugeo": P, "unmanaged": F, "ha": F})
    legacy_app01 = e.vm("core", "rg-legacy-weu", "legacy-app01", "westeurope", os="Windows", size="Standard_DS3_v2",
                        tags=legacy_tags(None, "low"),
                        vhds=[("stfabrikamlegacylrs", 127), ("stfabrikamlegacygrs", 256)],
                        expect={"ulrs": P, "unmanaged": F})
    legacy_sql01 = e.vm("core", "rg-legacy-weu", "legacy-sql01", "westeurope", os="Windows", size="Standard_DS13_v2",
                        tags=legacy_tags(None, "low"),
                        vhds=[("stfabrikamlegacyprem", 127), ("stfabrikamlegacyprem", 1023)],
                        expect={"ulrs": P, "unmanaged": F})
    e.vm("core", "rg-legacy-weu", "legacy-rpt01", "westeurope", os="Windows", size="Standard_DS2_v2",
         tags=legacy_tags(None, "low"), vhds=[("stfabrikamold2009", 127)],
         expect={"ulrs": U, "ugeo": U, "unmanaged": F})
    jump01 = e.vm("core", "rg-mgmt-weu", "jump01", "westeurope", os="Windows", size="Standard_B2ms",
                  tags=tags("mgmt", "low", "7d", owner="infra-ops@fabrikam.com", cost_center="CC-1000"),
                  disks=[("Standard_LRS", 128)], avset="as-jump",
                  expect={"health": P, "rpo": P, "lrs": P})
    nva_tags = tags("network", "high", owner="network-team@fabrikam.com", cost_center="CC-1000")
    e.vm("core", "rg-mgmt-weu", "fw-nva01", "westeurope", os="Linux", size="Standard_D3_v2",
         tags=nva_tags, disks=[("Premium_LRS", 60)], zone="1", agent=False, image=NVA_IMAGE,
         plan=NVA_PLAN, expect={"agent": F, "lrs": F, "ha": P})
    e.vm("core", "rg-mgmt-weu", "fw-nva02", "westeurope", os="Linux", size="Standard_D3_v2",
         tags=dict(nva_tags), disks=[("Premium_LRS", 60)], zone="2", agent=False, image=NVA_IMAGE,
         plan=NVA_PLAN, expect={"agent": F, "lrs": F, "ha": P})
    sqldwh01 = e.vm("core", "rg-dwh-prod-weu", "sqldwh01", "westeurope", os="Windows", size="Standard_E32bds_v5",
                    tags=tags("dwh", "high", owner="data-platform@fabrikam.com", cost_center="CC-5100"),
                    disks=[("Premium_LRS", 128), ("UltraSSD_LRS", 1024), ("PremiumV2_LRS", 2048)], zone="1",
                    expect={"lrs": F, "ha": P})
    rpt_tags = lambda rpo=None: tags("reporting", "standard", rpo, owner="bi-team@fabrikam.com", cost_center="CC-5200")
    rpt_app01 = e.vm("core", "rg-reporting-prod-neu", "rpt-app01", "northeurope", os="Windows", size="Standard_D4s_v5",
                     tags=rpt_tags("24h"), disks=[("StandardSSD_LRS", 128)],
                     expect={"ha": F, "rpo": P, "health": P})
    rpt_app02 = e.vm("core", "rg-reporting-prod-neu", "rpt-app02", "northeurope", os="Windows", size="Standard_D4s_v5",
                     tags=rpt_tags(), disks=[("StandardSSD_LRS", 128), ("StandardSSD_LRS", 256)],
                     expect={"lrs": F, "ha": F, "coordinated": F})
    rpt_db01 = e.vm("core", "rg-reporting-prod-neu", "rpt-db01", "northeurope", os="Windows", size="Standard_E8s_v5",
                    tags=rpt_tags(), disks=[("Premium_LRS", 128), ("Premium_LRS", 512)], avset="as-rpt-db",
                    expect={"health": F, "ha": P})
    pay_tags = lambda rpo=None: tags("payments", "critical", rpo, owner="finance-it@fabrikam.com",
                                     cost_center="CC-3200")
    pay_api01 = e.vm("core", "rg-payments-prod-neu", "pay-api01", "northeurope", os="Linux", size="Standard_D4s_v5",
                     tags=pay_tags("24h"), disks=[("Premium_LRS", 64), ("Premium_LRS", 128)], zone="1",
                     expect={"lrs": P, "ha": P, "health": P, "rpo": P})
    pay_api02 = e.vm("core", "rg-payments-prod-neu", "pay-api02", "northeurope", os="Linux", size="Standard_D4s_v5",
                     tags=pay_tags("24h"), disks=[("Premium_LRS", 64), ("Premium_LRS", 128)], zone="2",
                     expect={"ha": P})
    pay_db01 = e.vm("core", "rg-payments-prod-neu", "pay-db01", "northeurope", os="Windows", size="Standard_E8s_v5",
                    tags=pay_tags("P1D"), disks=[("Premium_LRS", 128), ("Premium_LRS", 1024)], avset="as-pay-db",
                    expect={"rpo": P, "ha": P})
    pay_db02 = e.vm("core", "rg-payments-prod-neu", "pay-db02", "northeurope", os="Windows", size="Standard_E8s_v5",
                    tags=pay_tags("P1D"), disks=[("Premium_LRS", 128), ("Premium_LRS", 1024)], avset="as-pay-db",
                    expect={"ha": P})

    # ------------------------------------------------------------------ VMs: fabrikam-prod-apps
    web_tags = lambda tier="high", rpo=None: tags("webshop", tier, rpo, owner="web-team@fabrikam.com",
                                                  cost_center="CC-6100")
    web01_weu = e.vm("apps", "rg-web-prod-weu", "web01", "westeurope", os="Linux", size="Standard_D4s_v5",
                     tags=web_tags(), disks=[("Premium_LRS", 64)], zone="1",
                     expect={"lrs": P, "ha": P, "health": P, "agent": P, "unmanaged": P})
    web02_weu = e.vm("apps", "rg-web-prod-weu", "web02", "westeurope", os="Linux", size="Standard_D4s_v5",
                     tags=web_tags(), disks=[("Premium_LRS", 64)], zone="2", expect={"lrs": P, "ha": P})
    e.vm("apps", "rg-web-prod-neu", "web01", "northeurope", os="Linux", size="Standard_D4s_v5",
         tags=web_tags(rpo="4h"), disks=[("Premium_LRS", 64)], expect={"lrs": F, "ha": F})
    web02_neu = e.vm("apps", "rg-web-prod-neu", "web02", "northeurope", os="Linux", size="Standard_D4s_v5",
                     tags=web_tags(), disks=[("Premium_LRS", 64)], avset="as-web-neu", expect={"ha": P, "lrs": P})
    web03_neu = e.vm("apps", "rg-web-prod-neu", "web03", "northeurope", os="Linux", size="Standard_D4s_v5",
                     tags=web_tags(), disks=[("Premium_LRS", 64)], avset="as-web-neu", expect={"ha": P})
    shopdb01 = e.vm("apps", "rg-shop-data-weu", "shopdb01", "westeurope", os="Linux", size="Standard_E8s_v5",
                    tags=web_tags("high", "4h"), disks=[("Premium_LRS", 64), ("Premium_LRS", 1024)], zone="1",
                    expect={"health": P, "rpo": P, "ha": P})
    shopdb02 = e.vm("apps", "rg-shop-data-weu", "shopdb02", "westeurope", os="Linux", size="Standard_E8s_v5",
                    tags=web_tags("high", "15m"), disks=[("Premium_LRS", 64), ("Premium_LRS", 1024)], zone="2",
                    expect={"health": F, "rpo": F, "ha": P})
    e.vm("apps", "rg-shop-data-weu", "shop-cache01", "westeurope", os="Linux", size="Standard_E4s_v5",
         tags=web_tags("standard"), disks=[("Premium_ZRS", 64), ("Premium_ZRS", 128)],
         expect={"zrs": F, "ha": F, "lrs": P})
    e.vm("apps", "rg-shop-data-weu", "shop-cache02", "westeurope", os="Linux", size="Standard_E4s_v5",
         tags=web_tags("standard"), disks=[("StandardSSD_ZRS", 64), ("Premium_ZRS", 128)], zone="2",
         expect={"zrs": F, "ha": P})
    cas_tags = lambda rpo=None: tags("cassandra", "high", rpo, owner="data-platform@fabrikam.com",
                                     cost_center="CC-5100")
    cas01 = e.vm("apps", "rg-cassandra-prod-eus", "cas01", "eastus", os="Linux", size="Standard_L8s_v3",
                 tags=cas_tags("24h"), disks=[("Premium_LRS", 30), ("Premium_LRS", 1024)], zone="1",
                 expect={"rpo": P, "ha": P, "health": P})
    cas02 = e.vm("apps", "rg-cassandra-prod-eus", "cas02", "eastus", os="Linux", size="Standard_L8s_v3",
                 tags=cas_tags("PT4H"), disks=[("Premium_LRS", 30), ("Premium_LRS", 1024)], zone="2",
                 expect={"rpo": F, "ha": P})
    cas03 = e.vm("apps", "rg-cassandra-prod-eus", "cas03", "eastus", os="Linux", size="Standard_L8s_v3",
                 tags=cas_tags(), disks=[("Premium_LRS", 30), ("UltraSSD_LRS", 1024)], zone="3",
                 expect={"health": P, "ha": P, "lrs": P})
    intra_tags = tags("intranet", "standard", owner="intranet-team@fabrikam.com", cost_center="CC-7100")
    intra01 = e.vm("apps", "rg-intranet-prod-uks", "intra01", "uksouth", os="Windows", size="Standard_D2s_v5",
                   tags=dict(intra_tags), disks=[("StandardSSD_LRS", 128)], avset="as-intranet",
                   expect={"ha": P, "health": P})
    intra02 = e.vm("apps", "rg-intranet-prod-uks", "intra02", "uksouth", os="Windows", size="Standard_D2s_v5",
                   tags=dict(intra_tags), disks=[("StandardSSD_LRS", 128)], avset="as-intranet",
                   expect={"ha": P})
    crm_tags = tags("crm", "standard", owner="sales-it@fabrikam.com", cost_center="CC-8100")
    crm_app01 = e.vm("apps", "rg-crm-prod-eus", "crm-app01", "eastus", os="Windows", size="Standard_D4s_v5",
                     tags=dict(crm_tags), disks=[("StandardSSD_LRS", 128), ("StandardSSD_LRS", 256)], avset="as-crm",
                     expect={"lrs": F, "ha": P})
    crm_app02 = e.vm("apps", "rg-crm-prod-eus", "crm-app02", "eastus", os="Windows", size="Standard_D4s_v5",
                     tags=dict(crm_tags), disks=[("StandardSSD_LRS", 128), ("StandardSSD_LRS", 256)], avset="as-crm",
                     expect={"lrs": F, "ha": P})
    mon01 = e.vm("apps", "rg-monitoring-weu", "mon01", "westeurope", os="Windows", size="Standard_D2s_v5",
                 tags=tags("monitoring", "low", owner="infra-ops@fabrikam.com", cost_center="CC-1000"),
                 disks=[("StandardSSD_LRS", 128)], agent=False, expect={"agent": F, "health": F})
    lob_tags = tags("lob-portal", "standard", owner="apps-team@fabrikam.com", cost_center="CC-6200")
    mig_app01 = e.vm("apps", "rg-migrated-weu", "mig-app01", "westeurope", os="Windows", size="Standard_D2s_v5",
                     tags=dict(lob_tags), disks=[("Standard_LRS", 128)], agent=None,
                     expect={"agent": U, "ha": F, "lrs": P})
    e.vm("apps", "rg-migrated-weu", "mig-app02", "westeurope", os="Windows", size="Standard_D2s_v5",
         tags=dict(lob_tags), disks=[("StandardSSD_LRS", 128)], agent=None,
         expect={"agent": U, "ha": F, "lrs": F})

    # ------------------------------------------------------------------ VMs: fabrikam-dev
    build_tags = lambda: tags("build", "low", owner="platform-team@fabrikam.com", cost_center="CC-9100", env="dev")
    gallery_ubuntu = {"id": arm_id("core", "rg-images-weu", "Microsoft.Compute/galleries",
                                   "gal_fabrikam/images/ubuntu2204-base/versions/2024.11.2")}
    e.vm("dev", "rg-build", "build01", "westeurope", os="Linux", size="Standard_D4ds_v5",
         tags=build_tags(), disks=[("Standard_LRS", 30)], ephemeral=True, image=gallery_ubuntu,
         created_days=20, expect={"ha": F})
    e.vm("dev", "rg-build", "build02", "westeurope", os="Linux", size="Standard_D4ds_v5",
         tags=build_tags(), disks=[("Standard_LRS", 30), ("Premium_ZRS", 256)], ephemeral=True,
         image=gallery_ubuntu, created_days=20, expect={"zrs": F, "ha": F})
    e.vm("dev", "rg-build", "vmss-buildagents_6f1c2a3b", "westeurope", os="Linux", size="Standard_D4s_v5",
         tags=build_tags(), disks=[("Standard_LRS", 128)], vmss="vmss-buildagents", image=gallery_ubuntu,
         created_days=3, expect={"lrs": F, "ha": P})
    e.vm("dev", "rg-build", "vmss-buildagents_91d0e4c7", "westeurope", os="Linux", size="Standard_D4s_v5",
         tags=build_tags(), disks=[("Standard_LRS", 128)], vmss="vmss-buildagents", image=gallery_ubuntu,
         created_days=3, expect={"lrs": F, "ha": P})
    dev_tags = lambda workload, rpo=None: tags(workload, "low", rpo, owner="erp-team@fabrikam.com",
                                               cost_center="CC-2100", env="dev")
    dev_erp01 = e.vm("dev", "rg-dev-erp-weu", "dev-erp01", "westeurope", os="Windows", size="Standard_B4ms",
                     tags=dev_tags("erp-dev"), disks=[("Standard_LRS", 128)], avset="as-dev-erp",
                     expect={"lrs": P, "health": P, "ha": P})
    dev_erp02 = e.vm("dev", "rg-dev-erp-weu", "dev-erp02", "westeurope", os="Windows", size="Standard_B4ms",
                     tags=dev_tags("erp-dev"), disks=[("Standard_LRS", 128)], avset="as-dev-erp",
                     expect={"lrs": P, "health": F, "ha": P})
    dev_tools01 = e.vm("dev", "rg-dev-erp-weu", "dev-tools01", "westeurope", os="Windows", size="Standard_B2ms",
                       tags=dev_tags("devtools", "1d"), disks=[("StandardSSD_LRS", 128)],
                       expect={"health": F, "rpo": F})
    dev_sql01 = e.vm("dev", "rg-dev-sql-weu", "dev-sql01", "westeurope", os="Windows", size="Standard_E4s_v5",
                     tags=tags(None, "low", owner="data-platform@fabrikam.com", cost_center="CC-5100", env="dev"),
                     disks=[("StandardSSD_LRS", 128), ("Standard_LRS", 512), ("Standard_LRS", 512)],
                     expect={"lrs": F, "coordinated": F})
    dev_app01 = e.vm("dev", "rg-dev-sql-weu", "dev-app01", "westeurope", os="Linux", size="Standard_D2s_v5",
                     tags=tags(None, "low", owner="data-platform@fabrikam.com", cost_center="CC-5100", env="dev"),
                     disks=[("Standard_LRS", 64), ("Standard_LRS", 128)],
                     expect={"lrs": F, "coordinated": P})
    dev_web01 = e.vm("dev", "rg-dev-web-neu", "dev-web01", "northeurope", os="Linux", size="Standard_B2s",
                     tags=tags("webshop-dev", "low", " 12H ", owner="web-team@fabrikam.com", cost_center="CC-6100",
                               env="dev"),
                     disks=[("StandardSSD_LRS", 64)], expect={"rpo": F, "health": P, "lrs": P})
    e.vm("dev", "rg-dev-web-neu", "dev-linux01", "northeurope", os="Linux", size="Standard_B2s",
         tags={"owner": "web-team@fabrikam.com", "cost-center": "CC-6100", "env": "dev"},
         disks=[("Standard_LRS", 64)], agent=False, expect={"agent": F, "lrs": F})
    qa_vms = [
        e.vm("dev", "rg-dev-test-neu", f"dev-test{n:02d}", "northeurope", os="Linux", size="Standard_B2s",
             tags=tags(None, "low", owner="qa-team@fabrikam.com", cost_center="CC-9200", env="test"),
             disks=[("StandardSSD_LRS", 64)], created_days=60 + n, expect={"lrs": P} if n == 1 else {})
        for n in range(1, 5)
    ]
    dev_scratch01 = e.vm("dev", "rg-dev-web-neu", "dev-scratch01", "northeurope", os="Linux", size="Standard_B1ms",
                         tags=None, disks=[("StandardSSD_LRS", 32)], expect={"lrs": P, "agent": P})

    # ------------------------------------------------------------------ backup items (AzureIaasVM)
    bi = e.backup_item
    bi(v_core_weu, erp_app01, "DefaultPolicy", rp_hours=20.2)
    bi(v_core_weu, erp_app02, "DefaultPolicy", rp_hours=20.1)
    bi(v_core_weu, erp_app03, "DefaultPolicy", rp_hours=30.5, last_status="Failed", last_backup_hours=4.5)
    bi(v_core_weu, erp_batch01, "DefaultPolicy", rp_hours=22.0)
    bi(v_core_weu, erp_web01, "DefaultPolicy", rp_hours=15.0, source="dataSourceInfo")
    bi(v_core_weu, erp_print01, "ERP-Legacy-Daily", rp_hours=52.0, policy_missing=True)
    bi(v_core_weu, erp_intf01, "ERP-Legacy-Daily", rp_hours=40.0, policy_missing=True)
    bi(v_core_weu, sqlprod01, "HourlyCritical", rp_hours=1.5, source_case=upper_rg)
    bi(v_core_weu, sqlprod02, "HourlyCritical", rp_hours=5.0)
    bi(v_legacy, payroll_app01, "DefaultPolicy", rp_hours=10.0)
    bi(v_legacy, hr_app01, "DefaultPolicy", state="ProtectionStopped", rp_hours=40 * 24)
    bi(v_core_weu, hr_app01, "DefaultPolicy", rp_hours=16.0)
    bi(v_core_weu, dc01, "DefaultPolicy", rp_hours=19.0)
    bi(v_core_neu, dc02, "DefaultPolicy", rp_hours=18.0, source_case=lower)
    bi(v_legacy, legacy_edi02, "DefaultPolicy", rp_hours=12.0)
    bi(v_legacy, legacy_app01, "DefaultPolicy", rp_hours=13.0)
    bi(v_legacy, legacy_sql01, "DefaultPolicy", rp_hours=11.0)
    bi(v_core_weu, jump01, "WeeklyMgmt", rp_hours=200.0)
    bi(v_core_neu, rpt_app01, "DefaultPolicy", rp_hours=21.0)
    bi(v_core_neu, rpt_db01, "DefaultPolicy", rp_hours=70.0, last_backup_hours=70.1)
    bi(v_apps_weu, web01_weu, "EnhancedPolicy-Daily", rp_hours=8.0)
    bi(v_apps_weu, web02_weu, "EnhancedPolicy-Daily", rp_hours=8.0)
    bi(v_apps_neu, web02_neu, "DefaultPolicy", rp_hours=9.0)
    bi(v_apps_neu, web03_neu, "DefaultPolicy", rp_hours=9.0)
    bi(v_apps_weu, shopdb01, "EnhancedHourly4h", rp_hours=14.0)
    bi(v_apps_weu, shopdb02, "EnhancedHourly4h", rp_hours=26.0)
    bi(v_apps_eus, cas01, "DefaultPolicy", rp_hours=20.0)
    bi(v_apps_eus, cas02, "DefaultPolicy", rp_hours=20.0)
    bi(v_apps_eus, cas03, "DefaultPolicy", state="IRPending", rp_hours=None)
    bi(v_apps_uks, intra01, "DefaultPolicy", rp_hours=17.0)
    bi(v_apps_uks, intra02, "DefaultPolicy", rp_hours=17.0)
    bi(v_apps_weu, mon01, "DefaultPolicy", state="ProtectionError", last_status="Failed", rp_hours=9 * 24,
       last_backup_hours=8.0)
    bi(v_apps_weu, mig_app01, "DefaultPolicy", rp_hours=9.0)
    bi(v_dev_weu, dev_erp01, "DefaultPolicy", rp_hours=23.0)
    bi(v_dev_weu, dev_erp02, "DefaultPolicy", state="ProtectionStopped", rp_hours=30 * 24)
    bi(v_dev_weu, dev_tools01, "WeeklyDev", rp_hours=400.0)
    bi(v_dev_neu, dev_web01, "DefaultPolicy", rp_hours=20.0)
    bi(v_dev_neu, dev_scratch01, "DefaultPolicy", rp_hours=20.0)
    for qa_vm in qa_vms:
        bi(v_dev_neu, qa_vm, "DefaultPolicy", rp_hours=19.5)
    bi(v_core_neu, pay_api01, "DefaultPolicy", rp_hours=19.0)
    bi(v_core_neu, pay_api02, "DefaultPolicy", rp_hours=19.0)
    bi(v_core_neu, pay_db01, "DefaultPolicy", rp_hours=20.0, source_case=upper_rg)
    bi(v_core_neu, pay_db02, "DefaultPolicy", rp_hours=20.0)
    # SQL databases inside VMs: carry the VM id, are not VM backups.
    e.sql_item(v_core_weu, sqlprod01, "FabrikamERP", "SQLHourlyLog")
    e.sql_item(v_core_weu, sqldwh01, "FabrikamDWH", "SQLHourlyLog")
    # Site Recovery replication.
    e.replicated_item(v_asr_core, payroll_app01, "Windows")
    e.replicated_item(v_asr_core, payroll_db01, "Windows")
    e.replicated_item(v_asr_apps, crm_app01, "Windows")
    e.replicated_item(v_asr_apps, crm_app02, "Windows")
    for policy_row in e.policies.values():
        policy_row["properties"]["protectedItemsCount"] = e.policy_counts.get(policy_row["id"], 0)

    # ------------------------------------------------------------------ availability sets
    def listed(vm: VM) -> str:  # availability sets list their VMs upper-cased
        return arm_id(vm.sub, vm.rg.upper(), "Microsoft.Compute/virtualMachines", vm.name.upper())

    e.availability_set("core", "rg-erp-prod-weu", "as-erp-app", "westeurope",
                       [listed(erp_app01), listed(erp_app02), listed(erp_app03)], expect={"avset": P})
    e.availability_set("core", "rg-erp-prod-weu", "as-sql-erp", "westeurope",
                       [listed(sqlprod01), listed(sqlprod02)], expect={"avset": P})
    # payroll-db01 joined after the list was captured: counted through its own reference.
    e.availability_set("core", "rg-payroll-prod-weu", "as-payroll", "westeurope", [listed(payroll_app01)],
                       expect={"avset": P})
    e.availability_set("core", "rg-legacy-weu", "as-legacy-ftp", "westeurope", [listed(legacy_ftp01)],
                       sku="Classic", expect={"avset": F})
    e.availability_set("core", "rg-mgmt-weu", "as-jump", "westeurope", [listed(jump01)], expect={"avset": F})
    # The same VM listed twice in two casings is still one VM.
    e.availability_set("core", "rg-reporting-prod-neu", "as-rpt-db", "northeurope",
                       [listed(rpt_db01), rpt_db01.id], expect={"avset": F})
    e.availability_set("core", "rg-payments-prod-neu", "as-pay-db", "northeurope",
                       [listed(pay_db01), listed(pay_db02)], expect={"avset": P})
    e.availability_set("apps", "rg-web-prod-neu", "as-web-neu", "northeurope",
                       [listed(web02_neu), listed(web03_neu)], expect={"avset": P})
    e.availability_set("apps", "rg-intranet-prod-uks", "as-intranet", "uksouth",
                       [listed(intra01), listed(intra02)], expect={"avset": P})
    e.availability_set("apps", "rg-crm-prod-eus", "as-crm", "eastus",
                       [listed(crm_app01), listed(crm_app02)], expect={"avset": P})
    e.availability_set("dev", "rg-dev-erp-weu", "as-dev-erp", "westeurope",
                       [listed(dev_erp01), listed(dev_erp02)], expect={"avset": P})
    e.availability_set("dev", "rg-dev-erp-weu", "as-dev-old", "westeurope", [], expect={"avset": F})

    # ------------------------------------------------------------------ unattached disks
    e.disk("core", "rg-erp-prod-weu", "erp-app-migration-temp", "westeurope", "Premium_LRS", 256,
           creation={"createOption": "Empty"}, created=ago(days=200))
    orphan = e.disk("dev", "rg-dev-sql-weu", "dev-sql-old-data01", "westeurope", "Standard_LRS", 512,
                    creation={"createOption": "Empty"}, created=ago(days=500))["id"]
    e.disk("apps", "rg-shop-data-weu", "shop-cache-spare01", "westeurope", "StandardSSD_ZRS", 128,
           creation={"createOption": "Empty"}, created=ago(days=90))

    # ------------------------------------------------------------------ snapshots
    snap = e.snapshot
    # Judged only when taken of a disk attached to a VM without backup.
    snap("core", "rg-erp-prod-weu", "sqlprod01-os-prepatch-20261115", "westeurope", sqlprod01.disk_ids[0],
         taken=ago(days=8, hours=2), size=128)  # VM has a backup item: not judged
    snap("dev", "rg-dev-sql-weu", "dev-sql-old-data01-final", "westeurope", orphan,
         taken=ago(days=120), size=512)  # unattached disk: not judged
    # payroll-db01: coordinated pair (2 minutes apart), both copied to North Europe.
    p_os = snap("core", "rg-payroll-prod-weu", "payroll-db01-os-20261122", "westeurope",
                upper_rg(payroll_db01.disk_ids[0]), taken=ago(hours=26), size=128, expect={"snapshot": P})
    p_data = snap("core", "rg-payroll-prod-weu", "payroll-db01-data01-20261122", "westeurope",
                  payroll_db01.disk_ids[1], taken=ago(hours=25, minutes=58), size=512, expect={"snapshot": P})
    snap("core", "rg-payroll-dr-neu", "payroll-db01-os-20261122-neu", "northeurope", p_os.lower(),
         taken=ago(hours=25, minutes=40), size=128, create_option="CopyStart")
    snap("core", "rg-payroll-dr-neu", "payroll-db01-data01-20261122-neu", "northeurope", p_data,
         taken=ago(hours=25, minutes=38), size=512, create_option="CopyStart")
    # fs01: nightly data-disk snapshots, never copied.
    snap("core", "rg-fileserver-weu", "fs01-data01-20261122", "westeurope", fs01.disk_ids[1],
         taken=ago(hours=5), size=4096, expect={"snapshot": F})
    for night in range(1, 5):
        snap("core", "rg-fileserver-weu", f"fs01-data01-202611{22 - night:02d}", "westeurope", fs01.disk_ids[1],
             taken=ago(hours=5 + 24 * night), size=4096, expect={"snapshot": F})
    # rpt-app02: copied to West Europe, but the two disks were snapshotted 3 hours apart.
    r_os = snap("core", "rg-reporting-prod-neu", "rpt-app02-os-20261122", "northeurope", rpt_app02.disk_ids[0],
                taken=ago(hours=30), size=128, expect={"snapshot": P})
    r_data = snap("core", "rg-reporting-prod-neu", "rpt-app02-data01-20261122", "northeurope",
                  rpt_app02.disk_ids[1], taken=ago(hours=27), size=256, expect={"snapshot": P})
    snap("core", "rg-reporting-dr-weu", "rpt-app02-os-20261122-weu", "westeurope", r_os,
         taken=ago(hours=29, minutes=30), size=128, create_option="CopyStart")
    snap("core", "rg-reporting-dr-weu", "rpt-app02-data01-20261122-weu", "westeurope", r_data,
         taken=ago(hours=26, minutes=30), size=256, create_option="CopyStart")
    # dev-sql01: three disks; the latest snapshots are not one restore point (3 h apart); no copies.
    snap("dev", "rg-dev-sql-weu", "dev-sql01-os-20261122", "westeurope", dev_sql01.disk_ids[0],
         taken=ago(hours=10), size=128, expect={"snapshot": F})
    snap("dev", "rg-dev-sql-weu", "dev-sql01-data01-20261122", "westeurope", dev_sql01.disk_ids[1],
         taken=ago(hours=9, minutes=59), size=512, expect={"snapshot": F})
    snap("dev", "rg-dev-sql-weu", "dev-sql01-data02-20261122", "westeurope", dev_sql01.disk_ids[2],
         taken=ago(hours=7), size=512, expect={"snapshot": F})
    # dev-app01: latest snapshots 2 minutes apart (an older OS snapshot must not be compared).
    snap("dev", "rg-dev-sql-weu", "dev-app01-os-20261120", "westeurope", dev_app01.disk_ids[0],
         taken=ago(hours=72), size=64, expect={"snapshot": F})
    a_os = snap("dev", "rg-dev-sql-weu", "dev-app01-os-20261123", "westeurope", dev_app01.disk_ids[0],
                taken=ago(hours=6), size=64, expect={"snapshot": P})
    snap("dev", "rg-dev-sql-weu", "dev-app01-data01-20261123", "westeurope", dev_app01.disk_ids[1],
         taken=ago(hours=5, minutes=58), size=128, expect={"snapshot": F})
    snap("dev", "rg-dev-dr-neu", "dev-app01-os-20261123-neu", "northeurope", a_os,
         taken=ago(hours=5, minutes=30), size=64, create_option="CopyStart")

    # ------------------------------------------------------------------ managed images
    blob = lambda account, path: {"blobUri": f"https://{account}.blob.core.windows.net/{path}"}
    e.image("core", "rg-images-weu", "img-win2012r2-base", "westeurope",
            os_disk=blob("stfabrikamimgragrs", "images/win2012r2-base.vhd"), expect={"image": P})
    e.image("core", "rg-images-weu", "img-ubuntu1804-base", "westeurope", os="Linux",
            os_disk=blob("stfabrikamimgragrs", "images/ubuntu1804-base.vhd"), expect={"image": P})
    e.image("core", "rg-images-weu", "img-sql2016-base", "westeurope",
            os_disk=blob("stfabrikamimgragzrs", "images/sql2016-os.vhd"),
            data_disks=[blob("stfabrikamimgragrs", "images/sql2016-data.vhd")], expect={"image": P})
    e.image("core", "rg-images-weu", "img-legacy-ftp", "westeurope",
            os_disk=blob("stfabrikamlegacylrs", "images/legacy-ftp.vhd"), expect={"image": F})
    e.image("core", "rg-images-weu", "img-app-mixed", "westeurope",
            os_disk=blob("stfabrikamimgragrs", "images/app-os.vhd"),
            data_disks=[blob("stfabrikamimggrs", "images/app-data.vhd")], expect={"image": F})
    e.image("core", "rg-images-weu", "img-erp-app-2023", "westeurope",
            os_disk={"managedDisk": {"id": arm_id("core", "RG-ERP-PROD-WEU", "Microsoft.Compute/disks",
                                                  "erp-app-migration-temp")}}, expect={"image": F})
    e.image("apps", "rg-web-prod-weu", "img-web-2024", "westeurope", os="Linux",
            os_disk={"snapshot": {"id": arm_id("apps", "rg-web-prod-weu", "Microsoft.Compute/snapshots",
                                               "web-golden-20240301")}}, expect={"image": F})
    e.image("core", "rg-images-weu", "img-win2008-old", "westeurope",
            os_disk=blob("stfabrikamimg2016", "images/win2008r2.vhd"), expect={"image": U})

    # ------------------------------------------------------------------ compute gallery (the gallery and image
    # definitions are types the tool does not read; they are here because a real crawl returns them)
    gal_id = arm_id("core", "rg-images-weu", "Microsoft.Compute/galleries", "gal_fabrikam")
    e.add(row(id=gal_id, name="gal_fabrikam", type="microsoft.compute/galleries", location="westeurope",
              rg="rg-images-weu", sub="core",
              properties={"identifier": {"uniqueName": f"{SUBS['core']}-GAL_FABRIKAM"},
                          "provisioningState": "Succeeded",
                          "description": "Fabrikam golden images"},
              tags={"owner": "platform-team@fabrikam.com", "cost-center": "CC-1000"}))
    gallery_images = (("win2022-base", "Windows"), ("ubuntu2204-base", "Linux"), ("erp-app-image", "Windows"))
    for image_name, os_type in gallery_images:
        e.add(row(id=f"{gal_id}/images/{image_name}", name=image_name, type="microsoft.compute/galleries/images",
                  location="westeurope", rg="rg-images-weu", sub="core",
                  properties={"hyperVGeneration": "V2", "architecture": "x64", "osType": os_type,
                              "osState": "Generalized",
                              "identifier": {"publisher": "Fabrikam", "offer": image_name, "sku": "golden"},
                              "provisioningState": "Succeeded"},
                  tags=None))
    gv = e.gallery_version
    src = lambda name: arm_id("core", "rg-images-weu", "Microsoft.Compute/images", name)
    gv("core", "rg-images-weu", "gal_fabrikam", "win2022-base", "1.0.0", "westeurope",
       [("West Europe", 1, "Standard_LRS")], source_id=src("img-win2012r2-base"), published=ago(days=300),
       expect={"gallery": F})
    gv("core", "rg-images-weu", "gal_fabrikam", "win2022-base", "1.1.0", "westeurope",
       [("West Europe", 2, "Standard_ZRS"), ("North Europe", 1, "Standard_LRS")],
       source_id=src("img-win2012r2-base"), published=ago(days=120), expect={"gallery": P})
    # One region named twice, as display name and as region name.
    gv("core", "rg-images-weu", "gal_fabrikam", "ubuntu2204-base", "2024.11.1", "westeurope",
       [("westeurope", 1, "Standard_LRS"), ("West Europe", 1, "Standard_ZRS")],
       source_id=src("img-ubuntu1804-base"), published=ago(days=30), expect={"gallery": F})
    gv("core", "rg-images-weu", "gal_fabrikam", "ubuntu2204-base", "2024.11.2", "westeurope",
       [("West Europe", 3, "Standard_ZRS"), ("North Europe", 1, "Standard_LRS"), ("East US", 1, "Standard_LRS")],
       source_id=src("img-ubuntu1804-base"), published=ago(days=21), expect={"gallery": P})
    gv("core", "rg-images-weu", "gal_fabrikam", "erp-app-image", "3.2.0", "westeurope",
       [("North Europe", 1, "Standard_LRS")], source_id=src("img-erp-app-2023"), published=ago(days=200),
       expect={"gallery": F})
    gv("core", "rg-images-weu", "gal_fabrikam", "erp-app-image", "3.3.0", "westeurope",
       [("West Europe", 1, "Standard_LRS"), ("northeurope", 1, "Standard_LRS")],
       source_id=src("img-erp-app-2023"), published=ago(days=60), expect={"gallery": P})

    # The build agents' scale set (a type the tool does not read).
    e.add(row(id=arm_id("dev", "rg-build", "Microsoft.Compute/virtualMachineScaleSets", "vmss-buildagents"),
              name="vmss-buildagents", type="microsoft.compute/virtualmachinescalesets", location="westeurope",
              rg="rg-build", sub="dev", sku={"name": "Standard_D4s_v5", "tier": "Standard", "capacity": 2},
              properties={"orchestrationMode": "Flexible", "platformFaultDomainCount": 1,
                          "singlePlacementGroup": False, "provisioningState": "Succeeded",
                          "uniqueId": guid("vmss", "vmss-buildagents"),
                          "timeCreated": compute_time(ago(days=200), "vmss-buildagents")},
              tags=build_tags()))

    # ------------------------------------------------------------------ workloads (tag value, case-folded)
    for workload, outcome in (
        ("erp", P), ("payroll", P), ("payments", P), ("ad-ds", P), ("mgmt", P), ("webshop", P), ("crm", P),
        ("webshop-dev", P),
        ("archive", F), ("fileshare", F), ("edi", F), ("network", F), ("dwh", F), ("reporting", F),
        ("cassandra", F), ("monitoring", F), ("lob-portal", F), ("build", F), ("erp-dev", F), ("devtools", F),
        ("intranet", U),
    ):
        e.expect(f"workload:{workload}", {"workload": outcome})
    return e


# ====================================================================== output

def _ci_sorted(ids: list[str]) -> list[str]:
    return sorted(set(ids), key=lambda s: (s.lower(), s))


def render(e: Estate) -> tuple[str, str]:
    snapshot = {
        "dr_audit_snapshot": {
            "version": 1,
            "captured_at": CAPTURED_AT.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "scopes": [{"subscription_id": SUBS[k], "status": "complete"} for k in ("core", "apps", "dev")],
        },
        "data": e.rows,
    }
    expected = {
        rule: {outcome: _ci_sorted(ids) for outcome, ids in outcomes.items()}
        for rule, outcomes in e.expected.items()
    }
    return (json.dumps(snapshot, indent=1) + "\n", json.dumps(expected, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the Fabrikam demo estate and its expected findings.")
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent,
                        help="directory for estate.json and expected.json (default: next to this script)")
    args = parser.parse_args(argv)
    estate, expected = render(build())
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "estate.json").write_text(estate, encoding="utf-8", newline="\n")
    (args.out_dir / "expected.json").write_text(expected, encoding="utf-8", newline="\n")
    print(f"wrote {args.out_dir / 'estate.json'} and {args.out_dir / 'expected.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
