"""Signals sent by `contacts.services` so other apps (segments) can react to contact changes.

Invariant: every service that changes contacts sends `contacts_changed` exactly once per call, after the
transaction commits (`transaction.on_commit`), with all affected ids. Receivers may only queue work;
they never change contacts synchronously. `contacts` sends; it never imports a receiver.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

import django.dispatch
from django.db import transaction

from contacts.models import Contact


class ChangeReason(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    ACCOUNT = "account"
    ACTIVITY = "activity"
    CONSENT = "consent"
    MERGED = "merged"


# Sent with kwargs `contact_ids: list[int]` (sorted, unique) and `reason: str` (a ChangeReason value).
contacts_changed = django.dispatch.Signal()


def send_contacts_changed(*, contact_ids: Iterable[int], reason: ChangeReason | str) -> None:
    """Queue one `contacts_changed` signal for when the current transaction commits."""
    ids = sorted(set(contact_ids))
    reason = ChangeReason(reason)
    if not ids:
        return

    def send() -> None:
        contacts_changed.send(sender=Contact, contact_ids=ids, reason=reason.value)

    transaction.on_commit(send)
