"""Shared plumbing of the campaign pages: the campaign named by the URL and the header's context."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect
from django.utils.functional import cached_property

from campaigns.models import Campaign, GroupRole


class CampaignMixin(PermissionRequiredMixin):
    """Loads the campaign named by the URL's pk and puts it, its groups and the tab in the context."""

    model: Any = Campaign  # tells tests/test_permissions.py which object the URL's pk names
    tab = ""
    locked_after_send = False  # True: a POST to this page is refused once the send has started
    request: HttpRequest
    kwargs: dict[str, Any]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        locked = self.locked_after_send and request.method == "POST" and self.has_permission()
        if locked and self.campaign.is_locked:
            state = self.campaign.get_status_display().lower()
            then = "pause it to change it" if self.campaign.is_triggered else "it can no longer be changed"
            messages.error(request, f"“{self.campaign.name}” is {state}: {then}.")
            return redirect("campaigns:campaign_sending", pk=self.campaign.pk)
        return super().dispatch(request, *args, **kwargs)

    @cached_property
    def campaign(self) -> Campaign:
        return get_object_or_404(Campaign.objects.select_related("required_consent"), pk=self.kwargs["pk"])

    def campaign_context(self) -> dict[str, Any]:
        links = list(self.campaign.group_links.select_related("group").order_by("position", "id"))
        return {
            "campaign": self.campaign,
            "tab": self.tab,
            "included": [link.group for link in links if link.role == GroupRole.INCLUDE],
            "excluded": [link.group for link in links if link.role == GroupRole.EXCLUDE],
        }
