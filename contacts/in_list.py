"""`column IN (many values)` as one parameter on PostgreSQL: `IN (SELECT unnest(%s::type[]))`.

A thousand-value `IN (%s, %s, …)` costs the client more to render and the server more to parse than the
statement itself (imports look up and write contacts 1,000 at a time). Elsewhere (SQLite) a plain list.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models.expressions import RawSQL


def in_values(values: Iterable[Any], *, sql_type: str = "bigint") -> Any:
    """The right side of an `__in` lookup: a one-parameter array on PostgreSQL, the list elsewhere."""
    values = list(values)
    if connection.vendor == "postgresql":
        return RawSQL(f"SELECT unnest(%s::{sql_type}[])", (values,))
    return values
