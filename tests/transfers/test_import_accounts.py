"""Importing accounts the same way as contacts: mapping, create/update by name or domain, the report, the pages,
the command, per role."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from contacts.models import Account, Contact
from contacts.roles import Role
from segments.models import PendingRecheck
from tests.conftest import make_user
from tests.factories import AccountFactory, ContactFactory
from tests.transfers.files import csv_bytes, xlsx_bytes
from transfers.imports import pipeline
from transfers.imports.jobs import job_create
from transfers.imports.kinds import ACCOUNTS
from transfers.imports.pipeline import ImportOptions, import_execute
from transfers.imports.reading import table_read
from transfers.models import ImportedAccount, ImportJob, ImportKind, ImportStatus

pytestmark = pytest.mark.django_db

HUBSPOT = (
    "Record ID,Company Name,Company Domain Name,Industry,Number of Employees,Country/Region\r\n"
    "1,Acme s.r.o.,https://www.acme.cz/,Manufacturing,1 200,Czech Republic\r\n"
    "2,Globex GmbH,globex.de,Software,80,Deutschland\r\n"
)


@pytest.fixture
def run_accounts(db):
    def run(data: bytes, *, mapping: list[str] | None = None, name: str = "accounts.csv"):
        table = table_read(data=data, file_name=name)
        job = job_create(
            data=data,
            file_name=name,
            user=None,
            table=table,
            mapping=mapping if mapping is not None else ACCOUNTS.guess(table.header),
            options=ImportOptions(),
            kind=ImportKind.ACCOUNTS,
        )
        return import_execute(job=job)

    return run


def errors(job):
    return [(i.line, i.column, i.reason) for i in job.issues.filter(level="error")]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            ["Record ID", "Company Name", "Company Domain Name", "Industry", "Number of Employees", "Country/Region"],
            ["", "name", "domain", "industry", "employees", "country"],
        ),  # HubSpot
        (
            ["Název firmy", "Webová stránka", "Odvětví", "Počet zaměstnanců", "Země"],
            ["name", "domain", "industry", "employees", "country"],
        ),  # Czech
        (
            ["Firmenname", "Webseite", "Branche", "Mitarbeiterzahl", "Land"],
            ["name", "domain", "industry", "employees", "country"],
        ),  # German
    ],
    ids=["hubspot", "czech", "german"],
)
def test_account_headers_people_bring_are_mapped(header, expected):
    assert ACCOUNTS.guess(header) == expected


def test_creates_accounts_with_typed_values(run_accounts):
    job = run_accounts(HUBSPOT.encode())
    assert job.status == ImportStatus.SUCCEEDED, job.error
    assert job.kind == ImportKind.ACCOUNTS
    assert (job.created, job.updated, job.unchanged, job.skipped) == (2, 0, 0, 0)
    acme = Account.objects.get(name="Acme s.r.o.")
    assert (acme.domain, acme.industry, acme.employees, acme.country) == ("acme.cz", "Manufacturing", 1200, "CZ")
    assert Account.objects.get(name="Globex GmbH").country == "DE"
    assert ImportedAccount.objects.filter(job=job, outcome="created").count() == 2
    assert not Contact.objects.exists()


def test_updates_by_name_ignoring_case_and_spacing_and_reimport_is_unchanged(run_accounts):
    acme = AccountFactory(name="ACME  s.r.o.", domain="old.cz", industry="Old", employees=5, country="SK")
    job = run_accounts(HUBSPOT.encode())
    assert (job.created, job.updated) == (1, 1)
    acme.refresh_from_db()
    assert (acme.name, acme.domain, acme.employees, acme.country) == ("Acme s.r.o.", "acme.cz", 1200, "CZ")
    record = ImportedAccount.objects.get(job=job, account_id=acme.pk)
    assert record.outcome == "updated"
    assert record.previous == {
        "name": "ACME  s.r.o.",
        "domain": "old.cz",
        "industry": "Old",
        "employees": 5,
        "country": "SK",
    }
    again = run_accounts(HUBSPOT.encode())
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert Account.objects.count() == 2


def test_an_unknown_name_matches_by_domain(run_accounts):
    acme = AccountFactory(name="Acme Holding", domain="acme.cz")
    job = run_accounts(b"Name,Website\nAcme CZ,http://ACME.cz/contact\n")
    assert (job.created, job.updated) == (0, 1)
    acme.refresh_from_db()
    assert acme.name == "Acme CZ"


def test_empty_cells_leave_values_and_changes_tell_the_accounts_contacts(run_accounts):
    acme = AccountFactory(name="Acme", industry="Software", employees=10)
    contact = ContactFactory(account=acme)
    PendingRecheck.objects.all().delete()
    job = run_accounts(b"Name,Industry,Employees\nAcme,,20\n")
    assert job.updated == 1
    acme.refresh_from_db()
    assert (acme.industry, acme.employees) == ("Software", 20)
    assert PendingRecheck.objects.filter(contact_id=contact.pk, kind="account").exists()  # rules on account.*


def test_duplicate_names_in_the_file_merge_last_value_wins_and_are_reported(run_accounts):
    job = run_accounts(b"Name,Industry,Employees\nAcme,Software,10\n acme ,,20\nACME,Retail,\n")
    assert (job.rows_total, job.created, job.merged_duplicates) == (3, 1, 2)
    acme = Account.objects.get()
    assert (acme.name, acme.industry, acme.employees) == ("ACME", "Retail", 20)  # the spelling too: last wins
    notes = [(i.line, i.reason) for i in job.issues.filter(level="note")]
    assert notes == [
        (3, "Same account as line 2: merged into one account (the later value wins for each field)."),
        (4, "Same account as line 2: merged into one account (the later value wins for each field)."),
    ]
    assert "2 duplicate accounts merged" in io_summary(job)


def io_summary(job):
    from transfers.selectors import import_summary

    return import_summary(job=job)


def test_a_bad_row_writes_nothing_of_that_account_and_every_bad_cell_is_reported(run_accounts):
    data = "Name;Employees;Country;Domain\nGood;12;CZ;good.cz\nBad;lots;Atlantis;not a domain\n;5;;\nNeg;-3;;\n"
    job = run_accounts(data.encode())
    assert (job.created, job.skipped) == (1, 3)
    assert list(Account.objects.values_list("name", flat=True)) == ["Good"]
    assert errors(job) == [
        (3, "Employees", "“lots” is not a number of employees (a whole number, like 250)."),
        (3, "Country", "“Atlantis” is not a country we know (use a name like Czechia or a code like CZ)."),
        (3, "Domain", "“not a domain” is not a web domain (e.g. acme.com)."),
        (4, "Name", "No account name: every account needs one."),
        (5, "Employees", "“-3”: the number of employees cannot be negative."),
    ]


@pytest.mark.parametrize(
    ("text", "value"), [("1200", 1200), ("1 200", 1200), ("1,200", 1200), ("1.200.000", 1200000), ("0", 0)]
)
def test_employee_counts_with_thousands_separators(text, value):
    from transfers.imports import values

    assert values.employees(text) == value


@pytest.mark.parametrize("text", ["2.5", "1,5", "51-200", "-1", "many"])
def test_employee_counts_that_are_refused(text):
    from transfers.imports import values

    with pytest.raises(ValueError):
        values.employees(text)


def test_a_name_two_accounts_share_is_an_error_never_a_guess(run_accounts):
    AccountFactory(name="Twin", industry="A")
    AccountFactory(name="TWIN", industry="B")
    job = run_accounts(b"Name,Industry\nTwin,C\n")
    assert (job.created, job.updated, job.skipped) == (0, 0, 1)
    assert set(Account.objects.values_list("industry", flat=True)) == {"A", "B"}
    ((line, column, reason),) = errors(job)
    assert (line, column) == (2, "Name") and reason.startswith("2 accounts are named “Twin”")


@pytest.mark.parametrize("country", ["Czechia", "CZE", "cz", "Česká republika", "Tschechien"])
def test_country_forms(run_accounts, country):
    run_accounts(f"Name,Country\nAcme,{country}\n".encode())
    assert Account.objects.get().country == "CZ"


def test_the_preview_marks_names_two_accounts_share_and_updates():
    from transfers.imports.pipeline import rows_preview

    AccountFactory(name="Twin"), AccountFactory(name="twin"), AccountFactory(name="Acme")
    table = table_read(data=b"Name\nTwin\nAcme\n", file_name="a.csv")
    preview = rows_preview(table=table, mapping=["name"], options=ImportOptions(), kind=ImportKind.ACCOUNTS)
    (twin,), (acme,) = (cells for _, cells in preview)
    assert twin.error == "2 accounts have this name: the row is skipped."
    assert acme.note == "updates the existing account"


def test_a_mapping_without_name_is_refused_and_writes_nothing(run_accounts):
    job = run_accounts(b"Website,Industry\nacme.cz,Retail\n")
    assert job.status == ImportStatus.FAILED and "Map a column to Name" in job.error
    assert not Account.objects.exists()


def test_encodings_and_xlsx(run_accounts):
    run_accounts(csv_bytes("Firma;Odvětví\nŠkoda Auto;Automobilový průmysl\n", encoding="cp1250"))
    assert Account.objects.get().industry == "Automobilový průmysl"
    run_accounts(xlsx_bytes([["Company", "Employees"], ["Globex", 250]]), name="a.xlsx")
    assert Account.objects.get(name="Globex").employees == 250


def test_accounts_are_written_in_batches_not_row_by_row(run_accounts):
    AccountFactory.create_batch(5)
    rows = "".join(f"Company {n} ltd,{n}\n" for n in range(300))
    with CaptureQueriesContext(connection) as queries:
        job = run_accounts(("Name,Employees\n" + rows).encode())
    assert job.created == 300
    assert len(queries) < 40


# --- the command -------------------------------------------------------------------------------


def run_command(*args):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_accounts", *map(str, args), stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_command_imports_prints_the_report_and_dry_runs(tmp_path):
    path = tmp_path / "companies.csv"
    path.write_bytes(b"Company Name,Number of Employees\nAcme,12\nBad,many\n")
    code, out, _ = run_command(path, "--dry-run")
    assert code == 0 and "Dry run (nothing written): 2 rows: 1 created" in out
    assert not Account.objects.exists()
    code, out, _ = run_command(path)
    assert "Company Name → name" in out and "2 rows: 1 created, 0 updated, 0 unchanged, 1 skipped." in out
    assert "line 3 [Number of Employees] “many”" in out
    assert Account.objects.get().employees == 12
    assert ImportJob.objects.get().kind == ImportKind.ACCOUNTS


@pytest.mark.parametrize(("content", "message"), [(b"", "empty"), (bytes(range(256)) * 8, "binary")])
def test_command_refuses_empty_and_binary_files(tmp_path, content, message):
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    code, _, err = run_command(path)
    assert code == 2 and message in err and not Account.objects.exists()


# --- the pages ---------------------------------------------------------------------------------


def upload(client, data: bytes | None = None, name="companies.csv"):
    data = HUBSPOT.encode() if data is None else data
    return client.post(reverse("transfers:import_upload_accounts"), {"file": SimpleUploadedFile(name, data)})


@pytest.mark.parametrize("role", [Role.MARKETER, Role.ADMIN, Role.STAFF])
def test_every_role_that_may_add_and_change_accounts_imports_them(client, role, django_capture_on_commit_callbacks):
    client.force_login(make_user(role))
    assert "Import accounts" in client.get(reverse("contacts:account_list")).content.decode()
    assert "Import accounts" in client.get(reverse("transfers:import_list")).content.decode()
    response = upload(client)
    job = ImportJob.objects.get()
    assert response.url == reverse("transfers:import_mapping", args=[job.pk])
    assert job.kind == ImportKind.ACCOUNTS and job.mapping == ["", "name", "domain", "industry", "employees", "country"]
    page = client.get(response.url).content.decode()
    assert "Account field" in page and "Number of employees" in page and 'name="group"' not in page
    response = client.post(response.url, {f"column_{i}": t for i, t in enumerate(job.mapping)})
    assert response.status_code == 302, response.content.decode()[:2000]
    preview = client.get(reverse("transfers:import_preview", args=[job.pk])).content.decode()
    assert "acme.cz" in preview and "1200" in preview and "Import 2 rows" in preview
    assert preview.count("data-note>new account<") == 2
    assert not Account.objects.exists()
    with django_capture_on_commit_callbacks(execute=False):
        client.post(reverse("transfers:import_preview", args=[job.pk]))
    import_execute(job=ImportJob.objects.get())  # what the worker does
    report = client.get(reverse("transfers:import_detail", args=[job.pk])).content.decode()
    assert 'data-count="created">2<' in report and 'data-kind="accounts"' in report
    listing = client.get(reverse("transfers:import_list")).content.decode()
    assert '<td data-kind="accounts">Accounts</td>' in listing
    assert Account.objects.count() == 2


def test_the_report_csv_lists_bad_rows(marketer_client):
    upload(marketer_client, data=b"Name,Employees\nAcme,x\n")
    job = ImportJob.objects.get()
    import_execute(job=job)
    response = marketer_client.get(reverse("transfers:import_report_csv", args=[job.pk]))
    lines = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()
    assert lines[1] == '2,Employees,x,"“x” is not a number of employees (a whole number, like 250).",Skipped'


@pytest.mark.parametrize(("data", "message"), [(b"", "The submitted file is empty"), (bytes(range(256)) * 8, "binary")])
def test_a_refused_upload_keeps_nothing(marketer_client, data, message):
    response = upload(marketer_client, data=data)
    assert response.status_code == 200 and message in response.content.decode()
    assert not ImportJob.objects.exists()


def test_without_the_account_permissions_there_is_no_account_import(client, django_user_model):
    from django.contrib.auth.models import Permission

    user = make_user(None, username="importer")
    user.user_permissions.add(*Permission.objects.filter(codename__in=["add_importjob", "view_importjob"]))
    client.force_login(user)
    assert upload(client).status_code == 403
    assert "Import accounts" not in client.get(reverse("transfers:import_list")).content.decode()
    marketer = make_user(Role.MARKETER)
    client.force_login(marketer)
    upload(client)
    job = ImportJob.objects.get()
    client.force_login(user)
    assert client.get(reverse("transfers:import_mapping", args=[job.pk])).status_code == 403
    client.logout()
    assert client.get(reverse("transfers:import_upload_accounts")).status_code == 302  # to the login page


def test_an_account_created_after_the_check_is_updated_not_created_twice(run_accounts, monkeypatch):
    """Rows are matched when the file is checked and again, under the account-matching lock, when written."""
    check = pipeline.rows_check

    def check_then_someone_adds_acme(**kwargs):
        checked = check(**kwargs)
        AccountFactory(name="ACME  s.r.o.", domain="")  # meanwhile: a person, the API or another import
        return checked

    monkeypatch.setattr(pipeline, "rows_check", check_then_someone_adds_acme)
    job = run_accounts(HUBSPOT.encode())
    assert job.status == ImportStatus.SUCCEEDED, job.error
    assert (job.created, job.updated) == (1, 1)
    acme = Account.objects.get(name__icontains="acme")  # one Acme, not two
    assert (acme.name, acme.domain) == ("Acme s.r.o.", "acme.cz")
    assert list(ImportedAccount.objects.filter(job=job).order_by("outcome").values_list("outcome", flat=True)) == [
        "created",
        "updated",
    ]
