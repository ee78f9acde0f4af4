"""Turning membership history into deliveries: per endpoint, new events in id order, ≤ 100 per delivery.

The cursor (the last event id dispatched) advances in the same transaction that creates the delivery, so
every event lands in exactly one delivery per endpoint.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from segments.models import EventKind, MembershipEvent
from segments.selectors import history_safe_upper
from webhooks.models import Delivery, Endpoint, EventType

BATCH = 100
TYPE_NAMES = {
    EventKind.ENTERED: "membership.entered",
    EventKind.LEFT: "membership.left",
    EventKind.SOURCE_ADDED: "membership.source_added",
    EventKind.SOURCE_REMOVED: "membership.source_removed",
}
KINDS_OF = {
    EventType.ENTERED: [EventKind.ENTERED],
    EventType.LEFT: [EventKind.LEFT],
    EventType.SOURCE_CHANGED: [EventKind.SOURCE_ADDED, EventKind.SOURCE_REMOVED],
}


def event_payload(event: MembershipEvent) -> dict[str, Any]:
    """One event as receivers see it; its id is the same for every endpoint (receivers de-duplicate on it)."""
    return {
        "id": f"mev_{event.pk}",
        "type": TYPE_NAMES[EventKind(event.kind)],
        "group": {"code": event.group.code, "name": event.group.name},
        "contact": {"id": event.contact_id, "email": event.contact.email},
        "source": event.get_source_display(),
        "cause": event.get_cause_display(),
        "at": event.at.isoformat(),
    }


def _kinds(endpoint: Endpoint) -> list[int]:
    return [kind for name in endpoint.events for kind in KINDS_OF.get(EventType(name), [])]


def endpoint_dispatch(*, endpoint_id: int, upper: int, now: dt.datetime | None = None, max_deliveries: int = 50) -> int:
    """Create the deliveries of one endpoint's events up to id `upper` (history_safe_upper); returns how many."""
    created = 0
    while created < max_deliveries:
        with transaction.atomic():
            endpoint = Endpoint.objects.select_for_update().filter(pk=endpoint_id, active=True).first()
            if endpoint is None:
                return created
            if endpoint.cursor >= upper:
                return created
            events = MembershipEvent.objects.filter(
                pk__gt=endpoint.cursor, pk__lte=upper, kind__in=_kinds(endpoint)
            ).select_related("group", "contact")
            group_ids = list(endpoint.groups.values_list("pk", flat=True))
            if group_ids:
                events = events.filter(group_id__in=group_ids)
            batch = list(events.order_by("pk")[:BATCH])
            if batch:
                Delivery.objects.create(
                    endpoint=endpoint,
                    first_event_id=batch[0].pk,
                    last_event_id=batch[-1].pk,
                    event_count=len(batch),
                    payload={"events": [event_payload(event) for event in batch]},
                    next_attempt_at=now or timezone.now(),
                )
                created += 1
            # A full batch stops at its last event; a short one saw every event up to `upper`.
            endpoint.cursor = batch[-1].pk if len(batch) == BATCH else upper
            endpoint.save(update_fields=["cursor"])
            if len(batch) < BATCH:
                return created
    return created


def dispatch_all(*, now: dt.datetime | None = None) -> int:
    """Dispatch every active endpoint's new events (up to the safe upper bounds); returns deliveries created.

    Membership events first, then campaign events (`webhooks.events`): each stream in its own order.
    """
    from webhooks.events import campaign_dispatch_all

    active = list(Endpoint.objects.filter(active=True).values_list("pk", flat=True))
    if not active:
        return 0  # no endpoint: never lock the history table (its writers would wait)
    upper = history_safe_upper()
    created = 0
    if upper is not None:
        created += sum(endpoint_dispatch(endpoint_id=pk, upper=upper, now=now) for pk in active)
    return created + campaign_dispatch_all(endpoint_ids=active, now=now)
