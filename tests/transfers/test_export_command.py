"""`manage.py export_contacts`: to a file or stdout, a group or the list's filters, refusals exit 2."""

from __future__ import annotations

import csv
import io
import json

import openpyxl
import pytest
from django.core.management import CommandError, call_command

from tests.factories import ContactFactory, ContactGroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def data():
    a = ContactFactory(email="a@example.com", country="CZ")
    ContactFactory(email="b@example.com", country="DE")
    group = ContactGroupFactory(code="vip")
    MembershipFactory(group=group, contact=a, via_manual=True)


def run(*args) -> list[list[str]]:
    out = io.StringIO()
    call_command("export_contacts", *args, stdout=out, stderr=io.StringIO())
    return list(csv.reader(io.StringIO(out.getvalue())))


def test_stdout_with_filters_columns_and_group(data):
    assert run("--columns", "email,country") == [["Email", "Country"], ["a@example.com", "CZ"], ["b@example.com", "DE"]]
    assert run("--columns", "email", "--filters", "country=DE") == [["Email"], ["b@example.com"]]
    assert run("--group", "vip", "--columns", "email,member.sources") == [
        ["Email", "Member sources"], ["a@example.com", "Manual"]]  # fmt: skip


def test_condition_file_and_xlsx_output(data, tmp_path):
    tree = tmp_path / "tree.json"
    tree.write_text(json.dumps({"version": 1, "root": {"type": "field", "field": "country", "operator": "equals",
                                                       "value": "CZ"}}))  # fmt: skip
    assert run("--condition", str(tree), "--columns", "email") == [["Email"], ["a@example.com"]]
    target = tmp_path / "out.xlsx"
    call_command("export_contacts", "--output", str(target), "--columns", "email", stderr=io.StringIO())
    rows = list(openpyxl.load_workbook(target).active.iter_rows(values_only=True))
    assert rows == [("Email",), ("a@example.com",), ("b@example.com",)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--group", "nope"], "no group with code"),
        (["--columns", "email,secret"], "Unknown column: secret"),
        (["--columns", "member.since"], "Unknown column"),
        (["--filters", "score_min=x"], "filters are invalid"),
        (["--format", "xlsx"], "XLSX needs --output"),
    ],
)
def test_refusals_exit_2(data, args, message):
    with pytest.raises(CommandError, match=message) as refused:
        run(*args)
    assert refused.value.returncode == 2
