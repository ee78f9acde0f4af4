"""Consents: agree and revoke."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from contacts.models import (
    Consent,
    Contact,
    ContactConsent,
)
from contacts.signals import ChangeReason, send_contacts_changed

# --- consents ----------------------------------------------------------------------------------


@transaction.atomic
def consent_agree(*, contact: Contact, consent: Consent) -> ContactConsent:
    """Record that the contact agrees to `consent` now (a revoked consent is agreed again)."""
    record, created = ContactConsent.objects.select_for_update().get_or_create(contact=contact, consent=consent)
    if not created and record.revoked_at is not None:
        record.agreed_at = timezone.now()
        record.revoked_at = None
        record.save(update_fields=["agreed_at", "revoked_at"])
    send_contacts_changed(contact_ids=[contact.pk], reason=ChangeReason.CONSENT)
    return record


@transaction.atomic
def consent_revoke(*, contact: Contact, consent: Consent) -> ContactConsent | None:
    """Record that the contact revokes `consent` now; None when the contact never agreed to it."""
    record = ContactConsent.objects.select_for_update().filter(contact=contact, consent=consent).first()
    if record is None:
        return None
    if record.revoked_at is None:
        record.revoked_at = timezone.now()
        record.save(update_fields=["revoked_at"])
        send_contacts_changed(contact_ids=[contact.pk], reason=ChangeReason.CONSENT)
    return record
