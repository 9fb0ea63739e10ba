"""The subset of Kusto (KQL) the crawler sends to Resource Graph, parsed strictly.

    <Table> | where <col> in~ ('a', 'b') [and <col> =~ 'c' ...] | project c1, c2 | order by id asc

Operators: `where` with `in~`, `in`, `=~`, `==` on string literals (joined by `and`), `project` of
top-level columns, `order by`/`sort by` one scalar column (`asc`, or `desc`, Kusto's default).
Anything else raises `QueryError`, which the emulator answers with Resource Graph's InvalidQuery error,
so a crawler cannot come to depend on a query the emulator would silently misread.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from auditor.emulator.estate import STANDARD_COLUMNS, TABLES

# Columns of type `dynamic`: Kusto cannot sort by them, and a projection of only these cannot be paged.
DYNAMIC_COLUMNS = frozenset({"sku", "plan", "properties", "tags", "identity", "zones", "extendedLocation"})
_TABLES = {name.lower(): name for name in TABLES}
_TOKEN = re.compile(r"""
    \s*(?:
      (?P<string>'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")
    | (?P<op>in~|=~|==|\||\(|\)|,)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<other>\S)
    )""", re.VERBOSE)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


class QueryError(ValueError):
    """A query outside the supported subset; `position` is the 0-based character offset, `token` the text there."""

    def __init__(self, message: str, position: int, token: str) -> None:
        super().__init__(message)
        self.position = position
        self.token = token


@dataclass(frozen=True)
class Predicate:
    column: str
    operator: str  # "in~", "in", "=~", "=="
    values: tuple[str, ...]

    def matches(self, row: Mapping[str, Any]) -> bool:
        value = row.get(self.column)
        if not isinstance(value, str):
            return False
        if self.operator in ("in~", "=~"):
            return value.lower() in self.folded
        return value in self.values

    @cached_property
    def folded(self) -> frozenset[str]:
        return frozenset(value.lower() for value in self.values)


@dataclass(frozen=True)
class Query:
    table: str
    predicates: tuple[Predicate, ...]
    columns: tuple[str, ...] | None  # None: no `project`, every column
    order: tuple[str, bool] | None  # (column, descending)

    @property
    def pageable(self) -> bool:
        """Resource Graph cannot page a result whose columns are all dynamic (it truncates instead)."""
        return self.columns is None or any(column not in DYNAMIC_COLUMNS for column in self.columns)

    def type_keys(self) -> list[str] | None:
        """Lower-cased types the query is restricted to (its first case-insensitive `type` filter)."""
        predicate = self._index_predicate("type")
        return None if predicate is None else sorted(predicate.folded)

    def subscription_filter(self) -> frozenset[str] | None:
        predicate = self._index_predicate("subscriptionId")
        return None if predicate is None else predicate.folded

    def _index_predicate(self, column: str) -> Predicate | None:
        return next((predicate for predicate in self.predicates
                     if predicate.column == column and predicate.operator in ("in~", "=~")), None)

    def evaluate(self, rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """Filter and order rows already narrowed to the types and subscriptions the index answers for."""
        answered = {self._index_predicate("type"), self._index_predicate("subscriptionId")}
        rest = [predicate for predicate in self.predicates if predicate not in answered]
        selected = [row for row in rows if all(predicate.matches(row) for predicate in rest)] if rest else list(rows)
        if self.order:
            column, descending = self.order
            # Ordinal string order, as Kusto sorts strings; nulls first ascending, last descending.
            selected.sort(key=lambda row: (row.get(column) is not None, _sort_text(row.get(column))),
                          reverse=descending)
        return selected

    def project(self, row: Mapping[str, Any]) -> dict[str, Any]:
        if self.columns is None:
            projected = dict.fromkeys(STANDARD_COLUMNS)
            projected.update(row)
            return projected
        return {column: row.get(column) for column in self.columns}


def _sort_text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def parse(text: str) -> Query:
    parser = _Parser(text)
    return parser.query()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        for match in _TOKEN.finditer(text):
            kind = match.lastgroup or "other"
            self.tokens.append((kind, match.group(kind), match.start(kind)))
        self.at = 0

    def fail(self, message: str) -> QueryError:
        if self.at < len(self.tokens):
            _, value, position = self.tokens[self.at]
            return QueryError(message, position, value)
        return QueryError(message, len(self.text), "<end of query>")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at][:2] if self.at < len(self.tokens) else None

    def take(self, kind: str, value: str | None = None, what: str = "") -> str:
        token = self.peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            raise self.fail(f"expected {what or repr(value) or kind}")
        self.at += 1
        return token[1]

    def query(self) -> Query:
        if self.peek() is None:
            raise self.fail("the query is empty")
        name = self.take("ident", what="a table name (Resources, RecoveryServicesResources, ResourceContainers)")
        table = _TABLES.get(name.lower())
        if table is None:
            self.at -= 1
            raise self.fail(f"'{name}' is not a table the emulator serves (Resources, RecoveryServicesResources, "
                            "ResourceContainers)")
        predicates: list[Predicate] = []
        columns: tuple[str, ...] | None = None
        order: tuple[str, bool] | None = None
        while self.peek() is not None:
            self.take("op", "|", "'|' before the next operator")
            operator = self.take("ident", what="an operator after '|' (where, project, order by)")
            if operator == "where":
                predicates.append(self.predicate(columns))
                while self.peek() == ("ident", "and"):
                    self.at += 1
                    predicates.append(self.predicate(columns))
            elif operator == "project":
                names = [self.column(columns)]
                while self.peek() == ("op", ","):
                    self.at += 1
                    names.append(self.column(columns))
                if len(set(names)) != len(names):
                    raise self.fail("a column is projected twice")
                columns = tuple(names)
            elif operator in ("order", "sort"):
                if order is not None:
                    raise self.fail("only one 'order by' is supported")
                self.take("ident", "by", "'by'")
                column = self.column(columns)
                if column in DYNAMIC_COLUMNS:
                    self.at -= 1
                    raise self.fail(f"cannot order by the dynamic column '{column}'")
                direction = "desc"  # Kusto's default
                if self.peek() in (("ident", "asc"), ("ident", "desc")):
                    direction = self.take("ident")
                order = (column, direction == "desc")
            else:
                self.at -= 1
                raise self.fail(f"the operator '{operator}' is not supported by the emulator "
                                "(supported: where, project, order by)")
        return Query(table, tuple(predicates), columns, order)

    def column(self, available: tuple[str, ...] | None) -> str:
        name = self.take("ident", what="a column name")
        known = available if available is not None else STANDARD_COLUMNS
        if name not in known:  # Kusto column names are case-sensitive
            self.at -= 1
            raise self.fail(f"failed to resolve column '{name}'")
        return name

    def predicate(self, available: tuple[str, ...] | None) -> Predicate:
        column = self.column(available)
        token = self.peek()
        if token in (("op", "=~"), ("op", "==")):
            self.at += 1
            return Predicate(column, token[1], (self.string(),))
        if token in (("op", "in~"), ("ident", "in")):
            self.at += 1
            self.take("op", "(", "'(' after in~")
            values = [self.string()]
            while self.peek() == ("op", ","):
                self.at += 1
                values.append(self.string())
            self.take("op", ")", "')' closing the list")
            return Predicate(column, token[1], tuple(values))
        raise self.fail("expected one of in~, in, =~, == after the column")

    def string(self) -> str:
        raw = self.take("string", what="a string literal")
        return re.sub(r"\\(.)", lambda match: _ESCAPES.get(match.group(1), match.group(1)), raw[1:-1])
