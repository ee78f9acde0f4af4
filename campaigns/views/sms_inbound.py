"""The SMS provider's webhook for replies (POST /sms/inbound/): a STOP reply unsubscribes the sender's number,
a START reply opts it back in.

No sign-in and no CSRF cookie (a provider posts it); instead the request must prove it comes from the provider:
the header `X-SMS-Secret` equal to settings.SMS_INBOUND_SECRET, or `X-SMS-Signature: sha256=<hex>` — the
HMAC-SHA256 of the raw body with that secret. Without SMS_INBOUND_SECRET configured every request is refused.
The body is a form (Twilio-style `From`/`Body`, Vonage-style `msisdn`/`text`) or a JSON object with `from` and
`text`. Answers JSON: {"stop": true, "unsubscribed": 2, "start": false, "resubscribed": 0}; a bad request is a
400 naming what is missing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from campaigns.sms_optout import sms_inbound_record

SENDER_KEYS = ("from", "From", "msisdn", "sender")
TEXT_KEYS = ("text", "Text", "Body", "body", "message")
MAX_BODY = 64 * 1024


def _authentic(request: HttpRequest, secret: str) -> bool:
    given = request.headers.get("X-SMS-Secret", "")
    if given and hmac.compare_digest(given.encode(), secret.encode()):
        return True
    signature = request.headers.get("X-SMS-Signature", "").removeprefix("sha256=")
    expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    return bool(signature) and hmac.compare_digest(signature.lower().encode(), expected.encode())


def _fields(request: HttpRequest) -> dict[str, Any] | None:
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            return None
        return data if isinstance(data, dict) else None
    return request.POST.dict()


def _first(data: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


@login_not_required
@csrf_exempt
@require_POST
def sms_inbound_view(request: HttpRequest) -> JsonResponse:
    secret = settings.SMS_INBOUND_SECRET
    if not secret:
        return JsonResponse({"error": "Inbound SMS is not configured (SMS_INBOUND_SECRET is not set)."}, status=403)
    if len(request.body) > MAX_BODY:
        return JsonResponse({"error": "The request body is too large."}, status=413)
    if not _authentic(request, secret):
        return JsonResponse({"error": "Missing or wrong X-SMS-Secret / X-SMS-Signature."}, status=403)
    data = _fields(request)
    if data is None:
        return JsonResponse({"error": "body: expected a form or a JSON object."}, status=400)
    sender, text = _first(data, SENDER_KEYS), _first(data, TEXT_KEYS)
    if sender is None or text is None:
        missing = "from" if sender is None else "text"
        return JsonResponse({"error": f"{missing}: required (the sender's number and the message text)."}, status=400)
    result = sms_inbound_record(sender=sender, text=text)
    return JsonResponse(
        {
            "stop": result.stop,
            "unsubscribed": len(result.contact_ids),
            "start": result.start,
            "resubscribed": len(result.resubscribed_ids),
        }
    )
