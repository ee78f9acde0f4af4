"""Every list fits its window: at 1280×800 and at phone width (390 px) the contact list, the accounts list and
a group's Members and Accounts tabs never scroll sideways (long names and emails truncate, phones show
fewer columns)."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from playwright.sync_api import Page, expect

from contacts.roles import CONTACTS_PERMISSIONS, Role, grant_permissions
from segments.models import GroupAccount
from tests.browser.signin import sign_in
from tests.conftest import make_user
from tests.factories import AccountFactory, ContactFactory, ContactGroupFactory, MembershipFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG = "Maximiliana-Konstantinopolitanska"
OVERFLOWS = """() => [document.documentElement, ...document.querySelectorAll('.table-responsive, table')]
    .filter(el => el.scrollWidth > el.clientWidth + 1)
    .map(el => `${el.tagName}.${el.className}: ${el.scrollWidth} > ${el.clientWidth}`)"""


@pytest.fixture
def pages(page: Page, live_server, transactional_db):
    grant_permissions(apps, "contacts", CONTACTS_PERMISSIONS)
    grant_permissions(apps, "segments", importlib.import_module("segments.migrations.0002_roles").SEGMENTS_PERMISSIONS)
    make_user(Role.MARKETER, username="mia")
    account = AccountFactory(
        name=f"{LONG} International Holdings and Subsidiaries",
        domain=f"{LONG.lower()}-holdings.example",
        employees=123456,
    )
    group = ContactGroupFactory(name="Everyone with a long name")
    for i in range(4):
        contact = ContactFactory(
            first_name=f"{LONG}{i}",
            last_name=f"{LONG}-von-und-zu-Hohenzollern",
            email=f"{LONG.lower()}.{i}.with.a.very.long.address@{LONG.lower()}-holdings.example",
            job_title="Senior Vice President of Worldwide Strategic Partnerships",
            account=account,
            lead_score=99,
        )
        MembershipFactory(group=group, contact=contact, via_manual=True, via_account=True, via_condition=True)
    GroupAccount.objects.create(group=group, account=account)
    sign_in(page, live_server.url, "mia")  # signed in (the home page or the contact list)
    return [
        f"{live_server.url}/contacts/",
        f"{live_server.url}/contacts/accounts/",
        f"{live_server.url}/groups/{group.pk}/",
        f"{live_server.url}/groups/{group.pk}/accounts/",
    ]


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_lists_never_scroll_sideways(page: Page, pages, width, height, artifacts_dir):
    page.set_viewport_size({"width": width, "height": height})
    for url in pages:
        page.goto(url)
        expect(page.locator("table").first).to_be_visible()
        assert page.evaluate(OVERFLOWS) == [], url
        # The last column (Created, Contacts, Why?, Remove) is inside the window, not clipped.
        last = page.locator("table thead th:visible").last
        box = last.bounding_box()
        assert box and box["x"] + box["width"] <= width, url
    page.goto(pages[0])
    page.screenshot(path=artifacts_dir / f"layout-contacts-{width}.png")


def test_the_navigation_fits_one_row_for_the_role_that_sees_the_most(page: Page, live_server, transactional_db):
    """Every section an Admin may open (a superuser here: every permission) fits one row at 1280 px: the
    administration pages (field settings, users, webhooks) sit in one Admin menu."""
    from tests.factories import UserFactory

    UserFactory(username="root", is_superuser=True, is_staff=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, live_server.url, "root")
    navbar = page.locator("nav.navbar").first
    box = navbar.bounding_box()
    assert box and box["height"] < 70, box  # one row of links (two rows measured 81 px)
    page.get_by_role("button", name="Admin").click()
    menu = navbar.locator(".dropdown-menu.show")
    for name in ("Field settings", "Users", "Webhooks"):
        expect(menu.get_by_role("link", name=name)).to_be_visible()
