"""The bad-input matrix (docs/reliability.md): every malformed input either is handled correctly as
data, or exits 2 with one sentence naming the file and place, no traceback, and no output file."""

from __future__ import annotations

import gzip
import json

import pytest

from conftest import SUB, run_cli, vm_row

VM = vm_row("app01")  # an LRS VM without backup: one high finding when read correctly


def _json(rows) -> bytes:
    return json.dumps(rows).encode()


def _odd_types():
    vm, disk = [dict(row) for row in vm_row("odd01")]
    vm.update(sku="Standard_D2s_v5", zones="1", tags=["a", "b"], location=7)
    disk.update(sku="Premium_LRS", properties=None, tags="none")
    return [vm, disk]


# name, file bytes, expected exit code, text that must appear (stderr for 2, the findings for 0/1)
SNAPSHOT_MATRIX = [
    ("empty file", b"", 2, "is empty"),
    ("whitespace only", b"  \n\t\n", 2, "is empty"),
    ("binary file", bytes(range(256)) * 4, 2, "is not"),
    ("broken gzip", gzip.compress(_json(VM))[:-12], 2, "not a valid gzip file"),
    ("gzip of garbage", gzip.compress(b"\x00\x01garbage"), 2, "is not JSON"),
    ("gzip with a corrupt deflate block", (lambda packed: packed[:20] + b"\xff" * 16 + packed[36:])(
        gzip.compress(b"\n".join(json.dumps(r).encode() for r in VM * 20))), 2, "not a valid gzip file"),
    ("truncated JSON array", _json(VM)[:-40], 2, "is not valid JSON at line 1"),
    ("truncated JSON Lines", b"\n".join(json.dumps(r).encode() for r in VM)[:-10], 2, "line 2 is not valid JSON"),
    ("row without id", _json([VM[0], {"type": "microsoft.compute/disks"}]), 2, "row 2 has no 'id'"),
    ("row without type", _json([{"id": "/subscriptions/x"}]), 2, "row 1 has no 'type'"),
    ("row that is not an object", _json([VM[0], "oops"]), 2, "row 2 is not a JSON object"),
    ("data that is not a list", b'{"data": {"rows": 1}}', 2, "'data' that is not a list"),
    ("scopes that are not objects", b'{"dr_audit_snapshot": {"scopes": [1]}, "data": []}', 2, "scopes"),
    ("capture time that is not a date", json.dumps({"dr_audit_snapshot": {"captured_at": "yesterday"},
                                                    "data": VM}).encode(), 2, "capture time 'yesterday'"),
    ("wrong types in every field the rules read", _json(_odd_types()), 0, "odd01"),
    ("duplicate ids (overlapping scopes)", _json(VM + VM + [dict(VM[0], id=VM[0]["id"].upper())]), 1, "app01"),
    ("unknown types only", _json([{"id": "/subscriptions/x/rg/y", "type": "microsoft.web/sites"}]), 0, ""),
    ("huge strings", _json([dict(VM[0], tags={"owner": "x" * 2_000_000})] + VM[1:]), 1, "app01"),
    ("non-ASCII and right-to-left names", _json([dict(VM[0], name="خادم-التطبيق", tags={"owner": "Zoë 🚀"})] + VM[1:]),
     1, "خادم-التطبيق"),
    ("UTF-8 byte order mark", b"\xef\xbb\xbf" + _json(VM), 1, "app01"),
    ("Windows line ends in JSON Lines", b"\r\n".join(json.dumps(r).encode() for r in VM), 1, "app01"),
]


@pytest.mark.parametrize(("name", "content", "code", "expected"), SNAPSHOT_MATRIX, ids=[r[0] for r in SNAPSHOT_MATRIX])
def test_snapshot_input(tmp_path, name, content, code, expected):
    snapshot = tmp_path / "snap.json"
    snapshot.write_bytes(content)
    out = tmp_path / "out"
    run = run_cli("check", "--snapshot", str(snapshot), "--out", str(out), "--format", "json,html,md,csv,sarif,junit")
    assert run.code == code, run.stderr
    assert "Traceback" not in run.stderr
    if code == 2:
        assert len(run.stderr.strip().splitlines()) == 1 and str(snapshot) in run.stderr and expected in run.stderr
        assert not out.exists() or not any(out.iterdir()), "no output file may be written"
    else:
        text = (out / "findings.json").read_text(encoding="utf-8")
        assert expected in text
        assert {path.name for path in out.iterdir()} == {"findings.json", "report.html", "summary.md",
                                                         "findings.csv", "findings.sarif", "junit.xml"}


def test_wrong_types_are_read_as_data_not_guessed(tmp_path):
    snapshot = tmp_path / "snap.json"
    snapshot.write_bytes(_json(_odd_types()))
    run = run_cli("check", "--snapshot", str(snapshot), "--out", str(tmp_path / "o"), "--format", "json")
    findings = json.loads((tmp_path / "o" / "findings.json").read_text())["findings"]
    # The disk's sku is a string, not {name}: its redundancy is unknown, so no LRS verdict is invented.
    assert run.code in (0, 1) and not [f for f in findings if f["rule_id"] == "vm-lrs-disk-no-backup"]


CONFIG_MATRIX = [
    ("config: not YAML", "tags: [unclosed\n", "is not valid YAML"),
    ("config: unknown key", "tags:\n  teir: x\n", "unknown key tags.teir"),
    ("config: wrong type", "thresholds:\n  staleness_multiplier: many\n", "must be a positive number"),
    ("config: not a mapping", "- a\n- b\n", "must be a YAML mapping"),
]


@pytest.mark.parametrize(("name", "text", "expected"), CONFIG_MATRIX, ids=[r[0] for r in CONFIG_MATRIX])
def test_config_input(tmp_path, name, text, expected):
    snapshot = tmp_path / "snap.json"
    snapshot.write_bytes(_json(VM))
    config = tmp_path / "dr-audit.yaml"
    config.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    run = run_cli("check", "--snapshot", str(snapshot), "--out", str(out), "--config", str(config))
    assert run.code == 2 and str(config) in run.stderr and expected in run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert not out.exists()


FLAG_MATRIX = [
    (["--as-of", "2026-13-45"], "is not an ISO-8601 time"),
    (["--as-of", ""], "is not an ISO-8601 time"),
    (["--fail-on", "urgent"], "--fail-on"),
    (["--format", "pdf"], "is not a report format"),
    (["--format", ","], "needs at least one"),
    (["--no-such-flag"], "No such option"),
]


@pytest.mark.parametrize(("flags", "expected"), FLAG_MATRIX, ids=[" ".join(f) or "empty" for f, _ in FLAG_MATRIX])
def test_flags(tmp_path, flags, expected):
    snapshot = tmp_path / "snap.json"
    snapshot.write_bytes(_json(VM))
    run = run_cli("check", "--snapshot", str(snapshot), "--out", str(tmp_path / "out"), *flags)
    assert run.code == 2 and expected in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()


def test_unwritable_output_directory(tmp_path):
    snapshot = tmp_path / "snap.json"
    snapshot.write_bytes(_json(VM))
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    run = run_cli("check", "--snapshot", str(snapshot), "--out", str(blocker / "out"))
    assert run.code == 2 and "--out" in run.stderr and "Traceback" not in run.stderr


def test_subscription_ids_are_the_only_thing_joined_case_insensitively_here():
    assert SUB.lower() == SUB  # the conftest estate uses lower-case ids; casing traps live in tests/cases
