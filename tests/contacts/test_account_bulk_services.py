"""Accounts and account links in bulk (the imports' services): what they write, what they tell, what they refuse."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from contacts import services
from contacts.models import Account, Contact
from contacts.selectors import account_index, domain_key
from contacts.signals import contacts_changed
from tests.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def received():
    calls = []

    def receiver(sender, contact_ids, reason, bulk=False, **kwargs):
        calls.append((reason, contact_ids, bulk))

    contacts_changed.connect(receiver, weak=False)
    yield calls
    contacts_changed.disconnect(receiver)


def test_link_accounts_writes_only_changes_and_tells_once(received):
    a, b = AccountFactory(), AccountFactory()
    same, moved, new = ContactFactory(account=a), ContactFactory(account=a), ContactFactory(account=None)
    before = Contact.objects.get(pk=same.pk).updated_at
    previous = services.contacts_link_accounts(links={same.pk: a.pk, moved.pk: b.pk, new.pk: a.pk}, bulk=True)
    assert previous == {moved.pk: a.pk, new.pk: None}
    accounts = dict(Contact.objects.values_list("pk", "account_id"))
    assert accounts == {same.pk: a.pk, moved.pk: b.pk, new.pk: a.pk}
    assert Contact.objects.get(pk=same.pk).updated_at == before
    assert Contact.objects.get(pk=moved.pk).updated_at > before
    assert received == [("account", sorted([moved.pk, new.pk]), True)]


def test_accounts_upsert_creates_updates_and_leaves_unchanged(received):
    acme = AccountFactory(name="Acme", industry="Software", employees=10, country="CZ")
    same = AccountFactory(name="Same", industry="Retail")
    contact = ContactFactory(account=acme)
    outcomes = services.accounts_upsert(
        rows=[
            services.AccountUpsert(None, {"name": "New", "country": "DE"}),
            services.AccountUpsert(acme.pk, {"employees": 20, "country": "SK"}),
            services.AccountUpsert(same.pk, {"industry": "Retail"}),
        ]
    )
    new = Account.objects.get(name="New")
    assert [(o.contact_id, o.outcome, o.previous) for o in outcomes] == [
        (new.pk, "created", None),
        (acme.pk, "updated", {"employees": 10, "country": "CZ"}),
        (same.pk, "unchanged", None),
    ]
    acme.refresh_from_db()
    assert (acme.employees, acme.country, acme.industry) == (20, "SK", "Software")
    assert received == [("account", [contact.pk], False)]  # rules on account.* re-check its contacts


def test_accounts_upsert_refuses_unknown_fields_nameless_accounts_and_deleted_ones():
    with pytest.raises(TypeError):
        services.accounts_upsert(rows=[services.AccountUpsert(None, {"name": "X", "owner": "me"})])
    with pytest.raises(ValidationError):
        services.accounts_upsert(rows=[services.AccountUpsert(None, {"industry": "X"})])
    gone = AccountFactory()
    gone_pk = gone.pk
    gone.delete()
    with pytest.raises(ValidationError):
        services.accounts_upsert(rows=[services.AccountUpsert(gone_pk, {"industry": "X"})])
    assert not Account.objects.exists()


def test_account_index_by_loose_name_and_domain():
    a = AccountFactory(name="Škoda  Auto", domain="https://www.skoda-auto.cz/en")
    b = AccountFactory(name="skoda auto", domain="")
    index = account_index()
    assert index.by_name == {"skoda auto": [a.pk, b.pk]}
    assert index.by_domain == {"skoda-auto.cz": [a.pk]}
    assert domain_key("mailto:ann@Example.COM") == "example.com"
    assert domain_key("http://www.acme.com:8080/x?y") == "acme.com"
