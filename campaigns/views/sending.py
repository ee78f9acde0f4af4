"""Sending tab: send now or schedule (with the audience count in the confirmation, and the safety rail's
reasons and "I checked the audience" box when the audience is surprising), the send's progress (polled while it
runs; it survives a reload: everything is read from the Delivery rows) and the deliveries."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.generic import TemplateView

from campaigns import outcomes, safety, selectors, sending
from campaigns.forms import SendForm
from campaigns.models import Delivery, DeliveryStatus
from campaigns.selectors.triggers import trigger_status
from campaigns.views.base import CampaignMixin

DELIVERIES_PER_PAGE = 50


def progress(campaign_id: int, recipients: int) -> dict[str, Any]:
    counts = sending.delivery_counts(campaign_id=campaign_id)
    sent, failed = counts.get(DeliveryStatus.SENT, 0), counts.get(DeliveryStatus.FAILED, 0)
    remaining = counts.get(DeliveryStatus.QUEUED, 0) + counts.get(DeliveryStatus.SENDING, 0)
    done = recipients - remaining
    return {
        "counts": counts,
        "sent": sent,
        "failed": failed,
        "skipped": counts.get(DeliveryStatus.SKIPPED, 0),
        "unknown": counts.get(DeliveryStatus.UNKNOWN, 0),
        "retrying": Delivery.objects.filter(
            campaign_id=campaign_id, status=DeliveryStatus.QUEUED, retry_at__isnull=False
        ).count()
        if counts.get(DeliveryStatus.QUEUED)
        else 0,
        "remaining": remaining,
        "percent": round(100 * done / recipients) if recipients else 100,
    }


class CampaignSendingView(CampaignMixin, TemplateView):
    """GET: the send form (draft), the schedule (scheduled) or the progress and deliveries (?status= filters)."""

    permission_required = "campaigns.view_campaign"
    template_name = "campaigns/campaign_sending.html"
    tab = "sending"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if getattr(request, "htmx", False) and request.GET.get("part") == "progress":
            return render(request, "campaigns/_send_progress.html", self.progress_context())
        return super().get(request, *args, **kwargs)

    def progress_context(self) -> dict[str, Any]:
        campaign = self.campaign
        return {"campaign": campaign, "progress": progress(campaign.pk, campaign.recipients)}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        campaign = self.campaign
        context = {**super().get_context_data(**kwargs), **self.campaign_context(), **self.progress_context()}
        if campaign.is_triggered:
            context["trigger"] = trigger_status(campaign=campaign)
        if campaign.is_unsent and not campaign.is_triggered:
            audience = selectors.audience_breakdown(spec=selectors.audience_spec(campaign=campaign)).audience
            context["audience"] = audience
            context["form"] = kwargs.get("form") or SendForm(initial={"action": "now"})
            if campaign.is_sendable:
                context["safety"] = kwargs.get("safety") or self.safety_context(audience)
        else:
            status = self.request.GET.get("status", "")
            rows = Delivery.objects.filter(campaign=campaign).select_related("contact").order_by("pk")
            if status in DeliveryStatus.values:
                rows = rows.filter(status=status)
            context["page_obj"] = Paginator(rows, DELIVERIES_PER_PAGE).get_page(self.request.GET.get("page"))
            context["status"] = status
            context["statuses"] = DeliveryStatus.choices
        return context

    def safety_context(self, audience: int) -> dict[str, Any]:
        """The rail's reasons for this audience and the signed numbers the confirmation box sends back."""
        warnings = safety.send_checks(campaign=self.campaign, audience_count=audience)
        token = safety.confirmation_token(campaign=self.campaign, audience=audience, warnings=warnings)
        return {"warnings": warnings, "audience": audience, "token": token if warnings else "", "stale": ""}


class CampaignSendView(CampaignMixin, TemplateView):
    """POST action=now | action=schedule&at=…: start or schedule the send; POST action=cancel: unschedule;
    POST action=retry: send the failed deliveries again (never the sent, skipped or not confirmed ones)."""

    permission_required = "campaigns.change_campaign"
    template_name = "campaigns/campaign_sending.html"
    tab = "sending"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return redirect("campaigns:campaign_sending", pk=self.campaign.pk)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        campaign = self.campaign
        if request.POST.get("action") == "retry":
            count = outcomes.deliveries_retry_failed(campaign=campaign)
            if count:
                messages.success(request, f"Retrying {count} failed deliver{'y' if count == 1 else 'ies'}.")
            else:
                messages.info(request, "No failed deliveries to retry.")
            return redirect("campaigns:campaign_sending", pk=campaign.pk)
        if request.POST.get("action") == "cancel":
            try:
                sending.campaign_send_cancel(campaign=campaign)
            except sending.SendError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, f"The send of “{campaign.name}” is cancelled; it is a draft again.")
            return redirect("campaigns:campaign_sending", pk=campaign.pk)
        form = SendForm(request.POST)
        rail: dict[str, Any] | None = None
        if form.is_valid():
            data = form.cleaned_data
            at = data["at"] if data["action"] == "schedule" else None
            confirmation = safety.Confirmation(token=data["confirm_token"] or "", count=data["confirm"])
            try:
                campaign = safety.campaign_send_checked(campaign=campaign, at=at, confirmation=confirmation)
            except safety.ConfirmationNeeded as exc:
                form.add_error(None, str(exc))
                rail = {"warnings": exc.warnings, "audience": exc.audience, "token": exc.token, "stale": exc.stale}
            except sending.SendError as exc:
                form.add_error(None, str(exc))
            else:
                if at is None:
                    messages.success(request, f"Sending “{campaign.name}”: the worker sends it in batches.")
                else:
                    messages.success(request, f"“{campaign.name}” is scheduled.")
                return redirect("campaigns:campaign_sending", pk=campaign.pk)
        view = CampaignSendingView(request=request, kwargs=self.kwargs, args=self.args)
        return render(request, self.template_name, view.get_context_data(form=form, safety=rail), status=400)
