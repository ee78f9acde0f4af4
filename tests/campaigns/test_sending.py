"""Sending: the audience frozen into one delivery per contact (variant and A/B arm as the selectors
compute them), batches through Django's email backend and the SMS backend, the unsubscribe link with
RFC 8058 headers, scheduling, and resuming after the worker dies without sending anyone twice."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemEmailBackend
from django.utils import timezone

from campaigns import selectors, sending, services
from campaigns.models import Campaign, CampaignStatus, Channel, Delivery, DeliveryStatus, Unsubscribe
from campaigns.sms_backends import LocmemBackend
from tests.campaigns.conftest import email_campaign

pytestmark = pytest.mark.django_db


def send_now(campaign, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sending.campaign_send(campaign=campaign)
    campaign.refresh_from_db()
    return campaign


def test_send_now_freezes_one_delivery_per_contact_and_sends_each_once(
    sync_worker, people, settings, django_capture_on_commit_callbacks
):
    settings.SEND_BATCH = 2  # 5 recipients: three batches, each queueing the next
    campaign = email_campaign(people)
    variant = services.variant_save(campaign=campaign, group=people["cz"], priority=1, subject="Ahoj {{ first_name }}")
    services.split_set(
        campaign=campaign, arms=[services.ArmInput(50), services.ArmInput(50, body="<p>B {{ first_name }}</p>")]
    )
    expected = {c.pk: (c.variant_id, c.arm) for c in selectors.assigned_audience(campaign=campaign)}

    campaign = send_now(campaign, django_capture_on_commit_callbacks)

    assert campaign.status == CampaignStatus.SENT and campaign.recipients == 5 and campaign.sent_at
    rows = list(Delivery.objects.filter(campaign=campaign))
    assert {d.contact_id: (d.variant_id, d.arm or None) for d in rows} == expected
    assert {d.address for d in rows} == {f"{n}@example.com" for n in ("ann", "bob", "cyd", "eve", "fay")}
    assert {d.status for d in rows} == {DeliveryStatus.SENT} and all(d.sent_at for d in rows)
    assert sorted(m.to[0] for m in mail.outbox) == sorted(d.address for d in rows)  # each once
    by_to = {m.to[0]: m for m in mail.outbox}
    bob = by_to["bob@example.com"]  # in CZ: the variant's subject
    assert bob.subject == "Ahoj Bob" and bob.from_email == "Shop <shop@example.com>"
    assert by_to["ann@example.com"].subject == "Hi Ann"
    assert any(d.variant_id == variant.pk for d in rows)
    html = bob.alternatives[0][0]
    assert ("Hello Bob" in html or "B Bob" in html) and "Just for Bob" in html
    url = bob.extra_headers["List-Unsubscribe"].strip("<>")
    assert url.startswith("https://mail.example.org/u/") and url in bob.body and url in html
    assert bob.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    with pytest.raises(sending.SendError):  # a campaign is sent once
        sending.campaign_send(campaign=campaign)


def test_unsubscribe_link_confirms_then_records_and_one_click_post_records_at_once(
    sync_worker, people, client, django_capture_on_commit_callbacks
):
    send_now(email_campaign(people), django_capture_on_commit_callbacks)
    by_to = {m.to[0]: m for m in mail.outbox}
    path = (
        by_to["ann@example.com"].extra_headers["List-Unsubscribe"].strip("<>").removeprefix("https://mail.example.org")
    )
    page = client.get(path)  # no sign-in needed; GET changes nothing
    assert page.status_code == 200 and "Unsubscribe?" in page.content.decode()
    assert not Unsubscribe.objects.exists()
    done = client.post(path)
    assert done.status_code == 200 and "You are unsubscribed" in done.content.decode()
    record = Unsubscribe.objects.get()
    assert record.contact == people["ann"] and record.channel == Channel.EMAIL and record.campaign.name == "Spring"

    # RFC 8058: the mail provider POSTs the body "List-Unsubscribe=One-Click", without cookies or CSRF token
    csrf_client = client.__class__(enforce_csrf_checks=True)
    bob_path = (
        by_to["bob@example.com"].extra_headers["List-Unsubscribe"].strip("<>").removeprefix("https://mail.example.org")
    )
    one_click = csrf_client.post(
        bob_path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert one_click.status_code == 200
    assert Unsubscribe.objects.filter(contact=people["bob"], channel=Channel.EMAIL).exists()

    # forged or tampered tokens: 404, nothing recorded
    token = bob_path.split("/")[2]
    delivery_id, signature = token.split(":")
    for bad in (f"{int(delivery_id) + 1}:{signature}", f"{delivery_id}:{signature[:-2]}xx", "nonsense"):
        assert client.post(f"/u/{bad}/", "List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded").status_code == 404  # fmt: skip
    assert Unsubscribe.objects.count() == 2
    # the next campaign leaves them out
    spec = selectors.audience_spec(campaign=email_campaign(people))
    assert selectors.audience_breakdown(spec=spec).audience == 3


class WorkerKilled(BaseException):  # noqa: N818 — not an error the sender may catch: the process is gone
    """Raised by the backend below: like SIGKILL, nothing after it in the worker runs (no except Exception)."""


class DyingBackend(LocmemEmailBackend):
    """Accepts `accept_before_death` messages, then the worker dies — after (or before) the server took the next."""

    accept_before_death = 3
    delivered_then_killed = True

    def send_messages(self, messages):
        if len(mail.outbox) == self.accept_before_death:
            DyingBackend.accept_before_death = -1  # the next worker lives
            if self.delivered_then_killed:
                super().send_messages(messages)  # the server has it; the worker dies before recording it
            raise WorkerKilled
        return super().send_messages(messages)


@pytest.mark.parametrize("claim", [1, 50], ids=["claim-1", "claim-50"])
@pytest.mark.parametrize("delivered_then_killed", [True, False], ids=["killed-after-accept", "killed-before-accept"])
def test_a_worker_killed_mid_send_resumes_without_sending_anyone_twice(
    sync_worker, people, settings, django_capture_on_commit_callbacks, delivered_then_killed, claim
):
    settings.SEND_BATCH = 2
    settings.SEND_CLAIM = claim  # rows claimed (committed `sending`) at once: a kill leaves up to this many
    settings.EMAIL_BACKEND = "tests.campaigns.test_sending.DyingBackend"
    DyingBackend.accept_before_death, DyingBackend.delivered_then_killed = 3, delivered_then_killed
    campaign = email_campaign(people)
    with pytest.raises(WorkerKilled), django_capture_on_commit_callbacks(execute=True):
        sending.campaign_send(campaign=campaign)  # dies in the second batch, on its second message
    # what a kill leaves: the claimed rows ('sending': one, or the whole second batch of two when claimed
    # together, its first message accepted but not yet recorded), the rest queued, the campaign 'sending'
    left = {"sent": 3, "sending": 1, "queued": 1} if claim == 1 else {"sent": 2, "sending": 2, "queued": 1}
    assert Counter(Delivery.objects.values_list("status", flat=True)) == left
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENDING

    assert sending.sends_recover() == []  # the heartbeat is fresh: the worker might still be alive
    later = timezone.now() + timedelta(seconds=settings.SEND_STALE_AFTER + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert sending.sends_recover(now=later) == [campaign.pk]

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT
    received = Counter(m.to[0] for m in mail.outbox)
    assert max(received.values()) == 1  # nobody twice
    unconfirmed = list(Delivery.objects.filter(status=DeliveryStatus.UNKNOWN))  # reported, not re-sent
    assert len(unconfirmed) == left["sending"] and all("not sent again" in d.error for d in unconfirmed)
    dying = Delivery.objects.order_by("pk")[3]  # the message the worker died on
    everyone = set(Delivery.objects.values_list("address", flat=True))
    assert set(received) == (everyone if delivered_then_killed else everyone - {dying.address})


def test_sms_goes_through_the_sms_backend(sync_worker, people, django_capture_on_commit_callbacks):
    campaign = services.campaign_create(
        name="Text", channel=Channel.SMS, include=[people["vip"]], sender="SHOP", body="Hi {{ first_name }}, 20% off"
    )
    send_now(campaign, django_capture_on_commit_callbacks)
    assert sorted((m.to, m.text) for m in LocmemBackend.outbox) == sorted(
        (people[n].phone, f"Hi {n.capitalize()}, 20% off\nReply STOP to opt out") for n in ("ann", "bob", "eve")
    )
    assert {m.sender for m in LocmemBackend.outbox} == {"SHOP"} and not mail.outbox


def test_scheduled_campaign_starts_when_due_and_can_be_cancelled_before(
    sync_worker, people, django_capture_on_commit_callbacks
):
    campaign = email_campaign(people)
    at = timezone.now() + timedelta(hours=1)
    sending.campaign_send(campaign=campaign, at=at)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED and campaign.scheduled_at == at
    assert sending.sends_start_due() == [] and not Delivery.objects.exists()
    sending.campaign_send_cancel(campaign=campaign)
    assert Campaign.objects.get().status == CampaignStatus.DRAFT
    sending.campaign_send(campaign=campaign, at=at)
    with django_capture_on_commit_callbacks(execute=True):
        assert sending.sends_start_due(now=at + timedelta(seconds=30)) == [campaign.pk]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT and len(mail.outbox) == 5
    with pytest.raises(sending.SendError):
        sending.campaign_send_cancel(campaign=campaign)


def test_contacts_unsubscribed_after_freezing_are_skipped_and_token_errors_fail_one_delivery(
    sync_worker, people, django_capture_on_commit_callbacks, monkeypatch
):
    campaign = email_campaign(people)
    monkeypatch.setattr(sending, "queue_batch", lambda **kw: None)
    monkeypatch.setattr(sending, "_queue", lambda func, pk: None)  # nothing runs by itself here
    with django_capture_on_commit_callbacks(execute=True):
        sending.campaign_send(campaign=campaign)
    assert sending.send_start(campaign_id=campaign.pk) == 5
    services.unsubscribe_record(contact=people["eve"], channel=Channel.EMAIL)
    result = sending.send_batch(campaign_id=campaign.pk)
    assert (result.sent, result.skipped, result.more) == (4, 1, False)
    assert Delivery.objects.get(contact=people["eve"]).status == DeliveryStatus.SKIPPED
    assert "eve@example.com" not in [m.to[0] for m in mail.outbox]


def test_a_send_is_refused_with_a_reason_and_nothing_changes(sync_worker, people, django_capture_on_commit_callbacks):
    from contacts.models import ContactField

    campaign = email_campaign(people)
    field = ContactField.objects.create(code="plan", label="Plan", type="text")
    services.variant_save(campaign=campaign, group=people["cz"], priority=1, body="<p>Your plan: {{ custom.plan }}</p>")
    ContactField.objects.filter(pk=field.pk).update(is_active=False)  # deactivated after the variant was saved
    with pytest.raises(sending.SendError, match="custom.plan"):
        sending.campaign_send(campaign=campaign)
    empty = services.campaign_create(
        name="Nobody", channel=Channel.EMAIL, include=[people["blocked"]], exclude=[], subject="x", body="y"
    )
    services.unsubscribe_record(contact=people["dan"], channel=Channel.EMAIL)
    with pytest.raises(sending.SendError, match="audience is empty"):
        sending.campaign_send(campaign=empty)
    assert set(Campaign.objects.values_list("status", flat=True)) == {CampaignStatus.DRAFT}
    assert not Delivery.objects.exists() and not mail.outbox


def test_the_minutely_check_is_scheduled_and_starts_and_resumes(sync_worker, people):
    from django_q.models import Schedule

    from campaigns import tasks

    assert Schedule.objects.filter(name="campaigns.sends_tick", func="campaigns.tasks.sends_tick", minutes=1).exists()
    assert tasks.sends_tick() == {"started": [], "resumed": []}


def test_two_chains_send_disjoint_parts_and_everyone_once(
    sync_worker, people, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.SEND_WORKERS, settings.SEND_BATCH = 2, 2
    campaign = email_campaign(people)
    monkeypatch.setattr(sending, "_queue", lambda func, pk: None)  # send_start by hand; the chains run at once
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: None)
    with django_capture_on_commit_callbacks(execute=True):
        sending.campaign_send(campaign=campaign)
    sending.send_start(campaign_id=campaign.pk)
    first = sending.send_batch(campaign_id=campaign.pk, part=0, parts=2)
    assert {Delivery.objects.get(address=m.to[0]).pk % 2 for m in mail.outbox} == {0}  # its own part only
    while first.more:
        first = sending.send_batch(campaign_id=campaign.pk, part=0, parts=2)
    assert Campaign.objects.get().status == CampaignStatus.SENDING  # the other part is still queued
    while sending.send_batch(campaign_id=campaign.pk, part=1, parts=2).more:
        pass
    assert Campaign.objects.get().status == CampaignStatus.SENT
    assert sorted(m.to[0] for m in mail.outbox) == sorted(Delivery.objects.values_list("address", flat=True))


def test_send_start_queues_one_chain_per_send_worker(sync_worker, people, settings, django_capture_on_commit_callbacks):
    settings.SEND_WORKERS = 2
    with django_capture_on_commit_callbacks(execute=True):
        sending.campaign_send(campaign=email_campaign(people))  # the sync worker runs both chains
    assert Campaign.objects.get().status == CampaignStatus.SENT
    assert Counter(m.to[0] for m in mail.outbox) == Counter(Delivery.objects.values_list("address", flat=True))
