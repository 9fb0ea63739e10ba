"""Recovery runbooks: per workload, the ordered steps (with az CLI and PowerShell commands, real names
filled in) to bring it back when its region is lost, and to revert it after data corruption.

Sources in the guidance: "Steps for Recovery" (restore from the vault's recovery points, to the
paired data center when the primary one is lost: cross-region restore), "Recovery from Snapshots"
(copy every disk of one coordinated restore point, create disks, recreate the VM from its template),
Scenarios 1-4. Commands are documentation for a person during an incident: the plan never runs them.
Every value from Azure is quoted for the shell it is shown in.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from typing import Any

from auditor.plan.powershell import ps_quote
from auditor.regions import paired_region

_DATABASE = re.compile(r"sql|db|ora|mongo|cassandra|cas\d|postgres|mysql|maria|redis|elastic", re.IGNORECASE)
_WEB = re.compile(r"web|fe\d|front|api|proxy|gw|nva|fw", re.IGNORECASE)


def sh(value: object) -> str:
    return shlex.quote(str(value))


def ps(value: object) -> str:
    return ps_quote(value)


def _slug(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return (slug[:limit].strip("-") or "workload")


def target_names(workload_key: str, name: str, region: str, paired: str) -> dict[str, str]:
    """Where a workload is restored: a resource group and a staging storage account (restores write
    the VM configuration and template there) in the paired region. Deterministic, valid names."""
    digest = hashlib.sha256(f"{workload_key}|{paired}".encode()).hexdigest()
    return {"resource_group": f"rg-{_slug(name)}-dr-{paired}",
            "storage_account": f"stdr{digest[:20]}"}


def restore_order(vms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Data first, then applications, then front ends (Scenario 1: the database must be available
    before the servers that use it); by name within each group."""
    def rank(vm: dict[str, Any]) -> tuple[int, str]:
        name = vm["name"] or ""
        return (0 if _DATABASE.search(name) else 2 if _WEB.search(name) else 1, name.lower())
    return sorted(vms, key=rank)


def build_runbook(workload: dict[str, Any], config: Any) -> dict[str, Any]:
    regions = []
    for region in workload["regions"]:
        members = restore_order([vm for vm in workload["vms"] if vm["location"] == region["name"]])
        paired = region["paired"] or paired_region(region["name"])
        regions.append(_region_runbook(workload, region["name"], paired, members))
    return {"regions": regions, "data_corruption": _data_corruption(workload)}


def _region_runbook(workload: dict[str, Any], region: str, paired: str | None,
                    members: list[dict[str, Any]]) -> dict[str, Any]:
    target = paired or "another region"
    names = target_names(workload["key"], workload["name"], region, target if paired else "other")
    others = [r["name"] for r in workload["regions"] if r["name"] != region]
    subscriptions = sorted({vm["subscription_id"] for vm in members if vm["subscription_id"]})
    first = [{
        "title": "Confirm the outage and declare the disaster",
        "text": (f"Check Azure Service Health for {region}: which services are affected and since when. Declare "
                 f"the disaster for {workload['name']} with its owner ({', '.join(workload['owners']) or 'no owner tag'})"
                 " and note the time: it bounds the data loss you report."
                 + (f" The workload also runs in {', '.join(others)}: scale that part out first, it keeps serving "
                    "while the rest is restored (Scenario 2)." if others else "")),
        "az": None, "powershell": None,
    }]
    if paired:
        az = []
        pwsh = []
        for subscription in subscriptions:
            az += [f"az group create --subscription {sh(subscription)} --name {sh(names['resource_group'])} "
                   f"--location {sh(paired)}",
                   f"az storage account create --subscription {sh(subscription)} --resource-group "
                   f"{sh(names['resource_group'])} --name {sh(names['storage_account'])} --location {sh(paired)} "
                   "--sku Standard_LRS --kind StorageV2 --min-tls-version TLS1_2 --allow-blob-public-access false"]
            pwsh += [f"Set-AzContext -Subscription {ps(subscription)}",
                     f"New-AzResourceGroup -Name {ps(names['resource_group'])} -Location {ps(paired)} -Force",
                     f"New-AzStorageAccount -ResourceGroupName {ps(names['resource_group'])} -Name "
                     f"{ps(names['storage_account'])} -Location {ps(paired)} -SkuName Standard_LRS -Kind StorageV2 "
                     "-MinimumTlsVersion TLS1_2 -AllowBlobPublicAccess $false"]
        first.append({
            "title": f"Prepare {paired}, the paired region",
            "text": (f"Restores land in resource group {names['resource_group']} in {paired}; the staging storage "
                     f"account {names['storage_account']} receives each VM's configuration and the template that "
                     f"recreates it. The virtual network, subnets, network security groups and DNS the VMs need in "
                     f"{paired} are not in the inventory: make sure they exist (ideally deployed ahead of time)."),
            "az": "\n".join(az), "powershell": "\n".join(pwsh)})
    order = ", ".join(vm["name"] for vm in members)
    first.append({"title": "Restore in this order",
                  "text": f"{order} (data first, then application servers, then front ends).",
                  "az": None, "powershell": None})
    steps = [_vm_step(vm, names, paired) for vm in members]
    verify = [{
        "title": "Verify and switch users over",
        "text": (f"Start the VMs in the order above, check that {workload['name']} works in {target}, then point "
                 "its DNS names, load balancers or Traffic Manager / Front Door profiles at the restored VMs and tell "
                 "its users the point in time the data was restored to."),
        "az": None, "powershell": None,
    }, {
        "title": f"Protect the restored VMs in {target}",
        "text": (f"The restored VMs have no backup yet: protect them in a GeoRedundant vault in {target}"
                 + (f" (its copies go to {paired_region(paired)})" if paired and paired_region(paired) else "")
                 + f". Plan the failback to {region} once it is healthy again."),
        "az": None, "powershell": None,
    }]
    return {"region": region, "paired": paired, "target": names, "first": first, "steps": steps, "verify": verify}


def _vm_step(vm: dict[str, Any], names: dict[str, str], paired: str | None) -> dict[str, Any]:
    path = vm["recovery"]["path"]
    backup = vm["backup"]
    target_rg, staging = names["resource_group"], names["storage_account"]
    step = {"vm": vm["name"], "vm_anchor": vm["anchor"], "path": path, "title": f"{vm['name']}: ",
            "text": vm["recovery"]["text"], "az": None, "powershell": None}
    if path in ("cross-region-restore", "geo-backup"):
        step["title"] += f"restore from vault {backup['vault']} in {paired}"
        step["text"] = (f"Restore the disks of the newest recovery point already replicated to {paired} into "
                        f"{target_rg}, then recreate {vm['name']} from the template the restore job writes to "
                        f"{staging}. For Scenario 4 (bad data), pick the last good point instead of the newest.")
        az, pwsh = [], []
        sub = backup["vault_subscription_id"] or vm["subscription_id"]
        vault_args = (f"--subscription {sh(sub)} --resource-group {sh(backup['vault_resource_group'])} "
                      f"--vault-name {sh(backup['vault'])}")
        item_args = f"--container-name {sh(backup['container'])} --item-name {sh(backup['item'])}"
        pwsh.append(f"Set-AzContext -Subscription {ps(sub)}")
        pwsh.append(f"$vault = Get-AzRecoveryServicesVault -ResourceGroupName {ps(backup['vault_resource_group'])} "
                    f"-Name {ps(backup['vault'])}")
        if path == "geo-backup":
            step["text"] += (". Enable cross-region restore now, before a disaster (it is possible with items "
                             "protected, and cannot be undone); until then this restore needs Microsoft to declare "
                             "the outage first.")
            az.append(f"az backup vault backup-properties set --subscription {sh(sub)} --resource-group "
                      f"{sh(backup['vault_resource_group'])} --name {sh(backup['vault'])} --cross-region-restore-flag True")
            pwsh.append("Set-AzRecoveryServicesBackupProperty -Vault $vault -EnableCrossRegionRestore")
        az += [
            f"# The newest recovery point of {vm['name']} already replicated to {paired}:",
            f"rp=$(az backup recoverypoint list {vault_args} {item_args} --backup-management-type AzureIaasVM "
            "--workload-type VM --use-secondary-region --query '[0].name' --output tsv)",
            f"job=$(az backup restore restore-disks {vault_args} {item_args} --rp-name \"$rp\" --storage-account "
            f"{sh(staging)} --target-resource-group {sh(target_rg)} --use-secondary-region --query name --output tsv)",
            "# Wait until the job has Completed; its details name the template that recreates the VM:",
            f"az backup job show {vault_args} --name \"$job\" --use-secondary-region --query properties.status --output tsv",
            f"uri=$(az backup job show {vault_args} --name \"$job\" --use-secondary-region --query "
            "'properties.extendedInfo.propertyBag.\"Template Blob Uri\"' --output tsv)",
            "container=$(basename \"$(dirname \"$uri\")\")",
            f"sas=$(az storage container generate-sas --account-name {sh(staging)} --name \"$container\" "
            "--permissions r --expiry \"$(date -u -d '+1 day' +%Y-%m-%dT%H:%MZ)\" --auth-mode login --as-user --output tsv)",
            f"# Deploy it into {target_rg}: the template asks for the VM name, virtual network and subnet in {paired}.",
            f"az deployment group create --subscription {sh(sub)} --resource-group {sh(target_rg)} "
            f"--name {sh('restore-' + _slug(vm['name'], 50))} --template-uri \"$uri?$sas\"",
        ]
        pwsh += [
            f"$item = Get-AzRecoveryServicesBackupItem -BackupManagementType AzureVM -WorkloadType AzureVM "
            f"-VaultId $vault.ID -UseSecondaryRegion | Where-Object {{ $_.Name -eq {ps(backup['item'])} }}",
            "$point = Get-AzRecoveryServicesBackupRecoveryPoint -Item $item -VaultId $vault.ID -UseSecondaryRegion | "
            "Sort-Object RecoveryPointTime -Descending | Select-Object -First 1",
            f"$job = Restore-AzRecoveryServicesBackupItem -RecoveryPoint $point -StorageAccountName {ps(staging)} "
            f"-StorageAccountResourceGroupName {ps(target_rg)} -TargetResourceGroupName {ps(target_rg)} "
            "-RestoreToSecondaryRegion -VaultId $vault.ID -VaultLocation $vault.Location",
            "# When the job has Completed, deploy the template it names (with a read SAS token):",
            "$details = Get-AzRecoveryServicesBackupJobDetail -JobId $job.JobId -VaultId $vault.ID -UseSecondaryRegion "
            "-VaultLocation $vault.Location",
            "$details.Properties['Template Blob Uri']",
        ]
        step["az"], step["powershell"] = "\n".join(az), "\n".join(pwsh)
    elif path == "site-recovery":
        replica = vm["site_recovery"]
        step["title"] += f"fail over with Site Recovery (vault {replica['vault']})"
        step["text"] = (f"In the portal: Recovery Services vault {replica['vault']} > Replicated items > {vm['name']} > "
                        "Failover, latest processed recovery point; check the VM, then Commit. The failover "
                        "creates the VM in the replication's target region and network.")
        step["powershell"] = "\n".join([
            f"$vault = Get-AzRecoveryServicesVault -ResourceGroupName {ps(replica['vault_resource_group'])} "
            f"-Name {ps(replica['vault'])}",
            "Set-AzRecoveryServicesAsrVaultContext -Vault $vault",
            "$item = Get-AzRecoveryServicesAsrFabric | Get-AzRecoveryServicesAsrProtectionContainer | "
            f"Get-AzRecoveryServicesAsrReplicationProtectedItem | Where-Object {{ $_.FriendlyName -eq {ps(vm['name'])} }}",
            "$job = Start-AzRecoveryServicesAsrUnplannedFailoverJob -ReplicationProtectedItem $item -Direction PrimaryToRecovery",
            "# After checking the VM:",
            "Start-AzRecoveryServicesAsrCommitFailoverJob -ReplicationProtectedItem $item",
        ])
    elif path == "snapshot-copies":
        snapshots = vm["snapshots"]
        region = snapshots["regions"][0] if snapshots["regions"] else paired
        step["title"] += f"rebuild from the snapshot copies in {', '.join(snapshots['regions'])}"
        step["text"] = ("Copy every disk of one coordinated restore point into new managed disks, then recreate the VM "
                        "from its template (or az vm create) with those disks attached. "
                        + ("" if snapshots["coordinated"] else
                           f"These copies were taken {snapshots['spread_minutes']:g} min apart: they are not one "
                           "consistent restore point, so check the data after the restore. "))
        az, pwsh = [], []
        sub = vm["subscription_id"]
        os_disk, data_disks = None, []
        for copy in snapshots["copies"]:
            new_name = f"{copy['disk']}-dr"
            az.append(f"az disk create --subscription {sh(copy['subscription_id'] or sub)} --resource-group "
                      f"{sh(target_rg)} --name {sh(new_name)} --location {sh(copy['location'])} --source {sh(copy['id'])}"
                      + (f" --sku {sh(copy['disk_sku'])}" if copy.get("disk_sku") else ""))
            pwsh += [f"$config = New-AzDiskConfig -Location {ps(copy['location'])} -CreateOption Copy "
                     f"-SourceResourceId {ps(copy['id'])}",
                     f"New-AzDisk -ResourceGroupName {ps(target_rg)} -DiskName {ps(new_name)} -Disk $config"]
            if copy["disk_role"] == "os":
                os_disk = new_name
            else:
                data_disks.append(new_name)
        os_flag = "--os-type " + sh(vm["os_type"] or "linux")
        az.append("# The size, network and other settings come from the VM's template; without one:")
        az.append(f"az vm create --subscription {sh(sub)} --resource-group {sh(target_rg)} --name {sh(vm['name'])} "
                  f"--location {sh(region)} --attach-os-disk {sh(os_disk or 'os-disk-dr')} {os_flag}"
                  + (f" --attach-data-disks {' '.join(sh(d) for d in data_disks)}" if data_disks else "")
                  + " --public-ip-address ''")
        pwsh.append("# Then deploy the VM's template (or New-AzVMConfig / Set-AzVMOSDisk -CreateOption Attach / "
                    "Add-AzVMDataDisk / New-AzVM) with these disks attached.")
        step["az"], step["powershell"] = "\n".join(az), "\n".join(pwsh)
    else:
        step["title"] += "no copy outside the region"
        step["text"] += (". After losing the region it has to be rebuilt from its image or template, with its data "
                         "restored from the application (a replica elsewhere) or recreated. Close the gaps listed "
                         "for it to get a restore path.")
    return step


def _data_corruption(workload: dict[str, Any]) -> list[dict[str, Any]]:
    """Scenario 4: revert to the last known good state, in the primary region."""
    steps = []
    for vm in restore_order(workload["vms"]):
        backup = vm["backup"]
        if not backup or not backup.get("last_recovery_point"):
            continue
        sub = backup["vault_subscription_id"] or vm["subscription_id"]
        vault_args = (f"--subscription {sh(sub)} --resource-group {sh(backup['vault_resource_group'])} "
                      f"--vault-name {sh(backup['vault'])}")
        item_args = f"--container-name {sh(backup['container'])} --item-name {sh(backup['item'])}"
        staging = target_names(workload["key"], workload["name"], vm["location"], vm["location"])["storage_account"]
        steps.append({
            "vm": vm["name"], "title": f"{vm['name']}: restore the last good recovery point from {backup['vault']}",
            "text": ("Revert the application first, then its data: list the recovery points, pick the newest one from "
                     f"before the bad change, and restore its disks next to the VM (resource group "
                     f"{vm['resource_group']}, through a staging storage account in {vm['location']} such as "
                     f"{staging}); swap them in once checked."),
            "az": "\n".join([
                f"az backup recoverypoint list {vault_args} {item_args} --backup-management-type AzureIaasVM "
                "--workload-type VM --output table",
                "rp=...   # the name of the newest recovery point from before the bad change",
                f"az backup restore restore-disks {vault_args} {item_args} --rp-name \"$rp\" --storage-account "
                f"{sh(staging)} --target-resource-group {sh(vm['resource_group'])}",
            ]),
            "powershell": "\n".join([
                f"$vault = Get-AzRecoveryServicesVault -ResourceGroupName {ps(backup['vault_resource_group'])} "
                f"-Name {ps(backup['vault'])}",
                f"$item = Get-AzRecoveryServicesBackupItem -BackupManagementType AzureVM -WorkloadType AzureVM "
                f"-VaultId $vault.ID | Where-Object {{ $_.Name -eq {ps(backup['item'])} }}",
                "Get-AzRecoveryServicesBackupRecoveryPoint -Item $item -VaultId $vault.ID | "
                "Select-Object RecoveryPointId, RecoveryPointTime",
            ]),
        })
    return steps
