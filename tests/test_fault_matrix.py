"""The crawler's fault matrix (docs/reliability.md): each fault injected through the emulator, crawled
with the real ResourceGraphClient. Outcome per fault: survived (every row exactly once) or reported
incomplete for exactly the affected scope — never a silent loss."""

from __future__ import annotations

from collections import Counter

import pytest

from auditor.emulator import EmulatorSettings, EmulatorTransport, Estate, FaultPlan
from auditor.emulator.app import EmulatorApp
from auditor.inventory.azure import StaticTokenCredential, resource_graph_client
from auditor.inventory.crawler import Crawler, CrawlSettings, Scope
from auditor.inventory.snapshot import read_snapshot
from test_crawler import SUBSCRIPTIONS, synthetic_rows

ROWS = synthetic_rows(400)  # 1,201 rows per subscription: every stream pages at least once
ALL = Counter(row["id"].lower() for row in ROWS)

# fault, emulator settings, expected outcome
MATRIX = [
    ("429 with Retry-After", dict(faults="429@2|6", quota_window_seconds=1.0), "survived"),
    ("429 without Retry-After", dict(faults="429-no-retry-after@2|3|6|9", quota_window_seconds=1.0),
     "survived"),
    ("quota exhausted (real 429s)", dict(quota_requests=3, quota_window_seconds=0.5), "survived"),
    ("500", dict(faults="500@every3"), "survived"),
    ("502", dict(faults="502@every3"), "survived"),
    ("503", dict(faults="503@every3"), "survived"),
    ("504", dict(faults="504@every3"), "survived"),
    ("connection reset", dict(faults="reset@every3"), "survived"),
    ("slow response past the read timeout", dict(faults="slow=5@every3"), "survived"),
    ("mixed: 10% 503, 5% resets, 5% 429", dict(faults="503@10%, reset@5%, 429-no-retry-after@5%, seed=4"),
     "survived"),
    ("oversized page (16 MiB limit)", dict(max_response_bytes=150_000), "survived"),
    ("403 for one subscription", dict(forbidden={SUBSCRIPTIONS[2]}), "incomplete"),
    ("truncated result", dict(faults="truncated@1|2|3|4|5|6|7|8|9|10|11|12|13|14|15"), "incomplete"),
    ("5xx that never clears", dict(faults="503@every1"), "incomplete"),
]


def _settings(spec: dict) -> EmulatorSettings:
    return EmulatorSettings(
        quota_requests=spec.get("quota_requests", 1000),
        quota_window_seconds=spec.get("quota_window_seconds", 5.0),
        max_response_bytes=spec.get("max_response_bytes", 16 * 1024 * 1024),
        forbidden_subscriptions=set(spec.get("forbidden", ())),
        faults=FaultPlan.parse(spec["faults"]) if "faults" in spec else FaultPlan(),
    )


@pytest.mark.parametrize(("fault", "spec", "outcome"), MATRIX, ids=[row[0] for row in MATRIX])
def test_fault(tmp_path, fault, spec, outcome):
    app = EmulatorApp(Estate(ROWS), _settings(spec))
    client = resource_graph_client("https://management.azure.com", StaticTokenCredential("t"),
                                   transport=EmulatorTransport(app))
    settings = CrawlSettings(batch_size=3, max_attempts=5, read_timeout_seconds=0.3, backoff_base_seconds=0.01,
                             backoff_cap_seconds=0.05, quota_requests=spec.get("quota_requests", 15),
                             quota_window_seconds=spec.get("quota_window_seconds", 5.0), seed=1)
    result = Crawler(client, settings).crawl(Scope(subscriptions=tuple(SUBSCRIPTIONS)), tmp_path / "s.jsonl.gz")
    got = Counter(row["id"].lower() for row in read_snapshot(result.path).rows)
    assert max(got.values(), default=1) == 1, "a row was written twice"
    if outcome == "survived":
        assert result.incomplete == [] and got == ALL
    else:
        assert result.incomplete, "the fault must be reported"
        missing = {scope["subscription_id"] for scope in result.incomplete}
        # Rows of every complete subscription are all there; only incomplete scopes may lack rows.
        complete_rows = Counter(row["id"].lower() for row in ROWS if row["subscriptionId"] not in missing)
        assert all(got[key] == 1 for key in complete_rows)
        assert not set(got) - set(ALL)
