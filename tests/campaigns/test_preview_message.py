"""The Preview tab's email frames load the message from its own URL, under a policy of its own: the email's
inline styles and images work (a srcdoc frame would inherit the site's policy, which blocks them), scripts
and forms do not, and only this site may frame it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns import services
from campaigns.models import Channel
from campaigns.views.preview import EMAIL_PREVIEW_POLICY
from tests.campaigns.conftest import email_campaign

pytestmark = pytest.mark.django_db


def test_the_preview_frames_load_each_message_from_its_url(marketer_client, people):
    campaign = services.campaign_create(
        name="Styled",
        channel=Channel.EMAIL,
        include=[people["vip"]],
        sender="Shop <shop@example.com>",
        subject="Hi",
        body='<p style="color: #c00">Hello {{ first_name }}</p>',
    )
    page = marketer_client.get(reverse("campaigns:campaign_preview", args=[campaign.pk])).content.decode()
    assert "srcdoc" not in page
    ann = reverse("campaigns:campaign_preview_message", args=[campaign.pk, people["ann"].pk])
    assert f'src="{ann}"' in page

    response = marketer_client.get(ann)
    assert response.status_code == 200
    assert '<p style="color: #c00">Hello Ann</p>' in response.content.decode()
    assert response["Content-Security-Policy"] == EMAIL_PREVIEW_POLICY
    assert "script-src" not in EMAIL_PREVIEW_POLICY and "default-src 'none'" in EMAIL_PREVIEW_POLICY
    assert "sandbox" in EMAIL_PREVIEW_POLICY.split("; ")
    assert response["X-Frame-Options"] == "SAMEORIGIN"


def test_only_a_previewed_contact_of_an_email_campaign_has_a_message(marketer_client, people):
    campaign = email_campaign(people)
    dan = people["dan"]  # in the excluded group: not in the audience
    excluded = reverse("campaigns:campaign_preview_message", args=[campaign.pk, dan.pk])
    assert marketer_client.get(excluded).status_code == 404
    missing = reverse("campaigns:campaign_preview_message", args=[campaign.pk + 1, people["ann"].pk])
    assert marketer_client.get(missing).status_code == 404


def test_the_message_needs_the_campaign_permission(staff_client, client, people):
    campaign = email_campaign(people)
    url = reverse("campaigns:campaign_preview_message", args=[campaign.pk, people["ann"].pk])
    assert staff_client.get(url).status_code == 403
    client.logout()
    assert client.get(url).status_code == 302
