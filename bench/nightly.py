"""`python -m bench.nightly [--contacts N] [--groups G]`: the nightly rebuild of many groups at once.

Creates G (default 100) condition-based groups with scheduled rebuild on — the rule mix of
bench.recheck and bench.freshness (contact, custom and account fields, activities with counts and
windows, "has not done", consents, AND/OR, memberships of earlier groups in up to a few dependency
levels) — and times `segments.rebuilds.groups_rebuild_scheduled()` (what the nightly task runs: every
group, dependencies first, with its history rows):

- first build: every group empty;
- nightly re-build: after about 2 % of contacts changed (bench.rebuild's changes: country, lead score,
  new /pricing visits).

Baseline, same run, same `now`: the leanest hand-written SQL per group (each rule's set-based SQL from
bench.recheck), writing the same memberships and history rows into lean tables (memberships keyed
(group_id, contact_id), no foreign keys; bench.rebuild's "lean"), one group after another on one
connection. After each phase every group's members are compared with the baseline's (EXCEPT both
ways); a difference exits 1. Goal: the nightly rebuild of 100 groups under 3 minutes. The data changes
are undone and the groups deleted at the end.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from typing import Any

from bench import execute, require_postgresql, setup_django
from bench.preview import ensure_data, t
from bench.rebuild import (
    ENTERED,
    LEAN_EVENTS,
    LEAN_MEMBERS,
    LEFT,
    MEMBER_INSERT,
    change_data,
    create_lean_tables,
    lean,
    scalar,
    undo_changes,
    with_events,
)
from bench.recheck import CODE_PREFIX as RECHECK_PREFIX
from bench.recheck import make_rules, resolve

GOAL_S = 180.0
CODE_PREFIX = "bench_nt_"


def lean_build(*, gid: int, rule_sql: str, first: bool) -> list[str]:
    """The hand-written rebuild of one group on the lean tables: leavers out, joiners in, with history."""
    ids = f"SELECT c.id FROM contacts_contact c WHERE c.merged_into_id IS NULL AND ({lean(rule_sql)})"
    joiners = MEMBER_INSERT + f"SELECT {gid}, r.id, false, false, true, %(now)s FROM ({ids}) r"
    if first:
        return [lean(with_events(joiners, ENTERED))]
    leavers = f"""DELETE FROM segments_membership m WHERE m.group_id = {gid}
                  AND NOT EXISTS (SELECT 1 FROM ({ids}) r WHERE r.id = m.contact_id)"""
    joiners += (
        f" WHERE NOT EXISTS (SELECT 1 FROM segments_membership m WHERE m.group_id = {gid} AND m.contact_id = r.id)"
    )
    return [lean(with_events(leavers, LEFT)), lean(with_events(joiners, ENTERED))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.nightly", description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, help="generate this many contacts first if the database has fewer")
    parser.add_argument("--groups", type=int, default=100, help="condition-based groups (default 100)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-baseline", action="store_true", help="time only the product")
    parser.add_argument(
        "--skip-first-baseline",
        action="store_true",
        help="no timed baseline first build: the lean tables get a copy of the product's members",
    )
    args = parser.parse_args(argv)
    setup_django()
    require_postgresql("bench.nightly")

    from django.conf import settings
    from django.db import connection, transaction
    from django.utils import timezone

    from segments.models import ContactGroup
    from segments.rebuilds import groups_rebuild_scheduled
    from segments.services import group_create

    contacts, activities = ensure_data(args.contacts)
    now = timezone.now()
    print(
        f"bench.nightly on {connection.settings_dict['NAME']}: {contacts:,} contacts, {activities:,} activities; "
        f"{args.groups} groups; {settings.REBUILD_CONNECTIONS} rebuild connection(s); now={now:%Y-%m-%d %H:%M %Z}"
    )
    undo_changes()
    ContactGroup.objects.filter(code__startswith=CODE_PREFIX).delete()
    rng = random.Random(args.seed)
    rules = make_rules(args.groups, rng)
    ids: list[int] = []
    groups = []
    for i, rule in enumerate(rules):
        resolve(rules[: i + 1], ids)
        for child in rule.node.get("children", []):
            if child["type"] == "membership":
                child["group"] = child["group"].replace(RECHECK_PREFIX, CODE_PREFIX)
        group = group_create(
            code=f"{CODE_PREFIX}{i:03d}",
            name=f"bench.nightly {i:03d}",
            is_condition_based=True,
            condition=t(rule.node),
            scheduled_rebuild=True,
            queue_rebuild=False,
        )
        ids.append(group.pk)
        groups.append(group)
    # Only this benchmark's groups are scheduled while it runs.
    others = list(
        ContactGroup.objects.filter(scheduled_rebuild=True)
        .exclude(code__startswith=CODE_PREFIX)
        .values_list("pk", flat=True)
    )
    ContactGroup.objects.filter(pk__in=others).update(scheduled_rebuild=False)
    create_lean_tables()
    params = {"now": now}

    def run_product() -> float:
        started = time.perf_counter()
        results = groups_rebuild_scheduled(now=now)
        failed = [r for r in results if not r["ok"]]
        if failed:
            raise SystemExit(f"rebuilds failed: {failed[:3]}")
        return time.perf_counter() - started

    def run_baseline(first: bool) -> float:
        started = time.perf_counter()
        for group, rule in zip(groups, rules, strict=True):  # created in dependency order
            with transaction.atomic():
                for sql in lean_build(gid=group.pk, rule_sql=rule.bulk, first=first):
                    execute(sql, params)
        return time.perf_counter() - started

    def compare(phase: str) -> None:
        wrong = 0
        for group in groups:
            mine = "SELECT contact_id FROM segments_membership WHERE group_id = %s"
            other = f"SELECT contact_id FROM {LEAN_MEMBERS} WHERE group_id = %s"
            diff = scalar(
                f"SELECT count(*) FROM (({mine} EXCEPT {other}) UNION ALL ({other} EXCEPT {mine})) d", [group.pk] * 4
            )
            if diff:
                wrong += 1
                print(f"  MISMATCH after {phase}: {group.code} differs from the baseline in {diff:,} contacts")
        if wrong:
            raise SystemExit(1)

    result: dict[str, Any] = {}
    status = 0
    try:
        rows = []
        for phase, first in (("first build", True), ("nightly re-build", False)):
            if not first:
                changed = change_data(run=0, now=now)
                execute("ANALYZE segments_membership")
                print(f"  changed {changed:,} contacts", flush=True)
            product = run_product()
            print(f"  {phase}: product {product:.1f} s", flush=True)
            base = float("nan")
            if first and args.skip_first_baseline and not args.skip_baseline:
                execute(
                    f"INSERT INTO {LEAN_MEMBERS} SELECT group_id, contact_id, via_manual, via_account, "
                    "via_condition, added_at FROM segments_membership WHERE group_id = ANY(%(ids)s)",
                    {"ids": ids},
                )
                execute(f"ANALYZE {LEAN_MEMBERS}")
            elif not args.skip_baseline:
                base = run_baseline(first)
                print(f"  {phase}: lean hand-written baseline {base:.1f} s", flush=True)
                compare(phase)
            rows.append((phase, product, base))
            key = "first" if first else "nightly"
            result.update(
                {f"{key}_s": f"{product:.1f}", f"{key}_lean_s": f"{base:.1f}", f"{key}_ratio": f"{product / base:.2f}"}
            )
        members = scalar("SELECT sum(member_count) FROM segments_contactgroup WHERE code LIKE %s", [CODE_PREFIX + "%"])
        print()
        print(f"{'phase':<20}{'product s':>11}{'lean s':>9}{'ratio':>7}  goal (< {GOAL_S:.0f} s)")
        for phase, product, base in rows:
            goal = "" if phase == "first build" else ("ok" if product < GOAL_S else "MISSED")
            print(f"{phase:<20}{product:>11.1f}{base:>9.1f}{product / base:>7.2f}  {goal}")
        print(
            f"    {len(groups)} groups, {members:,} memberships in all; members equal the baseline's: "
            f"{'not checked' if args.skip_baseline else 'yes'}"
        )
        result["groups"] = len(groups)
        result["memberships"] = members
        result["goal_met"] = "yes" if rows[-1][1] < GOAL_S else "no"
    except SystemExit as exc:
        status = int(exc.code) if isinstance(exc.code, int) else 1
        if not isinstance(exc.code, int):
            print(exc.code)
        result = {"members_equal": "NO"}
    finally:
        undo_changes()
        ContactGroup.objects.filter(code__startswith=CODE_PREFIX).delete()
        ContactGroup.objects.filter(pk__in=others).update(scheduled_rebuild=True)
        execute(f"DROP TABLE IF EXISTS {LEAN_MEMBERS}, {LEAN_EVENTS}")
    print()
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))
    return status


if __name__ == "__main__":
    sys.exit(main())
