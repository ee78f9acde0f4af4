"""`python -m bench.rebuild [--contacts N] [--runs R] [--explain]`: group rebuilds against expert SQL.

For three reference groups — (a) country is CZ, (b) /pricing visited ≥ 3 times in 30 days, (c) member of
(a) and ((b) or lead score ≥ 50) and plan in (pro, enterprise) — times `segments.rebuilds.group_rebuild`
(end to end: lock, compile, DELETE of leavers, INSERT … SELECT of joiners, member count, status) against
the same membership written by hand-written SQL into a second group, in the same run and with the same
`now`:

- first build (empty group): baseline is one `INSERT … SELECT`;
- re-build after about 2 % of contacts changed (country, lead score, new /pricing visits; set-based
  UPDATE/INSERT): baseline writes only the difference, one DELETE of leavers and one INSERT of joiners
  (NOT EXISTS anti-joins) in one transaction.

Every baseline also writes the membership history (one event per joiner and leaver, in the same
statement: a data-modifying CTE), as the product does. Two baselines:
- "SQL": into the product's own tables (`segments_membership`, `segments_membershipevent`);
- "lean": the physical limit, into the leanest tables that answer the same questions — memberships keyed
  (group_id, contact_id) with one (contact_id, group_id) index, events with no surrogate key and only
  the (group_id, at) and (contact_id, at) indexes; no foreign keys, no triggers. Goals: the product
  within 1.5× of "SQL", and within 2× (first build) / 1.5× (re-build) of "lean".

After every timed run both groups' member sets are compared in the database (EXCEPT both ways); any
difference exits 1 loudly. Medians of --runs (default 3). The data changes are undone at the end (and
at the start, if a previous run was interrupted); the benchmark's groups are deleted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench import Medians, execute, require_postgresql, setup_django
from bench.preview import CZ, PRICING, ensure_data, explain, t

RATIO_GOAL = 1.5
LEAN_GOALS = {"first build": 2.0, "re-build": 1.5}
LEAN_MEMBERS = "bench_lean_membership"
LEAN_EVENTS = "bench_lean_event"
CODE_PREFIX = "bench_rb_"
CHANGE_PERCENT = 2
MARKER = "bench-rebuild"  # Activity.title of the visits this benchmark inserts (deleted at the end)
UNDO_TABLE = "bench_rebuild_undo"

MEMBER_INSERT = (
    "INSERT INTO segments_membership (group_id, contact_id, via_manual, via_account, via_condition, added_at) "
)


@dataclass
class Case:
    key: str
    label: str
    tree: dict[str, Any]
    ids_sql: str  # hand-written SQL selecting the matching contact ids as "id"; %(ref)s = group (a) of the side


PRICING_IDS = """
    SELECT a.contact_id FROM contacts_activity a
    WHERE a.type = 'page_visit' AND a.occurred_at > %(since_30)s AND a.occurred_at <= %(now)s
      AND a.url ILIKE '%%/pricing%%'
    GROUP BY a.contact_id HAVING count(*) >= 3
"""


def cases(prefix: str) -> list[Case]:
    def nested(ref_code: str) -> dict[str, Any]:
        return t(
            {
                "type": "group",
                "combinator": "and",
                "children": [
                    {"type": "membership", "group": ref_code, "operator": "is_member"},
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
        )

    return [
        Case(
            "a",
            "country is CZ",
            t(CZ),
            "SELECT c.id FROM contacts_contact c WHERE c.merged_into_id IS NULL AND c.country = 'CZ'",
        ),
        Case(
            "b",
            "visited /pricing ≥ 3 times in the last 30 days",
            t(PRICING),
            f"SELECT c.id FROM contacts_contact c WHERE c.merged_into_id IS NULL AND c.id IN ({PRICING_IDS})",
        ),
        Case(
            "c",
            "member of (a) and ((b) or lead score ≥ 50) and plan in (pro, enterprise)",
            nested(f"{prefix}a_orm"),
            f"""SELECT c.id FROM contacts_contact c
                WHERE c.merged_into_id IS NULL AND c.custom ->> 'plan' IN ('pro', 'enterprise')
                  AND EXISTS (SELECT 1 FROM segments_membership m WHERE m.group_id = %(ref)s AND m.contact_id = c.id)
                  AND (c.lead_score >= 50 OR c.id IN ({PRICING_IDS}))""",
        ),
    ]


ENTERED, LEFT, CONDITION, REBUILD = 1, 2, 3, 1  # segments.models EventKind / Source / Cause values


def with_events(sql: str, kind: int) -> str:
    """`sql` (changing condition memberships) and the history rows of what it changed, in one statement."""
    return (
        f"WITH changed AS ({sql} RETURNING group_id, contact_id) "
        "INSERT INTO segments_membershipevent (group_id, contact_id, source, kind, cause, actor_id, at) "
        f"SELECT group_id, contact_id, {CONDITION}, {kind}, {REBUILD}, NULL, %(now)s FROM changed"
    )


def first_build_sql(case: Case) -> str:
    return with_events(
        MEMBER_INSERT + f"SELECT %(gid)s, r.id, false, false, true, %(now)s FROM ({case.ids_sql}) r", ENTERED
    )


def diff_sqls(case: Case) -> list[str]:
    """The expert re-build of a condition-only group: delete the leavers, insert the joiners."""
    leavers = f"""DELETE FROM segments_membership m WHERE m.group_id = %(gid)s
                  AND NOT EXISTS (SELECT 1 FROM ({case.ids_sql}) r WHERE r.id = m.contact_id)"""
    joiners = (
        MEMBER_INSERT
        + f"""SELECT %(gid)s, r.id, false, false, true, %(now)s FROM ({case.ids_sql}) r
        WHERE NOT EXISTS (SELECT 1 FROM segments_membership m WHERE m.group_id = %(gid)s AND m.contact_id = r.id)"""
    )
    return [with_events(leavers, LEFT), with_events(joiners, ENTERED)]


def lean(sql: str) -> str:
    """The same statement on the lean tables (the physical limit)."""
    return sql.replace("segments_membershipevent", LEAN_EVENTS).replace("segments_membership", LEAN_MEMBERS)


def create_lean_tables() -> None:
    execute(f"DROP TABLE IF EXISTS {LEAN_MEMBERS}, {LEAN_EVENTS}")
    execute(f"""CREATE TABLE {LEAN_MEMBERS} (group_id integer NOT NULL, contact_id bigint NOT NULL,
                via_manual boolean NOT NULL, via_account boolean NOT NULL, via_condition boolean NOT NULL,
                added_at timestamptz NOT NULL, PRIMARY KEY (group_id, contact_id))""")
    execute(f"CREATE INDEX {LEAN_MEMBERS}_contact ON {LEAN_MEMBERS} (contact_id, group_id)")
    execute(f"""CREATE TABLE {LEAN_EVENTS} (group_id integer NOT NULL, contact_id bigint NOT NULL,
                source smallint NOT NULL, kind smallint NOT NULL, cause smallint NOT NULL, actor_id integer,
                at timestamptz NOT NULL)""")
    execute(f"CREATE INDEX {LEAN_EVENTS}_group ON {LEAN_EVENTS} (group_id, at)")
    execute(f"CREATE INDEX {LEAN_EVENTS}_contact ON {LEAN_EVENTS} (contact_id, at)")


@dataclass
class Outcome(Medians):
    case: Case
    phase: str
    orm_ms: list[float] = field(default_factory=list)
    sql_ms: list[float] = field(default_factory=list)
    lean_ms: list[float] = field(default_factory=list)
    members: int = 0
    added: int = 0
    removed: int = 0
    timed_out: str = ""  # the ORM statement that hit the statement timeout
    queries: str = ""  # the ORM's SQL of its last run

    @property
    def lean(self) -> float:
        return statistics.median(self.lean_ms) if self.lean_ms else float("nan")

    @property
    def lean_ratio(self) -> float:
        return self.orm / self.lean if self.lean_ms and self.lean else float("inf")

    @property
    def goal_met(self) -> bool:
        return self.ratio <= RATIO_GOAL and not self.timed_out

    @property
    def lean_goal_met(self) -> bool:
        return self.lean_ratio <= LEAN_GOALS[self.phase] and not self.timed_out

    def row(self) -> str:
        orm = f"{self.orm:9.1f}" if not self.timed_out else f"{'>' + format(self.orm / 1000, '.0f') + ' s':>9}"
        return (
            f"({self.case.key}) {self.case.label[:48]:<49}{self.phase:<13}{orm}{self.base:9.1f}{self.ratio:7.2f}"
            f"{self.lean:9.1f}{self.lean_ratio:7.2f}{self.members:10,}{self.added:9,}{self.removed:9,}  "
            f"{'ok' if self.goal_met else 'MISSED'} (≤{RATIO_GOAL}×) "
            f"{'ok' if self.lean_goal_met else 'MISSED'} (≤{LEAN_GOALS[self.phase]}× lean)"
        )


HEADER = (
    f"{'group':<53}{'phase':<13}{'ORM ms':>9}{'SQL ms':>9}{'ratio':>7}{'lean ms':>9}{'ratio':>7}"
    f"{'members':>10}{'added':>9}{'removed':>9}  goals"
)


def scalar(sql: str, params: Any = None) -> Any:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def marked_contacts() -> list[int]:
    """The contacts holding visits this benchmark inserted (their daily roll-up is rebuilt with them)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT contact_id FROM contacts_activity WHERE type = 'page_visit' AND title = %s", [MARKER]
        )
        return [row[0] for row in cursor.fetchall()]


def undo_changes() -> None:
    """Put back what an earlier (possibly interrupted) run changed: contact columns and inserted visits."""
    from django.db import transaction

    with transaction.atomic():
        execute(f"""CREATE TABLE IF NOT EXISTS {UNDO_TABLE} (id bigint PRIMARY KEY, country varchar(2),
                    lead_score integer, last_activity_at timestamptz, updated_at timestamptz)""")
        execute(f"""UPDATE contacts_contact c SET country = u.country, lead_score = u.lead_score,
                    last_activity_at = u.last_activity_at, updated_at = u.updated_at
                    FROM {UNDO_TABLE} u WHERE u.id = c.id""")
        visited = marked_contacts()
        execute("DELETE FROM contacts_activity WHERE type = 'page_visit' AND title = %s", [MARKER])
        activity_days_rebuild(contact_ids=visited)  # the product's daily roll-up follows the raw rows
        execute(f"TRUNCATE {UNDO_TABLE}")


def activity_days_rebuild(*, contact_ids: list[int]) -> None:
    from contacts.services import activity_days_rebuild as rebuild

    rebuild(contact_ids=contact_ids)


def change_data(*, run: int, now: dt.datetime) -> int:
    """Change about CHANGE_PERCENT % of contacts, set-based; every change can move a reference group.

    A third get another country (half of them to or from CZ), a third a new lead score (across 50), a
    third three new /pricing visits in the last week. Originals go to the undo table first.
    """
    from django.db import transaction

    pick = f"(hashint8extended(c.id, {900 + run}) & 1048575) %% 1000 < {CHANGE_PERCENT * 10}"
    part = f"(hashint8extended(c.id, {950 + run}) & 1048575) %% 3"
    with transaction.atomic():
        execute(
            f"""INSERT INTO {UNDO_TABLE} SELECT c.id, c.country, c.lead_score, c.last_activity_at, c.updated_at
                    FROM contacts_contact c WHERE c.merged_into_id IS NULL AND {pick}
                    ON CONFLICT (id) DO NOTHING""",
            {"now": now},
        )
        n = execute(
            f"""UPDATE contacts_contact c SET updated_at = %(now)s,
            country = CASE WHEN {part} = 0 THEN (CASE WHEN c.country = 'CZ' THEN 'SK' ELSE 'CZ' END) ELSE c.country END,
            lead_score = CASE WHEN {part} = 1 THEN (CASE WHEN c.lead_score >= 50 THEN 10 ELSE 75 END)
                              ELSE c.lead_score END,
            last_activity_at = CASE WHEN {part} = 2 THEN %(now)s - interval '1 hour' ELSE c.last_activity_at END
            WHERE c.merged_into_id IS NULL AND {pick}""",
            {"now": now},
        )
        execute(
            f"""INSERT INTO contacts_activity (contact_id, type, occurred_at, url, title, data)
            SELECT c.id, 'page_visit', %(now)s - make_interval(days => k, hours => 1), '/pricing', %(marker)s, '{{}}'
            FROM contacts_contact c CROSS JOIN generate_series(1, 3) k
            WHERE c.merged_into_id IS NULL AND {pick} AND {part} = 2""",
            {"now": now, "marker": MARKER},
        )
        activity_days_rebuild(contact_ids=marked_contacts())
    execute("ANALYZE contacts_contact")
    execute("ANALYZE contacts_activity")
    # TRICKY: right after a first build the statistics say a new group has ~1 member, and both the
    # product's and the baseline's `NOT EXISTS (rule)` DELETE become a nested loop re-running the rule's
    # aggregate once per member (the /pricing group's baseline ran for minutes). Fresh statistics, as
    # autovacuum would give a live database.
    execute("ANALYZE segments_membership")
    return n


def differences(orm_gid: int, sql_gid: int) -> tuple[int, int]:
    """(ORM members not in the baseline's, baseline members not in the ORM's), counted in the database."""
    one = "SELECT contact_id FROM segments_membership WHERE group_id = %s AND via_condition"
    return (
        scalar(f"SELECT count(*) FROM ({one} EXCEPT {one}) d", [orm_gid, sql_gid]),
        scalar(f"SELECT count(*) FROM ({one} EXCEPT {one}) d", [sql_gid, orm_gid]),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rebuild", description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, help="generate this many contacts first if the database has fewer")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per build (default 3)")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of every baseline")
    parser.add_argument("--timeout", type=float, default=120, help="statement timeout in seconds (default 120)")
    parser.add_argument("--only", help="comma-separated keys to run, e.g. a,c ((c) needs (a): it is built anyway)")
    args = parser.parse_args(argv)
    setup_django()
    require_postgresql("bench.rebuild")

    from django.db import OperationalError, connection, transaction
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from segments.models import ContactGroup
    from segments.rebuilds import group_rebuild
    from segments.services import group_create

    contacts, activities = ensure_data(args.contacts)
    now = timezone.now()
    params: dict[str, Any] = {"now": now, "since_30": now - dt.timedelta(days=30)}
    print(
        f"bench.rebuild on {connection.settings_dict['NAME']}: {contacts:,} contacts, {activities:,} activities; "
        f"now={now:%Y-%m-%d %H:%M:%S %Z}; median of {args.runs} runs"
    )
    undo_changes()
    ContactGroup.objects.filter(code__startswith=CODE_PREFIX).delete()

    all_cases = cases(CODE_PREFIX)
    groups: dict[str, tuple[Any, Any]] = {}
    for case in all_cases:
        made = []
        for side in ("orm", "sql"):
            tree = case.tree if side == "orm" else t(CZ)  # the baseline group's condition is never evaluated
            made.append(
                group_create(
                    code=f"{CODE_PREFIX}{case.key}_{side}",
                    name=f"bench.rebuild ({case.key}) {side}",
                    is_condition_based=True,
                    condition=tree,
                    queue_rebuild=False,
                )
            )
        groups[case.key] = (made[0], made[1])
    params["ref"] = groups["a"][1].pk  # the baseline of (c) reads the baseline's (a)
    # TRICKY: a live membership table is never empty. Freshly vacuumed to 0 pages, PostgreSQL plans the
    # INSERT … WHERE NOT EXISTS (same table) as a nested loop over a seq scan of the growing table:
    # quadratic (minutes for 300k rows). Other groups' members ("ballast", 10 % of contacts) avoid that.
    ballast = group_create(code=f"{CODE_PREFIX}ballast", name="bench.rebuild ballast", queue_rebuild=False)
    create_lean_tables()
    for insert in (MEMBER_INSERT, lean(MEMBER_INSERT)):
        execute(
            insert + "SELECT %(gid)s, c.id, true, false, false, %(now)s FROM contacts_contact c "
            "WHERE c.merged_into_id IS NULL AND c.id %% 10 = 0",
            {"gid": ballast.pk, "now": now},
        )
    execute("ANALYZE segments_membership")
    execute(f"ANALYZE {LEAN_MEMBERS}")

    def run_orm(o: Outcome, group: Any) -> None:
        """Time the product's rebuild; after a statement timeout, later runs of this build are skipped."""
        if o.timed_out:
            return
        with CaptureQueriesContext(connection) as captured:
            execute(f"SET statement_timeout = {int(args.timeout * 1000)}")  # a bad plan fails, never hangs
            started = time.perf_counter()
            try:
                rebuilt = group_rebuild(group=group, now=now)
            except OperationalError as exc:
                if "statement timeout" not in str(exc):
                    raise
                o.orm_ms.append(args.timeout * 1000.0)
                statements = [
                    q["sql"]
                    for q in captured.captured_queries
                    if q["sql"].split(" ", 1)[0] in ("SELECT", "INSERT", "UPDATE", "DELETE")
                ]
                o.timed_out = statements[-1]
                execute("SET statement_timeout = 0")
                print(f"  ({o.case.key}) {o.phase}: the ORM's rebuild hit the {args.timeout} s statement timeout")
                return
            o.orm_ms.append((time.perf_counter() - started) * 1000)
            execute("SET statement_timeout = 0")
        o.members, o.added, o.removed = rebuilt.member_count, rebuilt.added, rebuilt.removed
        o.queries = "\n".join(q["sql"] for q in captured.captured_queries)

    def copy_baseline(case: Case) -> None:
        """Give the ORM's group the baseline's members (after a timed-out ORM rebuild rolled back)."""
        orm_g, sql_g = groups[case.key]
        with transaction.atomic():
            execute("DELETE FROM segments_membership WHERE group_id = %s", [orm_g.pk])
            execute(
                MEMBER_INSERT + "SELECT %(orm)s, contact_id, false, false, true, %(now)s "
                "FROM segments_membership WHERE group_id = %(sql)s",
                {"orm": orm_g.pk, "sql": sql_g.pk, "now": now},
            )

    def run_sql(sqls: list[str], gid: int) -> float:
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            for sql in sqls:
                cursor.execute(sql, {**params, "gid": gid})
        return (time.perf_counter() - started) * 1000

    def check(case: Case, phase: str, o: Outcome) -> None:
        if o.timed_out:
            copy_baseline(case)
            return
        orm_g, sql_g = groups[case.key]
        extra, missing = differences(orm_g.pk, sql_g.pk)
        if extra or missing:
            print(
                f"\nMEMBERSHIP MISMATCH in ({case.key}) {case.label}, {phase}: "
                f"{extra:,} only in the ORM's group, {missing:,} only in the baseline's"
            )
            raise SystemExit(1)
        mine = "SELECT contact_id FROM segments_membership WHERE group_id = %s"
        other = f"SELECT contact_id FROM {LEAN_MEMBERS} WHERE group_id = %s"
        lean_diff = scalar(
            f"SELECT count(*) FROM (({mine} EXCEPT {other}) UNION ALL ({other} EXCEPT {mine})) d",
            [sql_g.pk, sql_g.pk, sql_g.pk, sql_g.pk],
        )
        events = "SELECT count(*) FROM {} WHERE group_id = %s"
        counts = (
            scalar(events.format("segments_membershipevent"), [orm_g.pk]),
            scalar(events.format("segments_membershipevent"), [sql_g.pk]),
            scalar(events.format(LEAN_EVENTS), [sql_g.pk]),
        )
        if lean_diff or len(set(counts)) != 1:
            print(
                f"\nMISMATCH in ({case.key}) {case.label}, {phase}: lean members differ by {lean_diff:,}; "
                f"history rows (ORM, SQL, lean) = {counts}"
            )
            raise SystemExit(1)

    def reset(case: Case) -> None:
        for g in groups[case.key]:
            execute("DELETE FROM segments_membership WHERE group_id = %s", [g.pk])
        execute(f"DELETE FROM {LEAN_MEMBERS} WHERE group_id = %s", [groups[case.key][1].pk])
        for g in groups[case.key]:
            execute("DELETE FROM segments_membershipevent WHERE group_id = %s", [g.pk])
        execute(f"DELETE FROM {LEAN_EVENTS} WHERE group_id = %s", [groups[case.key][1].pk])
        execute("ANALYZE segments_membership")  # no VACUUM: see "ballast" above
        execute(f"ANALYZE {LEAN_MEMBERS}")

    def sql_gid(o: Outcome) -> int:
        return groups[o.case.key][1].pk

    selected = [c for c in all_cases if not args.only or c.key in args.only.split(",") or c.key == "a"]
    outcomes: list[Outcome] = []
    status = 0
    print()
    print(HEADER, flush=True)
    try:
        # First build: both groups emptied before every run; order alternates.
        for case in selected:
            o = Outcome(case, "first build")
            orm_g, sql_g = groups[case.key]
            for run in range(args.runs):
                reset(case)
                for side in ("orm", "sql", "lean") if run % 2 == 0 else ("lean", "sql", "orm"):
                    if side == "orm":
                        run_orm(o, orm_g)
                    elif side == "sql":
                        o.sql_ms.append(run_sql([first_build_sql(case)], sql_g.pk))
                    else:
                        o.lean_ms.append(run_sql([lean(first_build_sql(case))], sql_g.pk))
                check(case, "first build", o)
            outcomes.append(o)
            print(o.row(), flush=True)
        # Re-build: every run changes another ~2 % of contacts (groups are up to date before it).
        rebuilds = {case.key: Outcome(case, "re-build") for case in selected}
        for run in range(args.runs):
            changed = change_data(run=run, now=now)
            print(f"  run {run + 1}: changed {changed:,} contacts", flush=True)
            for case in selected:  # (a) first: (c) reads its members
                o = rebuilds[case.key]
                orm_g, sql_g = groups[case.key]
                for side in ("orm", "sql", "lean") if run % 2 == 0 else ("lean", "sql", "orm"):
                    if side == "orm":
                        run_orm(o, orm_g)
                    elif side == "sql":
                        o.sql_ms.append(run_sql(diff_sqls(case), sql_g.pk))
                    else:
                        o.lean_ms.append(run_sql([lean(sql) for sql in diff_sqls(case)], sql_g.pk))
                check(case, f"re-build {run + 1}", o)
        outcomes += rebuilds.values()
        for o in rebuilds.values():
            print(o.row())

        print()
        print(HEADER)
        for o in outcomes:
            print(o.row())
        print("    added/removed: the ORM's last run; members sets equal the baseline's after every completed run;")
        print("    '>N s': the ORM's rebuild hit the statement timeout (later runs of that build skipped)")
        for o in outcomes:
            if args.explain or not o.goal_met:
                if o.timed_out:
                    print(f"\n--- ({o.case.key}) {o.phase}: EXPLAIN of the ORM statement that timed out ---")
                    print(o.timed_out)
                    print(explain_plain(o.timed_out))
                else:
                    print(f"\n--- ({o.case.key}) {o.phase}: the ORM's queries (last run) ---")
                    print(o.queries)
                print(f"--- ({o.case.key}) {o.phase}: EXPLAIN ANALYZE of the baseline (rolled back) ---")
                for sql in [first_build_sql(o.case)] if o.phase == "first build" else diff_sqls(o.case):
                    try:
                        with transaction.atomic():
                            if o.phase == "first build":  # as it ran: into an empty group
                                execute("DELETE FROM segments_membership WHERE group_id = %s", [sql_gid(o)])
                            print(explain(sql, {**params, "gid": sql_gid(o)}))
                            raise _Rollback
                    except _Rollback:
                        pass

        result: dict[str, Any] = {}
        for o in outcomes:
            k = f"{o.case.key}_{'first' if o.phase == 'first build' else 'rebuild'}"
            orm_ms = f"{o.orm:.1f}" if not o.timed_out else f">{o.orm:.0f}"
            result.update(
                {
                    f"{k}_ms": orm_ms,
                    f"{k}_sql_ms": f"{o.base:.1f}",
                    f"{k}_ratio": f"{o.ratio:.2f}",
                    f"{k}_lean_ms": f"{o.lean:.1f}",
                    f"{k}_lean_ratio": f"{o.lean_ratio:.2f}",
                }
            )
        for key in ("a", "b", "c"):
            match = [o for o in outcomes if o.case.key == key]
            if match:
                result[f"{key}_members"] = match[-1].members
        result["goals_met"] = f"{sum(o.goal_met for o in outcomes)}/{len(outcomes)}"
        result["lean_goals_met"] = f"{sum(o.lean_goal_met for o in outcomes)}/{len(outcomes)}"
        result["members_equal"] = "yes"
    except SystemExit as exc:
        status = int(exc.code or 1)
        result = {"members_equal": "NO"}
    finally:
        undo_changes()
        ContactGroup.objects.filter(code__startswith=CODE_PREFIX).delete()
        execute(f"DROP TABLE IF EXISTS {LEAN_MEMBERS}, {LEAN_EVENTS}")
    print()
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))
    return status


class _Rollback(Exception):
    pass


def explain_plain(sql: str) -> str:
    """EXPLAIN without ANALYZE (the statement is too slow to run)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


if __name__ == "__main__":
    sys.exit(main())
