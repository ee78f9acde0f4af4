"""Exports: the rows (contact list filters, Advanced filter, group members), columns, CSV and XLSX files."""

from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
import pytest
from django.http import QueryDict
from django.utils import timezone

from contacts.models import Contact
from tests.factories import AccountFactory, ContactFactory, ContactFieldFactory, ContactGroupFactory, MembershipFactory
from transfers.exports import (
    ExportError,
    ExportFormat,
    ExportRequest,
    SourceError,
    UnknownColumns,
    advanced_filter_source,
    columns_by_keys,
    contact_list_source,
    export_check,
    export_stream,
    group_source,
    writers,
)

pytestmark = pytest.mark.django_db


def read_csv(request: ExportRequest, **kwargs) -> list[list[str]]:
    data = b"".join(export_stream(request=request, **kwargs)).decode("utf-8")
    return list(csv.reader(io.StringIO(data)))


def read_xlsx(request: ExportRequest, **kwargs) -> list[tuple]:
    request = export_check(request=request)
    book = openpyxl.load_workbook(io.BytesIO(b"".join(export_stream(request=request, **kwargs))))
    return list(book.active.iter_rows(values_only=True))


def contacts_request(filters: str = "", keys=("email", "country"), **kwargs) -> ExportRequest:
    return ExportRequest(
        source=contact_list_source(filters=QueryDict(filters)),
        columns=columns_by_keys(keys=list(keys), membership=False),
        **kwargs,
    )


def test_contact_list_filters_decide_the_rows_as_on_the_list():
    ContactFactory(email="cz@example.com", country="CZ", lead_score=50)
    ContactFactory(email="de@example.com", country="DE", lead_score=50)
    ContactFactory(email="low@example.com", country="CZ", lead_score=1)
    parent = ContactFactory(email="parent@example.com", country="CZ", lead_score=60)
    ContactFactory(email="merged@example.com", country="CZ", lead_score=60, merged_into=parent)

    rows = read_csv(contacts_request("country=CZ&score_min=10"))
    assert rows == [["Email", "Country"], ["cz@example.com", "CZ"], ["parent@example.com", "CZ"]]
    with_merged = read_csv(contacts_request("country=CZ&score_min=10&include_merged=on"))
    assert [r[0] for r in with_merged[1:]] == ["cz@example.com", "parent@example.com", "merged@example.com"]
    assert len(read_csv(contacts_request(""))) == 1 + 4  # unfiltered: every unmerged contact


def test_search_and_custom_field_filters_are_the_lists_own():
    ContactFieldFactory(code="plan", type="choice", choices=[{"code": "pro", "label": "Pro"}, {"code": "free"}])
    ContactFactory(email="anna@example.com", first_name="Anna", custom={"plan": "pro"})
    ContactFactory(email="anna2@example.com", first_name="Anna", custom={"plan": "free"})
    ContactFactory(email="bob@example.com", first_name="Bob", custom={"plan": "pro"})
    rows = read_csv(contacts_request("q=anna&cf_plan=pro", keys=("email", "custom.plan")))
    assert rows == [["Email", "Plan"], ["anna@example.com", "pro"]]


def test_invalid_filters_are_refused_with_a_message():
    with pytest.raises(SourceError, match="score_min"):
        contact_list_source(filters=QueryDict("score_min=lots"))


def test_advanced_filter_exports_the_rule_trees_matches():
    ContactFactory(email="a@example.com", lead_score=80)
    ContactFactory(email="b@example.com", lead_score=5)
    tree = {"version": 1, "root": {"type": "field", "field": "lead_score", "operator": "gt", "value": 50}}
    source = advanced_filter_source(tree=tree)
    rows = read_csv(ExportRequest(source=source, columns=columns_by_keys(keys=["email"], membership=False)))
    assert rows == [["Email"], ["a@example.com"]]
    assert "lead score" in source.description.lower()


def test_custom_and_account_columns_typed_in_xlsx_and_text_in_csv():
    ContactFieldFactory(code="birthday", label="Birthday", type="date")
    ContactFieldFactory(code="budget", label="Budget", type="number")
    ContactFieldFactory(code="vip", label="VIP", type="boolean")
    ContactFieldFactory(code="tags", label="Tags", type="multi_choice", choices=[{"code": "a"}, {"code": "b"}])
    account = AccountFactory(name="Acme", employees=120)
    created = timezone.make_aware(dt.datetime(2025, 3, 4, 10, 30))
    ContactFactory(
        email="x@example.com",
        account=account,
        created_at=created,
        custom={"birthday": "1990-05-17", "budget": 1500.5, "vip": True, "tags": ["a", "b"]},
    )
    ContactFactory(email="y@example.com", custom={})
    keys = ["email", "custom.birthday", "custom.budget", "custom.vip", "custom.tags", "account.name",
            "account.employees", "created_at"]  # fmt: skip
    source = contact_list_source(filters=QueryDict(""))
    columns = columns_by_keys(keys=keys, membership=False)
    rows = read_csv(ExportRequest(source=source, columns=columns))
    assert rows[0] == ["Email", "Birthday", "Budget", "VIP", "Tags", "Account", "Account employees", "Created"]
    local = timezone.localtime(created).strftime("%Y-%m-%d %H:%M:%S")
    assert rows[1] == ["x@example.com", "1990-05-17", "1500.5", "yes", "a, b", "Acme", "120", local]
    assert rows[2] == ["y@example.com", "", "", "", "", "", "", rows[2][7]]

    sheet = read_xlsx(ExportRequest(source=source, columns=columns, format=ExportFormat.XLSX))
    assert sheet[0] == tuple(rows[0])
    assert sheet[1][:7] == ("x@example.com", dt.datetime(1990, 5, 17), 1500.5, True, "a, b", "Acme", 120)
    assert sheet[1][7] == timezone.localtime(created).replace(tzinfo=None)
    assert sheet[2][1:7] == (None,) * 6


def test_the_catalogue_offers_custom_fields_in_field_settings_order_and_hides_retired_ones():
    ContactFieldFactory(code="second", label="Second", order=2)
    ContactFieldFactory(code="first", label="First", order=1)
    ContactFieldFactory(code="old", label="Old", order=0, is_active=False)
    from transfers.exports import column_catalogue

    keys = [c.key for c in column_catalogue(membership=False) if c.key.startswith("custom.")]
    assert keys == ["custom.first", "custom.second"]
    with pytest.raises(UnknownColumns, match="custom.old"):
        columns_by_keys(keys=["email", "custom.old"], membership=False)
    with pytest.raises(UnknownColumns, match="member.since"):
        columns_by_keys(keys=["member.since"], membership=False)  # only for a group's members


def test_group_members_with_sources_and_member_since():
    group = ContactGroupFactory(code="vip", name="VIP")
    since = timezone.make_aware(dt.datetime(2025, 1, 2, 9, 0))
    a = ContactFactory(email="a@example.com")
    b = ContactFactory(email="b@example.com")
    ContactFactory(email="outsider@example.com")
    MembershipFactory(group=group, contact=a, via_manual=True, via_condition=True, added_at=since)
    MembershipFactory(group=group, contact=b, via_manual=False, via_account=True, added_at=since)
    columns = columns_by_keys(keys=["email", "member.sources", "member.since"], membership=True)
    rows = read_csv(ExportRequest(source=group_source(group=group), columns=columns))
    stamp = timezone.localtime(since).strftime("%Y-%m-%d %H:%M:%S")
    assert rows == [
        ["Email", "Member sources", "Member since"],
        ["a@example.com", "Manual, Condition", stamp],
        ["b@example.com", "From account", stamp],
    ]
    only_manual = read_csv(ExportRequest(source=group_source(group=group, source="manual"), columns=columns))
    assert [r[0] for r in only_manual[1:]] == ["a@example.com"]
    searched = read_csv(ExportRequest(source=group_source(group=group, search="b@example"), columns=columns))
    assert [r[0] for r in searched[1:]] == ["b@example.com"]
    with pytest.raises(SourceError):
        group_source(group=group, source="nonsense")


def test_formula_guard_bom_and_plain_numbers():
    ContactFactory(email="evil@example.com", first_name='=HYPERLINK("http://x","click")', last_name="@SUM(A1)",
                   phone="+420 777 123 456", city="-Prague", job_title="\tTab")  # fmt: skip
    keys = ("first_name", "last_name", "phone", "city", "job_title", "lead_score")
    guarded = read_csv(contacts_request("", keys=keys))
    assert guarded[1] == ["'=HYPERLINK(\"http://x\",\"click\")", "'@SUM(A1)", "+420 777 123 456", "'-Prague",
                          "'\tTab", "10"]  # fmt: skip
    raw = read_csv(contacts_request("", keys=keys, guard=False))
    assert raw[1][0] == '=HYPERLINK("http://x","click")'
    data = b"".join(export_stream(request=contacts_request("", keys=keys, bom=True)))
    assert data.startswith(b"\xef\xbb\xbfFirst name,")
    assert not b"".join(export_stream(request=contacts_request("", keys=keys))).startswith(b"\xef\xbb\xbf")
    assert writers.formula_safe("-5") == "-5" and writers.formula_safe("-1+cmd|' /C calc'!A0").startswith("'")


def test_xlsx_keeps_text_as_text_and_survives_awkward_characters():
    ContactFactory(email="odd@example.com", first_name="=1+1", last_name="A & B <c> \x01 Žluťoučký")
    sheet = read_xlsx(contacts_request("", keys=("first_name", "last_name"), format=ExportFormat.XLSX))
    assert sheet[1] == ("=1+1", "A & B <c>  Žluťoučký")  # a string cell, never a formula; control chars dropped


def test_rows_stream_in_chunks_in_id_order():
    ContactFactory.create_batch(25)
    request = contacts_request("", keys=("id",))
    chunks = list(export_stream(request=request, chunk_size=10))
    assert len(chunks) == 1 + 3  # the header at once, then one chunk per 10 rows
    ids = [int(r[0]) for r in read_csv(request, chunk_size=7)[1:]]
    assert ids == sorted(Contact.objects.values_list("pk", flat=True))
    sheet = read_xlsx(contacts_request("", keys=("id",), format=ExportFormat.XLSX), chunk_size=7)
    assert [r[0] for r in sheet[1:]] == ids


def test_xlsx_refuses_more_rows_than_a_sheet_holds(monkeypatch):
    ContactFactory.create_batch(3)
    monkeypatch.setattr("transfers.exports.service.EXCEL_MAX_ROWS", 3)
    with pytest.raises(ExportError, match="do not fit in an Excel sheet"):
        export_check(request=contacts_request("", format=ExportFormat.XLSX))
    export_check(request=contacts_request(""))  # CSV has no such limit
    with pytest.raises(ExportError, match="at least one column"):
        export_check(request=contacts_request("", keys=()))


def test_column_letters():
    assert [writers.column_letters(i) for i in (0, 25, 26, 51, 52, 701, 702)] == [
        "A", "Z", "AA", "AZ", "BA", "ZZ", "AAA"]  # fmt: skip


def test_csv_written_by_postgresql_copy_is_byte_for_byte_the_python_paths(monkeypatch):
    """On PostgreSQL, CSV comes from COPY (transfers.exports.copy): awkward values read exactly as the
    Python path writes them, and the values SQL cannot render so are rendered in Python in place."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    ContactFieldFactory(code="note", label="Note", type="text")
    ContactFieldFactory(code="budget", label="Budget", type="number")
    ContactFieldFactory(code="born", label="Born", type="date")
    ContactFieldFactory(code="vip", label="VIP", type="boolean")
    ContactFieldFactory(code="tags", label="Tags", type="multi_choice", choices=[{"code": "a"}, {"code": "b"}])
    account = AccountFactory(name='=Acme, "Inc"\nLtd', employees=7)
    awkward = [
        {"note": "=cmd", "budget": 1500.5, "born": "1990-05-17", "vip": True, "tags": ["a", "=b"]},
        {"note": "", "budget": 0.1 + 0.2, "born": "", "vip": False, "tags": []},
        {"note": "-5", "budget": 12, "born": "2025-02-30", "tags": ["a"]},
        {"note": {"an": "object"}, "budget": 1e-05, "born": "20250517", "tags": "a"},
        {"note": ["x"], "budget": 1500.0, "vip": "yes", "tags": [1, "b"]},
        {"note": 3.5, "budget": "12", "born": 19900517, "vip": None},
        {"note": "+420 777 123 456", "budget": -0.0001, "tags": [""]},
    ]
    for i, custom in enumerate(awkward):
        ContactFactory(email=f"p{i}@example.com", first_name=["", "@x", " a,b", 'q"q', "\tTab", "Žluť", "-"][i],
                       last_name="line\r\nbreak" if i == 2 else "", account=account if i % 2 else None,
                       custom=custom)  # fmt: skip
    keys = ["id", "email", "first_name", "last_name", "created_at", "lead_score", "account.name", "account.employees",
            "custom.note", "custom.budget", "custom.born", "custom.vip", "custom.tags"]  # fmt: skip
    for guard in (True, False):
        request = contacts_request("", keys=keys, guard=guard, bom=True)
        copied = b"".join(export_stream(request=request, chunk_size=3))
        with monkeypatch.context() as patch:
            patch.setattr("transfers.exports.service.copy_supported", lambda request: False)
            python = b"".join(export_stream(request=request, chunk_size=3))
        assert copied == python
    group = ContactGroupFactory(code="vip", name="VIP")
    for contact in Contact.objects.all()[:3]:
        MembershipFactory(group=group, contact=contact, via_manual=True, via_condition=contact.pk % 2 == 0)
    columns = columns_by_keys(keys=["email", "member.sources", "member.since", "custom.note"], membership=True)
    request = ExportRequest(source=group_source(group=group), columns=columns)
    copied = b"".join(export_stream(request=request))
    monkeypatch.setattr("transfers.exports.service.copy_supported", lambda request: False)
    assert copied == b"".join(export_stream(request=request))


def test_xlsx_empty_cells_keep_the_next_value_in_its_column_for_every_reader():
    """Cells carry no `r` reference: an empty value is an empty cell, so the next value stays in its column
    (openpyxl, and python-calamine, which the import reads spreadsheets with)."""
    from python_calamine import CalamineWorkbook

    ContactFactory(email="a@example.com", first_name="", last_name="Solo", phone="", city="Brno")
    request = contacts_request("", keys=("email", "first_name", "last_name", "phone", "city"), format=ExportFormat.XLSX)
    assert read_xlsx(request)[1] == ("a@example.com", None, "Solo", None, "Brno")
    data = b"".join(export_stream(request=export_check(request=request)))
    rows = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python()
    assert rows[1] == ["a@example.com", "", "Solo", "", "Brno"]
