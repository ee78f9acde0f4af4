"""Portable SQL building blocks the compiler needs and Django does not have: JSON values read by type,
JSON array membership, Unicode-aware lower-casing and IN over a list of ids — each with its SQL for
SQLite and for PostgreSQL side by side.

Invariant: every expression here is NULL-safe in the sense the compiler relies on — `JsonText` is
never NULL ('' when empty or not a string), `JsonNumber` is NULL exactly when the value is not a JSON
number, and the predicates (`JsonTrue`, `JsonFalse`, `JsonEmpty`, `JsonArrayContains…`) are always
TRUE or FALSE, never NULL. No expression can fail at run time on any stored JSON (casts happen only under a type check).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from django.db import NotSupportedError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BooleanField, DecimalField, Expression, F, Func, TextField
from django.db.models.functions import Lower
from django.db.models.sql.compiler import SQLCompiler

_TOKEN = re.compile(r"(\{[a-z]+\})")


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


class CaseFold(Lower):
    """LOWER() that lower-cases every Unicode letter on SQLite too (SQLite's own LOWER() is ASCII-only).

    PostgreSQL's LOWER() follows the database's locale (C.UTF-8 / xx_XX.UTF-8: full Unicode).
    """

    def as_sqlite(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any) -> Any:
        register_sqlite_functions(connection)
        return super().as_sql(compiler, connection, function="SEGMENTS_LOWER", **extra_context)


def register_sqlite_functions(connection: BaseDatabaseWrapper) -> None:
    """Make SEGMENTS_LOWER() available on this SQLite connection (once per underlying connection)."""
    connection.ensure_connection()
    raw = connection.connection
    # TRICKY: Django may reconnect (a new sqlite3.Connection) at any time, so remember the object the
    # function was registered on; holding the reference also keeps its id from being reused.
    if getattr(connection, "_segments_rules_sqlite", None) is not raw:
        raw.create_function("SEGMENTS_LOWER", 1, _lower, deterministic=True)
        connection._segments_rules_sqlite = raw  # type: ignore[attr-defined]


def install_sqlite_functions(sender: object, connection: BaseDatabaseWrapper, **_: Any) -> None:
    """connection_created receiver: SEGMENTS_LOWER() on every new SQLite connection.

    TRICKY: registering it when an expression is compiled is not enough. A re-check runs SQL compiled
    earlier (segments.rules.batch caches it per process) on whatever connection is open now, and on
    SQLite the worker opens a new connection for every task.
    """
    if connection.vendor == "sqlite":
        register_sqlite_functions(connection)


class _JsonKeyFunc(Func):
    """Base for expressions reading one key of a JSON column; subclasses give SQL templates.

    Template tokens: {c} the JSON column, {k} the key (PostgreSQL) or JSON path (SQLite),
    {codes} a comma-separated parameter list, {array} one array parameter, {n} one number parameter.
    """

    sqlite_template: ClassVar[str]
    postgresql_template: ClassVar[str]

    def __init__(self, column: str | Expression, key: str, codes: Sequence[str] = (), **extra: Any) -> None:
        super().__init__(F(column) if isinstance(column, str) else column, **extra)
        self.key = key
        self.codes = tuple(codes)

    def _render(self, template: str, compiler: SQLCompiler, connection: BaseDatabaseWrapper, key: str) -> Any:
        column_sql, column_params = compiler.compile(self.source_expressions[0])
        sql: list[str] = []
        params: list[Any] = []
        for part in _TOKEN.split(template):
            if part == "{c}":
                sql.append(column_sql)
                params.extend(column_params)
            elif part == "{k}":
                sql.append("%s")
                params.append(key)
            elif part == "{codes}":
                sql.append(", ".join(["%s"] * len(self.codes)))
                params.extend(self.codes)
            elif part == "{array}":
                sql.append("%s")
                params.append(list(self.codes))
            elif part == "{n}":
                sql.append("%s")
                params.append(len(set(self.codes)))
            else:
                sql.append(part)
        return "".join(sql), tuple(params)

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, *args: Any, **kwargs: Any) -> Any:
        raise NotSupportedError("Contact rules support SQLite and PostgreSQL only.")

    def as_sqlite(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any) -> Any:
        # The key is a custom field code or a checked data key: never a quote inside the path.
        return self._render(self.sqlite_template, compiler, connection, f'$."{self.key}"')

    def as_postgresql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any) -> Any:
        return self._render(self.postgresql_template, compiler, connection, self.key)


class JsonText(_JsonKeyFunc):
    """The value when it is a JSON string, else '' (never NULL: empty and non-text values read as '')."""

    output_field = TextField()
    sqlite_template = "(CASE WHEN json_type({c}, {k}) = 'text' THEN json_extract({c}, {k}) ELSE '' END)"
    postgresql_template = "(CASE WHEN jsonb_typeof({c} -> {k}) = 'string' THEN ({c} ->> {k}) ELSE '' END)"


class JsonNumber(_JsonKeyFunc):
    """The value when it is a JSON number (as an exact numeric on PostgreSQL), else NULL."""

    output_field = DecimalField()
    # TRICKY: CAST(... AS NUMERIC) gives the expression NUMERIC affinity, so SQLite compares it
    # numerically with the (text-adapted) Decimal parameter; without it 10 < '9' would be TRUE.
    sqlite_template = (
        "CAST((CASE WHEN json_type({c}, {k}) IN ('integer', 'real') THEN json_extract({c}, {k}) END) AS NUMERIC)"
    )
    # TRICKY: the cast sits inside the CASE so that it only ever sees numbers (a cast of 'abc' would fail).
    postgresql_template = "(CASE WHEN jsonb_typeof({c} -> {k}) = 'number' THEN ({c} ->> {k})::numeric END)"


class JsonTrue(_JsonKeyFunc):
    """TRUE when the value is JSON true (never NULL)."""

    output_field = BooleanField()
    sqlite_template = "COALESCE(json_type({c}, {k}) = 'true', 0)"
    postgresql_template = "COALESCE(({c} -> {k}) = 'true'::jsonb, false)"


class JsonFalse(_JsonKeyFunc):
    """TRUE when the value is JSON false (never NULL)."""

    output_field = BooleanField()
    sqlite_template = "COALESCE(json_type({c}, {k}) = 'false', 0)"
    postgresql_template = "COALESCE(({c} -> {k}) = 'false'::jsonb, false)"


class JsonEmpty(_JsonKeyFunc):
    """TRUE when the value is empty: absent, JSON null, "" or [] (never NULL)."""

    output_field = BooleanField()
    sqlite_template = (
        "(CASE WHEN json_type({c}, {k}) IS NULL OR json_type({c}, {k}) = 'null' THEN 1"
        " WHEN json_type({c}, {k}) = 'text' THEN json_extract({c}, {k}) = ''"
        " WHEN json_type({c}, {k}) = 'array' THEN json_array_length({c}, {k}) = 0"
        " ELSE 0 END)"
    )
    postgresql_template = "COALESCE(({c} -> {k}) IN ('null'::jsonb, '\"\"'::jsonb, '[]'::jsonb), true)"


class JsonArrayContainsAny(_JsonKeyFunc):
    """TRUE when the value is a JSON array holding at least one of `codes` as a string (never NULL)."""

    output_field = BooleanField()
    # TRICKY: SQLite has no array operators; json_each() is a table-valued function correlated with
    # the outer row. PostgreSQL's ?| tests string elements of an array exactly (and the key of an
    # object, or a bare string, hence the type check first).
    sqlite_template = (
        "(CASE WHEN json_type({c}, {k}) = 'array' THEN EXISTS(SELECT 1 FROM json_each({c}, {k}) AS rules_item"
        " WHERE rules_item.type = 'text' AND rules_item.value IN ({codes})) ELSE 0 END)"
    )
    postgresql_template = "(CASE WHEN jsonb_typeof({c} -> {k}) = 'array' THEN ({c} -> {k}) ?| {array} ELSE false END)"


class JsonArrayContainsAll(_JsonKeyFunc):
    """TRUE when the value is a JSON array holding every one of `codes` as a string (never NULL)."""

    output_field = BooleanField()
    sqlite_template = (
        "(CASE WHEN json_type({c}, {k}) = 'array' THEN (SELECT COUNT(DISTINCT rules_item.value)"
        " FROM json_each({c}, {k}) AS rules_item WHERE rules_item.type = 'text'"
        " AND rules_item.value IN ({codes})) = {n} ELSE 0 END)"
    )
    postgresql_template = "(CASE WHEN jsonb_typeof({c} -> {k}) = 'array' THEN ({c} -> {k}) ?& {array} ELSE false END)"


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
