"""Turning membership history into deliveries: per endpoint, new events in id order, ≤ 100 per delivery.

The cursor (the last event id dispatched) advances in the same transaction that creates the delivery, so
every event lands in exactly one delivery per endpoint.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from segments.models import EventKind, MembershipEvent
from segments.selectors import history_safe_upper
from webhooks.models import Delivery, Endpoint, EventType, Stream

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


def stream_dispatch(
    *,
    endpoint_id: int,
    upper: int,
    cursor_field: str,
    batch_of: Callable[[Endpoint, int], list[Any]],
    payload: Callable[[Any], dict[str, Any]],
    stream: str,
    now: dt.datetime | None = None,
    max_deliveries: int = 50,
) -> int:
    """Create the deliveries of one endpoint's events of one stream up to id `upper`; returns how many.

    `cursor_field` names the endpoint's cursor of the stream, `batch_of(endpoint, cursor)` reads the next events
    after it (≤ BATCH, id order, up to `upper`), `payload(event)` is what a receiver sees of one. The cursor moves
    in the transaction that creates the delivery (the module's invariant), for either stream.
    """
    created = 0
    while created < max_deliveries:
        with transaction.atomic():
            endpoint = Endpoint.objects.select_for_update().filter(pk=endpoint_id, active=True).first()
            if endpoint is None or getattr(endpoint, cursor_field) >= upper:
                return created
            batch = batch_of(endpoint, getattr(endpoint, cursor_field))
            if batch:
                Delivery.objects.create(
                    endpoint=endpoint,
                    stream=stream,
                    first_event_id=batch[0].pk,
                    last_event_id=batch[-1].pk,
                    event_count=len(batch),
                    payload={"events": [payload(event) for event in batch]},
                    next_attempt_at=now or timezone.now(),
                )
                created += 1
            # A full batch stops at its last event; a short one saw every event up to `upper`.
            setattr(endpoint, cursor_field, batch[-1].pk if len(batch) == BATCH else upper)
            endpoint.save(update_fields=[cursor_field])
            if len(batch) < BATCH:
                return created
    return created


def endpoint_dispatch(*, endpoint_id: int, upper: int, now: dt.datetime | None = None, max_deliveries: int = 50) -> int:
    """Create the deliveries of one endpoint's membership events up to id `upper` (history_safe_upper)."""

    def batch_of(endpoint: Endpoint, cursor: int) -> list[MembershipEvent]:
        events = MembershipEvent.objects.filter(pk__gt=cursor, pk__lte=upper, kind__in=_kinds(endpoint))
        group_ids = list(endpoint.groups.values_list("pk", flat=True))
        if group_ids:
            events = events.filter(group_id__in=group_ids)
        return list(events.select_related("group", "contact").order_by("pk")[:BATCH])

    return stream_dispatch(
        endpoint_id=endpoint_id,
        upper=upper,
        cursor_field="cursor",
        batch_of=batch_of,
        payload=event_payload,
        stream=Stream.MEMBERSHIP,
        now=now,
        max_deliveries=max_deliveries,
    )


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
