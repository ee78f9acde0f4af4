"""`python -m bench.recheck [--contacts N] [--groups G] [--runs R]`: re-check of one contact against 100 groups.

Creates G (default 100) condition-based groups with a varied mix of rules (contact fields, custom fields,
account fields, activities with counts and windows, "has not done", consents, memberships of other
bench groups, and AND/OR combinations), then times `segments.rechecks.contacts_recheck` for one contact
with every kind of change (end to end: choosing the affected groups, locking them, evaluating every
rule for that contact and writing its condition sources) — median of R/2 runs (R default 100) over
random unmerged contacts; the other half run under Django's query capture, untimed, for the statement
figures. Each contact's rows are read once, untimed, first (a warm cache for all three). Baselines,
same contact, same `now`, same run: G separate hand-written queries (one per group), and one combined
hand-written query (one boolean per group). After every run the contact's condition memberships are
compared with the baseline's verdicts; a difference exits 1 loudly.
The groups are deleted at the end (they are never rebuilt: a re-check does not need them built).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

from bench import require_postgresql, setup_django
from bench.preview import ensure_data, t

GOAL_MS = 10.0
CODE_PREFIX = "bench_rc_"
COUNTRIES = ["CZ", "DE", "US", "GB", "PL", "SK", "FR", "AT", "ES", "NL"]
PLANS = ["free", "starter", "pro", "enterprise"]
INTERESTS = ["analytics", "automation", "email", "sms", "social", "ecommerce"]
LANGUAGES = ["cs", "sk", "de", "en", "fr", "pl", "nl", "es"]
URLS = ["/pricing", "/features", "/blog", "/pricing", "/features/"]
EVENT_TYPES = ["email_open", "email_click", "form_submission", "purchase", "email_sent", "sms_sent"]
CONSENTS = ["newsletter", "sms", "product_updates"]


@dataclass
class Rule:
    node: dict[str, Any]
    sql: str  # a boolean SQL expression over contact alias c; %(now)s is the only parameter
    # The same for every contact at once (bench.nightly), where a per-contact form would be slow; None: `sql`.
    set_sql: str | None = None

    @property
    def bulk(self) -> str:
        return self.set_sql or self.sql


def q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def window(days: int) -> str:
    return f"a.occurred_at > %(now)s - interval '{days} days' AND a.occurred_at <= %(now)s"


def make_rules(count: int, rng: random.Random) -> list[Rule]:
    """`count` rules, the i-th of a kind chosen round-robin; membership rules refer to earlier groups (by index)."""

    def field_rule() -> Rule:
        x = rng.choice(COUNTRIES)
        return Rule({"type": "field", "field": "country", "operator": "equals", "value": x}, f"c.country = {q(x)}")

    def score_rule() -> Rule:
        n = rng.choice([10, 20, 30, 50, 70])
        return Rule({"type": "field", "field": "lead_score", "operator": "gte", "value": n}, f"c.lead_score >= {n}")

    def plan_rule() -> Rule:
        vals = rng.sample(PLANS, 2)
        return Rule(
            {"type": "field", "field": "custom.plan", "operator": "in", "value": vals},
            f"c.custom ->> 'plan' IN ({', '.join(map(q, vals))})",
        )

    def interests_rule() -> Rule:
        vals = rng.sample(INTERESTS, 2)
        return Rule(
            {"type": "field", "field": "custom.interests", "operator": "contains_any", "value": vals},
            f"coalesce(c.custom -> 'interests' ?| array[{', '.join(map(q, vals))}], false)",
        )

    def language_rule() -> Rule:
        x = rng.choice(LANGUAGES)
        return Rule(
            {"type": "field", "field": "custom.preferred_language", "operator": "equals", "value": x},
            f"coalesce(c.custom ->> 'preferred_language' = {q(x)}, false)",
        )

    def customer_rule() -> Rule:
        return Rule(
            {"type": "field", "field": "custom.is_customer", "operator": "is_true"},
            "coalesce(c.custom -> 'is_customer' = 'true'::jsonb, false)",
        )

    def budget_rule() -> Rule:
        n = rng.choice([1000, 5000, 20000])
        return Rule(
            {"type": "field", "field": "custom.annual_budget", "operator": "gte", "value": n},
            f"coalesce(CASE WHEN jsonb_typeof(c.custom -> 'annual_budget') = 'number' "
            f"THEN (c.custom ->> 'annual_budget')::numeric >= {n} END, false)",
        )

    def account_rule() -> Rule:
        x = rng.choice(COUNTRIES)
        return Rule(
            {"type": "field", "field": "account.country", "operator": "equals", "value": x},
            f"EXISTS (SELECT 1 FROM contacts_account ac WHERE ac.id = c.account_id AND ac.country = {q(x)})",
        )

    def visits_rule() -> Rule:
        url, k, days = rng.choice(URLS), rng.choice([1, 2, 3]), rng.choice([7, 30, 90])
        return Rule(
            {
                "type": "activity",
                "activity": "page_visit",
                "where": [{"field": "url", "operator": "contains", "value": url}],
                "count": {"operator": "gte", "value": k},
                "window": {"last_days": days},
            },
            f"""(SELECT count(*) FROM contacts_activity a WHERE a.contact_id = c.id AND a.type = 'page_visit'
                 AND a.url ILIKE {q("%" + url + "%").replace("%", "%%")} AND {window(days)}) >= {k}""",
            f"""c.id IN (SELECT a.contact_id FROM contacts_activity a WHERE a.type = 'page_visit'
                 AND a.url ILIKE {q("%" + url + "%").replace("%", "%%")} AND {window(days)}
                 GROUP BY a.contact_id HAVING count(*) >= {k})""",
        )

    def event_rule() -> Rule:
        kind, days = rng.choice(EVENT_TYPES), rng.choice([14, 30, 180])
        return Rule(
            {"type": "activity", "activity": kind, "window": {"last_days": days}},
            f"EXISTS (SELECT 1 FROM contacts_activity a WHERE a.contact_id = c.id AND a.type = {q(kind)} "
            f"AND {window(days)})",
        )

    def silent_rule() -> Rule:
        days = rng.choice([30, 90, 365])
        return Rule(
            {
                "type": "activity",
                "activity": "any",
                "count": {"operator": "eq", "value": 0},
                "window": {"last_days": days},
            },
            f"NOT EXISTS (SELECT 1 FROM contacts_activity a WHERE a.contact_id = c.id AND {window(days)})",
        )

    def consent_rule() -> Rule:
        code, agreed = rng.choice(CONSENTS), rng.random() < 0.6
        exists = (
            "EXISTS (SELECT 1 FROM contacts_contactconsent cc JOIN contacts_consent s ON s.id = cc.consent_id "
            f"WHERE cc.contact_id = c.id AND s.code = {q(code)} AND cc.revoked_at IS NULL)"
        )
        return Rule(
            {"type": "consent", "consent": code, "operator": "agreed" if agreed else "not_agreed"},
            exists if agreed else f"NOT {exists}",
        )

    simple = [
        field_rule,
        score_rule,
        plan_rule,
        interests_rule,
        language_rule,
        customer_rule,
        budget_rule,
        account_rule,
        visits_rule,
        event_rule,
        silent_rule,
        consent_rule,
    ]
    rules: list[Rule] = []
    for i in range(count):
        kind = i % 16
        if kind < len(simple):
            rules.append(simple[kind]())
        elif kind in (12, 13):  # AND / OR of two simple rules
            one, two = rng.choice(simple)(), rng.choice(simple)()
            op = "and" if kind == 12 else "or"
            rules.append(
                Rule(
                    {"type": "group", "combinator": op, "children": [one.node, two.node]},
                    f"(({one.sql}) {op.upper()} ({two.sql}))",
                    f"(({one.bulk}) {op.upper()} ({two.bulk}))",
                )
            )
        elif i >= 16:  # membership of an earlier group (its index; the code and id are filled in later)
            ref = rng.randrange(0, i - 1)
            other = rng.choice(simple)()
            rules.append(
                Rule(
                    {
                        "type": "group",
                        "combinator": "and",
                        "children": [{"type": "membership", "group": ref, "operator": "is_member"}, other.node],
                    },
                    f"(EXISTS (SELECT 1 FROM segments_membership m WHERE m.group_id = {{gid{ref}}} "
                    f"AND m.contact_id = c.id) AND ({other.sql}))",
                    f"(EXISTS (SELECT 1 FROM segments_membership m WHERE m.group_id = {{gid{ref}}} "
                    f"AND m.contact_id = c.id) AND ({other.bulk}))",
                )
            )
        else:
            rules.append(rng.choice(simple)())
    return rules


def resolve(rules: list[Rule], ids: list[int]) -> None:
    """Put the groups' codes into membership nodes and their ids into the SQL."""
    for rule in rules:
        for child in rule.node.get("children", []):
            if child["type"] == "membership" and isinstance(child["group"], int):
                ref = child["group"]
                child["group"] = f"{CODE_PREFIX}{ref:03d}"
                rule.sql = rule.sql.replace(f"{{gid{ref}}}", str(ids[ref]))
                if rule.set_sql:
                    rule.set_sql = rule.set_sql.replace(f"{{gid{ref}}}", str(ids[ref]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.recheck", description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, help="generate this many contacts first if the database has fewer")
    parser.add_argument("--groups", type=int, default=100, help="condition-based groups to create (default 100)")
    parser.add_argument(
        "--runs", type=int, default=100, help="runs, one random contact each, every other one timed (default 100)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed for the rules and the contacts")
    args = parser.parse_args(argv)
    setup_django()
    require_postgresql("bench.recheck")

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from segments import rechecks as recheck_module
    from segments.models import ContactGroup, Membership
    from segments.rechecks import ALL_KINDS, contacts_recheck
    from segments.services import group_create

    contacts, activities = ensure_data(args.contacts)
    rng = random.Random(args.seed)
    now = timezone.now()
    ContactGroup.objects.filter(code__startswith=CODE_PREFIX).delete()
    others = ContactGroup.objects.filter(is_condition_based=True).count()
    print(
        f"bench.recheck on {connection.settings_dict['NAME']}: {contacts:,} contacts, {activities:,} activities; "
        f"{args.groups} condition-based groups (+{others} others already there); "
        f"now={now:%Y-%m-%d %H:%M:%S %Z}; median of {args.runs // 2} timed runs over random contacts "
        "(every other run is captured for the statement figures, untimed)"
    )

    rules = make_rules(args.groups, rng)
    ids: list[int] = []
    status = 0
    result: dict[str, Any] = {}
    try:
        for i, rule in enumerate(rules):
            resolve(rules[: i + 1], ids)
            group = group_create(
                code=f"{CODE_PREFIX}{i:03d}",
                name=f"bench.recheck {i:03d}",
                is_condition_based=True,
                condition=t(rule.node),
                queue_rebuild=False,
            )
            ids.append(group.pk)
        resolve(rules, ids)
        flags_sql = ",\n".join(f"({r.sql})" for r in rules)
        combined = f"SELECT ARRAY[{flags_sql}] FROM contacts_contact c WHERE c.id = %(cid)s"
        separate = [f"SELECT ({r.sql}) FROM contacts_contact c WHERE c.id = %(cid)s" for r in rules]

        with connection.cursor() as cursor:
            cursor.execute("SELECT min(id), max(id) FROM contacts_contact")
            low, high = cursor.fetchone()
            cursor.execute(
                "SELECT id FROM contacts_contact WHERE merged_into_id IS NULL AND id = ANY(%s)",
                [[rng.randint(low, high) for _ in range(args.runs * 2 + 10)]],
            )
            pool = [row[0] for row in cursor.fetchall()]
        rng.shuffle(pool)
        picked = pool[: args.runs + 1]  # the first is the warm-up

        evaluating: list[float] = [0.0]  # time inside the verdict queries (segments.rechecks._verdicts)
        verdicts = recheck_module._verdicts

        def timed_verdicts(*a: Any, **k: Any) -> Any:
            started = time.perf_counter()
            try:
                return verdicts(*a, **k)
            finally:
                evaluating[0] += time.perf_counter() - started

        recheck_module._verdicts = timed_verdicts  # type: ignore[assignment]

        def orm(cid: int) -> float:
            evaluating[0] = 0.0
            started = time.perf_counter()
            contacts_recheck(kinds_by_contact={cid: set(ALL_KINDS)}, now=now)
            return (time.perf_counter() - started) * 1000

        def run_separate(cid: int) -> tuple[float, set[int]]:
            started = time.perf_counter()
            yes = set()
            with connection.cursor() as cursor:
                for gid, sql in zip(ids, separate, strict=True):
                    cursor.execute(sql, {"now": now, "cid": cid})
                    if cursor.fetchone()[0]:
                        yes.add(gid)
            return (time.perf_counter() - started) * 1000, yes

        def run_combined(cid: int) -> tuple[float, set[int]]:
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(combined, {"now": now, "cid": cid})
                flags = cursor.fetchone()[0]
            return (time.perf_counter() - started) * 1000, {gid for gid, flag in zip(ids, flags, strict=True) if flag}

        orm_ms: list[float] = []
        sep_ms: list[float] = []
        comb_ms: list[float] = []
        queries: list[int] = []
        eval_ms: list[float] = []  # of which evaluating the rules (the verdict queries, Python included)
        in_db: list[float] = []  # the re-check's time inside its SQL statements (as Django measures it)
        matched: list[int] = []
        for n, cid in enumerate(picked):
            # The contact's rows are read once, untimed, before the three timed runs: else whichever
            # runs first pays for reading them from disk and the others find them cached.
            run_combined(cid)
            # Every other run is captured for the statement figures and not timed: Django's debug cursor,
            # which captures, costs time per statement that the uncaptured baselines would not pay.
            counted = n % 2 == 0
            connection.queries_log.clear()  # CaptureQueriesContext counts nothing once the log is full
            if counted:
                with CaptureQueriesContext(connection) as captured:
                    ms = orm(cid)
            else:
                ms = orm(cid)
            members = set(
                Membership.objects.filter(contact_id=cid, group_id__in=ids, via_condition=True).values_list(
                    "group_id", flat=True
                )
            )
            s_ms, s_yes = run_separate(cid)
            c_ms, c_yes = run_combined(cid)
            if not members == s_yes == c_yes:
                print(
                    f"\nVERDICT MISMATCH for contact {cid}: only the re-check: {sorted(members - c_yes)}, "
                    f"only the baseline: {sorted(c_yes - members)}; separate ≠ combined: {s_yes != c_yes}"
                )
                for gid in sorted(members ^ c_yes):
                    print(f"  group {gid}: {rules[ids.index(gid)].node}")
                raise SystemExit(1)
            matched.append(len(members))
            if n == 0:
                continue  # warm-up
            if counted:
                queries.append(len(captured.captured_queries))
                in_db.append(sum(float(q["time"]) for q in captured.captured_queries) * 1000)
                continue
            orm_ms.append(ms)
            sep_ms.append(s_ms)
            comb_ms.append(c_ms)
            eval_ms.append(evaluating[0] * 1000)

        orm_med, sep_med, comb_med = (statistics.median(x) for x in (orm_ms, sep_ms, comb_ms))
        p90 = statistics.quantiles(orm_ms, n=10)[-1] if len(orm_ms) > 1 else orm_med
        met = orm_med < GOAL_MS
        print()
        print(f"{'re-check of one contact, all kinds changed':<52}{'median ms':>10}{'p90 ms':>8}{'queries':>9}  goal")
        print(
            f"{'segments.rechecks.contacts_recheck (end to end)':<52}{orm_med:10.1f}{p90:8.1f}"
            f"{statistics.median(queries):9.0f}  {'ok' if met else 'MISSED'} (<{GOAL_MS:.0f} ms)"
        )
        print(
            f"{f'baseline: {len(rules)} separate hand-written queries':<52}{statistics.median(sep_ms):10.1f}"
            f"{statistics.quantiles(sep_ms, n=10)[-1] if len(sep_ms) > 1 else sep_med:8.1f}{len(rules):9}"
        )
        print(
            f"{'baseline: one combined hand-written query':<52}{comb_med:10.1f}"
            f"{statistics.quantiles(comb_ms, n=10)[-1] if len(comb_ms) > 1 else comb_med:8.1f}{1:9}"
        )
        print(
            f"    of the re-check's {orm_med:.1f} ms, {statistics.median(in_db):.1f} ms (median) are spent executing "
            f"its {statistics.median(queries):.0f} statements; the rest is Python (parsing, compiling, ORM)"
        )
        print(
            f"    evaluating the rules (one query per dependency level, Python included) takes "
            f"{statistics.median(eval_ms):.1f} ms of it; the rest is choosing and locking the groups, reading "
            f"and writing memberships and counts, and the commit"
        )
        print(
            f"    groups matched per contact: median {statistics.median(matched):.0f}, max {max(matched)}; "
            f"verdicts equal the baselines' for all {len(picked)} contacts"
        )
        result = {
            "recheck_ms": f"{orm_med:.1f}",
            "recheck_p90_ms": f"{p90:.1f}",
            "separate_ms": f"{sep_med:.1f}",
            "combined_ms": f"{comb_med:.1f}",
            "ratio_separate": f"{orm_med / sep_med:.2f}",
            "ratio_combined": f"{orm_med / comb_med:.2f}",
            "queries": f"{statistics.median(queries):.0f}",
            "sql_ms": f"{statistics.median(in_db):.1f}",
            "evaluate_ms": f"{statistics.median(eval_ms):.1f}",
            "groups": len(rules),
            "goal_met": "yes" if met else "NO",
            "verdicts_equal": "yes",
        }
    except SystemExit as exc:
        status = int(exc.code or 1)
        result = {"verdicts_equal": "NO"}
    finally:
        ContactGroup.objects.filter(code__startswith=CODE_PREFIX).delete()
    print()
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))
    return status


if __name__ == "__main__":
    sys.exit(main())
