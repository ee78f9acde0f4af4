"""The Admin pages of the webhooks: create, show secret, deliveries log, Resend, enable/disable."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.factories import ContactGroupFactory
from webhooks.models import Delivery, DeliveryStatus, Endpoint

pytestmark = pytest.mark.django_db


def test_an_admin_adds_an_endpoint_and_sees_its_secret(admin_client_role, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    group = ContactGroupFactory(name="VIP")
    response = admin_client_role.post(
        reverse("webhooks:endpoint_create"), {"url": "http://127.0.0.1:9/x", "events": ["entered"]}
    )
    assert response.status_code == 200 and "private or local network" in response.content.decode()
    assert not Endpoint.objects.exists()
    response = admin_client_role.post(
        reverse("webhooks:endpoint_create"), {"url": "https://hooks.example.com/in", "events": []}
    )
    assert response.status_code == 200 and not Endpoint.objects.exists()  # no events chosen

    settings.WEBHOOKS_ALLOW_PRIVATE = True
    response = admin_client_role.post(
        reverse("webhooks:endpoint_create"),
        {"url": "http://127.0.0.1:9/x", "events": ["entered", "source_changed"], "groups": [group.pk]},
    )
    endpoint = Endpoint.objects.get()
    assert endpoint.events == ["entered", "source_changed"] and list(endpoint.groups.all()) == [group]
    page = admin_client_role.get(response.url).content.decode()
    assert endpoint.secret.startswith("whsec_") and endpoint.secret in page
    assert (
        endpoint.secret
        not in admin_client_role.get(reverse("webhooks:endpoint_detail", args=[endpoint.pk])).content.decode()
    )
    assert "127.0.0.1:9/x" in admin_client_role.get(reverse("webhooks:endpoint_list")).content.decode()


def test_resend_and_enable(admin_client_role):
    endpoint = Endpoint.objects.create(
        url="https://hooks.example.com/in",
        events=["entered"],
        active=False,
        disabled_reason="Disabled automatically",
        failure_count=10,
    )
    delivery = Delivery.objects.create(
        endpoint=endpoint,
        first_event_id=1,
        last_event_id=3,
        event_count=3,
        payload={"events": []},
        status=DeliveryStatus.FAILED,
        attempts=9,
    )
    page = admin_client_role.get(reverse("webhooks:endpoint_detail", args=[endpoint.pk])).content.decode()
    assert "Disabled automatically" in page and "Resend" in page and "data-confirm" in page

    admin_client_role.post(reverse("webhooks:delivery_resend", args=[endpoint.pk, delivery.pk]))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 0

    admin_client_role.post(reverse("webhooks:endpoint_toggle", args=[endpoint.pk]))
    endpoint.refresh_from_db()
    assert endpoint.active and endpoint.failure_count == 0 and endpoint.disabled_reason == ""


def test_other_roles_cannot_change_webhooks(marketer_client):
    endpoint = Endpoint.objects.create(url="https://hooks.example.com/in", events=["entered"])
    assert marketer_client.post(reverse("webhooks:endpoint_toggle", args=[endpoint.pk])).status_code == 403
    assert marketer_client.get(reverse("webhooks:endpoint_detail", args=[endpoint.pk])).status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.active


def test_an_admin_edits_an_endpoint(admin_client_role, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    endpoint = Endpoint.objects.create(url="http://127.0.0.1:9/x", events=["entered"])
    url = reverse("webhooks:endpoint_edit", args=[endpoint.pk])
    page = admin_client_role.get(url).content.decode()
    assert re.search(r'value="entered"[^>]*checked', page) and not re.search(r'value="left"[^>]*checked', page)
    response = admin_client_role.post(url, {"url": "http://127.0.0.1:9/y", "events": ["left"]})
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.url == "http://127.0.0.1:9/y" and endpoint.events == ["left"]
    secret = endpoint.secret
    admin_client_role.post(reverse("webhooks:secret_rotate", args=[endpoint.pk]))
    endpoint.refresh_from_db()
    assert endpoint.secret != secret and endpoint.secret.startswith("whsec_")


def test_an_admin_chooses_campaign_events_and_reads_them_by_name(admin_client_role, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    form = admin_client_role.get(reverse("webhooks:endpoint_create")).content.decode()
    assert "Membership" in form and "Campaigns" in form and 'value="campaign_clicked"' in form
    response = admin_client_role.post(
        reverse("webhooks:endpoint_create"),
        {"url": "http://127.0.0.1:9/c", "events": ["campaign_opened", "contact_unsubscribed"]},
    )
    endpoint = Endpoint.objects.get()
    assert endpoint.events == ["campaign_opened", "contact_unsubscribed"]
    page = admin_client_role.get(reverse("webhooks:endpoint_detail", args=[endpoint.pk])).content.decode()
    assert "opened a campaign email, unsubscribed" in page
    assert "opened a campaign email, unsubscribed" in admin_client_role.get(response.url).content.decode()
    listing = admin_client_role.get(reverse("webhooks:endpoint_list")).content.decode()
    assert "opened a campaign email" in listing and "campaign events" in listing
    refused = admin_client_role.post(
        reverse("webhooks:endpoint_create"), {"url": "http://127.0.0.1:9/d", "events": ["x"]}
    )
    assert refused.status_code == 200 and Endpoint.objects.count() == 1
