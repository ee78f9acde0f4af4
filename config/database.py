"""Database upkeep that is not a domain concern."""

from __future__ import annotations

from django.db import connection


def planner_statistics_refresh() -> None:
    """SQLite: gather the query planner's statistics (ANALYZE); PostgreSQL's autovacuum does this itself.

    TRICKY: a SQLite file is never analysed by itself. Without statistics the planner guessed wrong on an
    activity rule with a `data.<key> contains` filter: 48 s on the 5,000-contact demo, 0.8 s after ANALYZE.
    """
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
