"""Weekly runs as a team lives them: the CLI over a sequence of weekly snapshots with one history file,
waivers that expire, baselines that gate pull requests, and two runs at once on the same history."""

from __future__ import annotations

import copy
import json
import re
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import pytest

from auditor.errors import InputError
from auditor.report import history as history_module
from auditor.report.waivers import WaiverSet, apply_waivers, load_waivers
from conftest import REPO, run_cli, write_json

SUB_A = "00000000-0000-0000-0000-0000000000a1"
SUB_B = "00000000-0000-0000-0000-0000000000b2"
WEEKS = ("2026-11-02T06:00:00Z", "2026-11-09T06:00:00Z", "2026-11-16T06:00:00Z", "2026-11-23T06:00:00Z")
LRS = "vm-lrs-disk-no-backup"


def vm(name: str, sub: str = SUB_A, sku: str = "Premium_LRS", rg: str = "rg-app", tags: dict | None = None) -> list:
    vm_id = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"
    disk_id = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/disks/{name}-os"
    return [
        {"id": vm_id, "name": name, "type": "microsoft.compute/virtualmachines", "location": "westeurope",
         "resourceGroup": rg, "subscriptionId": sub, "tags": tags or {},
         "properties": {"storageProfile": {"osDisk": {"name": f"{name}-os", "managedDisk": {"id": disk_id}}}}},
        {"id": disk_id, "name": f"{name}-os", "type": "microsoft.compute/disks", "location": "westeurope",
         "resourceGroup": rg, "subscriptionId": sub, "sku": {"name": sku}, "properties": {"diskSizeGB": 128}},
    ]


def backup(name: str, last_recovery_point: str, sub: str = SUB_A, rg: str = "rg-app") -> list:
    """An active, healthy Azure Backup item for the VM: its LRS finding goes away."""
    return [{
        "id": f"/subscriptions/{sub}/resourceGroups/rg-backup/providers/Microsoft.RecoveryServices/vaults/rsv/"
              f"backupFabrics/Azure/protectionContainers/iaasvmcontainerv2;{rg};{name}/protectedItems/vm;{name}",
        "name": f"vm;{name}", "subscriptionId": sub, "resourceGroup": "rg-backup",
        "type": "microsoft.recoveryservices/vaults/backupfabrics/protectioncontainers/protecteditems",
        "properties": {"backupManagementType": "AzureIaasVM", "protectionState": "Protected",
                       "lastBackupStatus": "Completed", "lastRecoveryPoint": last_recovery_point,
                       "sourceResourceId": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/"
                                           f"virtualMachines/{name}"},
    }]


def weekly_estates() -> list[list]:
    """Week 1: app01, app02, db01 (LRS, high) and app03 (ZRS, medium). Week 2: app01 gets a backup
    (fixed), app05 appears (new). Week 3: app01's backup is gone (reopened), app02 is deleted (fixed)."""
    return [
        vm("app01") + vm("app02") + vm("app03", sku="Premium_ZRS") + vm("db01", SUB_B, "Standard_LRS"),
        vm("app01") + backup("app01", "2026-11-09T02:00:00Z") + vm("app02") + vm("app03", sku="Premium_ZRS")
        + vm("db01", SUB_B, "Standard_LRS") + vm("app05"),
        vm("app01") + vm("app03", sku="Premium_ZRS") + vm("db01", SUB_B, "Standard_LRS") + vm("app05"),
    ]


def check(snapshot: Path, out: Path, *extra: str, as_of: str | None = None, formats: str = "html,json,md"):
    args = ["check", "--snapshot", str(snapshot), "--out", str(out), "--format", formats, *extra]
    if as_of:
        args += ["--as-of", as_of]
    return run_cli(*args)


def findings(out: Path) -> dict:
    return json.loads((out / "findings.json").read_text(encoding="utf-8"))


def by_name(report: dict) -> dict[tuple[str, str], dict]:
    return {(f["rule_id"], f["resource_name"]): f for f in report["findings"]}


def html_number(page: str, element_id: str) -> int:
    return int(re.search(rf'id="{element_id}">([\d,]+)<', page).group(1).replace(",", ""))


# ------------------------------------------------------------------------------------- history


@pytest.fixture(scope="module")
def three_weeks(tmp_path_factory):
    """Three weekly runs of changed snapshots with one history file."""
    work = tmp_path_factory.mktemp("weekly")
    db = work / "audit.db"
    runs = []
    for week, rows in enumerate(weekly_estates(), start=1):
        snapshot = write_json(work / f"week{week}.json", rows)
        out = work / f"week{week}"
        run = check(snapshot, out, "--history", str(db), as_of=WEEKS[week - 1])
        assert run.code == 1, run.stderr  # high findings open every week
        runs.append((run, out))
    return work, db, runs


def test_three_weekly_runs_count_new_fixed_and_reopened_in_json(three_weeks):
    _, _, runs = three_weeks
    expected = [  # (new, fixed, reopened, still open)
        (4, 0, 0, 0),
        (1, 1, 0, 3),
        (0, 1, 1, 3),
    ]
    for (run, out), (new, fixed, reopened, still_open) in zip(runs, expected):
        changes = findings(out)["summary"]["changes"]
        assert (changes["new"], changes["fixed"], changes["reopened"], changes["open"]) == (new, fixed, reopened,
                                                                                              still_open)
    week2, week3 = findings(runs[1][1]), findings(runs[2][1])
    assert {key[1]: f["status"] for key, f in by_name(week2).items()} == {
        "app02": "open", "app03": "open", "db01": "open", "app05": "new"}
    assert [(f["rule_id"], f["resource_name"]) for f in week2["fixed"]] == [(LRS, "app01")]
    assert week2["summary"]["changes"]["previous_as_of"] == WEEKS[0]
    statuses = {key[1]: (f["status"], f["days_open"], f["open_since"]) for key, f in by_name(week3).items()}
    assert statuses == {
        "app01": ("reopened", 0, WEEKS[2]),   # fixed in week 2, back in week 3: its clock restarts
        "app03": ("open", 14, WEEKS[0]),
        "db01": ("open", 14, WEEKS[0]),
        "app05": ("open", 7, WEEKS[1]),
    }
    (fixed,) = week3["fixed"]
    assert (fixed["resource_name"], fixed["days_open"], fixed["open_since"]) == ("app02", 14, WEEKS[0])
    # The trend: one point per run, open findings by severity, this run last.
    trend = week3["history"]
    assert [point["as_of"] for point in trend] == list(WEEKS[:3]) and trend[-1]["current"] is True
    assert [point["findings_by_severity"]["high"] for point in trend] == [3, 3, 3]
    assert [(point["new"], point["fixed"], point["reopened"]) for point in trend] == [(4, 0, 0), (1, 1, 0), (0, 1, 1)]


def test_three_weekly_runs_in_the_terminal(three_weeks):
    work, db, runs = three_weeks
    assert "first run in the history file: 4 new, 0 fixed, 0 reopened, 0 still open." in runs[0][0].stdout
    assert f"since the previous run (as of {WEEKS[0]}): 1 new, 1 fixed, 0 reopened, 3 still open." in runs[1][0].stdout
    assert f"since the previous run (as of {WEEKS[1]}): 0 new, 1 fixed, 1 reopened, 3 still open." in runs[2][0].stdout
    listing = run_cli("history", "--history", str(db))
    assert listing.code == 0, listing.stderr
    rows = [line.split() for line in listing.stdout.splitlines() if re.match(r"\s+\d+\s+2026-", line)]
    # run, as of (date, time), subscriptions, critical, high, medium, low, waived, new, fixed, reopened
    assert [row[:2] + row[5:12] for row in rows] == [
        ["1", "2026-11-02", "3", "1", "0", "0", "4", "0", "0"],
        ["2", "2026-11-09", "3", "1", "0", "0", "1", "1", "0"],
        ["3", "2026-11-16", "3", "1", "0", "0", "0", "1", "1"],
    ]
    assert "Trend" in listing.stdout and "the latest run: 0 new, 1 fixed, 1 reopened" in listing.stdout
    last = run_cli("history", "--history", str(db), "--last", "2")
    assert "3 runs recorded; the last 2" in last.stdout and "2026-11-02 06:00" not in last.stdout


def test_three_weekly_runs_in_the_html_and_markdown(three_weeks):
    _, _, runs = three_weeks
    for (_, out), (new, fixed, reopened) in zip(runs, [(4, 0, 0), (1, 1, 0), (0, 1, 1)]):
        page = (out / "report.html").read_text(encoding="utf-8")
        assert (html_number(page, "changes-new"), html_number(page, "changes-fixed"),
                html_number(page, "changes-reopened")) == (new, fixed, reopened)
    page = (runs[2][1] / "report.html").read_text(encoding="utf-8")
    assert 'id="trend"' in page and page.count("2026-11-0") >= 2
    assert '<span class="tag">Reopened</span>' in page and "Still open, 14 days" in page
    fixed_section = page[page.index('id="changes"'):page.index('id="waived"')]
    assert "app02" in fixed_section and "app01" not in fixed_section
    summary = (runs[2][1] / "summary.md").read_text(encoding="utf-8")
    assert "**0 new**, **1 fixed**, 1 reopened, 3 still open" in summary
    assert "_reopened_" in summary and "open 14 days" in summary and "Trend over the last 3 runs" in summary


def test_an_unread_subscription_is_never_marked_fixed(three_weeks, tmp_path):
    """Week 4: subscription B could not be read (403) and db01 is missing from the rows: it is not fixed."""
    work, db, _ = three_weeks
    copy = tmp_path / "audit.db"
    copy.write_bytes(db.read_bytes())
    rows = vm("app01") + vm("app03", sku="Premium_ZRS") + vm("app05")
    snapshot = tmp_path / "week4.jsonl"
    snapshot.write_text("\n".join(json.dumps(row) for row in [{"dr_audit_snapshot": {
        "captured_at": WEEKS[3], "scopes": [{"subscription_id": SUB_A, "status": "complete"},
                                            {"subscription_id": SUB_B, "status": "incomplete", "reason": "403"}]}}]
                                  + rows) + "\n")
    run = check(snapshot, tmp_path / "week4", "--history", str(copy))
    assert run.code == 3, run.stderr
    report = findings(tmp_path / "week4")
    assert report["summary"]["changes"]["fixed"] == 0 and report["fixed"] == []
    gate = report["summary"]["gate"]
    assert gate["subscriptions"][SUB_B]["failed"] and "could not be read completely (403)" in \
        gate["subscriptions"][SUB_B]["reason"]
    # Week 5 reads B again and db01 is really gone: now it is fixed, open since week 1.
    snapshot5 = write_json(tmp_path / "week5.json", rows + vm("web01", SUB_B, "Premium_ZRS"))
    run = check(snapshot5, tmp_path / "week5", "--history", str(copy), as_of="2026-11-30T06:00:00Z")
    fixed = findings(tmp_path / "week5")["fixed"]
    assert [(f["resource_name"], f["days_open"]) for f in fixed] == [("db01", 28)]


def test_a_failed_run_records_nothing(tmp_path, monkeypatch):
    from auditor.inventory.snapshot import read_snapshot
    from auditor.pipeline import RENDERERS, AuditOptions, audit, parse_as_of

    snapshot = read_snapshot(write_json(tmp_path / "week1.json", weekly_estates()[0]))
    db = tmp_path / "audit.db"
    options = AuditOptions(out_dir=tmp_path / "out", formats=("json",), history=db, as_of=parse_as_of(WEEKS[0]))
    audit(snapshot, options)

    def broken(report, rules):
        raise RuntimeError("renderer failed")

    monkeypatch.setitem(RENDERERS, "json", broken)
    with pytest.raises(RuntimeError):
        audit(snapshot, AuditOptions(out_dir=tmp_path / "out", formats=("json",), history=db,
                                     as_of=parse_as_of(WEEKS[1])))
    total, runs = history_module.read_runs(db)
    assert total == 1 and runs[0].as_of == WEEKS[0]


def test_two_runs_at_once_on_one_history_file(tmp_path):
    """Three processes started together on one new history file: all recorded, in some order, and the
    database is intact. The two runs of subscription A see each other: one finds its findings new, the
    other finds them open."""
    estates = {"a1": vm("app01") + vm("app02"), "b": vm("db01", SUB_B, "Standard_LRS"), "a2": vm("app01") + vm("app02")}
    db = tmp_path / "audit.db"
    processes = {}
    for name, rows in estates.items():
        snapshot = write_json(tmp_path / f"{name}.json", rows)
        processes[name] = subprocess.Popen(
            [sys.executable, "-m", "auditor.cli", "check", "--snapshot", str(snapshot), "--out", str(tmp_path / name),
             "--format", "json", "--history", str(db), "--as-of", WEEKS[0]],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 1, (name, stderr)
    total, runs = history_module.read_runs(db)
    assert total == 3
    connection = sqlite3.connect(db)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("SELECT count(*) FROM findings").fetchone() == (3,)
        assert connection.execute("SELECT count(*) FROM run_findings").fetchone() == (5,)
    finally:
        connection.close()
    statuses = sorted(tuple(sorted({f["status"] for f in findings(tmp_path / name)["findings"]})) for name in ("a1", "a2"))
    assert statuses == [("new",), ("open",)]
    assert {f["status"] for f in findings(tmp_path / "b")["findings"]} == {"new"}


# ------------------------------------------------------------------------------------- history file


def test_history_schema_is_versioned_and_migrated(tmp_path, monkeypatch):
    db = tmp_path / "audit.db"
    snapshot = write_json(tmp_path / "week1.json", weekly_estates()[0])
    assert check(snapshot, tmp_path / "o1", "--history", str(db), as_of=WEEKS[0], formats="json").code == 1
    connection = sqlite3.connect(db)
    assert connection.execute("PRAGMA user_version").fetchone() == (history_module.schema_version(),)
    assert connection.execute("PRAGMA application_id").fetchone() == (history_module.APPLICATION_ID,)
    connection.close()
    # A later dr-audit adds a migration: the file is upgraded in place and keeps its runs.
    monkeypatch.setattr(history_module, "MIGRATIONS", history_module.MIGRATIONS + [
        ("ALTER TABLE runs ADD COLUMN note TEXT",)])
    total, runs = history_module.read_runs(db)
    assert total == 1 and runs[0].as_of == WEEKS[0]
    connection = sqlite3.connect(db)
    assert connection.execute("PRAGMA user_version").fetchone() == (history_module.schema_version(),)
    assert connection.execute("SELECT note FROM runs").fetchall() == [(None,)]
    connection.close()


@pytest.mark.parametrize(("prepare", "message"), [
    ("newer", "written by a newer dr-audit"),
    ("foreign", "is a SQLite database but not a dr-audit history store"),
    ("text", "is not a dr-audit history store"),
    ("directory", "is a directory"),
    ("no-parent", "does not exist"),
])
def test_a_bad_history_file_is_an_input_error_before_anything_is_written(tmp_path, prepare, message):
    db = tmp_path / "audit.db"
    if prepare == "newer":
        connection = sqlite3.connect(db)
        connection.execute(f"PRAGMA application_id = {history_module.APPLICATION_ID}")
        connection.execute("PRAGMA user_version = 999")
        connection.close()
    elif prepare == "foreign":
        connection = sqlite3.connect(db)
        connection.execute("CREATE TABLE invoices (id INTEGER)")
        connection.close()
    elif prepare == "text":
        db.write_text("not a database, just notes\n" * 100)
    elif prepare == "directory":
        db.mkdir()
    else:
        db = tmp_path / "missing" / "audit.db"
    snapshot = write_json(tmp_path / "week1.json", weekly_estates()[0])
    run = check(snapshot, tmp_path / "out", "--history", str(db), formats="json")
    assert run.code == 2 and message in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()


def test_history_command_needs_an_existing_file(tmp_path):
    run = run_cli("history", "--history", str(tmp_path / "none.db"))
    assert run.code == 2 and "does not exist" in run.stderr
    assert not (tmp_path / "none.db").exists()
    assert run_cli("history", "--history", str(tmp_path / "none.db"), "--last", "0").code == 2


# ------------------------------------------------------------------------------------- waivers


WAIVERS = """\
waivers:
  - rule: vm-lrs-disk-no-backup
    resource: /subscriptions/*/resourceGroups/RG-APP/providers/Microsoft.Compute/virtualMachines/db01
    reason: rebuilt nightly from the export
    owner: data-team@contoso.com
    expires: 2026-11-10
  - rule: "vm-*-no-backup"
    tag: env=sandbox
    reason: sandbox
    owner: ccoe@contoso.com
    expires: 2027-06-30
"""


def test_a_waiver_expiring_between_runs(tmp_path):
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(WAIVERS)
    snapshot = write_json(tmp_path / "estate.json", vm("db01", SUB_B, "Standard_LRS") + vm("app03", sku="Premium_ZRS"))
    db = tmp_path / "audit.db"
    formats = "html,json,md,sarif,junit,csv"
    before = check(snapshot, tmp_path / "before", "--waivers", str(waivers), "--history", str(db),
                   as_of="2026-11-09T06:00:00Z", formats=formats)
    assert before.code == 0, before.stderr  # the only high finding is waived
    report = findings(tmp_path / "before")
    db01 = by_name(report)[(LRS, "db01")]
    assert db01["waived"] is True and db01["waiver"] == {
        "entry": 1, "rule": LRS, "tag": None, "reason": "rebuilt nightly from the export",
        "owner": "data-team@contoso.com", "expires": "2026-11-10", "expired": False,
        "resource": "/subscriptions/*/resourceGroups/RG-APP/providers/Microsoft.Compute/virtualMachines/db01"}
    assert report["summary"]["findings_by_severity"]["high"] == 0
    assert [w["entry"] for w in report["summary"]["waivers"]["unmatched"]] == [2]
    assert [w["entry"] for w in report["summary"]["waivers"]["expiring_soon"]] == [1]
    assert "waiver entry 2 (rule vm-*-no-backup, owner ccoe@contoso.com) matches no finding" in before.stderr
    # Still visible and marked in every format.
    out = tmp_path / "before"
    waived_section = (out / "report.html").read_text()[(out / "report.html").read_text().index('id="waived"'):]
    assert "db01" in waived_section and "data-team@contoso.com" in waived_section
    assert "1 waived finding (not counted)" in (out / "summary.md").read_text()
    sarif = json.loads((out / "findings.sarif").read_text())["runs"][0]
    (result,) = [r for r in sarif["results"] if r.get("properties", {}).get("resource_name") == "db01"]
    assert result["suppressions"][0]["status"] == "accepted"
    junit = ET.parse(out / "junit.xml").getroot()
    (case,) = [c for c in junit.iter("testcase") if c.get("name") == "rg-app/db01" and c.get("classname") == LRS]
    assert case.find("skipped") is not None and "waived" in case.find("skipped").get("message")
    assert "data-team@contoso.com" in (out / "findings.csv").read_text()

    after = check(snapshot, tmp_path / "after", "--waivers", str(waivers), "--history", str(db),
                  as_of="2026-11-11T06:00:00Z", formats=formats)
    assert after.code == 1
    report = findings(tmp_path / "after")
    db01 = by_name(report)[(LRS, "db01")]
    assert db01["waived"] is False and db01["waiver"]["expired"] is True and db01["status"] == "open"
    assert db01["days_open"] == 2
    (expired,) = report["summary"]["waivers"]["expired"]
    assert (expired["entry"], expired["matches"], expired["expires"]) == (1, 1, "2026-11-10")
    assert "waiver entry 1 (rule vm-lrs-disk-no-backup, owner data-team@contoso.com) expired on 2026-11-10" in \
        after.stderr
    assert report["summary"]["gate"]["subscriptions"][SUB_B]["failed"] is True
    page = (tmp_path / "after" / "report.html").read_text()
    assert "Waiver expired" in page and 'id="waivers-expired"' in page and 'id="waivers-unmatched"' in page
    assert "**expired on 2026-11-10**" in (tmp_path / "after" / "summary.md").read_text()
    # The history counts it as waived in the first run, open in the second.
    trend = report["history"]
    assert [(p["waived"], p["findings_by_severity"]["high"]) for p in trend] == [(1, 0), (0, 1)]


def finding(rule_id: str, resource_id: str, **extra) -> dict:
    return {"id": f"{rule_id}|{resource_id}".lower(), "rule_id": rule_id, "resource_id": resource_id,
            "waived": False, "waiver": None, "tags": {}, **extra}


def write_text(directory: Path, text: str) -> Path:
    path = directory / f"waivers-{len(list(directory.glob('waivers-*')))}.yaml"
    path.write_text(text)
    return path


def waived_ids(directory: Path, text: str, items: list[dict]) -> list[str]:
    report = {"findings": copy.deepcopy(items), "summary": {}}
    apply_waivers(report, load_waivers(write_text(directory, text)), datetime(2026, 11, 25, tzinfo=timezone.utc))
    return [f["resource_id"] for f in report["findings"] if f["waived"]]


def entry(**fields) -> str:
    base = {"rule": LRS, "reason": "r", "owner": "o", "expires": "2027-01-01"}
    base.update(fields)
    lines = [f"    {key}: {json.dumps(value) if isinstance(value, str) else value}" for key, value in base.items()]
    return "waivers:\n  -" + "\n".join(lines)[3:] + "\n"


VM = "/subscriptions/s1/resourceGroups/rg-build/providers/Microsoft.Compute/virtualMachines/agent01"


def test_resource_globs_stay_within_a_segment_and_compare_case_insensitively(tmp_path):
    items = [finding(LRS, VM), finding(LRS, VM.replace("rg-build", "rg-build-prod")),
             finding(LRS, VM + "/extensions/x"), finding("vm-zrs-disk-no-backup", VM)]
    assert waived_ids(tmp_path, entry(resource="/SUBSCRIPTIONS/*/resourcegroups/rg-build/providers/*/*/*"), items) == [VM]
    assert waived_ids(tmp_path, entry(resource="/subscriptions/**/agent01"), items) == [VM, VM.replace("rg-build", "rg-build-prod")]
    assert waived_ids(tmp_path, entry(resource="/subscriptions/s1/resourceGroups/rg-build/**"), items) == [VM, VM + "/extensions/x"]
    assert waived_ids(tmp_path, entry(rule="vm-*-disk-no-backup", resource=VM), items) == [VM, VM]
    assert waived_ids(tmp_path, entry(resource="/subscriptions/s?/resourceGroups/rg-build/providers/Microsoft.Compute/"
                                     "virtualMachines/agent0?"), items) == [VM]


def test_tag_waivers_and_workload_findings(tmp_path):
    items = [finding(LRS, VM, tags={" Env ": " Sandbox "}), finding(LRS, VM + "2", tags={"env": "prod"}),
             finding("workload-single-region", "workload:reporting", resource_type="workload",
                     resource_name="reporting")]
    assert waived_ids(tmp_path, entry(tag="env=sandbox"), items) == [VM]
    assert waived_ids(tmp_path, entry(tag="ENV=sand*"), items) == [VM]
    assert waived_ids(tmp_path, entry(tag="env=sandbox", resource="/nowhere/*"), items) == []  # both must match
    assert waived_ids(tmp_path, entry(rule="workload-single-region", tag="workload=Reporting"), items) == ["workload:reporting"]
    assert waived_ids(tmp_path, entry(rule="workload-single-region", resource="workload:rep*"), items) == ["workload:reporting"]


def test_the_first_active_waiver_wins_and_an_expired_one_is_kept_for_the_record(tmp_path):
    text = entry(resource=VM, expires="2026-01-01", owner="old") + entry(resource=VM, owner="new")[len("waivers:\n"):]
    report = {"findings": [finding(LRS, VM)], "summary": {}}
    apply_waivers(report, load_waivers(write_text(tmp_path, text)), datetime(2026, 11, 25, tzinfo=timezone.utc))
    (f,) = report["findings"]
    assert f["waived"] and f["waiver"]["owner"] == "new" and f["waiver"]["entry"] == 2
    assert [w["entry"] for w in report["summary"]["waivers"]["expired"]] == [1]
    assert report["summary"]["waivers"]["unmatched"] == []
    # A waiver applies through its expiry day, and stops the day after.
    on_the_day = {"findings": [finding(LRS, VM)], "summary": {}}
    apply_waivers(on_the_day, load_waivers(write_text(tmp_path, entry(resource=VM, expires="2026-11-25"))),
                  datetime(2026, 11, 25, 23, 59, tzinfo=timezone.utc))
    assert on_the_day["findings"][0]["waived"] is True


@pytest.mark.parametrize(("text", "message"), [
    (entry(resource=VM, expires=None) .replace("    expires: None\n", ""), "entry 1 (line 2): 'expires' is required"),
    (entry(resource=VM) + entry(resource=VM, expires="31/03/2027")[len("waivers:\n"):],
     "entry 2 (line 7): 'expires' '31/03/2027' is not an ISO date"),
    ("waivers:\n  - rule: vm-lrs-disk-no-backup\n    resource: /x/*\n    reason: r\n    owner: o\n"
     "    expires: 2027-03-31 10:00:00\n", "entry 1 (line 2): 'expires' must be a date such as 2027-03-31, not a date"),
    (entry(resource=VM, expire="2027-01-01"), "entry 1 (line 2): has unknown key 'expire'"),
    (entry(), "entry 1 (line 2): needs 'resource' (a resource id glob) or 'tag'"),
    (entry(resource=VM, rule="vm-lrs-disk-nobackup"), "rule 'vm-lrs-disk-nobackup' is not a rule id"),
    (entry(resource=VM, rule="vault-*-backup"), "rule pattern 'vault-*-backup' matches no rule id"),
    (entry(tag="env"), "entry 1 (line 2): tag 'env' must be key=value"),
    (entry(resource=VM, owner=""), "entry 1 (line 2): 'owner' must be a non-empty string"),
    ("waivers:\n  rule: x\n", "'waivers:' must be a list of entries"),
    ("- rule: x\n", "must be a YAML mapping with one key, 'waivers:'"),
    ("waivers: [\n", "is not valid YAML"),
])
def test_waivers_validation_errors_name_the_entry_and_exit_2(tmp_path, text, message):
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(text)
    snapshot = write_json(tmp_path / "estate.json", vm("app01"))
    db = tmp_path / "audit.db"
    run = check(snapshot, tmp_path / "out", "--waivers", str(waivers), "--history", str(db), formats="json")
    assert run.code == 2, run.stderr
    assert run.stderr.startswith(f"dr-audit: error: waivers file {waivers}") and message in run.stderr
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists() and not db.exists()


# ------------------------------------------------------------------------------------- baseline


def test_baseline_gating_exit_codes_and_the_gate_per_subscription_in_every_format(tmp_path):
    week1, week2, _ = weekly_estates()
    first = check(write_json(tmp_path / "week1.json", week1), tmp_path / "main", formats="json",
                  as_of=WEEKS[0])
    assert first.code == 1
    baseline = tmp_path / "main" / "findings.json"
    snapshot2 = write_json(tmp_path / "week2.json", week2)

    # The same estate against its own baseline: nothing new, the gate passes.
    same = check(tmp_path / "week1.json", tmp_path / "same", "--baseline", str(baseline), formats="json",
                 as_of=WEEKS[0])
    assert same.code == 0, same.stderr
    gate = findings(tmp_path / "same")["summary"]["gate"]
    assert gate["failed"] is False and gate["blocking"] == 0
    assert gate["subscriptions"][SUB_A]["in_baseline"] == 2

    # Week 2 adds app05 (high) in subscription A: A fails, B (only known findings) passes.
    formats = "html,json,md,sarif,junit"
    pr = check(snapshot2, tmp_path / "pr", "--baseline", str(baseline), "--mask-ids", formats=formats,
               as_of=WEEKS[1])
    assert pr.code == 1, pr.stderr
    report = findings(tmp_path / "pr")
    assert {key[1]: (f["status"], f["in_baseline"]) for key, f in by_name(report).items()} == {
        "app02": ("open", True), "app03": ("open", True), "db01": ("open", True), "app05": ("new", False)}
    assert [f["resource_name"] for f in report["fixed"]] == ["app01"]  # finding ids match whatever the masking
    gate = report["summary"]["gate"]
    assert gate["baseline"] is True and gate["blocking"] == 1 and gate["exit_code"] == 1
    assert all("…" in key for key in gate["subscriptions"])  # --mask-ids: "0000…~9a1e"
    failing = [value for value in gate["subscriptions"].values() if value["failed"]]
    assert len(failing) == 1 and failing[0]["blocking"] == 1
    assert failing[0]["reason"] == "1 unwaived finding not in the baseline at or above high (1 high)"
    passing = [value for value in gate["subscriptions"].values() if not value["failed"]]
    assert passing[0]["reason"] == "no unwaived finding not in the baseline at or above high"
    assert "Gate (--fail-on high): failed: 1 unwaived finding not in the baseline at or above high in 1 of 2 " \
           "subscriptions." in pr.stdout
    out = tmp_path / "pr"
    page = (out / "report.html").read_text()
    assert 'id="gate-verdict"' in page and page.count("<strong>Fails</strong>") == 1 and "Passes" in page
    summary = (out / "summary.md").read_text()
    assert "Gate per subscription: 1 of 2 failing" in summary and summary.count("| **fails** | 1 |") == 1
    sarif = json.loads((out / "findings.sarif").read_text())["runs"][0]
    assert sarif["invocations"][0]["exitCode"] == 1 and sarif["properties"]["gate"]["blocking"] == 1
    assert {r["properties"]["resource_name"]: r["baselineState"] for r in sarif["results"] if r["kind"] == "fail"} == {
        "app02": "unchanged", "app03": "unchanged", "db01": "unchanged", "app05": "new"}
    junit = ET.parse(out / "junit.xml").getroot()
    subscription_suites = [suite for suite in junit if suite.get("name").startswith("subscription ")]
    gate_cases = [suite.find("testcase[@classname='dr-audit.gate']") for suite in subscription_suites]
    assert sorted(case.find("failure") is not None for case in gate_cases) == [False, True]
    for suite in subscription_suites:
        props = {p.get("name"): p.get("value") for p in suite.find("properties")}
        assert props["gate.failed"] in ("true", "false") and props["gate.reason"]

    # A waiver for the new finding, or a higher threshold, lets the pull request pass.
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(entry(resource="/subscriptions/*/resourceGroups/rg-app/providers/Microsoft.Compute/"
                                      "virtualMachines/app05"))
    assert check(snapshot2, tmp_path / "w", "--baseline", str(baseline), "--waivers", str(waivers), formats="json",
                 as_of=WEEKS[1]).code == 0
    assert check(snapshot2, tmp_path / "c", "--baseline", str(baseline), "--fail-on", "critical", formats="json",
                 as_of=WEEKS[1]).code == 0
    # Without the baseline every high finding counts.
    assert check(snapshot2, tmp_path / "all", formats="json", as_of=WEEKS[1]).code == 1


def test_baseline_without_history_lists_fixed_findings(tmp_path):
    week1, week2, _ = weekly_estates()
    check(write_json(tmp_path / "week1.json", week1), tmp_path / "main", formats="json", as_of=WEEKS[0])
    run = check(write_json(tmp_path / "week2.json", week2), tmp_path / "pr", "--baseline",
                str(tmp_path / "main" / "findings.json"), formats="json,md", as_of=WEEKS[1])
    report = findings(tmp_path / "pr")
    assert report["summary"]["changes"] == {"against": "baseline", "previous_as_of": WEEKS[0], "new": 1, "open": 3,
                                            "reopened": 0, "fixed": 1}
    assert [f["resource_name"] for f in report["fixed"]] == ["app01"]
    assert "Against the baseline: 1 new, 3 in the baseline, 1 fixed." in run.stdout
    assert "1 fixed since the baseline" in (tmp_path / "pr" / "summary.md").read_text()


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "is not JSON"),
    ('{"findings": "none"}', "is not a dr-audit findings.json"),
    ('{"findings": [{"rule_id": "x"}]}', "finding 1 has no 'id'"),
    (None, "does not exist"),
])
def test_a_bad_baseline_is_an_input_error(tmp_path, content, message):
    baseline = tmp_path / "baseline.json"
    if content is not None:
        baseline.write_text(content)
    run = check(write_json(tmp_path / "estate.json", vm("app01")), tmp_path / "out", "--baseline", str(baseline),
                formats="json")
    assert run.code == 2 and f"baseline file {baseline}" in run.stderr and message in run.stderr
    assert not (tmp_path / "out").exists()


def test_load_waivers_rejects_a_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_waivers(tmp_path / "nope.yaml")
    assert load_waivers(write_text(tmp_path, "# every waiver was removed\n")) == WaiverSet(
        str(tmp_path / "waivers-0.yaml"), ())
