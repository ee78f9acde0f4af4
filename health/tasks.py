"""django-q2 tasks of the health app."""

from __future__ import annotations

from health.queue import deferred_tasks_queue
from health.services import heartbeat_record


def worker_heartbeat() -> None:
    """Note that a worker is taking tasks (scheduled every minute; /readyz reads it)."""
    heartbeat_record()


def queue_deferred_tasks() -> int:
    """Minutely: queue the tasks kept while the broker did not answer (health.queue)."""
    return deferred_tasks_queue()
