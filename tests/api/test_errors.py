"""Every error in one JSON shape, and the limits: bad JSON, wrong types, unknown fields, sizes, the rate."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from contacts.models import Contact
from contacts.roles import Role
from segments.models import Membership
from tests.factories import ContactFactory, ContactGroupFactory

pytestmark = pytest.mark.django_db


def error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert {"code", "message", "path"} <= set(body["error"])
    return body["error"]


def test_malformed_json_is_a_parse_error(admin_api):
    response = admin_api.post("/api/v1/contacts/", raw='{"email": ')
    assert response.status_code == 400 and error(response)["code"] == "parse_error"
    assert not Contact.objects.exists()


def test_json_nested_beyond_the_parser_is_a_parse_error_not_a_500(admin_api):
    response = admin_api.post("/api/v1/preview/", raw="[" * 100_000 + "]" * 100_000)
    assert response.status_code == 400 and error(response)["code"] == "parse_error"


@pytest.mark.parametrize("body", ["[]", '"text"', "42", "null"])
def test_a_body_that_is_not_an_object_is_refused(admin_api, body):
    response = admin_api.post("/api/v1/contacts/", raw=body)
    assert response.status_code == 400 and error(response)["code"] in ("validation_error", "parse_error")
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"lead_score": "lots"}, "lead_score"),
        ({"lead_score": 2**40}, "lead_score"),
        ({"email": 12}, "email"),
        ({"email": "not-an-address"}, "email"),
        ({"account": "first"}, "account"),
        ({"account": 987654}, "account"),
        ({"custom": ["a"]}, "custom"),
        ({"first_name": {"a": 1}}, "first_name"),
        ({"first_name": "a\x00b"}, "first_name"),
        ({"country": "Czechia"}, "country"),
    ],
)
def test_wrong_types_and_values_name_the_field(admin_api, body, path):
    response = admin_api.post("/api/v1/contacts/", body)
    assert response.status_code == 400, response.json()
    err = error(response)
    assert err["code"] == "validation_error" and err["path"] == path
    assert err["details"][0]["path"] == path
    assert not Contact.objects.exists()


def test_unknown_fields_are_refused_not_ignored(admin_api):
    contact = ContactFactory(city="Praha")
    response = admin_api.patch(f"/api/v1/contacts/{contact.pk}/", {"city": "Brno", "citty": "Brno"})
    err = error(response)
    assert response.status_code == 400 and err["path"] == "citty"
    assert err["details"][0]["code"] == "unknown_field"
    contact.refresh_from_db()
    assert contact.city == "Praha"  # nothing changed
    # Read-only fields are not writable either.
    response = admin_api.patch(f"/api/v1/contacts/{contact.pk}/", {"id": 5})
    assert response.status_code == 400 and error(response)["path"] == "id"


def test_every_problem_is_listed(admin_api):
    response = admin_api.post("/api/v1/contacts/", {"lead_score": "x", "email": "bad", "zzz": 1})
    paths = {d["path"] for d in error(response)["details"]}
    assert paths == {"zzz"} or paths >= {"lead_score", "email"}


@override_settings(API_MAX_BODY=1000)
def test_a_body_over_the_limit_is_413(admin_api):
    response = admin_api.post("/api/v1/contacts/", {"first_name": "x" * 2000})
    assert response.status_code == 413 and error(response)["code"] == "request_too_large"
    assert not Contact.objects.exists()


def test_an_oversized_batch_is_refused_and_changes_nothing(admin_api):
    group = ContactGroupFactory(code="big")
    contact = ContactFactory()
    response = admin_api.post("/api/v1/groups/big/members/", {"ids": [contact.pk, *range(10**6, 10**6 + 1000)]})
    err = error(response)
    assert response.status_code == 400 and err["path"] == "ids" and err["details"][0]["code"] == "too_many"
    assert not Membership.objects.filter(group=group).exists()


def test_an_unknown_url_and_an_unknown_object_are_json_404(admin_api):
    assert error(admin_api.get("/api/v1/nothing/"))["code"] == "not_found"
    response = admin_api.get("/api/v1/contacts/999999/")
    assert response.status_code == 404 and error(response)["code"] == "not_found"
    assert error(admin_api.get("/api/v1/groups/nope/"))["code"] == "not_found"
    # Line breaks of every kind in the path (schemathesis sends them): still the API's JSON, not the site's page.
    response = admin_api.patch("/api/v1/accounts/a%0Ab%0Dc%C2%85d%0Be%0Cf%E2%80%A8g%E2%80%A9h%0D%0Ai/", {})
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert error(response)["code"] == "not_found"


def test_an_unsupported_method_and_media_type_answer_in_the_shape(admin_api, client):
    response = admin_api.delete("/api/v1/contacts/")
    assert response.status_code == 405 and error(response)["code"] == "method_not_allowed"
    response = client.post(
        "/api/v1/contacts/", "email=a@b.cz", content_type="application/x-www-form-urlencoded", **admin_api.headers
    )
    assert response.status_code == 415 and error(response)["code"] == "unsupported_media_type"


def test_the_rate_limit_is_per_token_with_retry_after(api_factory):
    first = api_factory(Role.MARKETER, username="one")
    second = api_factory(Role.MARKETER, username="two")
    with override_settings(API_RATE="3/min"):
        assert [first.get("/api/v1/contacts/").status_code for _ in range(3)] == [200, 200, 200]
        response = first.get("/api/v1/contacts/")
        assert response.status_code == 429 and error(response)["code"] == "throttled"
        assert 0 < int(response["Retry-After"]) <= 60
        # Another token has its own allowance.
        assert second.get("/api/v1/contacts/").status_code == 200


def test_filters_the_page_would_refuse_are_400(admin_api):
    response = admin_api.get("/api/v1/contacts/", {"score_min": "many"})
    assert response.status_code == 400 and error(response)["path"] == "score_min"
    response = admin_api.get("/api/v1/contacts/", {"cursor": "garbage"})
    assert response.status_code == 400 and error(response)["path"] == "cursor"


def test_error_bodies_are_json_with_the_right_content_type(admin_api):
    response = admin_api.post("/api/v1/contacts/", raw="{")
    assert response["Content-Type"].startswith("application/json")
    json.loads(response.content)


def test_nul_characters_anywhere_are_refused_not_sent_to_the_database(admin_api):
    assert admin_api.get("/api/v1/groups/a\x00b/").status_code == 404
    assert admin_api.get("/api/v1/contacts/", {"q": "a\x00b"}).status_code == 400
    assert admin_api.post("/api/v1/contacts/", {"custom": {"x": "a\x00"}}).json()["error"]["path"] == "custom"
    tree = {"version": 1, "root": {"type": "field", "field": "city", "operator": "equals", "value": "a\x00"}}
    assert admin_api.post("/api/v1/preview/", tree).status_code == 400
    tree["root"]["value"] = "Brno"
    assert admin_api.post("/api/v1/preview/?group=a%00", tree).json()["error"]["path"] == "group"
    assert not Contact.objects.exists()
