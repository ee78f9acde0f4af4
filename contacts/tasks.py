"""django-q2 tasks of the contacts app: one-line wrappers (arguments are pickled, never model instances)."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from contacts.partitions import months_ahead
from contacts.services.partitions import activity_partitions_create, activity_statistics_refresh


def activity_partitions_ahead() -> list[str]:
    """Daily: create the missing monthly activity partitions ahead, then refresh the parent's statistics."""
    months = months_ahead(today=timezone.now().date(), ahead=settings.ACTIVITY_PARTITIONS_AHEAD)
    created = activity_partitions_create(months=months)
    activity_statistics_refresh()
    return [change.table for change in created]
