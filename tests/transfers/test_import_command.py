"""`manage.py import_contacts`: automatic mapping, the report, --group, --mapping, --dry-run, exit codes."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from contacts.models import Contact
from segments.models import Cause, MembershipEvent
from tests.factories import ContactGroupFactory
from tests.transfers.files import xlsx_bytes
from transfers.models import ImportJob, SavedMapping

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_contacts", *map(str, args), stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_imports_and_prints_the_report(tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(b"Email Address;First Name;Signed\njana@x.cz;Jana;\nbad-email;Bad;\n")
    code, out, _ = run(path)
    assert code == 0
    assert "Email Address → email" in out and "Signed → (ignored)" in out
    assert "2 rows: 1 created, 0 updated, 0 unchanged, 1 skipped." in out
    assert "line 3 [Email Address] “bad-email”: “bad-email” is not a valid email address." in out
    assert Contact.objects.get().first_name == "Jana"
    assert ImportJob.objects.get().created == 1


def test_xlsx_with_group(tmp_path):
    group = ContactGroupFactory(code="fair")
    path = tmp_path / "people.xlsx"
    path.write_bytes(xlsx_bytes([["E-mail", "Jméno"], ["jana@x.cz", "Jana"]]))
    code, out, _ = run(path, "--group", "fair")
    assert code == 0 and "1 added to the group" in out
    assert MembershipEvent.objects.get(group=group).cause == Cause.IMPORT


def test_dry_run_counts_but_writes_nothing(tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(b"Email\na@x.cz\nb@x.cz\n")
    code, out, _ = run(path, "--dry-run", "--group", ContactGroupFactory(code="g").code)
    assert code == 0 and out.count("Dry run (nothing written): 2 rows: 2 created") == 1
    assert not Contact.objects.exists() and not ImportJob.objects.exists() and not MembershipEvent.objects.exists()


def test_saved_mapping_by_name(tmp_path):
    SavedMapping.objects.create(name="crm", columns={"mail": "email", "who": "first_name"})
    path = tmp_path / "crm.csv"
    path.write_bytes(b"MAIL,Who\na@x.cz,Ann\n")
    code, _, _ = run(path, "--mapping", "crm")
    assert code == 0 and Contact.objects.get().first_name == "Ann"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty"),
        (bytes(range(256)) * 4, "binary data"),
        (b"Favourite colour\nred\nblue\n", "No column is mapped"),
        (b"Name,City\nAnn,Brno\n", "Map a column to Email"),
    ],
    ids=["0-byte", "binary", "one-column-of-noise", "no-email"],
)
def test_refused_files_exit_2_and_write_nothing(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    code, _, err = run(path)
    assert code == 2
    assert message in err and "Nothing was imported." in err
    assert not Contact.objects.exists()


def test_wrong_arguments_are_command_errors(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_contacts", str(tmp_path / "missing.csv"))
    path = tmp_path / "ok.csv"
    path.write_bytes(b"Email\na@x.cz\n")
    with pytest.raises(CommandError, match="No contact group"):
        call_command("import_contacts", str(path), "--group", "nope")
    with pytest.raises(CommandError, match="No saved mapping"):
        call_command("import_contacts", str(path), "--mapping", "nope")
