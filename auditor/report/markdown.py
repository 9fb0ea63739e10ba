"""summary.md: the findings for a CI job summary or a pull-request comment (templates/summary.md.j2).

Every value that comes from Azure (names, tags, messages, fix text) is escaped so that it renders as
the literal text it is: no HTML, no Markdown emphasis or links, no @-mentions, no auto-linked URLs.
The template cannot forget: the environment escapes every `{{ }}` output unless the value was built
here as trusted Markdown (the `Raw` type). The document stays under MAX_BYTES (GitHub caps a PR
comment at 65,536 characters): the headline, counts and top ten always fit, the rest of the findings
fill the collapsible list until the budget is used, and the note says how many more are in
findings.csv.
"""

from __future__ import annotations

import pathlib
import re
from typing import Any, Mapping

import jinja2

TEMPLATE_NAME = "summary.md.j2"
MAX_BYTES = 60_000
TOP = 10
LIST_LIMIT = 50  # waived and unknown entries listed before pointing at findings.csv / findings.json
SEVERITIES = ("critical", "high", "medium", "low")


class Raw(str):
    """Markdown built by this module from trusted parts: rendered as is."""


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_WHITESPACE = re.compile(r"\s+")
# Backslash-escape what Markdown gives meaning to inside a line: emphasis, code, links (without [ a
# parenthesis or ! means nothing), table pipes, strike-through, and `$` (GitHub math). Line-start
# markers such as # - + 1. never matter: every value is placed after other text.
_MARKDOWN_PUNCT = re.compile(r"([\\`*_\[\]|~$])")
# A mention is an @ at the start or after a non-word character; e-mail addresses are left alone.
_MENTION = re.compile(r"(?<![\w.+-])@")
_AUTOLINK = re.compile(r"(?i)(://|\bwww\.)")
ZERO_WIDTH = "&#8203;"


def md_inline(value: Any) -> str:
    """Azure-sourced text as inert, single-line Markdown (also safe inside a table cell)."""
    if value is None:
        return ""
    text = _WHITESPACE.sub(" ", _CONTROL.sub(" ", str(value))).strip()
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MARKDOWN_PUNCT.sub(r"\\\1", text)
    text = _MENTION.sub("@" + ZERO_WIDTH, text)
    # GitHub links bare URLs after parsing; a zero-width space keeps them plain text.
    return _AUTOLINK.sub(lambda match: match.group(1)[:1] + ZERO_WIDTH + match.group(1)[1:], text)


def md_code(value: Any) -> Raw:
    """An inline code span (ids, names): shown verbatim, nothing inside is interpreted. Pipes are
    escaped for tables, which GitHub unescapes inside code spans too."""
    text = _WHITESPACE.sub(" ", _CONTROL.sub(" ", "" if value is None else str(value))).strip()
    if not text:
        return Raw("")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return Raw(f"{fence}{pad}{text.replace('|', chr(92) + '|')}{pad}{fence}")


def md_block(value: Any, language: str = "") -> Raw:
    """A fenced code block (fix commands): literal text whatever it contains."""
    text = _CONTROL.sub(" ", "" if value is None else str(value)).rstrip()
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (longest + 1)
    return Raw(f"{fence}{language}\n{text}\n{fence}")


def _finalize(value: Any) -> Any:
    if isinstance(value, Raw):
        return value
    if isinstance(value, str):
        return md_inline(value)
    return value


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "n/a"
    return f"{value:,.1f}" if isinstance(value, float) and value % 1 else f"{int(value):,}"


def environment(templates_dir: pathlib.Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        autoescape=False,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.ChainableUndefined,
    )
    env.filters.update(code=md_code, block=md_block, raw=Raw, num=_number,
                       md=lambda value: Raw(md_inline(value)))
    return env


def _ordered(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(findings, key=lambda f: (f.get("rank") if isinstance(f.get("rank"), int) else 10**12))


def markdown_context(report: Mapping[str, Any], rules: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    findings = [f for f in report.get("findings") or [] if isinstance(f, dict)]
    open_findings = _ordered([f for f in findings if not f.get("waived")])
    waived = _ordered([f for f in findings if f.get("waived")])
    unknown = [u for u in report.get("unknown") or [] if isinstance(u, dict)]
    summary = report.get("summary") or {}
    counts = {severity: 0 for severity in SEVERITIES}
    waived_counts = {severity: 0 for severity in SEVERITIES}
    for finding in open_findings:
        if finding.get("severity") in counts:
            counts[finding["severity"]] += 1
    for finding in waived:
        if finding.get("severity") in waived_counts:
            waived_counts[finding["severity"]] += 1
    scopes = [s for s in report.get("scopes") or [] if isinstance(s, dict)]
    vms = summary.get("vms") if isinstance(summary.get("vms"), dict) else {}
    gate = summary.get("gate") if isinstance(summary.get("gate"), dict) else {}
    gate_rows = [dict(item, id=key) for key, item in (gate.get("subscriptions") or {}).items() if isinstance(item, dict)]
    gate_rows.sort(key=lambda row: (not row.get("failed"), -int(row.get("blocking") or 0), str(row["id"])))
    if isinstance(gate.get("workloads"), dict):
        gate_rows.append(dict(gate["workloads"], id=None))
    waivers = summary.get("waivers") if isinstance(summary.get("waivers"), dict) else {}
    fixed = [f for f in report.get("fixed") or [] if isinstance(f, dict)]
    history = [run for run in report.get("history") or [] if isinstance(run, dict)]
    return {
        "report": report,
        "rules": rules,
        "summary": summary,
        "severities": SEVERITIES,
        "counts": counts,
        "waived_counts": waived_counts,
        "open_count": len(open_findings),
        "top": open_findings[:TOP],
        "rest_total": max(len(open_findings) - TOP, 0),
        "rest_rows": [],
        "waived": waived[:LIST_LIMIT],
        "waived_total": len(waived),
        "unknown": unknown[:LIST_LIMIT],
        "unknown_total": len(unknown),
        "scopes": scopes,
        "incomplete": [s for s in scopes if s.get("status") != "complete"],
        "vms": vms,
        "geo_share": (100.0 * vms["geo_protected"] / vms["total"]) if vms.get("total") else None,
        "gate": gate,
        "gate_rows": gate_rows[:LIST_LIMIT],
        "gate_total": len(gate_rows),
        "gate_failing": sum(1 for row in gate_rows if row.get("failed")),
        "changes": summary.get("changes") if isinstance(summary.get("changes"), dict) else {},
        "fixed": fixed[:LIST_LIMIT],
        "fixed_total": len(fixed),
        "waivers": waivers,
        "expired_waivers": [w for w in waivers.get("expired") or [] if isinstance(w, dict)],
        "unmatched_waivers": [w for w in waivers.get("unmatched") or [] if isinstance(w, dict)],
        "trend": history[-8:],
        "_rest": open_findings[TOP:],
    }


def render_markdown(report: Mapping[str, Any], rules: Mapping[str, Mapping[str, Any]],
                    templates_dir: pathlib.Path, *, max_bytes: int = MAX_BYTES) -> str:
    template = environment(pathlib.Path(templates_dir)).get_template(TEMPLATE_NAME)
    context = markdown_context(report, rules)
    rest = context.pop("_rest")
    skeleton = template.render(context)
    module = template.make_module(context)
    # Room for the rest rows, keeping a margin for the "N more" note the final render adds.
    budget = max_bytes - len(skeleton.encode("utf-8")) - 400
    rows: list[Raw] = []
    used = 0
    for finding in rest:
        line = Raw(str(module.rest_row(finding)))
        size = len(line.encode("utf-8")) + 1
        if used + size > budget:
            break
        rows.append(line)
        used += size
    while True:
        context["rest_rows"] = rows
        text = template.render(context)
        if len(text.encode("utf-8")) <= max_bytes or not rows:
            return text
        rows = rows[: len(rows) * 9 // 10]
