"""What every API view shares: authentication by DRF (not the site's login redirect) and the error schema."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_not_required
from drf_spectacular.utils import OpenApiResponse
from rest_framework import generics, views

from api.serializers.common import ErrorSerializer

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid request (path names the bad part)"),
    401: OpenApiResponse(ErrorSerializer, description="No valid token or session"),
    403: OpenApiResponse(ErrorSerializer, description="The role or the token's scope does not allow it"),
    404: OpenApiResponse(ErrorSerializer, description="Not found"),
    409: OpenApiResponse(ErrorSerializer, description="The Idempotency-Key was used for a different request"),
    413: OpenApiResponse(ErrorSerializer, description="Request body too large"),
    429: OpenApiResponse(ErrorSerializer, description="Rate limit exceeded (see Retry-After)"),
}


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """The error responses a view documents besides the ones every view may give (401, 403, 429)."""
    return {s: ERRORS[s] for s in sorted({401, 403, 429, *statuses})}


class ApiViewMixin:
    """DRF authenticates API requests (token or session): the site's LoginRequiredMiddleware lets them through."""

    permission_map: dict[str, tuple[str, ...]] = {}

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        return login_not_required(super().as_view(**initkwargs))  # type: ignore[misc]


class ApiView(ApiViewMixin, views.APIView):
    pass


class ApiGenericView(ApiViewMixin, generics.GenericAPIView):
    pass
