"""Every service that changes contacts sends one `contacts_changed` signal, inside its transaction, with all ids."""

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from contacts import services
from contacts.models import Contact
from contacts.signals import contacts_changed, send_contacts_changed
from tests.factories import AccountFactory, ActivityFactory, ConsentFactory, ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def received():
    calls = []

    def receiver(sender, contact_ids, reason, **kwargs):
        calls.append((reason, contact_ids))

    contacts_changed.connect(receiver, weak=False)
    yield calls
    contacts_changed.disconnect(receiver)


def run(capture, fn, **kwargs):
    with capture(execute=True) as callbacks:
        result = fn(**kwargs)
    return result, callbacks


def test_sent_inside_the_transaction_of_the_change():
    """Receivers note work in the changing transaction, so the change and the note commit together."""
    seen = []

    def receiver(sender, contact_ids, reason, **kwargs):
        connection = transaction.get_connection()
        seen.append((connection.in_atomic_block, list(Contact.objects.filter(pk__in=contact_ids).values_list("email"))))

    contacts_changed.connect(receiver, weak=False)
    try:
        services.contact_create(email="a@example.com")
    finally:
        contacts_changed.disconnect(receiver)
    assert seen == [(True, [("a@example.com",)])]


@pytest.mark.django_db(transaction=True)
def test_sending_outside_a_transaction_is_refused(received):
    contact = ContactFactory()
    with pytest.raises(RuntimeError, match="inside the transaction"):
        send_contacts_changed(contact_ids=[contact.pk], reason="updated")
    assert received == []


def test_failed_validation_sends_nothing(received, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
        services.contact_create(email="not an email")
    assert received == []


def test_each_service_sends_its_reason_and_ids(received, django_capture_on_commit_callbacks):
    cap = django_capture_on_commit_callbacks
    contact, _ = run(cap, services.contact_create, email="a@example.com")
    run(cap, services.contact_update, contact=contact, first_name="Ada")
    account = AccountFactory()
    run(cap, services.contact_update, contact=contact, account=account)
    run(cap, services.activity_record, contact=contact, type="page_visit", url="https://x.example")
    consent = ConsentFactory()
    run(cap, services.consent_agree, contact=contact, consent=consent)
    run(cap, services.consent_revoke, contact=contact, consent=consent)
    other = ContactFactory()
    grandchild = ContactFactory(merged_into=other)
    run(cap, services.contact_merge, parent=contact, child=other)
    run(cap, services.contact_delete, contact=contact)
    assert received == [
        ("created", [contact.pk]),
        ("updated", [contact.pk]),
        ("account", [contact.pk]),
        ("activity", [contact.pk]),
        ("consent", [contact.pk]),
        ("consent", [contact.pk]),
        ("merged", sorted([contact.pk, other.pk, grandchild.pk])),
        ("deleted", sorted([contact.pk, other.pk, grandchild.pk])),
    ]


def test_bulk_services_send_one_signal_with_all_ids(received, django_capture_on_commit_callbacks):
    cap = django_capture_on_commit_callbacks
    contacts = ContactFactory.create_batch(3)
    ids = sorted(c.pk for c in contacts)
    account = AccountFactory()
    run(cap, services.contacts_assign_account, contact_ids=ids, account=account)
    run(cap, services.account_remove_contact, account=account, contact=contacts[0])
    run(cap, services.account_add_contacts, account=account, contact_ids=ids)
    run(cap, services.account_update, account=account, name="Renamed")
    run(cap, services.account_delete, account=account)
    run(cap, services.contacts_delete, contact_ids=ids)
    assert received == [
        ("account", ids),
        ("account", [contacts[0].pk]),
        ("account", [contacts[0].pk]),  # only the one that changed
        ("account", ids),
        ("account", ids),
        ("deleted", ids),
    ]


def test_no_signal_when_nothing_changed(received, django_capture_on_commit_callbacks):
    cap = django_capture_on_commit_callbacks
    contact = ContactFactory()
    account = AccountFactory()
    run(cap, services.account_remove_contact, account=account, contact=contact)
    run(cap, services.consent_revoke, contact=contact, consent=ConsentFactory())
    run(cap, services.contacts_assign_account, contact_ids=[], account=account)
    ActivityFactory(contact=contact)  # factories bypass services: no signal
    assert received == []


def test_signal_through_the_page(marketer_client, received, django_capture_on_commit_callbacks):
    contact = ContactFactory()
    with django_capture_on_commit_callbacks(execute=True):
        marketer_client.post(
            f"/contacts/{contact.pk}/edit/", {"first_name": "New", "email": contact.email, "lead_score": 1}
        )
    assert received == [("updated", [contact.pk])]
