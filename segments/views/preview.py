"""The live preview endpoint of the rule builder: POST a rule tree (JSON), get counts and first contacts.

Thin view: parsing the body and shaping the JSON only; the work is `segments.rules.preview`.
Normal Django CSRF protection applies (the builder sends X-CSRFToken); login is required by the
middleware; the Marketer role's segments.change_contactgroup permission is required.

Query parameters: `group=<code>` — the tree is that group's condition (membership cycles are errors);
`live=1` — the builder asking while the marketer types: an invalid tree is a normal state there, so it
is answered 200 `{"valid": false, "errors": [{"path", "message"}], …}` instead of 400 (docs/rules.md).
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.template.defaultfilters import filesizeformat
from django.views.decorators.http import require_POST

from segments.rules import MAX_DEPTH, EvaluationTimeout, RuleError
from segments.selectors import preview_shared

PREVIEW_TIMEOUT_SECONDS = 10.0  # settings.PREVIEW_TIMEOUT_SECONDS overrides it


def _invalid(path: str, message: str, *, live: bool) -> JsonResponse:
    """A tree that cannot be previewed: 400 {error, path}; for the live builder 200 with valid: false."""
    body: dict[str, Any] = {"error": f"{path}: {message}", "path": path}
    if not live:
        return JsonResponse(body, status=400)
    return JsonResponse({"valid": False, **body, "errors": [{"path": path, "message": message}]})


def _tree(body: bytes) -> Any:
    """The tree in the body; RuleError("tree", …) when it is nested too deep or is not JSON."""
    try:
        return json.loads(body)
    except RecursionError:
        # TRICKY: the JSON parser gives up (RecursionError) at about a thousand levels, long before a
        # rule could be read; every level over MAX_DEPTH would be refused anyway.
        raise RuleError("tree", f"the conditions are nested too deeply (at most {MAX_DEPTH} levels)") from None
    except ValueError:
        raise RuleError("tree", "the request body is not valid JSON") from None


@permission_required("segments.change_contactgroup", raise_exception=True)  # 403 before 405
@require_POST
def preview_view(request: HttpRequest) -> JsonResponse:
    """{valid, count, reachable: {email, sms}, contacts: [{id, name, email, url}], description, counted_seconds_ago}
    or 400 {error, path}. The same tree asked for again within PREVIEW_CACHE_SECONDS gets the count made then
    (segments.selectors.preview), with its age."""
    live = request.GET.get("live") == "1"
    try:
        body = request.body
    except RequestDataTooBig:  # answered in JSON, not with Django's HTML 400 page
        limit = filesizeformat(settings.DATA_UPLOAD_MAX_MEMORY_SIZE).replace("\xa0", " ")
        return JsonResponse(
            {"error": f"tree: the request body is too large (at most {limit})", "path": "tree"}, status=413
        )
    try:
        tree = _tree(body)
    except RuleError as error:
        return _invalid(error.path, error.message, live=live)
    timeout = float(getattr(settings, "PREVIEW_TIMEOUT_SECONDS", PREVIEW_TIMEOUT_SECONDS))
    try:
        counted = preview_shared(tree, group=request.GET.get("group") or None, timeout=timeout)
    except RuleError as error:
        return _invalid(error.path, error.message, live=live)
    except EvaluationTimeout as timeout_error:
        message = f"tree: {timeout_error}"
        if live:
            return JsonResponse({"valid": True, "timed_out": True, "error": message, "path": "tree"})
        return JsonResponse({"error": message, "path": "tree"}, status=503)
    result = counted.preview
    return JsonResponse(
        {
            "valid": True,
            "count": result.count,
            "reachable": {"email": result.reachable_email, "sms": result.reachable_sms},
            "contacts": [
                {"id": c.pk, "name": c.display_name, "email": c.email or "", "url": c.get_absolute_url()}
                for c in result.contacts
            ],
            "description": result.description,
            "counted_seconds_ago": round(counted.age),
        }
    )


preview_view.required_permissions = ("segments.change_contactgroup",)  # type: ignore[attr-defined]  # read by tests
