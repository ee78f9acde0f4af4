"""Readiness: is every service this process depends on answering? Each probe is cheap (one small query or ping).

`readiness()` runs: database (SELECT 1 on "default"), replica (its lag, when DATABASE_REPLICA_URL is set),
broker (Redis PING, or the ORM queue table), queue (tasks waiting, at most READY_QUEUE_MAX) and worker (a
heartbeat within READY_WORKER_MAX_SILENCE seconds). A probe that needs the database is skipped when it is
down, so the answer names the cause, not its echoes. Details (a server's address) go to the log, never
into the public answer: it names the check and the exception's class.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connections
from django.utils import timezone

logger = logging.getLogger(__name__)

OK, FAIL, SKIPPED = "ok", "fail", "skipped"
# Seconds a Redis PING may take before the broker counts as down.
REDIS_TIMEOUT = 2.0


class ProbeFailed(Exception):
    """A service answered, but not well enough (a lagging replica, a silent worker): the message says why."""

    def __init__(self, reason: str, **detail: Any) -> None:
        super().__init__(reason)
        self.detail = detail


def _run(name: str, probe: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result = {"status": OK, **probe()}
    except ProbeFailed as failed:
        result = {"status": FAIL, "reason": str(failed), **failed.detail}
    except Exception as error:  # a probe answers for any failure; the log gets the whole message
        logger.warning("readiness probe %s failed: %s: %s", name, type(error).__name__, error)
        result = {"status": FAIL, "reason": type(error).__name__}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def database_probe() -> dict[str, Any]:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {}


# Seconds since the last replayed transaction, or 0 when the replica has replayed all it received (an idle
# primary sends nothing, and the replay timestamp alone would read as growing lag).
REPLICA_LAG_SQL = """
SELECT pg_is_in_recovery(),
       CASE WHEN NOT pg_is_in_recovery() THEN 0
            WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END
"""


def replica_probe() -> dict[str, Any]:
    connection = connections["replica"]
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute("SELECT 1")
            return {"lag_seconds": None}
        cursor.execute(REPLICA_LAG_SQL)
        in_recovery, lag = cursor.fetchone()
    if lag is None:
        raise ProbeFailed("the replica has not replayed any transaction yet", in_recovery=in_recovery)
    lag = round(float(lag), 3)
    if lag > settings.READY_REPLICA_MAX_LAG:
        raise ProbeFailed(
            f"{lag} s behind the primary (at most {settings.READY_REPLICA_MAX_LAG} s)",
            lag_seconds=lag,
            in_recovery=in_recovery,
        )
    return {"lag_seconds": lag, "in_recovery": in_recovery}


def _queue_name() -> str:
    return settings.Q_CLUSTER["name"]


def redis_queue_depth(*, timeout: float = REDIS_TIMEOUT) -> int:
    """PING the Redis broker (`timeout` seconds at most) and count the tasks in django-q2's list."""
    import redis

    client = redis.Redis.from_url(settings.Q_CLUSTER["redis"], socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
        return int(client.llen(f"django_q:{_queue_name()}:q"))
    finally:
        client.close()


def orm_queue_depth() -> int:
    """Tasks waiting in django-q2's ORM broker table (not those a worker has taken)."""
    from django_q.models import OrmQ

    return (
        OrmQ.objects.using(settings.Q_CLUSTER.get("orm", "default"))
        .filter(key=_queue_name(), lock__lte=timezone.now())
        .count()
    )


def worker_probe() -> dict[str, Any]:
    from health.models import WorkerHeartbeat

    beat_at = WorkerHeartbeat.objects.filter(cluster=_queue_name()).values_list("beat_at", flat=True).first()
    if beat_at is None:
        raise ProbeFailed("no worker has run yet: start `manage.py qcluster`")
    silence = round((timezone.now() - beat_at).total_seconds(), 1)
    if silence > settings.READY_WORKER_MAX_SILENCE:
        raise ProbeFailed(
            f"no worker heartbeat for {silence:.0f} s (at most {settings.READY_WORKER_MAX_SILENCE} s)",
            last_beat_seconds_ago=silence,
        )
    return {"last_beat_seconds_ago": silence}


def _skipped(reason: str) -> dict[str, Any]:
    return {"status": SKIPPED, "reason": reason}


DEGRADED = "degraded"
CRITICAL = frozenset({"database"})  # checks without which the web tier cannot serve a page


def readiness() -> dict[str, Any]:
    """{"status": "ok" | "degraded" | "fail", "failed": [names], "critical": [names], "checks": {name: {…}}}."""
    checks: dict[str, dict[str, Any]] = {"database": _run("database", database_probe)}
    database_up = checks["database"]["status"] == OK
    needs_database = _skipped("needs the database")
    if "replica" in settings.DATABASES:
        checks["replica"] = _run("replica", replica_probe)

    depth: list[int] = []
    uses_redis = "redis" in settings.Q_CLUSTER

    def broker_probe() -> dict[str, Any]:
        depth.append(redis_queue_depth() if uses_redis else orm_queue_depth())
        return {"kind": "redis" if uses_redis else "orm"}

    checks["broker"] = _run("broker", broker_probe) if uses_redis or database_up else needs_database
    if depth:
        maximum = settings.READY_QUEUE_MAX
        checks["queue"] = {"status": OK if depth[0] <= maximum else FAIL, "depth": depth[0], "max": maximum}
        if depth[0] > maximum:
            checks["queue"]["reason"] = f"{depth[0]} tasks waiting (at most {maximum})"
    else:
        checks["queue"] = _skipped("needs the broker")

    if settings.Q_CLUSTER.get("sync"):
        checks["worker"] = _skipped("Q_SYNC: tasks run in the web process")
    else:
        checks["worker"] = _run("worker", worker_probe) if database_up else needs_database

    # A check skipped for a failed dependency is not listed: the dependency is, and it makes the answer 503.
    failed = [name for name, check in checks.items() if check["status"] == FAIL]
    # Without the primary database no page can answer; without the rest the pages still do (reads fall back
    # to the primary, background work waits): the web tier stays in rotation, degraded.
    critical = [name for name in failed if name in CRITICAL]
    status = FAIL if critical else DEGRADED if failed else OK
    return {"status": status, "failed": failed, "critical": critical, "checks": checks}
