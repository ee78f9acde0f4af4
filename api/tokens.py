"""API tokens: create (the secret is returned once), revoke, and find the token a request presents.

A token reads `seg_<prefix>.<secret>`: the prefix (public, unique) finds the row and the secret's SHA-256
is compared in constant time with the stored hash. The secret has 256 bits of entropy, so a plain hash
(no slow KDF) is enough: nobody can guess it, and a leaked database gives no usable token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from api.models import ApiToken, TokenScope
from audit.models import AuditAction
from audit.services import audit_record

TOKEN_START = "seg_"
LAST_USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per token


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def token_create(*, user: Any, name: str, scope: str) -> tuple[ApiToken, str]:
    """Create a token for `user`; returns it and the full token text (shown once, never stored)."""
    if scope not in TokenScope.values:
        raise ValueError(f"unknown scope {scope!r}")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name.strip(), scope=scope, prefix=prefix, secret_hash=_hash(secret))
    audit_record(action=AuditAction.API_TOKEN_CREATED, obj=token, changes={"owner": str(user), "scope": scope})
    return token, f"{TOKEN_START}{prefix}.{secret}"


@transaction.atomic
def token_revoke(*, token: ApiToken) -> bool:
    """Revoke a token (it stops working at once); False when it was revoked already."""
    changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    token.refresh_from_db(fields=["revoked_at"])
    if changed:
        audit_record(action=AuditAction.API_TOKEN_REVOKED, obj=token, changes={"owner": str(token.user)})
    return bool(changed)


def token_find(*, text: str) -> ApiToken | None:
    """The active token `text` names (its user loaded), or None when it is malformed, unknown, wrong or revoked."""
    if not text.startswith(TOKEN_START) or "." not in text:
        return None
    prefix, _, secret = text[len(TOKEN_START) :].partition(".")
    if not prefix or not secret or len(prefix) > 16:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.secret_hash, _hash(secret)):
        return None
    if token.revoked_at is not None or not token.user.is_active:
        return None
    return token


def token_touch(*, token: ApiToken) -> None:
    """Note that the token was used now (written at most once a minute per token)."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def tokens_visible(*, user: Any) -> QuerySet[ApiToken]:
    """The tokens `user` sees on the API tokens page: their own, or everyone's for Admins."""
    tokens = ApiToken.objects.select_related("user")
    return tokens if user.has_perm("api.manage_all_tokens") else tokens.filter(user=user)
