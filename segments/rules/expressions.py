"""SQL building blocks of the rule engine that Django does not have: IN over a list of ids (`ids_in_sql`,
`AnyOf`). Reading custom values and activity data (JSON by type), Unicode-aware lower-casing and the
conditions on them live in `contacts.custom_sql`, shared with the contact list's filters, so that a
group and the list always agree; they are re-exported here for the engine's other modules.

Invariant: every expression here is two-valued (TRUE or FALSE, never NULL) and works on SQLite and
PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BooleanField, F, Func
from django.db.models.sql.compiler import SQLCompiler

from contacts.custom_sql import (
    CaseFold,
    JsonArrayContainsAll,
    JsonArrayContainsAny,
    JsonEmpty,
    JsonFalse,
    JsonNumber,
    JsonText,
    JsonTrue,
    install_sqlite_functions,
    register_sqlite_functions,
)

__all__ = [
    "AnyOf",
    "CaseFold",
    "JsonArrayContainsAll",
    "JsonArrayContainsAny",
    "JsonEmpty",
    "JsonFalse",
    "JsonNumber",
    "JsonText",
    "JsonTrue",
    "ids_in_sql",
    "install_sqlite_functions",
    "register_sqlite_functions",
]


def ids_in_sql(column: str, ids: Iterable[int], connection: BaseDatabaseWrapper) -> tuple[str, list[Any]]:
    """`column IN (ids)` as SQL and parameters; on PostgreSQL `column = ANY(%s)`, one array parameter.

    For lists of ids built in Python (the groups a re-check locks, its contacts and rows): an IN list
    makes a parameter of every value, and psycopg re-parses a statement of over 50 at every execution.
    """
    values = list(ids)
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [values]
    if not values:
        return "1 = 0", []
    return f"{column} IN ({', '.join(['%s'] * len(values))})", values


class AnyOf(Func):
    """`field IN (values)` in a QuerySet, written by `ids_in_sql`."""

    output_field = BooleanField()

    def __init__(self, field: str, values: Sequence[int]) -> None:
        super().__init__(F(field))
        self.values = list(values)

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, *args: Any, **kwargs: Any) -> Any:
        column_sql, column_params = compiler.compile(self.source_expressions[0])
        sql, params = ids_in_sql(column_sql, self.values, connection)
        return sql, (*column_params, *params)
