"""The "background work is delayed" notice a signed-in page shows while tasks cannot run on time.

Fed by the readiness probes (health.probes): the broker does not answer, tasks kept during a broker outage wait
to be queued again (health.queue), the queue is deeper than READY_QUEUE_MAX, or the workers' heartbeat is older
than READY_WORKER_MAX_SILENCE (a fresh install whose worker never ran says nothing: /readyz does). Asked at most
once per NOTICE_SECONDS per process, so a page costs nothing more while all is well, and a broker that hangs
costs one short timeout per interval, not one per page.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

logger = logging.getLogger(__name__)

NOTICE_SECONDS = 15.0
BROKER_TIMEOUT = 0.5  # seconds a Redis PING may take here (the probe's own limit is longer)
KEPT = "Rebuilds, imports and sends you start now are kept and run once it is back; pages work as usual."


def _ask() -> str:
    """The notice now ("" when background work runs on time)."""
    from health.models import DeferredTask, WorkerHeartbeat
    from health.probes import orm_queue_depth, redis_queue_depth

    if settings.Q_CLUSTER.get("sync"):
        return ""
    try:
        redis = "redis" in settings.Q_CLUSTER
        depth = redis_queue_depth(timeout=BROKER_TIMEOUT) if redis else orm_queue_depth()
    except Exception as error:  # the broker does not answer
        logger.warning("background notice: the broker does not answer (%s)", type(error).__name__)
        return f"Background work is delayed: the task queue is not answering. {KEPT}"
    kept = DeferredTask.objects.count()
    if kept:
        return (f"Background work is delayed: {kept:,} task{'s' if kept != 1 else ''} asked for while the task queue "
                "was away will be queued again within a minute.")  # fmt: skip
    if depth > settings.READY_QUEUE_MAX:
        return f"Background work is delayed: {depth:,} tasks are waiting for the workers, so it may take a while."
    beat = WorkerHeartbeat.objects.filter(cluster=settings.Q_CLUSTER["name"]).values_list("beat_at", flat=True).first()
    if beat is not None and (timezone.now() - beat).total_seconds() > settings.READY_WORKER_MAX_SILENCE:
        minutes = max(1, round((timezone.now() - beat).total_seconds() / 60))
        return (f"Background work is delayed: no worker has taken a task for {minutes} minutes. Rebuilds, imports "
                "and sends wait until one runs again.")  # fmt: skip
    return ""


class _Notice:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._asked_at = float("-inf")
        self._text = ""

    def text(self) -> str:
        if time.monotonic() - self._asked_at < NOTICE_SECONDS:
            return self._text
        with self._lock:
            if time.monotonic() - self._asked_at >= NOTICE_SECONDS:
                try:
                    self._text = _ask()
                except DatabaseError:  # the page itself will say the database is away; the notice is best effort
                    self._text = ""
                self._asked_at = time.monotonic()
        return self._text

    def remember(self, text: str | None) -> None:
        """Hold `text` as the answer for NOTICE_SECONDS from now; None: ask again at the next page."""
        with self._lock:
            self._text = text or ""
            self._asked_at = float("-inf") if text is None else time.monotonic()


notice = _Notice()


def background_delay() -> str:
    """Why background work is delayed, for a banner ("" when it is not)."""
    return notice.text()
