"""Sending a campaign: freeze the audience into Delivery rows, send them in batches, resume after a crash.

Invariant — nobody is sent a campaign twice. Deliveries are claimed by ONE conditional UPDATE
(queued → sending, committed on its own) before any of their messages is handed to the backend: a
chunk of up to SEND_CLAIM (50) rows at a time, then sent one by one, and the accepted ones are marked
sent with one UPDATE when the chunk is done. Two workers never both win a claim, and a row is never
claimed twice. When a worker dies, the rows it left in `sending` — at most one chunk: the messages
the backend had already accepted and those not yet tried — are marked `unknown` ("Not confirmed") by
the recovery and NOT sent again: each of those contacts got the message once or not at all. So the
guarantee is at most once per contact, and exactly once for everyone but a crashed worker's last
chunk, which is reported on the campaign's Sending tab. (SEND_CLAIM=1 gives the old one-row window
at the price of two commits per message.) A delivery goes back to `queued` only when its message
certainly did not go out (campaigns.outcomes: a temporary SMTP refusal or no connection), to be
retried after a delay a bounded number of times.

Flow: `campaign_send` (now or at a time) → `send_start` freezes the audience with one INSERT … SELECT
in one transaction and queues `campaigns.tasks.send_batch` → each batch sends up to SEND_BATCH
deliveries through one email connection (or the SMS backend), content compiled once per variant and
arm (campaigns.compiled), and queues the next → the last marks the campaign sent. The minutely
`sends_tick` starts scheduled campaigns that are due and resumes sends whose worker went silent (no
heartbeat for SEND_STALE_AFTER seconds) or whose retries are due.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, DateTimeField, F, IntegerField, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Mod
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from campaigns.compiled import CompiledContent
from campaigns.handover import Connecting, Sender
from campaigns.handover import email_for as email_for  # sending.email_for, as before
from campaigns.models import Campaign, CampaignStatus, Channel, Delivery, DeliveryStatus
from campaigns.outcomes import (
    Outcome,
    deliveries_claim,
    deliveries_mark_sent,
    deliveries_mark_unclaimed,
    delivery_mark,
    error_text,
    outcome_of,
)
from campaigns.personalisation import TokenError, allowed_tokens, tokens_check
from campaigns.selectors.audience import (
    assigned_audience,
    audience_contacts,
    audience_spec,
    included_groups_expression,
    unsubscribed,
)
from contacts.models import Contact, ContactField

logger = logging.getLogger(__name__)
HEARTBEAT_EVERY = timedelta(seconds=5)


class SendError(ValueError):
    """A send that cannot start; the message says why."""


# --- starting ------------------------------------------------------------------------------------


@transaction.atomic
def campaign_send(*, campaign: Campaign, at: datetime | None = None) -> Campaign:
    """Send a draft campaign now (queued for the worker) or schedule it for `at` (a future moment)."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.is_triggered:
        raise SendError("A campaign sent when someone joins is not sent at once: activate it.")
    if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        raise SendError(f"The campaign is {campaign.get_status_display().lower()}: it can be sent only once.")
    send_check(campaign=campaign)
    later = at is not None and at > timezone.now()
    if not later and not audience_contacts(spec=audience_spec(campaign=campaign)).exists():
        raise SendError("Nobody would receive it: the audience is empty.")
    if later:
        Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SCHEDULED, scheduled_at=at, send_error="")
    else:
        Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SCHEDULED, scheduled_at=timezone.now())
        transaction.on_commit(lambda: _queue("campaigns.tasks.send_start", campaign.pk))
    campaign.refresh_from_db()
    audit_record(
        action=AuditAction.CAMPAIGN_SCHEDULED if later else AuditAction.CAMPAIGN_SENT,
        obj=campaign,
        changes={
            "channel": campaign.get_channel_display(),
            "groups": [f"{g.get_role_display()}: {g.group.name}" for g in campaign.group_links.select_related("group")],
            "scheduled_at": campaign.scheduled_at,
        },
    )
    return campaign


def send_check(*, campaign: Campaign) -> None:
    """Refuse (SendError) a campaign that cannot go out: no included group, no subject, no body, a bad token."""
    if not campaign.group_links.exists():
        raise SendError("Choose at least one included group first.")
    if campaign.channel == Channel.EMAIL and not campaign.subject.strip():
        raise SendError("The email has no subject.")
    if not campaign.body.strip():
        raise SendError("The message is empty.")
    _check_content(campaign)


def _check_content(campaign: Campaign) -> None:
    """Every text of the campaign, its variants and arms uses only tokens that exist now (a custom field may
    have been deactivated since it was saved)."""
    allowed = allowed_tokens()
    layers: list[Any] = [campaign, *campaign.variants.select_related("group"), *campaign.arms.all()]
    for layer in layers:
        where = "" if layer is campaign else f" ({layer})"
        for text in (layer.subject, layer.preheader, layer.body):
            try:
                tokens_check(text, allowed=allowed)
            except TokenError as exc:
                raise SendError(f"The content{where} cannot be personalised: {exc}") from exc


@transaction.atomic
def campaign_send_cancel(*, campaign: Campaign) -> Campaign:
    """Cancel a scheduled or held campaign before it starts (it goes back to draft, the hold's reason cleared);
    a started send cannot be recalled."""
    if not Campaign.objects.filter(pk=campaign.pk, status__in=[CampaignStatus.SCHEDULED, CampaignStatus.HELD]).update(
        status=CampaignStatus.DRAFT, scheduled_at=None, send_error=""
    ):
        raise SendError("Only a scheduled or held campaign that has not started can be cancelled.")
    campaign.refresh_from_db()
    audit_record(action=AuditAction.CAMPAIGN_SEND_CANCELLED, obj=campaign)
    return campaign


def freeze_audience(*, campaign: Campaign, contact_ids: list[int] | None = None, now: datetime | None = None) -> int:
    """One INSERT … SELECT of the campaign's audience — or of these contacts of it (a triggered campaign's
    entrants) — into Delivery rows, with the variant, the A/B arm and the included groups each contact is in;
    a contact who already has a delivery of this campaign is left as it is. Returns the rows inserted."""
    address = F("phone") if campaign.channel == Channel.SMS else F("email")
    audience = assigned_audience(campaign=campaign)
    if contact_ids is not None:
        audience = audience.filter(pk__in=contact_ids)
    columns = {
        "campaign_id": Value(campaign.pk, output_field=IntegerField()),
        "contact_id": F("pk"),
        "channel": Value(campaign.channel),
        "address": address,
        "variant_id": F("variant_id"),
        "arm": Coalesce(F("arm"), Value("")),
        "status": Value(DeliveryStatus.QUEUED.value),
        "error": Value(""),
        "included_groups": included_groups_expression(include=audience_spec(campaign=campaign).include),
        "attempts": Value(0),
        "created_at": Value(now or timezone.now(), output_field=DateTimeField()),
    }
    aliases = {f"_{name}": expression for name, expression in columns.items()}
    select, params = audience.order_by().annotate(**aliases).values_list(*aliases).query.sql_with_params()
    table = connection.ops.quote_name(Delivery._meta.db_table)
    with connection.cursor() as cursor:
        # SQLite needs the SELECT to have a WHERE before ON CONFLICT (it has: the audience's conditions).
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) {select} ON CONFLICT (campaign_id, contact_id) DO NOTHING",
            params,
        )
        return cursor.rowcount


def send_start(*, campaign_id: int, now: datetime | None = None) -> int | None:
    """Freeze the audience and mark the campaign sending (one transaction), then queue the first batch.

    Returns the number of deliveries; None when the campaign is not (or no longer) waiting to start.
    """
    now = now or timezone.now()
    with transaction.atomic():
        started = Campaign.objects.filter(
            pk=campaign_id, status=CampaignStatus.SCHEDULED, scheduled_at__lte=now
        ).update(status=CampaignStatus.SENDING, send_started_at=now, send_heartbeat_at=now, send_error="")
        if not started:
            return None
        campaign = Campaign.objects.get(pk=campaign_id)
        count = freeze_audience(campaign=campaign)
        Campaign.objects.filter(pk=campaign_id).update(recipients=count)
        transaction.on_commit(lambda: _queue_chains(campaign_id))
    return count


def queue_batch(*, campaign_id: int, part: int | None = None, parts: int = 1) -> None:
    """Queue the campaign's next batch in the worker (of one part of its deliveries: `send_batch`)."""
    from health.queue import task_queue

    if part is None:
        _queue("campaigns.tasks.send_batch", campaign_id)
    else:
        task_queue("campaigns.tasks.send_batch", campaign_id, part, parts)


def _queue_chains(campaign_id: int) -> None:
    """Start the send: SEND_WORKERS chains of batches, each sending its part of the deliveries (id mod n)."""
    parts = max(1, settings.SEND_WORKERS)
    if parts == 1:
        _queue("campaigns.tasks.send_batch", campaign_id)
        return
    for part in range(parts):
        queue_batch(campaign_id=campaign_id, part=part, parts=parts)


def _queue(func: str, campaign_id: int) -> None:
    """Queue a task of the send; the broker down, it is kept and queued when it is back (health.queue)."""
    from health.queue import task_queue

    task_queue(func, campaign_id)


# --- sending -------------------------------------------------------------------------------------


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    more: bool = False
    retrying: int = 0  # sent back to the queue after a temporary refusal, to be retried later
    unknown: int = 0  # the connection broke while sending them: not confirmed, never sent again


def send_batch(*, campaign_id: int, limit: int | None = None, part: int | None = None, parts: int = 1) -> BatchResult:
    """Send the next `limit` (SEND_BATCH) due deliveries of a sending campaign; finish it when none are left.

    `part` of `parts`: only the deliveries whose id mod `parts` is `part` (SEND_WORKERS chains of batches
    run side by side on disjoint rows; the claims would keep them apart anyway).

    An active triggered campaign is sent the same way and never finished (campaigns.triggers).
    Content is compiled once per (variant, arm) (campaigns.compiled). The deliveries are claimed SEND_CLAIM
    at a time (one UPDATE committed before any of them is sent), sent one by one through one connection,
    and the accepted ones recorded with one UPDATE per chunk.
    """
    result = BatchResult()
    sendable = [CampaignStatus.SENDING, CampaignStatus.ACTIVE]
    campaign = Campaign.objects.filter(pk=campaign_id, status__in=sendable).first()
    if campaign is None:
        return result
    beat = timezone.now()
    Campaign.objects.filter(pk=campaign_id).update(send_heartbeat_at=beat)
    deliveries = list(
        _due(campaign_id, beat, part, parts)
        .select_related("contact__account")
        .order_by("pk")[: limit or settings.SEND_BATCH]
    )
    if not deliveries:
        campaign_send_finish(campaign_id=campaign_id)
        return result
    contact_ids = [d.contact_id for d in deliveries if d.contact_id]
    gone = set(
        Contact.objects.filter(pk__in=contact_ids).filter(unsubscribed(campaign.channel)).values_list("pk", flat=True)
    )
    skipped = [d.pk for d in deliveries if d.contact is None or d.contact_id in gone]
    result.skipped = deliveries_mark_unclaimed(
        ids=skipped, status=DeliveryStatus.SKIPPED, error="Unsubscribed or deleted after the send started."
    )
    variants = {v.pk: v for v in campaign.variants.all()}
    arms = {a.label: a for a in campaign.arms.all()}
    fields = list(ContactField.objects.active())
    allowed = allowed_tokens()
    compiled: dict[tuple[int | None, str], CompiledContent] = {}
    todo: list[tuple[Delivery, CompiledContent]] = []
    broken: dict[str, list[int]] = {}
    for delivery in deliveries:
        if delivery.pk in skipped:
            continue
        key = (delivery.variant_id, delivery.arm)
        if key not in compiled:
            compiled[key] = CompiledContent(
                campaign=campaign, variant=variants.get(delivery.variant_id or 0), arm=arms.get(delivery.arm),
                allowed=allowed,
            )  # fmt: skip
        content = compiled[key]
        if content.error is not None:
            broken.setdefault(str(content.error), []).append(delivery.pk)
        else:
            todo.append((delivery, content))
    for error, ids in broken.items():
        result.failed += deliveries_mark_unclaimed(ids=ids, status=DeliveryStatus.FAILED, error=error)
    sender = Sender(campaign)
    try:
        for start in range(0, len(todo), settings.SEND_CLAIM):
            chunk = todo[start : start + settings.SEND_CLAIM]
            won = set(deliveries_claim(ids=[d.pk for d, _ in chunk]))
            sent: list[int] = []
            for delivery, content in chunk:
                if delivery.pk in won:
                    _send_one(sender, delivery, content, fields, sent, result)
                if timezone.now() - beat > HEARTBEAT_EVERY:  # a slow server must not look like a dead worker
                    beat = timezone.now()
                    Campaign.objects.filter(pk=campaign_id).update(send_heartbeat_at=beat)
            deliveries_mark_sent(ids=sent)
            result.sent += len(sent)
    finally:
        sender.close()
    result.more = _due(campaign_id, timezone.now(), part, parts).exists()
    if not result.more:
        campaign_send_finish(campaign_id=campaign_id)
    return result


def _due(campaign_id: int, now: datetime, part: int | None = None, parts: int = 1) -> QuerySet[Delivery]:
    """The campaign's queued deliveries that may be sent now (not waiting for an automatic retry)."""
    rows = Delivery.objects.filter(campaign_id=campaign_id, status=DeliveryStatus.QUEUED).filter(
        Q(retry_at__isnull=True) | Q(retry_at__lte=now)
    )
    if part is not None and parts > 1:
        rows = rows.alias(_part=Mod("id", parts)).filter(_part=part)
    return rows


def _send_one(
    sender: Sender, delivery: Delivery, content: CompiledContent, fields: list[ContactField], sent: list[int],
    result: BatchResult,
) -> None:  # fmt: skip
    """Render and send one claimed delivery; a failure is recorded at once, a success added to `sent`."""
    assert delivery.contact is not None
    values = content.values(delivery.contact, fields)
    message = content.message(values)
    try:
        accepted = sender.send(content=content, delivery=delivery, message=message, values=values)
    except Connecting as exc:
        outcome, error = outcome_of(exc.exc, connecting=True), error_text(exc.exc, connecting=True)
    except Exception as exc:  # refused, or the connection broke: reopen for the next message
        outcome, error = outcome_of(exc), error_text(exc)
        sender.close()
    else:
        if accepted:
            sent.append(delivery.pk)
            return
        outcome, error = Outcome.FAILED, "The backend did not accept the message."
    status = delivery_mark(delivery_id=delivery.pk, outcome=outcome, error=error, attempts=delivery.attempts)
    if status == DeliveryStatus.QUEUED:
        result.retrying += 1
    elif status == DeliveryStatus.UNKNOWN:
        result.unknown += 1
    else:
        result.failed += 1


def campaign_send_finish(*, campaign_id: int) -> bool:
    """Mark a sending campaign sent (failed when no message was accepted) once nothing is queued or in flight."""
    busy = Delivery.objects.filter(
        campaign_id=campaign_id, status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING]
    ).exists()
    if busy:
        return False
    counts = delivery_counts(campaign_id=campaign_id)
    failed = counts.get(DeliveryStatus.FAILED, 0)
    status, error = CampaignStatus.SENT, ""
    if failed and not counts.get(DeliveryStatus.SENT, 0):
        status = CampaignStatus.FAILED
        first = Delivery.objects.filter(campaign_id=campaign_id, status=DeliveryStatus.FAILED).order_by("pk").first()
        error = f"No message was accepted. First error: {first.error if first else ''}"
    return bool(
        Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.SENDING).update(
            status=status, sent_at=timezone.now(), send_error=error
        )
    )


def delivery_counts(*, campaign_id: int) -> dict[str, int]:
    """Deliveries per status (one grouped query)."""
    rows = Delivery.objects.filter(campaign_id=campaign_id).values("status").annotate(n=Count("pk")).order_by()
    return {r["status"]: r["n"] for r in rows}


# --- the minutely check --------------------------------------------------------------------------


def sends_start_due(*, now: datetime | None = None) -> list[int]:
    """Start every scheduled campaign whose time has come, unless the safety rail holds it; returns their ids."""
    from campaigns.safety import send_hold_if_changed  # the rail builds on this module

    now = now or timezone.now()
    due = list(
        Campaign.objects.filter(status=CampaignStatus.SCHEDULED, scheduled_at__lte=now).values_list("pk", flat=True)
    )
    due = [pk for pk in due if not send_hold_if_changed(campaign_id=pk, now=now)]
    return [pk for pk in due if send_start(campaign_id=pk, now=now) is not None]


def sends_recover(*, now: datetime | None = None) -> list[int]:
    """Resume every sending campaign whose worker went silent: its in-flight rows become `unknown`
    (never sent again) and a batch is queued for the rest — the deliveries that are due, automatic
    retries included (a send waiting only for retries not yet due is left alone). Returns the campaign ids."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.SEND_STALE_AFTER)
    resumed, lost = [], 0
    for campaign in Campaign.objects.filter(status=CampaignStatus.SENDING, send_heartbeat_at__lt=cutoff):
        rows = Delivery.objects.filter(campaign_id=campaign.pk)
        waiting = rows.filter(status=DeliveryStatus.QUEUED).exists() and not _due(campaign.pk, now).exists()
        if waiting and not rows.filter(status=DeliveryStatus.SENDING).exists():
            continue  # nothing in flight, only retries that are not due yet
        with transaction.atomic():
            if not Campaign.objects.filter(
                pk=campaign.pk, status=CampaignStatus.SENDING, send_heartbeat_at=campaign.send_heartbeat_at
            ).update(send_heartbeat_at=now):
                continue  # it beat meanwhile (or ended)
            lost += rows.filter(status=DeliveryStatus.SENDING).update(
                status=DeliveryStatus.UNKNOWN,
                error="The worker stopped while sending this message; it may or may not have gone out, "
                "so it is not sent again.",
            )
            transaction.on_commit(lambda pk=campaign.pk: _queue("campaigns.tasks.send_batch", pk))  # type: ignore[misc]
            resumed.append(campaign.pk)
    if resumed:
        logger.warning("sends resumed: campaigns %s (%s deliveries not confirmed)", resumed, lost)
    return resumed
