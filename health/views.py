"""/healthz and /readyz: JSON for load balancers and monitors, no sign-in, never cached."""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from health.probes import readiness

logger = logging.getLogger(__name__)


@login_not_required
@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and answers requests (touches nothing else: a liveness probe)."""
    return JsonResponse({"status": "ok"})


@login_not_required
@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """503 when the web tier cannot serve (the primary database fails) — or, with `?strict=1` (for monitoring),
    when any check fails; otherwise 200, with "status": "degraded" and the failed checks named when the replica,
    broker, queue or worker fail (pages still answer: reads fall back to the primary, background work waits)."""
    result = readiness()
    if result["failed"]:
        reasons = "; ".join(f"{name}: {result['checks'][name].get('reason', '')}" for name in result["failed"])
        logger.warning("not ready: %s" if result["critical"] else "degraded: %s", reasons)
    strict = request.GET.get("strict") in ("1", "true", "yes")
    unready = result["critical"] or (strict and result["failed"])
    return JsonResponse(result, status=503 if unready else 200)
