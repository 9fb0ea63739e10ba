"""The Azure emulator answers the real SDK clients as Azure Resource Manager does, over HTTPS and in process.

Every test that talks to the emulator runs twice: through the HTTPS server (real sockets, TLS, the
requests transport) and through the in-process azure-core transport. Nothing in the SDKs is patched.
"""

from __future__ import annotations

import json
import threading
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from azure.core import PipelineClient
from azure.core.exceptions import (
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.rest import HttpRequest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.recoveryservices import RecoveryServicesClient
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

from auditor.emulator import (
    EmulatorApp,
    EmulatorSettings,
    EmulatorTransport,
    Estate,
    Fault,
    FaultPlan,
    serve,
)
from auditor.inventory.azure import StaticTokenCredential
from auditor.emulator.estate import (
    RECOVERY_SERVICES_RESOURCES,
    RESOURCE_CONTAINERS,
    RESOURCES,
    table_for_type,
)

S1 = "11111111-1111-4111-8111-111111111111"
S2 = "22222222-2222-4222-8222-222222222222"
S3 = "33333333-3333-4333-8333-333333333333"  # forbidden in most tests
TENANT = "aaaaaaaa-0000-4000-8000-00000000000a"
IN_PROCESS_URL = "https://management.emulator.invalid"
VM_QUERY = ("Resources | where type in~ ('microsoft.compute/virtualmachines') "
            "| project id, name, type, subscriptionId | order by id asc")
SUBSCRIPTIONS_QUERY = ("ResourceContainers | where type =~ 'microsoft.resources/subscriptions' "
                       "| project id, name, subscriptionId, tenantId, properties")


def vm(subscription: str, group: str, name: str) -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Compute/"
              f"virtualMachines/{name}",
        "name": name, "type": "microsoft.compute/virtualmachines", "location": "westeurope", "resourceGroup": group,
        "subscriptionId": subscription, "tenantId": TENANT,
        "properties": {"storageProfile": {"osDisk": {"name": f"{name}-os", "managedDisk": {"id": f"/x/{name}-os"}}}},
    }


VAULT_ID = f"/subscriptions/{S1}/resourceGroups/rg-backup/providers/Microsoft.RecoveryServices/vaults/rsv-weu"
NOT_READY_VM = vm(S1, "rg-app", "app0001")["id"]
ROWS = (
    [vm(S1, "rg-app", f"app{n:04d}") for n in range(1234)]
    # Mixed-case groups: `order by id` is ordinal, so upper case sorts before lower case.
    + [vm(S2, "RG-Web" if n % 2 else "rg-web", f"web{n:02d}") for n in range(20)]
    + [vm(S3, "rg-secret", f"sec{n}") for n in range(7)]
    + [
        {"id": VAULT_ID, "name": "rsv-weu", "type": "microsoft.recoveryservices/vaults", "location": "westeurope",
         "resourceGroup": "rg-backup", "subscriptionId": S1, "tenantId": TENANT,
         "sku": {"name": "RS0", "tier": "Standard"}, "properties": {"provisioningState": "Succeeded"}},
        {"id": f"{VAULT_ID}/backupFabrics/Azure/protectionContainers/iaasvmcontainerv2;rg-app;app0000/"
               "protectedItems/vm;iaasvmcontainerv2;rg-app;app0000",
         "name": "vm;iaasvmcontainerv2;rg-app;app0000",
         "type": "microsoft.recoveryservices/vaults/backupfabrics/protectioncontainers/protecteditems",
         "subscriptionId": S1, "properties": {"sourceResourceId": vm(S1, "rg-app", "app0000")["id"]}},
    ]
)


def make_estate() -> Estate:
    return Estate(
        ROWS,
        management_groups={"mg-prod": [S1, S3]},
        instance_views={NOT_READY_VM: "Not Ready"},
        vault_properties={VAULT_ID: {"redundancySettings": {"standardTierStorageRedundancy": "GeoRedundant",
                                                            "crossRegionRestore": "Disabled"}}},
    )


@dataclass
class Harness:
    app: EmulatorApp
    base_url: str
    connection: dict[str, Any]  # connection_verify= for HTTPS, transport= in process

    def graph(self, token: str = "token-x") -> ResourceGraphClient:
        # retry_total=0: these tests observe each answer; retrying is the crawler's job.
        return ResourceGraphClient(StaticTokenCredential(token), base_url=self.base_url, retry_total=0,
                                   **self.connection)

    def compute(self, subscription: str, **options: Any) -> ComputeManagementClient:
        return ComputeManagementClient(StaticTokenCredential("token-x"), subscription, base_url=self.base_url,
                                       **{"retry_total": 0, **options}, **self.connection)

    def recovery(self, subscription: str) -> RecoveryServicesClient:
        return RecoveryServicesClient(StaticTokenCredential("token-x"), subscription, base_url=self.base_url,
                                      retry_total=0, **self.connection)

    def raw(self) -> PipelineClient:
        """A bare azure-core pipeline: no credential, so no Authorization header."""
        return PipelineClient(self.base_url, **self.connection)


@pytest.fixture(params=["https", "in-process"])
def emulator(request):
    with ExitStack() as stack:
        def start(settings: EmulatorSettings | None = None) -> Harness:
            settings = settings or EmulatorSettings(quota_requests=1000, forbidden_subscriptions={S3})
            if request.param == "https":
                running = stack.enter_context(serve(make_estate(), settings))
                return Harness(running.app, running.url, {"connection_verify": running.ca_bundle})
            app = EmulatorApp(make_estate(), settings)
            return Harness(app, IN_PROCESS_URL, {"transport": EmulatorTransport(app)})
        yield start


def query(client: ResourceGraphClient, text: str, *, subscriptions: list[str] | None = None,
          management_groups: list[str] | None = None, **options: Any):
    """Run one Resource Graph query; return the QueryResponse and the HTTP response headers."""
    captured = {}

    def keep_headers(pipeline_response, deserialized, _headers):
        captured["headers"] = pipeline_response.http_response.headers
        return deserialized

    request = QueryRequest(query=text, subscriptions=subscriptions, management_groups=management_groups,
                           options=QueryRequestOptions(**options) if options else None)
    return client.resources(request, cls=keep_headers), captured["headers"]


def detail_codes(error: HttpResponseError) -> list[str]:
    return [detail.code for detail in error.error.details or []]


# ---------------------------------------------------------------------- Resource Graph


def test_paging_with_skip_token_returns_every_row_once_in_order(emulator):
    harness = emulator()
    client = harness.graph()
    pages, token = [], None
    while True:
        options = {"top": 1000, **({"skip_token": token} if token else {})}
        result, _ = query(client, VM_QUERY, subscriptions=[S1, S2], **options)
        pages.append(result)
        token = result.skip_token
        if not token:
            break
    ids = [row["id"] for page in pages for row in page.data]
    expected = sorted(row["id"] for row in ROWS
                      if row["type"].endswith("virtualmachines") and row["subscriptionId"] != S3)
    assert ids == expected  # every row, once, ordinal `order by id asc` (RG-Web before rg-app)
    assert [page.count for page in pages] == [1000, 254]
    assert all(page.total_records == 1254 and page.result_truncated == "false" for page in pages)
    assert set(pages[0].data[0]) == {"id", "name", "type", "subscriptionId"}
    assert harness.app.stats().rows_served == 1254


def test_pages_are_capped_and_hold_100_rows_without_top(emulator):
    client = emulator(EmulatorSettings(page_size_cap=300)).graph()
    capped, _ = query(client, VM_QUERY, subscriptions=[S1], top=1000)
    following, _ = query(client, VM_QUERY, subscriptions=[S1], skip_token=capped.skip_token)
    default, _ = query(client, VM_QUERY, subscriptions=[S1])
    assert capped.count == 300 and following.count == 300  # the token keeps the page size
    assert following.data[0]["id"] == sorted(row["id"] for row in ROWS)[300]
    assert default.count == 100 and default.skip_token


def test_order_by_desc_and_missing_projected_columns_are_null(emulator):
    client = emulator().graph()
    text = ("Resources | where type =~ 'Microsoft.Compute/virtualMachines' "
            f"| where subscriptionId in~ ('{S2.upper()}') | project id, zones | order by id desc")
    result, _ = query(client, text, top=50)
    ids = [row["id"] for row in result.data]
    assert ids == sorted(ids, reverse=True) and len(ids) == 20
    assert all(row["zones"] is None for row in result.data)


def test_quota_headers_count_down_then_429_with_retry_after(emulator):
    harness = emulator(EmulatorSettings(quota_requests=3, quota_window_seconds=60))
    client = harness.graph()
    remaining = []
    for _ in range(3):
        _, headers = query(client, VM_QUERY, subscriptions=[S1], top=1)
        remaining.append(int(headers["x-ms-user-quota-remaining"]))
        assert headers["x-ms-user-quota-resets-after"] in ("00:01:00", "00:00:59")
    assert remaining == [2, 1, 0]
    with pytest.raises(HttpResponseError) as throttled:
        query(client, VM_QUERY, subscriptions=[S1], top=1)
    assert throttled.value.status_code == 429 and throttled.value.error.code == "RateLimiting"
    headers = throttled.value.response.headers
    assert headers["x-ms-user-quota-remaining"] == "0" and 55 <= int(headers["Retry-After"]) <= 60
    # The quota is per identity: another token still has its own.
    _, other = query(harness.graph(token="token-y"), VM_QUERY, subscriptions=[S1], top=1)
    assert other["x-ms-user-quota-remaining"] == "2"
    assert harness.app.stats().throttled == 1


def test_429_without_retry_after_when_settings_say_so(emulator):
    client = emulator(EmulatorSettings(quota_requests=1, quota_window_seconds=60, retry_after_on_429=False)).graph()
    query(client, VM_QUERY, subscriptions=[S1], top=1)
    with pytest.raises(HttpResponseError) as throttled:
        query(client, VM_QUERY, subscriptions=[S1], top=1)
    assert throttled.value.status_code == 429 and "Retry-After" not in throttled.value.response.headers


@pytest.mark.parametrize("text, problem", [
    ("Resources | summarize count() by type", "summarize"),
    ("Resources | where type in~ ('a',)", "string literal"),
    ("Resources | project id | where name =~ 'x'", "name"),
    ("Resources | project ID", "ID"),
    ("Resources | order by properties asc", "dynamic"),
    ("Resources | where type == 'a' or type == 'b'", "'|'"),
    ("ResourceChanges | project id", "ResourceChanges"),
])
def test_unsupported_query_is_invalid_query(emulator, text, problem):
    with pytest.raises(HttpResponseError) as invalid:
        query(emulator().graph(), text)
    assert invalid.value.status_code == 400 and invalid.value.error.code == "BadRequest"
    assert detail_codes(invalid.value)[0] == "InvalidQuery"
    assert problem in invalid.value.error.details[1].message


def test_skip_token_with_another_query_is_rejected(emulator):
    client = emulator().graph()
    first, _ = query(client, VM_QUERY, subscriptions=[S1], top=10)
    with pytest.raises(HttpResponseError) as rejected:
        query(client, VM_QUERY.replace("asc", "desc"), subscriptions=[S1], top=10, skip_token=first.skip_token)
    assert rejected.value.status_code == 400 and detail_codes(rejected.value) == ["InvalidSkipToken"]
    with pytest.raises(HttpResponseError):
        query(client, VM_QUERY, subscriptions=[S1, S2], top=10, skip_token=first.skip_token)  # another scope


def test_forbidden_subscription_is_access_denied_and_outside_wide_scopes(emulator):
    client = emulator().graph()
    with pytest.raises(HttpResponseError) as denied:
        query(client, VM_QUERY, subscriptions=[S1, S3], top=1)
    assert denied.value.status_code == 403 and denied.value.error.code == "AccessDenied"
    tenant, _ = query(client, VM_QUERY, top=1000)
    group, _ = query(client, VM_QUERY, management_groups=["MG-Prod"], top=1000)
    assert tenant.total_records == 1254 and group.total_records == 1234  # S3's rows are never served


def test_subscription_listing_for_tenant_and_management_group(emulator):
    client = emulator().graph()
    tenant, _ = query(client, SUBSCRIPTIONS_QUERY)
    group, _ = query(client, SUBSCRIPTIONS_QUERY, management_groups=["mg-prod"])
    assert sorted(row["subscriptionId"] for row in tenant.data) == [S1, S2]
    assert [row["subscriptionId"] for row in group.data] == [S1]
    row = group.data[0]
    assert row["id"] == f"/subscriptions/{S1}" and row["tenantId"] == TENANT
    assert row["properties"]["managementGroupAncestorsChain"][0]["name"] == "mg-prod"


def test_too_many_subscriptions_under_scope_unless_partial_scopes_allowed(emulator):
    client = emulator(EmulatorSettings(tenant_subscription_limit=1)).graph()
    with pytest.raises(HttpResponseError) as refused:
        query(client, VM_QUERY, top=1)
    assert detail_codes(refused.value) == ["TooManySubscriptionsUnderScope"]
    partial, headers = query(client, VM_QUERY, top=1000, allow_partial_scopes=True)
    assert headers["x-ms-tenant-subscription-limit-hit"] == "true" and partial.total_records == 1234


def test_page_over_the_payload_limit_is_response_payload_too_large(emulator):
    client = emulator(EmulatorSettings(quota_requests=100, max_response_bytes=64 * 1024)).graph()
    with pytest.raises(HttpResponseError) as too_large:
        query(client, "Resources | project id, name, properties | order by id asc", top=1000)
    assert too_large.value.status_code == 400 and detail_codes(too_large.value) == ["ResponsePayloadTooLarge"]
    smaller, _ = query(client, "Resources | project id, name, properties | order by id asc", top=100)
    assert smaller.count == 100


# ---------------------------------------------------------------------- compute and recovery services


def test_instance_view_reports_agent_status(emulator):
    compute = emulator().compute(S1)
    not_ready = compute.virtual_machines.instance_view("rg-app", "app0001")
    ready = compute.virtual_machines.instance_view("RG-APP", "app0002")  # ARM ids are case-insensitive
    assert not_ready.vm_agent.statuses[0].display_status == "Not Ready"
    assert ready.vm_agent.statuses[0].display_status == "Ready"
    with pytest.raises(ResourceNotFoundError) as missing:
        compute.virtual_machines.instance_view("rg-app", "nope")
    assert missing.value.error.code == "ResourceNotFound"


def test_instance_view_of_a_forbidden_subscription_is_authorization_failed(emulator):
    with pytest.raises(HttpResponseError) as denied:
        emulator().compute(S3).virtual_machines.instance_view("rg-secret", "sec1")
    assert denied.value.status_code == 403 and denied.value.error.code == "AuthorizationFailed"
    assert f"/subscriptions/{S3}/" in denied.value.error.message


def test_vault_get_carries_full_properties(emulator):
    harness = emulator()
    vault = harness.recovery(S1).vaults.get("rg-backup", "rsv-weu")
    assert vault.id == VAULT_ID and vault.type == "Microsoft.RecoveryServices/vaults"
    assert vault.properties.redundancy_settings.standard_tier_storage_redundancy == "GeoRedundant"
    assert vault.properties.redundancy_settings.cross_region_restore == "Disabled"
    assert ("Microsoft.RecoveryServices/vaults/read", VAULT_ID) in harness.app.stats().actions


# ---------------------------------------------------------------------- faults, auth, concurrency


def test_reset_fault_surfaces_as_a_connection_error(emulator):
    harness = emulator(EmulatorSettings(faults=FaultPlan((Fault("reset", on=(1,)),))))
    client = harness.graph()
    with pytest.raises((ServiceRequestError, ServiceResponseError)):
        query(client, VM_QUERY, subscriptions=[S1], top=1)
    result, _ = query(client, VM_QUERY, subscriptions=[S1], top=1)  # the next request is answered
    assert result.count == 1
    assert harness.app.stats().count("resourcegraph", "reset") == 1


def test_slow_fault_trips_the_read_timeout(emulator):
    client = emulator(EmulatorSettings(faults=FaultPlan.parse("slow=3@1"))).graph()
    with pytest.raises(ServiceResponseTimeoutError):
        client.resources(QueryRequest(query=VM_QUERY, subscriptions=[S1]), read_timeout=0.3)


def test_injected_server_errors_and_truncation(emulator):
    harness = emulator(EmulatorSettings(faults=FaultPlan.parse("503@1, 429-no-retry-after@2, truncated@3")))
    client = harness.graph()
    with pytest.raises(HttpResponseError) as unavailable:
        query(client, VM_QUERY, subscriptions=[S1], top=10)
    assert unavailable.value.status_code == 503 and unavailable.value.error.code == "ServiceUnavailable"
    with pytest.raises(HttpResponseError) as throttled:
        query(client, VM_QUERY, subscriptions=[S1], top=10)
    assert throttled.value.status_code == 429 and "Retry-After" not in throttled.value.response.headers
    truncated, _ = query(client, VM_QUERY, subscriptions=[S1], top=10)
    assert truncated.result_truncated == "true" and truncated.skip_token is None and truncated.count == 10
    assert harness.app.stats().faults == {"503": 1, "429-no-retry-after": 1, "truncated": 1}


def test_request_without_a_token_is_401_and_tokens_are_never_echoed(emulator):
    harness = emulator()
    response = harness.raw().send_request(HttpRequest(
        "POST", f"{harness.base_url}/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01",
        json={"query": VM_QUERY}))
    assert response.status_code == 401 and response.json()["error"]["code"] == "AuthenticationFailed"
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    with pytest.raises(HttpResponseError) as invalid:
        query(harness.graph(token="secret-token-123"), "Resources | take 5")
    assert b"secret-token-123" not in invalid.value.response.body()


def test_latency_lets_concurrent_clients_overlap(emulator):
    harness = emulator(EmulatorSettings(quota_requests=100, latency_seconds=0.4))
    client = harness.graph()
    threads = [threading.Thread(target=query, args=(client, VM_QUERY), kwargs={"subscriptions": [S1], "top": 1})
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = harness.app.stats()
    assert stats.count("resourcegraph", "200") == 4 and stats.peak_concurrency >= 2


# ---------------------------------------------------------------------- estate and fault plan


def test_estate_tables_follow_the_row_type():
    assert table_for_type("Microsoft.RecoveryServices/vaults") == RESOURCES
    assert table_for_type("microsoft.recoveryservices/vaults/backuppolicies") == RECOVERY_SERVICES_RESOURCES
    assert table_for_type("microsoft.resources/subscriptions") == RESOURCE_CONTAINERS
    estate = make_estate()
    items = list(estate.rows(RECOVERY_SERVICES_RESOURCES, [S1]))
    assert len(items) == 1 and items[0]["type"].endswith("protecteditems")
    assert set(estate.subscriptions) == {S1, S2, S3}


def test_estate_from_snapshot_file_reads_emulator_metadata(tmp_path):
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps({"dr_audit_snapshot": {"emulator": {
        "subscriptions": [{"id": S2, "name": "Empty subscription"}],
        "management_groups": {"mg": [S1, S2]},
        "instance_views": {NOT_READY_VM: "Not Ready"}}}, "data": ROWS[:3]}))
    estate = Estate.from_snapshot_file(path)
    assert estate.subscriptions[S2].display_name == "Empty subscription"
    assert estate.management_group_subscriptions("MG") == [S1, S2]
    view = estate.instance_view(NOT_READY_VM, "2026-01-01T00:00:00Z")
    assert view["vmAgent"]["statuses"][0]["displayStatus"] == "Not Ready"


def test_fault_plan_is_deterministic_and_rates_hold():
    plan = FaultPlan.parse("503@10%, reset@5%, seed=7")
    first = [plan.fault_for("resourcegraph", number) for number in range(1, 20001)]
    again = [plan.fault_for("resourcegraph", number) for number in range(1, 20001)]
    assert first == again
    kinds = [fault.kind if fault else None for fault in first]
    assert 0.09 < kinds.count("503") / 20000 < 0.11 and 0.04 < kinds.count("reset") / 20000 < 0.06
    assert kinds != [getattr(FaultPlan.parse("503@10%, reset@5%, seed=8").fault_for("resourcegraph", n), "kind", None)
                     for n in range(1, 20001)]  # another seed, other requests
    assert all(plan.fault_for("instanceview", number) is None for number in range(1, 1000))
    scheduled = FaultPlan.parse("500@1|3, 429@every4, slow=12@2:instanceview")
    assert [getattr(scheduled.fault_for("resourcegraph", n), "kind", None) for n in range(1, 9)] == \
        ["500", None, "500", "429", None, None, None, "429"]
    assert scheduled.fault_for("instanceview", 2).seconds == 12


@pytest.mark.parametrize("text", ["503@", "teapot@10%", "503@60%, reset@50%", "reset@0"])
def test_fault_plan_rejects_nonsense(text):
    with pytest.raises(ValueError):
        FaultPlan.parse(text)


def test_static_token_credential_hides_and_requires_its_token():
    assert "secret" not in repr(StaticTokenCredential("secret"))
    assert StaticTokenCredential("secret").get_token("https://management.azure.com/.default").token == "secret"
    with pytest.raises(ValueError):
        StaticTokenCredential("  ")
