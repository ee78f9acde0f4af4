"""An Admin opens the audit log from the Admin menu and unfolds a group change: its sentences, removed and added."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.test import RequestFactory
from playwright.sync_api import Page, expect

from audit.context import acting_as
from contacts.roles import CONTACTS_PERMISSIONS, Role, grant_permissions
from segments import services
from tests.browser.signin import sign_in
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "amber-meadow-signal-73"


def country(code):
    return {"type": "field", "field": "country", "operator": "equals", "value": code}


def tree(*children):
    return {"version": 1, "root": {"type": "group", "combinator": "or", "children": list(children)}}


def test_an_admin_reads_a_group_change_in_the_audit_log(page: Page, live_server, artifacts_dir):
    grant_permissions(apps, "contacts", CONTACTS_PERMISSIONS)
    grant_permissions(apps, "audit", {"auditentry": {"Admin": ("view",)}})
    admin = make_user(None, username="boss")
    admin.groups.add(Group.objects.get(name=Role.ADMIN.value))
    admin.set_password(PASSWORD)
    admin.save()
    request = RequestFactory().post("/", REMOTE_ADDR="198.51.100.23")
    request.user = admin
    with acting_as(request=request):
        group = services.group_create(code="dach", name="DACH", is_condition_based=True, condition=tree(country("DE")))
        services.group_update(
            group=group,
            name="DACH",
            description="",
            is_condition_based=True,
            condition=tree(country("DE"), country("AT")),
            scheduled_rebuild=False,
        )

    sign_in(page, live_server.url, "boss", PASSWORD, wait=False)
    page.get_by_role("button", name="Admin").click()
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()

    row = page.locator("tr[data-action='group.updated']")
    expect(row).to_contain_text("198.51.100.23")
    added = page.locator(".audit-line-added").filter(has_text="Country is Austria")
    expect(added).to_be_hidden()  # folded until asked for
    row.get_by_role("button", name="Changes").click()
    expect(added).to_be_visible()
    expect(page.locator(".audit-line-same").filter(has_text="Country is Germany")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "audit-log.png"), full_page=True)
