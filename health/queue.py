"""Queueing background tasks so that a broker outage delays the work instead of failing the request or losing it.

Invariant: a task asked for while the broker does not answer is kept in the database (DeferredTask) and queued
again, in the order asked, by the minutely `deferred_tasks_queue` once the broker answers. The tasks queued this
way are idempotent by design (a rebuild reads the condition under the group's lock; an import or an undo runs
only while its job is still queued; a send batch claims its rows), so one queued twice — the broker failed after
taking it — does its work once.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from health.models import DeferredTask

logger = logging.getLogger(__name__)
DEFERRED_BATCH = 1000  # tasks queued again per run of the minutely check


def task_queue(func: str, *args: Any) -> bool:
    """Queue the django-q2 task `func(*args)` (JSON-able arguments); True when queued now, False when kept for later."""
    from django_q.tasks import async_task

    try:
        async_task(func, *args)
        return True
    except Exception as error:  # redis' ConnectionError / TimeoutError, or the ORM broker's database error
        logger.warning("the task queue did not answer (%s: %s); %s kept to be queued when it is back",
                       type(error).__name__, error, func)  # fmt: skip
        DeferredTask.objects.create(func=func, args=list(args))
        return False


def task_queue_on_commit(func: str, *args: Any) -> None:
    """task_queue once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: task_queue(func, *args))


def deferred_tasks_queue() -> int:
    """Queue again the tasks kept while the broker was away (oldest first); returns how many. A broker that
    fails again stops the run: what is left waits for the next one."""
    from django_q.tasks import async_task

    queued = 0
    with transaction.atomic():
        for task in DeferredTask.objects.select_for_update(skip_locked=True).order_by("pk")[:DEFERRED_BATCH]:
            async_task(task.func, *task.args)
            task.delete()
            queued += 1
    if queued:
        logger.info("%s tasks kept during a broker outage were queued again", queued)
    return queued
