"""One contact's campaigns (the Messages card of the contact page): opt-outs per channel and the latest messages."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, QuerySet

from campaigns.models import Campaign, Channel, Delivery, Unsubscribe
from contacts.models import Activity, ActivityType, Contact

MESSAGES_SHOWN = 10


@dataclass(frozen=True)
class ChannelState:
    channel: Channel
    address: str  # the contact's email or phone now ("" — none: no campaign of the channel reaches them)
    unsubscribed_at: dt.datetime | None  # None: subscribed
    campaign: Campaign | None  # the campaign whose message they opted out from, if known


def contact_channels(*, contact: Contact) -> list[ChannelState]:
    """Email and SMS: the contact's address for each and whether they opted out (when, from which campaign)."""
    opted_out = {u.channel: u for u in Unsubscribe.objects.filter(contact=contact).select_related("campaign")}
    states = []
    for channel, address in ((Channel.EMAIL, contact.email or ""), (Channel.SMS, contact.phone)):
        record = opted_out.get(channel)
        states.append(
            ChannelState(
                channel=channel,
                address=address,
                unsubscribed_at=record.unsubscribed_at if record else None,
                campaign=record.campaign if record else None,
            )
        )
    return states


def _tracked(kind: str) -> Exists:
    return Exists(
        Activity.objects.filter(contact_id=OuterRef("contact_id"), campaign_id=OuterRef("campaign_id"), type=kind)
    )


def contact_messages(*, contact: Contact, limit: int = MESSAGES_SHOWN) -> tuple[list[Delivery], bool]:
    """The contact's latest campaign messages (newest first) with `opened` / `clicked`; and whether there are more."""
    rows: QuerySet[Delivery] = (
        Delivery.objects.filter(contact=contact)
        .select_related("campaign")
        .annotate(opened=_tracked(ActivityType.EMAIL_OPEN), clicked=_tracked(ActivityType.EMAIL_CLICK))
        .order_by("-id")
    )
    found = list(rows[: limit + 1])
    return found[:limit], len(found) > limit
