"""Writes to contacts, accounts, activities and consents (HackSoft-style services).

Every function is keyword-only and atomic. Nothing here imports `segments`: contact groups learn of
changes through the signals in `contacts.signals`, sent on commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Max, OuterRef, Subquery

from contacts.models import Activity, Contact


def contacts_refresh_last_activity(*, contact_ids: Iterable[int] | None = None) -> int:
    """Set `Contact.last_activity_at` to the newest activity time (set-based); returns rows updated."""
    newest = (
        Activity.objects.filter(contact=OuterRef("pk"))
        .order_by()
        .values("contact")
        .annotate(newest=Max("occurred_at"))
        .values("newest")
    )
    qs = Contact.objects.all()
    if contact_ids is not None:
        qs = qs.filter(pk__in=list(contact_ids))
    return qs.update(last_activity_at=Subquery(newest))


@transaction.atomic
def activity_record(*, contact: Contact, type: str, **fields: Any) -> Activity:
    """Record one activity for a contact and keep its `last_activity_at` current."""
    activity = Activity(contact=contact, type=type, **fields)
    activity.full_clean(exclude=["contact", "campaign"])
    activity.save()
    Contact.objects.filter(pk=contact.pk).filter(last_activity_at__isnull=True).update(
        last_activity_at=activity.occurred_at
    )
    Contact.objects.filter(pk=contact.pk, last_activity_at__lt=activity.occurred_at).update(
        last_activity_at=activity.occurred_at
    )
    return activity
