"""Failed deliveries: a temporary refusal (SMTP 4xx, no connection) is retried automatically a bounded
number of times after a pause; a permanent refusal (5xx) is not; a connection broken mid-message is "Not
confirmed" and never retried; the Sending tab's button retries the failed ones only, per role."""

from __future__ import annotations

import smtplib
from collections import Counter
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemEmailBackend
from django.urls import reverse
from django.utils import timezone

from campaigns import sending
from campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from campaigns.outcomes import Outcome, outcome_of
from tests.campaigns.conftest import email_campaign

pytestmark = pytest.mark.django_db
HERE = "tests.campaigns.test_retries"


class RefusingBackend(LocmemEmailBackend):
    """Refuses the messages to `refuse` (address → the exception to raise) once each, or always."""

    refuse: dict[str, Exception] = {}
    always = False
    tried: Counter[str] = Counter()

    def send_messages(self, messages):
        to = messages[0].to[0]
        RefusingBackend.tried[to] += 1
        if to in self.refuse and (self.always or RefusingBackend.tried[to] == 1):
            raise self.refuse[to]
        return super().send_messages(messages)


class DownBackend(LocmemEmailBackend):
    """The mail server cannot be reached: opening the connection fails."""

    def open(self):
        raise ConnectionRefusedError(111, "Connection refused")


@pytest.fixture
def refusing(settings, sync_worker):
    settings.EMAIL_BACKEND = f"{HERE}.RefusingBackend"
    RefusingBackend.refuse, RefusingBackend.always, RefusingBackend.tried = {}, False, Counter()
    return RefusingBackend


def send(campaign, capture):
    with capture(execute=True):
        sending.campaign_send(campaign=campaign)
    campaign.refresh_from_db()
    return campaign


def statuses():
    return dict(Delivery.objects.values_list("address", "status"))


def test_a_temporary_refusal_is_retried_after_a_pause_and_then_sent(
    refusing, people, settings, django_capture_on_commit_callbacks
):
    settings.SEND_RETRY_DELAY = 0  # due at once: the next batch retries it
    refusing.refuse = {"ann@example.com": smtplib.SMTPRecipientsRefused({"ann@example.com": (451, b"try later")})}
    campaign = send(email_campaign(people), django_capture_on_commit_callbacks)
    assert campaign.status == CampaignStatus.SENT
    ann = Delivery.objects.get(address="ann@example.com")
    assert ann.status == DeliveryStatus.SENT and ann.attempts == 1 and ann.error == ""
    assert Counter(m.to[0] for m in mail.outbox) == Counter(dict.fromkeys(statuses(), 1))  # everyone once
    assert refusing.tried["ann@example.com"] == 2


def test_a_retry_waits_for_its_time_and_the_minutely_check_sends_it(
    refusing, people, settings, django_capture_on_commit_callbacks
):
    settings.SEND_RETRY_DELAY = 600  # ten minutes: longer than a stale heartbeat
    refusing.refuse = {"bob@example.com": smtplib.SMTPSenderRefused(421, b"busy", "shop@example.com")}
    campaign = send(email_campaign(people), django_capture_on_commit_callbacks)
    bob = Delivery.objects.get(address="bob@example.com")
    assert campaign.status == CampaignStatus.SENDING and bob.status == DeliveryStatus.QUEUED
    assert bob.attempts == 1 and "retry 1 of 3" in bob.error and bob.retry_at > timezone.now()
    assert sending.sends_recover(now=timezone.now() + timedelta(seconds=settings.SEND_STALE_AFTER + 1)) == []
    Delivery.objects.filter(pk=bob.pk).update(retry_at=timezone.now() - timedelta(seconds=1))  # its time came
    with django_capture_on_commit_callbacks(execute=True):
        later = timezone.now() + timedelta(seconds=settings.SEND_STALE_AFTER + 1)
        assert sending.sends_recover(now=later) == [campaign.pk]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT and statuses()["bob@example.com"] == DeliveryStatus.SENT
    assert not Delivery.objects.filter(status=DeliveryStatus.UNKNOWN).exists()


def test_a_permanent_refusal_is_not_retried(refusing, people, settings, django_capture_on_commit_callbacks):
    settings.SEND_RETRY_DELAY = 0
    refusing.refuse = {"cyd@example.com": smtplib.SMTPRecipientsRefused({"cyd@example.com": (550, b"no such user")})}
    campaign = send(email_campaign(people), django_capture_on_commit_callbacks)
    cyd = Delivery.objects.get(address="cyd@example.com")
    assert cyd.status == DeliveryStatus.FAILED and "550" in cyd.error and cyd.retry_at is None
    assert refusing.tried["cyd@example.com"] == 1 and campaign.status == CampaignStatus.SENT


def test_a_server_that_stays_down_is_retried_a_bounded_number_of_times(
    settings, sync_worker, people, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = f"{HERE}.DownBackend"
    settings.SEND_RETRY_DELAY = 0
    campaign = send(email_campaign(people), django_capture_on_commit_callbacks)
    assert campaign.status == CampaignStatus.FAILED and not mail.outbox
    rows = list(Delivery.objects.all())
    assert {d.status for d in rows} == {DeliveryStatus.FAILED}
    assert {d.attempts for d in rows} == {settings.SEND_RETRIES + 1}
    assert all("gave up after 4 attempts" in d.error and "Connection refused" in d.error for d in rows)


def test_a_connection_broken_mid_message_is_not_confirmed_and_never_retried(
    refusing, people, settings, django_capture_on_commit_callbacks, marketer_client
):
    settings.SEND_RETRY_DELAY = 0
    refusing.refuse = {"eve@example.com": smtplib.SMTPServerDisconnected("Connection unexpectedly closed")}
    refusing.always = True
    campaign = send(email_campaign(people), django_capture_on_commit_callbacks)
    eve = Delivery.objects.get(address="eve@example.com")
    assert eve.status == DeliveryStatus.UNKNOWN and "may have gone out" in eve.error
    assert refusing.tried["eve@example.com"] == 1 and campaign.status == CampaignStatus.SENT
    with django_capture_on_commit_callbacks(execute=True):
        marketer_client.post(reverse("campaigns:campaign_send", args=[campaign.pk]), {"action": "retry"})
    assert refusing.tried["eve@example.com"] == 1 and statuses()["eve@example.com"] == DeliveryStatus.UNKNOWN


@pytest.mark.parametrize(
    ("exc", "connecting", "outcome"),
    [
        (smtplib.SMTPResponseException(421, b"closing"), False, Outcome.RETRY),
        (smtplib.SMTPDataError(554, b"rejected"), False, Outcome.FAILED),
        (smtplib.SMTPRecipientsRefused({"a@x": (452, b"full"), "b@x": (550, b"no")}), False, Outcome.FAILED),
        (ConnectionRefusedError(111, "refused"), True, Outcome.RETRY),
        (TimeoutError("timed out"), True, Outcome.RETRY),
        (ConnectionResetError(104, "reset"), False, Outcome.UNKNOWN),
        (ValueError("bad header"), False, Outcome.FAILED),
    ],
)
def test_errors_are_classified(exc, connecting, outcome):
    assert outcome_of(exc, connecting=connecting) == outcome


@pytest.fixture
def failed_campaign(refusing, people, settings, django_capture_on_commit_callbacks):
    """A sent campaign: dan… is excluded, ann failed (5xx), eve not confirmed, fay skipped; the rest sent."""
    refusing.refuse = {"ann@example.com": smtplib.SMTPRecipientsRefused({"ann@example.com": (550, b"full")})}
    campaign = send(email_campaign(people), django_capture_on_commit_callbacks)
    Delivery.objects.filter(address="eve@example.com").update(status=DeliveryStatus.UNKNOWN)
    Delivery.objects.filter(address="fay@example.com").update(status=DeliveryStatus.SKIPPED)
    assert statuses()["ann@example.com"] == DeliveryStatus.FAILED
    return campaign


@pytest.mark.parametrize("role", ["marketer_client", "admin_client_role"])
def test_the_button_retries_only_the_failed_deliveries(
    failed_campaign, role, request, django_capture_on_commit_callbacks
):
    client = request.getfixturevalue(role)
    page = client.get(reverse("campaigns:campaign_sending", args=[failed_campaign.pk]))
    assert "data-retry-failed" in page.content.decode()
    before = Counter(m.to[0] for m in mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("campaigns:campaign_send", args=[failed_campaign.pk]), {"action": "retry"})
    assert response.status_code == 302
    after = Counter(m.to[0] for m in mail.outbox)
    assert after - before == Counter({"ann@example.com": 1})  # the failed one, and nobody else again
    assert statuses()["ann@example.com"] == DeliveryStatus.SENT
    assert statuses()["eve@example.com"] == DeliveryStatus.UNKNOWN
    assert statuses()["fay@example.com"] == DeliveryStatus.SKIPPED
    assert Campaign.objects.get().status == CampaignStatus.SENT
    page = client.get(reverse("campaigns:campaign_sending", args=[failed_campaign.pk]))
    assert "data-retry-failed" not in page.content.decode()  # nothing failed is left


def test_staff_may_not_retry(failed_campaign, staff_client, django_capture_on_commit_callbacks):
    page = staff_client.get(reverse("campaigns:campaign_sending", args=[failed_campaign.pk]))
    assert page.status_code == 403  # Staff has no campaign permissions at all
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("campaigns:campaign_send", args=[failed_campaign.pk]), {"action": "retry"})
    assert response.status_code == 403
    assert statuses()["ann@example.com"] == DeliveryStatus.FAILED
