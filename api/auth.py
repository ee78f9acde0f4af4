"""`Authorization: Bearer <token>` for the API (DRF authentication class)."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from api.tokens import token_find, token_touch


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """Authenticates with an API token; `request.auth` is then the ApiToken (scope, id for the throttle)."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be “Bearer <token>”.")
        try:
            text = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("The token is not valid.") from None
        token = token_find(text=text)
        if token is None:
            raise exceptions.AuthenticationFailed("The token is not valid or has been revoked.")
        token_touch(token=token)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
