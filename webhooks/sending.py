"""Sending deliveries: signed POSTs, strictly in order per endpoint, retried with exponential backoff.

A delivery is claimed with a conditional update (a lease on next_attempt_at), so two workers never send
the same attempt. A later delivery of an endpoint waits while an earlier one is pending.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from webhooks.models import Delivery, DeliveryStatus, Endpoint
from webhooks.targets import TargetRefused, target_check

LEASE = dt.timedelta(minutes=2)


def signature(*, secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is returned as an error, never followed


_OPENER = urllib.request.build_opener(_NoRedirect)


def _post(*, endpoint: Endpoint, body: bytes) -> tuple[int | None, str]:
    """POST the body; (status code or None, error text or "")."""
    try:
        target_check(url=endpoint.url)
    except TargetRefused as refused:
        return None, str(refused)
    timestamp = str(int(time.time()))
    request = urllib.request.Request(
        endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "segments-webhooks/1",
            "X-Segments-Timestamp": timestamp,
            "X-Segments-Signature": signature(secret=endpoint.secret, timestamp=timestamp, body=body),
        },
    )
    try:
        with _OPENER.open(request, timeout=settings.WEBHOOKS_TIMEOUT) as response:
            response.read(1024)
            return response.status, ""
    except urllib.error.HTTPError as error:
        return error.code, f"HTTP {error.code}"
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        return None, f"{type(reason).__name__}: {reason}"[:500]


def backoff(*, attempts: int) -> dt.timedelta:
    """1 min, 2 min, 4 min … capped at settings.WEBHOOKS_MAX_BACKOFF_MINUTES."""
    return dt.timedelta(minutes=min(2 ** (attempts - 1), settings.WEBHOOKS_MAX_BACKOFF_MINUTES))


def delivery_attempt(*, delivery: Delivery, now: dt.datetime) -> bool:
    """Claim and send one attempt of `delivery`; True when it succeeded. False if another worker has it."""
    claimed = Delivery.objects.filter(
        pk=delivery.pk, status=DeliveryStatus.PENDING, next_attempt_at=delivery.next_attempt_at
    ).update(next_attempt_at=now + LEASE)
    if not claimed:
        return False
    endpoint = delivery.endpoint
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    started = time.monotonic()
    code, error = _post(endpoint=endpoint, body=body)
    elapsed_ms = int((time.monotonic() - started) * 1000)
    ok = code is not None and 200 <= code < 300
    first = delivery.first_attempt_at or now
    attempts = delivery.attempts + 1
    with transaction.atomic():
        fields: dict[str, Any] = {
            "attempts": attempts,
            "first_attempt_at": first,
            "last_status_code": code,
            "last_response_ms": elapsed_ms,
            "last_error": error,
        }
        if ok:
            fields["status"] = DeliveryStatus.SUCCEEDED
            Endpoint.objects.filter(pk=endpoint.pk).update(failure_count=0)
        elif now - first >= dt.timedelta(hours=settings.WEBHOOKS_RETRY_HOURS):
            fields["status"] = DeliveryStatus.FAILED
            _endpoint_failed(endpoint_id=endpoint.pk)
        else:
            fields["next_attempt_at"] = now + backoff(attempts=attempts)
        Delivery.objects.filter(pk=delivery.pk).update(**fields)
    return ok


def _endpoint_failed(*, endpoint_id: int) -> None:
    Endpoint.objects.filter(pk=endpoint_id).update(failure_count=F("failure_count") + 1)
    limit = settings.WEBHOOKS_DISABLE_AFTER
    Endpoint.objects.filter(pk=endpoint_id, active=True, failure_count__gte=limit).update(
        active=False,
        disabled_reason=f"Disabled automatically after {limit} deliveries in a row failed for "
        f"{settings.WEBHOOKS_RETRY_HOURS} hours.",
    )


def endpoint_send(*, endpoint_id: int, now: dt.datetime, max_sends: int = 20) -> int:
    """Send the endpoint's due deliveries oldest first; stop at the first one not due or failing."""
    sent = 0
    while sent < max_sends:
        if not Endpoint.objects.filter(pk=endpoint_id, active=True).exists():
            return sent
        oldest = (
            Delivery.objects.filter(endpoint_id=endpoint_id, status=DeliveryStatus.PENDING)
            .select_related("endpoint")
            .order_by("pk")
            .first()
        )
        if oldest is None or oldest.next_attempt_at > now:
            return sent  # strict order: a later delivery waits for the oldest pending one
        if not delivery_attempt(delivery=oldest, now=now):
            return sent
        sent += 1
    return sent


def send_due(*, now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    return sum(
        endpoint_send(endpoint_id=pk, now=now)
        for pk in Endpoint.objects.filter(active=True).values_list("pk", flat=True)
    )
