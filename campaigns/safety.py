"""The safety rail before a send (issue 13, item 6): a surprising audience needs an explicit confirmation.

A send (now or scheduled) asks the user to confirm the audience, naming the reason and the numbers, when
  - `preview`: the audience differs by more than 20 % from the last audience preview a user saw of this
    campaign (its *Audience* tab, which every save of the campaign lands on; the count and time are kept on
    the campaign: `last_preview_count`, `last_preview_at`). No preview yet: no check;
  - `group_growth`: an included group has grown by more than half since its nightly size snapshot of
    yesterday (`segments.GroupSizeSnapshot`; the latest one before today, at most a week old, when the
    nightly run missed a day), comparing the group's live `member_count`;
  - `previous_send`: the audience is more than ten times the campaign's *previous send*: a campaign is sent
    only once, so this is the most recent earlier send (started, with deliveries) on the same channel to at
    least one of the same included groups — "what these people usually get";
  - `held`: the campaign is a scheduled send this rail held at its time (below): sending it again always
    asks.
Exactly at a threshold is no warning (more than 20 %, more than half, more than ten times).

Invariant: nothing is sent or scheduled past a warning without a confirmation of THIS audience. The
confirmation is a signed token of (campaign, audience count, reasons) plus the count the user ticked; it is
refused when the audience or the reasons changed since it was shown (the user is asked again with the new
numbers) or after an hour. A send without warnings works as before.

Scheduled sends: the audience confirmed (with or without warnings) is kept on the campaign
(`confirmed_audience`, `confirmed_at`). When the send is due, the minutely check calls `send_hold_if_changed`
before freezing the audience: if the audience then differs by more than 20 % from the confirmed count, the
campaign is not sent but marked *held*, with the reason and the numbers in `send_error` (shown on the Sending
tab, which offers to confirm and send again).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from django.core import signing
from django.db import transaction
from django.utils import timezone

from campaigns import sending
from campaigns.models import Campaign, CampaignStatus, GroupRole
from campaigns.selectors.audience import audience_contacts, audience_spec
from contacts.templatetags.dates import format_day, format_moment
from segments.models import ContactGroup, GroupSizeSnapshot

logger = logging.getLogger(__name__)

PREVIEW_CHANGE = 0.20  # more than this share away from the last preview asks
GROUP_GROWTH = 0.50  # an included group more than this share bigger than its snapshot asks
PREVIOUS_SEND_FACTOR = 10  # more than this many times the previous send asks
DUE_CHANGE = 0.20  # a scheduled send is held when its audience moved more than this since it was confirmed
SNAPSHOT_MAX_AGE = timedelta(days=7)  # an older size snapshot says nothing about "since yesterday"
CONFIRM_MAX_AGE = 3600  # seconds a confirmation stays good for
SALT = "campaigns.safety.confirm"


class Reason(StrEnum):
    PREVIEW = "preview"
    GROUP_GROWTH = "group_growth"
    PREVIOUS_SEND = "previous_send"
    HELD = "held"


@dataclass(frozen=True)
class SafetyWarning:
    """Why a send asks: the reason, the sentence with the numbers, and the two numbers compared."""

    reason: Reason
    message: str
    value: int
    reference: int


class ConfirmationNeeded(sending.SendError):
    """The send needs a confirmation of `audience` (none given, or one that no longer fits: `stale` says how)."""

    def __init__(self, *, warnings: list[SafetyWarning], audience: int, token: str, stale: str = "") -> None:
        self.warnings, self.audience, self.token, self.stale = warnings, audience, token, stale
        people = "person" if audience == 1 else "people"
        super().__init__(stale or f"Check the audience: confirm that it goes to {audience:,} {people}.")


# --- the checks ----------------------------------------------------------------------------------


def count_audience(*, campaign: Campaign) -> int:
    """How many contacts the campaign reaches now (one count in the database)."""
    return audience_contacts(spec=audience_spec(campaign=campaign)).count()


def _changed(value: int, reference: int, limit: float) -> bool:
    """`value` is more than `limit` (a share) away from `reference`; from 0, any audience is a change."""
    if reference == 0:
        return value > 0
    return abs(value - reference) > limit * reference


def _compared(value: int, reference: int) -> str:
    """How `value` compares with `reference`, to put before "the …": "32×", "3.2×", "25 % more than"."""
    if reference and value >= 2 * reference:
        ratio = value / reference
        return f"{ratio:.0f}×" if ratio >= 10 else f"{ratio:.1f}".rstrip("0").rstrip(".") + "×"
    if reference == 0:
        return "more than"
    share = round(abs(value - reference) * 100 / reference)
    return f"{share} % {'more' if value > reference else 'fewer'} than"


def _included(campaign: Campaign) -> list[int]:
    links = campaign.group_links.filter(role=GroupRole.INCLUDE).order_by("position", "id")
    return list(links.values_list("group_id", flat=True))


def previous_send(*, campaign: Campaign) -> Campaign | None:
    """The most recent earlier send on the campaign's channel to one of its included groups (None: no such send)."""
    return (
        Campaign.objects.filter(
            channel=campaign.channel,
            send_started_at__isnull=False,
            recipients__gt=0,
            group_links__role=GroupRole.INCLUDE,
            group_links__group_id__in=_included(campaign),
        )
        .exclude(pk=campaign.pk)
        .order_by("-send_started_at", "-pk")
        .first()
    )


def _snapshots(group_ids: list[int], today: date) -> dict[int, GroupSizeSnapshot]:
    """Each group's latest size snapshot before today (at most SNAPSHOT_MAX_AGE old)."""
    rows = GroupSizeSnapshot.objects.filter(
        group_id__in=group_ids, date__lt=today, date__gte=today - SNAPSHOT_MAX_AGE
    ).order_by("group_id", "-date")
    latest: dict[int, GroupSizeSnapshot] = {}
    for row in rows:
        latest.setdefault(row.group_id, row)
    return latest


def _preview_warning(campaign: Campaign, audience: int) -> SafetyWarning | None:
    then = campaign.last_preview_count
    if then is None or not _changed(audience, then, PREVIEW_CHANGE):
        return None
    return SafetyWarning(
        Reason.PREVIEW,
        f"The audience is {audience:,} — {_compared(audience, then)} the last preview "
        f"({then:,}, {format_moment(campaign.last_preview_at)}).",
        audience,
        then,
    )


def _growth_warnings(campaign: Campaign, now: datetime) -> list[SafetyWarning]:
    today = timezone.localdate(now)
    included = _included(campaign)
    groups = sorted(ContactGroup.objects.filter(pk__in=included), key=lambda g: included.index(g.pk))
    snapshots = _snapshots(included, today)
    warnings = []
    for group in groups:
        snap = snapshots.get(group.pk)
        if snap is None or not group.member_count > (1 + GROUP_GROWTH) * snap.member_count:
            continue
        day = "yesterday" if snap.date == today - timedelta(days=1) else format_day(snap.date)
        warnings.append(
            SafetyWarning(
                Reason.GROUP_GROWTH,
                f"The group “{group.name}” has {group.member_count:,} members — "
                f"{_compared(group.member_count, snap.member_count)} the size snapshot of {day} "
                f"({snap.member_count:,}).",
                group.member_count,
                snap.member_count,
            )
        )
    return warnings


def _previous_send_warning(campaign: Campaign, audience: int) -> SafetyWarning | None:
    before = previous_send(campaign=campaign)
    if before is None or not audience > PREVIOUS_SEND_FACTOR * before.recipients:
        return None
    return SafetyWarning(
        Reason.PREVIOUS_SEND,
        f"The audience is {audience:,} — {_compared(audience, before.recipients)} the previous send to these "
        f"groups, “{before.name}” ({before.recipients:,}, {format_moment(before.send_started_at)}).",
        audience,
        before.recipients,
    )


def _held_warning(campaign: Campaign, audience: int) -> SafetyWarning | None:
    if campaign.status != CampaignStatus.HELD:
        return None
    text = f"{campaign.send_error} The audience is {audience:,} now.".strip()
    return SafetyWarning(Reason.HELD, text, audience, campaign.confirmed_audience or 0)


def send_checks(
    *, campaign: Campaign, audience_count: int | None = None, now: datetime | None = None
) -> list[SafetyWarning]:
    """Every reason this send should be confirmed, with its numbers (empty: nothing surprising)."""
    now = now or timezone.now()
    audience = count_audience(campaign=campaign) if audience_count is None else audience_count
    found = [_held_warning(campaign, audience), _preview_warning(campaign, audience)]
    found += _growth_warnings(campaign, now)
    found.append(_previous_send_warning(campaign, audience))
    return [w for w in found if w is not None]


# --- confirming ----------------------------------------------------------------------------------


def _fingerprint(warnings: list[SafetyWarning]) -> list[str]:
    return sorted({w.reason.value for w in warnings})


def confirmation_token(*, campaign: Campaign, audience: int, warnings: list[SafetyWarning]) -> str:
    """The signed value the Send form carries: this campaign, this audience count, these reasons."""
    return signing.dumps({"c": campaign.pk, "n": audience, "w": _fingerprint(warnings)}, salt=SALT)


@dataclass(frozen=True)
class Confirmation:
    """What the Send form sent back: the signed token and the N of the ticked "send to N people"."""

    token: str = ""
    count: int | None = None


def _not_covered(
    campaign: Campaign, confirmation: Confirmation, audience: int, warnings: list[SafetyWarning]
) -> str | None:
    """None when the confirmation covers this send; "" when there is no valid one; else why it is stale."""
    if not confirmation.token or confirmation.count is None:
        return ""
    try:
        data = signing.loads(confirmation.token, salt=SALT, max_age=CONFIRM_MAX_AGE)
    except signing.SignatureExpired:
        return "The confirmation is more than an hour old: check the audience again."
    except signing.BadSignature:
        return ""
    if data.get("c") != campaign.pk or data.get("n") != confirmation.count:
        return ""
    if data["n"] != audience:
        return f"The audience changed since you confirmed it ({data['n']:,} then, {audience:,} now): check it again."
    if not set(_fingerprint(warnings)) <= set(data.get("w", [])):
        return "There is a new reason to check the audience since you confirmed it: check it again."
    return None


@transaction.atomic
def campaign_send_checked(
    *,
    campaign: Campaign,
    at: datetime | None = None,
    confirmation: Confirmation | None = None,
    now: datetime | None = None,
) -> Campaign:
    """`sending.campaign_send` behind the rail: ConfirmationNeeded unless nothing is surprising or the user
    confirmed this very audience; records the confirmed count (checked again when a scheduled send is due)."""
    now = now or timezone.now()
    audience = count_audience(campaign=campaign)
    warnings = send_checks(campaign=campaign, audience_count=audience, now=now)
    if warnings:
        stale = _not_covered(campaign, confirmation or Confirmation(), audience, warnings)
        if stale is not None:
            token = confirmation_token(campaign=campaign, audience=audience, warnings=warnings)
            raise ConfirmationNeeded(warnings=warnings, audience=audience, token=token, stale=stale)
    # A held send goes out again only through here, confirmed: it becomes a draft for campaign_send (one transaction).
    Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.HELD).update(status=CampaignStatus.DRAFT)
    campaign = sending.campaign_send(campaign=campaign, at=at)
    Campaign.objects.filter(pk=campaign.pk).update(confirmed_audience=audience, confirmed_at=now)
    campaign.confirmed_audience, campaign.confirmed_at = audience, now
    return campaign


# --- previews and due sends ----------------------------------------------------------------------


def preview_record(*, campaign: Campaign, count: int, now: datetime | None = None) -> None:
    """Remember the audience count a user was just shown for this (not yet started) campaign."""
    now = now or timezone.now()
    unsent = [CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.HELD]
    Campaign.objects.filter(pk=campaign.pk, status__in=unsent).update(last_preview_count=count, last_preview_at=now)
    campaign.last_preview_count, campaign.last_preview_at = count, now


def send_hold_if_changed(*, campaign_id: int, now: datetime | None = None) -> bool:
    """At a scheduled send's time: hold it (True) when its audience moved more than DUE_CHANGE from the count
    confirmed when it was scheduled; False lets it start."""
    now = now or timezone.now()
    campaign = Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.SCHEDULED).first()
    if campaign is None or campaign.confirmed_audience is None:
        return False
    audience = count_audience(campaign=campaign)
    confirmed = campaign.confirmed_audience
    if not _changed(audience, confirmed, DUE_CHANGE):
        return False
    reason = (
        f"Held at its time ({format_moment(now)}): the audience was {audience:,} — "
        f"{_compared(audience, confirmed)} the {confirmed:,} confirmed when it was scheduled "
        f"({format_moment(campaign.confirmed_at)})."
    )
    held = Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.SCHEDULED).update(
        status=CampaignStatus.HELD, send_error=reason
    )
    if held:
        logger.warning("scheduled send of campaign %s held: %s", campaign_id, reason)
    return bool(held)
