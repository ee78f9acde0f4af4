"""The unsubscribe link of a sent message (/u/<token>/): no sign-in, a signed token names the delivery.

GET shows a confirmation with one button; POST records the opt-out. RFC 8058 one-click: mail clients
POST "List-Unsubscribe=One-Click" to the List-Unsubscribe URL and the opt-out is recorded at once.
CSRF-exempt (only this view): mail providers post without a cookie, and the signed token is the
proof; a forged or tampered token is a 404 and records nothing.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from campaigns import services
from campaigns.links import unsubscribe_delivery_id
from campaigns.models import Delivery


@login_not_required
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe_view(request: HttpRequest, token: str) -> HttpResponse:
    delivery_id = unsubscribe_delivery_id(token=token)
    delivery = Delivery.objects.filter(pk=delivery_id or 0).select_related("contact").first()
    if delivery is None or delivery.contact is None:
        raise Http404("This unsubscribe link is not valid.")
    if request.method == "POST":
        services.delivery_unsubscribe(delivery_id=delivery.pk)
        if request.POST.get("List-Unsubscribe") == "One-Click":
            return HttpResponse("Unsubscribed.", content_type="text/plain")
        done = True
    else:
        done = delivery.contact.unsubscribes.filter(channel=delivery.channel).exists()
    channel = "text messages" if delivery.channel == "sms" else "emails"
    return render(request, "campaigns/unsubscribe.html", {"done": done, "channel": channel, "token": token})
