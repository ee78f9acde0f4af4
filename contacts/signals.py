"""Signals sent by `contacts.services` so other apps (segments) can react to contact changes.

Invariant: every service that changes contacts sends `contacts_changed` exactly once per call, INSIDE
the transaction of the change, with all affected ids. Receivers may only note work in that same
transaction (queue rows that commit or roll back with the change) and wake a worker on commit; they
never change contacts or memberships themselves. `contacts` sends; it never imports a receiver.
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


# Sent with kwargs `contact_ids: list[int]` (sorted, unique), `reason: str` (a ChangeReason value) and
# `bulk: bool` (part of a change to very many contacts, sent in parts).
contacts_changed = django.dispatch.Signal()


def send_contacts_changed(*, contact_ids: Iterable[int], reason: ChangeReason | str, bulk: bool = False) -> None:
    """Send `contacts_changed` now, inside the caller's transaction (the change and its notes commit together).

    `bulk`: this is one part of a change to very many contacts (an import's slice): note it as such.
    """
    ids = sorted(set(contact_ids))
    reason = ChangeReason(reason)
    if not ids:
        return
    if not transaction.get_connection().in_atomic_block:
        # TRICKY: a caller outside a transaction would commit the change and the notes separately.
        raise RuntimeError("send_contacts_changed() must be called inside the transaction of the change")
    contacts_changed.send(sender=Contact, contact_ids=ids, reason=reason.value, bulk=bulk)
