"""SMS opt-out by reply: a text of STOP (STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT; any case, trimmed) from a
phone number unsubscribes every contact with that number from SMS (campaigns.Unsubscribe, channel sms); a
reply of START (UNSTOP, YES) opts them back in — the carriers' keywords, so a reply undoes a reply.

Contacts keep phone numbers as typed ("+420 601 234 567", "601-234-567", "(0)7700 900123"), a provider
reports the sender in international form ("+420601234567"). Two numbers are the same when their digits are
the same (a leading 00 read as +), or — one international, one national — when the national number without
its trunk 0 (at least 7 digits) ends the international one. The database narrows the candidates (their
digits end like the sender's), Python decides. The contacts an SMS was sent to at that address (Delivery rows)
count too, so a contact who changed numbers since is still reached; the opt-out names the campaign of the
last SMS sent to the number. An extension ("ext. 12") in a stored number is not understood.

Used by the provider's webhook (campaigns.views.sms_inbound, POST /sms/inbound/) and by
`manage.py sms_inbound --from NUMBER TEXT` (the console equivalent for testing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F, Func, Value
from django.db.models.functions import Replace

from campaigns import services
from campaigns.models import Campaign, Channel, Delivery
from contacts.models import Contact

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
PUNCTUATION = (" ", "-", "(", ")", ".", "/", "+", "\u00a0")  # what typed numbers carry besides digits
MIN_DIGITS = 7
_EXTENSION = re.compile(r"(?i)\s*(?:ext\.?|x|#).*$")


@dataclass(frozen=True)
class InboundResult:
    stop: bool  # the text asked to opt out
    contact_ids: list[int] = field(default_factory=list)  # the contacts now unsubscribed from SMS
    start: bool = False  # the text asked to opt back in
    resubscribed_ids: list[int] = field(default_factory=list)  # the contacts whose SMS opt-out was removed


def is_stop(text: str) -> bool:
    """The reply is an opt-out keyword (case-insensitive, surrounding space ignored)."""
    return text.strip().upper() in STOP_WORDS


def is_start(text: str) -> bool:
    """The reply is an opt-in keyword (case-insensitive, surrounding space ignored)."""
    return text.strip().upper() in START_WORDS


def _parsed(number: str) -> tuple[str, bool]:
    """(digits, international?) of a phone number as typed or as a provider reports it."""
    raw = _EXTENSION.sub("", number.strip())
    digits = "".join(c for c in raw if c.isdigit())
    if raw.startswith("+"):
        return digits, True
    if digits.startswith("00"):
        return digits[2:], True
    return digits, False


def same_number(a: str, b: str) -> bool:
    """Whether two phone numbers, written any way, are one number (module docstring)."""
    (da, ia), (db, ib) = _parsed(a), _parsed(b)
    if not da or not db:
        return False
    if ia == ib:
        return da == db
    international, national = (da, db) if ia else (db, da)
    national = national.lstrip("0")
    return len(national) >= MIN_DIGITS and international.endswith(national)


def _digits(column: str) -> Func:
    expression: Func = Replace(F(column), Value(PUNCTUATION[0]), Value(""))
    for char in PUNCTUATION[1:]:
        expression = Replace(expression, Value(char), Value(""))
    return expression


def contacts_with_number(*, number: str) -> tuple[list[int], int | None]:
    """The ids of contacts whose phone is `number`, or who were sent an SMS at it; and the campaign of the
    last SMS sent to it (None: none)."""
    digits, _ = _parsed(number)
    if len(digits) < MIN_DIGITS:
        return [], None
    tail = digits[-MIN_DIGITS:]
    found: set[int] = set()
    for pk, phone in (
        Contact.objects.exclude(phone="").alias(digits=_digits("phone")).filter(digits__endswith=tail)
        .values_list("pk", "phone")
    ):  # fmt: skip
        if same_number(phone, number):
            found.add(pk)
    campaign_id = None
    deliveries = (
        Delivery.objects.filter(channel=Channel.SMS, contact__isnull=False)
        .alias(digits=_digits("address"))
        .filter(digits__endswith=tail)
        .order_by("-pk")
        .values_list("contact_id", "address", "campaign_id")
    )
    for contact_id, address, delivery_campaign in deliveries:
        if same_number(address, number):
            found.add(contact_id)
            campaign_id = campaign_id or delivery_campaign
    return sorted(found), campaign_id


@transaction.atomic
def sms_inbound_record(*, sender: str, text: str) -> InboundResult:
    """An SMS reply arrived: STOP unsubscribes every contact with the sender's number from SMS, START opts
    those who had opted out back in; any other text changes nothing."""
    if is_start(text):
        contact_ids, _ = contacts_with_number(number=sender)
        back = [
            c.pk
            for c in Contact.objects.filter(pk__in=contact_ids)
            if services.resubscribe_record(contact=c, channel=Channel.SMS)
        ]
        return InboundResult(stop=False, start=True, resubscribed_ids=back)
    if not is_stop(text):
        return InboundResult(stop=False)
    contact_ids, campaign_id = contacts_with_number(number=sender)
    campaign = Campaign.objects.filter(pk=campaign_id).first() if campaign_id else None
    for contact in Contact.objects.filter(pk__in=contact_ids):
        services.unsubscribe_record(contact=contact, channel=Channel.SMS, campaign=campaign)
    return InboundResult(stop=True, contact_ids=contact_ids)
