"""The campaign report's numbers against a count in Python over the same factory data: unique opens (twice by
one contact is once), a click without an open, failed and skipped deliveries, two included groups (a contact
in both counts in both rows, as of the send), content variants and A/B arms, merged contacts, opt-outs; the
timeline's buckets in the project time zone; the top links; and that every section is a fixed number of queries."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns import services
from campaigns.models import Campaign, Channel, Delivery, DeliveryStatus, Unsubscribe
from campaigns.selectors.report import Stats, campaign_links, campaign_report, campaign_timeline
from campaigns.sending import freeze_audience
from contacts.models import ActivityType
from contacts.services import contact_merge
from segments.models import Membership
from tests.factories import ActivityFactory, ContactFactory, ContactGroupFactory

pytestmark = pytest.mark.django_db
OPEN, CLICK = ActivityType.EMAIL_OPEN, ActivityType.EMAIL_CLICK
SENT_AT = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


def sent_campaign(*, include, exclude=(), variant_group=None, arms=(), name="Spring") -> Campaign:
    """A campaign frozen as a real send freezes it (deliveries queued), then marked sent at SENT_AT."""
    campaign = services.campaign_create(
        name=name, channel=Channel.EMAIL, include=list(include), exclude=list(exclude), subject="Hi", body="<p>Hi</p>"
    )
    if variant_group is not None:
        services.variant_save(campaign=campaign, group=variant_group, priority=1, subject="Ahoj")
    if arms:
        services.split_set(campaign=campaign, arms=[services.ArmInput(p) for p in arms])
    freeze_audience(campaign=campaign)
    Delivery.objects.filter(campaign=campaign).update(status=DeliveryStatus.SENT, sent_at=SENT_AT)
    Campaign.objects.filter(pk=campaign.pk).update(status="sent", send_started_at=SENT_AT, sent_at=SENT_AT)
    campaign.refresh_from_db()
    return campaign


def event(contact, campaign, kind, *, hours=1.0, url=""):
    return ActivityFactory(
        contact=contact, campaign=campaign, type=kind, occurred_at=SENT_AT + dt.timedelta(hours=hours), url=url
    )


@pytest.fixture
def scenario():
    """24 contacts at random in two included groups (some in both), one excluded group; a variant for the
    second group; an A/B split; opens (some twice), clicks (some without an open), failures, an opt-out."""
    rng = random.Random(7)
    vip, cz, blocked = (ContactGroupFactory(code=c, name=c.upper()) for c in ("vip", "cz", "blocked"))
    contacts = []
    for i in range(24):
        contact = ContactFactory(email=f"p{i}@example.com")
        groups = rng.choice([[vip], [cz], [vip, cz], [vip, cz, blocked], [cz]])
        for g in groups:
            Membership.objects.create(group=g, contact=contact, via_manual=True)
        contacts.append(contact)
    other = ContactFactory(email="outsider@example.com")  # not a recipient: its events never count
    campaign = sent_campaign(include=[vip, cz], exclude=[blocked], variant_group=cz, arms=(50, 50))
    deliveries = list(Delivery.objects.filter(campaign=campaign).select_related("contact"))
    assert 10 < len(deliveries) < 24  # the excluded ones are out
    statuses = {}
    for i, d in enumerate(deliveries):
        statuses[d.contact_id] = (
            [DeliveryStatus.FAILED, DeliveryStatus.SKIPPED, DeliveryStatus.UNKNOWN][i]
            if i < 3
            else (rng.choices([DeliveryStatus.SENT, DeliveryStatus.FAILED], weights=[8, 1])[0])
        )
        Delivery.objects.filter(pk=d.pk).update(status=statuses[d.contact_id])
    for d in deliveries:
        if statuses[d.contact_id] != DeliveryStatus.SENT:
            continue
        kind = rng.choice(["none", "open", "open_twice", "open_click", "click_only", "clicks_two_links"])
        if kind in ("open", "open_twice", "open_click", "clicks_two_links"):
            event(d.contact, campaign, OPEN, hours=rng.uniform(0, 80))
        if kind == "open_twice":
            event(d.contact, campaign, OPEN, hours=rng.uniform(0, 80))
        if kind in ("open_click", "click_only", "clicks_two_links"):
            event(d.contact, campaign, CLICK, url="https://shop.example/a")
        if kind == "clicks_two_links":
            event(d.contact, campaign, CLICK, url="https://shop.example/b")
            event(d.contact, campaign, CLICK, url="https://shop.example/a", hours=3)
    opted = next(d for d in deliveries if statuses[d.contact_id] == DeliveryStatus.SENT)
    services.unsubscribe_record(contact=opted.contact, channel=Channel.EMAIL, campaign=campaign)
    event(other, campaign, OPEN)
    event(other, campaign, CLICK, url="https://shop.example/a")
    ActivityFactory(contact=deliveries[0].contact, campaign=campaign, type="page_visit")  # not an open
    other_campaign = services.campaign_create(name="Other", channel=Channel.EMAIL, include=[vip], subject="x")
    event(deliveries[0].contact, other_campaign, OPEN)  # another campaign's open
    return {"campaign": campaign, "vip": vip, "cz": cz, "contacts": contacts}


def expected_stats(deliveries, campaign) -> Stats:
    """The report's definitions, counted in Python."""
    stats = Stats()
    opted = set(Unsubscribe.objects.filter(campaign=campaign).values_list("contact_id", flat=True))
    for d in deliveries:
        events = list(d.contact.activities.filter(campaign=campaign)) if d.contact else []
        opens = sum(a.type == OPEN for a in events)
        clicks = sum(a.type == CLICK for a in events)
        stats.audience += 1
        stats.sent += d.status == DeliveryStatus.SENT
        stats.failed += d.status == DeliveryStatus.FAILED
        stats.skipped += d.status == DeliveryStatus.SKIPPED
        stats.unknown += d.status == DeliveryStatus.UNKNOWN
        stats.opened += bool(opens or clicks)
        stats.opened_seen += bool(opens)
        stats.clicked += bool(clicks)
        stats.opens += opens
        stats.clicks += clicks
        stats.unsubscribed += d.contact_id in opted
    return stats


def test_report_numbers_equal_a_count_in_python(scenario):
    campaign, vip, cz = scenario["campaign"], scenario["vip"], scenario["cz"]
    deliveries = list(Delivery.objects.filter(campaign=campaign).select_related("contact"))
    members_at_send = {g.pk: set(g.memberships.values_list("contact_id", flat=True)) for g in (vip, cz)}
    # memberships change after the send: the report still counts the groups as they were when it was sent
    Membership.objects.filter(group=vip).delete()

    report = campaign_report(campaign=campaign)

    assert report.total == expected_stats(deliveries, campaign)
    assert report.total.opened > report.total.opened_seen  # some clicked without a recorded open
    assert report.total.opens > report.total.opened_seen  # someone opened twice: once in "opened"
    assert report.total.failed and report.total.unsubscribed == 1
    assert report.groups_recorded
    by_group = {row.group.pk: row.stats for row in report.by_group}
    assert [row.group for row in report.by_group] == [vip, cz]
    for group in (vip, cz):
        mine = [d for d in deliveries if d.contact_id in members_at_send[group.pk]]
        assert by_group[group.pk] == expected_stats(mine, campaign)
    both = members_at_send[vip.pk] & members_at_send[cz.pk] & {d.contact_id for d in deliveries}
    assert both  # a contact in both included groups counts in both rows
    assert by_group[vip.pk].audience + by_group[cz.pk].audience == report.total.audience + len(both)

    variant = campaign.variants.get()
    by_variant = {row.label: row.stats for row in report.by_variant}
    assert by_variant[f"Members of “{cz.name}”"] == expected_stats(
        [d for d in deliveries if d.variant_id == variant.pk], campaign
    )
    assert by_variant["Everyone else"] == expected_stats([d for d in deliveries if d.variant_id is None], campaign)
    arms = defaultdict(list)
    for d in deliveries:
        arms[d.arm].append(d)
    assert {row.label: row.stats for row in report.by_arm} == {
        f"Variant {label}": expected_stats(arms[label], campaign) for label in ("A", "B")
    }
    assert sum(row.stats.audience for row in report.by_arm) == report.total.audience


def test_deliveries_frozen_without_the_groups_fall_back_to_current_members(scenario):
    campaign, vip = scenario["campaign"], scenario["vip"]
    Delivery.objects.filter(campaign=campaign).update(included_groups=None)
    Membership.objects.filter(group=vip, contact__email__in=["p0@example.com", "p1@example.com"]).delete()
    now_members = set(vip.memberships.values_list("contact_id", flat=True))
    deliveries = list(Delivery.objects.filter(campaign=campaign).select_related("contact"))

    report = campaign_report(campaign=campaign)

    assert not report.groups_recorded
    assert report.by_group[0].stats == expected_stats([d for d in deliveries if d.contact_id in now_members], campaign)
    assert report.total == expected_stats(deliveries, campaign)


def test_freeze_records_each_contacts_included_groups_as_bits():
    vip, cz, other = (ContactGroupFactory(code=c) for c in ("vip", "cz", "other"))
    both, only_cz = ContactFactory(), ContactFactory()
    for group, contact in ((vip, both), (cz, both), (cz, only_cz), (other, only_cz)):
        Membership.objects.create(group=group, contact=contact, via_manual=True)
    campaign = sent_campaign(include=[vip, cz])
    assert dict(Delivery.objects.filter(campaign=campaign).values_list("contact_id", "included_groups")) == {
        both.pk: 0b11,
        only_cz.pk: 0b10,
    }


def test_an_open_moved_by_a_merge_still_counts_for_the_merged_contacts_delivery():
    group = ContactGroupFactory(code="g")
    child = ContactFactory(email="old@example.com")
    Membership.objects.create(group=group, contact=child, via_manual=True)
    campaign = sent_campaign(include=[group])
    event(child, campaign, OPEN)
    event(child, campaign, CLICK, url="https://shop.example/a")
    parent = ContactFactory(email="new@example.com")
    contact_merge(parent=parent, child=child)  # the activities move to the parent; the delivery stays

    total = campaign_report(campaign=campaign).total

    assert (total.audience, total.opened, total.clicked, total.opens) == (1, 1, 1, 1)


def statements(context: CaptureQueriesContext) -> list[str]:
    """The captured SQL without transaction plumbing (savepoints, SET LOCAL)."""
    plumbing = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT", "SET LOCAL")
    return [q["sql"] for q in context.captured_queries if not q["sql"].startswith(plumbing)]


def test_each_section_is_a_fixed_number_of_queries(scenario, django_assert_max_num_queries):
    campaign = scenario["campaign"]
    with CaptureQueriesContext(connection) as few:
        campaign_report(campaign=campaign)
    for i in range(30):  # many more recipients, opens and clicks: the same statements
        contact = ContactFactory(email=f"more{i}@example.com")
        Membership.objects.create(group=scenario["vip"], contact=contact, via_manual=True)
        Delivery.objects.create(campaign=campaign, contact=contact, address=contact.email, status="sent")
        event(contact, campaign, OPEN)
        event(contact, campaign, CLICK, url=f"https://shop.example/{i}")
    with CaptureQueriesContext(connection) as many:
        campaign_report(campaign=campaign)
    assert len(statements(many)) == len(statements(few)) <= 4
    with django_assert_max_num_queries(1):
        campaign_timeline(campaign=campaign)
    with django_assert_max_num_queries(1):
        campaign_links(campaign=campaign)


def test_timeline_is_hourly_for_48_hours_then_daily_in_the_project_time_zone(settings):
    settings.TIME_ZONE = "Europe/Prague"
    group = ContactGroupFactory(code="g")
    people = [ContactFactory() for _ in range(3)]
    for contact in people:
        Membership.objects.create(group=group, contact=contact, via_manual=True)
    campaign = sent_campaign(include=[group])  # 9:30 UTC = 10:30 in Prague
    a, b, c = people
    event(a, campaign, OPEN, hours=0.2)  # 10:00 hour
    event(b, campaign, OPEN, hours=0.4)
    event(b, campaign, CLICK, hours=0.45, url="https://shop.example/a")
    event(a, campaign, OPEN, hours=47.4)  # the last hourly bucket (4 Mar 09:00)
    event(c, campaign, OPEN, hours=62)  # 4 Mar 23:30 UTC is 5 Mar 00:30 in Prague: the 5th
    event(c, campaign, CLICK, hours=24 * 6)  # 8 Mar
    now = SENT_AT + dt.timedelta(days=10)

    timeline = campaign_timeline(campaign=campaign, now=now)

    prague = ZoneInfo("Europe/Prague")
    assert len(timeline.hourly) == 48
    assert timeline.hourly[0].start == dt.datetime(2026, 3, 2, 10, tzinfo=prague)
    assert (timeline.hourly[0].opens, timeline.hourly[0].clicks) == (2, 1)
    assert (timeline.hourly[-1].start.hour, timeline.hourly[-1].opens) == (9, 1)
    assert sum(b.opens for b in timeline.hourly) == 3
    daily = {b.start.date(): (b.opens, b.clicks) for b in timeline.daily}
    assert timeline.daily[0].start.date() == dt.date(2026, 3, 2) and timeline.daily[-1].start.date() == dt.date(
        2026, 3, 8
    )
    assert daily[dt.date(2026, 3, 2)] == (2, 1)
    assert daily[dt.date(2026, 3, 4)] == (1, 0)  # from the hourly part
    assert daily[dt.date(2026, 3, 5)] == (1, 0)  # the local day, not UTC's
    assert daily[dt.date(2026, 3, 6)] == (0, 0)  # a day without events is a zero bar, in order
    assert daily[dt.date(2026, 3, 8)] == (0, 1)
    assert sum(o for o, _ in daily.values()) == 4
    assert timeline.chart_data()["daily"]["labels"][0] == "2 Mar"
    # an event in the future is not drawn
    event(c, campaign, OPEN, hours=24 * 11)
    assert sum(b.opens for b in campaign_timeline(campaign=campaign, now=now).daily) == 4
    assert campaign_timeline(campaign=Campaign.objects.create(name="Draft")).empty


def test_top_links_count_clicks_and_people():
    group = ContactGroupFactory(code="g")
    a, b = ContactFactory(), ContactFactory()
    for contact in (a, b):
        Membership.objects.create(group=group, contact=contact, via_manual=True)
    campaign = sent_campaign(include=[group])
    for contact, url in ((a, "https://x.example/1"), (a, "https://x.example/1"), (b, "https://x.example/1")):
        event(contact, campaign, CLICK, url=url)
    event(b, campaign, CLICK, url="https://x.example/2")
    event(b, campaign, OPEN)
    links = campaign_links(campaign=campaign)
    assert [(link.url, link.clicks, link.people) for link in links] == [
        ("https://x.example/1", 3, 2),
        ("https://x.example/2", 1, 1),
    ]


def test_rates_divide_by_sent_and_say_nothing_without_a_denominator():
    stats = Stats(audience=10, sent=8, failed=2, opened=4, opened_seen=3, clicked=2, unsubscribed=1)
    assert (stats.open_rate, stats.click_rate, stats.click_to_open) == (0.5, 0.25, 0.5)
    assert (stats.failed_rate, stats.unsubscribe_rate, stats.opened_by_click) == (0.2, 0.125, 1)
    assert Stats().open_rate is None and Stats().click_to_open is None


def test_report_statement_is_bounded_by_the_campaign(scenario):
    """Other campaigns' deliveries and events never change a campaign's report."""
    campaign = scenario["campaign"]
    before = campaign_report(campaign=campaign).total
    other = sent_campaign(include=[scenario["vip"]], name="Other")
    for d in Delivery.objects.filter(campaign=other).select_related("contact"):
        event(d.contact, other, OPEN)
    assert campaign_report(campaign=campaign).total == before
