"""Sending a campaign: freeze the audience into Delivery rows, send them in batches, resume after a crash.

Invariant — nobody is sent a campaign twice. A delivery is claimed by ONE conditional UPDATE
(queued → sending, committed on its own) before its message is handed to the backend, and marked
sent right after the backend accepts it. Two workers never both win a claim, and a row is never
claimed twice. When a worker dies, the rows it left in `sending` (at most the one message in flight)
are marked `unknown` by the recovery and NOT sent again: that contact got the message once or not at
all (the backend may or may not have accepted it before the kill). So the guarantee is at most once
per contact, and exactly once for everyone but a crashed worker's in-flight message, which is
reported on the campaign's Sending tab.

Flow: `campaign_send` (now or at a time) → `send_start` freezes the audience with one INSERT … SELECT
in one transaction and queues `campaigns.tasks.send_batch` → each batch sends up to SEND_BATCH
deliveries through one email connection (or the SMS backend) and queues the next → the last marks
the campaign sent. The minutely `sends_tick` starts scheduled campaigns that are due and resumes
sends whose worker went silent (no heartbeat for SEND_STALE_AFTER seconds).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction
from django.db.models import Count, F, IntegerField, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.html import escape

from audit.models import AuditAction
from audit.services import audit_record
from campaigns.compose import Message, message_for
from campaigns.events import deliveries_sent_record
from campaigns.links import unsubscribe_url
from campaigns.models import Campaign, CampaignStatus, Channel, Delivery, DeliveryStatus
from campaigns.personalisation import TokenError, allowed_tokens, tokens_check
from campaigns.selectors.audience import (
    assigned_audience,
    audience_contacts,
    audience_spec,
    included_groups_expression,
    unsubscribed,
)
from campaigns.sms_backends import SmsMessage, sms_backend
from campaigns.tracking import html_tracked
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
    """Cancel a scheduled campaign before it starts (it goes back to draft); a started send cannot be recalled."""
    if not Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.SCHEDULED).update(
        status=CampaignStatus.DRAFT, scheduled_at=None
    ):
        raise SendError("Only a scheduled campaign that has not started can be cancelled.")
    campaign.refresh_from_db()
    audit_record(action=AuditAction.CAMPAIGN_SEND_CANCELLED, obj=campaign)
    return campaign


def freeze_audience(*, campaign: Campaign) -> int:
    """One INSERT … SELECT of the campaign's audience (with its variant, A/B arm and the included groups each
    contact is in) into Delivery rows."""
    address = F("phone") if campaign.channel == Channel.SMS else F("email")
    rows = (
        assigned_audience(campaign=campaign)
        .order_by()
        .annotate(
            _campaign=Value(campaign.pk, output_field=IntegerField()),
            _contact=F("pk"),
            _channel=Value(campaign.channel),
            _address=address,
            _variant=F("variant_id"),
            _arm=Coalesce(F("arm"), Value("")),
            _status=Value(DeliveryStatus.QUEUED.value),
            _error=Value(""),
            _groups=included_groups_expression(include=audience_spec(campaign=campaign).include),
        )
        .values_list(
            "_campaign", "_contact", "_channel", "_address", "_variant", "_arm", "_status", "_error", "_groups"
        )
    )
    select, params = rows.query.sql_with_params()
    table = connection.ops.quote_name(Delivery._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (campaign_id, contact_id, channel, address, variant_id, arm, status, error, "
            f"included_groups) {select}",
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
        transaction.on_commit(lambda: _queue("campaigns.tasks.send_batch", campaign_id))
    return count


def queue_batch(*, campaign_id: int) -> None:
    """Queue the campaign's next batch in the worker."""
    _queue("campaigns.tasks.send_batch", campaign_id)


def _queue(func: str, campaign_id: int) -> None:
    from django_q.tasks import async_task

    async_task(func, campaign_id)


# --- sending -------------------------------------------------------------------------------------


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    more: bool = False


def _claim(delivery_id: int) -> bool:
    """queued → sending, committed before the message goes out; False when someone else has it."""
    with transaction.atomic():
        return bool(Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.QUEUED).update(
            status=DeliveryStatus.SENDING
        ))  # fmt: skip


def _mark(delivery_ids: list[int], status: str, error: str = "", *, claimed: bool = True) -> None:
    """Record the outcome: of a claimed row (sending, or unknown if a recovery judged this worker dead
    meanwhile) or, `claimed=False`, of a row still queued — never overwriting another worker's outcome."""
    sent_at = timezone.now() if status == DeliveryStatus.SENT else None
    current = [DeliveryStatus.SENDING, DeliveryStatus.UNKNOWN] if claimed else [DeliveryStatus.QUEUED]
    with transaction.atomic():  # a sent delivery and its `sent` event (the webhooks' outbox) commit together
        marked = Delivery.objects.filter(pk__in=delivery_ids, status__in=current).update(
            status=status, error=error[:2000], sent_at=sent_at
        )
        if marked and sent_at is not None:
            deliveries_sent_record(delivery_ids=delivery_ids, sent_at=sent_at)


def email_for(*, campaign: Campaign, delivery: Delivery, message: Message) -> EmailMultiAlternatives:
    """The email of one delivery: both parts, the unsubscribe link in each and the RFC 8058 headers; the
    HTML's links go through the click redirect and it carries the open pixel (campaigns.tracking)."""
    url = unsubscribe_url(delivery_id=delivery.pk)
    preheader = (
        f'<div style="display:none;max-height:0;overflow:hidden">{escape(message.preheader)}</div>\n'
        if message.preheader
        else ""
    )
    html = (
        f"{preheader}{html_tracked(html=message.html, delivery_id=delivery.pk)}\n"
        '<p style="font-size:12px;color:#6c757d">Do not want these emails? '
        f'<a href="{escape(url)}">Unsubscribe</a>.</p>'
    )
    text = f"{message.text}\n\n--\nUnsubscribe: {url}\n"
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=text,
        from_email=campaign.sender or settings.DEFAULT_FROM_EMAIL,
        to=[delivery.address],
        headers={"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )
    email.attach_alternative(html, "text/html")
    return email


def send_batch(*, campaign_id: int, limit: int | None = None) -> BatchResult:
    """Send the next `limit` (SEND_BATCH) queued deliveries of a sending campaign (or an active triggered one,
    which is never finished: campaigns.triggers); finish it when none are left."""
    result = BatchResult()
    sendable = [CampaignStatus.SENDING, CampaignStatus.ACTIVE]
    campaign = Campaign.objects.filter(pk=campaign_id, status__in=sendable).first()
    if campaign is None:
        return result
    beat = timezone.now()
    Campaign.objects.filter(pk=campaign_id).update(send_heartbeat_at=beat)
    limit = limit or settings.SEND_BATCH
    ids = list(
        Delivery.objects.filter(campaign_id=campaign_id, status=DeliveryStatus.QUEUED)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    if not ids:
        campaign_send_finish(campaign_id=campaign_id)
        return result
    deliveries = list(Delivery.objects.filter(pk__in=ids).select_related("contact__account").order_by("pk"))
    contact_ids = [d.contact_id for d in deliveries if d.contact_id]
    gone = set(
        Contact.objects.filter(pk__in=contact_ids).filter(unsubscribed(campaign.channel)).values_list("pk", flat=True)
    )
    skipped = [d.pk for d in deliveries if d.contact is None or d.contact_id in gone]
    if skipped:
        _mark(skipped, DeliveryStatus.SKIPPED, "Unsubscribed or deleted after the send started.", claimed=False)
        result.skipped = len(skipped)
    variants = {v.pk: v for v in campaign.variants.all()}
    arms = {a.label: a for a in campaign.arms.all()}
    fields = list(ContactField.objects.active())
    email_connection = get_connection() if campaign.channel == Channel.EMAIL else None
    sms = sms_backend() if campaign.channel == Channel.SMS else None
    try:
        for delivery in deliveries:
            if delivery.pk in skipped:
                continue
            assert delivery.contact is not None
            try:
                message = message_for(
                    campaign=campaign,
                    contact=delivery.contact,
                    variant=variants.get(delivery.variant_id) if delivery.variant_id else None,
                    arm=arms.get(delivery.arm),
                    fields=fields,
                )
            except TokenError as exc:
                _mark([delivery.pk], DeliveryStatus.FAILED, str(exc), claimed=False)
                result.failed += 1
                continue
            if not _claim(delivery.pk):
                continue
            try:
                if email_connection is not None:
                    accepted = email_connection.send_messages(
                        [email_for(campaign=campaign, delivery=delivery, message=message)]
                    )
                else:
                    assert sms is not None
                    accepted = sms.send_messages([SmsMessage(campaign.sender, delivery.address, message.text)])
            except Exception as exc:  # refused, or the connection broke: reopen for the next message
                _mark([delivery.pk], DeliveryStatus.FAILED, f"{type(exc).__name__}: {exc}")
                result.failed += 1
                if email_connection is not None:
                    _close_quietly(email_connection)
                continue
            if accepted:
                _mark([delivery.pk], DeliveryStatus.SENT)
                result.sent += 1
            else:
                _mark([delivery.pk], DeliveryStatus.FAILED, "The backend did not accept the message.")
                result.failed += 1
            if timezone.now() - beat > HEARTBEAT_EVERY:
                beat = timezone.now()
                Campaign.objects.filter(pk=campaign_id).update(send_heartbeat_at=beat)
    finally:
        if email_connection is not None:
            _close_quietly(email_connection)
    result.more = Delivery.objects.filter(campaign_id=campaign_id, status=DeliveryStatus.QUEUED).exists()
    if not result.more:
        campaign_send_finish(campaign_id=campaign_id)
    return result


def _close_quietly(email_connection: object) -> None:
    try:
        email_connection.close()  # type: ignore[attr-defined]
    except Exception:
        logger.debug("closing the email connection failed", exc_info=True)


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
    (never sent again), the rest is queued again. Returns the campaign ids."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.SEND_STALE_AFTER)
    resumed = []
    for campaign in Campaign.objects.filter(status=CampaignStatus.SENDING, send_heartbeat_at__lt=cutoff):
        with transaction.atomic():
            if not Campaign.objects.filter(
                pk=campaign.pk, status=CampaignStatus.SENDING, send_heartbeat_at=campaign.send_heartbeat_at
            ).update(send_heartbeat_at=now):
                continue  # it beat meanwhile (or ended)
            Delivery.objects.filter(campaign_id=campaign.pk, status=DeliveryStatus.SENDING).update(
                status=DeliveryStatus.UNKNOWN,
                error="The worker stopped while sending this message; it may or may not have gone out, "
                "so it is not sent again.",
            )
            transaction.on_commit(lambda pk=campaign.pk: _queue("campaigns.tasks.send_batch", pk))  # type: ignore[misc]
            resumed.append(campaign.pk)
    if resumed:
        logger.warning("interrupted sends resumed: campaigns %s", resumed)
    return resumed
