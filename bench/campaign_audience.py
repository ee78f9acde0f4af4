"""`python -m bench.campaign_audience [--contacts N] [--runs R]`: a campaign's audience at 1M contacts.

Builds four static groups on the generated data with one `INSERT … SELECT` each (Customers ≈ 50 %,
CZ ≈ 30 %, VIP ≈ 5 %, Churned ≈ 10 % of the unmerged contacts, by a hash of the id), opts ≈ 2 % of
the contacts out of email, then `VACUUM ANALYZE` (as autovacuum would). A campaign includes Customers
and CZ, excludes Churned and requires the `newsletter` consent, with a variant for CZ and an A/B split 50/30/20.

Times (medians of --runs): the audience panel's breakdown (one grouped query:
`campaigns.selectors.audience_breakdown`), the audience count, the overlap of the four groups
(`group_overlap`, one query), who gets what (`audience_split`: variant × A/B arm), both in one pass
(`audience_report`, the Audience tab), the sample and the three preview contacts. Baseline, same run:
the breakdown as one hand-written SQL statement; its counts must equal the selector's (exit 1
otherwise) and the ratio is printed. Everything made (groups, campaign,
the run's opt-outs) is deleted at the end.
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

PREFIX = "bench_ca_"
GROUPS = {  # code suffix → share of unmerged contacts (hash bucket of 1024, or a country)
    "customers": "(hashint8extended(c.id, 91) & 1023) < 512",
    "cz": "c.country = 'CZ'",
    "vip": "(hashint8extended(c.id, 92) & 1023) < 51",
    "churned": "(hashint8extended(c.id, 93) & 1023) < 102",
}

BASELINE = """
SELECT CASE
         WHEN EXISTS (SELECT 1 FROM segments_membership m WHERE m.contact_id = c.id AND m.group_id = %(churned)s)
           THEN 'group'
         WHEN c.email IS NULL OR c.email = '' THEN 'no_address'
         WHEN EXISTS (SELECT 1 FROM campaigns_unsubscribe u WHERE u.contact_id = c.id AND u.channel = 'email')
           OR EXISTS (SELECT 1 FROM campaigns_unsubscribe u JOIN contacts_contact k ON k.id = u.contact_id
                      WHERE k.merged_into_id = c.id AND u.channel = 'email') THEN 'unsubscribed'
         WHEN NOT EXISTS (SELECT 1 FROM contacts_contactconsent cc WHERE cc.contact_id = c.id
                          AND cc.consent_id = %(consent)s AND cc.revoked_at IS NULL) THEN 'no_consent'
         ELSE 'ok' END AS reason, count(*)
FROM contacts_contact c
WHERE c.merged_into_id IS NULL
  AND EXISTS (SELECT 1 FROM segments_membership m WHERE m.contact_id = c.id AND m.group_id IN (%(customers)s, %(cz)s))
GROUP BY 1
"""


def _time(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def audience_setup() -> tuple[Any, dict[str, Any], Any]:
    """The four groups, the campaign (include Customers and CZ, exclude Churned, newsletter, a variant for CZ,
    A/B 50/30/20) and the run's opt-outs, then VACUUM ANALYZE; returns (campaign, groups by suffix, consent)."""
    from campaigns import services
    from campaigns.models import Campaign, Channel
    from contacts.models import Consent
    from segments.models import ContactGroup

    Campaign.objects.filter(name__startswith=PREFIX).delete()  # first: a campaign protects its groups
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
    consent = Consent.objects.get(code="newsletter")
    campaign = services.campaign_create(
        name=PREFIX + "campaign",
        channel=Channel.EMAIL,
        include=[groups["customers"], groups["cz"]],
        exclude=[groups["churned"]],
        required_consent=consent,
        subject="Hi {{ first_name }}",
        body="<p>Hello {{ first_name|default:'there' }}</p>",
    )
    services.variant_save(campaign=campaign, group=groups["cz"], priority=1, subject="Ahoj {{ first_name }}")
    services.split_set(
        campaign=campaign,
        arms=[services.ArmInput(percent=50), services.ArmInput(percent=30), services.ArmInput(percent=20)],
    )
    # the run's opt-outs name its campaign, so only they are removed at the end
    execute(
        "INSERT INTO campaigns_unsubscribe (contact_id, channel, unsubscribed_at, campaign_id) "
        "SELECT c.id, 'email', now(), %s FROM contacts_contact c WHERE (hashint8extended(c.id, 94) & 1023) < 20 "
        "ON CONFLICT DO NOTHING",
        [campaign.pk],
    )
    for table in ("segments_membership", "campaigns_unsubscribe"):  # as autovacuum would: index-only scans work
        execute(f"VACUUM ANALYZE {table}")
    return campaign, groups, consent


def audience_teardown(campaign: Any) -> None:
    """Delete what audience_setup made."""
    from campaigns.models import Unsubscribe
    from segments.models import ContactGroup

    Unsubscribe.objects.filter(campaign=campaign).delete()
    campaign.delete()
    ContactGroup.objects.filter(code__startswith=PREFIX).delete()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.campaign_audience", description=__doc__)
    parser.add_argument("--contacts", type=int, help="generate this many contacts first if there are fewer")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    setup_django()
    require_postgresql("bench.campaign_audience")
    total, _ = ensure_data(args.contacts)

    from django.db import connection

    from campaigns import selectors

    campaign, groups, consent = audience_setup()
    spec = selectors.audience_spec(campaign=campaign)
    rows: list[tuple[str, float, str]] = []
    try:
        ms, breakdown = _time(lambda: selectors.audience_breakdown(spec=spec), args.runs)
        rows.append(("breakdown (panel)", ms, f"audience {breakdown.audience:,} of {breakdown.candidates:,}"))

        def baseline() -> dict[str, int]:
            with connection.cursor() as cursor:
                cursor.execute(
                    BASELINE,
                    {"churned": groups["churned"].pk, "consent": consent.pk, "customers": groups["customers"].pk,
                     "cz": groups["cz"].pk},
                )  # fmt: skip
                return dict(cursor.fetchall())

        base_ms, base = _time(baseline, args.runs)
        rows.append(("breakdown, hand-written SQL", base_ms, ""))
        mine = {r.key.split(":")[0]: r.count for r in breakdown.reasons if r.count}
        mine["ok"] = breakdown.audience
        if mine != {k: v for k, v in base.items() if v}:
            print(f"MISMATCH: selector {mine} != baseline {base}", file=sys.stderr)
            sys.exit(1)
        ms, count = _time(lambda: selectors.audience_contacts(spec=spec).count(), args.runs)
        rows.append(("audience count", ms, f"{count:,}"))
        ms, overlap = _time(lambda: selectors.group_overlap(group_ids=[g.pk for g in groups.values()]), args.runs)
        rows.append(("overlap of 4 groups", ms, f"{len(overlap.regions)} regions, {overlap.total:,} contacts"))
        ms, cells = _time(lambda: selectors.audience_split(campaign=campaign), args.runs)
        rows.append(("who gets what (variant × arm)", ms, f"{len(cells)} cells"))
        ms, _ = _time(lambda: selectors.audience_report(campaign=campaign), args.runs)
        rows.append(("audience tab: breakdown + split", ms, "one pass (audience_report)"))
        ms, _ = _time(lambda: selectors.audience_sample(campaign=campaign), args.runs)
        rows.append(("sample of 10", ms, ""))
        ms, _ = _time(lambda: selectors.preview_contacts(campaign=campaign), args.runs)
        rows.append(("three preview contacts", ms, ""))
    finally:
        audience_teardown(campaign)
    print(f"{total:,} contacts; medians of {args.runs} runs\n")
    print(f"{'what':<34}{'ms':>10}  detail")
    for label, ms, detail in rows:
        print(f"{label:<34}{ms:>10.1f}  {detail}")
    ratio = rows[0][1] / rows[1][1] if rows[1][1] else float("inf")
    print(f"\nbreakdown / hand-written SQL: {ratio:.2f}")
    print(
        f"RESULT contacts={total} breakdown_ms={rows[0][1]:.0f} baseline_ms={rows[1][1]:.0f} ratio={ratio:.2f} "
        f"count_ms={rows[2][1]:.0f} overlap_ms={rows[3][1]:.0f} split_ms={rows[4][1]:.0f} "
        f"report_ms={rows[5][1]:.0f} sample_ms={rows[6][1]:.0f} preview_ms={rows[7][1]:.0f}"
    )


if __name__ == "__main__":
    main()
