"""The estate an emulator serves: Resource Graph rows by table, subscriptions, management groups,
and the per-resource facts only the management APIs know (VM instance views, full vault properties).

Rows are kept as given (never copied or mutated) and indexed once by table, subscription and type,
so a query touches only the rows of the subscriptions and types it names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.inventory.snapshot import read_snapshot

RESOURCES = "Resources"
RECOVERY_SERVICES_RESOURCES = "RecoveryServicesResources"
RESOURCE_CONTAINERS = "ResourceContainers"
TABLES = (RESOURCES, RECOVERY_SERVICES_RESOURCES, RESOURCE_CONTAINERS)

SUBSCRIPTION_TYPE = "microsoft.resources/subscriptions"
VM_TYPE = "microsoft.compute/virtualmachines"
VAULT_TYPE = "microsoft.recoveryservices/vaults"
_ADDRESSABLE_TYPES = frozenset({VM_TYPE, VAULT_TYPE})
_CONTAINER_TYPES = frozenset({SUBSCRIPTION_TYPE, "microsoft.resources/subscriptions/resourcegroups",
                              "microsoft.management/managementgroups"})

# Columns every row of these tables has; a row that lacks one reads as null, as in Kusto.
STANDARD_COLUMNS = ("id", "name", "type", "tenantId", "kind", "location", "resourceGroup", "subscriptionId",
                    "managedBy", "sku", "plan", "properties", "tags", "identity", "zones", "extendedLocation")
DEFAULT_TENANT_ID = "00000000-0000-4000-8000-0000000e0001"  # obviously not a real tenant

_SUBSCRIPTION_OF = re.compile(r"^/subscriptions/([^/]+)", re.IGNORECASE)
_GROUP_OF = re.compile(r"^/subscriptions/[^/]+/resourcegroups/([^/]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    display_name: str
    tenant_id: str


def table_for_type(resource_type: str) -> str:
    """The Resource Graph table a row of this type lives in."""
    lowered = resource_type.strip().lower()
    if lowered.startswith(VAULT_TYPE + "/"):
        return RECOVERY_SERVICES_RESOURCES
    if lowered in _CONTAINER_TYPES:
        return RESOURCE_CONTAINERS
    return RESOURCES


def subscription_of(row: Mapping[str, Any]) -> str | None:
    value = row.get("subscriptionId")
    if isinstance(value, str) and value.strip():
        return value.strip()
    match = _SUBSCRIPTION_OF.match(str(row.get("id", "")).strip())
    return match.group(1) if match else None


def agent_instance_view(vm_row: Mapping[str, Any], agent: str | Mapping[str, Any], time: str) -> dict[str, Any]:
    """A VM instance view as the compute API returns it, with the agent Ready or Not Ready.

    Shapes follow the azure-rest-api-specs examples (VirtualMachine_Get_InstanceView.json; an
    unresponsive agent reports ProvisioningState/Unavailable, "Not Ready").
    """
    if isinstance(agent, Mapping):
        return dict(agent)
    ready = agent.strip().lower() == "ready"
    agent_status = (
        {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Ready",
         "message": "GuestAgent is running and processing the extensions.", "time": time}
        if ready else
        {"code": "ProvisioningState/Unavailable", "level": "Warning", "displayStatus": "Not Ready",
         "message": "VM Agent is unresponsive.", "time": time}
    )
    return {
        "computerName": vm_row.get("name"),
        "vmAgent": {"vmAgentVersion": "2.7.41491.1102" if ready else "Unknown", "statuses": [agent_status],
                    "extensionHandlers": []},
        "disks": [],
        "statuses": [
            {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
             "time": time},
            {"code": "PowerState/running", "level": "Info", "displayStatus": "VM running"},
        ],
    }


def _derived(subscription_id: str, tenant_id: str | None) -> Subscription:
    return Subscription(subscription_id, f"subscription-{subscription_id[:8]}", tenant_id or DEFAULT_TENANT_ID)


class Estate:
    """Resource Graph rows plus the tenant structure and per-resource facts an emulator serves.

    `instance_views` maps a VM id to "Ready", "Not Ready" or a full instance view object (default: Ready).
    `vault_properties` maps a vault id to the properties the Recovery Services API returns for it, merged
    over the Resource Graph row's properties (for vaults whose row lacks redundancySettings).
    Ids are matched case-insensitively everywhere.
    """

    def __init__(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        subscriptions: Iterable[Subscription] = (),
        management_groups: Mapping[str, Sequence[str]] | None = None,
        instance_views: Mapping[str, str | Mapping[str, Any]] | None = None,
        vault_properties: Mapping[str, Mapping[str, Any]] | None = None,
        tenant_id: str | None = None,
    ) -> None:
        self._index: dict[str, dict[str, dict[str, list[Mapping[str, Any]]]]] = {table: {} for table in TABLES}
        self._by_id: dict[str, Mapping[str, Any]] = {}
        self._groups: set[tuple[str, str]] = set()
        found: dict[str, Subscription] = {}
        for number, row in enumerate(rows, start=1):
            for key in ("id", "type"):
                if not isinstance(row.get(key), str) or not row[key].strip():
                    raise ValueError(f"estate row {number} has no '{key}'; "
                                     "every Resource Graph row needs 'id' and 'type'.")
            subscription = subscription_of(row)
            if subscription and subscription.lower() not in found:
                tenant = row.get("tenantId") if isinstance(row.get("tenantId"), str) else None
                found[subscription.lower()] = _derived(subscription, tenant or tenant_id)
            self._add(row, subscription)
        self.tenant_id = tenant_id or next((item.tenant_id for item in found.values()), DEFAULT_TENANT_ID)
        self.management_groups: dict[str, tuple[str, list[str]]] = {
            group.lower(): (group, [member.lower() for member in members])
            for group, members in (management_groups or {}).items()
        }
        for _, members in self.management_groups.values():  # a member without resources is an empty subscription
            for member in members:
                found.setdefault(member, _derived(member, self.tenant_id))
        for subscription in subscriptions:
            found[subscription.subscription_id.lower()] = subscription
        self.subscriptions: dict[str, Subscription] = found
        present = {subscription_of(row).lower() for row in self._rows_of(RESOURCE_CONTAINERS)
                   if str(row["type"]).lower() == SUBSCRIPTION_TYPE and subscription_of(row)}
        for key, subscription in found.items():
            if key not in present:
                self._add(self._subscription_row(subscription), subscription.subscription_id)
        self._instance_views = {key.lower().rstrip("/"): value for key, value in (instance_views or {}).items()}
        self._vault_properties = {key.lower().rstrip("/"): dict(value)
                                  for key, value in (vault_properties or {}).items()}
        for table in self._index.values():  # each group sorted by id once, so `order by id` merges runs
            for by_type in table.values():
                for group in by_type.values():
                    group.sort(key=lambda row: row["id"])

    @classmethod
    def from_snapshot_file(cls, path: str | Path, **overrides: Any) -> Estate:
        """An estate from any snapshot file the tool reads.

        The snapshot's metadata may carry an `emulator` object with `subscriptions` ([{id, name, tenantId}]),
        `management_groups`, `instance_views` and `vault_properties`; keyword arguments override it.
        """
        snapshot = read_snapshot(path)
        extra = snapshot.metadata.get("emulator") or {}
        options: dict[str, Any] = {
            "subscriptions": [
                Subscription(entry["id"], entry.get("name") or entry["id"], entry.get("tenantId") or DEFAULT_TENANT_ID)
                for entry in extra.get("subscriptions", [])
            ],
            "management_groups": extra.get("management_groups"),
            "instance_views": extra.get("instance_views"),
            "vault_properties": extra.get("vault_properties"),
            "tenant_id": extra.get("tenant_id"),
        }
        options.update(overrides)
        return cls(snapshot.rows, **options)

    @property
    def subscription_ids(self) -> list[str]:
        """Every subscription of the tenant, as spelled in the estate, sorted."""
        return sorted(subscription.subscription_id for subscription in self.subscriptions.values())

    # ------------------------------------------------------------------ queries

    def rows(self, table: str, subscription_ids: Iterable[str], types: Iterable[str] | None = None
             ) -> Iterator[Mapping[str, Any]]:
        """Rows of a table in the given subscriptions (and lower-cased types, when given)."""
        by_subscription = self._index[table]
        for subscription in subscription_ids:
            by_type = by_subscription.get(subscription.lower(), {})
            for type_key in (by_type if types is None else types):
                yield from by_type.get(type_key, ())

    def resource(self, resource_id: str) -> Mapping[str, Any] | None:
        """A VM or vault row by id (the resources the management endpoints serve)."""
        return self._by_id.get(resource_id.lower().rstrip("/"))

    def has_resource_group(self, subscription_id: str, resource_group: str) -> bool:
        return (subscription_id.lower(), resource_group.lower()) in self._groups

    def management_group_subscriptions(self, group: str) -> list[str] | None:
        entry = self.management_groups.get(group.lower())
        return None if entry is None else entry[1]

    def instance_view(self, vm_id: str, time: str) -> dict[str, Any] | None:
        row = self.resource(vm_id)
        if row is None or str(row["type"]).lower() != VM_TYPE:
            return None
        return agent_instance_view(row, self._instance_views.get(vm_id.lower().rstrip("/"), "Ready"), time)

    def vault(self, vault_id: str) -> dict[str, Any] | None:
        """The vault as Microsoft.RecoveryServices/vaults GET returns it (GETVault.json shape)."""
        row = self.resource(vault_id)
        if row is None or str(row["type"]).lower() != VAULT_TYPE:
            return None
        properties = dict(row.get("properties") or {})
        properties.update(self._vault_properties.get(vault_id.lower().rstrip("/"), {}))
        vault = {
            "id": row["id"], "name": row.get("name") or row["id"].rsplit("/", 1)[-1],
            "type": "Microsoft.RecoveryServices/vaults", "location": row.get("location"),
            "tags": row.get("tags") or {}, "sku": row.get("sku") or {"name": "RS0", "tier": "Standard"},
            "properties": properties,
        }
        if row.get("identity"):
            vault["identity"] = row["identity"]
        return vault

    # ------------------------------------------------------------------ building

    def _rows_of(self, table: str) -> Iterator[Mapping[str, Any]]:
        for by_type in self._index[table].values():
            for group in by_type.values():
                yield from group

    def _add(self, row: Mapping[str, Any], subscription: str | None) -> None:
        resource_type = row["type"].strip().lower()
        by_type = self._index[table_for_type(resource_type)].setdefault((subscription or "").lower(), {})
        by_type.setdefault(resource_type, []).append(row)
        if resource_type in _ADDRESSABLE_TYPES:  # only these are fetched one by one; spare the memory for the rest
            self._by_id[row["id"].strip().lower().rstrip("/")] = row
        group = row.get("resourceGroup")
        if not isinstance(group, str) or not group:
            match = _GROUP_OF.match(row["id"].strip())
            group = match.group(1) if match else None
        if subscription and group:
            self._groups.add((subscription.lower(), group.lower()))

    def _subscription_row(self, subscription: Subscription) -> dict[str, Any]:
        chain = [{"name": original, "displayName": original}
                 for original, members in self.management_groups.values()
                 if subscription.subscription_id.lower() in members]
        row: dict[str, Any] = dict.fromkeys(STANDARD_COLUMNS)
        row.update(
            id=f"/subscriptions/{subscription.subscription_id}", name=subscription.display_name,
            type=SUBSCRIPTION_TYPE, tenantId=subscription.tenant_id, kind="", location="", resourceGroup="",
            subscriptionId=subscription.subscription_id, managedBy="", tags={},
            properties={"state": "Enabled", "managementGroupAncestorsChain": chain,
                        "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01",
                                                 "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"}},
        )
        return row
