"""The tracking inbox: an open or click is answered at once and recorded moments later, exactly once.

Invariant: every hit the open pixel or the click redirect answered is a committed TrackingHit row (the request
appends it with one INSERT and reads nothing). A drain takes up to DRAIN_BATCH rows with `FOR UPDATE SKIP
LOCKED` (two drains never take the same row), records them through contacts.services.activities_record (the
activity at the hit's time, last_activity_at, the daily roll-up, the re-check note) with their campaign events,
and deletes them — in one transaction: a hit is recorded once, or stays for the next drain. A hit whose
contact, delivery or campaign is gone by then is dropped (logged).

Waking the drain (TRICKY): a web process asks the database at most once per TRACKING_WAKE_SECONDS (G), so a
burst costs one INSERT per request and nothing else. TrackingDrain.until (the database's clock) is a promise
that a drain reads the inbox at least once after it. Asking is one upsert: "until = now + LINGER, unless it is
already ≥ now + G"; whoever moved it queues a drain. Either way a drain reads after now + G, so it reads every
hit this process appends before it asks again. A drain moves `until` forward while it finds hits, polls every
POLL seconds, and stops at the first poll after `until` that empties the inbox — or, past DRAIN_MAX_SECONDS,
queues its successor (which keeps the promise) and ends. A lost task (broker down, worker killed) delays the
hits until the next ask or the minutely schedule (campaigns.schedules.TRACKING_DRAIN).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import NamedTuple

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from campaigns.events import campaign_events_record
from campaigns.models import (
    Campaign,
    CampaignEvent,
    CampaignEventKind,
    Delivery,
    TrackingDrain,
    TrackingHit,
    TrackingHitKind,
)
from contacts import services as contact_services
from contacts.models import ActivityType, Contact
from contacts.services import ActivityRow

logger = logging.getLogger(__name__)

DRAIN_TASK = "campaigns.tasks.tracking_drain"
DRAIN_BATCH = 1000  # hits per transaction
POLL = 0.5  # seconds between a drain's reads while the inbox is not full
DRAIN_MAX_SECONDS = 60.0  # a drain that would run longer queues its successor and ends (a task must end)
DRAIN_ROW = 1  # the pk of the one TrackingDrain row
URL_MAX = 2000  # Activity.url's length

ACTIVITY: dict[str, str] = {
    TrackingHitKind.OPEN: ActivityType.EMAIL_OPEN,
    TrackingHitKind.CLICK: ActivityType.EMAIL_CLICK,
}
EVENT: dict[str, str] = {
    TrackingHitKind.OPEN: CampaignEventKind.OPENED,
    TrackingHitKind.CLICK: CampaignEventKind.CLICKED,
}

_next_ask = 0.0  # this process asks the database again from this time.monotonic() on


class Hit(NamedTuple):
    id: int
    delivery_id: int
    contact_id: int | None
    campaign_id: int | None
    kind: str
    url: str
    at: dt.datetime


# --- the request's side ----------------------------------------------------------------------------------


def hit_append(
    *, kind: str, delivery_id: int, contact_id: int | None = None, campaign_id: int | None = None, url: str = ""
) -> None:
    """Append one hit to the inbox (one INSERT, in its own commit) and wake a drain when due."""
    ops = connection.ops
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {ops.quote_name(TrackingHit._meta.db_table)} "
            "(delivery_id, contact_id, campaign_id, kind, url, at) VALUES (%s, %s, %s, %s, %s, %s)",
            [delivery_id, contact_id, campaign_id, kind, url[:URL_MAX], ops.adapt_datetimefield_value(timezone.now())],
        )
    drain_wake()


def drain_wake() -> None:
    """Queue a drain unless one will read the inbox after everything this process appends meanwhile; asks the
    database at most once per TRACKING_WAKE_SECONDS. A failure loses nothing: the hits are committed."""
    from django_q.conf import Conf
    from django_q.tasks import async_task

    global _next_ask
    gate = settings.TRACKING_WAKE_SECONDS
    now = time.monotonic()
    if now < _next_ask and not Conf.SYNC:
        return
    _next_ask = now + gate
    try:
        if Conf.SYNC:  # no worker (Q_SYNC): record at once, in this request
            hits_drain(linger=False)
        elif _promise(ahead=_linger(), unless_ahead=gate):
            async_task(DRAIN_TASK)
    except Exception:  # the database or the broker is down: the minutely schedule drains the inbox
        logger.exception("could not wake the tracking drain; the scheduled drain will record the hits")


def _linger() -> float:
    """How far ahead a promise reaches: well beyond the gate, so a drain that keeps finding hits keeps it."""
    return 3 * settings.TRACKING_WAKE_SECONDS


def _db_now() -> str:
    """SQL: the database's clock in seconds since the epoch."""
    if connection.vendor == "postgresql":
        return "extract(epoch from clock_timestamp())"
    return "((julianday('now') - 2440587.5) * 86400.0)"


def _promise(*, ahead: float, unless_ahead: float) -> bool:
    """Set `until` to now + `ahead` unless it already is ≥ now + `unless_ahead`; True when this call set it."""
    table, now = connection.ops.quote_name(TrackingDrain._meta.db_table), _db_now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (id, until) VALUES (%s, {now} + %s) ON CONFLICT (id) DO UPDATE "
            f"SET until = EXCLUDED.until WHERE {table}.until < {now} + %s RETURNING id",
            [DRAIN_ROW, ahead, unless_ahead],
        )
        return cursor.fetchone() is not None


def _promise_kept() -> bool:
    """`until` has passed (or was never set): a read from now on keeps every promise made so far."""
    table = connection.ops.quote_name(TrackingDrain._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT until <= {_db_now()} FROM {table} WHERE id = %s", [DRAIN_ROW])
        row = cursor.fetchone()
    return row is None or bool(row[0])


# --- the worker's side -----------------------------------------------------------------------------------


def hits_drain(*, batch: int = DRAIN_BATCH, linger: bool = True) -> int:
    """Record the inbox's hits, a batch per transaction; returns how many hits were taken (recorded or dropped).

    `linger`: keep the promise (see the module's comment) — poll until a read after `until` finds the inbox
    drained, handing over to a new task after DRAIN_MAX_SECONDS; without it, return as soon as a read is not
    full (a test, a one-off drain).
    """
    started, taken, failures = time.monotonic(), 0, 0
    while True:
        kept = not linger or _promise_kept()
        try:
            n = _drain_batch(limit=batch)
        except IntegrityError:  # a contact or campaign deleted while its hits were recorded: read again
            failures += 1
            if failures > 3:
                raise
            logger.warning("tracking drain: a batch met a deletion; reading it again", exc_info=True)
            continue
        failures = 0
        taken += n
        if n and linger:
            _promise(ahead=_linger(), unless_ahead=_linger())  # only ever forward
        if linger and time.monotonic() - started >= DRAIN_MAX_SECONDS and (n == batch or not kept):
            _hand_over()  # a task must end (django-q2's timeout): the next one keeps the promise
            return taken
        if n == batch:
            continue
        if kept:
            return taken
        time.sleep(POLL)


def _hand_over() -> None:
    from django_q.tasks import async_task

    try:
        async_task(DRAIN_TASK)
    except Exception:  # the broker is down: the next ask or the minutely schedule queues one
        logger.exception("tracking drain: could not queue the next drain")


def _drain_batch(*, limit: int) -> int:
    """Take up to `limit` hits (skipping those another drain holds), record them and delete them; how many."""
    with transaction.atomic():
        rows = TrackingHit.objects.order_by("id")
        if connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True)
        hits = [Hit(*row) for row in rows.values_list(*Hit._fields)[:limit]]
        if not hits:
            return 0
        _hits_record(hits=hits)
        TrackingHit.objects.filter(pk__in=[hit.id for hit in hits]).delete()
    return len(hits)


def _hits_record(*, hits: list[Hit]) -> int:
    """Each hit as an activity and a campaign event (in the caller's transaction); drops those whose contact,
    delivery or campaign is gone. Returns how many were recorded."""
    unnamed = {hit.delivery_id for hit in hits if hit.contact_id is None or hit.campaign_id is None}
    recipients = (
        {
            pk: (contact_id, campaign_id)
            for pk, contact_id, campaign_id in Delivery.objects.filter(
                pk__in=unnamed, contact__isnull=False
            ).values_list("pk", "contact_id", "campaign_id")
        }
        if unnamed
        else {}
    )
    named = []  # (hit, contact id, campaign id)
    for hit in hits:
        if hit.contact_id is not None and hit.campaign_id is not None:
            named.append((hit, hit.contact_id, hit.campaign_id))
        elif hit.delivery_id in recipients:
            named.append((hit, *recipients[hit.delivery_id]))
    contacts = set(Contact.objects.filter(pk__in={c for _, c, _ in named}).values_list("pk", flat=True))
    campaigns = set(Campaign.objects.filter(pk__in={c for _, _, c in named}).values_list("pk", flat=True))
    kept = [
        (hit, contact, campaign) for hit, contact, campaign in named if contact in contacts and campaign in campaigns
    ]
    if len(kept) < len(hits):
        dropped = sorted({hit.delivery_id for hit in hits} - {hit.delivery_id for hit, _, _ in kept})
        logger.info(
            "tracking: %d hit(s) dropped, their contact, delivery or campaign is gone (deliveries %s)",
            len(hits) - len(kept),
            ", ".join(map(str, dropped[:20])) + (" …" if len(dropped) > 20 else ""),
        )
    if not kept:
        return 0
    contact_services.activities_record(
        rows=[
            ActivityRow(
                contact_id=contact, type=ACTIVITY[hit.kind], occurred_at=hit.at, url=hit.url, campaign_id=campaign
            )
            for hit, contact, campaign in kept
        ]
    )
    campaign_events_record(
        events=[
            CampaignEvent(
                kind=EVENT[hit.kind],
                contact_id=contact,
                campaign_id=campaign,
                delivery_id=hit.delivery_id,
                url=hit.url,
                at=hit.at,
            )
            for hit, contact, campaign in kept
        ]
    )
    return len(kept)
