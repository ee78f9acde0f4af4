"""Writes of the health app."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

from health.models import WorkerHeartbeat


def heartbeat_record(*, now: dt.datetime | None = None) -> WorkerHeartbeat:
    """Store that a worker of this cluster ran a task now."""
    beat, _ = WorkerHeartbeat.objects.update_or_create(
        cluster=settings.Q_CLUSTER["name"], defaults={"beat_at": now or timezone.now()}
    )
    return beat
