"""POST /api/v1/contacts/bulk/: create or update up to API_MAX_BATCH contacts by email in one transaction.

All or nothing: every item is checked first (the import's value checks, see `api.bulk_contacts`); if any is
invalid the answer is 400 with every item's problems and nothing is written. Otherwise one
`contacts.services.contacts_upsert` (one transaction, one contacts_changed) and a report per item."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from api.bulk_contacts import BulkContactSerializer, BulkUpsertSerializer, contacts_bulk_check
from api.errors import ApiError, body
from api.idempotency import PARAMETER, idempotent
from api.serializers.common import ErrorBodySerializer, ErrorDetailSerializer
from api.views.base import ApiGenericView, errors
from contacts import services

STATUSES = ["created", "updated", "unchanged", "error", "valid"]


class BulkContactResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The item's place in `contacts`, from 0")
    status = serializers.ChoiceField(choices=STATUSES, help_text="valid: no problem, but nothing was written")
    id = serializers.IntegerField(allow_null=True, help_text="The contact's id (null when nothing was written)")
    errors = ErrorDetailSerializer(many=True)


class BulkContactsResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    results = BulkContactResultSerializer(many=True)


class BulkContactsRefusalSerializer(serializers.Serializer):
    error = ErrorBodySerializer()
    results = BulkContactResultSerializer(many=True, required=False, help_text="Every item: valid or error")


def batch_limit() -> int:
    return int(getattr(settings, "API_MAX_BATCH", 1000))


class ContactBulkUpsertView(ApiGenericView):
    permission_map = {"POST": ("contacts.add_contact", "contacts.change_contact")}
    serializer_class = BulkUpsertSerializer

    @extend_schema(
        operation_id="contacts_bulk_upsert",
        summary="Create or update many contacts by email",
        description=(
            "Up to API_MAX_BATCH (1,000) contacts, matched by email, checked exactly as an import checks its rows "
            "(choices by code or label, countries by code or name, required custom fields for new contacts; an "
            "empty value leaves the stored one as it is). All or nothing: if any item is invalid the answer is "
            "400 with every item's problems (paths like `contacts[3].custom.plan`) and nothing is written. "
            "Otherwise all are written in one transaction and `results` says, per item, created, updated or "
            "unchanged, with the contact's id."
        ),
        parameters=[PARAMETER],
        request=inline_serializer("BulkContactsRequest", {"contacts": BulkContactSerializer(many=True)}),
        responses={
            200: BulkContactsResultSerializer,
            400: OpenApiResponse(
                BulkContactsRefusalSerializer, description="Invalid request or items; nothing written"
            ),
            **errors(409, 413),
        },
    )
    def post(self, request: Request) -> Response:
        return idempotent(request, lambda: self._upsert(request))

    def _upsert(self, request: Request) -> Response:
        serializer = BulkUpsertSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        items = serializer.validated_data["contacts"]
        if len(items) > batch_limit():
            raise ApiError(f"At most {batch_limit():,} contacts per request.", code="too_many", path="contacts")
        with transaction.atomic():
            check = contacts_bulk_check(items)
            if check.errors:
                return self._refusal(len(items), check.errors)
            outcomes = services.contacts_upsert(rows=check.upserts)
        results = [
            {"index": index, "status": outcome.outcome, "id": outcome.contact_id, "errors": []}
            for index, outcome in enumerate(outcomes)
        ]
        counts = {name: sum(1 for r in results if r["status"] == name) for name in STATUSES[:3]}
        return Response({**counts, "results": results}, status=status.HTTP_200_OK)

    def _refusal(self, total: int, problems: dict[int, list[dict[str, str]]]) -> Response:
        details = [problem for index in sorted(problems) for problem in problems[index]]
        first = details[0]
        message = f"{len(problems):,} of {total:,} contacts are invalid; nothing was written. {first['path']}: "
        refusal = body("validation_error", message + first["message"], first["path"], details)
        refusal["results"] = [
            {
                "index": index,
                "status": "error" if index in problems else "valid",
                "id": None,
                "errors": problems.get(index, []),
            }
            for index in range(total)
        ]
        return Response(refusal, status=status.HTTP_400_BAD_REQUEST)
