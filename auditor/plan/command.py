"""`dr-audit plan`: the DR plan (plan.html, plan.md) and, on request, the remediation script
(remediate.sh or remediate.ps1), from a snapshot, a crawl, or the bundled demo estate.

The command only writes files: it never runs the script. Exit codes: 0 written; 2 usage or input
error (nothing written); 3 written, but some scope could not be read completely (the plan says which).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Iterator, Optional

import typer

from auditor.config import Config, load_config
from auditor.engine.run import run_rules
from auditor.errors import InputError
from auditor.inventory.snapshot import Snapshot, read_snapshot
from auditor.inventory.tables import build_inventory
from auditor.pipeline import load_rules, parse_as_of, parse_formats, snapshot_time, write_atomically
from auditor.plan.model import build_plan
from auditor.plan.powershell import one_line
from auditor.plan.render import render_plan_html, render_plan_markdown
from auditor.plan.script import PHASES, render_script, tainted_findings
from auditor.report.findings import build_findings
from auditor.report.masking import mask_report, tenant_ids
from auditor.report.waivers import WaiverSet, apply_waivers, load_waivers
from auditor.resources import demo_estate, templates_dir

PLAN_FORMATS = ("html", "md", "json")
PLAN_FILES = {"html": "plan.html", "md": "plan.md", "json": "plan.json"}
SCRIPT_FILES = {"bash": "remediate.sh", "powershell": "remediate.ps1"}
DRY_RUN = {"bash": "DRY_RUN=1 bash remediate.sh", "powershell": "./remediate.ps1 -DryRun"}


class ScriptKind(str, Enum):
    bash = "bash"
    powershell = "powershell"


class PlanCloud(str, Enum):
    public = "public"
    china = "china"
    usgov = "usgov"


@dataclass
class PlanOptions:
    out_dir: Path
    formats: tuple[str, ...] = ("html", "md")
    script: str | None = None
    as_of: datetime | None = None
    config: Config = field(default_factory=Config)
    mask_ids: bool = False
    source_label: str | None = None
    waivers: WaiverSet | None = None


@dataclass
class PlanOutcome:
    plan: dict[str, Any]
    written: dict[str, Path]
    exit_code: int


def make_plan(snapshot: Snapshot, options: PlanOptions) -> PlanOutcome:
    """snapshot → inventory → rules → findings → plan (+ script) → files, all rendered before any is
    written (a failure leaves --out untouched)."""
    rules = load_rules()
    as_of = options.as_of or snapshot_time(snapshot) or datetime.now(timezone.utc)
    inventory = build_inventory(snapshot.rows, options.config, as_of)
    report = build_findings(snapshot=snapshot, inventory=inventory, results=run_rules(inventory, rules), as_of=as_of)
    if options.waivers is not None:  # waived findings stay visible in the plan and are left out of the script
        apply_waivers(report, options.waivers, as_of, workload_tag=options.config.workload_tag)
    source = options.source_label or str(snapshot.source)
    plan = build_plan(inventory, report, snapshot_source=source, captured_at=snapshot.captured_at)
    files: dict[str, str] = {}
    if options.script:
        meta = {"tool": plan["tool"].get("name", "dr-audit"), "version": plan["tool"].get("version", ""),
                "generated_at": plan["generated_at"], "snapshot": source, "captured_at": snapshot.captured_at,
                "as_of": plan["as_of"]}
        files[SCRIPT_FILES[options.script]] = render_script(report["findings"], options.script, meta,
                                                            tainted_findings(inventory, report, rules))
        plan["script"] = {"file": SCRIPT_FILES[options.script], "language": options.script,
                          "phases": [title.split(":")[0] for _, title in PHASES], "dry_run": DRY_RUN[options.script]}
    shared = mask_report(plan, tenant_ids(snapshot.rows)) if options.mask_ids else plan
    renderers = {"html": lambda: render_plan_html(shared, templates_dir()),
                 "md": lambda: render_plan_markdown(shared, templates_dir()),
                 "json": lambda: json.dumps(shared, indent=2, ensure_ascii=False, default=str) + "\n"}
    for fmt in options.formats:
        files[PLAN_FILES[fmt]] = renderers[fmt]()
    written = write_atomically(options.out_dir, files)
    incomplete = any(scope.get("status") != "complete" for scope in plan["scopes"])
    return PlanOutcome(plan=plan, written=written, exit_code=3 if incomplete else 0)


@contextlib.contextmanager
def _demo_snapshot() -> Iterator[Snapshot]:
    from auditor.live import demo_crawl

    with demo_crawl(demo_estate()) as crawl:
        yield read_snapshot(crawl.path)


def plan(
    snapshot: Annotated[Optional[Path], typer.Option(
        "--snapshot", help="Plan from this snapshot instead of crawling (Resource Graph rows or a dr-audit snapshot).")] = None,
    demo: Annotated[bool, typer.Option(
        "--demo", help="Plan for the bundled demo estate (served by the built-in emulator; no credentials).")] = False,
    subscription: Annotated[Optional[list[str]], typer.Option(
        "--subscription", help="Subscription id to crawl (repeatable).")] = None,
    management_group: Annotated[Optional[list[str]], typer.Option(
        "--management-group", help="Management group id: crawl its subscriptions (repeatable).")] = None,
    tenant: Annotated[bool, typer.Option("--tenant", help="Crawl every subscription the identity can read.")] = False,
    cloud: Annotated[PlanCloud, typer.Option("--cloud", help="Azure cloud whose Resource Manager endpoint to use.")]
    = PlanCloud.public,
    arm_endpoint: Annotated[Optional[str], typer.Option(
        "--arm-endpoint", help="Azure Resource Manager URL (overrides --cloud).")] = None,
    deep: Annotated[bool, typer.Option(
        "--deep", help="Also read VM instance views and vault settings where Resource Graph lacks them.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No crawl progress on stderr.")] = False,
    out: Annotated[Path, typer.Option("--out", help="Directory for plan.html, plan.md and the script.")]
    = Path("dr-audit-report"),
    format: Annotated[str, typer.Option(
        "--format", help="Comma-separated plan formats: html,md,json (plan.html, plan.md, plan.json).")] = "html,md",
    script: Annotated[Optional[ScriptKind], typer.Option(
        "--script", help="Also write the remediation script: bash (remediate.sh, az CLI) or powershell "
                         "(remediate.ps1, Az module). dr-audit never runs it.")] = None,
    config: Annotated[Optional[Path], typer.Option(
        "--config", help="YAML settings: tag keys, thresholds and tiers (see README, Configuration).")] = None,
    as_of: Annotated[Optional[str], typer.Option(
        "--as-of", help="ISO-8601 time that recovery point ages are measured from (default: the snapshot's "
                        "capture time, else now).")] = None,
    waivers: Annotated[Optional[Path], typer.Option(
        "--waivers", help="YAML waivers: waived findings are marked in the plan and left out of the script.")] = None,
    mask_ids: Annotated[bool, typer.Option(
        "--mask-ids", help="Hide subscription and tenant ids in plan.html/plan.md/plan.json (the script keeps "
                           "them: it has to run against them).")] = False,
) -> None:
    """Write the DR plan per workload: tier and required controls, what is in place, gaps linked to
    findings, the recovery point achievable now, and a recovery runbook; with --script, also one
    remediation script with every fix in a safe order. Exit 3 when some scope could not be read."""
    options = PlanOptions(out_dir=out, formats=parse_formats(format, PLAN_FORMATS, "plan"), script=script.value if script else None,
                          as_of=parse_as_of(as_of) if as_of else None, config=load_config(config), mask_ids=mask_ids)
    if waivers is not None:
        options.waivers = load_waivers(waivers, [rule.id for rule in load_rules()])
    scoped = bool(subscription or management_group or tenant)
    if sum([snapshot is not None, demo, scoped]) > 1:
        raise InputError("give one source: --snapshot FILE, --demo, or a scope to crawl (--subscription, "
                         "--management-group, --tenant).")
    if demo:
        estate = read_snapshot(demo_estate())
        options.as_of = options.as_of or parse_as_of(estate.captured_at)
        options.source_label = "bundled demo estate (crawled from the built-in emulator)"
        with _demo_snapshot() as crawled:
            outcome = make_plan(crawled, options)
    elif snapshot is not None:
        outcome = make_plan(read_snapshot(snapshot), options)
    elif scoped:
        from auditor.live import crawl_azure, make_scope

        result = crawl_azure(make_scope(subscription, management_group, tenant), out / "snapshot.jsonl.gz",
                             cloud=cloud.value, endpoint=arm_endpoint, deep=deep, quiet=quiet)
        outcome = make_plan(read_snapshot(result.path), options)
    else:
        raise InputError("give a source: --snapshot FILE, --demo, or a scope to crawl (--subscription ID, "
                         "--management-group ID or --tenant).")
    _summary(outcome, mask_ids)
    raise typer.Exit(outcome.exit_code)


def _summary(outcome: PlanOutcome, mask_ids: bool) -> None:
    plan = outcome.plan
    summary = plan["summary"]
    lost = summary["not_recoverable_after_regional_loss"]
    typer.echo(f"dr-audit plan: {summary['workloads']} workloads and {summary['unassigned_groups']} untagged group(s), "
               f"{summary['vms']} VMs, as of {plan['as_of']}; {summary['workloads_with_gaps']} with gaps; "
               f"{len(lost)} not recoverable after losing their region.")
    for workload in plan["workloads"][:5]:
        typer.echo(one_line(f"  {workload['name']} ({workload['tier']['name']}): {len(workload['gaps'])} gap(s); "
                            f"{workload['recovery']['regional']['text']}"))
    for scope in plan["incomplete"]:
        typer.echo(one_line(f"dr-audit: incomplete scope {scope.get('subscription_id') or scope.get('scope') or '?'}: "
                            f"{scope.get('reason') or 'not read'}"), err=True)
    for path in outcome.written.values():
        typer.echo(f"Wrote {path}")
    if plan.get("script"):
        typer.echo(f"The script is not run by dr-audit. Review it, then try: {plan['script']['dry_run']}"
                   + (" (it keeps the real subscription ids)" if mask_ids else ""))
