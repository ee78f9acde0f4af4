"""The API tokens page in a browser (create, shown once, revoke in the in-page modal) and the API docs,
which must render from this site alone (Swagger UI from drf-spectacular-sidecar, no CDN)."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from playwright.sync_api import Page, expect

from contacts.roles import CONTACTS_PERMISSIONS, Role, grant_permissions
from tests.browser.signin import sign_in
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def signed_in(page: Page, live_server, transactional_db):
    grant_permissions(apps, "contacts", CONTACTS_PERMISSIONS)
    grant_permissions(apps, "segments", importlib.import_module("segments.migrations.0002_roles").SEGMENTS_PERMISSIONS)
    importlib.import_module("api.migrations.0002_roles").forwards(apps, None)
    make_user(Role.MARKETER, username="mia")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, live_server.url, "mia")
    yield page
    assert not dialogs, f"native dialogs shown: {dialogs}"


def test_create_a_token_use_it_and_revoke_it(signed_in, live_server):
    page = signed_in
    page.locator("#user-menu").click()
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("CRM sync")
    page.get_by_label("Read and write").check()
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").input_value()
    assert token.startswith("seg_")
    api = page.context.request
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get(f"{live_server.url}/api/v1/contacts/", headers=headers).status == 200

    page.goto(f"{live_server.url}/account/api-tokens/")
    expect(page.locator("#new-token")).to_have_count(0)  # shown once
    page.get_by_role("button", name="Revoke").click()
    modal = page.locator("#confirm-modal")
    expect(modal).to_be_visible()
    expect(modal).to_contain_text("stop working at once")
    modal.get_by_role("button", name="Revoke token").click()
    expect(page.get_by_role("alert").first).to_contain_text("revoked")
    assert api.get(f"{live_server.url}/api/v1/contacts/", headers=headers).status == 401


def test_the_docs_render_from_this_site_alone(signed_in, live_server):
    page = signed_in
    outside: list[str] = []

    def only_this_site(route):
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_site)
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible(timeout=20_000)
    expect(page.locator(".swagger-ui")).to_contain_text("/api/v1/contacts/")
    assert not outside, outside
