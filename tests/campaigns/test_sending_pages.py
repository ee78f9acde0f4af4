"""Sending pages per role: send now (the confirmation names the audience), schedule (bad times refused,
nothing changes), cancel, progress (also as the polled fragment) and the deliveries list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, Delivery
from tests.campaigns.conftest import email_campaign

pytestmark = pytest.mark.django_db


def test_marketer_sends_now_and_follows_progress_and_deliveries(
    marketer_client, sync_worker, people, django_capture_on_commit_callbacks
):
    campaign = email_campaign(people)
    page = marketer_client.get(reverse("campaigns:campaign_sending", args=[campaign.pk]))
    assert page.status_code == 200 and page.context["audience"] == 5
    assert "It goes to 5 contacts now" in page.content.decode()  # the data-confirm question
    with django_capture_on_commit_callbacks(execute=True):
        response = marketer_client.post(reverse("campaigns:campaign_send", args=[campaign.pk]), {"action": "now"})
    assert response.status_code == 302
    assert Campaign.objects.get().status == CampaignStatus.SENT and len(mail.outbox) == 5
    page = marketer_client.get(reverse("campaigns:campaign_sending", args=[campaign.pk]))
    assert page.context["progress"]["sent"] == 5 and page.context["progress"]["remaining"] == 0
    assert [d.address for d in page.context["page_obj"]] == list(
        Delivery.objects.order_by("pk").values_list("address", flat=True)
    )
    assert (
        marketer_client.get(reverse("campaigns:campaign_sending", args=[campaign.pk]), {"status": "failed"})
        .context["page_obj"]
        .paginator.count
        == 0
    )
    fragment = marketer_client.get(
        reverse("campaigns:campaign_sending", args=[campaign.pk]), {"part": "progress"}, HTTP_HX_REQUEST="true"
    )
    assert fragment.status_code == 200 and "data-send-progress" in fragment.content.decode()
    assert "<html" not in fragment.content.decode()
    again = marketer_client.post(reverse("campaigns:campaign_send", args=[campaign.pk]), {"action": "now"})
    assert again.status_code == 400 and len(mail.outbox) == 5


def test_schedule_needs_a_future_moment_and_can_be_cancelled(admin_client_role, sync_worker, people):
    campaign = email_campaign(people)
    url = reverse("campaigns:campaign_send", args=[campaign.pk])
    past = (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    for data in ({"action": "schedule"}, {"action": "schedule", "at": past}, {"action": "schedule", "at": "soon"}):
        response = admin_client_role.post(url, data)
        assert response.status_code == 400 and response.context["form"].errors["at"]
        assert Campaign.objects.get().status == CampaignStatus.DRAFT
    future = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert admin_client_role.post(url, {"action": "schedule", "at": future}).status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED and campaign.scheduled_at > timezone.now()
    assert admin_client_role.post(url, {"action": "cancel"}).status_code == 302
    assert Campaign.objects.get().status == CampaignStatus.DRAFT and not mail.outbox


def test_staff_cannot_see_or_send(staff_client, sync_worker, people):
    campaign = email_campaign(people)
    assert staff_client.get(reverse("campaigns:campaign_sending", args=[campaign.pk])).status_code == 403
    assert (
        staff_client.post(reverse("campaigns:campaign_send", args=[campaign.pk]), {"action": "now"}).status_code == 403
    )
    assert Campaign.objects.get().status == CampaignStatus.DRAFT and not Delivery.objects.exists()


def test_a_sent_campaign_can_no_longer_be_changed_or_deleted(
    marketer_client, sync_worker, people, django_capture_on_commit_callbacks
):
    campaign = email_campaign(people)
    with django_capture_on_commit_callbacks(execute=True):
        marketer_client.post(reverse("campaigns:campaign_send", args=[campaign.pk]), {"action": "now"})
    for name, data in [
        ("campaigns:campaign_update", {"name": "Renamed", "channel": "email", "include": [people["vip"].pk]}),
        ("campaigns:campaign_split", {"A_percent": 50, "B_percent": 50}),
        ("campaigns:campaign_variants", {"group": people["cz"].pk, "priority": 1, "subject": "x"}),
        ("campaigns:campaign_delete", {}),
    ]:
        response = marketer_client.post(reverse(name, args=[campaign.pk]), data)
        assert response.status_code == 302 and response.url == reverse("campaigns:campaign_sending", args=[campaign.pk])
    campaign.refresh_from_db()
    assert campaign.name == "Spring" and not campaign.arms.exists() and not campaign.variants.exists()
    assert Delivery.objects.filter(campaign=campaign).count() == 5
    # The pages offer no Edit or Delete, and the services refuse too (the API or a command goes through them).
    body = marketer_client.get(reverse("campaigns:campaign_sending", args=[campaign.pk])).content.decode()
    assert "bi-pencil" not in body  # the Edit button (the Settings tab still shows what was sent)
    assert reverse("campaigns:campaign_delete", args=[campaign.pk]) not in body
    from campaigns import services

    with pytest.raises(services.CampaignError, match="can no longer be changed"):
        services.campaign_delete(campaign=campaign)
    with pytest.raises(services.CampaignError, match="can no longer be changed"):
        services.split_set(campaign=campaign, arms=[services.ArmInput(percent=50), services.ArmInput(percent=50)])
    assert Campaign.objects.filter(pk=campaign.pk).exists() and not campaign.arms.exists()
