"""Demo campaigns (registered with contacts.demo's extension point): three sent email campaigns with their
deliveries (a few failed), opens, clicks and opt-outs (the spring one split A/B, with other content for key
accounts), and a group whose condition uses the spring campaign's clicks.

Deterministic (ctx.rng, dates from ctx.now) and idempotent: a campaign is created by name when missing; its
deliveries, opens and clicks are added when it has no delivery to an existing contact (a new campaign, or
after `seed_demo --reset` regenerated the contacts). The audience is frozen exactly as a real send freezes
it (campaigns.sending.freeze_audience); opens and clicks go through contacts.services.activities_load.
"""

from __future__ import annotations

import datetime as dt
import zlib
from typing import Any

from campaigns import services
from campaigns.models import AB_SEED_LIMIT, Campaign, CampaignStatus, Channel, Delivery, DeliveryStatus, Unsubscribe
from campaigns.sending import freeze_audience
from contacts.demo import DemoContext, demo_step
from contacts.models import ActivityType, Contact
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
        # an A/B test of the subject (arm → open rate), and other content for key accounts
        "arms": [
            ("A", 50, "", 0.47),
            ("B", 50, 'Only this month: 30 % off for you, {{ first_name|default:"friend" }}', 0.58),
        ],
        "variant": ("key_accounts", "Spring offer for our key accounts", "Your account manager can extend the offer."),
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
    # The A/B salt from the campaign's name (a new campaign draws a random one): the same demo, the same arms.
    Campaign.objects.filter(pk=campaign.pk).update(
        created_at=sent - dt.timedelta(days=2), ab_seed=zlib.crc32(spec["name"].encode()) % AB_SEED_LIMIT
    )
    if spec.get("variant") and spec["variant"][0] in groups:
        code, subject, intro = spec["variant"]
        services.variant_save(
            campaign=campaign, group=groups[code], priority=1, subject=subject, body=_body(intro, spec["links"])
        )
    if spec.get("arms"):
        arms = [services.ArmInput(percent=percent, subject=subject) for _label, percent, subject, _rate in spec["arms"]]
        services.split_set(campaign=campaign, arms=arms)
    campaign.refresh_from_db()
    return campaign


def _send(campaign: Campaign, spec: dict[str, Any], ctx: DemoContext) -> tuple[int, list[ActivityRow]]:
    """Freeze the audience as sent deliveries (a few failed); the opens, clicks and opt-outs of the recipients.

    Some recipients click without a recorded open (their mail program blocked the images), a few unsubscribe
    with the message's link; an A/B arm has its own open rate."""
    sent = ctx.now - dt.timedelta(days=spec["days_ago"])
    Delivery.objects.filter(campaign=campaign).delete()
    count = freeze_audience(campaign=campaign)
    Delivery.objects.filter(campaign=campaign).update(status=DeliveryStatus.SENT, sent_at=sent)
    Campaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.SENT, scheduled_at=sent, send_started_at=sent, sent_at=sent, recipients=count
    )
    rows: list[ActivityRow] = []
    rng = ctx.rng
    arm_rates = {label: rate for label, _percent, _subject, rate in spec.get("arms", [])}
    failed: list[int] = []
    opted_out: list[tuple[int, dt.datetime]] = []
    recipients = (
        Delivery.objects.filter(campaign=campaign).order_by("contact_id").values_list("pk", "contact_id", "arm")
    )
    for delivery_id, contact_id, arm in recipients:
        if rng.random() < 0.015:
            failed.append(delivery_id)
            continue
        if rng.random() >= arm_rates.get(arm, spec["open"]):
            if rng.random() < 0.03:  # images blocked: a click, no open
                at = sent + dt.timedelta(hours=rng.expovariate(1 / 12))
                url, _label = rng.choice(spec["links"])
                if at < ctx.now:
                    rows.append(ActivityRow(contact_id, ActivityType.EMAIL_CLICK, at, url=url, campaign_id=campaign.pk))
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
        elif rng.random() < 0.01:
            opted_out.append((contact_id, opened + dt.timedelta(minutes=rng.uniform(0.5, 10))))
    Delivery.objects.filter(pk__in=failed).update(
        status=DeliveryStatus.FAILED, sent_at=None, error="550 5.1.1 Mailbox unavailable (demo)"
    )
    for contact_id, at in opted_out:
        if at < ctx.now:
            record = services.unsubscribe_record(
                contact=Contact(pk=contact_id), channel=Channel.EMAIL, campaign=campaign
            )
            Unsubscribe.objects.filter(pk=record.pk).update(unsubscribed_at=at)
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
