"""Contact groups, their members and the rule engine's answers (preview, explanation) as JSON."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.common import StrictSerializer, has_nul
from api.serializers.contacts import SOURCES, ContactSerializer, membership_sources
from segments.models import GROUP_CODE_VALIDATOR, ContactGroup, RebuildStatus
from segments.views.base import condition_summary

RULE_TREE = {
    "type": "object",
    "description": 'A rule tree, version 1: {"version": 1, "root": NODE} (see docs/rules.md).',
    "additionalProperties": True,
}


@extend_schema_field(RULE_TREE)
class RuleTreeField(serializers.JSONField):
    """A rule tree (validated by segments.rules when saved or previewed, with the node path of any error)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise serializers.ValidationError("Expected a rule tree: a JSON object.", code="invalid")
        if has_nul(data):
            raise serializers.ValidationError("Null characters are not allowed.", code="null_characters")
        return super().to_internal_value(data)


@extend_schema_field({**RULE_TREE, "nullable": True})
class NullableRuleTreeField(RuleTreeField):
    pass


class GroupSerializer(StrictSerializer):
    id = serializers.IntegerField(read_only=True)
    code = serializers.CharField(max_length=50, validators=[GROUP_CODE_VALIDATOR], help_text="Identifier, unique")
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True, required=False, default="")
    condition = NullableRuleTreeField(
        allow_null=True, required=False, default=None, help_text="The rule tree; null for a static group"
    )
    scheduled_rebuild = serializers.BooleanField(required=False, default=False)
    is_condition_based = serializers.BooleanField(read_only=True)
    summary = serializers.SerializerMethodField(help_text="The condition as a sentence")
    member_count = serializers.IntegerField(read_only=True)
    rebuild_status = serializers.ChoiceField(choices=RebuildStatus.choices, read_only=True, source="rebuild_state")
    last_rebuild_finished_at = serializers.DateTimeField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    @extend_schema_field(serializers.CharField())
    def get_summary(self, group: ContactGroup) -> str:
        return condition_summary(group)


class GroupUpdateSerializer(GroupSerializer):
    """The code cannot change (other groups' conditions refer to it)."""

    code = serializers.CharField(read_only=True)
    description = serializers.CharField(allow_blank=True, required=False)
    condition = NullableRuleTreeField(allow_null=True, required=False)
    scheduled_rebuild = serializers.BooleanField(required=False)


class RebuildStatusSerializer(serializers.Serializer):
    code = serializers.CharField()
    rebuild_status = serializers.ChoiceField(choices=RebuildStatus.choices)
    rebuilding = serializers.BooleanField()
    rebuild_error = serializers.CharField()
    last_rebuild_finished_at = serializers.DateTimeField(allow_null=True)
    last_rebuild_added = serializers.IntegerField(allow_null=True)
    last_rebuild_removed = serializers.IntegerField(allow_null=True)
    member_count = serializers.IntegerField()
    status_url = serializers.CharField()


class MemberSerializer(serializers.Serializer):
    """A member: the contact, why it is a member (its sources) and since when."""

    contact = ContactSerializer()
    sources = serializers.SerializerMethodField()
    member_since = serializers.DateTimeField(source="added_at")

    @extend_schema_field(SOURCES)
    def get_sources(self, membership: Any) -> list[str]:
        return membership_sources(membership)


class MembersPageSerializer(serializers.Serializer):
    next = serializers.CharField(allow_null=True, help_text="The next page's URL (null on the last page)")
    results = MemberSerializer(many=True)


class MemberChangeSerializer(serializers.Serializer):
    requested = serializers.IntegerField(help_text="Ids sent")
    missing = serializers.ListField(child=serializers.IntegerField(), help_text="Ids that name nothing")
    added = serializers.IntegerField(help_text="Contacts that became members")
    removed = serializers.IntegerField(help_text="Contacts that stopped being members")


class NodeVerdictSerializer(serializers.Serializer):
    path = serializers.CharField()
    type = serializers.CharField()
    description = serializers.CharField()
    matched = serializers.BooleanField()
    negate = serializers.BooleanField()
    count = serializers.IntegerField(allow_null=True)
    children = serializers.ListField(child=serializers.DictField(), help_text="Node verdicts of the same shape")


class ExplanationSerializer(serializers.Serializer):
    contact_id = serializers.IntegerField()
    matched = serializers.BooleanField()
    merged = serializers.BooleanField()
    root = NodeVerdictSerializer()


class ExplainSerializer(serializers.Serializer):
    group = serializers.CharField(help_text="The group's code")
    contact_id = serializers.IntegerField()
    member = serializers.BooleanField()
    sources = SOURCES
    member_since = serializers.DateTimeField(allow_null=True)
    linked_account = serializers.IntegerField(allow_null=True, help_text="The contact's account, linked to the group")
    condition = ExplanationSerializer(allow_null=True, help_text="Each node's verdict (null: no valid condition)")


class PreviewContactSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.CharField()


class ReachableSerializer(serializers.Serializer):
    email = serializers.IntegerField()
    sms = serializers.IntegerField()


class PreviewSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    reachable = ReachableSerializer()
    contacts = PreviewContactSerializer(many=True, help_text="A sample: the first matching contacts")
    description = serializers.CharField()
