"""The preview of a rule tree: how many contacts match, how many can be reached, the first few.

Invariant: the counts come from one aggregate query (conditional COUNTs over the matching contacts);
the first contacts from one more. Reachability consents come from settings
(REACHABILITY_EMAIL_CONSENT, REACHABILITY_SMS_CONSENT; empty means no consent is needed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from contacts.models import Contact, ContactConsent

PREVIEW_SIZE = 10


@dataclass(frozen=True)
class Preview:
    count: int
    reachable_email: int
    reachable_sms: int
    contacts: list[Contact]
    description: str


def consent_agreed_q(code: str | None) -> Q:
    """Contacts that agreed (and did not revoke) the consent `code`; everyone when `code` is empty."""
    if not code:
        return Q(pk__isnull=False)
    agreed = ContactConsent.objects.filter(contact=OuterRef("pk"), consent__code=code, revoked_at__isnull=True)
    return Q(Exists(agreed))


def email_reachable_q() -> Q:
    has_email = Q(email__isnull=False) & ~Q(email="")
    return has_email & consent_agreed_q(getattr(settings, "REACHABILITY_EMAIL_CONSENT", "newsletter"))


def sms_reachable_q() -> Q:
    return ~Q(phone="") & consent_agreed_q(getattr(settings, "REACHABILITY_SMS_CONSENT", "sms"))


def contacts_preview(*, contacts: QuerySet[Contact], description: str, size: int = PREVIEW_SIZE) -> Preview:
    """Counts (matching, email-reachable, SMS-reachable) in one query, plus the first `size` contacts."""
    counts: dict[str, Any] = contacts.order_by().aggregate(
        count=Count("pk"),
        email=Count("pk", filter=email_reachable_q()),
        sms=Count("pk", filter=sms_reachable_q()),
    )
    first = list(contacts.order_by("last_name", "first_name", "pk")[:size]) if counts["count"] else []
    return Preview(
        count=counts["count"],
        reachable_email=counts["email"],
        reachable_sms=counts["sms"],
        contacts=first,
        description=description,
    )
