"""Campaign pages: list, create, overview, edit, delete."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.generic import FormView, ListView, TemplateView

from campaigns import safety, selectors, services
from campaigns.forms import CampaignForm
from campaigns.models import Campaign
from campaigns.personalisation import allowed_tokens
from campaigns.selectors.triggers import trigger_status
from campaigns.views.base import CampaignMixin


def _service_kwargs(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": data["name"],
        "channel": data["channel"],
        "include": list(data["include"]),
        "exclude": list(data["exclude"]),
        "required_consent": data["required_consent"],
        "subject": data["subject"],
        "preheader": data["preheader"],
        "sender": data["sender"],
        "body": data["body"],
        "kind": data["kind"],
        "daily_cap": data["daily_cap"],
    }


class CampaignListView(PermissionRequiredMixin, ListView):
    permission_required = "campaigns.view_campaign"
    template_name = "campaigns/campaign_list.html"
    paginate_by = 50

    def get_queryset(self) -> QuerySet[Campaign]:
        return Campaign.objects.prefetch_related("group_links__group").order_by("-updated_at", "-id")


class CampaignFormMixin:
    request: HttpRequest

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)  # type: ignore[misc]
        return {**context, "tokens": allowed_tokens(), "sms_opt_out": settings.SMS_OPT_OUT_TEXT}


class CampaignCreateView(PermissionRequiredMixin, CampaignFormMixin, FormView):
    permission_required = "campaigns.add_campaign"
    template_name = "campaigns/campaign_form.html"
    form_class = CampaignForm

    def form_valid(self, form: CampaignForm) -> HttpResponse:
        campaign = services.campaign_create(**_service_kwargs(form.cleaned_data))
        messages.success(self.request, f"Campaign “{campaign.name}” created.")
        return redirect("campaigns:campaign_detail", pk=campaign.pk)


class CampaignUpdateView(CampaignMixin, CampaignFormMixin, FormView):
    locked_after_send = True
    permission_required = "campaigns.change_campaign"
    template_name = "campaigns/campaign_form.html"
    form_class = CampaignForm
    tab = "settings"

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "campaign": self.campaign}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), **self.campaign_context()}

    def form_valid(self, form: CampaignForm) -> HttpResponse:
        services.campaign_update(campaign=self.campaign, **_service_kwargs(form.cleaned_data))
        messages.success(self.request, f"Campaign “{self.campaign.name}” saved.")
        return redirect("campaigns:campaign_detail", pk=self.campaign.pk)


class CampaignDetailView(CampaignMixin, TemplateView):
    """Overview: settings, the audience and why others are left out, who gets which variant, a sample.

    This is the campaign's audience preview: the count shown is remembered for the safety rail (campaigns.safety).
    """

    permission_required = "campaigns.view_campaign"
    template_name = "campaigns/campaign_detail.html"
    tab = "overview"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        breakdown, cells = selectors.audience_report(campaign=self.campaign)
        safety.preview_record(campaign=self.campaign, count=breakdown.audience)
        variants = {v.pk: v for v in selectors.campaign_variants(campaign=self.campaign)}
        sample = selectors.audience_sample(campaign=self.campaign)
        return {
            **super().get_context_data(**kwargs),
            **self.campaign_context(),
            "breakdown": breakdown,
            "cells": cells,
            "arms": selectors.campaign_arms(campaign=self.campaign),
            "sample": [(c, variants.get(c.variant_id)) for c in sample],  # type: ignore[attr-defined]
            "trigger": trigger_status(campaign=self.campaign) if self.campaign.is_triggered else None,
        }


class CampaignDeleteView(CampaignMixin, TemplateView):
    locked_after_send = True
    permission_required = "campaigns.delete_campaign"
    template_name = "campaigns/campaign_confirm_delete.html"
    tab = "settings"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), **self.campaign_context()}

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        name = self.campaign.name
        services.campaign_delete(campaign=self.campaign)
        messages.success(request, f"Campaign “{name}” deleted.")
        return redirect("campaigns:campaign_list")
