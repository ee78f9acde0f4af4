"""Activate, pause and resume a triggered campaign (POST from its Sending tab or header)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.generic import View

from campaigns import triggers
from campaigns.sending import SendError
from campaigns.views.base import CampaignMixin

ACTIONS = {"activate", "resume_from_now", "pause"}


class CampaignTriggerView(CampaignMixin, View):
    """POST action=activate (a draft, or a paused campaign catching up on who joined meanwhile),
    action=resume_from_now (a paused campaign, skipping who joined meanwhile) or action=pause."""

    permission_required = "campaigns.change_campaign"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return redirect("campaigns:campaign_sending", pk=self.campaign.pk)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        campaign, action = self.campaign, request.POST.get("action", "")
        if action not in ACTIONS:
            messages.error(request, "Choose Activate, Resume or Pause.")
            return redirect("campaigns:campaign_sending", pk=campaign.pk)
        was = campaign.status
        try:
            if action == "pause":
                triggers.campaign_trigger_pause(campaign=campaign)
            else:
                triggers.campaign_trigger_activate(campaign=campaign, catch_up=action == "activate")
        except SendError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _done(name=campaign.name, action=action, was=was))
        return redirect("campaigns:campaign_sending", pk=campaign.pk)


def _done(*, name: str, action: str, was: str) -> str:
    if action == "pause":
        return f"“{name}” is paused: nobody new gets it and messages not yet sent wait until you resume it."
    if was == "draft":
        return f"“{name}” is active: everyone who joins its groups from now on gets it, once."
    if action == "resume_from_now":
        return f"“{name}” is active again, for those who join from now on."
    return f"“{name}” is active again: those who joined while it was paused get it too."
