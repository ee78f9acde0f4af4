"""Logging: plain text lines by default, one JSON object per line with LOG_FORMAT=json, a request id on each.

JSON lines come from python-json-logger (pythonjsonlogger.json.JsonFormatter): `timestamp` (ISO 8601, UTC),
`level`, `logger`, `message`, `request_id` (the request's X-Request-ID, or one made up; null outside a
request), and `exc_info` with the traceback when there is one. RequestIdMiddleware answers with the id in
X-Request-ID, so a user's report or a proxy's log line leads to the server's lines.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponseBase

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
# An id from the proxy is kept when it looks like one (no spaces or quotes that could forge log fields).
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record (as `request_id`; None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # django.request logs a 4xx/5xx after the middleware returned: its record carries the request.
        record.request_id = request_id_var.get() or getattr(getattr(record, "request", None), "request_id", None)
        return True


class RequestIdMiddleware:
    """Takes the request id from X-Request-ID (a proxy's) or makes one, and sends it back in X-Request-ID."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        given = request.META.get("HTTP_X_REQUEST_ID", "")  # not request.headers: it copies every header
        request_id = given if VALID_REQUEST_ID.match(given) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """The LOGGING setting: every line to stderr, as text (`log_format` "text") or JSON ("json")."""
    if log_format not in ("text", "json"):
        raise ValueError(f"LOG_FORMAT={log_format!r}: expected text or json")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "config.log.RequestIdFilter"}},
        "formatters": {
            "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(levelname)s %(name)s %(message)s %(request_id)s",
                "rename_fields": {"levelname": "level", "name": "logger"},
                "timestamp": True,
            },
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["request_id"]},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "INFO"},
            # Django's own handlers (mail to admins, the dev server's colours) are replaced by the one above.
            "django": {"handlers": ["console"], "level": level, "propagate": False},
            "django.server": {"handlers": ["console"], "level": level, "propagate": False},
            # django-q2 adds a plain-text handler of its own to a logger without one: the worker logs JSON too.
            "django-q": {"handlers": ["console"], "level": level, "propagate": False},
        },
    }
