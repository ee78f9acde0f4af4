"""Browser test: signing in lands on the home page, which fits 1280 px and a phone without sideways scrolling."""

import datetime as dt
import importlib

import pytest
from django.apps import apps
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from contacts.models import Contact
from contacts.roles import CONTACTS_PERMISSIONS, Role, grant_permissions
from segments import services
from segments.models import ContactGroup, MembershipEvent
from tests.conftest import make_user
from tests.factories import ContactFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCROLL_WIDTH = "() => document.documentElement.scrollWidth"


@pytest.fixture
def groups(transactional_db):
    # A transactional test flushes the tables, roles' permissions included: grant them again.
    grant_permissions(apps, "contacts", CONTACTS_PERMISSIONS)
    grant_permissions(apps, "segments", importlib.import_module("segments.migrations.0002_roles").SEGMENTS_PERMISSIONS)
    make_user(Role.MARKETER, username="mia", first_name="Mia", last_name="Marketer")
    people = [ContactFactory(first_name=f"Person {i}").pk for i in range(12)]
    names = ["Trade fair 2026 leads", "Webinar attendees with a rather long group name", "Key accounts"]
    for i, name in enumerate(names):
        group = services.group_create(code=f"group_{i}", name=name)
        services.group_add_contacts(group=group, contacts=Contact.objects.filter(pk__in=people[: 4 + i]))
        # Made two days ago, filled yesterday: no change over the last 24 hours.
        ContactGroup.objects.filter(pk=group.pk).update(created_at=timezone.now() - dt.timedelta(days=2))
        MembershipEvent.objects.filter(group=group).update(at=timezone.now() - dt.timedelta(hours=25))
    services.groups_snapshot_sizes(date=timezone.localdate() - dt.timedelta(days=1))
    fair = services.group_create(code="fair_extra", name="Late additions")
    services.group_add_contacts(group=fair, contacts=Contact.objects.filter(pk__in=people[:3]))


def sign_in(page: Page, live_server) -> None:
    page.goto(live_server.url + reverse("login"))
    page.fill("input[name=username]", "mia")
    page.fill("input[name=password]", "secret-pass-123")
    page.locator("form").get_by_role("button", name="Sign in").click()


def test_sign_in_lands_on_the_dashboard(page: Page, live_server, groups, artifacts_dir):
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, live_server)
    page.wait_for_url(live_server.url + "/")
    expect(page.get_by_role("heading", name="Home")).to_be_visible()
    expect(page.get_by_role("link", name="Home")).to_have_class("nav-link active")
    rows = page.locator("[data-dashboard-groups] tbody tr")
    expect(rows).to_have_count(4)
    expect(page.locator('tr[data-group="group_0"] [data-change]')).to_have_text("0")
    expect(page.locator('tr[data-group="fair_extra"] [data-change]')).to_have_text("new")
    expect(page.locator("[data-stat=today]")).to_contain_text("+3")
    assert page.evaluate(SCROLL_WIDTH) <= 1280  # no sideways scrolling at 1280 × 800
    page.screenshot(path=artifacts_dir / "dashboard.png")

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.get_by_role("heading", name="Home")).to_be_visible()
    assert page.evaluate(SCROLL_WIDTH) <= 390  # a phone: fewer columns, never a sideways scroll
    page.screenshot(path=artifacts_dir / "dashboard-narrow.png", full_page=True)

    page.get_by_role("link", name="New group").click()
    page.wait_for_url(live_server.url + reverse("segments:group_create"))
    assert not errors, errors
