"""A contact import's company column: contacts linked to accounts by name (or domain), accounts created when asked."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts import services as contact_services
from contacts.models import Account, Contact
from segments import rechecks
from segments.models import Membership, MembershipEvent, Source
from segments.services import group_add_accounts
from tests.factories import AccountFactory, ContactFactory, ContactGroupFactory
from transfers.imports import pipeline
from transfers.imports.mapping import mapping_guess
from transfers.models import ImportedAccount, ImportedContact, ImportStatus

pytestmark = pytest.mark.django_db


def notes(job):
    return [(i.line, i.column, i.reason) for i in job.issues.filter(level="note")]


def test_company_headers_map_to_the_account_field():
    header = ["Email", "Company Name", "Company Domain Name"]
    assert mapping_guess(header=header) == ["email", "account", "account_domain"]
    for name in ("Company", "Organization", "Firma", "Společnost", "Unternehmen", "Account"):
        assert mapping_guess(header=["Email", name])[1] == "account", name


def test_existing_accounts_match_ignoring_case_spacing_and_accents(run_import):
    acme = AccountFactory(name="Acme  Corporation")
    skoda = AccountFactory(name="Škoda Auto")
    job = run_import(b"Email,Company\na@x.cz,  acme corporation \nb@x.cz,SKODA AUTO\nc@x.cz,\n")
    assert job.status == ImportStatus.SUCCEEDED, job.error
    accounts = dict(Contact.objects.values_list("email", "account_id"))
    assert accounts == {"a@x.cz": acme.pk, "b@x.cz": skoda.pk, "c@x.cz": None}
    assert Account.objects.count() == 2 and not job.issues.exists()


def test_unknown_company_is_a_note_and_the_contact_is_imported_without_account(run_import):
    job = run_import(b"Email,Company\na@x.cz,Nowhere Ltd\n")
    assert job.created == 1 and job.skipped == 0
    assert Contact.objects.get().account is None and not Account.objects.exists()
    assert notes(job) == [
        (
            2,
            "Company",
            "No account is named “Nowhere Ltd”: the contact was imported without an account (tick “Create "
            "accounts that do not exist” to create it).",
        )
    ]


def test_created_when_asked_once_per_distinct_name(run_import):
    rows = "".join(f"c{n}@x.cz,{'Acme' if n % 2 else ' ACME '},acme.com\n" for n in range(500))
    rows += "other@x.cz,Globex,\n"
    with CaptureQueriesContext(connection) as queries:
        job = run_import(("Email,Company,Website\n" + rows).encode(), create_accounts=True)
    assert job.status == ImportStatus.SUCCEEDED, job.error
    assert (job.created, job.accounts_created) == (501, 2)
    acme = Account.objects.get(name__iexact="acme")
    assert (acme.name, acme.domain) == ("ACME", "acme.com")  # the first row's spelling, trimmed
    assert Contact.objects.filter(account=acme).count() == 500
    assert Contact.objects.get(email="other@x.cz").account.name == "Globex"
    assert ImportedAccount.objects.filter(job=job, outcome="created").count() == 2
    assert len(queries) < 60  # set-based: never a statement per row


def test_two_accounts_with_the_same_name_are_never_guessed(run_import):
    AccountFactory(name="Twin")
    AccountFactory(name="twin ")
    job = run_import(b"Email,Company\na@x.cz,Twin\n", create_accounts=True)
    assert job.created == 1 and Contact.objects.get().account is None
    assert Account.objects.count() == 2
    ((line, column, reason),) = notes(job)
    assert (line, column) == (2, "Company") and reason.startswith("2 accounts are named “Twin”")


def test_a_domain_column_picks_the_account_when_names_are_shared(run_import):
    AccountFactory(name="Twin", domain="twin-a.com")
    b = AccountFactory(name="Twin", domain="https://www.twin-b.com/")
    job = run_import(b"Email,Company,Company Domain Name\na@x.cz,Twin,twin-b.com\n")
    assert Contact.objects.get().account == b and not notes(job)


def test_reimport_is_unchanged_and_a_changed_account_is_updated_and_recorded(run_import):
    acme, globex = AccountFactory(name="Acme"), AccountFactory(name="Globex")
    contact = ContactFactory(email="a@x.cz", first_name="Ann", account=acme)
    job = run_import(b"Email,First name,Company\na@x.cz,Ann,acme\n")
    assert (job.created, job.updated, job.unchanged) == (0, 0, 1)
    job = run_import(b"Email,First name,Company\na@x.cz,Ann,Globex\n")
    assert (job.created, job.updated, job.unchanged) == (0, 1, 0)
    contact.refresh_from_db()
    assert contact.account == globex
    assert ImportedContact.objects.get(job=job).previous == {"account": acme.pk}
    job = run_import(b"Email,First name,Company\na@x.cz,Ann,Globex\n")
    assert (job.updated, job.unchanged) == (0, 1)


def test_a_contact_imported_into_a_grouped_account_joins_the_group_as_an_edit_would(
    run_import, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: None)  # the drain is run below
    acme = AccountFactory(name="Acme")
    group = ContactGroupFactory(code="key_accounts")
    group_add_accounts(group=group, accounts=Account.objects.filter(pk=acme.pk))
    edited = ContactFactory(email="edited@x.cz")
    contact_services.contact_update(contact=edited, account=acme)  # what a person editing the contact does
    job = run_import(b"Email,Company\nnew@x.cz,ACME\n")
    rechecks.rechecks_drain()
    imported = Contact.objects.get(email="new@x.cz")
    assert imported.account == acme and job.created == 1
    for contact in (edited, imported):
        membership = Membership.objects.get(group=group, contact=contact)
        assert (membership.via_account, membership.via_manual, membership.via_condition) == (True, False, False)
        event = MembershipEvent.objects.get(group=group, contact=contact)
        assert event.source == Source.ACCOUNT
    # Moved to another account by a later import: the group loses it, as an edit would.
    AccountFactory(name="Other")
    run_import(b"Email,Company\nnew@x.cz,Other\n")
    rechecks.rechecks_drain()
    assert not Membership.objects.filter(group=group, contact=imported).exists()


def test_a_big_import_links_accounts_through_the_durable_group_refresh(run_import, monkeypatch):
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: None)
    monkeypatch.setattr(rechecks, "BULK_REBUILD_THRESHOLD", 5)
    acme = AccountFactory(name="Acme")
    group = ContactGroupFactory(code="key_accounts")
    group_add_accounts(group=group, accounts=Account.objects.filter(pk=acme.pk))
    rows = "".join(f"c{n}@x.cz,Acme\n" for n in range(20))
    job = run_import(("Email,Company\n" + rows).encode())
    assert job.created == 20
    rechecks.rechecks_drain()
    assert Membership.objects.filter(group=group, via_account=True).count() == 20


def test_a_bad_company_cell_skips_the_row_and_a_domain_needs_a_company_column(run_import):
    job = run_import(("Email,Company\na@x.cz," + "x" * 201 + "\n").encode(), create_accounts=True)
    assert job.skipped == 1 and not Contact.objects.exists() and not Account.objects.exists()
    job = run_import(b"Email,Website\na@x.cz,acme.com\n")
    assert job.status == ImportStatus.FAILED and "Account (company name)" in job.error


def test_the_preview_says_what_happens_to_each_company():
    from transfers.imports.pipeline import ImportOptions, rows_preview
    from transfers.imports.reading import table_read

    AccountFactory(name="Acme")
    AccountFactory(name="Twin"), AccountFactory(name="Twin")
    table = table_read(data=b"Email,Company\na@x.cz,ACME\nb@x.cz,twin\nc@x.cz,New Co\nd@x.cz,\n", file_name="c.csv")
    mapping = ["email", "account"]
    notes = [row[1].note for _, row in rows_preview(table=table, mapping=mapping, options=ImportOptions())]
    assert notes == ["existing account", "2 accounts have this name: not linked", "no such account: not linked", ""]
    created = rows_preview(table=table, mapping=mapping, options=ImportOptions(create_accounts=True))
    assert created[2][1][1].note == "new account"


def test_a_dry_run_creates_no_account(run_import, tmp_path):
    from django.core.management import call_command

    path = tmp_path / "c.csv"
    path.write_bytes(b"Email,Company\na@x.cz,Acme\n")
    call_command("import_contacts", str(path), "--create-accounts", "--dry-run")
    assert not Account.objects.exists() and not Contact.objects.exists()
    call_command("import_contacts", str(path), "--create-accounts")
    assert Contact.objects.get().account.name == "Acme"


def test_the_mapping_screen_offers_creating_accounts_and_the_preview_says_so(marketer_client):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    from transfers.models import ImportJob

    data = b"Email,Company Name\na@x.cz,Acme\n"
    marketer_client.post(reverse("transfers:import_upload"), {"file": SimpleUploadedFile("c.csv", data)})
    job = ImportJob.objects.get()
    assert job.mapping == ["email", "account"]
    url = reverse("transfers:import_mapping", args=[job.pk])
    page = marketer_client.get(url).content.decode()
    assert "Account (company name)" in page and "Create accounts that do not exist" in page
    response = marketer_client.post(
        url, {"column_0": "email", "column_1": "account", "date_format": "auto", "create_accounts": "on"}
    )
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.options["create_accounts"] is True
    preview = marketer_client.get(reverse("transfers:import_preview", args=[job.pk])).content.decode()
    assert "accounts that do not exist are created (once per name)" in preview
    assert '<div class="small text-body-secondary" data-note>new account</div>' in preview
    from transfers.imports.pipeline import import_execute

    job = import_execute(job=job)
    assert job.accounts_created == 1 and Contact.objects.get().account.name == "Acme"
    report = marketer_client.get(reverse("transfers:import_detail", args=[job.pk])).content.decode()
    assert "1 new account created from the company column" in report


def test_without_the_permission_to_add_accounts_none_are_created(client):
    from django.contrib.auth.models import Permission
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    from tests.conftest import make_user
    from transfers.imports.pipeline import import_execute
    from transfers.models import ImportJob

    user = make_user(None, username="importer")
    user.user_permissions.add(*Permission.objects.filter(codename__in=["add_importjob", "view_importjob"]))
    client.force_login(user)
    client.post(
        reverse("transfers:import_upload"), {"file": SimpleUploadedFile("c.csv", b"Email,Company\na@x.cz,Acme\n")}
    )
    job = ImportJob.objects.get()
    url = reverse("transfers:import_mapping", args=[job.pk])
    assert 'name="create_accounts"' not in client.get(url).content.decode()
    client.post(url, {"column_0": "email", "column_1": "account", "date_format": "auto", "create_accounts": "on"})
    job.refresh_from_db()
    assert job.options["create_accounts"] is False
    import_execute(job=job)
    assert not Account.objects.exists() and Contact.objects.get().account is None


def test_an_account_created_after_the_check_is_linked_not_created_twice(run_import, monkeypatch):
    """The company names to create are matched again, under the account-matching lock, when a slice is written."""
    check = pipeline.rows_check

    def check_then_someone_adds_acme(**kwargs):
        checked = check(**kwargs)
        AccountFactory(name="Acme")  # meanwhile: a person, the API or another import
        return checked

    monkeypatch.setattr(pipeline, "rows_check", check_then_someone_adds_acme)
    rows = "".join(f"c{n}@x.cz,acme\n" for n in range(3)) + "other@x.cz,Globex\n"
    job = run_import(("Email,Company\n" + rows).encode(), create_accounts=True)
    assert job.status == ImportStatus.SUCCEEDED, job.error
    acme = Account.objects.get(name__iexact="acme")
    assert Contact.objects.filter(account=acme).count() == 3
    assert job.accounts_created == 1  # Globex only
    globex = Account.objects.get(name="Globex")
    assert list(ImportedAccount.objects.filter(job=job).values_list("account_id", flat=True)) == [globex.pk]
