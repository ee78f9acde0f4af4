"""Writes of the webhooks app made by Admins: create, change, resend, enable, disable, new secret.

Every change to an endpoint is noted in the audit log in its own transaction (never its secret).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_changes, audit_record
from segments.models import ContactGroup
from webhooks.models import Delivery, DeliveryStatus, Endpoint, new_secret


def _facts(endpoint: Endpoint) -> dict[str, Any]:
    groups = sorted(endpoint.groups.values_list("name", flat=True)) if endpoint.pk else []
    return {"url": endpoint.url, "events": sorted(endpoint.events), "groups": groups or ["every group"]}


@transaction.atomic
def endpoint_create(*, url: str, events: list[str], groups: Iterable[ContactGroup]) -> Endpoint:
    """Register an endpoint (a new signing secret is made for it)."""
    endpoint = Endpoint.objects.create(url=url, events=list(events))
    endpoint.groups.set(groups)
    audit_record(action=AuditAction.WEBHOOK_CREATED, obj=endpoint, changes=audit_changes({}, _facts(endpoint)))
    return endpoint


@transaction.atomic
def endpoint_update(*, endpoint: Endpoint, url: str, events: list[str], groups: Iterable[ContactGroup]) -> Endpoint:
    """Change where an endpoint posts and which events of which groups it gets."""
    before = _facts(Endpoint.objects.get(pk=endpoint.pk))
    endpoint.url, endpoint.events = url, list(events)
    endpoint.save(update_fields=["url", "events"])
    endpoint.groups.set(groups)
    if changes := audit_changes(before, _facts(endpoint)):
        audit_record(action=AuditAction.WEBHOOK_UPDATED, obj=endpoint, changes=changes)
    return endpoint


def delivery_resend(*, delivery: Delivery) -> None:
    """Queue the delivery again from its first attempt (same payload, same event ids)."""
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PENDING, next_attempt_at=timezone.now(), first_attempt_at=None, attempts=0
    )


@transaction.atomic
def endpoint_set_active(*, endpoint: Endpoint, active: bool) -> None:
    endpoint.active = active
    if active:
        endpoint.failure_count = 0
        endpoint.disabled_reason = ""
    else:
        endpoint.disabled_reason = "Disabled by an Admin."
    endpoint.save(update_fields=["active", "failure_count", "disabled_reason"])
    audit_record(action=AuditAction.WEBHOOK_ENABLED if active else AuditAction.WEBHOOK_DISABLED, obj=endpoint)


@transaction.atomic
def endpoint_rotate_secret(*, endpoint: Endpoint) -> None:
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret"])
    audit_record(action=AuditAction.WEBHOOK_SECRET_ROTATED, obj=endpoint, summary="the old secret no longer verifies")
