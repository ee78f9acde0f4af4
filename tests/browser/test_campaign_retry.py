"""The Sending tab in a real browser: a delivery refused for good shows as failed with its reason, and
"Retry failed deliveries" (after the confirmation) sends it — and nobody else — again. Screenshots go
to tests/browser/artifacts/."""

from __future__ import annotations

import smtplib
from collections import Counter

import pytest
from django.core import mail
from django_q.conf import Conf
from playwright.sync_api import expect

from campaigns import sending, services
from campaigns.models import Channel, Delivery, DeliveryStatus
from segments.models import ContactGroup
from tests.browser.test_campaigns import signed_in  # noqa: F401  (the fixture)
from tests.campaigns.test_retries import RefusingBackend

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_failed_delivery_is_retried_from_the_sending_tab(signed_in, settings, monkeypatch, artifacts_dir):  # noqa: F811
    page, live_server = signed_in
    settings.EMAIL_BACKEND = "tests.campaigns.test_retries.RefusingBackend"
    RefusingBackend.refuse = {
        "bruno@example.com": smtplib.SMTPRecipientsRefused({"bruno@example.com": (550, b"5.2.2 Mailbox full")})
    }
    RefusingBackend.always, RefusingBackend.tried = False, Counter()
    monkeypatch.setattr(Conf, "SYNC", True)  # the worker runs each queued task at once
    campaign = services.campaign_create(
        name="Spring sale", channel=Channel.EMAIL, include=[ContactGroup.objects.get(code="customers")],
        sender="Shop <shop@example.com>", subject="Hi {{ first_name }}", body="<p>Hello {{ first_name }}</p>",
    )  # fmt: skip
    sending.campaign_send(campaign=campaign)
    sending.send_start(campaign_id=campaign.pk)
    while sending.send_batch(campaign_id=campaign.pk).more:
        pass
    assert Delivery.objects.get(address="bruno@example.com").status == DeliveryStatus.FAILED

    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/sending/")
    expect(page.locator("[data-count-failed]")).to_have_text("1")
    expect(page.locator("[data-deliveries]")).to_contain_text("Mailbox full")
    page.screenshot(path=str(artifacts_dir / "campaign_sending_failed.png"), full_page=True)
    page.locator("[data-retry-failed]").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("sent, skipped and not confirmed deliveries never are")
    dialog.get_by_role("button", name="Retry").click()
    expect(page.locator("[data-count-failed]")).to_have_text("0")
    expect(page.locator("[data-count-sent]")).to_have_text("4")
    expect(page.locator("[data-retry-failed]")).to_have_count(0)
    page.screenshot(path=str(artifacts_dir / "campaign_sending_retried.png"), full_page=True)
    assert sorted(m.to[0] for m in mail.outbox).count("bruno@example.com") == 1
    assert len(mail.outbox) == 4  # nobody else twice
