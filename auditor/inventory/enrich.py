"""`--deep`: facts Resource Graph lacks, read per resource with the management SDKs, bounded.

Only for resources a rule cannot decide without them: the VM agent status from the compute instance
view for VMs whose row has no osProfile, and the vault's redundancy settings from Recovery Services
for vault rows without redundancySettings. Cost: one ARM GET per such resource (counted against the
subscription's ARM read limit, not the Resource Graph quota), at most `workers` at a time.

Results are written into the snapshot as rows of their own types, keyed by the resource id, so the
snapshot stays raw evidence: Resource Graph rows untouched, enrichment beside them.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from auditor.inventory.rows import T_INSTANCE_VIEW, T_VAULT, T_VAULT_DETAILS, T_VM

_ID = re.compile(r"^/subscriptions/([^/]+)/resourcegroups/([^/]+)/providers/[^/]+/[^/]+/([^/]+)$", re.IGNORECASE)


@dataclass
class EnrichmentNeeds:
    """Filled while rows stream past: which resources need a per-resource read."""
    # dicts as ordered sets: a stream that is re-split after a 403 sees its rows twice
    vms: dict[str, None] = field(default_factory=dict)
    vaults: dict[str, None] = field(default_factory=dict)

    def observe(self, row: dict[str, Any]) -> None:
        kind = str(row.get("type", "")).lower()
        properties = row.get("properties") if isinstance(row.get("properties"), dict) else {}
        if kind == T_VM and not properties.get("osProfile"):
            self.vms[row["id"]] = None
        elif kind == T_VAULT and not isinstance(properties.get("redundancySettings"), dict):
            self.vaults[row["id"]] = None


@dataclass
class EnrichmentResult:
    rows: list[dict[str, Any]]
    failures: list[str]
    requests: int


def enrich(needs: EnrichmentNeeds, compute_client: Callable[[str], Any], vaults_client: Callable[[str], Any],
           workers: int = 4) -> EnrichmentResult:
    """`compute_client(subscription)` / `vaults_client(subscription)` build the SDK clients."""
    tasks = [("vm", resource_id) for resource_id in needs.vms] + [("vault", resource_id) for resource_id in needs.vaults]

    def read(task: tuple[str, str]) -> tuple[dict[str, Any] | None, str | None]:
        kind, resource_id = task
        match = _ID.match(resource_id)
        if not match:
            return None, f"{resource_id}: not a resource id"
        subscription, group, name = match.groups()
        try:
            if kind == "vm":
                view = compute_client(subscription).virtual_machines.instance_view(group, name)
                return {"id": resource_id.rstrip("/") + "/instanceView", "type": T_INSTANCE_VIEW,
                        "subscriptionId": subscription, "properties": _rest(view)}, None
            vault = vaults_client(subscription).vaults.get(group, name)
            return {"id": resource_id.rstrip("/") + "/dr-audit-details", "type": T_VAULT_DETAILS,
                    "subscriptionId": subscription, "properties": _rest(vault).get("properties") or {}}, None
        except HttpResponseError as error:
            return None, f"{resource_id}: {error.status_code} {getattr(error.error, 'code', '') or ''}".strip()
        except (ServiceRequestError, ServiceResponseError) as error:
            return None, f"{resource_id}: connection error ({type(error).__name__})"

    rows, failures = [], []
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="enrich") as pool:
        for row, failure in pool.map(read, tasks):
            if row is not None:
                rows.append(row)
            if failure:
                failures.append(failure)
    return EnrichmentResult(rows=rows, failures=failures, requests=len(tasks))


def _rest(model: Any) -> dict[str, Any]:
    """An SDK model as the REST JSON it came from (newer SDK models are mappings with REST keys)."""
    if hasattr(model, "as_dict"):
        return model.as_dict()
    return model.serialize(keep_readonly=True)
