"""Tracking endpoints of sent emails (no sign-in): the open pixel /t/o/<token>.gif and the click redirect
/t/c/<token>/. A forged or tampered token is a 404 and records nothing (campaigns.tracking signs them).

The pixel stays cheap under load: one signature check (the token names the delivery, contact and
campaign), then one transaction through contacts.services.activity_record: the INSERT of the open, the
contact's last_activity_at raised, the re-check noted — and a drain of the re-checks queued only when
none is pending (segments.recheck_wake). An older token (delivery id only) costs one read of the delivery.
"""

from __future__ import annotations

import base64
import logging

from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_GET

from campaigns import tracking

logger = logging.getLogger(__name__)

# A 1×1 transparent GIF (43 bytes).
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")


@login_not_required
@require_GET
def open_view(request: HttpRequest, token: str) -> HttpResponse:
    target = tracking.open_target(token=token)
    if target is None:
        raise Http404("Not found.")
    delivery_id, contact_id, campaign_id = target
    try:
        tracking.open_record(delivery_id=delivery_id, contact_id=contact_id, campaign_id=campaign_id)
    except IntegrityError:  # the contact was deleted at this very moment: nothing to record
        logger.info("open of delivery %s not recorded: its contact is gone", delivery_id)
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
    try:
        tracking.click_record(delivery_id=delivery_id, url=url)
    except IntegrityError:
        logger.info("click of delivery %s not recorded: its contact is gone", delivery_id)
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = "no-store"
    return response
