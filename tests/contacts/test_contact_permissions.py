"""Every contact and account view, for Marketer / Admin / Staff / anonymous, and the JSON search endpoints."""

import pytest
from django.urls import reverse

from contacts.models import Contact
from contacts.roles import Role
from tests.conftest import make_user
from tests.factories import AccountFactory, ConsentFactory, ContactFactory

pytestmark = pytest.mark.django_db

OK, DENIED, LOGIN = 200, 403, 302
# (method, url name, kind of object for the pk) → expected status for (Marketer, Admin, Staff)
CASES = [
    ("get", "contacts:contact_list", None, (OK, OK, OK)),
    ("get", "contacts:contact_detail", "contact", (OK, OK, OK)),
    ("get", "contacts:contact_activities", "contact", (OK, OK, OK)),
    ("get", "contacts:contact_create", None, (OK, OK, OK)),
    ("get", "contacts:contact_update", "contact", (OK, OK, OK)),
    ("get", "contacts:contact_delete", "contact", (OK, OK, DENIED)),
    ("get", "contacts:contact_merge", "contact", (OK, OK, DENIED)),
    ("post", "contacts:contact_consent", "consent", (302, 302, DENIED)),
    ("post", "contacts:contact_bulk", None, (302, 302, 302)),
    ("get", "contacts:contact_search", None, (OK, OK, OK)),
    ("get", "contacts:account_list", None, (OK, OK, OK)),
    ("get", "contacts:account_detail", "account", (OK, OK, OK)),
    ("get", "contacts:account_create", None, (OK, OK, OK)),
    ("get", "contacts:account_update", "account", (OK, OK, OK)),
    ("get", "contacts:account_delete", "account", (OK, OK, DENIED)),
    ("post", "contacts:account_add_contacts", "account", (302, 302, 302)),
    ("post", "contacts:account_remove_contact", "account_contact", (302, 302, 302)),
    ("get", "contacts:account_search", None, (OK, OK, OK)),
]


def url_for(name, kind, contact, account, consent):
    args = {
        None: [],
        "contact": [contact.pk],
        "account": [account.pk],
        "consent": [contact.pk, consent.pk],
        "account_contact": [account.pk, contact.pk],
    }[kind]
    return reverse(name, args=args)


@pytest.mark.parametrize(("method", "name", "kind", "expected"), CASES, ids=[c[1] for c in CASES])
def test_view_status_per_role(client, method, name, kind, expected):
    account = AccountFactory()
    contact = ContactFactory(account=account)
    consent = ConsentFactory()
    url = url_for(name, kind, contact, account, consent)
    data = {"contacts:contact_consent": {"action": "agree"}, "contacts:contact_bulk": {"action": "assign_account"}}.get(
        name, {}
    )
    response = getattr(client, method)(url, data)
    assert response.status_code == LOGIN and response.url.startswith(reverse("login"))
    for role, status in zip([Role.MARKETER, Role.ADMIN, Role.STAFF], expected, strict=True):
        client.force_login(make_user(role))
        response = getattr(client, method)(url, data)
        assert response.status_code == status, (role, name)


def test_post_deletes_are_refused_for_staff(staff_client):
    account = AccountFactory()
    contact = ContactFactory(account=account)
    assert staff_client.post(reverse("contacts:contact_delete", args=[contact.pk])).status_code == 403
    assert staff_client.post(reverse("contacts:account_delete", args=[account.pk])).status_code == 403
    assert staff_client.post(reverse("contacts:contact_merge", args=[contact.pk]), {"other": 1}).status_code == 403
    assert Contact.objects.filter(pk=contact.pk, account=account).exists()


def test_user_without_role_gets_403(client):
    client.force_login(make_user(None, username="nobody"))
    assert client.get(reverse("contacts:contact_list")).status_code == 403
    assert client.get(reverse("contacts:contact_search")).status_code == 403


def test_staff_list_has_no_delete_but_has_new_contact(staff_client):
    ContactFactory()
    content = staff_client.get(reverse("contacts:contact_list")).content.decode()
    assert reverse("contacts:contact_create") in content and 'value="delete"' not in content


# --- JSON search for pickers --------------------------------------------------------------------


def test_contact_search_json(marketer_client):
    ada = ContactFactory(first_name="Ada", last_name="Lovelace", email="ada@example.com")
    anon = ContactFactory(first_name="Ada", last_name="", email=None)
    ContactFactory(first_name="Ada", merged_into=ada)  # merged: never offered
    ContactFactory.create_batch(25, first_name="Adam")
    url = reverse("contacts:contact_search")
    results = marketer_client.get(url, {"q": "lovelace"}).json()["results"]
    assert results == [{"id": ada.pk, "text": "Ada Lovelace <ada@example.com>"}]
    assert len(marketer_client.get(url, {"q": "ada"}).json()["results"]) == 20
    ids = {r["id"] for r in marketer_client.get(url, {"q": "ada", "exclude": ada.pk}).json()["results"]}
    assert ada.pk not in ids and anon.pk in ids


def test_contact_search_can_exclude_an_accounts_contacts(marketer_client):
    account = AccountFactory()
    inside = ContactFactory(first_name="Zed", account=account)
    outside = ContactFactory(first_name="Zed")
    results = marketer_client.get(reverse("contacts:contact_search"), {"q": "zed", "not_account": account.pk}).json()
    assert [r["id"] for r in results["results"]] == [outside.pk]
    assert inside.pk != outside.pk


def test_account_search_json(marketer_client):
    acme = AccountFactory(name="Acme", domain="acme.example")
    AccountFactory(name="Globex", domain="globex.example")
    results = marketer_client.get(reverse("contacts:account_search"), {"q": "acm"}).json()["results"]
    assert results == [{"id": acme.pk, "text": "Acme (acme.example)"}]
