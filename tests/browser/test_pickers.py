"""Tom Select pickers in a real browser: picking five contacts on a group's Members tab by keyboard and by
mouse, with a slow search endpoint (the answer arrives after the user has already pressed Enter), and
the account picker's clear button on the contact form."""

from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps
from playwright.sync_api import Page, expect

from contacts.roles import CONTACTS_PERMISSIONS, Role, grant_permissions
from segments.models import Membership
from tests.browser.signin import sign_in
from tests.conftest import make_user
from tests.factories import AccountFactory, ContactFactory, ContactGroupFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FIVE = ["Alma Archer", "Bruno Baker", "Carla Cruz", "Dana Diaz", "Emil Evans"]
LOOK_ALIKES = ["Alma Armstrong", "Bruno Bauer", "Carla Castro", "Dana Dunn", "Emil Ek"]
# Every contact search answers 400 ms late: the user is faster than the network.
SLOW_SEARCH = """() => {
    const fetch = window.fetch;
    window.fetch = (url, options) => String(url).includes("/search/")
        ? new Promise((resolve) => setTimeout(resolve, 400)).then(() => fetch(url, options))
        : fetch(url, options);
}"""


@pytest.fixture
def members_page(page: Page, live_server, transactional_db):
    grant_permissions(apps, "contacts", CONTACTS_PERMISSIONS)
    grant_permissions(apps, "segments", importlib.import_module("segments.migrations.0002_roles").SEGMENTS_PERMISSIONS)
    make_user(Role.MARKETER, username="mia")
    for name in FIVE + LOOK_ALIKES:
        first, last = name.split()
        ContactFactory(first_name=first, last_name=last, email=f"{first}.{last}@example.com".lower())
    group = ContactGroupFactory(code="picked", name="Picked by hand")
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.add_init_script(f"({SLOW_SEARCH})()")
    sign_in(page, live_server.url, "mia")  # signed in (the home page or the contact list)
    page.goto(f"{live_server.url}/groups/{group.pk}/")
    yield page, group
    assert not errors, errors


def chips(page: Page):
    return page.locator(".add-contacts .ts-control .item")


def picked_names(group) -> set[str]:
    return {str(m.contact.full_name) for m in Membership.objects.filter(group=group).select_related("contact")}


def test_pick_five_contacts_by_keyboard(members_page, artifacts_dir):
    page, group = members_page
    box = page.locator(".add-contacts .ts-control input")
    box.click()
    for n, name in enumerate(FIVE, start=1):
        # Type the whole name and press Enter at once: the search has not answered yet.
        page.keyboard.type(name, delay=15)
        page.keyboard.press("Enter")
        expect(chips(page)).to_have_count(n)
        expect(chips(page).nth(n - 1)).to_contain_text(name)
        expect(box).to_have_value("")  # the next name is typed into an empty box
        expect(page.locator(".add-contacts .ts-dropdown .option")).to_have_count(0)  # no stale results
        if n == 2:
            # Clicking a picked contact does not select it: typing goes on into the search box.
            chips(page).first.click()
        if n == 3:
            # Backspace in the empty box never deletes a picked contact.
            page.keyboard.press("Backspace")
            expect(chips(page)).to_have_count(3)
    # Enter with no result never submits the form.
    page.keyboard.type("nobody-at-all", delay=15)
    page.keyboard.press("Enter")
    page.wait_for_timeout(700)
    expect(page.locator(".alert")).to_have_count(0)
    expect(chips(page)).to_have_count(5)
    assert not Membership.objects.filter(group=group).exists()
    page.keyboard.press("Control+a")
    page.keyboard.press("Backspace")
    page.keyboard.press("Enter")  # an empty box: nothing happens either
    page.wait_for_timeout(300)
    expect(page.locator(".alert")).to_have_count(0)
    page.screenshot(path=artifacts_dir / "members-picker-five.png")
    page.get_by_role("button", name="Add to group").click()
    expect(page.locator(".alert-success")).to_contain_text("5 contacts added")
    assert picked_names(group) == set(FIVE)


def test_pick_five_contacts_by_mouse(members_page):
    page, group = members_page
    box = page.locator(".add-contacts .ts-control input")
    for n, name in enumerate(FIVE, start=1):
        box.click()
        page.keyboard.type(name.split()[0].lower(), delay=15)  # "alma": two matches, pick the right one
        option = page.locator(".add-contacts .ts-dropdown .option", has_text=name)
        option.click()
        expect(chips(page)).to_have_count(n)
        expect(chips(page).nth(n - 1)).to_contain_text(name)
        expect(box).to_have_value("")
        # Clicking the box again shows no results of the previous search.
        box.click()
        expect(page.locator(".add-contacts .ts-dropdown .option")).to_have_count(0)
    # A picked contact goes with its × only.
    chips(page).nth(1).locator(".remove").click()
    expect(chips(page)).to_have_count(4)
    box.click()
    page.keyboard.type("bruno b", delay=15)
    page.locator(".add-contacts .ts-dropdown .option", has_text="Bruno Baker").click()
    expect(chips(page)).to_have_count(5)
    page.get_by_role("button", name="Add to group").click()
    expect(page.locator(".alert-success")).to_contain_text("5 contacts added")
    assert picked_names(group) == set(FIVE)


def test_account_picker_has_a_clear_button_and_no_placeholder_option(members_page):
    page, _ = members_page
    account = AccountFactory(name="Navy Labs")
    contact = ContactFactory(first_name="Grace", last_name="Hopper", account=account)
    page.goto(page.url.split("/groups/")[0] + f"/contacts/{contact.pk}/edit/")
    wrapper = page.locator(".ts-wrapper", has=page.locator(".item", has_text="Navy Labs"))
    expect(wrapper).to_be_visible()
    wrapper.locator(".ts-control").click()
    # The placeholder is not a choice.
    expect(page.locator(".ts-dropdown .option", has_text="Search accounts")).to_have_count(0)
    page.keyboard.press("Escape")
    wrapper.locator(".clear-button").click()
    expect(wrapper.locator(".item")).to_have_count(0)
    page.get_by_role("button", name=re.compile("^Save")).first.click()
    expect(page.locator(".alert-success")).to_be_visible()
    contact.refresh_from_db()
    assert contact.account_id is None
