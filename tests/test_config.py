"""--config changes tag keys and thresholds; a broken config is exit 2 naming the file and key."""

from __future__ import annotations

import json

import pytest

from auditor.config import Config, load_config
from auditor.errors import InputError
from conftest import vm_row, write_json


def test_defaults_without_a_file():
    assert load_config(None) == Config()


def test_custom_tier_tag_key_decides_high_availability(cli, tmp_path):
    rows = vm_row("erp-db01", disk_sku="Premium_ZRS")
    rows[0]["tags"] = {"Criticality": "Critical"}
    snapshot = write_json(tmp_path / "snap.json", rows)
    config = tmp_path / "dr-audit.yaml"
    config.write_text("tags:\n  tier: criticality\n", encoding="utf-8")

    def ha_findings(*extra):
        out = tmp_path / ("out" + str(len(extra)))
        run = cli("check", "--snapshot", str(snapshot), "--out", str(out), "--format", "json", "--fail-on", "never",
                  *extra)
        assert run.code == 0, run.stderr
        findings = json.loads((out / "findings.json").read_text())["findings"]
        return [f["resource_name"] for f in findings if f["rule_id"] == "vm-not-highly-available"]

    assert ha_findings() == []
    assert ha_findings("--config", str(config)) == ["erp-db01"]


def test_thresholds_are_read(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("thresholds:\n  staleness_multiplier: 3\n  snapshot_coordination_minutes: 10\n"
                    "high_availability:\n  tiers: [Critical]\n", encoding="utf-8")
    config = load_config(path)
    assert (config.staleness_multiplier, config.snapshot_coordination_minutes, config.ha_tiers) == (3.0, 10.0,
                                                                                                    ("critical",))


@pytest.mark.parametrize(("text", "message"), [
    ("tags:\n  teir: x\n", "unknown key tags.teir"),
    ("colours: {}\n", "unknown section 'colours'"),
    ("thresholds:\n  staleness_multiplier: -1\n", "must be a positive number"),
    ("tags:\n  tier: ''\n", "must be a non-empty string"),
    ("tags: [a, b]\n", "must be a mapping"),
    ("tags:\n  tier: [unclosed\n", "is not valid YAML"),
])
def test_broken_config_names_file_and_key(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as error:
        load_config(path)
    assert message in str(error.value) and str(path) in str(error.value)


def test_broken_config_on_the_command_line_is_exit_2(cli, tmp_path):
    snapshot = write_json(tmp_path / "snap.json", vm_row("a"))
    path = tmp_path / "c.yaml"
    path.write_text("tags:\n  teir: x\n", encoding="utf-8")
    run = cli("check", "--snapshot", str(snapshot), "--out", str(tmp_path / "o"), "--config", str(path))
    assert run.code == 2 and "tags.teir" in run.stderr and not (tmp_path / "o").exists()
