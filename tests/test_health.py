"""/healthz answers while the process runs; /readyz says whether the database, replica, broker, queue and worker
are fine (200), or names the checks that failed: 503 when the primary database fails (or any check, with
?strict=1), else 200 "degraded". Neither needs a sign-in."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
from pathlib import Path
from unittest.mock import ANY

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from health import probes
from health.models import WorkerHeartbeat
from health.schedules import HEARTBEAT
from health.services import heartbeat_record
from health.tasks import worker_heartbeat

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def worker_alive():
    heartbeat_record()


def queue_tasks(count: int, *, name: str = "segmentation") -> None:
    OrmQ.objects.bulk_create([OrmQ(key=name, payload="x", lock=timezone.now()) for _ in range(count)])


def test_healthz_answers_without_a_sign_in(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response["Cache-Control"].startswith("max-age=0")
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


def test_readyz_is_ready_when_everything_answers(client, worker_alive):
    queue_tasks(3)
    response = client.get(reverse("readyz"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["failed"] == []
    checks = body["checks"]
    assert checks["database"]["status"] == "ok"
    assert checks["broker"] == {"status": "ok", "kind": "orm", "ms": checks["broker"]["ms"]}
    assert checks["queue"] == {"status": "ok", "depth": 3, "max": 5000}
    assert checks["worker"]["status"] == "ok" and checks["worker"]["last_beat_seconds_ago"] < 5
    assert "replica" not in checks  # no DATABASE_REPLICA_URL


def test_a_deep_queue_is_degraded_and_not_ready_for_a_strict_monitor(client, worker_alive, settings):
    settings.READY_QUEUE_MAX = 2
    queue_tasks(3)
    queue_tasks(5, name="another-cluster")  # not this cluster's queue
    response = client.get("/readyz")
    assert response.status_code == 200  # pages still answer: the load balancer keeps the web tier
    body = response.json()
    assert (body["status"], body["failed"], body["critical"]) == ("degraded", ["queue"], [])
    assert client.get("/readyz?strict=1").status_code == 503
    assert body["checks"]["queue"] == {"status": "fail", "depth": 3, "max": 2, "reason": "3 tasks waiting (at most 2)"}


def test_a_silent_worker_is_degraded(client, settings):
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json()["failed"] == ["worker"]
    assert response.json()["status"] == "degraded"
    assert client.get("/readyz?strict=1").status_code == 503
    assert "start `manage.py qcluster`" in response.json()["checks"]["worker"]["reason"]

    heartbeat_record(now=timezone.now() - dt.timedelta(seconds=settings.READY_WORKER_MAX_SILENCE + 5))
    body = client.get("/readyz").json()
    assert body["failed"] == ["worker"] and body["checks"]["worker"]["last_beat_seconds_ago"] > 180

    worker_heartbeat()  # the scheduled task
    assert client.get("/readyz?strict=1").status_code == 200
    assert client.get("/readyz").json()["status"] == "ok"


def test_with_synchronous_tasks_there_is_no_worker_to_wait_for(client, settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json()["checks"]["worker"]["status"] == "skipped"


def test_the_heartbeat_is_scheduled_every_minute():
    schedule = Schedule.objects.get(name=HEARTBEAT)  # registered after migrate
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "health.tasks.worker_heartbeat",
        Schedule.MINUTES,
        1,
    )
    worker_heartbeat()
    worker_heartbeat()
    assert WorkerHeartbeat.objects.count() == 1  # one row per cluster, moved forward


def test_a_database_error_fails_the_database_check_and_skips_what_needs_it(client, monkeypatch, worker_alive):
    def broken() -> dict:
        raise ConnectionRefusedError("connection to server at 10.0.0.5 port 5432 refused")

    monkeypatch.setattr(probes, "database_probe", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["failed"], body["critical"]) == ("fail", ["database"], ["database"])
    assert body["checks"]["database"]["reason"] == "ConnectionRefusedError"
    assert "10.0.0.5" not in response.content.decode()  # the address goes to the log, not to the world
    assert body["checks"]["broker"] == {"status": "skipped", "reason": "needs the database"}
    assert body["checks"]["worker"]["status"] == "skipped"


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_a_replica_that_lags_is_not_ready(client, monkeypatch, settings, worker_alive):
    settings.DATABASES = {**settings.DATABASES, "replica": settings.DATABASES["default"]}
    lag = {"value": 2.5}

    def replica() -> dict:
        if lag["value"] > settings.READY_REPLICA_MAX_LAG:
            raise probes.ProbeFailed("behind", lag_seconds=lag["value"])
        return {"lag_seconds": lag["value"]}

    monkeypatch.setattr(probes, "replica_probe", replica)
    assert client.get("/readyz").json()["checks"]["replica"]["lag_seconds"] == 2.5
    lag["value"] = 120.0
    response = client.get("/readyz")
    body = response.json()
    assert body["failed"] == ["replica"] and body["checks"]["replica"]["lag_seconds"] == 120.0
    assert response.status_code == 200 and body["status"] == "degraded"  # reads fall back to the primary


@pytest.mark.postgres
def test_the_replica_lag_query_runs_on_postgresql(settings):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    with connection.cursor() as cursor:
        cursor.execute(probes.REPLICA_LAG_SQL)
        in_recovery, lag = cursor.fetchone()
    assert in_recovery is False and lag == 0  # a primary: no lag


class FakeRedis(socketserver.BaseRequestHandler):
    """Just enough of the Redis protocol: HELLO (RESP3, as redis-py 8 starts), PING → PONG, LLEN → 7, else OK."""

    def handle(self) -> None:
        buffer = b""
        while chunk := self.request.recv(4096):
            buffer += chunk
            while b"\r\n" in buffer:
                parts = buffer.split(b"\r\n")
                if not parts[0].startswith(b"*"):
                    return
                count = int(parts[0][1:])
                needed = 1 + 2 * count
                if len(parts) <= needed:
                    break
                args = parts[2:needed:2]
                buffer = b"\r\n".join(parts[needed:])
                command = args[0].upper()
                self.server.seen.append([a.decode() for a in args])  # type: ignore[attr-defined]
                replies = {b"HELLO": b"%1\r\n$5\r\nproto\r\n:3\r\n", b"PING": b"+PONG\r\n", b"LLEN": b":7\r\n"}
                reply = replies.get(command, b"+OK\r\n")
                self.request.sendall(reply)


@pytest.fixture
def fake_redis():
    pytest.importorskip("redis")
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), FakeRedis)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_redis_broker_is_pinged_and_its_queue_counted(client, settings, fake_redis, worker_alive):
    host, port = fake_redis.server_address
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "redis": f"redis://{host}:{port}/0"}
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["checks"]["broker"]["kind"] == "redis" and body["checks"]["queue"]["depth"] == 7
    assert ["PING"] in fake_redis.seen and ["LLEN", "django_q:segmentation:q"] in fake_redis.seen


def test_a_redis_broker_that_does_not_answer_leaves_the_web_tier_degraded(client, settings, worker_alive):
    pytest.importorskip("redis")
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "redis": f"redis://127.0.0.1:{port}/0"}
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json()["status"] == "degraded"  # background work waits
    response = client.get("/readyz?strict=1")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["broker"] and body["checks"]["broker"]["reason"] == "ConnectionError"
    assert body["checks"]["queue"]["status"] == "skipped"


def run_django(code: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DEBUG", "LOG_FORMAT")}
    environ.update(env, DJANGO_SETTINGS_MODULE="config.settings")
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )


READYZ = (
    "import django, json; django.setup()\n"
    "from django.test import Client\n"
    "c = Client()\n"
    "h = c.get('/healthz'); r = c.get('/readyz', HTTP_X_REQUEST_ID='probe-42')\n"
    "print(h.status_code, r.status_code, json.dumps(r.json()['failed']), r['X-Request-ID'])\n"
)


def test_a_database_that_is_down_makes_readyz_503_and_healthz_still_200(tmp_path):
    """A real unreachable PostgreSQL (nothing listens on the port), in a process of its own."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = run_django(READYZ, DATABASE_URL=f"postgresql://nobody:secret@127.0.0.1:{port}/segments")
    assert result.returncode == 0, result.stderr
    healthz, readyz, failed, request_id = result.stdout.split()
    assert (healthz, readyz, json.loads(failed), request_id) == ("200", "503", ["database"], "probe-42")
    assert "readiness probe database failed: OperationalError" in result.stderr
    assert "secret" not in result.stdout


REPLICA = (
    "import django, json; django.setup()\n"
    "from django.test import Client\n"
    "print(json.dumps(Client().get('/readyz').json()['checks']['replica']))\n"
)


def test_an_unreachable_replica_fails_its_check():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    nowhere = f"postgresql://nobody@127.0.0.1:{port}/x"
    bad = run_django(REPLICA, DATABASE_URL=nowhere, DATABASE_REPLICA_URL=nowhere)
    assert bad.returncode == 0, bad.stderr
    assert json.loads(bad.stdout)["status"] == "fail" and json.loads(bad.stdout)["reason"] == "OperationalError"


@pytest.mark.postgres
def test_a_replica_that_answers_passes_its_check():
    database = os.environ.get("DATABASE_URL", "")
    if not database.startswith("postgres"):
        pytest.skip("PostgreSQL only")
    from django.db import connection

    database = database.rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"]  # the test database
    good = run_django(REPLICA, DATABASE_URL=database, DATABASE_REPLICA_URL=database)  # the primary as its replica
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout) == {"status": "ok", "lag_seconds": 0, "in_recovery": False, "ms": ANY}
