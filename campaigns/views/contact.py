"""The Messages card of a contact's page (loaded into it by htmx: contacts never import campaigns): the contact's
opt-outs per channel and latest campaign messages; POST opts the contact back in to a channel when they ask."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.generic import TemplateView, View

from campaigns import services
from campaigns.models import Channel
from campaigns.selectors.contact import contact_channels, contact_messages
from contacts.models import Contact


class ContactMessagesView(PermissionRequiredMixin, TemplateView):
    """GET: the card's fragment."""

    model = Contact  # tells tests/test_permissions.py which object the URL's pk names
    permission_required = ("contacts.view_contact", "campaigns.view_campaign")
    template_name = "campaigns/_contact_messages.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        contact = get_object_or_404(Contact, pk=self.kwargs["pk"])
        rows, more = contact_messages(contact=contact)
        return {
            **super().get_context_data(**kwargs),
            "contact": contact,
            "channels": contact_channels(contact=contact),
            "deliveries": rows,
            "more": more,
        }


class ContactResubscribeView(PermissionRequiredMixin, View):
    """POST channel=email|sms: remove the contact's opt-out of that channel (they asked to hear from us again)."""

    model = Contact
    permission_required = ("contacts.change_contact", "campaigns.change_campaign")

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        contact = get_object_or_404(Contact, pk=pk)
        channel = request.POST.get("channel", "")
        if channel not in Channel.values:
            messages.error(request, "Choose email or SMS to opt the contact back in to.")
        elif services.contact_resubscribe(contact=contact, channel=channel):
            label = Channel(channel).label
            messages.success(request, f"{contact.display_name} will receive {label} campaigns again.")
        else:
            messages.info(request, f"{contact.display_name} had not opted out of {Channel(channel).label}.")
        return redirect(contact.get_absolute_url() + "#messages")
