"""Rate limiting per API token (per user for a signed-in session): settings.API_RATE, read per request."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from api.models import ApiToken


class TokenRateThrottle(SimpleRateThrottle):
    """`API_RATE` ("600/min") requests per token; over it, 429 with Retry-After (seconds)."""

    scope = "api"

    def __init__(self) -> None:  # the rate is read per request, so override_settings and deploys take effect
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)

    def get_rate(self) -> str:
        return str(getattr(settings, "API_RATE", "600/min"))

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, ApiToken):
            return f"throttle_api_token_{request.auth.pk}"
        if request.user and request.user.is_authenticated:
            return f"throttle_api_user_{request.user.pk}"
        return f"throttle_api_anon_{self.get_ident(request)}"
