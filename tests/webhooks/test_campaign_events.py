"""Campaign events (campaign.sent / opened / clicked, contact.unsubscribed) delivered to a real HTTP receiver on
127.0.0.1: written with the change they record (the campaigns' outbox), chosen per endpoint, in order, signed,
unique ids; and the wake-up that sends events within seconds of the task that wrote them."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape

import pytest
from django.core import mail
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from campaigns import sending
from campaigns.events import campaign_events_prune
from campaigns.models import CampaignEvent, Channel, Delivery, Unsubscribe
from campaigns.services import delivery_unsubscribe, resubscribe_record, unsubscribe_record
from contacts.models import Contact
from segments.services import group_add_contacts
from tests.campaigns.conftest import email_campaign
from tests.factories import ContactFactory, ContactGroupFactory
from tests.webhooks.test_delivery import documented_verify, endpoint_for
from webhooks import wakeups
from webhooks.models import Delivery as WebhookDelivery
from webhooks.models import DeliveryStatus, Stream
from webhooks.tasks import run_webhooks

pytestmark = pytest.mark.django_db
CAMPAIGN_EVENTS = ["campaign_sent", "campaign_opened", "campaign_clicked", "contact_unsubscribed"]
SITE = "https://mail.example.org"


@pytest.fixture
def sent(sync_worker, people, django_capture_on_commit_callbacks):
    """A campaign sent to ann, bob, cyd, eve and fay (dan is excluded), with each one's HTML."""
    campaign = email_campaign(people)
    campaign.body = '<p>Hi, see <a href="https://shop.example.com/spring">the sale</a>.</p>'
    campaign.save()
    with django_capture_on_commit_callbacks(execute=True):
        sending.campaign_send(campaign=campaign)
    return campaign, {m.to[0]: m.alternatives[0][0] for m in mail.outbox}


def test_sends_opens_clicks_and_unsubscribes_reach_the_receiver_in_order(receiver, sent, people, client):
    campaign, html = sent
    ann = html["ann@example.com"]
    assert client.get(unescape(re.search(r'<img src="([^"]+)"', ann)[1]).removeprefix(SITE)).status_code == 200
    click = unescape(re.findall(r'href="([^"]+)"', html["bob@example.com"])[0]).removeprefix(SITE)
    assert client.get(click).status_code == 302
    ann_delivery = Delivery.objects.get(campaign=campaign, contact=people["ann"])
    delivery_unsubscribe(delivery_id=ann_delivery.pk)
    delivery_unsubscribe(delivery_id=ann_delivery.pk)  # twice: one opt-out, one event
    endpoint = endpoint_for(receiver, events=CAMPAIGN_EVENTS, groups=[people["blocked"]])  # groups: membership only

    assert run_webhooks() == (1, 1)

    (request,) = receiver.requests
    verify = documented_verify()
    assert verify(endpoint.secret, request.headers["x-segments-timestamp"], request.body, request.headers[
        "x-segments-signature"
    ])  # fmt: skip
    events = request.json["events"]
    assert [e["type"] for e in events] == ["campaign.sent"] * 5 + [
        "campaign.opened",
        "campaign.clicked",
        "contact.unsubscribed",
    ]
    assert sorted(e["contact"]["email"] for e in events[:5]) == [
        f"{n}@example.com" for n in ("ann", "bob", "cyd", "eve", "fay")
    ]
    ids = [e["id"] for e in events]
    assert len(set(ids)) == 8 and all(i.startswith("cev_") for i in ids)
    assert ids == sorted(ids, key=lambda i: int(i[4:]))  # in the order they happened
    opened, clicked, unsubscribed = events[5:]
    assert opened["campaign"] == {"id": campaign.pk, "name": "Spring"}
    assert opened["contact"] == {"id": people["ann"].pk, "email": "ann@example.com"}
    assert opened["channel"] is None and "url" not in opened
    assert clicked["contact"]["email"] == "bob@example.com" and clicked["url"] == "https://shop.example.com/spring"
    assert unsubscribed["channel"] == Channel.EMAIL and unsubscribed["campaign"]["id"] == campaign.pk
    assert events[0]["channel"] == "email" and dt.datetime.fromisoformat(events[0]["at"])
    delivery = WebhookDelivery.objects.get()
    assert (delivery.stream, delivery.status, delivery.event_count) == (Stream.CAMPAIGN, DeliveryStatus.SUCCEEDED, 8)
    assert run_webhooks() == (0, 0)


def test_each_endpoint_gets_only_the_events_it_chose(receiver, sent, people, client):
    group = ContactGroupFactory(code="g")
    opens_only = endpoint_for(receiver, events=["campaign_opened"])
    membership_only = endpoint_for(receiver, events=["entered"])
    group_add_contacts(group=group, contacts=Contact.objects.filter(pk=people["cyd"].pk))
    ann = sent[1]["ann@example.com"]
    client.get(unescape(re.search(r'<img src="([^"]+)"', ann)[1]).removeprefix(SITE))

    run_webhooks()

    by_endpoint = {d.endpoint_id: d.payload["events"] for d in WebhookDelivery.objects.all()}
    assert [e["type"] for e in by_endpoint[opens_only.pk]] == ["campaign.opened"]
    assert [e["type"] for e in by_endpoint[membership_only.pk]] == ["membership.entered"]
    assert len(receiver.requests) == 2


def test_an_event_commits_or_rolls_back_with_its_change():
    contact = ContactFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        unsubscribe_record(contact=contact, channel=Channel.SMS)
        assert CampaignEvent.objects.filter(contact=contact).count() == 1
        raise RuntimeError("the change fails")
    assert not Unsubscribe.objects.exists() and not CampaignEvent.objects.exists()
    unsubscribe_record(contact=contact, channel=Channel.SMS)
    event = CampaignEvent.objects.get()
    assert (event.kind, event.channel, event.campaign_id) == ("unsubscribed", "sms", None)


def test_a_failing_campaign_delivery_holds_back_later_ones_of_its_endpoint(receiver, settings):
    contacts = ContactFactory.create_batch(2)
    endpoint = endpoint_for(receiver, events=["contact_unsubscribed", "entered"])
    unsubscribe_record(contact=contacts[0], channel=Channel.EMAIL)
    receiver.plan.extend(["500"])
    run_webhooks()
    group_add_contacts(group=ContactGroupFactory(), contacts=Contact.objects.filter(pk=contacts[1].pk))
    run_webhooks(now=timezone.now())  # the campaign delivery is not due again yet: the membership one waits
    assert [r.json["events"][0]["type"] for r in receiver.requests] == ["contact.unsubscribed"]
    later = timezone.now() + dt.timedelta(minutes=2)
    run_webhooks(now=later)
    types = [r.json["events"][0]["type"] for r in receiver.requests]
    assert types == ["contact.unsubscribed", "contact.unsubscribed", "membership.entered"]
    assert not WebhookDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).exists()


def test_old_campaign_events_are_pruned(settings):
    settings.CAMPAIGN_EVENTS_DAYS = 30
    contact = ContactFactory()
    unsubscribe_record(contact=contact, channel=Channel.EMAIL)
    unsubscribe_record(contact=contact, channel=Channel.SMS)
    CampaignEvent.objects.filter(channel="email").update(at=timezone.now() - dt.timedelta(days=31))
    assert campaign_events_prune() == 1
    assert list(CampaignEvent.objects.values_list("channel", flat=True)) == ["sms"]


def test_a_task_that_left_events_waiting_queues_one_run(receiver, monkeypatch):
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *a, **k: queued.append(func))
    cache.delete(wakeups.QUEUED_FLAG)
    drain = {"func": "segments.tasks.drain_rechecks", "success": True}
    wakeups.after_task(sender="django_q", task=drain)
    assert queued == []  # no endpoint: nothing to send
    endpoint_for(receiver, events=["entered", "contact_unsubscribed"])
    run_webhooks()
    wakeups.after_task(sender="django_q", task=drain)
    assert queued == []  # nothing past the cursors
    unsubscribe_record(contact=ContactFactory(), channel=Channel.EMAIL)
    wakeups.after_task(sender="django_q", task={"func": wakeups.RUN_TASK})
    assert queued == []  # a run's own end never queues another (no loop)
    wakeups.after_task(sender="django_q", task=drain)
    wakeups.after_task(sender="django_q", task=drain)
    assert queued == [wakeups.RUN_TASK]  # queued once: the second found it queued and not started
    run_webhooks()  # it starts (clearing the flag) and sends
    assert [r.json["events"][0]["type"] for r in receiver.requests] == ["contact.unsubscribed"]
    group_add_contacts(group=ContactGroupFactory(), contacts=Contact.objects.filter(pk=ContactFactory().pk))
    wakeups.after_task(sender="django_q", task=drain)
    assert queued == [wakeups.RUN_TASK, wakeups.RUN_TASK]


def test_an_sms_opt_in_reaches_only_endpoints_that_want_it(receiver):
    contact = ContactFactory(phone="+420601234567")
    unsubscribe_record(contact=contact, channel=Channel.SMS)
    endpoint_for(receiver, events=["contact_resubscribed"])
    assert resubscribe_record(contact=contact, channel=Channel.SMS) is True
    assert resubscribe_record(contact=contact, channel=Channel.SMS) is False  # nothing to undo: no second event
    run_webhooks()
    (request,) = receiver.requests
    (event,) = request.json["events"]  # the opt-out before it is not an event this endpoint asked for
    assert (event["type"], event["channel"], event["contact"]["id"]) == ("contact.resubscribed", "sms", contact.pk)
