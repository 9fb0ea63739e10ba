"""The crawler against the emulator, through the real ResourceGraphClient: paging, pacing, retries,
faults and forbidden subscriptions. Every readable row must land in the snapshot exactly once;
whatever could not be read is recorded, never silently dropped."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest

from auditor.emulator import EmulatorSettings, EmulatorTransport, Estate, FaultPlan, serve
from auditor.emulator.app import EmulatorApp
from auditor.inventory.azure import StaticTokenCredential, resource_graph_client
from auditor.inventory.crawler import Crawler, CrawlSettings, QuotaPacer, Scope
from auditor.inventory.queries import QUERIES
from auditor.inventory.snapshot import read_snapshot

SUBSCRIPTIONS = [f"{index:08d}-aaaa-bbbb-cccc-{index:012d}" for index in (1, 2, 3)]
FAST = dict(backoff_base_seconds=0.01, backoff_cap_seconds=0.05, seed=3)


def synthetic_rows(vms_per_subscription: int) -> list[dict]:
    """VMs with an OS disk each, a vault and a backup item for every other VM, per subscription."""
    rows = []
    for subscription in SUBSCRIPTIONS:
        base = f"/subscriptions/{subscription}/resourceGroups/rg-app/providers"
        vault = f"/subscriptions/{subscription}/resourceGroups/rg-backup/providers/Microsoft.RecoveryServices/vaults/rsv"
        rows.append({"id": vault, "name": "rsv", "type": "microsoft.recoveryservices/vaults", "location": "westeurope",
                     "subscriptionId": subscription, "resourceGroup": "rg-backup",
                     "properties": {"redundancySettings": {"standardTierStorageRedundancy": "GeoRedundant"}}})
        for index in range(vms_per_subscription):
            vm = f"{base}/Microsoft.Compute/virtualMachines/vm{index:05d}"
            disk = f"{base}/Microsoft.Compute/disks/vm{index:05d}-os"
            rows.append({"id": vm, "name": f"vm{index:05d}", "type": "microsoft.compute/virtualmachines",
                         "location": "westeurope", "subscriptionId": subscription, "resourceGroup": "rg-app",
                         "properties": {"storageProfile": {"osDisk": {"managedDisk": {"id": disk}}}}})
            rows.append({"id": disk, "name": f"vm{index:05d}-os", "type": "microsoft.compute/disks",
                         "location": "westeurope", "subscriptionId": subscription, "resourceGroup": "rg-app",
                         "sku": {"name": "Premium_LRS"}, "properties": {"diskSizeGB": 64}})
            if index % 2 == 0:
                rows.append({"id": f"{vault}/backupFabrics/Azure/protectionContainers/c{index}/protectedItems/i{index}",
                             "type": "microsoft.recoveryservices/vaults/backupfabrics/protectioncontainers/protecteditems",
                             "subscriptionId": subscription,
                             "properties": {"backupManagementType": "AzureIaasVM", "protectionState": "Protected",
                                            "sourceResourceId": vm}})
    return rows


def _in_process_client(app: EmulatorApp):
    return resource_graph_client("https://management.azure.com", StaticTokenCredential("test-token"),
                                 transport=EmulatorTransport(app))


def _ids(path) -> Counter:
    return Counter(row["id"].lower() for row in read_snapshot(path).rows)


def test_every_row_once_across_pages_streams_and_subscriptions(tmp_path):
    rows = synthetic_rows(900)  # 2,701 rows per subscription: several pages per stream
    app = EmulatorApp(Estate(rows), EmulatorSettings(quota_requests=1000))
    crawler = Crawler(_in_process_client(app), CrawlSettings(batch_size=2, **FAST))
    result = crawler.crawl(Scope(subscriptions=tuple(SUBSCRIPTIONS)), tmp_path / "snap.jsonl.gz")
    assert _ids(result.path) == Counter(row["id"].lower() for row in rows)
    assert result.incomplete == []
    # Requests used stay within 5% of the minimum: ceil(rows/1000) per query and batch.
    assert crawler.stats.requests <= 1.05 * crawler.stats.minimum_requests
    snapshot = read_snapshot(result.path)
    assert snapshot.captured_at and {s["subscription_id"] for s in snapshot.scopes} == set(SUBSCRIPTIONS)


def test_a_stream_that_would_end_the_crawl_alone_is_split_and_loses_nothing(tmp_path):
    # Disks dominate (80 pages of 50 against one page for every other query): fetched as one stream,
    # they would take 80 latencies while the quota allows far more. The crawler splits their batch once.
    rows = synthetic_rows(5)
    for subscription in SUBSCRIPTIONS:
        rows += [{"id": f"/subscriptions/{subscription}/resourceGroups/rg-data/providers/Microsoft.Compute/disks/d{n:05d}",
                  "name": f"d{n:05d}", "type": "microsoft.compute/disks", "subscriptionId": subscription,
                  "location": "westeurope", "sku": {"name": "Standard_LRS"}} for n in range(1330)]
    app = EmulatorApp(Estate(rows), EmulatorSettings(quota_requests=100, quota_window_seconds=1.0, latency_seconds=0.02))
    crawler = Crawler(_in_process_client(app), CrawlSettings(page_size=50, quota_requests=100, quota_window_seconds=1.0,
                                                             **FAST))
    result = crawler.crawl(Scope(subscriptions=tuple(SUBSCRIPTIONS)), tmp_path / "snap.jsonl.gz")
    assert result.incomplete == []
    assert _ids(result.path) == Counter(row["id"].lower() for row in rows)
    assert crawler.stats.streams_total == len(QUERIES) + 1  # the disks batch, fetched as two halves
    assert crawler.stats.requests <= 1.05 * crawler.stats.minimum_requests


def test_faults_lose_and_duplicate_nothing(tmp_path):
    rows = synthetic_rows(700)
    plan = FaultPlan.parse("503@8%, 500@4%, 502@3%, 504@3%, reset@5%, 429-no-retry-after@4%, 429@3%, seed=11")
    app = EmulatorApp(Estate(rows), EmulatorSettings(quota_requests=1000, faults=plan))
    crawler = Crawler(_in_process_client(app), CrawlSettings(batch_size=1, **FAST))
    result = crawler.crawl(Scope(subscriptions=tuple(SUBSCRIPTIONS)), tmp_path / "snap.jsonl.gz")
    assert result.incomplete == []
    assert _ids(result.path) == Counter(row["id"].lower() for row in rows)
    assert crawler.stats.retries > 0 and app.stats().faults


def test_forbidden_subscription_is_isolated_and_recorded(tmp_path):
    rows = synthetic_rows(50)
    forbidden = SUBSCRIPTIONS[1]
    app = EmulatorApp(Estate(rows), EmulatorSettings(forbidden_subscriptions={forbidden}))
    crawler = Crawler(_in_process_client(app), CrawlSettings(batch_size=3, **FAST))
    result = crawler.crawl(Scope(subscriptions=tuple(SUBSCRIPTIONS)), tmp_path / "snap.jsonl.gz")
    assert [scope["subscription_id"] for scope in result.incomplete] == [forbidden]
    assert "403" in result.incomplete[0]["reason"]
    readable = Counter(row["id"].lower() for row in rows if row["subscriptionId"] != forbidden)
    assert _ids(result.path) == readable
    statuses = {scope["subscription_id"]: scope["status"] for scope in read_snapshot(result.path).scopes}
    assert statuses == {SUBSCRIPTIONS[0]: "complete", forbidden: "incomplete", SUBSCRIPTIONS[2]: "complete"}


def test_oversized_page_is_split(tmp_path):
    rows = synthetic_rows(300)
    app = EmulatorApp(Estate(rows), EmulatorSettings(quota_requests=1000, max_response_bytes=60_000))
    result = Crawler(_in_process_client(app), CrawlSettings(**FAST)).crawl(
        Scope(subscriptions=tuple(SUBSCRIPTIONS)), tmp_path / "snap.jsonl.gz")
    assert result.incomplete == [] and _ids(result.path) == Counter(row["id"].lower() for row in rows)


@pytest.mark.parametrize(("plan", "reason"), [
    ("truncated@1|2|3|4|5|6|7|8|9|10", "truncated"),
    ("500@every1", "gave up after"),
])
def test_unreadable_streams_make_the_snapshot_incomplete(tmp_path, plan, reason):
    # Enough rows that a page is followed by more: truncation can only bite when rows remain.
    app = EmulatorApp(Estate(synthetic_rows(600)), EmulatorSettings(quota_requests=1000,
                                                                    faults=FaultPlan.parse(plan)))
    crawler = Crawler(_in_process_client(app), CrawlSettings(max_attempts=3, **FAST))
    result = crawler.crawl(Scope(subscriptions=tuple(SUBSCRIPTIONS)), tmp_path / "snap.jsonl.gz")
    assert result.incomplete and all(reason in scope["reason"] for scope in result.incomplete)


def test_pacing_follows_the_quota_headers_without_429s(tmp_path):
    rows = synthetic_rows(1500)
    # 6 requests a second: the crawler starts by assuming 15 per 5 s and learns the real quota.
    app = EmulatorApp(Estate(rows), EmulatorSettings(quota_requests=6, quota_window_seconds=1.0))
    crawler = Crawler(_in_process_client(app), CrawlSettings(quota_requests=6, quota_window_seconds=1.0, **FAST))
    result = crawler.crawl(Scope(subscriptions=tuple(SUBSCRIPTIONS)), tmp_path / "snap.jsonl.gz")
    assert result.incomplete == [] and app.stats().throttled == 0
    assert _ids(result.path) == Counter(row["id"].lower() for row in rows)


def test_the_stream_with_most_pages_left_gets_the_next_slot_in_the_quota():
    # One request a window: while the slot is taken, a short stream (1 page left) queues before a long
    # one (40 left). The long one must go first, or it would finish the crawl alone, one page a latency.
    pacer = QuotaPacer(1, window_seconds=0.2)
    pacer.acquire()
    order = []

    def request(name, pages_left):
        pacer.acquire(pages_left)
        order.append(name)

    short = threading.Thread(target=request, args=("short", 1))
    short.start()
    time.sleep(0.05)
    long = threading.Thread(target=request, args=("long", 40))
    long.start()
    short.join(5)
    long.join(5)
    assert order == ["long", "short"]


def test_management_group_scope_lists_its_subscriptions(tmp_path):
    rows = synthetic_rows(5)
    estate = Estate(rows, management_groups={"mg-prod": SUBSCRIPTIONS[:2]})
    app = EmulatorApp(estate, EmulatorSettings(quota_requests=1000))
    result = Crawler(_in_process_client(app), CrawlSettings(**FAST)).crawl(
        Scope(management_groups=("mg-prod",)), tmp_path / "snap.jsonl.gz")
    assert {scope["subscription_id"] for scope in result.scopes} == set(SUBSCRIPTIONS[:2])
    assert {row["subscriptionId"] for row in read_snapshot(result.path).rows} == set(SUBSCRIPTIONS[:2])


def test_https_server_with_the_real_transport_and_tls(tmp_path):
    rows = synthetic_rows(30)
    with serve(Estate(rows), EmulatorSettings()) as server:
        client = resource_graph_client(server.url, StaticTokenCredential("secret-token"), ca_bundle=str(server.ca_bundle))
        result = Crawler(client, CrawlSettings(**FAST)).crawl(Scope(tenant=True), tmp_path / "snap.jsonl.gz")
    assert result.incomplete == [] and _ids(result.path) == Counter(row["id"].lower() for row in rows)
    text = json.dumps([json.loads(line) for line in __import__("gzip").open(result.path, "rt")])
    assert "secret-token" not in text
