"""The contacts app's django-q2 tasks (thin: each calls a service). Scheduled in segments.schedules."""

from __future__ import annotations

from contacts.services import activity_rises_fold


def fold_activity_rises() -> int:
    """Every minute: copy the newest activity times raised since the last fold onto the contact rows."""
    return activity_rises_fold()
