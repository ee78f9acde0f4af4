"""Database upkeep that is not a domain concern."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import OperationalError, connection, transaction
from django.db.models import Max, Model
from django.utils import timezone


def sql_datetime(value: dt.datetime | None = None) -> Any:
    """A moment (default: now) as a parameter of a hand-written statement, adapted as the ORM stores it.

    TRICKY: on SQLite the ORM stores naive UTC text; a raw aware datetime would be stored as "…+00:00" text,
    which sorts and compares apart from the ORM's values (an import's undo compares `updated_at`).
    """
    return connection.ops.adapt_datetimefield_value(timezone.now() if value is None else value)


def planner_statistics_refresh() -> None:
    """SQLite: gather the query planner's statistics (ANALYZE); PostgreSQL's autovacuum does this itself.

    TRICKY: a SQLite file is never analysed by itself. Without statistics the planner guessed wrong on an
    activity rule with a `data.<key> contains` filter: 48 s on the 5,000-contact demo, 0.8 s after ANALYZE.
    """
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def events_safe_upper(model: type[Model]) -> int | None:
    """The highest id of an append-only events table below which no row can still appear, or None to wait.

    For readers that keep a cursor (the last id they handled): webhooks, triggered campaigns.
    TRICKY: on PostgreSQL a transaction that inserted event 5 may commit after one that inserted event 6: a
    cursor moved past 6 would skip 5 for ever. A SHARE lock on the table waits for the transactions writing
    it, so the highest id read under it is final; the lock is tried for at most 200 ms (writers queue behind it
    meanwhile) and released at once. Busy (a rebuild writing for minutes): None, the next run tries again.
    SQLite has one writer at a time, committing its ids in order: no lock needed.
    """
    table = connection.ops.quote_name(model._meta.db_table)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '200ms'")
                try:
                    with transaction.atomic():
                        cursor.execute(f"LOCK TABLE {table} IN SHARE MODE")
                except OperationalError:
                    return None
        return model._default_manager.aggregate(top=Max("pk"))["top"]
