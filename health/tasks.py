"""django-q2 tasks of the health app."""

from __future__ import annotations

from health.services import heartbeat_record


def worker_heartbeat() -> None:
    """Note that a worker is taking tasks (scheduled every minute; /readyz reads it)."""
    heartbeat_record()
