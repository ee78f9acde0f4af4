"""The import pipeline: create or update by email, typed values, the report, group add, history, re-checks."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.models import Contact
from segments import rechecks
from segments.models import (
    Cause,
    ContactGroup,
    EventKind,
    Membership,
    MembershipEvent,
    PendingGroupRefresh,
    PendingRecheck,
)
from tests.factories import ContactFactory, ContactFieldFactory, ContactGroupFactory, UserFactory
from transfers.models import ImportedContact, ImportJob, ImportStatus

pytestmark = pytest.mark.django_db


def issues(job):
    return [(i.line, i.column, i.reason) for i in job.issues.filter(level="error")]


def test_creates_contacts_with_typed_values(run_import):
    ContactFieldFactory(code="signup", label="Signed up", type="date")
    ContactFieldFactory(code="vip", label="VIP", type="boolean")
    data = (
        "Email;First name;Country;Lead score;Signed up;VIP\r\n"
        "Jana@Example.cz ;Jana;Czech Republic;12;31.12.2024;ano\r\n"
    )
    job = run_import(data.encode())
    assert job.status == ImportStatus.SUCCEEDED, job.error
    assert (job.created, job.updated, job.unchanged, job.skipped) == (1, 0, 0, 0)
    contact = Contact.objects.get()
    assert contact.email == "Jana@Example.cz" and contact.first_name == "Jana"
    assert contact.country == "CZ" and contact.lead_score == 12
    assert contact.custom == {"signup": "2024-12-31", "vip": True}


def test_mixed_case_emails_update_existing_contacts_and_unchanged_ones_are_not_written(run_import):
    jana = ContactFactory(email="jana@example.cz", first_name="Jana", city="Brno")
    petr = ContactFactory(email="petr@example.cz", first_name="Petr", city="Praha")
    before = Contact.objects.get(pk=petr.pk).updated_at
    job = run_import(b"Email,City\n  JANA@Example.CZ ,Plzen\nPetr@example.cz,Praha\nnew@example.cz,Ostrava\n")
    assert (job.created, job.updated, job.unchanged) == (1, 1, 1)
    jana.refresh_from_db()
    assert jana.city == "Plzen" and jana.first_name == "Jana"  # unmapped fields stay
    assert Contact.objects.get(pk=petr.pk).updated_at == before
    assert Contact.objects.count() == 3
    record = ImportedContact.objects.get(job=job, contact_id=jana.pk)
    assert record.outcome == "updated" and record.previous == {"city": "Brno"}


def test_updating_a_country_records_its_previous_code(run_import):
    # The old value of a country field is a django-countries Country: it must be recorded as its code
    # (it once failed the slice: "Object of type Country is not JSON serializable").
    jana = ContactFactory(email="jana@example.cz", country="DE", lead_score=3)
    job = run_import(b"Email,Country,Lead score\njana@example.cz,Czechia,7\n")
    assert job.status == ImportStatus.SUCCEEDED, job.error
    assert job.updated == 1
    jana.refresh_from_db()
    assert jana.country == "CZ" and jana.lead_score == 7
    record = ImportedContact.objects.get(job=job, contact_id=jana.pk)
    assert record.previous == {"country": "DE", "lead_score": 3}


def test_duplicate_emails_in_the_file_merge_last_value_wins_and_are_reported(run_import):
    data = b"Email,First name,City\nann@x.cz,Ann,Brno\nother@x.cz,Olga,\nANN@x.cz,,Praha\nann@x.cz,Anna,\n"
    job = run_import(data)
    assert (job.rows_total, job.created, job.merged_duplicates) == (4, 2, 2)
    ann = Contact.objects.get(email="ann@x.cz")
    assert (ann.first_name, ann.city) == ("Anna", "Praha")
    notes = [(i.line, i.reason) for i in job.issues.filter(level="note")]
    assert [line for line, _ in notes] == [4, 5] and all("Same email as line 2" in r for _, r in notes)


def test_a_bad_row_writes_nothing_of_that_contact_and_every_bad_cell_is_reported(run_import):
    ContactFieldFactory(code="tier", label="Tier", type="choice", choices=[{"code": "gold", "label": "Gold"}])
    ContactFieldFactory(code="signup", label="Signed up", type="date")
    existing = ContactFactory(email="old@x.cz", first_name="Old", city="Brno")
    data = (
        b"Email,First name,City,Tier,Signed up\n"
        b"old@x.cz,Changed,Praha,platinum,2024-01-01\n"  # unknown choice: nothing of it is written
        b"new@x.cz,New,Praha,gold,2024-02-30\n"  # bad date: no contact
        b"good@x.cz,Good,Praha,Gold,2024-03-01\n"
        b"not-an-email,Bad,,,\n"
    )
    job = run_import(data)
    assert (job.created, job.updated, job.skipped) == (1, 0, 3)
    existing.refresh_from_db()
    assert (existing.first_name, existing.city, existing.custom) == ("Old", "Brno", {})
    assert not Contact.objects.filter(email="new@x.cz").exists()
    assert Contact.objects.get(email="good@x.cz").custom == {"tier": "gold", "signup": "2024-03-01"}
    reported = issues(job)
    assert (2, "Tier", "“platinum” is not one of the choices of Tier (gold).") in reported
    assert any(line == 3 and column == "Signed up" and "not a real date" in r for line, column, r in reported)
    assert [(column, r) for line, column, r in reported if line == 5] == [
        ("Email", "“not-an-email” is not a valid email address.")
    ]  # one reason: not also "no email address"


def test_empty_rows_are_ignored_and_rows_without_email_need_permission(run_import):
    data = b"Email,First name\n\n,,\nann@x.cz,Ann\n,Nameless\n"
    job = run_import(data)
    assert (job.rows_total, job.created, job.skipped) == (2, 1, 1)
    assert "No email address" in issues(job)[0][2]
    job = run_import(data, allow_anonymous=True)
    assert (job.created, job.unchanged) == (1, 1)
    assert Contact.objects.filter(email__isnull=True, first_name="Nameless").count() == 1


def test_required_custom_fields_are_needed_for_new_contacts_only(run_import):
    ContactFieldFactory(code="segment", label="Segment", type="text", required=True)
    ContactFactory(email="known@x.cz", custom={"segment": "b2b"})
    job = run_import(b"Email,City\nknown@x.cz,Brno\nnew@x.cz,Brno\n")
    assert (job.updated, job.created, job.skipped) == (1, 0, 1)
    assert issues(job) == [(3, "Segment", "Segment is required for a new contact.")]


def test_a_file_with_only_a_header_imports_nothing(run_import):
    job = run_import(b"Email,Name\n")
    assert job.status == ImportStatus.SUCCEEDED
    assert (job.rows_total, job.created) == (0, 0)


def test_a_mapping_without_email_is_refused_and_writes_nothing(run_import):
    job = run_import(b"Name,City\nAnn,Brno\n")
    assert job.status == ImportStatus.FAILED and "Map a column to Email" in job.error
    assert not Contact.objects.exists()


def test_group_add_records_history_with_cause_import_and_the_user(run_import):
    user = UserFactory()
    group = ContactGroupFactory(code="fair", is_condition_based=False)
    ContactFactory(email="known@x.cz")
    job = run_import(b"Email\nknown@x.cz\nnew@x.cz\n", group_id=group.pk, user=user)
    assert job.group_added == 2 and job.group == group
    events = MembershipEvent.objects.filter(group=group)
    assert events.count() == 2
    assert set(events.values_list("cause", "kind", "actor_id")) == {(Cause.IMPORT, EventKind.ENTERED, user.pk)}
    group.refresh_from_db()
    assert group.member_count == 2 and Membership.objects.filter(group=group, via_manual=True).count() == 2


def test_a_new_group_is_created_for_the_import(run_import):
    job = run_import(b"Email\na@x.cz\n", new_group="Trade fair 2025")
    group = ContactGroup.objects.get(name="Trade fair 2025")
    assert group.code == "trade_fair_2025" and not group.is_condition_based
    assert job.group == group and group.member_count == 1


def test_rechecks_are_noted_once_per_import_not_per_row(run_import, django_capture_on_commit_callbacks):
    ContactFactory(email="known@x.cz", city="Brno")
    with django_capture_on_commit_callbacks() as callbacks:
        run_import(b"Email,City\nknown@x.cz,Praha\na@x.cz,Brno\nb@x.cz,Brno\n")
    wakeups = [c for c in callbacks if getattr(c, "__name__", "") == "_wake_worker"]
    assert len(wakeups) == 1  # one contacts_changed for the whole import
    assert set(PendingRecheck.objects.values_list("contact_id", flat=True)) == set(
        Contact.objects.values_list("pk", flat=True)
    )


def test_a_big_import_notes_one_durable_group_refresh(run_import, monkeypatch):
    monkeypatch.setattr(rechecks, "BULK_REBUILD_THRESHOLD", 5)
    rows = "".join(f"c{n}@x.cz,Brno\n" for n in range(20))
    job = run_import(("Email,City\n" + rows).encode())
    assert job.created == 20
    assert PendingGroupRefresh.objects.count() == 1
    assert not PendingRecheck.objects.exists()


def test_a_matched_merged_contact_updates_the_contact_it_was_merged_into(run_import):
    parent = ContactFactory(email="parent@x.cz", city="Brno")
    ContactFactory(email="child@x.cz", merged_into=parent)
    job = run_import(b"Email,City\nchild@x.cz,Praha\n")
    assert job.updated == 1
    parent.refresh_from_db()
    assert parent.city == "Praha"


def test_the_import_writes_in_batches_not_row_by_row(run_import):
    ContactFactory.create_batch(5)
    rows = "".join(f"c{n}@x.cz,Brno\n" for n in range(300))
    with CaptureQueriesContext(connection) as queries:
        job = run_import(("Email,City\n" + rows).encode(), new_group="Fair")
    assert job.created == 300
    assert len(queries) < 60  # SQLite's parameter limit splits the INSERTs; never a statement per row


@pytest.mark.django_db
def test_the_uploaded_file_is_kept_byte_for_byte():
    """PostgreSQL stores it through a binary parameter (transfers.imports.jobs._file_store)."""
    from transfers.imports.jobs import job_create
    from transfers.imports.reading import table_read

    data = "Email,City\r\nana@x.cz,Plzeň\r\n".encode("utf-8-sig") + bytes(range(256))
    table = table_read(data=data[:-256], file_name="x.csv")
    job = job_create(data=data, file_name="x.csv", user=None, table=table, mapping=["email", "city"])
    assert bytes(ImportJob.objects.get(pk=job.pk).data) == data and job.file_size == len(data)
