"""The API's JSON parser: bodies over settings.API_MAX_BODY are refused (413), JSON nested too deeply is a
parse error (400), never a 500."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = "The request body is too large."


def body_limit() -> int:
    return int(getattr(settings, "API_MAX_BODY", 2 * 1024 * 1024))


def too_large() -> RequestTooLarge:
    limit = filesizeformat(body_limit()).replace("\xa0", " ")
    return RequestTooLarge(f"The request body is too large (at most {limit}).")


class LimitedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        limit = body_limit()
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise too_large()
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.loads(raw.decode(encoding))
        except RecursionError:
            raise exceptions.ParseError("JSON parse error: the document is nested too deeply.") from None
        except (ValueError, UnicodeError) as exc:
            raise exceptions.ParseError(f"JSON parse error: {exc}") from None
