"""Waking the re-check worker after a committed change — once per drain, not once per change.

Invariant: a change committed while a drain is queued and not yet started is read by that drain. The
one RecheckWake row says a drain is pending; a committed change queues a drain only when it sets the
flag itself (one upsert that writes nothing while the flag is set), and a drain clears the flag in its own
committed transaction before it reads any note. A change that saw the flag set committed before the
drain cleared it, so the drain's reads see it; a change after the clear sets the flag and queues another
drain. A flag older than WAKE_STALE_AFTER (its task lost, or stuck behind long tasks) is set again and
another drain queued. The notes themselves stay durable (the 5-minute schedule drains whatever is left).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from segments.models import RecheckWake

logger = logging.getLogger(__name__)
DRAIN_TASK = "segments.tasks.drain_rechecks"


def _wake_worker() -> None:
    """Queue a drain (after the commit) unless one is queued and not started yet. A failure here loses
    nothing: the rows are committed."""
    from django_q.tasks import async_task

    try:
        if _wake_claim():
            async_task(DRAIN_TASK)
    except Exception:  # the broker is down: the 5-minute schedule drains the rows
        logger.exception("could not queue a re-check drain; the scheduled drain will pick the changes up")


WAKE_ROW = 1  # the pk of the one RecheckWake row
WAKE_STALE_AFTER = timedelta(seconds=60)  # a drain queued this long ago and not started: queue another


def _wake_claim() -> bool:
    """Set the pending flag unless it is set (and fresh); True when this caller set it and must queue a drain.

    While a drain is pending (the common case in a burst) one read, which takes no lock; otherwise one
    upsert (a missing row is created) that only one of concurrent callers wins.
    """
    table = connection.ops.quote_name(RecheckWake._meta.db_table)
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    stale = adapt(now - WAKE_STALE_AFTER)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} WHERE id = %s AND pending AND queued_at >= %s", [WAKE_ROW, stale])
        if cursor.fetchone() is not None:
            return False
        cursor.execute(
            f"INSERT INTO {table} (id, pending, queued_at) VALUES (%s, %s, %s) "
            f"ON CONFLICT (id) DO UPDATE SET pending = EXCLUDED.pending, queued_at = EXCLUDED.queued_at "
            f"WHERE NOT {table}.pending OR {table}.queued_at < %s RETURNING id",
            [WAKE_ROW, True, adapt(now), stale],
        )
        return cursor.fetchone() is not None


def _wake_clear() -> None:
    """A drain starts: later changes must queue another (committed before any note is read)."""
    with transaction.atomic():
        RecheckWake.objects.filter(pk=WAKE_ROW, pending=True).update(pending=False)
