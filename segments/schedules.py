"""django-q2 schedules of the segments app, registered idempotently by name after every migrate."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.utils import timezone

NIGHTLY_REBUILD = "segments.nightly_rebuild"
# A safety net, every 5 minutes: every change queues its own drain, but a drain that failed (a deadlock,
# a group deleted while it waited for its lock, a lost connection) leaves its contacts pending.
PENDING_RECHECKS = "segments.pending_rechecks"
# Every minute: a rebuild whose worker was killed (no heartbeat) is shown as interrupted and queued again.
INTERRUPTED_REBUILDS = "segments.interrupted_rebuilds"
# Every minute: the activities' newest times onto the contact rows (contacts.services.last_activity). The
# contacts app never imports segments, so its schedule is registered here with the others.
ACTIVITY_FOLD = "contacts.fold_activity_rises"


def next_daily_run(*, at: str, now: dt.datetime | None = None) -> dt.datetime:
    """The next moment the local clock shows `at` ("HH:MM") in the project's time zone."""
    hour, minute = (int(part) for part in at.split(":"))
    local_now = timezone.localtime(now or timezone.now())
    run = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if run <= local_now:
        run = (run + dt.timedelta(days=1)).replace(hour=hour, minute=minute)
    return run


def schedule_every_minutes(*, name: str, func: str, minutes: int) -> None:
    """Create or update the django-q2 schedule `name`: run `func` every `minutes`, for ever."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=name,
        defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1},
    )


def schedules_register(**_: Any) -> None:
    """Create or update the nightly, re-check, interrupted-rebuild and activity-fold schedules (on post_migrate)."""
    from django_q.models import Schedule

    schedule_every_minutes(name=PENDING_RECHECKS, func="segments.tasks.drain_rechecks", minutes=5)
    schedule_every_minutes(name=INTERRUPTED_REBUILDS, func="segments.tasks.recover_interrupted_rebuilds", minutes=1)
    schedule_every_minutes(name=ACTIVITY_FOLD, func="contacts.tasks.fold_activity_rises", minutes=1)

    run_at = next_daily_run(at=settings.NIGHTLY_REBUILD_TIME)
    schedule, created = Schedule.objects.get_or_create(
        name=NIGHTLY_REBUILD,
        defaults={
            "func": "segments.tasks.rebuild_scheduled_groups",
            "schedule_type": Schedule.DAILY,
            "repeats": -1,
            "next_run": run_at,
        },
    )
    local = timezone.localtime(schedule.next_run)
    if not created and (local.hour, local.minute) != (run_at.hour, run_at.minute):
        schedule.next_run = run_at  # the configured time changed: move the schedule
        schedule.save(update_fields=["next_run"])
