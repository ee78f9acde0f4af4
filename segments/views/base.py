"""Shared plumbing of the group pages: the group named by the URL, the header's context."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import PermissionRequiredMixin
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.functional import cached_property

from contacts.views.base import safe_next
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

    def back(self, url_name: str = "segments:group_detail") -> str:
        """Where an action on one of the group's tabs returns: the page it was posted from (`next`, with its
        filter, search, sort and page) when that is one of this group's pages, else the tab `url_name`."""
        fallback = reverse(url_name, args=[self.group.pk])
        group_root = reverse("segments:group_detail", args=[self.group.pk])
        target = safe_next(self.request, fallback)
        return target if target.startswith(group_root) else fallback
