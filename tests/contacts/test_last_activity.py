"""The newest activity time in two places: an activity raises the narrow ActivityRise row, the fold copies the
rises onto the contact rows (`last_activity_at`); the exact value is the later of the two at every moment."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from contacts import services
from contacts.models import ActivityRise, Contact
from contacts.selectors import contacts_newest_activity
from tests.factories import ContactFactory

NOW = timezone.now().replace(microsecond=0)


def column(contact: Contact) -> dt.datetime | None:
    return Contact.objects.values_list("last_activity_at", flat=True).get(pk=contact.pk)


def test_an_activity_raises_the_rise_not_the_contact_row(db):
    contact = ContactFactory()
    services.activity_record(contact=contact, type="page_visit", occurred_at=NOW)
    assert column(contact) is None and ActivityRise.objects.get(contact=contact).at == NOW
    assert contact.newest_activity_at == NOW
    assert services.activity_rises_fold() == 1
    assert column(contact) == NOW and not ActivityRise.objects.exists()
    assert Contact.objects.get(pk=contact.pk).newest_activity_at == NOW
    assert services.activity_rises_fold() == 0  # nothing left to fold


def test_an_older_activity_after_the_fold_writes_no_rise(db):
    contact = ContactFactory()
    services.activity_record(contact=contact, type="page_visit", occurred_at=NOW)
    services.activity_rises_fold()
    services.activity_record(contact=contact, type="page_visit", occurred_at=NOW - dt.timedelta(days=1))
    assert not ActivityRise.objects.exists() and contacts_newest_activity(contact_ids=[contact.pk]) == {contact.pk: NOW}


def test_the_fold_never_lowers_the_column_and_folds_in_slices(db):
    contacts = ContactFactory.create_batch(5)
    for n, contact in enumerate(contacts):
        services.activity_record(contact=contact, type="page_visit", occurred_at=NOW - dt.timedelta(hours=n))
    services.activity_rises_fold()
    # A stale rise (earlier than the column: it cannot arise from the writers, but must not do harm).
    ActivityRise.objects.create(contact=contacts[0], at=NOW - dt.timedelta(days=3))
    for contact in contacts[1:]:
        services.activity_record(contact=contact, type="email_open", occurred_at=NOW + dt.timedelta(minutes=1))
    assert services.activity_rises_fold(slice_size=2) == 5
    assert [column(c) for c in contacts] == [NOW] + [NOW + dt.timedelta(minutes=1)] * 4
    assert not ActivityRise.objects.exists()


def test_editing_a_contact_read_before_the_fold_keeps_the_folded_time(db):
    contact = ContactFactory()
    stale = Contact.objects.get(pk=contact.pk)  # read before the activity and its fold, then edited
    services.activity_record(contact=contact, type="page_visit", occurred_at=NOW)
    services.activity_rises_fold()
    services.contact_update(contact=stale, city="Brno")
    assert column(contact) == NOW and Contact.objects.get(pk=contact.pk).city == "Brno"


def test_a_merge_gives_the_parent_the_newest_of_both_and_folds_their_rises(db):
    parent, child = ContactFactory(), ContactFactory()
    services.activity_record(contact=parent, type="page_visit", occurred_at=NOW - dt.timedelta(days=2))
    services.activity_record(contact=child, type="page_visit", occurred_at=NOW)
    services.contact_merge(parent=parent, child=child)
    assert column(parent) == NOW and column(child) is None and not ActivityRise.objects.exists()
