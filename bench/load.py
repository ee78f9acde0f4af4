"""`python -m bench.load [--seconds 60] [--clients 16] [--pixel-seconds 20] [--keep]`: the cluster under load.

Runs inside `deploy/local-cluster run --then "python -m bench.load"` (the cluster's environment: its database,
Redis, SECRET_KEY and CLUSTER_WEB); loopback only, bounded, stops by itself. Sets up, through the services and
the app: a Marketer login of its own (signed in through the sign-in page), 16 API tokens, a ~300k-member group
("country is CZ") for the Members page, a condition group to rebuild during the load, and a campaign sent by
the workers to 5,000 contacts (file backend) whose deliveries' signed pixel tokens the pixel clients fetch.

Each of the builder's preview trees is then counted once, one at a time (their times are printed: what a
marketer waits for a tree nobody counted in the last PREVIEW_CACHE_SECONDS); the load then measures the steady
state, where a tree's count is shared and a worker recounts it once it is older than that.

Then --clients (16) concurrent clients for --seconds (60) against both gunicorn processes, each client on one
endpoint (bench.load_wrk: wrk with a Lua script): the contact list with filters, a group's Members page, the
builder's live preview (its count), the API's activity batch endpoint (100 activities a request) and the open
pixel; 5 s in, the group's Rebuild button is pressed (POST, through the app: the worker rebuilds it meanwhile).
Then --pixel-seconds of the pixel alone on all 16 clients. Reports p50/p95/p99, throughput and errors per
endpoint, the CPU each part of the cluster used (the client's own included), and checks that the rebuilt group
holds exactly the rule's contacts once the re-checks the load caused are drained.

Goals (issue 15): p95 < 300 ms for pages and previews, pixel ≥ 1,000 requests/s, no errors. Prints the table
and, last, `RESULT load …`. The bench's groups, campaign, tokens and user are deleted at the end (--keep
keeps them); the activities the load recorded stay, as ordinary data (the cluster's database is thrown away
with it by `deploy/local-cluster stop`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from typing import Any

from bench import require_postgresql, setup_django
from bench.cluster import Session, bench_user, client_cpu, cpu_by_role, web_bases
from bench.load_wrk import Endpoint, Request, report, run

PREFIX = "bench_load_"
PREVIEW_ENDPOINT = "live preview (builder count)"
USERNAME = "bench_load"
PAGE_P95_MS, PIXEL_RPS = 300.0, 1000.0
TOKENS = 16  # the API clients play 16 integrations: API_RATE (600/min) is per token
API_ITEMS = 100
PIXEL_CONTACTS = 5000
REBUILD_AFTER_S = 5.0
CZ = {"type": "field", "field": "country", "operator": "equals", "value": "CZ"}
# The group rebuilt during the load: not relative to now (so its count cannot drift while it is checked), and
# the API's batches visit /pricing pages, so re-checks move contacts into it while it rebuilds.
REBUILT_RULE = {
    "type": "activity",
    "activity": "page_visit",
    "where": [{"field": "url", "operator": "contains", "value": "/pricing"}],
    "count": {"operator": "gte", "value": 3},
}
LIST_FILTERS = [
    "?country=CZ",
    "?country=DE&score_min=50",
    "?q=nov",
    "?cf_plan=pro",
    "?country=US&sort=name",
    "?created_after=2026-01-01&sort=-created",
    "?score_min=90",
    "?q=petr&country=CZ",
]
MEMBER_QUERIES = ["?sort=name", "?sort=-name", "?q=nov", "?q=jana", "?page=2", "?sort=name&page=3"]


def tree(root: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "root": root}


def prepare(bases: list[str]) -> dict[str, Any]:
    """The login, tokens, groups and the sent campaign the load uses (see the module's docstring)."""
    from django.db import connection

    from api.tokens import token_create
    from bench.preview import CASES
    from campaigns import services as campaign_services
    from campaigns.models import Campaign, CampaignStatus, Channel
    from campaigns.sending import campaign_send
    from campaigns.tracking import open_token
    from contacts.models import Consent, Contact
    from segments.rebuilds import group_rebuild
    from segments.services import group_add_contacts, group_create

    cleanup()
    user, password = bench_user(USERNAME)
    session = Session(bases[0])
    session.login(USERNAME, password)
    tokens = [token_create(user=user, name=f"{PREFIX}{n}", scope="write")[1] for n in range(TOKENS)]

    started = time.monotonic()
    members = group_create(
        code=PREFIX + "cz", name="Bench load: CZ", is_condition_based=True, condition=tree(CZ), queue_rebuild=False
    )
    group_rebuild(group=members)
    print(f"  members group built: {members.member_count:,} members in {time.monotonic() - started:.1f} s")
    rebuilt = group_create(
        code=PREFIX + "rebuilt",
        name="Bench load: rebuilt",
        is_condition_based=True,
        condition=tree(REBUILT_RULE),
        queue_rebuild=False,
    )

    consent = Consent.objects.get(code="newsletter")
    audience = group_create(code=PREFIX + "pixel", name="Bench load: pixel")
    reachable = Contact.objects.filter(
        merged_into__isnull=True, email__gt="", consents__consent=consent, consents__revoked_at__isnull=True
    ).order_by("pk")
    ids = list(reachable.values_list("pk", flat=True)[:PIXEL_CONTACTS])
    group_add_contacts(group=audience, contacts=Contact.objects.filter(pk__in=ids))
    campaign = campaign_services.campaign_create(
        name=PREFIX + "campaign",
        channel=Channel.EMAIL,
        include=[audience],
        required_consent=consent,
        sender="Shop <shop@example.com>",
        subject="Hello {{ first_name|default:'there' }}",
        body="Hi! /pricing",
    )
    started = time.monotonic()
    campaign_send(campaign=campaign)
    while Campaign.objects.get(pk=campaign.pk).status != CampaignStatus.SENT:
        if time.monotonic() - started > 180:
            raise SystemExit("the workers did not send the pixel campaign within 180 s")
        time.sleep(0.5)
    pairs = list(campaign.deliveries.values_list("pk", "contact_id"))
    print(f"  pixel campaign sent by the workers: {len(pairs):,} deliveries in {time.monotonic() - started:.1f} s")

    with connection.cursor() as cursor:  # the API's contacts: a sample of unmerged contacts with an email
        cursor.execute(
            "SELECT id, email FROM contacts_contact TABLESAMPLE SYSTEM (5) REPEATABLE (7) "
            "WHERE merged_into_id IS NULL AND email IS NOT NULL"
        )
        people = cursor.fetchall()
    return {
        "session": session,
        "tokens": tokens,
        "members": members,
        "rebuilt": rebuilt,
        "people": people,
        "pixels": [f"/t/o/{open_token(delivery_id=d, contact_id=c, campaign_id=campaign.pk)}.gif" for d, c in pairs],
        "trees": [case.tree for case in CASES],
    }


def endpoints(setup: dict[str, Any], clients: int) -> list[Endpoint]:
    """The five kinds of request, the clients shared out as pages 3+3, preview 3, API 3, pixel the rest."""
    from bench.api_ingest import make_batches

    session: Session = setup["session"]
    browser = {"Cookie": session.cookie_header()}
    csrf = {**browser, "X-CSRFToken": session.cookies["csrftoken"], "Content-Type": "application/json"}
    share = max(1, clients * 3 // 16)
    batches = make_batches(random.Random(1), setup["people"], 64, size=API_ITEMS, path="pricing/bench-load")
    api = [
        Request(
            "POST",
            "/api/v1/activities/batch/",
            {"Authorization": f"Bearer {setup['tokens'][n % TOKENS]}", "Content-Type": "application/json"},
            json.dumps({"activities": items}),
        )
        for n, items in enumerate(batches)
    ]
    group = setup["members"].pk
    pages = [Request("GET", f"/contacts/{q}", browser) for q in LIST_FILTERS]
    members = [Request("GET", f"/groups/{group}/{q}", browser) for q in MEMBER_QUERIES]
    previews = [Request("POST", "/groups/preview/?live=1", csrf, json.dumps(t)) for t in setup["trees"]]
    return [
        Endpoint("contact list, filtered", "page", share, pages),
        Endpoint("group members page", "page", share, members),
        Endpoint(PREVIEW_ENDPOINT, "page", share, previews),
        Endpoint("API activity batch (100)", "api", share, api, expect=201, items=API_ITEMS),
        Endpoint("open pixel", "pixel", clients - 4 * share, [Request("GET", p) for p in setup["pixels"]]),
    ]


def cold_previews(setup: dict[str, Any], previews: Endpoint) -> None:
    """Each of the preview endpoint's requests sent once, one at a time, before the load: the steady state the load
    measures (a count shared for PREVIEW_CACHE_SECONDS, recounted by a worker when older); the first counts' times
    are printed, being what a marketer waits for a tree nobody has counted in the last seconds."""
    session: Session = setup["session"]
    times = []
    for r in previews.requests:
        answer = session.request(r.method, r.path, body=(r.body or "").encode(), headers=r.headers)
        times.append(f"{answer.seconds * 1000:,.0f}")
    print(f"  previews counted once before the load (ms, one at a time, each tree): {' / '.join(times)}")


def rebuild_meanwhile(setup: dict[str, Any], delay: float, outcome: dict[str, Any]) -> threading.Thread:
    """After `delay` s, press the rebuilt group's Rebuild button (a POST through the app; the worker runs it)."""

    def press() -> None:
        time.sleep(delay)
        session: Session = setup["session"]
        answer = session.post_form(f"/groups/{setup['rebuilt'].pk}/rebuild/", {})
        outcome.update(pressed_at=time.time(), status=answer.status)

    thread = threading.Thread(target=press, daemon=True)
    thread.start()
    return thread


def rebuild_check(group_id: int, *, timeout: float = 240) -> dict[str, Any]:
    """Wait for the rebuild and the load's re-checks to end; then members must equal the rule's count in SQL."""
    from segments.models import ContactGroup, Membership, PendingRecheck, RebuildStatus
    from segments.rules import matching_contacts

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        group = ContactGroup.objects.get(pk=group_id)
        done = group.rebuild_status in (RebuildStatus.SUCCEEDED, RebuildStatus.FAILED)
        if done and not PendingRecheck.objects.exists():
            break
        time.sleep(1)
    members = Membership.objects.filter(group_id=group_id, via_condition=True).count()
    expected = matching_contacts(group.condition).count()
    return {
        "status": group.rebuild_status,
        "duration_ms": group.last_rebuild_duration_ms,
        "members": members,
        "expected": expected,
        "pending": PendingRecheck.objects.count(),
        "started": group.last_rebuild_started_at,
        "finished": group.last_rebuild_finished_at,
    }


def cleanup() -> None:
    """Remove what the bench made (not the activities it recorded: ordinary data)."""
    from django.contrib.auth import get_user_model
    from django.db import IntegrityError

    from api.models import ApiToken
    from campaigns.models import Campaign
    from segments.models import ContactGroup

    for attempt in range(5):
        try:  # requests still queued in the servers' backlog when the clients stopped may record an open meanwhile
            Campaign.objects.filter(name__startswith=PREFIX).delete()
            break
        except IntegrityError:
            if attempt == 4:
                raise
            time.sleep(2)
    ContactGroup.objects.filter(code__startswith=PREFIX).delete()
    ApiToken.objects.filter(name__startswith=PREFIX).delete()
    get_user_model().objects.filter(username=USERNAME).delete()


def cpu_lines(before: dict[str, float], after: dict[str, float], client: float, seconds: float) -> list[str]:
    used = {role: after.get(role, 0.0) - before.get(role, 0.0) for role in after}
    machine = used.pop("machine")
    rows = [("load generator (wrk + this process)", client), *sorted(used.items(), key=lambda kv: -kv[1])]
    rest = machine - sum(v for _, v in rows)
    rows.append(("anything else on the machine", max(0.0, rest)))
    lines = [f"  CPU over {seconds:.0f} s (2 cores = {2 * seconds:.0f} CPU-s; machine busy {machine:.0f} CPU-s):"]
    lines += [f"    {name:<38}{value:7.1f} CPU-s  {value / seconds * 100:5.0f} % of a core" for name, value in rows]
    return lines


def phase(label: str, eps: list[Endpoint], bases: list[str], seconds: float) -> tuple[dict[str, Any], list[str]]:
    load_before = os.getloadavg()[0]
    cpu, client = cpu_by_role(), client_cpu()
    began = time.monotonic()
    figures = run(eps, bases, seconds=seconds)
    elapsed = time.monotonic() - began
    lines = [f"{label} (load average before {load_before:.1f}, after {os.getloadavg()[0]:.1f})", ""]
    lines += report(eps, figures, page_p95_ms=PAGE_P95_MS, pixel_rps=PIXEL_RPS)
    lines += cpu_lines(cpu, cpu_by_role(), client_cpu() - client, elapsed)
    return figures, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="the mixed load's length (default 60)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16; at least 5)")
    parser.add_argument("--pixel-seconds", type=float, default=20.0, help="then the pixel alone (0: skip)")
    parser.add_argument("--keep", action="store_true", help="keep the bench's groups, campaign, tokens and user")
    args = parser.parse_args(argv)
    if args.clients < 5:
        parser.error("--clients must be at least 5 (one per endpoint)")
    bases = web_bases()
    setup_django()
    require_postgresql("bench.load")
    from contacts.models import Activity, Contact

    print(
        f"bench.load against {' '.join(bases)}: {Contact.objects.count():,} contacts, "
        f"~{Activity.objects.count():,} activities; {args.clients} clients × {args.seconds:g} s"
    )
    try:
        setup = prepare(bases)
        eps = endpoints(setup, args.clients)
        run(eps, bases, seconds=3)  # warm-up: every gunicorn worker's connections and caches
        cold_previews(setup, next(e for e in eps if e.name == PREVIEW_ENDPOINT))
        pressed: dict[str, Any] = {}
        rebuild_meanwhile(setup, REBUILD_AFTER_S, pressed)
        began = time.time()
        figures, lines = phase(f"Mixed load: {args.clients} clients, {args.seconds:g} s", eps, bases, args.seconds)
        ended = time.time()
        check = rebuild_check(setup["rebuilt"].pk)
        pixel_lines: list[str] = []
        pixel_only = None
        if args.pixel_seconds > 0:
            alone = [Endpoint("open pixel alone", "pixel", args.clients, eps[-1].requests)]
            pixel_only, pixel_lines = phase(
                f"The pixel alone: {args.clients} clients", alone, bases, args.pixel_seconds
            )
    finally:
        if not args.keep:
            cleanup()
    overlap = check["started"] and check["started"].timestamp() < ended and check["finished"].timestamp() > began
    rebuilt_ok = check["status"] == "succeeded" and check["members"] == check["expected"] and not check["pending"]
    print()
    print("\n".join(lines))
    print(
        f"  rebuild pressed {pressed.get('pressed_at', began) - began:.0f} s in (HTTP {pressed.get('status')}): "
        f"{check['status']} in {(check['duration_ms'] or 0) / 1000:.1f} s, "
        f"{'during' if overlap else 'NOT during'} the load; members {check['members']:,} = rule count "
        f"{check['expected']:,} after the re-checks: {'ok' if rebuilt_ok else 'NO'} ({check['pending']} pending)"
    )
    if pixel_lines:
        print()
        print("\n".join(pixel_lines))
    errors = sum(figures[e.name].errors(e.expect) for e in eps)
    pages_p95 = max(figures[e.name].p95 for e in eps if e.kind == "page")
    pixel = pixel_only["open pixel alone"].rps if pixel_only else figures["open pixel"].rps
    met = pages_p95 < PAGE_P95_MS and pixel >= PIXEL_RPS and errors == 0 and rebuilt_ok
    result = {
        "pages_p95_ms": f"{pages_p95:.0f}",
        "mixed_pixel_rps": f"{figures['open pixel'].rps:.0f}",
        "pixel_alone_rps": f"{pixel:.0f}",
        "errors": errors,
        "rebuild_ok": "yes" if rebuilt_ok else "NO",
        "goals": "met" if met else "NOT_met",
    }
    print(
        f"\n  goals: p95 < {PAGE_P95_MS:g} ms (pages, previews), pixel ≥ {PIXEL_RPS:,.0f}/s (alone), no errors: "
        f"{'met' if met else 'NOT met'}"
    )
    print("RESULT load " + " ".join(f"{k}={v}" for k, v in result.items()))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
