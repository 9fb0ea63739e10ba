"""`dr-audit` as a user runs it: files written, terminal summary, exit codes 0/1/2."""

from __future__ import annotations

import gzip
import json

import pytest

from conftest import SUB, vm_row, write_json

VAULT_ID = f"/subscriptions/{SUB}/resourceGroups/rg-backup/providers/Microsoft.RecoveryServices/vaults/rsv-weu"


def _estate():
    return vm_row("app01") + vm_row("app02", disk_sku="Premium_ZRS") + [
        {"id": VAULT_ID, "name": "rsv-weu", "type": "Microsoft.RecoveryServices/vaults", "location": "westeurope",
         "resourceGroup": "rg-backup", "subscriptionId": SUB,
         "properties": {"redundancySettings": {"standardTierStorageRedundancy": "GeoRedundant",
                                               "crossRegionRestore": "Enabled"}}},
    ]


def test_check_writes_reports_and_fails_the_gate_on_high(cli, tmp_path):
    snapshot = write_json(tmp_path / "snap.json", _estate())
    out = tmp_path / "out"
    run = cli("check", "--snapshot", str(snapshot), "--out", str(out), "--as-of", "2026-11-25T08:00:00Z")
    assert run.code == 1, run.stderr
    report = json.loads((out / "findings.json").read_text())
    assert sorted((f["rule_id"], f["resource_name"]) for f in report["findings"]) == [
        ("vm-lrs-disk-no-backup", "app01"), ("vm-zrs-disk-no-backup", "app02")]
    assert report["as_of"] == "2026-11-25T08:00:00Z"
    finding = next(f for f in report["findings"] if f["rule_id"] == "vm-lrs-disk-no-backup")
    # The fix names the real VM and picks the existing GeoRedundant vault in the VM's region and subscription.
    assert "--vault-name rsv-weu" in finding["fix"]["az_cli"] and "virtualMachines/app01" in finding["fix"]["az_cli"]
    assert (out / "report.html").read_text().count("app01") >= 1
    assert "1 high" in run.stdout and "app01" in run.stdout and str(out / "report.html") in run.stdout


def test_fail_on_threshold_and_never(cli, tmp_path):
    rows = vm_row("app01")
    rows[0]["tags"] = {"dr-tier": "critical"}  # adds a medium vm-not-highly-available finding
    rows[0]["zones"] = ["1"]
    snapshot = write_json(tmp_path / "snap.json", rows)
    assert cli("check", "--snapshot", str(snapshot), "--out", str(tmp_path / "a"), "--fail-on", "critical").code == 0
    assert cli("check", "--snapshot", str(snapshot), "--out", str(tmp_path / "b"), "--fail-on", "never").code == 0
    assert cli("check", "--snapshot", str(snapshot), "--out", str(tmp_path / "c"), "--fail-on", "high").code == 1


def test_clean_estate_exits_zero(cli, tmp_path):
    snapshot = write_json(tmp_path / "snap.json", vm_row("app02", disk_sku="Premium_ZRS")[1:])
    run = cli("check", "--snapshot", str(snapshot), "--out", str(tmp_path / "o"), "--format", "json")
    assert run.code == 0, run.stderr
    assert not (tmp_path / "o" / "report.html").exists()


def test_gzip_json_lines_snapshot(cli, tmp_path):
    path = tmp_path / "snap.jsonl.gz"
    path.write_bytes(gzip.compress("\n".join(json.dumps(r) for r in _estate()).encode()))
    run = cli("check", "--snapshot", str(path), "--out", str(tmp_path / "o"), "--format", "json")
    assert run.code == 1 and json.loads((tmp_path / "o" / "findings.json").read_text())["findings"]


@pytest.mark.parametrize(("args", "expected"), [
    (["check", "--snapshot", "{bad}", "--out", "{out}"], "row 2 has no 'id'"),
    (["check", "--snapshot", "{good}", "--out", "{out}", "--format", "html,pdf"], "'pdf' is not a report format"),
    (["check", "--snapshot", "{good}", "--out", "{out}", "--as-of", "last tuesday"], "is not an ISO-8601 time"),
    (["check", "--snapshot", "{good}", "--out", "{out}", "--fail-on", "severe"], "--fail-on"),
    (["check", "--snapshot", "{good}", "--out", "{out}", "--frobnicate"], "No such option: --frobnicate"),
    (["check", "--out", "{out}"], "--snapshot"),
    (["check", "--snapshot", "{missing}", "--out", "{out}"], "does not exist"),
    (["rules", "show", "no-such-rule"], "there is no rule 'no-such-rule'"),
])
def test_bad_input_is_one_sentence_exit_2_and_no_output(cli, tmp_path, args, expected):
    bad = write_json(tmp_path / "bad.json", [_estate()[0], {"type": "microsoft.compute/disks"}])
    good = write_json(tmp_path / "good.json", _estate())
    out = tmp_path / "out"
    paths = {"bad": bad, "good": good, "missing": tmp_path / "missing.json", "out": out}
    run = cli(*[arg.format(**paths) for arg in args])
    assert run.code == 2
    assert expected in run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())


def test_broken_snapshot_leaves_previous_reports_intact(cli, tmp_path):
    out = tmp_path / "out"
    good = write_json(tmp_path / "good.json", _estate())
    assert cli("check", "--snapshot", str(good), "--out", str(out)).code == 1
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": "/x", "type": "t"}, {"id": ', encoding="utf-8")
    assert cli("check", "--snapshot", str(bad), "--out", str(out)).code == 2
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


def test_rules_list_and_show(cli):
    listing = cli("rules", "list")
    assert listing.code == 0
    ids = [line.split()[0] for line in listing.stdout.splitlines()]
    for rule_id in ("vm-lrs-disk-no-backup", "vault-not-geo-redundant", "image-not-geo-redundant",
                    "availability-set-single-vm", "vm-not-highly-available"):
        assert rule_id in ids
    shown = cli("rules", "show", "vault-not-geo-redundant")
    assert shown.code == 0
    assert "Choose the Geo-redundant storage (GRS) option" in shown.stdout
    assert "az backup vault backup-properties set" in shown.stdout


def test_help_documents_exit_codes(cli):
    run = cli("--help")
    assert run.code == 0 and "3 audit incomplete" in " ".join(run.stdout.split())


def test_terminal_output_never_carries_control_characters_from_azure(cli, tmp_path):
    rows = vm_row("evil\x1b[2J\x1b]0;pwned\x07<script>")
    rows[0]["resourceGroup"] = "rg-\x1b[31mred"
    snapshot = write_json(tmp_path / "snap.json", rows)
    run = cli("check", "--snapshot", str(snapshot), "--out", str(tmp_path / "o"), "--format", "json")
    assert run.code == 1
    assert "\x1b" not in run.stdout and "\x07" not in run.stdout
    assert "evil?[2J" in run.stdout  # shown, defanged
