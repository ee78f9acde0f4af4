"""What happens to a delivery after its claim: sent, failed, retried later or not confirmed.

Invariant (campaigns.sending): nobody is sent a campaign twice. So a claimed delivery goes back to
`queued` (an automatic retry) only when the message certainly did not go out: the mail server answered
with a temporary refusal (an SMTP 4xx reply), or no connection could be opened. A connection that broke
while a message was being handed over may or may not have delivered it: that delivery is `unknown`
(“Not confirmed”) and never sent again. Any other error is `failed`: a person may retry the failed
deliveries of a campaign (`deliveries_retry_failed`, the Sending tab's button); sent, not confirmed and
skipped deliveries are never retried.
"""

from __future__ import annotations

import smtplib
import socket
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from campaigns.events import deliveries_sent_record
from campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryStatus


class Outcome(StrEnum):
    RETRY = "retry"  # certainly not sent, and may work later
    FAILED = "failed"  # not sent (as far as anyone can tell); a person may retry
    UNKNOWN = "unknown"  # may have gone out: never sent again


def outcome_of(exc: BaseException, *, connecting: bool = False) -> Outcome:
    """How a backend's exception ends a delivery; `connecting`: raised while opening the connection."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return Outcome.RETRY if codes and all(400 <= c < 500 for c in codes) else Outcome.FAILED
    if isinstance(exc, smtplib.SMTPResponseException):
        return Outcome.RETRY if 400 <= exc.smtp_code < 500 else Outcome.FAILED
    if connecting and isinstance(exc, (OSError, smtplib.SMTPException)):
        return Outcome.RETRY  # refused, unreachable, timed out, unknown host: nothing was handed over
    if isinstance(exc, (smtplib.SMTPServerDisconnected, ConnectionError, socket.timeout)):
        return Outcome.UNKNOWN  # the connection broke mid-message: the server may have taken it
    return Outcome.FAILED


def retry_delay(attempt: int) -> timedelta:
    """Wait before automatic retry number `attempt` (1, 2, …): SEND_RETRY_DELAY seconds, ×4 each time."""
    return timedelta(seconds=settings.SEND_RETRY_DELAY * 4 ** (attempt - 1))


def error_text(exc: BaseException, *, connecting: bool = False) -> str:
    """The reason shown on the Sending tab: the mail server's own reply where there is one."""

    def reply(code: int, message: bytes | str) -> str:
        text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
        return f"{code} {text}".strip()

    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        text = "Refused by the mail server: " + "; ".join(reply(c, m) for c, m in exc.recipients.values())
    elif isinstance(exc, smtplib.SMTPResponseException):
        text = f"Refused by the mail server: {reply(exc.smtp_code, exc.smtp_error)}"
    elif connecting:
        text = f"Could not connect to the mail server: {exc}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text[:2000]


def deliveries_claim(*, ids: list[int]) -> list[int]:
    """queued → sending for these rows, in ONE statement committed on its own before anything is sent;
    returns the ids this worker won (another worker may have some)."""
    if not ids:
        return []
    table = connection.ops.quote_name(Delivery._meta.db_table)
    marks = ", ".join(["%s"] * len(ids))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = %s WHERE id IN ({marks}) AND status = %s RETURNING id",
            [DeliveryStatus.SENDING.value, *ids, DeliveryStatus.QUEUED.value],
        )
        return sorted(row[0] for row in cursor.fetchall())


# A claimed row's outcome is recorded while it is `sending`, or `unknown` if a recovery judged this worker
# dead meanwhile (the outcome is then known after all); never over another worker's outcome.
_CLAIMED = [DeliveryStatus.SENDING, DeliveryStatus.UNKNOWN]


def deliveries_mark_sent(*, ids: list[int], at: datetime | None = None) -> int:
    """Record that the backend accepted these claimed deliveries (one UPDATE)."""
    if not ids:
        return 0
    at = at or timezone.now()
    with transaction.atomic():  # the sent deliveries and their `sent` events (the webhooks' outbox) commit together
        marked = Delivery.objects.filter(pk__in=ids, status__in=_CLAIMED).update(
            status=DeliveryStatus.SENT, sent_at=at, error="", retry_at=None
        )
        if marked:
            deliveries_sent_record(delivery_ids=ids, sent_at=at)
    return marked


def delivery_mark(*, delivery_id: int, outcome: Outcome, error: str, attempts: int) -> str:
    """Record a claimed delivery's failure: retried later while attempts are left, else failed (or unknown).

    `attempts`: the delivery's attempts before this one. Returns the status written.
    """
    rows = Delivery.objects.filter(pk=delivery_id, status__in=_CLAIMED)
    if outcome == Outcome.RETRY and attempts + 1 <= settings.SEND_RETRIES:
        at = timezone.now() + retry_delay(attempts + 1)
        note = f"{error} — retry {attempts + 1} of {settings.SEND_RETRIES} at {timezone.localtime(at):%H:%M:%S}"
        rows.update(status=DeliveryStatus.QUEUED, error=note[:2000], attempts=F("attempts") + 1, retry_at=at)
        return DeliveryStatus.QUEUED
    if outcome == Outcome.RETRY:
        error = f"{error} — gave up after {attempts + 1} attempts"
    elif outcome == Outcome.UNKNOWN:
        error = f"{error} — the connection broke while sending it: it may have gone out, so it is not sent again"
    status = DeliveryStatus.UNKNOWN if outcome == Outcome.UNKNOWN else DeliveryStatus.FAILED
    rows.update(status=status, error=error[:2000], attempts=F("attempts") + 1, retry_at=None)
    return status


def deliveries_mark_unclaimed(*, ids: list[int], status: str, error: str) -> int:
    """Record the outcome of rows still queued (skipped, or failed before sending: a token error)."""
    if not ids:
        return 0
    return Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.QUEUED).update(
        status=status, error=error[:2000], retry_at=None
    )


@transaction.atomic
def deliveries_retry_failed(*, campaign: Campaign) -> int:
    """Queue a campaign's failed deliveries again (only `failed`: never sent, skipped or not confirmed) and
    resume its send (the worker is queued on commit); returns how many."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in (CampaignStatus.SENDING, CampaignStatus.SENT, CampaignStatus.FAILED):
        return 0
    count = Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.FAILED).update(
        status=DeliveryStatus.QUEUED, retry_at=None, error=""
    )
    if count:
        Campaign.objects.filter(pk=campaign.pk).update(
            status=CampaignStatus.SENDING, send_heartbeat_at=timezone.now(), sent_at=None, send_error=""
        )
        transaction.on_commit(lambda: _queue_batch(campaign.pk))
    return count


def _queue_batch(campaign_id: int) -> None:
    from health.queue import task_queue

    task_queue("campaigns.tasks.send_batch", campaign_id)
