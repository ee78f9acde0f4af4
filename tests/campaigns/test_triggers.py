"""Triggered campaigns: everyone who enters an included group after activation gets the message exactly once
(however often the tick runs, and after leaving and joining again), entries before activation never count,
entrants the audience rules leave out are skipped with the reason, the daily cap defers the rest to the next
local day, pausing holds everything back, and a dead worker's send resumes without sending anyone twice."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from campaigns import sending, services, triggers
from campaigns.models import Campaign, CampaignKind, CampaignStatus, Channel, Delivery, DeliveryStatus, Unsubscribe
from campaigns.selectors.triggers import day_bounds, trigger_status
from contacts.models import Contact
from segments.models import MembershipEvent
from segments.services import group_add_contacts, group_remove_contacts
from tests.factories import ConsentFactory, ContactConsentFactory, ContactFactory, ContactGroupFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def hot():
    return ContactGroupFactory(code="hot_cz", name="Hot CZ prospects")


def join(group, *contacts):
    group_add_contacts(group=group, contacts=Contact.objects.filter(pk__in=[c.pk for c in contacts]))


def leave(group, *contacts):
    group_remove_contacts(group=group, contacts=Contact.objects.filter(pk__in=[c.pk for c in contacts]))


def welcome(include, **kwargs):
    return services.campaign_create(
        name="Welcome",
        channel=Channel.EMAIL,
        include=include,
        kind=CampaignKind.TRIGGERED,
        sender="Shop <shop@example.com>",
        subject="Welcome, {{ first_name }}",
        body="<p>Hello {{ first_name }}</p>",
        **kwargs,
    )


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Run something as the worker would: what it queues on commit runs too (sync_worker: at once)."""

    def call(func, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return func(**kwargs)

    return call


def recipients():
    return sorted(m.to[0] for m in mail.outbox)


def test_an_entry_sends_exactly_once(sync_worker, hot, run):
    campaign = welcome([hot])
    run(triggers.campaign_trigger_activate, campaign=campaign)
    ann = ContactFactory(first_name="Ann", email="ann@example.com")

    join(hot, ann)
    run(triggers.triggers_tick)
    assert recipients() == ["ann@example.com"]
    assert mail.outbox[0].subject == "Welcome, Ann" and "List-Unsubscribe" in mail.outbox[0].extra_headers
    delivery = Delivery.objects.get(campaign=campaign)
    assert delivery.contact == ann and delivery.status == DeliveryStatus.SENT

    run(triggers.triggers_tick)  # nothing new: nothing more
    leave(hot, ann)
    join(hot, ann)  # a second entry of the same contact
    run(triggers.triggers_tick)
    run(triggers.triggers_tick)
    assert recipients() == ["ann@example.com"]
    assert Delivery.objects.filter(campaign=campaign).count() == 1
    campaign.refresh_from_db()
    assert campaign.trigger_skips == {"already": 1}
    assert campaign.status == CampaignStatus.ACTIVE and campaign.recipients == 1  # never "finished"
    assert campaign.trigger_cursor == MembershipEvent.objects.latest("pk").pk
    status = trigger_status(campaign=campaign)
    assert (status.sent_today, status.total, status.waiting, status.skipped) == (1, 1, 0, 1)
    assert status.last_event_at == MembershipEvent.objects.filter(kind=1).latest("pk").at


def test_entries_before_activation_and_todays_members_are_ignored(sync_worker, hot, run):
    early, member, late = (ContactFactory(email=f"{n}@example.com") for n in ("early", "member", "late"))
    join(hot, early, member)
    campaign = welcome([hot])
    run(triggers.triggers_tick)  # a draft does nothing
    run(triggers.campaign_trigger_activate, campaign=campaign)
    join(hot, late)
    run(triggers.triggers_tick)
    assert recipients() == ["late@example.com"]
    assert trigger_status(campaign=campaign).waiting == 0


def test_entrants_the_audience_rules_leave_out_are_skipped_with_the_reason(sync_worker, hot, run):
    blocked = ContactGroupFactory(code="blocked")
    newsletter = ConsentFactory(code="newsletter")
    names = ("ok", "ex", "unsub", "nocons", "gone")
    people = {n: ContactFactory(first_name=n, email=f"{n}@example.com") for n in names}
    people["noaddr"] = ContactFactory(first_name="noaddr", email=None)
    for name in ("ok", "ex", "unsub", "noaddr", "gone"):
        ContactConsentFactory(contact=people[name], consent=newsletter)
    join(blocked, people["ex"])
    Unsubscribe.objects.create(contact=people["unsub"], channel=Channel.EMAIL)
    campaign = welcome([hot], exclude=[blocked], required_consent=newsletter)
    run(triggers.campaign_trigger_activate, campaign=campaign)

    join(hot, *people.values())
    leave(hot, people["gone"])  # left again before the tick
    run(triggers.triggers_tick)

    assert recipients() == ["ok@example.com"]
    campaign.refresh_from_db()
    assert campaign.trigger_skips == {"excluded": 1, "unsubscribed": 1, "no_consent": 1, "no_address": 1, "left": 1}
    labels = dict(trigger_status(campaign=campaign).skips)
    assert labels["in an excluded group"] == 1 and labels["no longer in an included group when handled"] == 1


def test_the_daily_cap_defers_the_rest_to_the_next_local_day(sync_worker, hot, run, settings):
    settings.TIME_ZONE = "Europe/Prague"
    campaign = welcome([hot], daily_cap=2)
    run(triggers.campaign_trigger_activate, campaign=campaign)
    a, b, c, d, e, f = (ContactFactory(email=f"{n}@example.com") for n in "abcdef")
    for contact in (a, b, c, d):  # one at a time: the entries' order is who gets it first
        join(hot, contact)
    evening = timezone.make_aware(dt.datetime(2030, 3, 30, 23, 30))  # 22:30 UTC
    after_midnight = evening + dt.timedelta(hours=1)  # the next local day (23:30 UTC: the same UTC day)
    assert day_bounds(now=evening)[1] <= after_midnight

    run(triggers.triggers_tick, now=evening)
    run(triggers.triggers_tick, now=evening)  # the day is full: nothing more
    assert recipients() == ["a@example.com", "b@example.com"]
    campaign.refresh_from_db()
    status = trigger_status(campaign=campaign, now=evening)
    assert (status.sent_today, status.cap, status.waiting) == (2, 2, 2) and status.cap_reached

    leave(hot, c)  # waiting, then gone: judged again when its turn comes
    join(hot, e)
    run(triggers.triggers_tick, now=after_midnight)
    assert recipients() == ["a@example.com", "b@example.com", "d@example.com", "e@example.com"]
    join(hot, f)
    run(triggers.triggers_tick, now=after_midnight)
    assert "f@example.com" not in recipients()  # d and e filled the new day
    campaign.refresh_from_db()
    assert campaign.trigger_skips == {"left": 1}
    status = trigger_status(campaign=campaign, now=after_midnight)
    assert (status.sent_today, status.total, status.waiting) == (2, 4, 1)
    run(triggers.triggers_tick, now=after_midnight + dt.timedelta(days=1))
    assert recipients()[-1] == "f@example.com" and len(mail.outbox) == 5


def test_pause_holds_everything_back_and_resume_catches_up_or_starts_from_now(sync_worker, hot, run):
    campaign = welcome([hot])
    run(triggers.campaign_trigger_activate, campaign=campaign)
    a, b, c = (ContactFactory(email=f"{n}@example.com") for n in "abc")
    join(hot, a)
    triggers.triggers_tick()  # not run on commit: a's delivery is queued, its batch never ran
    assert Delivery.objects.get(contact=a).status == DeliveryStatus.QUEUED
    triggers.campaign_trigger_pause(campaign=campaign)
    join(hot, b)
    run(triggers.triggers_tick)
    assert sending.send_batch(campaign_id=campaign.pk).sent == 0  # paused: queued messages wait
    assert mail.outbox == [] and trigger_status(campaign=Campaign.objects.get(pk=campaign.pk)).waiting == 1

    run(triggers.campaign_trigger_activate, campaign=campaign, catch_up=True)
    assert recipients() == ["a@example.com", "b@example.com"]

    triggers.campaign_trigger_pause(campaign=campaign)
    join(hot, c)
    run(triggers.campaign_trigger_activate, campaign=campaign, catch_up=False)
    run(triggers.triggers_tick)
    assert recipients() == ["a@example.com", "b@example.com"]  # c joined while paused, resumed from now
    with pytest.raises(sending.SendError):
        triggers.campaign_trigger_activate(campaign=campaign)  # already active


def test_changes_follow_the_state(sync_worker, hot, run):
    campaign = welcome([hot])
    edit = {"name": "Welcome", "channel": Channel.EMAIL, "include": [hot], "subject": "Hi", "body": "<p>Hi</p>"}
    with pytest.raises(sending.SendError):
        sending.campaign_send(campaign=campaign)  # activated, never sent at once
    services.campaign_update(campaign=campaign, **{**edit, "subject": ""}, kind=CampaignKind.TRIGGERED)
    with pytest.raises(sending.SendError, match="no subject"):
        triggers.campaign_trigger_activate(campaign=campaign)
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT
    services.campaign_update(campaign=campaign, **edit, kind=CampaignKind.TRIGGERED, daily_cap=3)
    campaign = run(triggers.campaign_trigger_activate, campaign=campaign)

    with pytest.raises(services.CampaignError, match="pause it"):
        services.campaign_update(campaign=campaign, **edit, kind=CampaignKind.TRIGGERED)
    with pytest.raises(services.CampaignError, match="pause it"):
        services.variant_save(campaign=campaign, group=hot, priority=1, subject="x")
    join(hot, ContactFactory())
    run(triggers.triggers_tick)
    campaign = triggers.campaign_trigger_pause(campaign=campaign)
    services.campaign_update(campaign=campaign, **{**edit, "subject": "Hello"}, kind=CampaignKind.TRIGGERED)
    assert Campaign.objects.get(pk=campaign.pk).subject == "Hello"
    assert Campaign.objects.get(pk=campaign.pk).daily_cap is None  # the form sends the cap every time
    with pytest.raises(services.CampaignError, match="only while it is a draft"):
        services.campaign_update(campaign=campaign, **edit, kind=CampaignKind.ONE_OFF)
    with pytest.raises(services.CampaignError, match="has sent messages"):
        services.campaign_delete(campaign=campaign)
    with pytest.raises(sending.SendError):
        triggers.campaign_trigger_pause(campaign=campaign)  # already paused
    one_off = services.campaign_create(name="Once", channel=Channel.EMAIL, include=[hot], daily_cap=5)
    assert one_off.kind == CampaignKind.ONE_OFF and one_off.daily_cap is None
    with pytest.raises(sending.SendError):
        triggers.campaign_trigger_activate(campaign=one_off)


def test_a_dead_workers_send_resumes_without_sending_anyone_twice(sync_worker, hot, run, settings):
    campaign = welcome([hot])
    run(triggers.campaign_trigger_activate, campaign=campaign)
    a, b = ContactFactory(email="a@example.com"), ContactFactory(email="b@example.com")
    join(hot, a, b)
    triggers.triggers_tick()  # deliveries queued; the worker dies before and during the batch:
    Delivery.objects.filter(contact=a).update(status=DeliveryStatus.SENDING)  # a was in flight
    run(triggers.triggers_tick)  # the batch gave a sign of life just now: not yet
    assert mail.outbox == []
    later = timezone.now() + dt.timedelta(seconds=settings.SEND_STALE_AFTER + 1)
    result = run(triggers.triggers_tick, now=later)
    assert result["resumed"] == 1
    assert recipients() == ["b@example.com"]
    assert Delivery.objects.get(contact=a).status == DeliveryStatus.UNKNOWN  # never sent again
    assert run(triggers.triggers_tick, now=later + dt.timedelta(minutes=5))["resumed"] == 0


def test_the_minutely_tick_is_scheduled():
    from django_q.models import Schedule

    from campaigns.schedules import TRIGGERS_TICK, schedules_register

    schedules_register()
    schedule = Schedule.objects.get(name=TRIGGERS_TICK)
    assert schedule.func == "campaigns.tasks.triggers_tick" and schedule.minutes == 1


def test_the_tick_task_runs_and_leaves_the_history_alone_without_active_campaigns(sync_worker, hot, run):
    from campaigns import tasks

    assert tasks.triggers_tick() == {"campaigns": 0, "queued": 0, "resumed": 0}
    campaign = welcome([hot])
    run(triggers.campaign_trigger_activate, campaign=campaign)
    join(hot, ContactFactory(email="t@example.com"))
    assert run(tasks.trigger_run, campaign_id=campaign.pk) == {
        "campaign_id": campaign.pk,
        "queued": 1,
        "deferred": False,
    }
    assert recipients() == ["t@example.com"]


def test_a_merge_is_not_an_entry_and_the_merged_persons_message_counts(sync_worker, hot, run):
    from contacts.services import contact_merge

    campaign = welcome([hot])
    run(triggers.campaign_trigger_activate, campaign=campaign)
    child = ContactFactory(email="jana.work@example.com")
    parent = ContactFactory(email="jana@example.com")
    join(hot, child)
    run(triggers.triggers_tick)
    assert recipients() == ["jana.work@example.com"]

    run(contact_merge, parent=parent, child=child)  # the parent enters the group through the merge
    assert MembershipEvent.objects.filter(contact_id=parent.pk, group=hot, kind=1).exists()
    run(triggers.triggers_tick)
    leave(hot, parent)
    join(hot, parent)  # a real entry now, of the same person
    run(triggers.triggers_tick)
    assert recipients() == ["jana.work@example.com"]
    campaign.refresh_from_db()
    assert campaign.trigger_skips == {"already": 1}  # the merge itself was no entry
