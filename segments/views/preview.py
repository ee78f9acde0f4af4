"""The live preview endpoint of the rule builder: POST a rule tree (JSON), get counts and first contacts.

Thin view: parsing the body and shaping the JSON only; the work is `segments.rules.preview`.
Normal Django CSRF protection applies (the builder sends X-CSRFToken); login is required by the
middleware; the Marketer role's segments.change_contactgroup permission is required.
"""

from __future__ import annotations

import json

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST

from segments.rules import RuleError, preview


@permission_required("segments.change_contactgroup", raise_exception=True)  # 403 before 405
@require_POST
def preview_view(request: HttpRequest) -> JsonResponse:
    """{count, reachable: {email, sms}, contacts: [{id, name, email, url}], description} or 400 {error, path}."""
    try:
        tree = json.loads(request.body)
    except (ValueError, RecursionError):
        return JsonResponse({"error": "tree: the request body is not valid JSON", "path": "tree"}, status=400)
    try:
        result = preview(tree)
    except RuleError as error:
        return JsonResponse({"error": str(error), "path": error.path}, status=400)
    return JsonResponse(
        {
            "count": result.count,
            "reachable": {"email": result.reachable_email, "sms": result.reachable_sms},
            "contacts": [
                {"id": c.pk, "name": c.display_name, "email": c.email or "", "url": c.get_absolute_url()}
                for c in result.contacts
            ],
            "description": result.description,
        }
    )


preview_view.required_permissions = ("segments.change_contactgroup",)  # type: ignore[attr-defined]  # read by tests
