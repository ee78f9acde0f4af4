"""`python -m bench.api [--contacts N] [--batches B] [--threads T] [--workers W] [--moves M] [--rate R]`: the JSON API.

Starts the app (gunicorn, W workers, DEBUG off), a django-q2 worker (`manage.py qcluster`) and a webhook receiver
on 127.0.0.1, all on DATABASE_URL and all stopped at the end (by their own process ids), then measures:

1. **Webhook latency** — a condition-based group "page visit whose URL contains /bench-api-moved in the last day"
   and an endpoint following its `entered` events; M (default 100) single activities, R a second (default 5), each
   moving a random contact into the group through `POST /api/v1/activities/`. A move's latency runs from sending
   the request to its `membership.entered` event arriving, signed, at the receiver (re-check drain in the worker,
   membership history, the webhook run woken after the drain, the signed POST). Goal: p99 < 5 s.
2. **Ingest** — B (default 40) batches of 1,000 activities (page visits, forms, purchases; half name the contact by
   id, half by email; random unmerged contacts of the whole database) POSTed to `/api/v1/activities/batch/` by T
   client threads (default 4) with an Idempotency-Key each: activities a second, wall clock, after 2 warm-up
   batches. Goal: ≥ 5,000/s.
   Then the fold the worker runs every minute (the ingest's newest activity times copied onto the contact rows,
   contacts.services.last_activity) is timed in-process: the wide-row writes the endpoint no longer makes.
3. **Baseline** — the same rows (contact ids resolved) written by hand-written SQL on T connections: per batch one
   statement, `INSERT … SELECT FROM unnest(…)` of the activities and, in the same statement, the least upkeep
   that keeps "no activity in N days" exact: each contact's newest time upserted into the narrow
   `contacts_activityrise` (rows in id order); no validation, no contact-row lock, no daily roll-up, no re-check
   notes, no HTTP — the physical limit of this ingest on this schema.

Prints a table and, last, `RESULT api …`. The activities stay (ordinary data); the group, its history, the
endpoint and the token are deleted. Everything is bounded in time (--timeout).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench import process_stop, require_postgresql, setup_django
from bench.api_ingest import BATCH, baseline, make_batches
from bench.preview import ensure_data, t

ROOT = Path(__file__).resolve().parent.parent
GOAL_PER_S = 5000.0
GOAL_P99_S = 5.0
CODE = "bench_api_moved"
MARK = "/bench-api-moved"
WARMUP = 2


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """Records when each contact's `membership.entered` event of the bench group arrived (signature checked)."""

    def __init__(self) -> None:
        self.secret = ""
        self.arrived: dict[int, float] = {}
        self.bad_signatures = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                now = time.time()
                stamp, signature = (
                    self.headers.get("X-Segments-Timestamp", ""),
                    self.headers.get("X-Segments-Signature", ""),
                )
                mac = hmac.new(receiver.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
                with receiver.lock:
                    if not hmac.compare_digest("sha256=" + mac, signature):
                        receiver.bad_signatures += 1
                    for event in json.loads(body)["events"]:
                        if event["type"] == "membership.entered" and event["group"]["code"] == CODE:
                            receiver.arrived.setdefault(event["contact"]["id"], now)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def start(args: list[str], log_path: Path, env: dict[str, str]) -> subprocess.Popen:
    """A child process in its own process group (stopped by that group's id only)."""
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_http(url: str, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers (401 without a token)
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the app did not answer at {url} within {timeout:.0f} s")


def post(conn: HTTPConnection, path: str, token: str, body: bytes, key: str | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    conn.request("POST", path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, help="generate this many contacts first if the database has fewer")
    parser.add_argument("--batches", type=int, default=40, help="batches of 1,000 activities (default 40)")
    parser.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (default 3)")
    parser.add_argument("--moves", type=int, default=100, help="activities moving a contact into the group")
    parser.add_argument("--rate", type=float, default=5.0, help="moves a second (default 5)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the last webhook")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    setup_django()
    require_postgresql("bench.api")

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Max

    from api.tokens import token_create
    from bench import connection_params
    from campaigns.models import CampaignEvent
    from contacts.models import ActivityRise
    from contacts.roles import Role
    from contacts.services import activity_rises_fold
    from segments.models import ContactGroup, Membership, MembershipEvent, PendingRecheck
    from segments.rebuilds import group_rebuild
    from segments.services import group_create
    from webhooks.models import Endpoint

    logging.getLogger("django-q").setLevel(logging.WARNING)
    contacts, activities = ensure_data(args.contacts)
    call_command("migrate", verbosity=0)  # this code's tables (a database generated by an older checkout)
    rng = random.Random(args.seed)
    print(
        f"bench.api on {connection.settings_dict['NAME']}: {contacts:,} contacts, {activities:,} activities; "
        f"{args.batches} batches of {BATCH:,} on {args.threads} threads, gunicorn {args.workers} workers; "
        f"{args.moves} moves at {args.rate:g}/s"
    )
    with connection.cursor() as cursor:  # a random sample of unmerged contacts with an email, spread over all ids
        cursor.execute(
            "SELECT id, email FROM contacts_contact TABLESAMPLE SYSTEM (5) REPEATABLE (%s) "
            "WHERE merged_into_id IS NULL AND email IS NOT NULL",
            [args.seed],
        )
        people = cursor.fetchall()
    rng.shuffle(people)

    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username="bench_api", defaults={"email": "bench_api@example.com"})
    user.groups.set([Group.objects.get(name=Role.MARKETER.value)])
    token_row, token = token_create(user=user, name="bench.api", scope="write")
    ContactGroup.objects.filter(code=CODE).delete()
    rule: dict[str, Any] = {"type": "activity", "activity": "page_visit", "window": {"last_days": 1}}
    rule["where"] = [{"field": "url", "operator": "contains", "value": MARK}]
    group = group_create(
        code=CODE, name="Bench API moved", is_condition_based=True, condition=t(rule), queue_rebuild=False
    )
    group_rebuild(group=group)
    receiver = Receiver()
    endpoint = Endpoint.objects.create(
        url=receiver.url,
        events=["entered"],
        cursor=MembershipEvent.objects.aggregate(top=Max("pk"))["top"] or 0,
        campaign_cursor=CampaignEvent.objects.aggregate(top=Max("pk"))["top"] or 0,
    )
    endpoint.groups.set([group])
    receiver.secret = endpoint.secret

    port = free_port()
    logs = Path(os.environ.get("BENCH_LOGS", "/tmp"))
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",  # plain HTTP on loopback: production's redirect to HTTPS would answer every request
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-api-" + uuid.uuid4().hex),
        "ALLOWED_HOSTS": "127.0.0.1",
        "API_RATE": "100000000/min",
        "WEBHOOKS_ALLOW_PRIVATE": "1",
        "Q_SYNC": "0",
    }
    if not (Path(settings.STATIC_ROOT) / "staticfiles.json").is_file():
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
        )
    web = worker = None
    status = 0
    result: dict[str, Any] = {"contacts": contacts}
    rows: list[tuple[str, str]] = []
    try:
        web = start(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "-w", str(args.workers), "-b", f"127.0.0.1:{port}",
             "--access-logfile", "-", "--log-level", "warning", "--timeout", "120"],
            logs / "bench_api_gunicorn.log",
            env,
        )  # fmt: skip
        worker = start([sys.executable, "manage.py", "qcluster"], logs / "bench_api_worker.log", env)
        wait_http(f"http://127.0.0.1:{port}/api/v1/contacts/", 60)
        time.sleep(2)  # the cluster's workers start

        # 1. Webhook latency: one activity moves one contact into the group; its event arrives at the receiver.
        members = set(Membership.objects.filter(group=group).values_list("contact_id", flat=True))
        movers = [person for person in people if person[0] not in members][: args.moves]  # an earlier run's stay
        sent: dict[int, float] = {}
        conn = HTTPConnection("127.0.0.1", port, timeout=60)
        started = time.time()
        for n, (pk, _email) in enumerate(movers):
            time.sleep(max(0.0, started + n / args.rate - time.time()))
            body = json.dumps({"contact": pk, "type": "page_visit", "url": f"https://shop.example{MARK}/{n}"})
            sent[pk] = time.time()
            code, answer = post(conn, "/api/v1/activities/", token, body.encode())
            if code != 201:
                raise SystemExit(f"POST /api/v1/activities/ answered {code}: {answer[:300]!r}")
        deadline = time.time() + args.timeout
        while len(receiver.arrived) < len(sent) and time.time() < deadline:
            time.sleep(0.1)
        latencies = [receiver.arrived[pk] - at for pk, at in sent.items() if pk in receiver.arrived]
        missing = len(sent) - len(latencies)
        p50, p99 = (percentile(latencies, 50), percentile(latencies, 99)) if latencies else (float("inf"),) * 2
        worst = max(latencies) if latencies else float("inf")
        rows += [
            ("webhook latency p50 / p99 / max", f"{p50:.2f} s / {p99:.2f} s / {worst:.2f} s"),
            ("webhook events missing, bad signatures", f"{missing} of {len(sent)}, {receiver.bad_signatures}"),
        ]
        result.update(webhook_p50_s=f"{p50:.2f}", webhook_p99_s=f"{p99:.2f}", webhook_max_s=f"{worst:.2f}")
        if missing or receiver.bad_signatures or p99 >= GOAL_P99_S:
            status = 1

        # 2. Ingest through the batch endpoint, T client threads. The worker is stopped meanwhile: the endpoint
        # alone is measured (its re-check notes are written, and drained afterwards, timed, by the worker).
        process_stop(worker)
        worker = None
        moved = set(movers)
        batches = make_batches(rng, [p for p in people if p not in moved], args.batches + WARMUP)
        bodies = [json.dumps({"activities": items}).encode() for items in batches]
        timings: list[float] = []
        failures: list[str] = []
        queue = list(range(WARMUP, len(bodies)))
        lock = threading.Lock()

        def client() -> None:
            conn = HTTPConnection("127.0.0.1", port, timeout=300)
            while True:
                with lock:
                    if not queue:
                        return
                    index = queue.pop(0)
                begun = time.perf_counter()
                code, answer = post(conn, "/api/v1/activities/batch/", token, bodies[index], key=uuid.uuid4().hex)
                with lock:
                    timings.append(time.perf_counter() - begun)
                    if code != 201:
                        failures.append(f"{code}: {answer[:200]!r}")

        warm = HTTPConnection("127.0.0.1", port, timeout=300)
        for index in range(WARMUP):
            post(warm, "/api/v1/activities/batch/", token, bodies[index], key=uuid.uuid4().hex)
        threads = [threading.Thread(target=client) for _ in range(args.threads)]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        if failures:
            raise SystemExit(f"{len(failures)} batches failed, e.g. {failures[0]}")
        per_s = args.batches * BATCH / elapsed
        rows += [
            ("ingest through the API", f"{per_s:,.0f} activities/s ({args.batches * BATCH:,} in {elapsed:.1f} s)"),
            ("  one batch p50 / p99", f"{statistics.median(timings):.2f} s / {percentile(timings, 99):.2f} s"),
        ]
        result.update(activities_per_s=f"{per_s:.0f}")
        if per_s < GOAL_PER_S:
            status = 1

        # 2b. The fold the worker runs every minute: the ingest's newest activity times onto the contact rows
        # (contacts.services.last_activity) — the wide-row writes the endpoint no longer makes, timed here.
        pending = ActivityRise.objects.count()
        began = time.perf_counter()
        folded = activity_rises_fold()
        fold_s = time.perf_counter() - began
        rows.append(("fold after the ingest: contacts, seconds", f"{folded:,} of {pending:,}, {fold_s:.1f} s"))
        result.update(fold_contacts=folded, fold_s=f"{fold_s:.1f}")

        # 3. The baseline: the same rows by hand-written SQL, T connections, one statement per batch.
        base_s = baseline(batches[WARMUP:], args.threads, connection_params())
        base_per_s = args.batches * BATCH / base_s
        ratio = base_per_s / per_s
        rows += [
            (
                "baseline: INSERT … SELECT FROM unnest + newest time (narrow upsert)",
                f"{base_per_s:,.0f} activities/s ({base_s:.1f} s)",
            ),
            ("API / baseline time", f"{ratio:.2f}×"),
        ]
        result.update(baseline_per_s=f"{base_per_s:.0f}", ratio=f"{ratio:.2f}")

        # 4. The worker drains the re-checks the ingest noted (each contact against every group reading activities).
        queued = PendingRecheck.objects.values("contact_id").distinct().count()
        worker = start([sys.executable, "manage.py", "qcluster"], logs / "bench_api_worker.log", env)
        began = time.perf_counter()
        deadline = time.time() + args.timeout * 5
        while PendingRecheck.objects.exists() and time.time() < deadline:
            time.sleep(0.5)
        drained = time.perf_counter() - began
        left = PendingRecheck.objects.count()
        rows.append(
            ("re-checks after the ingest: contacts, drained in", f"{queued:,}, {drained:.1f} s ({left:,} left)")
        )
        result.update(recheck_contacts=queued, recheck_drain_s=f"{drained:.1f}")
    finally:
        process_stop(web)
        process_stop(worker)
        receiver.server.shutdown()
        Endpoint.objects.filter(pk=endpoint.pk).delete()
        ContactGroup.objects.filter(code=CODE).delete()
        token_row.delete()

    width = max(len(name) for name, _ in rows)
    print()
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    verdict = "met" if status == 0 else "NOT met"
    print(f"\n  goals: ≥ {GOAL_PER_S:,.0f} activities/s, webhook p99 < {GOAL_P99_S:g} s: {verdict}")
    print("RESULT api " + " ".join(f"{k}={v}" for k, v in result.items()))
    return status


if __name__ == "__main__":
    sys.exit(main())
