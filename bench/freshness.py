"""`python -m bench.freshness [--contacts N] [--groups G] [--changes K] [--rate R]`: how soon memberships are right.

With the worker running (`manage.py qcluster`, started here as a subprocess on the same DATABASE_URL and
always stopped), creates G (default 100) condition-based groups (the rule mix of bench.recheck) and
builds them, then makes K (default 1,000) random changes through `contacts.services` at R changes a
second (field edits, new activities, consent changes, account moves), each on a random unmerged contact.
A change's delay runs from the moment its service call returned (committed, re-check queued) until no
PendingRecheck row of that contact is left (its re-check committed). Reports p50/p99/max of the delays
(goal: p99 under 5 s), then verifies every membership against each group's full rule set computed in
the database (EXCEPT both ways): no changed contact may have a wrong membership (0 drift). The groups
are deleted at the end; the changes stay (they are ordinary data). Everything is bounded in time
(--timeout for the drain).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench import process_stop, require_postgresql, setup_django
from bench.preview import ensure_data, t
from bench.recheck import CODE_PREFIX as RECHECK_PREFIX
from bench.recheck import make_rules, resolve

GOAL_P99_S = 5.0
# The kind of data (segments.rules.Dependencies.kinds) each kind of change below touches.
KIND_READ = {"field": "contact", "custom": "custom", "activity": "activity", "consent": "consent", "account": "account"}
CODE_PREFIX = "bench_fr_"
ROOT = Path(__file__).resolve().parent.parent


def start_worker(log_path: Path) -> subprocess.Popen:
    """`manage.py qcluster` in its own process group (stopped by that group's id only)."""
    log = log_path.open("w")
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "qcluster"],
        cwd=ROOT,
        env={**os.environ, "Q_SYNC": "0"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.freshness", description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, help="generate this many contacts first if the database has fewer")
    parser.add_argument("--groups", type=int, default=100, help="condition-based groups (default 100)")
    parser.add_argument("--changes", type=int, default=1000, help="random changes to make (default 1000)")
    parser.add_argument("--rate", type=float, default=20.0, help="changes per second (default 20)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the queue to drain")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads making the changes (one makes ~90 a second here; more reach --rate 200)",
    )
    parser.add_argument(
        "--keep-groups",
        action="store_true",
        help="leave the groups in place at the end (for a later --reuse-groups run)",
    )
    parser.add_argument(
        "--reuse-groups",
        action="store_true",
        help="use the groups a --keep-groups run left (re-built first, as the nightly run does)",
    )
    args = parser.parse_args(argv)
    setup_django()
    require_postgresql("bench.freshness")

    from django.db import connection
    from django.utils import timezone

    from contacts import services
    from contacts.models import Account, Consent, Contact
    from segments.models import ContactGroup, PendingRecheck
    from segments.rebuilds import group_rebuild
    from segments.rules import dependencies, matching_contacts, validate
    from segments.services import group_create

    logging.getLogger("django-q").setLevel(logging.WARNING)  # not one "Enqueued" line per change
    contacts, activities = ensure_data(args.contacts)
    rng = random.Random(args.seed)
    kept = list(ContactGroup.objects.filter(code__startswith=CODE_PREFIX).order_by("code"))
    reuse = args.reuse_groups and len(kept) == args.groups
    if args.reuse_groups and not reuse:
        print(f"  --reuse-groups: {len(kept)} kept groups, not {args.groups}: building them anew")
    if not reuse:
        ContactGroup.objects.filter(code__startswith=CODE_PREFIX).delete()
    ContactGroup.objects.filter(code__startswith=RECHECK_PREFIX).delete()
    PendingRecheck.objects.all().delete()
    print(
        f"bench.freshness on {connection.settings_dict['NAME']}: {contacts:,} contacts, {activities:,} activities; "
        f"{args.groups} groups, {args.changes:,} changes at {args.rate:g}/s"
    )

    status = 0
    result: dict[str, Any] = {}
    worker: subprocess.Popen | None = None
    try:
        # The groups (bench.recheck's rule mix; membership rules refer to earlier groups), built in order.
        rules = make_rules(args.groups, rng)
        ids: list[int] = []
        built = time.perf_counter()
        groups = []
        if reuse:
            # The same rules (same seed) as when they were built; re-built in dependency order, as nightly.
            for group in kept:
                group_rebuild(group=group)
            groups = kept
            ids = [g.pk for g in kept]
            print(f"  re-built {len(groups)} kept groups in {time.perf_counter() - built:.1f} s")
        for i, rule in enumerate(rules if not reuse else []):
            resolve(rules[: i + 1], ids)
            for child in rule.node.get("children", []):  # bench.recheck's codes → this benchmark's
                if child["type"] == "membership":
                    child["group"] = child["group"].replace(RECHECK_PREFIX, CODE_PREFIX)
            group = group_create(
                code=f"{CODE_PREFIX}{i:03d}",
                name=f"bench.freshness {i:03d}",
                is_condition_based=True,
                condition=t(rule.node),
                queue_rebuild=False,
            )
            group_rebuild(group=group)
            ids.append(group.pk)
            groups.append(group)
        if not reuse:
            print(f"  built {len(groups)} groups in {time.perf_counter() - built:.1f} s")

        with connection.cursor() as cursor:
            cursor.execute("SELECT min(id), max(id) FROM contacts_contact")
            low, high = cursor.fetchone()
            cursor.execute(
                "SELECT id FROM contacts_contact WHERE merged_into_id IS NULL AND id = ANY(%s)",
                [[rng.randint(low, high) for _ in range(args.changes * 2 + 10)]],
            )
            pool = [row[0] for row in cursor.fetchall()]
        rng.shuffle(pool)
        targets = pool[: args.changes]
        consents = list(Consent.objects.all())
        account_ids = list(Account.objects.order_by("?").values_list("pk", flat=True)[:200])

        worker = start_worker(Path("/tmp") / f"bench_freshness_worker_{os.getpid()}.log")
        time.sleep(2)
        if worker.poll() is not None:
            raise SystemExit("The worker (manage.py qcluster) did not start; see its log in /tmp.")

        kinds_made: dict[str, int] = {}
        changed_at: dict[int, float] = {}  # contact id → when its last change returned
        changed_kinds: dict[int, set[str]] = {}  # contact id → the kinds of data its changes touched
        delays: list[float] = []
        lock = threading.Lock()
        done = threading.Event()

        def change(cid: int, rng: random.Random = rng) -> str:
            contact = Contact.objects.get(pk=cid)
            kind = rng.choice(["field", "custom", "activity", "consent", "account"])
            if kind == "field":
                services.contact_update(
                    contact=contact, country=rng.choice(["CZ", "DE", "SK", "US"]), lead_score=rng.randint(0, 100)
                )
            elif kind == "custom":
                plan = rng.choice(["free", "starter", "pro", "enterprise"])
                services.contact_update(contact=contact, custom={"plan": plan})
            elif kind == "activity":
                services.activity_record(
                    contact=contact,
                    type="page_visit",
                    url=rng.choice(["/pricing", "/blog/x"]),
                    occurred_at=timezone.now(),
                )
            elif kind == "consent":
                consent = rng.choice(consents)
                if rng.random() < 0.5:
                    services.consent_agree(contact=contact, consent=consent)
                else:
                    services.consent_revoke(contact=contact, consent=consent)
            else:
                account = Account.objects.get(pk=rng.choice(account_ids)) if rng.random() < 0.8 else None
                services.contacts_assign_account(contact_ids=[cid], account=account)
            return kind

        def poll() -> None:
            from django.db import connection as poll_connection

            try:
                while not done.is_set() or changed_at:
                    with poll_connection.cursor() as cursor:
                        cursor.execute("SELECT DISTINCT contact_id FROM segments_pendingrecheck")
                        pending = {row[0] for row in cursor.fetchall()}
                    seen = time.perf_counter()
                    with lock:
                        for cid in [c for c in changed_at if c not in pending]:
                            delays.append(seen - changed_at.pop(cid))
                    time.sleep(0.02)
            finally:
                poll_connection.close()

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        started = time.perf_counter()

        def make(first: int) -> None:
            # Thread `first` makes changes first, first + threads, …, each at its moment in the common pace.
            mine = random.Random(args.seed * 1000 + first) if args.threads > 1 else rng
            try:
                for n in range(first, len(targets), args.threads):
                    cid = targets[n]
                    due = started + n / args.rate
                    if (wait := due - time.perf_counter()) > 0:
                        time.sleep(wait)
                    kind = change(cid, mine)
                    with lock:
                        changed_at[cid] = time.perf_counter()
                        changed_kinds.setdefault(cid, set()).add(KIND_READ[kind])
                        kinds_made[kind] = kinds_made.get(kind, 0) + 1
            finally:
                if args.threads > 1:
                    from django.db import connection as own

                    own.close()

        if args.threads > 1:
            makers = [threading.Thread(target=make, args=(t,)) for t in range(args.threads)]
            for maker in makers:
                maker.start()
            for maker in makers:
                maker.join()
        else:
            make(0)
        made_in = time.perf_counter() - started
        done.set()
        poller.join(timeout=args.timeout)
        left = PendingRecheck.objects.values("contact_id").distinct().count()
        if poller.is_alive() or left:
            print(f"  the queue did not drain within {args.timeout:.0f} s: {left} contacts still pending")
            status = 1
        process_stop(worker)

        # Verify: every group's stored condition members against its full rule set, computed now in the
        # database (what a full rebuild would write), compared with EXCEPT both ways. A wrong membership of a
        # changed contact in a group that reads what the change touched is the re-checks' fault (drift);
        # any other can only come from relative windows ("last 7 days") that moved since the group was built
        # or the contact re-checked — an unchanged contact, or one changed on data its group does not read —
        # which the nightly rebuild handles: shown, not counted.
        changed_ids = sorted(set(targets))
        drift = window_moves = 0
        verified = time.perf_counter()
        verify_now = timezone.now()
        for group in groups:
            rule_ids = matching_contacts(validate(group.condition), now=verify_now).order_by().values("pk")
            rule_sql, rule_params = rule_ids.query.get_compiler(connection=connection).as_sql()
            stored = "SELECT contact_id FROM segments_membership WHERE group_id = %s AND via_condition"
            with connection.cursor() as cursor:
                cursor.execute(
                    f"""SELECT array_agg(d.id) FILTER (WHERE d.id = ANY(%s)), count(*) FROM (
                          (({stored}) EXCEPT ({rule_sql})) UNION ALL (({rule_sql}) EXCEPT ({stored}))) d(id)""",
                    (changed_ids, group.pk, *rule_params, *rule_params, group.pk),
                )
                wrong_changed, total = cursor.fetchone()
            reads = dependencies(group.condition).kinds
            among_changed = sum(
                1 for cid in wrong_changed or [] if "membership" in reads or changed_kinds.get(cid, set()) & reads
            )
            if among_changed:
                print(f"  DRIFT in {group.code}: {among_changed} changed contacts have the wrong condition membership")
            drift += among_changed
            window_moves += total - among_changed
        print(
            f"  verified {len(groups)} groups against their full rule sets in {time.perf_counter() - verified:.1f} s"
            f" ({window_moves} memberships moved across a relative window since the build or the last re-check)"
        )

        p50, p99 = percentile(delays, 50), percentile(delays, 99)
        met = p99 < GOAL_P99_S and not drift and status == 0
        print()
        print(f"{'changes':>8}{'made in s':>11}{'p50 s':>8}{'p99 s':>8}{'max s':>8}{'drift':>7}  goal")
        print(
            f"{len(delays):8,}{made_in:11.1f}{p50:8.2f}{p99:8.2f}{max(delays):8.2f}{drift:7}  "
            f"{'ok' if met else 'MISSED'} (p99 < {GOAL_P99_S:.0f} s, 0 drift)"
        )
        print("    kinds: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds_made.items())))
        result = {
            "changes": len(delays),
            "p50_s": f"{p50:.2f}",
            "p99_s": f"{p99:.2f}",
            "max_s": f"{max(delays):.2f}",
            "mean_s": f"{statistics.mean(delays):.2f}",
            "drift": drift,
            "window_moves": window_moves,
            "goal_met": "yes" if met else "NO",
        }
        if drift:
            status = 1
    finally:
        if worker is not None:
            process_stop(worker)
        if not args.keep_groups:
            ContactGroup.objects.filter(code__startswith=CODE_PREFIX).delete()
    print()
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))
    return status


if __name__ == "__main__":
    sys.exit(main())
