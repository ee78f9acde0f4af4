"""`python -m bench.campaign`: a campaign at 1M contacts — audience preview, send throughput, open-pixel load.

(a) **Audience preview**: `campaigns.selectors.audience_breakdown` (the live panel: the audience and every
    reason a candidate is left out, one grouped query) on bench.campaign_audience's campaign (include
    Customers ≈ 50 % and CZ ≈ 30 %, exclude Churned ≈ 10 %, require `newsletter`), beside the leanest
    hand-written SQL found for the same counts (hash joins against each reason's set); medians of --runs,
    interleaved. Counts must be equal (exit 1 otherwise). Goal: ≤ 1.5×.
(b) **Send**: a campaign to --send N contacts (tokens in subject, preheader and body, three links, a
    variant for the CZ members, an A/B split 50/50) through Django's file email backend: `send_start`
    (freezing the deliveries) and `send_batch` until nothing is queued — the worker's own code, minus the
    queue between batches. Messages/s = messages rendered, written and recorded `sent` per second.
    Checks every delivery is `sent` and the files hold N messages. Goal: ≥ 2,000/s.
(c) **Open pixel**: gunicorn (--workers, --threads) on 127.0.0.1 against this database, DEBUG off, then
    --clients concurrent keep-alive clients fetch `/t/o/<token>.gif` of the sent deliveries for
    --seconds (wrk when installed, else the Python client in bench.pixel_load; the table says which).
    Requests/s, p50/p95/p99, errors. A request appends the open to the tracking inbox; the worker's drain
    (campaigns.inbox) records it — here after the load, or beside it with --drain during — and its CPU per
    open is reported too; every hit must become exactly one open. Goal: ≥ 1,000/s.

Everything made is removed at the end (groups, campaigns and deliveries, the opt-outs, the recorded opens,
the contacts' `last_activity_at` restored, the re-check notes and queued drains of the run).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# The worker and the web server run with DEBUG off (Django then keeps no query log); the pixel's tokens are
# signed in this process and checked in gunicorn's, so both use one key.
os.environ["DEBUG"] = "0"
os.environ.setdefault("SECRET_KEY", "bench-" + secrets.token_urlsafe(40))

from bench import execute, require_postgresql, setup_django  # noqa: E402

RATIO_GOAL = 1.5
SEND_GOAL = 2000.0
PIXEL_GOAL = 1000.0
PREFIX = "bench_send_"

LEAN = """
WITH candidate AS (SELECT DISTINCT m.contact_id AS id FROM segments_membership m WHERE m.group_id IN (%(a)s, %(b)s)),
unsubscribed AS (
  SELECT u.contact_id FROM campaigns_unsubscribe u WHERE u.channel = 'email'
  UNION SELECT k.merged_into_id FROM campaigns_unsubscribe u JOIN contacts_contact k ON k.id = u.contact_id
        WHERE u.channel = 'email' AND k.merged_into_id IS NOT NULL),
agreed AS (SELECT DISTINCT cc.contact_id FROM contacts_contactconsent cc
           WHERE cc.consent_id = %(consent)s AND cc.revoked_at IS NULL)
SELECT CASE WHEN ex.contact_id IS NOT NULL THEN 'group'
            WHEN c.email IS NULL OR c.email = '' THEN 'no_address'
            WHEN un.contact_id IS NOT NULL THEN 'unsubscribed'
            WHEN ag.contact_id IS NULL THEN 'no_consent'
            ELSE 'ok' END, count(*)
FROM candidate JOIN contacts_contact c ON c.id = candidate.id AND c.merged_into_id IS NULL
LEFT JOIN segments_membership ex ON ex.contact_id = c.id AND ex.group_id = %(churned)s
LEFT JOIN unsubscribed un ON un.contact_id = c.id
LEFT JOIN agreed ag ON ag.contact_id = c.id
GROUP BY 1
"""

SUBJECT = "{{ first_name|default:'Hello' }}, spring news for {{ account.name|default:'you' }}"
PREHEADER = "Picked for {{ city|default:'your city' }}"
BODY = (
    "<h1>Hi {{ first_name|default:'there' }} {{ last_name }},</h1>\n"
    "<p>As a {{ job_title|default:'reader' }} at {{ account.name|default:'your company' }} "
    'you might like our <a href="https://shop.example.com/spring?utm=mail">spring sale</a>.</p>\n'
    "<p>Your plan: {{ custom.plan|default:'free' }}. Score {{ lead_score }}.</p>\n"
    '<ul><li><a href="https://shop.example.com/new">What is new</a></li>\n'
    '<li><a href="https://docs.example.com/">Docs</a></li></ul>\n'
    "<p>Regards,<br>The shop</p>"
)


def _median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


def audience(*, runs: int) -> dict[str, Any]:
    """(a): the breakdown against the lean SQL, interleaved, medians."""
    from django.db import connection

    from bench.campaign_audience import audience_setup, audience_teardown
    from campaigns import selectors

    campaign, groups, consent = audience_setup()
    try:
        spec = selectors.audience_spec(campaign=campaign)
        params = {"a": groups["customers"].pk, "b": groups["cz"].pk, "churned": groups["churned"].pk,
                  "consent": consent.pk}  # fmt: skip
        orm_s, sql_s = [], []
        breakdown, lean = None, {}
        for run in range(runs + 1):  # the first pair warms the caches up and is not counted
            start = time.perf_counter()
            breakdown = selectors.audience_breakdown(spec=spec)
            orm = time.perf_counter() - start
            start = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(LEAN, params)
                lean = dict(cursor.fetchall())
            sql = time.perf_counter() - start
            if run:
                orm_s.append(orm)
                sql_s.append(sql)
        assert breakdown is not None
        mine = {r.key.split(":")[0]: r.count for r in breakdown.reasons if r.count}
        mine["ok"] = breakdown.audience
        equal = mine == {k: v for k, v in lean.items() if v}
        if not equal:
            print(f"COUNTS DIFFER: selector {mine} != lean SQL {lean}", file=sys.stderr)
        return {"orm_ms": _median_ms(orm_s), "sql_ms": _median_ms(sql_s), "audience": breakdown.audience,
                "candidates": breakdown.candidates, "equal": equal}  # fmt: skip
    finally:
        audience_teardown(campaign)


def send_setup(n: int) -> Any:
    """A group of the first n reachable contacts (email, newsletter agreed, not opted out), its CZ part, and
    a campaign to it with tokens, links, a variant for the CZ part and an A/B split."""
    from campaigns import services
    from campaigns.models import Campaign, Channel
    from contacts.models import Consent
    from segments.models import ContactGroup

    send_teardown()
    consent = Consent.objects.get(code="newsletter")
    everyone = ContactGroup.objects.create(code=PREFIX + "all", name=PREFIX + "all")
    cz = ContactGroup.objects.create(code=PREFIX + "cz", name=PREFIX + "cz")
    execute(
        "INSERT INTO segments_membership (group_id, contact_id, via_manual, via_account, via_condition, added_at) "
        "SELECT %s, c.id, true, false, false, now() FROM contacts_contact c "
        "WHERE c.merged_into_id IS NULL AND c.email IS NOT NULL AND c.email <> '' "
        "AND EXISTS (SELECT 1 FROM contacts_contactconsent cc WHERE cc.contact_id = c.id AND cc.consent_id = %s "
        "            AND cc.revoked_at IS NULL) "
        "AND NOT EXISTS (SELECT 1 FROM campaigns_unsubscribe u WHERE u.contact_id = c.id) ORDER BY c.id LIMIT %s",
        [everyone.pk, consent.pk, n],
    )
    execute(
        "INSERT INTO segments_membership (group_id, contact_id, via_manual, via_account, via_condition, added_at) "
        "SELECT %s, m.contact_id, true, false, false, now() FROM segments_membership m "
        "JOIN contacts_contact c ON c.id = m.contact_id WHERE m.group_id = %s AND c.country = 'CZ'",
        [cz.pk, everyone.pk],
    )
    campaign = services.campaign_create(
        name=PREFIX + "campaign", channel=Channel.EMAIL, include=[everyone, cz], required_consent=consent,
        sender="Shop <shop@example.com>", subject=SUBJECT, preheader=PREHEADER, body=BODY,
    )  # fmt: skip
    services.variant_save(campaign=campaign, group=cz, priority=1, subject="Ahoj {{ first_name|default:'' }}!")
    services.split_set(
        campaign=campaign,
        arms=[services.ArmInput(percent=50), services.ArmInput(percent=50, subject="Last days: " + SUBJECT)],
    )
    return Campaign.objects.get(pk=campaign.pk)


def send_teardown() -> None:
    from campaigns.models import Campaign
    from segments.models import ContactGroup

    Campaign.objects.filter(name__startswith=PREFIX).delete()
    ContactGroup.objects.filter(code__startswith=PREFIX).delete()


def _send_here(campaign_id: int, *, batch: int) -> tuple[float, float, float, int]:
    """send_batch in this process until nothing is queued: (seconds, Python CPU s, PostgreSQL CPU s, batches)."""
    from django.db import connection

    from bench.pixel_load import cpu_seconds
    from campaigns import sending

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    cpu_py, cpu_db = time.process_time(), cpu_seconds([backend])
    start = time.perf_counter()
    batches = 0
    while True:
        result = sending.send_batch(campaign_id=campaign_id, limit=batch)
        batches += 1
        if not result.more:
            break
    return time.perf_counter() - start, time.process_time() - cpu_py, cpu_seconds([backend]) - cpu_db, batches


def _send_parallel(campaign_id: int, *, workers: int, batch: int, outbox: Path) -> tuple[float, float, float]:
    """`workers` processes (bench.send_worker), each sending its part; started together once set up."""
    import json
    import subprocess

    from django.conf import settings

    go = outbox.parent / f"{outbox.name}.go"
    env = {**os.environ, "EMAIL_BACKEND": settings.EMAIL_BACKEND, "EMAIL_FILE_PATH": str(outbox),
           "SITE_URL": settings.SITE_URL, "DATABASE_URL": _database_url()}  # fmt: skip
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.send_worker", str(campaign_id), str(k), str(workers), str(batch), str(go)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            cwd=settings.BASE_DIR,
        )  # fmt: skip
        for k in range(workers)
    ]
    time.sleep(3)  # Django set up in each
    go.touch()
    outs = [json.loads(p.communicate(timeout=3600)[0].strip().splitlines()[-1]) for p in procs]
    go.unlink()
    seconds = max(o["end"] for o in outs) - min(o["start"] for o in outs)
    return seconds, sum(o["cpu"] for o in outs), sum(o["db"] for o in outs)


def _database_url() -> str:
    from bench.pixel_load import _database_url as url

    return url()


def send(*, n: int, batch: int, outbox: Path, workers: int = 1) -> dict[str, Any]:
    """(b): freeze and send the campaign to the file backend; returns the timings and checks."""
    from django.conf import settings

    from campaigns import sending
    from campaigns.models import Delivery, DeliveryStatus

    settings.EMAIL_BACKEND = os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(outbox)
    settings.SITE_URL = "http://127.0.0.1:8000"
    campaign = send_setup(n)
    sending._queue = lambda func, pk: None  # type: ignore[assignment]  # the batches are run here, in turn
    sending.campaign_send(campaign=campaign)
    start = time.perf_counter()
    recipients = sending.send_start(campaign_id=campaign.pk) or 0
    freeze_s = time.perf_counter() - start
    if workers > 1:
        send_s, cpu_py, cpu_db = _send_parallel(campaign.pk, workers=workers, batch=batch, outbox=outbox)
        batches = 0
    else:
        send_s, cpu_py, cpu_db, batches = _send_here(campaign.pk, batch=batch)
    counts = sending.delivery_counts(campaign_id=campaign.pk)
    written = sum(p.read_bytes().count(b"\n" + b"-" * 79 + b"\n") for p in outbox.iterdir())
    sent = counts.get(DeliveryStatus.SENT, 0)
    sample = next(outbox.iterdir()).read_text(errors="replace")[:20000] if written else ""
    ok = sent == recipients == written and "{{" not in sample and "/t/c/" in sample and "/t/o/" in sample
    if not ok:
        print(f"SEND CHECK FAILED: {counts}, {written} messages in the files", file=sys.stderr)
    ids = list(Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.SENT).values_list("pk", flat=True))
    return {"campaign": campaign, "recipients": recipients, "freeze_s": freeze_s, "send_s": send_s, "sent": sent,
            "written": written, "batches": batches, "per_s": sent / send_s if send_s else 0.0, "ok": ok,
            "delivery_ids": ids, "py_cpu_ms": cpu_py * 1000 / max(1, sent),
            "db_cpu_ms": cpu_db * 1000 / max(1, sent)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.campaign", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--contacts", type=int, help="generate this many contacts first if there are fewer")
    parser.add_argument("--runs", type=int, default=3, help="(a) timed runs of each query (default 3)")
    parser.add_argument("--send", type=int, default=20_000, help="(b) deliveries to send (default 20,000)")
    parser.add_argument("--batch", type=int, help="(b) deliveries per send_batch (default settings.SEND_BATCH)")
    parser.add_argument("--send-workers", type=int, default=1,
                        help="(b) processes sending side by side, each its part (SEND_WORKERS; default 1)")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=20.0, help="(c) duration of the load (default 20)")
    parser.add_argument("--clients", type=int, default=16, help="(c) concurrent clients (default 16)")
    parser.add_argument("--workers", type=int, default=2, help="(c) gunicorn worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=8, help="(c) threads per worker (gthread; default 8)")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto",
                        help="(c) load generator: wrk if installed (auto), or the Python client")  # fmt: skip
    parser.add_argument("--drain", choices=["after", "during"], default="after",
                        help="(c) the drain of the tracking inbox: after the load (default) or beside it")  # fmt: skip
    parser.add_argument("--only", default="a,b,c", help="parts to run, e.g. b,c (c needs b's deliveries)")
    args = parser.parse_args()
    setup_django()
    require_postgresql("bench.campaign")
    from bench.preview import ensure_data

    total, _ = ensure_data(args.contacts)
    from django.conf import settings

    from bench import pixel_load

    parts = set(args.only.split(","))
    if "c" in parts:
        parts.add("b")
    batch = args.batch or settings.SEND_BATCH
    load = os.getloadavg()
    results: dict[str, Any] = {}
    if "a" in parts:
        print("(a) audience preview …", flush=True)
        results["a"] = audience(runs=args.runs)
    outbox = Path(tempfile.mkdtemp(prefix="bench-campaign-mail-"))
    marks = pixel_load.marks()
    try:
        if "b" in parts:
            print(f"(b) sending {args.send:,} …", flush=True)
            results["b"] = send(n=args.send, batch=batch, outbox=outbox, workers=args.send_workers)
        if "c" in parts:
            print(f"(c) open pixel, {args.clients} clients for {args.seconds:.0f} s …", flush=True)
            results["c"] = pixel_load.run(
                delivery_ids=results["b"]["delivery_ids"], campaign_id=results["b"]["campaign"].pk,
                seconds=args.seconds, clients=args.clients, workers=args.workers, threads=args.threads,
                client=args.client, drain_during=args.drain == "during",
            )  # fmt: skip
    finally:
        if "b" in results:
            pixel_load.cleanup(campaign_id=results["b"]["campaign"].pk, marks=marks)
        send_teardown()
        shutil.rmtree(outbox, ignore_errors=True)
    report(results, total=total, load=load, batch=batch, args=args)


def report(results: dict[str, Any], *, total: int, load: tuple[float, ...], batch: int, args: Any) -> None:
    print(f"\n{total:,} contacts; load average at the start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"on {os.cpu_count()} cores\n")  # fmt: skip
    fields = [f"contacts={total}"]
    goals = []
    if a := results.get("a"):
        ratio = a["orm_ms"] / a["sql_ms"] if a["sql_ms"] else float("inf")
        goal = ratio <= RATIO_GOAL
        goals.append(goal)
        print(f"(a) audience preview (medians of {args.runs})      ms")
        print(f"    breakdown (audience_breakdown)          {a['orm_ms']:9.1f}   audience {a['audience']:,} "
              f"of {a['candidates']:,}")  # fmt: skip
        print(f"    lean hand-written SQL                   {a['sql_ms']:9.1f}   counts equal: "
              f"{'yes' if a['equal'] else 'NO'}")  # fmt: skip
        print(f"    ratio {ratio:.2f}  goal ≤ {RATIO_GOAL}×: {'met' if goal else 'missed'}\n")
        fields += [f"preview_ms={a['orm_ms']:.0f}", f"preview_sql_ms={a['sql_ms']:.0f}",
                   f"preview_ratio={ratio:.2f}", f"counts_equal={'yes' if a['equal'] else 'NO'}"]  # fmt: skip
    if b := results.get("b"):
        goal = b["per_s"] >= SEND_GOAL and b["ok"]
        goals.append(goal)
        print(f"(b) send to the file backend (batches of {batch}, {args.send_workers} worker process(es))")
        print(f"    freeze {b['recipients']:,} deliveries (send_start)   {b['freeze_s']:8.2f} s")
        print(f"    send {b['sent']:,} ({b['batches'] or 'parallel'} batches)           {b['send_s']:8.2f} s   "
              f"{b['per_s']:,.0f} messages/s   ({b['written']:,} in the files)")  # fmt: skip
        cpu = b["py_cpu_ms"] + b["db_cpu_ms"]
        print(f"    CPU per message: Python {b['py_cpu_ms']:.3f} ms + PostgreSQL {b['db_cpu_ms']:.3f} ms "
              f"→ {1000 * args.send_workers / cpu:,.0f} messages/s if nothing else ran "
              f"({args.send_workers} worker(s), PostgreSQL's share included)")  # fmt: skip
        print(f"    goal ≥ {SEND_GOAL:,.0f}/s: {'met' if goal else 'missed'}\n")
        fields += [f"send_workers={args.send_workers}",
                   f"freeze_s={b['freeze_s']:.2f}", f"send_s={b['send_s']:.2f}", f"send_per_s={b['per_s']:.0f}",
                   f"sent={b['sent']}", f"send_py_cpu_ms={b['py_cpu_ms']:.3f}", f"send_db_cpu_ms={b['db_cpu_ms']:.3f}",
                   f"send_checks={'ok' if b['ok'] else 'FAILED'}"]  # fmt: skip
    if c := results.get("c"):
        goal = c["rps"] >= PIXEL_GOAL and not c["errors"] and c["recorded"] == c["drained"]  # each hit once
        goals.append(goal)
        print(f"(c) open pixel: gunicorn {args.workers} workers × {args.threads} threads, {args.clients} clients, "
              f"{c['seconds']:.1f} s, client: {c['client']}")  # fmt: skip
        print(f"    requests {c['requests']:,}   {c['rps']:,.0f}/s   p50 {c['p50']:.1f} ms   p95 {c['p95']:.1f} ms   "
              f"p99 {c['p99']:.1f} ms   errors {c['errors']}")  # fmt: skip
        cpu = c["app_cpu_ms"] + c["db_cpu_ms"]
        print(f"    CPU per request: gunicorn {c['app_cpu_ms']:.2f} ms + PostgreSQL {c['db_cpu_ms']:.2f} ms "
              f"→ {2000 / cpu:,.0f} requests/s on 2 cores if nothing else ran; the load generator used "
              f"{c['client_cpu_ms']:.2f} ms more "
              f"({2000 / (cpu + c['client_cpu_ms']):,.0f}/s sharing them)")  # fmt: skip
        drain_cpu = c["drain_py_cpu_ms"] + c["drain_db_cpu_ms"]
        print(f"    {'beside the load' if c['drain_during'] else 'then'} the drain recorded {c['drained']:,} hits "
              f"(warm-up included) in {c['drain_s']:.2f} s "
              f"({c['drained'] / max(c['drain_s'], 1e-9):,.0f}/s): {c['recorded']:,} opens; CPU per hit: Python "
              f"{c['drain_py_cpu_ms']:.2f} ms + PostgreSQL {c['drain_db_cpu_ms']:.2f} ms → answered and recorded, "
              f"{2000 / (cpu + drain_cpu):,.0f} opens/s on 2 cores if nothing else ran")  # fmt: skip
        print(f"    goal ≥ {PIXEL_GOAL:,.0f}/s: {'met' if goal else 'missed'}\n")
        fields += [f"pixel_rps={c['rps']:.0f}", f"pixel_p50_ms={c['p50']:.1f}", f"pixel_p95_ms={c['p95']:.1f}",
                   f"pixel_p99_ms={c['p99']:.1f}", f"pixel_errors={c['errors']}", f"pixel_client={c['client']}",
                   f"opens_recorded={c['recorded']}", f"pixel_app_cpu_ms={c['app_cpu_ms']:.2f}",
                   f"pixel_db_cpu_ms={c['db_cpu_ms']:.2f}", f"drain={args.drain}", f"drained={c['drained']}",
                   f"drain_per_s={c['drained'] / max(c['drain_s'], 1e-9):.0f}",
                   f"drain_py_cpu_ms={c['drain_py_cpu_ms']:.2f}", f"drain_db_cpu_ms={c['drain_db_cpu_ms']:.2f}",
                   f"pixel_client_cpu_ms={c['client_cpu_ms']:.2f}"]  # fmt: skip
    fields.append(f"goals_met={sum(goals)}/{len(goals)}")
    print("RESULT campaign " + " ".join(fields))


if __name__ == "__main__":
    main()
