"""`dr-audit crawl` and `dr-audit scan` as a user runs them, against the emulator over HTTPS with the
token from DR_AUDIT_ACCESS_TOKEN and TLS trust from REQUESTS_CA_BUNDLE: paging, throttling, injected
faults and one forbidden subscription. Every readable row lands once; the forbidden subscription is
recorded, the exit code is 3, and every report names it. The token never appears anywhere."""

from __future__ import annotations

import gzip
import json
import os
from collections import Counter

import pytest

from auditor.emulator import EmulatorSettings, Estate, FaultPlan, serve
from auditor.inventory.snapshot import read_snapshot
from conftest import run_cli
from test_crawler import SUBSCRIPTIONS, synthetic_rows

SENTINEL = "sentinel-token-3f9c2a7e"


@pytest.fixture(scope="module")
def emulator():
    rows = synthetic_rows(700)
    plan = FaultPlan.parse("503@10%, 429-no-retry-after@5%, reset@5%, seed=5")
    settings = EmulatorSettings(forbidden_subscriptions={SUBSCRIPTIONS[1]}, faults=plan)
    with serve(Estate(rows), settings) as server:
        yield server, rows


def _env(server) -> dict:
    return dict(os.environ, DR_AUDIT_ACCESS_TOKEN=SENTINEL, REQUESTS_CA_BUNDLE=str(server.ca_bundle))


def test_crawl_records_the_forbidden_subscription_and_exits_3(emulator, tmp_path):
    server, rows = emulator
    output = tmp_path / "snap.jsonl.gz"
    args = ["crawl", "--arm-endpoint", server.url, "--output", str(output)]
    for subscription in SUBSCRIPTIONS:
        args += ["--subscription", subscription]
    run = run_cli(*args, env=_env(server))
    assert run.code == 3, run.stderr
    readable = Counter(row["id"].lower() for row in rows if row["subscriptionId"] != SUBSCRIPTIONS[1])
    assert Counter(row["id"].lower() for row in read_snapshot(output).rows) == readable
    assert SUBSCRIPTIONS[1] in run.stderr and "audit incomplete" in run.stderr
    assert "retry" in run.stderr  # the progress log shows the injected faults being retried
    assert "streams " in run.stderr and "quota left" in run.stderr and "rows" in run.stderr
    assert SENTINEL not in run.stdout + run.stderr
    assert SENTINEL.encode() not in gzip.decompress(output.read_bytes())


def test_scan_writes_reports_that_name_the_missing_scope(emulator, tmp_path):
    server, _ = emulator
    out = tmp_path / "report"
    args = ["scan", "--arm-endpoint", server.url, "--out", str(out), "--format", "html,json,md,csv,sarif,junit",
            "--quiet"]
    for subscription in SUBSCRIPTIONS:
        args += ["--subscription", subscription]
    run = run_cli(*args, env=_env(server))
    assert run.code == 3, run.stderr
    report = json.loads((out / "findings.json").read_text())
    statuses = {scope["subscription_id"]: scope["status"] for scope in report["scopes"]}
    assert statuses[SUBSCRIPTIONS[1]] == "incomplete" and statuses[SUBSCRIPTIONS[0]] == "complete"
    for name in ("report.html", "summary.md", "junit.xml", "findings.sarif"):
        assert SUBSCRIPTIONS[1] in (out / name).read_text(encoding="utf-8"), name
    assert (out / "snapshot.jsonl.gz").exists()
    for path in out.iterdir():
        assert SENTINEL.encode() not in (gzip.decompress(path.read_bytes()) if path.suffix == ".gz"
                                         else path.read_bytes()), path.name
    assert SENTINEL not in run.stdout + run.stderr


def test_scope_is_required(tmp_path):
    run = run_cli("crawl", "--output", str(tmp_path / "s.jsonl.gz"))
    assert run.code == 2 and "give a scope" in run.stderr


def test_demo_crawls_the_emulator(tmp_path):
    run = run_cli("demo", "--out", str(tmp_path / "o"), "--format", "json", cwd=tmp_path)
    assert run.code == 0, run.stderr
    report = json.loads((tmp_path / "o" / "findings.json").read_text())
    assert all(scope["status"] == "complete" for scope in report["scopes"]) and len(report["scopes"]) == 3
