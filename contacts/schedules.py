"""django-q2 schedules of the contacts app, registered idempotently by name after every migrate."""

from __future__ import annotations

from typing import Any

# Daily: the activity table's monthly partitions for the current month and the next ACTIVITY_PARTITIONS_AHEAD
# (PostgreSQL; a no-op on SQLite). The default partition catches whatever comes before a month exists.
ACTIVITY_PARTITIONS = "contacts.activity_partitions"


def schedules_register(**_: Any) -> None:
    """Create or update the daily activity-partitions schedule (on post_migrate)."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=ACTIVITY_PARTITIONS,
        defaults={"func": "contacts.tasks.activity_partitions_ahead", "schedule_type": Schedule.DAILY, "repeats": -1},
    )
