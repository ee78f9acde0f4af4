"""Contacts and accounts over the API: the pages' filters, cursor pages, writes through the services."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils.dateparse import parse_datetime

from contacts.models import Account, Contact
from tests.factories import (
    AccountFactory,
    ContactFactory,
    ContactFieldFactory,
    ContactGroupFactory,
    MembershipFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def fields():
    ContactFieldFactory(code="budget", type="number")
    ContactFieldFactory(code="plan", type="choice", choices=[{"code": "pro", "label": "Pro"}, {"code": "free"}])


def all_ids(api, url, params=None):
    """Walk every cursor page; the ids in order."""
    ids, page = [], api.get(url, params or {})
    while True:
        assert page.status_code == 200, page.json()
        ids += [row["id"] for row in page.json()["results"]]
        if not page.json()["next"]:
            return ids
        page = api.get(page.json()["next"])


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": "novak"},
        {"country": "SK"},
        {"score_min": "20", "score_max": "60"},
        {"cf_budget_min": "100"},
        {"cf_plan": "pro"},
        {"include_merged": "true"},
        {"account": "ACCOUNT"},
    ],
)
def test_the_list_filters_exactly_like_the_contact_list_page(admin_api, admin_client_role, fields, params):
    acme = AccountFactory(name="Acme")
    parent = ContactFactory(last_name="Novák", country="CZ", lead_score=50, custom={"budget": 150, "plan": "pro"})
    ContactFactory(last_name="Novak", country="SK", lead_score=10, account=acme, custom={"budget": 50})
    ContactFactory(last_name="Svoboda", country="SK", lead_score=30, custom={"plan": "free"})
    ContactFactory(last_name="Dvořák", country="CZ", lead_score=70, merged_into=parent, account=acme)
    params = {k: (str(acme.pk) if v == "ACCOUNT" else v) for k, v in params.items()}
    page = admin_client_role.get(reverse("contacts:contact_list"), params)
    expected = sorted(c.pk for c in page.context["object_list"])
    assert all_ids(admin_api, "/api/v1/contacts/", params) == expected


def test_cursor_pages_walk_every_contact_once_in_id_order(admin_api):
    ids = [ContactFactory().pk for _ in range(7)]
    first = admin_api.get("/api/v1/contacts/", {"page_size": 3}).json()
    assert len(first["results"]) == 3 and "cursor=" in first["next"]
    assert all_ids(admin_api, "/api/v1/contacts/", {"page_size": 3}) == sorted(ids)


def test_get_a_contact(admin_api):
    account = AccountFactory()
    contact = ContactFactory(email="jana@example.com", country="CZ", account=account, custom={"x": 1})
    body = admin_api.get(f"/api/v1/contacts/{contact.pk}/").json()
    assert body["email"] == "jana@example.com" and body["country"] == "CZ" and body["account"] == account.pk
    assert body["custom"] == {"x": 1} and body["merged_into"] is None


def test_create_validates_custom_values_by_the_field_settings(admin_api, fields):
    response = admin_api.post(
        "/api/v1/contacts/", {"email": "a@example.com", "country": "CZ", "custom": {"budget": "12.5", "plan": "PRO"}}
    )
    assert response.status_code == 201, response.json()
    contact = Contact.objects.get(pk=response.json()["id"])
    assert contact.custom == {"budget": 12.5, "plan": "pro"}  # stored canonical, like the form does
    bad = admin_api.post("/api/v1/contacts/", {"email": "b@example.com", "custom": {"budget": "lots"}})
    assert bad.status_code == 400 and bad.json()["error"]["path"] == "custom.budget"
    unknown = admin_api.post("/api/v1/contacts/", {"email": "c@example.com", "custom": {"nope": 1}})
    assert unknown.status_code == 400 and unknown.json()["error"]["path"] == "custom.nope"
    assert Contact.objects.count() == 1


def test_a_required_custom_field_is_required_on_create(admin_api):
    ContactFieldFactory(code="source", type="text", required=True)
    response = admin_api.post("/api/v1/contacts/", {"email": "a@example.com"})
    assert response.status_code == 400 and response.json()["error"]["path"] == "custom.source"
    assert admin_api.post("/api/v1/contacts/", {"custom": {"source": "web"}}).status_code == 201


def test_an_email_in_use_is_refused_ignoring_case(admin_api):
    ContactFactory(email="taken@example.com")
    response = admin_api.post("/api/v1/contacts/", {"email": "TAKEN@example.com"})
    assert response.status_code == 400 and response.json()["error"]["path"] == "email"
    assert "already uses" in response.json()["error"]["message"]


def test_update_changes_only_what_is_sent(admin_api, fields):
    contact = ContactFactory(city="Praha", job_title="CEO", custom={"budget": 10, "plan": "free"})
    response = admin_api.patch(f"/api/v1/contacts/{contact.pk}/", {"city": "Brno", "custom": {"budget": 20}})
    assert response.status_code == 200, response.json()
    contact.refresh_from_db()
    assert (contact.city, contact.job_title) == ("Brno", "CEO")
    assert contact.custom == {"budget": 20, "plan": "free"}
    bad = admin_api.patch(f"/api/v1/contacts/{contact.pk}/", {"city": "Ostrava", "custom": {"plan": "gold"}})
    assert bad.status_code == 400 and bad.json()["error"]["path"] == "custom.plan"
    contact.refresh_from_db()
    assert contact.city == "Brno"  # nothing half-written


def test_upsert_by_email_creates_then_updates(admin_api):
    created = admin_api.post("/api/v1/contacts/upsert/", {"email": "new@example.com", "city": "Praha"})
    assert created.status_code == 201 and created.json()["outcome"] == "created"
    updated = admin_api.post("/api/v1/contacts/upsert/", {"email": " NEW@example.com ", "city": "Brno"})
    assert updated.status_code == 200 and updated.json()["outcome"] == "updated"
    assert updated.json()["contact"]["id"] == created.json()["contact"]["id"]
    contact = Contact.objects.get()
    assert (contact.email, contact.city) == ("new@example.com", "Brno")
    missing = admin_api.post("/api/v1/contacts/upsert/", {"city": "Brno"})
    assert missing.status_code == 400 and missing.json()["error"]["path"] == "email"


def test_upsert_of_a_merged_contacts_email_updates_the_contact_it_was_merged_into(admin_api):
    parent = ContactFactory(email="parent@example.com")
    ContactFactory(email="child@example.com", merged_into=parent)
    response = admin_api.post("/api/v1/contacts/upsert/", {"email": "child@example.com", "job_title": "CTO"})
    assert response.json()["contact"]["id"] == parent.pk
    parent.refresh_from_db()
    assert parent.job_title == "CTO"


def test_delete_takes_the_merged_contacts_too(admin_api):
    parent = ContactFactory()
    ContactFactory(merged_into=parent)
    assert admin_api.delete(f"/api/v1/contacts/{parent.pk}/").status_code == 204
    assert not Contact.objects.exists()
    assert admin_api.delete(f"/api/v1/contacts/{parent.pk}/").status_code == 404


def test_a_contacts_groups_with_sources_and_member_since(admin_api):
    contact = ContactFactory()
    vip = ContactGroupFactory(code="vip", name="VIP")
    membership = MembershipFactory(group=vip, contact=contact, via_manual=True, via_condition=True)
    ContactGroupFactory(code="other")
    body = admin_api.get(f"/api/v1/contacts/{contact.pk}/groups/").json()
    assert [(g["code"], g["name"], g["sources"]) for g in body] == [("vip", "VIP", ["manual", "condition"])]
    assert parse_datetime(body[0]["member_since"]) == membership.added_at


# --- accounts ---------------------------------------------------------------------------------


def test_accounts_list_filters_like_the_account_list_page(admin_api, admin_client_role):
    AccountFactory(name="Acme", industry="Retail", country="CZ")
    AccountFactory(name="Beta", industry="Banking", country="SK")
    AccountFactory(name="Acme Slovakia", industry="Retail", country="SK")
    for params in ({}, {"q": "acme"}, {"industry": "Retail"}, {"country": "SK"}):
        page = admin_client_role.get(reverse("contacts:account_list"), params)
        expected = sorted(a.pk for a in page.context["object_list"])
        assert all_ids(admin_api, "/api/v1/accounts/", params) == expected, params


def test_account_create_update_delete(admin_api):
    response = admin_api.post("/api/v1/accounts/", {"name": "Acme", "country": "CZ", "employees": 12})
    assert response.status_code == 201, response.json()
    pk = response.json()["id"]
    assert response.json()["contact_count"] == 0
    contact = ContactFactory(account_id=pk)
    response = admin_api.patch(f"/api/v1/accounts/{pk}/", {"industry": "Retail"})
    assert response.json()["industry"] == "Retail" and response.json()["contact_count"] == 1
    assert admin_api.patch(f"/api/v1/accounts/{pk}/", {"country": "XX"}).json()["error"]["path"] == "country"
    assert admin_api.post("/api/v1/accounts/", {"employees": -1}).status_code == 400
    assert admin_api.delete(f"/api/v1/accounts/{pk}/").status_code == 204
    contact.refresh_from_db()
    assert not Account.objects.exists() and contact.account is None  # kept, unlinked


def test_generating_the_schema_leaves_the_account_pages_industry_filter_current(admin_api, admin_client_role):
    assert admin_api.get("/api/schema/").status_code == 200  # reads the FilterSets' class-level filters
    acme = AccountFactory(name="Acme", industry="Retail")
    AccountFactory(name="Globex", industry="Energy")
    page = admin_client_role.get(reverse("contacts:account_list"), {"industry": "Retail"})
    assert [a.pk for a in page.context["object_list"]] == [acme.pk]
    assert all_ids(admin_api, "/api/v1/accounts/", {"industry": "Retail"}) == [acme.pk]
