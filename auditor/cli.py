"""The `dr-audit` command: parses options, calls the pipeline, maps outcomes to exit codes."""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

try:  # typer 0.2x vendors click; older releases use the click package itself
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
except ImportError:  # pragma: no cover - depends on the installed typer
    from click.exceptions import ClickException, NoArgsIsHelpError

from auditor import __version__
from auditor.config import load_config
from auditor.errors import InputError
from auditor.heap import exit_now, hold_until_exit
from auditor.inventory.snapshot import read_snapshot
from auditor.pipeline import (AuditOptions, AuditOutcome, audit, load_rules, parse_as_of, parse_formats,
                              prepare)
from auditor.resources import demo_estate

EXIT_CODES = """Exit codes: 0 audit complete, no unwaived finding at or above --fail-on; 1 audit complete,
at least one unwaived finding at or above --fail-on (with --baseline: one not in the baseline); 2 usage or
input error (bad flag, unreadable or malformed snapshot, config, waivers, baseline, history or rules);
3 audit incomplete (some scope or table could not be read)."""


class FailOn(str, Enum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    never = "never"


app = typer.Typer(
    name="dr-audit",
    help="Audit Azure IaaS estates for backup and disaster-recovery gaps.\n\n" + EXIT_CODES,
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
rules_app = typer.Typer(help="The rule catalog: ids, severities, rationale and fixes.", no_args_is_help=True,
                        rich_markup_mode=None)
app.add_typer(rules_app, name="rules")

OutOption = Annotated[Path, typer.Option("--out", help="Directory for the report files.")]
FormatOption = Annotated[str, typer.Option(
    "--format", help="Comma-separated report formats: html,md,json,csv,sarif,junit (report.html, summary.md, "
    "findings.json, findings.csv, findings.sarif, junit.xml).")]
MaskIdsOption = Annotated[bool, typer.Option(
    "--mask-ids", help="Hide subscription and tenant ids in every report file (kept as their first 4 characters).")]
ConfigOption = Annotated[Optional[Path], typer.Option(
    "--config", help="YAML settings: tag keys and thresholds (see README, Configuration).")]
AsOfOption = Annotated[Optional[str], typer.Option(
    "--as-of", help="ISO-8601 time that staleness is measured from (default: the snapshot's capture time, else now).")]
WaiversOption = Annotated[Optional[Path], typer.Option(
    "--waivers", help="YAML file of accepted risks (rule, resource glob or tag, reason, owner, expires): waived "
    "findings stay in the reports, marked, and do not fail the run; expired waivers stop applying.")]
BaselineOption = Annotated[Optional[Path], typer.Option(
    "--baseline", help="A previous findings.json: only findings not in it count for --fail-on.")]
HistoryOption = Annotated[Optional[Path], typer.Option(
    "--history", help="SQLite history file (created if missing): records this run; the reports show new, fixed "
    "and reopened findings, days open and the trend.")]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def safe(text: Any) -> str:
    """Names and tags come from Azure: never let them drive the terminal (escape sequences)."""
    return _CONTROL.sub("?", str(text))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dr-audit {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    pass


class Cloud(str, Enum):
    public = "public"
    china = "china"
    usgov = "usgov"


SubscriptionOption = Annotated[Optional[list[str]], typer.Option(
    "--subscription", help="Subscription id to crawl (repeatable).")]
ManagementGroupOption = Annotated[Optional[list[str]], typer.Option(
    "--management-group", help="Management group id: crawl its subscriptions (repeatable).")]
TenantOption = Annotated[bool, typer.Option("--tenant", help="Crawl every subscription the identity can read.")]
CloudOption = Annotated[Cloud, typer.Option("--cloud", help="Azure cloud whose Resource Manager endpoint to use.")]
EndpointOption = Annotated[Optional[str], typer.Option(
    "--arm-endpoint", help="Azure Resource Manager URL (overrides --cloud), e.g. for a sovereign or test cloud.")]
DeepOption = Annotated[bool, typer.Option(
    "--deep", help="Also read VM instance views and vault settings where Resource Graph lacks them "
                   "(one ARM read per such resource).")]
QuietOption = Annotated[bool, typer.Option("--quiet", help="No crawl progress on stderr.")]


def _options(out: Path, formats: str, fail_on: FailOn, as_of: Optional[str], config: Optional[Path],
             mask_ids: bool, waivers: Optional[Path] = None, baseline: Optional[Path] = None,
             history: Optional[Path] = None) -> AuditOptions:
    """Every option is checked before anything is crawled or written."""
    options = AuditOptions(
        out_dir=out,
        formats=parse_formats(formats),
        fail_on=fail_on.value,
        as_of=parse_as_of(as_of) if as_of is not None else None,
        config=load_config(config),
        mask_ids=mask_ids,
        waivers=waivers,
        baseline=baseline,
        history=history,
    )
    prepare(options)
    return options


def _report_incomplete(scopes: list[dict[str, Any]]) -> None:
    missing = [scope for scope in scopes if scope.get("status") != "complete"]
    if missing:
        typer.echo(f"dr-audit: audit incomplete: {len(missing)} scope(s) could not be fully read; missing data "
                   "is never counted as compliant:", err=True)
        for scope in missing:
            name = scope.get("subscription_id") or scope.get("scope") or "?"
            typer.echo(f"  {safe(name)}: {safe(scope.get('reason') or 'not read')}", err=True)


def _summary(outcome: AuditOutcome) -> None:
    report = outcome.report
    summary = report["summary"]
    counts = summary["findings_by_severity"]
    vms = summary["resources"].get("microsoft.compute/virtualmachines", 0)
    scopes = len(report["scopes"])
    typer.echo(f"dr-audit {report['tool']['version']}: {vms} VMs, {sum(summary['resources'].values())} resources "
               f"in {scopes} subscription{'s' if scopes != 1 else ''}, as of {report['as_of']}")
    score = "n/a" if summary["score"] is None else f"{summary['score']:g}/100"
    typer.echo(f"Protection score {score}. Findings: " + ", ".join(
        f"{counts[severity]} {severity}" for severity in ("critical", "high", "medium", "low"))
        + f"; {summary['unknown']} unknown (not enough data to decide).")
    top = [finding for finding in report["findings"] if not finding["waived"]][:5]
    if top:
        typer.echo("Top gaps:")
        for finding in top:
            where = finding["resource_group"] or finding["location"] or "several regions"
            typer.echo(f"  {finding['rank']:>3}. [{finding['severity']}] {safe(finding['resource_name'])} "
                       f"({safe(where)}): {safe(finding['title'])}")
    changes = summary.get("changes")
    if changes:
        if changes["against"] == "history":
            since = f"since the previous run (as of {changes['previous_as_of']})" if changes["previous_as_of"] else \
                "first run in the history file"
            typer.echo(f"History, {since}: {changes['new']} new, {changes['fixed']} fixed, {changes['reopened']} "
                       f"reopened, {changes['open']} still open.")
        else:
            typer.echo(f"Against the baseline: {changes['new']} new, {changes['open']} in the baseline, "
                       f"{changes['fixed']} fixed.")
    waivers = summary.get("waivers")
    if waivers:
        typer.echo(f"Waivers: {waivers['waived_findings']} finding{'s' if waivers['waived_findings'] != 1 else ''} "
                   f"waived by {waivers['entries']} entr{'ies' if waivers['entries'] != 1 else 'y'} in "
                   f"{safe(waivers['source'])}.")
        for waiver in waivers["expired"]:
            typer.echo(f"dr-audit: waiver entry {waiver['entry']} (rule {safe(waiver['rule'])}, owner "
                       f"{safe(waiver['owner'])}) expired on {waiver['expires']}: it no longer applies"
                       + (f"; {waiver['matches']} finding{'s' if waiver['matches'] != 1 else ''} count again."
                          if waiver["matches"] else "."), err=True)
        for waiver in waivers["unmatched"]:
            typer.echo(f"dr-audit: waiver entry {waiver['entry']} (rule {safe(waiver['rule'])}, owner "
                       f"{safe(waiver['owner'])}) matches no finding.", err=True)
    gate = summary.get("gate")
    if gate and gate["fail_on"] != "never" or gate and gate["exit_code"] == 3:
        typer.echo(f"Gate (--fail-on {gate['fail_on']}): {gate['verdict']}.")
    for fmt, path in outcome.written.items():
        typer.echo(f"Wrote {path}")


def _finish(outcome: AuditOutcome) -> None:
    _summary(outcome)
    _report_incomplete(outcome.report["scopes"])
    raise typer.Exit(outcome.exit_code)


@app.command(epilog=EXIT_CODES)
def demo(
    out: OutOption = Path("dr-audit-report"),
    format: FormatOption = "html,json",
    fail_on: Annotated[FailOn, typer.Option("--fail-on", help="Lowest severity that fails the run.")] = FailOn.never,
    as_of: AsOfOption = None,
    config: ConfigOption = None,
    mask_ids: MaskIdsOption = False,
    deep: DeepOption = False,
    waivers: WaiversOption = None,
    baseline: BaselineOption = None,
    history: HistoryOption = None,
) -> None:
    """Audit the bundled demo estate: the built-in Azure emulator serves it on 127.0.0.1 and the crawler
    reads it as it reads Azure (no credentials, no network), then the reports are written."""
    from auditor.live import demo_crawl

    options = _options(out, format, fail_on, as_of, config, mask_ids, waivers, baseline, history)
    estate = read_snapshot(demo_estate())
    if options.as_of is None:  # the demo's backups are as fresh as on the day the estate was captured
        options.as_of = parse_as_of(estate.captured_at)
    with demo_crawl(demo_estate(), deep=deep) as crawl:
        outcome = audit(read_snapshot(crawl.path), options)
    _finish(outcome)


@app.command(epilog=EXIT_CODES)
def check(
    snapshot: Annotated[Path, typer.Option("--snapshot", help="Resource Graph rows: JSON array, object with "
                                           "'data', JSON Lines, or gzip of any; or a dr-audit snapshot.")],
    out: OutOption = Path("dr-audit-report"),
    format: FormatOption = "html,json",
    fail_on: Annotated[FailOn, typer.Option("--fail-on", help="Lowest severity that fails the run.")] = FailOn.high,
    as_of: AsOfOption = None,
    config: ConfigOption = None,
    mask_ids: MaskIdsOption = False,
    waivers: WaiversOption = None,
    baseline: BaselineOption = None,
    history: HistoryOption = None,
) -> None:
    """Run the rules on a snapshot file and write the reports; exit 1 when a finding reaches --fail-on."""
    options = _options(out, format, fail_on, as_of, config, mask_ids, waivers, baseline, history)
    _finish(audit(read_snapshot(snapshot), options))


@app.command(epilog=EXIT_CODES)
def crawl(
    output: Annotated[Path, typer.Option("--output", help="Snapshot file to write (gzip JSON Lines).")],
    subscription: SubscriptionOption = None,
    management_group: ManagementGroupOption = None,
    tenant: TenantOption = False,
    cloud: CloudOption = Cloud.public,
    arm_endpoint: EndpointOption = None,
    deep: DeepOption = False,
    quiet: QuietOption = False,
) -> None:
    """Inventory only: crawl Azure Resource Graph into a snapshot file (evidence, offline re-checks).
    Exit 3 when some scope could not be read completely."""
    from auditor.live import crawl_azure, make_scope

    scope = make_scope(subscription, management_group, tenant)
    result = crawl_azure(scope, output, cloud=cloud.value, endpoint=arm_endpoint, deep=deep, quiet=quiet)
    stats = result.stats
    typer.echo(f"Wrote {result.path}: {stats.rows:,} rows from {len(result.scopes)} scope(s) in "
               f"{stats.requests:,} requests ({stats.retries} retries) and {stats.seconds:.1f}s.")
    _report_incomplete(result.scopes)
    raise typer.Exit(3 if result.incomplete else 0)


@app.command(epilog=EXIT_CODES)
def scan(
    subscription: SubscriptionOption = None,
    management_group: ManagementGroupOption = None,
    tenant: TenantOption = False,
    snapshot: Annotated[Optional[Path], typer.Option(
        "--snapshot", help="Check this snapshot instead of crawling.")] = None,
    cloud: CloudOption = Cloud.public,
    arm_endpoint: EndpointOption = None,
    deep: DeepOption = False,
    quiet: QuietOption = False,
    out: OutOption = Path("dr-audit-report"),
    format: FormatOption = "html,json",
    fail_on: Annotated[FailOn, typer.Option("--fail-on", help="Lowest severity that fails the run.")] = FailOn.high,
    as_of: AsOfOption = None,
    config: ConfigOption = None,
    mask_ids: MaskIdsOption = False,
    waivers: WaiversOption = None,
    baseline: BaselineOption = None,
    history: HistoryOption = None,
) -> None:
    """Crawl (or load a snapshot), check, report, gate: the one command a weekly job or CI step runs.
    The crawled snapshot is kept as evidence in --out as snapshot.jsonl.gz."""
    from auditor.live import crawl_azure, make_scope

    options = _options(out, format, fail_on, as_of, config, mask_ids, waivers, baseline, history)
    if snapshot is not None:
        if subscription or management_group or tenant:
            raise InputError("--snapshot replaces crawling: do not combine it with --subscription, "
                             "--management-group or --tenant.")
        _finish(audit(read_snapshot(snapshot), options))
    scope = make_scope(subscription, management_group, tenant)
    result = crawl_azure(scope, out / "snapshot.jsonl.gz", cloud=cloud.value, endpoint=arm_endpoint, deep=deep,
                         quiet=quiet)
    _finish(audit(read_snapshot(result.path), options))


@app.command("history")
def history_command(
    history: Annotated[Path, typer.Option("--history", help="The SQLite history file that runs with --history "
                                          "recorded.")],
    last: Annotated[int, typer.Option("--last", min=1, help="How many of the most recent runs to show.")] = 10,
) -> None:
    """Past runs and the trend from the history store: open findings by severity, waived, new, fixed and
    reopened per run, and the gate result."""
    from auditor.report.history import history_text, read_runs

    total, runs = read_runs(history, last)
    typer.echo(safe_lines(history_text(str(history), total, runs)))


def safe_lines(text: str) -> str:
    return "\n".join(safe(line) for line in text.split("\n"))


from auditor.plan.command import plan  # noqa: E402  (the DR plan command lives with the plan package)
app.command(name="plan", epilog=EXIT_CODES)(plan)


@rules_app.command("list")
def rules_list() -> None:
    """List every rule: id, severity, resource type and title."""
    rules = load_rules()
    width = max(len(rule.id) for rule in rules)
    for rule in sorted(rules, key=lambda r: (("critical", "high", "medium", "low").index(r.severity), r.id)):
        typer.echo(f"{rule.id:<{width}}  {rule.severity:<8}  {rule.resource_type:<44}  {rule.title}")


@rules_app.command("show")
def rules_show(rule_id: Annotated[str, typer.Argument(metavar="ID", help="A rule id from `dr-audit rules list`.")]) -> None:
    """Show what a rule checks, why (quoting the guidance), what fails, the fix and its examples."""
    rules = {rule.id: rule for rule in load_rules()}
    rule = rules.get(rule_id.strip().lower())
    if rule is None:
        raise InputError(f"there is no rule {rule_id!r}; `dr-audit rules list` shows the ids.")
    typer.echo(rule_text(rule))


def rule_text(rule: Any) -> str:
    """A rule as documentation: the fix is shown rendered for the rule's first failing example."""
    from auditor.engine.conditions import describe
    from auditor.engine.run import records, render
    from auditor.inventory.tables import build_inventory

    lines = [f"{rule.id} ({rule.severity}): {rule.title}", f"Resource: {rule.resource_type}", "",
             f"Why: {rule.rationale}", "", f"Guidance, \"{rule.guidance_section}\":", f"  \"{rule.guidance_quote}\"",
             "", f"Fails when: {describe(rule.fails)}"]
    for entry in rule.unknown:
        lines.append(f"Unknown when: {describe(entry['when'])}")
    failing = next(example for example in rule.examples if example["expect"] == "fail")
    table = build_inventory(failing["rows"]).table(rule.table)
    row = records(table[table["key"] == failing["resource"].strip().lower()])[0]
    context = dict(row, rule={"id": rule.id, "title": rule.title}, tag_keys={})
    lines += ["", f"Example finding ({failing['name']}):", "  " + render(rule.message, context), "",
              "Fix: " + render(rule.fix["summary"], context)]
    for text in rule.preconditions:
        lines.append("Precondition: " + render(text, context))
    for label, part in (("az CLI", "az_cli"), ("PowerShell", "powershell"), ("Portal", "portal")):
        lines += ["", f"{label}:"] + ["  " + line for line in render(rule.fix[part], context).splitlines()]
    lines.append("")
    for expect, heading in (("pass", "Passing examples"), ("fail", "Failing examples"),
                            ("unknown", "Examples judged unknown")):
        names = [example["name"] for example in rule.examples if example["expect"] == expect]
        if names:
            lines.append(f"{heading}:")
            lines += [f"  - {name}" for name in names]
    return "\n".join(lines)


def main() -> None:
    hold_until_exit()
    try:
        code = app(standalone_mode=False)
    except InputError as exc:
        typer.echo(f"dr-audit: error: {exc}", err=True)
        exit_now(2)
    except typer.Exit as exc:
        exit_now(exc.exit_code)
    except typer.Abort:
        typer.echo("dr-audit: aborted.", err=True)
        exit_now(130)
    except NoArgsIsHelpError as exc:
        typer.echo(exc.format_message(), err=True)
        exit_now(2)
    except ClickException as exc:
        # Usage errors (unknown flag, bad choice): one sentence and exit 2.
        typer.echo(f"dr-audit: error: {exc.format_message()} (see dr-audit --help)", err=True)
        exit_now(2)
    exit_now(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
