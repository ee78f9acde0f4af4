"""Idempotency keys: a write sent with `Idempotency-Key: <key>` happens once; a retry gets the same answer.

Rules: a key is the user's (any of their tokens), 1–255 printable ASCII characters. The first request with
a key runs; when it succeeds (2xx) its status and body are stored in the same transaction as its writes.
The same key again with the same method, path and JSON body: the stored response, with the header
`Idempotent-Replayed: true`, and nothing written. The same key with anything else: 409
`idempotency_key_reused`. A request that failed (4xx) stored nothing: it wrote nothing, so it may be sent
again, corrected, with the same key. Keys are remembered API_IDEMPOTENCY_DAYS days (default 7): a user's
older ones are forgotten when they store a new one. Two requests with one key at the same moment: the unique constraint
lets one commit; the other's writes roll back and it answers with the first one's response.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request
from rest_framework.response import Response

from api.errors import ApiError
from api.models import IdempotentRequest

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")

PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Any unique string (a UUID) chosen by the client, up to 255 printable ASCII characters. A retry with the "
        "same key and body records nothing again and answers with the first response; the same key with another "
        "body is refused (409)."
    ),
)


def request_hash(request: Request) -> str:
    """What makes two requests the same one: method, path and the JSON body (key order ignored)."""
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _cutoff() -> dt.datetime:
    return timezone.now() - dt.timedelta(days=int(getattr(settings, "API_IDEMPOTENCY_DAYS", 7)))


def _replay(stored: IdempotentRequest, digest: str) -> Response:
    if stored.request_hash != digest:
        raise ApiError(
            "This Idempotency-Key was used for a different request: use a new key for a new request.",
            code="idempotency_key_reused",
            path=HEADER,
            status_code=409,
        )
    return Response(stored.response, status=stored.status_code, headers={REPLAYED: "true"})


def idempotent(request: Request, run: Callable[[], Response]) -> Response:
    """`run()` (a write) once per Idempotency-Key of the user; without the header simply `run()`."""
    key = request.headers.get(HEADER)
    if key is None:
        return run()
    if not _KEY.match(key):
        raise ApiError(
            "The Idempotency-Key must be 1 to 255 printable ASCII characters (e.g. a UUID).",
            code="invalid_idempotency_key",
            path=HEADER,
        )
    digest = request_hash(request)
    try:
        with transaction.atomic():
            stored = IdempotentRequest.objects.select_for_update().filter(user=request.user, key=key).first()
            if stored is not None and stored.created_at >= _cutoff():
                return _replay(stored, digest)
            response = run()
            if 200 <= response.status_code < 300:
                IdempotentRequest.objects.filter(user=request.user, created_at__lt=_cutoff()).delete()
                IdempotentRequest.objects.create(
                    user=request.user,
                    key=key,
                    request_hash=digest,
                    status_code=response.status_code,
                    response=response.data,
                )
            return response
    except IntegrityError:
        # Another request with this key committed first (ours rolled back whole): answer as it did.
        stored = IdempotentRequest.objects.filter(user=request.user, key=key).first()
        if stored is None:
            raise
        return _replay(stored, digest)
