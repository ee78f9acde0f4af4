"""Every write of the campaigns app: campaigns, their groups, variants and A/B arms; unsubscribes; test sends.

Content is checked for personalisation tokens here too (TokenError), so no path can store a token
the renderer would refuse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from campaigns.compose import Message
from campaigns.events import campaign_event_record
from campaigns.models import (
    Campaign,
    CampaignEventKind,
    CampaignGroup,
    CampaignKind,
    CampaignStatus,
    Channel,
    ContentVariant,
    GroupRole,
    SplitArm,
    Unsubscribe,
)
from campaigns.personalisation import allowed_tokens, tokens_check
from contacts.models import Consent, Contact
from segments.models import ContactGroup

MIN_ARMS, MAX_ARMS = 2, 4


class CampaignError(ValueError):
    """A campaign change that cannot be made; the message says why."""


def _check_unlocked(campaign: Campaign) -> None:
    """A campaign whose send has started keeps the content and audience it was sent with (the audit trail);
    an active triggered campaign is changed after pausing it."""
    if campaign.status == CampaignStatus.ACTIVE:
        raise CampaignError(f"“{campaign.name}” is active: pause it to change it.")
    if campaign.is_locked:
        raise CampaignError(
            f"“{campaign.name}” is {campaign.get_status_display().lower()}: it can no longer be changed."
        )


def _kind_fields(*, campaign: Campaign | None, kind: str, daily_cap: int | None) -> dict:
    """`kind` and `daily_cap` to store: the kind is chosen while a draft; a one-off campaign has no cap."""
    if kind not in CampaignKind.values:
        raise CampaignError(f"Unknown kind of campaign: {kind}.")
    if campaign is not None and kind != campaign.kind and campaign.status != CampaignStatus.DRAFT:
        raise CampaignError("Whether it is sent once or when someone joins can be changed only while it is a draft.")
    if daily_cap is not None and daily_cap < 1:
        raise CampaignError("The daily cap is at least 1 (leave it blank for no cap).")
    return {"kind": kind, "daily_cap": daily_cap if kind == CampaignKind.TRIGGERED else None}


def _check_tokens(*texts: str) -> None:
    allowed = allowed_tokens()
    for text in texts:
        tokens_check(text, allowed=allowed)


def _set_groups(*, campaign: Campaign, include: Sequence[ContactGroup], exclude: Sequence[ContactGroup]) -> None:
    both = {g.pk for g in include} & {g.pk for g in exclude}
    if both:
        raise CampaignError("A group cannot be both included and excluded.")
    CampaignGroup.objects.filter(campaign=campaign).delete()
    CampaignGroup.objects.bulk_create(
        [CampaignGroup(campaign=campaign, group=g, role=GroupRole.INCLUDE, position=i) for i, g in enumerate(include)]
        + [CampaignGroup(campaign=campaign, group=g, role=GroupRole.EXCLUDE, position=i) for i, g in enumerate(exclude)]
    )
    # a variant belongs to an included group: drop those whose group is no longer included
    ContentVariant.objects.filter(campaign=campaign).exclude(group__in=list(include)).delete()


@transaction.atomic
def campaign_create(
    *,
    name: str,
    channel: str,
    include: Sequence[ContactGroup],
    exclude: Sequence[ContactGroup] = (),
    required_consent: Consent | None = None,
    subject: str = "",
    preheader: str = "",
    sender: str = "",
    body: str = "",
    kind: str = CampaignKind.ONE_OFF,
    daily_cap: int | None = None,
) -> Campaign:
    """Create a draft campaign with its groups (sent once, or to everyone who joins them: `kind`)."""
    _check_tokens(subject, preheader, body)
    campaign = Campaign.objects.create(
        **_kind_fields(campaign=None, kind=kind, daily_cap=daily_cap),
        name=name,
        channel=channel,
        required_consent=required_consent,
        subject=subject if channel == Channel.EMAIL else "",
        preheader=preheader if channel == Channel.EMAIL else "",
        sender=sender,
        body=body,
    )
    _set_groups(campaign=campaign, include=include, exclude=exclude)
    return campaign


@transaction.atomic
def campaign_update(
    *,
    campaign: Campaign,
    name: str,
    channel: str,
    include: Sequence[ContactGroup],
    exclude: Sequence[ContactGroup] = (),
    required_consent: Consent | None = None,
    subject: str = "",
    preheader: str = "",
    sender: str = "",
    body: str = "",
    kind: str | None = None,
    daily_cap: int | None = None,
) -> Campaign:
    """Change a campaign's settings, groups and default content (`kind` None: unchanged)."""
    _check_unlocked(campaign)
    _check_tokens(subject, preheader, body)
    fields = _kind_fields(campaign=campaign, kind=kind or campaign.kind, daily_cap=daily_cap)
    campaign.kind, campaign.daily_cap = fields["kind"], fields["daily_cap"]
    campaign.name, campaign.channel, campaign.required_consent = name, channel, required_consent
    campaign.subject = subject if channel == Channel.EMAIL else ""
    campaign.preheader = preheader if channel == Channel.EMAIL else ""
    campaign.sender, campaign.body = sender, body
    campaign.save()
    _set_groups(campaign=campaign, include=include, exclude=exclude)
    return campaign


@transaction.atomic
def campaign_delete(*, campaign: Campaign) -> None:
    """Delete a campaign (its groups, variants and arms go with it); not one that has sent messages."""
    _check_unlocked(campaign)
    if campaign.deliveries.exists():  # a paused triggered campaign: its deliveries record who got it
        raise CampaignError(f"“{campaign.name}” has sent messages: it stays (paused) as the record of who got them.")
    campaign.delete()


@transaction.atomic
def variant_save(
    *,
    campaign: Campaign,
    group: ContactGroup,
    priority: int,
    subject: str = "",
    preheader: str = "",
    body: str = "",
    variant: ContentVariant | None = None,
) -> ContentVariant:
    """Create or change the content for the members of one included group."""
    _check_unlocked(campaign)
    if not campaign.group_links.filter(group=group, role=GroupRole.INCLUDE).exists():
        raise CampaignError(f"“{group.name}” is not one of the campaign's included groups.")
    clash = ContentVariant.objects.filter(campaign=campaign, group=group)
    if variant is not None:
        clash = clash.exclude(pk=variant.pk)
    if clash.exists():
        raise CampaignError(f"“{group.name}” already has a variant.")
    _check_tokens(subject, preheader, body)
    variant = variant or ContentVariant(campaign=campaign)
    variant.group, variant.priority = group, priority
    variant.subject, variant.preheader, variant.body = subject, preheader, body
    variant.save()
    return variant


@transaction.atomic
def variant_delete(*, variant: ContentVariant) -> None:
    """Remove a variant: its group's members get the default content."""
    _check_unlocked(variant.campaign)
    variant.delete()


@dataclass(frozen=True)
class ArmInput:
    percent: int
    subject: str = ""
    preheader: str = ""
    body: str = ""


@transaction.atomic
def split_set(*, campaign: Campaign, arms: Sequence[ArmInput]) -> list[SplitArm]:
    """Replace the A/B split: 2–4 arms (labelled A, B, …) whose percentages add up to 100; none: no split."""
    _check_unlocked(campaign)
    if arms and not MIN_ARMS <= len(arms) <= MAX_ARMS:
        raise CampaignError(f"An A/B split has {MIN_ARMS} to {MAX_ARMS} variants.")
    if arms and any(not 1 <= a.percent <= 99 for a in arms):
        raise CampaignError("Each variant gets between 1 and 99 percent.")
    if arms and sum(a.percent for a in arms) != 100:
        raise CampaignError(f"The percentages add up to {sum(a.percent for a in arms)}, not 100.")
    for arm in arms:
        _check_tokens(arm.subject, arm.preheader, arm.body)
    SplitArm.objects.filter(campaign=campaign).delete()
    return SplitArm.objects.bulk_create(
        [
            SplitArm(campaign=campaign, label="ABCD"[i], percent=a.percent, subject=a.subject,
                     preheader=a.preheader, body=a.body)
            for i, a in enumerate(arms)
        ]
    )  # fmt: skip


@transaction.atomic
def unsubscribe_record(*, contact: Contact, channel: str, campaign: Campaign | None = None) -> Unsubscribe:
    """Record that the contact opts out of the channel (idempotent: the first time is kept, with its event)."""
    record, created = Unsubscribe.objects.get_or_create(
        contact=contact, channel=channel, defaults={"campaign": campaign, "unsubscribed_at": timezone.now()}
    )
    if created:
        campaign_event_record(
            kind=CampaignEventKind.UNSUBSCRIBED,
            contact_id=contact.pk,
            campaign_id=campaign.pk if campaign else None,
            channel=channel,
        )
    return record


@transaction.atomic
def resubscribe_record(*, contact: Contact, channel: str) -> bool:
    """The contact opts back in to the channel (an SMS reply of START): their opt-out is removed, with its event.

    False when they had not opted out (nothing written)."""
    deleted, _ = Unsubscribe.objects.filter(contact=contact, channel=channel).delete()
    if deleted:
        campaign_event_record(kind=CampaignEventKind.RESUBSCRIBED, contact_id=contact.pk, channel=channel)
    return bool(deleted)


@transaction.atomic
def contact_resubscribe(*, contact: Contact, channel: str) -> bool:
    """A person opts the contact back in to the channel (the contact asked them to): audited. False: not opted out."""
    done = resubscribe_record(contact=contact, channel=channel)
    if done:
        audit_record(action=AuditAction.CONTACT_RESUBSCRIBED, obj=contact, changes={"channel": channel})
    return done


def campaign_test_send(*, campaign: Campaign, message: Message, to: str) -> None:
    """Send one rendered email to `to` through Django's email backend, subject marked [Test]."""
    if campaign.channel != Channel.EMAIL:
        raise CampaignError("Test sends of SMS need an SMS gateway, which comes with sending.")
    email = EmailMultiAlternatives(
        subject=f"[Test] {message.subject}",
        body=message.text,
        from_email=campaign.sender or settings.DEFAULT_FROM_EMAIL,
        to=[to],
    )
    email.attach_alternative(message.html, "text/html")
    email.send()


def delivery_unsubscribe(*, delivery_id: int) -> Unsubscribe | None:
    """The recipient of a delivery opts out of its channel (from the link in the message); None when the
    delivery or its contact no longer exists."""
    from campaigns.models import Delivery

    delivery = Delivery.objects.select_related("contact", "campaign").filter(pk=delivery_id).first()
    if delivery is None or delivery.contact is None:
        return None
    return unsubscribe_record(contact=delivery.contact, channel=delivery.channel, campaign=delivery.campaign)
