"""Demo campaigns (registered with contacts.demo's extension point): three sent email campaigns with their
deliveries, opens and clicks, and a group whose condition uses the spring campaign's clicks.

Deterministic (ctx.rng, dates from ctx.now) and idempotent: a campaign is created by name when missing; its
deliveries, opens and clicks are added when it has no delivery to an existing contact (a new campaign, or
after `seed_demo --reset` regenerated the contacts). The audience is frozen exactly as a real send freezes
it (campaigns.sending.freeze_audience); opens and clicks go through contacts.services.activities_load.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from campaigns import services
from campaigns.models import Campaign, CampaignStatus, Channel, Delivery, DeliveryStatus
from campaigns.sending import freeze_audience
from contacts.demo import DemoContext, demo_step
from contacts.models import ActivityType
from contacts.services import ActivityRow, activities_load
from segments import rebuilds
from segments import services as group_services
from segments.models import ContactGroup

SHOP = "https://www.example.com"
SPRING = "Spring sale 2026"


def _body(intro: str, links: list[tuple[str, str]]) -> str:
    items = "".join(f'<li><a href="{url}">{label}</a></li>' for url, label in links)
    return f'<p>Hello {{{{ first_name|default:"there" }}}},</p><p>{intro}</p><ul>{items}</ul><p>The Example team</p>'


# name, days ago sent, included groups, excluded groups, subject, links, open rate, click rate among openers
DEMO_CAMPAIGNS: list[dict[str, Any]] = [
    {
        "name": "Product update – April",
        "days_ago": 48,
        "include": ["czech_contacts", "key_accounts", "pricing_visitors"],
        "exclude": [],
        "subject": 'What is new in April, {{ first_name|default:"friend" }}',
        "intro": "Segments now rebuild overnight and campaigns can be split into A/B variants.",
        "links": [(f"{SHOP}/blog/april-update", "Read the update"), (f"{SHOP}/features/email", "E-mail campaigns")],
        "open": 0.38,
        "click": 0.22,
    },
    {
        "name": SPRING,
        "days_ago": 19,
        "include": ["czech_contacts", "pricing_visitors", "trade_fair_2026", "key_accounts"],
        "exclude": ["inactive_365"],
        "subject": "Spring sale: 30 % off annual plans",
        "intro": "Until the end of the month every annual plan is 30 % off.",
        "links": [
            (f"{SHOP}/pricing?utm_campaign=spring", "See the prices"),
            (f"{SHOP}/features/sms", "SMS campaigns"),
            (f"{SHOP}/contact-sales", "Talk to sales"),
        ],
        "open": 0.52,
        "click": 0.35,
    },
    {
        "name": "Trade fair follow-up",
        "days_ago": 5,
        "include": ["trade_fair_2026", "key_accounts"],
        "exclude": [],
        "subject": "Thank you for visiting our booth",
        "intro": "It was good to meet you. Here are the slides and a link to book a demo.",
        "links": [(f"{SHOP}/downloads/fair-slides.pdf", "The slides"), (f"{SHOP}/demo", "Book a demo")],
        "open": 0.64,
        "click": 0.41,
    },
]

CLICKED_SPRING = "clicked_spring"


def _campaign(spec: dict[str, Any], ctx: DemoContext) -> Campaign:
    campaign = Campaign.objects.filter(name=spec["name"]).first()
    if campaign is not None:
        return campaign
    groups = {g.code: g for g in ContactGroup.objects.filter(code__in=spec["include"] + spec["exclude"])}
    campaign = services.campaign_create(
        name=spec["name"],
        channel=Channel.EMAIL,
        include=[groups[c] for c in spec["include"] if c in groups],
        exclude=[groups[c] for c in spec["exclude"] if c in groups],
        sender="Example <news@example.com>",
        subject=spec["subject"],
        preheader=spec["intro"][:80],
        body=_body(spec["intro"], spec["links"]),
    )
    sent = ctx.now - dt.timedelta(days=spec["days_ago"])
    Campaign.objects.filter(pk=campaign.pk).update(created_at=sent - dt.timedelta(days=2))
    campaign.refresh_from_db()
    return campaign


def _send(campaign: Campaign, spec: dict[str, Any], ctx: DemoContext) -> tuple[int, list[ActivityRow]]:
    """Freeze the audience as sent deliveries; the opens and clicks of those recipients."""
    sent = ctx.now - dt.timedelta(days=spec["days_ago"])
    Delivery.objects.filter(campaign=campaign).delete()
    count = freeze_audience(campaign=campaign)
    Delivery.objects.filter(campaign=campaign).update(status=DeliveryStatus.SENT, sent_at=sent)
    Campaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.SENT, scheduled_at=sent, send_started_at=sent, sent_at=sent, recipients=count
    )
    rows: list[ActivityRow] = []
    rng = ctx.rng
    # By contact, not by delivery id: the frozen audience's INSERT … SELECT numbers its rows in whatever order
    # PostgreSQL reads the contacts, which changes with their rows' places on disk (the same seed, other opens).
    recipients = Delivery.objects.filter(campaign=campaign).order_by("contact_id").values_list("contact_id", flat=True)
    for contact_id in recipients:
        if rng.random() >= spec["open"]:
            continue
        opened = sent + dt.timedelta(hours=min(rng.expovariate(1 / 10), 24 * spec["days_ago"] - 1))
        opens = [opened] + [opened + dt.timedelta(hours=rng.uniform(1, 72)) for _ in range(rng.choice((0, 0, 0, 1)))]
        for at in opens:
            if at < ctx.now:
                rows.append(ActivityRow(contact_id, ActivityType.EMAIL_OPEN, at, campaign_id=campaign.pk))
        if rng.random() < spec["click"]:
            url, _label = rng.choice(spec["links"])
            at = opened + dt.timedelta(minutes=rng.uniform(0.2, 30))
            if at < ctx.now:
                rows.append(ActivityRow(contact_id, ActivityType.EMAIL_CLICK, at, url=url, campaign_id=campaign.pk))
    return count, rows


@demo_step(order=120)
def seed_demo_campaigns(ctx: DemoContext) -> str | None:
    """Three sent campaigns with opens and clicks, and the group "Clicked the spring campaign"."""
    rows: list[ActivityRow] = []
    sent = 0
    spring: Campaign | None = None
    for spec in DEMO_CAMPAIGNS:
        campaign = _campaign(spec, ctx)
        if spec["name"] == SPRING:
            spring = campaign
        if Delivery.objects.filter(campaign=campaign, contact__isnull=False).exists():
            continue
        if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.SENT):
            continue  # someone is sending a campaign of that name: leave it alone
        count, activities = _send(campaign, spec, ctx)
        sent += count
        rows.extend(activities)
    if rows:
        rows.sort(key=lambda r: (r.occurred_at, r.contact_id))
        activities_load(rows=rows)
    created = False
    if spring is not None and not ContactGroup.objects.filter(code=CLICKED_SPRING).exists():
        group_services.group_create(
            code=CLICKED_SPRING,
            name="Clicked the spring campaign",
            description=f"Clicked a link in the “{SPRING}” email.",
            is_condition_based=True,
            condition={
                "version": 1,
                "root": {
                    "type": "activity",
                    "activity": ActivityType.EMAIL_CLICK.value,
                    "where": [{"field": "campaign", "operator": "equals", "value": spring.pk}],
                },
            },
            queue_rebuild=False,
        )
        created = True
    if rows or created:  # new activities move last activity dates: bring every condition-based group up to date
        groups = ContactGroup.objects.filter(is_condition_based=True)
        for group in rebuilds.groups_in_dependency_order(groups=groups):
            rebuilds.group_rebuild(group=group)
    if not rows and not created:
        return None
    opens = sum(r.type == ActivityType.EMAIL_OPEN for r in rows)
    return f"Demo campaigns: {sent:,} deliveries, {opens:,} opens, {len(rows) - opens:,} clicks" + (
        ", group “Clicked the spring campaign” created" if created else ""
    )
