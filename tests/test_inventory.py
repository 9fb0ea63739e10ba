"""The joins of spec.md "Joins", made once on lower-cased full ARM ids."""

from __future__ import annotations

from auditor.inventory.tables import blob_account_name, build_inventory, region
from conftest import SUB, vm_row


def _vm(inventory, name, rg="rg-app"):
    vms = inventory.vms
    return vms[(vms["name"] == name) & (vms["resource_group"] == rg)].iloc[0]


def test_same_named_vms_in_different_groups_stay_apart():
    rows = vm_row("web01", rg="rg-shop") + vm_row("web01", rg="rg-blog", disk_sku="Premium_ZRS") + [{
        "id": f"/subscriptions/{SUB}/resourceGroups/rg-bkp/providers/Microsoft.RecoveryServices/vaults/v/"
              "backupFabrics/Azure/protectionContainers/c/protectedItems/i",
        "type": "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems",
        "properties": {"backupManagementType": "AzureIaasVM", "protectionState": "Protected",
                       "sourceResourceId": f"/subscriptions/{SUB}/resourcegroups/RG-BLOG/providers/"
                                           "microsoft.compute/virtualmachines/WEB01"},
    }]
    inventory = build_inventory(rows)
    shop, blog = _vm(inventory, "web01", "rg-shop"), _vm(inventory, "web01", "rg-blog")
    assert (shop["backup_item_count"], shop["lrs_managed_disk_count"]) == (0, 1)
    assert (blog["backup_item_count"], blog["zrs_managed_disk_count"]) == (1, 1)
    assert blog["backup_vault_name"] == "v"


def test_vhd_storage_account_comes_from_the_blob_host():
    assert blob_account_name("https://fabvhds01.blob.core.windows.net/vhds/os.vhd") == "fabvhds01"
    assert blob_account_name("https://FabVhds01.blob.core.chinacloudapi.cn/vhds/os.vhd") == "fabvhds01"
    assert blob_account_name("https://example.com/os.vhd") is None
    assert blob_account_name("not a url") is None


def test_unmanaged_disks_join_their_storage_account_by_name():
    vm = vm_row("legacy01", disk_sku=None)[0]
    vm["properties"]["storageProfile"] = {
        "osDisk": {"name": "os", "vhd": {"uri": "https://fabgrs.blob.core.windows.net/vhds/os.vhd"}},
        "dataDisks": [{"lun": 0, "name": "d0", "vhd": {"uri": "https://fablrs.blob.core.windows.net/vhds/d0.vhd"}},
                      {"lun": 1, "name": "d1", "vhd": {"uri": "https://gone.blob.core.windows.net/vhds/d1.vhd"}}],
    }
    accounts = [{"id": f"/subscriptions/{SUB}/resourceGroups/rg-st/providers/Microsoft.Storage/storageAccounts/{name}",
                 "name": name, "type": "Microsoft.Storage/storageAccounts", "sku": {"name": sku}}
                for name, sku in (("FabGrs", "Standard_GRS"), ("fablrs", "Standard_LRS"))]
    row = _vm(build_inventory([vm] + accounts), "legacy01")
    assert (row["vhd_count"], row["vhd_geo_count"], row["vhd_local_count"], row["unknown_vhd_count"]) == (3, 1, 1, 1)


def test_regions_compare_without_case_or_spaces():
    assert region("West Europe") == region("westeurope") == "westeurope"


def test_unknown_types_duplicates_and_odd_field_types_are_tolerated():
    rows = vm_row("app01") + vm_row("app01") + [
        {"id": "/subscriptions/x/resourceGroups/r/providers/Microsoft.Web/sites/w", "type": "microsoft.web/sites"},
        {"id": f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/odd",
         "type": "MICROSOFT.COMPUTE/VIRTUALMACHINES", "sku": "Standard", "zones": "1", "tags": ["a", "b"],
         "properties": None},
    ]
    inventory = build_inventory(rows)
    assert sorted(inventory.vms["name"]) == ["app01", "odd"]
    assert inventory.resource_counts == {"microsoft.compute/virtualmachines": 2, "microsoft.compute/disks": 1}
    odd = _vm(inventory, "odd", "rg")
    assert odd["in_zone"] and odd["managed_disk_count"] == 0
