"""Activities recorded at once for the same contacts on several connections (PostgreSQL), folded meanwhile: no
deadlock, and each contact's newest activity time ends as the newest of all (the rows are locked in id order
before they rise; the fold skips the rows a writer holds)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from contacts.models import ActivityRise, Contact
from contacts.selectors import contacts_newest_activity
from contacts.services import ActivityRow, activities_record, activity_rises_fold
from tests.factories import ContactFactory


@pytest.mark.django_db(transaction=True)
def test_batches_naming_the_same_contacts_in_any_order_never_deadlock():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    ids = [c.pk for c in ContactFactory.create_batch(300)]
    base = timezone.now()
    errors: list[BaseException] = []
    start = threading.Barrier(5)
    writing = threading.Event()

    def record(order: list[int], offset: int) -> None:
        try:
            start.wait()
            for round_ in range(5):
                at = base + dt.timedelta(seconds=offset + 10 * round_)
                activities_record(rows=[ActivityRow(pk, "page_visit", at) for pk in order])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def fold() -> None:  # the worker's fold, in small slices, while the batches write
        try:
            start.wait()
            while not writing.is_set():
                activity_rises_fold(slice_size=50)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    orders = [ids, ids[::-1], ids[150:] + ids[:150], ids[::2] + ids[1::2]]
    threads = [threading.Thread(target=record, args=(order, n)) for n, order in enumerate(orders)]
    folder = threading.Thread(target=fold)
    for thread in [*threads, folder]:
        thread.start()
    for thread in threads:
        thread.join()
    writing.set()
    folder.join()
    assert not errors, errors[0]
    newest = base + dt.timedelta(seconds=3 + 40)
    assert set(contacts_newest_activity(contact_ids=ids).values()) == {newest}
    activity_rises_fold()
    assert set(Contact.objects.filter(pk__in=ids).values_list("last_activity_at", flat=True)) == {newest}
    assert not ActivityRise.objects.exists()
