"""Triggered campaigns: a message to everyone who ENTERS one of the campaign's included groups after it was
activated ("welcome everyone who joins Hot CZ prospects") — each contact at most once, ever, and at most
`daily_cap` new messages a local day.

Invariant: every entry (a MembershipEvent of kind ENTERED into an included group) is handled exactly once.
The campaign's `trigger_cursor` (the last event id handled) moves in the SAME transaction that inserts the
deliveries of the entries it passes, under a row lock on the campaign, and never beyond
`segments.selectors.history_safe_upper()` (below it no event can still appear), so two workers racing
handle disjoint entries and a crash handles nothing twice. "At most once per contact" is the unique
(campaign, contact) of Delivery: the insert is ON CONFLICT DO NOTHING, whatever races it.

A merge moves memberships to the contact merged into: not an entry (the person was a member already), and a
contact whose merged-in contact got the message counts as having got it.

An entrant is judged when handled, by the campaign's audience rules (campaigns.selectors.audience): still in
an included group, in no excluded group, unmerged, with an address for the channel, not unsubscribed, with
the required consent. Entries that send nothing are counted by reason in `trigger_skips`.

Daily cap: when the day's deliveries (created on the local calendar day, project time zone) reach the cap,
the cursor stops before the next eligible entry: the rest WAIT in the history, in order, and go first the
next day (judged again then: someone who left meanwhile gets nothing). Pausing stops both the handling of
entries and the sending of messages not yet sent; resuming either catches up on the entries that came
meanwhile or starts from now.

The deliveries go out through campaigns.sending.send_batch (the one-off sender: claim, send, mark; an
active triggered campaign is never "finished"). The minutely `triggers_tick` handles new entries and resumes
a send whose worker died, as `sends_recover` does for one-off sends.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from campaigns.models import Campaign, CampaignKind, CampaignStatus, Delivery, DeliveryStatus
from campaigns.selectors.audience import OK, audience_spec, with_reason
from campaigns.selectors.triggers import deliveries_today
from campaigns.sending import SendError, freeze_audience, send_check
from health.queue import task_queue_on_commit
from segments.models import Cause, EventKind, MembershipEvent
from segments.selectors import history_last_id, history_safe_upper

CHUNK = 500  # entries read per transaction
MAX_CHUNKS = 100  # per campaign and run: a flood of entries (a new condition) continues at the next run


@dataclass
class TriggerResult:
    queued: int = 0  # deliveries created
    skipped: dict[str, int] = field(default_factory=dict)
    deferred: bool = False  # the daily cap stopped it: the rest waits for tomorrow


# --- activate / pause ----------------------------------------------------------------------------


@transaction.atomic
def campaign_trigger_activate(*, campaign: Campaign, catch_up: bool = True, now: dt.datetime | None = None) -> Campaign:
    """Start a draft triggered campaign (entries from now on count), or resume a paused one: with
    `catch_up`, the entries made while it was paused are handled too; without, only those from now on."""
    now = now or timezone.now()
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if not campaign.is_triggered:
        raise SendError("Only a campaign sent when someone joins can be activated.")
    if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.PAUSED):
        raise SendError(f"The campaign is {campaign.get_status_display().lower()}.")
    send_check(campaign=campaign)
    update: dict = {"status": CampaignStatus.ACTIVE, "send_error": ""}
    if campaign.status == CampaignStatus.DRAFT or not catch_up:
        # TRICKY: the newest id written so far, not history_safe_upper(): an entry still being written at
        # this very moment counts as made before the activation (it never waits for a rebuild's lock).
        update["trigger_cursor"] = history_last_id()
    if campaign.status == CampaignStatus.DRAFT:
        update["trigger_activated_at"] = now
    Campaign.objects.filter(pk=campaign.pk).update(**update)
    if campaign.deliveries.filter(status=DeliveryStatus.QUEUED).exists():  # messages the pause held back
        task_queue_on_commit("campaigns.tasks.send_batch", campaign.pk)
    task_queue_on_commit("campaigns.tasks.trigger_run", campaign.pk)
    campaign.refresh_from_db()
    return campaign


@transaction.atomic
def campaign_trigger_pause(*, campaign: Campaign) -> Campaign:
    """Stop an active triggered campaign: no entry is handled and no message sent until it is resumed
    (a batch already running finishes its few messages)."""
    if not Campaign.objects.filter(pk=campaign.pk, kind=CampaignKind.TRIGGERED, status=CampaignStatus.ACTIVE).update(
        status=CampaignStatus.PAUSED
    ):
        raise SendError("Only an active campaign can be paused.")
    campaign.refresh_from_db()
    return campaign


# --- handling entries ----------------------------------------------------------------------------


def _skip_key(reason: str | None) -> str:
    if reason is None:
        return "left"  # not (or no longer) an unmerged member of an included group
    return "excluded" if reason.startswith("group:") else reason


def _insert_deliveries(*, campaign: Campaign, contact_ids: list[int], now: dt.datetime) -> int:
    """These entrants' deliveries, frozen as a one-off send freezes its audience (the audience rules checked
    again); a contact who already has one is left as it is."""
    return freeze_audience(campaign=campaign, contact_ids=contact_ids, now=now)


def _handle_chunk(*, campaign_id: int, upper: int, now: dt.datetime, result: TriggerResult) -> bool:
    """Handle the next CHUNK entries after the cursor (one transaction); True when more may follow."""
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update()
            .filter(pk=campaign_id, kind=CampaignKind.TRIGGERED, status=CampaignStatus.ACTIVE)
            .first()
        )
        if campaign is None or campaign.trigger_cursor >= upper:
            return False
        room = (
            None
            if campaign.daily_cap is None
            else campaign.daily_cap - deliveries_today(campaign_id=campaign_id, now=now)
        )
        if room is not None and room <= 0:
            result.deferred = True
            return False
        spec = audience_spec(campaign=campaign)
        events = list(
            MembershipEvent.objects.filter(
                pk__gt=campaign.trigger_cursor, pk__lte=upper, kind=EventKind.ENTERED, group_id__in=spec.include
            )
            .exclude(cause=Cause.MERGE)  # a merge moves a membership the person already had: nobody joined
            .order_by("pk")
            .values_list("pk", "contact_id", "at")[:CHUNK]
        )
        ids = list({contact_id for _, contact_id, _ in events})
        reasons = dict(with_reason(spec=spec).filter(pk__in=ids).values_list("pk", "reason"))  # type: ignore[misc]
        sent = Delivery.objects.filter(campaign_id=campaign_id)
        seen: set[int | None] = set(sent.filter(contact_id__in=ids).values_list("contact_id", flat=True))
        # a contact merged into one of them got it: the same person
        seen |= set(sent.filter(contact__merged_into__in=ids).values_list("contact__merged_into", flat=True))
        taken: list[int] = []
        cursor, last_at = campaign.trigger_cursor, campaign.trigger_last_event_at
        skips = dict(campaign.trigger_skips or {})
        for event_id, contact_id, at in events:
            reason = reasons.get(contact_id)
            if contact_id in seen:
                key = "already"
            elif reason != OK:
                key = _skip_key(reason)
            elif room is not None and len(taken) >= room:
                result.deferred = True  # the day is full: this entry and the rest wait (the cursor stays before it)
                break
            else:
                taken.append(contact_id)
                seen.add(contact_id)
                key = ""
            if key:
                skips[key] = skips.get(key, 0) + 1
                result.skipped[key] = result.skipped.get(key, 0) + 1
            cursor, last_at = event_id, at
        else:
            if len(events) < CHUNK:
                cursor = upper  # every entry up to the bound was seen
        inserted = _insert_deliveries(campaign=campaign, contact_ids=taken, now=now) if taken else 0
        update: dict = {"trigger_cursor": cursor, "trigger_last_event_at": last_at, "trigger_skips": skips}
        if inserted:
            # The heartbeat says a batch is on its way: the recovery below leaves it alone for SEND_STALE_AFTER.
            update.update(recipients=F("recipients") + inserted, send_heartbeat_at=now)
            task_queue_on_commit("campaigns.tasks.send_batch", campaign_id)
        Campaign.objects.filter(pk=campaign_id).update(**update)
        result.queued += inserted
        return not result.deferred and len(events) == CHUNK


def trigger_process(*, campaign_id: int, upper: int, now: dt.datetime | None = None) -> TriggerResult:
    """Turn the campaign's new entries (up to event id `upper`) into queued deliveries, within the daily cap."""
    now = now or timezone.now()
    result = TriggerResult()
    for _ in range(MAX_CHUNKS):
        if not _handle_chunk(campaign_id=campaign_id, upper=upper, now=now, result=result):
            break
    return result


def trigger_send_resume(*, campaign_id: int, now: dt.datetime | None = None) -> bool:
    """Queue a batch for an active campaign's deliveries left queued (its worker died, or it was paused
    meanwhile) when no batch showed a sign of life for SEND_STALE_AFTER; the message a dead worker had in
    flight is marked unknown and never sent again (the protocol of campaigns.sending.sends_recover)."""
    now = now or timezone.now()
    row = Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.ACTIVE).values("send_heartbeat_at").first()
    if row is None:
        return False
    beat = row["send_heartbeat_at"]
    if beat is not None and beat >= now - dt.timedelta(seconds=settings.SEND_STALE_AFTER):
        return False
    pending = Delivery.objects.filter(
        campaign_id=campaign_id, status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING]
    )
    if not pending.exists():
        return False
    with transaction.atomic():
        if not Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.ACTIVE, send_heartbeat_at=beat).update(
            send_heartbeat_at=now
        ):
            return False  # a batch beat meanwhile
        Delivery.objects.filter(campaign_id=campaign_id, status=DeliveryStatus.SENDING).update(
            status=DeliveryStatus.UNKNOWN,
            error="The worker stopped while sending this message; it may or may not have gone out, "
            "so it is not sent again.",
        )
        task_queue_on_commit("campaigns.tasks.send_batch", campaign_id)
    return True


def trigger_run(*, campaign_id: int, now: dt.datetime | None = None) -> TriggerResult:
    """Handle one active campaign's new entries and resume its sending if needed (after an activation)."""
    upper = history_safe_upper()
    result = TriggerResult() if upper is None else trigger_process(campaign_id=campaign_id, upper=upper, now=now)
    trigger_send_resume(campaign_id=campaign_id, now=now)
    return result


def triggers_tick(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Minutely: every active triggered campaign's new entries become deliveries; stalled sends resume."""
    active = list(
        Campaign.objects.filter(kind=CampaignKind.TRIGGERED, status=CampaignStatus.ACTIVE).values_list("pk", flat=True)
    )
    if not active:
        return {"campaigns": 0, "queued": 0, "resumed": 0}  # never lock the history table for nothing
    upper = history_safe_upper()  # one bound for all: one short lock a minute
    queued = resumed = 0
    for pk in active:
        if upper is not None:
            queued += trigger_process(campaign_id=pk, upper=upper, now=now).queued
        resumed += trigger_send_resume(campaign_id=pk, now=now)
    return {"campaigns": len(active), "queued": queued, "resumed": resumed}
