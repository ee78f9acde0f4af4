"""An Admin invites a user in the app; the newcomer opens the emailed link, chooses a password and signs in."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.core import mail
from playwright.sync_api import Page, expect

from contacts.roles import CONTACTS_PERMISSIONS, USER_PERMISSIONS, Role, grant_permissions
from tests.browser.signin import sign_in
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
NEW_PASSWORD = "violet-harbour-lantern-42"


@pytest.fixture
def roles(transactional_db, settings):
    settings.AXES_ENABLED = True  # the real sign-in form, throttled as in production
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    grant_permissions(apps, "contacts", CONTACTS_PERMISSIONS)
    grant_permissions(apps, "auth", USER_PERMISSIONS)


def sign_out(page: Page) -> None:
    page.locator("#user-menu").click()
    page.locator("nav").get_by_role("button", name=re.compile(r"Sign out$")).click()
    page.wait_for_url(re.compile(r"/login/"))


def test_admin_invites_a_user_who_sets_a_password_and_signs_in(page: Page, live_server, roles, artifacts_dir):
    make_user(Role.ADMIN, username="ada")
    sign_in(page, live_server.url, "ada", wait=False)
    page.wait_for_url(lambda url: "/login/" not in url)

    page.get_by_role("button", name="Admin").click()  # the Admin menu: Field settings, Users, Webhooks
    page.get_by_role("link", name="Users").click()
    page.get_by_role("link", name="Invite a user").click()
    page.get_by_label("Email").fill("nina@example.com")
    page.get_by_label("First name").fill("Nina")
    page.get_by_role("radio", name=re.compile(r"Staff —")).check()
    page.get_by_role("button", name="Invite").click()
    expect(page.get_by_role("heading", name="nina@example.com is invited")).to_be_visible()
    shown = page.locator("[data-invite-link]").input_value()

    [message] = mail.outbox
    link = re.search(r"(http://\S+/account/set-password/\S+)", message.body).group(1)
    assert link == shown
    page.screenshot(path=str(artifacts_dir / "users-invited.png"), full_page=True)
    sign_out(page)

    page.goto(link)
    expect(page.get_by_text("You sign in as nina@example.com")).to_be_visible()
    expect(page.get_by_text("Your password must contain at least 12 characters.")).to_be_visible()
    page.locator("#id_new_password1").fill("short")
    page.locator("#id_new_password2").fill("short")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_text("This password is too short.")).to_be_visible()
    page.locator("#id_new_password1").fill(NEW_PASSWORD)
    page.locator("#id_new_password2").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set password").click()
    page.wait_for_url(re.compile(r"/login/"))
    expect(page.get_by_text("Your password is set.")).to_be_visible()

    sign_in(page, live_server.url, "nina@example.com", NEW_PASSWORD, wait=False)
    page.wait_for_url(lambda url: "/login/" not in url)
    expect(page.locator("nav")).to_contain_text("Nina")
    expect(page.locator("nav")).not_to_contain_text("Users")  # Staff does not manage users

    page.goto(link)  # spent
    expect(page.get_by_text("This link is no longer valid")).to_be_visible()


def test_a_locked_out_sign_in_explains_itself_and_an_admin_unlocks_it(
    page: Page, live_server, roles, settings, artifacts_dir
):
    settings.AXES_FAILURE_LIMIT = 3
    make_user(Role.ADMIN, username="ada")
    make_user(Role.MARKETER, username="mia")
    for _ in range(3):
        sign_in(page, live_server.url, "mia", "wrong-password", wait=False)
    expect(page.get_by_role("alert")).to_have_text(re.compile("Too many failed attempts; try again in 15 minutes."))
    sign_in(page, live_server.url, "mia", wait=False)
    expect(page.get_by_role("alert")).to_contain_text("Too many failed attempts")
    page.screenshot(path=str(artifacts_dir / "users-locked-out.png"))

    sign_in(page, live_server.url, "ada", wait=False)
    page.wait_for_url(lambda url: "/login/" not in url)
    page.goto(f"{live_server.url}/users/")
    row = page.locator('tr[data-user="mia"]')
    expect(row).to_contain_text("Locked out")
    page.screenshot(path=str(artifacts_dir / "users-list.png"), full_page=True)
    page.locator('[data-locked-username="mia"]').get_by_role("button", name="Unlock").click()
    modal = page.locator("#confirm-modal")
    expect(modal).to_contain_text("Unlock “mia”?")
    modal.get_by_role("button", name="Unlock").click()
    expect(page.get_by_text("“mia” may try signing in again.")).to_be_visible()
    expect(row).not_to_contain_text("Locked out")

    page.locator("#user-menu").click()
    page.locator("nav").get_by_role("button", name="Log out everywhere").click()
    page.locator("#confirm-modal").get_by_role("button", name="Log out everywhere").click()
    page.wait_for_url(re.compile(r"/login/"))
    expect(page.get_by_text("You are signed out on every device.")).to_be_visible()

    sign_in(page, live_server.url, "mia", wait=False)
    page.wait_for_url(lambda url: "/login/" not in url)
