"""Merging one contact into another."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from contacts import custom_fields
from contacts.models import (
    Activity,
    Contact,
    ContactConsent,
)
from contacts.services.fields import MERGE_FILL_FIELDS, MergeError
from contacts.services.last_activity import contacts_refresh_last_activity
from contacts.signals import ChangeReason, send_contacts_changed

# --- merging -----------------------------------------------------------------------------------


def contact_merge_check(*, parent: Contact, child: Contact) -> None:
    """Raise MergeError when `child` cannot be merged into `parent`."""
    if parent.pk == child.pk:
        raise MergeError("A contact cannot be merged into itself.")
    if parent.merged_into_id == child.pk:
        raise MergeError(f"{parent} is already merged into {child}: merge the other way round instead.")
    if parent.merged_into_id is not None:
        raise MergeError(f"{parent} has been merged into another contact; merge into that contact instead.")
    if child.merged_into_id is not None:
        raise MergeError(f"{child} has already been merged into another contact.")


def contact_merge_plan(*, parent: Contact, child: Contact) -> dict[str, Any]:
    """The parent's field changes a merge makes (name → new value; "custom" is the whole new dict).

    Empty standard and custom fields of the parent are filled from the child (the email moves with it:
    emails are unique); a lead score of 0 counts as empty; the earlier creation date is kept.
    """
    changes: dict[str, Any] = {}
    for name in MERGE_FILL_FIELDS:
        if not getattr(parent, name) and getattr(child, name):
            changes[name] = getattr(child, name)
    if not parent.email and child.email:
        changes["email"] = child.email
    if not parent.lead_score and child.lead_score:
        changes["lead_score"] = child.lead_score
    if child.created_at < parent.created_at:
        changes["created_at"] = child.created_at
    custom = dict(parent.custom or {})
    for code, value in (child.custom or {}).items():
        if custom_fields.is_empty(custom.get(code)) and not custom_fields.is_empty(value):
            custom[code] = value
    if custom != (parent.custom or {}):
        changes["custom"] = custom
    return changes


def _merge_consents(*, parent: Contact, child: Contact) -> None:
    own = {cc.consent_id: cc for cc in ContactConsent.objects.select_for_update().filter(contact=parent)}
    for theirs in ContactConsent.objects.select_for_update().filter(contact=child):
        mine = own.get(theirs.consent_id)
        if mine is None:
            theirs.contact = parent
            theirs.save(update_fields=["contact"])
            continue
        agreed = [cc for cc in (mine, theirs) if cc.revoked_at is None]
        if agreed:  # an agreement wins over a revocation; the earliest agreement is kept
            mine.agreed_at = min(cc.agreed_at for cc in agreed)
            mine.revoked_at = None
        else:
            mine.agreed_at = min(mine.agreed_at, theirs.agreed_at)
            mine.revoked_at = max(mine.revoked_at, theirs.revoked_at)  # type: ignore[type-var]
        mine.save(update_fields=["agreed_at", "revoked_at"])
        theirs.delete()


@transaction.atomic
def contact_merge(*, parent: Contact, child: Contact) -> Contact:
    """Merge `child` into `parent`: move activities and consents, fill the parent's empty fields."""
    # Lock both rows and work on fresh copies so a concurrent merge cannot interleave.
    locked = {c.pk: c for c in Contact.objects.select_for_update().filter(pk__in=[parent.pk, child.pk])}
    if parent.pk not in locked or child.pk not in locked:
        raise MergeError("One of the contacts no longer exists.")
    parent, child = locked[parent.pk], locked[child.pk]
    contact_merge_check(parent=parent, child=child)

    Activity.objects.filter(contact=child).update(contact=parent)
    _merge_consents(parent=parent, child=child)
    regrouped = list(Contact.objects.filter(merged_into=child).values_list("pk", flat=True))
    Contact.objects.filter(pk__in=regrouped).update(merged_into=parent, updated_at=timezone.now())

    changes = contact_merge_plan(parent=parent, child=child)
    if "email" in changes:
        child.email = None  # the address moves to the parent: emails are unique
    child.merged_into = parent
    child.save()
    for name, value in changes.items():
        setattr(parent, name, value)
    parent.save()
    # Both: the parent's newest activity time and roll-up take the child's; the child's empty.
    contacts_refresh_last_activity(contact_ids=[parent.pk, child.pk])
    parent.refresh_from_db(fields=["last_activity_at"])
    send_contacts_changed(contact_ids=[parent.pk, child.pk, *regrouped], reason=ChangeReason.MERGED)
    return parent
