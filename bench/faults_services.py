"""bench.faults: the services the web tier depends on fail — PostgreSQL primary restarted under requests, the
replica stopped, Redis stopped — and come back."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import psycopg

from bench.cluster import Answer, Session, Verdict, cluster_module, wait_for

APP_503 = "Back in a moment"
DELAYED = "Background work is delayed"
HANG_S = 10.0  # a request slower than this counts as a hang


def _answer(session: Session, method: str, path: str, **kwargs: Any) -> tuple[int, float, str]:
    """(status, seconds, body) of one request; status 0 when the connection failed (the body says why)."""
    started = time.perf_counter()
    try:
        answer: Answer = session.request(method, path, **kwargs)
    except OSError as error:
        return 0, time.perf_counter() - started, f"{type(error).__name__}: {error}"
    return answer.status, answer.seconds, answer.text


def _stat_xacts(port: int) -> int:
    """Transactions the server at `port` has run on the cluster's database (pg_stat_database)."""
    with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="segments", connect_timeout=3) as db:
        db.execute("SELECT pg_stat_clear_snapshot()")
        return int(
            db.execute(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()[0]
        )


# --- (d) the PostgreSQL primary restarted during requests -------------------------------------------------


def primary_restart(v: Verdict, sessions: list[Session], token: str) -> None:
    from django.db import connections

    from contacts.models import Activity, Contact
    from segments.memberships import memberships_integrity

    lc = cluster_module()
    contact = Contact.objects.filter(merged_into__isnull=True).order_by("pk").values_list("pk", flat=True).first()
    before = {"contacts": Contact.objects.count(), "integrity": memberships_integrity()}
    log: list[tuple[float, str, int, float, str]] = []
    acknowledged: list[str] = []
    stop = threading.Event()

    def client(session: Session, kind: str) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            if kind == "api":
                url = f"https://shop.example/fault-d/{id(session)}/{n}"
                body = json.dumps({"contact": contact, "type": "page_visit", "url": url}).encode()
                status, seconds, text = _answer(
                    session,
                    "POST",
                    "/api/v1/activities/",
                    body=body,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                )
                if status == 201:
                    acknowledged.append(url)
            else:
                path = f"/contacts/{contact}/" if kind == "page" else "/readyz"
                status, seconds, text = _answer(session, "GET", path)
            log.append((time.time(), kind, status, seconds, text))
            time.sleep(0.05)

    kinds = ["page", "page", "api", "readyz"]
    threads = [
        threading.Thread(target=client, args=(sessions[i % len(sessions)], k), daemon=True) for i, k in enumerate(kinds)
    ]
    for thread in threads:
        thread.start()
    time.sleep(3)
    down = time.time()
    lc.postgres_ctl("primary", "restart")
    up = time.time()
    time.sleep(15)
    stop.set()
    for thread in threads:
        thread.join(timeout=HANG_S + 5)
    during = [row for row in log if down <= row[0] <= up + 1 and row[1] != "readyz"]
    after = sorted(row for row in log if row[0] > up and row[1] != "readyz")
    first_ok = next((row[0] - up for row in after if row[2] in (200, 201)), None)
    errors = [row for row in log if row[2] not in (200, 201) and row[1] != "readyz"]
    app_pages = sum(1 for row in errors if row[2] == 503 and APP_503 in row[4])
    api_503 = sum(1 for row in errors if row[2] == 503 and row[1] == "api")
    other = [(row[2], row[4][:60]) for row in errors if not (row[2] == 503 and (APP_503 in row[4] or row[1] == "api"))]
    late = [row for row in after if row[2] not in (200, 201) and first_ok is not None and row[0] - up > first_ok]
    slowest = max(row[3] for row in log)
    ready = [row[2] for row in log if row[1] == "readyz" and down <= row[0] <= up + 1]
    v.note(
        f"pg_ctl restart (fast) took {up - down:.1f} s; {len(log)} requests from 4 clients, {len(during)} "
        f"during it; errors: {len(errors)}, of them 503 with the app's page {app_pages} (API {api_503}), "
        f"other {len(other)} {other[:3]}"
    )
    v.note(
        f"slowest request {slowest:.2f} s (a hang would be > {HANG_S:g} s); first success "
        f"{first_ok and round(first_ok, 1)} s after the restart; errors after that: {len(late)}; /readyz during it: "
        f"{sorted(set(ready))}"
    )

    # Data intact: every acknowledged write is there, nothing else changed, the invariants hold.
    connections.close_all()  # this process's own connection did not survive the restart either
    stored = set(Activity.objects.filter(url__in=acknowledged).values_list("url", flat=True))
    integrity = memberships_integrity()
    v.note(
        f"acknowledged API writes {len(acknowledged)}, found after the restart {len(stored)}; contacts "
        f"{before['contacts']:,} → {Contact.objects.count():,}; membership integrity before {before['integrity']}, "
        f"after {integrity}"
    )
    worked = _a_task_runs(v)
    v.ok = (
        slowest < HANG_S
        and not other
        and first_ok is not None
        and len(stored) == len(acknowledged)
        and Contact.objects.count() == before["contacts"]
        and integrity == before["integrity"]
        and worked
        and not late
    )


def _a_task_runs(v: Verdict) -> bool:
    """After an outage the workers still take tasks: a small rebuild queued now ends."""
    from segments.models import ContactGroup, RebuildStatus
    from segments.services import group_create

    rule = {"version": 1, "root": {"type": "field", "field": "country", "operator": "equals", "value": "SK"}}
    group = group_create(
        code=f"bench_faults_probe_{time.time_ns() % 10**9}",
        name=f"Faults probe {time.time_ns()}",
        is_condition_based=True,
        condition=rule,
    )
    took = wait_for(
        lambda: ContactGroup.objects.get(pk=group.pk).rebuild_status == RebuildStatus.SUCCEEDED, timeout=90, every=0.5
    )
    v.note(f"a rebuild queued afterwards ended in {took and round(took, 1)} s")
    return took is not None


# --- (e) the replica stopped ------------------------------------------------------------------------------


def replica_stop(v: Verdict, session: Session) -> None:
    from django.conf import settings

    lc = cluster_module()
    time.sleep(settings.REPLICA_PIN_SECONDS + 1)  # past the primary_pin cookie of the sign-in (a write)
    paths = ["/contacts/?country=CZ", "/contacts/?q=nov", "/groups/"]

    def burst(label: str, seconds: float) -> tuple[list[tuple[int, float]], int, int]:
        replica, primary = _replica_xacts(), _stat_xacts(lc.PRIMARY_PORT)
        answers = []
        stop_at = time.monotonic() + seconds
        while time.monotonic() < stop_at:
            for path in paths:
                status, seconds_, _ = _answer(session, "GET", path, pin=False)
                answers.append((status, seconds_))
        time.sleep(1.5)  # the servers flush their statistics
        replica_used, primary_used = _replica_xacts() - replica, _stat_xacts(lc.PRIMARY_PORT) - primary
        ok = sum(1 for s, _ in answers if s == 200)
        v.note(
            f"{label}: {ok}/{len(answers)} answered 200, slowest {max(t for _, t in answers):.2f} s; "
            f"transactions on the replica +{replica_used}, on the primary +{primary_used}"
        )
        return answers, replica_used, primary_used

    def _replica_xacts() -> int:
        try:
            return _stat_xacts(lc.REPLICA_PORT)
        except psycopg.OperationalError:
            return 0

    first, used_before, _ = burst("replica up", 4)
    lc.postgres_ctl("replica", "stop")
    stopped = time.time()
    down, _, _ = burst("replica stopped", settings.REPLICA_PROBE_SECONDS + 3)
    ready = json.loads(_answer(session, "GET", "/readyz")[2])
    log = (lc.HOME / "logs" / "web-8201.log").read_text(errors="replace") + (
        lc.HOME / "logs" / "web-8202.log"
    ).read_text(errors="replace")
    fell_back = log.count("reading from the primary")
    v.note(
        f"/readyz while stopped: {ready['status']}, failed {ready['failed']} (replica: "
        f"{ready['checks'].get('replica', {}).get('reason', '?')}); web logs: {fell_back} 'reading from the "
        f"primary' lines"
    )
    lc.postgres_ctl("replica", "start")
    restarted = time.time()

    def caught_up() -> bool:
        check = json.loads(_answer(session, "GET", "/readyz")[2])["checks"].get("replica", {})
        return check.get("status") == "ok"

    took = wait_for(caught_up, timeout=60, every=0.5)
    v.note(
        f"replica started again {restarted - stopped:.0f} s after the stop; /readyz says it caught up "
        f"{took and round(took, 1)} s later"
    )
    time.sleep(settings.REPLICA_PROBE_SECONDS + 1)  # each web process asks the replica again after this
    again, used_after, _ = burst("replica back", 4)
    all_ok = all(s == 200 for s, _ in first + down + again)
    slowest = max(t for _, t in first + down + again)
    # Each page is several transactions: more than one per request means the app read the replica, not the probes.
    v.ok = (
        all_ok
        and slowest < 5
        and used_before > len(first)
        and used_after > len(again)
        and ready["status"] == "degraded"
    )


# --- (f) Redis stopped ------------------------------------------------------------------------------------


def redis_stop(v: Verdict, session: Session) -> None:
    from django.db.models import Q

    from bench.faults_workers import rule_members_equal
    from health.models import DeferredTask
    from segments.models import ContactGroup, RebuildStatus
    from segments.services import group_create

    lc = cluster_module()
    rule = {
        "version": 1,
        "root": {
            "type": "group",
            "combinator": "and",
            "children": [
                {"type": "field", "field": "country", "operator": "equals", "value": "PL"},
                {"type": "field", "field": "lead_score", "operator": "gte", "value": 30},
            ],
        },
    }
    group = group_create(
        code=f"bench_faults_f_{time.time_ns() % 10**9}",
        name=f"Faults (f) {time.time_ns()}",
        is_condition_based=True,
        condition=rule,
        queue_rebuild=False,
    )
    lc.stop_process("redis")
    stopped = time.time()
    v.note("Redis stopped (SIGTERM; it keeps nothing on disk: whatever was queued is gone)")

    def banner() -> bool:
        status, _, text = _answer(session, "GET", "/")
        return status == 200 and DELAYED in text

    shown = wait_for(banner, timeout=30, every=1)
    pages = [_answer(session, "GET", path)[:2] for path in ("/", "/contacts/?country=CZ", "/groups/", "/campaigns/")]
    status, _, text = _answer(session, "GET", "/contacts/")
    notice = text[text.find(DELAYED) :][:140].split("<")[0] if DELAYED in text else "(none)"
    v.note(f"pages: {pages}; the notice shows {shown and round(shown)} s after the stop: “{notice}”")
    pressed = session.post_form(f"/groups/{group.pk}/rebuild/", {})
    kept = DeferredTask.objects.filter(func="segments.tasks.rebuild_group", args=[group.pk]).exists()
    ready = json.loads(_answer(session, "GET", "/readyz")[2])
    v.note(
        f"Rebuild pressed: HTTP {pressed.status} (kept for later: {kept}); /readyz {ready['status']}, "
        f"failed {ready['failed']}"
    )
    time.sleep(5)
    lc.start_process("redis")
    back = time.time()
    v.note(f"Redis started again after {back - stopped:.0f} s")

    def finished() -> bool:
        g = ContactGroup.objects.get(pk=group.pk)
        return g.rebuild_status == RebuildStatus.SUCCEEDED and not DeferredTask.objects.exists()

    took = wait_for(finished, timeout=180, every=1)
    members, expected, missing, extra = rule_members_equal(group.pk)
    gone = wait_for(lambda: not banner(), timeout=40, every=2)
    workers = [name for name in lc.load()["processes"] if name.startswith("worker-")]
    alive = all(_alive(lc.load()["processes"][name]) for name in workers)
    v.note(
        f"the kept rebuild ran {took and round(took)} s after Redis came back: members {members:,} = rule "
        f"count {expected:,} (missing {missing}, extra {extra}); notice gone {gone is not None}; "
        f"workers still running without a restart: {alive}"
    )
    v.ok = (
        shown is not None
        and all(s == 200 for s, _ in pages)
        and pressed.status == 302
        and kept
        and ready["status"] == "degraded"
        and took is not None
        and members == expected
        and not missing
        and not extra
        and gone is not None
        and alive
        and not ContactGroup.objects.filter(Q(pk=group.pk) & ~Q(rebuild_status=RebuildStatus.SUCCEEDED)).exists()
    )


def _alive(pid: int) -> bool:
    import os

    try:
        os.killpg(pid, 0)
        return True
    except ProcessLookupError:
        return False
