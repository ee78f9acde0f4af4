"""Campaign events for webhooks: `campaign.sent`, `campaign.opened`, `campaign.clicked`, `contact.unsubscribed`,
`contact.resubscribed`.

Invariant: read from the campaigns' outbox (`campaigns.CampaignEvent`, written in the transaction of each change)
in id order, per endpoint from its own `campaign_cursor`, exactly as membership history is read
(`webhooks.dispatch`): the cursor advances in the transaction that creates the delivery, up to a safe upper
bound (no row below it can still appear), so every event lands in exactly one delivery per endpoint. Event ids
are "cev_<id>" (membership events are "mev_<id>"): unique, and the same on every endpoint and every resend.
Campaign events are not filtered by an endpoint's groups (those choose membership events).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Min

from campaigns.models import CampaignEvent, CampaignEventKind
from config.database import events_safe_upper
from webhooks.dispatch import BATCH, stream_dispatch
from webhooks.models import Endpoint, EventType, Stream

TYPE_NAMES = {
    CampaignEventKind.SENT: "campaign.sent",
    CampaignEventKind.OPENED: "campaign.opened",
    CampaignEventKind.CLICKED: "campaign.clicked",
    CampaignEventKind.UNSUBSCRIBED: "contact.unsubscribed",
    CampaignEventKind.RESUBSCRIBED: "contact.resubscribed",
}
KIND_OF = {
    EventType.CAMPAIGN_SENT: CampaignEventKind.SENT,
    EventType.CAMPAIGN_OPENED: CampaignEventKind.OPENED,
    EventType.CAMPAIGN_CLICKED: CampaignEventKind.CLICKED,
    EventType.CONTACT_UNSUBSCRIBED: CampaignEventKind.UNSUBSCRIBED,
    EventType.CONTACT_RESUBSCRIBED: CampaignEventKind.RESUBSCRIBED,
}


def campaign_event_payload(event: CampaignEvent) -> dict[str, Any]:
    """One campaign event as receivers see it."""
    payload: dict[str, Any] = {
        "id": f"cev_{event.pk}",
        "type": TYPE_NAMES[CampaignEventKind(event.kind)],
        "campaign": {"id": event.campaign_id, "name": event.campaign.name} if event.campaign else None,
        "contact": {"id": event.contact_id, "email": event.contact.email},
        "channel": event.channel or None,
        "at": event.at.isoformat(),
    }
    if event.kind == CampaignEventKind.CLICKED:
        payload["url"] = event.url
    return payload


def _kinds(endpoint: Endpoint) -> list[str]:
    return [KIND_OF[EventType(name)] for name in endpoint.events if EventType(name) in KIND_OF]


def endpoint_campaign_dispatch(
    *, endpoint_id: int, upper: int, now: dt.datetime | None = None, max_deliveries: int = 50
) -> int:
    """Create the deliveries of one endpoint's campaign events up to id `upper`; returns how many."""

    def batch_of(endpoint: Endpoint, cursor: int) -> list[CampaignEvent]:
        kinds = _kinds(endpoint)
        if not kinds:
            return []
        events = CampaignEvent.objects.filter(pk__gt=cursor, pk__lte=upper, kind__in=kinds)
        return list(events.select_related("campaign", "contact").order_by("pk")[:BATCH])

    return stream_dispatch(
        endpoint_id=endpoint_id,
        upper=upper,
        cursor_field="campaign_cursor",
        batch_of=batch_of,
        payload=campaign_event_payload,
        stream=Stream.CAMPAIGN,
        now=now,
        max_deliveries=max_deliveries,
    )


def campaign_dispatch_all(*, endpoint_ids: list[int], now: dt.datetime | None = None) -> int:
    """Dispatch the campaign events of these endpoints; the events table is locked only when one waits."""
    if not stream_waiting(endpoint_ids=endpoint_ids):
        return 0
    upper = events_safe_upper(CampaignEvent)
    if upper is None:
        return 0
    return sum(endpoint_campaign_dispatch(endpoint_id=pk, upper=upper, now=now) for pk in endpoint_ids)


def stream_waiting(*, endpoint_ids: list[int] | None = None) -> bool:
    """True when an active endpoint (of these) has campaign events past its cursor."""
    endpoints = Endpoint.objects.filter(active=True)
    if endpoint_ids is not None:
        endpoints = endpoints.filter(pk__in=endpoint_ids)
    lowest = endpoints.aggregate(low=Min("campaign_cursor"))["low"]
    return lowest is not None and CampaignEvent.objects.filter(pk__gt=lowest).exists()
