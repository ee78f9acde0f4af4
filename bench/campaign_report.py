"""`python -m bench.campaign_report [--contacts N] [--runs R] [--explain]`: a sent campaign's report at 1M contacts.

On the generated data: two static groups (Customers ≈ 50 % by a hash of the id, CZ by country) built with one
`INSERT … SELECT` each; a campaign including both, with a variant for CZ and a 50/50 A/B split, frozen by
`campaigns.sending.freeze_audience` (timed: it also records each delivery's included groups) and marked sent
(≈ 1 % failed); then, set-based, ≈ 40 % of the recipients open (a tenth of them twice) and ≈ 10 % click one of
four links (a fifth of those without a recorded open), over 7 days after the send; `VACUUM ANALYZE`.

Times (medians of --runs): the report (`campaign_report`: totals, by group, by variant, by arm — one statement
over the deliveries), the timeline, the top links, the first and a deep page of "who clicked", the whole
"who clicked" CSV (streamed through transfers' writer), and the group tab's row for this campaign. Baseline,
same run: the totals as one hand-written SQL statement; they must equal the report's (exit 1 otherwise) and the
ratio is printed. `--explain` prints EXPLAIN (ANALYZE, BUFFERS) of the report's statement. Everything made
(groups, campaign, its deliveries and activities) is deleted at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import execute, require_postgresql, setup_django
from bench.preview import ensure_data

PREFIX = "bench_cr_"
GROUPS = {
    "customers": "(hashint8extended(c.id, 91) & 1023) < 512",
    "cz": "c.country = 'CZ'",
}
LINKS = ["https://shop.example/sale", "https://shop.example/pricing", "https://shop.example/blog", "https://x.example/"]

BASELINE = """
WITH per AS (
  SELECT contact_id, count(*) FILTER (WHERE type = 'email_open') AS opens,
         count(*) FILTER (WHERE type = 'email_click') AS clicks
  FROM contacts_activity WHERE campaign_id = %(c)s AND type IN ('email_open', 'email_click') GROUP BY contact_id
)
SELECT count(*), count(*) FILTER (WHERE d.status = 'sent'), count(*) FILTER (WHERE d.status = 'failed'),
       count(p.contact_id), count(*) FILTER (WHERE p.opens > 0), count(*) FILTER (WHERE p.clicks > 0),
       coalesce(sum(p.opens), 0), coalesce(sum(p.clicks), 0)
FROM campaigns_delivery d LEFT JOIN per p ON p.contact_id = d.contact_id
WHERE d.campaign_id = %(c)s
"""


def _time(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def _events(campaign_id: int, sent_at: Any) -> None:
    """Opens and clicks of the recipients, set-based (hash of the contact id decides who does what)."""
    links = "ARRAY[" + ", ".join(f"'{u}'" for u in LINKS) + "]"
    execute(
        "INSERT INTO contacts_activity (contact_id, type, occurred_at, url, title, campaign_id, data) "
        "SELECT d.contact_id, 'email_open', %(at)s + make_interval(secs => (hashint8extended(d.contact_id, 201) "
        "& 65535) * 9.0 + n * 3600), '', '', %(c)s, '{}'::jsonb "
        "FROM campaigns_delivery d CROSS JOIN generate_series(0, 1) n "
        "WHERE d.campaign_id = %(c)s AND d.status = 'sent' AND (hashint8extended(d.contact_id, 202) & 1023) < 410 "
        "AND (n = 0 OR (hashint8extended(d.contact_id, 203) & 1023) < 100)",
        {"c": campaign_id, "at": sent_at},
    )
    execute(
        "INSERT INTO contacts_activity (contact_id, type, occurred_at, url, title, campaign_id, data) "
        f"SELECT d.contact_id, 'email_click', %(at)s + make_interval(secs => (hashint8extended(d.contact_id, 201) "
        f"& 65535) * 9.0 + 60), ({links})[1 + (hashint8extended(d.contact_id, 204) & 3)], '', %(c)s, '{{}}'::jsonb "
        "FROM campaigns_delivery d WHERE d.campaign_id = %(c)s AND d.status = 'sent' AND ("
        "((hashint8extended(d.contact_id, 202) & 1023) < 410 AND (hashint8extended(d.contact_id, 205) & 1023) < 200)"
        " OR ((hashint8extended(d.contact_id, 202) & 1023) >= 410 AND (hashint8extended(d.contact_id, 205) & 1023)"
        " < 34))",
        {"c": campaign_id, "at": sent_at},
    )


def _freeze_select_ms(campaign: Any, *, with_groups: bool) -> float:
    """Execution time of the freeze's SELECT (EXPLAIN ANALYZE), with or without the included-groups bit set."""
    import re

    from django.db import connection
    from django.db.models import F

    from campaigns.selectors.audience import assigned_audience, audience_spec, included_groups_expression

    rows = assigned_audience(campaign=campaign).order_by().annotate(_contact=F("pk"), _email=F("email"))
    names = ["_contact", "_email", "variant_id", "arm"]
    if with_groups:
        rows = rows.annotate(_groups=included_groups_expression(include=audience_spec(campaign=campaign).include))
        names.append("_groups")
    sql, params = rows.values_list(*names).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE) " + sql, params)
        plan = "\n".join(r[0] for r in cursor.fetchall())
    return float(re.search(r"Execution Time: ([0-9.]+) ms", plan).group(1))  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.campaign_report", description=__doc__)
    parser.add_argument("--contacts", type=int, help="generate this many contacts first if there are fewer")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the report's statement")
    args = parser.parse_args()
    setup_django()
    require_postgresql("bench.campaign_report")
    total, _ = ensure_data(args.contacts)

    from django.db import connection
    from django.utils import timezone

    from campaigns import services
    from campaigns.models import Campaign, Channel, Delivery
    from campaigns.selectors.clicks import clickers_page, clicks_export_rows
    from campaigns.selectors.group_report import group_campaign_stats
    from campaigns.selectors.report import campaign_links, campaign_report, campaign_timeline
    from campaigns.sending import freeze_audience
    from contacts.models import Activity
    from segments.models import ContactGroup
    from transfers.exports.writers import csv_chunks

    Campaign.objects.filter(name__startswith=PREFIX).delete()
    ContactGroup.objects.filter(code__startswith=PREFIX).delete()
    groups = {}
    for suffix, where in GROUPS.items():
        group = ContactGroup.objects.create(code=PREFIX + suffix, name=f"{PREFIX}{suffix}")
        execute(
            "INSERT INTO segments_membership (group_id, contact_id, via_manual, via_account, via_condition, added_at) "
            "SELECT %s, c.id, true, false, false, now() FROM contacts_contact c "
            f"WHERE c.merged_into_id IS NULL AND {where}",
            [group.pk],
        )
        groups[suffix] = group
    execute("VACUUM ANALYZE segments_membership")
    campaign = services.campaign_create(
        name=PREFIX + "campaign",
        channel=Channel.EMAIL,
        include=[groups["customers"], groups["cz"]],
        subject="Hi {{ first_name }}",
        body="<p>Hello</p>",
    )
    services.variant_save(campaign=campaign, group=groups["cz"], priority=1, subject="Ahoj")
    services.split_set(campaign=campaign, arms=[services.ArmInput(percent=50), services.ArmInput(percent=50)])
    rows: list[tuple[str, float, str]] = []
    try:
        for with_groups in (False, True):  # what recording the included groups adds to the freeze's SELECT
            ms = _freeze_select_ms(campaign, with_groups=with_groups)
            label = f"freeze SELECT {'with' if with_groups else 'without'} included groups"
            rows.append((label, ms, "EXPLAIN ANALYZE"))
        start = time.perf_counter()
        recipients = freeze_audience(campaign=campaign)
        rows.append(("freeze (with included groups)", (time.perf_counter() - start) * 1000, f"{recipients:,}"))
        sent_at = timezone.now() - timezone.timedelta(days=8)
        execute(
            "UPDATE campaigns_delivery SET status = CASE WHEN (hashint8extended(contact_id, 200) & 1023) < 10 "
            "THEN 'failed' ELSE 'sent' END, sent_at = %s WHERE campaign_id = %s",
            [sent_at, campaign.pk],
        )
        Campaign.objects.filter(pk=campaign.pk).update(status="sent", send_started_at=sent_at, sent_at=sent_at)
        campaign.refresh_from_db()
        _events(campaign.pk, sent_at)
        for table in ("campaigns_delivery", "contacts_activity"):
            execute(f"VACUUM ANALYZE {table}")

        ms, report = _time(lambda: campaign_report(campaign=campaign), args.runs)
        t = report.total
        rows.append(("report (totals, groups, variants, arms)", ms, f"opened {t.opened:,}, clicked {t.clicked:,}"))

        def baseline() -> tuple[int, ...]:
            with connection.cursor() as cursor:
                cursor.execute(BASELINE, {"c": campaign.pk})
                return tuple(cursor.fetchone())

        base_ms, base = _time(baseline, args.runs)
        rows.append(("totals, hand-written SQL", base_ms, ""))
        mine = (t.audience, t.sent, t.failed, t.opened, t.opened_seen, t.clicked, t.opens, t.clicks)
        if mine != base:
            print(f"MISMATCH: report {mine} != baseline {base}", file=sys.stderr)
            sys.exit(1)
        ms, timeline = _time(lambda: campaign_timeline(campaign=campaign), args.runs)
        rows.append(("timeline (hourly 48 h, daily)", ms, f"{len(timeline.hourly)} h + {len(timeline.daily)} days"))
        ms, links = _time(lambda: campaign_links(campaign=campaign), args.runs)
        rows.append(("top links", ms, f"{len(links)} links"))
        ms, (page, _) = _time(lambda: clickers_page(campaign=campaign, page=1), args.runs)
        rows.append(("who clicked, page 1 (count + page + links)", ms, f"{page.paginator.count:,} clicked"))
        deep = max(1, page.paginator.num_pages // 2)
        ms, _ = _time(lambda: clickers_page(campaign=campaign, page=deep), args.runs)
        rows.append((f"who clicked, page {deep}", ms, ""))

        def export() -> int:
            return sum(len(chunk) for chunk in csv_chunks(header=["x"], batches=clicks_export_rows(campaign=campaign)))

        ms, size = _time(export, 1)
        rows.append(("who clicked CSV, whole file", ms, f"{size / 1e6:.1f} MB"))
        ms, _ = _time(lambda: group_campaign_stats(group=groups["cz"], campaigns=[campaign]), args.runs)
        rows.append(("group tab row (CZ in this campaign)", ms, ""))
        if args.explain:
            captured: list[tuple[str, Any]] = []

            def capture(run: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
                captured.append((sql, params))
                return run(sql, params, many, context)

            with connection.execute_wrapper(capture):
                campaign_report(campaign=campaign)
            sql, params = max(captured, key=lambda item: len(item[0]))  # the one statement over the deliveries
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                print("\n".join(r[0] for r in cursor.fetchall()), "\n")
    finally:
        Activity.objects.filter(campaign=campaign).delete()
        Delivery.objects.filter(campaign=campaign).delete()
        campaign.delete()
        ContactGroup.objects.filter(code__startswith=PREFIX).delete()
    rows = rows[2:] + rows[:2]  # the freeze SELECTs last in the table
    print(f"{total:,} contacts, {recipients:,} recipients; medians of {args.runs} runs\n")
    print(f"{'what':<44}{'ms':>10}  detail")
    for label, ms, detail in rows:
        print(f"{label:<44}{ms:>10.1f}  {detail}")
    ratio = rows[1][1] / rows[2][1] if rows[2][1] else float("inf")
    print(f"\nreport / hand-written totals: {ratio:.2f}")
    print(
        f"RESULT contacts={total} recipients={recipients} freeze_ms={rows[0][1]:.0f} report_ms={rows[1][1]:.0f} "
        f"baseline_ms={rows[2][1]:.0f} ratio={ratio:.2f} timeline_ms={rows[3][1]:.0f} links_ms={rows[4][1]:.0f} "
        f"clickers_ms={rows[5][1]:.0f} deep_page_ms={rows[6][1]:.0f} export_ms={rows[7][1]:.0f} "
        f"group_row_ms={rows[8][1]:.0f} freeze_select_ms={rows[9][1]:.0f} freeze_select_groups_ms={rows[10][1]:.0f}"
    )


if __name__ == "__main__":
    main()
