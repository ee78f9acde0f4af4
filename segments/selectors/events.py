"""Reading the membership history in id order behind a cursor (webhooks, triggered campaigns).

A reader keeps the last event id it handled and reads the events after it up to `history_safe_upper()`.
"""

from __future__ import annotations

from django.db import OperationalError, connection, transaction
from django.db.models import Max

from segments.models import MembershipEvent


def history_safe_upper() -> int | None:
    """The highest event id below which no event can still appear, or None to wait for the next run.

    TRICKY: on PostgreSQL a transaction that inserted event 5 may commit after one that inserted event 6: a
    cursor moved past 6 would skip 5 for ever. A SHARE lock on the history table waits for the transactions
    writing it, so the highest id read under it is final; the lock is tried for at most 200 ms (writers queue
    behind it meanwhile) and released at once. Busy (a rebuild writing for minutes): None, the next run tries
    again. SQLite has one writer at a time, committing its ids in order: no lock needed.
    """
    table = MembershipEvent._meta.db_table
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '200ms'")
                try:
                    with transaction.atomic():
                        cursor.execute(f'LOCK TABLE "{table}" IN SHARE MODE')
                except OperationalError:
                    return None
        return MembershipEvent.objects.aggregate(top=Max("pk"))["top"]


def history_last_id() -> int:
    """The id of the newest event written so far (0 when there is none): where a new cursor starts."""
    return MembershipEvent.objects.aggregate(top=Max("pk"))["top"] or 0
