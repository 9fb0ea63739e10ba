"""The `dr-audit` command: parses options, calls the pipeline, maps outcomes to exit codes."""

from __future__ import annotations

import re
import sys
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
from auditor.inventory.snapshot import read_snapshot
from auditor.pipeline import AuditOptions, AuditOutcome, audit, load_rules, parse_as_of, parse_formats
from auditor.resources import demo_estate

EXIT_CODES = """Exit codes: 0 audit complete, no unwaived finding at or above --fail-on; 1 audit complete,
at least one unwaived finding at or above --fail-on; 2 usage or input error (bad flag, unreadable or
malformed snapshot, config, waivers or rules); 3 audit incomplete (some scope or table could not be read)."""


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


def _run(snapshot_path: Path, out: Path, formats: str, fail_on: FailOn, as_of: Optional[str],
         config: Optional[Path], mask_ids: bool = False) -> AuditOutcome:
    options = AuditOptions(
        out_dir=out,
        formats=parse_formats(formats),
        fail_on=fail_on.value,
        as_of=parse_as_of(as_of) if as_of else None,
        config=load_config(config),
        mask_ids=mask_ids,
    )
    snapshot = read_snapshot(snapshot_path)
    return audit(snapshot, options)


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
    for fmt, path in outcome.written.items():
        typer.echo(f"Wrote {path}")


def _finish(outcome: AuditOutcome) -> None:
    _summary(outcome)
    raise typer.Exit(outcome.exit_code)


@app.command(epilog=EXIT_CODES)
def demo(
    out: OutOption = Path("dr-audit-report"),
    format: FormatOption = "html,json",
    fail_on: Annotated[FailOn, typer.Option("--fail-on", help="Lowest severity that fails the run.")] = FailOn.never,
    as_of: AsOfOption = None,
    config: ConfigOption = None,
    mask_ids: MaskIdsOption = False,
) -> None:
    """Audit the bundled demo estate (no credentials, no network) and write the reports."""
    _finish(_run(demo_estate(), out, format, fail_on, as_of, config, mask_ids))


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
) -> None:
    """Run the rules on a snapshot file and write the reports; exit 1 when a finding reaches --fail-on."""
    _finish(_run(snapshot, out, format, fail_on, as_of, config, mask_ids))


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
    try:
        code = app(standalone_mode=False)
    except InputError as exc:
        typer.echo(f"dr-audit: error: {exc}", err=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("dr-audit: aborted.", err=True)
        sys.exit(130)
    except NoArgsIsHelpError as exc:
        typer.echo(exc.format_message(), err=True)
        sys.exit(2)
    except ClickException as exc:
        # Usage errors (unknown flag, bad choice): one sentence and exit 2.
        typer.echo(f"dr-audit: error: {exc.format_message()} (see dr-audit --help)", err=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
