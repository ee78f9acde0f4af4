"""Campaigns in a real browser: create a campaign for one group excluding another (Tom Select pickers),
watch the live audience panel and overlap diagram, the SMS counter, add a variant with a token, and
preview the message as real contacts. Screenshots go to tests/browser/artifacts/."""

from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps
from playwright.sync_api import Page, expect

from campaigns.models import Campaign
from contacts.roles import CONTACTS_PERMISSIONS, Role, grant_permissions
from segments.models import ContactGroup, Membership
from tests.browser.signin import sign_in
from tests.conftest import make_user
from tests.factories import ContactFactory, ContactGroupFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def signed_in(page: Page, live_server, transactional_db):
    grant_permissions(apps, "contacts", CONTACTS_PERMISSIONS)
    grant_permissions(apps, "segments", importlib.import_module("segments.migrations.0002_roles").SEGMENTS_PERMISSIONS)
    grant_permissions(
        apps, "campaigns", importlib.import_module("campaigns.migrations.0002_roles").CAMPAIGNS_PERMISSIONS
    )
    make_user(Role.MARKETER, username="mia")
    customers = ContactGroupFactory(code="customers", name="Customers")
    vip = ContactGroupFactory(code="vip", name="VIP customers")
    churned = ContactGroupFactory(code="churned", name="Churned")
    for first, groups in (
        ("Alma", [customers, vip]),
        ("Bruno", [customers]),
        ("Carla", [customers, churned]),
        ("Dana", [customers]),
    ):
        contact = ContactFactory(first_name=first, email=f"{first.lower()}@example.com")
        for group in groups:
            Membership.objects.create(group=group, contact=contact, via_manual=True)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, live_server.url, "mia")
    yield page, live_server
    assert not errors, errors


def pick(page: Page, label: str, text: str) -> None:
    box = page.locator(f"select[aria-label='{label}'] + .ts-wrapper input")
    box.click()
    box.fill(text)
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")


def test_create_a_campaign_with_a_variant_and_preview_it(signed_in, artifacts_dir):
    page, live_server = signed_in
    page.get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name=re.compile("New campaign|Create your first campaign")).first.click()
    page.get_by_label("Name").fill("Spring sale")
    pick(page, "Included groups", "Customers")
    panel = page.locator("#audience-panel")
    expect(panel.locator("[data-audience-count]")).to_have_text("4")
    pick(page, "Included groups", "VIP")
    pick(page, "Excluded groups", "Churned")
    expect(panel.locator("[data-audience-count]")).to_have_text("3")
    expect(panel).to_contain_text("Excluded by group “Churned”")
    expect(panel.locator("[data-audience-sample] li")).to_have_count(3)
    expect(panel.locator("[data-audience-sample]")).not_to_contain_text("Carla")
    expect(panel.locator("svg circle")).to_have_count(3)
    # Customers only: Bruno, Dana; Customers & VIP: Alma; Customers & Churned: Carla
    expect(panel.locator("[data-overlap] tbody tr")).to_have_count(3)
    expect(panel.locator("[data-overlap] tbody tr").first.locator("td")).to_have_text(["Customers", "2"])

    # SMS: the live counter; back to email
    page.get_by_label("SMS").check()
    expect(page.get_by_label("Subject")).to_be_hidden()
    page.get_by_label("Body").fill("Ahoj " + "ř" * 70)
    # 75 units of text and the opt-out line the server appends ("\nReply STOP to opt out": 22)
    expect(page.locator("[data-sms-count]")).to_contain_text("97 UCS-2 units (special characters) · 2 SMS")
    expect(page.locator("[data-sms-count]")).to_contain_text("with “Reply STOP to opt out” at the end")
    page.get_by_label("Email", exact=True).check()
    expect(page.locator("[data-sms-count]")).to_be_hidden()

    page.get_by_label("Sender").fill("Shop <shop@example.com>")
    page.get_by_label("Subject").fill('Spring is here, {{ first_name|default:"friend" }}')
    page.get_by_label("Body").fill("<h1>Hello {{ first_name }}</h1><p>Our {{ nope }} sale.</p>")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".invalid-feedback, .text-danger").filter(has_text="nope")).to_be_visible()
    assert not Campaign.objects.exists()
    page.get_by_label("Body").fill("<h1>Hello {{ first_name }}</h1><p>Our spring sale starts today.</p>")
    page.screenshot(path=str(artifacts_dir / "campaign-form.png"), full_page=True)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("[data-audience-count]")).to_have_text("3")

    page.get_by_role("link", name="Variants").click()
    page.get_by_label("Group").select_option(label="VIP customers (vip)")
    page.get_by_label("Subject").fill("A VIP gift for you, {{ first_name }}")
    page.get_by_role("button", name="Add variant").click()
    expect(page.locator("[data-variants]")).to_contain_text("A VIP gift for you")
    page.screenshot(path=str(artifacts_dir / "campaign-variants.png"), full_page=True)

    page.get_by_role("link", name="Preview").click()
    cards = page.locator("[data-preview]")
    expect(cards).to_have_count(3)
    # the VIP variant first (Alma), then the default content (Bruno), then another contact (Dana)
    expect(cards.locator("[data-preview-subject]")).to_have_text(
        ["A VIP gift for you, Alma", "Spring is here, Bruno", "Spring is here, Dana"]
    )
    expect(cards.first).to_contain_text("Variant for “VIP customers”")
    expect(page.frame_locator("iframe").nth(1).locator("h1")).to_have_text("Hello Bruno")
    page.screenshot(path=str(artifacts_dir / "campaign-preview.png"), full_page=True)
    page.get_by_label("Send a test to").fill("me@example.com")
    page.get_by_role("button", name="Send test").click()
    expect(page.locator(".alert-success")).to_contain_text("Test sent to me@example.com")

    page.get_by_role("link", name="A/B split").click()
    page.get_by_label("Variant A: share (%)").fill("50")
    page.get_by_label("Variant B: share (%)").fill("40")
    page.get_by_role("button", name="Save split").click()
    expect(page.locator(".alert-danger")).to_contain_text("The shares add up to 90 %, not 100 %.")
    page.get_by_label("Variant B: share (%)").fill("50")
    page.get_by_label("Variant B: subject").fill("Last chance, {{ first_name }}")
    page.get_by_role("button", name="Save split").click()
    expect(page.locator(".alert-success")).to_contain_text("A/B split saved.")
    counts = page.locator("[data-split] tbody tr td:last-child")
    expect(counts.nth(2)).to_have_text("—")
    # Each campaign splits by its own seed: with three contacts one arm may get nobody (shown as 0).
    total = sum(int(t) for t in counts.all_inner_texts()[:2])
    assert total == 3  # every audience contact is in A or B
    page.screenshot(path=str(artifacts_dir / "campaign-split.png"), full_page=True)

    page.get_by_role("link", name="Audience").click()
    expect(page.locator("[data-split-report]")).to_contain_text("Variant for “VIP customers”")
    page.screenshot(path=str(artifacts_dir / "campaign-audience.png"), full_page=True)


def test_send_now_with_confirmation_then_progress_deliveries_and_unsubscribe(
    signed_in, artifacts_dir, monkeypatch, settings
):
    from django.core import mail
    from django_q.conf import Conf

    from campaigns import services
    from campaigns.models import Channel

    monkeypatch.setattr(Conf, "SYNC", True)  # the worker's tasks run in the server's thread
    page, live_server = signed_in
    settings.SITE_URL = live_server.url
    campaign = services.campaign_create(
        name="Spring sale",
        channel=Channel.EMAIL,
        include=[ContactGroup.objects.get(code="customers")],
        exclude=[ContactGroup.objects.get(code="churned")],
        sender="Shop <shop@example.com>",
        subject="Hi {{ first_name }}",
        body="<p>Hello {{ first_name }}</p>",
    )
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/")
    page.get_by_role("link", name="Send…").click()
    expect(page.locator("[data-send-audience]")).to_have_text("3")
    page.get_by_role("button", name="Send now").click()
    modal = page.locator("#confirm-modal")
    expect(modal).to_be_visible()
    expect(modal).to_contain_text("It goes to 3 contacts now")
    page.screenshot(path=str(artifacts_dir / "campaign-send-confirm.png"))
    modal.get_by_role("button", name="Send to 3 contacts").click()
    expect(page.locator(".alert-success")).to_contain_text("Sending “Spring sale”")
    page.reload()  # the progress is read from the deliveries: a reload shows the same
    expect(page.locator("[data-count-sent]")).to_have_text("3")
    expect(page.locator("[data-count-remaining]")).to_have_text("0")
    expect(page.locator("[data-deliveries] tbody tr")).to_have_count(3)
    page.screenshot(path=str(artifacts_dir / "campaign-sending.png"), full_page=True)
    assert sorted(m.to[0] for m in mail.outbox) == ["alma@example.com", "bruno@example.com", "dana@example.com"]

    link = next(m for m in mail.outbox if m.to[0] == "bruno@example.com").extra_headers["List-Unsubscribe"]
    recipient = page.context.browser.new_page()  # not signed in
    recipient.goto(link.strip("<>"))
    recipient.get_by_role("button", name="Unsubscribe").click()
    expect(recipient.locator("[data-unsubscribed]")).to_have_text(re.compile("You are unsubscribed"))
    recipient.screenshot(path=str(artifacts_dir / "campaign-unsubscribed.png"))
    recipient.close()
    assert campaign.deliveries.get(address="bruno@example.com").contact.unsubscribes.filter(channel="email").exists()
