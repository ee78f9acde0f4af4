"""Signed links in sent messages: the unsubscribe link names its delivery, signed per purpose.

A token is `<delivery id>:<signature>` (django.core.signing, salt "campaigns.unsubscribe"): it cannot be
forged or pointed at another delivery without SECRET_KEY, and it never expires (an old email's link works).
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

UNSUBSCRIBE_SALT = "campaigns.unsubscribe"


def unsubscribe_token(*, delivery_id: int) -> str:
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign(str(delivery_id))


def unsubscribe_delivery_id(*, token: str) -> int | None:
    """The delivery id a token names; None when it is forged or tampered with."""
    try:
        return int(signing.Signer(salt=UNSUBSCRIBE_SALT).unsign(token))
    except (signing.BadSignature, ValueError):
        return None


def unsubscribe_url(*, delivery_id: int) -> str:
    """The absolute one-click unsubscribe link (settings.SITE_URL + /u/<token>/)."""
    return settings.SITE_URL + reverse("unsubscribe", args=[unsubscribe_token(delivery_id=delivery_id)])
