"""Preview tab: the message as three real audience contacts of different variants get it; test send."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.decorators import method_decorator
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.generic import TemplateView, View

from campaigns import selectors, services
from campaigns.compose import message_for
from campaigns.forms import TestSendForm
from campaigns.models import Campaign
from campaigns.personalisation import TokenError
from campaigns.views.base import CampaignMixin
from contacts.models import Contact


def previews(campaign: Campaign) -> list[dict[str, Any]]:
    """(contact, message or error) for up to three audience contacts of different variants."""
    variants = {v.pk: v for v in selectors.campaign_variants(campaign=campaign)}
    arms = {a.label: a for a in selectors.campaign_arms(campaign=campaign)}
    out = []
    for contact in selectors.preview_contacts(campaign=campaign):
        variant = variants.get(contact.variant_id)  # type: ignore[attr-defined]
        arm = arms.get(contact.arm)  # type: ignore[attr-defined]
        try:
            message, error = message_for(campaign=campaign, contact=contact, variant=variant, arm=arm), ""
        except TokenError as exc:
            message, error = None, str(exc)
        out.append({"contact": contact, "variant": variant, "arm": arm, "message": message, "error": error})
    return out


class CampaignPreviewView(CampaignMixin, TemplateView):
    permission_required = "campaigns.view_campaign"
    template_name = "campaigns/campaign_preview.html"
    tab = "preview"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {
            **super().get_context_data(**kwargs),
            **self.campaign_context(),
            "previews": previews(self.campaign),
            "test_form": kwargs.get("test_form") or TestSendForm(),
        }


# The email as a document of its own, for the preview's iframe (a srcdoc iframe would inherit the site's
# policy, which blocks the email's inline styles and images): styles and images allowed, nothing else, in a
# sandbox (no scripts, no forms, an origin of its own), framed only by this site.
EMAIL_PREVIEW_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; font-src https: data:; "
    "sandbox; frame-ancestors 'self'"
)


@method_decorator(xframe_options_sameorigin, name="dispatch")
class CampaignPreviewMessageView(CampaignMixin, View):
    """The HTML part of the email one previewed contact gets (the src of the Preview tab's iframes)."""

    permission_required = "campaigns.view_campaign"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        shown = next((p for p in previews(self.campaign) if p["contact"].pk == kwargs["contact_pk"]), None)
        if shown is None or shown["message"] is None or not self.campaign.is_email:
            raise Http404("This contact is not previewed for this campaign.")
        response = HttpResponse(shown["message"].html, content_type="text/html; charset=utf-8")
        response["Content-Security-Policy"] = EMAIL_PREVIEW_POLICY  # CSPMiddleware leaves a set header alone
        return response


class CampaignTestSendView(CampaignMixin, TemplateView):
    """POST to=<address>[&contact=<id>]: send the message as that audience contact (or the first) would get it."""

    permission_required = "campaigns.change_campaign"
    template_name = "campaigns/campaign_preview.html"
    tab = "preview"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return redirect("campaigns:campaign_preview", pk=self.campaign.pk)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = TestSendForm(request.POST)
        shown = previews(self.campaign)
        if form.is_valid():
            wanted = form.cleaned_data.get("contact")
            chosen = next((p for p in shown if p["contact"].pk == wanted), shown[0] if shown else None)
            if chosen is None:
                form.add_error(None, "The audience is empty: there is no contact to render the message for.")
            elif chosen["message"] is None:
                form.add_error(None, chosen["error"])
            else:
                try:
                    services.campaign_test_send(
                        campaign=self.campaign, message=chosen["message"], to=form.cleaned_data["to"]
                    )
                except services.CampaignError as exc:
                    form.add_error(None, str(exc))
                else:
                    contact: Contact = chosen["contact"]
                    messages.success(
                        request, f"Test sent to {form.cleaned_data['to']} as {contact.display_name} would get it."
                    )
                    return redirect("campaigns:campaign_preview", pk=self.campaign.pk)
        context = {**self.campaign_context(), "previews": shown, "test_form": form}
        return self.render_to_response(context, status=400)
