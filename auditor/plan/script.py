"""The remediation script: every fix of the findings document (fix.az_cli for bash, fix.powershell for
PowerShell) in one file, in an order that is safe to run top to bottom. dr-audit writes it and never
runs it.

Ordering. Each finding's fix is one block, placed in the phase of its rule (RULE_PHASES). Two kinds
of step are lifted out of the blocks into earlier phases because later steps depend on them:
creating a vault and setting its storage redundancy (phase 1: redundancy can only be set before
anything is protected in the vault, and enabling protection needs the vault), and creating a backup
policy (phase 3: a VM can only be protected with, or moved to, a policy that exists). Lifted steps are
merged per vault and per policy, so a vault that five fixes need is created once. The phases:

  1 vaults: create, set storage redundancy     5 policy changes (move items to faster policies)
  2 vault settings: cross-region restore,      6 snapshot copies to other regions
    soft delete                                7 everything else (agent, availability, disk
  3 backup policies                              conversion, images)
  4 protection: enable, resume, first backups

Within a phase, blocks follow the findings' rank. Every command keeps its exact text from the fix;
where the CLI has no "create or leave" form, the command is wrapped in a check that skips it when
its result already exists (vault, policy, protection, snapshot, resource group, availability set),
so the script can be run again after a failure. Blocks whose commands need values only a person
knows (`<...>` placeholders) are written as comments; blocks that need downtime (deallocating,
converting or recreating VMs) run only when asked (ALLOW_DOWNTIME=1 / -AllowDowntime). A block built
from data that contains line breaks (a hostile tag or name) is written as comments too: a line
break in a value could otherwise turn the rest of a comment into a command.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Iterable

from auditor.plan.powershell import command_name, one_line, parameters, ps_quote, statements

PHASES = [
    ("vaults", "Vaults: create them and set their storage redundancy before anything is protected in them"),
    ("vault-settings", "Vault settings: cross-region restore and soft delete"),
    ("policies", "Backup policies that the next steps protect or move VMs with"),
    ("protection", "Protection: enable Azure Backup, resume stopped protection, take first recovery points"),
    ("policy-changes", "Policy changes: move protected VMs to policies that meet their RPO"),
    ("snapshots", "Snapshot copies to other regions"),
    ("other", "Everything else: VM agent, availability, disk conversion, images"),
]
RULE_PHASES = {
    "vault-not-geo-redundant": "vaults",
    "vault-cross-region-restore-disabled": "vault-settings",
    "vault-soft-delete-disabled": "vault-settings",
    "vm-lrs-disk-no-backup": "protection",
    "vm-zrs-disk-no-backup": "protection",
    "vm-unmanaged-lrs-disk-no-backup": "protection",
    "vm-unmanaged-geo-disk-no-backup": "protection",
    "workload-single-region": "protection",
    "vm-snapshots-not-coordinated": "protection",
    "backup-not-healthy": "protection",
    "vm-backup-policy-below-rpo": "policy-changes",
    "snapshot-not-copied-to-other-region": "snapshots",
    "vm-agent-not-provisioned": "other",
    "vm-unmanaged-disks": "other",
    "vm-not-highly-available": "other",
    "availability-set-single-vm": "other",
    "image-not-geo-redundant": "other",
    "gallery-image-single-region": "other",
}
_PLACEHOLDER = re.compile(r"<[A-Za-z][^<>\n]*>")
_BASH_DOWNTIME = re.compile(r"\baz vm (?:deallocate|convert|delete|stop|restart|redeploy|reimage)\b"
                            r"|\baz vm availability-set (?:convert|delete)\b")
_PS_DOWNTIME = {"stop-azvm", "restart-azvm", "convertto-azvmmanageddisk", "update-azavailabilityset"}
# Deleting (to recreate) is never automated: a half-finished recreate loses the VM.
_BASH_DESTRUCTIVE = re.compile(r"\baz (?:vm|disk|snapshot|group|backup vault|vm availability-set) delete\b"
                               r"|--delete-backup-data\s+true")
_PS_DESTRUCTIVE = re.compile(r"^remove-az|^disable-azrecoveryservicesbackupprotection$", re.IGNORECASE)
_ELIDED = re.compile(r"^#\s*\.\.\.")
_READ_ONLY = re.compile(r"^az (?:\S+ )*?(?:show|list|get-instance-view|check-vm|wait)\b")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u0085]")


# ---------------------------------------------------------------- tainted findings

def _has_line_break(value: Any) -> bool:
    if isinstance(value, str):
        return bool(_CONTROL.search(value)) or "\n" in value or "\r" in value
    if isinstance(value, dict):
        return any(_has_line_break(k) or _has_line_break(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_line_break(v) for v in value)
    return False


def tainted_findings(inventory: Any, report: dict[str, Any], rules: Iterable[Any]) -> set[str]:
    """Findings whose fix was rendered from a row holding a line break or control character. Such a
    value can end a comment line of the fix and start a command; these blocks are only shown as
    comments. (Azure names cannot contain line breaks; tags and crafted snapshot files can.)"""
    from auditor.engine.run import records

    tables = {rule.id: rule.table for rule in rules}
    wanted: dict[str, set[str]] = {}
    for finding in report.get("findings", []):
        table = tables.get(finding["rule_id"])
        if table:
            wanted.setdefault(table, set()).add(finding["resource_id"].strip().rstrip("/").lower())
    dirty: set[tuple[str, str]] = set()
    for table, keys in wanted.items():
        frame = inventory.table(table)
        for row in records(frame[frame["key"].isin(keys)]):
            if _has_line_break(row):
                dirty.add((table, row["key"]))
    result = set()
    for finding in report.get("findings", []):
        key = finding["resource_id"].strip().rstrip("/").lower()
        if (tables.get(finding["rule_id"]), key) in dirty or _has_line_break(finding.get("message")):
            result.add(finding["id"])
    return result


# ---------------------------------------------------------------- parsed fixes

@dataclass
class Step:
    """One logical line of a fix (a command may span lines: quoted values, heredocs)."""
    text: str
    comment: bool = False
    kind: str = "command"        # see _classify_*; "comment" for comments
    args: dict[str, str] = field(default_factory=dict)
    guard: tuple[str, str, str] | None = None   # (probe command, expectation, note when skipped)
    heredoc: bool = False


@dataclass
class Unit:
    """A step lifted out of the fixes: a vault to provision or a backup policy to create."""
    phase: str
    key: tuple
    title: str
    steps: list[Step]
    findings: list[dict[str, Any]]
    why: list[str] = field(default_factory=list)
    context: list[Step] = field(default_factory=list)   # PowerShell: subscription and vault lookup


@dataclass
class Block:
    phase: str
    finding: dict[str, Any]
    steps: list[Step]
    manual: str | None = None
    downtime: bool = False


def _option(tokens: list[str], *names: str) -> str | None:
    for index, token in enumerate(tokens[:-1]):
        if token in names:
            return tokens[index + 1]
    for token in tokens:
        for name in names:
            if token.startswith(name + "="):
                return token[len(name) + 1:]
    return None


def _split(text: str) -> list[str] | None:
    try:
        return shlex.split(text, comments=False, posix=True)
    except ValueError:
        return None


def bash_steps(text: str) -> list[Step]:
    """A fix's az CLI text as logical lines: a quoted value may span lines, a heredoc runs to its
    terminator, a trailing backslash continues the line."""
    physical = text.split("\n")
    steps: list[Step] = []
    i = 0
    while i < len(physical):
        line = physical[i]
        if not line.strip():
            i += 1
            continue
        if line.lstrip().startswith("#"):
            steps.append(Step(line.strip(), comment=True, kind="comment"))
            i += 1
            continue
        buffer = line
        first = (_split(line) or []) if "<<" in line else []
        marker = next((t for t in first if t.startswith("<<") and len(t) > 2), None)
        if marker:
            terminator = marker[3:] if marker.startswith("<<-") else marker[2:]
            while i + 1 < len(physical) and physical[i + 1].strip() != terminator:
                i += 1
                buffer += "\n" + physical[i]
            if i + 1 < len(physical):
                i += 1
                buffer += "\n" + physical[i]
            steps.append(Step(buffer, kind="heredoc", heredoc=True, args={"file": _heredoc_file(first)}))
            i += 1
            continue
        while (not _balanced(buffer) or buffer.endswith("\\")) and i + 1 < len(physical):
            i += 1
            buffer += "\n" + physical[i]
        steps.append(_classify_bash(Step(buffer)))
        i += 1
    return steps


def _balanced(text: str) -> bool:
    """No quoted value left open (shlex is slow: most lines have no quote at all)."""
    return ("'" not in text and '"' not in text) or _split(text) is not None


_CLASSIFIED = ("az group create", "az backup vault create", "az backup vault backup-properties set",
               "az backup policy create", "az backup protection enable-for-vm", "az backup protection resume",
               "az snapshot create", "az vm availability-set create")


def _heredoc_file(tokens: list[str]) -> str | None:
    return _option(tokens, ">")


def _classify_bash(step: Step) -> Step:
    if not " ".join(step.text.split(None, 5)[:5]).startswith(_CLASSIFIED):
        return step
    tokens = _split(step.text) or []
    words = " ".join(tokens[:5])
    sub = _option(tokens, "--subscription")
    if words.startswith("az group create"):
        step.kind = "group-create"
        step.args = {"subscription": sub, "name": _option(tokens, "--name", "-n", "--resource-group", "-g")}
    elif words.startswith("az backup vault create"):
        step.kind = "vault-create"
        step.args = {"subscription": sub, "resource_group": _option(tokens, "--resource-group", "-g"),
                     "name": _option(tokens, "--name", "-n"), "location": _option(tokens, "--location", "-l")}
    elif words.startswith("az backup vault backup-properties set"):
        redundancy = _option(tokens, "--backup-storage-redundancy")
        step.kind = "vault-redundancy" if redundancy else "vault-setting"
        step.args = {"subscription": sub, "resource_group": _option(tokens, "--resource-group", "-g"),
                     "name": _option(tokens, "--name", "-n"), "redundancy": redundancy}
    elif words.startswith("az backup policy create"):
        step.kind = "policy-create"
        step.args = {"subscription": sub, "resource_group": _option(tokens, "--resource-group", "-g"),
                     "vault": _option(tokens, "--vault-name", "-v"), "name": _option(tokens, "--name", "-n"),
                     "file": _option(tokens, "--policy")}
    elif words.startswith("az backup protection enable-for-vm"):
        step.kind = "enable"
        step.args = {"subscription": sub, "vm": _option(tokens, "--vm")}
    elif words.startswith("az backup protection resume"):
        step.kind = "resume"
        step.args = {"subscription": sub, "resource_group": _option(tokens, "--resource-group", "-g"),
                     "vault": _option(tokens, "--vault-name", "-v"), "container": _option(tokens, "--container-name", "-c"),
                     "item": _option(tokens, "--item-name", "-i")}
    elif words.startswith("az snapshot create"):
        step.kind = "snapshot-create"
        step.args = {"subscription": sub, "resource_group": _option(tokens, "--resource-group", "-g"),
                     "name": _option(tokens, "--name", "-n")}
    elif words.startswith("az vm availability-set create"):
        step.kind = "avset-create"
        step.args = {"subscription": sub, "resource_group": _option(tokens, "--resource-group", "-g"),
                     "name": _option(tokens, "--name", "-n")}
    return step


def ps_steps(text: str) -> list[Step]:
    steps = []
    for statement in statements(text):
        stripped = statement.strip()
        if stripped.startswith("#"):
            steps.append(Step(stripped, comment=True, kind="comment"))
            continue
        steps.append(_classify_ps(Step(statement.strip("\r\n").strip(" \t") if "\n" not in statement
                                       else statement.lstrip(" \t"))))
    return steps


def _classify_ps(step: Step) -> Step:
    name = (command_name(step.text) or "").lower()
    params = parameters(step.text)
    assigns = re.match(r"\s*\$(\w+)(?:\.[\w.]+)?\s*=", step.text)
    if name == "set-azcontext":
        step.kind, step.args = "context", {"subscription": params.get("subscription")}
    elif name == "new-azresourcegroup":
        step.kind, step.args = "group-create", {"name": params.get("name"), "location": params.get("location")}
    elif name == "new-azrecoveryservicesvault":
        step.kind = "vault-create"
        step.args = {"resource_group": params.get("resourcegroupname"), "name": params.get("name"),
                     "location": params.get("location")}
    elif name == "get-azrecoveryservicesvault" and assigns and assigns.group(1) == "vault":
        step.kind = "vault-get"
        step.args = {"resource_group": params.get("resourcegroupname"), "name": params.get("name")}
    elif name == "set-azrecoveryservicesbackupproperty" and "backupstorageredundancy" in params:
        step.kind, step.args = "vault-redundancy", {"redundancy": params.get("backupstorageredundancy")}
    elif name == "set-azrecoveryservicesbackupproperty" and "enablecrossregionrestore" in params:
        step.kind = "vault-crr"
    elif name in ("get-azrecoveryservicesbackupschedulepolicyobject", "get-azrecoveryservicesbackupretentionpolicyobject") \
            or (assigns and assigns.group(1) in ("schedule", "retention") and not name):
        step.kind = "policy-part"
    elif name == "new-azrecoveryservicesbackupprotectionpolicy":
        step.kind, step.args = "policy-create", {"name": params.get("name")}
    elif name == "enable-azrecoveryservicesbackupprotection" and "name" in params:
        step.kind = "enable"
        step.args = {"name": params.get("name"), "resource_group": params.get("resourcegroupname")}
    elif name == "new-azsnapshot":
        step.kind = "snapshot-create"
        step.args = {"resource_group": params.get("resourcegroupname"), "name": params.get("snapshotname")}
    elif name == "new-azavailabilityset":
        step.kind = "avset-create"
        step.args = {"resource_group": params.get("resourcegroupname"), "name": params.get("name")}
    if name in _PS_DOWNTIME:
        step.args = dict(step.args, downtime="yes")
    return step


# ---------------------------------------------------------------- planning the order

class ScriptPlan:
    """Blocks and lifted units of one language, in phase order."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.units: dict[tuple, Unit] = {}
        self.blocks: list[Block] = []
        self.waived: list[dict[str, Any]] = []

    def phase_items(self, phase: str) -> list[Unit | Block]:
        units = [u for u in self.units.values() if u.phase == phase]
        units.sort(key=lambda u: min((f.get("rank") or 0) for f in u.findings))
        blocks = sorted((b for b in self.blocks if b.phase == phase), key=lambda b: b.finding.get("rank") or 0)
        return [*units, *blocks]


def plan_script(findings: list[dict[str, Any]], language: str, tainted: set[str] = frozenset()) -> ScriptPlan:
    plan = ScriptPlan(language)
    for finding in sorted(findings, key=lambda f: f.get("rank") or 0):
        if finding.get("waived"):
            plan.waived.append(finding)
            continue
        fix = (finding.get("fix") or {}).get("az_cli" if language == "bash" else "powershell") or ""
        phase = RULE_PHASES.get(finding["rule_id"], "other")
        steps = bash_steps(fix) if language == "bash" else ps_steps(fix)
        block = Block(phase, finding, steps)
        commands = [s for s in steps if not s.comment]
        if finding["id"] in tainted:
            block.manual = ("the data behind this fix contains line breaks or control characters (a crafted name or "
                            "tag?): review it by hand")
        elif not commands:
            block.manual = "no command to run: the fix is a description"
        elif any(_PLACEHOLDER.search(s.text) for s in commands if not s.heredoc):
            block.manual = "it needs values only you know (the <...> placeholders)"
        elif any(_BASH_DESTRUCTIVE.search(s.text) if language == "bash" else
                 _PS_DESTRUCTIVE.search(command_name(s.text) or "") for s in commands):
            block.manual = "it deletes resources to recreate them: do it by hand, in a maintenance window"
        elif any(_ELIDED.match(s.text) for s in steps if s.comment):
            block.manual = "the fix leaves steps for you to complete (the '...' comments)"
        else:
            if language == "bash":
                block.downtime = any(_BASH_DOWNTIME.search(s.text) for s in commands)
                _lift_bash(plan, block)
            else:
                block.downtime = any(s.args.get("downtime") for s in commands)
                _lift_ps(plan, block)
        plan.blocks.append(block)
    return plan


def _add_unit(plan: ScriptPlan, phase: str, key: tuple, title: str, finding: dict[str, Any],
              steps: list[Step], why: list[str], context: list[Step] | None = None) -> Unit:
    unit = plan.units.get(key)
    if unit is None:
        unit = plan.units[key] = Unit(phase, key, title, [], [], [], list(context or []))
    if all(f["id"] != finding["id"] for f in unit.findings):
        unit.findings.append(finding)
    if phase == "policies":
        if not unit.steps:  # the first fix that creates the policy defines it
            unit.steps.extend(steps)
    else:  # a vault: one creation, one redundancy setting, whichever fix names them first
        for step in steps:
            if not any(s.kind == step.kind for s in unit.steps):
                unit.steps.append(step)
    if why and not unit.why:
        unit.why.append(why[0])
    return unit


def _lower(*values: Any) -> tuple:
    return tuple(str(v or "").lower() for v in values)


def _lift_bash(plan: ScriptPlan, block: Block) -> None:
    steps, kept = block.steps, []
    i = 0
    while i < len(steps):
        step = steps[i]
        run: list[Step] = []
        if step.kind == "group-create":
            following = next((s for s in steps[i + 1:] if not s.comment), None)
            if following is not None and following.kind == "vault-create" and \
                    (following.args.get("resource_group") or "").lower() == (step.args.get("name") or "").lower():
                run = [step]
        elif step.kind in ("vault-create", "vault-redundancy"):
            run = [step]
        elif step.kind == "heredoc":
            following = next((s for s in steps[i + 1:] if not s.comment), None)
            if following is not None and following.kind == "policy-create" and following.args.get("file") and \
                    following.args["file"] == step.args.get("file"):
                run = [step]
        elif step.kind == "policy-create":
            run = [step]
        if not run:
            kept.append(step)
            i += 1
            continue
        # The whole run of liftable steps, with the one comment line right before it.
        j = i + 1
        while j < len(steps) and steps[j].kind in ("vault-create", "vault-redundancy", "policy-create") or \
                (j < len(steps) and steps[j].kind == "heredoc"):
            run.append(steps[j])
            j += 1
        why = []
        if kept and kept[-1].comment:
            why = [kept.pop().text]
        grouped: dict[tuple, tuple[str, str, list[Step], str]] = {}
        for lifted in run:
            if lifted.kind in ("group-create", "vault-create", "vault-redundancy"):
                target = lifted if lifted.kind != "group-create" else next(
                    s for s in run if s.kind == "vault-create")
                key = ("vault",) + _lower(target.args.get("subscription"), target.args.get("resource_group"),
                                          target.args.get("name"))
                entry = grouped.setdefault(key, ("vaults", f"vault {target.args.get('name')}", [],
                                                 f"# Vault {target.args.get('name')}: provisioned in phase 1 above."))
            else:
                create = lifted if lifted.kind == "policy-create" else next(
                    (s for s in run if s.kind == "policy-create" and s.args.get("file") == lifted.args.get("file")), None)
                if create is None:
                    kept.append(lifted)
                    continue
                key = ("policy",) + _lower(create.args.get("subscription"), create.args.get("resource_group"),
                                           create.args.get("vault"), create.args.get("name"))
                entry = grouped.setdefault(key, ("policies", f"policy {create.args.get('name')} in vault "
                                                 f"{create.args.get('vault')}", [],
                                                 f"# Policy {create.args.get('name')} in vault "
                                                 f"{create.args.get('vault')}: created in phase 3 above."))
            entry[2].append(lifted)
        for key, (phase, title, lifted_steps, note) in grouped.items():
            _add_unit(plan, phase, key, title, block.finding, lifted_steps, why)
            kept.append(Step(one_line(note), comment=True, kind="comment"))
        i = j
    block.steps = kept


def _lift_ps(plan: ScriptPlan, block: Block) -> None:
    steps, kept = block.steps, []
    subscription: str | None = None
    vault_lookup: Step | None = None
    vault_args: dict[str, str] = {}
    provisioning = False
    i = 0
    while i < len(steps):
        step = steps[i]
        if step.kind == "context":
            subscription = step.args.get("subscription")
            provisioning = False
        if step.kind == "group-create":
            following = next((s for s in steps[i + 1:] if not s.comment), None)
            if following is not None and following.kind == "vault-create" and \
                    (following.args.get("resource_group") or "").lower() == (step.args.get("name") or "").lower():
                why = [kept.pop().text] if kept and kept[-1].comment else []
                key = ("vault",) + _lower(subscription, following.args.get("resource_group"), following.args.get("name"))
                _add_unit(plan, "vaults", key, f"vault {following.args.get('name')}", block.finding, [step], why,
                          _context(subscription))
                i += 1
                continue
        if step.kind == "vault-create":
            why = [kept.pop().text] if kept and kept[-1].comment else []
            vault_args = step.args
            key = ("vault",) + _lower(subscription, step.args.get("resource_group"), step.args.get("name"))
            _add_unit(plan, "vaults", key, f"vault {step.args.get('name')}", block.finding, [step], why,
                      _context(subscription))
            vault_lookup = Step(f"$vault = Get-AzRecoveryServicesVault -ResourceGroupName "
                                f"{ps_quote(step.args.get('resource_group'))} -Name {ps_quote(step.args.get('name'))}",
                                kind="vault-get", args=dict(step.args))
            kept.append(Step(one_line(f"# Vault {step.args.get('name')}: provisioned in phase 1 above."),
                             comment=True, kind="comment"))
            kept.append(vault_lookup)
            provisioning = True
            i += 1
            continue
        if provisioning and step.kind in ("vault-redundancy", "vault-crr"):
            key = ("vault",) + _lower(subscription, vault_args.get("resource_group"), vault_args.get("name"))
            _add_unit(plan, "vaults", key, f"vault {vault_args.get('name')}", block.finding, [step], [])
            i += 1
            continue
        if not step.comment and step.kind not in ("vault-redundancy", "vault-crr"):
            provisioning = False
        if step.kind == "vault-get":
            vault_lookup, vault_args = step, step.args
        if step.kind == "policy-part" or step.kind == "policy-create":
            j = i
            while j < len(steps) and steps[j].kind == "policy-part":
                j += 1
            if j < len(steps) and steps[j].kind == "policy-create" and vault_lookup is not None:
                why = [kept.pop().text] if kept and kept[-1].comment else []
                name = steps[j].args.get("name")
                key = ("policy",) + _lower(subscription, vault_args.get("resource_group"), vault_args.get("name"), name)
                _add_unit(plan, "policies", key, f"policy {name} in vault {vault_args.get('name')}", block.finding,
                          steps[i:j + 1], why, _context(subscription) + [vault_lookup])
                kept.append(Step(one_line(f"# Policy {name} in vault {vault_args.get('name')}: created in phase 3 above."),
                                 comment=True, kind="comment"))
                i = j + 1
                continue
        kept.append(step)
        i += 1
    block.steps = kept


def _context(subscription: str | None) -> list[Step]:
    return [Step(f"Set-AzContext -Subscription {ps_quote(subscription)}", kind="context",
                 args={"subscription": subscription})] if subscription else []


# ---------------------------------------------------------------- rendering

def _label(finding: dict[str, Any]) -> str:
    where = finding.get("resource_group") or finding.get("location") or ""
    return one_line(f"{finding['rule_id']}: {finding.get('resource_name')}" + (f" ({where})" if where else ""))


def _finding_comment(finding: dict[str, Any]) -> str:
    return one_line(f"# Finding {finding['id']} · rank {finding.get('rank')} · {finding['severity']} · "
                    f"{finding['rule_id']} · {finding.get('resource_name')} · {finding.get('resource_id')}")


def _header_lines(meta: dict[str, Any], plan: ScriptPlan, comment: str = "#") -> list[str]:
    blocks = plan.blocks
    manual = sum(1 for b in blocks if b.manual)
    downtime = sum(1 for b in blocks if b.downtime and not b.manual)
    text = [
        f"Remediation script GENERATED by {meta.get('tool', 'dr-audit')} {meta.get('version', '')}".rstrip()
        + f" on {meta.get('generated_at')}.",
        f"From snapshot {meta.get('snapshot') or '(unnamed)'} captured {meta.get('captured_at') or 'at an unrecorded time'}; "
        f"findings as of {meta.get('as_of')}.",
        "dr-audit never runs this script. Read it, run it with the dry run first, then run it yourself.",
        f"It applies the fixes of {len(blocks) - manual} finding(s) in {len(PHASES)} phases, plus "
        f"{sum(1 for u in plan.units.values() if u.phase == 'vaults')} vault(s) and "
        f"{sum(1 for u in plan.units.values() if u.phase == 'policies')} backup policy(ies) that those fixes need;",
        f"{manual} fix(es) are left as comments for a person; {downtime} need downtime and are skipped unless allowed; "
        f"{len(plan.waived)} waived finding(s) are not fixed.",
        "Order: " + "; ".join(f"{n}. {title.split(':')[0]}" for n, (_, title) in enumerate(PHASES, start=1)) + ".",
        "Regenerate it (dr-audit plan --script ...) rather than editing it: the next run starts from the estate again.",
    ]
    return [one_line(f"{comment} {line}") for line in text]


def render_bash(plan: ScriptPlan, meta: dict[str, Any]) -> str:
    out = ["#!/usr/bin/env bash"]
    out += _header_lines(meta, plan)
    out += [
        "#",
        "# Usage:   bash remediate.sh                  apply the fixes (needs az login and rights to change them)",
        "#          DRY_RUN=1 bash remediate.sh        print every az command instead of running it",
        "#          ALLOW_DOWNTIME=1 bash remediate.sh also run the fixes that stop, convert or recreate VMs",
        "# The script stops at the first failing command; fix the cause and run it again: steps already done are",
        "# skipped where the CLI lets it check first (vaults, policies, protection, snapshots, groups).",
        "set -euo pipefail",
        "",
        'DRY_RUN="${DRY_RUN:-0}"',
        'ALLOW_DOWNTIME="${ALLOW_DOWNTIME:-0}"',
        'if [ "$DRY_RUN" = 1 ]; then',
        "  # Print each az command, quoted so that it can be copied, instead of running it.",
        "  az() { printf 'az'; printf ' %q' \"$@\"; printf '\\n'; }",
        "else",
        "  az account show --output none || { echo 'Sign in with az login first.' >&2; exit 2; }",
        "fi",
        "# probe CMD...: the output of a read-only az command (nothing in a dry run, so that it shows every change).",
        'probe() { if [ "$DRY_RUN" != 1 ]; then "$@" 2>/dev/null || true; fi; }',
        "# exists CMD...: true when a read-only az command finds the resource.",
        'exists() { [ -n "$(probe "$@")" ]; }',
        "phase() { printf '\\n=== %s\\n' \"$1\"; }",
        "step() { printf '\\n==> %s\\n' \"$1\"; }",
        "note() { printf '    %s\\n' \"$1\"; }",
    ]
    total = len(plan.units) + len(plan.blocks)
    counter = 0
    emitted: set[str] = set()
    for number, (phase, title) in enumerate(PHASES, start=1):
        items = plan.phase_items(phase)
        out += ["", "", f"# {'=' * 100}", one_line(f"# Phase {number} of {len(PHASES)}: {title}"), f"# {'=' * 100}",
                f"phase {shlex.quote(f'Phase {number}/{len(PHASES)}: {title}')}"]
        if not items:
            out.append("# (nothing to do in this phase)")
        for item in items:
            counter += 1
            out.append("")
            if isinstance(item, Unit):
                out += _bash_unit(item, counter, total, emitted)
            else:
                out += _bash_block(item, counter, total, emitted)
    if plan.waived:
        out += ["", "", "# Waived findings (accepted risks): not fixed by this script."]
        out += [one_line(f"#   {f['id']} {f['rule_id']} {f.get('resource_name')}") for f in plan.waived]
    out += ["", "step 'Done.'", ""]
    return "\n".join(out)


def _indent_bash(step: Step, prefix: str = "  ") -> str:
    # Only the first physical line moves: continuation lines belong to a quoted value or a heredoc.
    return prefix + step.text


def _bash_guarded(step: Step, probe: list[str], skip_note: str, equals: str | None = None) -> list[str]:
    command = " ".join(shlex.quote(part) for part in probe)
    condition = (f'[ "$(probe {command})" != {shlex.quote(equals)} ]' if equals is not None
                 else f"! exists {command}")
    return [f"if {condition}; then", _indent_bash(step), "else", f"  note {shlex.quote(one_line(skip_note))}", "fi"]


def _sub(args: dict[str, Any]) -> list[str]:
    return ["--subscription", args["subscription"]] if args.get("subscription") else []


def _bash_step(step: Step, emitted: set[str]) -> list[str]:
    if step.comment:
        return [one_line(step.text)]
    a = step.args
    if step.kind not in ("heredoc",) and not _READ_ONLY.match(step.text) and step.text.startswith("az "):
        if step.text in emitted:
            return [one_line("# Already run above: " + step.text.split("\n", 1)[0])]
        emitted.add(step.text)
    if step.kind == "group-create" and a.get("name"):
        return _bash_guarded(step, ["az", "group", "show", *_sub(a), "--name", a["name"], "--query", "id",
                                    "--output", "tsv"], f"resource group {a['name']} exists")
    if step.kind == "vault-create" and a.get("name"):
        return _bash_guarded(step, ["az", "backup", "vault", "show", *_sub(a), "--resource-group",
                                    a.get("resource_group") or "", "--name", a["name"], "--query", "id", "--output", "tsv"],
                             f"vault {a['name']} exists")
    if step.kind == "vault-redundancy" and a.get("name") and a.get("redundancy"):
        return _bash_guarded(step, ["az", "backup", "vault", "show", *_sub(a), "--resource-group",
                                    a.get("resource_group") or "", "--name", a["name"], "--query",
                                    "properties.redundancySettings.standardTierStorageRedundancy", "--output", "tsv"],
                             f"vault {a['name']} is already {a['redundancy']}", equals=a["redundancy"])
    if step.kind == "enable" and a.get("vm"):
        return _bash_guarded(step, ["az", "backup", "protection", "check-vm", *_sub(a), "--vm", a["vm"],
                                    "--output", "tsv"], f"{a['vm'].rsplit('/', 1)[-1]} is already protected by a vault")
    if step.kind == "resume" and a.get("item"):
        return _bash_guarded(step, ["az", "backup", "item", "show", *_sub(a), "--resource-group",
                                    a.get("resource_group") or "", "--vault-name", a.get("vault") or "",
                                    "--container-name", a.get("container") or "", "--name", a["item"],
                                    "--backup-management-type", "AzureIaasVM", "--workload-type", "VM", "--query",
                                    "properties.protectionState", "--output", "tsv"],
                             "protection is already active", equals="Protected")
    if step.kind == "snapshot-create" and a.get("name"):
        return _bash_guarded(step, ["az", "snapshot", "show", *_sub(a), "--resource-group", a.get("resource_group") or "",
                                    "--name", a["name"], "--query", "id", "--output", "tsv"], f"snapshot {a['name']} exists")
    if step.kind == "avset-create" and a.get("name"):
        return _bash_guarded(step, ["az", "vm", "availability-set", "show", *_sub(a), "--resource-group",
                                    a.get("resource_group") or "", "--name", a["name"], "--query", "id", "--output", "tsv"],
                             f"availability set {a['name']} exists")
    return [step.text]


def _bash_unit(unit: Unit, counter: int, total: int, emitted: set[str]) -> list[str]:
    out = [one_line(f"# [{counter}/{total}] {unit.title[0].upper() + unit.title[1:]}, needed by:")]
    out += [one_line(f"#   finding {f['id']} ({f['rule_id']}: {f.get('resource_name')})") for f in unit.findings]
    out += [one_line(line) for line in unit.why]
    out.append(f"step {shlex.quote(one_line(f'[{counter}/{total}] {unit.title}'))}")
    if unit.phase == "policies":
        create = next((s for s in unit.steps if s.kind == "policy-create"), None)
        if create is not None:
            a = create.args
            probe = ["az", "backup", "policy", "show", *_sub(a), "--resource-group", a.get("resource_group") or "",
                     "--vault-name", a.get("vault") or "", "--name", a.get("name") or "", "--query", "id", "--output", "tsv"]
            out.append(f"if ! exists {' '.join(shlex.quote(p) for p in probe)}; then")
            for step in unit.steps:
                out.append(step.text if step.heredoc else _indent_bash(step))
            exists_note = one_line(f"policy {a.get('name')} exists")
            out += ["else", f"  note {shlex.quote(exists_note)}", "fi"]
            return out
    order = {"group-create": 0, "vault-create": 1, "vault-redundancy": 2}
    for step in sorted(unit.steps, key=lambda s: order.get(s.kind, 3)):
        out += _bash_step(step, emitted)
    return out


def _bash_block(block: Block, counter: int, total: int, emitted: set[str]) -> list[str]:
    finding = block.finding
    out = [_finding_comment(finding), one_line(f"# {finding.get('title')}")]
    summary = (finding.get("fix") or {}).get("summary")
    if summary:
        out.append(one_line(f"# Fix: {summary}"))
    label = f"[{counter}/{total}] {_label(finding)}"
    if block.manual:
        out.append(one_line(f"# MANUAL, not run: {block.manual}. The fix, to adapt and run by hand:"))
        text = (finding.get("fix") or {}).get("az_cli") or ""
        out += ["#   " + one_line(line) for line in re.split(r"\r\n|\r|\n|\u2028|\u2029|\u0085", text)]
        out.append(f"step {shlex.quote(one_line(label + ' (manual: see the comments in the script)'))}")
        return out
    body: list[str] = []
    for step in block.steps:
        body += _bash_step(step, emitted)
    if block.downtime:
        out.append("# Needs downtime: runs only with ALLOW_DOWNTIME=1.")
        out.append('if [ "$ALLOW_DOWNTIME" = 1 ]; then')
        out.append(f"  step {shlex.quote(label)}")
        out += [_indent_block_line(line) for line in body]
        out += ["else", f"  step {shlex.quote(label + ' (skipped: needs downtime; ALLOW_DOWNTIME=1 runs it)')}", "fi"]
    else:
        out.append(f"step {shlex.quote(label)}")
        out += body
    return out


def _indent_block_line(line: str) -> str:
    # Indent only single-line text: multi-line commands carry quoted values or heredocs.
    return "  " + line if "\n" not in line else line


# ---------------------------------------------------------------- PowerShell

def render_powershell(plan: ScriptPlan, meta: dict[str, Any]) -> str:
    out = ["<#", ".SYNOPSIS"]
    out += [line[2:] for line in _header_lines(meta, plan, comment="#")]
    out += [
        "",
        ".DESCRIPTION",
        "Usage:  ./remediate.ps1                 apply the fixes (needs Connect-AzAccount and rights to change them)",
        "        ./remediate.ps1 -DryRun         print every fix instead of running it",
        "        ./remediate.ps1 -WhatIf         list the fixes it would apply; -Confirm asks before each one",
        "        ./remediate.ps1 -AllowDowntime  also run the fixes that stop, convert or recreate VMs",
        "The script stops at the first error; fix the cause and run it again: steps already done are skipped",
        "where a check is possible first (vaults, policies, protection, snapshots).",
        "#>",
        "[CmdletBinding(SupportsShouldProcess = $true)]",
        "param(",
        "    [switch] $DryRun,",
        "    [switch] $AllowDowntime",
        ")",
        "$ErrorActionPreference = 'Stop'",
        "",
        "function Invoke-Fix {",
        "    [CmdletBinding(SupportsShouldProcess = $true)]",
        "    param(",
        "        [Parameter(Mandatory = $true)] [string] $Label,",
        "        [Parameter(Mandatory = $true)] [scriptblock] $Fix,",
        "        [switch] $Downtime",
        "    )",
        "    if ($Downtime -and -not $AllowDowntime) {",
        "        Write-Host \"==> $Label (skipped: needs downtime; -AllowDowntime runs it)\"",
        "        return",
        "    }",
        "    if ($DryRun) {",
        "        Write-Host \"==> $Label\"",
        "        Write-Host $Fix.ToString()",
        "        return",
        "    }",
        "    if ($PSCmdlet.ShouldProcess($Label, 'Apply fix')) {",
        "        Write-Host \"==> $Label\"",
        "        & $Fix",
        "    }",
        "}",
        "",
        "# The result of a lookup, or $null when the resource does not exist.",
        "function Get-Existing {",
        "    param([Parameter(Mandatory = $true)] [scriptblock] $Query)",
        "    try { & $Query } catch { $null }",
        "}",
        "",
        "if (-not $DryRun -and -not $WhatIfPreference -and -not (Get-AzContext)) {",
        "    throw 'Sign in with Connect-AzAccount first.'",
        "}",
    ]
    total = len(plan.units) + len(plan.blocks)
    counter = 0
    emitted: set[tuple[str | None, str]] = set()
    for number, (phase, title) in enumerate(PHASES, start=1):
        items = plan.phase_items(phase)
        out += ["", "", f"# {'=' * 100}", one_line(f"# Phase {number} of {len(PHASES)}: {title}"), f"# {'=' * 100}",
                f"Write-Host {ps_quote(one_line(f'=== Phase {number}/{len(PHASES)}: {title}'))}"]
        if not items:
            out.append("# (nothing to do in this phase)")
        for item in items:
            counter += 1
            out.append("")
            out += _ps_unit(item, counter, total) if isinstance(item, Unit) else _ps_block(item, counter, total, emitted)
    if plan.waived:
        out += ["", "", "# Waived findings (accepted risks): not fixed by this script."]
        out += [one_line(f"#   {f['id']} {f['rule_id']} {f.get('resource_name')}") for f in plan.waived]
    out += ["", "Write-Host 'Done.'", ""]
    return "\n".join(out)


def _ps_indent(text: str, prefix: str = "    ") -> str:
    return prefix + text


def _ps_unit(unit: Unit, counter: int, total: int) -> list[str]:
    out = [one_line(f"# [{counter}/{total}] {unit.title[0].upper() + unit.title[1:]}, needed by:")]
    out += [one_line(f"#   finding {f['id']} ({f['rule_id']}: {f.get('resource_name')})") for f in unit.findings]
    out += [one_line(line) for line in unit.why]
    label = ps_quote(one_line(f"[{counter}/{total}] {unit.title}"))
    out.append(f"Invoke-Fix -Label {label} -Fix {{")
    out += [_ps_indent(step.text) for step in unit.context]
    if unit.phase == "policies":
        create = next((s for s in unit.steps if s.kind == "policy-create"), None)
        name = (create.args.get("name") if create else None) or ""
        out.append(f"    if (-not (Get-Existing {{ Get-AzRecoveryServicesBackupProtectionPolicy -Name {ps_quote(name)} "
                   "-VaultId $vault.ID })) {")
        out += [_ps_indent(step.text, "        ") for step in unit.steps]
        out += ["    }", "}"]
        return out
    create = next((s for s in unit.steps if s.kind == "vault-create"), None)
    group = next((s for s in unit.steps if s.kind == "group-create"), None)
    redundancy = next((s for s in unit.steps if s.kind == "vault-redundancy"), None)
    crr = next((s for s in unit.steps if s.kind == "vault-crr"), None)
    if create is not None:
        a = create.args
        out.append(f"    $vault = Get-Existing {{ Get-AzRecoveryServicesVault -ResourceGroupName "
                   f"{ps_quote(a.get('resource_group') or '')} -Name {ps_quote(a.get('name') or '')} }}")
        out.append("    if (-not $vault) {")
        if group is not None:
            out.append(_ps_indent(group.text, "        "))
        out.append(_ps_indent(create.text, "        "))
        out.append("    }")
    if redundancy is not None or crr is not None:
        out.append("    $properties = Get-AzRecoveryServicesBackupProperty -Vault $vault")
    if redundancy is not None:
        value = redundancy.args.get("redundancy") or "GeoRedundant"
        out.append(f"    if ($properties.BackupStorageRedundancy -ne {ps_quote(value)}) {{")
        out.append(_ps_indent(redundancy.text, "        "))
        out.append("    }")
    if crr is not None:
        out.append("    if (\"$($properties.CrossRegionRestore)\" -ne 'True') {")
        out.append(_ps_indent(crr.text, "        "))
        out.append("    }")
    out.append("}")
    return out


def _ps_step(step: Step, subscription: str | None, emitted: set[tuple[str | None, str]]) -> list[str]:
    if step.comment:
        return [_ps_indent(one_line(step.text))]
    a = step.args
    if step.kind in ("enable", "snapshot-create", "avset-create", "group-create"):
        if (subscription, step.text) in emitted:
            return [_ps_indent(one_line("# Already run above: " + step.text.split("\n", 1)[0]))]
        emitted.add((subscription, step.text))
    if step.kind == "enable" and a.get("name") and a.get("resource_group"):
        return [f"    if (-not (Get-AzRecoveryServicesBackupStatus -Name {ps_quote(a['name'])} -ResourceGroupName "
                f"{ps_quote(a['resource_group'])} -Type AzureVM).BackedUp) {{",
                _ps_indent(step.text, "        "),
                "    } else {",
                f"        Write-Host {ps_quote(one_line('    ' + a['name'] + ' is already protected by a vault'))}",
                "    }"]
    if step.kind == "snapshot-create" and a.get("name") and a.get("resource_group"):
        return [f"    if (-not (Get-Existing {{ Get-AzSnapshot -ResourceGroupName {ps_quote(a['resource_group'])} "
                f"-SnapshotName {ps_quote(a['name'])} }})) {{",
                _ps_indent(step.text, "        "),
                "    }"]
    if step.kind == "avset-create" and a.get("name") and a.get("resource_group"):
        return [f"    $existing = Get-Existing {{ Get-AzAvailabilitySet -ResourceGroupName {ps_quote(a['resource_group'])} "
                f"-Name {ps_quote(a['name'])} }}",
                "    if (-not $existing) {",
                _ps_indent(step.text, "        "),
                "    }"]
    return [_ps_indent(step.text)]


def _ps_block(block: Block, counter: int, total: int, emitted: set[tuple[str | None, str]]) -> list[str]:
    finding = block.finding
    out = [_finding_comment(finding), one_line(f"# {finding.get('title')}")]
    summary = (finding.get("fix") or {}).get("summary")
    if summary:
        out.append(one_line(f"# Fix: {summary}"))
    label = f"[{counter}/{total}] {_label(finding)}"
    if block.manual:
        out.append(one_line(f"# MANUAL, not run: {block.manual}. The fix, to adapt and run by hand:"))
        text = (finding.get("fix") or {}).get("powershell") or ""
        out += ["#   " + one_line(line) for line in re.split(r"\r\n|\r|\n|\u2028|\u2029|\u0085", text)]
        out.append(f"Write-Host {ps_quote(one_line('==> ' + label + ' (manual: see the comments in the script)'))}")
        return out
    if block.downtime:
        out.append("# Needs downtime: runs only with -AllowDowntime.")
    out.append(f"Invoke-Fix -Label {ps_quote(label)}{' -Downtime' if block.downtime else ''} -Fix {{")
    subscription = None
    for step in block.steps:
        if step.kind == "context":
            subscription = step.args.get("subscription")
        out += _ps_step(step, subscription, emitted)
    out.append("}")
    return out


def render_script(findings: list[dict[str, Any]], language: str, meta: dict[str, Any],
                  tainted: set[str] = frozenset()) -> str:
    plan = plan_script(findings, language, tainted)
    return render_bash(plan, meta) if language == "bash" else render_powershell(plan, meta)
