"""Rule conditions as vectorised boolean masks over an inventory table.

Grammar (YAML):
  {all: [cond, ...]}  {any: [cond, ...]}  {not: cond}
  {column: NAME, OP: VALUE}      one operator per condition
  {predicate: NAME}              a named Python predicate (auditor.engine.predicates) where data is not enough

Operators: eq, ne, in, not_in (strings compare case-insensitively), gt, ge, lt, le (numbers),
is_true, is_false, is_null, not_null (VALUE is `true`).

A missing value never matches a value test (eq, ne, in, not_in, gt, ...): rules say what missing data
means with explicit `unknown` entries or is_null, so a gap in the inventory is never a silent pass.
"""

from __future__ import annotations

from typing import Any, Callable

import pandas as pd

VALUE_OPERATORS = ("eq", "ne", "in", "not_in", "gt", "ge", "lt", "le")
FLAG_OPERATORS = ("is_true", "is_false", "is_null", "not_null")
OPERATORS = VALUE_OPERATORS + FLAG_OPERATORS


def validate_condition(condition: Any) -> None:
    """Raise ValueError with a short phrase when the condition does not follow the grammar."""
    if not isinstance(condition, dict) or not condition:
        raise ValueError("must be a mapping (all/any/not, column + operator, or predicate)")
    keys = set(condition)
    if keys in ({"all"}, {"any"}):
        parts = condition[keys.pop()]
        if not isinstance(parts, list) or not parts:
            raise ValueError("all/any need a non-empty list")
        for part in parts:
            validate_condition(part)
        return
    if keys == {"not"}:
        validate_condition(condition["not"])
        return
    if keys == {"predicate"}:
        from auditor.engine.predicates import PREDICATES

        if condition["predicate"] not in PREDICATES:
            raise ValueError(f"names unknown predicate {condition['predicate']!r}")
        return
    if "column" in keys:
        operators = keys - {"column"}
        if len(operators) != 1 or not operators <= set(OPERATORS):
            raise ValueError(f"on column {condition['column']!r} needs exactly one operator of {', '.join(OPERATORS)}")
        operator = operators.pop()
        value = condition[operator]
        if operator in ("in", "not_in") and not isinstance(value, list):
            raise ValueError(f"operator {operator} needs a list")
        if operator in ("gt", "ge", "lt", "le") and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"operator {operator} needs a number")
        if operator in FLAG_OPERATORS and value is not True:
            raise ValueError(f"operator {operator} takes the value true")
        return
    raise ValueError(f"has unknown keys {', '.join(sorted(map(str, keys)))}")


def evaluate(condition: dict[str, Any], table: pd.DataFrame, context: Any) -> pd.Series:
    if "all" in condition:
        mask = pd.Series(True, index=table.index)
        for part in condition["all"]:
            mask &= evaluate(part, table, context)
        return mask
    if "any" in condition:
        mask = pd.Series(False, index=table.index)
        for part in condition["any"]:
            mask |= evaluate(part, table, context)
        return mask
    if "not" in condition:
        return ~evaluate(condition["not"], table, context)
    if "predicate" in condition:
        from auditor.engine.predicates import PREDICATES

        result = PREDICATES[condition["predicate"]](table, context)
        return result.reindex(table.index).fillna(False).astype(bool)
    column = condition["column"]
    if column not in table.columns:
        raise KeyError(column)
    operator = next(key for key in condition if key != "column")
    return _OPERATIONS[operator](table[column], condition[operator])


def _text(series: pd.Series) -> pd.Series:
    return series.astype("string").str.strip().str.lower()


def _fold(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _is_text(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and any(isinstance(item, str) for item in value))


def _equals(series: pd.Series, value: Any) -> pd.Series:
    if _is_text(value):
        return (_text(series) == _fold(value)).fillna(False).astype(bool)
    return (series == value).fillna(False).astype(bool) & series.notna()


def _member(series: pd.Series, values: list[Any]) -> pd.Series:
    if _is_text(values):
        return _text(series).isin([_fold(value) for value in values]).fillna(False).astype(bool)
    return series.isin(values) & series.notna()


def _numeric(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce")


_OPERATIONS: dict[str, Callable[[pd.Series, Any], pd.Series]] = {
    "eq": _equals,
    "ne": lambda series, value: ~_equals(series, value) & series.notna(),
    "in": _member,
    "not_in": lambda series, values: ~_member(series, values) & series.notna(),
    "gt": lambda series, value: (_numeric(series) > value).fillna(False).astype(bool),
    "ge": lambda series, value: (_numeric(series) >= value).fillna(False).astype(bool),
    "lt": lambda series, value: (_numeric(series) < value).fillna(False).astype(bool),
    "le": lambda series, value: (_numeric(series) <= value).fillna(False).astype(bool),
    "is_true": lambda series, _: series.astype("boolean").fillna(False).astype(bool),
    "is_false": lambda series, _: (~series.astype("boolean")).fillna(False).astype(bool),
    "is_null": lambda series, _: series.isna(),
    "not_null": lambda series, _: series.notna(),
}


_WORDS = {"eq": "=", "ne": "≠", "in": "is one of", "not_in": "is none of", "gt": ">", "ge": "≥", "lt": "<", "le": "≤",
          "is_true": "is true", "is_false": "is false", "is_null": "is missing", "not_null": "is present"}


def describe(condition: dict[str, Any]) -> str:
    """The condition in words, for `dr-audit rules show`."""
    if "all" in condition:
        return " and ".join(_grouped(part) for part in condition["all"])
    if "any" in condition:
        return " or ".join(_grouped(part) for part in condition["any"])
    if "not" in condition:
        return "not " + _grouped(condition["not"])
    if "predicate" in condition:
        return f"predicate {condition['predicate']}"
    operator = next(key for key in condition if key != "column")
    if operator in FLAG_OPERATORS:
        return f"{condition['column']} {_WORDS[operator]}"
    value = condition[operator]
    shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return f"{condition['column']} {_WORDS[operator]} {shown}"


def _grouped(condition: dict[str, Any]) -> str:
    text = describe(condition)
    return f"({text})" if ("all" in condition or "any" in condition) else text
