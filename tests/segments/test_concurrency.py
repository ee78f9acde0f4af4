"""A rebuild racing with contact updates loses no membership change (PostgreSQL: real concurrency)."""

import random

import pytest
from django.db import connection
from django_q.conf import Conf

from contacts import services as contact_services
from contacts.models import Contact
from segments import rebuilds
from segments.models import ContactGroup, Membership, PendingRecheck
from segments.rechecks import rechecks_drain
from segments.rules import matching_contacts
from tests.factories import ContactGroupFactory
from tests.threads import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CZ = {"version": 1, "root": {"type": "field", "field": "country", "operator": "equals", "value": "CZ"}}


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's concurrent writers (SQLite serializes every write)")


def test_rebuilds_racing_with_updates_and_rechecks_end_consistent(monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", True)  # each update's re-check runs in the updating thread, on commit
    group = ContactGroupFactory(code="cz", is_condition_based=True, condition=CZ)
    rng = random.Random(7)
    Contact.objects.bulk_create(
        [Contact(email=f"c{i}@example.com", country=rng.choice(["CZ", "DE"])) for i in range(20_000)]
    )
    contacts = list(Contact.objects.order_by("pk")[:300])
    rebuilds.group_rebuild(group=group)

    def rebuild_again():
        for _ in range(6):
            rebuilds.group_rebuild(group=ContactGroup.objects.get(pk=group.pk))

    def updates(seed):
        rng = random.Random(seed)
        for _ in range(40):
            contact = Contact.objects.get(pk=rng.choice(contacts).pk)
            contact_services.contact_update(contact=contact, country=rng.choice(["CZ", "DE", "SK"]))

    _, errors = race(rebuild_again, lambda: updates(1), lambda: updates(2))
    assert not errors, errors
    rechecks_drain()  # anything a failed or skipped task left behind
    expected = set(matching_contacts(CZ).values_list("pk", flat=True))
    stored = set(Membership.objects.filter(group=group, via_condition=True).values_list("contact_id", flat=True))
    assert stored == expected
    group.refresh_from_db()
    assert group.member_count == Membership.objects.filter(group=group).count()


def test_a_change_committed_while_a_drain_holds_the_contacts_note_is_rechecked_later(monkeypatch):
    """The interleaving: a drain claims a contact's note and judges the contact; the contact changes and commits
    before the drain deletes the note it claimed. The change's own note must outlive that drain."""
    import threading

    from segments import rechecks

    monkeypatch.setattr(rechecks, "_wake_worker", lambda: None)  # no drain but the test's own
    group = ContactGroupFactory(code="cz", is_condition_based=True, condition=CZ)
    contact = contact_services.contact_create(email="late@example.com", country="DE")
    assert rechecks_drain() == 1
    contact_services.contact_update(contact=Contact.objects.get(pk=contact.pk), city="Brno")  # a note to claim
    real_recheck = rechecks.contacts_recheck
    changed: list[BaseException | None] = []

    def change_meanwhile():
        try:
            contact_services.contact_update(contact=Contact.objects.get(pk=contact.pk), country="CZ")
            changed.append(None)
        except BaseException as exc:  # surfaced below
            changed.append(exc)
        finally:
            connection.close()

    def recheck_then_change(**kwargs):
        real_recheck(**kwargs)  # judged as DE: not a member
        if changed:  # once (this drain goes on to claim the change's own note)
            return
        thread = threading.Thread(target=change_meanwhile)  # commits before this drain deletes its claimed note
        thread.start()
        thread.join(timeout=30)
        assert not thread.is_alive(), "the change waited for the drain's transaction"

    monkeypatch.setattr(rechecks, "contacts_recheck", recheck_then_change)
    assert rechecks_drain() == 2  # the claimed notes, then (a batch after) the change's own
    assert changed == [None]
    assert Membership.objects.filter(group=group, contact=contact, via_condition=True).exists()
    assert not PendingRecheck.objects.exists()
