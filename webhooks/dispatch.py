"""Turning membership history into deliveries: per endpoint, new events in id order, ≤ 100 per delivery.

The cursor (the last event id dispatched) advances in the same transaction that creates the delivery, so
every event lands in exactly one delivery per endpoint.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import OperationalError, connection, models, transaction
from django.db.models import Max
from django.utils import timezone

from segments.models import EventKind, MembershipEvent
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


def safe_upper(model: type[models.Model] = MembershipEvent) -> int | None:
    """The highest id of `model` (an events table) below which no row can still appear, or None to wait.

    TRICKY: on PostgreSQL a transaction that inserted event 5 may commit after one that inserted event 6: a
    cursor moved past 6 would skip 5 for ever. A SHARE lock on the history table waits for the transactions
    writing it, so the highest id read under it is final; the lock is tried for at most 200 ms (writers queue
    behind it meanwhile) and released at once. Busy (a rebuild writing for minutes): None, the next run tries
    again. SQLite has one writer at a time, committing its ids in order: no lock needed.
    """
    table = model._meta.db_table
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '200ms'")
                try:
                    with transaction.atomic():
                        cursor.execute(f'LOCK TABLE "{table}" IN SHARE MODE')
                except OperationalError:
                    return None
        return model._default_manager.aggregate(top=Max("pk"))["top"]


def endpoint_dispatch(*, endpoint_id: int, upper: int, now: dt.datetime | None = None, max_deliveries: int = 50) -> int:
    """Create the deliveries of one endpoint's events up to id `upper` (safe_upper); returns how many."""
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
    created = 0
    upper = safe_upper()
    if upper is not None:
        created += sum(endpoint_dispatch(endpoint_id=pk, upper=upper, now=now) for pk in active)
    return created + campaign_dispatch_all(endpoint_ids=active, now=now)
