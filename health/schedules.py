"""The health app's django-q2 schedules, every minute (registered after every migrate): the worker heartbeat, and
the tasks kept while the broker did not answer queued again (health.queue)."""

from __future__ import annotations

from typing import Any

HEARTBEAT = "health.worker_heartbeat"
DEFERRED_TASKS = "health.deferred_tasks"


def schedules_register(**_: Any) -> None:
    from segments.schedules import schedule_every_minutes

    schedule_every_minutes(name=HEARTBEAT, func="health.tasks.worker_heartbeat", minutes=1)
    schedule_every_minutes(name=DEFERRED_TASKS, func="health.tasks.queue_deferred_tasks", minutes=1)
