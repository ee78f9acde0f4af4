"""Export pages: the chooser, the streamed download, its filters, and who may use them (per role)."""

from __future__ import annotations

import csv
import io
import json

import openpyxl
import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse

from contacts.roles import Role
from tests.conftest import make_user
from tests.factories import ContactFactory, ContactFieldFactory, ContactGroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db
TREE = {"version": 1, "root": {"type": "field", "field": "country", "operator": "equals", "value": "DE"}}


def body(response) -> bytes:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content)


def rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body(response).decode("utf-8-sig"))))


@pytest.fixture
def people():
    ContactFieldFactory(code="plan", label="Plan", type="choice", choices=[{"code": "pro"}, {"code": "free"}])
    return [
        ContactFactory(email="cz@example.com", country="CZ", custom={"plan": "pro"}),
        ContactFactory(email="de@example.com", country="DE", custom={"plan": "free"}),
    ]


def test_the_chooser_carries_the_lists_filters_and_offers_every_column(marketer_client, people):
    response = marketer_client.get(reverse("transfers:export_contacts") + "?country=CZ&sort=email&page=2")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="filters" value="country=CZ"' in page  # page and sort are the list's, not filters
    assert "Country: Czechia" in page  # what will be exported, said in words
    for label in ("Email", "Plan", "Account domain", "Lead score"):
        assert f">{label}</label>" in page
    assert "Member since" not in page  # only for a group's members


def test_download_streams_csv_of_the_filtered_list(marketer_client, people):
    url = reverse("transfers:export_contacts")
    response = marketer_client.get(url, {"filters": "country=CZ", "columns": ["email", "custom.plan"], "format": "csv",
                                         "bom": "on", "guard": "on"})  # fmt: skip
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="contacts-')
    assert rows(response) == [["Email", "Plan"], ["cz@example.com", "pro"]]


def test_download_xlsx(marketer_client, people):
    query = {"filters": "", "columns": ["email", "country"], "format": "xlsx"}
    response = marketer_client.get(reverse("transfers:export_contacts"), query)
    assert response["Content-Disposition"].endswith('.xlsx"')
    book = openpyxl.load_workbook(io.BytesIO(body(response)))
    assert list(book.active.iter_rows(values_only=True)) == [
        ("Email", "Country"), ("cz@example.com", "CZ"), ("de@example.com", "DE")]  # fmt: skip


def test_bad_requests_get_a_message_never_a_500(marketer_client, people):
    url = reverse("transfers:export_contacts")
    no_columns = marketer_client.get(url, {"filters": "", "columns": [], "format": "csv", "download": "1"})
    assert no_columns.status_code == 200  # no `columns` at all: the chooser again
    unknown = marketer_client.get(url, {"filters": "", "columns": ["password"], "format": "csv"})
    assert unknown.status_code == 400 and "not one of the available choices" in unknown.content.decode()
    bad_format = marketer_client.get(url, {"filters": "", "columns": ["email"], "format": "pdf"})
    assert bad_format.status_code == 400
    bad_filter = marketer_client.get(url, {"filters": "score_min=lots", "columns": ["email"], "format": "csv"})
    assert bad_filter.status_code == 400 and "filters are invalid" in bad_filter.content.decode()
    bad_tree = marketer_client.get(url, {"condition": '{"version": 1, "root": {"type": "nope"}}'})
    assert bad_tree.status_code == 400 and "root" in bad_tree.content.decode()
    not_json = marketer_client.get(url, {"condition": "{"})
    assert not_json.status_code == 400 and "not valid JSON" in not_json.content.decode()


def test_advanced_filter_export(marketer_client, people):
    url = reverse("transfers:export_contacts")
    chooser = marketer_client.get(url, {"condition": json.dumps(TREE)})
    assert chooser.status_code == 200 and "Contacts where" in chooser.content.decode()
    response = marketer_client.get(url, {"condition": json.dumps(TREE), "columns": ["email"], "format": "csv"})
    assert rows(response) == [["Email"], ["de@example.com"]]


def test_group_export_with_the_member_tabs_filters(marketer_client, people):
    group = ContactGroupFactory(code="vip", name="VIP")
    MembershipFactory(group=group, contact=people[0], via_manual=True)
    MembershipFactory(group=group, contact=people[1], via_manual=False, via_condition=True)
    url = reverse("transfers:export_group", args=[group.pk])
    chooser = marketer_client.get(url, {"source": "manual"})
    page = chooser.content.decode()
    assert chooser.status_code == 200 and 'name="source" value="manual"' in page and "Member since" in page
    response = marketer_client.get(url, {"source": "manual", "columns": ["email", "member.sources"], "format": "csv"})
    assert response["Content-Disposition"].startswith('attachment; filename="group-vip-')
    assert rows(response) == [["Email", "Member sources"], ["cz@example.com", "Manual"]]
    everyone = marketer_client.get(url, {"columns": ["email", "member.sources"], "format": "csv"})
    assert rows(everyone)[1:] == [["cz@example.com", "Manual"], ["de@example.com", "Condition"]]
    assert marketer_client.get(reverse("transfers:export_group", args=[999999])).status_code == 404


def test_export_buttons_on_the_list_the_members_tab_and_the_advanced_filter(marketer_client, people):
    group = ContactGroupFactory()
    MembershipFactory(group=group, contact=people[0])
    page = marketer_client.get(reverse("contacts:contact_list") + "?country=CZ").content.decode()
    assert reverse("transfers:export_contacts") + "?country=CZ" in page
    members = marketer_client.get(reverse("segments:group_detail", args=[group.pk])).content.decode()
    assert reverse("transfers:export_group", args=[group.pk]) in members
    advanced = marketer_client.get(reverse("segments:contact_filter"), {"condition": json.dumps(TREE)}).content.decode()
    assert reverse("transfers:export_contacts") + "?condition=" in advanced


# --- per role ---------------------------------------------------------------------------------------

# url name → (Marketer, Admin, Staff): exporting what one may see; the Advanced filter needs what its page needs.
MATRIX = {
    "contacts": (200, 200, 200),
    "advanced": (200, 200, 403),
    "group": (200, 200, 200),
    "definitions": (200, 200, 200),
    "definition": (200, 200, 200),
    "definitions_import": (200, 200, 403),
}


def matrix_url(name: str, group) -> str:
    return {
        "contacts": reverse("transfers:export_contacts"),
        "advanced": reverse("transfers:export_contacts") + "?condition=" + json.dumps(TREE),
        "group": reverse("transfers:export_group", args=[group.pk]),
        "definitions": reverse("transfers:group_definitions"),
        "definition": reverse("transfers:group_definition", args=[group.pk]),
        "definitions_import": reverse("transfers:group_definitions_import"),
    }[name]


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_role_matrix(client, name):
    group = ContactGroupFactory()
    url = matrix_url(name, group)
    for role, expected in zip([Role.MARKETER, Role.ADMIN, Role.STAFF], MATRIX[name], strict=True):
        client.force_login(make_user(role))
        assert client.get(url).status_code == expected, (name, role)
    client.logout()
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_staff_cannot_download_an_advanced_filter_nor_import_definitions(staff_client):
    url = reverse("transfers:export_contacts")
    query = {"condition": json.dumps(TREE), "columns": ["email"], "format": "csv"}
    assert staff_client.get(url, query).status_code == 403
    assert staff_client.post(reverse("transfers:group_definitions_import"), {"text": "{}"}).status_code == 403
