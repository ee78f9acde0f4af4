"""The import pages: upload → mapping → preview → run → report, per role, with bad input changing nothing."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from contacts.models import Contact, ContactField
from contacts.roles import Role
from segments.models import ContactGroup
from tests.conftest import make_user
from tests.factories import ContactFieldFactory, ContactGroupFactory
from tests.transfers.files import xlsx_bytes
from transfers.imports.pipeline import import_execute
from transfers.models import ImportJob, ImportStatus, SavedMapping

pytestmark = pytest.mark.django_db

CSV = "Email;Jméno;Město;Favourite colour\r\njana@x.cz;Jana;Plzeň;blue\r\nbad;Bad;;\r\n".encode("cp1250")


def upload(client, data=CSV, name="people.csv", **extra):
    return client.post(reverse("transfers:import_upload"), {"file": SimpleUploadedFile(name, data), **extra})


def mapping_post(job, **overrides):
    data = {f"column_{i}": target for i, target in enumerate(job.mapping)}
    data.update(date_format="auto", **overrides)
    return data


def test_upload_creates_a_draft_with_the_automatic_mapping(marketer_client, marketer):
    response = upload(marketer_client)
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response.url == reverse("transfers:import_mapping", args=[job.pk])
    assert job.status == ImportStatus.DRAFT and job.created_by == marketer
    assert job.mapping == ["email", "first_name", "city", ""]
    assert job.read_as == "CSV, Windows-1250, semicolon-separated"
    page = marketer_client.get(response.url).content.decode()
    assert "Plzeň" in page and "Favourite colour" in page  # sample values and columns


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The submitted file is empty"),
        (bytes(range(256)) * 8, "binary data"),
        (b"a@x.cz,Ann\n", "looks like data"),
    ],
    ids=["0-byte", "binary", "no-header"],
)
def test_a_refused_upload_says_why_and_keeps_nothing(marketer_client, data, message):
    response = upload(marketer_client, data=data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ImportJob.objects.exists()


def test_mapping_corrected_then_preview_shows_stored_values_and_errors(marketer_client):
    upload(marketer_client)
    job = ImportJob.objects.get()
    url = reverse("transfers:import_mapping", args=[job.pk])
    response = marketer_client.post(url, mapping_post(job, column_3="job_title"))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.mapping == ["email", "first_name", "city", "job_title"]
    page = marketer_client.get(reverse("transfers:import_preview", args=[job.pk])).content.decode()
    assert "Plzeň" in page and "blue" in page
    assert "is not a valid email address" in page and 'data-error="1"' in page
    assert not Contact.objects.exists()  # nothing is written before the run


def test_a_mapping_that_cannot_run_is_refused_and_not_saved(marketer_client):
    upload(marketer_client)
    job = ImportJob.objects.get()
    url = reverse("transfers:import_mapping", args=[job.pk])
    response = marketer_client.post(url, mapping_post(job, column_0="", column_1="city"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Map a column to Email" in page and "Each field can be filled by one column only: city." in page
    job.refresh_from_db()
    assert job.mapping == ["email", "first_name", "city", ""]


def test_run_queues_the_task_and_the_detail_polls_until_done(marketer_client, django_capture_on_commit_callbacks):
    upload(marketer_client)
    job = ImportJob.objects.get()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = marketer_client.post(reverse("transfers:import_preview", args=[job.pk]))
    assert response.url == reverse("transfers:import_detail", args=[job.pk])
    assert len(callbacks) == 1
    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED
    detail = marketer_client.get(response.url).content.decode()
    assert 'hx-trigger="every 1s"' in detail and "progressbar" in detail
    # the mapping of a queued job cannot be changed any more
    assert marketer_client.get(reverse("transfers:import_mapping", args=[job.pk])).status_code == 302
    import_execute(job=job)  # what the worker does
    poll = marketer_client.get(response.url + "?progress=1", HTTP_HX_REQUEST="true")
    assert poll["HX-Refresh"] == "true"
    report = marketer_client.get(response.url).content.decode()
    assert 'data-count="created">1<' in report and 'data-count="skipped">1<' in report
    assert "is not a valid email address" in report
    csv_report = marketer_client.get(reverse("transfers:import_report_csv", args=[job.pk]))
    text = b"".join(csv_report.streaming_content).decode("utf-8-sig")
    assert text.splitlines()[0] == "line,column,value,reason,level"
    assert text.splitlines()[1].startswith("3,Email,bad,")


def test_the_list_shows_who_when_file_and_counts(marketer_client, marketer):
    job = ImportJob.objects.create(
        file_name="hubspot.csv", data=b"x", created_by=marketer, status=ImportStatus.SUCCEEDED, created=12, skipped=3
    )
    page = marketer_client.get(reverse("transfers:import_list")).content.decode()
    assert "hubspot.csv" in page and marketer.username in page and job.get_absolute_url() in page
    assert ">12<" in page


def test_xlsx_upload_and_saved_mapping_reused(marketer_client):
    data = xlsx_bytes([["Mail", "Who"], ["a@x.cz", "Ann"]])
    upload(marketer_client, data=data, name="crm.xlsx")
    job = ImportJob.objects.get()
    url = reverse("transfers:import_mapping", args=[job.pk])
    marketer_client.post(url, mapping_post(job, column_0="email", column_1="first_name", save_as="CRM"))
    assert SavedMapping.objects.get(name="CRM").columns == {"mail": "email", "who": "first_name"}
    saved = SavedMapping.objects.get()
    upload(marketer_client, data=data, name="crm2.xlsx", saved_mapping=saved.pk)
    assert ImportJob.objects.latest("id").mapping == ["email", "first_name"]


def test_group_choice_and_new_group(marketer_client):
    group = ContactGroupFactory(code="fair", name="Fair", is_condition_based=False)
    upload(marketer_client)
    job = ImportJob.objects.get()
    url = reverse("transfers:import_mapping", args=[job.pk])
    response = marketer_client.post(url, mapping_post(job, group=group.pk, new_group="Other"))
    assert "not both" in response.content.decode()
    marketer_client.post(url, mapping_post(job, group=group.pk))
    job.refresh_from_db()
    assert job.options["group_id"] == group.pk
    page = marketer_client.get(reverse("transfers:import_preview", args=[job.pk])).content.decode()
    assert "joins the group <strong>Fair</strong>" in page


# --- roles ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.MARKETER, Role.ADMIN, Role.STAFF])
def test_every_role_imports(client, role):
    client.force_login(make_user(role))
    assert upload(client).status_code == 302
    job = ImportJob.objects.get()
    client.post(reverse("transfers:import_preview", args=[job.pk]))
    import_execute(job=ImportJob.objects.get())
    assert Contact.objects.filter(email="jana@x.cz").exists()


def test_staff_cannot_create_groups_or_fields_from_the_mapping_screen(staff_client):
    upload(staff_client)
    job = ImportJob.objects.get()
    url = reverse("transfers:import_mapping", args=[job.pk])
    page = staff_client.get(url).content.decode()
    assert "new:text" not in page and 'name="new_group"' not in page
    response = staff_client.post(url, mapping_post(job, column_3="new:text", new_group="Mine"))
    assert response.status_code == 200 and "not one of the available choices" in response.content.decode()
    assert not ContactField.objects.exists() and not ContactGroup.objects.exists()


def test_admin_creates_a_custom_field_from_a_column(admin_client_role):
    ContactFieldFactory(code="favourite_colour", label="Old", is_active=False)  # the code is taken: a new one is made
    upload(admin_client_role)
    job = ImportJob.objects.get()
    url = reverse("transfers:import_mapping", args=[job.pk])
    assert "new:text" in admin_client_role.get(url).content.decode()
    response = admin_client_role.post(url, mapping_post(job, column_3="new:text"))
    assert response.status_code == 302
    field = ContactField.objects.get(label="Favourite colour")
    assert field.type == "text" and field.code == "favourite_colour_2"
    job.refresh_from_db()
    assert job.mapping[3] == "custom.favourite_colour_2"
    import_execute(job=job.__class__.objects.get(pk=job.pk))
    assert Contact.objects.get(email="jana@x.cz").custom == {"favourite_colour_2": "blue"}
