"""Wake-ups: new events go out within seconds, not at the next minutely run.

Invariant: the minutely schedule (`webhooks.tasks.run_webhooks`) is the safety net; a wake-up only brings a run
forward and losing one delays events by at most a minute, never loses them. Whatever writes events (a re-check
drain, a rebuild, an import, a campaign's send batch) runs as a django-q2 task; after any task but our own has
finished (django-q2's `post_execute`, sent by the cluster's monitor), if an active endpoint has events past its
cursors, one run is queued — unless one is already queued and has not started yet: a cache flag set when it is
queued and cleared by the run as it starts, so events committed after a run started always get a run of their own.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache
from django.db.models import Min

logger = logging.getLogger(__name__)

RUN_TASK = "webhooks.tasks.run_webhooks"
QUEUED_FLAG = "webhooks:run-queued"
FLAG_TTL = 120  # a run lost by the broker stops holding back wake-ups after this (the schedule covers it)


def events_waiting() -> bool:
    """True when an active endpoint has events past its cursor (two index probes)."""
    from segments.models import MembershipEvent
    from webhooks.events import stream_waiting
    from webhooks.models import Endpoint

    cursors = Endpoint.objects.filter(active=True).aggregate(membership=Min("cursor"))
    if cursors["membership"] is None:
        return False  # no active endpoint
    return MembershipEvent.objects.filter(pk__gt=cursors["membership"]).exists() or stream_waiting()


def run_queue() -> bool:
    """Queue one webhooks run unless one is queued and not started; True when this call queued it."""
    from django_q.tasks import async_task

    if not cache.add(QUEUED_FLAG, 1, timeout=FLAG_TTL):
        return False
    try:
        async_task(RUN_TASK)
    except Exception:
        cache.delete(QUEUED_FLAG)
        raise
    return True


def run_started() -> None:
    """Called by a run as it starts: later events need a run of their own."""
    cache.delete(QUEUED_FLAG)


def after_task(sender: Any, task: dict[str, Any], **kwargs: Any) -> None:
    """django-q2's post_execute: bring the webhooks run forward when a finished task left events waiting."""
    from django_q.utils import get_func_repr

    if get_func_repr(task.get("func")) == RUN_TASK:
        return  # what a run leaves (a busy lock, a full batch) waits for the schedule: no loop
    try:
        if events_waiting():
            run_queue()
    except Exception:  # never disturb the cluster's monitor: the minutely run covers it
        logger.exception("could not queue a webhooks run after a task")
