"""Reading the membership history in id order behind a cursor (webhooks, triggered campaigns).

A reader keeps the last event id it handled and reads the events after it up to `history_safe_upper()`.
"""

from __future__ import annotations

from django.db.models import Max

from config.database import events_safe_upper
from segments.models import MembershipEvent


def history_safe_upper() -> int | None:
    """The highest membership event id below which no event can still appear, or None to wait for the next run
    (config.database.events_safe_upper)."""
    return events_safe_upper(MembershipEvent)


def history_last_id() -> int:
    """The id of the newest event written so far (0 when there is none): where a new cursor starts."""
    return MembershipEvent.objects.aggregate(top=Max("pk"))["top"] or 0
