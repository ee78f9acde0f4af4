"""Malformed or out-of-range request values get a form error or a 400, never a 500 (on either database)."""

import pytest
from django.urls import reverse

from contacts.models import Account, Contact
from tests.factories import AccountFactory, ContactFactory, ContactFieldFactory

pytestmark = pytest.mark.django_db
HUGE = "99999999999999999999999"
LIST = reverse("contacts:contact_list")


@pytest.fixture
def data(db):
    ContactFieldFactory(code="budget", type="number")
    ContactFieldFactory(code="renewal", type="date")
    ContactFieldFactory(code="topics", type="multi_choice", choices=[{"code": "ai", "label": "AI"}])
    return ContactFactory(custom={"budget": 5, "renewal": "2025-01-01", "topics": ["ai"]})


@pytest.mark.parametrize(
    ("params", "error_field"),
    [
        ({"account": HUGE}, "account"),
        ({"account": "abc"}, "account"),
        ({"score_min": HUGE}, "score_min"),
        ({"score_max": "-" + HUGE}, "score_max"),
        ({"cf_budget_min": "1e400"}, "cf_budget_min"),
        ({"cf_budget_max": "-1e400"}, "cf_budget_max"),
        ({"cf_budget_min": "NaN"}, "cf_budget_min"),
        ({"cf_budget_min": "Infinity"}, "cf_budget_min"),
        ({"cf_topics": ["ai", "nope"]}, "cf_topics"),
        ({"country": "XX"}, "country"),
        ({"created_after": "0001-01-01"}, None),
        ({"created_before": "9999-12-31"}, None),
        ({"cf_renewal_from": "0001-01-01"}, None),
        ({"page": HUGE}, None),
        ({"q": "%_\\'\""}, None),
    ],
)
def test_list_survives_bad_parameters(marketer_client, data, params, error_field):
    response = marketer_client.get(LIST, params)
    assert response.status_code == 200
    errors = response.context["filterset"].form.errors
    assert (error_field in errors) if error_field else not errors


def test_search_and_timeline_parameters(marketer_client, data):
    search = marketer_client.get(reverse("contacts:contact_search"), {"exclude": HUGE, "not_account": HUGE, "q": "x"})
    assert search.status_code == 200
    timeline = reverse("contacts:contact_activities", args=[data.pk])
    assert marketer_client.get(timeline, {"offset": HUGE}).status_code == 400
    assert marketer_client.get(timeline, {"offset": "-1"}).status_code == 400


def test_posts_with_bad_ids_change_nothing(marketer_client, data):
    account = AccountFactory()
    bulk = reverse("contacts:contact_bulk")
    assert marketer_client.post(bulk, {"action": "delete", "ids": [HUGE]}).status_code == 302
    add = reverse("contacts:account_add_contacts", args=[account.pk])
    assert marketer_client.post(add, {"contacts": [HUGE, data.pk]}).status_code == 302
    merge = reverse("contacts:contact_merge", args=[data.pk])
    assert marketer_client.post(merge, {"other": HUGE}).status_code == 302
    assert marketer_client.get(merge, {"other": HUGE}).context["form"].errors["other"]
    assert Contact.objects.filter(pk=data.pk, account=None, merged_into=None).exists()


def test_out_of_range_numbers_in_forms(marketer_client):
    response = marketer_client.post(reverse("contacts:account_create"), {"name": "x", "employees": HUGE})
    assert response.status_code == 200 and "employees" in response.context["form"].errors
    response = marketer_client.post(reverse("contacts:contact_create"), {"lead_score": HUGE, "account": HUGE})
    assert response.status_code == 200
    assert {"lead_score", "account"} <= set(response.context["form"].errors)
    assert not Account.objects.exists() and not Contact.objects.exists()
