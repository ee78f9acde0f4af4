"""Imports, their undo, and exports (the download, the command, group definitions) write audit entries."""

from __future__ import annotations

import io
import sys

import pytest
from django.core.management import call_command
from django.urls import reverse

from audit.context import process_name
from audit.models import AuditEntry
from contacts import services as contact_services
from contacts.models import Contact
from tests.audit.conftest import ADDRESS, assert_by, entry
from tests.factories import ContactFactory, ContactGroupFactory
from tests.transfers.conftest import run_import  # noqa: F401  (the import tests' fixture)
from transfers.imports.jobs import job_create, job_queue
from transfers.imports.mapping import mapping_guess
from transfers.imports.pipeline import ImportOptions
from transfers.imports.reading import table_read
from transfers.models import ImportJob, ImportStatus

pytestmark = pytest.mark.django_db

FILE = b"Email,First name,Nickname\nann@x.cz,Ann,\nbob@x.cz,Bob,\n"


def test_queueing_an_import_records_the_file_the_mapping_and_the_options(acting, django_capture_on_commit_callbacks):
    table = table_read(data=FILE, file_name="people.csv")
    mapping = mapping_guess(header=table.header)
    options = ImportOptions(new_group="Fair 2026")
    job = job_create(data=FILE, file_name="people.csv", user=acting, table=table, mapping=mapping, options=options)
    assert not AuditEntry.objects.exists()  # a draft is not an import yet
    with django_capture_on_commit_callbacks(execute=False):
        job_queue(job=job)
    item = entry("import.run")
    assert_by(item, acting)
    assert (item.object_type, item.object_id, item.object_label) == ("transfers.importjob", str(job.pk), "people.csv")
    assert item.changes["columns"] == ["Email → email", "First name → first_name"]
    assert item.changes["new_group"] == "Fair 2026" and item.changes["kind"] == "contacts"
    assert item.summary == "imported contacts from “people.csv” into the group “Fair 2026”"
    with django_capture_on_commit_callbacks(execute=False):
        job_queue(job=job)  # queued already: nothing happens, nothing more is noted
    assert AuditEntry.objects.filter(action="import.run").count() == 1


def test_an_import_into_an_existing_group_names_the_group(acting, django_capture_on_commit_callbacks):
    fair = ContactGroupFactory(code="fair", name="Trade fair")
    table = table_read(data=FILE, file_name="fair.csv")
    options = ImportOptions(group_id=fair.pk)
    job = job_create(
        data=FILE, file_name="fair.csv", user=acting, table=table, mapping=["email", "", ""], options=options
    )
    with django_capture_on_commit_callbacks(execute=False):
        job_queue(job=job)
    item = entry("import.run")
    assert item.changes["group"] == "Trade fair" and "group_id" not in item.changes
    assert item.summary == "imported contacts from “fair.csv” into the group “Trade fair”"


def test_the_import_command_records_its_run_and_a_dry_run_records_nothing(tmp_path, monkeypatch):
    path = tmp_path / "people.csv"
    path.write_bytes(FILE)
    monkeypatch.setattr(sys, "argv", ["manage.py", "import_contacts", str(path)])
    call_command("import_contacts", str(path), "--dry-run", stdout=io.StringIO())
    assert not AuditEntry.objects.exists()
    call_command("import_contacts", str(path), stdout=io.StringIO())
    item = entry("import.run")
    assert (item.actor, item.actor_name, item.ip) == (None, "manage.py import_contacts", None)
    assert ImportJob.objects.get(pk=item.object_id).status == ImportStatus.SUCCEEDED


def test_undoing_an_import_on_its_page_records_who_and_what_it_did(run_import, marketer_client, marketer):  # noqa: F811
    ContactFactory(email="bob@x.cz", first_name="Robert")
    job = run_import(FILE, user=marketer)
    assert (job.created, job.updated) == (1, 1)
    response = marketer_client.post(reverse("transfers:import_undo", args=[job.pk]), REMOTE_ADDR="192.0.2.50")
    assert response.status_code == 302
    item = entry("import.undone")
    assert_by(item, marketer, "192.0.2.50")
    assert item.changes == {"created_deleted": 1, "updated_restored": 1}
    assert item.object_id == str(job.pk)


def test_a_refused_undo_records_nothing(run_import, marketer_client, marketer):  # noqa: F811
    job = run_import(FILE, user=marketer)
    contact_services.contact_update(contact=Contact.objects.get(email="ann@x.cz"), city="Brno")  # edited since
    response = marketer_client.post(reverse("transfers:import_undo", args=[job.pk]))
    assert response.status_code == 409
    assert not AuditEntry.objects.filter(action="import.undone").exists()


def test_downloading_an_export_records_what_was_exported(marketer_client, marketer):
    ContactFactory(email="ann@x.cz", country="CZ")
    url = reverse("transfers:export_contacts")
    query = {"filters": "country=CZ", "columns": ["email", "country"], "format": "csv"}
    response = marketer_client.get(url, query, REMOTE_ADDR=ADDRESS)
    assert b"ann@x.cz" in b"".join(response.streaming_content)
    item = entry("export.run")
    assert_by(item, marketer)
    assert item.object_label == "Contacts matching Country: Czechia"
    assert item.changes == {"format": "CSV", "columns": ["Email", "Country"]}
    assert item.summary.startswith("downloaded contacts-") and item.summary.endswith(".csv")


def test_a_refused_export_records_nothing(marketer_client, monkeypatch):
    monkeypatch.setattr("transfers.exports.service.EXCEL_MAX_ROWS", 2)  # a sheet of a header and one row
    ContactFactory.create_batch(2)
    url = reverse("transfers:export_contacts")
    response = marketer_client.get(url, {"filters": "", "columns": ["email"], "format": "xlsx"})
    assert response.status_code == 400 and "do not fit in an Excel sheet" in response.content.decode()
    assert not AuditEntry.objects.exists()


def test_the_export_command_and_group_definitions_are_recorded(admin_client_role, admin_user):
    ContactFactory(email="ann@x.cz")
    call_command("export_contacts", "--columns", "email", stdout=io.StringIO(), stderr=io.StringIO())
    assert entry("export.run").actor_name == process_name()
    ContactGroupFactory(code="vip", name="VIP")
    response = admin_client_role.get(reverse("transfers:group_definitions"), REMOTE_ADDR=ADDRESS)
    assert response.status_code == 200
    definitions = AuditEntry.objects.get(action="export.run", actor=admin_user)
    assert_by(definitions, admin_user)
    assert definitions.changes == {"format": "JSON", "groups": ["vip"]}
    assert definitions.object_label == "Definitions of 1 group"
