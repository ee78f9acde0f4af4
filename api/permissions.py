"""The pages' role permissions for the API: each view maps HTTP methods to the model permissions required.

A view declares `permission_map = {"GET": ("contacts.view_contact",), "POST": ("contacts.add_contact",), …}`
(the same permissions its page declares). A read-only token may only use methods that change nothing:
the safe ones, plus those a view lists in `read_methods` (the preview is a POST that only reads).
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, permissions
from rest_framework.request import Request

from api.models import ApiToken


class ReadOnlyToken(exceptions.PermissionDenied):
    default_detail = "This token is read-only: create a read-write token to change data."
    default_code = "read_only_token"


def required_permissions(view: Any, method: str) -> tuple[str, ...]:
    """The model permissions `view` requires for `method` (HEAD and OPTIONS as GET)."""
    mapping: dict[str, tuple[str, ...]] = getattr(view, "permission_map", {})
    key = "GET" if method in ("HEAD", "OPTIONS") else method
    if key not in mapping:
        # A method a view does not map is not allowed at all (405 comes from the view itself).
        return ()
    return mapping[key]


class RolePermission(permissions.BasePermission):
    """Signed in (token or session), holding the method's model permissions, and a token scope that allows it."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            raise exceptions.NotAuthenticated()
        token = request.auth if isinstance(request.auth, ApiToken) else None
        writes = request.method not in permissions.SAFE_METHODS and request.method not in getattr(
            view, "read_methods", ()
        )
        if token is not None and writes and not token.can_write:
            raise ReadOnlyToken()
        return user.has_perms(required_permissions(view, request.method or "GET"))
