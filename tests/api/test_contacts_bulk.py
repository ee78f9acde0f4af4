"""POST /api/v1/contacts/bulk/: the import's value checks per item, all or nothing, one transaction, a report."""

from __future__ import annotations

import pytest
from django.test import override_settings

from api.models import TokenScope
from contacts.models import Contact
from contacts.roles import Role
from contacts.signals import contacts_changed
from tests.factories import ContactFactory, ContactFieldFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/contacts/bulk/"


@pytest.fixture
def fields():
    ContactFieldFactory(code="plan", label="Plan", type="choice", choices=[{"code": "pro", "label": "Professional"}])
    ContactFieldFactory(code="budget", label="Budget", type="number")
    ContactFieldFactory(code="vip", label="VIP", type="boolean")
    ContactFieldFactory(code="since", label="Since", type="date")
    ContactFieldFactory(code="tags", label="Tags", type="multi_choice", choices=[{"code": "a"}, {"code": "b"}])


def test_creates_updates_and_leaves_unchanged_in_one_change(admin_api, fields):
    kept = ContactFactory(email="kept@example.com", first_name="Kept", city="Brno")
    changed = ContactFactory(email="Changed@Example.com", first_name="Old")
    notes = []

    def note(sender, **kwargs):
        notes.append(sorted(kwargs["contact_ids"]))

    contacts_changed.connect(note)
    try:
        response = admin_api.post(
            URL,
            {
                "contacts": [
                    {"email": "new@example.com", "first_name": "Nova", "country": "Czechia", "lead_score": 5},
                    {"email": "kept@example.com", "first_name": "Kept", "city": None},
                    {"email": "changed@example.com", "first_name": "New", "custom": {"plan": "Professional"}},
                    {
                        "email": "typed@example.com",
                        "custom": {"budget": 12.5, "vip": True, "since": "2025-12-31", "tags": ["a", "b"]},
                    },
                ]
            },
        )
    finally:
        contacts_changed.disconnect(note)
    assert response.status_code == 200, response.json()
    body = response.json()
    new = Contact.objects.get(email="new@example.com")
    typed = Contact.objects.get(email="typed@example.com")
    assert (body["created"], body["updated"], body["unchanged"]) == (2, 1, 1)
    assert body["results"] == [
        {"index": 0, "status": "created", "id": new.pk, "errors": []},
        {"index": 1, "status": "unchanged", "id": kept.pk, "errors": []},
        {"index": 2, "status": "updated", "id": changed.pk, "errors": []},
        {"index": 3, "status": "created", "id": typed.pk, "errors": []},
    ]
    assert (str(new.country), new.lead_score) == ("CZ", 5)
    changed.refresh_from_db()
    assert (changed.first_name, changed.custom["plan"]) == ("New", "pro")
    assert typed.custom == {"budget": 12.5, "vip": True, "since": "2025-12-31", "tags": ["a", "b"]}
    kept.refresh_from_db()
    assert kept.city == "Brno"  # an empty value leaves it, as in an import
    assert notes == [sorted([new.pk, typed.pk, changed.pk])]  # one contacts_changed for the batch


def test_any_invalid_item_refuses_all_with_every_items_errors(admin_api, fields):
    existing = ContactFactory(email="a@example.com", first_name="A")
    response = admin_api.post(
        URL,
        {
            "contacts": [
                {"email": "a@example.com", "first_name": "Changed"},
                {"email": "b@example.com", "custom": {"plan": "gold", "budget": "lots"}},
                {"email": "not-an-email", "country": "Atlantis"},
                {"email": "c@example.com", "first_name": ["x"]},
                {"email": "A@example.com"},
                {"email": "d@example.com", "custom": {"nope": 1, "vip": {"x": 1}, "tags": [1]}},
                "not an object",
                {"first_name": "No email"},
                {"email": "e@example.com", "nickname": "E"},
            ]
        },
    )
    assert response.status_code == 400
    body = response.json()
    error = body["error"]
    assert error["code"] == "validation_error" and error["path"] == "contacts[1].custom.budget"
    paths = {(d["path"], d["code"]) for d in error["details"]}
    assert {p for p, _ in paths} == {
        "contacts[1].custom.plan",
        "contacts[1].custom.budget",
        "contacts[2].email",
        "contacts[2].country",
        "contacts[3].first_name",
        "contacts[4].email",
        "contacts[5].custom.nope",
        "contacts[5].custom.vip",
        "contacts[5].custom.tags",
        "contacts[6]",
        "contacts[7].email",
        "contacts[8].nickname",
    }
    assert ("contacts[8].nickname", "unknown_field") in paths
    assert ("contacts[4].email", "duplicate") in paths
    assert [r["status"] for r in body["results"]] == ["valid"] + ["error"] * 8
    assert body["results"][1]["errors"][0]["path"].startswith("contacts[1].")
    assert Contact.objects.count() == 1
    existing.refresh_from_db()
    assert existing.first_name == "A"


def test_required_custom_fields_are_required_for_new_contacts_only(admin_api):
    ContactFieldFactory(code="segment", label="Segment", required=True)
    ContactFactory(email="old@example.com", custom={"segment": "x"})
    response = admin_api.post(URL, {"contacts": [{"email": "old@example.com"}, {"email": "new@example.com"}]})
    assert response.status_code == 400
    assert [d["path"] for d in response.json()["error"]["details"]] == ["contacts[1].custom.segment"]
    ok = admin_api.post(URL, {"contacts": [{"email": "new@example.com", "custom": {"segment": "y"}}]})
    assert ok.status_code == 200 and ok.json()["created"] == 1


def test_bad_json_and_wrong_shapes(admin_api):
    assert admin_api.post(URL, raw="{nope").json()["error"]["code"] == "parse_error"
    for body, path in [
        ({}, "contacts"),
        ({"contacts": []}, "contacts"),
        ({"contacts": {"email": "a@example.com"}}, "contacts"),
        ({"contacts": [], "mode": "x"}, "mode"),
        ([{"email": "a@example.com"}], ""),
    ]:
        response = admin_api.post(URL, body)
        assert response.status_code == 400, body
        assert response.json()["error"]["path"] == path, body
    assert not Contact.objects.exists()


def test_a_full_batch_takes_a_few_queries(admin_api, fields, django_assert_max_num_queries):
    for i in range(0, 1000, 50):
        ContactFactory(email=f"user{i}@example.com")
    items = [
        {"email": f"user{i}@example.com", "first_name": f"N{i}", "country": "CZ", "custom": {"plan": "pro"}}
        for i in range(1000)
    ]
    with django_assert_max_num_queries(68):  # (up to 8 are the rate limit counting in the database cache)
        response = admin_api.post(URL, {"contacts": items})
    assert response.status_code == 200 and response.json()["created"] == 980
    assert response.json()["updated"] == 20


@override_settings(API_MAX_BATCH=2)
def test_an_oversized_batch_is_refused(admin_api):
    response = admin_api.post(URL, {"contacts": [{"email": f"{i}@example.com"} for i in range(3)]})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_many" and response.json()["error"]["path"] == "contacts"
    assert not Contact.objects.exists()


def test_a_read_only_token_cannot_write_and_staff_can(api_factory):
    body = {"contacts": [{"email": "a@example.com"}]}
    reader = api_factory(Role.MARKETER, TokenScope.READ).post(URL, body)
    assert reader.status_code == 403 and reader.json()["error"]["code"] == "read_only_token"
    assert not Contact.objects.exists()
    assert api_factory(Role.STAFF).post(URL, body).status_code == 200


def test_a_retry_with_an_idempotency_key_gets_the_first_report(admin_api):
    body = {"contacts": [{"email": "a@example.com", "first_name": "A"}]}
    headers = {"HTTP_IDEMPOTENCY_KEY": "sync-42"}
    send = lambda: admin_api.client.post(URL, body, content_type="application/json", **admin_api.headers, **headers)  # noqa: E731
    first, again = send(), send()
    assert first.json()["created"] == 1 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Contact.objects.count() == 1
