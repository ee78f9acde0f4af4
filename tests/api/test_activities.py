"""POST /api/v1/activities/ and /activities/batch/: validation with paths, all or nothing, idempotency keys,
the newest activity time kept true and group re-checks following."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection  # noqa: F401 - read by the skipif condition below
from django.test import override_settings
from django.utils import timezone

from api.models import IdempotentRequest, TokenScope
from contacts.models import Activity, Contact
from contacts.roles import Role
from contacts.selectors import contacts_newest_activity
from segments import rechecks
from segments.models import Membership, PendingRecheck
from tests.factories import CampaignFactory, ContactFactory, ContactGroupFactory
from tests.threads import together

pytestmark = pytest.mark.django_db
ONE = "/api/v1/activities/"
BATCH = "/api/v1/activities/batch/"


def post(api, url, body, key=None, raw=None):
    extra = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    data = raw if raw is not None else body
    return api.client.post(url, data, content_type="application/json", **api.headers, **extra)


def test_record_one_by_id_and_by_email(marketer_api):
    contact = ContactFactory(email="Jana@Example.com")
    when = timezone.now() - dt.timedelta(hours=2)
    response = post(marketer_api, ONE, {"contact": contact.pk, "type": "page_visit", "url": "https://x.cz/pricing"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["contact"] == contact.pk and body["type"] == "page_visit" and body["url"] == "https://x.cz/pricing"
    response = post(
        marketer_api,
        ONE,
        {"email": "jana@example.COM", "type": "purchase", "value": "12.50", "occurred_at": when.isoformat()},
    )
    assert response.status_code == 201, response.json()
    assert response.json()["value"] == "12.50"
    assert Activity.objects.filter(contact=contact).count() == 2
    contact.refresh_from_db()
    assert contact.newest_activity_at > when  # the newest of the two


def test_an_activity_of_a_merged_contact_goes_to_the_contact_it_was_merged_into(admin_api):
    parent = ContactFactory()
    child = ContactFactory(email="old@example.com", merged_into=parent)
    for body in ({"contact": child.pk, "type": "email_open"}, {"email": "old@example.com", "type": "email_open"}):
        assert post(admin_api, ONE, body).json()["contact"] == parent.pk


@pytest.mark.parametrize(
    ("body", "path", "code"),
    [
        ({"type": "page_visit"}, "contact", "required"),
        ({"contact": 1, "email": "a@example.com", "type": "page_visit"}, "contact", "required"),
        ({"contact": "one", "type": "page_visit"}, "contact", "invalid"),
        ({"contact": 1, "type": "dance"}, "type", "invalid_choice"),
        ({"contact": 1, "type": 5}, "type", "invalid_choice"),
        ({"contact": 1, "type": "page_visit", "url": ["https://x.cz"]}, "url", "invalid"),
        ({"contact": 1, "type": "page_visit", "title": {"t": 1}}, "title", "invalid"),
        ({"contact": 1, "type": "purchase", "value": "lots"}, "value", "invalid"),
        ({"contact": True, "type": "page_visit"}, "contact", "invalid"),
        ({"email": "not-an-email", "type": "page_visit"}, "email", "invalid"),
        ({"contact": 1, "type": "page_visit", "url": "x" * 2001}, "url", "max_length"),
        ({"contact": 1, "type": "page_visit", "colour": "red"}, "colour", "unknown_field"),
        ({"contact": 1, "type": "page_visit", "data": [1]}, "data", "not_a_dict"),
        ({"contact": 1, "type": "page_visit", "data": {"x": "y" * 20_000}}, "data", "too_large"),
        ({"contact": 1, "type": "page_visit", "occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at", "future"),
        ({"contact": 1, "type": "page_visit", "occurred_at": "yesterday"}, "occurred_at", "invalid"),
        ({"contact": 1, "type": "page_visit", "occurred_at": "0001-01-01T00:00:00"}, "occurred_at", "overflow"),
        ({"contact": 1, "type": "page_visit", "occurred_at": "0001-01-01T00:00:00+05:00"}, "occurred_at", "overflow"),
        ({"contact": 1, "type": "purchase", "value": "1.234"}, "value", "max_decimal_places"),
        ({"contact": 999_999, "type": "page_visit"}, "contact", "not_found"),
        ({"email": "nobody@example.com", "type": "page_visit"}, "email", "not_found"),
        ({"contact": 1, "type": "page_visit", "campaign": 999_999}, "campaign", "not_found"),
    ],
)
def test_bad_items_are_refused_with_their_path(admin_api, body, path, code):
    contact = ContactFactory()
    body = {**body, "contact": contact.pk} if body.get("contact") == 1 and body["contact"] is not True else body
    response = post(admin_api, ONE, body)
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert (path, code) in [(d["path"], d["code"]) for d in error["details"]], error
    assert not Activity.objects.exists()


def test_bad_json_and_wrong_shapes(admin_api):
    assert post(admin_api, ONE, None, raw="{not json").json()["error"]["code"] == "parse_error"
    assert post(admin_api, ONE, None, raw="[1, 2]").status_code == 400
    response = post(admin_api, BATCH, {"activities": {"a": 1}})
    assert response.status_code == 400 and response.json()["error"]["path"] == "activities"
    response = post(admin_api, BATCH, {"activities": [], "extra": 1})
    assert [d["path"] for d in response.json()["error"]["details"]] == ["extra"]  # unknown fields first
    response = post(admin_api, BATCH, {"activities": []})
    assert response.json()["error"]["path"] == "activities"


def test_a_batch_is_all_or_nothing_and_names_every_bad_item(admin_api):
    contact = ContactFactory()
    items = [{"contact": contact.pk, "type": "page_visit"} for _ in range(5)]
    items[1] = {"contact": contact.pk, "type": "nope"}
    items[3] = "not an object"
    response = post(admin_api, BATCH, {"activities": items})
    assert response.status_code == 400
    paths = [d["path"] for d in response.json()["error"]["details"]]
    assert paths == ["activities[1].type", "activities[3]"]
    assert not Activity.objects.exists()


def test_a_batch_records_every_item_in_one_go(admin_api):
    contacts = ContactFactory.create_batch(3)
    campaign = CampaignFactory()
    items = [
        {"contact": c.pk, "type": "email_click", "campaign": campaign.pk, "data": {"link": i}}
        for i, c in enumerate(contacts)
    ]
    response = post(admin_api, BATCH, {"activities": items})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["recorded"] == 3 and [a["contact"] for a in body["activities"]] == [c.pk for c in contacts]
    assert Activity.objects.filter(campaign=campaign).count() == 3
    assert None not in contacts_newest_activity(contact_ids=[c.pk for c in contacts]).values()


def test_a_batch_answers_exactly_what_the_activity_serializer_says(admin_api):
    from api.serializers.activities import ActivitySerializer

    contact = ContactFactory()
    campaign = CampaignFactory()
    items = [
        {"contact": contact.pk, "type": "purchase", "value": "1290.5", "occurred_at": "2026-01-02T03:04:05.678Z"},
        {"contact": contact.pk, "type": "email_click", "campaign": campaign.pk, "url": "https://x.example/a"},
        {"contact": contact.pk, "type": "custom", "title": "T", "data": {"k": [1, {"n": None}]}},
    ]
    body = post(admin_api, BATCH, {"activities": items}).json()
    stored = list(Activity.objects.filter(contact=contact).order_by("pk"))
    assert body["activities"] == ActivitySerializer(stored, many=True).data
    assert body["activities"][0]["value"] == "1290.50"


def test_a_batch_raises_last_activity_to_its_newest_and_never_lowers_it(admin_api):
    old, fresh, anyway = ContactFactory.create_batch(3)
    newest = timezone.now() - dt.timedelta(days=1)
    Contact.objects.filter(pk=fresh.pk).update(last_activity_at=newest)
    items = [
        {"contact": old.pk, "type": "page_visit", "occurred_at": "2025-01-01T10:00:00Z"},
        {"contact": old.pk, "type": "page_visit", "occurred_at": "2025-03-01T10:00:00.5Z"},
        {"contact": old.pk, "type": "page_visit", "occurred_at": "2025-02-01T10:00:00Z"},
        {"contact": fresh.pk, "type": "page_visit", "occurred_at": "2025-01-01T10:00:00Z"},  # older: kept
        {"contact": anyway.pk, "type": "page_visit"},
    ]
    assert post(admin_api, BATCH, {"activities": items}).status_code == 201
    values = contacts_newest_activity(contact_ids=[old.pk, fresh.pk, anyway.pk])
    assert values[old.pk] == dt.datetime(2025, 3, 1, 10, 0, 0, 500000, tzinfo=dt.UTC)
    assert values[fresh.pk] == newest
    assert values[anyway.pk] == Activity.objects.get(contact=anyway).occurred_at


def test_a_full_batch_takes_a_few_queries(admin_api, django_assert_max_num_queries):
    contacts = ContactFactory.create_batch(500)
    campaign = CampaignFactory()
    items = [{"email": c.email, "type": "page_visit", "url": f"/p/{c.pk}"} for c in contacts]
    items += [{"contact": c.pk, "type": "email_open", "campaign": campaign.pk} for c in contacts]
    with django_assert_max_num_queries(50):  # the daily roll-up's URL keys and day upserts are batched too
        response = post(admin_api, BATCH, {"activities": items}, key="full")
    assert response.status_code == 201 and response.json()["recorded"] == 1000
    assert Activity.objects.count() == 1000
    assert None not in contacts_newest_activity(contact_ids=[c.pk for c in contacts]).values()


@override_settings(API_MAX_BATCH=3)
def test_an_oversized_batch_is_refused(admin_api):
    contact = ContactFactory()
    response = post(admin_api, BATCH, {"activities": [{"contact": contact.pk, "type": "page_visit"}] * 4})
    assert response.status_code == 400
    assert response.json()["error"]["path"] == "activities"
    assert response.json()["error"]["details"][0]["code"] == "too_many"
    assert not Activity.objects.exists()


@override_settings(API_MAX_BODY=1000)
def test_an_oversized_body_is_refused(admin_api):
    response = post(admin_api, BATCH, {"activities": [{"contact": 1, "type": "page_visit"}] * 100})
    assert response.status_code == 413


def test_staff_and_read_only_tokens_cannot_record(api_factory):
    contact = ContactFactory()
    body = {"contact": contact.pk, "type": "page_visit"}
    staff = post(api_factory(Role.STAFF), ONE, body)
    assert staff.status_code == 403 and staff.json()["error"]["code"] == "permission_denied"
    reader = post(api_factory(Role.ADMIN, TokenScope.READ), BATCH, {"activities": [body]}, key="k1")
    assert reader.status_code == 403 and reader.json()["error"]["code"] == "read_only_token"
    assert not Activity.objects.exists() and not IdempotentRequest.objects.exists()


def test_a_retry_with_the_same_key_records_nothing_twice(admin_api):
    contact = ContactFactory()
    body = {"activities": [{"contact": contact.pk, "type": "page_visit"}, {"contact": contact.pk, "type": "purchase"}]}
    first = post(admin_api, BATCH, body, key="order-1")
    again = post(admin_api, BATCH, body, key="order-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert Activity.objects.count() == 2
    # The same key for another request: refused, nothing recorded.
    other = post(admin_api, BATCH, {"activities": body["activities"][:1]}, key="order-1")
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert post(admin_api, ONE, body["activities"][0], key="order-1").status_code == 409
    assert Activity.objects.count() == 2
    # A new key records again; no key always records.
    assert post(admin_api, BATCH, body, key="order-2").status_code == 201
    assert post(admin_api, ONE, body["activities"][0]).status_code == 201
    assert post(admin_api, ONE, body["activities"][0]).status_code == 201
    assert Activity.objects.count() == 6


def test_keys_are_per_user_and_a_failed_request_keeps_none(api_factory):
    contact = ContactFactory()
    one, two = api_factory(Role.ADMIN, username="one"), api_factory(Role.MARKETER, username="two")
    body = {"contact": contact.pk, "type": "page_visit"}
    assert post(one, ONE, body, key="k").status_code == 201
    assert post(two, ONE, body, key="k").status_code == 201  # another user's key
    assert post(one, ONE, {**body, "type": "bad"}, key="fresh").status_code == 400
    assert post(one, ONE, body, key="fresh").status_code == 201  # the corrected request may reuse it
    assert Activity.objects.count() == 3


@pytest.mark.parametrize("key", ["", "x" * 256, "has space"])
def test_a_malformed_key_is_refused(admin_api, key):
    contact = ContactFactory()
    response = post(admin_api, ONE, {"contact": contact.pk, "type": "page_visit"}, key=key)
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid_idempotency_key",
        "message": response.json()["error"]["message"],
        "path": "Idempotency-Key",
    }
    assert not Activity.objects.exists()


def test_an_activity_moves_the_contact_into_a_group_after_the_recheck_drain(
    admin_api, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: None)  # the drain runs below, as scheduled
    condition = {
        "version": 1,
        "root": {
            "type": "activity",
            "activity": "page_visit",
            "where": [{"field": "url", "operator": "contains", "value": "/pricing"}],
            "count": {"operator": "gte", "value": 2},
        },
    }
    group = ContactGroupFactory(code="pricing", is_condition_based=True, condition=condition)
    contact = ContactFactory(email="shop@example.com")
    visit = {"email": "shop@example.com", "type": "page_visit", "url": "https://shop.example/pricing"}
    with django_capture_on_commit_callbacks(execute=True):
        assert post(admin_api, BATCH, {"activities": [visit, visit]}).status_code == 201
    assert PendingRecheck.objects.filter(contact_id=contact.pk).exists()
    assert not Membership.objects.filter(group=group, contact=contact).exists()
    assert rechecks.rechecks_drain() >= 1
    assert Membership.objects.get(group=group, contact=contact).via_condition


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_with_one_key_record_once(client, roles):
    from tests.api.conftest import api_for

    api = api_for(client, Role.ADMIN)
    contact = ContactFactory()
    body = {"contact": contact.pk, "type": "page_visit"}

    def send():
        from django.test import Client

        extra = {"HTTP_IDEMPOTENCY_KEY": "same"}
        response = Client().post(ONE, body, content_type="application/json", **api.headers, **extra)
        return response.status_code, response.json()["id"]

    statuses, errors = together(send)
    assert not errors and [s for s, _ in statuses] == [201, 201] and len({i for _, i in statuses}) == 1
    assert Activity.objects.count() == 1


def test_a_key_is_forgotten_after_api_idempotency_days(admin_api):
    contact = ContactFactory()
    body = {"contact": contact.pk, "type": "page_visit"}
    assert post(admin_api, ONE, body, key="old").status_code == 201
    assert post(admin_api, ONE, body, key="other").status_code == 201
    IdempotentRequest.objects.filter(key="old").update(created_at=timezone.now() - dt.timedelta(days=8))
    IdempotentRequest.objects.filter(key="other").update(created_at=timezone.now() - dt.timedelta(days=9))
    again = post(admin_api, ONE, body, key="old")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert Activity.objects.count() == 3
    assert list(IdempotentRequest.objects.values_list("key", flat=True)) == ["old"]  # the other expired one pruned
