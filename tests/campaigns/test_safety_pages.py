"""The safety rail on the Sending tab: the reasons are listed with a required "I checked the audience: send to N
people" box; a POST without it (or with a stale one) is refused and sends nothing; confirming sends; the
Audience tab records the preview; a held send shows why and confirms again; per-role access is unchanged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from campaigns import safety, sending
from campaigns.models import Campaign, CampaignStatus, Delivery
from segments.models import Membership
from tests.campaigns.conftest import email_campaign
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def urls(campaign):
    return (
        reverse("campaigns:campaign_sending", args=[campaign.pk]),
        reverse("campaigns:campaign_send", args=[campaign.pk]),
    )


def test_the_audience_tab_is_the_preview_the_rail_compares_with(marketer_client, people):
    campaign = email_campaign(people)
    assert marketer_client.get(reverse("campaigns:campaign_detail", args=[campaign.pk])).status_code == 200
    campaign.refresh_from_db()
    assert campaign.last_preview_count == 5 and campaign.last_preview_at is not None
    page, _ = urls(campaign)
    response = marketer_client.get(page)
    assert response.context["safety"]["warnings"] == [] and "data-safety-confirm" not in response.content.decode()


@pytest.mark.parametrize("client_fixture", ["marketer_client", "admin_client_role"])
def test_a_surprising_audience_asks_and_confirming_sends(
    request, client_fixture, people, sync_worker, django_capture_on_commit_callbacks
):
    client = request.getfixturevalue(client_fixture)
    campaign = email_campaign(people)
    safety.preview_record(campaign=campaign, count=3)
    page, send = urls(campaign)
    shown = client.get(page)
    html = shown.content.decode()
    assert "The audience is 5 — 67 % more than the last preview (3, " in html
    assert "I checked the audience: send to 5 people" in html and 'name="confirm" value="5"' in html
    refused = client.post(send, {"action": "now"})
    assert (
        refused.status_code == 400
        and "Check the audience: confirm that it goes to 5 people." in refused.content.decode()
    )
    assert 'data-safety-reason="preview"' in refused.content.decode()
    assert Campaign.objects.get().status == CampaignStatus.DRAFT and not Delivery.objects.exists()
    token = shown.context["safety"]["token"]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(send, {"action": "now", "confirm": "5", "confirm_token": token})
    assert response.status_code == 302
    assert Campaign.objects.get().status == CampaignStatus.SENT and len(mail.outbox) == 5


def test_a_stale_confirmation_asks_again_with_the_new_count(marketer_client, people, sync_worker):
    campaign = email_campaign(people)
    safety.preview_record(campaign=campaign, count=3)
    page, send = urls(campaign)
    token = marketer_client.get(page).context["safety"]["token"]
    Membership.objects.create(group=people["vip"], contact=ContactFactory(), via_manual=True)  # now 6
    response = marketer_client.post(send, {"action": "now", "confirm": "5", "confirm_token": token})
    html = response.content.decode()
    assert response.status_code == 400
    assert "The audience changed since you confirmed it (5 then, 6 now): check it again." in html
    assert "I checked the audience: send to 6 people" in html and response.context["safety"]["audience"] == 6
    assert Campaign.objects.get().status == CampaignStatus.DRAFT and not Delivery.objects.exists()


def test_scheduling_needs_the_confirmation_too_and_records_the_count(marketer_client, people, sync_worker):
    campaign = email_campaign(people)
    safety.preview_record(campaign=campaign, count=3)
    page, send = urls(campaign)
    future = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert marketer_client.post(send, {"action": "schedule", "at": future}).status_code == 400
    assert Campaign.objects.get().status == CampaignStatus.DRAFT
    token = marketer_client.get(page).context["safety"]["token"]
    data = {"action": "schedule", "at": future, "confirm": "5", "confirm_token": token}
    assert marketer_client.post(send, data).status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED and campaign.confirmed_audience == 5
    assert "5 were confirmed when it was scheduled" in marketer_client.get(page).content.decode()


def test_a_held_send_shows_why_and_is_confirmed_again(
    marketer_client, people, sync_worker, django_capture_on_commit_callbacks
):
    campaign = email_campaign(people)
    at = timezone.now() + timedelta(hours=1)
    safety.campaign_send_checked(campaign=campaign, at=at)
    for _ in range(3):
        Membership.objects.create(group=people["cz"], contact=ContactFactory(), via_manual=True)
    sending.sends_start_due(now=at)
    page, send = urls(campaign)
    shown = marketer_client.get(page)
    html = shown.content.decode()
    assert "Held — send again?" in html and "Held</span>" in html
    assert "the audience was 8 — 60 % more than the 5 confirmed when it was scheduled" in html
    assert 'data-safety-reason="held"' in html and "send to 8 people" in html
    assert marketer_client.post(send, {"action": "now"}).status_code == 400
    assert Campaign.objects.get().status == CampaignStatus.HELD
    with django_capture_on_commit_callbacks(execute=True):
        data = {"action": "now", "confirm": "8", "confirm_token": shown.context["safety"]["token"]}
        assert marketer_client.post(send, data).status_code == 302
    assert Campaign.objects.get().status == CampaignStatus.SENT and len(mail.outbox) == 8


def test_staff_still_cannot_see_or_send_even_with_a_confirmation(staff_client, people, sync_worker):
    campaign = email_campaign(people)
    safety.preview_record(campaign=campaign, count=3)
    warnings = safety.send_checks(campaign=campaign)
    token = safety.confirmation_token(campaign=campaign, audience=5, warnings=warnings)
    page, send = urls(campaign)
    assert staff_client.get(page).status_code == 403
    assert staff_client.post(send, {"action": "now", "confirm": "5", "confirm_token": token}).status_code == 403
    assert Campaign.objects.get().status == CampaignStatus.DRAFT and not Delivery.objects.exists()


def test_a_forged_confirmation_value_is_a_form_error_not_a_500(marketer_client, people, sync_worker):
    campaign = email_campaign(people)
    safety.preview_record(campaign=campaign, count=3)
    _, send = urls(campaign)
    response = marketer_client.post(send, {"action": "now", "confirm": "lots", "confirm_token": "x" * 20})
    assert response.status_code == 400 and response.context["form"].errors["confirm"]
    assert not Delivery.objects.exists()
