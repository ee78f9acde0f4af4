"""Ends sessions that "Log out everywhere" (or a deactivation) retired, and keeps active sessions alive.

Sessions expire after SESSION_COOKIE_AGE seconds without a request: the expiry slides forward, but the
session is written at most once per SESSION_REFRESH_SECONDS (not on every request, as
SESSION_SAVE_EVERY_REQUEST would).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

from users.receivers import SESSION_EPOCH_KEY
from users.selectors import session_epoch_get

REFRESHED_KEY = "users_refreshed_at"


class SessionGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            session = request.session
            if session.get(SESSION_EPOCH_KEY, 0) != session_epoch_get(user_id=user.pk):
                logout(request)  # flushes the session: the next middleware sends the visitor to sign in
                messages.info(request, "Your session was ended. Please sign in again.")
            else:
                now = int(time.time())
                if now - session.get(REFRESHED_KEY, 0) >= settings.SESSION_REFRESH_SECONDS:
                    session[REFRESHED_KEY] = now  # modified → saved with a fresh expiry and cookie
        return self.get_response(request)
