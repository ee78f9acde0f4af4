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
    """200 when the database, replica, broker, queue and worker are fine; 503 naming the failed checks."""
    result = readiness()
    if result["failed"]:
        reasons = "; ".join(f"{name}: {result['checks'][name].get('reason', '')}" for name in result["failed"])
        logger.warning("not ready: %s", reasons)
    return JsonResponse(result, status=503 if result["failed"] else 200)
