"""A new session remembers the user's session epoch (checked by users.middleware.SessionGuardMiddleware)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from users.selectors import session_epoch_get

SESSION_EPOCH_KEY = "users_session_epoch"


@receiver(user_logged_in, dispatch_uid="users.remember_session_epoch")
def remember_session_epoch(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_EPOCH_KEY] = session_epoch_get(user_id=user.pk)
