"""Rate limiting per API token (per user for a signed-in session): settings.API_RATE, read per request.

Invariant: the count is shared by every process serving the API (several gunicorn workers, several machines):
it lives in Django's default cache — Redis when REDIS_URL is set, else the database (`config.cache`) — and is
taken with one atomic increment (Redis INCR; a locked row in the database), never read-then-written, so two
workers can never both take the last request of a window. The limit is per clock window: at most N requests
in each minute (or second, hour, day) of the clock; over it, 429 with Retry-After = the seconds left in it.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from django.conf import settings
from django.core.cache import BaseCache, caches
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from api.models import ApiToken

logger = logging.getLogger(__name__)


def rate_take(
    *, key: str, limit: int, duration: int, now: float | None = None, cache: BaseCache | None = None
) -> float:
    """Count one request of `key` in the current window of `duration` seconds; 0 when it is within `limit`,
    else the seconds until the next window starts."""
    cache = cache if cache is not None else caches["default"]
    now = time.time() if now is None else now
    window = int(now // duration)
    counter = f"rate:{key}:{duration}:{window}"
    ttl = duration + 5  # the key names its window: it only has to outlive it
    try:
        count = cache.incr(counter)
    except ValueError:  # the window's first request (or its key expired)
        count = 1 if cache.add(counter, 1, timeout=ttl) else cache.incr(counter)  # else: another process added it
    if count <= limit:
        return 0.0
    return max((window + 1) * duration - now, 0.001)


class TokenRateThrottle(BaseThrottle):
    """`API_RATE` ("600/min") requests per token; over it, 429 with Retry-After (seconds)."""

    def __init__(self) -> None:
        self._wait: float | None = None

    def get_cache_key(self, request: Request) -> str:
        if isinstance(request.auth, ApiToken):
            return f"api_token_{request.auth.pk}"
        if request.user and request.user.is_authenticated:
            return f"api_user_{request.user.pk}"
        return f"api_anon_{self.get_ident(request)}"

    def allow_request(self, request: Request, view: Any) -> bool:
        # The rate is read per request, so override_settings and deploys take effect.
        limit, duration = SimpleRateThrottle.parse_rate(None, str(getattr(settings, "API_RATE", "600/min")))  # type: ignore[arg-type]
        if limit is None or duration is None:
            return True
        try:
            wait = rate_take(key=self.get_cache_key(request), limit=limit, duration=duration)
        except Exception:  # the cache is down: serve the request rather than fail every one
            logger.exception("the API rate limit could not be counted; the request is let through")
            return True
        self._wait = wait or None
        return not wait

    def wait(self) -> float | None:
        return math.ceil(self._wait) if self._wait else None
