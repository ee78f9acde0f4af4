"""Shared plumbing of the group pages: the group named by the URL, the header's context."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import PermissionRequiredMixin
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.functional import cached_property

from segments import rebuilds
from segments.models import ContactGroup


def condition_summary(group: ContactGroup) -> str:
    """The human sentence for a group's condition ("" when it has none or it no longer validates)."""
    from segments.rules import RuleError, describe

    if not group.is_condition_based or not group.condition:
        return ""
    try:
        return describe(group.condition)
    except RuleError as exc:
        return f"Invalid condition: {exc}"


class GroupMixin(PermissionRequiredMixin):
    """Loads the group named by the URL's pk and puts it, and the tab, in the context."""

    model: Any = ContactGroup  # tells tests/test_permissions.py which object the URL's pk names
    tab = ""
    request: HttpRequest
    kwargs: dict[str, Any]

    @cached_property
    def group(self) -> ContactGroup:
        return get_object_or_404(ContactGroup, pk=self.kwargs["pk"])

    def group_context(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "tab": self.tab,
            "summary": condition_summary(self.group),
            "drifts": rebuilds.group_drifts(group=self.group),
            # the header's status badge polls while a rebuild is queued or running
            "busy": self.group.is_rebuilding,
            # and the tabs showing members or counts reload when it ends (not the forms: edits would be lost)
            "reload": self.tab in ("members", "accounts", "history"),
        }

