"""Tracking endpoints of sent emails (no sign-in): the open pixel /t/o/<token>.gif and the click redirect
/t/c/<token>/. A forged or tampered token is a 404 and records nothing (campaigns.tracking signs them).

Both stay cheap under load: one signature check, then one INSERT into the tracking inbox and the answer
(campaigns.inbox). The open or click becomes an activity, with its campaign event, when a drain records it,
a second or so later.
"""

from __future__ import annotations

import base64

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_GET

from campaigns import inbox, tracking
from campaigns.models import TrackingHitKind

# A 1×1 transparent GIF (43 bytes).
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")


@login_not_required
@require_GET
def open_view(request: HttpRequest, token: str) -> HttpResponse:
    target = tracking.open_target(token=token)
    if target is None:
        raise Http404("Not found.")
    delivery_id, contact_id, campaign_id = target
    inbox.hit_append(kind=TrackingHitKind.OPEN, delivery_id=delivery_id, contact_id=contact_id, campaign_id=campaign_id)
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store, no-cache, must-revalidate, max-age=0"
    return response


@login_not_required
@require_GET
def click_view(request: HttpRequest, token: str) -> HttpResponse:
    target = tracking.click_target(token=token)
    if target is None:
        raise Http404("This link is not valid.")
    delivery_id, url = target
    inbox.hit_append(kind=TrackingHitKind.CLICK, delivery_id=delivery_id, url=url)
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = "no-store"
    return response
