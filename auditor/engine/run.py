"""Evaluate the catalog over the inventory: one vectorised mask per rule, unknowns kept apart."""

from __future__ import annotations

import math
from functools import lru_cache
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditor.engine.catalog import Rule
from auditor.engine.conditions import evaluate
from auditor.engine.templating import compile_template
from auditor.errors import InputError
from auditor.inventory.tables import Inventory


@dataclass
class RuleResult:
    rule: Rule
    failing: pd.DataFrame
    unknown: pd.DataFrame  # the table's rows plus an `unknown_reason` column
    evaluated: int

    @property
    def passed(self) -> int:
        return self.evaluated - len(self.failing) - len(self.unknown)


def run_rules(inventory: Inventory, rules: list[Rule]) -> list[RuleResult]:
    return [run_rule(inventory, rule) for rule in rules]


def run_rule(inventory: Inventory, rule: Rule) -> RuleResult:
    table = inventory.table(rule.table)
    try:
        failing = evaluate(rule.fails, table, inventory)
        reasons = pd.Series(pd.NA, index=table.index, dtype="object")
        for entry in rule.unknown:
            applies = evaluate(entry["when"], table, inventory) & ~failing & reasons.isna()
            reasons = reasons.mask(applies, entry["reason"])
    except KeyError as exc:
        raise InputError(f"rule file {rule.path} refers to column {exc.args[0]!r}, which table "
                         f"'{rule.table}' does not have.") from None
    unknown = table[reasons.notna()].copy()
    if len(unknown):
        unknown["unknown_reason"] = [
            render(reason, record) for reason, record in zip(reasons[reasons.notna()], records(unknown))
        ]
    else:
        unknown["unknown_reason"] = pd.Series(dtype="object")
    return RuleResult(rule=rule, failing=table[failing], unknown=unknown, evaluated=len(table))


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain, JSON-safe Python values (NaN → None, numpy scalars → Python), converted a column
    at a time: the same values as plain() over to_dict("records"), without a call per cell for the
    numeric, boolean and string columns."""
    if not len(frame):
        return []
    names = list(frame.columns)
    columns = [_plain_column(frame.iloc[:, position]) for position in range(len(names))]
    return [dict(zip(names, values)) for values in zip(*columns)]


_EXACT = 2.0 ** 53


def _plain_column(series: pd.Series) -> list[Any]:
    dtype = series.dtype
    if dtype.kind in "biu" and isinstance(dtype, np.dtype):  # numpy bool and integers: Python's already
        return series.tolist()
    if dtype.kind == "f" and isinstance(dtype, np.dtype):
        return [None if value != value else int(value) if value.is_integer() and -_EXACT < value < _EXACT
                else value for value in series.tolist()]
    return [value if value.__class__ is str else plain(value) for value in series.tolist()]


def plain(value: Any) -> Any:
    kind = value.__class__
    if kind is str or kind is int or kind is bool:
        return value
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def render(source: str, context: dict[str, Any]) -> str:
    """What compile_template(source).render(**context) returns, with one copy of the context (of a
    hundred columns) instead of three, one of them through the template's ChainMap of globals."""
    template, globals_ = _template(source)
    try:
        context = template.new_context({**globals_, **context}, shared=True)
        return template.environment.concat(template.root_render_func(context)).strip()
    except Exception:  # noqa: BLE001 - re-raised by Jinja with the template's line in the traceback
        return template.environment.handle_exception()


@lru_cache(maxsize=512)
def _template(source: str) -> tuple[Any, dict[str, Any]]:
    template = compile_template(source)
    return template, dict(template.globals)
