"""Coalesced wake-ups of the re-check worker: a burst of committed changes queues one drain, and every
change of the burst is still re-checked by it; a change after the drain started queues the next."""

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts import services as contact_services
from contacts.models import ActivityType
from segments import rechecks
from segments.models import Membership, PendingRecheck, RecheckWake
from segments.recheck_wake import DRAIN_TASK, WAKE_STALE_AFTER
from tests.factories import ContactFactory, ContactGroupFactory

pytestmark = pytest.mark.django_db

OPENED = {"version": 1, "root": {"type": "activity", "activity": "email_open"}}


@pytest.fixture
def queued(monkeypatch):
    """The drains queued with the broker (the worker is busy: none runs by itself)."""
    calls = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: calls.append(a))
    return calls


def test_a_burst_of_writes_queues_one_wake_up_and_every_change_is_rechecked(queued, django_capture_on_commit_callbacks):
    group = ContactGroupFactory(code="openers", is_condition_based=True, condition=OPENED)
    contacts = [ContactFactory() for _ in range(20)]
    for contact in contacts:  # twenty separate transactions, each committed with its note
        with django_capture_on_commit_callbacks(execute=True):
            contact_services.activity_record(contact=contact, type=ActivityType.EMAIL_OPEN)
    assert queued == [(DRAIN_TASK,)]  # one wake-up for the burst
    assert PendingRecheck.objects.count() == 20  # every change noted
    assert rechecks.rechecks_drain() == 20  # the one drain re-checks them all
    assert set(Membership.objects.filter(group=group).values_list("contact_id", flat=True)) == {c.pk for c in contacts}
    assert not RecheckWake.objects.get().pending

    late = ContactFactory()  # after the drain started, a change queues the next drain
    with django_capture_on_commit_callbacks(execute=True):
        contact_services.activity_record(contact=late, type=ActivityType.EMAIL_OPEN)
    assert queued == [(DRAIN_TASK,)] * 2


def test_a_drain_pending_for_too_long_is_queued_again(queued, django_capture_on_commit_callbacks):
    contact = ContactFactory()
    with django_capture_on_commit_callbacks(execute=True):
        contact_services.activity_record(contact=contact, type=ActivityType.EMAIL_OPEN)
    RecheckWake.objects.update(queued_at=timezone.now() - WAKE_STALE_AFTER - timedelta(seconds=1))  # task lost
    with django_capture_on_commit_callbacks(execute=True):
        contact_services.activity_record(contact=contact, type=ActivityType.EMAIL_OPEN)
    with django_capture_on_commit_callbacks(execute=True):
        contact_services.activity_record(contact=contact, type=ActivityType.EMAIL_OPEN)
    assert len(queued) == 2


def test_a_broker_failure_after_the_flag_is_set_is_healed_by_the_next_drain(
    monkeypatch, django_capture_on_commit_callbacks
):
    calls = []

    def broker_down(*args, **kwargs):
        calls.append(args)
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr("django_q.tasks.async_task", broker_down)
    contact = ContactFactory()
    with django_capture_on_commit_callbacks(execute=True):
        contact_services.activity_record(contact=contact, type=ActivityType.EMAIL_OPEN)  # no error for the user
    assert len(calls) == 1 and PendingRecheck.objects.filter(contact_id=contact.pk).exists()
    rechecks.rechecks_drain()  # the 5-minute schedule
    assert not PendingRecheck.objects.exists() and not RecheckWake.objects.get().pending


def test_the_claim_is_won_once_until_a_drain_clears_it():
    from segments.recheck_wake import _wake_claim, _wake_clear

    assert _wake_claim() is True  # the row is created
    assert _wake_claim() is False  # a drain is pending: read only
    _wake_clear()
    assert _wake_claim() is True
