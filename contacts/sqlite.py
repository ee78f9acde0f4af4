"""SQLite only: LIKE that folds the case of every Unicode letter, as PostgreSQL's ILIKE/UPPER() do.

SQLite's built-in LIKE folds ASCII letters only, so on the embedded database a search for "černý" missed
"Černý". Django runs `icontains` / `istartswith` / … (and, SQLite being case-insensitive anyway,
`contains` …) as `x LIKE pattern ESCAPE '\\'`; this replaces SQLite's like() for the connection with one
that matches case-insensitively in Unicode, so every search behaves as on PostgreSQL.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=512)
def _pattern(pattern: str, escape: str | None) -> re.Pattern[str]:
    parts: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if escape is not None and char == escape:
            parts.append(re.escape(next(chars, "")))
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def unicode_like(pattern: Any, value: Any, escape: Any = None) -> bool | None:
    """SQLite's like(pattern, value[, escape]) (note the order) with Unicode case folding; NULL stays NULL."""
    if pattern is None or value is None:
        return None
    return _pattern(str(pattern), escape).fullmatch(str(value)) is not None


def install_unicode_like(sender: Any, connection: Any, **kwargs: Any) -> None:
    """connection_created receiver: give every new SQLite connection the Unicode LIKE."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("like", 2, unicode_like, deterministic=True)
        connection.connection.create_function("like", 3, unicode_like, deterministic=True)
