"""`dr-audit plan` as a user runs it: sources, formats, the script, exit codes and errors."""

from __future__ import annotations

import json

import pytest

from conftest import SUB, vm_row, write_json


def test_plan_for_the_demo_writes_plan_and_script(cli, tmp_path):
    run = cli("plan", "--demo", "--out", str(tmp_path), "--script", "bash", "--format", "html,md,json")
    assert run.code == 0, run.stderr
    assert {p.name for p in tmp_path.iterdir()} == {"plan.html", "plan.md", "plan.json", "remediate.sh"}
    plan = json.loads((tmp_path / "plan.json").read_text(encoding="utf-8"))
    html = (tmp_path / "plan.html").read_text(encoding="utf-8")
    markdown = (tmp_path / "plan.md").read_text(encoding="utf-8")
    assert len(plan["workloads"]) == 25 and plan["as_of"] == "2026-11-23T06:00:00Z"
    for workload in plan["workloads"]:
        assert f">{workload['name']} <span class=\"tier\">" in html
        assert f"### {workload['name']} (" in markdown
    assert "not run by dr-audit" in run.stdout and "DRY_RUN=1 bash remediate.sh" in run.stdout
    assert not (tmp_path / "remediate.sh").stat().st_mode & 0o111  # written, not made executable
    assert "remediate.sh" in html


def test_plan_from_a_snapshot_with_powershell(cli, tmp_path):
    rows = vm_row("app01", tags={"workload": "shop", "dr-tier": "critical"})
    snapshot = write_json(tmp_path / "snap.json", rows)
    out = tmp_path / "out"
    run = cli("plan", "--snapshot", str(snapshot), "--out", str(out), "--script", "powershell",
              "--as-of", "2026-11-25T08:00:00Z")
    assert run.code == 0, run.stderr
    assert {p.name for p in out.iterdir()} == {"plan.html", "plan.md", "remediate.ps1"}
    script = (out / "remediate.ps1").read_text(encoding="utf-8")
    assert "Enable-AzRecoveryServicesBackupProtection -ResourceGroupName 'rg-app' -Name 'app01'" in script
    assert "2026-11-25T08:00:00Z" in script


@pytest.mark.parametrize(("args", "message"), [
    ((), "give a source: --snapshot FILE, --demo"),
    (("--demo", "--snapshot", "x.json"), "give one source"),
    (("--demo", "--format", "pdf"), "--format 'pdf' is not a plan format"),
    (("--demo", "--as-of", "yesterday"), "--as-of 'yesterday' is not an ISO-8601 time"),
    (("--snapshot", "missing.json"), "missing.json"),
])
def test_usage_errors_exit_2_and_write_nothing(cli, tmp_path, args, message):
    out = tmp_path / "out"
    run = cli("plan", *args, "--out", str(out), cwd=tmp_path)
    assert run.code == 2 and message in run.stderr and "Traceback" not in run.stderr
    assert not out.exists()


def test_unknown_script_language_is_a_usage_error(cli, tmp_path):
    run = cli("plan", "--demo", "--script", "zsh", "--out", str(tmp_path / "o"))
    assert run.code == 2 and "zsh" in run.stderr


def test_incomplete_scope_is_exit_3_with_the_plan_written(cli, tmp_path):
    snapshot = {"dr_audit_snapshot": {"captured_at": "2026-11-25T08:00:00Z",
                                      "scopes": [{"subscription_id": SUB, "status": "incomplete", "reason": "throttled"}]},
                "data": vm_row("app01", tags={"workload": "shop"})}
    path = write_json(tmp_path / "snap.json", snapshot)
    run = cli("plan", "--snapshot", str(path), "--out", str(tmp_path / "o"))
    assert run.code == 3, run.stderr
    assert (tmp_path / "o" / "plan.html").exists() and "throttled" in run.stderr
    assert "Incomplete inventory" in (tmp_path / "o" / "plan.html").read_text(encoding="utf-8")


def test_plan_help_lists_its_options(cli):
    run = cli("plan", "--help")
    assert run.code == 0
    for option in ("--snapshot", "--demo", "--subscription", "--out", "--format", "--script", "--config", "--as-of",
                   "--mask-ids"):
        assert option in run.stdout


def test_waived_findings_are_marked_in_the_plan_and_left_out_of_the_script(cli, tmp_path):
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("waivers:\n  - rule: vault-soft-delete-disabled\n"
                       "    resource: /subscriptions/*/resourceGroups/rg-legacy-weu/providers/"
                       "Microsoft.RecoveryServices/vaults/rsv-legacy-weu\n"
                       "    reason: legacy vault is being retired\n    owner: platform-team@fabrikam.com\n"
                       "    expires: 2027-03-31\n", encoding="utf-8")
    run = cli("plan", "--demo", "--out", str(tmp_path / "o"), "--format", "json", "--script", "bash",
              "--waivers", str(waivers))
    assert run.code == 0, run.stderr
    plan = json.loads((tmp_path / "o" / "plan.json").read_text(encoding="utf-8"))
    waived = [f for w in plan["workloads"] for f in w["findings"] if f["waived"]]
    assert {(f["rule_id"], f["resource_name"]) for f in waived} == {("vault-soft-delete-disabled", "rsv-legacy-weu")}
    script = (tmp_path / "o" / "remediate.sh").read_text(encoding="utf-8")
    assert "--name rsv-legacy-weu --soft-delete-feature-state Enable" not in script
    assert "--name rsv-dev-weu --soft-delete-feature-state Enable" in script


@pytest.mark.parametrize("document", ["README.md", "docs/plan.md"])
def test_documented_plan_examples_are_valid(cli, tmp_path, document):
    import re
    import shlex

    from auditor.config import load_config
    from conftest import REPO

    text = (REPO / document).read_text(encoding="utf-8")
    if document == "README.md":
        start = text.index("## DR plan\n")
        text = text[start:text.index("\n## ", start + 1)]
    blocks = re.findall(r"```(\w+)\n(.*?)```", text, re.DOTALL)
    (tiers_yaml,) = [code for language, code in blocks if language == "yaml"]
    config = tmp_path / "tiers.yaml"
    config.write_text(tiers_yaml, encoding="utf-8")
    assert [t.name for t in load_config(config).tiers][:2] == ["gold", "critical"]
    help_text = cli("plan", "--help").stdout
    commands = [shlex.split(line.split("#")[0]) for language, code in blocks if language == "bash"
                for line in code.splitlines() if line.startswith("dr-audit plan")]
    assert commands
    for args in commands:
        for option in (arg for arg in args if arg.startswith("--")):
            assert option in help_text, (document, option)
