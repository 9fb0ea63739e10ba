"""Evaluate the catalog over the inventory: one vectorised mask per rule, unknowns kept apart."""

from __future__ import annotations

import math
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
    """Rows as plain, JSON-safe Python values (NaN → None, numpy scalars → Python)."""
    return [{key: plain(value) for key, value in row.items()} for row in frame.to_dict("records")]


def plain(value: Any) -> Any:
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
    return compile_template(source).render(**context).strip()
