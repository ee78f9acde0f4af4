"""The health app's django-q2 schedule: the worker heartbeat, every minute (registered after every migrate)."""

from __future__ import annotations

from typing import Any

HEARTBEAT = "health.worker_heartbeat"


def schedules_register(**_: Any) -> None:
    from segments.schedules import schedule_every_minutes

    schedule_every_minutes(name=HEARTBEAT, func="health.tasks.worker_heartbeat", minutes=1)
