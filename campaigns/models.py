"""Campaigns send email or SMS to the members of included groups minus excluded groups.

Shape (issue 13): a Campaign names its channel, groups (CampaignGroup: include / exclude, each group
protected from deletion while a campaign uses it), the consent it requires and its content. Content
may be tailored per included group (ContentVariant, first by priority wins, else the campaign's own
content) and split A/B by percentage (SplitArm: blank fields inherit). Unsubscribe is a per-channel
opt-out that no consent overrides. Sending (campaigns.sending) freezes one Delivery row per contact,
recording the address, variant and arm chosen by campaigns.selectors.audience.
"""

from __future__ import annotations

import secrets

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone

from contacts.models import Consent, Contact
from segments.models import ContactGroup

AB_SEED_LIMIT = 2**24  # keeps the bucket hash inside 64-bit integers in SQL (see campaigns.selectors.split)


# Delivery.included_groups is a signed 64-bit bit set: bits 0..62.
MAX_RECORDED_GROUPS = 63


def new_ab_seed() -> int:
    return secrets.randbelow(AB_SEED_LIMIT)


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    # A scheduled send stopped at its time by the safety rail (campaigns.safety): the audience had changed by
    # more than the rail allows since it was confirmed. It sends again only with a new confirmation.
    HELD = "held", "Held"
    # A triggered campaign (campaigns.triggers): draft → active ⇄ paused.
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"


class CampaignKind(models.TextChoices):
    ONE_OFF = "one_off", "Send once"
    TRIGGERED = "triggered", "Send when someone joins"


# A campaign in one of these states can no longer be changed or deleted (an active triggered campaign
# is changed after pausing it).
LOCKED_STATUSES = frozenset({CampaignStatus.SENDING, CampaignStatus.SENT, CampaignStatus.FAILED, CampaignStatus.ACTIVE})


class Campaign(models.Model):
    name = models.CharField(max_length=200)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    subject = models.CharField(max_length=200, blank=True)
    preheader = models.CharField(max_length=200, blank=True)
    # Email: "Name <address>" or an address; SMS: the sender id (up to 11 letters/digits) or a number.
    sender = models.CharField(max_length=200, blank=True)
    # Email: HTML (the plain-text part is generated); SMS: the text.
    body = models.TextField(blank=True)
    required_consent = models.ForeignKey(
        Consent, null=True, blank=True, on_delete=models.PROTECT, related_name="campaigns"
    )
    # Salt of the deterministic A/B bucket: a contact keeps its arm in this campaign, differs across campaigns.
    ab_seed = models.PositiveIntegerField(default=new_ab_seed)
    status = models.CharField(max_length=20, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    # One-off: the audience of one moment. Triggered (campaigns.triggers): everyone who enters an included
    # group after activation, each contact at most once, at most `daily_cap` new messages a local day (the
    # rest wait in the history); `trigger_cursor` is the last membership event handled.
    kind = models.CharField(max_length=10, choices=CampaignKind.choices, default=CampaignKind.ONE_OFF)
    daily_cap = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    trigger_cursor = models.BigIntegerField(default=0)
    trigger_activated_at = models.DateTimeField(null=True, blank=True)
    trigger_last_event_at = models.DateTimeField(null=True, blank=True)  # when the last handled entry happened
    trigger_skips = models.JSONField(default=dict, blank=True)  # entries that sent nothing, by reason key
    # Sending (campaigns.sending): when it is due, when it started and ended, how many deliveries were
    # frozen, the worker's sign of life (a send silent for SEND_STALE_AFTER seconds is resumed) and why it failed.
    scheduled_at = models.DateTimeField(null=True, blank=True)
    send_started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    recipients = models.PositiveIntegerField(default=0)
    send_heartbeat_at = models.DateTimeField(null=True, blank=True)
    send_error = models.TextField(blank=True)
    # The safety rail (campaigns.safety): the audience count of the last audience preview a user saw, and the
    # count a user confirmed when sending or scheduling (checked again when a scheduled send is due).
    last_preview_count = models.PositiveIntegerField(null=True, blank=True)
    last_preview_at = models.DateTimeField(null=True, blank=True)
    confirmed_audience = models.PositiveIntegerField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_email(self) -> bool:
        return self.channel == Channel.EMAIL

    @property
    def is_triggered(self) -> bool:
        return self.kind == CampaignKind.TRIGGERED

    @property
    def is_locked(self) -> bool:
        """Once a send has started, content and audience stay as they were sent (the deliveries refer to them)."""
        return self.status in LOCKED_STATUSES

    @property
    def is_sendable(self) -> bool:
        """A draft, or a scheduled send the safety rail held: the Sending tab offers to send it."""
        return self.status in (CampaignStatus.DRAFT, CampaignStatus.HELD)

    @property
    def is_unsent(self) -> bool:
        """Not started yet: a draft, scheduled or held."""
        return self.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.HELD)


class GroupRole(models.TextChoices):
    INCLUDE = "include", "Included"
    EXCLUDE = "exclude", "Excluded"


class CampaignGroup(models.Model):
    """A group a campaign includes or excludes; the campaign protects it from deletion."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="group_links")
    group = models.ForeignKey(ContactGroup, on_delete=models.PROTECT, related_name="campaign_links")
    role = models.CharField(max_length=10, choices=GroupRole.choices)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["role", "position", "id"]
        verbose_name = "campaign"  # named so by segments' "used by" list: campaign “…”
        constraints = [models.UniqueConstraint(fields=["campaign", "group"], name="campaign_group_unique")]

    def __str__(self) -> str:
        return str(self.campaign)


class ContentVariant(models.Model):
    """Content for the members of one included group; a contact gets the first (lowest priority) it is in."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="variants")
    group = models.ForeignKey(ContactGroup, on_delete=models.PROTECT, related_name="campaign_variants")
    priority = models.PositiveSmallIntegerField(default=1)
    subject = models.CharField(max_length=200, blank=True)
    preheader = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)

    class Meta:
        ordering = ["priority", "id"]
        verbose_name = "campaign variant"
        constraints = [models.UniqueConstraint(fields=["campaign", "group"], name="content_variant_group_unique")]

    def __str__(self) -> str:
        return f"{self.campaign}: {self.group}"


class SplitArm(models.Model):
    """One arm of an A/B split: a share of the audience and the content it overrides (blank inherits)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="arms")
    label = models.CharField(max_length=1)  # A, B, C, D
    percent = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(99)])
    subject = models.CharField(max_length=200, blank=True)
    preheader = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)

    class Meta:
        ordering = ["label"]
        constraints = [models.UniqueConstraint(fields=["campaign", "label"], name="split_arm_label_unique")]

    def __str__(self) -> str:
        return f"{self.campaign}: {self.label}"


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"  # handed to the backend now; committed BEFORE the message goes out
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"  # unsubscribed or deleted after the audience was frozen
    UNKNOWN = "unknown", "Not confirmed"  # the worker died while sending it: never sent again


class Delivery(models.Model):
    """One contact's message of a sent campaign, frozen when the send starts (the audit trail).

    Written set-based by campaigns.sending (one INSERT … SELECT of the audience); its status moves
    queued → sending → sent | failed | unknown, or sending → queued (a temporary refusal, retried later),
    or queued → skipped, or sending → unknown after a crash; failed → queued when a person retries.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="deliveries")
    contact = models.ForeignKey(Contact, null=True, on_delete=models.SET_NULL, related_name="deliveries")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    address = models.CharField(max_length=254)  # the email or phone number at freezing time
    variant = models.ForeignKey(ContentVariant, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    arm = models.CharField(max_length=1, blank=True)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED)
    error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # A database default: the set-based freezing INSERT … SELECT names its columns and leaves this one out.
    created_at = models.DateTimeField(db_default=Now())
    # The included groups the contact was a member of when the audience was frozen: bit i is the campaign's
    # i-th included group (by position; the first MAX_RECORDED_GROUPS only). NULL: not recorded (frozen before
    # this column existed). The report's "by included group" reads it (campaigns.selectors.report).
    included_groups = models.BigIntegerField(null=True, blank=True)
    # Failed attempts so far; a queued row with retry_at waits for it (an automatic retry, campaigns.outcomes).
    attempts = models.PositiveSmallIntegerField(default=0, db_default=0)
    retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "deliveries"
        constraints = [models.UniqueConstraint(fields=["campaign", "contact"], name="delivery_campaign_contact")]
        indexes = [
            # (campaign, status, id): a batch reads the next queued rows in id order straight from the index.
            models.Index(fields=["campaign", "status", "id"], name="delivery_campaign_status_id"),
            models.Index(fields=["campaign", "created_at"], name="delivery_campaign_created"),  # a day's count
        ]

    def __str__(self) -> str:
        return f"{self.campaign} → {self.address}"


class Unsubscribe(models.Model):
    """A contact's opt-out of one channel: no campaign on that channel reaches them, whatever their consents."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="unsubscribes")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    unsubscribed_at = models.DateTimeField(default=timezone.now)
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "channel"], name="unsubscribe_contact_channel")]

    def __str__(self) -> str:
        return f"{self.contact} – {self.channel}"


class CampaignEventKind(models.TextChoices):
    SENT = "sent", "sent"
    OPENED = "opened", "opened"
    CLICKED = "clicked", "clicked"
    UNSUBSCRIBED = "unsubscribed", "unsubscribed"
    RESUBSCRIBED = "resubscribed", "resubscribed"  # opted back in (an SMS reply of START)


class CampaignEvent(models.Model):
    """An outbox row: a campaign's message was sent, opened or clicked, or a contact unsubscribed (or opted back in).

    Written by `campaigns.events` in the same transaction as the change it records (a delivery marked sent,
    an email_open / email_click activity, an Unsubscribe), so none is lost or invented; read in id order by
    the webhooks (`webhooks.events`), which de-duplicate nothing: one row, one event id.
    """

    kind = models.CharField(max_length=12, choices=CampaignEventKind.choices)
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    delivery_id = models.BigIntegerField(null=True, blank=True)
    channel = models.CharField(max_length=10, choices=Channel.choices, blank=True)
    url = models.CharField(max_length=2000, blank=True)  # a click's link
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["at"], name="campaign_event_at_idx")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


class TrackingHitKind(models.TextChoices):
    OPEN = "open", "open"
    CLICK = "click", "click"


class TrackingHit(models.Model):
    """An open or click the tracking endpoints answered and campaigns.inbox has not recorded yet.

    The inbox of the open pixel and the click redirect: a request appends one row (insert-only, no index but
    the primary key, no foreign key to check) and a worker drains the rows in batches into activities and
    campaign events, deleting them in the same transaction. `contact_id` and `campaign_id` are empty when the
    token did not name them (a click, a pixel of an older email): the drain reads them from the delivery.
    """

    delivery_id = models.BigIntegerField()
    contact_id = models.BigIntegerField(null=True, blank=True)
    campaign_id = models.BigIntegerField(null=True, blank=True)
    kind = models.CharField(max_length=5, choices=TrackingHitKind.choices)
    url = models.CharField(max_length=2000, blank=True)  # a click's link
    at = models.DateTimeField()  # when the request came: the activity's occurred_at

    def __str__(self) -> str:
        return f"{self.kind} of delivery {self.delivery_id}"


class TrackingDrain(models.Model):
    """One row: a drain of the tracking inbox reads it at least once more after `until` (campaigns.inbox).

    `until` is in seconds since the epoch on the database's clock, so web and worker machines compare one
    clock. A web process that sees it far enough ahead asks nothing for a moment; a drain moves it forward
    while it finds hits.
    """

    until = models.FloatField(default=0.0)

    def __str__(self) -> str:
        return f"tracking drain reads until {self.until}"
