"""Writes of the webhooks app made by Admins: resend, enable, disable, new secret."""

from __future__ import annotations

from django.utils import timezone

from webhooks.models import Delivery, DeliveryStatus, Endpoint, new_secret


def delivery_resend(*, delivery: Delivery) -> None:
    """Queue the delivery again from its first attempt (same payload, same event ids)."""
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PENDING, next_attempt_at=timezone.now(), first_attempt_at=None, attempts=0
    )


def endpoint_set_active(*, endpoint: Endpoint, active: bool) -> None:
    endpoint.active = active
    if active:
        endpoint.failure_count = 0
        endpoint.disabled_reason = ""
    else:
        endpoint.disabled_reason = "Disabled by an Admin."
    endpoint.save(update_fields=["active", "failure_count", "disabled_reason"])


def endpoint_rotate_secret(*, endpoint: Endpoint) -> None:
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret"])
