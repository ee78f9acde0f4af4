from django.db import models


class WorkerHeartbeat(models.Model):
    """When a background worker last ran the heartbeat task (one row per django-q2 cluster name).

    The task is scheduled every minute, so a row older than a few minutes means no worker is taking tasks
    from the queue (none running, or all stuck behind long tasks): /readyz reports it.
    """

    cluster = models.CharField(max_length=100, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.cluster} at {self.beat_at:%Y-%m-%d %H:%M:%S}"


class DeferredTask(models.Model):
    """A background task that could not be queued because the broker did not answer (Redis down).

    `health.queue.task_queue` keeps it here instead of failing the request; the minutely
    `health.tasks.deferred_tasks_queue` queues it again once the broker answers (oldest first).
    """

    func = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.func}{tuple(self.args)} kept at {self.created_at:%Y-%m-%d %H:%M:%S}"
