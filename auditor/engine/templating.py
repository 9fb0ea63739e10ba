"""Message and fix templates (Jinja, plain text). Values from Azure are untrusted: fix commands quote
them for the shell they will be pasted into (`sh` for bash/az CLI, `ps` for PowerShell)."""

from __future__ import annotations

import shlex
from functools import lru_cache

import jinja2


def powershell_quote(value: object) -> str:
    # PowerShell ends a single-quoted string at ' and at the typographic quotes too: double them all.
    from auditor.plan.powershell import ps_quote

    return ps_quote(value)


def _human_list(values: object, limit: int = 5) -> str:
    items = [str(value) for value in (values or [])]
    if len(items) > limit:
        return ", ".join(items[:limit]) + f" and {len(items) - limit} more"
    return ", ".join(items)


def _gib(value: object) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "?"
    return f"{number:,.0f} GiB"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=False,
        # A fact missing from Azure's data shows as such rather than as Python's "None".
        finalize=lambda value: "(unknown)" if value is None else value,
    )
    env.filters["sh"] = lambda value: shlex.quote(str(value))
    env.filters["ps"] = powershell_quote
    env.filters["human_list"] = _human_list
    env.filters["gib"] = _gib
    return env


@lru_cache(maxsize=512)
def compile_template(source: str) -> jinja2.Template:
    return environment().from_string(source)
