"""A contact's newest activity time: raised by every activity write, folded onto the contact rows in bulk.

Invariant: the newest occurred_at of a contact's activities = the later of `Contact.last_activity_at` and its
`ActivityRise.at` (absent row: the column alone). The rule engine reads both (segments.rules.compiler:
"no activity in N days" is an index range on the column, minus the few contacts whose rise is newer).

Why two places: the contact row is wide and has 16 indexes, and an index on `last_activity_at` means every
write of it is a non-HOT update inserting into all of them (1,000 scattered contacts: 0.7–2.2 s and 70–176 MB
of WAL on the bench machine). The ActivityRise row is narrow and unindexed but for its key, so raising it is a
HOT update (1,000: ≈ 20 ms, 5 MB). The fold (`activity_rises_fold`, in the worker every minute) copies the
rises onto the contact rows set-based: one wide-row write per contact per fold, however many activities it had.

Concurrency: rises are written only by holders of the contact's row lock (FOR NO KEY UPDATE, taken in id order:
the activity writers, a refresh's UPDATE, the fold), so the fold never waits for a writer (it skips locked
contacts: SKIP LOCKED) and a writer never sees half a fold. The daily roll-up relies on the same lock
(contacts.services.activity_days).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import Max, OuterRef, Subquery

from contacts.models import Activity, ActivityRise, Contact
from contacts.services.activity_days import activity_days_rebuild

RAISE_BATCH = 1000  # contacts per statement when raising
FOLD_SLICE = 5000  # contacts per fold transaction (short row locks; the wide-row writes are the cost)


def _tables() -> tuple[str, str]:
    qn = connection.ops.quote_name
    return qn(Contact._meta.db_table), qn(ActivityRise._meta.db_table)


def last_activity_raise(*, newest: dict[int, dt.datetime]) -> None:
    """Raise each contact's newest activity time to `newest[contact id]` where that is later (never lowers).

    Locks every named contact's row first, in id order (FOR NO KEY UPDATE: concurrent writers naming the same
    contacts wait for each other instead of deadlocking); callers rely on holding those locks afterwards.
    """
    ids = sorted(newest)
    contacts, rises = _tables()
    adapt = connection.ops.adapt_datetimefield_value
    if connection.vendor == "postgresql":
        # TRICKY: only rises above both the column and the current rise are written; ON CONFLICT re-reads the
        # committed rise row under its lock, so two writers can never lower it.
        sql = (
            f"WITH v (contact_id, newest) AS (VALUES {{values}}), "
            f"locked AS (SELECT c.id, c.last_activity_at, v.newest FROM {contacts} c JOIN v ON c.id = v.contact_id "
            f"ORDER BY c.id FOR NO KEY UPDATE OF c) "
            f"INSERT INTO {rises} (contact_id, at) SELECT id, newest FROM locked "
            f"WHERE last_activity_at IS NULL OR last_activity_at < newest ORDER BY id "
            f"ON CONFLICT (contact_id) DO UPDATE SET at = excluded.at WHERE {rises}.at < excluded.at"
        )
        row = "(%s, CAST(%s AS timestamp with time zone))"
    else:  # SQLite: one writer at a time (the whole file is locked), nothing to order or lock
        sql = (
            f"WITH v (contact_id, newest) AS (VALUES {{values}}) "
            f"INSERT INTO {rises} (contact_id, at) SELECT c.id, v.newest FROM {contacts} c "
            f"JOIN v ON c.id = v.contact_id WHERE c.last_activity_at IS NULL OR c.last_activity_at < v.newest "
            f"ON CONFLICT (contact_id) DO UPDATE SET at = excluded.at WHERE {rises}.at < excluded.at"
        )
        row = "(%s, %s)"
    with connection.cursor() as cursor:
        for start in range(0, len(ids), RAISE_BATCH):
            chunk = ids[start : start + RAISE_BATCH]
            cursor.execute(
                sql.format(values=", ".join([row] * len(chunk))),
                [value for pk in chunk for value in (pk, adapt(newest[pk]))],
            )


def activity_rises_fold(*, slice_size: int = FOLD_SLICE) -> int:
    """Copy the rises onto the contact rows (`last_activity_at`) and delete them, a slice per transaction;
    returns the contacts folded. Contacts a writer holds are left for the next fold (it never waits for them)."""
    contacts, rises = _tables()
    folded = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"WITH locked AS (SELECT c.id FROM {contacts} c JOIN {rises} r ON r.contact_id = c.id "
                    f"ORDER BY c.id LIMIT %s FOR NO KEY UPDATE OF c SKIP LOCKED), "
                    f"moved AS (DELETE FROM {rises} r USING locked WHERE r.contact_id = locked.id "
                    f"RETURNING r.contact_id, r.at), "
                    f"raised AS (UPDATE {contacts} c SET last_activity_at = moved.at FROM moved "
                    f"WHERE c.id = moved.contact_id AND (c.last_activity_at IS NULL OR c.last_activity_at < moved.at)) "
                    f"SELECT count(*) FROM moved",
                    [slice_size],
                )
                done = cursor.fetchone()[0]
            else:  # SQLite: one writer at a time (the transaction holds the file's write lock)
                first = f"SELECT contact_id, at FROM {rises} ORDER BY contact_id LIMIT %s"
                cursor.execute(
                    f"UPDATE {contacts} SET last_activity_at = r.at FROM ({first}) r "
                    f"WHERE r.contact_id = {contacts}.id "
                    f"AND ({contacts}.last_activity_at IS NULL OR {contacts}.last_activity_at < r.at)",
                    [slice_size],
                )
                cursor.execute(
                    f"DELETE FROM {rises} WHERE contact_id IN (SELECT contact_id FROM ({first}))", [slice_size]
                )
                done = max(cursor.rowcount, 0)
        folded += done
        if done < slice_size:  # all folded, or the rest is held by writers: the next fold takes it
            return folded


@transaction.atomic
def contacts_refresh_last_activity(*, contact_ids: Iterable[int] | None = None) -> int:
    """Recompute what is derived from the activities of these contacts (None: all), set-based: their
    `last_activity_at` (the newest activity time, its rise folded) and their daily roll-up; returns contacts
    updated."""
    ids = None if contact_ids is None else sorted(set(contact_ids))
    qs = Contact.objects.all()
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    updated = qs.update(last_activity_at=_newest_activity())  # locks the rows first: see activity_days
    rises = ActivityRise.objects.all()
    (rises if ids is None else rises.filter(contact_id__in=ids)).delete()
    activity_days_rebuild(contact_ids=ids)
    return updated


def _newest_activity() -> Subquery:
    """The newest occurred_at of the outer contact's activities, NULL without any (an index probe per contact)."""
    return Subquery(
        Activity.objects.filter(contact=OuterRef("pk"))
        .order_by()
        .values("contact")
        .annotate(newest=Max("occurred_at"))
        .values("newest")
    )
