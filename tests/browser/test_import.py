"""Importing contacts in a real browser: upload, correct one mapping, run, watch the progress, download the report."""

import importlib
import re
from pathlib import Path

import pytest
from django.apps import apps
from django.urls import reverse
from playwright.sync_api import expect

from contacts.models import Contact
from contacts.roles import CONTACTS_PERMISSIONS, Role, grant_permissions
from tests.conftest import make_user
from transfers.imports.pipeline import import_execute
from transfers.models import ImportJob, ImportStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSV = (
    "Email Address;First Name;Last Name;Country/Region;Role at work;Signed up\r\n"
    "jana.novakova@example.cz;Jana;Nováková;Czechia;Buyer;31.12.2024\r\n"
    "petr@example.cz;Petr;Svoboda;cz;CTO;2025-01-15\r\n"
    "not-an-email;Bad;Row;Atlantis;;\r\n"
    "JANA.NOVAKOVA@example.cz;Jana;Nováková-Dvořák;;;\r\n"
)


@pytest.fixture
def marketer_page(page, live_server):
    grant_permissions(apps, "contacts", CONTACTS_PERMISSIONS)  # a transactional test may have flushed the roles
    roles = importlib.import_module("transfers.migrations.0002_import_roles")
    grant_permissions(apps, "transfers", roles.IMPORT_PERMISSIONS)
    make_user(Role.MARKETER, username="mia", first_name="Mia", last_name="Marketer")
    page.goto(live_server.url + reverse("login"))
    page.fill("input[name=username]", "mia")
    page.fill("input[name=password]", "secret-pass-123")
    page.locator("form").get_by_role("button").click()
    page.wait_for_url(lambda url: "/login/" not in url)  # signed in (sign-in lands on the dashboard)
    return page


def test_upload_map_run_and_download_the_report(marketer_page, live_server, tmp_path, artifacts_dir):
    page = marketer_page
    page.get_by_role("link", name="Import").first.click()
    expect(page.get_by_role("heading", name="Imports", exact=True)).to_be_visible()
    page.get_by_role("link", name="Import contacts").first.click()
    path = tmp_path / "hubspot-export.csv"
    path.write_bytes(CSV.encode("cp1250"))
    page.set_input_files("input[type=file]", str(path))
    page.get_by_role("button", name="Upload and map columns").click()

    # The mapping screen: detected fields, samples; "Role at work" is not recognised: map it by hand.
    expect(page.get_by_role("heading", name=re.compile("Map the columns"))).to_be_visible()
    expect(page.get_by_label("Field for Email Address")).to_have_value("email")
    expect(page.get_by_label("Field for Country/Region")).to_have_value("country")
    expect(page.get_by_label("Field for Role at work")).to_have_value("")
    expect(page.locator("tr[data-column='Last Name']")).to_contain_text("Nováková")
    page.get_by_label("Field for Role at work").select_option("job_title")
    page.screenshot(path=str(artifacts_dir / "import-mapping.png"), full_page=True)
    page.get_by_role("button", name="Preview").click()

    # The preview: values as stored, errors marked.
    preview = page.locator("#preview-table")
    expect(preview).to_contain_text("CZ")
    expect(preview).to_contain_text("Buyer")
    expect(preview.locator("td[data-error]")).to_have_count(2)  # the bad email and the unknown country
    assert not Contact.objects.exists()
    page.get_by_role("button", name=re.compile("Import 4 rows")).click()

    # The progress bar, while the worker has not picked the task up yet; it survives a reload.
    expect(page.get_by_role("progressbar")).to_be_visible()
    page.reload()
    expect(page.get_by_role("progressbar")).to_be_visible()
    job = ImportJob.objects.get()
    assert job.status == ImportStatus.QUEUED
    import_execute(job=job)  # what the django-q2 worker does
    # The page notices the end by itself and shows the report.
    expect(page.locator("[data-count=created]")).to_have_text("2", timeout=10_000)
    expect(page.locator("[data-count=skipped]")).to_have_text("1")
    report = page.locator("#report-table")
    expect(report).to_contain_text("“not-an-email” is not a valid email address.")
    expect(report).to_contain_text("Same email as line 2")
    page.screenshot(path=str(artifacts_dir / "import-report.png"), full_page=True)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the report (CSV)").click()
    lines = Path(download_info.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "line,column,value,reason,level"
    assert any(line.startswith("4,Email Address,not-an-email,") for line in lines)
    jana = Contact.objects.get(email__iexact="jana.novakova@example.cz")
    assert (jana.last_name, jana.country, jana.job_title) == ("Nováková-Dvořák", "CZ", "Buyer")

    page.get_by_role("link", name="Import").first.click()
    expect(page.locator("table")).to_contain_text("hubspot-export.csv")

    # Undo from the report page, through the in-page confirmation that says what will happen.
    page.get_by_role("link", name="hubspot-export.csv").click()
    page.get_by_role("button", name="Undo import").click()
    modal = page.locator("#confirm-modal")
    expect(modal).to_be_visible()
    expect(modal).to_contain_text(
        "Delete 2 contacts this import created and restore the previous values of 0 contacts it updated."
    )
    page.screenshot(path=str(artifacts_dir / "import-undo-confirm.png"), full_page=True)
    modal.get_by_role("button", name="Undo import").click()
    expect(page.locator("[data-undone]").first).to_contain_text("Undone by mia on ")
    expect(page.get_by_role("button", name="Undo import")).to_have_count(0)
    assert not Contact.objects.exists()


ACCOUNTS_CSV = (
    "Company Name;Company Domain Name;Industry;Number of Employees;Country/Region\r\n"
    "Škoda Auto;https://www.skoda-auto.cz/;Automotive;35 000;Česko\r\n"
    "Globex GmbH;globex.de;Software;many;Deutschland\r\n"
    "ŠKODA AUTO;;Cars;;\r\n"
)


def test_accounts_upload_run_and_report(marketer_page, live_server, tmp_path, artifacts_dir):
    from contacts.models import Account

    page = marketer_page
    page.goto(live_server.url + reverse("contacts:account_list"))
    page.get_by_role("link", name="Import accounts").click()
    expect(page.get_by_role("heading", name="Import accounts")).to_be_visible()
    path = tmp_path / "hubspot-companies.csv"
    path.write_bytes(ACCOUNTS_CSV.encode("cp1250"))
    page.set_input_files("input[type=file]", str(path))
    page.get_by_role("button", name="Upload and map columns").click()

    expect(page.get_by_role("heading", name=re.compile("Map the columns"))).to_be_visible()
    expect(page.get_by_label("Field for Company Name")).to_have_value("name")
    expect(page.get_by_label("Field for Company Domain Name")).to_have_value("domain")
    expect(page.get_by_label("Field for Number of Employees")).to_have_value("employees")
    expect(page.get_by_label("Field for Country/Region")).to_have_value("country")
    page.get_by_role("button", name="Preview").click()

    preview = page.locator("#preview-table")
    expect(preview).to_contain_text("skoda-auto.cz")
    expect(preview).to_contain_text("35000")
    expect(preview.locator("td[data-error]")).to_have_count(1)  # "many" employees
    page.get_by_role("button", name=re.compile("Import 3 rows")).click()
    expect(page.get_by_role("progressbar")).to_be_visible()
    page.reload()
    expect(page.get_by_role("progressbar")).to_be_visible()
    assert not Account.objects.exists()
    import_execute(job=ImportJob.objects.get())  # what the django-q2 worker does
    expect(page.locator("[data-count=created]")).to_have_text("1", timeout=10_000)
    expect(page.locator("[data-count=skipped]")).to_have_text("1")
    report = page.locator("#report-table")
    expect(report).to_contain_text("“many”")
    expect(report).to_contain_text("Same account as line 2")
    page.screenshot(path=str(artifacts_dir / "import-accounts-report.png"), full_page=True)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the report (CSV)").click()
    lines = Path(download_info.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert any(line.startswith("3,Number of Employees,many,") for line in lines)
    skoda = Account.objects.get()
    assert (skoda.name, skoda.domain, skoda.industry, skoda.employees, skoda.country) == (
        "ŠKODA AUTO",
        "skoda-auto.cz",
        "Cars",
        35000,
        "CZ",
    )
    page.get_by_role("link", name="Import").first.click()
    expect(page.locator("td[data-kind=accounts]")).to_have_text("Accounts")
