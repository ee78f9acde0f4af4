"""Browser test: export the filtered contact list and a group's members from their pages, read the files
back; import group definitions and see the missing references listed."""

from __future__ import annotations

import csv
import importlib
import io
import json
import re

import openpyxl
import pytest
from django.apps import apps
from playwright.sync_api import Page, expect

from contacts.models import Contact
from contacts.roles import CONTACTS_PERMISSIONS, Role, grant_permissions
from segments.models import ContactGroup
from tests.browser.signin import sign_in
from tests.conftest import make_user
from tests.factories import ContactFactory, ContactFieldFactory, ContactGroupFactory, MembershipFactory
from transfers.group_definitions import FORMAT

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def signed_in(page: Page, live_server) -> Page:
    # A transactional test flushes the tables, roles' permissions included: grant them again.
    grant_permissions(apps, "contacts", CONTACTS_PERMISSIONS)
    grant_permissions(apps, "segments", importlib.import_module("segments.migrations.0002_roles").SEGMENTS_PERMISSIONS)
    make_user(Role.MARKETER, username="mia")
    ContactFieldFactory(code="plan", label="Plan", type="choice", choices=[{"code": "pro"}, {"code": "free"}])
    ContactFactory(email="jana@example.cz", first_name="Jana", country="CZ", custom={"plan": "pro"})
    ContactFactory(email="=cmd@example.cz", first_name="=SUM(A1)", country="CZ")
    ContactFactory(email="max@example.de", first_name="Max", country="DE")
    sign_in(page, live_server.url, "mia", wait=False)
    return page


def test_export_the_filtered_list_as_csv(signed_in: Page, live_server, artifacts_dir):
    page = signed_in
    page.goto(f"{live_server.url}/contacts/?country=CZ")
    page.get_by_role("link", name="Export").click()
    expect(page.get_by_role("heading", name="Export contacts")).to_be_visible()
    expect(page.locator("[data-export-what]")).to_contain_text("Country: Czechia")
    page.get_by_role("button", name="None").click()
    page.get_by_label("Email").check()
    page.get_by_label("Plan").check()
    page.screenshot(path=artifacts_dir / "export-chooser.png")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download").click()
    download = info.value
    assert re.fullmatch(r"contacts-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
    text = download.path().read_text(encoding="utf-8-sig")  # the BOM is on by default
    assert list(csv.reader(io.StringIO(text))) == [["Email", "Plan"], ["jana@example.cz", "pro"],
                                                   ["'=cmd@example.cz", ""]]  # fmt: skip


def test_export_a_group_as_xlsx(signed_in: Page, live_server):
    page = signed_in
    group = ContactGroupFactory(code="vip", name="VIP")
    for contact in Contact.objects.filter(country="CZ"):
        MembershipFactory(group=group, contact=contact, via_manual=True)
    page.goto(f"{live_server.url}/groups/{group.pk}/")
    page.get_by_role("link", name="Export").click()
    expect(page.get_by_role("heading", name="Export members of “VIP”")).to_be_visible()
    page.get_by_label("Excel (XLSX)").check()
    with page.expect_download() as info:
        page.get_by_role("button", name="Download").click()
    rows = list(openpyxl.load_workbook(io.BytesIO(info.value.path().read_bytes())).active.iter_rows(values_only=True))
    assert rows[0][:2] == ("Email", "First name") and rows[0][-2:] == ("Member sources", "Member since")
    assert [r[0] for r in rows[1:]] == ["jana@example.cz", "=cmd@example.cz"]  # text cells, never formulas
    assert {r[-2] for r in rows[1:]} == {"Manual"}


def test_import_group_definitions_lists_what_is_missing(signed_in: Page, live_server, tmp_path, artifacts_dir):
    page = signed_in
    file = tmp_path / "groups.json"
    condition = {"version": 1, "root": {"type": "field", "field": "custom.tier", "operator": "equals", "value": "x"}}
    cz = {"version": 1, "root": {"type": "field", "field": "country", "operator": "equals", "value": "CZ"}}
    file.write_text(json.dumps({"format": FORMAT, "version": 1, "groups": [
        {"code": "czechs", "name": "Czechs", "is_condition_based": True, "condition": cz},
        {"code": "tiered", "name": "Tiered", "is_condition_based": True, "condition": condition},
    ]}))  # fmt: skip
    page.goto(f"{live_server.url}/groups/")
    page.get_by_role("link", name="Import definitions").click()
    page.get_by_label("Group definitions file (JSON)").set_input_files(str(file))
    page.get_by_role("button", name="Check the file").click()
    expect(page.locator("[data-missing]")).to_contain_text("custom field “tier”")
    expect(page.locator("tr[data-code=tiered]")).to_contain_text("Not imported")
    expect(page.locator("tr[data-code=czechs]")).to_contain_text("Will be created")
    page.screenshot(path=artifacts_dir / "export-definitions-plan.png", full_page=True)
    assert not ContactGroup.objects.exists()
    page.get_by_role("button", name="Import only the 1 group that resolves").click()
    expect(page.get_by_text("Imported 1 group: “Czechs”.")).to_be_visible()
    assert list(ContactGroup.objects.values_list("code", flat=True)) == ["czechs"]
