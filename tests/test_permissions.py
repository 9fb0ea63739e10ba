"""The least-privilege role in docs/ lists exactly the read actions the tool uses: derived from every
request the emulator saw during full crawls at every scope kind, with --deep."""

from __future__ import annotations

import json
from pathlib import Path

from auditor.emulator import EmulatorSettings, EmulatorTransport, Estate
from auditor.emulator.app import EmulatorApp
from auditor.inventory.azure import StaticTokenCredential, resource_graph_client
from auditor.inventory.crawler import Crawler, CrawlSettings, Scope
from auditor.inventory.enrich import enrich
from auditor.inventory.snapshot import read_snapshot
from auditor.resources import demo_estate

ROLE = json.loads((Path(__file__).resolve().parent.parent / "docs" / "dr-audit-reader.role.json").read_text())
READ_ACTION_OF_TYPE = {
    "microsoft.compute/virtualmachines": "Microsoft.Compute/virtualMachines/read",
    "microsoft.compute/disks": "Microsoft.Compute/disks/read",
    "microsoft.compute/snapshots": "Microsoft.Compute/snapshots/read",
    "microsoft.compute/images": "Microsoft.Compute/images/read",
    "microsoft.compute/galleries/images/versions": "Microsoft.Compute/galleries/images/versions/read",
    "microsoft.compute/availabilitysets": "Microsoft.Compute/availabilitySets/read",
    "microsoft.storage/storageaccounts": "Microsoft.Storage/storageAccounts/read",
    "microsoft.recoveryservices/vaults": "Microsoft.RecoveryServices/vaults/read",
    "microsoft.recoveryservices/vaults/backupfabrics/protectioncontainers/protecteditems":
        "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/read",
    "microsoft.recoveryservices/vaults/backuppolicies": "Microsoft.RecoveryServices/vaults/backupPolicies/read",
    "microsoft.recoveryservices/vaults/replicationfabrics/replicationprotectioncontainers/replicationprotecteditems":
        "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/"
        "replicationProtectedItems/read",
    "microsoft.resources/subscriptions": "Microsoft.Resources/subscriptions/read",
}


def test_role_matches_the_actions_a_full_crawl_uses(tmp_path):
    snapshot = read_snapshot(demo_estate())
    subscriptions = sorted({row["subscriptionId"].lower() for row in snapshot.rows if row.get("subscriptionId")})
    estate = Estate(snapshot.rows, management_groups={"mg-fabrikam": subscriptions[:2]})
    app = EmulatorApp(estate, EmulatorSettings(quota_requests=1000))
    transport = EmulatorTransport(app)
    identity = StaticTokenCredential("t")
    client = resource_graph_client("https://management.azure.com", identity, transport=transport)

    def deep(needs):
        from azure.mgmt.compute import ComputeManagementClient
        from azure.mgmt.recoveryservices import RecoveryServicesClient

        return enrich(needs, lambda s: ComputeManagementClient(identity, s, transport=transport),
                      lambda s: RecoveryServicesClient(identity, s, transport=transport))

    for number, scope in enumerate((Scope(subscriptions=tuple(subscriptions)), Scope(management_groups=("mg-fabrikam",)),
                                    Scope(tenant=True))):
        Crawler(client, CrawlSettings()).crawl(scope, tmp_path / f"s{number}.jsonl.gz", deep=deep)

    stats = app.stats()
    used = {action for action, _scope in stats.actions}
    used |= {READ_ACTION_OF_TYPE[kind] for _table, kind in stats.queried}
    if any("/managementgroups/" in scope.lower() for _action, scope in stats.actions):
        used.add("Microsoft.Management/managementGroups/read")  # a query at management-group scope
    assert used == set(ROLE["Actions"])
    assert not ROLE["DataActions"] and not any(action.endswith(("/write", "/delete", "/action"))
                                               for action in ROLE["Actions"])
