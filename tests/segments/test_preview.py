"""The builder's live preview endpoint: POST a tree, get counts, reachability and the first contacts."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from contacts.models import Contact
from tests.factories import ConsentFactory, ContactConsentFactory, ContactFactory

pytestmark = pytest.mark.django_db

URL = reverse("segments:rule_preview")
CZECH = {"version": 1, "root": {"type": "field", "field": "country", "operator": "equals", "value": "CZ"}}


def post(client, body, **kw):
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", **kw)


@pytest.fixture
def reach(db):
    newsletter = ConsentFactory(code="newsletter", name="Newsletter")
    sms = ConsentFactory(code="sms", name="SMS")
    both = ContactFactory(first_name="Both", last_name="A", phone="+420 1", email="both@x.cz")
    ContactConsentFactory(contact=both, consent=newsletter)
    ContactConsentFactory(contact=both, consent=sms)
    revoked = ContactFactory(first_name="Revoked", last_name="B", phone="+420 2", email="revoked@x.cz")
    ContactConsentFactory(contact=revoked, consent=newsletter, revoked_at="2026-01-01T00:00:00Z")
    ContactConsentFactory(contact=revoked, consent=sms)
    anonymous = ContactFactory(first_name="", last_name="", email=None, phone="")
    ContactConsentFactory(contact=anonymous, consent=newsletter)
    ContactFactory(country="SK")
    ContactFactory(merged_into=both)
    for i in range(10):
        ContactFactory(last_name=f"Z{i:02}")
    return both, revoked, anonymous


def test_counts_reachability_and_first_ten(marketer_client, reach):
    both, revoked, anonymous = reach
    response = post(marketer_client, CZECH)
    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 13  # 3 + 10 Czech contacts; not the Slovak, not the merged one
    assert data["reachable"] == {"email": 1, "sms": 2}
    assert data["description"] == "Country is Czechia"
    assert len(data["contacts"]) == 10
    # Ordered like the contact list's and the Members tab's name sort: family name (or the given name when that
    # is all there is), given name, id; unnamed contacts last (so the anonymous one is not among the first ten).
    zs = [c.pk for c in Contact.objects.filter(last_name__startswith="Z").order_by("last_name")]
    assert [c["id"] for c in data["contacts"]] == [both.pk, revoked.pk, *zs[:8]]
    assert data["contacts"][0] == {
        "id": both.pk,
        "name": "Both A",
        "email": "both@x.cz",
        "url": both.get_absolute_url(),
    }


def test_the_first_contacts_end_with_the_unnamed_ones(marketer_client, reach):
    both, revoked, anonymous = reach
    Contact.objects.filter(last_name__startswith="Z").delete()
    data = post(marketer_client, CZECH).json()
    assert [c["id"] for c in data["contacts"]] == [both.pk, revoked.pk, anonymous.pk]
    assert data["contacts"][2]["email"] == "" and data["contacts"][2]["name"].startswith("Anonymous")


def test_reachability_follows_settings(marketer_client, reach, settings):
    settings.REACHABILITY_EMAIL_CONSENT = ""
    settings.REACHABILITY_SMS_CONSENT = ""
    data = post(marketer_client, CZECH).json()
    assert data["reachable"] == {"email": 12, "sms": 2}  # every Czech contact with an email / a phone


def test_reachability_by_a_consent_nobody_has_is_zero_and_a_consent_rule_counts_once(marketer_client, reach, settings):
    settings.REACHABILITY_EMAIL_CONSENT = "no-such-consent"
    assert post(marketer_client, CZECH).json()["reachable"] == {"email": 0, "sms": 2}
    settings.REACHABILITY_EMAIL_CONSENT = "newsletter"
    agreed_sms = {"version": 1, "root": {"type": "consent", "consent": "sms", "operator": "agreed"}}
    data = post(marketer_client, agreed_sms).json()
    assert (data["count"], data["reachable"]) == (2, {"email": 1, "sms": 2})  # Both and Revoked, each once


def test_invalid_tree_is_400_with_the_path(marketer_client):
    tree = {"version": 1, "root": {"type": "group", "combinator": "and", "children": [
        {"type": "field", "field": "lead_score", "operator": "gt", "value": "many"}]}}  # fmt: skip
    response = post(marketer_client, tree)
    assert response.status_code == 400
    assert response.json() == {
        "error": "root.children[0].value: expected a number",
        "path": "root.children[0].value",
    }


@pytest.mark.parametrize("body", ["{not json", "", "null", "[]"])
def test_bad_body_is_400(marketer_client, body):
    response = post(marketer_client, body)
    assert response.status_code == 400
    assert response.json()["path"] == "tree"


def test_staff_is_forbidden(staff_client):
    assert post(staff_client, CZECH).status_code == 403


def test_login_required(client):
    response = post(client, CZECH)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_get_is_not_allowed(marketer_client):
    assert marketer_client.get(URL).status_code == 405


def test_csrf_is_enforced(marketer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(marketer)
    assert post(client, CZECH).status_code == 403
    client.get(reverse("segments:group_list"))  # any page sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    assert post(client, CZECH, headers={"X-CSRFToken": token}).status_code == 200


def test_counts_take_one_query_and_the_contacts_one_more(reach):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from segments.rules import matching_contacts
    from segments.rules.reach import contacts_preview

    contacts = matching_contacts(CZECH)
    with CaptureQueriesContext(connection) as queries:
        result = contacts_preview(contacts=contacts, description="")
    assert len(queries.captured_queries) == 2
    assert (result.count, result.reachable_email, result.reachable_sms, len(result.contacts)) == (13, 1, 2, 10)


# --- the live builder, cycles, limits and odd bodies (issue 11) --------------------------------

INVALID = {"version": 1, "root": {"type": "field", "field": "lead_score", "operator": "gt", "value": "many"}}


def test_live_builder_gets_an_invalid_tree_as_a_normal_answer(marketer_client):
    response = marketer_client.post(URL + "?live=1", data=json.dumps(INVALID), content_type="application/json")
    assert response.status_code == 200  # an unfinished rule is no failed request in the browser console
    assert response.json() == {
        "valid": False,
        "error": "root.value: expected a number",
        "path": "root.value",
        "errors": [{"path": "root.value", "message": "expected a number"}],
    }
    ok = marketer_client.post(URL + "?live=1", data=json.dumps(CZECH), content_type="application/json").json()
    assert ok["valid"] is True and "count" in ok


def test_a_cycle_through_the_edited_group_is_an_error_in_names(marketer_client):
    from tests.factories import ContactGroupFactory

    member_of = lambda code: {"version": 1, "root": {"type": "membership", "group": code, "operator": "is_member"}}  # noqa: E731
    ContactGroupFactory(code="germans", name="Germans", is_condition_based=True, condition=CZECH)
    ContactGroupFactory(
        code="inactive_germans", name="Inactive Germans", is_condition_based=True, condition=member_of("germans")
    )
    body = json.dumps(member_of("inactive_germans"))
    response = marketer_client.post(URL + "?group=germans", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {
        "error": "root.group: “Inactive Germans” already uses this group, so it cannot use “Inactive Germans”",
        "path": "root.group",
    }
    live = marketer_client.post(URL + "?group=germans&live=1", data=body, content_type="application/json").json()
    assert live["valid"] is False and live["errors"][0]["path"] == "root.group"
    assert post(marketer_client, member_of("inactive_germans")).status_code == 200  # no owner: no cycle


def test_a_tree_nested_a_thousand_deep_is_answered_as_too_deep(marketer_client):
    leaf = json.dumps(CZECH["root"])
    group = '{"type": "group", "combinator": "and", "children": ['
    body = '{"version": 1, "root": ' + group * 1000 + leaf + "]}" * 1000 + "}"  # valid JSON, too deep to encode
    response = post(marketer_client, body)
    assert response.status_code == 400
    assert response.json() == {
        "error": "tree: the conditions are nested too deeply (at most 10 levels)",
        "path": "tree",
    }


def test_a_huge_body_gets_a_json_error(marketer_client):
    response = post(marketer_client, "[" + " " * 10_000_000 + "]")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"].startswith("tree: the request body is too large (at most ")


def test_a_costly_tree_is_refused_with_its_cause(marketer_client):
    nodes = [
        {"type": "activity", "activity": "form_submission",
         "where": [{"field": "data.form", "operator": "contains", "value": f"f{i}"}]}
        for i in range(80)
    ]  # fmt: skip
    response = post(marketer_client, {"version": 1, "root": {"type": "group", "combinator": "or", "children": nodes}})
    assert response.status_code == 400
    assert "too slow to evaluate: 21 activity conditions filtering by “contains”" in response.json()["error"]


def test_a_preview_that_times_out_answers_a_clear_message(marketer_client, monkeypatch):
    from segments.rules import EvaluationTimeout
    from segments.selectors import preview as shared

    def slow(tree, **kwargs):
        assert kwargs["timeout"] == 10.0  # previews always run under a deadline
        raise EvaluationTimeout(kwargs["timeout"])

    monkeypatch.setattr(shared, "preview", slow)
    response = post(marketer_client, CZECH)
    assert response.status_code == 503
    assert response.json()["error"].startswith("tree: counting the matching contacts took longer than 10 seconds")
    live = marketer_client.post(URL + "?live=1", data=json.dumps(CZECH), content_type="application/json")
    assert live.status_code == 200 and live.json()["timed_out"] is True
