"""Contacts and accounts as JSON. Writes are validated here for shape and types; the services validate
the values (field settings for custom fields, unique emails, countries) and say what is wrong."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.common import SafeJSONObjectField, StrictSerializer
from contacts.filters import LEAD_SCORE_LIMIT
from contacts.models import Account, Contact

INT32 = 2**31 - 1
SOURCES = serializers.ListField(child=serializers.ChoiceField(choices=["manual", "account", "condition"]))


class ContactSerializer(StrictSerializer):
    id = serializers.IntegerField(read_only=True)
    email = serializers.EmailField(max_length=254, allow_null=True, allow_blank=True, required=False)
    first_name = serializers.CharField(max_length=100, allow_blank=True, required=False)
    last_name = serializers.CharField(max_length=100, allow_blank=True, required=False)
    phone = serializers.CharField(max_length=40, allow_blank=True, required=False)
    country = serializers.CharField(
        max_length=2, allow_blank=True, required=False, help_text="ISO 3166-1 alpha-2 code, e.g. CZ"
    )
    city = serializers.CharField(max_length=100, allow_blank=True, required=False)
    job_title = serializers.CharField(max_length=150, allow_blank=True, required=False)
    lead_score = serializers.IntegerField(min_value=-LEAD_SCORE_LIMIT, max_value=LEAD_SCORE_LIMIT, required=False)
    account = serializers.PrimaryKeyRelatedField(
        queryset=Account.objects.all(), allow_null=True, required=False, help_text="The account's id"
    )
    custom = SafeJSONObjectField(
        required=False, help_text="Custom field values by field code, validated by the field settings"
    )
    merged_into = serializers.IntegerField(source="merged_into_id", read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def to_representation(self, instance: Contact) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["country"] = str(instance.country or "")
        return data


class ContactUpsertSerializer(ContactSerializer):
    email = serializers.EmailField(max_length=254, help_text="Identifies the contact (compared ignoring case)")


class ContactUpsertResultSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=["created", "updated"])
    contact = ContactSerializer()


class ContactGroupMembershipSerializer(serializers.Serializer):
    """One group a contact is in, with its sources and since when."""

    code = serializers.CharField(source="group.code")
    name = serializers.CharField(source="group.name")
    sources = serializers.SerializerMethodField()
    member_since = serializers.DateTimeField(source="added_at")

    @extend_schema_field(SOURCES)
    def get_sources(self, membership: Any) -> list[str]:
        return membership_sources(membership)


def membership_sources(membership: Any) -> list[str]:
    """ "manual", "account", "condition": the sources that make the contact a member."""
    return [name for name in ("manual", "account", "condition") if getattr(membership, f"via_{name}")]


class AccountSerializer(StrictSerializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=200)
    domain = serializers.CharField(max_length=253, allow_blank=True, required=False)
    industry = serializers.CharField(max_length=100, allow_blank=True, required=False)
    country = serializers.CharField(
        max_length=2, allow_blank=True, required=False, help_text="ISO 3166-1 alpha-2 code, e.g. CZ"
    )
    employees = serializers.IntegerField(min_value=0, max_value=INT32, allow_null=True, required=False)
    contact_count = serializers.IntegerField(read_only=True, required=False)
    created_at = serializers.DateTimeField(read_only=True)

    def to_representation(self, instance: Account) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["country"] = str(instance.country or "")
        if not hasattr(instance, "contact_count"):
            data["contact_count"] = instance.contacts.filter(merged_into__isnull=True).count()
        return data
