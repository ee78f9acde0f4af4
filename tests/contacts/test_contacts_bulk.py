"""The set-based contact writes imports use: upsert (create and update), restore, a lost race on an email."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from contacts import selectors
from contacts import services as contact_services
from contacts.models import Contact
from contacts.services import ContactUpsert
from tests.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db


def test_upsert_writes_exact_values_and_the_time_given_and_merges_custom():
    now = timezone.now() - dt.timedelta(hours=3)
    old = ContactFactory(email="old@x.cz", first_name="Old", country="AT", lead_score=4, custom={"a": 1, "b": "x"})
    outcomes = contact_services.contacts_upsert(
        rows=[
            ContactUpsert("NEW@x.cz", {"first_name": "Nová", "country": "CZ", "lead_score": 7}, {"a": [1, 2]}),
            ContactUpsert("old@X.cz ", {"first_name": "Old", "country": "DE"}, {"b": None, "c": True}),
            ContactUpsert(None, {"city": "Brno"}, {}),
        ],
        now=now,
    )
    assert [o.outcome for o in outcomes] == ["created", "updated", "created"]
    new = Contact.objects.get(pk=outcomes[0].contact_id)
    assert (new.email, new.first_name, new.country.code, new.lead_score, new.custom) == (
        "NEW@x.cz",
        "Nová",
        "CZ",
        7,
        {"a": [1, 2]},
    )
    assert new.created_at == new.updated_at == now and new.account is None and new.merged_into is None
    anonymous = Contact.objects.get(pk=outcomes[2].contact_id)
    assert (anonymous.email, anonymous.city, anonymous.lead_score, anonymous.custom) == (None, "Brno", 0, {})
    old.refresh_from_db()
    assert old.country == "DE" and old.updated_at == now
    assert old.custom == {"a": 1, "b": None, "c": True}  # merged, not replaced
    assert outcomes[1].previous == {"country": "AT", "custom": {"b": "x", "c": None}}

    restored = contact_services.contacts_restore(previous={old.pk: outcomes[1].previous})
    assert restored == 1
    old.refresh_from_db()
    assert old.country == "AT" and old.custom == {"a": 1, "b": "x"} and old.updated_at > now


def test_a_lost_race_on_an_email_is_a_validation_error_and_writes_nothing(monkeypatch):
    ContactFactory(email="taken@x.cz")
    monkeypatch.setattr(
        selectors, "contact_ids_by_email", lambda *, emails: {}
    )  # the lookup ran before the other writer
    count = Contact.objects.count()
    with pytest.raises(ValidationError):
        contact_services.contacts_upsert(rows=[ContactUpsert("new@x.cz", {}, {}), ContactUpsert("TAKEN@x.cz", {}, {})])
    assert Contact.objects.count() == count


def test_bulk_insert_takes_an_account():
    from contacts.services import bulk

    account = AccountFactory()
    now = timezone.now()
    [pk] = bulk.contacts_rows_insert(
        rows=[{"email": "a@x.cz", "account": account, "created_at": now, "updated_at": now}]
    )
    assert Contact.objects.get(pk=pk).account == account


def test_columns_write_outside_a_transaction_opens_one(transactional_db):
    from contacts.services import bulk

    contact = ContactFactory(city="Brno")
    contact.city = "Praha"
    bulk.contacts_columns_write(contacts=[contact], names=["city"])
    assert Contact.objects.get(pk=contact.pk).city == "Praha"


def test_updating_many_contacts_reads_each_once(django_assert_max_num_queries):
    """The existing contacts are read with the fields an upsert compares and writes only (`.only`): no field is
    fetched again per contact when it is compared or written."""
    people = ContactFactory.create_batch(40, country="AT", custom={"a": 1})
    rows = [
        ContactUpsert(c.email.upper(), {"city": "Brno", "country": "CZ", "phone": "+420 1"}, {"a": 2}) for c in people
    ]
    with django_assert_max_num_queries(15):
        outcomes = contact_services.contacts_upsert(rows=rows)
    assert {o.outcome for o in outcomes} == {"updated"}
    assert {(c.city, c.country.code, c.phone, c.custom["a"]) for c in Contact.objects.all()} == {
        ("Brno", "CZ", "+420 1", 2)
    }
