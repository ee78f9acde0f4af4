"""A sent campaign's Report tab in a real browser: the summary, the Chart.js chart (an instance on the canvas,
switching to the daily view, no console errors) and the "who clicked" export downloads. Screenshot in
tests/browser/artifacts/."""

from __future__ import annotations

import csv
import importlib
import io

import pytest
from django.apps import apps
from playwright.sync_api import Page, expect

from contacts.models import ActivityType
from contacts.roles import CONTACTS_PERMISSIONS, Role, grant_permissions
from segments.models import Membership
from tests.browser.signin import sign_in
from tests.campaigns.test_report import event, sent_campaign
from tests.conftest import make_user
from tests.factories import ContactFactory, ContactGroupFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def report_page(page: Page, live_server, transactional_db):
    grant_permissions(apps, "contacts", CONTACTS_PERMISSIONS)
    grant_permissions(apps, "segments", importlib.import_module("segments.migrations.0002_roles").SEGMENTS_PERMISSIONS)
    grant_permissions(
        apps, "campaigns", importlib.import_module("campaigns.migrations.0002_roles").CAMPAIGNS_PERMISSIONS
    )
    make_user(Role.MARKETER, username="mia")
    group = ContactGroupFactory(code="customers", name="Customers")
    people = []
    for first in ("Alma", "Bruno", "Carla", "Dana"):
        contact = ContactFactory(first_name=first, email=f"{first.lower()}@example.com")
        Membership.objects.create(group=group, contact=contact, via_manual=True)
        people.append(contact)
    campaign = sent_campaign(include=[group])
    for i, contact in enumerate(people[:3]):
        event(contact, campaign, ActivityType.EMAIL_OPEN, hours=i + 0.5)
    event(people[0], campaign, ActivityType.EMAIL_CLICK, hours=0.7, url="https://shop.example/sale")
    event(people[1], campaign, ActivityType.EMAIL_CLICK, hours=60, url="https://shop.example/pricing")
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: messages.append(str(error)))
    sign_in(page, live_server.url, "mia")
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/report/")
    yield page
    assert not messages, messages


def test_report_draws_the_chart_and_exports_who_clicked(report_page: Page, artifacts_dir):
    page = report_page
    expect(page.locator('[data-stat="open-rate"]')).to_have_text("75 %")  # 3 of 4 sent
    expect(page.locator('[data-stat="click-rate"]')).to_have_text("50 %")
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('report-chart'))")
    chart = page.evaluate(
        "() => { const c = Chart.getChart(document.getElementById('report-chart'));"
        " return {labels: c.data.labels.length, opens: c.data.datasets[0].data.reduce((a, b) => a + b, 0),"
        " width: c.width}; }"
    )
    assert chart["labels"] == 48 and chart["opens"] == 3 and chart["width"] > 300
    page.get_by_role("button", name="Daily").click()
    expect(page.get_by_role("button", name="Daily")).to_have_attribute("aria-pressed", "true")
    clicks = page.evaluate(
        "() => Chart.getChart(document.getElementById('report-chart')).data.datasets[1].data.reduce((a, b) => a + b)"
    )
    assert clicks == 2
    page.screenshot(path=str(artifacts_dir / "campaign-report.png"), full_page=True)

    with page.expect_download() as download:
        page.locator('[data-export="csv"]').click()
    with open(download.value.path(), encoding="utf-8") as file:
        rows = list(csv.reader(io.StringIO(file.read())))
    assert download.value.suggested_filename.startswith("clicks-spring-")
    assert [(r[0], r[4]) for r in rows[1:]] == [
        ("alma@example.com", "https://shop.example/sale"),
        ("bruno@example.com", "https://shop.example/pricing"),
    ]
