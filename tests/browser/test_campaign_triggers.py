"""A triggered campaign in a real browser: create "Send when someone joins" with a daily cap, activate it
(in-page confirmation), add a contact to the group on its Members tab, let the minutely tick run, and see
the message in the outbox and "1 sent" on the campaign page. Screenshots go to tests/browser/artifacts/."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.core import mail
from playwright.sync_api import Page, expect

from campaigns import triggers
from campaigns.models import Campaign, CampaignKind, CampaignStatus
from contacts.roles import CONTACTS_PERMISSIONS, Role, grant_permissions
from segments.models import ContactGroup, Membership
from tests.browser.signin import sign_in
from tests.conftest import make_user
from tests.factories import ContactFactory, ContactGroupFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def signed_in(page: Page, live_server, transactional_db, monkeypatch, settings):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)  # the worker's tasks run in-process
    settings.SITE_URL = live_server.url
    grant_permissions(apps, "contacts", CONTACTS_PERMISSIONS)
    grant_permissions(apps, "segments", importlib.import_module("segments.migrations.0002_roles").SEGMENTS_PERMISSIONS)
    grant_permissions(
        apps, "campaigns", importlib.import_module("campaigns.migrations.0002_roles").CAMPAIGNS_PERMISSIONS
    )
    make_user(Role.MARKETER, username="mia")
    hot = ContactGroupFactory(code="hot_cz", name="Hot CZ prospects")
    member = ContactFactory(first_name="Olga", last_name="Old", email="olga@example.com")
    Membership.objects.create(group=hot, contact=member, via_manual=True)  # a member already: never welcomed
    ContactFactory(first_name="Jana", last_name="Nová", email="jana@example.com")
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, live_server.url, "mia")
    yield page, live_server
    assert not errors, errors


def test_welcome_everyone_who_joins_hot_cz_prospects(signed_in, artifacts_dir):
    page, live_server = signed_in
    page.goto(f"{live_server.url}/campaigns/new/")
    page.get_by_label("Name").fill("Welcome to Hot CZ")
    cap = page.get_by_label("Daily cap")
    expect(cap).to_be_hidden()  # only for a campaign sent when someone joins
    page.get_by_label("Send when someone joins").check()
    expect(cap).to_be_visible()
    cap.fill("10")
    box = page.locator("select[aria-label='Included groups'] + .ts-wrapper input")
    box.click()
    box.fill("Hot CZ")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    panel = page.locator("#audience-panel")
    expect(panel.locator("[data-audience-triggered]")).to_be_visible()  # today's members do not get it
    page.get_by_label("Sender").fill("Shop <shop@example.com>")
    page.get_by_label("Subject").fill("Welcome, {{ first_name }}")
    page.get_by_label("Body").fill("<p>Hello {{ first_name }}, glad you are here.</p>")
    page.screenshot(path=str(artifacts_dir / "campaign-trigger-form.png"), full_page=True)
    page.get_by_role("button", name="Save").click()

    trigger = page.locator("[data-trigger-panel]")
    expect(trigger.locator("[data-trigger-state]")).to_have_text("Not active yet")
    page.screenshot(path=str(artifacts_dir / "campaign-trigger-draft.png"), full_page=True)
    campaign = Campaign.objects.get()
    assert (campaign.kind, campaign.daily_cap) == (CampaignKind.TRIGGERED, 10)
    page.get_by_role("link", name="Activate…").click()
    page.locator("[data-trigger-panel]").get_by_role("button", name="Activate").click()
    modal = page.locator("#confirm-modal")
    expect(modal).to_contain_text("From now on, everyone who joins its groups gets it, once (at most 10 a day).")
    modal.get_by_role("button", name="Activate").click()
    expect(page.locator(".alert-success")).to_contain_text("is active")
    expect(page.locator("[data-trigger-state]")).to_have_text("Active")
    assert Campaign.objects.get().status == CampaignStatus.ACTIVE

    # Jana joins the group by hand on its Members tab
    page.goto(f"{live_server.url}/groups/{ContactGroup.objects.get(code='hot_cz').pk}/")
    picker = page.locator(".add-contacts .ts-control input")
    picker.click()
    page.keyboard.type("Jana", delay=15)
    page.keyboard.press("Enter")
    expect(page.locator(".add-contacts .ts-control .item")).to_have_count(1)
    page.get_by_role("button", name="Add to group").click()
    expect(page.locator(".alert-success")).to_contain_text("1 contact added")

    triggers.triggers_tick()  # the minutely schedule, as the worker runs it
    assert [(m.to, m.subject) for m in mail.outbox] == [(["jana@example.com"], "Welcome, Jana")]

    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/")
    panel = page.locator("[data-trigger-panel]")
    expect(panel.locator("[data-trigger-total]")).to_have_text("1")
    expect(panel.locator("[data-trigger-today]")).to_contain_text("1")
    expect(panel.locator("[data-trigger-today]")).to_contain_text("/ 10")
    expect(panel.locator("[data-trigger-last]")).not_to_contain_text("none yet")
    page.screenshot(path=str(artifacts_dir / "campaign-trigger-overview.png"), full_page=True)
    page.get_by_role("link", name="Sending").click()
    expect(page.locator("[data-count-sent]")).to_have_text("1")
    expect(page.locator("[data-deliveries] tbody tr")).to_have_count(1)
    expect(page.locator("[data-deliveries]")).to_contain_text("jana@example.com")
    page.screenshot(path=str(artifacts_dir / "campaign-trigger-sending.png"), full_page=True)

    page.get_by_role("button", name="Pause").first.click()
    expect(page.locator("[data-trigger-state]")).to_have_text("Paused")
    expect(page.get_by_role("button", name="Resume and catch up")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "campaign-trigger-paused.png"), full_page=True)
    page.get_by_role("link", name="Campaigns").first.click()
    expect(page.locator("tbody tr").first).to_contain_text("when someone joins")
    page.screenshot(path=str(artifacts_dir / "campaign-trigger-list.png"))
