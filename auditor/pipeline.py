"""snapshot → inventory → rules → findings document → report files, and the gate's exit code."""

from __future__ import annotations

import os
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, Callable

from auditor.config import Config
from auditor.engine.catalog import SEVERITIES, Rule, load_catalog
from auditor.engine.run import run_rules
from auditor.errors import InputError
from auditor.forked import Forked
from auditor.heap import long_lived, release
from auditor.inventory.snapshot import Snapshot
from auditor.inventory.tables import build_inventory, python_strings
from auditor.report.baseline import Baseline, apply_baseline, load_baseline
from auditor.report.csv_writer import render_csv
from auditor.report.findings import build_findings
from auditor.report.history import check_history_path, recording
from auditor.report.html import render_html
from auditor.report.json_writer import render_json, write_json
from auditor.report.junit import render_junit
from auditor.report.markdown import render_markdown
from auditor.report.masking import mask_report, tenant_ids
from auditor.report.sarif import render_sarif
from auditor.report.waivers import WaiverSet, apply_waivers, load_waivers
from auditor.resources import rules_dir, templates_dir

FORMATS = ("html", "md", "json", "csv", "sarif", "junit")
FILE_NAMES = {"html": "report.html", "md": "summary.md", "json": "findings.json", "csv": "findings.csv",
              "sarif": "findings.sarif", "junit": "junit.xml"}
FAIL_ON = SEVERITIES + ("never",)


@dataclass
class AuditOptions:
    out_dir: Path
    formats: tuple[str, ...] = ("html", "json")
    fail_on: str = "high"
    as_of: datetime | None = None
    config: Config = field(default_factory=Config)
    rules_path: Path | None = None
    mask_ids: bool = False
    waivers: Path | None = None     # --waivers: accepted risks (auditor/report/waivers.py)
    baseline: Path | None = None    # --baseline: a previous findings.json; only findings not in it gate
    history: Path | None = None     # --history: the SQLite history store (auditor/report/history.py)
    inputs: "AuditInputs | None" = field(default=None, repr=False)  # filled by prepare()


@dataclass
class AuditInputs:
    """The files named by --waivers and --baseline, read and validated once."""
    waivers: WaiverSet | None = None
    baseline: Baseline | None = None


def prepare(options: AuditOptions) -> AuditInputs:
    """Read and check --waivers, --baseline and --history now, so that a bad file is an input error
    (exit 2) before a crawl starts or a report is written."""
    if options.inputs is None:
        rule_ids = [rule.id for rule in load_rules(options.rules_path)] if options.waivers is not None else None
        inputs = AuditInputs(
            waivers=load_waivers(options.waivers, rule_ids) if options.waivers is not None else None,
            baseline=load_baseline(options.baseline) if options.baseline is not None else None,
        )
        if options.history is not None:
            check_history_path(options.history)
        options.inputs = inputs
    return options.inputs


@dataclass
class AuditOutcome:
    report: dict[str, Any]
    written: dict[str, Path]
    exit_code: int


def parse_formats(text: str, allowed: tuple[str, ...] = FORMATS, kind: str = "report") -> tuple[str, ...]:
    """`--format a,b`: the names in order, once each; an empty or unknown one is a usage error."""
    formats = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    if not formats:
        raise InputError("--format needs at least one of " + ",".join(allowed) + ".")
    unknown = [name for name in formats if name not in allowed]
    if unknown:
        raise InputError(f"--format {unknown[0]!r} is not a {kind} format; choose from {','.join(allowed)}.")
    return formats


def parse_as_of(text: str) -> datetime:
    value = text.strip()
    try:
        moment = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
    except ValueError:
        raise InputError(f"--as-of {text!r} is not an ISO-8601 time such as 2026-11-25T08:00:00Z.") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def load_rules(path: Path | None = None) -> list[Rule]:
    return load_catalog(path or rules_dir())


def audit(snapshot: Snapshot, options: AuditOptions) -> AuditOutcome:
    # Every stage makes objects that live until the reports are written and form no cycles (tables,
    # findings): collecting would only rescan them, again and again as the findings grow.
    with long_lived(), python_strings():
        return _audit(snapshot, options)


def _audit(snapshot: Snapshot, options: AuditOptions) -> AuditOutcome:
    inputs = prepare(options)
    rules = load_rules(options.rules_path)
    as_of = options.as_of
    if as_of is None:
        as_of = snapshot_time(snapshot) or datetime.now(timezone.utc)
    inventory = build_inventory(snapshot.rows, options.config, as_of)
    results = run_rules(inventory, rules)
    report = build_findings(snapshot=snapshot, inventory=inventory, results=results, as_of=as_of)
    # The tables and rule results (a gigabyte at a million rows) are done with: the reports reuse their
    # memory, or, when the process ends right after (the command line), they are held until then.
    release(inventory, results)
    del inventory, results
    if inputs.waivers is not None:
        apply_waivers(report, inputs.waivers, as_of, workload_tag=options.config.workload_tag)
    if inputs.baseline is not None:
        apply_baseline(report, inputs.baseline, complete_subscriptions(report))
    _count_unwaived(report)
    report["summary"]["gate"] = gate_summary(report, options.fail_on)
    exit_code = gate(report, options.fail_on)
    # The history transaction spans rendering and writing: a run is recorded only together with its
    # reports, and a concurrent run on the same file waits for it, then builds on it.
    with recording(options.history) if options.history is not None else nullcontext() as recorder:
        if recorder is not None:
            recorder.record(report, exit_code=exit_code, fail_on=options.fail_on, source=snapshot.source)
        # Every format is rendered to a temporary file first: a failure in any leaves --out untouched.
        shared = mask_report(report, tenant_ids(snapshot.rows)) if options.mask_ids else report
        written = write_atomically(options.out_dir, {FILE_NAMES[fmt]: render_format(fmt, shared, rules)
                                                     for fmt in options.formats})
    return AuditOutcome(report=report, written={fmt: written[FILE_NAMES[fmt]] for fmt in options.formats},
                        exit_code=exit_code)


def complete_subscriptions(report: dict[str, Any]) -> set[str]:
    """Lower-cased ids of the subscriptions this run read completely."""
    return {str(scope["subscription_id"]).lower() for scope in report["scopes"]
            if scope.get("subscription_id") and scope.get("status") == "complete"}


def _count_unwaived(report: dict[str, Any]) -> None:
    counts = {severity: 0 for severity in SEVERITIES}
    for finding in report["findings"]:
        if not finding["waived"] and finding["severity"] in counts:
            counts[finding["severity"]] += 1
    report["summary"]["findings_by_severity"] = counts


def _blocks(finding: dict[str, Any], threshold: int) -> bool:
    """A finding that fails the gate: unwaived, not in the baseline, at or above --fail-on."""
    return (not finding["waived"] and not finding.get("in_baseline")
            and SEVERITIES.index(finding["severity"]) <= threshold)


def gate(report: dict[str, Any], fail_on: str) -> int:
    """3 when some scope could not be read completely (whatever was found: missing data is never a
    pass); else 1 when an unwaived finding that is not in the baseline is at or above --fail-on; else 0."""
    if any(scope.get("status") != "complete" for scope in report["scopes"]):
        return 3
    if fail_on == "never":
        return 0
    threshold = SEVERITIES.index(fail_on)
    return 1 if any(_blocks(f, threshold) for f in report["findings"]) else 0


def gate_summary(report: dict[str, Any], fail_on: str) -> dict[str, Any]:
    """summary.gate: the verdict, and per subscription whether it fails and why. Workload findings whose
    VMs span several subscriptions are judged under `workloads` (as JUnit puts them in that suite)."""
    threshold = SEVERITIES.index(fail_on) if fail_on != "never" else -1
    with_baseline = "baseline" in report["summary"]
    qualifier = " not in the baseline" if with_baseline else ""

    def entry(complete: bool = True, problem: str | None = None) -> dict[str, Any]:
        return {"failed": False, "blocking": 0, "blocking_by_severity": {s: 0 for s in SEVERITIES},
                "in_baseline": 0, "complete": complete, "reason": problem}

    subscriptions: dict[str, dict[str, Any]] = {}
    for scope in report["scopes"]:
        key = str(scope.get("subscription_id") or scope.get("scope") or "(unnamed scope)")
        subscriptions[key] = entry(scope.get("status") == "complete", scope.get("reason") or scope.get("status"))
    by_lower = {key.lower(): key for key in subscriptions}
    workloads: dict[str, Any] | None = None
    # Per finding (a hundred thousand at a million rows): each subscription id as written is looked up
    # once, and severities by a dict rather than list.index.
    targets: dict[Any, dict[str, Any]] = {}
    rank = {severity: position for position, severity in enumerate(SEVERITIES)}
    for finding in report["findings"]:
        written = finding.get("subscription_id")
        if written:
            target = targets.get(written)
            if target is None:
                key = by_lower.setdefault(str(written).lower(), str(written))
                target = subscriptions.get(key)
                if target is None:
                    target = subscriptions[key] = entry()
                targets[written] = target
        else:
            workloads = workloads or entry()
            target = workloads
        if threshold < 0 or finding["waived"] or rank.get(finding["severity"], len(SEVERITIES)) > threshold:
            continue
        if finding.get("in_baseline"):
            target["in_baseline"] += 1
        else:
            target["blocking"] += 1
            target["blocking_by_severity"][finding["severity"]] += 1

    def judge(item: dict[str, Any]) -> None:
        if not item["complete"]:
            item["failed"] = True
            item["reason"] = (f"could not be read completely ({item['reason'] or 'no reason recorded'}); missing "
                              "data is never a pass")
        elif threshold < 0:
            item["reason"] = "not gated (--fail-on never)"
        elif item["blocking"]:
            item["failed"] = True
            parts = ", ".join(f"{n} {s}" for s, n in item["blocking_by_severity"].items() if n)
            item["reason"] = (f"{item['blocking']} unwaived finding{'s' if item['blocking'] != 1 else ''}{qualifier} "
                              f"at or above {fail_on} ({parts})")
        else:
            item["reason"] = f"no unwaived finding{qualifier} at or above {fail_on}"

    for item in subscriptions.values():
        judge(item)
    if workloads is not None:
        judge(workloads)
    exit_code = gate(report, fail_on)
    judged = list(subscriptions.values()) + ([workloads] if workloads is not None else [])
    failing = sum(1 for item in judged if item["failed"])
    blocking = sum(item["blocking"] for item in judged)
    if exit_code == 3:
        verdict = (f"incomplete: {sum(1 for item in judged if not item['complete'])} scope(s) could not be read "
                   "completely (exit 3)")
    elif exit_code == 1:
        verdict = (f"failed: {blocking} unwaived finding{'s' if blocking != 1 else ''}{qualifier} at or above {fail_on}"
                   f" in {failing} of {len(judged)} {'scopes' if workloads is not None else 'subscriptions'}")
    elif fail_on == "never":
        verdict = "not gated (--fail-on never)"
    else:
        verdict = f"passed: no unwaived finding{qualifier} at or above {fail_on}"
    result: dict[str, Any] = {"fail_on": fail_on, "baseline": with_baseline, "failed": exit_code != 0,
                              "exit_code": exit_code, "blocking": blocking, "verdict": verdict,
                              "subscriptions": subscriptions}
    if workloads is not None:
        result["workloads"] = workloads
    return result


def snapshot_time(snapshot: Snapshot) -> datetime | None:
    """The snapshot's capture time, the default --as-of."""
    if not snapshot.captured_at:
        return None
    try:
        return parse_as_of(snapshot.captured_at)
    except InputError:
        raise InputError(f"snapshot file {snapshot.source} has a capture time {snapshot.captured_at!r} that is "
                         "not ISO-8601.") from None


def _render_json(report: dict[str, Any], rules: list[Rule]) -> str:
    return render_json(report)


def _render_html(report: dict[str, Any], rules: list[Rule]) -> str:
    return render_html(report, rule_summaries(rules), templates_dir())


def _render_markdown(report: dict[str, Any], rules: list[Rule]) -> str:
    return render_markdown(report, rule_summaries(rules), templates_dir())


def _render_csv(report: dict[str, Any], rules: list[Rule]) -> str:
    return render_csv(report)


def _render_sarif(report: dict[str, Any], rules: list[Rule]) -> str:
    return render_sarif(report, rule_summaries(rules))


def _render_junit(report: dict[str, Any], rules: list[Rule]) -> str:
    return render_junit(report, rule_summaries(rules))


def rule_summaries(rules: list[Rule]) -> dict[str, dict[str, str]]:
    """The catalog as plain data for the writers: every rule, whether or not it found anything."""
    return {rule.id: {"id": rule.id, "title": rule.title, "severity": rule.severity, "resource": rule.resource_type,
                      "rationale": " ".join(rule.rationale.split()), "guidance": rule.guidance_section,
                      "guidance_quote": " ".join(rule.guidance_quote.split())} for rule in rules}


RENDERERS: dict[str, Callable[[dict[str, Any], list[Rule]], str]] = {
    "html": _render_html,
    "md": _render_markdown,
    "json": _render_json,
    "csv": _render_csv,
    "sarif": _render_sarif,
    "junit": _render_junit,
}


def render_format(fmt: str, report: dict[str, Any], rules: list[Rule]) -> Callable[[BinaryIO], None]:
    """What writes a format's file: findings.json in pieces as orjson produces them (600 MB at a
    million rows), any other format rendered when its file is written, so that one at a time is in
    memory (findings.csv, .sarif and junit.xml are hundreds of MB each at that size)."""
    renderer = RENDERERS[fmt]
    if renderer is _render_json:
        return _JsonFile(report)
    return lambda handle: handle.write(renderer(report, rules).encode("utf-8"))


# From this many findings on, findings.json is written by a forked copy of this process while this one
# renders the other reports (see write_atomically); up to the second number only. The copy costs memory
# in proportion to the findings: this process reads every finding for the HTML's summaries meanwhile,
# and each page it writes to is copied. At 128,609 findings the copy saves 0.5 s and the process tree
# stays below its peak of the findings stage; at 285,250 it peaked 0.7 GB higher (4.6 GB).
SEPARATE_FINDINGS = 20_000
SEPARATE_FINDINGS_MAX = 200_000


class _JsonFile:
    """findings.json's writer. `separately`: worth a forked copy of its own. orjson reads the document
    without writing reference counts, so the copy shares nearly every page with this process."""

    def __init__(self, report: dict[str, Any]):
        self.report = report
        self.separately = SEPARATE_FINDINGS <= len(report.get("findings") or ()) <= SEPARATE_FINDINGS_MAX

    def __call__(self, handle: BinaryIO) -> None:
        write_json(self.report, handle)


def write_atomically(out_dir: Path, files: dict[str, str | Callable[[BinaryIO], None]]) -> dict[str, Path]:
    """Write every file to a temporary name first, then rename them all: a failure while rendering or
    writing leaves the previous reports untouched and no half-written file behind. A file's content is
    its text, or a function that writes its bytes to the open temporary file. A function marked
    `separately` (a large findings.json) is run by a forked copy of this process, when there is one,
    while this one writes the other files; whatever goes wrong in the copy, this process writes that
    file again itself, and raises what it raises."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out directory {out_dir} cannot be created: {exc.strerror}.") from None
    staged: list[tuple[Path, Path]] = []
    umask = os.umask(0)
    os.umask(umask)
    copies: list[tuple[Forked, BinaryIO, Callable[[BinaryIO], None]]] = []

    def staging(name: str, binary: bool) -> Any:
        if binary:
            handle = tempfile.NamedTemporaryFile("wb", dir=out_dir, prefix=f".{name}.", suffix=".tmp", delete=False)
        else:
            # newline="": the text is written exactly as rendered (CSV keeps its CRLF, the rest LF).
            handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="", dir=out_dir,
                                                 prefix=f".{name}.", suffix=".tmp", delete=False)
        staged.append((Path(handle.name), out_dir / name))
        os.chmod(handle.name, 0o666 & ~umask)  # temp files are private; reports are ordinary files
        return handle

    try:
        try:
            # A file written by a copy is started first, so that the copy works while this process
            # writes the rest (only when there is a rest).
            ordered = sorted(files.items(), key=lambda item: not getattr(item[1], "separately", False))
            for name, content in ordered:
                handle = staging(name, binary=callable(content))
                if callable(content) and getattr(content, "separately", False) and len(files) > 1:
                    copy = Forked.start(partial(_write_in_copy, content, handle))
                    if copy is not None:
                        copies.append((copy, handle, content))
                        continue
                with handle:
                    if callable(content):
                        content(handle)
                    else:
                        handle.write(content)
            while copies:
                copy, handle, content = copies.pop()
                with handle:
                    if not copy.answer()[0]:  # the copy failed: write the file here, and fail as it does
                        handle.seek(0)
                        handle.truncate()
                        content(handle)
        finally:
            for copy, handle, _ in copies:
                copy.close()
                handle.close()
        for temporary, final in staged:
            os.replace(temporary, final)
    except OSError as exc:
        raise InputError(f"--out directory {out_dir} cannot be written: {exc.strerror}.") from None
    finally:
        for temporary, _ in staged:
            if temporary.exists():
                temporary.unlink()
    return {(out_dir / name).name: out_dir / name for name in files}


def _write_in_copy(content: Callable[[BinaryIO], None], handle: BinaryIO, send: Callable[[Any], None]) -> None:
    """In the forked copy: write the file and say so (no answer: the copy failed)."""
    content(handle)
    handle.flush()
    send(True)
