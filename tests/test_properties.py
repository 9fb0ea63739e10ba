"""Property-based: the order of rows and the casing of ids never change the findings; writing and
re-reading a snapshot loses nothing."""

from __future__ import annotations

import json
import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.engine.run import run_rules
from auditor.inventory.crawler import SnapshotWriter
from auditor.inventory.snapshot import read_snapshot
from auditor.inventory.tables import build_inventory
from auditor.pipeline import load_rules, parse_as_of
from auditor.resources import demo_estate

DEMO = read_snapshot(demo_estate())
AS_OF = parse_as_of(DEMO.captured_at)
RULES = load_rules()


def verdicts(rows) -> tuple[frozenset, frozenset]:
    results = run_rules(build_inventory(rows, as_of=AS_OF), RULES)
    failing = frozenset((r.rule.id, key) for r in results for key in r.failing["key"])
    unknown = frozenset((r.rule.id, key) for r in results for key in r.unknown["key"])
    return failing, unknown


BASELINE = verdicts(DEMO.rows)


def recase(value, rng: random.Random):
    """Every ARM id anywhere in a row gets a random casing, as different Azure APIs return them."""
    if isinstance(value, dict):
        return {key: recase(item, rng) for key, item in value.items()}
    if isinstance(value, list):
        return [recase(item, rng) for item in value]
    if isinstance(value, str) and value.lower().startswith("/subscriptions/"):
        return "".join(ch.upper() if rng.random() < 0.5 else ch.lower() for ch in value)
    return value


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_row_order_and_id_casing_do_not_change_findings(seed):
    rng = random.Random(seed)
    rows = [recase(row, rng) for row in DEMO.rows]
    rng.shuffle(rows)
    assert verdicts(rows) == BASELINE


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
ROWS = st.lists(st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=40).filter(str.strip), "type": st.text(min_size=1, max_size=30).filter(str.strip)},
    optional={"name": st.text(max_size=20), "tags": st.dictionaries(st.text(max_size=8), st.text(max_size=8)),
              "properties": JSON_VALUES}), max_size=20)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS)
def test_writing_and_reading_a_snapshot_is_lossless(tmp_path_factory, rows):
    directory = tmp_path_factory.mktemp("snap")
    path = Path(directory) / "snap.jsonl.gz"
    writer = SnapshotWriter(path, {"captured_at": "2026-11-25T08:00:00Z"})
    writer.append_rows(rows)
    writer.finish({"scopes": [{"subscription_id": "s", "status": "complete"}]})
    snapshot = read_snapshot(path)
    assert snapshot.rows == json.loads(json.dumps(rows))
    assert snapshot.captured_at == "2026-11-25T08:00:00Z" and snapshot.scopes[0]["status"] == "complete"
