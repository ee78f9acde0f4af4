"""One way to read custom field values in SQL: the contact list's filters (contacts.filters) and the rule
engine (segments.rules, for `custom.<code>` and `data.<key>`) both build their conditions here.

Invariant: every condition (`json_*_q`) is two-valued — TRUE or FALSE for every row, never SQL NULL —
means the same on SQLite and PostgreSQL, and reads a key of a JSON column by its JSON type, as DESIGN's
"Precise semantics" say: absent key, JSON null, "" and [] are *empty*; only a JSON string is text
(compared ignoring case, Unicode-aware); only a JSON number is a number (compared numerically, exactly
on PostgreSQL); dates are "YYYY-MM-DD" strings; booleans are JSON true / false; multi-choice values are
JSON arrays whose string elements compare exactly. Any other stored value (a number in a text field,
"12" in a number field, an object…) matches no comparison — only its negation. No expression can fail
at run time on any stored JSON (casts happen only under a type check).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar, Literal

from django.db import NotSupportedError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BooleanField, DecimalField, Expression, F, Func, Q, TextField
from django.db.models.functions import Lower
from django.db.models.lookups import (
    Contains,
    EndsWith,
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    IsNull,
    LessThan,
    LessThanOrEqual,
    StartsWith,
)
from django.db.models.sql.compiler import SQLCompiler

TextLookup = Literal["exact", "contains", "startswith", "endswith", "in"]
NumberLookup = Literal["exact", "lt", "lte", "gt", "gte"]
TEXT_LOOKUPS = {"exact": Exact, "contains": Contains, "startswith": StartsWith, "endswith": EndsWith, "in": In}
NUMBER_LOOKUPS = {"exact": Exact, "lt": LessThan, "lte": LessThanOrEqual, "gt": GreaterThan, "gte": GreaterThanOrEqual}

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
    # (The name predates this module: the rule engine's SQL, cached per process, has always called it so.)
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


# ---------------------------------------------------------------------------------------------
# Expressions: one key of a JSON column, read by its JSON type.


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
        raise NotSupportedError("Custom field values are read on SQLite and PostgreSQL only.")

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
    # Keep this exact text: it is what an expression index on a custom number would have to repeat.
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


# ---------------------------------------------------------------------------------------------
# Conditions: what the sidebar's filters and the rule engine's operators ask of one key.


def casefold_q(*, expression: Expression | F, lookup: TextLookup, value: str | Sequence[str]) -> Q:
    """`expression <lookup> value` ignoring case (Unicode); `expression` must never be NULL to stay two-valued."""
    lowered: Any = value.lower() if isinstance(value, str) else [v.lower() for v in value]
    return Q(TEXT_LOOKUPS[lookup](CaseFold(expression), lowered))


def json_text_q(*, column: str, key: str, lookup: TextLookup, value: str | Sequence[str]) -> Q:
    """The value is a JSON string that equals / contains / starts with / ends with / is in `value`, ignoring case.

    Precondition: no text in `value` is "" (an empty value must never match; '' is what non-text reads as).
    """
    return casefold_q(expression=JsonText(column, key), lookup=lookup, value=value)


def json_number_q(*, column: str, key: str, lookup: NumberLookup, value: Decimal) -> Q:
    """The value is a JSON number and `number <lookup> value` holds (numerically)."""
    number = JsonNumber(column, key)
    return Q(IsNull(number, False)) & Q(NUMBER_LOOKUPS[lookup](number, value))


def json_days_q(*, column: str, key: str, start: dt.date | None, end: dt.date | None) -> Q:
    """The value is a "YYYY-MM-DD" string within [start, end] (inclusive; None leaves that side open)."""
    # "YYYY-MM-DD" strings order like the dates they name.
    text = JsonText(column, key)
    q = Q(GreaterThan(text, ""))  # not empty ('' would sort before every date)
    if start is not None:
        q &= Q(GreaterThanOrEqual(text, start.isoformat()))
    if end is not None:
        q &= Q(LessThanOrEqual(text, end.isoformat()))
    return q


def json_boolean_q(*, column: str, key: str, value: bool) -> Q:
    """The value is JSON true (value=True) or JSON false (value=False)."""
    return Q((JsonTrue if value else JsonFalse)(column, key))


def json_codes_q(*, column: str, key: str, codes: Sequence[str], every: bool) -> Q:
    """The value is a JSON array holding any (every=False) or all (every=True) of `codes`, compared exactly."""
    function = JsonArrayContainsAll if every else JsonArrayContainsAny
    return Q(function(column, key, codes))


def json_empty_q(*, column: str, key: str) -> Q:
    """The value is empty: the key is absent, or holds JSON null, "" or []."""
    return Q(JsonEmpty(column, key))
