"""Triggered campaigns' pages per role: the form's "Send when someone joins" with a daily cap, the trigger panel
on the campaign and Sending pages, Activate / Pause / Resume (Marketer and Admin; Staff and anonymous
refused, nothing changes), and editing only while paused."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from campaigns import triggers
from campaigns.models import Campaign, CampaignKind, CampaignStatus, Delivery
from contacts.models import Contact
from segments.services import group_add_contacts
from tests.factories import ContactFactory, ContactGroupFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def hot():
    return ContactGroupFactory(code="hot_cz", name="Hot CZ prospects")


def form_data(hot, **extra):
    return {
        "name": "Welcome",
        "channel": "email",
        "kind": "triggered",
        "daily_cap": "5",
        "include": [hot.pk],
        "subject": "Welcome, {{ first_name }}",
        "body": "<p>Hello {{ first_name }}</p>",
        **extra,
    }


def test_marketer_creates_activates_and_follows_a_triggered_campaign(
    marketer_client, sync_worker, hot, django_capture_on_commit_callbacks
):
    form = marketer_client.get(reverse("campaigns:campaign_create")).content.decode()
    assert "Send when someone joins" in form and "data-trigger-only" in form
    bad = marketer_client.post(reverse("campaigns:campaign_create"), form_data(hot, daily_cap="0"))
    assert bad.status_code == 200 and bad.context["form"].errors["daily_cap"] and not Campaign.objects.exists()
    response = marketer_client.post(reverse("campaigns:campaign_create"), form_data(hot))
    campaign = Campaign.objects.get()
    assert response.status_code == 302 and (campaign.kind, campaign.daily_cap) == (CampaignKind.TRIGGERED, 5)

    overview = marketer_client.get(reverse("campaigns:campaign_detail", args=[campaign.pk]))
    assert overview.context["trigger"].status == CampaignStatus.DRAFT
    body = overview.content.decode()
    assert "Not active yet" in body and "Activate…" in body and "Send…" not in body
    sending_tab = marketer_client.get(reverse("campaigns:campaign_sending", args=[campaign.pk])).content.decode()
    assert 'value="activate"' in sending_tab and "Send now" not in sending_tab

    url = reverse("campaigns:campaign_trigger", args=[campaign.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert marketer_client.post(url, {"action": "activate"}).status_code == 302
    assert Campaign.objects.get().status == CampaignStatus.ACTIVE
    with django_capture_on_commit_callbacks(execute=True):
        group_add_contacts(group=hot, contacts=Contact.objects.filter(pk=ContactFactory(email="jan@example.com").pk))
        triggers.triggers_tick()
    assert [m.to for m in mail.outbox] == [["jan@example.com"]]
    page = marketer_client.get(reverse("campaigns:campaign_sending", args=[campaign.pk]))
    status = page.context["trigger"]
    assert (status.status, status.sent_today, status.cap, status.total) == ("active", 1, 5, 1)
    assert page.context["progress"]["sent"] == 1 and len(page.context["page_obj"]) == 1
    assert 'value="pause"' in page.content.decode() and "data-trigger-today" in page.content.decode()
    # An open-ended trigger has no "percent done": the counts show, the send progress bar does not.
    assert 'aria-label="Send progress"' not in page.content.decode() and "data-count-sent" in page.content.decode()

    # active: changes are refused until paused
    edit = marketer_client.post(reverse("campaigns:campaign_update", args=[campaign.pk]), form_data(hot, name="X"))
    assert edit.status_code == 302 and edit.url == reverse("campaigns:campaign_sending", args=[campaign.pk])
    assert Campaign.objects.get().name == "Welcome"
    assert marketer_client.post(url, {"action": "pause"}).status_code == 302
    assert Campaign.objects.get().status == CampaignStatus.PAUSED
    settings_page = marketer_client.get(reverse("campaigns:campaign_update", args=[campaign.pk]))
    assert settings_page.status_code == 200 and settings_page.context["form"].fields["kind"].disabled
    marketer_client.post(
        reverse("campaigns:campaign_update", args=[campaign.pk]), form_data(hot, name="Hello", kind="one_off")
    )
    campaign.refresh_from_db()
    assert (campaign.name, campaign.kind) == ("Hello", CampaignKind.TRIGGERED)  # the kind stays
    paused = marketer_client.get(reverse("campaigns:campaign_sending", args=[campaign.pk])).content.decode()
    assert 'value="resume_from_now"' in paused and "Resume and catch up" in paused
    with django_capture_on_commit_callbacks(execute=True):
        marketer_client.post(url, {"action": "resume_from_now"})
    assert Campaign.objects.get().status == CampaignStatus.ACTIVE


def test_admin_may_activate_and_pause_and_mistakes_change_nothing(admin_client_role, hot):
    campaign = Campaign.objects.create(name="Welcome", kind=CampaignKind.TRIGGERED, body="<p>x</p>")  # no group
    url = reverse("campaigns:campaign_trigger", args=[campaign.pk])
    response = admin_client_role.post(url, {"action": "activate"}, follow=True)
    assert "Choose at least one included group first." in response.content.decode()
    assert Campaign.objects.get().status == CampaignStatus.DRAFT
    response = admin_client_role.post(url, {"action": "explode"}, follow=True)
    assert "Choose Activate, Resume or Pause." in response.content.decode()
    response = admin_client_role.post(url, {"action": "pause"}, follow=True)
    assert "Only an active campaign can be paused." in response.content.decode()
    assert admin_client_role.get(url).status_code == 302  # GET changes nothing
    campaign.group_links.create(group=hot, role="include")
    Campaign.objects.filter(pk=campaign.pk).update(subject="Hi")
    assert admin_client_role.post(url, {"action": "activate"}).status_code == 302
    assert admin_client_role.post(url, {"action": "pause"}).status_code == 302
    assert Campaign.objects.get().status == CampaignStatus.PAUSED


def test_staff_and_anonymous_cannot_activate_or_pause(client, staff_client, hot):
    campaign = Campaign.objects.create(name="Welcome", kind=CampaignKind.TRIGGERED, subject="Hi", body="<p>x</p>")
    campaign.group_links.create(group=hot, role="include")
    url = reverse("campaigns:campaign_trigger", args=[campaign.pk])
    assert staff_client.post(url, {"action": "activate"}).status_code == 403
    assert staff_client.get(reverse("campaigns:campaign_sending", args=[campaign.pk])).status_code == 403
    staff_client.logout()
    response = client.post(url, {"action": "activate"})
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert Campaign.objects.get().status == CampaignStatus.DRAFT and not Delivery.objects.exists()


def test_one_off_campaigns_keep_their_send_page_and_no_cap(marketer_client, hot):
    response = marketer_client.post(reverse("campaigns:campaign_create"), form_data(hot, kind="one_off"))
    campaign = Campaign.objects.get()
    assert response.status_code == 302 and (campaign.kind, campaign.daily_cap) == (CampaignKind.ONE_OFF, None)
    page = marketer_client.get(reverse("campaigns:campaign_sending", args=[campaign.pk]))
    assert "trigger" not in page.context and "Send now" in page.content.decode()
    url = reverse("campaigns:campaign_trigger", args=[campaign.pk])
    response = marketer_client.post(url, {"action": "activate"}, follow=True)
    assert "Only a campaign sent when someone joins can be activated." in response.content.decode()
    panel = marketer_client.get(reverse("campaigns:audience_panel"), {"include": hot.pk, "kind": "triggered"})
    assert "data-audience-triggered" in panel.content.decode()
