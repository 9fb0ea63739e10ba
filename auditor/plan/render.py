"""plan.html and plan.md from the plan document (templates/plan.html.j2, templates/plan.md.j2).

Both templates only lay the plan out. Every value from Azure goes through escaping the template
cannot forget: autoescape for HTML (a page without any script, its content security policy allows
none), and the report's Markdown environment (every `{{ }}` output escaped unless built as trusted
Markdown) for plan.md.
"""

from __future__ import annotations

import pathlib
from typing import Any

import jinja2

from auditor.plan.tiers import format_hours
from auditor.report.markdown import environment as markdown_environment

HTML_TEMPLATE = "plan.html.j2"
MARKDOWN_TEMPLATE = "plan.md.j2"


def _hours(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "n/a"
    return format_hours(float(value))


def render_plan_html(plan: dict[str, Any], templates_dir: pathlib.Path) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir)), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.ChainableUndefined)
    env.filters["hours"] = _hours
    return env.get_template(HTML_TEMPLATE).render(plan=plan)


def render_plan_markdown(plan: dict[str, Any], templates_dir: pathlib.Path) -> str:
    env = markdown_environment(pathlib.Path(templates_dir))
    env.filters["hours"] = _hours
    return env.get_template(MARKDOWN_TEMPLATE).render(plan=plan)
