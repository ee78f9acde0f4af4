"""django-q2 tasks of the contacts app: one-line wrappers around services (arguments are pickled, never model
instances). Scheduled in segments.schedules (the fold) and contacts.schedules (the partitions)."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from contacts.partitions import months_ahead
from contacts.services import activity_rises_fold
from contacts.services.partitions import activity_partitions_create, activity_statistics_refresh


def fold_activity_rises() -> int:
    """Every minute: copy the newest activity times raised since the last fold onto the contact rows."""
    return activity_rises_fold()


def activity_partitions_ahead() -> list[str]:
    """Daily: create the missing monthly activity partitions ahead, then refresh the parent's statistics."""
    months = months_ahead(today=timezone.now().date(), ahead=settings.ACTIVITY_PARTITIONS_AHEAD)
    created = activity_partitions_create(months=months)
    activity_statistics_refresh()
    return [change.table for change in created]
