"""examples/ci/ as a user copies it: every file parses, and every dr-audit command line in it exists in the
real CLI (typer's command tree) with options it has, so the examples cannot rot as the CLI changes."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import typer.main
import yaml

from auditor.cli import app
from auditor.pipeline import load_rules, parse_formats
from auditor.report.waivers import load_waivers

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "ci"
SHELL_OPERATORS = {"|", "||", "&&", ";", "&", ">", ">>", "<", "2>&1", "2>", "1>"}


# ------------------------------------------------------------------------------ command lines


def shell_lines(text: str) -> list[str]:
    """Logical shell lines: backslash continuations joined."""
    return text.replace("\\\n", " ").splitlines()


def dr_audit_commands(text: str) -> list[list[str]]:
    """Every dr-audit invocation in shell text, as its argument tokens (after the program name)."""
    commands = []
    for line in shell_lines(text):
        if "dr-audit" not in line:
            continue
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:
            continue
        for index, token in enumerate(tokens):
            if token == "dr-audit" or (token.endswith("/dr-audit") and token.startswith("/")):
                args = []
                for arg in tokens[index + 1:]:
                    if arg in SHELL_OPERATORS or arg.startswith((">", "2>")):
                        break
                    args.append(arg)
                commands.append(args)
    return commands


def check_command(args: list[str]) -> list[str]:
    """Problems with one dr-audit command line against the real CLI; empty when it is valid."""
    # typer 0.2x vendors its own click: recognise groups and options by what they have, not by class.
    command = typer.main.get_command(app)
    path = ["dr-audit"]
    rest = list(args)
    while hasattr(command, "commands"):
        if not rest or rest[0].startswith("-"):
            return [f"{' '.join(path)} needs a subcommand"]
        name = rest.pop(0)
        sub = command.commands.get(name)
        if sub is None:
            return [f"{' '.join(path)} has no command {name!r}"]
        command, path = sub, path + [name]
    options = {opt: param for param in command.params if param.param_type_name == "option"
               for opt in param.opts + param.secondary_opts}
    problems = []
    index = 0
    while index < len(rest):
        token = rest[index]
        index += 1
        if not token.startswith("--"):
            continue
        flag, _, inline = token.partition("=")
        param = options.get(flag)
        if param is None:
            problems.append(f"{' '.join(path)} has no option {flag}")
            continue
        if param.is_flag:
            continue
        if inline:
            value = inline
        elif index < len(rest) and not rest[index].startswith("--"):
            value = rest[index]
            index += 1
        else:
            problems.append(f"{' '.join(path)} {flag} needs a value")
            continue
        if flag == "--format" and "$" not in value:
            try:
                parse_formats(value)
            except Exception as exc:  # noqa: BLE001 - the message is the assertion
                problems.append(str(exc))
    if not problems:  # the real parser: choices, types, required options
        try:
            command.make_context(path[-1], list(rest))
        except Exception as exc:  # noqa: BLE001 - click's usage errors, whatever their class
            problems.append(f"{' '.join(path)}: {exc.format_message() if hasattr(exc, 'format_message') else exc}")
    return problems


def option_value(args: list[str], flag: str) -> str | None:
    for index, arg in enumerate(args):
        if arg == flag and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def test_the_checker_catches_what_it_should():
    """A checker that accepts everything would make the example tests worthless."""
    assert check_command(["scan", "--tenant", "--out", "r", "--history", "h.db"]) == []
    assert check_command(["history", "--history", "h.db", "--last", "3"]) == []
    assert check_command(["histroy", "--history", "h.db"]) == ["dr-audit has no command 'histroy'"]
    assert check_command(["scan", "--tenant", "--waiver", "w.yaml"]) == ["dr-audit scan has no option --waiver"]
    assert check_command(["check", "--out", "r"]) == ["dr-audit check: Missing option '--snapshot'."]
    assert "'severe' is not one of" in check_command(["scan", "--fail-on", "severe"])[0]
    assert "'pdf' is not a report format" in check_command(["scan", "--format", "html,pdf"])[0]
    assert check_command(["scan", "--baseline"]) == ["dr-audit scan --baseline needs a value"]
    assert check_command(["rules"]) == ["dr-audit rules needs a subcommand"]
    assert dr_audit_commands('run: >-\n  x && /opt/bin/dr-audit scan --tenant \\\n  --quiet >> log 2>&1') == [
        ["scan", "--tenant", "--quiet"]]


# ------------------------------------------------------------------------------ every file


def all_commands() -> list[tuple[str, list[str]]]:
    found = []
    for path in sorted(EXAMPLES.iterdir()):
        if path.suffix in (".yml", ".yaml"):
            for text in strings_in(yaml.safe_load(path.read_text(encoding="utf-8"))):
                found += [(path.name, args) for args in dr_audit_commands(text)]
        elif path.suffix == ".service":
            for exec_line in unit_file(path.name)["Service"].get("ExecStart", []):
                found += [(path.name, args) for args in dr_audit_commands(exec_line)]
        elif path.suffix == ".cron":
            for entry in cron_entries(path):
                found += [(path.name, args) for args in dr_audit_commands(entry.split(None, 6)[6])]
    return found


SCRIPT_KEYS = {"run", "script", "inlineScript", "bash"}  # GitHub `run`, Azure DevOps script steps and inputs


def strings_in(value, key: str | None = None) -> list[str]:
    """The shell scripts of a workflow or pipeline document."""
    if isinstance(value, str):
        return [value] if key in SCRIPT_KEYS else []
    if isinstance(value, dict):
        return [text for child_key, child in value.items() for text in strings_in(child, str(child_key))]
    if isinstance(value, list):
        return [text for child in value for text in strings_in(child, key)]
    return []


def test_every_example_file_has_dr_audit_commands_and_all_are_valid():
    commands = all_commands()
    files = {name for name, _ in commands}
    assert files == {"github-actions.yml", "azure-pipelines.yml", "dr-audit.service", "dr-audit.cron"}
    problems = [f"{name}: {problem}" for name, args in commands for problem in check_command(args)]
    assert problems == []
    # The scheduled runs keep history and apply waivers: that is what the examples are for.
    for name in files:
        weekly = [args for file, args in commands if file == name and "--history" in args]
        assert weekly, f"{name} has no run with --history"
        assert all("--waivers" in args for args in weekly)


def test_example_waivers_file_is_valid_against_the_catalog():
    waivers = load_waivers(EXAMPLES / "waivers.yaml", [rule.id for rule in load_rules()])
    assert len(waivers.waivers) == 3 and all(w.owner and w.reason for w in waivers.waivers)


# ------------------------------------------------------------------------------ GitHub Actions


def github_workflow() -> dict:
    return yaml.safe_load((EXAMPLES / "github-actions.yml").read_text(encoding="utf-8"))


def valid_cron(expression: str) -> bool:
    fields = expression.split()
    return len(fields) == 5 and all(re.fullmatch(r"[\d*/,\-]+", field) for field in fields)


def test_github_workflow_runs_weekly_and_on_pull_requests_with_oidc():
    workflow = github_workflow()
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as true
    assert valid_cron(triggers["schedule"][0]["cron"]) and "pull_request" in triggers
    assert workflow["permissions"]["id-token"] == "write" and workflow["permissions"]["security-events"] == "write"
    steps = workflow["jobs"]["audit"]["steps"]
    login = next(step for step in steps if str(step.get("uses", "")).startswith("azure/login@"))
    assert {"client-id", "tenant-id"} <= set(login["with"]) and "creds" not in login["with"]  # OIDC, no secret
    runs = "\n".join(step.get("run", "") for step in steps)
    scans = dr_audit_commands(runs)
    assert {args[0] for args in scans} == {"scan"}
    out_dirs = {option_value(args, "--out") for args in scans}
    assert out_dirs == {'$REPORT_DIR'} and workflow["jobs"]["audit"]["env"]["REPORT_DIR"] == "dr-audit-report"
    for args in scans:  # every file the later steps use is one the scan writes
        assert {"md", "sarif", "html"} <= set(option_value(args, "--format").split(","))
    assert any("--baseline" in args for args in scans) and any("--history" in args for args in scans)
    sarif = next(step for step in steps if str(step.get("uses", "")).startswith("github/codeql-action/upload-sarif@"))
    assert sarif["with"]["sarif_file"] == "dr-audit-report/findings.sarif"
    assert "summary.md" in runs and "GITHUB_STEP_SUMMARY" in runs
    artifacts = [step for step in steps if str(step.get("uses", "")).startswith("actions/upload-artifact@")]
    assert {step["with"]["name"] for step in artifacts} == {"dr-audit-report", "dr-audit-history"}
    assert all(step.get("if", "").startswith("always()") for step in artifacts + [sarif])


# ------------------------------------------------------------------------------ Azure DevOps


def test_azure_pipeline_schedules_a_scan_and_publishes_junit_and_html():
    pipeline = yaml.safe_load((EXAMPLES / "azure-pipelines.yml").read_text(encoding="utf-8"))
    assert valid_cron(pipeline["schedules"][0]["cron"]) and pipeline["schedules"][0]["always"] is True
    tasks = {step.get("task"): step for step in pipeline["steps"] if "task" in step}
    cli_task = tasks["AzureCLI@2"]["inputs"]
    assert cli_task["scriptType"] == "bash" and cli_task["scriptLocation"] == "inlineScript"
    assert cli_task["azureSubscription"]
    (scan,) = dr_audit_commands(cli_task["inlineScript"])
    assert scan[0] == "scan" and {"junit", "html"} <= set(option_value(scan, "--format").split(","))
    report_dir = option_value(scan, "--out")
    assert report_dir == "$(reportDir)"
    tests = tasks["PublishTestResults@2"]
    assert tests["inputs"]["testResultsFormat"] == "JUnit"
    assert tests["inputs"]["testResultsFiles"] == f"{report_dir}/junit.xml"
    assert tests["condition"] == "succeededOrFailed()"
    published = [step["inputs"] for step in pipeline["steps"] if step.get("task") == "PublishPipelineArtifact@1"]
    assert {"targetPath": report_dir, "artifact": "dr-audit-report"} in published
    history_dir = pipeline["variables"]["historyDir"]
    assert option_value(scan, "--history") == "$(historyDir)/audit.db"
    assert {"targetPath": "$(historyDir)", "artifact": "dr-audit-history"} in published
    assert tasks["DownloadPipelineArtifact@2"]["inputs"]["targetPath"] == "$(historyDir)" and history_dir


# ------------------------------------------------------------------------------ systemd and cron


def unit_file(name: str) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in shell_lines((EXAMPLES / name).read_text(encoding="utf-8")):
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, separator, value = line.partition("=")
        assert separator and current is not None, f"{name}: {line!r} is not key=value in a section"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_systemd_service_and_timer():
    service = unit_file("dr-audit.service")
    assert service["Service"]["Type"] == ["oneshot"]
    (exec_start,) = service["Service"]["ExecStart"]
    assert exec_start.startswith("/") and exec_start.split()[0].endswith("/dr-audit")
    assert service["Service"]["SuccessExitStatus"] == ["1"]  # gaps found is a completed run; 2 and 3 are not
    timer = unit_file("dr-audit.timer")
    assert timer["Timer"]["Unit"] == ["dr-audit.service"] and timer["Install"]["WantedBy"] == ["timers.target"]
    (calendar,) = timer["Timer"]["OnCalendar"]
    if shutil.which("systemd-analyze"):
        result = subprocess.run(["systemd-analyze", "calendar", calendar], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def cron_entries(path: Path) -> list[str]:
    """The schedule lines of an /etc/cron.d file (not comments or variable assignments)."""
    return [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#") and not re.match(r"^[A-Z_]+=", line)]


def test_cron_line_has_a_schedule_a_user_and_a_valid_command():
    entries = cron_entries(EXAMPLES / "dr-audit.cron")
    assert len(entries) == 1
    fields = entries[0].split(None, 6)
    assert valid_cron(" ".join(fields[:5])) and fields[5] == "dr-audit" and fields[6].startswith("/")
    assert "%" not in fields[6]  # cron turns % into a newline


# ------------------------------------------------------------------------------ README


def readme_section(title: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_readme_weekly_runs_section_commands_and_waivers_are_valid(tmp_path):
    section = readme_section("Weekly runs, waivers, history and baselines")
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, re.DOTALL)
    commands = [args for language, code in blocks if language == "bash" for args in dr_audit_commands(code)]
    assert {args[0] for args in commands} == {"scan", "history"}
    assert [problem for args in commands for problem in check_command(args)] == []
    (waivers_yaml,) = [code for language, code in blocks if language == "yaml"]
    (tmp_path / "waivers.yaml").write_text(waivers_yaml)
    assert len(load_waivers(tmp_path / "waivers.yaml", [rule.id for rule in load_rules()]).waivers) == 2
