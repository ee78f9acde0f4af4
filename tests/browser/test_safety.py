"""The safety rail in a real browser: a surprising audience makes the Send tab ask with the reason and the
numbers; the browser will not send without the "I checked the audience" box; ticking it and confirming sends.
Screenshots go to tests/browser/artifacts/."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone
from django_q.conf import Conf
from playwright.sync_api import Page, expect

from campaigns import services
from campaigns.models import Campaign, CampaignGroup, CampaignStatus, Channel, GroupRole
from contacts.roles import CONTACTS_PERMISSIONS, Role, grant_permissions
from segments.models import Membership
from tests.browser.signin import sign_in
from tests.conftest import make_user
from tests.factories import ContactFactory, ContactGroupFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def campaign(page: Page, live_server, transactional_db, monkeypatch, settings):
    monkeypatch.setattr(Conf, "SYNC", True)  # the worker runs each queued task at once, in the server
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    grant_permissions(apps, "contacts", CONTACTS_PERMISSIONS)
    grant_permissions(apps, "segments", importlib.import_module("segments.migrations.0002_roles").SEGMENTS_PERMISSIONS)
    grant_permissions(
        apps, "campaigns", importlib.import_module("campaigns.migrations.0002_roles").CAMPAIGNS_PERMISSIONS
    )
    make_user(Role.MARKETER, username="mia")
    customers = ContactGroupFactory(code="customers", name="Customers")
    for i in range(24):
        contact = ContactFactory(first_name=f"Person{i}", email=f"person{i}@example.com")
        Membership.objects.create(group=customers, contact=contact, via_manual=True)
    before = Campaign.objects.create(
        name="Winter news",
        channel=Channel.EMAIL,
        status=CampaignStatus.SENT,
        send_started_at=timezone.now() - timedelta(days=20),
        recipients=2,
    )
    CampaignGroup.objects.create(campaign=before, group=customers, role=GroupRole.INCLUDE)
    spring = services.campaign_create(
        name="Spring sale", channel=Channel.EMAIL, include=[customers], subject="Spring", body="<p>Hello</p>"
    )
    Campaign.objects.filter(pk=spring.pk).update(last_preview_count=18, last_preview_at=timezone.now())
    sign_in(page, live_server.url, "mia")
    return spring


def test_the_send_asks_names_the_reason_and_sends_once_confirmed(page: Page, live_server, campaign, artifacts_dir):
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/sending/")
    rail = page.locator("[data-safety]")
    expect(rail).to_contain_text("Check the audience before sending")
    expect(rail.locator("[data-safety-reason=preview]")).to_contain_text(
        "The audience is 24 — 33 % more than the last preview (18, "
    )
    expect(rail.locator("[data-safety-reason=previous_send]")).to_contain_text(
        "The audience is 24 — 12× the previous send to these groups, “Winter news” (2, "
    )
    box = page.get_by_label("I checked the audience: send to 24 people")
    expect(box).not_to_be_checked()
    page.screenshot(path=str(artifacts_dir / "safety_rail_asks.png"), full_page=True)

    page.get_by_role("button", name="Send now").click()  # the required box stops the browser
    expect(page.locator("#confirm-modal")).to_be_hidden()
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT

    box.check()
    page.get_by_role("button", name="Send now").click()
    modal = page.locator("#confirm-modal")
    expect(modal).to_contain_text("It goes to 24 contacts now.")
    modal.get_by_role("button", name="Send to 24 contacts").click()
    expect(page.locator(".alert-success")).to_contain_text("Sending “Spring sale”")
    expect(page.locator("[data-send-progress]")).to_contain_text("Sent")
    page.screenshot(path=str(artifacts_dir / "safety_rail_sent.png"), full_page=True)
    sent = Campaign.objects.get(pk=campaign.pk)
    assert sent.status == CampaignStatus.SENT and sent.recipients == 24 and sent.confirmed_audience == 24
    assert not errors, errors
