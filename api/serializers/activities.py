"""Activities as JSON: what a website or shop sends (one, or a batch), and what was recorded."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from api.serializers.common import SafeJSONObjectField, StrictSerializer
from contacts.models import Activity, ActivityType

INT64 = 2**63 - 1
FUTURE_LIMIT = dt.timedelta(days=1)  # clocks differ a little; a date further ahead is a mistake


def data_limit() -> int:
    return int(getattr(settings, "API_ACTIVITY_DATA_MAX", 16 * 1024))


class ActivityDataField(SafeJSONObjectField):
    """A JSON object of at most API_ACTIVITY_DATA_MAX bytes (as compact JSON)."""

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        limit = data_limit()
        if len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()) > limit:
            raise serializers.ValidationError(f"At most {limit:,} bytes of JSON.", code="too_large")
        return value


class SafeDateTimeField(serializers.DateTimeField):
    """A date and time; one that cannot be put in the time zone (year 1 or 9999 at the edge) is invalid, not a 500."""

    def to_internal_value(self, value: Any) -> dt.datetime:
        try:
            return super().to_internal_value(value)
        except OverflowError:
            self.fail("overflow")
            raise  # pragma: no cover - fail() raises


def _max_length(name: str) -> int:
    return int(Activity._meta.get_field(name).max_length or 0)  # type: ignore[union-attr]


class ActivityInSerializer(StrictSerializer):
    """One activity to record: its contact by `contact` (id) or `email` — exactly one of them."""

    contact = serializers.IntegerField(min_value=1, max_value=INT64, required=False, help_text="The contact's id")
    email = serializers.EmailField(
        max_length=254, required=False, help_text="Or the contact's email (compared ignoring case)"
    )
    type = serializers.ChoiceField(choices=ActivityType.choices)
    occurred_at = SafeDateTimeField(required=False, help_text="When it happened (default: now); at most a day ahead")
    url = serializers.CharField(max_length=_max_length("url"), allow_blank=True, required=False)
    title = serializers.CharField(max_length=_max_length("title"), allow_blank=True, required=False)
    value = serializers.DecimalField(
        max_digits=14, decimal_places=2, allow_null=True, required=False, help_text="A purchase's amount"
    )
    data = ActivityDataField(required=False, help_text="Anything else, as a JSON object (size-limited)")
    campaign = serializers.IntegerField(
        min_value=1, max_value=INT64, allow_null=True, required=False, help_text="The campaign's id"
    )

    def validate_occurred_at(self, value: dt.datetime) -> dt.datetime:
        if value > timezone.now() + FUTURE_LIMIT:
            raise serializers.ValidationError("Too far in the future (at most a day ahead).", code="future")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("contact" in attrs) == ("email" in attrs):
            raise serializers.ValidationError(
                {"contact": serializers.ErrorDetail("Give the contact's id or its email (one of them).", "required")}
            )
        return attrs


class ActivityBatchSerializer(StrictSerializer):
    activities = serializers.ListField(allow_empty=False, help_text="Up to API_MAX_BATCH (1,000) activities")


class ActivitySerializer(serializers.ModelSerializer):
    """A recorded activity."""

    contact = serializers.IntegerField(source="contact_id")
    campaign = serializers.IntegerField(source="campaign_id", allow_null=True)

    class Meta:
        model = Activity
        fields = ["id", "contact", "type", "occurred_at", "url", "title", "value", "data", "campaign"]


def activities_json(activities: list[Activity]) -> list[dict[str, Any]]:
    """`ActivitySerializer(activities, many=True).data`, a field object per column instead of a serializer per row.

    TRICKY: for a batch of 1,000 the generic serializer spent ~0.15 s in per-row bookkeeping; the values are
    made by the very same field objects (dates in the current time zone, decimals as strings), so they are equal.
    """
    fields = ActivitySerializer().fields
    occurred, value = fields["occurred_at"], fields["value"]
    return [
        {
            "id": a.pk,
            "contact": a.contact_id,
            "type": a.type,
            "occurred_at": occurred.to_representation(a.occurred_at),
            "url": a.url,
            "title": a.title,
            "value": None if a.value is None else value.to_representation(a.value),
            "data": a.data,
            "campaign": a.campaign_id,
        }
        for a in activities
    ]


class ActivityBatchResultSerializer(serializers.Serializer):
    recorded = serializers.IntegerField()
    activities = ActivitySerializer(many=True)
