"""Sample contact groups for the demo (registered with contacts.demo's extension point).

Idempotent: groups are created by code when missing and left alone when present; their by-hand and
account members are (re)added when the contacts were just generated; every condition-based group is
rebuilt, dependencies first, so the demo opens with true member counts.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from contacts.demo import DemoContext, demo_step
from contacts.models import Account, Contact
from segments import rebuilds, services
from segments.memberships import Why, history_backfill
from segments.models import Cause, ContactGroup, GroupSizeSnapshot, Membership, Source


def _t(root: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "root": root}


CZECH = {"type": "field", "field": "country", "operator": "equals", "value": "CZ"}
PRICING_3X = {
    "type": "activity",
    "activity": "page_visit",
    "where": [{"field": "url", "operator": "contains", "value": "/pricing"}],
    "count": {"operator": "gte", "value": 3},
    "window": {"last_days": 30},
}

SAMPLE_GROUPS: list[dict[str, Any]] = [
    {
        "code": "czech_contacts",
        "name": "Czech contacts",
        "description": "Everyone in Czechia.",
        "condition": _t(CZECH),
        "scheduled_rebuild": False,
    },
    {
        "code": "pricing_visitors",
        "name": "Pricing page visitors",
        "description": "Visited the pricing page at least 3 times in the last 30 days.",
        "condition": _t(PRICING_3X),
        "scheduled_rebuild": True,
    },
    {
        "code": "hot_czech_prospects",
        "name": "Hot Czech prospects",
        "description": "Czech contacts on a paid plan who are engaged or scored high.",
        "condition": _t(
            {
                "type": "group",
                "combinator": "and",
                "children": [
                    CZECH,
                    {
                        "type": "group",
                        "combinator": "or",
                        "children": [
                            PRICING_3X,
                            {"type": "field", "field": "lead_score", "operator": "gte", "value": 50},
                        ],
                    },
                    {"type": "field", "field": "custom.plan", "operator": "in", "value": ["pro", "enterprise"]},
                ],
            }
        ),
        "scheduled_rebuild": True,
    },
    {
        "code": "inactive_365",
        # Not "Inactive contacts": README's tutorial (and the builder's template) create that group themselves.
        "name": "Dormant for a year",
        "description": "Has not done any activity in the last 365 days (Kentico's classic).",
        "condition": _t(
            {
                "type": "activity",
                "activity": "any",
                "count": {"operator": "eq", "value": 0},
                "window": {"last_days": 365},
            }
        ),
        "scheduled_rebuild": True,
    },
    {
        "code": "czech_newsletter_vips",
        "name": "Czech newsletter VIPs",
        "description": "Members of “Czech contacts” with a lead score of 50+ who agreed to the newsletter.",
        "condition": _t(
            {
                "type": "group",
                "combinator": "and",
                "children": [
                    {"type": "membership", "group": "czech_contacts", "operator": "is_member"},
                    {"type": "field", "field": "lead_score", "operator": "gte", "value": 50},
                    {"type": "consent", "consent": "newsletter", "operator": "agreed"},
                ],
            }
        ),
        "scheduled_rebuild": True,
    },
    {"code": "trade_fair_2026", "name": "Trade fair 2026 leads", "description": "Met at our booth; added by hand."},
    {"code": "key_accounts", "name": "Key accounts", "description": "Every contact of our largest customers."},
]


# Demo group names renamed since an earlier seed (code: (old name, new name)).
RENAMED_GROUPS = {"inactive_365": ("Inactive contacts", "Dormant for a year")}


def demo_group_renames() -> list[str]:
    """Give sample groups seeded under an old demo name their new one (unless taken); returns the codes renamed."""
    renamed = []
    for code, (old, new) in RENAMED_GROUPS.items():
        group = ContactGroup.objects.filter(code=code, name=old).first()
        if group is not None and services.group_name_clash(name=new, group=group) is None:
            group.name = new
            group.save(update_fields=["name"])
            renamed.append(code)
    return renamed


@demo_step(order=100)
def seed_sample_groups(ctx: DemoContext) -> str | None:
    """Create the sample groups (static, account-based, condition-based, nested, dependent) and rebuild them."""
    created = []
    demo_group_renames()
    for spec in SAMPLE_GROUPS:
        if ContactGroup.objects.filter(code=spec["code"]).exists():
            continue
        services.group_create(
            code=spec["code"],
            name=spec["name"],
            description=spec["description"],
            is_condition_based="condition" in spec,
            condition=spec.get("condition"),
            scheduled_rebuild=spec.get("scheduled_rebuild", False),
            queue_rebuild=False,
        )
        created.append(spec["code"])
    fair = ContactGroup.objects.get(code="trade_fair_2026")
    if not fair.memberships.exists():
        pool = list(Contact.objects.unmerged().values_list("pk", flat=True)[:2000])
        picked = sorted(ctx.rng.sample(pool, k=min(40, len(pool))))
        services.group_add_contacts(group=fair, contacts=Contact.objects.filter(pk__in=picked))
    key = ContactGroup.objects.get(code="key_accounts")
    if not key.group_accounts.exists():
        biggest = Account.objects.exclude(employees=None).order_by("-employees", "pk")[:3]
        services.group_add_accounts(group=key, accounts=Account.objects.filter(pk__in=[a.pk for a in biggest]))
    groups = ContactGroup.objects.filter(is_condition_based=True)
    for group in rebuilds.groups_in_dependency_order(groups=groups):
        rebuilds.group_rebuild(group=group)
    total = ContactGroup.objects.count()
    return f"Sample contact groups: {len(created)} created, {total} in all, condition-based ones rebuilt"


HISTORY_DAYS = 60
# Days (counted back from today) the demo's "worker was down": no snapshot, so the History tab shows a gap.
HISTORY_GAP = {"pricing_visitors": (23, 24)}


@demo_step(order=110)
def seed_group_size_history(ctx: DemoContext) -> str | None:
    """The last 60 days of every sample group, told the same way by its membership history and its snapshots.

    Today's members get join dates (most before the 60 days, a share within them: the group grew), a few
    other contacts joined and left (churn), and each day's nightly snapshot is the count those dates give.
    Deterministic (ctx.rng, dates from ctx.now) and idempotent: a group with snapshots is left alone.
    Today has none, so the History tab ends with the live member count (as before the nightly snapshot runs).
    """
    today = timezone.localdate(ctx.now)
    rows = []
    told = 0
    codes = sorted(spec["code"] for spec in SAMPLE_GROUPS)
    for group in ContactGroup.objects.filter(code__in=codes).order_by("code"):
        if group.size_snapshots.exists():
            continue
        members = list(
            Membership.objects.filter(group=group).order_by("contact_id").values_list("contact_id", flat=True)
        )
        growth = ctx.rng.uniform(0.06, 0.3)  # the group was about this much smaller 60 days ago
        recent = set(ctx.rng.sample(members, k=round(len(members) * growth / (1 + growth))))
        joined = {
            cid: ctx.now
            - dt.timedelta(
                days=ctx.rng.uniform(0, HISTORY_DAYS)
                if cid in recent
                else ctx.rng.uniform(HISTORY_DAYS + 1, HISTORY_DAYS + 300)
            )
            for cid in members
        }
        others = list(
            Contact.objects.unmerged().exclude(pk__in=members).order_by("pk").values_list("pk", flat=True)[:3000]
        )
        past = []
        for cid in ctx.rng.sample(others, k=min(len(others), round(len(members) * ctx.rng.uniform(0.02, 0.06)))):
            left = ctx.now - dt.timedelta(days=ctx.rng.uniform(0.5, HISTORY_DAYS))
            past.append((cid, left - dt.timedelta(days=ctx.rng.uniform(3, 120)), left))
        if group.is_condition_based:
            source, why = Source.CONDITION, Why(Cause.RECHECK)
        elif group.group_accounts.exists():
            source, why = Source.ACCOUNT, Why(Cause.ACCOUNT)
        else:
            source, why = Source.MANUAL, Why(Cause.MANUAL)
        history_backfill(group=group, joined=joined, past=past, source=source, why=why)
        # The demo's story: the members joined over time, so the last rebuild found them in place (its added and
        # removed figures match the contacts its history lists, now that the joins are back-dated).
        ContactGroup.objects.filter(pk=group.pk, last_rebuild_added__isnull=False).update(
            last_rebuild_added=0, last_rebuild_removed=0
        )
        # ...and the group existed before its first member joined (the dashboard calls younger groups "new").
        first = min([*joined.values(), *(start for _, start, _ in past)], default=ctx.now)
        ContactGroup.objects.filter(pk=group.pk, created_at__gt=first).update(created_at=first - dt.timedelta(days=1))
        told += 1
        skipped = HISTORY_GAP.get(group.code, ())
        for back in range(1, HISTORY_DAYS + 1):
            if back in skipped:
                continue
            day = today - dt.timedelta(days=back)
            end = timezone.make_aware(dt.datetime.combine(day, dt.time.max))
            count = sum(at <= end for at in joined.values()) + sum(start <= end < left for _, start, left in past)
            rows.append(GroupSizeSnapshot(group=group, date=day, member_count=count))
    GroupSizeSnapshot.objects.bulk_create(rows, ignore_conflicts=True)
    return f"Group history: last {HISTORY_DAYS} days of {told} sample groups ({len(rows)} snapshots added)"
