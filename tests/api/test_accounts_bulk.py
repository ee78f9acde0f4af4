"""POST /api/v1/accounts/upsert/ and /api/v1/accounts/bulk/: matched and checked by the account import's own rules,
all or nothing, one transaction, a report per item."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import override_settings

from api.models import TokenScope
from contacts.models import Account
from contacts.roles import Role
from contacts.signals import contacts_changed
from tests.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db

BULK = "/api/v1/accounts/bulk/"
ONE = "/api/v1/accounts/upsert/"


def test_bulk_creates_updates_by_name_or_domain_and_leaves_unchanged(admin_api):
    acme = AccountFactory(name="Acme Corp", domain="acme.com", industry="Software", employees=10)
    globex = AccountFactory(name="Globex", domain="globex.example", industry="Energy", employees=5)
    kept = AccountFactory(name="Kept Ltd", domain="kept.example", industry="Retail", country="DE", employees=7)
    contact = ContactFactory(account=acme)
    ContactFactory(account=kept)
    notes = []

    def note(sender, **kwargs):
        notes.append((kwargs["reason"], sorted(kwargs["contact_ids"])))

    contacts_changed.connect(note)
    try:
        response = admin_api.post(
            BULK,
            {
                "accounts": [
                    {"name": "ACME  corp", "employees": 1200, "industry": None},  # by name, ignoring case/spaces
                    {"name": "Initech", "domain": "https://www.Initech.com/about", "country": "Czechia"},
                    {"name": "Globex Corporation", "domain": "globex.example"},  # no such name: by domain
                    {"name": "Kept Ltd", "industry": "", "country": "Germany", "employees": 7},
                ]
            },
        )
    finally:
        contacts_changed.disconnect(note)
    assert response.status_code == 200, response.json()
    body = response.json()
    initech = Account.objects.get(name="Initech")
    assert (body["created"], body["updated"], body["unchanged"]) == (1, 2, 1)
    assert body["results"] == [
        {"index": 0, "status": "updated", "id": acme.pk, "errors": []},
        {"index": 1, "status": "created", "id": initech.pk, "errors": []},
        {"index": 2, "status": "updated", "id": globex.pk, "errors": []},
        {"index": 3, "status": "unchanged", "id": kept.pk, "errors": []},
    ]
    acme.refresh_from_db()
    globex.refresh_from_db()
    # The name sent is stored (spacing tidied, as an import stores it); null left the industry as it was.
    assert (acme.name, acme.employees, acme.industry) == ("ACME corp", 1200, "Software")
    assert (initech.domain, initech.country) == ("initech.com", "CZ")
    assert (globex.name, globex.employees) == ("Globex Corporation", 5)
    # One change for the whole request: the contacts of the changed accounts are re-checked (rules on account.*).
    assert notes == [("account", [contact.pk])]


def test_bulk_is_all_or_nothing_with_every_problem_by_path(admin_api):
    AccountFactory(name="Twin", industry="A")
    AccountFactory(name="TWIN", industry="B")
    before = set(Account.objects.values_list("pk", "name", "industry"))
    response = admin_api.post(
        BULK,
        {
            "accounts": [
                {"name": "Good", "employees": 3},
                {"name": "Bad", "country": "Atlantis", "domain": "not a domain"},
                {"name": "Twin", "industry": "C"},
                {"name": " ", "employees": 4},
                {"name": "Typo", "employes": 4},
                {"name": "Neg", "employees": -1},
            ]
        },
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == "validation_error"
    paths = [(d["path"], d["code"]) for d in body["error"]["details"]]
    assert paths == [
        ("accounts[1].domain", "invalid"),
        ("accounts[1].country", "invalid"),
        ("accounts[2].name", "invalid"),
        ("accounts[3].name", "invalid"),
        ("accounts[4].employes", "unknown_field"),
        ("accounts[5].employees", "min_value"),
    ]
    details = {d["path"]: d["message"] for d in body["error"]["details"]}
    assert details["accounts[1].country"].startswith("“Atlantis” is not a country we know")
    assert details["accounts[2].name"].startswith("2 accounts are named “Twin”")
    assert details["accounts[3].name"] == "No account name: every account needs one."
    assert [r["status"] for r in body["results"]] == ["valid", "error", "error", "error", "error", "error"]
    assert set(Account.objects.values_list("pk", "name", "industry")) == before


def test_two_items_naming_one_account_are_refused(admin_api):
    AccountFactory(name="Acme", domain="acme.com")
    response = admin_api.post(
        BULK, {"accounts": [{"name": "Acme"}, {"name": "Other"}, {"name": "Acme Two", "domain": "acme.com"}]}
    )
    assert response.status_code == 400
    (detail,) = response.json()["error"]["details"]
    assert detail == {
        "path": "accounts[2].name",
        "message": "Same account as accounts[0]: send each account once.",
        "code": "duplicate",
    }
    assert not Account.objects.filter(name="Other").exists()


@override_settings(API_MAX_BATCH=2)
def test_bulk_limit_and_shape(admin_api):
    response = admin_api.post(BULK, {"accounts": [{"name": "A"}, {"name": "B"}, {"name": "C"}]})
    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["path"]) == ("too_many", "accounts")
    assert admin_api.post(BULK, {"accounts": []}).json()["error"]["path"] == "accounts"
    response = admin_api.post(BULK, {"accounts": ["Acme"]})
    assert response.status_code == 400 and response.json()["error"]["path"] == "accounts[0]"
    assert not Account.objects.exists()


def test_bulk_with_an_idempotency_key_writes_once(admin_api):
    headers = {"HTTP_IDEMPOTENCY_KEY": "accounts-1"}
    first = admin_api.client.post(
        BULK, {"accounts": [{"name": "Once"}]}, content_type="application/json", **admin_api.headers, **headers
    )
    again = admin_api.client.post(
        BULK, {"accounts": [{"name": "Once"}]}, content_type="application/json", **admin_api.headers, **headers
    )
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Account.objects.filter(name="Once").count() == 1


def test_upsert_creates_then_updates_then_is_unchanged(marketer_api):
    created = marketer_api.post(ONE, {"name": "Umbrella", "domain": "umbrella.example", "employees": 40})
    assert created.status_code == 201, created.json()
    account = Account.objects.get(name="Umbrella")
    assert created.json()["outcome"] == "created"
    assert created.json()["account"]["id"] == account.pk
    assert created.json()["account"]["domain"] == "umbrella.example"
    updated = marketer_api.post(ONE, {"name": "umbrella", "industry": "Pharma", "country": "CZE"})
    assert updated.status_code == 200
    assert updated.json()["outcome"] == "updated"
    assert (updated.json()["account"]["industry"], updated.json()["account"]["country"]) == ("Pharma", "CZ")
    assert updated.json()["account"]["name"] == "umbrella"  # the name sent is stored, as an import stores it
    same = marketer_api.post(ONE, {"name": "Umbrella Corp", "domain": "umbrella.example", "industry": "Pharma"})
    assert same.json()["outcome"] == "updated" and same.json()["account"]["id"] == account.pk  # by domain
    again = marketer_api.post(ONE, {"name": "Umbrella Corp", "industry": "Pharma"})
    assert (again.status_code, again.json()["outcome"]) == (200, "unchanged")
    assert Account.objects.count() == 1


def test_upsert_errors_have_plain_paths(admin_api):
    AccountFactory(name="Twin")
    AccountFactory(name="twin")
    response = admin_api.post(ONE, {"name": "Acme", "employees": "many", "country": "Atlantis"})
    assert response.status_code == 400
    assert [d["path"] for d in response.json()["error"]["details"]] == ["employees"]
    response = admin_api.post(ONE, {"name": "Acme", "country": "Atlantis"})
    assert (response.json()["error"]["path"], response.status_code) == ("country", 400)
    response = admin_api.post(ONE, {"name": "Twin", "industry": "X"})
    assert response.json()["error"]["path"] == "name"
    assert admin_api.post(ONE, {"domain": "x.com"}).json()["error"]["path"] == "name"
    assert admin_api.post(ONE, [{"name": "x"}], raw=None).status_code == 400
    assert not Account.objects.filter(name="Acme").exists()


@pytest.mark.parametrize("role", [Role.MARKETER, Role.ADMIN, Role.STAFF], ids=lambda r: r.value)
def test_every_role_that_may_add_and_change_accounts_may_upsert(api_factory, role):
    api = api_factory(role)
    assert api.post(ONE, {"name": f"By {role.value}"}).status_code == 201
    assert api.post(BULK, {"accounts": [{"name": f"Bulk {role.value}"}]}).status_code == 200


def test_a_read_only_token_upserts_nothing(api_factory):
    api = api_factory(Role.ADMIN, TokenScope.READ)
    assert api.post(ONE, {"name": "No"}).status_code == 403
    assert api.post(BULK, {"accounts": [{"name": "No"}]}).status_code == 403
    assert not Account.objects.exists()


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_concurrent_upserts_of_one_new_name_create_one_account(client, roles):
    """Each request matches under the account-matching lock: the others find the account the first created."""
    from django.test import Client

    from tests.api.conftest import api_for

    api = api_for(client, Role.ADMIN)

    def race(path, name):
        barrier = threading.Barrier(4)
        outcomes = []

        def send(n):
            item = {"name": name.upper() if n % 2 else name, "employees": 10 + n}
            body = item if path == ONE else {"accounts": [item]}
            barrier.wait()
            response = Client().post(path, body, content_type="application/json", **api.headers)
            outcomes.append(response.status_code)
            connection.close()

        threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sorted(outcomes)

    assert race(ONE, "Acme  Ltd") == [200, 200, 200, 201]
    assert race(BULK, "Globex") == [200, 200, 200, 200]
    assert sorted(name.lower() for name in Account.objects.values_list("name", flat=True)) == ["acme ltd", "globex"]
