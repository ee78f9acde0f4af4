"""Every API error as one JSON shape: {"error": {"code", "message", "path", "details"?}}.

`code` is stable and machine-readable ("validation_error", "invalid_rule", "parse_error", "not_found",
"permission_denied", "read_only_token", "not_authenticated", "authentication_failed", "throttled",
"request_too_large", "group_in_use", …); `message` is for people; `path` names the bad part of the
request body ("email", "custom.budget", "contacts.3", "condition.root.children[2].value") or "" for the
request as a whole. Validation errors list every problem in `details` ([{path, message, code}]).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

NON_FIELD_KEYS = {"non_field_errors", "__all__"}


class ApiError(exceptions.APIException):
    """An error with its own status, code and path (a rule tree's node, a refusal of a service)."""

    def __init__(self, message: str, *, code: str, path: str = "", status_code: int = 400) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.path = path
        self.error_code = code


def _join(prefix: str, key: Any) -> str:
    key = "" if str(key) in NON_FIELD_KEYS else str(key)
    return f"{prefix}.{key}" if prefix and key else prefix or key


def flatten(detail: Any, path: str = "") -> Iterator[tuple[str, str, str]]:
    """(path, message, code) for every error in a DRF ValidationError's detail, nested dicts and lists included."""
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            yield from flatten(value, _join(path, key))
    elif isinstance(detail, list):
        nested = any(isinstance(item, Mapping | list) for item in detail)
        for index, item in enumerate(detail):
            if nested and isinstance(item, Mapping) and not item:
                continue  # a list of objects where this one had no error
            yield from flatten(item, _join(path, index) if nested else path)
    else:
        yield path, str(detail), str(getattr(detail, "code", "invalid") or "invalid")


def body(code: str, message: str, path: str = "", details: list[dict[str, str]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "path": path}
    if details is not None:
        error["details"] = details
    return {"error": error}


def from_django_validation(exc: DjangoValidationError, *, prefix: str = "", paths: Mapping[str, str] | None = None):
    """A service's ValidationError as a DRF one; `paths` renames keys (a custom field code → "custom.<code>")."""
    if hasattr(exc, "error_dict"):
        detail: Any = {
            (paths or {}).get(key, _join(prefix, key)): [str(m) for e in errors for m in e.messages]
            for key, errors in exc.error_dict.items()
        }
    else:
        detail = {prefix or "non_field_errors": list(exc.messages)}
    return exceptions.ValidationError(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, reshaped: the headers it sets (Retry-After, WWW-Authenticate) are kept."""
    if isinstance(exc, DjangoValidationError):
        exc = from_django_validation(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ApiError):
        response.data = body(exc.error_code, str(exc.detail), exc.path)
    elif isinstance(exc, exceptions.ValidationError):
        details = [{"path": p, "message": m, "code": c} for p, m, c in flatten(exc.detail)]
        first = details[0] if details else {"path": "", "message": "Invalid request."}
        message = f"{first['path']}: {first['message']}" if first["path"] else first["message"]
        response.data = body("validation_error", message, first["path"], details)
    else:
        detail = getattr(exc, "detail", None)
        code = getattr(detail, "code", None) or getattr(exc, "default_code", None) or "error"
        if isinstance(exc, exceptions.Throttled):
            code = "throttled"
        response.data = body(str(code), str(detail) if detail is not None else str(exc))
    return response


def not_found_view(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any /api/ URL that names no endpoint: a JSON 404 in the API's shape (not the site's HTML page)."""
    return JsonResponse(body("not_found", "There is no API endpoint at this URL."), status=status.HTTP_404_NOT_FOUND)
