"""The daily roll-up of activities (ActivityDay, keyed by ActivityUrl): kept exact in the writing transaction.

Invariant: for every (contact, UTC day, type, URL), ActivityDay.n equals the number of that contact's
activities of that type at that URL (the exact text) on that UTC day, at every commit. The writers of
activities (contacts.services.activities, merging) call `activity_days_add` for what they insert and
`activity_days_rebuild` for contacts whose activities moved; a contact's deletion cascades to its rows.

Concurrency: every writer holds the row locks of the contacts it changes (the `last_activity_at`
UPDATE, or a merge's SELECT … FOR UPDATE) before it touches their roll-up rows, so a rebuild of a
contact never interleaves with an increment of the same contact; a full rebuild locks the activity
table against writes (PostgreSQL `SHARE` mode). Increments are applied in key order (no deadlocks).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from contacts.models import Activity, ActivityDay, ActivityUrl

# A roll-up key: (contact id, UTC day, activity type, URL text).
DayKey = tuple[int, dt.date, str, str]

UPSERT_ROWS = 150  # rows per INSERT … ON CONFLICT (5 parameters a row: under SQLite's 999 on old builds)


def utc_day(moment: dt.datetime) -> dt.date:
    """The UTC calendar day of an activity time, as the database stores it (naive = project time, as the ORM)."""
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    return moment.astimezone(dt.UTC).date()


def url_digest(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def activity_url_ids(*, urls: Iterable[str]) -> dict[str, int]:
    """The ActivityUrl id of each URL text, creating the missing ones (concurrent creators are harmless)."""
    wanted = {url_digest(url): url for url in set(urls)}
    if not wanted:
        return {}
    found = dict(ActivityUrl.objects.filter(digest__in=list(wanted)).values_list("digest", "pk"))
    missing = [ActivityUrl(url=url, digest=digest) for digest, url in sorted(wanted.items()) if digest not in found]
    if missing:
        ActivityUrl.objects.bulk_create(missing, ignore_conflicts=True)
        found = dict(ActivityUrl.objects.filter(digest__in=list(wanted)).values_list("digest", "pk"))
    return {url: found[digest] for digest, url in wanted.items()}


def day_counts(activities: Iterable[tuple[int, dt.datetime, str, str]]) -> Counter[DayKey]:
    """Roll-up increments of (contact id, occurred_at, type, url) tuples."""
    return Counter((contact_id, utc_day(occurred_at), type, url) for contact_id, occurred_at, type, url in activities)


def activity_days_add(*, counts: Mapping[DayKey, int]) -> None:
    """Add these counts to the roll-up (one upsert per UPSERT_ROWS keys, in key order).

    Precondition: the caller holds the row locks of these contacts (see the module's concurrency note).
    """
    if not counts:
        return
    table = ActivityDay._meta.db_table
    if len(counts) == 1:  # one activity (the tracking pixel, a form): one statement while its URL is known
        ((contact_id, day, type, url), n), *_ = counts.items()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (contact_id, day, type, url_id, n) "
                f"SELECT %s, %s, %s, u.id, %s FROM {ActivityUrl._meta.db_table} u WHERE u.digest = %s "
                f"ON CONFLICT (contact_id, day, type, url_id) DO UPDATE SET n = {table}.n + excluded.n",
                [contact_id, day, type, n, url_digest(url)],
            )
            if cursor.rowcount == 1:
                return
    ids = activity_url_ids(urls=(url for _, _, _, url in counts))
    rows = sorted((contact_id, day, type, ids[url], n) for (contact_id, day, type, url), n in counts.items() if n)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), UPSERT_ROWS):
            batch = rows[start : start + UPSERT_ROWS]
            values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(batch))
            cursor.execute(
                f"INSERT INTO {table} (contact_id, day, type, url_id, n) VALUES {values} "
                f"ON CONFLICT (contact_id, day, type, url_id) DO UPDATE SET n = {table}.n + excluded.n",
                [value for row in batch for value in row],
            )


def activity_days_clear() -> None:
    """Empty the roll-up (with every activity deleted: contacts.services.activities_delete_all)."""
    ActivityDay.objects.all().delete()


def activity_days_forget(*, before: dt.date) -> int:
    """Delete the roll-up of the UTC days before `before` (their activities were detached: services.partitions)."""
    deleted, _ = ActivityDay.objects.filter(day__lt=before).delete()
    return deleted


def _utc_day_sql(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"({column} AT TIME ZONE 'UTC')::date"
    return f"date({column})"  # SQLite: Django stores UTC text 'YYYY-MM-DD HH:MM:SS[.ffffff]'


def _contact_filter(alias: str, contact_ids: list[int] | None) -> tuple[str, list[Any]]:
    if contact_ids is None:
        return "1 = 1", []
    if connection.vendor == "postgresql":
        return f"{alias}.contact_id = ANY(%s)", [contact_ids]
    if not contact_ids:
        return "1 = 0", []
    return f"{alias}.contact_id IN ({', '.join(['%s'] * len(contact_ids))})", list(contact_ids)


def activity_days_fill(*, contact_ids: list[int] | None = None) -> int:
    """Insert the roll-up rows of these contacts' activities (all contacts: None), set-based; returns rows.

    Precondition: they have no roll-up rows yet. Used by the rebuild, the data migration and bench.generate.
    """
    activity = Activity._meta.db_table
    where, params = _contact_filter("a", contact_ids)
    with connection.cursor() as cursor:
        # New URL texts first (few: the distinct URLs of the site), digested here in Python.
        cursor.execute(
            f"SELECT DISTINCT a.url FROM {activity} a WHERE {where} AND NOT EXISTS "
            f"(SELECT 1 FROM {ActivityUrl._meta.db_table} u WHERE u.url = a.url)",
            params,
        )
        activity_url_ids(urls=(row[0] for row in cursor.fetchall()))
        day = _utc_day_sql("a.occurred_at")
        # TRICKY: sorted by the key, so the primary key's btree grows at its right edge (a hash aggregate's
        # random order made a 10M-row fill spend most of its time in index page splits).
        cursor.execute(
            f"INSERT INTO {ActivityDay._meta.db_table} (contact_id, day, type, url_id, n) "
            f"SELECT a.contact_id, {day}, a.type, u.id, COUNT(*) FROM {activity} a "
            f"JOIN {ActivityUrl._meta.db_table} u ON u.url = a.url WHERE {where} "
            f"GROUP BY a.contact_id, {day}, a.type, u.id ORDER BY 1, 2, 3, 4",
            params,
        )
        return max(cursor.rowcount, 0)


def activity_days_rebuild(*, contact_ids: Iterable[int] | None = None) -> int:
    """Recompute the roll-up of these contacts (None: everyone) from their activities; returns rows written.

    For a few contacts after their activities moved (a merge) or were written around the services (tests'
    factories); for everyone, the repair command `rebuild_activity_days`. A full rebuild holds writes to
    activities until it commits.
    """
    # TRICKY: TRUNCATE fails in a transaction that has pending deferred-FK events on the table (rows it
    # inserted); only a transaction of our own is sure to have none.
    own_transaction = not connection.in_atomic_block
    table = ActivityDay._meta.db_table
    ids = None if contact_ids is None else sorted(set(contact_ids))
    with transaction.atomic(), connection.cursor() as cursor:
        if ids is None:
            if connection.vendor == "postgresql":
                cursor.execute(f"LOCK TABLE {Activity._meta.db_table} IN SHARE MODE")
            if connection.vendor == "postgresql" and own_transaction:
                cursor.execute(f"TRUNCATE {table}")
            else:
                cursor.execute(f"DELETE FROM {table}")
        else:
            where, params = _contact_filter(table, ids)
            cursor.execute(f"DELETE FROM {table} WHERE {where}", params)
        return activity_days_fill(contact_ids=ids)
