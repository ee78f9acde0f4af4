"""The builder's preview as an API: POST a rule tree, get the count, reachable counts and a sample.

The work is `segments.rules.preview` (the builder's own service); a bad tree is a 400 with the node's path.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api.errors import ApiError
from api.serializers.common import has_nul
from api.serializers.groups import RULE_TREE, PreviewSerializer
from api.views.base import ApiGenericView, errors
from api.views.groups import is_group_code, rule_error
from segments.rules import EvaluationTimeout, RuleError, preview
from segments.views.preview import PREVIEW_TIMEOUT_SECONDS


class PreviewView(ApiGenericView):
    """Counts a rule tree's contacts without saving anything (a read: allowed with a read-only token)."""

    permission_map = {"POST": ("segments.change_contactgroup",)}  # the builder's permission
    read_methods = ("POST",)
    serializer_class = PreviewSerializer

    @extend_schema(
        operation_id="preview",
        summary="Preview a rule tree",
        description="The body is a rule tree. `group`: the group whose condition it would be (membership cycles "
        "are errors). Errors' paths name the node, e.g. root.children[2].value.",
        parameters=[OpenApiParameter("group", OpenApiTypes.STR, description="A group's code")],
        request={"application/json": RULE_TREE},
        responses={
            200: PreviewSerializer,
            503: OpenApiResponse(description="The tree took too long to evaluate"),
            **errors(400, 413),
        },
    )
    def post(self, request: Request) -> Response:
        tree: Any = request.data
        if has_nul(tree):
            raise ApiError("tree: null characters are not allowed", code="invalid_rule", path="tree")
        group = request.query_params.get("group") or None
        if group is not None and not is_group_code(group):
            raise ApiError("group: not a group code.", code="invalid_group", path="group")
        timeout = float(getattr(settings, "PREVIEW_TIMEOUT_SECONDS", PREVIEW_TIMEOUT_SECONDS))
        try:
            result = preview(tree, group=group, timeout=timeout)
        except RuleError as error:
            raise rule_error(error, prefix="") from None
        except EvaluationTimeout as timeout_error:
            raise ApiError(
                str(timeout_error), code="timeout", path="tree", status_code=status.HTTP_503_SERVICE_UNAVAILABLE
            ) from None
        return Response(
            {
                "count": result.count,
                "reachable": {"email": result.reachable_email, "sms": result.reachable_sms},
                "contacts": [{"id": c.pk, "name": c.display_name, "email": c.email or ""} for c in result.contacts],
                "description": result.description,
            }
        )
