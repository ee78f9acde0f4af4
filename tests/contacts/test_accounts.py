"""Accounts: list (filters, contact counts, sorting), detail, create/edit/delete, add/remove contacts."""

import pytest
from django.urls import reverse

from contacts.models import Account, Contact
from tests.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db
LIST = reverse("contacts:account_list")


def listed(client, **params):
    response = client.get(LIST, params)
    assert response.status_code == 200
    return [a.pk for a in response.context["object_list"]]


def test_list_filters_and_contact_counts(marketer_client):
    acme = AccountFactory(name="Acme", domain="acme.example", country="DE", industry="Retail")
    globex = AccountFactory(name="Globex", domain="globex.example", country="CZ", industry="Energy")
    ContactFactory.create_batch(2, account=acme)
    ContactFactory(account=acme, merged_into=ContactFactory())  # merged contacts are not counted
    assert listed(marketer_client, q="glob") == [globex.pk]
    assert listed(marketer_client, q="ACME.EXAMPLE") == [acme.pk]
    assert listed(marketer_client, country="DE") == [acme.pk]
    assert listed(marketer_client, industry="Energy") == [globex.pk]
    response = marketer_client.get(LIST)
    counts = {a.pk: a.contact_count for a in response.context["object_list"]}
    assert counts == {acme.pk: 2, globex.pk: 0}
    industries = [value for value, _ in response.context["filterset"].form.fields["industry"].choices if value]
    assert industries == ["Energy", "Retail"]


def test_list_sorting_and_empty_states(marketer_client):
    content = marketer_client.get(LIST).content.decode()
    assert "No accounts yet" in content and reverse("contacts:account_create") in content
    small = AccountFactory(name="Zeta", employees=5)
    big = AccountFactory(name="Alpha", employees=500)
    ContactFactory.create_batch(2, account=small)
    assert listed(marketer_client) == [big.pk, small.pk]
    assert listed(marketer_client, sort="-employees") == [big.pk, small.pk]
    assert listed(marketer_client, sort="employees") == [small.pk, big.pk]
    assert listed(marketer_client, sort="-contacts") == [small.pk, big.pk]
    content = marketer_client.get(LIST, {"q": "nothing"}).content.decode()
    assert "No accounts match these filters" in content


def test_unknown_employee_count_is_a_dash_not_none(marketer_client):
    unknown = AccountFactory(name="Unknown size", employees=None)
    AccountFactory(name="Big", employees=12000)
    content = marketer_client.get(LIST).content.decode()
    assert "None" not in content
    assert '<td class="text-end d-none d-sm-table-cell"><span class="text-body-tertiary">—</span></td>' in content
    assert '<td class="text-end d-none d-sm-table-cell">12,000</td>' in content
    detail = marketer_client.get(reverse("contacts:account_detail", args=[unknown.pk])).content.decode()
    assert "<dt>Employees</dt><dd>—</dd>" in detail and "None" not in detail


def test_detail_lists_contacts_paginated(marketer_client):
    account = AccountFactory(name="Acme")
    ContactFactory.create_batch(27, account=account)
    ContactFactory()
    response = marketer_client.get(reverse("contacts:account_detail", args=[account.pk]))
    assert response.status_code == 200
    assert len(response.context["contacts"]) == 25
    assert response.context["page_obj"].paginator.count == 27
    content = response.content.decode()
    assert "Add contacts to this account" in content and f"not_account={account.pk}" in content


def test_create_edit_account_with_validation(marketer_client):
    response = marketer_client.post(
        reverse("contacts:account_create"),
        {"name": "Acme", "domain": "https://www.Acme.example/about", "industry": " Retail ", "country": "DE"},
    )
    account = Account.objects.get()
    assert response.status_code == 302 and response.url == account.get_absolute_url()
    assert account.domain == "acme.example" and account.industry == "Retail"
    bad = marketer_client.post(
        reverse("contacts:account_update", args=[account.pk]), {"name": "", "domain": "not a domain", "employees": "-3"}
    )
    assert bad.status_code == 200 and set(bad.context["form"].errors) == {"name", "domain", "employees"}
    account.refresh_from_db()
    assert account.name == "Acme"


def test_delete_keeps_contacts_unlinked(marketer_client):
    account = AccountFactory()
    contacts = ContactFactory.create_batch(2, account=account)
    url = reverse("contacts:account_delete", args=[account.pk])
    assert "2 contacts will be kept" in marketer_client.get(url).content.decode()
    assert marketer_client.post(url).status_code == 302
    assert not Account.objects.exists()
    assert set(Contact.objects.filter(account__isnull=True).values_list("pk", flat=True)) == {c.pk for c in contacts}


def test_add_and_remove_contacts(marketer_client):
    account = AccountFactory()
    a, b = ContactFactory(), ContactFactory()
    add = reverse("contacts:account_add_contacts", args=[account.pk])
    response = marketer_client.post(add, {"contacts": [a.pk, b.pk]})
    assert response.status_code == 302
    assert set(account.contacts.values_list("pk", flat=True)) == {a.pk, b.pk}
    marketer_client.post(reverse("contacts:account_remove_contact", args=[account.pk, a.pk]))
    assert set(account.contacts.values_list("pk", flat=True)) == {b.pk}
    assert Contact.objects.filter(pk=a.pk, account__isnull=True).exists()
    response = marketer_client.post(add, {"contacts": ["999999"]}, follow=True)
    assert "Select a valid choice" in response.content.decode()


def test_staff_sees_no_delete_button(staff_client):
    account = AccountFactory()
    content = staff_client.get(reverse("contacts:account_detail", args=[account.pk])).content.decode()
    assert reverse("contacts:account_delete", args=[account.pk]) not in content
    assert reverse("contacts:account_update", args=[account.pk]) in content
