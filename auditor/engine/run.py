"""Evaluate the catalog over the inventory: one vectorised mask per rule, unknowns kept apart."""

from __future__ import annotations

import math
from functools import lru_cache
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import pandas as pd
from jinja2 import meta, nodes

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


def records(frame: pd.DataFrame, columns: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Rows as plain, JSON-safe Python values (NaN → None, numpy scalars → Python), converted a column
    at a time: the same values as plain() over to_dict("records"), without a call per cell for the
    numeric, boolean and string columns. With `columns`, only those of them the frame has (a rule's
    findings read about 20 of the VM table's 90)."""
    if not len(frame):
        return []
    wanted = None if columns is None else set(columns)
    positions = [position for position, name in enumerate(frame.columns) if wanted is None or name in wanted]
    if not positions:
        return [{} for _ in range(len(frame))]
    names = [frame.columns[position] for position in positions]
    values = [_plain_column(frame.iloc[:, position]) for position in positions]
    return [dict(zip(names, row)) for row in zip(*values)]


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
    compiled = _compiled(source)
    return compiled.run(compiled.new_context({**compiled.globals, **context}))


class TemplateSet:
    """Templates rendered together for many rows, such as a rule's message, fix parts and
    preconditions: what render() returns for each, from a context holding only the names they read.

    Per row: one small context instead of a copy of every column per template, one Jinja context for
    the whole set when that cannot change what any template reads; a template that reads nothing is
    rendered once."""

    def __init__(self, sources: list[str], constants: dict[str, Any]):
        self._compiled = [_compiled(source) for source in sources]
        self._globals: dict[str, Any] = {}
        for compiled in self._compiled:
            self._globals.update(compiled.globals)
        # The columns a row must bring: the names the templates read, and any that would hide a global.
        self.names = frozenset(self._globals).union(*(compiled.names for compiled in self._compiled))
        self._constants = constants
        # One Jinja context per row serves every template when none reads a name another one sets
        # (a top-level `set` or macro lands in the context).
        writes = [compiled.writes for compiled in self._compiled]
        self._shared = None not in writes and not self.names & frozenset().union(*writes)
        self._once: dict[int, str] = {}

    def render(self, row: dict[str, Any]) -> list[str]:
        """Each template rendered against `row`, which must hold every column among `names`: what
        render() returns for the globals, then the whole row, then the constants."""
        context = {**self._globals, **row, **self._constants}
        texts = []
        shared = self._compiled[0].new_context(context) if self._shared and self._compiled else None
        for position, compiled in enumerate(self._compiled):
            if compiled.constant:
                text = self._once.get(position)
                if text is None:
                    text = self._once[position] = compiled.run(compiled.new_context(context))
            else:
                text = compiled.run(shared if shared is not None else compiled.new_context(context))
            texts.append(text)
        return texts


# Statements after which a context is not what it was for another template: changed evaluation
# settings, imports, inheritance.
_UNSHAREABLE = (nodes.EvalContextModifier, nodes.Import, nodes.FromImport, nodes.Include, nodes.Extends, nodes.Block)


class _Compiled:
    """A template compiled once, with what a renderer needs to know about it: the names it reads from
    its context, the names it may write there, whether it reads nothing."""

    def __init__(self, source: str):
        template = compile_template(source)
        tree = template.environment.parse(source)
        self.template = template
        self.environment = template.environment
        # The names it reads from its context, except the environment's globals (range, namespace...).
        self.names = frozenset(meta.find_undeclared_variables(tree))
        self.globals = dict(template.globals)
        # The names it may set in its context (every assignment and macro, to be safe); None when it
        # changes its context in other ways.
        self.writes = None if any(True for _ in tree.find_all(_UNSHAREABLE)) else frozenset(
            [node.name for node in tree.find_all(nodes.Name) if node.ctx in ("store", "param")]
            + [node.name for node in tree.find_all(nodes.Macro)])
        # Reads no name at all (not even a global such as lipsum) and has no `random` filter: the same
        # text whatever the context.
        self.constant = not any(node.ctx == "load" for node in tree.find_all(nodes.Name)) and not any(
            node.name == "random" for node in tree.find_all(nodes.Filter))

    def new_context(self, parent: dict[str, Any]) -> Any:
        # Template.new_context(vars, shared=True) without its set() of the ChainMap of globals per call.
        return self.environment.context_class(self.environment, parent, self.template.name, self.template.blocks)

    def run(self, context: Any) -> str:
        try:
            return self.environment.concat(self.template.root_render_func(context)).strip()
        except Exception:  # noqa: BLE001 - re-raised by Jinja with the template's line in the traceback
            return self.environment.handle_exception()


@lru_cache(maxsize=512)
def _compiled(source: str) -> _Compiled:
    return _Compiled(source)
