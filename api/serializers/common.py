"""Serializers every endpoint shares: the error shape, strict input (unknown fields refused), id lists."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    path = serializers.CharField()
    message = serializers.CharField()
    code = serializers.CharField()


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable: validation_error, not_found, throttled, …")
    message = serializers.CharField()
    path = serializers.CharField(help_text='The bad part of the request body ("" for the request as a whole)')
    details = ErrorDetailSerializer(many=True, required=False, help_text="Every validation problem")


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know (a typo must not be silently ignored) and read-only fields sent in."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            writable = {name for name, f in self.fields.items() if not f.read_only}
            unknown = sorted(str(k) for k in data if k not in writable)
            if unknown:
                raise serializers.ValidationError(
                    {k: [serializers.ErrorDetail("Unknown field.", code="unknown_field")] for k in unknown}
                )
        return super().to_internal_value(data)


def has_nul(value: Any) -> bool:
    """True when a JSON value holds a NUL character anywhere (PostgreSQL cannot store it)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


class SafeJSONObjectField(serializers.DictField):
    """A JSON object (no NUL characters anywhere in it)."""

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        if has_nul(value):
            raise serializers.ValidationError("Null characters are not allowed.", code="null_characters")
        return value


class IdListSerializer(StrictSerializer):
    """{"ids": [1, 2, …]}: at most API_MAX_BATCH ids."""

    ids = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), allow_empty=False)

    def validate_ids(self, value: list[int]) -> list[int]:
        limit = int(getattr(settings, "API_MAX_BATCH", 1000))
        if len(value) > limit:
            raise serializers.ValidationError(f"At most {limit:,} ids per request.", code="too_many")
        return value


class ChangeSerializer(serializers.Serializer):
    """How many members a change added and removed (and what it asked for)."""

    requested = serializers.IntegerField()
    added = serializers.IntegerField()
    removed = serializers.IntegerField()
