"""Destructive actions ask in an in-page Bootstrap modal (never the browser's confirm()) that says what will
happen and to how many contacts; confirming keeps the tab's filter, search, sort and page."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from playwright.sync_api import Page, expect

from contacts.roles import CONTACTS_PERMISSIONS, Role, grant_permissions
from segments.models import GroupAccount, Membership
from tests.browser.signin import sign_in
from tests.conftest import make_user
from tests.factories import AccountFactory, ContactFactory, ContactGroupFactory, MembershipFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def signed_in(page: Page, live_server, transactional_db):
    grant_permissions(apps, "contacts", CONTACTS_PERMISSIONS)
    grant_permissions(apps, "segments", importlib.import_module("segments.migrations.0002_roles").SEGMENTS_PERMISSIONS)
    make_user(Role.MARKETER, username="mia")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, live_server.url, "mia")  # signed in (the home page or the contact list)
    yield page
    assert not dialogs, f"native dialogs shown: {dialogs}"


def test_remove_selected_members_asks_in_a_modal_and_keeps_the_view(signed_in, live_server, artifacts_dir):
    page = signed_in
    group = ContactGroupFactory(name="Trade fair leads")
    for i in range(6):
        MembershipFactory(group=group, contact=ContactFactory(first_name=f"Lead{i}", last_name="Fair"), via_manual=True)
    MembershipFactory(group=group, contact=ContactFactory(first_name="Other", last_name="Person"), via_manual=True)
    view = f"/groups/{group.pk}/?q=fair&source=manual&sort=-name"
    page.goto(live_server.url + view)
    page.get_by_label("Select Lead1 Fair").check()
    page.get_by_label("Select Lead2 Fair").check()
    page.get_by_role("button", name="Remove selected").click()
    modal = page.locator("#confirm-modal")
    expect(modal).to_be_visible()
    expect(modal).to_contain_text("Remove 2 contacts from “Trade fair leads”?")
    expect(modal).to_contain_text("Those also in it through their account or the condition stay.")
    page.wait_for_timeout(400)  # the fade-in, for the screenshot
    page.screenshot(path=artifacts_dir / "confirm-remove-members.png")
    modal.get_by_role("button", name="Cancel").click()
    expect(modal).to_be_hidden()
    assert Membership.objects.filter(group=group).count() == 7

    page.get_by_role("button", name="Remove selected").click()
    modal.get_by_role("button", name="Remove 2 contacts").click()
    expect(page.locator(".alert-success")).to_contain_text("2 members removed")
    assert page.url == live_server.url + view  # the same filter, search and sort
    expect(page.get_by_label("Search members")).to_have_value("fair")
    assert Membership.objects.filter(group=group).count() == 5

    page.get_by_role("button", name="Remove all added by hand").click()
    expect(modal).to_contain_text("Remove all 5 contacts added by hand?")
    modal.get_by_role("button", name="Remove 5 contacts").click()
    expect(page.locator(".alert-success")).to_contain_text("5 members removed")
    assert not Membership.objects.filter(group=group).exists()


def test_remove_account_asks_in_a_modal_with_its_contact_count(signed_in, live_server):
    page = signed_in
    group = ContactGroupFactory(name="Partners")
    account = AccountFactory(name="Navy Labs")
    ContactFactory.create_batch(3, account=account)
    GroupAccount.objects.create(group=group, account=account)
    page.goto(f"{live_server.url}/groups/{group.pk}/accounts/")
    page.get_by_role("button", name="Remove").click()
    modal = page.locator("#confirm-modal")
    expect(modal).to_contain_text("Remove “Navy Labs” from this group?")
    expect(modal).to_contain_text("Its 3 contacts leave “Partners”")
    modal.get_by_role("button", name="Remove account").click()
    expect(page.locator(".alert-success")).to_contain_text("“Navy Labs” removed")
    assert not GroupAccount.objects.exists()
