"""The Messages card of a contact's page: opt-outs per channel, the latest campaign messages with their response,
and opting a contact back in (Marketer and Admin; audited; never Staff)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from campaigns.models import (
    Campaign,
    CampaignEvent,
    CampaignEventKind,
    CampaignStatus,
    Channel,
    Delivery,
    DeliveryStatus,
    Unsubscribe,
)
from campaigns.selectors.contact import contact_messages
from campaigns.services import unsubscribe_record
from contacts.models import ActivityType
from tests.factories import ActivityFactory, ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def jan():
    """Jan got three emails (opened one, clicked another) and an SMS, and opted out of email from the second."""
    contact = ContactFactory(first_name="Jan", email="jan@example.com", phone="+420601000001")
    campaigns = [
        Campaign.objects.create(name=name, channel=channel, status=CampaignStatus.SENT)
        for name, channel in (("Spring", "email"), ("Summer", "email"), ("Autumn", "email"), ("Text", "sms"))
    ]
    for campaign in campaigns:
        Delivery.objects.create(campaign=campaign, contact=contact, channel=campaign.channel, address="x",
                                status=DeliveryStatus.SENT)  # fmt: skip
    ActivityFactory(contact=contact, type=ActivityType.EMAIL_OPEN, campaign=campaigns[0])
    ActivityFactory(contact=contact, type=ActivityType.EMAIL_OPEN, campaign=campaigns[1])
    ActivityFactory(contact=contact, type=ActivityType.EMAIL_CLICK, campaign=campaigns[1], url="https://x.example/")
    unsubscribe_record(contact=contact, channel=Channel.EMAIL, campaign=campaigns[1])
    return contact, campaigns


def test_the_card_shows_opt_outs_and_responses(marketer_client, jan):
    contact, campaigns = jan
    response = marketer_client.get(reverse("campaigns:contact_messages", args=[contact.pk]))
    html = response.content.decode()
    assert response.status_code == 200 and "data-contact-messages" in html
    email, sms = response.context["channels"]
    assert (email.channel, email.campaign, email.unsubscribed_at is not None) == ("email", campaigns[1], True)
    assert (sms.channel, sms.unsubscribed_at, sms.address) == ("sms", None, "+420601000001")
    assert 'data-resubscribe="email"' in html and 'data-resubscribe="sms"' not in html
    rows = response.context["deliveries"]
    assert [d.campaign.name for d in rows] == ["Text", "Autumn", "Summer", "Spring"]  # newest first
    assert [(d.opened, d.clicked) for d in rows] == [(False, False), (False, False), (True, True), (True, False)]
    assert 'data-response="clicked"' in html and 'data-response="opened"' in html


def test_the_card_names_a_missing_address_and_an_empty_history(marketer_client):
    contact = ContactFactory(email=None, phone="")
    html = marketer_client.get(reverse("campaigns:contact_messages", args=[contact.pk])).content.decode()
    assert html.count("data-no-address") == 2 and "data-no-messages" in html


def test_only_the_latest_messages_are_listed(jan):
    contact, _ = jan
    rows, more = contact_messages(contact=contact, limit=3)
    assert len(rows) == 3 and more
    assert contact_messages(contact=contact, limit=4)[1] is False


def test_the_contact_page_loads_the_card_for_those_who_see_campaigns(marketer_client, jan):
    contact, _ = jan
    page = marketer_client.get(contact.get_absolute_url()).content.decode()
    assert "data-messages-slot" in page and reverse("campaigns:contact_messages", args=[contact.pk]) in page


def test_staff_see_no_card_and_cannot_opt_anyone_back_in(staff_client, jan):
    contact, _ = jan
    assert "data-messages-slot" not in staff_client.get(contact.get_absolute_url()).content.decode()
    assert staff_client.get(reverse("campaigns:contact_messages", args=[contact.pk])).status_code == 403
    url = reverse("campaigns:contact_resubscribe", args=[contact.pk])
    assert staff_client.post(url, {"channel": "email"}).status_code == 403
    assert Unsubscribe.objects.filter(contact=contact).exists()


@pytest.mark.parametrize("who", ["marketer_client", "admin_client_role"])
def test_opting_back_in_is_recorded_and_audited(request, who, jan):
    client = request.getfixturevalue(who)
    contact, _ = jan
    url = reverse("campaigns:contact_resubscribe", args=[contact.pk])
    response = client.post(url, {"channel": "email"}, follow=True)
    assert "will receive Email campaigns again" in response.content.decode()
    assert not Unsubscribe.objects.filter(contact=contact).exists()
    assert CampaignEvent.objects.filter(contact=contact, kind=CampaignEventKind.RESUBSCRIBED).count() == 1
    entry = AuditEntry.objects.get(action="contact.resubscribed")
    assert (entry.object_id, entry.changes) == (str(contact.pk), {"channel": "email"})
    again = client.post(url, {"channel": "email"}, follow=True)  # nothing to undo: nothing written
    assert "had not opted out of Email" in again.content.decode()
    assert AuditEntry.objects.filter(action="contact.resubscribed").count() == 1


@pytest.mark.parametrize("channel", ["", "fax", "EMAIL"])
def test_a_bad_channel_changes_nothing(marketer_client, jan, channel):
    contact, _ = jan
    url = reverse("campaigns:contact_resubscribe", args=[contact.pk])
    response = marketer_client.post(url, {"channel": channel}, follow=True)
    assert "Choose email or SMS" in response.content.decode()
    assert Unsubscribe.objects.filter(contact=contact).count() == 1 and not AuditEntry.objects.exists()
