"""Webhook endpoints (registered by Admins) and their deliveries (batches of membership events)."""

from __future__ import annotations

import secrets

from django.db import models
from django.utils import timezone

from segments.models import ContactGroup


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class EventType(models.TextChoices):
    ENTERED = "entered", "entered a group"
    LEFT = "left", "left a group"
    SOURCE_CHANGED = "source_changed", "source added or removed"
    CAMPAIGN_SENT = "campaign_sent", "was sent a campaign"
    CAMPAIGN_OPENED = "campaign_opened", "opened a campaign email"
    CAMPAIGN_CLICKED = "campaign_clicked", "clicked a link in a campaign email"
    CONTACT_UNSUBSCRIBED = "contact_unsubscribed", "unsubscribed"
    CONTACT_RESUBSCRIBED = "contact_resubscribed", "opted back in (SMS START)"


class Stream(models.TextChoices):
    """Where a delivery's events come from (each stream has its own ids and its own cursor per endpoint)."""

    MEMBERSHIP = "membership", "membership history"
    CAMPAIGN = "campaign", "campaign events"


class Endpoint(models.Model):
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100, default=new_secret)
    # Empty = every group.
    groups = models.ManyToManyField(ContactGroup, blank=True, related_name="+")
    events = models.JSONField(default=list)  # EventType values
    active = models.BooleanField(default=True)
    # Deliveries failed in a row (after all retries); reset by a success.
    failure_count = models.PositiveIntegerField(default=0)
    disabled_reason = models.CharField(max_length=300, blank=True)
    # The last MembershipEvent id put into a delivery of this endpoint.
    cursor = models.BigIntegerField(default=0)
    # The last campaigns.CampaignEvent id put into a delivery of this endpoint.
    campaign_cursor = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["url", "id"]

    def __str__(self) -> str:
        return self.url

    def event_labels(self) -> list[str]:
        """The events it wants, as people read them ("entered a group", "opened a campaign email")."""
        return [EventType(name).label for name in self.events if name in EventType.values]


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "pending"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"


class Delivery(models.Model):
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    stream = models.CharField(max_length=10, choices=Stream.choices, default=Stream.MEMBERSHIP)
    first_event_id = models.BigIntegerField()
    last_event_id = models.BigIntegerField()
    event_count = models.PositiveIntegerField()
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_response_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["endpoint", "status", "id"], name="delivery_endpoint_status_idx")]

    def __str__(self) -> str:
        return f"delivery #{self.pk} ({self.event_count} events, {self.status})"
