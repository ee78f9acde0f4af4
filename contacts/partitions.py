"""The monthly partitions of contacts_activity on PostgreSQL (reads): names, bounds and what is there.

Invariant (contacts migration 0013): on PostgreSQL contacts_activity is partitioned by RANGE (occurred_at),
one partition per UTC month named `contacts_activity_pYYYY_MM` (from its first instant to the next month's)
and `contacts_activity_default` for every row no monthly partition takes. A detached month stays as a plain
table named `contacts_activity_archive_YYYY_MM` (never dropped). UTC months end at UTC midnights, so a
partition holds whole UTC days: exactly the days of the daily roll-up (contacts.models.ActivityDay).
SQLite keeps one plain table: everything here answers "nothing" there. Writes: contacts.services.partitions.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.db import connection

PARENT = "contacts_activity"  # Activity's table (named here: this module only reads it)
DEFAULT = f"{PARENT}_default"
ARCHIVE_PREFIX = f"{PARENT}_archive_"
MONTHLY = re.compile(rf"^{PARENT}_p(\d{{4}})_(\d{{2}})$")


@dataclass(frozen=True)
class MonthPartition:
    month: dt.date  # its first day
    table: str
    rows: int  # the planner's estimate (pg_class.reltuples; 0 before the first ANALYZE)


def partitioned() -> bool:
    """Whether contacts_activity is a partitioned table here (PostgreSQL after migration 0013)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [PARENT])
        row = cursor.fetchone()
    return row is not None and row[0] == "p"


def month_start(moment: dt.date | dt.datetime) -> dt.date:
    """The first day of the (UTC, for a time) month of a day or time."""
    if isinstance(moment, dt.datetime):
        moment = moment.astimezone(dt.UTC).date()
    return moment.replace(day=1)


def month_after(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def months_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """The first days of the months from `first`'s to `last`'s, both included."""
    months, month = [], month_start(first)
    while month <= last:
        months.append(month)
        month = month_after(month)
    return months


def months_ahead(*, today: dt.date, ahead: int) -> list[dt.date]:
    """The month of `today` and the `ahead` months after it."""
    last = month_start(today)
    for _ in range(ahead):
        last = month_after(last)
    return months_between(today, last)


def month_instant(month: dt.date) -> dt.datetime:
    """The first instant of a UTC month (a partition's lower bound)."""
    return dt.datetime.combine(month, dt.time(), tzinfo=dt.UTC)


def partition_name(month: dt.date) -> str:
    return f"{PARENT}_p{month:%Y_%m}"


def attached_partitions() -> list[MonthPartition]:
    """The monthly partitions attached now, oldest first (the default partition is not one)."""
    if not partitioned():
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, greatest(c.reltuples, 0)::bigint FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            [PARENT],
        )
        found = []
        for name, rows in cursor.fetchall():
            if match := MONTHLY.match(name):
                found.append(MonthPartition(dt.date(int(match[1]), int(match[2]), 1), name, rows))
    return sorted(found, key=lambda p: p.month)


def default_months(*, before: dt.date | None = None) -> dict[dt.date, int]:
    """The UTC months of the rows in the default partition (before `before`'s month if given) → rows."""
    if not partitioned():
        return {}
    where, params = ("WHERE occurred_at < %s", [month_instant(before)]) if before else ("", [])
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date, count(*) FROM {DEFAULT} "
            f"{where} GROUP BY 1 ORDER BY 1",
            params,
        )
        return dict(cursor.fetchall())


def archived_tables() -> list[str]:
    """The detached monthly tables kept beside the partitioned one, oldest first."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND NOT relispartition "
            "AND starts_with(relname, %s) ORDER BY relname",
            [ARCHIVE_PREFIX],
        )
        return [row[0] for row in cursor.fetchall()]
