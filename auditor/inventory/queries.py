"""The Resource Graph queries, as data: one per table and type group.

They fetch raw rows only (type filter, top-level projection, `order by id` so that paging with
$skipToken is stable); every join stays local, so a snapshot is evidence that can be re-checked
offline. Several type groups per table give the crawler independent streams to overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.inventory.rows import (
    T_AVSET, T_DISK, T_GALLERY_IMAGE_VERSION, T_IMAGE, T_POLICY, T_PROTECTED_ITEM, T_REPLICATED_ITEM,
    T_SNAPSHOT, T_STORAGE, T_VAULT, T_VM,
)

# Bump when a query changes: snapshots record the version they were taken with.
QUERY_VERSION = 1
PROJECTION = ("id", "name", "type", "location", "resourceGroup", "subscriptionId", "tenantId", "kind", "managedBy",
              "sku", "zones", "tags", "properties", "plan", "identity")


@dataclass(frozen=True)
class Query:
    name: str
    table: str
    types: tuple[str, ...]

    @property
    def kql(self) -> str:
        types = ", ".join(f"'{kind}'" for kind in self.types)
        return f"{self.table} | where type in~ ({types}) | project {', '.join(PROJECTION)} | order by id asc"


QUERIES = (
    Query("virtual-machines", "Resources", (T_VM,)),
    Query("disks", "Resources", (T_DISK,)),
    Query("snapshots-and-images", "Resources", (T_SNAPSHOT, T_IMAGE, T_GALLERY_IMAGE_VERSION, T_AVSET)),
    Query("storage-and-vaults", "Resources", (T_STORAGE, T_VAULT)),
    Query("backup", "RecoveryServicesResources", (T_PROTECTED_ITEM, T_POLICY, T_REPLICATED_ITEM)),
)

SUBSCRIPTIONS_KQL = ("ResourceContainers | where type =~ 'microsoft.resources/subscriptions' "
                     "| project id, name, subscriptionId, tenantId, properties | order by id asc")
