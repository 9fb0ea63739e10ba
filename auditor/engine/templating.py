"""Message and fix templates (Jinja, plain text). Values from Azure are untrusted: fix commands quote
them for the shell they will be pasted into (`sh` for bash/az CLI, `ps` for PowerShell)."""

from __future__ import annotations

import shlex
from functools import lru_cache
from typing import Any

import jinja2


def powershell_quote(value: object) -> str:
    # PowerShell ends a single-quoted string at ' and at the typographic quotes too: double them all.
    text = str(value)
    if text.isascii() and "'" not in text:  # most Azure names: no quote of any kind to double
        return "'" + text + "'"
    return _ps_quote()(text)


@lru_cache(maxsize=1)
def _ps_quote() -> Any:
    from auditor.plan.powershell import ps_quote  # imported when first needed: plan builds on the engine

    return ps_quote


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


# What `vm.name` can find as an attribute of a plain dict; any other name is only a key.
_DICT_ATTRIBUTES = frozenset(dir(dict))


class _Environment(jinja2.Environment):
    def getattr(self, obj: Any, attribute: str) -> Any:
        # `vm.name` on a dict (the rows' lists of VMs): the key that Jinja finds once getattr() has
        # raised AttributeError, without raising it (40% of the time of the fixes that loop over VMs).
        if obj.__class__ is dict and attribute not in _DICT_ATTRIBUTES and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = _Environment(
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
