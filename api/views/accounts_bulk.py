"""POST /api/v1/accounts/upsert/ (one account) and /api/v1/accounts/bulk/ (up to API_MAX_BATCH): create or update
accounts matched as an account import matches them (by name ignoring case, accents and spacing, else by domain).

All or nothing: every item is checked first by the account import's own checks (`api.bulk_accounts`); if any is
invalid the answer is 400 with every problem and nothing is written. Otherwise one
`contacts.services.accounts_upsert` (one transaction; the contacts of changed accounts are re-checked) and a
report per item."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from api.bulk_accounts import BulkAccountSerializer, accounts_bulk_check
from api.errors import ApiError, body
from api.idempotency import PARAMETER, idempotent
from api.serializers.common import ErrorBodySerializer, ErrorDetailSerializer, StrictSerializer
from api.serializers.contacts import AccountSerializer
from api.views.accounts import _account
from api.views.base import ApiGenericView, errors
from api.views.contacts_bulk import batch_limit
from contacts import services

PERMISSIONS = ("contacts.add_account", "contacts.change_account")  # those an account import needs
STATUSES = ["created", "updated", "unchanged", "error", "valid"]


class AccountUpsertResultSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=STATUSES[:3])
    account = AccountSerializer()


class BulkAccountResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The item's place in `accounts`, from 0")
    status = serializers.ChoiceField(choices=STATUSES, help_text="valid: no problem, but nothing was written")
    id = serializers.IntegerField(allow_null=True, help_text="The account's id (null when nothing was written)")
    errors = ErrorDetailSerializer(many=True)


class BulkAccountsResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    results = BulkAccountResultSerializer(many=True)


class BulkAccountsRefusalSerializer(serializers.Serializer):
    error = ErrorBodySerializer()
    results = BulkAccountResultSerializer(many=True, required=False, help_text="Every item: valid or error")


class BulkAccountsSerializer(StrictSerializer):
    accounts = serializers.ListField(allow_empty=False, help_text="Up to API_MAX_BATCH (1,000) accounts")


MATCHING = (
    "Matched as an account import matches: by name (ignoring case, accents and spacing) or, when no account has "
    "the name, by domain; a name two accounts share is refused (never guessed). Values are read as an import reads "
    "them (a web address as its domain, countries by code or name); an empty value leaves the stored one as it is."
)


class AccountUpsertView(ApiGenericView):
    """Create or update one account by its name (or domain)."""

    permission_map = {"POST": PERMISSIONS}
    serializer_class = BulkAccountSerializer

    @extend_schema(
        operation_id="accounts_upsert",
        summary="Create or update an account by name",
        description=MATCHING + " 201 when it created the account, 200 otherwise.",
        request=BulkAccountSerializer,
        responses={200: AccountUpsertResultSerializer, 201: AccountUpsertResultSerializer, **errors(400, 413)},
    )
    def post(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            raise exceptions.ValidationError({"non_field_errors": ["Send one account as a JSON object."]})
        with transaction.atomic():
            services.accounts_match_lock()  # held from the matching read to the commit: one account per new name
            check = accounts_bulk_check([request.data], prefix="")
            if check.errors:
                detail: dict[str, list[Any]] = {}
                for problem in check.errors[0]:
                    detail.setdefault(problem["path"] or "non_field_errors", []).append(
                        serializers.ErrorDetail(problem["message"], code=problem["code"])
                    )
                raise exceptions.ValidationError(detail)
            [outcome] = services.accounts_upsert(rows=check.upserts)
        data = {"outcome": outcome.outcome, "account": AccountSerializer(_account(outcome.contact_id)).data}
        created = outcome.outcome == "created"
        return Response(data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class AccountBulkUpsertView(ApiGenericView):
    permission_map = {"POST": PERMISSIONS}
    serializer_class = BulkAccountsSerializer

    @extend_schema(
        operation_id="accounts_bulk_upsert",
        summary="Create or update many accounts by name",
        description=(
            f"Up to API_MAX_BATCH (1,000) accounts. {MATCHING} All or nothing: if any item is invalid (or two items "
            "name the same account) the answer is 400 with every item's problems (paths like `accounts[3].employees`) "
            "and nothing is written. Otherwise all are written in one transaction and `results` says, per item, "
            "created, updated or unchanged, with the account's id."
        ),
        parameters=[PARAMETER],
        request=inline_serializer("BulkAccountsRequest", {"accounts": BulkAccountSerializer(many=True)}),
        responses={
            200: BulkAccountsResultSerializer,
            400: OpenApiResponse(
                BulkAccountsRefusalSerializer, description="Invalid request or items; nothing written"
            ),
            **errors(409, 413),
        },
    )
    def post(self, request: Request) -> Response:
        return idempotent(request, lambda: self._upsert(request))

    def _upsert(self, request: Request) -> Response:
        serializer = BulkAccountsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        items = serializer.validated_data["accounts"]
        if len(items) > batch_limit():
            raise ApiError(f"At most {batch_limit():,} accounts per request.", code="too_many", path="accounts")
        with transaction.atomic():
            services.accounts_match_lock()
            check = accounts_bulk_check(items)
            if check.errors:
                return _refusal(len(items), check.errors)
            outcomes = services.accounts_upsert(rows=check.upserts)
        results = [
            {"index": index, "status": outcome.outcome, "id": outcome.contact_id, "errors": []}
            for index, outcome in enumerate(outcomes)
        ]
        counts = {name: sum(1 for r in results if r["status"] == name) for name in STATUSES[:3]}
        return Response({**counts, "results": results}, status=status.HTTP_200_OK)


def _refusal(total: int, problems: dict[int, list[dict[str, str]]]) -> Response:
    details = [problem for index in sorted(problems) for problem in problems[index]]
    first = details[0]
    message = f"{len(problems):,} of {total:,} accounts are invalid; nothing was written. {first['path']}: "
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
