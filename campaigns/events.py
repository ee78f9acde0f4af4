"""The campaign events outbox: what happened to a campaign's messages, written with the change itself.

Invariant: every row is written inside the transaction of the change it records — a delivery marked sent
(`campaigns.sending`), an open or a click recorded as an activity (`campaigns.inbox`: when the drain records
it, with the time of the request), an opt-out (`campaigns.services.unsubscribe_record`) — so a change and its
event commit or roll back together. Readers (webhooks) take them in id order; rows older than
CAMPAIGN_EVENTS_DAYS are pruned.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from campaigns.models import CampaignEvent, CampaignEventKind, Delivery, DeliveryStatus


def campaign_event_record(
    *,
    kind: str,
    contact_id: int,
    campaign_id: int | None = None,
    delivery_id: int | None = None,
    channel: str = "",
    url: str = "",
) -> CampaignEvent:
    """Record one event in the caller's transaction (the change it records must be in the same one)."""
    _require_transaction("campaign_event_record")
    return CampaignEvent.objects.create(
        kind=CampaignEventKind(kind),
        contact_id=contact_id,
        campaign_id=campaign_id,
        delivery_id=delivery_id,
        channel=channel,
        url=url[:2000],
    )


def campaign_events_record(*, events: Sequence[CampaignEvent]) -> int:
    """Record these events (unsaved, each with its `at`) in the caller's transaction; returns how many."""
    _require_transaction("campaign_events_record")
    CampaignEvent.objects.bulk_create(events)
    return len(events)


def _require_transaction(name: str) -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(f"{name}() must be called inside the transaction of the change")


def deliveries_sent_record(*, delivery_ids: Sequence[int], sent_at: dt.datetime) -> int:
    """A `sent` event for each of these deliveries now marked sent at `sent_at` (in the marking transaction)."""
    rows = Delivery.objects.filter(
        pk__in=list(delivery_ids), status=DeliveryStatus.SENT, sent_at=sent_at, contact__isnull=False
    ).values_list("pk", "campaign_id", "contact_id", "channel")
    events = [
        CampaignEvent(
            kind=CampaignEventKind.SENT, delivery_id=pk, campaign_id=cid, contact_id=ct, channel=ch, at=sent_at
        )
        for pk, cid, ct, ch in rows
    ]
    CampaignEvent.objects.bulk_create(events)
    return len(events)


def campaign_events_prune(*, now: dt.datetime | None = None) -> int:
    """Delete events older than CAMPAIGN_EVENTS_DAYS; returns how many."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.CAMPAIGN_EVENTS_DAYS)
    deleted, _ = CampaignEvent.objects.filter(at__lt=cutoff).delete()
    return deleted
