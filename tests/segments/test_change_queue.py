"""A contact change and the note that its memberships need a re-check commit together (durable queue)."""

import pytest
from django.db import transaction

from contacts import services as contact_services
from contacts.models import Account, Contact
from segments import rechecks, tasks
from segments.models import Membership, PendingGroupRefresh, PendingRecheck
from tests.factories import AccountFactory, ContactFactory, ContactGroupFactory

pytestmark = pytest.mark.django_db(transaction=True)

CZ = {"version": 1, "root": {"type": "field", "field": "country", "operator": "equals", "value": "CZ"}}
AT_ACME = {"version": 1, "root": {"type": "field", "field": "account.name", "operator": "equals", "value": "Acme"}}


@pytest.fixture
def crash_after_commit(monkeypatch):
    """Every on-commit callback is lost: the process died right after COMMIT, before queueing anything."""
    lost = []
    monkeypatch.setattr(transaction, "on_commit", lambda func, using=None, robust=False: lost.append(func))
    return lost


def members(group):
    return set(Membership.objects.filter(group=group).values_list("contact_id", flat=True))


@pytest.mark.usefixtures("no_drift")
def test_a_change_survives_a_crash_between_commit_and_queue(crash_after_commit):
    group = ContactGroupFactory(code="czechs", is_condition_based=True, condition=CZ)
    contact = ContactFactory(country="DE")
    contact_services.contact_update(contact=contact, country="CZ")
    assert crash_after_commit, "the wake-up was to be queued on commit"
    assert set(PendingRecheck.objects.values_list("contact_id", flat=True)) == {contact.pk}
    assert members(group) == set()
    tasks.drain_rechecks()  # the 5-minute schedule after the restart
    assert members(group) == {contact.pk}
    assert not PendingRecheck.objects.exists()


def test_a_rolled_back_change_leaves_no_note():
    ContactGroupFactory(code="czechs", is_condition_based=True, condition=CZ)
    contact = ContactFactory(country="DE")
    with pytest.raises(RuntimeError), transaction.atomic():
        contact_services.contact_update(contact=contact, country="CZ")
        assert PendingRecheck.objects.filter(contact_id=contact.pk).exists()  # noted inside the transaction
        raise RuntimeError("the request failed after the change")
    assert not PendingRecheck.objects.exists()


@pytest.mark.usefixtures("no_drift")
def test_a_broker_that_is_down_loses_nothing(monkeypatch):
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr("django_q.tasks.async_task", broker_down)
    group = ContactGroupFactory(code="czechs", is_condition_based=True, condition=CZ)
    contact = contact_services.contact_create(email="jana@example.com", country="CZ")  # no error for the user
    assert members(group) == set()
    rechecks.rechecks_drain()
    assert members(group) == {contact.pk}


@pytest.mark.usefixtures("no_drift")
def test_a_bulk_change_notes_one_group_refresh_in_its_transaction(crash_after_commit, monkeypatch):
    monkeypatch.setattr(rechecks, "BULK_REBUILD_THRESHOLD", 3)
    group = ContactGroupFactory(code="at_acme", is_condition_based=True, condition=AT_ACME)
    acme = AccountFactory(name="Acme")
    contacts = ContactFactory.create_batch(5)
    contact_services.contacts_assign_account(contact_ids=[c.pk for c in contacts], account=acme)
    assert list(PendingGroupRefresh.objects.values_list("kinds", flat=True)) == [["account"]]
    assert not PendingRecheck.objects.exists()
    tasks.drain_rechecks()
    assert members(group) == {c.pk for c in contacts}
    assert not PendingGroupRefresh.objects.exists()


@pytest.mark.usefixtures("no_drift")
def test_a_failed_group_refresh_keeps_its_note_for_the_next_drain(crash_after_commit, monkeypatch):
    monkeypatch.setattr(rechecks, "BULK_REBUILD_THRESHOLD", 3)
    group = ContactGroupFactory(code="at_acme", is_condition_based=True, condition=AT_ACME)
    acme = AccountFactory(name="Acme")
    contacts = ContactFactory.create_batch(4)
    contact_services.contacts_assign_account(contact_ids=[c.pk for c in contacts], account=acme)
    real = rechecks.groups_refresh_after_bulk_change

    def fail_once(**kwargs):
        monkeypatch.setattr(rechecks, "groups_refresh_after_bulk_change", real)
        raise RuntimeError("the worker was killed")

    monkeypatch.setattr(rechecks, "groups_refresh_after_bulk_change", fail_once)
    with pytest.raises(RuntimeError):
        rechecks.rechecks_drain()
    assert PendingGroupRefresh.objects.count() == 1
    rechecks.rechecks_drain()
    assert members(group) == set(
        Contact.objects.filter(account__in=Account.objects.filter(name="Acme")).values_list("pk", flat=True)
    )
    assert not PendingGroupRefresh.objects.exists()
