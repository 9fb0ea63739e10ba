"""A deterministic synthetic Azure estate of any size, for the scale benchmarks.

    python benchmarks/synthetic.py --rows 1000000 --out /tmp/estate-1m.jsonl.gz
    python benchmarks/synthetic.py --rows 10000 --out /tmp/estate-10k.jsonl.gz --check   # every rule fires

The output is a dr-audit snapshot (gzip JSON Lines: a metadata line, then one Resource Graph row a
line), the same file `dr-audit crawl` writes, so `dr-audit check --snapshot` and the emulator
(`python -m auditor.emulator --estate FILE`) read it as they read a crawl.

Shapes follow the rows Resource Graph returns (the bundled demo estate, auditor/demo/estate.json, is
the reference): full `properties` (hardware, OS and network profiles, encryption, endpoints, retention
policies...), references in the casing Azure keeps (upper-cased resource groups in disk and
availability-set references, fully lower-cased ids of some Recovery Services rows, `dataSourceInfo`
instead of `sourceResourceId` on newer backup items), compute timestamps with +00:00 and backup ones
with Z, region display names in gallery target regions.

Proportions, per subscription of about 1,900 rows (1,000,000 rows = 526 subscriptions): 400 VMs
(21 %), ~780 managed disks (41 %), ~320 backup items (17 %), ~215 snapshots (11 %), ~45
availability sets, 40 storage accounts, ~30 Site Recovery items, 20 images, 20 gallery image
versions, 4 vaults with 4 policies each, and galleries, gallery image definitions and scale sets that
no rule reads. About one VM in five has no backup, and every rule of the catalog finds something:
about one finding per eight rows.

Everything derives from the seed and the subscription's number (no clock, no global randomness), so
the same arguments give the same bytes, and one subscription's rows do not depend on how many others
there are.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

CAPTURED_AT = datetime(2026, 11, 23, 6, 0, 0, tzinfo=timezone.utc)
TENANT = "8d1c4f2e-3b7a-4e59-a6c0-1f2e3d4c5b6a"
ROWS_PER_SUBSCRIPTION = 1900
_NAMESPACE = uuid.UUID("5c0ffee0-8a1b-4c2d-9e3f-a0b1c2d3e4f5")

# Regions with their geo-redundancy pair (auditor/data/region_pairs.json) and display name.
REGIONS = [
    ("westeurope", "northeurope", "West Europe"),
    ("northeurope", "westeurope", "North Europe"),
    ("eastus", "westus", "East US"),
    ("westus", "eastus", "West US"),
    ("eastus2", "centralus", "East US 2"),
    ("centralus", "eastus2", "Central US"),
    ("uksouth", "ukwest", "UK South"),
    ("southeastasia", "eastasia", "Southeast Asia"),
    ("eastasia", "southeastasia", "East Asia"),
    ("swedencentral", "swedensouth", "Sweden Central"),
    ("italynorth", None, "Italy North"),  # no pair
]
DISPLAY = {name: display for name, _, display in REGIONS}
PAIR = {name: pair for name, pair, _ in REGIONS} | {"ukwest": "uksouth", "swedensouth": "swedencentral"}
DISPLAY |= {"ukwest": "UK West", "swedensouth": "Sweden South"}
SHORT = {"westeurope": "weu", "northeurope": "neu", "eastus": "eus", "westus": "wus", "eastus2": "eus2",
         "centralus": "cus", "uksouth": "uks", "southeastasia": "sea", "eastasia": "ea", "swedencentral": "sdc",
         "italynorth": "itn", "ukwest": "ukw", "swedensouth": "sds"}

DISK_TIER = {"Standard_LRS": "Standard", "StandardSSD_LRS": "Standard", "StandardSSD_ZRS": "Standard",
             "Premium_LRS": "Premium", "Premium_ZRS": "Premium", "PremiumV2_LRS": "Premium", "UltraSSD_LRS": "Ultra"}
VM_SIZES = ["Standard_D2s_v5", "Standard_D4s_v5", "Standard_D8s_v5", "Standard_E4s_v5", "Standard_E8s_v5",
            "Standard_B2ms", "Standard_F4s_v2", "Standard_D16s_v5"]
WINDOWS_IMAGE = {"publisher": "MicrosoftWindowsServer", "offer": "WindowsServer",
                 "sku": "2022-datacenter-azure-edition", "version": "latest", "exactVersion": "20348.2849.241106"}
UBUNTU_IMAGE = {"publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts-gen2",
                "version": "latest", "exactVersion": "22.04.202411040"}
TIERS = ["critical", "high", "standard", "low"]
TEAMS = ["payments", "erp", "crm", "web", "data", "identity", "logistics", "hr", "analytics", "platform", "search",
         "billing", "devtools", "media", "iot"]


def guid(*parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(map(str, parts))))


def _fraction(text: str) -> int:
    return int(hashlib.md5(text.encode()).hexdigest()[:6], 16) % 10_000_000


def compute_time(moment: datetime, salt: str) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{_fraction(salt):07d}+00:00"


def backup_time(moment: datetime, salt: str) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{_fraction(salt):07d}Z"


def ago(**delta: float) -> datetime:
    return CAPTURED_AT - timedelta(**delta)


def row(*, id: str, name: str, type: str, location: str, rg: str, sub: str, kind: str = "", managed_by: str = "",
        sku: Any = None, plan: Any = None, properties: Any = None, tags: Any = None, identity: Any = None,
        zones: Any = None) -> dict[str, Any]:
    """One Resource Graph row, keys in the order Resource Graph returns them."""
    return {"id": id, "name": name, "type": type, "tenantId": TENANT, "kind": kind, "location": location,
            "resourceGroup": rg.lower(), "subscriptionId": sub, "managedBy": managed_by, "sku": sku, "plan": plan,
            "properties": properties, "tags": tags, "identity": identity, "zones": zones, "extendedLocation": None}


class Subscription:
    """One subscription's resources, generated in dependency order (accounts and vaults before the VMs
    that use them, VMs before their backup items and snapshots)."""

    def __init__(self, index: int, seed: int):
        self.index = index
        self.rng = random.Random(f"{seed}/{index}")
        self.id = guid("subscription", seed, index)
        self.tag = self.id[:6]
        rng = self.rng
        primary = REGIONS[index % len(REGIONS)][0]
        second = PAIR[primary] or "westeurope"
        if rng.random() < 0.3:  # some subscriptions use a non-paired second region
            second = rng.choice([name for name, _, _ in REGIONS if name not in (primary, second)])
        self.regions = [primary, second]
        self.rows: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ helpers

    def arm(self, rg: str, provider_type: str, name: str) -> str:
        return f"/subscriptions/{self.id}/resourceGroups/{rg}/providers/{provider_type}/{name}"

    def add(self, value: dict[str, Any]) -> dict[str, Any]:
        self.rows.append(value)
        return value

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    # ------------------------------------------------------------------ the subscription

    def generate(self) -> list[dict[str, Any]]:
        self.storage_accounts()
        self.vaults_and_policies()
        self.galleries()
        self.virtual_machines()
        self.images()
        return self.rows

    def storage_accounts(self) -> None:
        skus = (["Standard_LRS"] * 14 + ["Standard_GRS"] * 8 + ["Standard_RAGRS"] * 8 + ["Standard_ZRS"] * 4
                + ["Premium_LRS"] * 4 + ["Standard_GZRS"] * 2)
        self.accounts: dict[str, list[str]] = {}  # sku class -> account names
        for number, sku in enumerate(skus):
            region = self.regions[number % 2]
            name = f"st{self.tag}{number:03d}{sku.split('_')[1].lower()}"[:24]
            rg = f"rg-storage-{SHORT[region]}"
            kind = "StorageV2" if number % 7 else "Storage"
            self.accounts.setdefault(sku, []).append(name)
            props: dict[str, Any] = {
                "keyCreationTime": {"key1": compute_time(ago(days=400), name + "k1"),
                                    "key2": compute_time(ago(days=400), name + "k2")},
                "allowCrossTenantReplication": False, "privateEndpointConnections": [], "minimumTlsVersion": "TLS1_2",
                "allowBlobPublicAccess": False,
                "networkAcls": {"bypass": "AzureServices", "virtualNetworkRules": [], "ipRules": [],
                                "defaultAction": "Allow"},
                "supportsHttpsTrafficOnly": True,
                "encryption": {"services": {"file": {"keyType": "Account", "enabled": True},
                                            "blob": {"keyType": "Account", "enabled": True}},
                               "keySource": "Microsoft.Storage"},
                "accessTier": "Hot", "provisioningState": "Succeeded",
                "creationTime": compute_time(ago(days=400 + number), name),
                "primaryEndpoints": {f: f"https://{name}.{f}.core.windows.net/"
                                     for f in ("dfs", "web", "blob", "queue", "table", "file")},
                "primaryLocation": region, "statusOfPrimary": "available",
            }
            if "GRS" in sku or "GZRS" in sku:
                props["secondaryLocation"] = PAIR[region] or "westeurope"
                props["statusOfSecondary"] = "available"
            self.add(row(id=self.arm(rg, "Microsoft.Storage/storageAccounts", name), name=name,
                         type="microsoft.storage/storageaccounts", location=region, rg=rg, sub=self.id, kind=kind,
                         sku={"name": sku, "tier": "Premium" if sku.startswith("Premium") else "Standard"},
                         properties=props, tags={"owner": "platform@contoso.example", "cost-center": "CC-1000"}))

    def vaults_and_policies(self) -> None:
        """Two vaults per region; the first of each region is the one VMs there are backed up to."""
        self.vaults: dict[str, list[dict[str, Any]]] = {}
        for number in range(4):
            region = self.regions[number % 2]
            name = f"rsv-{self.tag}-{SHORT[region]}-{number}"
            rg = f"rg-backup-{SHORT[region]}"
            vault_id = self.arm(rg, "Microsoft.RecoveryServices/vaults", name)
            draw = self.rng.random()
            redundancy = ("GeoRedundant" if draw < 0.70 else "LocallyRedundant" if draw < 0.85
                          else "ZoneRedundant" if draw < 0.96 else None)
            crr = None if redundancy is None else (
                ("Enabled" if self.chance(0.55) else "Disabled" if self.chance(0.9) else None)
                if redundancy == "GeoRedundant" else "Disabled")
            draw = self.rng.random()
            soft_delete = ("Enabled" if draw < 0.86 else "AlwaysON" if draw < 0.92 else "Disabled" if draw < 0.98
                           else None)
            props: dict[str, Any] = {
                "provisioningState": "Succeeded", "privateEndpointStateForBackup": "None",
                "privateEndpointStateForSiteRecovery": "None", "publicNetworkAccess": "Enabled",
                "monitoringSettings": {"azureMonitorAlertSettings": {"alertsForAllJobFailures": "Enabled"},
                                       "classicAlertSettings": {"alertsForCriticalOperations": "Disabled"}},
            }
            if redundancy is not None:
                props["redundancySettings"] = {"standardTierStorageRedundancy": redundancy}
                if crr is not None:
                    props["redundancySettings"]["crossRegionRestore"] = crr
            if soft_delete is not None:
                props["securitySettings"] = {"softDeleteSettings": {
                    "softDeleteRetentionPeriodInDays": 14, "softDeleteState": soft_delete,
                    "enhancedSecurityState": "Disabled" if soft_delete == "Disabled" else "Enabled"},
                    "multiUserAuthorization": "Disabled"}
            props["secureScore"] = "Minimum" if soft_delete == "Disabled" else "Adequate"
            self.add(row(id=vault_id, name=name, type="microsoft.recoveryservices/vaults", location=region, rg=rg,
                         sub=self.id, sku={"name": "RS0", "tier": "Standard"}, properties=props,
                         tags={"owner": "platform@contoso.example", "cost-center": "CC-1000", "env": "prod"},
                         identity={"type": "SystemAssigned", "principalId": guid("msi", vault_id),
                                   "tenantId": TENANT}))
            vault = {"id": vault_id, "name": name, "rg": rg, "region": region,
                     "lower": self.chance(0.15)}  # Resource Graph lower-cases some vaults' child ids
            self.vaults.setdefault(region, []).append(vault)
            for policy, frequency, interval in (("DefaultPolicy", "Daily", None), ("EnhancedPolicy", "Daily", None),
                                                ("Hourly4h", "Hourly", 4), ("WeeklyPolicy", "Weekly", None)):
                self.policy(vault, policy, frequency, interval)

    def child_id(self, vault: dict[str, Any], suffix: str) -> str:
        value = vault["id"] + suffix
        return value.lower() if vault["lower"] else value

    def policy(self, vault: dict[str, Any], name: str, frequency: str, interval: int | None) -> None:
        run_at = "2026-01-01T22:30:00Z"
        enhanced = name != "DefaultPolicy" and name != "WeeklyPolicy"
        if frequency == "Hourly":
            schedule = {"schedulePolicyType": "SimpleSchedulePolicyV2", "scheduleRunFrequency": "Hourly",
                        "hourlySchedule": {"interval": interval, "scheduleWindowStartTime": "2026-01-01T08:00:00Z",
                                           "scheduleWindowDuration": 24 if self.chance(0.8) else 12}}
        elif frequency == "Weekly":
            schedule = {"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Weekly",
                        "scheduleRunDays": ["Sunday"], "scheduleRunTimes": [run_at], "scheduleWeeklyFrequency": 0}
        else:
            schedule = {"schedulePolicyType": "SimpleSchedulePolicyV2" if enhanced else "SimpleSchedulePolicy",
                        "scheduleRunFrequency": "Daily", "scheduleRunTimes": [run_at], "scheduleWeeklyFrequency": 0}
        props = {"backupManagementType": "AzureIaasVM", "policyType": "V2" if enhanced else "V1",
                 "instantRPDetails": {}, "schedulePolicy": schedule,
                 "retentionPolicy": {"retentionPolicyType": "LongTermRetentionPolicy",
                                     "dailySchedule": {"retentionTimes": [run_at],
                                                       "retentionDuration": {"count": 30, "durationType": "Days"}}},
                 "instantRpRetentionRangeInDays": 7 if enhanced else 2, "timeZone": "UTC", "protectedItemsCount": 0}
        self.add(row(id=self.child_id(vault, f"/backupPolicies/{name}"), name=name,
                     type="microsoft.recoveryservices/vaults/backuppolicies", location=vault["region"], rg=vault["rg"],
                     sub=self.id, properties=props))

    def galleries(self) -> None:
        """A gallery, its image definitions and versions (the versions are what a rule reads)."""
        region = self.regions[0]
        rg = f"rg-images-{SHORT[region]}"
        gallery = f"gal_{self.tag}"
        gallery_id = self.arm(rg, "Microsoft.Compute/galleries", gallery)
        self.add(row(id=gallery_id, name=gallery, type="microsoft.compute/galleries", location=region, rg=rg,
                     sub=self.id, properties={"identifier": {"uniqueName": f"{self.id}-{gallery.upper()}"},
                                              "provisioningState": "Succeeded"}))
        for definition in range(5):
            image = f"golden-{definition}"
            self.add(row(id=f"{gallery_id}/images/{image}", name=image, type="microsoft.compute/galleries/images",
                         location=region, rg=rg, sub=self.id,
                         properties={"hyperVGeneration": "V2", "architecture": "x64",
                                     "osType": "Windows" if definition % 2 else "Linux", "osState": "Generalized",
                                     "identifier": {"publisher": "Contoso", "offer": image, "sku": "golden"},
                                     "provisioningState": "Succeeded"}))
            for version in range(4):
                version_name = f"1.{version}.0"
                version_id = f"{gallery_id}/images/{image}/versions/{version_name}"
                draw = self.rng.random()
                if draw < 0.30:
                    targets = [region]
                elif draw < 0.97:
                    targets = [region, PAIR[region] or "westeurope"] + (["eastus2"] if draw > 0.8 else [])
                else:
                    targets = None  # a row without targetRegions: unknown
                profile: dict[str, Any] = {"replicaCount": 1, "excludeFromLatest": False,
                                           "publishedDate": compute_time(ago(days=30 * (4 - version)), version_id),
                                           "storageAccountType": "Standard_LRS"}
                if targets is not None:
                    profile["targetRegions"] = [{"name": DISPLAY.get(t, t), "regionalReplicaCount": 1,
                                                 "storageAccountType": "Standard_LRS"} for t in targets]
                self.add(row(id=version_id, name=version_name, type="microsoft.compute/galleries/images/versions",
                             location=region, rg=rg, sub=self.id, properties={
                                 "publishingProfile": profile,
                                 "storageProfile": {"source": {"id": f"{gallery_id}/images/{image}"},
                                                    "osDiskImage": {"sizeInGB": 127, "hostCaching": "ReadWrite"}},
                                 "safetyProfile": {"reportedForPolicyViolation": False},
                                 "provisioningState": "Succeeded"}))

    # ------------------------------------------------------------------ VMs and what hangs off them

    def virtual_machines(self) -> None:
        rng = self.rng
        self.disk_ids: list[tuple[str, str, int]] = []  # (disk id, region, size) for images and snapshots
        workloads = []
        for number in range(40):
            team = TEAMS[(self.index + number) % len(TEAMS)]
            tier = rng.choices(TIERS, weights=[10, 25, 45, 20])[0]
            # Most workloads live in one region; some span the pair (and so are not single-region).
            spread = rng.random() < 0.35
            workloads.append({"name": f"{team}-{self.tag}-{number:02d}", "tier": tier, "spread": spread,
                              "region": self.regions[number % 2]})
        scale_sets = []
        for number in range(2):
            region = self.regions[number]
            name = f"vmss-{self.tag}-{number}"
            rg = f"rg-compute-{SHORT[region]}"
            scale_sets.append(self.arm(rg.upper(), "Microsoft.Compute/virtualMachineScaleSets", name))
            self.add(row(id=self.arm(rg, "Microsoft.Compute/virtualMachineScaleSets", name), name=name,
                         type="microsoft.compute/virtualmachinescalesets", location=region, rg=rg, sub=self.id,
                         sku={"name": "Standard_D4s_v5", "tier": "Standard", "capacity": 2},
                         properties={"orchestrationMode": "Flexible", "platformFaultDomainCount": 1,
                                     "provisioningState": "Succeeded", "uniqueId": guid("vmss", self.id, number)}))
        vms = []
        avset_members: dict[str, list[str]] = {}
        avset_region: dict[str, str] = {}
        for number in range(400):
            workload = workloads[number // 10] if number % 10 < 9 else None  # one VM in ten untagged
            region = (workload["region"] if workload and not (workload["spread"] and number % 2)
                      else self.regions[(number // 10 + 1) % 2] if workload else self.regions[number % 2])
            # Placement is decided per block of three neighbouring VMs (the same tier of an application):
            # an availability set of the three (one set in ten keeps a single VM), zones, or a scale set.
            block = number // 3
            placement = random.Random(f"{self.id}/{block}").random()
            avset = zone = vmss = None
            if placement < 0.34:
                if placement < 0.034 and number % 3:
                    avset = None
                else:
                    avset = f"as-{self.tag}-{block}"
                    avset_members.setdefault(avset, [])
                    avset_region[avset] = region
            elif placement < 0.80:
                zone = str(1 + number % 3)
            elif placement < 0.86:
                vmss = scale_sets[0 if region == self.regions[0] else 1]
            vm = self.vm(number, region, workload, avset, zone, vmss)
            if avset:
                avset_members[avset].append(vm["ref"])
            vms.append(vm)
        for name, members in avset_members.items():
            region = avset_region[name]
            rg = f"rg-compute-{SHORT[region]}"
            self.add(row(id=self.arm(rg, "Microsoft.Compute/availabilitySets", name), name=name,
                         type="microsoft.compute/availabilitysets", location=region, rg=rg, sub=self.id,
                         sku={"name": "Aligned"},
                         properties={"platformUpdateDomainCount": 5, "platformFaultDomainCount": 2,
                                     "virtualMachines": [{"id": member.upper()} for member in members]},
                         tags={"owner": "platform@contoso.example", "cost-center": "CC-1000"}))
        for vm in vms:
            self.protection(vm)
        for vm in vms:
            self.snapshots(vm)

    def vm(self, number: int, region: str, workload: dict[str, Any] | None, avset: str | None, zone: str | None,
           vmss: str | None) -> dict[str, Any]:
        rng = self.rng
        name = f"vm-{(workload or {}).get('name', 'misc-' + self.tag)}-{number:03d}"
        rg = f"rg-{(workload or {}).get('name', 'misc-' + self.tag)}-{SHORT[region]}"
        vm_id = self.arm(rg, "Microsoft.Compute/virtualMachines", name)
        ref_rg = rg.upper() if self.index % 3 == 0 else rg  # references keep the casing of the template
        windows = rng.random() < 0.45
        os_name = "Windows" if windows else "Linux"
        created = ago(days=30 + (number * 7 + self.index) % 900)
        draw = rng.random()
        sku = ("Premium_LRS" if draw < 0.52 else "StandardSSD_LRS" if draw < 0.72 else "Standard_LRS" if draw < 0.78
               else "Premium_ZRS" if draw < 0.90 else "StandardSSD_ZRS" if draw < 0.97 else "PremiumV2_LRS")
        data_count = rng.choices([0, 1, 2, 3], weights=[30, 45, 20, 5])[0]
        kind = rng.random()
        unmanaged = kind < 0.012
        specialized = 0.012 <= kind < 0.022  # created from an attached OS disk: no osProfile
        ephemeral = 0.022 <= kind < 0.04 and not unmanaged
        missing_disk = 0.04 <= kind < 0.045  # a data disk the inventory lacks (another scope, deleted...)
        agent = not (0.045 <= kind < 0.055)
        tags: dict[str, str] = {}
        if workload:
            tags["workload"] = workload["name"] if number % 17 else workload["name"].upper()  # tag values vary in case
            tags["dr-tier"] = workload["tier"]
        rpo = None
        if rng.random() < 0.2:
            rpo = rng.choices(["24h", "1d", "4h", "PT12H", "8h", "P1D", "asap"], weights=[30, 15, 20, 10, 10, 10, 2])[0]
            tags["dr-rpo"] = rpo
        tags["owner"] = f"{(workload or {'name': 'ops'})['name'].split('-')[0]}@contoso.example"
        tags["cost-center"] = f"CC-{1000 + number % 40}"
        tags["env"] = "prod" if workload and workload["tier"] in ("critical", "high") else "dev"
        disks: list[tuple[str, int, str]] = []  # (row id, size, sku) of managed disks with rows
        os_size = 128 if windows else 64
        if unmanaged:
            account_sku = rng.choice(["Standard_LRS", "Standard_GRS", "Standard_RAGRS", "missing"])
            if account_sku == "missing":
                account = f"stgone{self.tag}{number:03d}"
            else:
                account = self.accounts[account_sku][number % len(self.accounts[account_sku])]
            os_disk: dict[str, Any] = {"osType": os_name, "name": f"{name}-os", "createOption": "FromImage",
                                       "vhd": {"uri": f"https://{account}.blob.core.windows.net/vhds/{name}-os.vhd"},
                                       "caching": "ReadWrite", "diskSizeGB": os_size}
            data_disks = [{"lun": lun, "name": f"{name}-data{lun:02d}", "createOption": "Empty",
                           "vhd": {"uri": f"https://{account}.blob.core.windows.net/vhds/{name}-data{lun:02d}.vhd"},
                           "caching": "None", "diskSizeGB": 256, "toBeDetached": False} for lun in range(data_count)]
        else:
            os_disk_name = f"{name}_OsDisk_1_{guid('osdisk', vm_id).replace('-', '')}"
            os_ref = self.arm(ref_rg, "Microsoft.Compute/disks", os_disk_name)
            if ephemeral:
                os_disk = {"osType": os_name, "diffDiskSettings": {"option": "Local", "placement": "ResourceDisk"},
                           "name": os_disk_name, "createOption": "FromImage", "caching": "ReadOnly",
                           "managedDisk": {"storageAccountType": "Standard_LRS", "id": os_ref},
                           "deleteOption": "Delete", "diskSizeGB": os_size}
            else:
                os_disk = {"osType": os_name, "name": os_disk_name,
                           "createOption": "Attach" if specialized else "FromImage", "caching": "ReadWrite",
                           "managedDisk": {"storageAccountType": sku, "id": os_ref}, "deleteOption": "Detach",
                           "diskSizeGB": os_size}
                disk_id = self.arm(rg, "Microsoft.Compute/disks", os_disk_name)
                self.disk(disk_id, os_disk_name, rg, region, sku, os_size, vm_id, zone, os_name, specialized, created)
                disks.append((disk_id, os_size, sku))
            data_disks = []
            for lun in range(data_count):
                disk_name = f"{name}-data{lun:02d}"
                size = rng.choice([128, 256, 512, 1024, 2048])
                ref = self.arm(ref_rg, "Microsoft.Compute/disks", disk_name)
                data_disks.append({"lun": lun, "name": disk_name, "createOption": "Empty",
                                   "caching": "ReadOnly" if sku.startswith("Premium") else "None",
                                   "writeAcceleratorEnabled": False,
                                   "managedDisk": {"storageAccountType": sku, "id": ref},
                                   "deleteOption": "Detach", "diskSizeGB": size, "toBeDetached": False})
                if missing_disk and lun == data_count - 1:
                    continue
                disk_id = self.arm(rg, "Microsoft.Compute/disks", disk_name)
                self.disk(disk_id, disk_name, rg, region, sku, size, vm_id, zone, None, False, created)
                disks.append((disk_id, size, sku))
            if missing_disk and not data_count:
                disk_name = f"{name}-data00"
                data_disks.append({"lun": 0, "name": disk_name, "createOption": "Attach",
                                   "managedDisk": {"id": self.arm(ref_rg.upper(), "Microsoft.Compute/disks", disk_name)},
                                   "diskSizeGB": 512, "toBeDetached": False})
        storage: dict[str, Any] = {}
        if not specialized:
            storage["imageReference"] = WINDOWS_IMAGE if windows else UBUNTU_IMAGE
        storage["osDisk"] = os_disk
        storage["dataDisks"] = data_disks
        if not unmanaged:
            storage["diskControllerType"] = "SCSI"
        props: dict[str, Any] = {"vmId": guid("vmid", vm_id), "hardwareProfile": {"vmSize": rng.choice(VM_SIZES)},
                                 "storageProfile": storage}
        if not specialized:
            computer = name.replace("_", "")[-15:]
            if windows:
                props["osProfile"] = {
                    "computerName": computer, "adminUsername": "azureadmin",
                    "windowsConfiguration": {"provisionVMAgent": agent, "enableAutomaticUpdates": True,
                                             "patchSettings": {"patchMode": "AutomaticByOS",
                                                               "assessmentMode": "ImageDefault"}},
                    "secrets": [], "allowExtensionOperations": agent, "requireGuestProvisionSignal": True}
            else:
                props["osProfile"] = {
                    "computerName": computer, "adminUsername": "azureadmin",
                    "linuxConfiguration": {
                        "disablePasswordAuthentication": True,
                        "ssh": {"publicKeys": [{"path": "/home/azureadmin/.ssh/authorized_keys",
                                                "keyData": "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABSyntheticKeyOnly azureadmin"}]},
                        "provisionVMAgent": agent,
                        "patchSettings": {"patchMode": "ImageDefault", "assessmentMode": "ImageDefault"}},
                    "secrets": [], "allowExtensionOperations": agent, "requireGuestProvisionSignal": True}
        props["networkProfile"] = {"networkInterfaces": [
            {"id": self.arm(ref_rg, "Microsoft.Network/networkInterfaces", f"{name}-nic01")}]}
        props["diagnosticsProfile"] = {"bootDiagnostics": {"enabled": True}}
        if avset:
            props["availabilitySet"] = {"id": self.arm(ref_rg, "Microsoft.Compute/availabilitySets", avset.upper())}
        if vmss:
            props["virtualMachineScaleSet"] = {"id": vmss}
        if windows:
            props["licenseType"] = "Windows_Server"
        props["provisioningState"] = "Succeeded"
        props["timeCreated"] = compute_time(created, vm_id)
        props["extended"] = {"instanceView": {
            "computerName": name[-15:], "osName": "Windows Server 2022 Datacenter Azure Edition" if windows else "ubuntu",
            "osVersion": "10.0.20348.2849" if windows else "22.04", "hyperVGeneration": "V2",
            "powerState": {"code": "PowerState/running", "level": "Info", "displayStatus": "VM running"}}}
        self.add(row(id=vm_id, name=name, type="microsoft.compute/virtualmachines", location=region, rg=rg,
                     sub=self.id, properties=props, tags=tags, zones=[zone] if zone else None))
        self.disk_ids.extend((disk_id, region, size) for disk_id, size, _ in disks)
        return {"id": vm_id, "ref": self.arm(ref_rg, "Microsoft.Compute/virtualMachines", name), "name": name,
                "rg": rg, "region": region, "disks": disks, "rpo": rpo, "windows": windows,
                "tier": workload["tier"] if workload else None, "unmanaged": unmanaged}

    def disk(self, disk_id: str, name: str, rg: str, region: str, sku: str, size: int, vm_id: str, zone: str | None,
             os_type: str | None, specialized: bool, created: datetime) -> None:
        props: dict[str, Any] = {}
        if os_type:
            props["osType"] = os_type
            props["hyperVGeneration"] = "V2"
            props["creationData"] = ({"createOption": "Attach"} if specialized else {
                "createOption": "FromImage", "imageReference": {"id": (
                    f"/Subscriptions/{self.id}/Providers/Microsoft.Compute/Locations/{region}/Publishers/"
                    "MicrosoftWindowsServer/ArtifactTypes/VMImage/Offers/WindowsServer/Skus/"
                    "2022-datacenter-azure-edition/Versions/20348.2849.241106")}})
        else:
            props["creationData"] = {"createOption": "Empty"}
        props["diskSizeGB"] = size
        if sku == "PremiumV2_LRS":
            props["diskIOPSReadWrite"] = 3000
            props["diskMBpsReadWrite"] = 125
        props["encryption"] = {"type": "EncryptionAtRestWithPlatformKey"}
        props["networkAccessPolicy"] = "AllowAll"
        props["publicNetworkAccess"] = "Enabled"
        props["timeCreated"] = compute_time(created, disk_id)
        props["provisioningState"] = "Succeeded"
        props["diskState"] = "Attached"
        props["diskSizeBytes"] = size * 1024 ** 3
        props["uniqueId"] = guid("unique", disk_id)
        self.add(row(id=disk_id, name=name, type="microsoft.compute/disks", location=region, rg=rg, sub=self.id,
                     managed_by=vm_id, sku={"name": sku, "tier": DISK_TIER[sku]}, properties=props,
                     zones=[zone] if zone else None))

    def protection(self, vm: dict[str, Any]) -> None:
        """Backup for three VMs in four (critical and high tiers more often), Site Recovery for some."""
        rng = self.rng
        share = {"critical": 0.97, "high": 0.92, "standard": 0.80, "low": 0.65, None: 0.7}[vm["tier"]]
        if vm["unmanaged"]:
            share = 0.4
        if rng.random() < share:
            vault = self.vaults[vm["region"]][0]
            policy = "DefaultPolicy"
            if vm["rpo"] in ("4h", "8h", "PT12H"):
                policy = "Hourly4h" if rng.random() < 0.5 else "DefaultPolicy"  # half do not meet their RPO
            elif rng.random() < 0.1:
                policy = "EnhancedPolicy"
            elif rng.random() < 0.01:
                policy = "RetiredPolicy"  # deleted since: not in the inventory
            self.backup_item(vault, vm, policy)
        if vm["tier"] in ("critical", "high") and rng.random() < 0.35:
            target = PAIR[vm["region"]]
            if target in self.vaults:
                self.replicated_item(self.vaults[target][0], vm)

    def backup_item(self, vault: dict[str, Any], vm: dict[str, Any], policy: str) -> None:
        rng = self.rng
        container = f"iaasvmcontainerv2;{vm['rg']};{vm['name']}"
        item_name = f"VM;{container}"
        item_id = self.child_id(vault, f"/backupFabrics/Azure/protectionContainers/IaasVMContainer;{container}"
                                       f"/protectedItems/{item_name}")
        draw = rng.random()
        state = ("Protected" if draw < 0.965 else "ProtectionStopped" if draw < 0.98 else "ProtectionError"
                 if draw < 0.99 else "IRPending")
        draw = rng.random()
        last_status = "Failed" if draw < 0.02 else "Completed"
        age_hours = 72.0 + rng.random() * 100 if draw > 0.985 else 2.0 + rng.random() * 20
        if policy == "Hourly4h":
            age_hours = min(age_hours, 3.0) if draw <= 0.985 else age_hours
        props: dict[str, Any] = {
            "friendlyName": vm["name"], "protectionStatus": "Healthy", "protectionState": state,
            "healthStatus": "Passed", "protectedItemType": "Microsoft.Compute/virtualMachines",
            "backupManagementType": "AzureIaasVM", "workloadType": "VM", "containerName": container,
            "policyId": self.child_id(vault, f"/backupPolicies/{policy}"), "policyName": policy,
            "protectedItemDataId": str(_fraction(item_id) * 1000 + self.index),
            "isScheduledForDeferredDelete": False, "isRehydrate": False, "isArchiveEnabled": False,
        }
        if rng.random() < 0.85:
            props["virtualMachineId"] = vm["id"]
            props["sourceResourceId"] = vm["id"]
        else:  # newer rows name the data source only here
            props["dataSourceInfo"] = {"resourceID": vm["id"], "resourceName": vm["name"],
                                       "resourceType": "Microsoft.Compute/virtualMachines",
                                       "resourceLocation": vm["region"],
                                       "datasourceType": "Microsoft.Compute/virtualMachines"}
        if last_status == "Failed" or state == "ProtectionError":
            props["protectionStatus"] = "Unhealthy"
            props["healthStatus"] = "ActionRequired"
        if state == "IRPending":
            props["lastBackupStatus"] = ""
            props["extendedInfo"] = {"recoveryPointCount": 0, "policyInconsistent": False}
        else:
            point = ago(hours=age_hours)
            props["lastBackupStatus"] = last_status
            props["lastBackupTime"] = backup_time(point - timedelta(minutes=3), item_id + "lb")
            props["lastRecoveryPoint"] = backup_time(point, item_id + "rp")
            props["extendedInfo"] = {"oldestRecoveryPoint": backup_time(point - timedelta(days=29), item_id + "old"),
                                     "recoveryPointCount": 30, "policyInconsistent": False}
        self.add(row(id=item_id, name=item_name,
                     type="microsoft.recoveryservices/vaults/backupfabrics/protectioncontainers/protecteditems",
                     location=vault["region"], rg=vault["rg"], sub=self.id, properties=props))

    def replicated_item(self, vault: dict[str, Any], vm: dict[str, Any]) -> None:
        primary = vm["region"]
        fabric = f"asr-a2a-default-{primary}"
        name = guid("asr", vm["id"])
        item_id = self.child_id(vault, f"/replicationFabrics/{fabric}/replicationProtectionContainers/{fabric}-container"
                                       f"/replicationProtectedItems/{name}")
        props = {
            "friendlyName": vm["name"], "protectedItemType": "Microsoft.Compute/virtualMachines",
            "primaryFabricFriendlyName": DISPLAY[primary], "primaryFabricProvider": "Azure",
            "recoveryFabricFriendlyName": DISPLAY[vault["region"]],
            "recoveryFabricId": vault["id"] + f"/replicationFabrics/asr-a2a-default-{vault['region']}",
            "primaryProtectionContainerFriendlyName": f"{fabric}-container",
            "recoveryProtectionContainerFriendlyName": f"asr-a2a-default-{vault['region']}-container",
            "protectionState": "Protected", "protectionStateDescription": "Protected", "activeLocation": "Primary",
            "testFailoverState": "None", "allowedOperations": ["PlannedFailover", "UnplannedFailover",
                                                               "DisableProtection", "TestFailover"],
            "replicationHealth": "Normal", "failoverHealth": "Normal", "healthErrors": [],
            "policyId": vault["id"] + "/replicationPolicies/24-hour-retention-policy",
            "policyFriendlyName": "24-hour-retention-policy",
            "providerSpecificDetails": {
                "instanceType": "A2A", "fabricObjectId": vm["id"],
                "dataSourceInfo": {"resourceId": vm["id"], "resourceLocation": primary},
                "primaryFabricLocation": primary, "recoveryFabricLocation": vault["region"],
                "osType": "Windows" if vm["windows"] else "Linux", "multiVmGroupName": vm["name"],
                "vmProtectionState": "Protected", "lastHeartbeat": backup_time(ago(minutes=4), item_id + "hb"),
                "rpoInSeconds": 42, "recoveryAzureVMSize": "Standard_D4s_v5"},
        }
        self.add(row(id=item_id, name=name,
                     type="microsoft.recoveryservices/vaults/replicationfabrics/replicationprotectioncontainers/"
                          "replicationprotecteditems",
                     location=vault["region"], rg=vault["rg"], sub=self.id, properties=props))

    def snapshots(self, vm: dict[str, Any]) -> None:
        """Pre-patch snapshot runs for one VM in four: every disk, within minutes (or not); some copied
        to the paired region."""
        rng = self.rng
        if not vm["disks"] or rng.random() > 0.15:
            return
        rounds = 1 if rng.random() < 0.6 else 2
        spread_minutes = 45 if rng.random() < 0.12 else 2
        for run in range(rounds):
            taken = ago(days=1 + run * 7, hours=rng.random() * 4)
            for position, (disk_id, size, _) in enumerate(vm["disks"]):
                disk_name = disk_id.rsplit("/", 1)[-1]
                name = f"{disk_name[:60]}-snap-{run}"
                rg = f"rg-snapshots-{SHORT[vm['region']]}"
                snapshot_id = self.arm(rg, "Microsoft.Compute/snapshots", name)
                self.snapshot(snapshot_id, name, rg, vm["region"], disk_id, "Copy",
                              taken + timedelta(minutes=position * spread_minutes), size)
                pair = PAIR[vm["region"]]
                if pair and run == 0 and rng.random() < 0.5:
                    copy_name = name + "-dr"
                    copy_rg = f"rg-snapshots-{SHORT[pair]}"
                    self.snapshot(self.arm(copy_rg, "Microsoft.Compute/snapshots", copy_name), copy_name, copy_rg,
                                  pair, snapshot_id, "CopyStart", taken + timedelta(minutes=30), size)

    def snapshot(self, snapshot_id: str, name: str, rg: str, region: str, source: str, option: str,
                 taken: datetime, size: int) -> None:
        props: dict[str, Any] = {
            "creationData": {"createOption": option, "sourceResourceId": source,
                             "sourceUniqueId": guid("unique", source)},
            "diskSizeGB": size, "encryption": {"type": "EncryptionAtRestWithPlatformKey"}, "incremental": True,
            "networkAccessPolicy": "AllowAll", "publicNetworkAccess": "Enabled",
            "timeCreated": compute_time(taken, snapshot_id), "provisioningState": "Succeeded",
            "diskState": "Unattached", "diskSizeBytes": size * 1024 ** 3, "uniqueId": guid("unique", snapshot_id)}
        if option == "CopyStart":
            props["completionPercent"] = 100.0
        self.add(row(id=snapshot_id, name=name, type="microsoft.compute/snapshots", location=region, rg=rg,
                     sub=self.id, sku={"name": "Standard_ZRS" if option == "CopyStart" else "Standard_LRS",
                                       "tier": "Standard"},
                     properties=props, tags={"created-by": "snapshot-runbook", "owner": "ops@contoso.example"}))

    def images(self) -> None:
        rng = self.rng
        region = self.regions[0]
        rg = f"rg-images-{SHORT[region]}"
        for number in range(20):
            name = f"img-{self.tag}-{number:02d}"
            draw = rng.random()
            if draw < 0.20 and self.disk_ids:
                source = {"managedDisk": {"id": self.disk_ids[number * 7 % len(self.disk_ids)][0]}}
            elif draw < 0.30 and self.disk_ids:
                source = {"snapshot": {"id": self.arm(rg, "Microsoft.Compute/snapshots", f"{name}-source")}}
            else:
                sku = ("Standard_RAGRS" if draw < 0.80 else "Standard_LRS" if draw < 0.95 else "missing")
                account = (f"stimg{self.tag}gone" if sku == "missing"
                           else self.accounts[sku][number % len(self.accounts[sku])])
                source = {"blobUri": f"https://{account}.blob.core.windows.net/images/{name}.vhd"}
            props = {"storageProfile": {"osDisk": {"osType": "Windows", "osState": "Generalized", **source,
                                                   "caching": "ReadWrite", "storageAccountType": "Standard_LRS",
                                                   "diskSizeGB": 128},
                                        "dataDisks": [], "zoneResilient": False},
                     "provisioningState": "Succeeded", "hyperVGeneration": "V2"}
            self.add(row(id=self.arm(rg, "Microsoft.Compute/images", name), name=name,
                         type="microsoft.compute/images", location=region, rg=rg, sub=self.id, properties=props,
                         tags={"owner": "platform@contoso.example", "cost-center": "CC-1000"}))


def subscriptions_for(rows: int) -> int:
    return max(1, round(rows / ROWS_PER_SUBSCRIPTION))


def estate_rows(subscriptions: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    for index in range(subscriptions):
        yield from Subscription(index, seed).generate()


def metadata(subscriptions: int, seed: int = 0) -> dict[str, Any]:
    ids = [guid("subscription", seed, index) for index in range(subscriptions)]
    return {
        "version": 1,
        "captured_at": CAPTURED_AT.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tool": {"name": "benchmarks/synthetic.py", "seed": seed, "subscriptions": subscriptions},
        "scopes": [{"subscription_id": sub, "status": "complete"} for sub in ids],
        "emulator": {"tenant_id": TENANT,
                     "subscriptions": [{"id": sub, "name": f"contoso-{index:04d}", "tenantId": TENANT}
                                       for index, sub in enumerate(ids)]},
    }


def write_estate(path: Path, rows: int, seed: int = 0) -> int:
    """Write the snapshot (gzip level 6, as the crawler writes); returns the number of rows."""
    subscriptions = subscriptions_for(rows)
    count = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    # No name and mtime=0 in the gzip header: the file is the same byte for byte on every run.
    with open(temporary, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=6,
                                                     mtime=0) as out:
        out.write(json.dumps({"dr_audit_snapshot": metadata(subscriptions, seed)}, separators=(",", ":")).encode())
        out.write(b"\n")
        batch: list[str] = []
        for value in estate_rows(subscriptions, seed):
            batch.append(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
            count += 1
            if len(batch) >= 5000:
                out.write(("\n".join(batch) + "\n").encode())
                batch.clear()
        if batch:
            out.write(("\n".join(batch) + "\n").encode())
    temporary.replace(path)
    return count


def check_every_rule_fires(path: Path) -> dict[str, int]:
    """Audit the estate in process; every catalog rule must find something."""
    from auditor.engine.run import run_rules
    from auditor.inventory.snapshot import read_snapshot
    from auditor.inventory.tables import build_inventory
    from auditor.pipeline import load_rules, parse_as_of

    snapshot = read_snapshot(path)
    rules = load_rules()
    inventory = build_inventory(snapshot.rows, as_of=parse_as_of(snapshot.captured_at))
    results = run_rules(inventory, rules)
    return {result.rule.id: len(result.failing) for result in results} | {
        f"{result.rule.id} (unknown)": len(result.unknown) for result in results if len(result.unknown)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000, help="approximate number of rows (1,900 per subscription)")
    parser.add_argument("--out", type=Path, required=True, help="snapshot file to write (.jsonl.gz)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", action="store_true", help="then audit it and show findings per rule")
    args = parser.parse_args(argv)
    count = write_estate(args.out, args.rows, args.seed)
    print(f"wrote {args.out}: {count:,} rows in {subscriptions_for(args.rows)} subscriptions, "
          f"{args.out.stat().st_size / 1e6:.1f} MB")
    if args.check:
        found = check_every_rule_fires(args.out)
        for rule_id, number in sorted(found.items()):
            print(f"  {rule_id:<50} {number:>8,}")
        silent = [rule_id for rule_id, number in found.items() if number == 0]
        if silent:
            print(f"rules that found nothing: {', '.join(silent)}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
