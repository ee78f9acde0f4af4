"""The open-pixel load of bench.campaign (c): gunicorn on 127.0.0.1 and a bounded load against it.

The load generator is `wrk` (C, with a Lua script rotating the pixel paths) when it is installed, otherwise
the small asyncio client below (keep-alive HTTP/1.1 connections, one coroutine per client; it shares the
machine's cores with the server, so it reads lower). Both run for a fixed duration and stop by themselves;
they only ever connect to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench import execute

UNDO_TABLE = "bench_pixel_undo"
PATHS = 5000  # distinct deliveries the clients rotate through
STATIC_ROOT = Path(tempfile.gettempdir()) / "bench-campaign-static"

WRK_SCRIPT = """
local paths = {}
for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
local counter = 0
function setup(thread) counter = counter + 1; thread:set("start", counter * 997) end
local i = 0
function init(args) i = start end
function request()
  i = i + 1
  if i > #paths then i = 1 end
  return wrk.format("GET", paths[i])
end
function done(summary, latency, requests)
  io.write(string.format(
    'JSON {"requests": %%d, "duration_us": %%d, "connect": %%d, "read": %%d, "write": %%d, "status": %%d, '
    .. '"timeout": %%d, "p50": %%d, "p95": %%d, "p99": %%d}\\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout, latency:percentile(50), latency:percentile(95),
    latency:percentile(99)))
end
"""


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far (Linux /proc; gone processes count 0)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def _own_and_children_cpu() -> float:
    """CPU seconds of this process and its finished children (wrk): what the load generator used."""
    import resource

    own, done = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + done.ru_utime + done.ru_stime


def children(pid: int) -> list[int]:
    """The direct children of a process (gunicorn's workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return found


def backends() -> list[int]:
    """PostgreSQL backend processes connected to this database, but this one."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        )
        return [row[0] for row in cursor.fetchall()]


def marks() -> dict[str, int]:
    """The newest re-check note and queued task now: cleanup removes the ones the run added."""
    from django.db.models import Max
    from django_q.models import OrmQ

    from segments.models import PendingRecheck

    return {
        "recheck": PendingRecheck.objects.aggregate(m=Max("pk"))["m"] or 0,
        "queue": OrmQ.objects.aggregate(m=Max("pk"))["m"] or 0,
    }


def cleanup(*, campaign_id: int, marks: dict[str, int]) -> None:
    """Remove the opens the run recorded, restore the contacts' newest activity times, drop the run's notes."""
    from django.db import connection, transaction
    from django_q.models import OrmQ

    from campaigns.models import TrackingHit
    from contacts.models import Activity, ActivityType
    from segments.models import PendingRecheck

    with transaction.atomic():
        TrackingHit.objects.filter(campaign_id=campaign_id).delete()  # any the drain left (it failed)
        Activity.objects.filter(campaign_id=campaign_id, type=ActivityType.EMAIL_OPEN).delete()
        if UNDO_TABLE in connection.introspection.table_names():
            execute(f"UPDATE contacts_contact c SET last_activity_at = u.last_activity_at FROM {UNDO_TABLE} u "
                    "WHERE c.id = u.id AND c.last_activity_at IS DISTINCT FROM u.last_activity_at")  # fmt: skip
            # The rises the opens raised (or a fold moved onto the rows, restored above) back as they were.
            execute(f"DELETE FROM contacts_activityrise r USING {UNDO_TABLE} u WHERE r.contact_id = u.id")
            execute(f"INSERT INTO contacts_activityrise (contact_id, at) SELECT id, rise_at FROM {UNDO_TABLE} "
                    "WHERE rise_at IS NOT NULL")  # fmt: skip
            execute(f"DROP TABLE {UNDO_TABLE}")
        PendingRecheck.objects.filter(pk__gt=marks["recheck"]).delete()
        OrmQ.objects.filter(pk__gt=marks["queue"]).delete()


def _static_root() -> Path:
    """Collected static files for the DEBUG-off server (collected once, then reused)."""
    if not (STATIC_ROOT / "staticfiles.json").is_file():
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            env={**os.environ, "STATIC_ROOT": str(STATIC_ROOT)}, check=True, cwd=_base_dir(),
        )  # fmt: skip
    return STATIC_ROOT


def _base_dir() -> Path:
    from django.conf import settings

    return Path(settings.BASE_DIR)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgresql://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_server(*, workers: int, threads: int) -> tuple[subprocess.Popen, int]:
    """gunicorn (its own process group) serving the app on 127.0.0.1; returns it once it answers."""
    port = _free_port()
    # Plain HTTP on loopback: production's redirect to HTTPS (on when DEBUG is off) would answer every request.
    env = {**os.environ, "DATABASE_URL": _database_url(), "DEBUG": "0", "STATIC_ROOT": str(_static_root()),
           "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0"}  # fmt: skip
    command = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), "--threads", str(threads), "--log-level", "warning"]  # fmt: skip
    # stdout (django-q2 logs each queued task there) is dropped; warnings and errors go to stderr
    server = subprocess.Popen(command, cwd=_base_dir(), env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2) as response:
                if response.status == 200:
                    return server, port
        except OSError:
            if server.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {server.returncode}") from None
            time.sleep(0.2)
    stop_server(server)
    raise RuntimeError("gunicorn did not answer within 60 s")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.kill(server.pid, signal.SIGTERM)  # the master stops its workers
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def run(*, delivery_ids: list[int], campaign_id: int, seconds: float, clients: int, workers: int, threads: int,
        client: str, drain_during: bool = False) -> dict[str, Any]:  # fmt: skip
    """Serve, load for `seconds` (with the drain beside it, or after), stop; the figures and the opens recorded."""
    from campaigns.tracking import open_token
    from contacts.models import Activity, ActivityType

    execute(f"DROP TABLE IF EXISTS {UNDO_TABLE}")
    execute(
        f"CREATE TABLE {UNDO_TABLE} AS SELECT c.id, c.last_activity_at, r.at AS rise_at FROM contacts_contact c "
        "LEFT JOIN contacts_activityrise r ON r.contact_id = c.id "
        "WHERE c.id IN (SELECT d.contact_id FROM campaigns_delivery d WHERE d.campaign_id = %s)",
        [campaign_id],
    )
    from campaigns.models import Delivery

    pairs = Delivery.objects.filter(pk__in=delivery_ids[:PATHS]).values_list("pk", "contact_id")
    try:
        paths = [f"/t/o/{open_token(delivery_id=pk, contact_id=c, campaign_id=campaign_id)}.gif" for pk, c in pairs]
    except TypeError:  # code from before tokens named the contact and campaign (to measure it beside this)
        paths = [f"/t/o/{open_token(delivery_id=pk)}.gif" for pk, _ in pairs]  # type: ignore[call-arg]
    use_wrk = client == "wrk" or (client == "auto" and shutil.which("wrk") is not None)
    if client == "wrk" and shutil.which("wrk") is None:
        sys.exit("--client wrk: wrk is not installed (apt-get install -y wrk), or use --client python")
    server, port = start_server(workers=workers, threads=threads)
    drainer = Drainer()
    try:
        _load_python(port, paths, clients=clients, seconds=1.0)  # warm-up: connections, imports, caches
        if drain_during:
            drainer.start()
            drainer.started.wait(30)
        app, db = children(server.pid), [pid for pid in backends() if pid != getattr(drainer, "backend", None)]
        cpu_app, cpu_db = cpu_seconds(app), cpu_seconds(db)
        client_cpu = _own_and_children_cpu()
        if use_wrk:
            figures = _load_wrk(port, paths, clients=clients, seconds=seconds)
        else:
            figures = _load_python(port, paths, clients=clients, seconds=seconds)
        requests = max(1, figures["requests"])
        figures["client_cpu_ms"] = (_own_and_children_cpu() - client_cpu) * 1000 / requests
        figures["app_cpu_ms"] = (cpu_seconds(app) - cpu_app) * 1000 / requests
        figures["db_cpu_ms"] = (cpu_seconds(db) - cpu_db) * 1000 / requests
    finally:
        drainer.stop.set()
        stop_server(server)
    if drain_during:
        drainer.join()
    else:
        drainer.run()  # after the load, here
    figures.update(drainer.figures, drain_during=drain_during)
    figures["recorded"] = Activity.objects.filter(campaign_id=campaign_id, type=ActivityType.EMAIL_OPEN).count()
    return figures


class Drainer(threading.Thread):
    """The worker's drain of the tracking inbox (campaigns.inbox), polling as it does until stopped, then once
    more; counts the hits and the CPU they cost (this thread and its PostgreSQL backend). `--drain during` runs
    it beside the load; otherwise it runs after the load (`stop` set first), in the calling thread."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop, self.started, self.figures = threading.Event(), threading.Event(), {}

    def run(self) -> None:
        from django.db import connection

        from campaigns import inbox

        connection.ensure_connection()
        connection.close_at = None  # django-q2's broker closes connections past CONN_MAX_AGE: keep the one measured
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.backend = cursor.fetchone()[0]
        self.started.set()
        cpu_py, cpu_db, start, drained = time.thread_time(), cpu_seconds([self.backend]), time.perf_counter(), 0
        while not self.stop.is_set():
            if (taken := inbox.hits_drain(linger=False)) < inbox.DRAIN_BATCH:
                self.stop.wait(inbox.POLL)
            drained += taken
        drained += inbox.hits_drain(linger=False)
        per_hit = 1000 / max(1, drained)
        self.figures = {"drained": drained, "drain_s": time.perf_counter() - start,
                        "drain_py_cpu_ms": (time.thread_time() - cpu_py) * per_hit,
                        "drain_db_cpu_ms": (cpu_seconds([self.backend]) - cpu_db) * per_hit}  # fmt: skip
        if threading.current_thread() is self:
            connection.close()


def _load_wrk(port: int, paths: list[str], *, clients: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        path_file = Path(folder) / "paths.txt"
        path_file.write_text("\n".join(paths) + "\n")
        script = Path(folder) / "pixel.lua"
        script.write_text(WRK_SCRIPT % {"paths": path_file})
        out = subprocess.run(
            ["wrk", "-t", "2", "-c", str(clients), "-d", f"{max(1, round(seconds))}s", "--timeout", "5s",
             "-s", str(script), f"http://127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=seconds + 60, check=True,
        ).stdout  # fmt: skip
    line = next(line for line in out.splitlines() if line.startswith("JSON "))
    data = json.loads(line[5:])
    duration = data["duration_us"] / 1e6
    errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    return {"client": "wrk (2 threads)", "requests": data["requests"], "seconds": duration,
            "rps": data["requests"] / duration, "p50": data["p50"] / 1000, "p95": data["p95"] / 1000,
            "p99": data["p99"] / 1000, "errors": errors}  # fmt: skip


def _load_python(port: int, paths: list[str], *, clients: int, seconds: float) -> dict[str, Any]:
    """`clients` keep-alive connections, each sending the next path as soon as its last answer is read."""
    latencies: list[float] = []
    errors = 0

    async def one(index: int, deadline: float) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = index * 997
        try:
            while time.monotonic() < deadline:
                i = (i + 1) % len(paths)
                request = f"GET {paths[i]} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
                start = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - start)
                if not head.startswith(b"HTTP/1.1 200"):
                    errors += 1
                if b"connection: close" in head.lower():
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except (OSError, asyncio.IncompleteReadError):
            errors += 1
        finally:
            writer.close()

    async def main() -> float:
        deadline = time.monotonic() + seconds
        start = time.perf_counter()
        await asyncio.gather(*(one(i, deadline) for i in range(clients)))
        return time.perf_counter() - start

    elapsed = asyncio.run(main())
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0.0

    return {"client": "python asyncio", "requests": len(latencies), "seconds": elapsed,
            "rps": len(latencies) / elapsed, "p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99),
            "errors": errors}  # fmt: skip
