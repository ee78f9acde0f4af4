"""`python -m bench.preview [--contacts N] [--runs R] [--explain]`: rule engine counts against expert SQL.

For five reference trees, times `segments.rules.matching_contacts(tree, now=now).count()` (the ORM, end to
end: compiling the tree included) against the best hand-written SQL for the same count, in the same run
and with the same `now`. Checks the counts are equal (exit 1 if not), takes the median of several runs,
prints a table and, last, `RESULT name=value …`. Goals: every tree within 1.5× of its baseline, and
(c) "no activity in the last 365 days" under 150 ms; and, as the builder's live count, every tree under
500 ms ("live", at 3M contacts). For (b) and (d) a second baseline sums the daily roll-up
(contacts_activityday) with the same hand-written leanness ("roll-up SQL"). EXPLAIN ANALYZE of the
queries is printed for every tree that misses a ratio goal (or for all with --explain).

With --contacts N, generates the data first (bench.generate) when the database holds fewer contacts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import Medians, require_postgresql, setup_django

RATIO_GOAL = 1.5
C_GOAL_MS = 150.0
LIVE_MS = 500.0  # the builder's live count: every tree under this at 3M contacts (issue 15)
INTERESTS = ["analytics", "automation"]


def t(root: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "root": root}


CZ = {"type": "field", "field": "country", "operator": "equals", "value": "CZ"}
PRICING = {
    "type": "activity",
    "activity": "page_visit",
    "where": [{"field": "url", "operator": "contains", "value": "/pricing"}],
    "count": {"operator": "gte", "value": 3},
    "window": {"last_days": 30},
}

# Expert SQL. Parameters: now, since_30 (now - 30×24 h), since_365 (now - 365×24 h), interests.
PRICING_IDS = """
    SELECT a.contact_id FROM contacts_activity a
    WHERE a.type = 'page_visit' AND a.occurred_at > %(since_30)s AND a.occurred_at <= %(now)s
      AND a.url ILIKE '%%/pricing%%'
    GROUP BY a.contact_id HAVING count(*) >= 3
"""


# The same set over the daily roll-up (contacts_activityday), as lean as hand-written SQL can be: whole UTC
# days summed from it, the partial first and last day counted from the activities. Parameters besides
# the above: first_day / last_day (the whole UTC days) and first_midnight / last_midnight (where they
# start and end).
PRICING_ROLLUP_IDS = """
    SELECT u.contact_id FROM (
        SELECT d.contact_id, d.n FROM contacts_activityday d
        WHERE d.type = 'page_visit' AND d.day >= %(first_day)s AND d.day <= %(last_day)s
          AND d.url_id IN (SELECT id FROM contacts_activityurl WHERE url ILIKE '%%/pricing%%')
        UNION ALL
        SELECT a.contact_id, 1 FROM contacts_activity a
        WHERE a.type = 'page_visit' AND a.occurred_at > %(since_30)s AND a.occurred_at < %(first_midnight)s
          AND a.url ILIKE '%%/pricing%%'
        UNION ALL
        SELECT a.contact_id, 1 FROM contacts_activity a
        WHERE a.type = 'page_visit' AND a.occurred_at >= %(last_midnight)s AND a.occurred_at <= %(now)s
          AND a.url ILIKE '%%/pricing%%'
    ) u GROUP BY u.contact_id HAVING sum(u.n) >= 3
"""


@dataclass
class Case:
    key: str
    label: str
    tree: dict[str, Any]
    sql: str
    rollup_sql: str | None = None  # a second baseline, over the daily roll-up


CASES = [
    Case(
        "a",
        "country is CZ",
        t(CZ),
        "SELECT count(*) FROM contacts_contact c WHERE c.merged_into_id IS NULL AND c.country = 'CZ'",
    ),
    Case(
        "b",
        "visited /pricing ≥ 3 times in the last 30 days",
        t(PRICING),
        f"SELECT count(*) FROM contacts_contact c WHERE c.merged_into_id IS NULL AND c.id IN ({PRICING_IDS})",
        f"SELECT count(*) FROM contacts_contact c WHERE c.merged_into_id IS NULL AND c.id IN ({PRICING_ROLLUP_IDS})",
    ),
    Case(
        "c",
        "no activity at all in the last 365 days",
        t(
            {
                "type": "activity",
                "activity": "any",
                "count": {"operator": "eq", "value": 0},
                "window": {"last_days": 365},
            }
        ),
        """SELECT count(*) FROM contacts_contact c WHERE c.merged_into_id IS NULL AND NOT EXISTS (
               SELECT 1 FROM contacts_activity a
               WHERE a.contact_id = c.id AND a.occurred_at > %(since_365)s AND a.occurred_at <= %(now)s)""",
    ),
    Case(
        "d",
        "CZ and ((b) or lead score ≥ 50) and plan in (pro, enterprise)",
        t(
            {
                "type": "group",
                "combinator": "and",
                "children": [
                    CZ,
                    {
                        "type": "group",
                        "combinator": "or",
                        "children": [
                            PRICING,
                            {"type": "field", "field": "lead_score", "operator": "gte", "value": 50},
                        ],
                    },
                    {"type": "field", "field": "custom.plan", "operator": "in", "value": ["pro", "enterprise"]},
                ],
            }
        ),
        f"""SELECT count(*) FROM contacts_contact c
            WHERE c.merged_into_id IS NULL AND c.country = 'CZ' AND c.custom ->> 'plan' IN ('pro', 'enterprise')
              AND (c.lead_score >= 50 OR c.id IN ({PRICING_IDS}))""",
        f"""SELECT count(*) FROM contacts_contact c
            WHERE c.merged_into_id IS NULL AND c.country = 'CZ' AND c.custom ->> 'plan' IN ('pro', 'enterprise')
              AND (c.lead_score >= 50 OR c.id IN ({PRICING_ROLLUP_IDS}))""",
    ),
    Case(
        "e",
        f"interests contain any of ({', '.join(INTERESTS)})",
        t({"type": "field", "field": "custom.interests", "operator": "contains_any", "value": INTERESTS}),
        """SELECT count(*) FROM contacts_contact c
           WHERE c.merged_into_id IS NULL AND c.custom -> 'interests' ?| %(interests)s""",
    ),
]

# Not a goal, for context: (c) answered from the maintained newest activity time, by hand: the contact row's copy
# (contact_inactive_idx) minus the contacts whose rise, not folded yet, is later (contacts.services.last_activity).
C_DENORMALISED_SQL = """SELECT count(*) FROM contacts_contact c WHERE c.merged_into_id IS NULL
    AND coalesce(c.last_activity_at, '0001-01-01 00:00:00+00') <= %(since_365)s
    AND NOT EXISTS (SELECT 1 FROM contacts_activityrise r WHERE r.contact_id = c.id AND r.at > %(since_365)s)"""


@dataclass
class Outcome(Medians):
    case: Case
    orm_ms: list[float] = field(default_factory=list)
    sql_ms: list[float] = field(default_factory=list)
    rollup_ms: list[float] = field(default_factory=list)
    orm_count: int | None = None
    sql_count: int | None = None
    rollup_count: int | None = None
    orm_sql: str = ""

    @property
    def rollup(self) -> float | None:
        return statistics.median(self.rollup_ms) if self.rollup_ms else None

    @property
    def live(self) -> bool:
        return self.orm < LIVE_MS

    @property
    def goal_met(self) -> bool:
        if self.case.key == "c":
            return self.orm < C_GOAL_MS and self.ratio <= RATIO_GOAL
        return self.ratio <= RATIO_GOAL


def timed_ms(func: Callable[[], int]) -> tuple[float, int]:
    started = time.perf_counter()
    value = func()
    return (time.perf_counter() - started) * 1000, value


def ensure_data(contacts: int | None) -> tuple[int, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('contacts_contact') IS NOT NULL")
        exists = cursor.fetchone()[0]
        have = 0
        if exists:
            cursor.execute("SELECT count(*) FROM contacts_contact")
            have = cursor.fetchone()[0]
    if contacts is not None and have < contacts:
        print(f"The database holds {have:,} contacts, fewer than {contacts:,}: generating them first.\n")
        from bench.generate import generate, parse_now

        generate(contacts=contacts, accounts=max(1, contacts // 20), now=parse_now(None))
        print()
        connection.close()
        have = contacts
    if have == 0:
        sys.exit("No contacts here: run `python -m bench.generate` first, or pass --contacts N.")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM contacts_activity")
        activities = cursor.fetchone()[0]
    return have, activities


def explain(sql: str, params: dict[str, Any] | None) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.preview", description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, help="generate this many contacts first if the database has fewer")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per query after one warm-up (default 5)")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE for every tree")
    parser.add_argument("--only", help="comma-separated tree keys to run, e.g. b,d")
    args = parser.parse_args(argv)
    setup_django()
    require_postgresql("bench.preview")

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    contacts, activities = ensure_data(args.contacts)
    try:
        from segments.rules import matching_contacts
    except ImportError as exc:
        sys.exit(f"The rule engine is not available (segments.rules.matching_contacts): {exc}")

    now = timezone.now()
    since_30 = now - dt.timedelta(days=30)
    first_day = since_30.astimezone(dt.UTC).date() + dt.timedelta(days=1)
    last_day = now.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    params = {
        "now": now,
        "since_30": since_30,
        "since_365": now - dt.timedelta(days=365),
        "interests": INTERESTS,
        "first_day": first_day,
        "last_day": last_day,
        "first_midnight": dt.datetime.combine(first_day, dt.time(), tzinfo=dt.UTC),
        "last_midnight": dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC),
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(occurred_at) FROM contacts_activity")
        newest = cursor.fetchone()[0]
    print(
        f"bench.preview on {connection.settings_dict['NAME']}: {contacts:,} contacts, {activities:,} activities; "
        f"now={now:%Y-%m-%d %H:%M:%S %Z}; median of {args.runs} runs after a warm-up"
    )
    if newest is not None and now - newest > dt.timedelta(days=3):
        print(f"  note: the newest activity is from {newest:%Y-%m-%d}; regenerate for fresh 'last N days' counts")

    def run_sql(sql: str) -> Callable[[], int]:
        def execute() -> int:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return int(cursor.fetchone()[0])

        return execute

    cases = [c for c in CASES if not args.only or c.key in args.only.split(",")]
    outcomes = []
    for case in cases:
        outcome = Outcome(case)

        def orm(case: Case = case) -> int:
            return matching_contacts(case.tree, now=now).count()

        with CaptureQueriesContext(connection) as captured:
            _, outcome.orm_count = timed_ms(orm)  # warm-up, and the SQL the ORM sends
        outcome.orm_sql = captured.captured_queries[-1]["sql"] if captured.captured_queries else ""
        _, outcome.sql_count = timed_ms(run_sql(case.sql))
        contenders = [(outcome.orm_ms, orm), (outcome.sql_ms, run_sql(case.sql))]
        if case.rollup_sql is not None:
            _, outcome.rollup_count = timed_ms(run_sql(case.rollup_sql))
            contenders.append((outcome.rollup_ms, run_sql(case.rollup_sql)))
        for run in range(args.runs):  # interleaved, alternating who goes first
            for sink, func in contenders if run % 2 == 0 else reversed(contenders):
                ms, _ = timed_ms(func)
                sink.append(ms)
        outcomes.append(outcome)
    c_denormalised = [timed_ms(run_sql(C_DENORMALISED_SQL))[0] for _ in range(args.runs)]

    print()
    print(f"{'tree':<68}{'ORM ms':>9}{'SQL ms':>9}{'ratio':>7}{'roll-up SQL':>12}{'count':>11}  goal")
    for o in outcomes:
        goal = f"≤{RATIO_GOAL}×" + (f", <{C_GOAL_MS:.0f} ms" if o.case.key == "c" else "")
        rollup = f"{o.rollup:12.1f}" if o.rollup is not None else f"{'':12}"
        print(
            f"({o.case.key}) {o.case.label:<64}{o.orm:9.1f}{o.base:9.1f}{o.ratio:7.2f}{rollup}{o.orm_count:11,}  "
            f"{'ok' if o.goal_met else 'MISSED'} ({goal}); {'live' if o.live else 'NOT live'} (<{LIVE_MS:.0f} ms)"
        )
    print(f"    (c) in SQL from the newest activity time (column + rises), for context: "
          f"{statistics.median(c_denormalised):.1f} ms")  # fmt: skip

    mismatched = [o for o in outcomes if o.orm_count != o.sql_count or o.rollup_count not in (None, o.sql_count)]
    for o in mismatched:
        print(
            f"\nCOUNT MISMATCH in ({o.case.key}) {o.case.label}: ORM {o.orm_count:,} ≠ SQL {o.sql_count:,}"
            f" (roll-up SQL {o.rollup_count})"
        )
        print(f"ORM SQL: {o.orm_sql}")
    for o in outcomes:
        if args.explain or not o.goal_met:
            print(f"\n--- ({o.case.key}) {o.case.label}: EXPLAIN ANALYZE of the ORM query ---")
            print(o.orm_sql)
            print(explain(o.orm_sql, None) if o.orm_sql else "(no query captured)")  # no params: % is literal
            print(f"--- ({o.case.key}) baseline ---")
            print(explain(o.case.sql, params))
            if o.case.rollup_sql is not None:
                print(f"--- ({o.case.key}) baseline over the roll-up ---")
                print(explain(o.case.rollup_sql, params))

    result: dict[str, Any] = {}
    for o in outcomes:
        k = o.case.key
        result.update(
            {
                f"{k}_ms": f"{o.orm:.1f}",
                f"{k}_sql_ms": f"{o.base:.1f}",
                f"{k}_ratio": f"{o.ratio:.2f}",
                f"{k}_count": o.orm_count,
            }
        )
        if o.rollup is not None:
            result[f"{k}_rollup_sql_ms"] = f"{o.rollup:.1f}"
    result["goals_met"] = f"{sum(o.goal_met for o in outcomes)}/{len(outcomes)}"
    result["live"] = f"{sum(o.live for o in outcomes)}/{len(outcomes)}"
    result["counts_equal"] = "yes" if not mismatched else "NO"
    print()
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))
    return 1 if mismatched else 0


if __name__ == "__main__":
    sys.exit(main())
