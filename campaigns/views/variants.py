"""Content tab: variants per included group (priority order) and the A/B split."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.generic import TemplateView

from campaigns import selectors, services
from campaigns.forms import SplitForm, VariantForm
from campaigns.models import ContentVariant
from campaigns.personalisation import allowed_tokens
from campaigns.views.base import CampaignMixin


def _int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**63 else None


class CampaignVariantsView(CampaignMixin, TemplateView):
    """GET: the variants, a form to add one (or edit ?edit=<id>). POST: save that form."""

    locked_after_send = True
    permission_required = "campaigns.view_campaign"
    template_name = "campaigns/campaign_variants.html"
    tab = "variants"

    def editing(self) -> ContentVariant | None:
        pk = _int(self.request.POST.get("variant") or self.request.GET.get("edit"))
        if pk is None:
            return None
        return get_object_or_404(ContentVariant, pk=pk, campaign=self.campaign)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        editing = self.editing()
        form = kwargs.pop("form", None) or VariantForm(campaign=self.campaign, variant=editing)
        return {
            **super().get_context_data(**kwargs),
            **self.campaign_context(),
            "variants": selectors.campaign_variants(campaign=self.campaign),
            "form": form,
            "editing": editing,
            "tokens": allowed_tokens(),
            "sms_opt_out": settings.SMS_OPT_OUT_TEXT,
        }

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.has_perm("campaigns.change_campaign"):
            return self.handle_no_permission()
        editing = self.editing()
        form = VariantForm(request.POST, campaign=self.campaign, variant=editing)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.variant_save(
                    campaign=self.campaign,
                    variant=editing,
                    group=data["group"],
                    priority=data["priority"],
                    subject=data.get("subject", ""),
                    preheader=data.get("preheader", ""),
                    body=data["body"],
                )
            except services.CampaignError as exc:
                form.add_error("group", str(exc))
            else:
                messages.success(request, f"Variant for “{data['group'].name}” saved.")
                return redirect("campaigns:campaign_variants", pk=self.campaign.pk)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class CampaignVariantDeleteView(CampaignMixin, TemplateView):
    """POST variant=<id>: remove that variant (its group's members get the default content)."""

    locked_after_send = True
    permission_required = "campaigns.change_campaign"
    http_method_names = ["get", "post"]

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return redirect("campaigns:campaign_variants", pk=self.campaign.pk)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        pk = _int(request.POST.get("variant"))
        variant = get_object_or_404(ContentVariant, pk=pk or 0, campaign=self.campaign)
        services.variant_delete(variant=variant)
        messages.success(request, f"Variant for “{variant.group.name}” removed.")
        return redirect("campaigns:campaign_variants", pk=self.campaign.pk)


class CampaignSplitView(CampaignMixin, TemplateView):
    """GET: the A/B split form and each arm's audience. POST: replace the split."""

    locked_after_send = True
    permission_required = "campaigns.view_campaign"
    template_name = "campaigns/campaign_split.html"
    tab = "split"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        form = kwargs.pop("form", None) or SplitForm(campaign=self.campaign)
        # An arm of the saved split that nobody landed in (a small audience) shows 0; arms not in it, a dash.
        counts: dict[str, int] = dict.fromkeys(self.campaign.arms.values_list("label", flat=True), 0)
        for cell in selectors.audience_split(campaign=self.campaign):
            if cell.arm:
                counts[cell.arm] = counts.get(cell.arm, 0) + cell.count
        rows = [
            {
                "label": label,
                "percent": form[f"{label}_percent"],
                "subject": form[f"{label}_subject"] if f"{label}_subject" in form.fields else None,
                "body": form[f"{label}_body"],
                "count": counts.get(label),
            }
            for label in "ABCD"
        ]
        return {**super().get_context_data(**kwargs), **self.campaign_context(), "form": form, "rows": rows}

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.has_perm("campaigns.change_campaign"):
            return self.handle_no_permission()
        form = SplitForm(request.POST, campaign=self.campaign)
        if form.is_valid():
            arms = [services.ArmInput(**arm) for arm in form.arms()]
            try:
                services.split_set(campaign=self.campaign, arms=arms)
            except services.CampaignError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, "A/B split saved." if arms else "A/B split removed.")
                return redirect("campaigns:campaign_split", pk=self.campaign.pk)
        return self.render_to_response(self.get_context_data(form=form), status=400)
