"""Reads of triggered campaigns (campaigns.triggers): the day's cap, the entries waiting, the status panel."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, Delivery, GroupRole
from segments.models import Cause, EventKind, MembershipEvent

# Why an entry sent nothing (Campaign.trigger_skips keys), in the order the panel lists them.
SKIP_LABELS = {
    "already": "already received it",
    "left": "no longer in an included group when handled",
    "excluded": "in an excluded group",
    "no_address": "no address for the channel",
    "unsubscribed": "unsubscribed",
    "no_consent": "no consent",
}


def day_bounds(*, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """The local calendar day (project time zone) around `now`: [midnight, next midnight)."""
    today = timezone.localtime(now or timezone.now()).date()
    start = timezone.make_aware(dt.datetime.combine(today, dt.time.min))
    end = timezone.make_aware(dt.datetime.combine(today + dt.timedelta(days=1), dt.time.min))
    return start, end


def deliveries_today(*, campaign_id: int, now: dt.datetime | None = None) -> int:
    """Deliveries the campaign created on the local day of `now` (what its daily cap counts)."""
    start, end = day_bounds(now=now)
    return Delivery.objects.filter(campaign_id=campaign_id, created_at__gte=start, created_at__lt=end).count()


def included_group_ids(*, campaign: Campaign) -> list[int]:
    return list(campaign.group_links.filter(role=GroupRole.INCLUDE).values_list("group_id", flat=True))


def entries_waiting(*, campaign: Campaign) -> int:
    """Entries into the included groups after the campaign's cursor: not handled yet (waiting for the next run,
    for tomorrow's cap, or for the campaign to be resumed). Nothing waits for a campaign never activated."""
    if campaign.status == CampaignStatus.DRAFT:
        return 0
    return (
        MembershipEvent.objects.filter(
            pk__gt=campaign.trigger_cursor, kind=EventKind.ENTERED, group_id__in=included_group_ids(campaign=campaign)
        )
        .exclude(cause=Cause.MERGE)
        .count()
    )


@dataclass(frozen=True)
class TriggerStatus:
    status: str
    cap: int | None
    sent_today: int  # messages created today (the cap counts these)
    total: int  # messages created since the first activation
    waiting: int
    activated_at: dt.datetime | None
    last_event_at: dt.datetime | None
    skips: list[tuple[str, int]] = field(default_factory=list)  # (label, count) of entries that sent nothing

    @property
    def cap_reached(self) -> bool:
        return self.cap is not None and self.sent_today >= self.cap

    @property
    def cap_percent(self) -> int:
        return min(100, round(100 * self.sent_today / self.cap)) if self.cap else 0

    @property
    def skipped(self) -> int:
        return sum(n for _, n in self.skips)


def trigger_status(*, campaign: Campaign, now: dt.datetime | None = None) -> TriggerStatus:
    """What the campaign's trigger panel shows (a handful of indexed queries)."""
    skips = campaign.trigger_skips or {}
    return TriggerStatus(
        status=campaign.status,
        cap=campaign.daily_cap,
        sent_today=deliveries_today(campaign_id=campaign.pk, now=now),
        total=campaign.recipients,
        waiting=entries_waiting(campaign=campaign),
        activated_at=campaign.trigger_activated_at,
        last_event_at=campaign.trigger_last_event_at,
        skips=[(label, skips[key]) for key, label in SKIP_LABELS.items() if skips.get(key)],
    )
